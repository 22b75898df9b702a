"""conv2d and conv2d_backward against the NumPy references and finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import fastconv
from fastconv import reference as R
from _helpers import assert_close, numerical_gradient, random

KERNELS = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (2, 3), (3, 1)]
STRIDES = [1, 2, 3, (1, 2), (3, 2)]
PADDINGS = ["valid", "same"]
CHANNELS = [(1, 1), (1, 8), (5, 3), (16, 17)]      # (in_channels, filters)
DTYPES = [np.float32, np.float64]


def oracle(x, k, b, strides, padding, dy=None):
    """The naive reference in float64 on the same (possibly float32) inputs."""
    args = dict(strides=strides, padding=padding)
    x, k = x.astype(np.float64), k.astype(np.float64)
    if dy is None:
        return R.naive_conv2d(x, k, None if b is None else b.astype(np.float64), **args)
    return R.naive_conv2d_backward(dy.astype(np.float64), x, k, **args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", CHANNELS, ids=str)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
@pytest.mark.parametrize("kernel_size", KERNELS, ids=str)
def test_conv2d_forward_and_backward_match_naive_reference(rng, kernel_size, strides, padding,
                                                           channels, dtype, simd_path):
    c, f = channels
    x = random(rng, (2, 9, 7, c), dtype)
    k = random(rng, kernel_size + (c, f), dtype)
    b = random(rng, (f,), dtype)
    y = fastconv.conv2d(x, k, b, strides=strides, padding=padding)
    assert y.dtype == dtype
    assert_close(y, oracle(x, k, b, strides, padding), what="y",
                 magnitude=oracle(abs(x), abs(k), abs(b), strides, padding))
    dy = random(rng, y.shape, dtype)
    grads = fastconv.conv2d_backward(dy, x, k, strides=strides, padding=padding)
    magnitudes = oracle(abs(x), abs(k), abs(b), strides, padding, abs(dy))
    for name, got, want, mag in zip(["dx", "dkernel", "dbias"], grads,
                                    oracle(x, k, b, strides, padding, dy), magnitudes):
        assert got.dtype == dtype
        assert_close(got, want, what=name, magnitude=mag)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(28, 28, 1, 32), (13, 13, 32, 64), (5, 5, 64, 64)], ids=str)
def test_conv2d_batch_64_mnist_shapes_match_im2col_reference(rng, shape, dtype, simd_path):
    h, w, c, f = shape
    x = random(rng, (64, h, w, c), dtype)
    k = random(rng, (3, 3, c, f), dtype)
    b = random(rng, (f,), dtype)
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    assert_close(fastconv.conv2d(x, k, b), R.im2col_conv2d(x64, k64, b.astype(np.float64)))
    dy = random(rng, (64, h - 2, w - 2, f), dtype)
    for got, want in zip(fastconv.conv2d_backward(dy, x, k),
                         R.im2col_conv2d_backward(dy.astype(np.float64), x64, k64)):
        assert_close(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kernel_size,strides,padding", [
    ((2, 5, 6, 5000, 3), (3, 3), 1, "same"),    # a window of 45,000 values
    ((1, 4, 4, 40000, 2), (1, 1), 1, "valid"),
    ((2, 7, 7, 130, 300), (3, 3), 1, "same"),   # many panels of filters, Winograd's GEMMs
    ((2, 9, 9, 70, 70), (3, 3), 2, "same"),
    ((1, 6, 6, 70, 140), (3, 3), 1, "valid")], ids=str)
def test_wide_channel_counts_match_im2col_reference(rng, shape, kernel_size, strides, padding,
                                                    dtype):
    # the matrix above stays under 17 channels; this goes past every block and panel width
    n, h, w, c, f = shape
    x, k = random(rng, (n, h, w, c), dtype), random(rng, kernel_size + (c, f), dtype)
    b = random(rng, (f,), dtype)
    args = dict(strides=strides, padding=padding)
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    y = fastconv.conv2d(x, k, b, **args)
    assert_close(y, R.im2col_conv2d(x64, k64, b.astype(np.float64), **args))
    dy = random(rng, y.shape, dtype)
    for got, want in zip(fastconv.conv2d_backward(dy, x, k, **args),
                         R.im2col_conv2d_backward(dy.astype(np.float64), x64, k64, **args)):
        assert_close(got, want)


@pytest.mark.parametrize("n,h,strides,padding", [(45, 5, 1, "valid"), (33, 6, 2, "same"),
                                                  (64, 3, 1, "same"), (37, 7, (2, 3), "valid")])
def test_input_gradient_of_many_small_images_grouped_per_unit(rng, n, h, strides, padding,
                                                               threads):
    # batches of small images go several images to a work unit, the last unit short
    x, k = random(rng, (n, h, h + 1, 8), np.float32), random(rng, (3, 3, 8, 16), np.float32)
    y = fastconv.conv2d(x, k, strides=strides, padding=padding, activation="relu")
    dy = random(rng, y.shape, np.float32)
    want = R.im2col_conv2d_backward((dy * (y > 0)).astype(np.float64), x.astype(np.float64),
                                    k.astype(np.float64), strides=strides, padding=padding)[0]
    results = []
    for t in (1, 2, 3):
        fastconv.set_num_threads(t)
        results.append(fastconv.conv2d_backward(dy, x, k, strides=strides, padding=padding,
                                                relu_output=y)[0])
    assert_close(results[0], want)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("kernel_size,strides", [((3, 3), 1), ((2, 4), (2, 1)), ((3, 2), 3)],
                         ids=str)
def test_conv2d_backward_matches_finite_differences(rng, kernel_size, strides, padding,
                                                    simd_path):
    x = random(rng, (2, 6, 5, 3))
    k = random(rng, kernel_size + (3, 2))
    b = random(rng, (2,))
    y = fastconv.conv2d(x, k, b, strides=strides, padding=padding)
    dy = random(rng, y.shape)

    def loss():
        return np.sum(fastconv.conv2d(x, k, b, strides=strides, padding=padding) * dy)

    dx, dk, db = fastconv.conv2d_backward(dy, x, k, strides=strides, padding=padding)
    for name, grad, arr in (("dx", dx, x), ("dkernel", dk, k), ("dbias", db, b)):
        np.testing.assert_allclose(grad, numerical_gradient(loss, arr), rtol=1e-7, atol=1e-8,
                                   err_msg=name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12),
       c=st.one_of(st.integers(1, 7), st.integers(8, 70)),
       f=st.one_of(st.integers(1, 20), st.integers(21, 70)), kh=st.integers(1, 5),
       kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
       padding=st.sampled_from(PADDINGS), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2 ** 32 - 1))
def test_conv2d_random_shapes_match_im2col_reference(n, h, w, c, f, kh, kw, sh, sw, padding,
                                                     dtype, seed):
    if padding == "valid" and (kh > h or kw > w):
        return  # empty output: rejected, see test_validation
    rng = np.random.default_rng(seed)
    x, k, b = (random(rng, (n, h, w, c), dtype), random(rng, (kh, kw, c, f), dtype),
               random(rng, (f,), dtype))
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    args = dict(strides=(sh, sw), padding=padding)
    y = fastconv.conv2d(x, k, b, **args)
    assert y.dtype == dtype
    assert_close(y, R.im2col_conv2d(x64, k64, b.astype(np.float64), **args))
    dy = random(rng, y.shape, dtype)
    for got, want in zip(fastconv.conv2d_backward(dy, x, k, **args),
                         R.im2col_conv2d_backward(dy.astype(np.float64), x64, k64, **args)):
        assert_close(got, want)


def test_relu_activation_is_fused_and_keeps_nan(rng):
    x, k, b = random(rng, (2, 8, 8, 3)), random(rng, (3, 3, 3, 4)), random(rng, (4,))
    x[0, 2, 2, 1] = np.nan
    y = fastconv.conv2d(x, k, b, padding="same")
    yr = fastconv.conv2d(x, k, b, padding="same", activation="relu")
    np.testing.assert_array_equal(yr, np.maximum(y, 0))   # np.maximum propagates NaN
    assert np.isnan(yr[0, 2, 2]).all() and not np.isnan(yr[1]).any()


def test_compute_dx_false_skips_input_gradient(rng):
    x, k = random(rng, (2, 6, 6, 1)), random(rng, (3, 3, 1, 4))
    dy = random(rng, (2, 4, 4, 4))
    dx, dk, db = fastconv.conv2d_backward(dy, x, k, compute_dx=False)
    assert dx is None
    _, dk_full, db_full = fastconv.conv2d_backward(dy, x, k)
    np.testing.assert_array_equal(dk, dk_full)
    np.testing.assert_array_equal(db, db_full)


def test_nonfinite_values_propagate(rng):
    x, k = random(rng, (1, 5, 5, 2)), random(rng, (2, 2, 2, 1))
    x[0, 0, 0, 0] = np.inf
    y = fastconv.conv2d(x, k)
    assert not np.isfinite(y[0, 0, 0, 0]) and np.isfinite(y[0, 1:, 1:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("strides,padding", [(1, "valid"), (2, "same"), ((1, 3), "same")])
def test_relu_output_applies_the_relu_derivative_inside_the_kernels(rng, strides, padding,
                                                                     dtype, simd_path):
    x, k, b = random(rng, (3, 9, 8, 5), dtype), random(rng, (3, 3, 5, 19), dtype), \
        random(rng, (19,), dtype)
    y = fastconv.conv2d(x, k, b, strides=strides, padding=padding, activation="relu")
    assert (y == 0).mean() > 0.2                       # the mask matters
    dy = random(rng, y.shape, dtype)
    fused = fastconv.conv2d_backward(dy, x, k, strides=strides, padding=padding,
                                     relu_output=y)
    plain = fastconv.conv2d_backward(dy * (y > 0), x, k, strides=strides, padding=padding)
    for a, b_ in zip(fused, plain):
        np.testing.assert_array_equal(a, b_)
    with pytest.raises(ValueError, match=r"relu_output must have dy's shape"):
        fastconv.conv2d_backward(dy, x, k, strides=strides, padding=padding,
                                 relu_output=y[:1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_mask_selects_dy_so_nan_where_the_relu_was_off_is_dropped(rng, dtype):
    x, k = random(rng, (2, 7, 7, 3), dtype), random(rng, (3, 3, 3, 4), dtype)
    y = fastconv.conv2d(x, k, activation="relu")
    dy = random(rng, y.shape, dtype)
    off, on = np.argwhere(y == 0), np.argwhere(y > 0)
    dy[tuple(off[0])] = np.nan                  # masked out: must not reach the gradients
    y = y.copy()
    y[tuple(on[0])] = np.nan                    # NaN is not > 0: masks like 0
    fused = fastconv.conv2d_backward(dy, x, k, relu_output=y)
    plain = fastconv.conv2d_backward(np.where(y > 0, dy, 0).astype(dtype), x, k)
    for a, b_ in zip(fused, plain):
        assert np.isfinite(a).all()
        np.testing.assert_array_equal(a, b_)


@pytest.fixture
def one_accumulator():
    """The kernel gradients' accumulator budget at 1 byte: one accumulator, whatever the
    shapes, its columns shared out among the threads in blocks."""
    previous = fastconv._conv.set_accumulator_budget(1)
    yield
    fastconv._conv.set_accumulator_budget(previous)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel_size,strides,padding", [((3, 2), 1, "same"), ((3, 3), 2, "valid")],
                         ids=str)
def test_kernel_gradient_in_column_blocks_matches_the_reference(rng, one_accumulator, threads,
                                                                simd_path, kernel_size, strides,
                                                                padding, dtype):
    # 150 filters: several panels on every path, the last one partly padding
    x, k = random(rng, (3, 11, 10, 7), dtype), random(rng, kernel_size + (7, 150), dtype)
    y = fastconv.conv2d(x, k, strides=strides, padding=padding, activation="relu")
    dy = random(rng, y.shape, dtype)
    for relu in (None, y):
        dz = dy if relu is None else np.where(y > 0, dy, 0)
        want = oracle(x, k, None, strides, padding, dz)
        results = []
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            results.append(fastconv.conv2d_backward(dy, x, k, strides=strides, padding=padding,
                                                    relu_output=relu)[1:])
        for got, w in zip(results[0], want[1:]):
            assert_close(got, w)
        for other in results[1:]:
            for a, b in zip(other, results[0]):
                np.testing.assert_array_equal(a, b)


def test_kernel_gradient_memory_is_bounded_by_the_budget_not_the_groups():
    # 1024 x 1024 channel pairs, 2x2 kernel, float64: the gradient is 32 MiB; 16 accumulators
    # of its size took 486 MiB more at the peak, the budget's one accumulator about 38 MiB
    from _helpers import run_python
    code = """if True:
        import resource, numpy as np, fastconv
        x = np.ones((1, 20, 20, 1024)); k = np.ones((2, 2, 1024, 1024))
        dy = np.ones((1, 19, 19, 1024))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        dk = fastconv.conv2d_backward(dy, x, k, compute_dx=False)[1]
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert dk[0, 0, 0, 0] == 361 and (dk == 361).all()
        print((after - before) // 1024, dk.nbytes >> 20)
    """
    grown, size = map(int, run_python(code).split())
    assert size == 32 and grown < 3 * size + 16, grown


# -- dilation_rate and groups ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("dilation_rate,groups", [(2, 1), ((1, 3), 1), ((2, 2), 2), (1, 3),
                                                  (1, 6), (3, 2)], ids=str)
@pytest.mark.parametrize("kernel_size", [(3, 3), (2, 2), (1, 3)], ids=str)
def test_dilated_and_grouped_conv2d_match_naive_reference(rng, kernel_size, dilation_rate,
                                                          groups, padding, dtype, simd_path):
    x = random(rng, (2, 11, 10, 6), dtype)
    k = random(rng, kernel_size + (6 // groups, 12), dtype)
    b = random(rng, (12,), dtype)
    args = dict(padding=padding, dilation_rate=dilation_rate, groups=groups)
    ref = dict(padding=padding, dilation_rate=dilation_rate, groups=groups)
    y = fastconv.conv2d(x, k, b, **args)
    assert y.dtype == dtype
    x64, k64, b64 = x.astype(np.float64), k.astype(np.float64), b.astype(np.float64)
    assert_close(y, R.naive_conv2d(x64, k64, b64, **ref), what="y",
                 magnitude=R.naive_conv2d(abs(x64), abs(k64), abs(b64), **ref))
    dy = random(rng, y.shape, dtype)
    got = fastconv.conv2d_backward(dy, x, k, **args)
    want = R.naive_conv2d_backward(dy.astype(np.float64), x64, k64, **ref)
    mags = R.naive_conv2d_backward(abs(dy.astype(np.float64)), abs(x64), abs(k64), **ref)
    for name, g, w, m in zip(("dx", "dkernel", "dbias"), got, want, mags):
        assert g.dtype == dtype
        assert_close(g, w, what=name, magnitude=m)


def test_dilated_winograd_sized_layer_matches_the_reference(rng, simd_path):
    # 32 channels: each phase of the dilated convolution takes conv2d's Winograd path
    x, k = random(rng, (2, 14, 13, 32), np.float32), random(rng, (3, 3, 32, 32), np.float32)
    y = fastconv.conv2d(x, k, padding="same", dilation_rate=2, activation="relu")
    assert_close(y, np.maximum(R.naive_conv2d(x.astype(np.float64), k.astype(np.float64),
                                              padding="same", dilation_rate=2), 0))
    dy = random(rng, y.shape, np.float32)
    got = fastconv.conv2d_backward(dy, x, k, padding="same", dilation_rate=2, relu_output=y)
    want = R.naive_conv2d_backward(np.where(y > 0, dy, 0).astype(np.float64),
                                   x.astype(np.float64), k.astype(np.float64), padding="same",
                                   dilation_rate=2)
    for g, w in zip(got, want):
        assert_close(g, w)


@pytest.mark.parametrize("args", [dict(dilation_rate=2, padding="same"),
                                  dict(groups=2, strides=2), dict(dilation_rate=(1, 2),
                                                                  groups=3)], ids=str)
def test_dilated_and_grouped_gradients_match_finite_differences(rng, args):
    x, k, b = random(rng, (2, 7, 6, 6)), random(rng, (2, 3, 6 // args.get("groups", 1), 6)), \
        random(rng, (6,))
    y = fastconv.conv2d(x, k, b, **args)
    w = random(rng, y.shape)

    def loss():
        return float(np.sum(w * fastconv.conv2d(x, k, b, **args)))
    for name, got, arr in zip(("dx", "dkernel", "dbias"),
                              fastconv.conv2d_backward(w, x, k, **args), (x, k, b)):
        # central differences of a sum of ~500 terms of order 1: about 1e-8 off
        np.testing.assert_allclose(got, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-7,
                                   err_msg=name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 2), h=st.integers(1, 10), w=st.integers(1, 10), cg=st.integers(1, 3),
       fg=st.integers(1, 3), groups=st.integers(1, 3), kh=st.integers(1, 3),
       kw=st.integers(1, 3), dh=st.integers(1, 3), dw=st.integers(1, 3),
       padding=st.sampled_from(PADDINGS), seed=st.integers(0, 2 ** 32 - 1))
def test_random_dilated_and_grouped_shapes(n, h, w, cg, fg, groups, kh, kw, dh, dw, padding,
                                           seed):
    rng = np.random.default_rng(seed)
    x = random(rng, (n, h, w, cg * groups))
    k = random(rng, (kh, kw, cg, fg * groups))
    args = dict(padding=padding, dilation_rate=(dh, dw), groups=groups)
    if padding == "valid" and (h < (kh - 1) * dh + 1 or w < (kw - 1) * dw + 1):
        with pytest.raises(ValueError, match="empty output"):
            fastconv.conv2d(x, k, **args)
        return
    assert_close(fastconv.conv2d(x, k, **args), R.naive_conv2d(x, k, **args))
    dy = random(rng, fastconv.conv2d(x, k, **args).shape)
    for g, want in zip(fastconv.conv2d_backward(dy, x, k, **args),
                       R.naive_conv2d_backward(dy, x, k, **args)):
        assert_close(g, want)


def test_dilation_and_groups_are_checked():
    x = np.zeros((1, 8, 8, 6))
    with pytest.raises(ValueError, match=r"dilation_rate \(2, 2\) needs strides 1"):
        fastconv.conv2d(x, np.zeros((3, 3, 6, 4)), strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="times groups 4 does not match x channels 6"):
        fastconv.conv2d(x, np.zeros((3, 3, 2, 4)), groups=4)
    with pytest.raises(ValueError, match="filters 5 .* must be a multiple of groups 2"):
        fastconv.conv2d(x, np.zeros((3, 3, 3, 5)), groups=2)
    with pytest.raises(TypeError, match="groups must be a positive int"):
        fastconv.conv2d(x, np.zeros((3, 3, 3, 4)), groups=2.0)
    with pytest.raises(ValueError, match="groups must be >= 1"):
        fastconv.conv2d(x, np.zeros((3, 3, 6, 4)), groups=0)
    with pytest.raises(ValueError, match=r"window dilated by \(4, 4\)"):
        fastconv.conv2d(x, np.zeros((3, 3, 6, 4)), dilation_rate=4)
    from fastconv import layers
    with pytest.raises(ValueError, match="needs strides 1"):
        layers.Conv2D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="input channels 6 must be a multiple of groups 4"):
        layers.Conv2D(4, 3, groups=4).build((None, 8, 8, 6))


def test_dilated_grouped_conv2d_layer(rng):
    from fastconv import layers
    layer = layers.Conv2D(6, 3, padding="same", dilation_rate=2, groups=3, activation="relu",
                          dtype="float64")
    layer.build((None, 9, 8, 6))
    assert layer.kernel.shape == (3, 3, 2, 6) and layer.count_params() == 3 * 3 * 2 * 6 + 6
    assert layer.get_config()["dilation_rate"] == (2, 2) and layer.get_config()["groups"] == 3
    x = random(rng, (2, 9, 8, 6))
    for w in layer.weights:
        w[...] = random(rng, w.shape)
    y = layer.forward(x)
    np.testing.assert_allclose(y, np.maximum(R.naive_conv2d(x, layer.kernel, layer.bias,
                                                            padding="same", dilation_rate=2,
                                                            groups=3), 0), rtol=1e-12,
                               atol=1e-12)
    dy = random(rng, y.shape)
    dx = layer.backward(dy)

    def loss():
        return float(np.sum(layer.forward(x) * dy))
    for got, arr in [(dx, x)] + list(zip(layer.grads, layer.weights)):
        np.testing.assert_allclose(got, numerical_gradient(loss, arr), rtol=1e-6, atol=1e-8)
