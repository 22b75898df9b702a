"""The resampling kernel (src/image.pyx) behind the augmentation layers and the image loader's
resize: against fastconv.reference's point-by-point version of the documented rule (itself
checked case by case here), its adjoint, TensorFlow's resize rule, and hostile arguments."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastconv import _api
from fastconv.reference import naive_affine_transform, naive_affine_transform_backward
from _helpers import assert_close, unaligned

MODES = ["constant", "nearest", "reflect", "wrap"]
INTERPOLATIONS = ["nearest", "bilinear"]


def reference(x, m, out_size, interpolation, mode, fill):
    return naive_affine_transform(x, m, out_size, interpolation=interpolation, fill_mode=mode,
                                  fill_value=fill)


def random_matrices(rng, n, scale=1.5):
    m = rng.uniform(-scale, scale, (n, 6))
    m[:, 2] *= 4
    m[:, 5] *= 4
    return m


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,out_size", [((2, 5, 7, 3), None), ((1, 1, 1, 1), (3, 2)),
                                            ((3, 6, 4, 2), (9, 5)), ((1, 4, 4, 17), (4, 4))])
def test_affine_transform_matches_the_reference(rng, mode, interpolation, dtype, shape,
                                                out_size):
    x = rng.standard_normal(shape).astype(dtype)
    m = random_matrices(rng, shape[0])
    got = _api.image.affine_transform(x, m, out_size, interpolation=interpolation, fill_mode=mode,
                                      fill_value=0.75)
    size = shape[1:3] if out_size is None else out_size
    assert got.dtype == dtype and got.shape == (shape[0],) + tuple(size) + shape[3:]
    assert_close(got, reference(x.astype(np.float64), m, size, interpolation, mode, 0.75),
                 dtype, f"{mode} {interpolation}")


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 3), h=st.integers(0, 6), w=st.integers(0, 6), c=st.integers(0, 5),
       oh=st.integers(0, 6), ow=st.integers(0, 6), mode=st.sampled_from(MODES),
       interpolation=st.sampled_from(INTERPOLATIONS), seed=st.integers(0, 2 ** 32 - 1))
def test_affine_transform_random_shapes(n, h, w, c, oh, ow, mode, interpolation, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c))
    m = random_matrices(rng, n, scale=3)
    got = _api.image.affine_transform(x, m, (oh, ow), interpolation=interpolation, fill_mode=mode,
                                      fill_value=-2.0)
    assert_close(got, reference(x, m, (oh, ow), interpolation, mode, -2.0), np.float64)


def test_the_identity_map_copies_and_half_pixel_shifts_average(rng):
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    identity = np.tile([1, 0, 0, 0, 1, 0], (2, 1))
    for mode in MODES:
        assert np.array_equal(_api.image.affine_transform(x, identity, fill_mode=mode), x)
    shifted = _api.image.affine_transform(x, np.tile([1, 0, 0.5, 0, 1, 0], (2, 1)))
    assert_close(shifted[:, :, :-1], (x[:, :, :-1].astype(float) + x[:, :, 1:]) / 2)


def test_non_contiguous_read_only_and_float16_inputs(rng):
    base = rng.standard_normal((4, 8, 10, 6))
    x = base[::2, 1::2, ::-1, 1:4]
    x.flags.writeable = False
    m = random_matrices(rng, 2)
    m.flags.writeable = False
    got = _api.image.affine_transform(x, m[:, :], fill_mode="wrap")
    assert_close(got, reference(np.ascontiguousarray(x), m, x.shape[1:3], "bilinear", "wrap",
                                0.0), np.float64)
    half = _api.image.affine_transform(x.astype(np.float16), m)
    assert half.dtype == np.float16
    assert not np.shares_memory(got, base)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_the_backward_pass_is_the_exact_adjoint(rng, mode, interpolation):
    # <dy, A x> == <A^T dy, x> for the linear map A (fill_value 0 keeps it linear)
    x = rng.standard_normal((3, 7, 5, 4))
    m = random_matrices(rng, 3, scale=2)
    dy = rng.standard_normal((3, 6, 8, 4))
    y = _api.image.affine_transform(x, m, (6, 8), interpolation=interpolation, fill_mode=mode)
    dx = _api.image.affine_transform_backward(dy, m, (7, 5), interpolation=interpolation,
                                              fill_mode=mode)
    assert dx.shape == x.shape
    assert np.sum(dy * y) == pytest.approx(np.sum(dx * x), rel=1e-12, abs=1e-12)
    assert_close(dx, naive_affine_transform_backward(dy, m, (7, 5), interpolation=interpolation,
                                                     fill_mode=mode), np.float64)
    # and each column of A^T: the gradient of one output value is A's row
    for b, i, j in [(0, 0, 0), (2, 5, 7), (1, 3, 2)]:
        one = np.zeros_like(dy)
        one[b, i, j, 1] = 1
        g = _api.image.affine_transform_backward(one, m, (7, 5), interpolation=interpolation,
                                                 fill_mode=mode)
        basis_outputs = []
        for r, col in np.ndindex(7, 5):
            e = np.zeros_like(x[:1])
            e[0, r, col, 1] = 1
            basis_outputs.append(_api.image.affine_transform(e, m[b:b + 1], (6, 8),
                                                             interpolation=interpolation,
                                                             fill_mode=mode)[0, i, j, 1])
        assert np.allclose(g[b, :, :, 1].reshape(-1), basis_outputs, atol=1e-14)


def test_points_far_away_or_not_finite_read_the_fill_value():
    x = np.ones((4, 3, 3, 2))
    m = np.array([[np.nan, 0, 0, 0, 1, 0], [1, 0, np.inf, 0, 1, 0], [1, 0, 0, 0, 1, -1e300],
                  [1e16, 0, 0, 0, 1, 0]])
    for mode in MODES:
        for interpolation in INTERPOLATIONS:
            y = _api.image.affine_transform(x, m, fill_mode=mode, interpolation=interpolation,
                                            fill_value=5.0)
            assert np.all(y[:3] == 5) and np.all(y[3, :, 1:] == 5)
            assert np.all(y[3, :, 0] == 1)        # column 0 maps to x = 0: inside
            dx = _api.image.affine_transform_backward(np.ones_like(y), m, (3, 3), fill_mode=mode,
                                                      interpolation=interpolation)
            assert np.all(np.isfinite(dx))
    # huge but finite coordinates near the int64 limit: wrap and reflect stay in range
    m = np.array([[0, 0, 9.2e14, 0, 0, -9.2e14]])
    for mode in ("wrap", "reflect"):
        y = _api.image.affine_transform(np.arange(9.0).reshape(1, 3, 3, 1), m, fill_mode=mode)
        assert np.all((0 <= y) & (y <= 8))


def test_resize_image_is_tensorflows_rule():
    # tf.image.resize, bilinear, antialias=False: half-pixel centres, edge pixels repeat
    x = np.arange(12.0).reshape(3, 4, 1)
    got = _api.image.resize_image(x, (6, 2))
    rows = np.clip((np.arange(6) + 0.5) * 3 / 6 - 0.5, 0, None)
    cols = (np.arange(2) + 0.5) * 4 / 2 - 0.5
    expected = np.empty((6, 2, 1))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            r0, c0 = int(np.floor(r)), int(np.floor(c))
            r1, c1 = min(r0 + 1, 2), min(c0 + 1, 3)
            fr, fc = r - r0, c - c0
            expected[i, j] = ((1 - fr) * ((1 - fc) * x[r0, c0] + fc * x[r0, c1])
                              + fr * ((1 - fc) * x[r1, c0] + fc * x[r1, c1]))
    assert_close(got, expected, np.float64)
    # nearest: floor((i + 0.5) * scale)
    near = _api.image.resize_image(x, (2, 8), interpolation="nearest")
    rows = np.floor((np.arange(2) + 0.5) * 3 / 2).astype(int)
    cols = np.minimum(np.floor((np.arange(8) + 0.5) * 4 / 8).astype(int), 3)
    assert np.array_equal(near[:, :, 0], x[rows][:, cols, 0])


@pytest.mark.parametrize("call,message", [
    (lambda: _api.image.affine_transform(np.zeros((2, 3, 3)), np.zeros((2, 6))), "4-D"),
    (lambda: _api.image.affine_transform(np.zeros((2, 3, 3, 1)), np.zeros((1, 6))), r"\(2, 6\)"),
    (lambda: _api.image.affine_transform(np.zeros((2, 3, 3, 1)), np.zeros((2, 5))), r"\(2, 6\)"),
    (lambda: _api.image.affine_transform(np.zeros((1, 3, 3, 1)), [["a"] * 6]), "real numbers"),
    (lambda: _api.image.affine_transform(np.zeros((1, 3, 3, 1), int), np.zeros((1, 6))), "integer"),
    (lambda: _api.image.affine_transform(np.zeros((1, 3, 3, 1)), np.zeros((1, 6)), (-1, 2)),
     ">= 0"),
    (lambda: _api.image.affine_transform(np.zeros((1, 3, 3, 1)), np.zeros((1, 6)), (1.5, 2)),
     "pair of integers"),
    (lambda: _api.image.affine_transform(np.zeros((1, 3, 3, 1)), np.zeros((1, 6)),
                                         fill_mode="mirror"), "fill_mode"),
    (lambda: _api.image.affine_transform(np.zeros((1, 3, 3, 1)), np.zeros((1, 6)),
                                         interpolation="cubic"), "interpolation"),
    (lambda: _api.image.affine_transform_backward(np.zeros((1, 3, 3, 1)), np.zeros((1, 6)), (2,)),
     "pair"),
    (lambda: _api.image.resize_image(np.zeros((3, 3)), (2, 2)), "3-D"),
])
def test_bad_arguments_are_refused_with_a_message(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@pytest.mark.parametrize("fill", [np.nan, np.inf])
@pytest.mark.parametrize("mode", MODES)
def test_a_non_finite_fill_value_reaches_only_the_pixels_that_read_it(mode, fill):
    x = np.arange(12.0).reshape(1, 3, 4, 1)
    shifted = _api.image.affine_transform(x, [[1, 0, 0.5, 0, 1, 0]], fill_mode=mode,
                                          fill_value=fill)
    assert np.all(np.isfinite(shifted[:, :, :-1]))
    assert np.all(np.isfinite(shifted[:, :, -1])) == (mode != "constant")
    assert np.array_equal(_api.image.affine_transform(x, [[1, 0, 0, 0, 1, 0]], fill_mode=mode,
                                                      fill_value=fill), x)


def test_pixels_outside_the_image_never_mix_in_image_values(rng):
    # a point whose four neighbours are all outside reads only the fill value, even when
    # the image holds NaN and infinities (a weight of 0 must not multiply them)
    x = np.full((1, 1, 5, 2), np.nan)
    x[0, 0, 1] = np.inf
    y = _api.image.affine_transform(x, [[1.0625, 1.0625, 1.0625, 1.0625, 2.5625, 3.1875]], (1, 1),
                                    fill_mode="constant", fill_value=0.0)
    assert np.array_equal(y, np.zeros((1, 1, 1, 2)))


@pytest.mark.parametrize("mode,expected", [("constant", [9, 9, 0, 1, 2, 9, 9]),
                                           ("nearest", [0, 0, 0, 1, 2, 2, 2]),
                                           ("reflect", [1, 0, 0, 1, 2, 2, 1]),
                                           ("wrap", [1, 2, 0, 1, 2, 0, 1])])
def test_the_reference_fill_modes_case_by_case(mode, expected):
    # a 1x3 image [0, 1, 2] read at columns -2 .. 4: Keras's pictures of each mode
    x = np.arange(3.0).reshape(1, 1, 3, 1)
    got = naive_affine_transform(x, [[1, 0, -2, 0, 1, 0]], (1, 7), interpolation="nearest",
                                 fill_mode=mode, fill_value=9)
    assert got[0, 0, :, 0].tolist() == expected
    assert np.array_equal(_api.image.affine_transform(x, [[1, 0, -2, 0, 1, 0]], (1, 7),
                                                      interpolation="nearest", fill_mode=mode,
                                                      fill_value=9), got)


def test_unaligned_matrices_and_images_are_read_safely(rng):
    # found by the fuzzer under UBSan for BatchNormalization's vectors: data at an odd address
    x = rng.standard_normal((2, 4, 5, 3))
    m = random_matrices(rng, 2)
    expected = _api.image.affine_transform(x, m)
    assert np.array_equal(_api.image.affine_transform(unaligned(x), unaligned(m)), expected)
    dx = _api.image.affine_transform_backward(x, m, (4, 5))
    assert np.array_equal(_api.image.affine_transform_backward(unaligned(x), unaligned(m), (4, 5)),
                          dx)
