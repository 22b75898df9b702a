"""Wall time of `import fastconv` in a fresh Python process, beside NumPy's and an empty start.

usage: python benchmarks/import_time.py [--runs N]

Runs each of `pass`, `import numpy` and `import fastconv` in N new interpreters (the Python
running this script) and prints the median and fastest wall times in milliseconds.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args(argv).runs
    with tempfile.TemporaryDirectory() as outside:   # never the source folder's fastconv
        for code in ("pass", "import numpy", "import fastconv"):
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, cwd=outside,
                               env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
                times.append(time.perf_counter() - start)
            print(f"{code:16s} median {statistics.median(times) * 1e3:5.0f} ms, "
                  f"fastest {min(times) * 1e3:5.0f} ms ({runs} fresh processes)")


if __name__ == "__main__":
    main()
