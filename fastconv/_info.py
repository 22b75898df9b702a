"""fastconv.show_config() and `fastconv info`: what this build is and what it will use."""
import os
import platform
import re
import sys

import numpy as np

from . import _api, _config, _conv
from ._version import __version__

_OPENMP_VERSIONS = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0",
                    201511: "4.5", 201811: "5.0", 202011: "5.1", 202111: "5.2"}


def _openmp_runtimes():
    """File names of the OpenMP runtimes loaded in this process (Linux; else empty)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if re.search(r"lib(g|i5?|)omp[-.]", line)}
    except OSError:
        return []
    return sorted(os.path.basename(p) for p in paths)


def config():
    """The facts show_config prints, as a dict."""
    openmp = _conv.openmp_version()
    return {
        "fastconv": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "compiler": _conv.compiler(),
        "openmp": (f"yes, OpenMP {_OPENMP_VERSIONS.get(openmp, openmp)}"
                   + "".join(f", {lib}" for lib in _openmp_runtimes()) if openmp
                   else "no (built without it: one thread)"),
        "threads": _config.get_num_threads(),
        "simd compiled": ", ".join(_config.SIMD_NAMES[level]
                                   for level in range(_conv.simd_compiled() + 1)),
        "simd this cpu": ", ".join(_config.simd_paths()),
        "simd in use": _config.simd_path(),
        "winograd": ((("on: F(2x2) and F(4x4) tiles" if _api.conv.WINOGRAD_4X4 else
                       "on: F(2x2) tiles only (FASTCONV_WINOGRAD=2x2)")
                      + ", 3x3 stride-1 forward and gradients, 16+ channels")
                     if _api.conv.WINOGRAD else "off (FASTCONV_WINOGRAD=0)"),
        "location": os.path.dirname(os.path.abspath(__file__)),
    }


def show_config(file=None):
    """Print fastconv's version, NumPy's, the compiler, OpenMP and thread count, and the SIMD
    paths compiled in and the one in use."""
    for key, value in config().items():
        print(f"{key + ':':15s}{value}", file=file or sys.stdout)
