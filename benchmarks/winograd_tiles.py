"""The forward kernels alone (no kernel transform, no argument checks), direct against
Winograd F(2x2, 3x3) and F(4x4, 3x3), over output sizes and channel counts: the measurements
behind the cost per output that fastconv/_api/conv.py's winograd_shape_pays uses (F(2x2) about
0.62, F(4x4) about 0.45 of the direct time with 32+ channels) and its channel thresholds.

usage: python benchmarks/winograd_tiles.py [--quick | --batches]

Each row is one 3x3 'valid' convolution with ReLU, float32, on a batch sized to about the same
work as MNIST conv2 at batch 64; times are the best of three runs; ov2 and ov4 are the outputs
each tile size computes over the outputs wanted. With --batches: a few shapes at batches of 8
to 256 instead, the fixed cost per call (kernel transform and packing included) that few tiles
do not repay.
"""
import argparse
import time

import numpy as np

import fastconv
from fastconv import _api, _config, _conv

CHANNELS = [(32, 64), (64, 64), (64, 32), (128, 128), (16, 16), (16, 32), (32, 16), (24, 24),
            (8, 64)]
OUTPUTS = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 16, 24]


def best_ms(fn):
    fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    n = max(3, int(0.2 / max(once, 1e-5)))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="three output sizes only")
    parser.add_argument("--batches", action="store_true", help="batch sizes, few shapes")
    args = parser.parse_args(argv)
    outputs = [3, 11, 16] if args.quick else OUTPUTS
    if args.batches:
        rows = [(c, f, o, n) for c, f in [(64, 64), (32, 64), (128, 128)] for o in (3, 4, 8)
                for n in (8, 32, 64, 128, 256)]
    else:
        rows = [(c, f, o, max(1, int(64 * 121 * 2048 / (o * o * c * f))))
                for c, f in CHANNELS for o in outputs]
    rng = np.random.default_rng(0)
    print(f"fastconv {fastconv.__version__}, {fastconv.get_num_threads()} threads, "
          f"{_config.simd_path()}, float32; time / direct time"
          + ("; Winograd with its kernel transform" if args.batches else ""))
    print()
    print("| channels | outputs | batch | ov2 | ov4 | direct ms | F(2x2) | F(4x4) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c, f, o, n in rows:
        x = rng.standard_normal((n, o + 2, o + 2, c)).astype(np.float32)
        k = rng.standard_normal((3, 3, c, f)).astype(np.float32)
        b = np.zeros(f, np.float32)
        y = np.empty((n, o, o, f), np.float32)
        u2, u4 = _api.conv.winograd_kernel(k, 2), _api.conv.winograd_kernel(k, 4)
        d = best_ms(lambda: _conv.conv2d_forward(x, k, b, y, 1, 1, 0, 0, True, 2))
        if args.batches:        # the transform each call pays for
            w2 = best_ms(lambda: _conv.conv2d_forward_winograd(
                x, _api.conv.winograd_kernel(k, 2), k, b, y, 0, 0, True, 2))
            w4 = best_ms(lambda: _conv.conv2d_forward_winograd(
                x, _api.conv.winograd_kernel(k, 4), k, b, y, 0, 0, True, 2))
        else:
            w2 = best_ms(lambda: _conv.conv2d_forward_winograd(x, u2, k, b, y, 0, 0, True,
                                                               2))
            w4 = best_ms(lambda: _conv.conv2d_forward_winograd(x, u4, k, b, y, 0, 0, True,
                                                               2))
        ov2 = 4 * ((o + 1) // 2) ** 2 / (o * o)
        ov4 = 16 * ((o + 3) // 4) ** 2 / (o * o)
        print(f"| {c}->{f} | {o}x{o} | {n} | {ov2:.2f} | {ov4:.2f} | {d:.3f} | "
              f"{w2 / d:.2f} | {w4 / d:.2f} |", flush=True)


if __name__ == "__main__":
    main()
