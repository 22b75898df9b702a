"""The Python boundary: argument errors, array layouts, dtype policy, threads, SIMD paths."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv
from fastconv import reference as R
from _helpers import assert_close, random, run_python


# ---------------------------------------------------------------------------------------------
# errors name the argument and the shapes

X = np.zeros((2, 8, 8, 3))
K = np.zeros((3, 3, 3, 4))
DY = np.zeros((2, 6, 6, 4))
CONV_ERRORS = [
    (dict(x=np.zeros((8, 8, 3))), ValueError, r"x must be 4-D .* got shape \(8, 8, 3\)"),
    (dict(kernel=np.zeros((3, 3, 3))), ValueError, r"kernel must be 4-D .*\(3, 3, 3\)"),
    (dict(kernel=np.zeros((3, 3, 2, 4))), ValueError,
     r"kernel in_channels 2 .*\(3, 3, 2, 4\).* x channels 3 .*\(2, 8, 8, 3\)"),
    (dict(kernel=np.zeros((0, 3, 3, 4))), ValueError, r"kernel must be at least 1x1"),
    (dict(strides=0), ValueError, r"strides must be >= 1, got 0"),
    (dict(strides=(1, -2)), ValueError, r"strides must be >= 1"),
    (dict(strides=(1, 2, 3)), ValueError, r"strides must be an int or a pair of 2 ints"),
    (dict(strides=2 ** 70), ValueError, r"strides must be at most 2147483647"),
    (dict(strides=1.5), TypeError, r"strides must be an int or a pair of ints, got 1.5"),
    (dict(strides="2"), TypeError, r"strides must be an int"),
    (dict(strides=True), TypeError, r"strides must be an int"),
    (dict(padding="full"), ValueError, r"padding must be 'valid' or 'same', got 'full'"),
    (dict(padding=None), ValueError, r"padding must be 'valid' or 'same'"),
    (dict(x=np.zeros((2, 2, 8, 3))), ValueError,
     r"empty output: a 3x3 window .* x of shape \(2, 2, 8, 3\)"),
    (dict(x=np.zeros((2, 8, 8, 3), np.int64)), TypeError, r"x has integer .* int64"),
    (dict(x=np.zeros((2, 8, 8, 3), bool)), TypeError, r"x has integer or boolean dtype bool"),
    (dict(kernel=np.zeros((3, 3, 3, 4), np.complex128)), TypeError,
     r"kernel has dtype complex128"),
    (dict(x=np.zeros((2, 8, 8, 3), object)), TypeError, r"x has dtype object"),
    (dict(x=np.zeros((2, 8, 8, 3), np.longdouble)), TypeError, r"x has dtype float128"),
    (dict(x=np.zeros((2, 8, 8, 3), "U1")), TypeError, r"x has dtype <U1"),
]


@pytest.mark.parametrize("change,error,message", CONV_ERRORS)
def test_conv2d_rejects_bad_arguments(change, error, message):
    if "float128" in message and np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("long double is float64 here")
    args = dict(x=X, kernel=K, strides=1, padding="valid")
    args.update(change)
    x, k = args.pop("x"), args.pop("kernel")
    with pytest.raises(error, match=message):
        fastconv.conv2d(x, k, **args)
    if k.ndim == 4 and x.ndim == 4 and x.shape[3] == k.shape[2] and error is ValueError:
        with pytest.raises(error, match=message):
            fastconv.conv2d_backward(DY, x, k, **args)


def test_conv2d_rejects_bad_bias_and_dy_shapes():
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\) .* got \(3,\)"):
        fastconv.conv2d(X, K, np.zeros(3))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\) .* got \(1, 4\)"):
        fastconv.conv2d(X, K, np.zeros((1, 4)))
    with pytest.raises(ValueError,
                       match=r"dy must have the output's shape \(2, 6, 6, 4\).* got \(2, 6, 6\)"):
        fastconv.conv2d_backward(np.zeros((2, 6, 6)), X, K)
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(2, 3, 3, 4\)"):
        fastconv.conv2d_backward(DY, X, K, strides=2)
    with pytest.raises(ValueError, match=r"activation must be None, 'linear' or 'relu'"):
        fastconv.conv2d(X, K, activation="tanh")


POOL_ERRORS = [
    (dict(x=np.zeros((8, 8, 3))), ValueError, r"x must be 4-D .* got shape \(8, 8, 3\)"),
    (dict(pool_size=0), ValueError, r"pool_size must be >= 1, got 0"),
    (dict(pool_size=(2,)), ValueError, r"pool_size must be an int or a pair of 2 ints"),
    (dict(pool_size=(2, 2 ** 64)), ValueError, r"pool_size must be at most"),
    (dict(pool_size=None), TypeError, r"pool_size must be an int or a pair of ints"),
    (dict(strides=(0, 1)), ValueError, r"strides must be >= 1"),
    (dict(padding="SAME "), ValueError, r"padding must be 'valid' or 'same'"),
    (dict(pool_size=9), ValueError, r"empty output: a 9x9 window .*\(2, 8, 8, 3\)"),
    (dict(x=np.zeros((2, 8, 8, 3), np.uint8)), TypeError, r"x has integer .* uint8"),
]


@pytest.mark.parametrize("change,error,message", POOL_ERRORS)
def test_max_pool_rejects_bad_arguments(change, error, message):
    args = dict(x=X, pool_size=2, strides=None, padding="valid")
    args.update(change)
    x = args.pop("x")
    with pytest.raises(error, match=message):
        fastconv.max_pool2d(x, **args)
    with pytest.raises(error, match=message):
        fastconv.max_pool2d_backward(np.zeros((2, 4, 4, 3)), x, **args)


def test_max_pool_backward_rejects_wrong_dy_shape():
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(2, 4, 4, 3\)"):
        fastconv.max_pool2d_backward(np.zeros((2, 4, 4, 2)), X, 2)


# ---------------------------------------------------------------------------------------------
# layouts: any strides, any order, read-only; inputs are never written

def layouts(a):
    """The same values as a in other memory layouts."""
    reversed_ = np.ascontiguousarray(a[:, ::-1, ::-1, ::-1])[:, ::-1, ::-1, ::-1]
    strided = np.zeros((a.shape[0], 2 * a.shape[1], a.shape[2], a.shape[3] + 1), a.dtype)
    strided[:, ::2, :, :-1] = a
    readonly = a.copy()
    readonly.flags.writeable = False
    # C-contiguous and native, at an odd address: the kernels' loads would be undefined
    # behaviour in C (the fuzzer found it), so these must be copied as the others are
    raw = np.zeros(a.nbytes + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, a.dtype, a.size, offset=1).reshape(a.shape)
    unaligned[...] = a
    assert unaligned.flags.c_contiguous and not unaligned.flags.aligned
    return {"reversed": reversed_, "strided": strided[:, ::2, :, :-1],
            "fortran": np.asfortranarray(a), "readonly": readonly,
            "big-endian": a.astype(a.dtype.newbyteorder(">")), "unaligned": unaligned}


@pytest.mark.parametrize("layout", ["reversed", "strided", "fortran", "readonly", "big-endian",
                                    "unaligned"])
def test_any_memory_layout_gives_the_contiguous_answer(rng, layout):
    x, k, b = random(rng, (2, 7, 6, 3)), random(rng, (3, 2, 3, 5)), random(rng, (5,))
    dy = random(rng, (2, 4, 3, 5))
    py = random(rng, (2, 4, 3, 3))
    want = (fastconv.conv2d(x, k, b, strides=(2, 2), padding="same"),
            fastconv.conv2d_backward(dy, x, k, strides=(2, 2), padding="same"),
            fastconv.max_pool2d(x, 3, strides=2, padding="same"),
            fastconv.max_pool2d_backward(py, x, 3, strides=2, padding="same"))
    xl, kl, bl, dyl, pyl = (layouts(a)[layout] for a in (x, k, b[None, None, None], dy, py))
    bl = bl[0, 0, 0]
    before = [a.copy() for a in (xl, kl, bl, dyl, pyl)]
    got = (fastconv.conv2d(xl, kl, bl, strides=(2, 2), padding="same"),
           fastconv.conv2d_backward(dyl, xl, kl, strides=(2, 2), padding="same"),
           fastconv.max_pool2d(xl, 3, strides=2, padding="same"),
           fastconv.max_pool2d_backward(pyl, xl, 3, strides=2, padding="same"))
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(got[1], want[1]):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_array_equal(got[3], want[3])
    for a, a0 in zip((xl, kl, bl, dyl, pyl), before):
        np.testing.assert_array_equal(a, a0)       # nothing written into the inputs


def test_lists_are_accepted(rng):
    x, k = random(rng, (1, 4, 4, 1)), random(rng, (2, 2, 1, 1))
    np.testing.assert_array_equal(fastconv.conv2d(x.tolist(), k.tolist()), fastconv.conv2d(x, k))


def test_outputs_are_fresh_arrays(rng):
    x, k = random(rng, (1, 4, 4, 2)), random(rng, (1, 1, 2, 2))
    y = fastconv.conv2d(x, k)
    assert not np.shares_memory(y, x) and y.flags.c_contiguous and y.flags.writeable


# ---------------------------------------------------------------------------------------------
# dtype policy

def test_mixed_float32_float64_computes_in_float64(rng):
    x, k = random(rng, (1, 5, 5, 2)), random(rng, (3, 3, 2, 2))
    y = fastconv.conv2d(x.astype(np.float32), k)
    assert y.dtype == np.float64
    assert_close(y, R.naive_conv2d(x.astype(np.float32).astype(np.float64), k))
    grads = fastconv.conv2d_backward(np.ones((1, 3, 3, 2), np.float32), x.astype(np.float32),
                                     k.astype(np.float64))
    assert all(g.dtype == np.float64 for g in grads)


def test_float16_is_computed_in_float32_and_returned_as_float16(rng):
    x, k = random(rng, (1, 6, 6, 2), np.float16), random(rng, (3, 3, 2, 2), np.float16)
    y = fastconv.conv2d(x, k)
    assert y.dtype == np.float16
    assert_close(y, R.naive_conv2d(x.astype(np.float64), k.astype(np.float64)))
    assert fastconv.max_pool2d(x).dtype == np.float16
    dx = fastconv.max_pool2d_backward(np.ones((1, 3, 3, 2), np.float16), x)
    assert dx.dtype == np.float16


# ---------------------------------------------------------------------------------------------
# edge sizes never crash

def test_empty_batch_and_zero_channels_or_filters(rng):
    assert fastconv.conv2d(np.zeros((0, 5, 5, 2)), np.ones((3, 3, 2, 4))).shape == (0, 3, 3, 4)
    y = fastconv.conv2d(np.zeros((1, 5, 5, 0)), np.ones((3, 3, 0, 4)), np.arange(4.0))
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(4.0), (1, 3, 3, 4)))
    assert fastconv.conv2d(np.zeros((1, 5, 5, 2)), np.ones((3, 3, 2, 0))).shape == (1, 3, 3, 0)
    dx, dk, db = fastconv.conv2d_backward(np.zeros((0, 3, 3, 4)), np.zeros((0, 5, 5, 2)),
                                          np.ones((3, 3, 2, 4)))
    assert dx.shape == (0, 5, 5, 2) and not dk.any() and not db.any()
    dx, dk, db = fastconv.conv2d_backward(np.ones((1, 3, 3, 4)), np.zeros((1, 5, 5, 0)),
                                          np.ones((3, 3, 0, 4)))
    assert dx.shape == (1, 5, 5, 0) and dk.shape == (3, 3, 0, 4)
    np.testing.assert_array_equal(db, [9.0] * 4)
    assert fastconv.max_pool2d(np.zeros((0, 4, 4, 1))).shape == (0, 2, 2, 1)
    assert fastconv.max_pool2d_backward(np.zeros((1, 2, 2, 0)), np.zeros((1, 4, 4, 0))).shape \
        == (1, 4, 4, 0)


def test_huge_strides_give_one_output_position(rng):
    x, k = random(rng, (1, 5, 4, 1)), random(rng, (2, 2, 1, 1))
    for padding in ("valid", "same"):
        assert_close(fastconv.conv2d(x, k, strides=2 ** 31 - 1, padding=padding),
                     R.naive_conv2d(x, k, strides=2 ** 31 - 1, padding=padding))
        assert_close(fastconv.max_pool2d(x, 2, strides=2 ** 31 - 1, padding=padding),
                     R.naive_max_pool2d(x, 2, strides=2 ** 31 - 1, padding=padding))


def test_windows_larger_than_image_under_same_padding(rng):
    x, k = random(rng, (1, 1, 2, 1)), random(rng, (5, 5, 1, 3))
    assert_close(fastconv.conv2d(x, k, padding="same"), R.naive_conv2d(x, k, padding="same"))
    assert_close(fastconv.max_pool2d(x, 5, strides=1, padding="same"),
                 R.naive_max_pool2d(x, 5, strides=1, padding="same"))


# ---------------------------------------------------------------------------------------------
# threads and SIMD paths

def test_one_and_two_openmp_threads_give_identical_results(rng, threads):
    x, k = random(rng, (16, 13, 13, 32), np.float32), random(rng, (3, 3, 32, 64), np.float32)
    dy = random(rng, (16, 11, 11, 64), np.float32)
    results = []
    for n in (1, 2, 3):
        fastconv.set_num_threads(n)
        results.append((fastconv.conv2d(x, k),) + fastconv.conv2d_backward(dy, x, k)
                       + (fastconv.max_pool2d_backward(x, x, 1, strides=1),))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_concurrent_calls_from_python_threads_match_serial_calls(rng):
    cases = [(random(rng, (8, 12, 12, 4), np.float32), random(rng, (3, 3, 4, 8), np.float32))
             for _ in range(6)]

    def work(case):
        x, k = case
        y = fastconv.conv2d(x, k, padding="same")
        return (y,) + fastconv.conv2d_backward(y, x, k, padding="same") + (
            fastconv.max_pool2d(y, 2), fastconv.max_pool2d_backward(
                fastconv.max_pool2d(y, 2), y, 2))

    serial = [work(c) for c in cases]
    barrier = threading.Barrier(6)

    def racing(case):
        barrier.wait()
        return [work(case) for _ in range(3)]

    with ThreadPoolExecutor(6) as pool:
        for runs, want in zip(pool.map(racing, cases), serial):
            for got in runs:
                for a, b in zip(got, want):
                    np.testing.assert_array_equal(a, b)


def test_every_simd_path_agrees(rng):
    from _helpers import SIMD_PATHS
    from fastconv import _config
    if len(SIMD_PATHS) < 2:
        pytest.skip("this CPU has only the generic path")
    x, k = random(rng, (4, 9, 9, 5), np.float32), random(rng, (3, 3, 5, 19), np.float32)
    out = {}
    for path in SIMD_PATHS:
        previous = _config.set_simd_path(path)
        try:
            out[path] = fastconv.conv2d(x, k)
        finally:
            _config.set_simd_path(previous)
    for path in SIMD_PATHS[1:]:
        assert_close(out["generic"], out[path].astype(np.float64), what=path)
    if "avx512" in out:       # both use fused multiply-adds, in the same order
        np.testing.assert_array_equal(out["avx512"], out["avx2+fma"])


def test_thread_and_simd_settings_are_validated(threads):
    from fastconv import _config
    with pytest.raises(ValueError, match="n must be >= 1"):
        fastconv.set_num_threads(0)
    with pytest.raises(ValueError, match="name must be one of"):
        _config.set_simd_path("avx1024")
    with pytest.raises(ValueError, match="name must be one of"):
        _config.set_simd_path(2)
    for name in ("generic", "avx2+fma", "avx512"):
        if name not in _config.simd_paths():
            with pytest.raises(ValueError, match="does not support"):
                _config.set_simd_path(name)
    with pytest.raises(ValueError, match="level must be"):
        fastconv._conv.set_simd_level(fastconv._conv.simd_detect() + 1)
    with pytest.raises(ValueError, match="level must be"):
        fastconv._pool.set_simd_level(-1)
    previous = _config.set_simd_path("generic")
    try:
        assert _config.simd_path() == "generic"
        if "avx2+fma" in _config.simd_paths():
            assert _config.set_simd_path("AVX2") == "generic"
            assert _config.simd_path() == "avx2+fma"
    finally:
        _config.set_simd_path(previous)
    assert fastconv.set_num_threads(2) >= 1
    assert fastconv.get_num_threads() == (2 if OPENMP else 1)


OPENMP = fastconv._conv.openmp_enabled()
needs_openmp = pytest.mark.skipif(not OPENMP, reason="fastconv was built without OpenMP")


@needs_openmp
@pytest.mark.parametrize("env, expected", [("1", 1), ("3", 3)])
def test_thread_count_follows_omp_num_threads(env, expected):
    code = ("import fastconv, fastconv._info as i; "
            "print(fastconv.get_num_threads(), i.config()['threads'])")
    out = run_python(code, OMP_NUM_THREADS=env).split()
    assert out == [str(expected)] * 2


@needs_openmp
def test_openmp_runtime_is_visible_to_threadpoolctl_and_its_limits_apply(rng, threads):
    import threadpoolctl
    fastconv.set_num_threads(2)
    openmp = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "openmp"]
    assert openmp and all(p["num_threads"] == 2 for p in openmp)
    x, k = random(rng, (4, 9, 9, 3), np.float32), random(rng, (3, 3, 3, 5), np.float32)
    expected = fastconv.conv2d(x, k)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastconv.get_num_threads() == 1
        np.testing.assert_array_equal(fastconv.conv2d(x, k), expected)
    assert fastconv.get_num_threads() == 2


def test_large_outputs_from_anonymous_mappings_behave_like_numpy_arrays(rng, monkeypatch):
    from fastconv import _buffers
    x, k = random(rng, (2, 9, 8, 3)), random(rng, (3, 3, 3, 4))
    dy, dpool = random(rng, (2, 7, 6, 4)), random(rng, (2, 4, 4, 3))

    def all_six():
        return (fastconv.conv2d(x, k),) + fastconv.conv2d_backward(dy, x, k) + (
            fastconv.max_pool2d(x, 2), fastconv.max_pool2d_backward(dpool, x, 2))
    want = all_six()
    assert not any(isinstance(a.base, _buffers._Owner) for a in want)
    monkeypatch.setattr(_buffers, "MAPPED_BYTES", 0)        # every output takes that path
    got = all_six()
    names = ("conv2d", "dx", "dkernel", "dbias", "max_pool2d", "max_pool2d_backward")
    assert len(got) == len(want) == len(names)
    for name, a, b in zip(names, got, want):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert a.flags.c_contiguous and a.flags.writeable, name
    # the outputs the kernels fill (all but the bias gradient, a plain array) are mappings
    mapped = [name for name, a in zip(names, got) if isinstance(a.base, _buffers._Owner)]
    assert mapped == ["conv2d", "dx", "dkernel", "max_pool2d", "max_pool2d_backward"]
    zeros = _buffers.empty((3, 5), np.float32, zero=True)
    assert not zeros.any()
    zeros[1, 2] = 7                                         # writable, private
    assert zeros.sum() == 7 and _buffers.empty((3, 5), np.float32, zero=True).sum() == 0
    assert _buffers.empty((0, 5), np.float32).shape == (0, 5)


def test_an_output_larger_than_the_address_space_is_a_memory_error():
    # a zero-stride view claims 2**62 values; its output cannot exist (the fuzzer found an
    # OverflowError from mmap here)
    x = np.broadcast_to(np.float32(0), (2 ** 28, 2 ** 28, 4, 1))
    with pytest.raises(MemoryError, match="Unable to allocate"):
        fastconv.conv2d(x, np.ones((1, 1, 1, 5), np.float32))
    with pytest.raises(MemoryError, match="Unable to allocate"):
        fastconv.max_pool2d(x, 1)
