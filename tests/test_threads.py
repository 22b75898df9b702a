"""Many Python threads at once: every kernel and a shared model's predict on different shapes,
while other threads free outputs (so the buffer cache hands mappings from thread to thread),
shrink and restore the cache, and each call picks its own OpenMP thread count. Every result must
be bitwise equal to the same call made alone, one at a time."""
import threading

import numpy as np

import fastconv
from fastconv import _api, _buffers, layers, models, utils
from _helpers import random


def jobs(rng):
    """(name, call) pairs, each call a pure function of inputs fixed here. The shapes take
    every path: direct and Winograd convolutions, pooling with and without indices, windows
    that overlap, float32 and float64, outputs below and above the cache's 128 KiB."""
    out = []
    for n, h, c, f, k, s, pad, dt in [(2, 13, 32, 64, 3, 1, "valid", np.float32),
                                      (3, 9, 3, 5, 2, 2, "same", np.float64),
                                      (8, 28, 1, 32, 3, 1, "valid", np.float32),
                                      (1, 40, 16, 16, 3, 1, "same", np.float64),
                                      (4, 11, 7, 9, (1, 3), (2, 1), "same", np.float32)]:
        x = random(rng, (n, h, h, c), dt)
        kern = random(rng, (k, k, c, f) if isinstance(k, int) else k + (c, f), dt)
        b = random(rng, (f,), dt)
        y = fastconv.conv2d(x, kern, b, strides=s, padding=pad)
        dy = random(rng, y.shape, dt)
        relu = np.maximum(y, 0)
        out.append((f"conv {x.shape}", lambda x=x, kern=kern, b=b, s=s, pad=pad:
                    [fastconv.conv2d(x, kern, b, strides=s, padding=pad, activation="relu")]))
        out.append((f"conv_backward {x.shape}", lambda x=x, kern=kern, dy=dy, s=s, pad=pad,
                    relu=relu: list(fastconv.conv2d_backward(dy, x, kern, strides=s,
                                                             padding=pad, relu_output=relu))))
    for shape, pool, s, pad in [((4, 26, 26, 32), 2, None, "valid"),
                                ((2, 11, 10, 70), 3, 1, "same"),
                                ((3, 9, 9, 5), (2, 3), (1, 2), "valid")]:
        x = random(rng, shape, np.float32)
        y, idx = fastconv.max_pool2d(x, pool, strides=s, padding=pad, return_indices=True)
        dy = random(rng, y.shape, np.float32)
        out.append((f"pool {shape}", lambda x=x, pool=pool, s=s, pad=pad:
                    list(fastconv.max_pool2d(x, pool, strides=s, padding=pad,
                                             return_indices=True))))
        out.append((f"pool_backward {shape}", lambda x=x, dy=dy, idx=idx, pool=pool, s=s,
                    pad=pad: [fastconv.max_pool2d_backward(dy, x, pool, strides=s, padding=pad),
                              fastconv.max_pool2d_backward(dy, x, pool, strides=s, padding=pad,
                                                           indices=idx)]))
    a, bm = random(rng, (300, 200), np.float32), random(rng, (200, 150), np.float32)
    out.append(("matmul", lambda: [_api.matmul(a, bm, activation="relu")]))
    utils.set_random_seed(3)
    model = models.Sequential([layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                               layers.MaxPooling2D(2),
                               layers.Conv2D(64, 3, activation="relu"),
                               layers.MaxPooling2D(2), layers.Flatten(),
                               layers.Dense(10, activation="softmax")])
    images = random(rng, (70, 28, 28, 1), np.float32)
    out.append(("predict", lambda: [model.predict(images, batch_size=32, verbose=0)]))
    return out


def test_concurrent_calls_equal_the_same_calls_one_at_a_time(rng, threads):
    work = jobs(rng)
    alone = {name: [r.copy() for r in call()] for name, call in work}
    errors, stop = [], threading.Event()

    def worker(seed):
        local = np.random.default_rng(seed)
        try:
            for _ in range(20):
                name, call = work[local.integers(len(work))]
                fastconv.set_num_threads(int(local.integers(1, 4)))   # this thread's own
                got = call()
                for r, want in zip(got, alone[name]):
                    if not np.array_equal(r, want, equal_nan=True):
                        errors.append(f"{name}: differs from the call made alone")
                del got                             # freed now: the cache takes its mappings
        except Exception as e:                      # pragma: no cover - reported below
            errors.append(f"{type(e).__name__}: {e}")

    def churn():
        # frees big outputs and resizes the cache while the workers run
        local = np.random.default_rng(99)
        while not stop.is_set():
            junk = [fastconv.conv2d(np.ones((1, 64, 64, 8), np.float32),
                                    np.ones((1, 1, 8, 16), np.float32)) for _ in range(3)]
            del junk
            previous = fastconv.set_buffer_cache_limit(int(local.choice([0, 1 << 20, 1 << 30])))
            fastconv.set_buffer_cache_limit(previous)

    previous_limit = fastconv.get_buffer_cache_limit()
    workers = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    churner = threading.Thread(target=churn)
    churner.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    churner.join()
    fastconv.set_buffer_cache_limit(previous_limit)
    assert not errors, errors[:5]
    assert _buffers.cached_bytes() <= fastconv.get_buffer_cache_limit()
