"""_api.matmul (the Dense layer's products) against NumPy."""
import itertools

import numpy as np
import pytest

from fastconv import _api
from _helpers import assert_close, random


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose_a,transpose_b", list(itertools.product([False, True],
                                                                           repeat=2)))
@pytest.mark.parametrize("m,k,n", [(64, 576, 64), (7, 3, 19), (100, 1, 1), (1, 50, 33),
                                   (130, 17, 70), (500, 40, 200)])
def test_matmul_matches_numpy(rng, m, k, n, transpose_a, transpose_b, dtype, simd_path):
    a = random(rng, (k, m) if transpose_a else (m, k), dtype)
    b = random(rng, (n, k) if transpose_b else (k, n), dtype)
    bias = random(rng, (n,), dtype)
    want = ((a.T if transpose_a else a).astype(np.float64)
            @ (b.T if transpose_b else b).astype(np.float64) + bias)
    got = _api.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, bias=bias)
    assert got.dtype == dtype
    assert_close(got, want)
    relu = _api.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, bias=bias,
                       activation="relu")
    np.testing.assert_array_equal(relu, np.maximum(got, 0))


@pytest.mark.parametrize("m", [1, 13, 64, 97, 500])
def test_matmul_same_bits_for_any_thread_count(rng, m):
    # units of work change with the thread count (rows per unit); no sum may change with them
    import fastconv
    a, b = random(rng, (m, 300), np.float32), random(rng, (300, 90), np.float32)
    saved = fastconv.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3, 8):
            fastconv.set_num_threads(n)
            results.append(_api.matmul(a, b))
    finally:
        fastconv.set_num_threads(saved)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_matmul_empty_and_errors():
    assert _api.matmul(np.ones((0, 3)), np.ones((3, 4))).shape == (0, 4)
    np.testing.assert_array_equal(_api.matmul(np.ones((2, 0)), np.ones((0, 3))), 0)
    with pytest.raises(ValueError, match=r"inner dimensions differ: op\(a\) is \(2, 3\)"):
        _api.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="a must be 2-D"):
        _api.matmul(np.ones(3), np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        _api.matmul(np.ones((2, 3)), np.ones((3, 5)), bias=np.ones(4))
    with pytest.raises(TypeError, match="integer"):
        _api.matmul(np.ones((2, 3), int), np.ones((3, 5)))
