"""Sequential.input_gradient (issue 13's first piece): the vector-Jacobian product at x, in
inference mode, against finite differences in float64 and Euler's identity."""
import numpy as np
import pytest

from fastconv import layers, models
from _helpers import numerical_gradient


def f64(layer_type, *args, **kwargs):
    return layer_type(*args, dtype="float64", **kwargs)


def rich_model():
    model = models.Sequential([
        layers.Input((9, 8, 2), dtype="float64"), f64(layers.RandomFlip), f64(layers.Rescaling, 0.5),
        f64(layers.Conv2D, 3, 3, padding="same", activation="relu"),
        f64(layers.BatchNormalization), f64(layers.MaxPooling2D, 2, padding="same"),
        f64(layers.Conv2D, 4, (2, 3), strides=(2, 1), activation="tanh"),
        f64(layers.AveragePooling2D, 2, padding="same"), f64(layers.Flatten),
        f64(layers.Dropout, 0.5), f64(layers.Dense, 3, activation="softmax")])
    bn = model.layers[3]
    rng = np.random.default_rng(1)
    bn.moving_mean[...] = rng.standard_normal(3)
    bn.moving_variance[...] = rng.uniform(0.5, 2, 3)
    return model


def test_input_gradient_matches_finite_differences(rng):
    model = rich_model()
    x = rng.standard_normal((2, 9, 8, 2))
    dy = rng.standard_normal((2, 3))
    got = model.input_gradient(x, dy)
    expected = numerical_gradient(lambda: float(np.sum(model.predict(x, verbose=0) * dy)), x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_eulers_identity_for_a_bias_free_relu_max_pool_network(rng):
    # such a network is positively homogeneous of degree 1: f(x) = J(x) x
    model = models.Sequential([
        layers.Input((12, 12, 3)), layers.Conv2D(8, 3, activation="relu", use_bias=False),
        layers.MaxPooling2D(2), layers.Conv2D(6, 3, activation="relu", use_bias=False),
        layers.Flatten(), layers.Dense(5, use_bias=False)])
    x = rng.standard_normal((7, 12, 12, 3)).astype(np.float32)
    dy = rng.standard_normal((7, 5)).astype(np.float32)
    y = model.predict(x, verbose=0)
    g = model.input_gradient(x, dy, batch_size=3)
    assert g.shape == x.shape and g.dtype == np.float32
    assert np.sum(dy * y, dtype=np.float64) == pytest.approx(
        np.sum(g.astype(np.float64) * x), rel=1e-4)


def test_input_gradient_leaves_the_model_as_it_was(rng):
    model = rich_model()
    model.compile("sgd", "categorical_crossentropy")
    x = rng.standard_normal((4, 9, 8, 2))
    before = model.get_weights()
    flags = [layer.needs_input_grad for layer in model.layers]
    predicted = model.predict(x, verbose=0)
    model.input_gradient(x, np.ones((4, 3)))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert [layer.needs_input_grad for layer in model.layers] == flags
    assert not model.layers[4]._keep_for_backward
    np.testing.assert_array_equal(model.predict(x, verbose=0), predicted)


def test_input_gradient_checks_its_arguments(rng):
    model = rich_model()
    x = rng.standard_normal((2, 9, 8, 2))
    with pytest.raises(ValueError, match=r"output's shape \(2, 3\)"):
        model.input_gradient(x, np.ones((2, 4)))
    with pytest.raises(ValueError, match="expected input of shape"):
        model.input_gradient(x[:, :5], np.ones((2, 3)))
    with pytest.raises(TypeError, match="numbers"):
        model.input_gradient(x, np.full((2, 3), "a"))
    assert model.input_gradient(x[:0], np.ones((0, 3))).shape == (0, 9, 8, 2)
