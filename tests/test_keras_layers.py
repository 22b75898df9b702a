"""The layers Keras convnets use that are plain array work (ReLU, LeakyReLU, ZeroPadding2D,
Reshape, Permute, Identity, the merges, GaussianNoise, SpatialDropout2D) and the activations by
Keras's names: values by their definitions, gradients by finite differences in float64,
configs in Keras's names, and a model of them through a file."""
import math

import numpy as np
import pytest

from fastconv import activations, layers, models
from _helpers import numerical_gradient, random

ACTIVATIONS = ["relu6", "silu", "swish", "gelu", "hard_sigmoid", "hard_silu", "hard_swish",
               "elu", "selu", "softplus", "exponential"]


def definition(name, z):
    """Keras 3's activations, written out here (float64)."""
    sig = 1 / (1 + np.exp(-z))
    erf = np.vectorize(math.erf)
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return {"relu6": np.minimum(np.maximum(z, 0), 6), "silu": z * sig, "swish": z * sig,
            "gelu": 0.5 * z * (1 + erf(z / np.sqrt(2))),
            "hard_sigmoid": np.minimum(np.maximum(z + 3, 0), 6) / 6,
            "hard_silu": z * np.minimum(np.maximum(z + 3, 0), 6) / 6,
            "hard_swish": z * np.minimum(np.maximum(z + 3, 0), 6) / 6,
            "elu": np.where(z > 0, z, np.exp(z) - 1),
            "selu": scale * np.where(z > 0, z, alpha * (np.exp(z) - 1)),
            "softplus": np.log1p(np.exp(z)), "exponential": np.exp(z)}[name]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_equal_their_definitions_and_finite_differences(rng, name):
    # away from the kinks (0, 6, -3, 3), where the one-sided slopes differ
    z = rng.uniform(-7, 7, 200)
    z = z[np.min(np.abs(z[:, None] - np.array([0, 6, -3, 3])), axis=1) > 1e-3]
    a = activations.get(name)
    np.testing.assert_allclose(a.forward(z.copy()), definition(name, z), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(z.shape)
    got = a.backward(dy)
    work = z.copy()
    num = numerical_gradient(lambda: float(np.sum(activations.get(name).forward(work) * dy)),
                             work)
    # central differences lose about 1e-10 of the values' scale (exp(7) = 1100)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8 * max(1, np.abs(num).max()))
    z32 = z.astype(np.float32)
    assert activations.get(name).forward(z32).dtype == np.float32


def layer_gradients_match(layer, inputs, rng):
    """backward against finite differences of sum(forward(x) * dy), for each input."""
    single = not isinstance(inputs, list)
    xs = [inputs] if single else inputs
    layer.build((None,) + xs[0].shape[1:] if single else [(None,) + x.shape[1:] for x in xs])
    y = layer.forward(xs[0] if single else xs, training=False)
    assert y.shape[1:] == tuple(layer.output_shape[1:])
    dy = rng.standard_normal(y.shape)
    got = layer.backward(dy)
    got = [got] if single else got
    for x, g in zip(xs, got):
        num = numerical_gradient(
            lambda: float(np.sum(layer.forward(xs[0] if single else xs) * dy)), x)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    return y


def f64(cls, *args, **kwargs):
    return cls(*args, dtype="float64", **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 6.0}, {"negative_slope": 0.1},
                                    {"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.5}])
def test_relu_is_keras_definition(rng, kwargs):
    x = random(rng, (3, 4, 5, 2)) * 4
    y = layer_gradients_match(f64(layers.ReLU, **kwargs), x, rng)
    m, a, t = kwargs.get("max_value"), kwargs.get("negative_slope", 0), kwargs.get("threshold",
                                                                                   0)
    want = np.where(x < t, a * (x - t), x)
    if m is not None:
        want = np.where(x >= m, m, want)
    np.testing.assert_array_equal(y, want)
    assert layers.ReLU(**kwargs).get_config()["max_value"] == m


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 6.0}, {"threshold": 0.5}])
def test_relu_keeps_float32_and_nan_and_leaves_its_input_alone(kwargs):
    x = np.array([[-np.inf, -1.5, -0.0, 0.0, 0.25, 0.5, 5.5, 6.0, 7.0, np.inf, np.nan]],
                 np.float32)
    keep = x.copy()
    layer = layers.ReLU(**kwargs)
    y = layer.forward(x)
    m, t = kwargs.get("max_value"), kwargs.get("threshold", 0)
    want = np.where(x < t, 0, x)
    if m is not None:
        want = np.where(x >= m, m, want)
    if t:
        want[0, 0] = np.nan        # -inf: as Keras's x * (x > threshold), NaN
    assert y.dtype == np.float32 and y is not x
    np.testing.assert_array_equal(y, want)             # NaN stays NaN
    np.testing.assert_array_equal(x, keep)
    slope = (~(x < t) & ~((x >= m) if m is not None else False)).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), slope)


def test_leaky_relu_defaults_to_keras_three_slope(rng):
    x = random(rng, (2, 3, 3, 2))
    y = layer_gradients_match(f64(layers.LeakyReLU), x, rng)
    np.testing.assert_array_equal(y, np.where(x >= 0, x, 0.3 * x))
    with pytest.raises(ValueError, match="negative_slope"):
        layers.LeakyReLU(-1)


@pytest.mark.parametrize("padding,want", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                          (((1, 0), (0, 3)), ((1, 0), (0, 3)))])
def test_zero_padding_2d(rng, padding, want):
    x = random(rng, (2, 3, 4, 2))
    layer = f64(layers.ZeroPadding2D, padding)
    y = layer_gradients_match(layer, x, rng)
    assert layer.padding == want
    (t, b), (l, r) = want
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (t, b), (l, r), (0, 0))))
    with pytest.raises(ValueError, match="padding"):
        layers.ZeroPadding2D(-1)


def test_reshape_permute_identity(rng):
    x = random(rng, (2, 3, 4, 2))
    np.testing.assert_array_equal(layer_gradients_match(f64(layers.Reshape, (4, -1)), x, rng),
                                  x.reshape(2, 4, 6))
    np.testing.assert_array_equal(layer_gradients_match(f64(layers.Permute, (3, 1, 2)), x, rng),
                                  x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(layer_gradients_match(f64(layers.Identity), x, rng), x)
    with pytest.raises(ValueError, match="cannot take the shape"):
        layers.Reshape((5, 5)).build((None, 3, 4, 2))
    with pytest.raises(ValueError, match="permutation"):
        layers.Permute((1, 1))


@pytest.mark.parametrize("cls,fn", [(layers.Subtract, lambda a, b: a - b),
                                    (layers.Multiply, lambda a, b: a * b),
                                    (layers.Average, lambda a, b: (a + b) / 2),
                                    (layers.Maximum, np.maximum), (layers.Minimum, np.minimum)])
def test_two_input_merges(rng, cls, fn):
    a, b = random(rng, (2, 3, 3, 4)), random(rng, (2, 3, 3, 4))
    y = layer_gradients_match(f64(cls), [a, b], rng)
    np.testing.assert_array_equal(y, fn(a, b))


@pytest.mark.parametrize("cls", [layers.Multiply, layers.Average, layers.Maximum,
                                 layers.Minimum])
def test_three_input_merges_and_ties(rng, cls):
    xs = [random(rng, (2, 5)) for _ in range(3)]
    layer_gradients_match(f64(cls), xs, rng)
    if cls in (layers.Maximum, layers.Minimum):
        # ties: the gradient goes to the first input holding the value, as Keras's pairwise
        # maximum and minimum give it
        same = np.ones((1, 3))
        layer = f64(cls)
        layer.build([(None, 3)] * 2)
        layer.forward([same, same.copy()])
        g = layer.backward(np.ones((1, 3)))
        np.testing.assert_array_equal(g[0], 1)
        np.testing.assert_array_equal(g[1], 0)
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract().build([(None, 3)] * 3)


def test_training_noise_is_the_identity_at_inference_and_seeded_in_training(rng):
    x = random(rng, (4, 5, 5, 8))
    for cls, kwargs in ((layers.GaussianNoise, {"stddev": 0.5}),
                        (layers.SpatialDropout2D, {"rate": 0.5})):
        layer, twin = f64(cls, seed=3, **kwargs), f64(cls, seed=3, **kwargs)
        layer.build(x.shape)
        twin.build(x.shape)
        np.testing.assert_array_equal(layer.forward(x), x)
        y = layer.forward(x, training=True)
        np.testing.assert_array_equal(y, twin.forward(x, training=True))
        assert not np.array_equal(y, x)
        dy = random(rng, x.shape)
        g = layer.backward(dy)
        if cls is layers.SpatialDropout2D:
            # whole channels, the same for every pixel of an image, kept ones scaled by 2
            kept = y != 0
            assert (kept == kept[:, :1, :1]).all() and 0 < kept.mean() < 1
            np.testing.assert_allclose(y[kept], 2 * x[kept])
            np.testing.assert_array_equal(g, np.where(kept, 2 * dy, 0))
        else:
            assert 0.3 < np.std(y - x) < 0.7
            np.testing.assert_array_equal(g, dy)


def test_a_model_of_the_new_layers_trains_and_goes_through_both_formats(tmp_path, rng):
    inputs = layers.Input((6, 6, 3))
    x = layers.ZeroPadding2D(1)(inputs)
    x = layers.Conv2D(4, 3, activation="gelu")(x)
    x = layers.ReLU(6.0)(x)
    gate = layers.Activation("hard_sigmoid")(layers.Conv2D(4, 1)(x))
    x = layers.Multiply()([x, gate])
    y = layers.Subtract()([x, layers.LeakyReLU(0.1)(layers.Conv2D(4, 1)(x))])
    x = layers.Maximum()([x, y])
    x = layers.Average()([x, layers.Minimum()([x, y])])
    x = layers.GaussianNoise(0.1)(layers.SpatialDropout2D(0.2)(x))
    x = layers.Permute((2, 1, 3))(layers.Identity()(x))
    x = layers.Reshape((-1,))(x)
    outputs = layers.Dense(2, activation="softmax")(layers.Activation("swish")(x))
    model = models.Model(inputs, outputs)
    model.compile("adam", "categorical_crossentropy")
    data = rng.standard_normal((16, 6, 6, 3)).astype(np.float32)
    target = np.eye(2)[np.arange(16) % 2]
    history = model.fit(data, target, epochs=8, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    want = model.predict(data, verbose=0)
    for name in ("m.keras", "m.fastconv"):
        model.save(tmp_path / name)
        np.testing.assert_array_equal(models.load_model(tmp_path / name).predict(
            data, verbose=0), want)


@pytest.mark.parametrize("operation,fn", [("add", np.add), ("subtract", np.subtract),
                                          ("multiply", np.multiply),
                                          ("true_divide", np.true_divide)])
def test_keras_operations_as_layers(rng, operation, fn):
    # what preprocess_input leaves in a model: x[..., i], stack, arithmetic with a constant
    x = random(rng, (2, 3, 4, 3))
    c = np.array([[[0.5, -2.0, 3.0]]])
    layer = f64(layers.Arithmetic, operation, c)
    assert layer.name.startswith(operation)
    layer_gradients_match(layer, x, rng)
    np.testing.assert_array_equal(layer.forward(x), fn(x, c))
    assert layers.Arithmetic(**layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="does not broadcast"):
        layers.Arithmetic(operation, np.ones((5, 3))).build((None, 3, 4, 3))
    with pytest.raises(ValueError, match="finite numbers"):
        layers.Arithmetic(operation, [np.nan])


def test_get_item_and_stack(rng):
    x = random(rng, (2, 3, 4, 3))
    pick = f64(layers.GetItem, -1)
    layer_gradients_match(pick, x, rng)
    np.testing.assert_array_equal(pick.forward(x), x[..., 2])
    parts = [random(rng, (2, 3, 4)) for _ in range(3)]
    for axis in (-1, 1, 3):
        stack = f64(layers.Stack, axis=axis)
        layer_gradients_match(stack, parts, rng)
        np.testing.assert_array_equal(stack.forward(parts), np.stack(parts, axis=axis))
    with pytest.raises(ValueError, match="batch axis"):
        layers.Stack(axis=0).build([(None, 3), (None, 3)])
    with pytest.raises(ValueError, match="out of range"):
        layers.GetItem(3).build((None, 4, 3))


@pytest.mark.parametrize("cropping,want", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                           (((0, 1), (2, 3)), ((0, 1), (2, 3)))])
def test_cropping_2d(rng, cropping, want):
    layer = f64(layers.Cropping2D, cropping)
    assert layer.cropping == want
    x = random(rng, (2, 7, 8, 3))
    layer_gradients_match(layer, x, rng)
    (t, b), (l, r) = want
    np.testing.assert_array_equal(layer.forward(x), x[:, t:7 - b, l:8 - r])
    with pytest.raises(ValueError, match="leaves nothing"):
        layers.Cropping2D(4).build((None, 7, 8, 3))


@pytest.mark.parametrize("size", [2, (3, 2), (1, 4)])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_up_sampling_2d(rng, size, interpolation):
    from fastconv import _api
    layer = f64(layers.UpSampling2D, size, interpolation=interpolation)
    x = random(rng, (2, 4, 5, 3))
    layer_gradients_match(layer, x, rng)
    y = layer.forward(x)
    fh, fw = layer.size
    assert y.shape == (2, 4 * fh, 5 * fw, 3)
    if interpolation == "nearest":
        np.testing.assert_array_equal(y, x.repeat(fh, 1).repeat(fw, 2))
    else:       # TensorFlow's resize, as fastconv's compiled resampler computes it
        for image, got in zip(x, y):
            np.testing.assert_allclose(got, _api.image.resize_image(image, (4 * fh, 5 * fw)),
                                       rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="interpolation"):
        layers.UpSampling2D(2, interpolation="area")
