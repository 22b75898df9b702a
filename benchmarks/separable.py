"""SeparableConv2D's inference pass, fused against two passes, beside PyTorch, on the shapes of
the Keras book's mini-Xception (batch 32, 180x180 input) and Xception's middle flow.

    python benchmarks/separable.py [--repeats 9] [--json FILE]

fastconv ``separable_conv2d`` (the depthwise rows of a few output rows in a buffer of the
thread's, straight into the 1x1 convolution's GEMM) against ``conv2d(depthwise_conv2d(x))``
(the depthwise result written to memory and read back), and PyTorch's two ``Conv2d``
(depthwise with ``groups=channels``, then 1x1; channels_last and NCHW, the faster reported),
all 3x3 'same' without bias, float32, on as many threads as fastconv uses; ms, median of
--repeats after a warm-up call. Results must agree to 1e-4 of their largest value.
"""
import argparse
import json

import numpy as np

from depthwise import median_ms        # benchmarks/depthwise.py, beside this script

# (batch, size, in_channels, filters)
SHAPES = [(32, 176, 32, 32), (32, 88, 64, 64), (32, 44, 128, 128), (32, 22, 256, 256),
          (32, 11, 512, 512), (16, 19, 728, 728)]


def torch_ms(x, dk, pk, repeats):
    """PyTorch's time (the faster layout) and its result, NHWC; None without PyTorch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None, None
    import fastconv
    torch.set_num_threads(fastconv.get_num_threads())
    c = x.shape[3]
    best = None
    for fmt in (torch.channels_last, torch.contiguous_format):
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
        wd = torch.from_numpy(dk.transpose(2, 3, 0, 1).copy()).contiguous(memory_format=fmt)
        wp = torch.from_numpy(pk.transpose(3, 2, 0, 1).copy()).contiguous(memory_format=fmt)

        def run():
            with torch.inference_mode():
                return F.conv2d(F.conv2d(xt, wd, padding=1, groups=c), wp)
        ms = median_ms(run, repeats)
        if best is None or ms < best[0]:
            best = (ms, run().permute(0, 2, 3, 1).numpy())
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json")
    args = parser.parse_args()
    import fastconv
    rng = np.random.default_rng(0)
    rows = []
    for n, size, c, f in SHAPES:
        x = rng.standard_normal((n, size, size, c)).astype(np.float32)
        dk = (rng.standard_normal((3, 3, c, 1)) * 0.3).astype(np.float32)
        pk = (rng.standard_normal((1, 1, c, f)) / np.sqrt(c)).astype(np.float32)
        fused = fastconv.separable_conv2d(x, dk, pk, padding="same")
        two = fastconv.conv2d(fastconv.depthwise_conv2d(x, dk, padding="same"), pk)
        row = {"shape": [n, size, size, c, f],
               "fused": median_ms(lambda: fastconv.separable_conv2d(x, dk, pk, padding="same"),
                                  args.repeats),
               "two_passes": median_ms(lambda: fastconv.conv2d(
                   fastconv.depthwise_conv2d(x, dk, padding="same"), pk), args.repeats)}
        row["torch"], theirs = torch_ms(x, dk, pk, args.repeats)
        for other in (two, theirs):
            if other is not None and np.abs(other - fused).max() > 1e-4 * np.abs(fused).max():
                raise SystemExit(f"{row['shape']}: results differ")
        rows.append(row)
    print(f"fastconv {fastconv.__version__}, SIMD path {fastconv.simd_path()}, "
          f"{fastconv.get_num_threads()} threads, float32\n")
    print("| batch, input, filters | fused ms | two passes ms | PyTorch ms |")
    print("|---|---:|---:|---:|")
    for r in rows:
        n, h, _, c, f = r["shape"]
        torch_cell = "-" if r["torch"] is None else f"{r['torch']:.1f}"
        print(f"| {n}, {h}x{h}x{c}, {f} | {r['fused']:.1f} | {r['two_passes']:.1f} | "
              f"{torch_cell} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
