"""Memory for the kernels' outputs: NumPy's allocator for small arrays; for the others, private
anonymous mappings, and a bounded cache of the mappings of outputs that have died.

Why not NumPy's allocator for them: glibc's malloc serves requests of 128 KiB and more with a
fresh mapping, or, once it has raised its threshold, from a heap whose top it hands back to the
system when it is freed. Either way, a training step's outputs often land on memory the system
has not yet given the process, and the first write to each 4 KiB page is a page fault in which
the kernel zeroes it: on this project's VMs about 0.1 ms per 400 kB output, a fifth of the MNIST
conv3 layer's backward pass, and 0.2 s for a 1 GiB output, a fifth of the 2000x2000 layer's
forward pass. Which requests fault depends on what happened before (glibc adapts its threshold
to past frees), so timings jumped between runs. NumPy also advises the kernel to back arrays of
4 MiB and more with transparent huge pages, which made first writes twice as slow where none
were free (1.6 s instead of 1.2 s for the 2000x2000 layer's forward pass).

So outputs of MAPPED_BYTES and more get their own anonymous mapping, and when the array dies
the mapping is kept (up to ``get_buffer_cache_limit()`` bytes in all, the least recently freed
evicted first) for the next output of the same size, already faulted in: a program that trains
or convolves in a loop asks for the same sizes every step. An array holds its mapping until the
array and every view of it are gone; only then can the mapping serve a new output, so no two
live arrays ever share memory.
"""
import collections
import math
import mmap
import operator
import os
import sys
import threading

import numpy as np

MAPPED_BYTES = 128 << 10
_ANONYMOUS = getattr(mmap, "MAP_PRIVATE", None) is not None and hasattr(mmap, "MAP_ANONYMOUS")
_PAGE = mmap.PAGESIZE


def _default_limit():
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        physical = 8 << 30
    return int(min(2 << 30, physical // 8))


_lock = threading.RLock()                # RLock: a dying array may hand back inside a request
_by_size = {}                            # size -> [block], the most recently freed last
_order = collections.OrderedDict()       # id(block) -> size, the least recently freed first
_cached_bytes = 0
_limit = _default_limit()


class _Block:
    """One anonymous mapping and its address."""

    __slots__ = ("mapping", "address", "size")

    def __init__(self, size):
        try:
            self.mapping = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        except OSError as e:        # ENOMEM: say it the way NumPy's allocator does
            raise MemoryError(f"Unable to allocate {size / 2 ** 30:.3g} GiB for an output "
                              f"({e.strerror})") from None
        self.address = np.frombuffer(self.mapping, np.uint8).ctypes.data   # the view dies now
        self.size = size


class _Owner:
    """The base object of an array on a block: gives the block back when the array dies."""

    __slots__ = ("block", "__array_interface__", "__weakref__")

    def __init__(self, block, shape, dtype):
        self.block = block
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str,
                                    "data": (block.address, False), "version": 3}

    def __del__(self):
        try:
            _give_back(self.block)
        except Exception:           # interpreter shutdown: module globals may be gone
            pass


def _give_back(block):
    global _cached_bytes
    with _lock:
        if block.size > _limit:
            block.mapping.close()
            return
        _by_size.setdefault(block.size, []).append(block)
        _order[id(block)] = block.size
        _cached_bytes += block.size
        _evict_to(_limit)


def _evict_to(limit):
    global _cached_bytes
    while _cached_bytes > limit:
        key, size = _order.popitem(last=False)
        blocks = _by_size[size]
        block = blocks.pop(next(i for i, b in enumerate(blocks) if id(b) == key))
        if not blocks:
            del _by_size[size]
        _cached_bytes -= size
        block.mapping.close()


def _take(size):
    """A cached block of exactly `size` bytes (the most recently freed), or None."""
    global _cached_bytes
    with _lock:
        blocks = _by_size.get(size)
        if not blocks:
            return None
        block = blocks.pop()
        if not blocks:
            del _by_size[size]
        del _order[id(block)]
        _cached_bytes -= size
        return block


def empty(shape, dtype, zero=False):
    """An uninitialised (or, with zero, zeroed) C-contiguous array for a kernel to fill."""
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > sys.maxsize:        # more than an address space holds: no allocator takes it
        raise MemoryError(f"Unable to allocate {nbytes / 2 ** 30:.3g} GiB for an output of "
                          f"shape {shape} and dtype {dtype}")
    if nbytes < max(MAPPED_BYTES, 1) or not _ANONYMOUS:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    size = -(-nbytes // _PAGE) * _PAGE
    block = None if zero else _take(size)      # a fresh mapping reads as zeros
    if block is None:
        block = _Block(size)
    return np.asarray(_Owner(block, shape, dtype))


def get_buffer_cache_limit():
    """Bytes of freed outputs fastconv keeps for reuse (see set_buffer_cache_limit)."""
    return _limit


def set_buffer_cache_limit(nbytes):
    """Keep at most `nbytes` of freed outputs (those of 128 KiB and more) for reuse by later
    outputs of the same size; returns the previous limit. 0 turns the cache off and releases
    what it holds. The default is 2 GiB or an eighth of physical memory, whichever is less."""
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
