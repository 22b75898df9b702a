"""Run the benchmarks and print a markdown table of medians with ratios to fastconv.

    python benchmarks/report.py                 # runs pytest benchmarks/ first
    python benchmarks/report.py --json FILE     # only tabulates an earlier --benchmark-json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["naive_numpy", "im2col_numpy", "torch", "fastconv"]


def run_benchmarks(path, extra):
    cmd = [sys.executable, "-m", "pytest", HERE, "-q", "-p", "no:cacheprovider",
           "--import-mode=importlib", f"--benchmark-json={path}", "--benchmark-columns=median"]
    # pytest's own output goes to stderr, so that stdout is just the table
    subprocess.run(cmd + extra, check=True, cwd=tempfile.gettempdir(), stdout=sys.stderr)


def table(data):
    groups = defaultdict(dict)
    for b in data["benchmarks"]:
        groups[b["group"]][b["extra_info"]["impl"]] = b["stats"]["median"]
    impls = [i for i in ORDER if any(i in g for g in groups.values())]
    info = data.get("fastconv", {})
    lines = [f"float32, batch 64; fastconv SIMD path {info.get('simd', '?')}, "
             f"{info.get('threads', '?')} threads; median ms (time / fastconv's time)", "",
             "| operation | " + " | ".join(impls) + " |",
             "|---|" + "---:|" * len(impls)]
    for group, times in groups.items():
        base = times.get("fastconv")
        cells = []
        for impl in impls:
            t = times.get(impl)
            if t is None:
                cells.append("")
            elif base and impl != "fastconv":
                cells.append(f"{t * 1e3:.3f} ({t / base:.0f}x)" if t / base >= 10
                             else f"{t * 1e3:.3f} ({t / base:.1f}x)")
            else:
                cells.append(f"{t * 1e3:.3f}")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="tabulate this pytest-benchmark JSON file, run nothing")
    args, extra = parser.parse_known_args()
    path = args.json
    if path is None:
        path = os.path.join(tempfile.mkdtemp(), "bench.json")
        run_benchmarks(path, extra)
    with open(path) as f:
        print(table(json.load(f)))


if __name__ == "__main__":
    main()
