#!/usr/bin/env python3
"""Coverage-guided fuzzing of fastconv's public surface with atheris (libFuzzer).

Each input is decoded into one call: a convolution (direct, Winograd, transposed, or
depthwise with depth multipliers and dilations) or pooling kernel, forward or backward, with
arbitrary shapes, strides, paddings, pool sizes, dtypes, byte orders, memory layouts (Fortran order, negative and zero
strides, unaligned data, read-only) and index arrays; the resampling kernel behind the
augmentation layers (affine_transform and its adjoint) with arbitrary maps, sizes, modes and
fill values; BatchNormalization's per-channel passes; or ``load_weights`` / ``models.load_model`` on a mutated file.
The contract checked for every input: the call returns what the NumPy reference returns
(within rounding, exactly for pooling), or raises ValueError, TypeError or MemoryError with a
message. Anything else (another exception, a wrong answer, a crash, a hang, a sanitizer
report) is a finding: libFuzzer stops and writes the input as ``crash-*``.

Run it against the sanitizer build (``bash .ci/fuzz`` builds one and runs this):

    python fuzz/fuzz_fastconv.py CORPUS_DIR -max_total_time=3600 -timeout=30

Replay one input: ``python fuzz/fuzz_fastconv.py crash-<hash>`` (``FUZZ_EXPLAIN=1`` prints the
decoded call first). ``python fuzz/fuzz_fastconv.py --write-seeds DIR`` writes the
hand-made seeds (whole weights files) into DIR; fuzz/seed_corpus.zip holds them and the merged
corpus of earlier runs (libFuzzer's -merge=1).
"""
import contextlib
import io
import os
import sys
import tempfile

import numpy as np

import atheris

with atheris.instrument_imports(include=["fastconv"]):
    import fastconv
    from fastconv import _api, _config, layers, models, reference

fastconv.set_num_threads(1)             # libFuzzer's coverage is per process; one thread is enough

EXPLAIN = bool(os.environ.get("FUZZ_EXPLAIN"))
ALLOWED = (ValueError, TypeError, MemoryError)


class Refused(Exception):
    """fastconv refused the call as its contract allows: the input ends here."""


def call(f, *args, **kwargs):
    """f(*args, **kwargs), a refusal with a message turned into Refused. Only fastconv's own
    calls go through here: an error in the checking code below is a finding, not a refusal."""
    try:
        return f(*args, **kwargs)
    except ALLOWED as e:
        if not str(e):
            raise AssertionError(f"{type(e).__name__} without a message") from e
        if EXPLAIN:
            print(f"-> {type(e).__name__}: {e}")
        raise Refused from e
DTYPES = ["<f4", "<f8", ">f4", ">f8", "<f2", "<i4", "|b1", "<c8", "O", "<f16" if np.dtype(
    np.longdouble).itemsize == 16 else "<f8", "|u1", "<u8"]
PADDINGS = ["valid", "same", "SAME", "Valid", "full", "", None, 3]
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, 1e-310, 3e38, 1e308, -1e308]


class Input:
    """Draws values from the fuzzer's bytes (zeros once they run out)."""

    def __init__(self, data):
        self.fdp = atheris.FuzzedDataProvider(data)     # integers come off the end

    def int(self, lo, hi):
        return self.fdp.ConsumeIntInRange(lo, hi)

    def pick(self, items):
        return items[self.int(0, len(items) - 1)]

    def bool(self):
        return self.int(0, 1) == 1

    def window(self, lo=1, hi=4):
        """An int or pair, now and then something that is neither or out of range."""
        kind = self.int(0, 15)
        if kind == 0:
            return self.pick([0, -1, 2 ** 31, 2 ** 63, (1,), (1, 2, 3), "2", 2.0, True, None,
                              (2, None), np.int64(2), (np.int8(1), 3), 2 ** 31 - 1])
        if kind <= 6:
            return self.int(lo, hi)
        return (self.int(lo, hi), self.int(lo, hi))

    def array(self, shape, dtype):
        """An array of `shape` and `dtype` in some memory layout, values mostly ordinary."""
        scale = 10.0 ** self.int(-3, 3)
        size = int(np.prod(shape))
        values = np.array([self.int(-1000, 1000) / 250.0 for _ in range(min(size, 64))])
        values = np.resize(values if values.size else np.zeros(1), size) * scale
        if self.int(0, 7) == 0:
            for _ in range(self.int(1, 3)):
                if size:
                    values[self.int(0, size - 1)] = self.pick(SPECIALS)
        with np.errstate(all="ignore"):
            if dtype == "O":
                a = values.astype(object)
            else:
                a = values.astype(np.dtype(dtype))
        a = a.reshape(shape)
        layout = self.int(0, 9)
        if layout == 1:
            a = np.asfortranarray(a)
        elif layout == 2 and a.ndim:           # every other element of a bigger array
            big = np.repeat(a, 2, axis=-1)
            a = big[..., ::2]
        elif layout == 3 and a.ndim:           # reversed rows: negative strides
            a = np.flip(np.flip(a, 0), axis=-1).copy()
            a = np.flip(np.flip(a, 0), axis=-1)
        elif layout == 4 and a.dtype != object:   # data at an odd address
            raw = np.zeros(a.nbytes + 1, np.uint8)
            b = np.frombuffer(raw.data, a.dtype, count=a.size, offset=1).reshape(a.shape)
            b[...] = a
            a = b
        elif layout == 5 and size and a.ndim:  # one value broadcast: zero strides
            a = np.broadcast_to(a.reshape(-1)[:1].reshape((1,) * a.ndim), a.shape)
        if self.int(0, 3) == 0 and a.flags.writeable:
            a.flags.writeable = False
        return a


def shape4(inp, max_side=9, max_channels=5, max_batch=3):
    """(batch, height, width, channels), now and then with 16 to 70 channels on a small image
    (the Winograd paths and pooling's 64-channel chunks start there), now and then wrong."""
    wide = inp.int(0, 5) == 0
    shape = [inp.int(0, max_batch), inp.int(0, 5 if wide else max_side),
             inp.int(0, 5 if wide else max_side),
             inp.int(16, 70) if wide else inp.int(0, max_channels)]
    if inp.int(0, 15) == 0:
        shape = shape[:inp.int(0, 3)] if inp.bool() else shape + [1]    # wrong ndim
    return tuple(shape)


def huge_broadcast(inp, dtype):
    """A zero-stride array whose contiguous copy or output cannot fit in memory."""
    side = inp.pick([2 ** 20, 2 ** 24, 2 ** 28])
    return np.broadcast_to(np.zeros((1, 1, 1, 1), dtype), (side, side, 4, 1))


# ---------------------------------------------------------------------------------------------
# the contract

def close(actual, expected, magnitude, dtype):
    """actual equals expected up to rounding: within tol * (sum of |terms|) where that sum is
    finite and the dtype can hold it, equal (NaN included) elsewhere that it is finite."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    magnitude = np.asarray(magnitude, np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"shape {actual.shape}, expected {expected.shape}")
    tol = {2: 2e-2, 4: 1e-4, 8: 1e-9}[np.dtype(dtype).itemsize]
    limit = {2: 6e4, 4: 1e37, 8: 1e300}[np.dtype(dtype).itemsize]
    checked = np.isfinite(magnitude) & (magnitude < limit)
    with np.errstate(invalid="ignore"):
        # plus an absolute margin near the dtype's underflow: products of subnormals round
        # to its subnormal spacing (or flush to zero), whatever their relative error
        atol = 1000 * float(np.finfo(dtype).tiny)
        bad = checked & ~(np.abs(actual - expected) <= tol * magnitude + atol)
    if bad.any():
        i = np.unravel_index(np.argmax(bad), bad.shape)
        raise AssertionError(f"{int(bad.sum())} values off; at {i}: {actual[i]!r} != "
                             f"{expected[i]!r} (sum of |terms| {magnitude[i]!r})")


def result_dtype(*arrays):
    """The dtype fastconv returns for these inputs (its documented policy)."""
    r = np.result_type(*arrays)
    return np.dtype(np.float64) if r.itemsize == 8 else np.dtype(r.type)


def exact(actual, expected):
    if not np.array_equal(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                          equal_nan=True):
        raise AssertionError(f"pooling differs:\n{actual!r}\n{expected!r}")


def as64(a):
    return np.asarray(a, np.float64) if a is not None else None


def conv_reference(x, kernel, bias, backward_of=None, **kw):
    """The im2col reference, or the naive loops where a size is zero (im2col reshapes)."""
    empty = x.size == 0 or kernel.size == 0
    if backward_of is None:
        f = reference.naive_conv2d if empty else reference.im2col_conv2d
        return f(x, kernel, bias, **kw)
    f = reference.naive_conv2d_backward if empty else reference.im2col_conv2d_backward
    return f(backward_of, x, kernel, **kw)


def fuzz_conv(inp):
    dtype = inp.pick(DTYPES)
    kdtype = dtype if inp.int(0, 3) else inp.pick(DTYPES)
    xs = shape4(inp)
    if inp.int(0, 40) == 0:
        x = huge_broadcast(inp, dtype if dtype in ("<f4", "<f8") else "<f4")
    else:
        x = inp.array(xs, dtype)
    c = x.shape[3] if x.ndim == 4 else 1
    ks = (inp.int(0, 5), inp.int(0, 5), c if inp.int(0, 9) else inp.int(0, 4),
          inp.int(16, 40) if inp.int(0, 3) == 0 else inp.int(0, 5))
    kernel = inp.array(ks, kdtype)
    bias = inp.array((ks[3] if inp.int(0, 9) else inp.int(0, 6),), kdtype) if inp.bool() else None
    strides, padding = inp.window(1, 3), inp.pick(PADDINGS)
    activation = inp.pick([None, None, "relu", "linear", "tanh"])
    backward = inp.bool()
    # every 3x3 stride-1 convolution through the Winograd paths with this tile (0: as chosen)
    winograd = inp.pick([0, 2, 4])
    if EXPLAIN:
        print(f"conv{'_backward' if backward else ''} x {x.dtype}{x.shape} strides "
              f"{x.strides} kernel {kernel.dtype}{kernel.shape} bias "
              f"{None if bias is None else bias.shape} strides={strides!r} "
              f"padding={padding!r} activation={activation!r} winograd={winograd}")
    with forced_winograd(winograd):
        conv_call(inp, x, kernel, bias, strides, padding, activation, backward)


def forced_winograd(on):
    """Within the block, every 3x3 stride-1 convolution takes the Winograd paths with tile
    on (2 or 4; the kernel gradient's F(3x3, 2x2) either way), or (0) each takes the path
    fastconv picks for its shape."""
    saved = {name: getattr(_api.conv, name) for name in WINOGRAD_CHOICES}

    def pays(args, kernel_shape, x_shape=None):
        return on if kernel_shape[:2] == (3, 3) and (args.sh, args.sw) == (1, 1) else 0

    @contextlib.contextmanager
    def block():
        if on:
            for name in WINOGRAD_CHOICES:
                setattr(_api.conv, name, pays)
        try:
            yield
        finally:
            for name, fn in saved.items():
                setattr(_api.conv, name, fn)
    return block()


WINOGRAD_CHOICES = ("winograd_pays", "winograd_dx_pays", "winograd_dw_pays")


def winograd_taken(x, kernel, strides, padding):
    """Which of (forward, input gradient, kernel gradient) fastconv runs by Winograd for
    these arguments (as patched by forced_winograd, if it is)."""
    args = _api.conv.ConvArgs("fuzz", x, kernel, strides, padding)
    return (_api.conv.winograd_pays(args, kernel.shape),
            _api.conv.winograd_dx_pays(args, kernel.shape, x.shape),
            _api.conv.winograd_dw_pays(args, kernel.shape))


def normwise(mag, a, b, terms):
    """Where Winograd ran: its documented accuracy is normwise, relative to the largest
    product of the tensors' magnitudes (max |a| * max |b| * terms per output), not to each
    output's own terms: an output whose terms are tiny next to the largest in its tile loses
    them to rounding (the fuzzer found it with a 1e308 kernel tap). Both bounds are checked
    elsewhere: per output for the direct kernels, normwise for Winograd."""
    with np.errstate(all="ignore"):
        m = np.max(np.abs(a), initial=0.0) * np.max(np.abs(b), initial=0.0) * terms
    return np.maximum(mag, 16 * m)


def conv_call(inp, x, kernel, bias, strides, padding, activation, backward):
    if not backward:
        y = call(fastconv.conv2d, x, kernel, bias, strides=strides, padding=padding,
                 activation=activation)
        want = result_dtype(x, kernel, *([] if bias is None else [bias]))
        assert y.dtype == want, (y.dtype, want)
        with np.errstate(all="ignore"):
            ref = conv_reference(as64(x), as64(kernel), as64(bias), strides=strides,
                                 padding=padding)
            mag = conv_reference(np.abs(as64(x)), np.abs(as64(kernel)),
                                 None if bias is None else np.abs(as64(bias)),
                                 strides=strides, padding=padding)
            if activation == "relu":
                ref = np.maximum(ref, 0)
        if winograd_taken(x, kernel, strides, padding)[0]:
            mag = normwise(mag, as64(x), as64(kernel), int(np.prod(kernel.shape[:3])))
        close(y, ref, mag, y.dtype)
        return
    if x.size > 10 ** 6:
        return
    y_shape = call(fastconv.conv2d, np.zeros(x.shape, np.float32),
                   np.zeros(kernel.shape, np.float32), strides=strides, padding=padding).shape
    dy = inp.array(y_shape if inp.int(0, 15) else shape4(inp), inp.pick(DTYPES[:5]))
    compute_dx = inp.int(0, 3) != 0
    relu = inp.array(dy.shape, "<f4") if inp.int(0, 3) == 0 else None
    if EXPLAIN:
        print(f"  dy {dy.dtype}{dy.shape} strides {dy.strides} compute_dx={compute_dx} "
              f"relu_output={None if relu is None else (relu.dtype, relu.shape)}")
        np.save("/tmp/fuzz_case.npy", np.array([x, kernel, dy, relu], dtype=object),
                allow_pickle=True) if os.environ.get("FUZZ_SAVE") else None
    dx, dk, db = call(fastconv.conv2d_backward, dy, x, kernel, strides=strides,
                      padding=padding, compute_dx=compute_dx, relu_output=relu)
    g = as64(dy)
    if relu is not None:
        with np.errstate(invalid="ignore"):
            g = np.where(as64(relu) > 0, g, 0.0)
    with np.errstate(all="ignore"):
        ref = conv_reference(as64(x), as64(kernel), None, g, strides=strides,
                             padding=padding)
        mag = conv_reference(np.abs(as64(x)), np.abs(as64(kernel)), None, np.abs(g),
                             strides=strides, padding=padding)
    dtype = dk.dtype
    taken = winograd_taken(x, kernel, strides, padding)
    if taken[1]:
        mag = (normwise(mag[0], g, as64(kernel), kernel.shape[0] * kernel.shape[1] *
                        kernel.shape[3]),) + mag[1:]
    if taken[2]:
        mag = mag[:1] + (normwise(mag[1], g, as64(x), int(np.prod(dy.shape[:3]))),) + mag[2:]
    if compute_dx:
        close(dx, ref[0], mag[0], dtype)
    else:
        assert dx is None
    close(dk, ref[1], mag[1], dtype)
    close(db, ref[2], mag[2], dtype)


def fuzz_depthwise(inp):
    """depthwise_conv2d or its backward, or separable_conv2d: any shapes, depth multipliers,
    strides, dilations, paddings, dtypes and layouts, against the naive reference."""
    dtype = inp.pick(DTYPES)
    kdtype = dtype if inp.int(0, 3) else inp.pick(DTYPES)
    if inp.int(0, 40) == 0:
        x = huge_broadcast(inp, dtype if dtype in ("<f4", "<f8") else "<f4")
    else:
        x = inp.array(shape4(inp), dtype)
    c = x.shape[3] if x.ndim == 4 else 1
    ks = (inp.int(0, 5), inp.int(0, 5), c if inp.int(0, 9) else inp.int(0, 4),
          inp.int(1, 3) if inp.int(0, 7) else inp.int(0, 5))
    kernel = inp.array(ks, kdtype)
    cm = ks[2] * ks[3]
    bias = inp.array((cm if inp.int(0, 9) else inp.int(0, 6),), kdtype) if inp.bool() else None
    args = dict(strides=inp.window(1, 3), padding=inp.pick(PADDINGS),
                dilation_rate=inp.window(1, 3) if inp.int(0, 2) == 0 else 1)
    activation = inp.pick([None, None, "relu", "linear", "relu6"])
    if EXPLAIN:
        print(f"depthwise x {x.dtype}{x.shape} strides {x.strides} kernel "
              f"{kernel.dtype}{kernel.shape} bias {None if bias is None else bias.shape} "
              f"{args} activation={activation!r}")
    if inp.int(0, 3) == 0:
        fuzz_separable(inp, x, kernel, kdtype, activation, args)
        return
    if not inp.bool():
        y = call(fastconv.depthwise_conv2d, x, kernel, bias, activation=activation, **args)
        assert y.dtype == result_dtype(x, kernel, *([] if bias is None else [bias]))
        with np.errstate(all="ignore"):
            ref = reference.naive_depthwise_conv2d(as64(x), as64(kernel), as64(bias), **args)
            mag = reference.naive_depthwise_conv2d(np.abs(as64(x)), np.abs(as64(kernel)),
                                                   None if bias is None else
                                                   np.abs(as64(bias)), **args)
            if activation == "relu":
                ref = np.where(ref < 0, 0.0, ref)
        close(y, ref, mag, y.dtype)
        return
    if x.size > 10 ** 6:
        return
    y_shape = call(fastconv.depthwise_conv2d, np.zeros(x.shape, np.float32),
                   np.zeros(kernel.shape, np.float32), **args).shape
    dy = inp.array(y_shape if inp.int(0, 15) else shape4(inp), inp.pick(DTYPES[:5]))
    compute_dx = inp.int(0, 3) != 0
    relu = inp.array(dy.shape, "<f4") if inp.int(0, 3) == 0 else None
    dx, dk, db = call(fastconv.depthwise_conv2d_backward, dy, x, kernel, compute_dx=compute_dx,
                      relu_output=relu, **args)
    g = as64(dy)
    if relu is not None:
        with np.errstate(invalid="ignore"):
            g = np.where(as64(relu) > 0, g, 0.0)
    with np.errstate(all="ignore"):
        ref = reference.naive_depthwise_conv2d_backward(g, as64(x), as64(kernel), **args)
        mag = reference.naive_depthwise_conv2d_backward(np.abs(g), np.abs(as64(x)),
                                                        np.abs(as64(kernel)), **args)
    if compute_dx:
        close(dx, ref[0], mag[0], dk.dtype)
    else:
        assert dx is None
    close(dk, ref[1], mag[1], dk.dtype)
    close(db, ref[2], mag[2], dk.dtype)


def fuzz_separable(inp, x, kernel, kdtype, activation, args):
    """separable_conv2d on fuzz_depthwise's x, kernel and arguments, a pointwise kernel and
    bias of any shapes, against the naive reference."""
    cm = kernel.shape[2] * kernel.shape[3] if kernel.ndim == 4 else 1
    ps = (1, 1, cm, inp.int(0, 20)) if inp.int(0, 9) else shape4(inp, max_side=3)
    pointwise = inp.array(ps, kdtype)
    f = ps[3] if len(ps) == 4 else 1
    bias = inp.array((f if inp.int(0, 9) else inp.int(0, 6),), kdtype) if inp.bool() else None
    if EXPLAIN:
        print(f"separable pointwise {pointwise.dtype}{pointwise.shape} bias "
              f"{None if bias is None else bias.shape}")
    y = call(fastconv.separable_conv2d, x, kernel, pointwise, bias, activation=activation,
             **args)
    assert y.dtype == result_dtype(x, kernel, pointwise, *([] if bias is None else [bias]))
    if x.size * f > 10 ** 7:
        return
    with np.errstate(all="ignore"):
        ref = reference.naive_separable_conv2d(as64(x), as64(kernel), as64(pointwise),
                                               as64(bias), **args)
        mag = reference.naive_separable_conv2d(np.abs(as64(x)), np.abs(as64(kernel)),
                                               np.abs(as64(pointwise)),
                                               None if bias is None else np.abs(as64(bias)),
                                               **args)
        if activation == "relu":
            ref = np.where(ref < 0, 0.0, ref)
    close(y, ref, mag, y.dtype)


def fuzz_transpose(inp):
    """conv2d_transpose or its backward: any shapes, strides, paddings, output paddings,
    dilations, dtypes and layouts, against the reference (its definition by a dilated
    input)."""
    dtype = inp.pick(DTYPES)
    kdtype = dtype if inp.int(0, 3) else inp.pick(DTYPES)
    if inp.int(0, 40) == 0:
        x = huge_broadcast(inp, dtype if dtype in ("<f4", "<f8") else "<f4")
    else:
        x = inp.array(shape4(inp, max_side=6), dtype)
    c = x.shape[3] if x.ndim == 4 else 1
    ks = (inp.int(0, 4), inp.int(0, 4), inp.int(0, 5), c if inp.int(0, 9) else inp.int(0, 4))
    kernel = inp.array(ks, kdtype)
    bias = inp.array((ks[2] if inp.int(0, 9) else inp.int(0, 6),), kdtype) if inp.bool() else None
    args = dict(strides=inp.window(1, 3), padding=inp.pick(PADDINGS),
                output_padding=inp.pick([None, None, 0, 1, 2, (1, 0), -1, 1.5, (0, 1, 2)]),
                dilation_rate=inp.pick([1, 1, 1, 2, (1, 3), (2, 1), 0]))
    if EXPLAIN:
        print(f"transpose x {x.dtype}{x.shape} kernel {kernel.dtype}{kernel.shape} bias "
              f"{None if bias is None else bias.shape} {args}")
    backward = inp.bool()

    def reference_fits():
        # the reference spreads x out by the strides: too big to check past 1e7 values
        s = np.broadcast_to(np.asarray(args["strides"], dtype=object), 2)
        n, h, w, c = x.shape
        return n * ((h - 1) * int(s[0]) + 1) * ((w - 1) * int(s[1]) + 1) * max(c, 1) <= 10 ** 7
    if not backward:
        y = call(fastconv.conv2d_transpose, x, kernel, bias, **args)
        assert y.dtype == result_dtype(x, kernel, *([] if bias is None else [bias]))
        if not reference_fits():
            return
        with np.errstate(all="ignore"):
            ref = reference.naive_conv2d_transpose(as64(x), as64(kernel), as64(bias), **args)
            mag = reference.naive_conv2d_transpose(np.abs(as64(x)), np.abs(as64(kernel)),
                                                   None if bias is None else
                                                   np.abs(as64(bias)), **args)
        close(y, ref, mag, y.dtype)
        return
    if x.size > 10 ** 6:
        return
    y_shape = call(fastconv.conv2d_transpose, np.zeros(x.shape, np.float32),
                   np.zeros(kernel.shape, np.float32), **args).shape
    dy = inp.array(y_shape if inp.int(0, 15) else shape4(inp), inp.pick(DTYPES[:5]))
    dx, dk, db = call(fastconv.conv2d_transpose_backward, dy, x, kernel, **args)
    if not reference_fits() or not all(np.isfinite(as64(a)).all() for a in (kernel, dy, x)):
        # the gradients convolve over zero padding (dy's, for dx and the kernel's): an
        # infinite value against it gives NaN (0 * inf), as TensorFlow's and PyTorch's do,
        # where the reference's definition never multiplies the two
        return
    with np.errstate(all="ignore"):
        ref = reference.naive_conv2d_transpose_backward(as64(dy), as64(x), as64(kernel), **args)
        mag = reference.naive_conv2d_transpose_backward(np.abs(as64(dy)), np.abs(as64(x)),
                                                        np.abs(as64(kernel)), **args)
    for got, want, m in zip((dx, dk, db), ref, mag):
        close(got, want, m, dk.dtype)


def indices_reference(dy, idx, x_shape, pool, strides, padding):
    """dx from image positions, or None if one is not a pixel of its window."""
    oh, ow, (pt, _), (pl, _) = reference._geometry(x_shape, pool, strides, padding)
    n_, h, w, c = x_shape
    dx = np.zeros(x_shape)
    for n, i, j, ch in np.ndindex(idx.shape):
        rows, cols = reference._pool_window(h, w, i, j, pool, strides, pt, pl)
        v = int(idx[n, i, j, ch])
        r, q = v // w if w else -1, v % w if w else -1
        if not (rows.start <= r < rows.stop and cols.start <= q < cols.stop):
            return None
        dx[n, r, q, ch] += dy[n, i, j, ch]
    return dx


def fuzz_pool(inp):
    dtype = inp.pick(DTYPES)
    mode = inp.int(0, 2)     # forward, backward, backward through indices
    if mode == 0 and inp.int(0, 40) == 0:
        x = huge_broadcast(inp, dtype if dtype in ("<f4", "<f8") else "<f4")
    else:
        x = inp.array(shape4(inp), dtype)
    pool = inp.window(1, 4)
    strides = None if inp.bool() else inp.window(1, 4)
    padding = inp.pick(PADDINGS)
    if EXPLAIN:
        print(f"pool mode {mode} x {x.dtype}{x.shape} strides {x.strides} pool={pool!r} "
              f"strides={strides!r} padding={padding!r}")
    if mode == 0:
        y, idx = call(fastconv.max_pool2d, x, pool, strides=strides, padding=padding,
                      return_indices=True)
        assert y.dtype == result_dtype(x) and idx.dtype == np.int64
        p = _api.checks.pair(pool, "pool_size", "fuzz")
        s = p if strides is None else _api.checks.pair(strides, "strides", "fuzz")
        ref = reference.naive_max_pool2d(as64(x), p, strides=s, padding=padding)
        exact(y, ref)
        n, h, w, c = x.shape
        where = idx.reshape(n, y.shape[1] * y.shape[2], c)
        exact(np.take_along_axis(as64(x).reshape(n, h * w, c), where, 1).reshape(y.shape), ref)
        return
    y = call(fastconv.max_pool2d, np.zeros(x.shape, np.float32), pool, strides=strides,
             padding=padding)
    dy = inp.array(y.shape if inp.int(0, 15) else shape4(inp), inp.pick(DTYPES[:5]))
    p = _api.checks.pair(pool, "pool_size", "fuzz")
    s = p if strides is None else _api.checks.pair(strides, "strides", "fuzz")
    if mode == 1:
        dx = call(fastconv.max_pool2d_backward, dy, x, pool, strides=strides,
                  padding=padding)
        with np.errstate(all="ignore"):
            ref = reference.naive_max_pool2d_backward(as64(dy), as64(x), p, strides=s,
                                                      padding=padding)
            mag = reference.naive_max_pool2d_backward(np.abs(as64(dy)), as64(x), p,
                                                      strides=s, padding=padding)
        close(dx, ref, mag, dx.dtype)
        return
    _, idx = call(fastconv.max_pool2d, x, pool, strides=strides, padding=padding,
                  return_indices=True)
    idx = idx.copy()
    for _ in range(inp.int(0, 3)):
        if idx.size:
            where = np.unravel_index(inp.int(0, idx.size - 1), idx.shape)
            idx[where] = inp.pick([-2 ** 63, 2 ** 63 - 1, -1, 0, 1, idx[where] + 1,
                                   idx[where] - 1, idx[where] + x.shape[2], inp.int(0, 99)])
    idx = idx.astype(inp.pick(["<i8", ">i8", "<i4", "<u8", "<f8"])) if inp.int(0, 3) == 0 \
        else idx
    with np.errstate(all="ignore"):
        ref = (indices_reference(as64(dy), idx.astype(np.int64), x.shape, p, s, padding)
               if idx.dtype.kind in "iu" and dy.shape == idx.shape else None)
    try:
        dx = call(fastconv.max_pool2d_backward, dy, x, pool, strides=strides,
                  padding=padding, indices=idx)
    except Refused as e:
        if ref is not None:
            raise AssertionError("valid indices refused") from e.__cause__
        return
    assert ref is not None, "indices outside their windows accepted"
    with np.errstate(all="ignore"):
        mag = indices_reference(np.abs(as64(dy)), idx.astype(np.int64), x.shape, p, s,
                                padding)
    close(dx, ref, mag, dx.dtype)


# ---------------------------------------------------------------------------------------------
# files

def small_model():
    model = models.Sequential([layers.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)),
                               layers.MaxPooling2D(2), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
    model.build((6, 6, 1))
    return model


MODEL = None


def fuzz_weights(inp):
    global MODEL
    if MODEL is None:
        MODEL = small_model()
    if inp.bool():
        # a mutated file as it is: the rest of the fuzzer's bytes
        content = inp.fdp.ConsumeBytes(inp.fdp.remaining_bytes())
    else:
        # a well-formed archive with fuzzed contents: gets past the zip checks
        buf = io.BytesIO()
        meta = inp.pick(['{"format": "fastconv-weights", "version": 1, "layers": []}',
                         '{"format": "fastconv-weights", "layers": '
                         '[["Conv2D", [[3, 3, 1, 2], [2]]]]}',
                         '{"format": "fastconv-weights", "layers": 7}', "[]", "null", "1e999",
                         '{"format": "fastconv-weights", "layers": [[1]]}', '"x"', "{",
                         '{"format": "fastconv-weights", "layers": [["Dense", [[-1]]]]}'])
        arrays = {f"w{i:04d}": inp.array(tuple(inp.int(0, 4) for _ in range(inp.int(0, 4))),
                                         inp.pick(DTYPES)) for i in range(inp.int(0, 4))}
        arrays = {k: (v if v.dtype != object else v.astype(str)) for k, v in arrays.items()}
        np.savez(buf, __meta__=np.array(meta), **arrays)
        content = buf.getvalue()
    load_file(content, ".npz", MODEL.load_weights)


def load_file(content, suffix, load, **kwargs):
    """load(path, **kwargs) on a temporary file holding content."""
    if EXPLAIN:
        print(f"{load.__name__} on {len(content)} bytes")
    fd, path = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        call(load, path, **kwargs)
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------------------------
# resampling

MATRIX_VALUES = [np.nan, np.inf, -np.inf, 1e15, -1e15, 9.99e14, 1e300, -1e300, 0.5, -0.5]
FILL_MODES = ["constant", "nearest", "reflect", "wrap", "mirror", None]
INTERPOLATIONS = ["nearest", "bilinear", "bicubic", 1]


def fuzz_resample(inp):
    np.seterr(all="ignore")        # the reference's arithmetic on inf and NaN maps
    dtype = inp.pick(DTYPES)
    x = inp.array(shape4(inp, max_side=7), dtype)
    n = x.shape[0] if x.ndim == 4 else 1
    rows = n if inp.int(0, 15) else inp.int(0, 3)
    cols = 6 if inp.int(0, 15) else 5
    m = np.array([[inp.pick(MATRIX_VALUES) if inp.int(0, 9) == 0 else inp.int(-64, 64) / 16
                   for _ in range(cols)] for _ in range(rows)]).reshape(rows, cols)
    size = (inp.int(0, 7), inp.int(0, 7)) if inp.int(0, 3) else None
    if inp.int(0, 20) == 0:
        size = inp.pick([(-1, 2), (2,), (1.5, 2), "ab", (2 ** 62, 2 ** 62)])
    interpolation = inp.pick(INTERPOLATIONS if inp.int(0, 7) == 0 else INTERPOLATIONS[:2])
    mode = inp.pick(FILL_MODES if inp.int(0, 7) == 0 else FILL_MODES[:4])
    fill = inp.pick([0.0, 1.5, -3.0, np.nan, np.inf])
    backward = inp.bool()
    if EXPLAIN:
        print(f"resample {'backward' if backward else 'forward'} x {x.dtype}{x.shape} m {m} "
              f"size {size} {interpolation} {mode} fill {fill}")
    if not backward:
        y = call(_api.image.affine_transform, x, m, size, interpolation=interpolation,
                 fill_mode=mode, fill_value=fill)
        assert y.dtype == result_dtype(x)
        kw = dict(interpolation=interpolation, fill_mode=mode, fill_value=fill)
        ref = reference.naive_affine_transform(as64(x), m, y.shape[1:3], **kw)
        mag = reference.naive_affine_transform(as64(x), m, y.shape[1:3], magnitude=True, **kw)
        close(y, ref, mag, y.dtype)
        return
    in_size = size if size is not None else x.shape[1:3] if x.ndim == 4 else (1, 1)
    dx = call(_api.image.affine_transform_backward, x, m, in_size, interpolation=interpolation,
              fill_mode=mode)
    assert dx.dtype == result_dtype(x)
    kw = dict(interpolation=interpolation, fill_mode=mode)
    ref = reference.naive_affine_transform_backward(as64(x), m, dx.shape[1:3], **kw)
    mag = reference.naive_affine_transform_backward(as64(x), m, dx.shape[1:3], magnitude=True,
                                                    **kw)
    close(dx, ref, mag, dx.dtype)


def fuzz_norm(inp):
    """BatchNormalization's compiled passes: per-channel sums and affine maps."""
    dtype = inp.pick(["<f4", "<f8", ">f4", "<f8"])
    shape = shape4(inp) if inp.int(0, 3) else tuple(inp.int(0, 5) for _ in range(inp.int(1, 3)))
    x = inp.array(shape, dtype)
    if len(shape) == 0:
        return
    c = shape[-1]
    shift = inp.array((c,), "<f8")
    dy = inp.array(shape if inp.int(0, 15) else shape4(inp), dtype) if inp.bool() else None
    if EXPLAIN:
        print(f"norm x {x.dtype}{x.shape} dy {None if dy is None else dy.shape}")
    xs = as64(x).reshape(-1, c) if c else np.zeros((0, 0))
    with np.errstate(all="ignore"):
        if inp.bool():
            s1, s2 = call(_api.norm.batch_norm_sums, x, shift, dy)
            d = xs - as64(shift)
            if dy is None:
                terms = [(d, np.abs(d)), (d * d, d * d)]
            else:
                g = as64(dy).reshape(-1, c) if c else np.zeros((0, 0))
                terms = [(g, np.abs(g)), (g * d, np.abs(g * d))]
            for got, (value, mag) in zip((s1, s2), terms):
                close(got, value.sum(axis=0), mag.sum(axis=0), np.float64)
            return
        center, scale, offset = (inp.array((c,), dtype) for _ in range(3))
        y_scale = inp.array((c,), dtype)
        out = call(_api.norm.channel_affine, x, center, scale, offset, dy,
                   None if dy is None else y_scale)
        compute = np.float64 if x.dtype.itemsize == 8 else np.float32
        assert out.dtype == compute and out.shape == x.shape
        # the kernel rounds each factor to x's type first
        r = lambda v: as64(np.asarray(v).astype(compute))
        ref = (as64(x) - r(center)) * r(scale) + r(offset)
        mag = np.abs(as64(x) - r(center)) * np.abs(r(scale)) + np.abs(r(offset)) + np.abs(
            as64(x)) * np.abs(r(scale))
        if dy is not None:
            ref = ref + as64(dy) * r(y_scale)
            mag = mag + np.abs(as64(dy) * r(y_scale))
    close(out, ref, mag, out.dtype)


def fuzz_model_file(inp):
    """models.load_model on a mutated whole-model file (the seeds hold real ones)."""
    restore = inp.bool()          # drawn first: the file takes all the bytes left
    load_file(inp.fdp.ConsumeBytes(inp.fdp.remaining_bytes()), ".keras", models.load_model,
              restore_random_state=restore)


SIMD_PATHS = fastconv._config.simd_paths()


def TestOneInput(data):
    inp = Input(data)
    target = inp.int(0, 7)
    _config.set_simd_path(inp.pick(SIMD_PATHS))     # every vector path the CPU has
    try:
        (fuzz_conv, fuzz_pool, fuzz_weights, fuzz_resample, fuzz_model_file,
         fuzz_norm, fuzz_depthwise, fuzz_transpose)[target](inp)
    except Refused:
        pass


def keras_file():
    """A Keras 3 .keras file small enough for -max_len (a Sequential: InputLayer, Conv2D,
    Flatten, Dense; compiled with RMSprop, one step's state), in Keras's layout."""
    import json
    import zipfile
    import h5py
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    conv = {"name": "conv2d", "dtype": policy, "filters": 2, "kernel_size": [3, 3],
            "strides": [1, 1], "padding": "valid", "data_format": "channels_last",
            "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": True}
    config = {"module": "keras", "class_name": "Sequential", "config": {
        "name": "sequential", "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [None, 4, 4, 1],
                                                    "name": "input_layer"}},
            {"module": "keras.layers", "class_name": "Conv2D", "config": conv},
            {"class_name": "Flatten", "config": {"name": "flatten"}},
            {"class_name": "Dense", "config": {"name": "dense", "units": 1,
                                               "activation": "sigmoid"}}]},
        "compile_config": {"optimizer": {"class_name": "RMSprop", "config": {
            "learning_rate": 0.001, "rho": 0.9}}, "loss": "binary_crossentropy",
            "metrics": ["accuracy"]}}
    shapes = {"layers/conv2d": [(3, 3, 1, 2), (2,)], "layers/dense": [(8, 1), (1,)]}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver="latest") as f:
        for where, arrays in shapes.items():
            for i, shape in enumerate(arrays):
                f.create_dataset(f"{where}/vars/{i}", data=np.full(shape, 0.5, np.float32))
        f.create_dataset("optimizer/vars/0", data=np.int64(1))
        f.create_dataset("optimizer/vars/1", data=np.float32(0.001))
        for i, shape in enumerate(s for arrays in shapes.values() for s in arrays):
            f.create_dataset(f"optimizer/vars/{i + 2}", data=np.full(shape, 0.1, np.float32))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", json.dumps(config, separators=(",", ":")))
        z.writestr("model.weights.h5", buffer.getvalue())
    return out.getvalue()


def keras_nested_file():
    """A Keras 3 .keras file of a functional model holding Keras's operations (what
    preprocess_input records: GetItem, Stack, Add of a constant) and a nested Sequential."""
    import json
    import zipfile
    import h5py

    def tensor(name, shape):
        return {"class_name": "__keras_tensor__", "config": {
            "shape": shape, "dtype": "float32", "keras_history": [name, 0, 0]}}

    def op(cls, name, args, **config):
        return {"module": "keras.src.ops.numpy", "class_name": cls,
                "config": dict(config, name=name), "name": name,
                "inbound_nodes": [{"args": args, "kwargs": {}}]}
    image = [None, 4, 4, 3]
    items = [op("GetItem", f"g{c}", [tensor("x", image), [{"class_name": "__ellipsis__"}, c]])
             for c in (2, 1, 0)]
    layers_ = [{"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
                "config": {"batch_shape": image, "name": "x"}}] + items + [
        op("Stack", "s", [[tensor(f"g{c}", image[:3]) for c in (2, 1, 0)]], axis=-1),
        op("Add", "a", [tensor("s", image), {"class_name": "__tensor__", "config": {
            "value": [[[[-1.0, -2.0, -3.0]]]], "dtype": "float32"}}]),
        {"module": "keras", "class_name": "Sequential", "name": "inner", "config": {
            "name": "inner", "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": image}},
                {"class_name": "Conv2D", "config": {"name": "c", "filters": 1,
                                                    "kernel_size": [1, 1]}}]},
         "inbound_nodes": [{"args": [tensor("a", image)], "kwargs": {}}]}]
    config = {"module": "keras.src.models.functional", "class_name": "Functional",
              "config": {"name": "f", "layers": layers_, "input_layers": ["x", 0, 0],
                         "output_layers": ["inner", 0, 0]}}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver="latest") as f:
        f.create_dataset("layers/sequential/layers/conv2d/vars/0",
                         data=np.full((1, 1, 3, 1), 0.5, np.float32))
        f.create_dataset("layers/sequential/layers/conv2d/vars/1", data=np.zeros(1, np.float32))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", json.dumps(config, separators=(",", ":")))
        z.writestr("model.weights.h5", buffer.getvalue())
    return out.getvalue()


def write_seeds(folder):
    """Seeds the fuzzer cannot easily find by itself: whole weights files for the small model
    and whole model files (a Sequential, a functional graph, a Keras 3 file), as they are, with one bit
    changed and truncated. The decoder takes its integers off the end: the last byte picks the target (2: load_weights, then 1: the
    file as it is; 4: load_model, then 0 or 1: restore_random_state), the SIMD path byte
    before it, the file before them."""
    os.makedirs(folder, exist_ok=True)
    model = small_model()
    chapter = models.Sequential([
        layers.Input((8, 8, 3)), layers.RandomFlip(seed=1), layers.RandomRotation(0.1),
        layers.Rescaling(1 / 255), layers.Conv2D(2, 3), layers.BatchNormalization(),
        layers.AveragePooling2D(), layers.Flatten(), layers.Dropout(0.5, seed=2),
        layers.Dense(1, activation="sigmoid")])
    chapter.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    chapter.fit(np.zeros((4, 8, 8, 3), np.float32), np.zeros(4), verbose=0)
    inputs = layers.Input((6, 6, 2))
    stem = layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    merged = layers.Add()([stem, layers.Conv2D(3, 3, padding="same")(stem)])
    merged = layers.Concatenate()([layers.MaxPooling2D()(merged), layers.MaxPooling2D()(stem)])
    graph = models.Model(inputs, [layers.Dense(2)(layers.Flatten()(merged)),
                                  layers.GlobalAveragePooling2D()(merged)])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.npz")
        model.save_weights(path)
        with open(path, "rb") as f:
            content = f.read()
        path = os.path.join(tmp, "m.keras")
        chapter.save(path)
        with open(path, "rb") as f:
            model_file = f.read()
        path = os.path.join(tmp, "g.keras")
        graph.save(path)
        with open(path, "rb") as f:
            graph_file = f.read()
    seeds = {}
    for name, data, tail in (("weights-file", content, [1, 0, 2]),
                             ("model-file", model_file, [1, 0, 4]),
                             ("functional-model-file", graph_file, [1, 0, 4]),
                             ("keras-file", keras_file(), [1, 0, 4]),
                             ("keras-nested-file", keras_nested_file(), [1, 0, 4])):
        seeds[name] = data + bytes(tail)
        seeds[name + "-flipped"] = data[:100] + bytes([data[100] ^ 1]) + data[101:] + bytes(
            tail)
        seeds[name + "-truncated"] = data[:-64] + bytes(tail)
    for name, data in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def main():
    if sys.argv[1:2] == ["--write-seeds"]:
        write_seeds(sys.argv[2])
        return
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
