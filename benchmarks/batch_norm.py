"""BatchNormalization's training pass, compiled (fastconv's layer) against the same arithmetic
in NumPy (the layer's first version), on a conv output of the images chapter's size.

    python benchmarks/batch_norm.py [--shape 20 148 148 32] [--repeats 5]

Prints the best of --repeats for the forward pass (batch statistics, moving averages, the
normalised output) and the backward pass (input and parameter gradients), in milliseconds.
"""
import argparse
import time

import numpy as np

from fastconv import layers


def numpy_forward(x, gamma, beta, eps=1e-3):
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes, dtype=np.float64)
    var = np.square(x - mean.astype(x.dtype)).mean(axis=axes, dtype=np.float64)
    inv = (1 / np.sqrt(var.astype(x.dtype) + x.dtype.type(eps))).astype(x.dtype)
    xhat = (x - mean.astype(x.dtype)) * inv
    y = xhat * gamma
    y += beta
    return y, xhat, inv


def numpy_backward(dy, xhat, inv, gamma):
    axes = tuple(range(dy.ndim - 1))
    grads = (np.sum(dy * xhat, axis=axes, dtype=np.float64), np.sum(dy, axis=axes,
                                                                     dtype=np.float64))
    g = dy * gamma
    mean_g = g.mean(axis=axes, dtype=np.float64).astype(dy.dtype)
    mean_gx = (g * xhat).mean(axis=axes, dtype=np.float64).astype(dy.dtype)
    return inv * (g - mean_g - xhat * mean_gx), grads


def best(f, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3, result


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=4, default=[20, 148, 148, 32])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal(args.shape).astype(np.float32)
    c = args.shape[-1]
    gamma, beta = np.ones(c, np.float32), np.zeros(c, np.float32)
    t_fwd, (y, xhat, inv) = best(lambda: numpy_forward(x, gamma, beta), args.repeats)
    t_bwd, _ = best(lambda: numpy_backward(y, xhat, inv, gamma), args.repeats)
    layer = layers.BatchNormalization()
    layer.build((None,) + tuple(args.shape[1:]))
    layer.needs_input_grad = True
    c_fwd, out = best(lambda: layer.forward(x, training=True), args.repeats)
    c_bwd, _ = best(lambda: layer.backward(out), args.repeats)
    print(f"shape {tuple(args.shape)} float32, best of {args.repeats}")
    print(f"| pass | NumPy ms | fastconv ms |\n|---|---:|---:|\n"
          f"| forward | {t_fwd:.1f} | {c_fwd:.1f} ({t_fwd / c_fwd:.1f}x) |\n"
          f"| backward | {t_bwd:.1f} | {c_bwd:.1f} ({t_bwd / c_bwd:.1f}x) |")


if __name__ == "__main__":
    main()
