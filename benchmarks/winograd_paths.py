"""Each Winograd path against the direct kernel, shape by shape: the measurements behind the
thresholds in fastconv/_api/conv.py (winograd_pays, winograd_dx_pays, winograd_dw_pays).

usage: python benchmarks/winograd_paths.py [--dtype float32|float64] [--repeat N]

For every shape, the forward pass (with ReLU), the input gradient and the kernel gradient
(with the ReLU's mask) are timed with that path forced off and forced on (the forward pass and
the input gradient with each tile, F(2x2, 3x3) and F(4x4, 3x3)), in the same process; the
table gives the medians, direct / Winograd, and which fastconv takes by default.
The input gradient is timed as a full backward pass minus one without it.
"""
import argparse

import numpy as np

import fastconv
from fastconv import _api, _config

import _impls            # benchmarks/_impls.py, beside this script

# (batch, height = width, in channels, filters, padding)
SHAPES = [
    (64, 13, 32, 64, "valid"),     # MNIST conv2
    (64, 5, 64, 64, "valid"),      # MNIST conv3
    (64, 28, 1, 32, "valid"),      # MNIST conv1
    (64, 9, 32, 64, "valid"),
    (64, 6, 64, 64, "valid"),
    (64, 7, 64, 64, "valid"),
    (64, 16, 16, 16, "same"),
    (64, 30, 8, 64, "same"),
    (64, 32, 32, 32, "same"),
    (16, 28, 128, 128, "same"),
    (8, 14, 256, 256, "same"),
    (1, 200, 32, 64, "same"),
    (20, 74, 32, 64, "valid"),     # the images chapter's conv2
]
PATHS = ("winograd_pays", "winograd_dx_pays", "winograd_dw_pays")


def median_ms(fn, repeat):
    return _impls.median_seconds(fn, repeat) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    defaults = {name: getattr(_api.conv, name) for name in PATHS}
    rng = np.random.default_rng(0)
    print(f"fastconv {fastconv.__version__}, {fastconv.get_num_threads()} threads, "
          f"{_config.simd_path()}, {dtype}; median ms of the direct kernel, then direct / "
          f"Winograd for each tile in brackets; * = taken by default")
    print()
    print("| shape | forward direct | F(2x2) | F(4x4) | input gradient direct | F(2x2) | "
          "F(4x4) | kernel gradient direct | F(3x3, 2x2) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, h, c, f, padding in SHAPES:
        x = rng.standard_normal((n, h, h, c)).astype(dtype)
        k = (rng.standard_normal((3, 3, c, f)) * 0.1).astype(dtype)
        b = np.zeros(f, dtype)
        y = fastconv.conv2d(x, k, b, padding=padding, activation="relu")
        dy = rng.standard_normal(y.shape).astype(dtype)
        conv_args = _api.conv.ConvArgs("benchmark", x, k, 1, padding)
        taken = [defaults["winograd_pays"](conv_args, k.shape),
                 defaults["winograd_dx_pays"](conv_args, k.shape, x.shape),
                 4 if defaults["winograd_dw_pays"](conv_args, k.shape) else 0]
        forward = lambda: fastconv.conv2d(x, k, b, padding=padding, activation="relu")
        backward = lambda: fastconv.conv2d_backward(dy, x, k, padding=padding, relu_output=y)
        filter_only = lambda: fastconv.conv2d_backward(dy, x, k, padding=padding,
                                                       relu_output=y, compute_dx=False)
        cells = []
        for i, name in enumerate(PATHS):
            times = {}
            for tile in ((0, 4) if name == "winograd_dw_pays" else (0, 2, 4)):
                for other in PATHS:        # only this path on, with this tile, or none
                    setattr(_api.conv, other, (lambda *a, t=tile: t) if other == name
                            else (lambda *a: 0))
                if name == "winograd_dx_pays":
                    times[tile] = (median_ms(backward, args.repeat)
                                   - median_ms(filter_only, args.repeat))
                elif name == "winograd_dw_pays":
                    times[tile] = median_ms(filter_only, args.repeat)
                else:
                    times[tile] = median_ms(forward, args.repeat)
            for other in PATHS:
                setattr(_api.conv, other, defaults[other])
            for tile, t in times.items():
                mark = " *" if tile == taken[i] else ""
                cells.append(f"{t:.3f}{mark}" if tile == 0 else
                             f"{t:.3f} ({times[0] / t:.2f}x){mark}")
        print(f"| {n}x{h}x{h}x{c}->{f} {padding} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
