"""Whole training epochs of the seed MNIST convnet, fastconv against PyTorch, in one run.

    FASTCONV_DATA_DIR=../shared/datasets python benchmarks/epoch.py [--epochs 2] [--json FILE]

Each implementation trains in its own process: 60,000 images in shuffled batches of 64,
RMSprop (Keras's settings), categorical cross-entropy, on as many threads as fastconv uses,
then evaluates the 10,000 test images. fastconv trains with ``model.fit(verbose=0)``; PyTorch
with the usual loop over index batches of tensors already in memory, in whichever of NCHW and
channels_last trains faster on this machine (both are timed). The time per epoch is the wall
time of that epoch, data shuffling and batching included, evaluation excluded.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load(data_dir):
    from fastconv.datasets import mnist
    (x, y), (xt, yt) = mnist.load_data(data_dir)
    return (x.reshape(-1, 28, 28, 1).astype(np.float32) / 255, y,
            xt.reshape(-1, 28, 28, 1).astype(np.float32) / 255, yt)


def run_fastconv(epochs, data_dir):
    import fastconv
    from fastconv.callbacks import Callback
    from fastconv.examples.mnist import build_network
    from fastconv.utils import set_random_seed, to_categorical

    class Timer(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    x, y, xt, yt = load(data_dir)
    set_random_seed(0)
    seconds = []
    net = build_network()
    net.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    net.fit(x, to_categorical(y, 10), epochs=epochs, batch_size=64, callbacks=[Timer()],
            verbose=0)
    _, acc = net.evaluate(xt, to_categorical(yt, 10), verbose=0)
    return {"impl": "fastconv", "threads": fastconv.get_num_threads(), "seconds": seconds,
            "test_accuracy": float(acc)}


def run_torch(epochs, data_dir, layout):
    import torch
    import fastconv
    import _impls           # benchmarks/_impls.py, beside this script
    threads = fastconv.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    x, y, xt, yt = load(data_dir)
    x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    xt = torch.from_numpy(xt).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    y, yt = torch.from_numpy(y.astype(np.int64)), torch.from_numpy(yt.astype(np.int64))
    net, opt, loss_fn = _impls.torch_seed_network(fmt)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        acc = (net(xt).argmax(1) == yt).float().mean().item()
    return {"impl": f"torch:{layout}", "threads": threads, "seconds": seconds,
            "test_accuracy": acc}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-dir", default=None,
                        help="folder holding mnist/ (default: $FASTCONV_DATA_DIR, or download)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "fastconv":
            result = run_fastconv(args.epochs, args.data_dir)
        else:
            result = run_torch(args.epochs, args.data_dir, args.child.split(":")[1])
        print(json.dumps(result))
        return
    impls = ["fastconv"]
    try:
        import torch  # noqa: F401
        impls += ["torch:nchw", "torch:channels_last"]
    except ImportError:
        print("(PyTorch not installed: fastconv only)", file=sys.stderr)
    results = []
    for impl in impls:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", impl, "--epochs",
               str(args.epochs)] + (["--data-dir", args.data_dir] if args.data_dir else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(epoch_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def epoch_table(results):
    """Markdown: seconds per epoch (the best epoch and each one) and test accuracy."""
    base = min((r for r in results if r["impl"] == "fastconv"), default=None,
               key=lambda r: min(r["seconds"]))
    lines = ["| implementation | best epoch s | every epoch s | test accuracy |",
             "|---|---:|---:|---:|"]
    for r in results:
        best = min(r["seconds"])
        ratio = f" ({best / min(base['seconds']):.2f}x)" if base and r is not base else ""
        lines.append(f"| {r['impl']} | {best:.2f}{ratio} | "
                     f"{', '.join(f'{s:.2f}' for s in r['seconds'])} | "
                     f"{r['test_accuracy']:.4f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
