"""Memory for the kernels' outputs: NumPy's allocator for small arrays; for large ones, private
anonymous mappings, and a bounded cache of the mappings of large outputs that have died.

Why mappings: NumPy advises the kernel to back large arrays with transparent huge pages; where
the kernel cannot supply them at once (as on this project's VMs: THP "madvise", no huge pages
free), the advice makes an array's first writes about twice as slow: 1.5 s instead of 0.75 s
for 1 GiB, and 1.6 s instead of 1.2 s for the 2000x2000 layer's forward pass. PyTorch's CPU
allocator gives no such advice either. Anonymous mappings start zeroed.

Why a cache: the first write to each 4 KiB page of a new mapping is a page fault in which the
kernel zeroes the page, about 0.2 s for a 1 GiB output on 2 threads, a fifth of the 2000x2000
layer's forward pass; unmapping it costs more time again. A program that convolves large images
in a loop, or trains on them, asks for the same sizes every step, so the mapping of an output
that has been freed is kept (up to ``get_buffer_cache_limit()`` bytes in all, the least recently
freed evicted first) and handed to the next request of the same size, already faulted in. An
array holds its mapping until the array and every view of it are gone; only then can the
mapping serve a new output, so no two live arrays ever share memory.
"""
import collections
import mmap
import operator
import os
import threading

import numpy as np

LARGE_BYTES = 32 << 20
_ANONYMOUS = getattr(mmap, "MAP_PRIVATE", None) is not None and hasattr(mmap, "MAP_ANONYMOUS")
_PAGE = mmap.PAGESIZE


def _default_limit():
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        physical = 8 << 30
    return int(min(2 << 30, physical // 8))


_lock = threading.RLock()                # RLock: a dying array may hand back inside a request
_free = collections.OrderedDict()        # id(mapping) -> mapping, least recently freed first
_cached_bytes = 0
_limit = _default_limit()


class _Owner:
    """The base object of an array on a mapping: gives the mapping back when the array dies."""

    def __init__(self, mapping, shape, dtype):
        self._mapping = mapping
        address = np.frombuffer(mapping, np.uint8).ctypes.data    # the view dies at once
        self.__array_interface__ = {"shape": tuple(shape), "typestr": dtype.str,
                                    "data": (address, False), "version": 3}

    def __del__(self):
        try:
            _give_back(self._mapping)
        except Exception:           # interpreter shutdown: module globals may be gone
            pass


def _give_back(mapping):
    global _cached_bytes
    with _lock:
        if len(mapping) > _limit:
            mapping.close()
            return
        _free[id(mapping)] = mapping
        _cached_bytes += len(mapping)
        _evict_to(_limit)


def _evict_to(limit):
    global _cached_bytes
    while _cached_bytes > limit:
        _, old = _free.popitem(last=False)
        _cached_bytes -= len(old)
        old.close()


def _take(size):
    """A cached mapping of exactly `size` bytes (the most recently freed), or None."""
    global _cached_bytes
    with _lock:
        for key in reversed(_free):
            if len(_free[key]) == size:
                mapping = _free.pop(key)
                _cached_bytes -= size
                return mapping
    return None


def empty(shape, dtype, zero=False):
    """An uninitialised (or, with zero, zeroed) C-contiguous array for a kernel to fill."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < max(LARGE_BYTES, 1) or not _ANONYMOUS:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    size = -(-nbytes // _PAGE) * _PAGE
    # A zeroed output takes a fresh mapping: zeroing a cached one costs what the faults do.
    mapping = None if zero else _take(size)
    if mapping is None:
        mapping = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.asarray(_Owner(mapping, shape, dtype))


def get_buffer_cache_limit():
    """Bytes of freed large outputs fastconv keeps for reuse (see set_buffer_cache_limit)."""
    return _limit


def set_buffer_cache_limit(nbytes):
    """Keep at most `nbytes` of freed large outputs (32 MiB and up) for reuse; returns the
    previous limit. 0 turns the cache off and releases what it holds. The default is 2 GiB or
    an eighth of physical memory, whichever is less."""
    global _limit
    nbytes = operator.index(nbytes)
    if nbytes < 0:
        raise ValueError(f"set_buffer_cache_limit: nbytes must be >= 0, got {nbytes}")
    with _lock:
        previous, _limit = _limit, nbytes
        _evict_to(_limit)
    return previous


def cached_bytes():
    """Bytes the cache holds now."""
    return _cached_bytes
