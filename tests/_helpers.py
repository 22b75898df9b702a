"""Test helpers: tolerances, random data, finite differences, the SIMD paths this CPU runs,
a fresh interpreter."""
import os
import subprocess
import sys
import tempfile

import numpy as np

import fastconv

# Relative to the largest magnitude in the expected result: float64 results are compared with
# a float64 oracle to 1e-10, float32 results (rounded inputs, float32 sums) to 1e-4.
TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4,
             np.dtype(np.float16): 2e-2}

# Every SIMD path this CPU can run: the kernel tests run once on each (conftest's simd_path).
SIMD_PATHS = fastconv._config.simd_paths()


def assert_close(actual, expected, dtype=None, what="", magnitude=None):
    """actual matches expected (computed in float64) within dtype's tolerance.

    The tolerance is relative to the largest expected value, or, given ``magnitude`` (the
    same sums taken over absolute values), to each value's own sum of |terms|: the bound
    rounding obeys when terms cancel.
    """
    dtype = np.dtype(dtype if dtype is not None else actual.dtype)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    tol = TOLERANCE[dtype]
    if magnitude is not None:
        bound = tol * np.asarray(magnitude, np.float64) + 1e-300
        error = np.abs(np.asarray(actual, np.float64) - expected)
        bad = ~(error <= bound)                           # NaN counts as bad
        if bad.any():
            i = np.unravel_index(np.argmax(np.where(bad, error / bound, -1)), error.shape)
            raise AssertionError(f"{what}: {int(bad.sum())} of {error.size} values off; at "
                                 f"{i}: got {actual[i]!r}, expected {expected[i]!r}, error "
                                 f"{error[i]:.3g} > {bound[i]:.3g} ({tol} x sum of |terms|)")
        return
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol,
                               atol=tol * max(scale, 1e-30), err_msg=what)


def numerical_gradient(loss, arr, eps=1e-6):
    """d loss() / d arr by central differences; loss() reads arr, which is perturbed in place."""
    grad = np.zeros(arr.shape)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        up = loss()
        arr[idx] = old - eps
        down = loss()
        arr[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad


def random(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def run_python(code, **env):
    """stdout of `python -c code` in a fresh interpreter, with `env` added to the environment.

    It runs in an empty directory: `-c` puts the working directory first on sys.path, and from
    the checkout that would import the source folder instead of the installed package.
    """
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, cwd=cwd,
                              capture_output=True, text=True, check=True).stdout


def unaligned(values):
    """values as a float64 array at an odd address (C-contiguous but misaligned)."""
    values = np.asarray(values, np.float64)
    raw = np.zeros(values.nbytes + 1, np.uint8)
    a = np.frombuffer(raw.data, np.float64, count=values.size, offset=1).reshape(values.shape)
    a[...] = values
    return a


_WINOGRAD_KERNELS = {"forward": "conv2d_forward_winograd",
                     "dx": "conv2d_backward_input_winograd",
                     "dkernel": "conv2d_backward_filter_winograd"}


def winograd_calls(monkeypatch):
    """Records every call of the three Winograd kernels from here on, in this process: a
    list of (which, what it returned, tile), which one of "forward", "dx", "dkernel", tile 2
    or 4 (from the transformed kernel's 16 or 36 rows) for the first two, None for the kernel
    gradient (always F(3x3, 2x2)). conv2d_backward falls back to the direct kernels, with the
    same answer, where a Winograd kernel returns False: only this tells the two apart."""
    from fastconv import _conv
    calls = []
    for which, name in _WINOGRAD_KERNELS.items():
        def recorded(*args, _real=getattr(_conv, name), _which=which, **kwargs):
            result = _real(*args, **kwargs)
            tile = None if _which == "dkernel" else {16: 2, 36: 4}[args[1].shape[0]]
            calls.append((_which, result, tile))
            return result
        monkeypatch.setattr(_conv, name, recorded)
    return calls


def edited_program(path, **changes):
    """An example program's text with each key replaced by its value (each must be there):
    the program at a test's scale."""
    with open(path) as f:
        text = f.read()
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text
