"""Peak memory and time of the 2000x2000 layer's forward and backward, one fresh process per
implementation, against the arrays the layer must hold (x, y, dy, dx: 2.86 GiB in float32);
and the forward pass run a second time, after the first one's output is freed.

    python benchmarks/large_layer_memory.py [--json FILE]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(impl):
    sys.path.insert(0, HERE)
    import _impls
    n, h, w, c, f = _impls.LARGE
    arrays = 4 * n * h * w * (c + f + f + c)          # x, y, dy, dx
    if impl == "fastconv":
        forward, backward = _impls.fastconv_large()
    else:
        forward, backward = _impls.torch_large(impl.split(":")[1])
    start = time.perf_counter()
    y = forward()               # kept alive through backward, as a training step would
    fwd = time.perf_counter() - start
    start = time.perf_counter()
    out = backward()
    bwd = out[0] if impl.startswith("torch") else time.perf_counter() - start
    # The forward pass again once y is gone, as the next image or training step would run it:
    # fastconv reuses y's memory (its buffer cache), PyTorch's CPU allocator maps fresh memory.
    del y, out
    start = time.perf_counter()
    y = forward()
    warm = time.perf_counter() - start
    del y
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # over the whole run
    return {"impl": impl, "forward_s": fwd, "backward_s": bwd, "peak_bytes": peak,
            "arrays_bytes": arrays, "forward_warm_s": warm, "flop": _impls.LARGE_FLOP}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    impls = ["fastconv"]
    try:
        import torch  # noqa: F401
        impls += ["torch:channels_last", "torch:nchw"]
    except ImportError:
        print("(PyTorch not installed: fastconv only)", file=sys.stderr)
    results = []
    for impl in impls:
        out = subprocess.run([sys.executable, __file__, "--child", impl], check=True,
                             capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    gib = 2 ** 30
    print("| implementation | forward s | backward s | peak memory GiB | over x, y, dy, dx |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['impl']} | {r['forward_s']:.2f} | {r['backward_s']:.2f} | "
              f"{r['peak_bytes'] / gib:.2f} | {(r['peak_bytes'] - r['arrays_bytes']) / gib:+.2f} |")
    print("\nforward again, after the first output was freed: " + ", ".join(
        f"{r['impl']} {r['forward_warm_s']:.2f} s ({r['flop'] / 1e9 / r['forward_warm_s']:.0f} GFLOP/s)"
        for r in results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
