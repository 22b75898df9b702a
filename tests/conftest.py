"""Fixtures. Only tests/ goes on sys.path (for _helpers): the repository root must not, so
that tests import the installed fastconv, never the source folder."""
import os
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastconv  # noqa: E402
from fastconv import _config  # noqa: E402
from _helpers import SIMD_PATHS  # noqa: E402


@pytest.fixture
def rng(request):
    # A different, reproducible stream per test.
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(params=SIMD_PATHS)
def simd_path(request):
    previous = _config.set_simd_path(request.param)
    yield request.param
    _config.set_simd_path(previous)


@pytest.fixture
def threads():
    """Restores the kernels' thread count after a test that changes it."""
    previous = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(previous)


def pytest_report_header(config):
    return (f"fastconv SIMD paths: {', '.join(SIMD_PATHS)} (the kernel tests run on each); "
            f"default {_config.simd_path()}")


def pytest_terminal_summary(terminalreporter):
    # How many kernel tests passed on each SIMD path: CI's log shows which paths ran.
    counts = {path: 0 for path in SIMD_PATHS}
    for report in terminalreporter.stats.get("passed", []):
        if report.when != "call":
            continue
        ids = report.nodeid.rpartition("[")[2].rstrip("]").split("-")
        for path in SIMD_PATHS:
            counts[path] += path in ids
    terminalreporter.write_line("kernel tests passed per SIMD path: "
                                + ", ".join(f"{p} {n}" for p, n in counts.items()))
