"""Benchmarks are not tests: run them with `pytest benchmarks` (see README)."""
import os
import sys

import pytest

# benchmarks/ holds helper modules (_impls) next to the benchmark files
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastconv
from fastconv import _config


def pytest_report_header(config):
    return (f"fastconv {fastconv.__version__}: SIMD path {_config.simd_path()}, "
            f"{fastconv.get_num_threads()} threads")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    import numpy
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    output_json["fastconv"] = {"version": fastconv.__version__, "simd": _config.simd_path(),
                               "threads": fastconv.get_num_threads(), "numpy": numpy.__version__,
                               "torch": torch_version}
