"""fastconv.dask against the in-memory kernels and models, bit for bit, on a real
dask.distributed cluster (two worker processes) and on the threaded scheduler."""
import logging
import os
import signal
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dask
import dask.array as da
from distributed import Client, LocalCluster

import fastconv
import fastconv.dask as fd
from fastconv import layers, models
from _helpers import winograd_calls

@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as c:
        yield c


# chunks that line up with nothing: sizes that do not divide the strides or the windows, and
# chunks of one row or column, smaller than every kernel here
# (the cluster's chunking keeps the batch whole: each task costs it milliseconds, and splitting
# the batch needs no halo; the chunks of one row split it, and the channels, on one process)
AWKWARD = [((3,), (5, 9, 15), (3, 3, 25), (5,)),
           ((1, 1), (1,) * 13, (2,) * 5 + (1,), (2, 1))]
WINDOWS = [(1, 1), (2, 2), (3, 3), (4, 3), (5, 5)]
STRIDES = [1, 2, 3, (1, 2)]


def _matrix(rng, x, chunkings, windows=WINDOWS):
    """(what, computed in memory, the same as a dask array) for every window, stride and
    padding, over each chunking of x."""
    cases = []
    for chunks in chunkings:
        xd = da.from_array(x, chunks=chunks)
        for k in windows:
            for s in STRIDES:
                for p in ("valid", "same"):
                    kern = rng.standard_normal(k + (x.shape[3], 7)).astype(x.dtype)
                    b = rng.standard_normal(7).astype(x.dtype)
                    what = f"chunks {chunks[1][:3]}..., window {k}, strides {s}, {p}"
                    cases.append(("conv2d " + what,
                                  fastconv.conv2d(x, kern, b, strides=s, padding=p,
                                                  activation="relu"),
                                  fd.conv2d(xd, kern, b, strides=s, padding=p,
                                            activation="relu")))
                    cases.append(("max_pool2d " + what,
                                  fastconv.max_pool2d(x, k, strides=s, padding=p),
                                  fd.max_pool2d(xd, k, strides=s, padding=p)))
    return cases


def _check(cases, results):
    for (what, want, lazy), got in zip(cases, results):
        assert got.dtype == want.dtype == lazy.dtype, what
        assert got.shape == want.shape == lazy.shape, what
        np.testing.assert_array_equal(got, want, err_msg=what)


def test_every_window_stride_and_padding_on_awkward_chunks_on_the_cluster(client, rng):
    x = rng.standard_normal((3, 29, 31, 5)).astype(np.float32)
    x.flags.writeable = False           # read-only input, never written
    before = x.copy()
    cases = _matrix(rng, x, AWKWARD[:1])
    _check(cases, client.gather(client.compute([c[2] for c in cases])))
    np.testing.assert_array_equal(x, before)


def test_chunks_of_one_row_without_the_cluster(rng):
    # thousands of tasks per array: quicker without the cluster's round trips
    x = rng.standard_normal((2, 13, 11, 3)).astype(np.float32)
    cases = _matrix(rng, x, AWKWARD[1:])
    _check(cases, dask.compute(*[c[2] for c in cases], scheduler="sync"))


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_other_dtypes_on_the_threaded_scheduler(rng, dtype):
    x = rng.standard_normal((3, 29, 31, 5)).astype(dtype)
    cases = _matrix(rng, x, AWKWARD[:1])[::3]
    _check(cases, dask.compute(*[c[2] for c in cases], scheduler="threads"))


def force_tile(monkeypatch, tile):
    """Every 3x3, stride-1 convolution takes this Winograd tile (2, 4; 0: none), whatever its
    channels, in conv2d, model.predict and the graphs fastconv.dask builds here (which carry
    the choice to the workers)."""
    def pays(kh, kw, sh, sw, *rest):
        return tile if (kh, kw, sh, sw) == (3, 3, 1, 1) else 0
    monkeypatch.setattr(fastconv._api.conv, "winograd_shape_pays", pays)


def _each_tile(monkeypatch, compute):
    """compute() with every tile forced (0, 2 and 4): the results, which must all differ, so
    that a result equal to one of them shows which path made it, even on another process."""
    results = {}
    for tile in (0, 2, 4):
        force_tile(monkeypatch, tile)
        with monkeypatch.context() as patched:
            calls = winograd_calls(patched)
            results[tile] = compute()
        assert {c[2] for c in calls if c[0] == "forward"} == ({tile} if tile else set())
        assert all(c[1] for c in calls)
    for a, b in ((0, 2), (0, 4), (2, 4)):
        assert not np.array_equal(results[a], results[b]), (a, b)
    return results


@pytest.mark.parametrize("tile", [2, 4], ids=["F2x2", "F4x4"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_winograd_tiles_fall_where_the_whole_image_has_them(client, rng, monkeypatch, padding,
                                                            tile):
    # on the workers, each tile's kernel runs with the tile chosen for the whole image:
    # the result equals conv2d's with that tile, bit for bit, and no other path's
    x = rng.standard_normal((2, 40, 37, 16)).astype(np.float32)
    kern = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    want = _each_tile(monkeypatch, lambda: fastconv.conv2d(x, kern, padding=padding))
    force_tile(monkeypatch, tile)
    for chunks in [(1, (7, 13, 20), (9, 9, 19), 16), (2, 5, 3, (8, 8))]:
        got = client.compute(fd.conv2d(da.from_array(x, chunks=chunks), kern,
                                       padding=padding)).result()
        np.testing.assert_array_equal(got, want[tile], err_msg=f"chunks {chunks}")


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_random_winograd_shapes_and_chunks(data):
    # both tiles on chunks cut anywhere, odd sizes and channel counts off the vector width;
    # in this process, so that every task's kernel call is seen
    draw = data.draw
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 20)), draw(st.integers(1, 20))
    padding = draw(st.sampled_from(["valid", "same"]))
    tile = draw(st.sampled_from([2, 4]))
    h = draw(st.integers(3 if padding == "valid" else 1, 22))
    w = draw(st.integers(3 if padding == "valid" else 1, 22))

    def split(size):
        cuts = sorted(set(draw(st.lists(st.integers(1, size - 1), max_size=4)))) if size > 1 \
            else []
        return tuple(b - a for a, b in zip([0] + cuts, cuts + [size]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    kern = rng.standard_normal((3, 3, c, f)).astype(np.float32)
    xd = da.from_array(x, chunks=(split(n), split(h), split(w), split(c)))
    with pytest.MonkeyPatch.context() as patched:
        force_tile(patched, tile)
        want = fastconv.conv2d(x, kern, padding=padding)
        calls = winograd_calls(patched)
        got = fd.conv2d(xd, kern, padding=padding).compute(scheduler="sync")
    assert calls and all(c == ("forward", True, tile) for c in calls)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_shapes_and_chunks(data):
    draw = data.draw
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = draw(st.sampled_from(["valid", "same"]))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h = draw(st.integers(kh if padding == "valid" else 1, 24))
    w = draw(st.integers(kw if padding == "valid" else 1, 24))

    def split(size):
        cuts = sorted(set(draw(st.lists(st.integers(1, size - 1), max_size=5)))) if size > 1 \
            else []
        return tuple(b - a for a, b in zip([0] + cuts, cuts + [size]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.standard_normal((n, h, w, c))
    kern = rng.standard_normal((kh, kw, c, 3))
    xd = da.from_array(x, chunks=(split(n), split(h), split(w), split(c)))
    conv, pool = dask.compute(fd.conv2d(xd, kern, strides=(sh, sw), padding=padding),
                              fd.max_pool2d(xd, (kh, kw), strides=(sh, sw), padding=padding),
                              scheduler="sync")
    np.testing.assert_array_equal(conv, fastconv.conv2d(x, kern, strides=(sh, sw),
                                                        padding=padding))
    np.testing.assert_array_equal(pool, fastconv.max_pool2d(x, (kh, kw), strides=(sh, sw),
                                                            padding=padding))


def _stack(channels=3):
    """A fully convolutional stack: plain, Winograd, strided and pooling layers, ReLU in the
    kernel, tanh and softmax after it, batch normalization."""
    model = models.Sequential([
        layers.Conv2D(16, 3, activation="relu", padding="same", input_shape=(None, None,
                                                                             channels)),
        layers.Conv2D(32, 3, activation="relu", padding="same"),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(),
        layers.Conv2D(16, 3, strides=2, activation="tanh"),
        layers.Dropout(0.5),
        layers.Conv2D(24, 3, padding="same"),
        layers.MaxPooling2D(3, strides=2, padding="same"),
        layers.Activation("softmax")])
    bn = model.layers[3]
    bn.set_weights([np.linspace(0.5, 2, 32), np.linspace(-1, 1, 32),
                    np.linspace(-0.1, 0.1, 32), np.linspace(0.5, 1.5, 32)])
    return model


@pytest.mark.parametrize("tile", [2, 4], ids=["F2x2", "F4x4"])
def test_apply_equals_the_stack_on_the_whole_image(client, rng, monkeypatch, tile):
    # the stack's three 3x3 stride-1 layers on the Winograd tile: on the workers too (the
    # result is predict's with that tile, and no other path's)
    model = _stack()
    img = rng.random((2, 101, 87, 3)).astype(np.float32)
    want = _each_tile(monkeypatch, lambda: model.predict(img, verbose=0))[tile]
    force_tile(monkeypatch, tile)
    arrays = [fd.apply(model, da.from_array(img, chunks=chunks))
              for chunks in [(1, 30, 25, 3), (2, (50, 51), (3,) * 29, 3), (2, 101, 87, 3)]]
    for got in client.gather(client.compute(arrays)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_apply_takes_the_other_pointwise_layers(rng):
    # identities at inference (noise, spatial dropout) and element-wise activations
    model = models.Sequential([
        layers.Conv2D(6, 3, padding="same", input_shape=(None, None, 2)), layers.ReLU(6.0),
        layers.GaussianNoise(0.5), layers.Conv2D(4, 3, strides=2), layers.LeakyReLU(0.1),
        layers.SpatialDropout2D(0.5), layers.Identity(), layers.Activation("gelu")])
    img = rng.standard_normal((2, 23, 19, 2)).astype(np.float32)
    got = fd.apply(model, da.from_array(img, chunks=(1, 7, 9, 2))).compute(scheduler="sync")
    np.testing.assert_array_equal(got, model.predict(img, verbose=0))


def test_apply_on_uint8_pixels_casts_as_predict_does(client, rng):
    model = models.Sequential([layers.Rescaling(1 / 255, input_shape=(None, None, 3)),
                               layers.Conv2D(8, 5, activation="relu"),
                               layers.MaxPooling2D(2)])
    img = rng.integers(0, 256, (1, 64, 70, 3), dtype=np.uint8)
    got = fd.apply(model, da.from_array(img, chunks=(1, 20, 33, 3))).compute()
    np.testing.assert_array_equal(got, model.predict(img, verbose=0))


def test_predict_equals_model_predict(client, rng):
    model = models.Sequential([layers.Conv2D(8, 3, activation="relu", input_shape=(12, 12, 1)),
                               layers.MaxPooling2D(2), layers.Flatten(),
                               layers.Dense(5, activation="softmax")])
    x = rng.random((50, 12, 12, 1)).astype(np.float32)
    got = fd.predict(model, da.from_array(x, chunks=(17, 6, 12, 1)), batch_size=8)
    assert got.chunks == ((17, 17, 16), (5,))
    np.testing.assert_array_equal(got.compute(), model.predict(x, verbose=0))


class _ThreadProbe(layers.Activation):
    """An identity layer that records how many threads the kernels would use."""
    seen = []

    def __init__(self, **kwargs):
        kwargs.setdefault("activation", "linear")
        super().__init__(**kwargs)

    def forward(self, x, training=False, activate=True):
        type(self).seen.append(fastconv.get_num_threads())
        return x


def test_tasks_run_the_kernels_on_the_threads_they_are_given(rng):
    model = models.Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1)),
                               _ThreadProbe(), layers.Flatten()])
    x = da.from_array(rng.random((6, 8, 8, 1)), chunks=2)
    for threads in (1, 2):
        y = fd.predict(model, x, threads_per_task=threads)
        _ThreadProbe.seen = []
        y.compute(scheduler="threads")
        assert _ThreadProbe.seen == [threads] * 3
    before = fastconv.get_num_threads()
    with fd._omp_threads(before + 2):
        assert fastconv.get_num_threads() == before + 2
    assert fastconv.get_num_threads() == before         # given back after each task


def test_arguments_are_checked_before_anything_runs(rng):
    x = da.zeros((1, 8, 8, 3), chunks=4)
    k = np.zeros((3, 3, 3, 4))
    with pytest.raises(TypeError, match="dask array"):
        fd.conv2d(np.zeros((1, 8, 8, 3)), k)
    with pytest.raises(TypeError, match="integer"):
        fd.conv2d(x.astype(np.int32), k)
    with pytest.raises(ValueError, match=r"in_channels 2 .* x channels 3"):
        fd.conv2d(x, np.zeros((3, 3, 2, 4)))
    with pytest.raises(ValueError, match="padding"):
        fd.max_pool2d(x, 2, padding="full")
    with pytest.raises(ValueError, match="empty output"):
        fd.max_pool2d(x, 9)
    with pytest.raises(ValueError, match="4-D"):
        fd.conv2d(da.zeros((8, 8, 3)), k)
    with pytest.raises(ValueError, match="threads_per_task"):
        fd.conv2d(x, k, threads_per_task=0)
    dense = models.Sequential([layers.Flatten(input_shape=(8, 8, 3)), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"'flatten.*Flatten.*not one apply can tile"):
        fd.apply(dense, x)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 9, 9, 3\)"):
        fd.predict(models.Sequential([layers.Conv2D(2, 3, input_shape=(9, 9, 3))]), x)
    with pytest.raises(TypeError, match="fastconv model"):
        fd.predict(object(), x)


def test_a_worker_killed_mid_computation_changes_nothing(client, rng):
    def slow(block):        # local, so it travels by value: workers cannot import tests/
        time.sleep(0.15)
        return block

    x = rng.standard_normal((2, 48, 40, 3)).astype(np.float32)
    k = rng.standard_normal((3, 3, 3, 8)).astype(np.float32)
    xd = da.from_array(x, chunks=(1, 12, 10, 3)).map_blocks(slow)     # 32 blocks, ~2.4 s
    future = client.compute(fd.conv2d(xd, k, padding="same", strides=2))
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(
            len(keys) for keys in client.has_what().values()) < 6:
        time.sleep(0.05)
    assert not future.done()
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    np.testing.assert_array_equal(future.result(timeout=60),
                                  fastconv.conv2d(x, k, padding="same", strides=2))
    client.wait_for_workers(2, timeout=30)
    assert set(client.run(os.getpid).values()) != set(pids.values())    # one was replaced


def test_a_halo_does_not_keep_its_whole_chunk_alive():
    # a halo waits for the next row of tiles: it must be its own few rows, not a view that
    # holds the whole chunk in the worker's memory until then
    block = np.zeros((1, 64, 64, 3), np.float32)
    halo = fd._piece(block, 63, 64, 0, 64)
    assert halo.shape == (1, 1, 64, 3) and not np.shares_memory(halo, block)
    most = fd._piece(block, 1, 64, 0, 64)       # most of the chunk: a view, no copy
    assert most.shape == (1, 63, 64, 3) and np.shares_memory(most, block)


@pytest.mark.parametrize("recompute", [True, False])
def test_halos_recomputed_or_kept_give_the_same_answer(rng, recompute):
    x = rng.standard_normal((2, 23, 19, 4)).astype(np.float32)
    kern = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    xd = da.from_array(x, chunks=(1, 6, 5, 4)) * 1      # a computed source, cloned or kept
    y = fd.conv2d(xd, kern, padding="same", recompute_halos=recompute)
    z = fd.max_pool2d(y, 3, strides=2, padding="same")   # fastconv's own input: kept
    want_y = fastconv.conv2d(x, kern, padding="same")
    got_y, got_z = dask.compute(y, z, scheduler="sync")
    np.testing.assert_array_equal(got_y, want_y)
    np.testing.assert_array_equal(got_z, fastconv.max_pool2d(want_y, 3, strides=2,
                                                             padding="same"))
    layers = z.__dask_graph__().layers
    assert sum(name.startswith("mul-") for name in layers) == (2 if recompute else 1)
    assert sum(name.startswith("fastconv-conv2d") for name in layers) == 1


def test_halos_are_recomputed_by_default_unless_the_input_is_fastconv_s_own():
    x = da.zeros((1, 12, 12, 2), np.float32, chunks=(1, 5, 5, 2))
    kern = np.ones((3, 3, 2, 2), np.float32)
    assert fd._recompute_halos(x, None, "f") is True
    assert fd._recompute_halos(fd.conv2d(x, kern), None, "f") is False
    with pytest.raises(TypeError, match="recompute_halos"):
        fd.conv2d(x, kern, recompute_halos="yes")
