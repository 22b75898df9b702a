"""The segmentation model's transposed convolutions (the Keras book's, chapter 9): fastconv's
Conv2DTranspose against PyTorch's ConvTranspose2d on the same threads, forward and forward +
backward, for inputs of 64x64 and 200x200 pixels.

    python benchmarks/conv_transpose.py [--repeats 7] [--threads 2] [--batch 8]

The model goes down by three strided 3x3 convolutions (64, 128, 256 filters) and back up by
transposed ones; each upward stage is a 3x3 Conv2DTranspose with stride 1 then one with
stride 2, 'same' padding, ReLU. Timed here: each of the six transposed layers (input height x
width x channels -> filters), milliseconds per batch (median of --repeats after a warm-up
call). PyTorch runs channels_last and NCHW (the faster reported): ``padding=1`` for the
stride-1 layers; for the strided ones ``padding=0`` and the output's last row and column cut
off, which is Keras's 'same' (it pads a strided 3x3 transposed convolution at the bottom and
right only, where ``padding=1, output_padding=1`` would pad at the top and left). Every output
must agree with fastconv's to 1e-4 of its largest value.
"""
import argparse
import time

import numpy as np

STAGES = [(256, 256), (256, 128), (128, 128), (128, 64), (64, 64), (64, 32)]


def layers_for(size):
    """(height, in_channels, filters, stride) of the six transposed layers for an input of
    size x size pixels (the down path leaves size / 8)."""
    h = size // 8
    out = []
    for i, (c, f) in enumerate([(256, 256), (256, 256), (256, 128), (128, 128), (128, 64),
                                (64, 64)]):
        stride = 2 if i % 2 else 1
        out.append((h, c, f, stride))
        h *= stride
    return out


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    import fastconv
    import torch
    fastconv.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"fastconv {fastconv.__version__} ({fastconv.simd_path()}), torch {torch.__version__}, "
          f"{args.threads} threads, batch {args.batch}, float32")
    print("| input | layer | fastconv fwd ms | torch fwd ms | fastconv fwd+bwd ms | "
          "torch fwd+bwd ms |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for size in (64, 200):
        for h, c, f, s in layers_for(size):
            x = rng.standard_normal((args.batch, h, h, c)).astype(np.float32)
            k = (rng.standard_normal((3, 3, f, c)) / np.sqrt(9 * c)).astype(np.float32)
            b = rng.standard_normal(f).astype(np.float32)
            fa = dict(strides=s, padding="same")
            y = fastconv.conv2d_transpose(x, k, b, activation="relu", **fa)
            dy = rng.standard_normal(y.shape).astype(np.float32)
            fwd = median_ms(lambda: fastconv.conv2d_transpose(x, k, b, activation="relu", **fa),
                            args.repeats)
            both = median_ms(lambda: fastconv.conv2d_transpose_backward(
                dy, x, k, relu_output=fastconv.conv2d_transpose(x, k, b, activation="relu",
                                                                **fa), **fa), args.repeats)
            conv = torch.nn.ConvTranspose2d(c, f, 3, s, padding=1 if s == 1 else 0)
            cut = (lambda t: t) if s == 1 else (lambda t: t[:, :, :-1, :-1])
            with torch.no_grad():
                # PyTorch's weight (in, out, kh, kw) is Keras's (kh, kw, out, in) turned;
                # ConvTranspose2d correlates with it as given, as conv2d_transpose does
                conv.weight.copy_(torch.from_numpy(k.transpose(3, 2, 0, 1).copy()))
                conv.bias.copy_(torch.from_numpy(b))
            best = None
            for layout in (torch.channels_last, torch.contiguous_format):
                conv = conv.to(memory_format=layout)
                xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=layout)
                with torch.no_grad():
                    yt = torch.relu(cut(conv(xt)))
                    t_fwd = median_ms(lambda: torch.relu(cut(conv(xt))), args.repeats)
                xg = xt.clone().requires_grad_(True)
                dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous(memory_format=layout)

                def step():
                    xg.grad = None
                    conv.zero_grad(set_to_none=True)
                    torch.relu(cut(conv(xg))).backward(dyt)
                t_both = median_ms(step, args.repeats)
                if best is None or t_fwd + t_both < best[0] + best[1]:
                    best = (t_fwd, t_both, yt.permute(0, 2, 3, 1).numpy())
            error = np.abs(best[2] - y).max() / np.abs(y).max()
            if error > 1e-4:
                raise SystemExit(f"torch differs from fastconv by {error:.2g} at {h}x{h}x{c}")
            print(f"| {size}x{size} | {h}x{h}x{c} -> {f}, stride {s} | {fwd:.2f} | {best[0]:.2f} "
                  f"| {both:.2f} | {best[1]:.2f} |")


if __name__ == "__main__":
    main()
