"""The layers of the images chapter: preprocessing and augmentation, average and global
pooling, BatchNormalization, and binary cross-entropy: outputs against NumPy references,
gradients by finite differences in float64, augmentation statistics, inference behaviour."""
import numpy as np
import pytest

from fastconv import layers, losses, metrics, models, optimizers, utils
from _helpers import assert_close, numerical_gradient, unaligned


def check_gradient(make, x, training=True, eps=1e-6, tol=1e-6, dy=None, rng=None):
    """backward(dy) of a fresh make() layer against central differences of sum(dy * f(x)),
    each evaluation with a fresh layer (a seeded layer draws the same transformation)."""
    layer = make()
    layer.build((None,) + x.shape[1:])
    y = layer.forward(x.copy(), training=training)
    rng = rng or np.random.default_rng(0)
    dy = rng.standard_normal(y.shape) if dy is None else dy
    got = layer.backward(dy)

    def loss():
        fresh = make()
        fresh.build((None,) + x.shape[1:])
        return float(np.sum(dy * fresh.forward(x.copy(), training=training)))
    expected = numerical_gradient(loss, x, eps)
    np.testing.assert_allclose(got, expected, atol=tol * max(1, np.abs(expected).max()))
    return layer, got


# -- preprocessing and augmentation -----------------------------------------------------------

AUGMENTATIONS = [
    lambda: layers.RandomFlip(seed=1, dtype="float64"),
    lambda: layers.RandomFlip("horizontal", seed=2, dtype="float64"),
    lambda: layers.RandomRotation(0.2, seed=3, dtype="float64"),
    lambda: layers.RandomRotation((-0.5, 0.1), fill_mode="wrap", seed=4, dtype="float64"),
    lambda: layers.RandomZoom(0.3, seed=5, dtype="float64", fill_mode="constant",
                              fill_value=2.0),
    lambda: layers.RandomZoom((-0.4, 0.2), (0.1, 0.3), seed=6, interpolation="nearest",
                              dtype="float64"),
    lambda: layers.RandomTranslation(0.2, (-0.3, 0.1), seed=7, fill_mode="nearest",
                                     dtype="float64"),
    lambda: layers.RandomContrast(0.5, seed=8, dtype="float64"),
    lambda: layers.RandomContrast((0.2, 0.9), value_range=(-1, 1), seed=9, dtype="float64"),
]


@pytest.mark.parametrize("make", AUGMENTATIONS)
def test_augmentation_gradients_by_finite_differences(rng, make):
    x = rng.uniform(0.1, 0.9, (3, 6, 5, 2))
    if isinstance(make(), layers.RandomContrast):
        x = x * 100
    check_gradient(make, x, rng=rng)


@pytest.mark.parametrize("make", AUGMENTATIONS + [lambda: layers.Rescaling(0.5, 1.0)])
def test_augmentations_are_the_identity_outside_training(rng, make):
    x = rng.uniform(0, 255, (4, 7, 6, 3)).astype(np.float32)
    layer = make()
    y = layer(x)
    if isinstance(layer, layers.Rescaling):
        assert_close(y, x.astype(np.float64) * 0.5 + 1, np.float32)
    else:
        assert y is not None and np.array_equal(y, x)
        assert not np.array_equal(layer(x, training=True), x)
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_rescaling_gradient_and_config():
    layer = layers.Rescaling(1 / 255, offset=-1)
    x = np.full((1, 2, 2, 1), 255.0)
    assert np.allclose(layer(x), 0)
    assert np.allclose(layer.backward(np.ones((1, 2, 2, 1))), 1 / 255)
    assert layer.get_config()["scale"] == 1 / 255 and layer.get_config()["offset"] == -1
    with pytest.raises(ValueError, match="scale"):
        layers.Rescaling(float("nan"))


def test_random_flip_flips_about_half_of_the_images_each_way(rng):
    x = rng.standard_normal((4000, 2, 3, 1)).astype(np.float32)
    y = layers.RandomFlip(seed=0)(x, training=True)
    lr = np.all(y == x[:, :, ::-1], axis=(1, 2, 3))
    ud = np.all(y == x[:, ::-1], axis=(1, 2, 3))
    both = np.all(y == x[:, ::-1, ::-1], axis=(1, 2, 3))
    same = np.all(y == x, axis=(1, 2, 3))
    assert np.all(lr | ud | both | same)
    for part in (lr, ud, both, same):
        assert abs(part.mean() - 0.25) < 0.03
    h = layers.RandomFlip("horizontal", seed=0)(x, training=True)
    assert np.all(np.all(h == x, axis=(1, 2, 3)) | np.all(h == x[:, :, ::-1], axis=(1, 2, 3)))


def bright_point(n, size, row, col):
    x = np.zeros((n, size, size, 1))
    x[:, row, col] = 1
    return x


def centroid(y):
    rows, cols = np.mgrid[0:y.shape[1], 0:y.shape[2]]
    mass = y[..., 0].sum(axis=(1, 2))
    return ((y[..., 0] * rows).sum(axis=(1, 2)) / mass, (y[..., 0] * cols).sum(axis=(1, 2)) /
            mass)


def test_random_rotation_turns_counter_clockwise_within_the_factor():
    size, n = 41, 500
    x = bright_point(n, size, 20, 35)                  # right of the centre (20, 20)
    layer = layers.RandomRotation((0.0, 0.25), fill_mode="constant", seed=0)
    r, c = centroid(layer(x, training=True))
    angle = np.arctan2(20 - r, c - 20)                 # up is positive, as on the screen
    assert angle.min() > -0.05 and angle.max() < np.pi / 2 + 0.05
    assert abs(np.mean(angle) - np.pi / 4) < 0.1       # uniform in [0, 90 degrees]
    assert np.allclose(np.hypot(r - 20, c - 20), 15, atol=0.6)


def test_random_zoom_and_translation_amounts():
    size, n = 41, 400
    x = bright_point(n, size, 20, 30)                  # 10 pixels right of the centre
    r, c = centroid(layers.RandomZoom((0.25, 0.25), fill_mode="constant")(x, training=True))
    # zooming out by 25 %: the picture shrinks by 1 / 1.25 about the centre
    assert np.allclose(c, 20 + 10 / 1.25, atol=0.05) and np.allclose(r, 20, atol=1e-6)
    r, c = centroid(layers.RandomZoom((-0.5, 0.5), fill_mode="constant", seed=1)(
        x, training=True))
    assert 20 + 10 / 1.5 - 0.1 < c.min() and c.max() < 20 + 10 / 0.5 + 0.1
    t = layers.RandomTranslation((0.1, 0.1), (-0.2, -0.2), fill_mode="constant")
    r, c = centroid(t(x, training=True))
    assert np.allclose(r, 20 + 4.1, atol=1e-6) and np.allclose(c, 30 - 8.2, atol=1e-6)


def test_random_contrast_factor_lies_in_its_range(rng):
    x = rng.uniform(50, 200, (300, 8, 8, 3))
    y = layers.RandomContrast(0.4, seed=0)(x, training=True)
    mean = x.mean(axis=(1, 2), keepdims=True)
    factor = ((y - mean) / (x - mean))[:, 0, 0, 0]
    assert factor.min() >= 0.6 - 1e-9 and factor.max() <= 1.4 + 1e-9
    assert factor.std() > 0.2
    assert np.all((0 <= y) & (y <= 255))


def test_augmentation_is_reproducible_under_set_random_seed_or_a_seed(rng):
    x = rng.uniform(0, 255, (5, 9, 9, 3)).astype(np.float32)
    stack = lambda: [layers.RandomFlip(), layers.RandomRotation(0.1), layers.RandomZoom(0.2),
                     layers.RandomTranslation(0.1, 0.1), layers.RandomContrast(0.3)]

    def run():
        out = x
        for layer in stack():
            out = layer(out, training=True)
        return out
    utils.set_random_seed(3)
    a = run()
    utils.set_random_seed(3)
    assert np.array_equal(run(), a)
    assert not np.array_equal(run(), a)
    one, two = layers.RandomRotation(0.3, seed=11), layers.RandomRotation(0.3, seed=11)
    assert np.array_equal(one(x, training=True), two(x, training=True))


@pytest.mark.parametrize("call,message", [
    (lambda: layers.RandomFlip("diagonal"), "mode"),
    (lambda: layers.RandomRotation((0.2, 0.1)), "lower <= upper"),
    (lambda: layers.RandomRotation("big"), "factor"),
    (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), "fill_mode"),
    (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), "interpolation"),
    (lambda: layers.RandomZoom((-1.5, 0)), "below -1"),
    (lambda: layers.RandomTranslation(0.1, float("inf")), "finite"),
    (lambda: layers.RandomContrast(1.5), r"\[0, 1\]"),
    (lambda: layers.RandomContrast(0.1, value_range=(1, 1)), "low < high"),
    (lambda: layers.RandomFlip(seed=-1), "seed"),
    (lambda: layers.RandomZoom(0.1, fill_value=float("nan")), "fill_value"),
])
def test_augmentation_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_augmentation_layers_need_images():
    model = models.Sequential([layers.Input((10,)), layers.Dense(3)])
    with pytest.raises(ValueError, match="expects images"):
        model.add(layers.RandomFlip())


# -- pooling ------------------------------------------------------------------------------

def average_pool_reference(x, pool, strides, padding):
    from fastconv._api import conv_output_size, padding_amounts
    n, h, w, c = x.shape
    oh = conv_output_size(h, pool[0], strides[0], padding)
    ow = conv_output_size(w, pool[1], strides[1], padding)
    top = padding_amounts(h, pool[0], strides[0], padding)[0]
    left = padding_amounts(w, pool[1], strides[1], padding)[0]
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - top, j * strides[1] - left
            window = x[:, max(r0, 0):r0 + pool[0], max(c0, 0):c0 + pool[1]]
            y[:, i, j] = window.mean(axis=(1, 2))       # the pixels inside the image only
    return y


@pytest.mark.parametrize("pool,strides,padding,shape", [
    ((2, 2), None, "valid", (2, 6, 6, 3)), ((3, 3), (2, 2), "same", (2, 7, 8, 2)),
    ((2, 3), (1, 2), "same", (1, 5, 5, 1)), ((4, 4), (3, 3), "valid", (3, 9, 10, 2)),
    ((2, 2), (2, 2), "same", (1, 5, 3, 4)), ((1, 1), (1, 1), "valid", (1, 2, 2, 1))])
def test_average_pooling_matches_the_reference_and_its_gradient(rng, pool, strides, padding,
                                                                 shape):
    x = rng.standard_normal(shape)
    make = lambda: layers.AveragePooling2D(pool, strides, padding, dtype="float64")
    layer = make()
    y = layer(x)
    assert_close(y, average_pool_reference(x, pool, strides or pool, padding), np.float64)
    assert y.shape[1:] == layer.output_shape[1:]
    check_gradient(make, x.copy(), rng=rng)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_values_and_gradients(rng, keepdims):
    x = rng.standard_normal((3, 4, 5, 6))
    avg = layers.GlobalAveragePooling2D(keepdims=keepdims, dtype="float64")
    mx = layers.GlobalMaxPooling2D(keepdims=keepdims, dtype="float64")
    shape = (3, 1, 1, 6) if keepdims else (3, 6)
    assert_close(avg(x), x.mean(axis=(1, 2)).reshape(shape), np.float64)
    assert np.array_equal(mx(x), x.max(axis=(1, 2)).reshape(shape))
    for make in (lambda: layers.GlobalAveragePooling2D(keepdims=keepdims, dtype="float64"),
                 lambda: layers.GlobalMaxPooling2D(keepdims=keepdims, dtype="float64")):
        check_gradient(make, x.copy(), rng=rng)


def test_global_max_pooling_propagates_nan_and_sends_ties_to_the_first():
    x = np.zeros((1, 2, 2, 2))
    x[0, 1, 0, 0] = np.nan
    layer = layers.GlobalMaxPooling2D(dtype="float64")
    y = layer(x)
    assert np.isnan(y[0, 0]) and y[0, 1] == 0
    dx = layer.backward(np.ones((1, 2)))
    assert dx[0, 1, 0, 0] == 1 and dx[0, 0, 0, 1] == 1 and dx.sum() == 2


# -- BatchNormalization -------------------------------------------------------------------

def test_batch_normalization_training_and_inference(rng):
    x = rng.standard_normal((8, 3, 3, 4)) * 3 + 5
    layer = layers.BatchNormalization(momentum=0.9, dtype="float64")
    layer.build((None, 3, 3, 4))
    layer.gamma[...] = [1, 2, 3, 4]
    layer.beta[...] = [0, 1, 0, -1]
    y = layer.forward(x, training=True)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    assert_close(y, (x - mean) / np.sqrt(var + 1e-3) * layer.gamma + layer.beta, np.float64)
    assert_close(layer.moving_mean, 0.1 * mean, np.float64)
    assert_close(layer.moving_variance, 0.9 + 0.1 * var, np.float64)
    z = layer.forward(x, training=False)
    assert_close(z, (x - layer.moving_mean) / np.sqrt(layer.moving_variance + 1e-3)
                 * layer.gamma + layer.beta, np.float64)
    assert [w.shape for w in layer.trainable_weights] == [(4,), (4,)]
    assert len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_batch_normalization_gradients(rng, training, center, scale):
    x = rng.standard_normal((4, 3, 2, 3)) * 2 + 1
    gamma = rng.uniform(0.5, 2, 3)

    def make():
        layer = layers.BatchNormalization(center=center, scale=scale, dtype="float64")
        layer.build((None, 3, 2, 3))
        if scale:
            layer.gamma[...] = gamma
        layer.moving_variance[...] = 1.7
        return layer
    layer, _ = check_gradient(make, x.copy(), training=training, rng=rng)
    # the parameters' gradients: d sum(dy * y) / d gamma, d beta
    dy = rng.standard_normal(x.shape)
    layer = make()
    layer.forward(x, training=training)
    layer.backward(dy)
    if training:
        xhat = (x - x.mean(axis=(0, 1, 2))) / np.sqrt(x.var(axis=(0, 1, 2)) + 1e-3)
    else:
        xhat = (x - layer.moving_mean) / np.sqrt(layer.moving_variance + 1e-3)
    expected = ([np.sum(dy * xhat, axis=(0, 1, 2))] if scale else []) + (
        [np.sum(dy, axis=(0, 1, 2))] if center else [])
    for g, e in zip(layer.grads, expected):
        assert_close(g, e, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_normalization_statistics_are_accurate_far_from_zero(rng, dtype):
    # a large mean and a small spread: the shifted sums keep the variance's digits (a sum of
    # squares would lose them all); float32 data that far out would be rounding noise itself
    mean, spread = (1e4, 0.01) if dtype == np.float64 else (100, 0.1)
    x = (rng.standard_normal((64, 5, 5, 3)) * spread + mean).astype(dtype)
    layer = layers.BatchNormalization(momentum=0.0, dtype=np.dtype(dtype).name)
    y = layer(x, training=True)
    d = x.astype(np.float64) - x.reshape(-1, 3)[0]        # an accurate reference: shifted too
    var = d.var(axis=(0, 1, 2))
    assert_close(layer.moving_variance, var, dtype)
    assert_close(y, (d - d.mean(axis=(0, 1, 2))) / np.sqrt(var + 1e-3), dtype)


def test_batch_normalization_is_deterministic_for_a_thread_count(rng, threads):
    import fastconv
    x = rng.standard_normal((7, 13, 11, 5)).astype(np.float32)

    def run(n):
        fastconv.set_num_threads(n)
        layer = layers.BatchNormalization()
        layer.needs_input_grad = True
        y = layer(x, training=True)
        return [y, layer.backward(y)] + layer.grads + [layer.moving_variance]
    for n in (1, 2, 3):
        first, again = run(n), run(n)
        assert all(np.array_equal(a, b) for a, b in zip(first, again))
        assert all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(first, run(1)))


def test_batch_normalization_of_an_empty_batch(rng):
    layer = layers.BatchNormalization()
    y = layer(np.zeros((0, 3, 3, 2), np.float32), training=True)
    assert y.shape == (0, 3, 3, 2)
    assert np.array_equal(layer.moving_mean, [0, 0])


def test_frozen_batch_normalization_runs_in_inference_mode_in_fit(rng):
    x = rng.standard_normal((16, 4, 4, 2)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    model = models.Sequential([layers.Input((4, 4, 2)), layers.BatchNormalization(),
                               layers.Flatten(), layers.Dense(2, activation="softmax")])
    bn = model.layers[0]
    bn.trainable = False
    before = bn.get_weights()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        assert np.array_equal(a, b)
    lines = []
    model.summary(print_fn=lines.append)
    assert " Non-trainable params: 8 " in "\n".join(lines)


def test_batch_normalization_in_a_model_learns_and_counts_params(rng):
    model = models.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(4, 3),
                               layers.BatchNormalization(), layers.Activation("relu"),
                               layers.GlobalAveragePooling2D(), layers.Dense(1, "sigmoid")])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Trainable params: 53 " in text and "Non-trainable params: 8 " in text
    # 40 steps on a task the network can learn (is the picture brighter than 0.5?)
    utils.set_random_seed(2)
    x = rng.standard_normal((64, 6, 6, 1)) + 0.5
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(float)
    model.compile(optimizers.Adam(0.02), "binary_crossentropy")
    bn = model.layers[1]
    before = [w.copy() for w in bn.get_weights()]
    history = model.fit(x, y, batch_size=16, epochs=10, verbose=0)
    assert history.history["loss"][-1] < 0.85 * history.history["loss"][0]
    after = bn.get_weights()
    assert np.abs(after[0] - before[0]).max() > 1e-3, "gamma did not move"
    for name, old, new in zip(("moving_mean", "moving_variance"), before[2:], after[2:]):
        assert np.abs(new - old).min() > 1e-4, f"{name} did not move: {old} -> {new}"
    # the moving mean heads for the batches' own mean of the conv's outputs (momentum 0.99:
    # 40 steps go a third of the way)
    conv_out = models.Model(model.input, model.layers[0].output).predict(x, verbose=0)
    batch_mean = conv_out.mean(axis=(0, 1, 2))
    assert np.all(np.abs(after[2] - batch_mean) < np.abs(before[2] - batch_mean))


# -- binary cross-entropy -------------------------------------------------------------------

def test_binary_crossentropy_value_gradient_and_fusion(rng):
    z = rng.standard_normal((6, 3)) * 3
    y = rng.integers(0, 2, (6, 3)).astype(float)
    p = 1 / (1 + np.exp(-z))
    loss = losses.BinaryCrossentropy()
    value, grad = loss.value_and_grad(y, p)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert value == pytest.approx(expected, rel=1e-9)
    p_work = p.copy()
    numeric = numerical_gradient(lambda: loss(y, p_work), p_work, 1e-7)
    assert np.allclose(grad, numeric, rtol=1e-5, atol=1e-9)
    fused, probs, dz = loss.value_and_grad_from_logits(y, z)
    assert fused == pytest.approx(expected, rel=1e-9)
    assert np.allclose(probs, p) and np.allclose(dz, (p - y) / y.size)
    logits = losses.BinaryCrossentropy(from_logits=True)
    assert logits(y, z) == pytest.approx(expected, rel=1e-9)
    smooth = losses.BinaryCrossentropy(label_smoothing=0.2)
    ys = y * 0.8 + 0.1
    assert smooth(y, p) == pytest.approx(-np.mean(ys * np.log(p) + (1 - ys) * np.log(1 - p)))


def test_binary_crossentropy_is_stable_for_extreme_logits():
    loss = losses.get("binary_crossentropy")
    z = np.array([[800.0], [-800.0], [30.0], [-30.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    value, p, dz = loss.value_and_grad_from_logits(y, z)
    assert np.isfinite(value) and value == pytest.approx((800 + 800 + 2 * np.log1p(np.exp(-30)))
                                                          / 4)
    assert np.all(np.isfinite(dz)) and np.allclose(dz[:, 0], [0.25, -0.25, 0, 0], atol=1e-12)
    # not fused, Keras clips the probabilities to [1e-7, 1 - 1e-7]
    value, grad = loss.value_and_grad(y, np.array([[1.0], [0.0], [0.5], [0.5]]))
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_a_sigmoid_model_fuses_the_loss_and_accuracy_is_binary(rng):
    model = models.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    assert model._fused
    x = rng.standard_normal((50, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    assert isinstance(model._metrics[0], metrics.BinaryAccuracy)
    loss, acc = model.evaluate(x, y, verbose=0)
    pred = model.predict(x, verbose=0)
    assert acc == pytest.approx(np.mean((pred[:, 0] > 0.5) == (y > 0.5)))
    assert loss == pytest.approx(losses.BinaryCrossentropy()(y, pred), rel=1e-4)
    with pytest.raises(ValueError, match="outputs' shape"):
        model.fit(x, np.zeros((50, 2)), verbose=0)


def test_batch_normalization_passes_take_unaligned_vectors(rng):
    from fastconv import _api
    x = rng.standard_normal((4, 3, 3, 5))
    center, scale, offset = (rng.standard_normal(5) for _ in range(3))
    expected = _api.norm.channel_affine(x, center, scale, offset)
    got = _api.norm.channel_affine(unaligned(x), unaligned(center), unaligned(scale),
                                   unaligned(offset))
    assert np.array_equal(got, expected)
    s1, s2 = _api.norm.batch_norm_sums(unaligned(x), unaligned(center))
    e1, e2 = _api.norm.batch_norm_sums(x, center)
    assert np.array_equal(s1, e1) and np.array_equal(s2, e2)
