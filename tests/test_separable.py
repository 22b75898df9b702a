"""separable_conv2d (a depthwise convolution and a 1x1 convolution computed together, the
depthwise result kept in a thread's buffer) against its definition, the two convolutions
one after the other, on every SIMD path; the SeparableConv2D layer runs it outside
training."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import fastconv
from fastconv import layers
from fastconv import reference as R
from _helpers import assert_close, random

DTYPES = [np.float32, np.float64]


def oracle(x, dk, pk, b, **args):
    as64 = (lambda a: None if a is None else np.asarray(a, np.float64))
    return R.naive_separable_conv2d(as64(x), as64(dk), as64(pk), as64(b), **args)


def check(rng, x, dk, pk, b, dtype, activation=None, **args):
    y = fastconv.separable_conv2d(x, dk, pk, b, activation=activation, **args)
    assert y.dtype == dtype
    want = oracle(x, dk, pk, b, **args)
    if activation == "relu":
        want = np.maximum(want, 0)
    assert_close(y, want, what="y", magnitude=oracle(abs(x), abs(dk), abs(pk),
                                                     None if b is None else abs(b), **args))
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, (1, 3)], ids=str)
@pytest.mark.parametrize("kernel_size", [(1, 1), (2, 2), (3, 3), (5, 3)], ids=str)
# (in_channels, depth_multiplier, filters): one lane, tails past whole vectors of every path
# (4, 8 or 16 lanes) on both sides of the GEMM, multipliers
@pytest.mark.parametrize("channels", [(1, 1, 1), (19, 1, 7), (32, 1, 48), (5, 2, 13),
                                      (3, 3, 20)], ids=str)
def test_separable_matches_its_definition(rng, kernel_size, strides, padding, activation,
                                          channels, dtype, simd_path):
    c, m, f = channels
    x = random(rng, (2, 9, 7, c), dtype)
    check(rng, x, random(rng, kernel_size + (c, m), dtype), random(rng, (1, 1, c * m, f), dtype),
          random(rng, (f,), dtype), dtype, activation, strides=strides, padding=padding)


@pytest.mark.parametrize("shape,f", [((2, 40, 30, 16), 24), ((3, 11, 11, 128), 96),
                                     ((1, 5, 70, 8), 8), ((2, 19, 19, 72), 72)], ids=str)
def test_several_rows_per_buffer_and_long_rows(rng, shape, f, simd_path):
    # rows of 5 to 70 pixels: up to 13 rows go through a thread's buffer together
    c = shape[3]
    x = random(rng, shape, np.float32)
    check(rng, x, random(rng, (3, 3, c, 1), np.float32), random(rng, (1, 1, c, f), np.float32),
          None, np.float32, padding="same")
    check(rng, x, random(rng, (3, 3, c, 1), np.float32), random(rng, (1, 1, c, f), np.float32),
          random(rng, (f,), np.float32), np.float32, "relu", strides=2, padding="same",
          dilation_rate=1)


@pytest.mark.parametrize("dilation_rate", [2, (1, 3)], ids=str)
def test_dilated(rng, dilation_rate, simd_path):
    x = random(rng, (2, 12, 11, 6), np.float64)
    check(rng, x, random(rng, (3, 2, 6, 2)), random(rng, (1, 1, 12, 5)), random(rng, (5,)),
          np.float64, padding="same", dilation_rate=dilation_rate)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 20),
       m=st.integers(1, 3), f=st.integers(1, 20), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), dh=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same"]), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2 ** 32 - 1))
def test_random_shapes(n, h, w, c, m, f, kh, kw, sh, sw, dh, padding, dtype, seed):
    rng = np.random.default_rng(seed)
    args = dict(strides=(sh, sw), padding=padding, dilation_rate=(dh, 1))
    if padding == "valid" and (h < (kh - 1) * dh + 1 or w < kw):
        with pytest.raises(ValueError, match="empty output"):
            fastconv.separable_conv2d(np.zeros((n, h, w, c)), np.zeros((kh, kw, c, m)),
                                      np.zeros((1, 1, c * m, f)), **args)
        return
    check(rng, random(rng, (n, h, w, c), dtype), random(rng, (kh, kw, c, m), dtype),
          random(rng, (1, 1, c * m, f), dtype), random(rng, (f,), dtype), dtype, **args)


def test_one_and_two_threads_give_identical_results(rng, threads):
    x = random(rng, (3, 17, 19, 24), np.float32)
    dk, pk = random(rng, (3, 3, 24, 1), np.float32), random(rng, (1, 1, 24, 40), np.float32)
    results = []
    for n in (1, 2):
        fastconv.set_num_threads(n)
        results.append(fastconv.separable_conv2d(x, dk, pk, strides=2, padding="same"))
    np.testing.assert_array_equal(*results)


def test_layouts_read_only_inputs_and_mixed_dtypes(rng):
    x = random(rng, (2, 8, 10, 12), np.float64)
    dk, pk = random(rng, (3, 3, 6, 1)), random(rng, (1, 1, 6, 4))
    for a in (x, dk, pk):
        a.flags.writeable = False
    xs = x[:, ::1, ::2, ::2]                  # not contiguous, read-only
    keep = [np.array(a) for a in (xs, dk, pk)]
    check(rng, xs, dk, pk, None, np.float64, padding="same")
    for a, k in zip((xs, dk, pk), keep):
        np.testing.assert_array_equal(a, k)
    y = fastconv.separable_conv2d(xs.astype(np.float32), dk, pk.astype(np.float32))
    assert y.dtype == np.float64               # conv2d's policy: float64 if any is


def test_empty_batch(rng):
    y = fastconv.separable_conv2d(np.zeros((0, 5, 5, 3), np.float32),
                                  np.zeros((3, 3, 3, 1), np.float32),
                                  np.zeros((1, 1, 3, 2), np.float32))
    assert y.shape == (0, 3, 3, 2)


@pytest.mark.parametrize("pk_shape,b_shape,message", [
    ((1, 1, 4, 2), None, r"pointwise_kernel must have shape \(1, 1, 3, filters\)"),
    ((3, 1, 3, 2), None, r"pointwise_kernel must have shape \(1, 1, 3, filters\)"),
    ((1, 3, 2), None, "pointwise_kernel"),
    ((1, 1, 3, 2), (3,), r"bias must have shape \(2,\)")])
def test_arguments_are_checked(pk_shape, b_shape, message):
    with pytest.raises(ValueError, match=message):
        fastconv.separable_conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 3, 1)),
                                  np.zeros(pk_shape), None if b_shape is None else
                                  np.zeros(b_shape))
    with pytest.raises(ValueError, match="activation"):
        fastconv.separable_conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 3, 1)),
                                  np.zeros((1, 1, 3, 2)), activation="tanh")
    with pytest.raises(TypeError):
        fastconv.separable_conv2d(np.zeros((1, 5, 5, 3), int), np.zeros((3, 3, 3, 1)),
                                  np.zeros((1, 1, 3, 2)))


def test_the_layer_runs_fused_outside_training_and_equals_the_two_passes(rng, monkeypatch):
    layer = layers.SeparableConv2D(6, 3, padding="same", depth_multiplier=2,
                                   activation="relu")
    layer.build((None, 7, 7, 4))
    for w in layer.weights:
        w[...] = random(rng, w.shape, np.float32)
    x = random(rng, (2, 7, 7, 4), np.float32)
    calls = []
    real = fastconv._api.separable_conv2d
    monkeypatch.setattr(fastconv._api, "separable_conv2d",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    inference = layer.forward(x, training=False)
    assert calls == [1]
    # an input gradient after an inference forward works the depthwise result out again
    dx_inference = layer.backward(np.ones_like(inference))
    training = layer.forward(x, training=True)
    assert calls == [1]
    assert_close(inference, training)
    np.testing.assert_allclose(dx_inference, layer.backward(np.ones_like(training)),
                               rtol=1e-5, atol=1e-5)
