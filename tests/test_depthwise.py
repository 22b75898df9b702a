"""depthwise_conv2d and depthwise_conv2d_backward against the NumPy reference and finite
differences, on every SIMD path."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import fastconv
from fastconv import reference as R
from _helpers import assert_close, numerical_gradient, random

KERNELS = [(1, 1), (2, 2), (3, 3), (5, 5), (2, 3), (3, 1)]
STRIDES = [1, 2, (1, 2), (3, 2)]
PADDINGS = ["valid", "same"]
# (in_channels, depth_multiplier): one vector lane, a tail past whole vectors of every path
# (4, 8 or 16 lanes), whole AVX-512 vectors, multipliers
CHANNELS = [(1, 1), (19, 1), (32, 1), (5, 2), (3, 3)]
DTYPES = [np.float32, np.float64]


def oracle(x, k, b, dy=None, **args):
    """The naive reference in float64 on the same (possibly float32) inputs."""
    x, k = x.astype(np.float64), k.astype(np.float64)
    if dy is None:
        return R.naive_depthwise_conv2d(x, k, None if b is None else b.astype(np.float64),
                                        **args)
    return R.naive_depthwise_conv2d_backward(dy.astype(np.float64), x, k, **args)


def check_against_oracle(rng, x, k, b, dtype, **args):
    y = fastconv.depthwise_conv2d(x, k, b, **args)
    assert y.dtype == dtype
    assert_close(y, oracle(x, k, b, **args), what="y",
                 magnitude=oracle(abs(x), abs(k), None if b is None else abs(b), **args))
    dy = random(rng, y.shape, dtype)
    grads = fastconv.depthwise_conv2d_backward(dy, x, k, **args)
    magnitudes = oracle(abs(x), abs(k), None, abs(dy), **args)
    for name, got, want, mag in zip(["dx", "dkernel", "dbias"], grads, oracle(x, k, b, dy, **args),
                                    magnitudes):
        assert got.dtype == dtype, name
        assert_close(got, want, what=name, magnitude=mag)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", CHANNELS, ids=str)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
@pytest.mark.parametrize("kernel_size", KERNELS, ids=str)
def test_depthwise_forward_and_backward_match_naive_reference(rng, kernel_size, strides, padding,
                                                              channels, dtype, simd_path):
    c, m = channels
    x = random(rng, (2, 9, 7, c), dtype)
    k = random(rng, kernel_size + (c, m), dtype)
    b = random(rng, (c * m,), dtype)
    check_against_oracle(rng, x, k, b, dtype, strides=strides, padding=padding)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", [1, 2, (2, 3)], ids=str)
@pytest.mark.parametrize("dilation_rate", [2, (2, 1), (1, 3), 4], ids=str)
@pytest.mark.parametrize("kernel_size", [(3, 3), (2, 2), (3, 2)], ids=str)
def test_dilated_depthwise_matches_naive_reference(rng, kernel_size, dilation_rate, strides,
                                                   padding, simd_path):
    x = random(rng, (2, 11, 10, 9), np.float64)
    k = random(rng, kernel_size + (9, 2), np.float64)
    check_against_oracle(rng, x, k, random(rng, (18,)), np.float64, strides=strides,
                         padding=padding, dilation_rate=dilation_rate)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,strides", [((2, 24, 24, 96), 2), ((2, 14, 14, 144), 1),
                                           ((3, 7, 7, 576), 1), ((2, 15, 16, 35), 2)], ids=str)
def test_mobilenet_shapes_match_naive_reference(rng, shape, strides, dtype, simd_path):
    x = random(rng, shape, dtype)
    k = random(rng, (3, 3, shape[3], 1), dtype)
    check_against_oracle(rng, x, k, random(rng, (shape[3],), dtype), dtype, strides=strides,
                         padding="same")


def test_long_rows_and_many_groups_match_naive_reference(rng, simd_path):
    # 40 output rows in 32 groups of the kernel gradient, rows of 60 pixels in runs of 4
    x = random(rng, (5, 8, 60, 20), np.float32)
    k = random(rng, (3, 3, 20, 1), np.float32)
    check_against_oracle(rng, x, k, None, np.float32, padding="same")


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides,dilation_rate,multiplier", [(1, 1, 1), (2, 1, 2), (1, 2, 1),
                                                               ((2, 1), (1, 2), 3)], ids=str)
def test_depthwise_backward_matches_finite_differences(rng, strides, dilation_rate, multiplier,
                                                       padding):
    args = dict(strides=strides, padding=padding, dilation_rate=dilation_rate)
    x = random(rng, (2, 6, 7, 3))
    k = random(rng, (3, 2, 3, multiplier))
    b = random(rng, (3 * multiplier,))
    y = fastconv.depthwise_conv2d(x, k, b, **args)
    w = random(rng, y.shape)

    def loss():
        return float(np.sum(w * fastconv.depthwise_conv2d(x, k, b, **args)))

    dx, dk, db = fastconv.depthwise_conv2d_backward(w, x, k, **args)
    for name, got, arr in (("dx", dx, x), ("dkernel", dk, k), ("dbias", db, b)):
        np.testing.assert_allclose(got, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_output_applies_the_relu_derivative_inside_the_kernels(rng, dtype, simd_path):
    x, k, b = random(rng, (2, 8, 9, 11), dtype), random(rng, (3, 3, 11, 2), dtype), \
        random(rng, (22,), dtype)
    y = fastconv.depthwise_conv2d(x, k, b, strides=2, padding="same", activation="relu")
    plain = fastconv.depthwise_conv2d(x, k, b, strides=2, padding="same")
    np.testing.assert_array_equal(y, np.maximum(plain, 0))
    assert (y == 0).any() and (y > 0).any()
    dy = random(rng, y.shape, dtype)
    got = fastconv.depthwise_conv2d_backward(dy, x, k, strides=2, padding="same", relu_output=y)
    want = fastconv.depthwise_conv2d_backward(np.where(y > 0, dy, 0), x, k, strides=2,
                                              padding="same")
    for g, w_ in zip(got, want):
        np.testing.assert_array_equal(g, w_)


def test_relu_keeps_nan_and_nonfinite_values_propagate(rng):
    x = random(rng, (1, 6, 6, 9), np.float32)
    x[0, 2, 2, 4] = np.nan
    x[0, 4, 4, 7] = np.inf
    k = np.abs(random(rng, (3, 3, 9, 1), np.float32))
    y = fastconv.depthwise_conv2d(x, k, padding="same", activation="relu")
    assert np.isnan(y[0, 1:4, 1:4, 4]).all()
    assert np.isinf(y[0, 3:6, 3:6, 7]).all()
    assert np.isfinite(np.delete(y, [4, 7], axis=3)).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 20),
       m=st.integers(1, 3), kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 4),
       sw=st.integers(1, 4), dh=st.integers(1, 3), dw=st.integers(1, 3),
       padding=st.sampled_from(PADDINGS), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2 ** 32 - 1))
def test_depthwise_random_shapes_match_naive_reference(n, h, w, c, m, kh, kw, sh, sw, dh, dw,
                                                       padding, dtype, seed):
    rng = np.random.default_rng(seed)
    if padding == "valid" and (h < (kh - 1) * dh + 1 or w < (kw - 1) * dw + 1):
        with pytest.raises(ValueError, match="empty output"):
            fastconv.depthwise_conv2d(np.zeros((n, h, w, c)), np.zeros((kh, kw, c, m)),
                                      strides=(sh, sw), padding=padding,
                                      dilation_rate=(dh, dw))
        return
    x = random(rng, (n, h, w, c), dtype)
    k = random(rng, (kh, kw, c, m), dtype)
    check_against_oracle(rng, x, k, random(rng, (c * m,), dtype), dtype, strides=(sh, sw),
                         padding=padding, dilation_rate=(dh, dw))


def test_windows_entirely_in_the_padding_give_the_bias(rng):
    # a 2-tap window 3 apart centred on a single row: both taps off the image
    x = random(rng, (1, 1, 1, 4))
    k = random(rng, (2, 2, 4, 1))
    b = random(rng, (4,))
    y = fastconv.depthwise_conv2d(x, k, b, padding="same", dilation_rate=3)
    np.testing.assert_array_equal(y, b.reshape(1, 1, 1, 4))
    dx, dk, db = fastconv.depthwise_conv2d_backward(np.ones_like(y), x, k, padding="same",
                                                    dilation_rate=3)
    np.testing.assert_array_equal(dx, 0)
    np.testing.assert_array_equal(dk, 0)
    np.testing.assert_array_equal(db, 1)


def test_one_and_two_threads_give_identical_results(rng, threads):
    x, k = random(rng, (3, 17, 19, 24), np.float32), random(rng, (3, 3, 24, 1), np.float32)
    dy = random(rng, (3, 9, 10, 24), np.float32)
    results = []
    for n in (1, 2):
        fastconv.set_num_threads(n)
        results.append((fastconv.depthwise_conv2d(x, k, strides=2, padding="same"),)
                       + fastconv.depthwise_conv2d_backward(dy, x, k, strides=2, padding="same"))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_every_simd_path_agrees(rng):
    from _helpers import SIMD_PATHS
    from fastconv import _config
    x, k = random(rng, (2, 9, 9, 37), np.float32), random(rng, (3, 3, 37, 1), np.float32)
    dy = random(rng, (2, 9, 9, 37), np.float32)
    out = {}
    for path in SIMD_PATHS:
        previous = _config.set_simd_path(path)
        try:
            out[path] = ((fastconv.depthwise_conv2d(x, k, padding="same"),)
                         + fastconv.depthwise_conv2d_backward(dy, x, k, padding="same"))
        finally:
            _config.set_simd_path(previous)
    for path in SIMD_PATHS[1:]:
        for a, b in zip(out["generic"], out[path]):
            assert_close(b, a.astype(np.float64), what=path)


def test_compute_dx_false_skips_the_input_gradient(rng):
    x, k, dy = random(rng, (1, 5, 5, 3)), random(rng, (3, 3, 3, 2)), random(rng, (1, 3, 3, 6))
    dx, dk, db = fastconv.depthwise_conv2d_backward(dy, x, k, compute_dx=False)
    assert dx is None
    want = fastconv.depthwise_conv2d_backward(dy, x, k)
    np.testing.assert_array_equal(dk, want[1])
    np.testing.assert_array_equal(db, want[2])


def test_layouts_and_read_only_inputs_are_read_and_never_written(rng):
    from test_api import layouts
    x, k, b = random(rng, (2, 7, 6, 5)), random(rng, (3, 2, 5, 2)), random(rng, (10,))
    dy = random(rng, (2, 4, 3, 10))
    args = dict(strides=2, padding="same")
    want = ((fastconv.depthwise_conv2d(x, k, b, **args),)
            + fastconv.depthwise_conv2d_backward(dy, x, k, **args))
    for name in ("reversed", "strided", "fortran", "readonly", "big-endian", "unaligned"):
        xl, kl, bl, dyl = (layouts(a)[name] for a in (x, k, b[None, None, None], dy))
        bl = bl[0, 0, 0]
        before = [a.copy() for a in (xl, kl, bl, dyl)]
        got = ((fastconv.depthwise_conv2d(xl, kl, bl, **args),)
               + fastconv.depthwise_conv2d_backward(dyl, xl, kl, **args))
        for g, w_ in zip(got, want):
            np.testing.assert_array_equal(g, w_, err_msg=name)
        for a, old in zip((xl, kl, bl, dyl), before):
            np.testing.assert_array_equal(a, old, err_msg=name)


def test_dtype_policy_follows_conv2d(rng):
    x, k = random(rng, (1, 5, 5, 3)), random(rng, (3, 3, 3, 1))
    assert fastconv.depthwise_conv2d(x.astype(np.float32), k).dtype == np.float64
    half = fastconv.depthwise_conv2d(x.astype(np.float16), k.astype(np.float16))
    assert half.dtype == np.float16
    assert_close(half, oracle(x.astype(np.float16), k.astype(np.float16), None),
                 dtype=np.float16)
    assert fastconv.depthwise_conv2d(x.tolist(), k.tolist()).shape == (1, 3, 3, 3)


def test_empty_batch_and_zero_channels(rng):
    assert fastconv.depthwise_conv2d(np.zeros((0, 5, 5, 3)), np.ones((3, 3, 3, 2))).shape == \
        (0, 3, 3, 6)
    y = fastconv.depthwise_conv2d(np.zeros((2, 5, 5, 0)), np.ones((3, 3, 0, 2)))
    assert y.shape == (2, 3, 3, 0)
    dx, dk, db = fastconv.depthwise_conv2d_backward(np.zeros((0, 3, 3, 6)),
                                                    np.zeros((0, 5, 5, 3)), np.ones((3, 3, 3, 2)))
    assert dx.shape == (0, 5, 5, 3) and (dk == 0).all() and dk.shape == (3, 3, 3, 2)
    assert db.shape == (6,) and (db == 0).all()


X = np.zeros((2, 8, 8, 3))
K = np.zeros((3, 3, 3, 2))
ERRORS = [
    (dict(x=np.zeros((8, 8, 3))), ValueError, r"x must be 4-D .* got shape \(8, 8, 3\)"),
    (dict(kernel=np.zeros((3, 3, 3))), ValueError,
     r"kernel must be 4-D \(kh, kw, in_channels, depth_multiplier\)"),
    (dict(kernel=np.zeros((3, 3, 2, 1))), ValueError,
     r"kernel in_channels 2 .*\(3, 3, 2, 1\).* x channels 3 .*\(2, 8, 8, 3\)"),
    (dict(kernel=np.zeros((3, 3, 3, 0))), ValueError, r"depth multiplier of at least 1"),
    (dict(strides=0), ValueError, r"strides must be >= 1, got 0"),
    (dict(dilation_rate=0), ValueError, r"dilation_rate must be >= 1, got 0"),
    (dict(dilation_rate=(1, 2, 3)), ValueError, r"dilation_rate must be an int or a pair"),
    (dict(dilation_rate=1.5), TypeError, r"dilation_rate must be an int or a pair of ints"),
    (dict(padding="full"), ValueError, r"padding must be 'valid' or 'same', got 'full'"),
    (dict(dilation_rate=4), ValueError,
     r"empty output: a 3x3 window with dilation \(4, 4\) \(9x9\)"),
    (dict(x=np.zeros((2, 8, 8, 3), np.int32)), TypeError, r"x has integer .* int32"),
]


@pytest.mark.parametrize("change,error,message", ERRORS)
def test_depthwise_rejects_bad_arguments(change, error, message):
    args = dict(x=X, kernel=K)
    args.update(change)
    x, k = args.pop("x"), args.pop("kernel")
    with pytest.raises(error, match=message):
        fastconv.depthwise_conv2d(x, k, **args)
    with pytest.raises(error, match=message):
        fastconv.depthwise_conv2d_backward(np.zeros((2, 6, 6, 6)), x, k, **args)


def test_depthwise_rejects_bad_bias_dy_and_activation():
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\) = in_channels x "
                                         r"depth_multiplier .* got \(3,\)"):
        fastconv.depthwise_conv2d(X, K, np.zeros(3))
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(2, 6, 6, 6\)"):
        fastconv.depthwise_conv2d_backward(np.zeros((2, 6, 6, 3)), X, K)
    with pytest.raises(ValueError, match=r"relu_output must have dy's shape"):
        fastconv.depthwise_conv2d_backward(np.zeros((2, 6, 6, 6)), X, K,
                                           relu_output=np.zeros((2, 6, 6, 3)))
    with pytest.raises(ValueError, match=r"activation must be None, 'linear' or 'relu'"):
        fastconv.depthwise_conv2d(X, K, activation="relu6")


@pytest.mark.parametrize("strides", [1, 2])
def test_the_3x3_kernel_agrees_with_the_general_one(rng, strides, simd_path):
    from fastconv import _depthwise
    x, k, b = random(rng, (2, 13, 14, 21), np.float32), random(rng, (3, 3, 21, 1), np.float32), \
        random(rng, (21,), np.float32)
    dy = random(rng, (2, 13 // strides + 13 % strides, 14 // strides, 21), np.float32)
    args = dict(strides=strides, padding="same")
    results = {}
    for on in (True, False):
        previous = _depthwise.set_kernels_3x3(on)
        try:
            results[on] = ((fastconv.depthwise_conv2d(x, k, b, activation="relu", **args),)
                           + fastconv.depthwise_conv2d_backward(dy, x, k, **args))
        finally:
            _depthwise.set_kernels_3x3(previous)
    # the same sums in the same order (forward) or another (the input gradient), with fused
    # multiply-adds where the compiler chose them: equal to rounding
    for got, want in zip(results[True], results[False]):
        assert_close(got, want.astype(np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,strides", [((2, 12, 12, 24), 2), ((2, 9, 14, 19), 1),
                                           ((1, 7, 7, 64), 1)], ids=str)
def test_stores_around_the_caches_give_the_same_values(rng, monkeypatch, shape, strides, dtype,
                                                       simd_path):
    # outputs over twice the last-level cache are stored non-temporally by the 3x3 kernel:
    # forced on here, the same values bit for bit (partial vectors too)
    from fastconv._api import depthwise
    streams = depthwise.streams
    x = random(rng, shape, dtype)
    k, b = random(rng, (3, 3, shape[3], 1), dtype), random(rng, (shape[3],), dtype)
    results = []
    for on in (False, True):
        monkeypatch.setattr(depthwise, "streams", lambda nbytes, on=on: on)
        results.append(fastconv.depthwise_conv2d(x, k, b, strides=strides, padding="same",
                                                 activation="relu"))
    np.testing.assert_array_equal(*results)
    assert_close(results[1], np.maximum(oracle(x, k, b, strides=strides, padding="same"), 0))
    assert streams(33 * fastconv._config.last_level_cache_bytes() // 16)
    assert not streams(fastconv._config.last_level_cache_bytes())
