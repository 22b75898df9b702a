"""How accurate the Winograd paths are: their error against a float64 reference, in units of
the direct kernels' error on the same data, over input scales from 1e-3 to 1e3.

usage: python benchmarks/winograd_accuracy.py [--dtype float32|float64] [--seeds N]

(float64 results are measured against a long double reference, on smaller batches: a float64
reference cannot see float64 rounding.)

For each shape, scale and path (forward and input gradient by F(2x2, 3x3) and by F(4x4, 3x3),
kernel gradient by F(3x3, 2x2)), inputs are drawn from a standard normal times the scale, in the dtype;
the reference is the im2col computation in float64 (long double for float64) of exactly those
values. Two errors per
result, each the maximum over its values:

- ``rel``: |result - reference| / max |reference| (the error a user sees next to the result);
- ``cond``: |result - reference| / (the same sum over |terms|) (the error per value relative
  to what rounding can be blamed for: this one does not grow where terms cancel).

The table gives the direct kernel's errors, the Winograd path's, and their ratio
(Winograd / direct, the "units of the direct kernel's error" of tests/test_winograd.py).
"""
import argparse

import numpy as np

import fastconv
from fastconv import _api, _config
from fastconv import reference as R

SHAPES = [
    (64, 13, 32, 64, "valid"),     # MNIST conv2
    (16, 32, 32, 32, "same"),
    (2, 64, 64, 64, "same"),
]
SCALES = [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3]
# path: (the _api function that decides it, the tile it is forced to)
PATHS = {"forward F(2x2)": ("winograd_pays", 2), "forward F(4x4)": ("winograd_pays", 4),
         "input gradient F(2x2)": ("winograd_dx_pays", 2),
         "input gradient F(4x4)": ("winograd_dx_pays", 4),
         "kernel gradient": ("winograd_dw_pays", True)}


def kind(path):
    """forward, input gradient or kernel gradient"""
    return path.split(" F(")[0]


def force(path_name, tile):
    """Every 3x3 stride-1 convolution takes the named Winograd path with this tile (0: none)
    and no other."""
    def pays(args, kernel_shape, x_shape=None):
        return tile if kernel_shape[:2] == (3, 3) and (args.sh, args.sw) == (1, 1) else 0
    for name, _ in PATHS.values():
        setattr(_api.conv, name, pays if name == path_name else (lambda *a, **k: 0))


def errors(shape, scale, dtype, rng):
    """{path: (direct rel, direct cond, winograd rel, winograd cond)} for one draw."""
    n, h, c, f, padding = shape
    x = (rng.standard_normal((n, h, h, c)) * scale).astype(dtype)
    k = (rng.standard_normal((3, 3, c, f)) * scale).astype(dtype)
    wide = np.float64 if dtype == np.float32 else np.longdouble
    x64, k64 = x.astype(wide), k.astype(wide)
    y64 = R.im2col_conv2d(x64, k64, padding=padding)
    dy = (rng.standard_normal(y64.shape) * scale).astype(dtype)
    dy64 = dy.astype(wide)
    ref = {"forward": y64}
    mag = {"forward": R.im2col_conv2d(np.abs(x64), np.abs(k64), padding=padding)}
    ref["input gradient"], ref["kernel gradient"], _ = R.im2col_conv2d_backward(
        dy64, x64, k64, padding=padding)
    mag["input gradient"], mag["kernel gradient"], _ = R.im2col_conv2d_backward(
        np.abs(dy64), np.abs(x64), np.abs(k64), padding=padding)
    out = {}
    for path, (name, tile) in PATHS.items():
        row = []
        for on in (0, tile):
            force(name, on)
            if kind(path) == "forward":
                got = fastconv.conv2d(x, k, padding=padding)
            else:
                dx, dk, _ = fastconv.conv2d_backward(dy, x, k, padding=padding)
                got = dx if kind(path) == "input gradient" else dk
            err = np.abs(got.astype(wide) - ref[kind(path)])
            row += [float(err.max() / np.abs(ref[kind(path)]).max()),
                    float((err / np.maximum(mag[kind(path)],
                                            np.finfo(np.float64).tiny)).max())]
        out[path] = tuple(row)
    return out


def measure(dtype, seeds, shapes=SHAPES, scales=SCALES):
    """{(shape, scale, path): (direct rel, direct cond, winograd rel, winograd cond)}, each
    the worst over the seeds."""
    saved = {name: getattr(_api.conv, name) for name, _ in PATHS.values()}
    table = {}
    try:
        for shape in shapes:
            for scale in scales:
                for seed in range(seeds):
                    rng = np.random.default_rng(seed)
                    for path, row in errors(shape, scale, dtype, rng).items():
                        old = table.get((shape, scale, path), (0.0,) * 4)
                        table[(shape, scale, path)] = tuple(map(max, old, row))
    finally:
        for name, fn in saved.items():
            setattr(_api.conv, name, fn)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    shapes = SHAPES if dtype == np.float32 else [(2,) + s[1:] for s in SHAPES]
    table = measure(dtype, args.seeds, shapes)
    print(f"fastconv {fastconv.__version__}, {_config.simd_path()}, {args.dtype}, worst of "
          f"{args.seeds} draws; rel = max error / max |reference|, cond = max error / sum of "
          f"|terms|")
    print("| shape | scale | path | direct rel | Winograd rel | ratio | direct cond | "
          "Winograd cond | ratio |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    worst = {}
    for (shape, scale, path), (drel, dcond, wrel, wcond) in table.items():
        n, h, c, f, padding = shape
        print(f"| {n}x{h}x{h}x{c}->{f} {padding} | {scale:g} | {path} | {drel:.2e} | "
              f"{wrel:.2e} | {wrel / drel:.2f} | {dcond:.2e} | {wcond:.2e} | "
              f"{wcond / dcond:.2f} |")
        w = worst.get(path, (0.0, 0.0))
        worst[path] = (max(w[0], wrel / drel), max(w[1], wcond / dcond))

    for path, (rel, cond) in worst.items():
        print(f"worst ratio, {path}: rel {rel:.2f}x, cond {cond:.2f}x the direct kernel's")


if __name__ == "__main__":
    main()
