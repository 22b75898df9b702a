"""max_pool2d and max_pool2d_backward against the NumPy references."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import reference as R
from _helpers import numerical_gradient, random

POOLS = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (2, 3), (3, 1)]
STRIDES = [None, 1, 2, 3, (1, 2), (3, 2)]
PADDINGS = ["valid", "same"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 6, 33])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
@pytest.mark.parametrize("pool_size", POOLS, ids=str)
def test_max_pool_forward_and_backward_match_naive_reference(rng, pool_size, strides, padding,
                                                             channels, dtype):
    x = random(rng, (2, 9, 7, channels), dtype)
    args = dict(strides=strides, padding=padding)
    y, idx = fastconv.max_pool2d(x, pool_size, return_indices=True, **args)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, R.naive_max_pool2d(x, pool_size, **args))
    # indices point at the maxima: row * width + column of the image
    n, _, _, c = np.indices(y.shape)
    np.testing.assert_array_equal(x[n, idx // x.shape[2], idx % x.shape[2], c], y)
    dy = random(rng, y.shape, dtype)
    want = R.naive_max_pool2d_backward(dy, x, pool_size, **args)
    dx = fastconv.max_pool2d_backward(dy, x, pool_size, **args)
    assert dx.dtype == dtype
    # overlapping windows add in a different order: float32 may differ in the last bit
    np.testing.assert_allclose(dx, want, rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_array_equal(
        fastconv.max_pool2d_backward(dy, x, pool_size, indices=idx, **args), dx)


@pytest.mark.parametrize("shape", [(26, 26, 32), (11, 11, 64)], ids=str)
def test_max_pool_batch_64_mnist_shapes_match_im2col_reference(rng, shape):
    x = random(rng, (64,) + shape, np.float32)
    y = fastconv.max_pool2d(x, (2, 2))
    np.testing.assert_array_equal(y, R.im2col_max_pool2d(x, (2, 2)))
    dy = random(rng, y.shape, np.float32)
    np.testing.assert_array_equal(fastconv.max_pool2d_backward(dy, x, (2, 2)),
                                  R.im2col_max_pool2d_backward(dy, x, (2, 2)))


def test_ties_route_gradient_to_first_maximum_in_row_major_order():
    x = np.zeros((1, 4, 4, 2))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 7.0      # two maxima in window (0, 0) of channel 0
    dx = fastconv.max_pool2d_backward(np.ones((1, 2, 2, 2)), x, 2)
    assert dx[0, 0, 1, 0] == 1 and dx[0, 1, 0, 0] == 0
    # all-equal windows: the top-left element of each
    np.testing.assert_array_equal(dx[0, :, :, 1], [[1, 0, 1, 0], [0, 0, 0, 0],
                                                   [1, 0, 1, 0], [0, 0, 0, 0]])


def test_nan_wins_its_window_and_padding_never_wins():
    x = np.full((1, 3, 3, 1), -np.inf)
    x[0, 1, 1, 0] = np.nan
    y, idx = fastconv.max_pool2d(x, 2, padding="same", return_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 4
    # an all -inf window under "same" padding still picks a pixel of the image
    assert y[0, 1, 1, 0] == -np.inf and idx[0, 1, 1, 0] == 8


def test_max_pool_gradient_matches_finite_differences(rng):
    x = rng.permutation(2 * 5 * 7 * 3).reshape(2, 5, 7, 3).astype(np.float64) / 10  # no ties
    dy = random(rng, fastconv.max_pool2d(x, 3, strides=2, padding="same").shape)

    def loss():
        return np.sum(fastconv.max_pool2d(x, 3, strides=2, padding="same") * dy)

    np.testing.assert_allclose(
        fastconv.max_pool2d_backward(dy, x, 3, strides=2, padding="same"),
        numerical_gradient(loss, x, eps=1e-4), rtol=1e-8, atol=1e-8)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12),
       c=st.one_of(st.integers(1, 9), st.integers(10, 140)),
       ph=st.integers(1, 5), pw=st.integers(1, 5), sh=st.integers(1, 4), sw=st.integers(1, 4),
       padding=st.sampled_from(PADDINGS), seed=st.integers(0, 2 ** 32 - 1))
def test_max_pool_random_shapes_match_im2col_reference(n, h, w, c, ph, pw, sh, sw, padding,
                                                       seed):
    # every path: plain, with public indices, and the layers' argmax codes
    from fastconv import _api
    if padding == "valid" and (ph > h or pw > w):
        return  # empty output: rejected, see test_validation
    rng = np.random.default_rng(seed)
    x = random(rng, (n, h, w, c))
    args = dict(strides=(sh, sw), padding=padding)
    y_ref = R.im2col_max_pool2d(x, (ph, pw), **args)
    np.testing.assert_array_equal(fastconv.max_pool2d(x, (ph, pw), **args), y_ref)
    dy = random(rng, y_ref.shape)
    dx_ref = R.im2col_max_pool2d_backward(dy, x, (ph, pw), **args)
    tol = dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fastconv.max_pool2d_backward(dy, x, (ph, pw), **args), dx_ref,
                               **tol)
    y, idx = fastconv.max_pool2d(x, (ph, pw), return_indices=True, **args)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(
        fastconv.max_pool2d_backward(dy, x, (ph, pw), indices=idx, **args), dx_ref, **tol)
    y, argmax = _api.pool.max_pool2d_with_argmax(x, (ph, pw), (sh, sw), padding)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(
        _api.pool.max_pool2d_backward_argmax(dy, argmax, x.shape, (ph, pw), (sh, sw), padding),
        dx_ref, **tol)


def test_indices_from_another_geometry_are_refused(rng):
    x = random(rng, (1, 6, 6, 2))
    y, idx = fastconv.max_pool2d(x, 2, return_indices=True)
    bad = idx.copy()
    bad[0, 1, 1, 0] = 0          # a pixel outside output (1, 1)'s window
    with pytest.raises(ValueError, match="indices point outside"):
        fastconv.max_pool2d_backward(np.ones_like(y), x, 2, indices=bad)
    # window (1, 1) is rows 2-3, columns 2-3 (positions 14, 15, 20, 21): neighbours in its
    # rows, the rows above and below, and far outside the image
    for value in (13, 16, 19, 22, 8, 27, 26, -1, 36, 2 ** 62, -2 ** 63):
        bad[0, 1, 1, 0] = value
        with pytest.raises(ValueError, match="indices"):
            fastconv.max_pool2d_backward(np.ones_like(y), x, 2, indices=bad)
    with pytest.raises(ValueError, match=r"indices must be an integer array of shape"):
        fastconv.max_pool2d_backward(np.ones_like(y), x, 2, indices=idx[:, :1])


INT64_EXTREMES = [-2 ** 63, -2 ** 63 + 1, -2 ** 62, -1, 2 ** 62, 2 ** 63 - 1]


@pytest.mark.parametrize("pool_size,strides,padding", [(2, None, "valid"), (3, 1, "same"),
                                                       ((2, 3), (1, 2), "valid"),
                                                       (3, 2, "same")])
@pytest.mark.parametrize("value", INT64_EXTREMES)
def test_extreme_indices_are_refused_on_every_geometry(rng, pool_size, strides, padding, value):
    # Any int64 may arrive; none may reach index arithmetic that overflows (the sanitizer
    # stage found idx - origin overflowing at INT64_MIN) or write outside dx. Strides below
    # the pool size take the overlapping-window loop, the others the banded one.
    x = random(rng, (2, 7, 8, 3))
    y, idx = fastconv.max_pool2d(x, pool_size, strides=strides, padding=padding,
                                 return_indices=True)
    for where in [(0, 0, 0, 0), (1, -1, -1, 2)]:
        bad = idx.copy()
        bad[where] = value
        with pytest.raises(ValueError, match="indices point outside"):
            fastconv.max_pool2d_backward(np.ones_like(y), x, pool_size, strides=strides,
                                         padding=padding, indices=bad)
    huge = idx.astype(np.uint64)
    huge[0, 0, 0, 0] = 2 ** 64 - 1
    with pytest.raises(ValueError, match="indices point outside"):
        fastconv.max_pool2d_backward(np.ones_like(y), x, pool_size, strides=strides,
                                     padding=padding, indices=huge)


@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("code", [np.nan, np.inf, -np.inf, -1.0, 4.0, 0.5, 1e300, -1e300])
def test_argmax_codes_that_are_not_window_positions_are_refused(rng, strides, code):
    # the layers' compact argmax: a code is cast to an integer only after its range is
    # checked (casting NaN or 1e300 is undefined behaviour). Overlapping windows check every
    # code; tiled ones drop a gradient whose code matches no pixel.
    from fastconv import _api
    x = random(rng, (1, 6, 6, 2))
    y, argmax = _api.pool.max_pool2d_with_argmax(x, 2, strides, "valid")
    bad = argmax.copy()
    bad[0, 1, 1, 1] = code
    dy = np.ones_like(y)
    if strides == 1:
        with pytest.raises(ValueError, match="argmax does not come from"):
            _api.pool.max_pool2d_backward_argmax(dy, bad, x.shape, 2, strides, "valid")
    else:
        dx = _api.pool.max_pool2d_backward_argmax(dy, bad, x.shape, 2, strides, "valid")
        assert dx[0, 2:4, 2:4, 1].sum() == 0 and dx.sum() == y.size - 1


@pytest.mark.parametrize("pool_size,strides,padding", [(2, 3, "valid"), (2, 2, "valid"),
                                                       ((3, 2), (4, 3), "same"),
                                                       (3, 1, "same")])
def test_backward_kernel_writes_every_value_of_dx(rng, pool_size, strides, padding):
    # dx starts as NaN, as np.empty may leave it: gaps between windows, rows past the last
    # window and overlapping windows must all end up right.
    from fastconv import _api, _pool
    x = random(rng, (2, 11, 10, 3))
    args = _api.pool.PoolArgs("test", x, pool_size, strides, padding)
    y, idx = fastconv.max_pool2d(x, pool_size, strides=strides, padding=padding,
                                 return_indices=True)
    dy = random(rng, y.shape)
    dx = np.full(x.shape, np.nan)
    assert _pool.max_pool2d_backward(dy, idx, dx, *args.kernel_args(), 2)
    np.testing.assert_allclose(dx, R.naive_max_pool2d_backward(dy, x, pool_size,
                                                               strides=strides,
                                                               padding=padding),
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool_size,strides,padding", [(2, None, "valid"), (3, 2, "same"),
                                                       ((2, 3), (3, 4), "valid"),
                                                       (3, 3, "same"), (2, 1, "valid")])
@pytest.mark.parametrize("channels", [5, 21, 32, 70])
def test_every_pooling_path_matches_the_reference(rng, pool_size, strides, padding, dtype,
                                                  channels, simd_path):
    # the layers' argmax codes, plain pooling and the public indices. 21, 32 and 70 channels
    # take the vector path (whole windows inside the image) on full vectors and, for 21, a
    # scalar tail; 70 takes two chunks of channels where indices are recorded
    from fastconv import _api
    x = random(rng, (3, 11, 9, channels), dtype)
    x[0, 1, 1, 0] = np.nan
    x[1, :4, :4, 2] = 1.0                                  # ties: first maximum wins
    c = channels - 1
    x[2, 0, 0, c] = x[2, 0, 1, c] = np.nan                 # the first NaN wins (vector tail)
    x[2, 2:4, 2:4, c // 2] = -np.inf
    x[2, 3, 3, c // 2] = np.inf
    x[2, 4:6, 4:6, c // 3] = np.nan                        # a window of NaN only
    args = dict(strides=strides, padding=padding)
    tol = dict(rtol=1e-6 if dtype == np.float32 else 1e-14)
    y_ref = R.naive_max_pool2d(x, pool_size, **args)
    dy = random(rng, y_ref.shape, dtype)
    dx_ref = R.naive_max_pool2d_backward(dy, x, pool_size, **args)

    y, argmax = _api.pool.max_pool2d_with_argmax(x, pool_size, strides, padding)
    np.testing.assert_array_equal(y, y_ref)
    dx = _api.pool.max_pool2d_backward_argmax(dy, argmax, x.shape, pool_size, strides, padding)
    np.testing.assert_allclose(dx, dx_ref, **tol)

    np.testing.assert_array_equal(fastconv.max_pool2d(x, pool_size, **args), y_ref)

    y, idx = fastconv.max_pool2d(x, pool_size, return_indices=True, **args)
    np.testing.assert_array_equal(y, y_ref)
    n, _, _, ch = np.indices(y.shape)
    np.testing.assert_array_equal(x[n, idx // x.shape[2], idx % x.shape[2], ch], y_ref)
    np.testing.assert_allclose(
        fastconv.max_pool2d_backward(dy, x, pool_size, indices=idx, **args), dx_ref, **tol)


def test_layer_argmax_refuses_codes_outside_the_window(rng):
    from fastconv import _api
    x = random(rng, (1, 6, 6, 2))
    y, argmax = _api.pool.max_pool2d_with_argmax(x, 3, 1, "valid")     # overlapping windows
    argmax[0, 0, 0, 0] = 9
    with pytest.raises(ValueError, match="argmax does not come from this layer"):
        _api.pool.max_pool2d_backward_argmax(np.ones_like(y), argmax, x.shape, 3, 1, "valid")
