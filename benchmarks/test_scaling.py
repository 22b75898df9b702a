"""The machine's practical peak and how the large layer scales with threads, in the same run.

- "matmul 2048^3": a float32 2048 x 2048 x 2048 product (17.2 GFLOP) with NumPy's BLAS and with
  fastconv's own GEMM (``fastconv._api.matmul``), on 1 thread and on every thread fastconv uses;
  the faster of them on all threads is the peak the large layer is measured against.
- "conv 2000x2000x32->64": fastconv's forward and backward on 1 thread and on all threads.

NumPy's BLAS threads are limited with threadpoolctl (in the `test` extra); without it the
NumPy rows are skipped.
"""
import numpy as np
import pytest

import _impls
import fastconv
from fastconv import _api

try:
    from threadpoolctl import threadpool_limits
except ImportError:         # pragma: no cover - the test extra has it
    threadpool_limits = None

MATMUL_N = 2048
MATMUL_FLOP = 2 * MATMUL_N ** 3
THREADS = sorted({1, fastconv.get_num_threads()})


@pytest.fixture
def threads(request):
    """Run the test's body with fastconv (and NumPy's BLAS) limited to request.param threads."""
    n = request.param
    saved = fastconv.get_num_threads()
    fastconv.set_num_threads(n)
    limits = threadpool_limits(n, user_api="blas") if threadpool_limits else None
    try:
        yield n
    finally:
        fastconv.set_num_threads(saved)
        if limits is not None:
            limits.restore_original_limits()


@pytest.mark.parametrize("threads", THREADS, indirect=True)
@pytest.mark.parametrize("impl", ["numpy", "fastconv"])
def test_matmul_peak(benchmark, impl, threads):
    if impl == "numpy" and threadpool_limits is None:
        pytest.skip("threadpoolctl not installed: NumPy's BLAS threads can't be limited")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((MATMUL_N, MATMUL_N), np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N), np.float32)
    fn = (lambda: a @ b) if impl == "numpy" else (lambda: _api.matmul(a, b))
    benchmark.group = f"matmul {MATMUL_N}^3, {threads} thread{'s' * (threads > 1)}"
    benchmark.extra_info.update(op="scaling", what=f"matmul {MATMUL_N}^3 ({impl})",
                                impl=impl, threads=threads, flop=MATMUL_FLOP)
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("threads", THREADS, indirect=True)
@pytest.mark.parametrize("direction", ["fwd", "bwd"])
def test_large_layer_threads(benchmark, direction, threads):
    forward, backward = _impls.fastconv_large()
    benchmark.group = f"conv 2000x2000x32->64 {direction}, {threads} thread{'s' * (threads > 1)}"
    flop = _impls.LARGE_FLOP * (1 if direction == "fwd" else 2)
    benchmark.extra_info.update(op="scaling", what=f"conv 2000x2000x32->64 {direction}",
                                impl="fastconv", threads=threads, flop=flop)
    benchmark.pedantic(forward if direction == "fwd" else backward, rounds=3, warmup_rounds=1)
