"""fastconv's kernels and models on dask arrays: images larger than memory, batches larger
than one machine (the optional extra ``fastconv[dask]``: dask and distributed).

``conv2d`` and ``max_pool2d`` take an NHWC dask array chunked in any way along batch, height
and width, and return a dask array whose value is what ``fastconv.conv2d`` and
``fastconv.max_pool2d`` return for the whole array, bit for bit. ``predict`` runs a model
over a batch-chunked array; ``apply`` runs a fully convolutional stack over one large image,
tile by tile, with the overlaps its receptive field needs. They work with dask's threaded
scheduler and with ``dask.distributed`` (any cluster ``Client`` connects to).

How the tiles are cut. Input chunk boundary b becomes output boundary ceil(b / stride)
(rounded to even rows and columns where the Winograd path runs, so that its 2x2 tiles fall
where they fall on the whole image): regular input chunks give regular output chunks. Each
output tile gets the rows and columns of the input its windows read, from as many input
chunks as they span, however small those are (chunks smaller than the kernel or the stride
included): nothing is rechunked along batch, height or width. The
channels are joined into one chunk first if they are split (every output needs all of
them). Output chunks are about the input chunks divided by the strides.

Memory. A tile's pieces of its neighbours' chunks (its halos) are cut as copies, and by
default from a second computation of those chunks (``recompute_halos``), so a worker holds
the tiles it is computing and their inputs, not a band of whole chunks across the image
waiting for their own tiles.

Threads. Each task runs the kernels on one thread: dask's own threads (the threaded
scheduler's ``num_workers``, a distributed worker's ``nthreads``) fill the cores, so a worker
uses exactly the threads it was given, and no OpenMP pool is started per dask thread.
``threads_per_task`` gives each task more, for few large chunks on a wide worker.

Models travel as their architecture and weights (``pickle`` of a built model), once per
worker; each dask thread rebuilds its own copy once and keeps it for the graph's tasks.
"""
import itertools
import operator
import pickle
import threading

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
    from dask.graph_manipulation import clone
    from dask.highlevelgraph import HighLevelGraph
except ImportError as exc:          # pragma: no cover - depends on the installed extras
    raise ImportError("fastconv.dask needs dask: pip install 'fastconv[dask]' (dask[array] "
                      "and distributed)") from exc

from . import _api, _config

__all__ = ["conv2d", "max_pool2d", "predict", "apply"]


# ---------------------------------------------------------------------------------------------
# checking

def _dask_array(x, fn, ndim=4):
    if not isinstance(x, da.Array):
        raise TypeError(f"{fn}: x must be a dask array (dask.array.from_array, from_zarr, "
                        f"...), got {type(x).__name__}; for a NumPy array use "
                        f"fastconv.{fn.split('.')[-1]}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{fn}: x must be 4-D (batch, height, width, channels), got shape "
                         f"{x.shape}")
    if any(np.isnan(s) for s in x.shape):
        raise ValueError(f"{fn}: x has unknown chunk sizes {x.chunks}; call "
                         f"x.compute_chunk_sizes() first")
    return x


def _floating(x, fn):
    """x's dtype checked as fastconv's kernels check an array's (float16/32/64 only)."""
    _api.checks.floating_array(np.empty((0,), x.dtype), "x", fn)


def _threads(threads_per_task, fn):
    n = operator.index(threads_per_task)
    if n < 1:
        raise ValueError(f"{fn}: threads_per_task must be >= 1, got {n}")
    return n


class _omp_threads:
    """The kernels' thread count for the calling thread, inside the block (for the code that
    reads get_num_threads(): layers and models)."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.previous = _config.set_num_threads(self.n)

    def __exit__(self, *exc):
        _config.set_num_threads(self.previous)


# ---------------------------------------------------------------------------------------------
# tiling arithmetic (plain integers: no dask here)

def _starts(chunks):
    return list(itertools.accumulate((0,) + tuple(chunks)))


def _output_bounds(in_bounds, stride, out_size, tile):
    """Output chunk boundaries along one axis from the input's: input chunk boundary b
    becomes output boundary ceil(b / stride) (rounded up to a multiple of the Winograd tile,
    when tile is not 0, so that chunks hold whole tiles of the image's), so that regular
    input chunks whose size the stride divides give regular output chunks (what zarr wants);
    empty chunks are dropped. Padding does not move them: the halos reach both ways."""
    cuts = {0, out_size}
    for b in in_bounds[1:-1]:
        o = -(-b // stride)
        if tile:
            o += -o % tile
        cuts.add(min(max(o, 0), out_size))
    return sorted(cuts)


def _needs(o0, o1, window, stride, pad, size):
    """(first, stop, local pad) of the input rows outputs o0..o1-1 read, clipped to the
    image; the local pad is how far the first window starts before the first row read."""
    lo = o0 * stride - pad
    hi = (o1 - 1) * stride - pad + window
    first, stop = max(lo, 0), min(hi, size)
    return first, stop, first - lo


def _pieces(first, stop, in_bounds):
    """[(chunk index, start, stop) within the chunk] covering input rows first..stop-1."""
    out = []
    for j in range(len(in_bounds) - 1):
        a, b = max(first, in_bounds[j]), min(stop, in_bounds[j + 1])
        if a < b:
            out.append((j, a - in_bounds[j], b - in_bounds[j]))
    return out


# ---------------------------------------------------------------------------------------------
# the graph: per output tile, slices of the input chunks it needs, joined, then a kernel

def _piece(block, a, b, c, d):
    """Rows a:b, columns c:d of a chunk; a copy when that is under half of it, so a halo
    waiting for the next row of tiles keeps its few rows alive, not the whole chunk (a view
    would)."""
    view = block[:, a:b, c:d]
    return view.copy() if 2 * view.size < block.size else view


def _join(blocks):
    """One array from a grid [rows][cols] of NHWC blocks."""
    rows = [r[0] if len(r) == 1 else np.concatenate(r, axis=2) for r in blocks]
    return rows[0] if len(rows) == 1 else np.concatenate(rows, axis=1)


def _tiled(unjoined, name, tiles_h, tiles_w, out_channels, meta, task, constants,
           recompute_halos=False):
    """A dask array named name from tiles along height and width: tiles_h is a list of
    ((o0, o1), (first, stop), extra) per output chunk row (extra: that tile's arguments to
    task), tiles_w the same for columns; task(blocks, extra_h, extra_w, *constants) computes
    one output block from the grid of input pieces. constants (arrays: kernels, models) go
    into the graph once each. unjoined is the input as given; its channels are joined into
    one chunk here. recompute_halos: pieces for any tile but the chunk's own (the one it
    takes most of) come from a clone of unjoined, computed again and dropped once cut
    (cloned before the channels' rechunk: dask cannot fuse a cloned rechunk)."""
    x = _one_chunk_of_channels(unjoined)
    in_h, in_w = _starts(x.chunks[1]), _starts(x.chunks[2])
    const_keys = []
    layer = {}
    for i, value in enumerate(constants):
        key = (f"{name}-const", i)
        layer[key] = value
        const_keys.append(key)
    piece = f"{name}-piece"
    again = x
    if recompute_halos:
        again = _one_chunk_of_channels(clone(unjoined))
    for n in range(x.numblocks[0]):
        for th, ((_, _), (h0, h1), extra_h) in enumerate(tiles_h):
            for tw, ((_, _), (w0, w1), extra_w) in enumerate(tiles_w):
                grid = []
                rows, cols = _pieces(h0, h1, in_h), _pieces(w0, w1, in_w)
                # the tile's own chunk: the one it takes most of; the others give halos
                own = (max(rows, key=lambda p: p[2] - p[1])[0],
                       max(cols, key=lambda p: p[2] - p[1])[0])
                for jh, a, b in rows:
                    row = []
                    for jw, c, d in cols:
                        source = (x.name if (jh, jw) == own else again.name, n, jh, jw, 0)
                        whole = (a, b) == (0, x.chunks[1][jh]) and \
                            (c, d) == (0, x.chunks[2][jw])
                        if whole:
                            row.append(source)
                        else:
                            key = (piece, n, th, tw, jh, jw)
                            layer[key] = (_piece, source, a, b, c, d)
                            row.append(key)
                    grid.append(row)
                layer[(name, n, th, tw, 0)] = (task, grid, extra_h, extra_w, *const_keys)
    chunks = (x.chunks[0], tuple(o1 - o0 for (o0, o1), _, _ in tiles_h),
              tuple(o1 - o0 for (o0, o1), _, _ in tiles_w), (out_channels,))
    graph = HighLevelGraph.from_collections(name, layer,
                                            dependencies=[x] if again is x else [x, again])
    return da.Array(graph, name, chunks, meta=meta)


def _window_tiles(in_chunks, size, window, stride, pad, out_size, tile):
    """tiles_h (or _w) for one window sliding along one axis: extra = (local pad, outputs);
    tile: the Winograd tile the convolution takes (0 for none)."""
    bounds = _output_bounds(_starts(in_chunks), stride, out_size, tile)
    tiles = []
    for o0, o1 in zip(bounds, bounds[1:]):
        first, stop, local = _needs(o0, o1, window, stride, pad, size)
        tiles.append(((o0, o1), (first, stop), (local, o1 - o0)))
    return tiles


def _recompute_halos(x, recompute_halos, fn):
    """recompute_halos checked; None: yes unless fastconv.dask work made x (costly chunks)."""
    if recompute_halos is None:
        return not any(str(layer).startswith("fastconv-") for layer in x.__dask_graph__().layers)
    if not isinstance(recompute_halos, (bool, np.bool_)):
        raise TypeError(f"{fn}: recompute_halos must be True, False or None, got "
                        f"{recompute_halos!r}")
    return bool(recompute_halos)


def _one_chunk_of_channels(x):
    return x if x.numblocks[3] == 1 else x.rechunk({3: -1})


def _conv_task(blocks, extra_h, extra_w, kernel, u, bias, strides, relu, threads, result):
    return _api.conv.conv2d_region(_join(blocks), kernel, u, bias, strides, extra_h[0],
                                   extra_w[0], (extra_h[1], extra_w[1]), relu, threads, result)


def _pool_task(blocks, extra_h, extra_w, pool_size, strides, threads):
    return _api.pool.max_pool2d_region(_join(blocks), pool_size, strides, extra_h[0], extra_w[0],
                                       (extra_h[1], extra_w[1]), threads)


def conv2d(x, kernel, bias=None, *, strides=1, padding="valid", activation=None,
           threads_per_task=1, recompute_halos=None):
    """``fastconv.conv2d`` of an NHWC dask array: a dask array of the same value, bit for bit.

    x may be chunked in any way along batch, height and width; its channels are rechunked
    into one chunk if they are split. kernel and bias are NumPy arrays (array_like), as for
    fastconv.conv2d, and go into the graph once. Output chunks follow the input's: along
    height and width, input chunk boundary b becomes output boundary ceil(b / stride)
    (rounded up to even for the Winograd path); along the batch, the input's own. Arguments are checked here, as fastconv.conv2d checks
    them, before anything is computed.

    threads_per_task : int, keyword-only, default 1: the kernels' threads in each task (dask's
        threads fill the cores; see the module's notes).
    recompute_halos : bool or None, keyword-only: True computes each input chunk a second
        time to cut the halos its neighbours' tiles need (x read again from zarr, say), so no
        worker keeps a neighbour's whole chunk until that neighbour's own tile runs: memory
        stays bounded by the tiles in flight, not a band of chunks across the image. False
        keeps the chunks instead (right when x is costly to compute). None (the default):
        True, unless a fastconv.dask call is anywhere in x's graph.
    """
    fn = "fastconv.dask.conv2d"
    x = _dask_array(x, fn)
    _floating(x, fn)
    args, kernel, bias, compute, result = _api.conv.conv_operands(fn, x, kernel, bias, strides,
                                                                  padding, activation)
    f = kernel.shape[3]
    threads = _threads(threads_per_task, fn)
    recompute = _recompute_halos(x, recompute_halos, fn)
    kernel = np.array(kernel, compute, order="C")
    bias = None if bias is None else np.array(bias, compute)
    winograd = _api.conv.winograd_pays(args, kernel.shape)          # its tile, 0 for none
    u = _api.conv.winograd_kernel(kernel, winograd) if winograd else None
    (kh, kw), (sh, sw) = kernel.shape[:2], (args.sh, args.sw)
    tiles_h = _window_tiles(x.chunks[1], x.shape[1], kh, sh, args.pt, args.oh, winograd)
    tiles_w = _window_tiles(x.chunks[2], x.shape[2], kw, sw, args.pl, args.ow, winograd)
    relu = activation == "relu"
    name = "fastconv-conv2d-" + tokenize(x, kernel, bias, sh, sw, args.padding, relu, threads,
                                         result.str, recompute)
    return _tiled(x, name, tiles_h, tiles_w, f, np.empty((0, 0, 0, 0), result), _conv_task,
                  (kernel, u, bias, (sh, sw), relu, threads, result), recompute)


def max_pool2d(x, pool_size=2, *, strides=None, padding="valid", threads_per_task=1,
               recompute_halos=None):
    """``fastconv.max_pool2d`` of an NHWC dask array: a dask array of the same value.

    Chunking, threads_per_task and recompute_halos as for conv2d (windows and strides need
    not line up with the chunks; split channels are joined into one chunk). strides default
    to pool_size, as in Keras.
    """
    fn = "fastconv.dask.max_pool2d"
    x = _dask_array(x, fn)
    _floating(x, fn)
    args = _api.pool.PoolArgs(fn, x, pool_size, strides, padding)
    threads = _threads(threads_per_task, fn)
    recompute = _recompute_halos(x, recompute_halos, fn)
    _, result = _api.checks.dtypes([np.empty((0,), x.dtype)])
    tiles_h = _window_tiles(x.chunks[1], x.shape[1], args.ph, args.sh, args.pt, args.oh, False)
    tiles_w = _window_tiles(x.chunks[2], x.shape[2], args.pw, args.sw, args.pl, args.ow, False)
    name = "fastconv-max_pool2d-" + tokenize(x, args.kernel_args(), args.out_shape, threads,
                                             recompute)
    return _tiled(x, name, tiles_h, tiles_w, x.shape[3], np.empty((0, 0, 0, 0), result),
                  _pool_task, ((args.ph, args.pw), (args.sh, args.sw), threads), recompute)


# ---------------------------------------------------------------------------------------------
# models

class _Shipped:
    """A model as it travels in a graph: its pickle (architecture and weights), rebuilt once
    per process and thread (layers keep state between forward and backward, so threads do
    not share one)."""

    _cache = {}
    _lock = threading.Lock()

    def __init__(self, model):
        self.data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        self.token = tokenize(self.data)

    def __dask_tokenize__(self):
        return self.token

    def model(self):
        key = (self.token, threading.get_ident())
        with self._lock:
            model = self._cache.get(key)
        if model is None:
            model = pickle.loads(self.data)
            with self._lock:
                if len(self._cache) > 64:       # models of graphs long finished
                    self._cache.clear()
                self._cache[key] = model
        return model


def _check_model_input(model, x, fn):
    """model a built fastconv model and x a dask array of inputs it takes, or an error."""
    from .models import Model
    if not isinstance(model, Model):
        raise TypeError(f"{fn}: model must be a fastconv model (models.Sequential or "
                        f"models.Model), got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"{fn}: model {model.name!r} is not built: give it an input shape "
                         f"(input_shape=... or layers.Input) first")
    model._check_input_dtype(x.dtype, fn)
    model._check_input_shape(x.shape, fn)


def _predict_task(block, shipped, batch_size, threads):
    with _omp_threads(threads):
        return shipped.model().predict(block, batch_size=batch_size, verbose=0)


def predict(model, x, batch_size=None, *, threads_per_task=1):
    """``model.predict`` over a dask array of inputs chunked along the batch: a dask array of
    the predictions, equal to ``model.predict(x.compute())``.

    x's other axes are joined into one chunk if they are split. Each chunk is one task,
    predicted in batches of batch_size (32) by the worker's own copy of the model. Models
    with one output.
    """
    fn = "fastconv.dask.predict"
    x = _dask_array(x, fn, ndim=None)
    _check_model_input(model, x, fn)
    threads = _threads(threads_per_task, fn)
    if len(model.outputs) != 1:
        raise ValueError(f"{fn}: model {model.name!r} has {len(model.outputs)} outputs; "
                         f"predict takes models with one")
    sample = model.predict(np.zeros((1,) + x.shape[1:], x.dtype), verbose=0)
    x = x.rechunk({i: -1 for i in range(1, x.ndim)})
    shipped = _Shipped(model)
    name = "fastconv-predict-" + tokenize(x, shipped, batch_size, threads)
    const = (f"{name}-model",)
    layer = {const: shipped}
    tail = (0,) * (sample.ndim - 1)
    for n in range(x.numblocks[0]):
        layer[(name, n) + tail] = (_predict_task, (x.name, n) + (0,) * (x.ndim - 1), const,
                                   batch_size, threads)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[x])
    chunks = (x.chunks[0],) + tuple((s,) for s in sample.shape[1:])
    return da.Array(graph, name, chunks, meta=sample[:0])


# the layers apply runs tile by tile: windows (by kind) and pointwise layers, whose outputs
# at a pixel depend on that pixel alone
_POINTWISE = ("Activation", "Dropout", "BatchNormalization", "Rescaling", "ReLU", "LeakyReLU",
              "Identity", "GaussianNoise", "SpatialDropout2D")


def _stack(model, fn):
    """[(kind, layer)] for a chain of the layers apply can tile; ValueError naming any other."""
    if not model._is_chain:
        raise ValueError(f"{fn}: model {model.name!r} is not a chain of layers (each taking "
                         f"the one before): apply tiles plain stacks only")
    steps = []
    for node in model._graph.nodes:
        layer = node.layer
        kind = type(layer).__name__
        if kind in ("Conv2D", "MaxPooling2D"):
            steps.append((kind, layer))
        elif kind in _POINTWISE and (kind != "BatchNormalization" or layer.axis in (-1, 3)):
            steps.append(("pointwise", layer))
        else:
            raise ValueError(f"{fn}: layer {layer.name!r} ({kind}) is not one apply can tile: "
                             f"a fully convolutional stack has Conv2D, MaxPooling2D and "
                             f"pointwise layers ({', '.join(_POINTWISE)}) only; use predict "
                             f"for whole images")
    return steps


def _geometry(steps, h, w):
    """Per step: None (pointwise) or (window, strides, pads, input size, output size,
    Winograd tile or 0), each but the last a (height, width) pair, for the model run on an h x w image
    as the layers' kernels would run it; and the output's (height, width)."""
    out = []
    for kind, layer in steps:
        if kind == "pointwise":
            out.append(None)
            continue
        window = layer.kernel_size if kind == "Conv2D" else layer.pool_size
        strides = layer.strides
        size_out = tuple(_api.conv_output_size(n, k, s, layer.padding)
                         for n, k, s in zip((h, w), window, strides))
        if min(size_out) < 1:
            raise ValueError(f"fastconv.dask.apply: layer {layer.name!r} gets a {h}x{w} "
                             f"input, too small for its {window[0]}x{window[1]} window")
        pads = tuple(_api.padding_amounts(n, k, s, layer.padding)[0]
                     for n, k, s in zip((h, w), window, strides))
        winograd = kind == "Conv2D" and _api.conv.winograd_shape_pays(
            window[0], window[1], strides[0], strides[1], layer.kernel.shape[2],
            layer.filters, size_out[0], size_out[1], 1.35)
        out.append((window, strides, pads, (h, w), size_out, winograd))
        h, w = size_out
    return out, (h, w)


def _stack_tiles(in_chunks, axis, geometry):
    """tiles along one axis (0: height, 1: width) for the whole stack: the output chunks
    follow the input's through each layer; then for each, back from the output, the range
    every layer must produce: extra = [(local pad, outputs, Winograd tile or 0) per step, None for
    the pointwise ones]."""
    bounds = _starts(in_chunks)
    for g in geometry:
        if g is not None:
            _, strides, _, _, size_out, winograd = g
            bounds = _output_bounds(bounds, strides[axis], size_out[axis], winograd)
    tiles = []
    for t0, t1 in zip(bounds, bounds[1:]):
        o0, o1 = t0, t1
        extra, after = [], None
        for g in reversed(geometry):
            if g is None:
                extra.append(None)
                continue
            window, strides, pads, size_in, size_out, winograd = g
            if winograd:            # the tiles (2x2 or 4x4) where the whole image has them,
                o0 -= o0 % winograd     # whole: a tile's outputs depend, in their rounding,
                o1 = min(o1 + -o1 % winograd, size_out[axis])   # on all the rows it reads
            if after is not None:   # the next layer crops what this one makes for Winograd
                after[1][3] = after[0] - o0
            first, stop, local = _needs(o0, o1, window[axis], strides[axis], pads[axis],
                                        size_in[axis])
            entry = [local, o1 - o0, winograd, 0]
            extra.append(entry)
            after = (first, entry)
            o0, o1 = first, stop
        tiles.append(((t0, t1), (o0, o1), [e and tuple(e) for e in reversed(extra)]))
    return tiles


def _crop(x, eh, ew):
    return x[:, eh[3]:, ew[3]:] if eh[3] or ew[3] else x


def _apply_task(blocks, extra_h, extra_w, shipped, dtype, threads):
    model = shipped.model()
    steps = _stack(model, "fastconv.dask.apply")
    x = _join(blocks).astype(dtype, copy=False)
    with _omp_threads(threads):
        for (kind, layer), eh, ew in zip(steps, extra_h, extra_w):
            if kind == "pointwise":
                x = layer.forward(x, training=False)
                continue
            # crop what an earlier layer made for a neighbour's Winograd tiles
            x = _crop(x, eh, ew)
            if kind == "MaxPooling2D":
                x = _api.pool.max_pool2d_region(x, layer.pool_size, layer.strides, eh[0], ew[0],
                                                (eh[1], ew[1]), threads)
                continue
            relu = layer.activation.name == "relu"
            # the Winograd decision is the whole image's, made when the graph was built
            u = _api.conv.winograd_kernel(layer.kernel, eh[2]) if eh[2] else None
            bias = layer.bias if layer.use_bias else None
            x = _api.conv.conv2d_region(x, layer.kernel, u, bias, layer.strides, eh[0], ew[0],
                                        (eh[1], ew[1]), relu, threads)
            if not relu:
                x = layer.activation.forward(x)
    return x


def apply(model, x, *, threads_per_task=1, recompute_halos=None):
    """A fully convolutional model run over one or more large images, tile by tile: a dask
    array equal to ``model.predict(x.compute())``.

    model is a chain of Conv2D, MaxPooling2D and pointwise layers (Activation, Dropout,
    BatchNormalization, Rescaling, ReLU, LeakyReLU, Identity, GaussianNoise,
    SpatialDropout2D), built for inputs of x's size or of any size (an input
    shape of (None, None, channels)). x is NHWC, chunked in any way along batch, height and
    width (channels joined into one chunk); each output tile reads the input tile that the
    stack's receptive field needs, overlaps included, and runs every layer on it, so no
    intermediate activation is held whole. Output chunks follow the input's, divided by the
    stack's total stride. threads_per_task and recompute_halos as for conv2d.
    """
    fn = "fastconv.dask.apply"
    x = _dask_array(x, fn)
    _check_model_input(model, x, fn)
    threads = _threads(threads_per_task, fn)
    recompute = _recompute_halos(x, recompute_halos, fn)
    steps = _stack(model, fn)
    geometry, _ = _geometry(steps, x.shape[1], x.shape[2])
    tiles_h = _stack_tiles(x.chunks[1], 0, geometry)
    tiles_w = _stack_tiles(x.chunks[2], 1, geometry)
    dtype = model._graph.input_dtype
    out_channels = model.output_shape[3]
    out_dtype = model._graph.outputs[0].dtype
    shipped = _Shipped(model)
    name = "fastconv-apply-" + tokenize(x, shipped, threads, recompute)
    return _tiled(x, name, tiles_h, tiles_w, out_channels,
                  np.empty((0, 0, 0, 0), out_dtype), _apply_task,
                  (shipped, dtype, threads), recompute)
