"""Run the benchmarks, print markdown tables of medians with ratios, save a bar chart.

    python benchmarks/report.py                   # everything (tens of minutes: each library in its processes)
    python benchmarks/report.py --quick           # skip the naive loops and the memory runs
    python benchmarks/report.py --json FILE       # only tabulate an earlier run's JSON

The full run also trains the seed network for whole epochs with benchmarks/epoch.py, on MNIST
from $FASTCONV_DATA_DIR/mnist (or downloaded by fastconv.datasets.mnist), and runs the images
chapter's 150x150 network with benchmarks/images_chapter.py (training step and epoch against
PyTorch, the loader's time per batch beside them) and the transfer-learning chapter's
networks with benchmarks/transfer_learning.py (VGG16's base, ResNet50 and MobileNetV2 against
ONNX Runtime, PyTorch and Keras, whichever are installed; an epoch of the chapter's second
program against Keras), and the modern convnets' layers with benchmarks/depthwise.py
(MobileNetV2's depthwise layers against PyTorch and ONNX Runtime, with the memory bandwidth),
benchmarks/conv_transpose.py (the segmentation model's transposed convolutions against
PyTorch), benchmarks/separable.py (SeparableConv2D's fused inference pass) and
benchmarks/mini_xception.py (the mini-Xception's training step against PyTorch
and Keras).

Implementations: naive_numpy and im2col_numpy (fastconv.reference), fastconv, and torch when
PyTorch is installed (a CPU build: pip install torch==2.13.0 here; see README).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

import epoch            # benchmarks/epoch.py, beside this script
import images_chapter   # benchmarks/images_chapter.py
import transfer_learning  # benchmarks/transfer_learning.py

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["naive_numpy", "im2col_numpy", "torch", "fastconv"]
STEPS_PER_EPOCH = 938          # 60,000 images in batches of 64


def run_benchmarks(path, quick, extra):
    # Warm-up on: without it pytest-benchmark sizes the rounds from one cold first call (thread
    # start, buffers not yet cached), which gave conv3 19 rounds instead of 400 in one run,
    # with a median 15% too slow.
    cmd = [sys.executable, "-m", "pytest", HERE, "-q", "-p", "no:cacheprovider",
           "--import-mode=importlib", f"--benchmark-json={path}", "--benchmark-columns=median",
           "--benchmark-warmup=on", "--benchmark-warmup-iterations=20"]
    if quick:
        cmd += ["-k", "not naive_numpy"]
    # pytest's own output goes to stderr, so that stdout is just the tables
    subprocess.run(cmd + extra, check=True, cwd=tempfile.gettempdir(), stdout=sys.stderr)


def run_script(name):
    """The tables a benchmark script beside this one prints, or a line saying it failed."""
    run = subprocess.run([sys.executable, os.path.join(HERE, name)], capture_output=True,
                         text=True)
    if run.returncode:
        return (f"(benchmarks/{name} failed with exit status {run.returncode}: "
                f"{(run.stderr.strip().splitlines() or ['?'])[-1]})")
    return run.stdout.strip()


def run_memory(path):
    subprocess.run([sys.executable, os.path.join(HERE, "large_layer_memory.py"), "--json", path],
                   check=True, stdout=sys.stderr)
    with open(path) as f:
        return json.load(f)


def run_epochs(path):
    """benchmarks/epoch.py's results, or None (with the reason on stderr) if it failed."""
    try:
        subprocess.run([sys.executable, os.path.join(HERE, "epoch.py"), "--json", path],
                       check=True, stdout=sys.stderr)
    except subprocess.CalledProcessError as e:
        print(f"(no epoch timings: benchmarks/epoch.py failed with exit status {e.returncode})",
              file=sys.stderr)
        return None
    with open(path) as f:
        return json.load(f)


def run_images(path, pictures=400):
    """benchmarks/images_chapter.py's results, or None (with the reason on stderr)."""
    try:
        subprocess.run([sys.executable, os.path.join(HERE, "images_chapter.py"), "--json", path,
                        "--images", str(pictures)], check=True, stdout=sys.stderr)
    except subprocess.CalledProcessError as e:
        print(f"(no images-chapter timings: benchmarks/images_chapter.py failed with exit "
              f"status {e.returncode})", file=sys.stderr)
        return None
    with open(path) as f:
        return json.load(f)


def run_transfer(path):
    """benchmarks/transfer_learning.py's results, or None (with the reason on stderr)."""
    try:
        subprocess.run([sys.executable, os.path.join(HERE, "transfer_learning.py"), "--json",
                        path], check=True, stdout=sys.stderr)
    except subprocess.CalledProcessError as e:
        print(f"(no transfer-learning timings: benchmarks/transfer_learning.py failed with exit "
              f"status {e.returncode})", file=sys.stderr)
        return None
    with open(path) as f:
        return json.load(f)


def medians(data, op):
    """{group: {impl: median seconds}} for the benchmarks of one kind, in file order."""
    groups = defaultdict(dict)
    for b in data["benchmarks"]:
        if b["extra_info"].get("op") in op:
            groups[b["group"]][b["extra_info"]["impl"]] = b["stats"]["median"]
    return groups


def cell(t, base, unit):
    scale = 1e3 if unit == "ms" else 1.0
    if t is None:
        return ""
    if base is None or t == base:
        return f"{t * scale:.3f}" if unit == "ms" else f"{t:.2f}"
    ratio = t / base
    text = f"{t * scale:.3f}" if unit == "ms" else f"{t:.2f}"
    return f"{text} ({ratio:.0f}x)" if ratio >= 10 else f"{text} ({ratio:.2f}x)"


def table(groups, title, unit="ms", extra_rows=()):
    impls = [i for i in ORDER if any(i in g for g in groups.values())]
    lines = [f"**{title}** (median {unit}; in brackets: time / fastconv's time)", "",
             "| | " + " | ".join(impls) + " |", "|---|" + "---:|" * len(impls)]
    for group, times in list(groups.items()) + list(extra_rows):
        base = times.get("fastconv")
        lines.append(f"| {group} | " + " | ".join(cell(times.get(i), base, unit)
                                                   for i in impls) + " |")
    return "\n".join(lines)


def network_tables(data):
    layers = medians(data, ("network_layer",))
    step = medians(data, ("train_step",))
    extra = []
    impls = {i for g in layers.values() for i in g}
    total = {i: sum(g[i] for g in layers.values()) for i in impls
             if all(i in g for g in layers.values())}
    if layers:
        extra.append(("**sum of the conv and pool layers**", total))
    for name, times in step.items():
        extra.append((name, times))
        extra.append((f"epoch estimate ({STEPS_PER_EPOCH} steps, s)",
                      {i: t * STEPS_PER_EPOCH / 1e3 for i, t in times.items()}))
    return table(layers, "Seed network, batch 64, forward + backward per layer", "ms", extra)


def large_table(data, memory):
    groups = medians(data, ("large_layer",))
    out = [table(groups, "One 3x3 'same' conv, 32 -> 64 channels, one 2000x2000 image", "s")
           if groups else ""]
    if memory:
        gib = 2 ** 30
        out += ["", "First calls in a fresh process, one process each (x, y, dy and dx take "
                f"{memory[0]['arrays_bytes'] / gib:.2f} GiB); then the forward pass again "
                "after its first output was freed:", "",
                "| implementation | first forward s | first backward s | forward again s "
                "| peak GiB | over the arrays GiB |",
                "|---|---:|---:|---:|---:|---:|"]
        for r in memory:
            out.append(f"| {r['impl']} | {r['forward_s']:.2f} | {r['backward_s']:.2f} | "
                       f"{r['forward_warm_s']:.2f} ({r.get('flop', 147.456e9) / 1e9 / r['forward_warm_s']:.0f} GFLOP/s) | "
                       f"{r['peak_bytes'] / gib:.2f} | "
                       f"{(r['peak_bytes'] - r['arrays_bytes']) / gib:+.2f} |")
    return "\n".join(out)


def scaling_table(data):
    """1 thread against all threads: the matmul peak and the large layer (op "scaling")."""
    rows, threads = {}, set()
    for b in data["benchmarks"]:
        e = b["extra_info"]
        if e.get("op") == "scaling":
            rows.setdefault(e["what"], {})[e["threads"]] = (b["stats"]["median"], e["flop"])
            threads.add(e["threads"])
    if not rows:
        return ""
    counts = sorted(threads)
    name = {n: f"{n} thread{'s' * (n > 1)}" for n in counts}
    head = [name[n] for n in counts] + ([f"{name[counts[-1]]} / 1 thread"] if len(counts) > 1
                                        else [])
    lines = ["**The machine's peak and thread scaling, float32** (median s; GFLOP/s in "
             "brackets; Winograd passes counted at the direct FLOPs)", "",
             "| | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for what, by in rows.items():
        cells = [f"{by[n][0]:.3f} ({by[n][1] / by[n][0] / 1e9:.0f})" if n in by else ""
                 for n in counts]
        if len(counts) > 1 and 1 in by and counts[-1] in by:
            cells.append(f"{by[1][0] / by[counts[-1]][0]:.2f}x")
        lines.append(f"| {what} | " + " | ".join(cells) + " |")
    top = counts[-1]
    peak = max((by[top][1] / by[top][0] for what, by in rows.items()
                if what.startswith("matmul") and top in by), default=None)
    fwd = [by[top][1] / by[top][0] for what, by in rows.items()
           if what.endswith(" fwd") and top in by]
    if peak and fwd:
        lines += ["", f"Large layer forward on {name[top]}: {fwd[0] / 1e9:.0f} GFLOP/s, "
                  f"{100 * fwd[0] / peak:.0f}% of the faster matmul's {peak / 1e9:.0f} GFLOP/s."]
    return "\n".join(lines)


def chart(data, path):
    """Grouped bars: the network's layers, their sum and a training step; the large layer."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no chart: matplotlib is not installed)", file=sys.stderr)
        return
    layers = medians(data, ("network_layer",))
    step = medians(data, ("train_step",))
    large = medians(data, ("large_layer",))
    impls = [i for i in ("torch", "fastconv") if any(i in g for g in layers.values())]
    rows = [(g.replace(" fwd+bwd", "").replace("net ", ""), t) for g, t in layers.items()]
    if layers:
        rows.append(("sum of conv+pool", {i: sum(g.get(i, 0) for g in layers.values())
                                          for i in impls}))
    rows += [("train step", t) for t in step.values()]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 1]})
    colors = {"torch": "#ee8866", "fastconv": "#4477aa"}
    width = 0.8 / max(len(impls), 1)
    for j, impl in enumerate(impls):
        axes[0].barh([i + j * width for i in range(len(rows))],
                     [r[1].get(impl, 0) * 1e3 for r in rows], width, label=impl,
                     color=colors[impl])
    axes[0].set_yticks([i + width * (len(impls) - 1) / 2 for i in range(len(rows))])
    axes[0].set_yticklabels([r[0] for r in rows])
    axes[0].invert_yaxis()
    axes[0].set_xlabel("ms (median), batch 64, forward + backward")
    axes[0].legend()
    axes[0].set_title("Seed MNIST convnet")
    names = list(large)
    for j, impl in enumerate(impls):
        axes[1].bar([i + j * width for i in range(len(names))],
                    [large[n].get(impl, 0) for n in names], width, color=colors[impl],
                    label=impl)
    axes[1].set_xticks([i + width * (len(impls) - 1) / 2 for i in range(len(names))])
    axes[1].set_xticklabels([n.split()[-1] for n in names])
    axes[1].set_ylabel("s (median)")
    axes[1].set_title("3x3 conv, 2000x2000x32->64")
    info = data.get("fastconv", {})
    fig.suptitle(f"fastconv ({info.get('simd', '?')}, {info.get('threads', '?')} threads) "
                 f"vs PyTorch CPU, same threads, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"(chart saved to {path})", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="tabulate this pytest-benchmark JSON file, run nothing")
    parser.add_argument("--memory-json", help="with --json: large_layer_memory.py's output")
    parser.add_argument("--epoch-json", help="with --json: epoch.py's output")
    parser.add_argument("--images-json", help="with --json: images_chapter.py's output")
    parser.add_argument("--transfer-json", help="with --json: transfer_learning.py's output")
    parser.add_argument("--quick", action="store_true",
                        help="skip the naive loops and the memory measurement")
    parser.add_argument("--chart", default=os.path.join(HERE, "..", "docs", "benchmarks.png"),
                        help="where to save the bar chart (default docs/benchmarks.png)")
    args, extra = parser.parse_known_args()
    path, memory, epochs, images, transfer = args.json, None, None, None, None
    modern = []
    if path is None:
        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "bench.json")
        run_benchmarks(path, args.quick, extra)
        if not args.quick:
            memory = run_memory(os.path.join(folder, "memory.json"))
            epochs = run_epochs(os.path.join(folder, "epochs.json"))
            images = run_images(os.path.join(folder, "images.json"))
            transfer = run_transfer(os.path.join(folder, "transfer.json"))
            modern = [(name, run_script(name)) for name in ("depthwise.py",
                                                            "conv_transpose.py",
                                                            "separable.py",
                                                            "mini_xception.py")]
    else:
        if args.memory_json:
            with open(args.memory_json) as f:
                memory = json.load(f)
        if args.epoch_json:
            with open(args.epoch_json) as f:
                epochs = json.load(f)
        if args.images_json:
            with open(args.images_json) as f:
                images = json.load(f)
        if args.transfer_json:
            with open(args.transfer_json) as f:
                transfer = json.load(f)
    with open(path) as f:
        data = json.load(f)
    info = data.get("fastconv", {})
    machine = data.get("machine_info", {})
    print(f"fastconv {info.get('version', '')} SIMD path {info.get('simd', '?')}, "
          f"{info.get('threads', '?')} threads; PyTorch {info.get('torch', 'not installed')}; "
          f"NumPy {info.get('numpy', '?')}; CPU {machine.get('cpu', {}).get('brand_raw', '?')}"
          "\n")
    print(table(medians(data, ("conv2d", "max_pool2d")),
                "Kernels against the NumPy references, float32, batch 64"))
    print()
    print(network_tables(data))
    print()
    if epochs:
        print("**Training the seed network on MNIST, whole epochs** (`benchmarks/epoch.py`: "
              "batch 64, RMSprop, one process each; in brackets: time / fastconv's time)\n")
        print(epoch.epoch_table(epochs))
        print()
    if images:
        print("**The images chapter's network, 150x150x3, batch 20** "
              "(`benchmarks/images_chapter.py`; in brackets: time / fastconv's time)\n")
        print(images_chapter.table(images))
        print()
    if transfer:
        print("**The transfer-learning chapter's networks** (`benchmarks/transfer_learning.py`: "
              "the same weights and threads, one process each)\n")
        print(transfer_learning.table(transfer))
        print()
    for name, text in modern:
        print(f"**The modern convnets' layers** (`benchmarks/{name}`)\n")
        print(text)
        print()
    print(large_table(data, memory))
    scaling = scaling_table(data)
    if scaling:
        print()
        print(scaling)
    os.makedirs(os.path.dirname(os.path.abspath(args.chart)), exist_ok=True)
    chart(data, args.chart)


if __name__ == "__main__":
    main()
