"""DepthwiseConv2D and SeparableConv2D: Keras's arguments, weights and shapes, values against
the NumPy reference, every gradient by finite differences in float64, and models of them
through fastconv's and Keras's file formats."""
import numpy as np
import pytest

import fastconv
from fastconv import layers, models
from fastconv import reference as R
from _helpers import numerical_gradient, random


def check_gradients(layer, x, rng):
    """The input's and every weight's gradient against finite differences."""
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)

    def loss():
        return float(np.sum(layer.forward(x) * dy))
    for name, got, arr in [("x", dx, x)] + [(f"weight {i}", g, w) for i, (g, w) in
                                            enumerate(zip(layer.grads, layer.weights))]:
        np.testing.assert_allclose(got, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3), dict(kernel_size=(3, 2), strides=2, padding="same"),
    dict(kernel_size=3, depth_multiplier=2, activation="relu", padding="same"),
    dict(kernel_size=2, dilation_rate=2, use_bias=False, activation="relu6"),
    dict(kernel_size=3, strides=(1, 2), dilation_rate=(2, 1), padding="same",
         activation="tanh")], ids=str)
def test_depthwise_conv2d_layer(rng, kwargs):
    layer = layers.DepthwiseConv2D(dtype="float64", **kwargs)
    x = random(rng, (2, 7, 8, 3))
    layer.build((None, 7, 8, 3))
    m = layer.depth_multiplier
    assert layer.kernel.shape == layer.kernel_size + (3, m)
    assert len(layer.weights) == (2 if layer.use_bias else 1)
    assert layer.count_params() == int(np.prod(layer.kernel.shape)) + 3 * m * layer.use_bias
    layer.kernel[...] = random(rng, layer.kernel.shape)
    if layer.use_bias:
        layer.bias[...] = random(rng, layer.bias.shape)
    y = layer.forward(x)
    args = dict(strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate)
    z = R.naive_depthwise_conv2d(x, layer.kernel, layer.bias if layer.use_bias else None, **args)
    np.testing.assert_allclose(y, layer.activation.forward(z), rtol=1e-12, atol=1e-12)
    assert y.shape[1:] == layer.compute_output_shape((None, 7, 8, 3))[1:]
    check_gradients(layer, x, rng)


@pytest.mark.parametrize("kwargs", [
    dict(filters=4, kernel_size=3), dict(filters=5, kernel_size=3, padding="same",
                                         activation="relu"),
    dict(filters=2, kernel_size=(2, 3), strides=2, depth_multiplier=2, use_bias=False),
    dict(filters=3, kernel_size=3, dilation_rate=2, padding="same", activation="sigmoid")],
    ids=str)
def test_separable_conv2d_layer(rng, kwargs):
    layer = layers.SeparableConv2D(dtype="float64", **kwargs)
    x = random(rng, (2, 8, 7, 3))
    layer.build((None, 8, 7, 3))
    m, f = layer.depth_multiplier, layer.filters
    assert layer.depthwise_kernel.shape == layer.kernel_size + (3, m)
    assert layer.pointwise_kernel.shape == (1, 1, 3 * m, f)
    assert layer.count_params() == (int(np.prod(layer.kernel_size)) * 3 * m + 3 * m * f
                                    + f * layer.use_bias)
    for w in layer.weights:
        w[...] = random(rng, w.shape)
    y = layer.forward(x)
    args = dict(strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate)
    z = R.naive_conv2d(R.naive_depthwise_conv2d(x, layer.depthwise_kernel, **args),
                       layer.pointwise_kernel, layer.bias if layer.use_bias else None)
    np.testing.assert_allclose(y, layer.activation.forward(z), rtol=1e-12, atol=1e-12)
    assert y.shape[1:] == layer.compute_output_shape((None, 8, 7, 3))[1:]
    check_gradients(layer, x, rng)


def test_keras_parameter_counts_and_names():
    # Keras: DepthwiseConv2D(3) on 32 channels has 9 * 32 + 32 = 320 parameters;
    # SeparableConv2D(64, 3) on 32: 288 + 32 * 64 + 64 = 2400
    model = models.Sequential([layers.Input((10, 10, 32)), layers.DepthwiseConv2D(3),
                               layers.SeparableConv2D(64, 3, use_bias=False),
                               layers.SeparableConv2D(8, 3, depth_multiplier=3)])
    assert [layer.count_params() for layer in model.layers] == [320, 2336, 9 * 64 * 3 + 192 * 8 + 8]
    assert [layer.name.rstrip("_0123456789") for layer in model.layers] == [
        "depthwise_conv2d", "separable_conv2d", "separable_conv2d"]
    assert model.output_shape == (None, 4, 4, 8)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="depth_multiplier must be a positive integer"):
        layers.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match="dilation_rate must be >= 1"):
        layers.DepthwiseConv2D(3, dilation_rate=0)
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        layers.SeparableConv2D(0, 3)
    with pytest.raises(ValueError, match="expects inputs .* got input shape"):
        layers.DepthwiseConv2D(3).build((None, 5, 5))
    with pytest.raises(ValueError, match="does not fit"):
        models.Sequential([layers.Input((4, 4, 2)), layers.DepthwiseConv2D(3, dilation_rate=2)])


def test_a_separable_model_learns_and_survives_its_files(rng, tmp_path):
    # which half of the picture is brighter: a task a few separable layers learn quickly
    x = rng.random((96, 12, 12, 2)).astype(np.float32)
    y = (rng.random(96) < 0.5).astype(np.float32)
    x[y == 1, :, :6] += 0.6
    x[y == 0, :, 6:] += 0.6
    fastconv.utils.set_random_seed(3)
    model = models.Sequential([
        layers.Input((12, 12, 2)),
        layers.SeparableConv2D(8, 3, padding="same", activation="relu"),
        layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, use_bias=False),
        layers.BatchNormalization(), layers.Activation("relu"),
        layers.SeparableConv2D(8, 3, dilation_rate=2, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    want = model.predict(x, verbose=0)
    for suffix in (".keras", ".fastconv", ".weights.h5"):
        path = str(tmp_path / f"m{suffix}")
        if suffix == ".weights.h5":
            model.save_weights(path)
            other = models.Sequential.from_config(model.get_config())
            other.load_weights(path)
        else:
            model.save(path)
            other = models.load_model(path)
        np.testing.assert_array_equal(other.predict(x, verbose=0), want, err_msg=suffix)
