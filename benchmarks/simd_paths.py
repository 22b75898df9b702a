"""fastconv's SIMD paths side by side in one process, float32, against NumPy's matmul.

    python benchmarks/simd_paths.py

For each path this CPU has (generic, avx2+fma, avx512): a 2048^3 matrix product and a 1x1
convolution of 1024x1024 pixels x 256 -> 256 channels (the same product as NumPy's matmul on
the pixels as rows), in GFLOP/s; the seed network's conv1 and conv2 forward (ReLU fused) and
conv2's backward at batch 64, in ms. Best of 3 to 20 calls each, on fastconv's default thread
count; NumPy's two products are timed once at the top.
"""
import time

import numpy as np

import fastconv
from fastconv import _api


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((2048, 2048), dtype=np.float32) for _ in range(2))
    x = rng.standard_normal((1, 1024, 1024, 256), dtype=np.float32)
    w = rng.standard_normal((1, 1, 256, 256), dtype=np.float32)
    m1, k1 = (rng.standard_normal((64, 28, 28, 1), dtype=np.float32),
              rng.standard_normal((3, 3, 1, 32), dtype=np.float32))
    m2, k2 = (rng.standard_normal((64, 13, 13, 32), dtype=np.float32),
              rng.standard_normal((3, 3, 32, 64), dtype=np.float32))
    dy = rng.standard_normal((64, 11, 11, 64), dtype=np.float32)
    pixels, weights = x.reshape(-1, 256), w.reshape(256, 256)
    flop_mm, flop_1x1 = 2 * 2048 ** 3, 2 * pixels.shape[0] * 256 * 256
    print(f"fastconv {fastconv.__version__}, {fastconv.get_num_threads()} threads; "
          f"NumPy {np.__version__}")
    print(f"NumPy matmul 2048^3: {flop_mm / best(lambda: a @ b, 5) / 1e9:.0f} GFLOP/s; "
          f"the 1x1 product: {flop_1x1 / best(lambda: pixels @ weights, 3) / 1e9:.0f} GFLOP/s")
    previous = fastconv.simd_path()
    try:
        for path in fastconv.simd_paths():
            fastconv.set_simd_path(path)
            mm = flop_mm / best(lambda: _api.matmul(a, b), 5) / 1e9
            one = flop_1x1 / best(lambda: fastconv.conv2d(x, w), 3) / 1e9
            c1 = best(lambda: fastconv.conv2d(m1, k1, activation="relu"), 20)
            c2 = best(lambda: fastconv.conv2d(m2, k2, activation="relu"), 20)
            c2b = best(lambda: fastconv.conv2d_backward(dy, m2, k2), 20)
            print(f"{path:9s} matmul {mm:5.0f} GFLOP/s, 1x1 conv {one:5.0f} GFLOP/s; conv1 fwd "
                  f"{c1 * 1e3:.2f} ms, conv2 fwd {c2 * 1e3:.2f} ms, conv2 bwd {c2b * 1e3:.2f} ms")
    finally:
        fastconv.set_simd_path(previous)


if __name__ == "__main__":
    main()
