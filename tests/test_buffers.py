"""Large outputs and the cache of freed ones: reuse never aliases a live array, never leaks old
values into a result, and stays within its limit. MAPPED_BYTES is lowered so that small arrays
take the large-output path."""
import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv
from fastconv import _buffers
from fastconv import reference as R
from _helpers import assert_close, random


@pytest.fixture
def every_output_mapped(monkeypatch):
    monkeypatch.setattr(_buffers, "MAPPED_BYTES", 0)
    # an empty cache to start from: garbage from earlier tests, collected later, would give
    # back blocks of the same size as this test's
    gc.collect()
    previous = fastconv.set_buffer_cache_limit(0)
    fastconv.set_buffer_cache_limit(1 << 20)
    yield
    fastconv.set_buffer_cache_limit(previous)


def address(a):
    return a.__array_interface__["data"][0]


def test_a_freed_output_serves_the_next_one_and_is_fully_overwritten(rng, every_output_mapped):
    x, k = random(rng, (2, 9, 9, 3), np.float32), random(rng, (3, 3, 3, 4), np.float32)
    want = fastconv.conv2d(x, k, padding="same")
    y = fastconv.conv2d(x, k, padding="same")
    where = address(y)
    y[...] = np.nan                                 # what a reused mapping still holds
    del y                                           # (given back now: no cycle holds it)
    assert _buffers.cached_bytes() > 0
    again = fastconv.conv2d(x, k, padding="same")
    assert address(again) == where                  # the same memory, already faulted in
    np.testing.assert_array_equal(again, want)


def test_a_live_view_keeps_its_memory_out_of_the_cache(rng, every_output_mapped):
    x, k = random(rng, (2, 9, 9, 3), np.float32), random(rng, (3, 3, 3, 4), np.float32)
    y = fastconv.conv2d(x, k)
    view, kept = y[1, ::2], y[1, ::2].copy()
    del y
    gc.collect()
    others = [fastconv.conv2d(2 * x, k) for _ in range(3)]
    assert all(not np.shares_memory(view, o) for o in others)
    np.testing.assert_array_equal(view, kept)
    assert len({address(o) for o in others}) == 3


def test_input_gradients_are_right_in_a_reused_dirty_mapping(rng, every_output_mapped):
    # strides 3 with a 2x2 kernel: every third row and column of dx gets no gradient at all
    x, k = random(rng, (2, 9, 9, 3), np.float64), random(rng, (2, 2, 3, 4), np.float64)
    dy = random(rng, (2, 3, 3, 4), np.float64)
    want = R.naive_conv2d_backward(dy, x, k, strides=3)[0]
    for _ in range(3):
        dx = fastconv.conv2d_backward(dy, x, k, strides=3)[0]
        assert_close(dx, want)
        dx[...] = np.nan                           # the next call gets this mapping back
        del dx


def test_zeroed_outputs_never_take_a_dirty_mapping(every_output_mapped):
    dirty = _buffers.empty((64, 64), np.float32)
    dirty.fill(5)
    del dirty
    assert not _buffers.empty((64, 64), np.float32, zero=True).any()


def test_the_cache_stays_within_its_limit_and_zero_releases_it(every_output_mapped):
    fastconv.set_buffer_cache_limit(3 * 4096)
    arrays = [_buffers.empty((1024,), np.float32) for _ in range(5)]   # one page each
    del arrays
    assert _buffers.cached_bytes() == 3 * 4096
    big = _buffers.empty((5000,), np.float32)                          # 5 pages: over the limit
    del big
    assert _buffers.cached_bytes() == 3 * 4096
    assert fastconv.set_buffer_cache_limit(0) == 3 * 4096
    assert _buffers.cached_bytes() == 0 and fastconv.get_buffer_cache_limit() == 0
    with pytest.raises(ValueError, match="nbytes must be >= 0"):
        fastconv.set_buffer_cache_limit(-1)
    with pytest.raises(TypeError):
        fastconv.set_buffer_cache_limit(1.5)


def test_threads_allocating_and_freeing_outputs_get_right_answers(rng, every_output_mapped):
    cases = [(random(rng, (2, 8 + i % 3, 9, 3), np.float32), random(rng, (3, 3, 3, 4), np.float32))
             for i in range(12)]
    want = [fastconv.conv2d(x, k, padding="same") for x, k in cases]
    barrier = threading.Barrier(4)

    def work(i):
        if i < 4:
            barrier.wait()
        out = None
        for _ in range(20):
            out = fastconv.conv2d(*cases[i], padding="same")
        return out

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(work, range(len(cases))))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_an_output_too_large_for_memory_raises_memory_error():
    # a 2e7 x 2e7 image of one stride-0 value: the input costs nothing, the output 1.6 PB is
    # more than a process can map (128 TiB of addresses on x86-64), whatever the overcommit
    x = np.broadcast_to(np.float32(0), (1, 20_000_000, 20_000_000, 1))
    with pytest.raises(MemoryError):
        fastconv.conv2d(x, np.zeros((1, 1, 1, 1), np.float32))
