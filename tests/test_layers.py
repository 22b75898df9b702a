"""Layers: backward passes by finite differences in float64, shapes, errors."""
import numpy as np
import pytest

from fastconv import activations, layers
from _helpers import numerical_gradient, random

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax"]


def check_layer_gradients(layer, x, rng, training=True):
    """backward's input and weight gradients match finite differences of sum(w * y)."""
    y = layer.forward(x, training=training)
    w = random(rng, y.shape)

    def loss():
        return np.sum(layer.forward(x, training=training) * w)

    loss()
    dx = layer.backward(w)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8,
                               err_msg=f"{layer.name} dx")
    for i, (weight, grad) in enumerate(zip(layer.weights, layer.grads)):
        np.testing.assert_allclose(grad, numerical_gradient(loss, weight), rtol=1e-6,
                                   atol=1e-8, err_msg=f"{layer.name} weight {i}")


def built(layer, input_shape):
    layer.build((None,) + input_shape)
    return layer


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_gradients(rng, activation):
    layer = built(layers.Dense(4, activation=activation, dtype="float64",
                               bias_initializer="random_normal"), (5,))
    check_layer_gradients(layer, random(rng, (3, 5)), rng)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("strides,padding", [(1, "valid"), (2, "same"), ((2, 1), "valid")])
def test_conv2d_gradients(rng, activation, strides, padding):
    layer = built(layers.Conv2D(3, (3, 2), strides=strides, padding=padding,
                                activation=activation, dtype="float64",
                                bias_initializer="random_normal"), (6, 5, 2))
    x = random(rng, (2, 6, 5, 2))
    if activation == "relu":
        x += 0.01 * np.sign(x)   # keep pre-activations off the kink
    check_layer_gradients(layer, x, rng)


@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 2, "same"),
                                                  ((2, 3), 1, "valid")])
def test_max_pooling_gradients(rng, pool, strides, padding):
    layer = built(layers.MaxPooling2D(pool, strides=strides, padding=padding, dtype="float64"),
                  (5, 6, 2))
    x = rng.permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) / 7.0     # no ties
    check_layer_gradients(layer, x, rng)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_layer_gradients(rng, activation):
    check_layer_gradients(built(layers.Activation(activation, dtype="float64"), (4,)),
                          random(rng, (3, 4)), rng)


def test_flatten_gradients_and_shape(rng):
    layer = built(layers.Flatten(dtype="float64"), (3, 2, 4))
    assert layer.output_shape == (None, 24)
    check_layer_gradients(layer, random(rng, (2, 3, 2, 4)), rng)


def test_dropout_scales_kept_values_and_is_identity_at_inference(rng):
    layer = built(layers.Dropout(0.25, seed=3, dtype="float64"), (1000,))
    x = random(rng, (4, 1000))
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    y = layer.forward(x, training=True)
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], x[kept] / 0.75)
    dy = random(rng, x.shape)
    np.testing.assert_allclose(layer.backward(dy), np.where(kept, dy / 0.75, 0))


def test_first_layer_computes_no_input_gradient(rng):
    layer = built(layers.Conv2D(2, 3, dtype="float64"), (5, 5, 1))
    layer.needs_input_grad = False
    layer.forward(random(rng, (1, 5, 5, 1)), training=True)
    assert layer.backward(np.ones((1, 3, 3, 2))) is None
    assert layer.grads[0].shape == (3, 3, 1, 2)


def test_softmax_and_sigmoid_are_stable_for_huge_inputs():
    z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]])
    p = activations.get("softmax").forward(z)
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    s = activations.get("sigmoid").forward(z)
    assert np.isfinite(s).all() and s[0, 0] == 1 and s[0, 2] == 0


def test_layer_names_follow_keras():
    assert layers.Conv2D(1, 1).name.startswith("conv2d")
    assert layers.MaxPooling2D().name.startswith("max_pooling2d")
    a, b = layers.Dense(1), layers.Dense(1)
    assert a.name != b.name and b.name.startswith("dense")


def test_layers_reject_bad_arguments_with_clear_messages():
    with pytest.raises(ValueError, match="unknown activation 'mish'; valid names: elu, "
                                         "exponential, gelu, hard_sigmoid"):
        layers.Dense(3, activation="mish")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        layers.Conv2D(2.5, 3)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        layers.Conv2D(2, 0)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        layers.Dropout(1.0)
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        layers.Dense(2, kernel_initializer="glorot")
    with pytest.raises(TypeError, match="float32 or float64"):
        layers.Dense(2, dtype="int32")


def test_standalone_call_checks_the_input_shape(rng):
    layer = layers.Conv2D(4, 3)
    assert layer(random(rng, (2, 28, 28, 1))).shape == (2, 26, 26, 4)
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d.*' expected input of shape "
                                         r"\(batch, 28, 28, 1\), got \(64, 28, 28\)"):
        layer(random(rng, (64, 28, 28)))


def test_initializers_follow_keras_scales():
    from fastconv import initializers
    w = initializers.get("glorot_uniform")((3, 3, 32, 64))
    limit = np.sqrt(6 / (9 * 32 + 9 * 64))
    assert w.dtype == np.float32 and np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
    h = initializers.get("he_normal")((1000, 100))
    assert abs(h.std() - np.sqrt(2 / 1000)) < 0.1 * np.sqrt(2 / 1000)
    assert np.abs(h).max() <= 2 * np.sqrt(2 / 1000) / 0.8796 + 1e-6


def test_layers_that_do_not_fit_their_input_say_so():
    from fastconv import models
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d.*': a 5x5 window with strides "
                                         r"\(1, 1\) and padding 'valid' does not fit input "
                                         r"shape \(None, 4, 4, 1\)"):
        models.Sequential([layers.Conv2D(2, 5, input_shape=(4, 4, 1))])
    with pytest.raises(ValueError, match=r"MaxPooling2D .* a 3x3 window .* \(None, 2, 2, 1\)"):
        models.Sequential([layers.MaxPooling2D(3, input_shape=(2, 2, 1))])
    assert layers.Conv2D(2, 3, padding="same").compute_output_shape((None, None, 7, 3)) == \
        (None, None, 7, 2)
