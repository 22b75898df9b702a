"""conv2d_transpose and its gradients against the reference (Keras's rule for the output size,
by its definition: the zero-dilated input, padded, correlated with the turned kernel), finite
differences, and the Conv2DTranspose layer."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import fastconv
from fastconv import layers, models
from fastconv import reference as R
from _helpers import assert_close, numerical_gradient, random

DTYPES = [np.float32, np.float64]


def oracle(x, k, b, dy=None, **args):
    x, k = x.astype(np.float64), k.astype(np.float64)
    if dy is None:
        return R.naive_conv2d_transpose(x, k, None if b is None else b.astype(np.float64),
                                        **args)
    return R.naive_conv2d_transpose_backward(dy.astype(np.float64), x, k, **args)


def check(rng, x, k, b, dtype, **args):
    y = fastconv.conv2d_transpose(x, k, b, **args)
    assert y.dtype == dtype
    assert_close(y, oracle(x, k, b, **args), what="y",
                 magnitude=oracle(abs(x), abs(k), None if b is None else abs(b), **args))
    dy = random(rng, y.shape, dtype)
    grads = fastconv.conv2d_transpose_backward(dy, x, k, **args)
    for name, got, want, mag in zip(["dx", "dkernel", "dbias"], grads,
                                    oracle(x, k, b, dy, **args),
                                    oracle(abs(x), abs(k), None, abs(dy), **args)):
        assert got.dtype == dtype, name
        assert_close(got, want, what=name, magnitude=mag)
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output_padding", [None, 0, "largest"], ids=str)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, 3, (2, 1)], ids=str)
@pytest.mark.parametrize("kernel_size", [(1, 1), (2, 2), (3, 3), (4, 4), (5, 3)], ids=str)
def test_conv2d_transpose_matches_its_definition(rng, kernel_size, strides, padding,
                                                 output_padding, dtype, simd_path):
    if output_padding == "largest":                   # stride - 1 on each axis
        output_padding = tuple(int(s) - 1 for s in np.broadcast_to(strides, 2))
    x = random(rng, (2, 5, 6, 3), dtype)
    k = random(rng, kernel_size + (4, 3), dtype)
    check(rng, x, k, random(rng, (4,), dtype), dtype, strides=strides, padding=padding,
          output_padding=output_padding)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("dilation_rate", [2, (3, 1), (1, 2), (2, 3)], ids=str)
@pytest.mark.parametrize("kernel_size", [(1, 1), (2, 2), (3, 3), (4, 3)], ids=str)
def test_dilated_conv2d_transpose_matches_its_definition(rng, kernel_size, dilation_rate,
                                                         padding, dtype, simd_path):
    # the kernel with dilation - 1 zeros between its taps; even windows and 'same' too
    x = random(rng, (2, 5, 6, 3), dtype)
    k = random(rng, kernel_size + (4, 3), dtype)
    y = check(rng, x, k, random(rng, (4,), dtype), dtype, padding=padding,
              dilation_rate=dilation_rate, output_padding=None if padding == "same" else 0)
    dh, dw = np.broadcast_to(dilation_rate, 2)
    window = ((kernel_size[0] - 1) * dh + 1, (kernel_size[1] - 1) * dw + 1)
    assert y.shape[1:3] == ((5, 6) if padding == "same" else (4 + window[0], 5 + window[1]))
    with pytest.raises(ValueError, match="strides > 1 is incompatible with dilation_rate"):
        fastconv.conv2d_transpose(x, k, strides=2, dilation_rate=dilation_rate)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_stride_1_runs_conv2d_kernels_with_winograd_where_they_pay(rng, monkeypatch, padding,
                                                                  simd_path):
    from _helpers import winograd_calls
    calls = winograd_calls(monkeypatch)
    x, k, b = random(rng, (2, 12, 11, 48), np.float32), random(rng, (3, 3, 64, 48), np.float32), \
        random(rng, (64,), np.float32)
    y = fastconv.conv2d_transpose(x, k, b, padding=padding, activation="relu")
    assert_close(y, np.maximum(oracle(x, k, b, padding=padding), 0))
    dy = random(rng, y.shape, np.float32)
    got = fastconv.conv2d_transpose_backward(dy, x, k, padding=padding, relu_output=y)
    for g, want in zip(got, oracle(x, k, b, np.where(y > 0, dy, 0), padding=padding)):
        assert_close(g, want)
    assert {c[0] for c in calls if c[1]} == {"forward", "dkernel"}, calls


@pytest.mark.parametrize("size,kernel,strides,padding,output_padding,want", [
    (5, 3, 2, "same", None, 10), (5, 3, 2, "valid", None, 11), (5, 3, 2, "same", 1, 10),
    (5, 3, 2, "same", 0, 9), (5, 2, 3, "valid", None, 15), (5, 4, 2, "same", 1, 9),
    (64, 3, 2, "same", None, 128), (7, 1, 1, "valid", 0, 7)])
def test_output_sizes_follow_keras(size, kernel, strides, padding, output_padding, want):
    # Keras: 'valid' (size - 1) * s + k + output_padding (default max(k, s) - k); 'same'
    # size * s, or (size - 1) * s + k % 2 + output_padding
    y = fastconv.conv2d_transpose(np.zeros((1, size, size, 2)), np.zeros((kernel, kernel, 3, 2)),
                                  strides=strides, padding=padding, output_padding=output_padding)
    assert y.shape == (1, want, want, 3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 9),
       f=st.integers(1, 9), kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 4),
       sw=st.integers(1, 4), padding=st.sampled_from(["valid", "same"]),
       op=st.one_of(st.none(), st.integers(0, 3)), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2 ** 32 - 1))
def test_conv2d_transpose_random_shapes(n, h, w, c, f, kh, kw, sh, sw, padding, op, dtype, seed):
    rng = np.random.default_rng(seed)
    x, k = random(rng, (n, h, w, c), dtype), random(rng, (kh, kw, f, c), dtype)
    if op is not None and op >= min(sh, sw):
        with pytest.raises(ValueError, match="output_padding must be less than strides"):
            fastconv.conv2d_transpose(x, k, strides=(sh, sw), padding=padding,
                                      output_padding=op)
        return
    if min(keras_size(h, kh, sh, padding, op), keras_size(w, kw, sw, padding, op)) < 1:
        with pytest.raises(ValueError, match="empty output"):
            fastconv.conv2d_transpose(x, k, strides=(sh, sw), padding=padding,
                                      output_padding=op)
        return
    check(rng, x, k, None, dtype, strides=(sh, sw), padding=padding, output_padding=op)


def keras_size(size, k, s, padding, output_padding):
    """Keras's output size of a transposed convolution along one axis."""
    if padding == "valid":
        return (size - 1) * s + k + (max(k, s) - k if output_padding is None else output_padding)
    return size * s if output_padding is None else (size - 1) * s + k % 2 + output_padding


@pytest.mark.parametrize("args", [dict(strides=2, padding="same"),
                                  dict(strides=(2, 3), padding="valid", output_padding=(1, 2)),
                                  dict(strides=1, padding="same"),
                                  dict(padding="same", dilation_rate=(2, 3)),
                                  dict(padding="valid", dilation_rate=2)], ids=str)
def test_gradients_match_finite_differences(rng, args):
    x, k, b = random(rng, (2, 4, 5, 3)), random(rng, (3, 2, 2, 3)), random(rng, (2,))
    y = fastconv.conv2d_transpose(x, k, b, **args)
    w = random(rng, y.shape)

    def loss():
        return float(np.sum(w * fastconv.conv2d_transpose(x, k, b, **args)))
    for name, got, arr in zip(("dx", "dkernel", "dbias"),
                              fastconv.conv2d_transpose_backward(w, x, k, **args), (x, k, b)):
        np.testing.assert_allclose(got, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


def test_relu_and_relu_output(rng):
    x, k, b = random(rng, (2, 5, 5, 3)), random(rng, (3, 3, 4, 3)), random(rng, (4,))
    args = dict(strides=2, padding="same")
    y = fastconv.conv2d_transpose(x, k, b, activation="relu", **args)
    np.testing.assert_array_equal(y, np.maximum(fastconv.conv2d_transpose(x, k, b, **args), 0))
    dy = random(rng, y.shape)
    got = fastconv.conv2d_transpose_backward(dy, x, k, relu_output=y, **args)
    want = fastconv.conv2d_transpose_backward(np.where(y > 0, dy, 0), x, k, **args)
    for g, w_ in zip(got, want):
        np.testing.assert_array_equal(g, w_)
    assert fastconv.conv2d_transpose_backward(dy, x, k, compute_dx=False, **args)[0] is None


def test_arguments_are_checked():
    x, k = np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 2, 3))
    with pytest.raises(ValueError, match=r"kernel in_channels 2 .*\(kh, kw, filters, "
                                         r"in_channels\)"):
        fastconv.conv2d_transpose(x, np.zeros((3, 3, 3, 2)))
    with pytest.raises(ValueError, match="output_padding must be less than strides"):
        fastconv.conv2d_transpose(x, k, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding must be >= 0|output_padding must be"):
        fastconv.conv2d_transpose(x, k, strides=2, output_padding=-1)
    with pytest.raises(TypeError, match="output_padding must be an int"):
        fastconv.conv2d_transpose(x, k, strides=2, output_padding=0.5)
    with pytest.raises(ValueError, match="at least one row and one column"):
        fastconv.conv2d_transpose(np.zeros((1, 0, 4, 3)), k)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        fastconv.conv2d_transpose(x, k, np.zeros(3))
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(1, 6, 6, 2\)"):
        fastconv.conv2d_transpose_backward(np.zeros((1, 4, 4, 2)), x, k)
    with pytest.raises(ValueError, match="output_padding must be less than strides"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=(1, 2))
    with pytest.raises(ValueError, match="strides > 1 is incompatible with dilation_rate"):
        layers.Conv2DTranspose(2, 3, strides=(1, 2), dilation_rate=2)


@pytest.mark.parametrize("kwargs", [dict(filters=3, kernel_size=3, strides=2, padding="same"),
                                    dict(filters=2, kernel_size=(2, 3), strides=(2, 1),
                                         output_padding=(1, 0), activation="relu"),
                                    dict(filters=4, kernel_size=3, use_bias=False,
                                         activation="tanh"),
                                    dict(filters=2, kernel_size=(3, 2), padding="same",
                                         dilation_rate=(2, 3), activation="relu")], ids=str)
def test_conv2d_transpose_layer(rng, kwargs):
    layer = layers.Conv2DTranspose(dtype="float64", **kwargs)
    x = random(rng, (2, 5, 4, 3))
    layer.build((None, 5, 4, 3))
    assert layer.kernel.shape == layer.kernel_size + (layer.filters, 3)
    assert layer.count_params() == layer.kernel.size + layer.filters * layer.use_bias
    for w in layer.weights:
        w[...] = random(rng, w.shape)
    y = layer.forward(x)
    assert y.shape[1:] == layer.compute_output_shape((None, 5, 4, 3))[1:]
    z = R.naive_conv2d_transpose(x, layer.kernel, layer.bias if layer.use_bias else None,
                                 strides=layer.strides, padding=layer.padding,
                                 output_padding=layer.output_padding,
                                 dilation_rate=layer.dilation_rate)
    np.testing.assert_allclose(y, layer.activation.forward(z), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)

    def loss():
        return float(np.sum(layer.forward(x) * dy))
    for got, arr in [(dx, x)] + list(zip(layer.grads, layer.weights)):
        np.testing.assert_allclose(got, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-8)


def test_a_segmentation_model_round_trips(rng, tmp_path):
    inputs = layers.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
    outputs = layers.Conv2D(3, 3, padding="same", activation="softmax")(x)
    model = models.Model(inputs, outputs)
    assert model.output_shape == (None, 12, 12, 3)
    model.compile("rmsprop", "sparse_categorical_crossentropy")
    x = rng.random((8, 12, 12, 3)).astype(np.float32)
    model.fit(x, rng.integers(0, 3, (8, 12, 12, 1)), epochs=1, verbose=0)
    for suffix in (".keras", ".fastconv"):
        model.save(tmp_path / f"m{suffix}")
        np.testing.assert_array_equal(models.load_model(tmp_path / f"m{suffix}").predict(
            x, verbose=0), model.predict(x, verbose=0))
