"""Configuration of the compiled kernels: their thread count (OpenMP's) and SIMD path."""
import operator
import os

from . import _conv, _dense, _depthwise, _pool


def get_num_threads():
    """Number of threads the kernels use when called from this thread.

    This is OpenMP's own setting (``omp_get_max_threads()``): ``OMP_NUM_THREADS`` if it is
    set, otherwise the number of CPUs this process may run on; ``set_num_threads`` and
    ``threadpoolctl.threadpool_limits`` change it. Always 1 in a build without OpenMP.
    """
    return max(1, _conv.openmp_max_threads())


def set_num_threads(n):
    """Set how many threads the kernels use; returns the previous value.

    Like ``omp_set_num_threads`` (and ``threadpoolctl``, which calls it), this applies to
    calls made from the calling Python thread; other threads keep ``OMP_NUM_THREADS``.
    Without OpenMP the kernels run on one thread whatever ``n`` is.
    """
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    previous = get_num_threads()
    _conv.openmp_set_num_threads(n)
    return previous


SIMD_NAMES = {0: "generic", 1: "avx2+fma", 2: "avx512"}
# Names accepted by set_simd_path and FASTCONV_SIMD, beside the ones above.
SIMD_ALIASES = {"avx2": 1, "avx-512": 2, "avx512f": 2}


def _simd_level(name):
    """The level of a SIMD path's name (or alias), or None."""
    if not isinstance(name, str):
        return None
    name = name.strip().lower()
    levels = {v: k for k, v in SIMD_NAMES.items()}
    return levels.get(name, SIMD_ALIASES.get(name))


def _init_simd():
    # FASTCONV_SIMD=generic|avx2|avx512 forces a path; a path this CPU lacks, or a name we do
    # not know, falls back to the best path with a warning (an import must not fail on it).
    wanted = os.environ.get("FASTCONV_SIMD", "").strip()
    best = _conv.simd_detect()
    level = best
    if wanted:
        asked = _simd_level(wanted)
        if asked is None:
            _warn(f"FASTCONV_SIMD={wanted!r} is not one of {sorted(SIMD_NAMES.values())} "
                  f"(or avx2); using {SIMD_NAMES[best]!r}")
        elif asked > best:
            _warn(f"FASTCONV_SIMD={wanted!r}: this CPU or build does not support it; "
                  f"using {SIMD_NAMES[best]!r}")
        else:
            level = asked
    _set_level(level)


def _warn(message):
    import warnings
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _set_level(level):
    # Each extension module has its own copy of the dispatch flag.
    _conv.set_simd_level(level)
    _dense.set_simd_level(level)
    _depthwise.set_simd_level(level)
    _pool.set_simd_level(level)


_init_simd()


def simd_path():
    """Name of the SIMD path the kernels use: "avx512", "avx2+fma" or "generic"."""
    return SIMD_NAMES[_conv.get_simd_level()]


def simd_paths():
    """The SIMD paths this CPU and build can run, from the portable one to the widest."""
    return [SIMD_NAMES[level] for level in range(_conv.simd_detect() + 1)]


def set_simd_path(name):
    """Select the kernels' SIMD path: "generic", "avx2+fma" (or "avx2") or "avx512", if this
    CPU has it; returns the previous name. Takes effect for the kernel calls that start
    after it (a call already running keeps the path it started on)."""
    level = _simd_level(name)
    if level is None:
        raise ValueError(f"set_simd_path: name must be one of {sorted(SIMD_NAMES.values())} "
                         f"(or 'avx2'), got {name!r}")
    if level > _conv.simd_detect():
        raise ValueError(f"set_simd_path: this CPU or build does not support {name!r} "
                         f"(it has {simd_paths()})")
    previous = simd_path()
    _set_level(level)
    return previous


_LAST_LEVEL_CACHE = None


def last_level_cache_bytes():
    """The size of the largest CPU cache (Linux's sysfs, read once), else 32 MiB: outputs much
    larger than it are written around the caches by the kernels that can."""
    global _LAST_LEVEL_CACHE
    if _LAST_LEVEL_CACHE is None:
        size = 0
        root = "/sys/devices/system/cpu/cpu0/cache"
        try:
            for entry in os.listdir(root):
                try:
                    with open(os.path.join(root, entry, "size")) as f:
                        text = f.read().strip().upper()
                except OSError:
                    continue
                scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
                digits = text.rstrip("KMG")
                if digits.isdigit():
                    size = max(size, int(digits) * scale)
        except OSError:
            pass
        _LAST_LEVEL_CACHE = size or 32 << 20
    return _LAST_LEVEL_CACHE
