"""Depthwise 3x3 convolutions as MobileNetV2 has them, batch 16: fastconv against PyTorch and
ONNX Runtime on the same threads, in time and in GB/s of memory touched, beside the machine's
memory bandwidth.

    python benchmarks/depthwise.py [--repeats 9] [--threads 2] [--json FILE]

Layers (input height x width x channels, stride, 'same' padding, bias): 112x112x96 stride 2,
56x56x144 stride 1, 14x14x576 stride 1. For each: the forward pass (ms, median of --repeats
after a warm-up call), and forward + backward (input, kernel and bias gradients) where the
library trains (ONNX Runtime does not). GB/s counts the input read and the output written
once (what a pass must move at least), over the forward time. PyTorch runs
``Conv2d(groups=channels)`` in channels_last and in NCHW (the faster reported; stride-2 layers
pad first, as TensorFlow's 'same' pads only the bottom and right there); ONNX Runtime a
one-node ONNX graph (``Conv`` with ``group``) on NCHW data, its optimisations on. Memory
bandwidth: the copy of a 512 MB array by one thread and split between --threads threads (bytes
read plus bytes written, per second).

Each implementation runs in a process of its own; a missing library is reported, not fatal.
Every result must agree with fastconv's to 1e-4 of its largest value, or the run fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

LAYERS = [((112, 112, 96), 2), ((56, 56, 144), 1), ((14, 14, 576), 1)]
BATCH = 16
IMPLS = ("fastconv", "torch", "onnxruntime")


def data(shape, seed=0):
    rng = np.random.default_rng(seed)
    h, w, c = shape
    x = rng.standard_normal((BATCH, h, w, c)).astype(np.float32)
    k = (rng.standard_normal((3, 3, c, 1)) * 0.3).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    return x, k, b


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * sorted(times)[len(times) // 2]


def run_fastconv(shape, stride, repeats):
    import fastconv
    x, k, b = data(shape)
    y = fastconv.depthwise_conv2d(x, k, b, strides=stride, padding="same")
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    forward = median_ms(lambda: fastconv.depthwise_conv2d(x, k, b, strides=stride,
                                                          padding="same"), repeats)
    both = median_ms(lambda: (fastconv.depthwise_conv2d(x, k, b, strides=stride,
                                                        padding="same"),
                              fastconv.depthwise_conv2d_backward(dy, x, k, strides=stride,
                                                                 padding="same")), repeats)
    return {"forward": forward, "train": both, "y": y}


def run_torch(shape, stride, repeats):
    import torch
    x, k, b = data(shape)
    h, w, c = shape
    top, left, bottom, right = _pads(h, w, stride)
    symmetric = (top, left) == (bottom, right)
    conv = torch.nn.Conv2d(c, c, 3, stride, padding=top if symmetric else 0, groups=c)
    # TensorFlow's 'same' pads stride-2 layers of even size at the bottom and right only
    pad = (lambda t: t) if symmetric else (
        lambda t: torch.nn.functional.pad(t, (left, right, top, bottom)))
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(k.transpose(2, 3, 0, 1).copy()))
        conv.bias.copy_(torch.from_numpy(b))
    best = None
    for layout in (torch.channels_last, torch.contiguous_format):
        conv = conv.to(memory_format=layout)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=layout)
        with torch.no_grad():
            y = conv(pad(xt))
            forward = median_ms(lambda: conv(pad(xt)), repeats)
        xg = xt.clone().requires_grad_(True)
        dy = torch.ones_like(y)

        def step():
            xg.grad = None
            conv.zero_grad(set_to_none=True)
            conv(pad(xg)).backward(dy)
        train = median_ms(step, repeats)
        if best is None or forward + train < best["forward"] + best["train"]:
            best = {"forward": forward, "train": train,
                    "y": y.permute(0, 2, 3, 1).contiguous().numpy(),
                    "layout": "channels_last" if layout is torch.channels_last else "NCHW"}
    return best


def run_onnxruntime(shape, stride, repeats, threads):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    x, k, b = data(shape)
    h, w, c = shape
    node = helper.make_node("Conv", ["x", "k", "b"], ["y"], group=c, kernel_shape=[3, 3],
                            strides=[stride, stride], pads=_pads(h, w, stride))
    graph = helper.make_graph(
        [node], "depthwise", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                            [BATCH, c, h, w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(k.transpose(2, 3, 0, 1).copy(), "k"),
         numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    xn = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    y = session.run(None, {"x": xn})[0]
    forward = median_ms(lambda: session.run(None, {"x": xn}), repeats)
    return {"forward": forward, "train": None, "y": y.transpose(0, 2, 3, 1), "version":
            ort.__version__, "onnx": onnx.__version__}


def _pads(h, w, stride):
    """ONNX pads [top, left, bottom, right] of TensorFlow's 'same' for a 3x3 window."""
    pads = []
    for size in (h, w):
        out = -(-size // stride)
        total = max((out - 1) * stride + 3 - size, 0)
        pads.append((total // 2, total - total // 2))
    return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]


def worker(impl, threads, repeats, out):
    os.environ["OMP_NUM_THREADS"] = str(threads)
    results = []
    reference = None
    for shape, stride in LAYERS:
        if impl == "fastconv":
            r = run_fastconv(shape, stride, repeats)
        elif impl == "torch":
            import torch
            torch.set_num_threads(threads)
            r = run_torch(shape, stride, repeats)
        else:
            r = run_onnxruntime(shape, stride, repeats, threads)
        import fastconv
        reference = fastconv.depthwise_conv2d(*data(shape), strides=stride, padding="same")
        y = r.pop("y")
        error = float(np.max(np.abs(y - reference)) / np.max(np.abs(reference)))
        if error > 1e-4:
            raise SystemExit(f"{impl} {shape} stride {stride}: differs from fastconv by "
                             f"{error:.2g} of the largest output")
        results.append(dict(r, shape=shape, stride=stride))
    with open(out, "w") as f:
        json.dump(results, f)


def bandwidth(threads, megabytes=512):
    """Bytes read plus written per second by np.copyto of a large array: one thread, and
    split between `threads` threads (NumPy releases the GIL while it copies)."""
    a = np.ones(megabytes * 2 ** 20 // 4, np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)
    one = median_ms(lambda: np.copyto(b, a), 5)
    parts = np.array_split(np.arange(a.size), threads)
    bounds = [(p[0], p[-1] + 1) for p in parts]

    def split():
        ts = [threading.Thread(target=np.copyto, args=(b[i:j], a[i:j])) for i, j in bounds]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    many = median_ms(split, 5)
    return 2 * a.nbytes / one / 1e6, 2 * a.nbytes / many / 1e6


def moved_gb(shape, stride):
    h, w, c = shape
    oh, ow = -(-h // stride), -(-w // stride)
    return 4 * BATCH * (h * w * c + oh * ow * c) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.threads, args.repeats, args.out)
    import fastconv
    print(f"fastconv {fastconv.__version__}, SIMD path {fastconv.simd_path()}, "
          f"{args.threads} threads, batch {BATCH}, float32")
    one, many = bandwidth(args.threads)
    print(f"memory bandwidth (copy, read + write): {one:.1f} GB/s one thread, {many:.1f} GB/s "
          f"{args.threads} threads")
    table = {}
    for impl in IMPLS:
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            run = subprocess.run([sys.executable, __file__, "--worker", impl, "--threads",
                                  str(args.threads), "--repeats", str(args.repeats), "--out",
                                  f.name], capture_output=True, text=True)
            if run.returncode:
                print(f"{impl}: not run ({(run.stderr.strip().splitlines() or ['?'])[-1]})")
                continue
            table[impl] = json.load(open(f.name))
    print()
    print("| layer (batch 16) | " + " | ".join(
        f"{impl} forward ms (GB/s) | {impl} fwd+bwd ms" if impl != "onnxruntime"
        else f"{impl} forward ms (GB/s)" for impl in table) + " |")
    print("|---" * (1 + sum(2 if i != "onnxruntime" else 1 for i in table)) + "|")
    for i, (shape, stride) in enumerate(LAYERS):
        cells = []
        for impl, rows in table.items():
            r = rows[i]
            cells.append(f"{r['forward']:.2f} ({moved_gb(shape, stride) / r['forward'] * 1e3:.1f})")
            if impl != "onnxruntime":
                cells.append(f"{r['train']:.2f}")
        print(f"| {'x'.join(map(str, shape))} stride {stride} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bandwidth": [one, many], "results": table}, f, indent=1)


if __name__ == "__main__":
    main()
