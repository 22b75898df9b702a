"""fastconv.dask on a dask.distributed LocalCluster, in one run:

1. a multi-channel 3x3 "same" convolution of a large image against dask-image's
   ndfilters.correlate (one call per input/output channel pair, summed: what dask-image
   needs for it), same cluster, same chunks;
2. the same convolution on 1 worker and on 2 (1 thread each);
3. an image whose work does not fit in memory, from zarr to zarr: uint8 in, 3x3 conv to 16
   channels, ReLU, 2x2 max pooling, float32 out; time, and each worker's peak resident memory
   (VmHWM, read on workers started for this run alone; Linux).

    pip install ".[dask]" dask-image zarr
    python benchmarks/dask_tiles.py                          # 4000x4000; 15000 and 30000
    python benchmarks/dask_tiles.py --size 2000 --big 8000   # a quick look

Part 3 writes its arrays (2.7 GB in, 14.4 GB out at 30000) under --dir (a temporary folder by
default) and removes them afterwards.
"""
import argparse
import logging
import os
import platform
import shutil
import tempfile
import time

import numpy as np


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cluster(workers):
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=0,
                           silence_logs=logging.CRITICAL)   # not the heartbeats cut at close
    return cluster, Client(cluster)


def _buffer_cache_limit():
    import fastconv
    limit = fastconv.set_buffer_cache_limit(0)
    fastconv.set_buffer_cache_limit(limit)
    return limit


def _peak_rss_mib(client):
    """Each worker's peak resident memory, MiB: VmHWM, which starts afresh at the worker's
    exec (ru_maxrss does not: it carries the peak of the process that forked it)."""
    def peak():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    return sorted(client.run(peak).values())


def _seconds(client, lazy, repeat):
    """Best time to compute lazy on the workers, leaving the result there (what a pipeline
    that writes to zarr or reduces pays; bringing 1 GB back to this process is not the
    kernels' cost)."""
    from distributed import wait

    def tasks(dask_scheduler):
        return len(dask_scheduler.tasks)
    before = client.run_on_scheduler(tasks)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        done = client.persist(lazy)
        wait(done)
        times.append(time.perf_counter() - t)
        del done
        while client.run_on_scheduler(tasks) > before:    # released, so the next run computes
            time.sleep(0.05)
    return min(times)


def _dask_image_conv(x, kernel):
    import dask.array as da
    from dask_image.ndfilters import correlate
    planes = []
    for f in range(kernel.shape[3]):
        acc = None
        for c in range(kernel.shape[2]):
            term = correlate(x[0, :, :, c], kernel[:, :, c, f], mode="constant", cval=0.0)
            acc = term if acc is None else acc + term
        planes.append(acc)
    return da.stack(planes, axis=-1)[None]


def _map_overlap_conv(x, kernel):
    """The stride-1 'same' 3x3 case with dask's own halos: what fastconv.dask's plan is
    measured against (map_overlap cannot express strides that do not divide the chunks)."""
    import fastconv
    return x.map_overlap(lambda block: fastconv.conv2d(block, kernel, padding="valid"),
                         depth={1: 1, 2: 1}, boundary=0, trim=False,
                         chunks=x.chunks[:3] + ((kernel.shape[3],),), dtype=np.float32)


def _image_on(client, size, chunk, channels=3):
    """A random image made on the workers (not shipped in the graph), kept there."""
    import dask.array as da
    from distributed import wait
    x = client.persist(da.random.default_rng(0).random((1, size, size, channels),
                                                      dtype=np.float32,
                                                      chunks=(1, chunk, chunk, channels)))
    wait(x)
    return x


def part_one_and_two(size, chunk, repeat):
    import fastconv
    import fastconv.dask as fd
    kernel = np.random.default_rng(0).standard_normal((3, 3, 3, 16)).astype(np.float32)
    print(f"\n1. {size}x{size}x3 float32 -> 3x3 conv, 16 channels, 'same'; chunks "
          f"{chunk}x{chunk}; 2 workers x 1 thread; best of {repeat}, results left on the "
          f"workers")
    cluster, client = _cluster(2)
    with cluster, client:
        x = _image_on(client, size, chunk)
        image = x.compute()
        t = time.perf_counter()
        want = fastconv.conv2d(image, kernel, padding="same")
        t_mem = time.perf_counter() - t
        ours, theirs = fd.conv2d(x, kernel, padding="same"), _dask_image_conv(x, kernel)
        overlap = _map_overlap_conv(x, kernel)
        np.testing.assert_array_equal(ours.compute(), want)
        np.testing.assert_array_equal(overlap.compute(), want)
        err = float(np.abs(theirs.compute() - want).max())
        t_fc, t_di = _seconds(client, ours, repeat), _seconds(client, theirs, repeat)
        t_mo = _seconds(client, overlap, repeat)
        print(f"   fastconv.dask.conv2d       {t_fc:8.3f} s   (equal to fastconv.conv2d)")
        print(f"   map_overlap + conv2d       {t_mo:8.3f} s   (the same kernels, dask's halos; "
              f"stride 1 only)")
        print(f"   dask-image correlate x48   {t_di:8.3f} s   ({t_di / t_fc:.1f}x fastconv's "
              f"time; max |difference| {err:.2g})")
        print(f"   (fastconv.conv2d in memory, this process, {fastconv.get_num_threads()} "
              f"threads: {t_mem:.3f} s, first call)")
    wide = np.random.default_rng(3).standard_normal((3, 3, 32, 32)).astype(np.float32)
    half = size // 2
    print(f"\n2. 1 worker against 2 (1 thread each): the same convolution (it mostly writes "
          f"memory), and a {half}x{half}x32 -> 32 channels one (it mostly computes)")
    for workers in (1, 2):
        cluster, client = _cluster(workers)
        with cluster, client:
            x = _image_on(client, size, chunk)
            t = _seconds(client, fd.conv2d(x, kernel, padding="same"), repeat)
            x = _image_on(client, half, chunk // 2, channels=32)
            t32 = _seconds(client, fd.conv2d(x, wide, padding="same"), repeat)
            print(f"   {workers} worker{'s' if workers > 1 else ' '}                  {t:8.3f} s"
                  f"   {t32:8.3f} s")


def part_three(size, chunk, folder, recompute_halos):
    import dask.array as da
    import fastconv.dask as fd
    source, target = os.path.join(folder, "in.zarr"), os.path.join(folder, "out.zarr")
    kernel = np.random.default_rng(1).standard_normal((3, 3, 3, 16)).astype(np.float32)
    bias = np.zeros(16, np.float32)
    print(f"\n3. {size}x{size}x3 uint8 on zarr ({size * size * 3 / 1e9:.1f} GB) -> 3x3 conv to 16 "
          f"channels ({size * size * 64 / 1e9:.1f} GB of float32 if held whole), ReLU, 2x2 "
          f"pooling -> zarr ({size * size * 16 / 1e9:.1f} GB); chunks {chunk}x{chunk}")
    cluster, client = _cluster(2)
    with cluster, client:
        pixels = da.random.default_rng(2).integers(0, 256, (1, size, size, 3), dtype=np.uint8,
                                                   chunks=(1, chunk, chunk, 3))
        t = time.perf_counter()
        pixels.to_zarr(source)
        print(f"   writing the input          {time.perf_counter() - t:8.1f} s")
    cluster, client = _cluster(2)       # fresh workers: their peak memory is this run's
    with cluster, client:
        t = time.perf_counter()
        x = da.from_zarr(source).astype(np.float32) / 255
        y = fd.max_pool2d(fd.conv2d(x, kernel, bias, padding="same", activation="relu",
                                    recompute_halos=recompute_halos), 2)
        y.to_zarr(target)
        elapsed = time.perf_counter() - t
        peaks = _peak_rss_mib(client)
        out = da.from_zarr(target)
        print(f"   conv + ReLU + pool, to zarr {elapsed:7.1f} s   output {out.shape} "
              f"{out.dtype}, {out.nbytes / 1e9:.1f} GB")
        print(f"   peak memory per worker     {', '.join(f'{p:.0f}' for p in peaks)} MiB "
              f"(one input chunk {chunk * chunk * 3 / 2**20:.0f} MiB as uint8, its conv "
              f"output {chunk * chunk * 64 / 2**20:.0f} MiB as float32)")
        cache = max(client.run(_buffer_cache_limit).values()) / 2**20
        print(f"   (of which fastconv's cache of freed outputs may hold up to {cache:.0f} MiB: "
              f"fastconv.set_buffer_cache_limit)")
        # a spot check against the in-memory kernels on one corner
        import fastconv
        corner = np.asarray(da.from_zarr(source)[:, :256, :256]).astype(np.float32) / 255
        want = fastconv.max_pool2d(fastconv.conv2d(corner, kernel, bias, padding="same",
                                                   activation="relu"), 2)
        np.testing.assert_array_equal(np.asarray(out[:, :127, :127]), want[:, :127, :127])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="0 skips parts 1 and 2")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--big", type=int, nargs="+", default=[15000, 30000],
                        help="image sides for part 3, each on fresh workers (peak memory must "
                             "not grow with them); 0 skips part 3")
    parser.add_argument("--big-chunk", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--keep-halos", action="store_true",
                        help="part 3 with recompute_halos=False: workers keep the chunks "
                             "their neighbours' halos come from")
    args = parser.parse_args()
    import fastconv
    print(f"{_cpu_name()}, {os.cpu_count()} CPUs; fastconv {fastconv.__version__}, SIMD path "
          f"{fastconv._config.simd_path()}")
    if args.size > 0:
        part_one_and_two(args.size, args.chunk, args.repeat)
    for size in args.big:
        if size <= 0:
            continue
        folder = tempfile.mkdtemp(dir=args.dir, prefix="fastconv-dask-")
        try:
            part_three(size, args.big_chunk, folder, False if args.keep_halos else None)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
