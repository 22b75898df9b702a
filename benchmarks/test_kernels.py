"""fastconv's kernels against the naive and im2col NumPy references at the MNIST convnet's
batch-64 shapes (three 3x3 "valid" convolutions, two 2x2 max pools), float32.

Each group is one operation at one shape; "fwd" times the forward pass, "fwd+bwd" the forward
plus every gradient the references compute (dx, dkernel, dbias). The naive loops take seconds,
so they run one round only.
"""
import numpy as np
import pytest

import fastconv
from fastconv import reference as R

BATCH = 64
CONV_SHAPES = {  # name: (input h, w, c), filters
    "conv 28x28x1->32": ((28, 28, 1), 32),
    "conv 13x13x32->64": ((13, 13, 32), 64),
    "conv 5x5x64->64": ((5, 5, 64), 64),
}
POOL_SHAPES = {"pool 26x26x32": (26, 26, 32), "pool 11x11x64": (11, 11, 64)}

CONV = {
    "naive_numpy": (R.naive_conv2d, R.naive_conv2d_backward),
    "im2col_numpy": (R.im2col_conv2d, R.im2col_conv2d_backward),
    "fastconv": (fastconv.conv2d, fastconv.conv2d_backward),
}
POOL = {
    "naive_numpy": (R.naive_max_pool2d, R.naive_max_pool2d_backward),
    "im2col_numpy": (R.im2col_max_pool2d, R.im2col_max_pool2d_backward),
    "fastconv": (fastconv.max_pool2d, fastconv.max_pool2d_backward),
}


def run(benchmark, impl, fn):
    if impl == "naive_numpy":
        benchmark.pedantic(fn, rounds=1, iterations=1, warmup_rounds=0)
    else:
        benchmark(fn)


@pytest.mark.parametrize("impl", list(CONV))
@pytest.mark.parametrize("direction", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("shape", list(CONV_SHAPES))
def test_conv(benchmark, shape, direction, impl):
    (h, w, c), f = CONV_SHAPES[shape]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, h, w, c), np.float32)
    k = rng.standard_normal((3, 3, c, f), np.float32) * 0.1
    b = np.zeros(f, np.float32)
    dy = rng.standard_normal((BATCH, h - 2, w - 2, f), np.float32)
    forward, backward = CONV[impl]
    benchmark.group = f"{shape} {direction}"
    benchmark.extra_info.update(op="conv2d", shape=shape, direction=direction, impl=impl)
    if direction == "fwd":
        run(benchmark, impl, lambda: forward(x, k, b))
    else:
        run(benchmark, impl, lambda: (forward(x, k, b), backward(dy, x, k)))


@pytest.mark.parametrize("impl", list(POOL))
@pytest.mark.parametrize("direction", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("shape", list(POOL_SHAPES))
def test_pool(benchmark, shape, direction, impl):
    h, w, c = POOL_SHAPES[shape]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, h, w, c), np.float32)
    dy = rng.standard_normal((BATCH, h // 2, w // 2, c), np.float32)
    forward, backward = POOL[impl]
    benchmark.group = f"{shape} {direction}"
    benchmark.extra_info.update(op="max_pool2d", shape=shape, direction=direction, impl=impl)
    if direction == "fwd":
        run(benchmark, impl, lambda: forward(x, 2))
    else:
        run(benchmark, impl, lambda: (forward(x, 2), backward(dy, x, 2)))
