"""Argument checking, shape arithmetic, dtype policy and dispatch into the compiled kernels.

Everything a caller can get wrong is caught here, with a message that names the argument and
the shapes; the kernels in src/ then run without bounds checks and without the GIL.

Dtype policy: float32 and float64 are computed natively. Mixed float32/float64 inputs are
computed in float64 (NumPy's promotion). float16 inputs are computed in float32 and the result
is returned as float16. Integer, boolean, complex, object and extended-precision inputs are
rejected with a TypeError: convert them yourself (``x.astype(np.float32)``).
"""
import operator
import os

import numpy as np

from . import _buffers, _conv, _dense, _image, _norm, _optim, _pool

__all__ = ["conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "matmul",
           "get_num_threads", "set_num_threads", "conv_output_size", "padding_amounts"]

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


_SIMD_NAMES = {0: "generic", 1: "avx2+fma", 2: "avx512"}
# Names accepted by set_simd_path and FASTCONV_SIMD, beside the ones above.
_SIMD_ALIASES = {"avx2": 1, "avx-512": 2, "avx512f": 2}


def _simd_level(name):
    """The level of a SIMD path's name (or alias), or None."""
    if not isinstance(name, str):
        return None
    name = name.strip().lower()
    levels = {v: k for k, v in _SIMD_NAMES.items()}
    return levels.get(name, _SIMD_ALIASES.get(name))


def _init_simd():
    # FASTCONV_SIMD=generic|avx2|avx512 forces a path; a path this CPU lacks, or a name we do
    # not know, falls back to the best path with a warning (an import must not fail on it).
    wanted = os.environ.get("FASTCONV_SIMD", "").strip()
    best = _conv.simd_detect()
    level = best
    if wanted:
        asked = _simd_level(wanted)
        if asked is None:
            _warn(f"FASTCONV_SIMD={wanted!r} is not one of {sorted(_SIMD_NAMES.values())} "
                  f"(or avx2); using {_SIMD_NAMES[best]!r}")
        elif asked > best:
            _warn(f"FASTCONV_SIMD={wanted!r}: this CPU or build does not support it; "
                  f"using {_SIMD_NAMES[best]!r}")
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
    _pool.set_simd_level(level)


_init_simd()


def simd_path():
    """Name of the SIMD path the kernels use: "avx512", "avx2+fma" or "generic"."""
    return _SIMD_NAMES[_conv.get_simd_level()]


def simd_paths():
    """The SIMD paths this CPU and build can run, from the portable one to the widest."""
    return [_SIMD_NAMES[level] for level in range(_conv.simd_detect() + 1)]


def set_simd_path(name):
    """Select the kernels' SIMD path: "generic", "avx2+fma" (or "avx2") or "avx512", if this
    CPU has it; returns the previous name. Takes effect for the kernel calls that start
    after it (a call already running keeps the path it started on)."""
    level = _simd_level(name)
    if level is None:
        raise ValueError(f"set_simd_path: name must be one of {sorted(_SIMD_NAMES.values())} "
                         f"(or 'avx2'), got {name!r}")
    if level > _conv.simd_detect():
        raise ValueError(f"set_simd_path: this CPU or build does not support {name!r} "
                         f"(it has {simd_paths()})")
    previous = simd_path()
    _set_level(level)
    return previous


# ---------------------------------------------------------------------------------------------
# argument parsing

_MAX_WINDOW = 2 ** 31 - 1   # strides and pool sizes must fit the kernels' C integers
_MAX_POOL_AREA = 2 ** 24    # pooling tracks window positions exactly in float32


def _pair(value, name, fn):
    """An int or a pair of ints, each >= 1, as a tuple (h, w)."""
    if isinstance(value, (str, bytes)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
    try:
        items = (operator.index(value),) * 2
    except TypeError:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(f"{fn}: {name} must be an int or a pair of ints, "
                            f"got {value!r}") from None
        if len(items) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of 2 ints, "
                             f"got {len(items)} values: {value!r}")
        try:
            if any(isinstance(v, (bool, np.bool_)) for v in items):
                raise TypeError
            items = tuple(operator.index(v) for v in items)
        except TypeError:
            raise TypeError(f"{fn}: {name} must be an int or a pair of ints, "
                            f"got {value!r}") from None
    if items[0] < 1 or items[1] < 1:
        raise ValueError(f"{fn}: {name} must be >= 1, got {value!r}")
    if max(items) > _MAX_WINDOW:
        raise ValueError(f"{fn}: {name} must be at most {_MAX_WINDOW}, got {value!r}")
    return items


def _padding(padding, fn):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{fn}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def conv_output_size(size, window, stride, padding):
    """Output length along one axis (TensorFlow's rule for "valid" and "same")."""
    if padding == "same":
        return -(-size // stride)
    return (size - window) // stride + 1 if size >= window else 0


def window_output_shape(input_shape, window, strides, padding, channels, owner):
    """(batch, out_height, out_width, channels) of a (h, w) window sliding over inputs of
    shape (batch, height, width, c); unknown (None) sizes stay None. ValueError naming owner
    if the window does not fit."""
    n, h, w, _ = input_shape
    size = [None if s is None else conv_output_size(s, k, st, padding)
            for s, k, st in zip((h, w), window, strides)]
    if any(s is not None and s < 1 for s in size):
        raise ValueError(f"{owner}: a {window[0]}x{window[1]} window with strides {strides} "
                         f"and padding {padding!r} does not fit input shape {input_shape}")
    return (n, size[0], size[1], channels)


def padding_amounts(size, window, stride, padding):
    """(before, after) padding along one axis: the smaller half goes before, as in TensorFlow."""
    if padding == "valid":
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _array(value, name, fn):
    """value as an ndarray of a floating dtype fastconv accepts (not converted yet)."""
    a = value if isinstance(value, np.ndarray) else np.asarray(value)
    kind = a.dtype.kind
    if kind == "f" and a.dtype.itemsize <= 8:
        return a
    if kind == "f":
        raise TypeError(f"{fn}: {name} has dtype {a.dtype}; fastconv computes in float32 or "
                        f"float64: convert with .astype(np.float64)")
    if kind in "biu":
        raise TypeError(f"{fn}: {name} has integer or boolean dtype {a.dtype}; fastconv "
                        f"computes in float32 or float64: convert with .astype(np.float32)")
    raise TypeError(f"{fn}: {name} has dtype {a.dtype}, which fastconv does not support "
                    f"(float16, float32 or float64 only)")


def _dtypes(arrays):
    """(compute dtype, result dtype) for a set of floating arrays."""
    result = np.result_type(*arrays)
    result = np.dtype(np.float64) if result.itemsize == 8 else np.dtype(result.type)
    compute = np.dtype(np.float64) if result.itemsize == 8 else np.dtype(np.float32)
    return compute, result


def _contiguous(a, dtype):
    # A C-contiguous, aligned, native-byte-order copy only when needed; never the caller's
    # array to write. Aligned too: data at an odd address (np.frombuffer with an offset) is
    # C-contiguous, but the kernels' loads of it would be undefined behaviour in C (the fuzzer
    # found it).
    b = np.ascontiguousarray(a, dtype=dtype)
    return b if b.flags.aligned else b.copy()       # (np.require: 1.6 us a call, this 0.2)


def _check_ndim(a, ndim, name, fn, layout):
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D {layout}, got shape {a.shape}")


def _finish(y, result):
    return y if y.dtype == result else y.astype(result)


class _ConvArgs:
    """Checked arguments of one convolution: arrays, strides, padding and output geometry."""

    def __init__(self, fn, x, kernel, strides, padding):
        _check_ndim(x, 4, "x", fn, "(batch, height, width, channels)")
        _check_ndim(kernel, 4, "kernel", fn, "(kh, kw, in_channels, out_channels)")
        n, h, w, c = x.shape
        kh, kw, kc, f = kernel.shape
        if kc != c:
            raise ValueError(f"{fn}: kernel in_channels {kc} (kernel shape {kernel.shape}) does "
                             f"not match x channels {c} (x shape {x.shape})")
        if kh < 1 or kw < 1:
            raise ValueError(f"{fn}: kernel must be at least 1x1, got shape {kernel.shape}")
        self.sh, self.sw = _pair(strides, "strides", fn)
        self.padding = _padding(padding, fn)
        self.oh = conv_output_size(h, kh, self.sh, self.padding)
        self.ow = conv_output_size(w, kw, self.sw, self.padding)
        if self.oh < 1 or self.ow < 1:
            raise ValueError(f"{fn}: empty output: a {kh}x{kw} window with strides "
                             f"{(self.sh, self.sw)} and padding {self.padding!r} does not fit "
                             f"x of shape {x.shape}")
        self.pt = padding_amounts(h, kh, self.sh, self.padding)[0]
        self.pl = padding_amounts(w, kw, self.sw, self.padding)[0]
        self.out_shape = (n, self.oh, self.ow, f)


def conv2d(x, kernel, bias=None, *, strides=1, padding="valid", activation=None):
    """2-D convolution (cross-correlation, as in Keras and PyTorch) of NHWC data.

    Parameters
    ----------
    x : array_like, shape (batch, height, width, in_channels), float32 or float64
    kernel : array_like, shape (kh, kw, in_channels, filters)
    bias : array_like, shape (filters,), optional
    strides : int or (int, int), keyword-only, default 1
    padding : {"valid", "same"}, keyword-only, case-insensitive; "same" pads as TensorFlow
        does (output size ceil(size / stride), the smaller half of the padding on top/left).
    activation : {None, "relu"}, keyword-only; "relu" is applied inside the kernel.

    Returns
    -------
    y : ndarray, shape (batch, out_height, out_width, filters), the inputs' floating dtype
        (float64 if float32 and float64 are mixed; float16 inputs are computed in float32).

    Raises
    ------
    ValueError
        wrong ndim, channel mismatch, bias shape, strides < 1, unknown padding, empty output.
    TypeError
        non-floating dtypes (integer, bool, complex, object).

    Notes
    -----
    3x3 stride-1 convolutions with 16+ channels in and out run by Winograd F(2x2, 3x3), or
    F(4x4, 3x3) where its tiles fit (and their gradients by Winograd too, see
    conv2d_backward). The rounding error of either is bounded normwise, relative to max|x| *
    max|kernel| * (terms per output), where the direct kernel's is bounded per output by that
    output's own sum of |terms|. On ordinary data F(2x2)'s is within 2.6x of the direct
    kernel's and F(4x4)'s up to 54x, about 1e-5 of the largest output in float32
    (``benchmarks/winograd_accuracy.py``); an output whose terms are many orders of magnitude
    smaller than the largest in its tile (a kernel tap of 1e8 among taps of 1) keeps only the
    normwise accuracy. ``FASTCONV_WINOGRAD=2x2`` in the environment keeps F(2x2) only, and
    ``FASTCONV_WINOGRAD=0`` turns Winograd off.

    Examples
    --------
    >>> x = np.ones((1, 4, 4, 1), np.float32); k = np.ones((3, 3, 1, 2), np.float32)
    >>> conv2d(x, k).shape
    (1, 2, 2, 2)
    """
    fn = "conv2d"
    x = _array(x, "x", fn)
    args, kernel, bias, compute, result = _conv_operands(fn, x, kernel, bias, strides, padding,
                                                         activation)
    f = kernel.shape[3]
    b = np.zeros(f, compute) if bias is None else _contiguous(bias, compute)
    y = _buffers.empty(args.out_shape, compute)
    x_c, k_c = _contiguous(x, compute), _contiguous(kernel, compute)
    tile = _winograd_pays(args, kernel.shape)
    if tile:
        _conv.conv2d_forward_winograd(x_c, _winograd_kernel(k_c, tile), k_c, b, y, args.pt,
                                      args.pl, activation == "relu", get_num_threads())
    else:
        _conv.conv2d_forward(x_c, k_c, b, y, args.sh, args.sw, args.pt, args.pl,
                             activation == "relu", get_num_threads())
    return _finish(y, result)


def _conv_operands(fn, x, kernel, bias, strides, padding, activation):
    """(args, kernel, bias, compute dtype, result dtype) of a convolution, checked. x is an
    array already checked by _array, or anything with its shape, ndim and dtype (fastconv.dask
    passes a dask array, which is never read here); kernel and bias are array_like."""
    kernel = _array(kernel, "kernel", fn)
    args = _ConvArgs(fn, x, kernel, strides, padding)
    f = kernel.shape[3]
    arrays = [np.empty((0,), x.dtype), kernel]
    if bias is not None:
        bias = _array(bias, "bias", fn)
        if bias.shape != (f,):
            raise ValueError(f"{fn}: bias must have shape ({f},) for kernel shape "
                             f"{kernel.shape}, got {bias.shape}")
        arrays.append(bias)
    if activation not in (None, "linear", "relu"):
        raise ValueError(f"{fn}: activation must be None, 'linear' or 'relu', got {activation!r}")
    compute, result = _dtypes(arrays)
    return args, kernel, bias, compute, result


# Winograd for 3x3 kernels with strides 1: F(2x2, 3x3) takes 16 multiplications for 4
# outputs and F(4x4, 3x3) 36 for 16, where a direct convolution needs 36 and 144; whole tiles
# overhang the image by up to 1 (F(2x2)) or 3 (F(4x4)) outputs a side. The input gradient of
# such a convolution is one too (dy convolved with the kernel turned 180 degrees), so it takes
# the same path. Measured here against the direct kernels (float32, 2 threads; AMD EPYC Zen 3,
# avx2+fma; `python benchmarks/winograd_tiles.py` times the forward kernels alone over output
# sizes and channel counts, `python benchmarks/winograd_paths.py` each path through conv2d and
# conv2d_backward): with 32 or more channels in and out F(2x2) takes about 0.62 and F(4x4)
# about 0.45 of the direct time per output in its tiles (0.26 to 0.91 and 0.37 to 1.1 over
# the shapes), so the computed outputs ("overhang": outputs in whole tiles / outputs) decide: F(4x4) where
# 0.45 x its overhang is below 0.62 x F(2x2)'s, and either only while its overhang, counted in
# F(2x2)'s units, is at most 1.35 (forward) or 1.2 (input gradient, whose transform also
# applies the ReLU's mask). Each call also transforms and packs the kernel (16 or 36 c x f
# matrices), which few tiles do not repay: the overhang counts (1 + 32 / tiles) times (64
# tiles of 3x3 outputs, 64 x 64 channels: F(4x4) 1.4x to 1.9x the direct time over two
# runs, 0.9x to 1.1x at 256;
# `python benchmarks/winograd_tiles.py --batches`), the
# tiles of a batch of 64 images, whatever the batch (an image's result must not depend on
# the batch it comes in). With fewer channels the GEMMs are thin: F(2x2) lost to the direct
# kernel (1.0x to 1.9x its time) below 32 x 32 channel pairs, F(4x4) held 0.6x to 0.8x from
# 16 x 32, and with 16 x 16 pairs or fewer neither pays. The error of F(4x4) in float32 is up
# to 54x the direct kernel's, F(2x2)'s 2.6x (`python benchmarks/winograd_accuracy.py`).
# FASTCONV_WINOGRAD=0 turns both off (every convolution then runs the direct kernels);
# FASTCONV_WINOGRAD=2x2 keeps F(2x2, 3x3) only, for its smaller error.
_WINOGRAD_SETTING = os.environ.get("FASTCONV_WINOGRAD", "1").strip().lower()
_WINOGRAD = _WINOGRAD_SETTING not in ("0", "off", "no")
_WINOGRAD_4X4 = _WINOGRAD and _WINOGRAD_SETTING not in ("2", "2x2")
_F4_COST = 0.45 / 0.62       # F(4x4)'s time per computed output, in F(2x2)'s


def _winograd_pays(args, kernel_shape):
    """The Winograd tile conv2d's forward pass takes: 0 (none: the direct kernel), 2 or 4."""
    kh, kw, c, f = kernel_shape
    return _winograd_shape_pays(kh, kw, args.sh, args.sw, c, f, args.oh, args.ow, 1.35)


def _winograd_dx_pays(args, kernel_shape, x_shape):
    """The tile conv2d_backward's input gradient takes (0, 2 or 4): the same test on the
    transposed convolution, from dy (filters channels) to dx (in_channels, x's size)."""
    kh, kw, c, f = kernel_shape
    return _winograd_shape_pays(kh, kw, args.sh, args.sw, f, c, x_shape[1], x_shape[2], 1.2)


def _winograd_dw_pays(args, kernel_shape):
    """Whether conv2d_backward's kernel gradient takes it (F(3x3, 2x2) over dy's tiles).

    Its 16 GEMMs sum over tiles into c x f products, so it pays with many channel pairs and
    little overhang (`python benchmarks/winograd_paths.py`: 1.4x with 32 x 64 channels on a
    200x200 image, 1.6x and 2.3x with 128 x 128 and 256 x 256, but 1.04x with 32 x 32 and
    0.86x with 16 x 16 on 32x32 and 16x16 images; on MNIST conv2's 11x11 outputs 0.6x to 1.2x
    from run to run).
    """
    kh, kw, c, f = kernel_shape
    overhang = 4 * ((args.oh + 1) // 2) * ((args.ow + 1) // 2) / max(args.oh * args.ow, 1)
    return (_winograd_applies(kh, kw, args.sh, args.sw, c, f) and c * f >= 2048
            and overhang <= 1.1)


def _winograd_applies(kh, kw, sh, sw, c_in, c_out):
    """Whether any Winograd path may run: on, 3x3, strides 1, 16+ channels in and out."""
    return _WINOGRAD and (kh, kw, sh, sw) == (3, 3, 1, 1) and c_in >= 16 and c_out >= 16


def _winograd_shape_pays(kh, kw, sh, sw, c_in, c_out, oh, ow, max_overhang):
    """0, 2 or 4: the Winograd tile for this convolution (see the comment above), its fixed
    cost counted for a batch of n = 64 images whatever the batch, so that an image's result
    does not depend on the batch it came in (predict's last, shorter batch; dask's chunks)."""
    n = 64
    if not (_winograd_applies(kh, kw, sh, sw, c_in, c_out) and c_in * c_out > 256
            and oh * ow > 0):
        return 0
    tiles2 = n * ((oh + 1) // 2) * ((ow + 1) // 2)
    tiles4 = n * ((oh + 3) // 4) * ((ow + 3) // 4)
    over2 = 4 * tiles2 / (n * oh * ow) * (1 + 32 / tiles2)
    over4 = 16 * tiles4 / (n * oh * ow) * _F4_COST * (1 + 32 / tiles4)
    if c_in * c_out < 1024:
        over2 = float("inf")
    if not _WINOGRAD_4X4:
        over4 = float("inf")
    cost, tile = min((over2, 2), (over4, 4))
    return tile if cost <= max_overhang else 0


def _winograd_kernel(kernel, tile=2):
    """G g G^T for each (in, out) channel pair of a C-contiguous float32/float64 kernel: 16
    matrices (in_channels, filters) of its dtype for F(2x2, 3x3) (tile 2), 36 for F(4x4, 3x3)
    (tile 4), computed in float64."""
    points = 16 if tile == 2 else 36
    u = np.empty((points,) + kernel.shape[2:], kernel.dtype)
    (_conv.winograd_kernel if tile == 2 else _conv.winograd_kernel4)(kernel, u)
    return u


def _conv2d_region(x, kernel, winograd_kernel, bias, strides, pad_top, pad_left, out_hw, relu,
                   threads, result=None):
    """The outputs out_hw = (rows, cols) of a convolution whose first window starts at
    (-pad_top, -pad_left) of x, a region of a larger image (what lies past x's bottom and
    right edges counts as padding): fastconv.dask's tiles. winograd_kernel is
    _winograd_kernel(kernel) for the Winograd path (None: the direct one), chosen once for the
    whole image, as conv2d would: each output is then computed with the same operations in
    the same order as conv2d computes it on the whole image, so the tiles' values are
    conv2d's, bit for bit (for Winograd, when the region starts at an even output row and
    column). Arguments are checked by the caller; result is the dtype returned (default: the
    inputs', as conv2d's)."""
    arrays = [x, kernel] + ([] if bias is None else [bias])
    compute, own = _dtypes(arrays)
    result = own if result is None else result
    f = kernel.shape[3]
    b = np.zeros(f, compute) if bias is None else _contiguous(bias, compute)
    x_c, k_c = _contiguous(x, compute), _contiguous(kernel, compute)
    y = _buffers.empty((x.shape[0],) + tuple(out_hw) + (f,), compute)
    if winograd_kernel is not None:
        _conv.conv2d_forward_winograd(x_c, _contiguous(winograd_kernel, compute), k_c, b, y,
                                      pad_top, pad_left, relu, threads)
    else:
        _conv.conv2d_forward(x_c, k_c, b, y, strides[0], strides[1], pad_top, pad_left, relu,
                             threads)
    return _finish(y, result)


def _max_pool2d_region(x, pool_size, strides, pad_top, pad_left, out_hw, threads):
    """max_pool2d's outputs out_hw of a region x of a larger image, its first window at
    (-pad_top, -pad_left): as _conv2d_region, for fastconv.dask."""
    compute, result = _dtypes([x])
    y = _buffers.empty((x.shape[0],) + tuple(out_hw) + (x.shape[3],), compute)
    _pool.max_pool2d_forward(_contiguous(x, compute), y, None, pool_size[0], pool_size[1],
                             strides[0], strides[1], pad_top, pad_left, threads)
    return _finish(y, result)


def conv2d_backward(dy, x, kernel, *, strides=1, padding="valid", compute_dx=True,
                    relu_output=None):
    """Gradients of conv2d with respect to its input, kernel and bias.

    Parameters
    ----------
    dy : array_like, shape (batch, out_height, out_width, filters): gradient of the loss
        with respect to conv2d(x, kernel, bias, strides=strides, padding=padding).
    x, kernel, strides, padding : as given to conv2d.
    compute_dx : bool, keyword-only, default True. False skips the input gradient (a
        network's first layer needs none) and returns None in its place.
    relu_output : array_like, keyword-only, optional. The result y of
        ``conv2d(..., activation="relu")``; dy is then the gradient with respect to y, and the
        ReLU's derivative (y > 0) is applied inside the kernels.

    Returns
    -------
    (dx, dkernel, dbias) : shapes of x, kernel and (filters,), in the inputs' floating dtype.
    """
    fn = "conv2d_backward"
    dy = _array(dy, "dy", fn)
    x = _array(x, "x", fn)
    kernel = _array(kernel, "kernel", fn)
    args = _ConvArgs(fn, x, kernel, strides, padding)
    if dy.shape != args.out_shape:
        raise ValueError(f"{fn}: dy must have the output's shape {args.out_shape} (x {x.shape}, "
                         f"kernel {kernel.shape}, strides {(args.sh, args.sw)}, padding "
                         f"{args.padding!r}), got {dy.shape}")
    arrays = [dy, x, kernel]
    if relu_output is not None:
        relu_output = _array(relu_output, "relu_output", fn)
        if relu_output.shape != dy.shape:
            raise ValueError(f"{fn}: relu_output must have dy's shape {dy.shape}, got "
                             f"{relu_output.shape}")
        arrays.append(relu_output)
    compute, result = _dtypes(arrays)
    y_c = None if relu_output is None else _contiguous(relu_output, compute)
    dy_c = _contiguous(dy, compute)
    x_c = _contiguous(x, compute)
    k_c = _contiguous(kernel, compute)
    dkernel = _buffers.empty(kernel.shape, compute)
    dbias = np.empty(kernel.shape[3], compute)
    if not (_winograd_dw_pays(args, kernel.shape) and
            _conv.conv2d_backward_filter_winograd(dy_c, x_c, dkernel, dbias, args.pt, args.pl,
                                                  get_num_threads(), y_c)):
        _conv.conv2d_backward_filter(dy_c, x_c, dkernel, dbias, args.sh, args.sw, args.pt,
                                     args.pl, get_num_threads(), y_c)
    dx = None
    if compute_dx:
        dx = _buffers.empty(x.shape, compute)          # the kernels write every value
        done = False
        tile = _winograd_dx_pays(args, kernel.shape, x.shape)
        if tile:
            # a forward convolution of dy with the kernel turned 180 degrees, its channel
            # axes swapped; False where a non-finite value spread (then the direct kernel)
            turned = np.ascontiguousarray(k_c[::-1, ::-1].transpose(0, 1, 3, 2))
            done = _conv.conv2d_backward_input_winograd(dy_c, _winograd_kernel(turned, tile),
                                                        turned, dx, args.pt, args.pl,
                                                        get_num_threads(), y_c)
        if not done:
            _conv.conv2d_backward_input(dy_c, k_c, dx, args.sh, args.sw, args.pt, args.pl,
                                        get_num_threads(), y_c)
        dx = _finish(dx, result)
    return dx, _finish(dkernel, result), _finish(dbias, result)


class _PoolArgs:
    """Checked arguments of one max pooling: window, strides, padding, output geometry."""

    def __init__(self, fn, x, pool_size, strides, padding):
        _check_ndim(x, 4, "x", fn, "(batch, height, width, channels)")
        n, h, w, c = x.shape
        self.ph, self.pw = _pair(pool_size, "pool_size", fn)
        if strides is None:
            self.sh, self.sw = self.ph, self.pw
        else:
            self.sh, self.sw = _pair(strides, "strides", fn)
        if self.ph * self.pw > _MAX_POOL_AREA:
            raise ValueError(f"{fn}: pool_size {(self.ph, self.pw)} covers more than "
                             f"{_MAX_POOL_AREA} values per window")
        self.padding = _padding(padding, fn)
        self.oh = conv_output_size(h, self.ph, self.sh, self.padding)
        self.ow = conv_output_size(w, self.pw, self.sw, self.padding)
        if self.oh < 1 or self.ow < 1:
            raise ValueError(f"{fn}: empty output: a {self.ph}x{self.pw} window with strides "
                             f"{(self.sh, self.sw)} and padding {self.padding!r} does not fit "
                             f"x of shape {x.shape}")
        self.pt = padding_amounts(h, self.ph, self.sh, self.padding)[0]
        self.pl = padding_amounts(w, self.pw, self.sw, self.padding)[0]
        self.out_shape = (n, self.oh, self.ow, c)

    def kernel_args(self):
        return self.ph, self.pw, self.sh, self.sw, self.pt, self.pl


def max_pool2d(x, pool_size=2, *, strides=None, padding="valid", return_indices=False):
    """2-D max pooling of NHWC data.

    Parameters
    ----------
    x : array_like, shape (batch, height, width, channels), floating
    pool_size : int or (int, int), default 2
    strides : int or (int, int), keyword-only; default pool_size (as in Keras)
    padding : {"valid", "same"}, keyword-only; "same" follows TensorFlow, and padded
        positions never win a window.
    return_indices : bool, keyword-only. True also returns, for every output value, the flat
        position ``row * width + col`` of its maximum in the input image (int64, y's shape),
        which max_pool2d_backward accepts to skip the search.

    Returns
    -------
    y, or (y, indices) : y has shape (batch, out_height, out_width, channels), x's dtype.
    Each window's maximum is its first in row-major order; NaN propagates.
    """
    fn = "max_pool2d"
    x = _array(x, "x", fn)
    args = _PoolArgs(fn, x, pool_size, strides, padding)
    compute, result = _dtypes([x])
    y = _buffers.empty(args.out_shape, compute)
    indices = _buffers.empty(args.out_shape, np.int64) if return_indices else None
    _pool.max_pool2d_forward(_contiguous(x, compute), y, indices, *args.kernel_args(),
                             get_num_threads())
    y = _finish(y, result)
    return (y, indices) if return_indices else y


def max_pool2d_backward(dy, x, pool_size=2, *, strides=None, padding="valid", indices=None):
    """Gradient of max_pool2d with respect to x.

    Each output's gradient goes to the first maximum of its window in row-major order (to the
    position in ``indices`` if given: the second result of max_pool2d(..., return_indices=True)
    with the same arguments). Overlapping windows add up.

    Returns
    -------
    dx : ndarray of x's shape and the inputs' floating dtype.
    """
    fn = "max_pool2d_backward"
    dy = _array(dy, "dy", fn)
    x = _array(x, "x", fn)
    args = _PoolArgs(fn, x, pool_size, strides, padding)
    if dy.shape != args.out_shape:
        raise ValueError(f"{fn}: dy must have the output's shape {args.out_shape} (x {x.shape}, "
                         f"pool_size {(args.ph, args.pw)}, strides {(args.sh, args.sw)}, "
                         f"padding {args.padding!r}), got {dy.shape}")
    compute, result = _dtypes([dy, x])
    dy_c = _contiguous(dy, compute)
    if indices is None:
        # the argmax as window positions in x's own type (the layers' compact form), which
        # routes gradients without any index arithmetic: 3x faster than image positions
        codes = _buffers.empty(args.out_shape, compute)
        _pool.max_pool2d_forward_codes(_contiguous(x, compute),
                                       _buffers.empty(args.out_shape, compute), codes,
                                       *args.kernel_args(), get_num_threads())
        dx = _buffers.empty(x.shape, compute)   # the kernel writes every value
        _pool.max_pool2d_backward_codes(dy_c, codes, dx, *args.kernel_args(), get_num_threads())
        return _finish(dx, result)
    indices = np.asarray(indices)
    if indices.shape != args.out_shape or indices.dtype.kind not in "iu":
        raise ValueError(f"{fn}: indices must be an integer array of shape "
                         f"{args.out_shape}, got {indices.dtype} {indices.shape}")
    indices = _contiguous(indices, np.int64)
    dx = _buffers.empty(x.shape, compute)       # the kernel writes every value
    if not _pool.max_pool2d_backward(dy_c, indices, dx,
                                     *args.kernel_args(), get_num_threads()):
        raise ValueError(f"{fn}: indices point outside their pooling windows; pass the "
                         f"indices max_pool2d returned for this x, pool_size, strides and "
                         f"padding")
    return _finish(dx, result)


def matmul(a, b, *, transpose_a=False, transpose_b=False, bias=None, activation=None):
    """``op(a) @ op(b) (+ bias)``, op transposing when asked, for 2-D float arrays, on
    fastconv's own GEMM and thread pool (the Dense layer's products).

    ``activation="relu"`` applies ReLU to the result inside the kernel. Dtypes follow the
    convolution's policy.
    """
    fn = "matmul"
    a, b = _array(a, "a", fn), _array(b, "b", fn)
    for name, arr in (("a", a), ("b", b)):
        if arr.ndim != 2:
            raise ValueError(f"{fn}: {name} must be 2-D, got shape {arr.shape}")
    m, k = a.shape[::-1] if transpose_a else a.shape
    k2, n = b.shape[::-1] if transpose_b else b.shape
    if k != k2:
        raise ValueError(f"{fn}: inner dimensions differ: op(a) is {(m, k)} (a {a.shape}), "
                         f"op(b) is {(k2, n)} (b {b.shape})")
    arrays = [a, b]
    if bias is not None:
        bias = _array(bias, "bias", fn)
        if bias.shape != (n,):
            raise ValueError(f"{fn}: bias must have shape ({n},), got {bias.shape}")
        arrays.append(bias)
    if activation not in (None, "linear", "relu"):
        raise ValueError(f"{fn}: activation must be None, 'linear' or 'relu', got {activation!r}")
    compute, result = _dtypes(arrays)
    c = _buffers.empty((m, n), compute)
    _dense.matmul(_contiguous(a, compute), bool(transpose_a), _contiguous(b, compute),
                  bool(transpose_b), c, None if bias is None else _contiguous(bias, compute),
                  activation == "relu", get_num_threads())
    return _finish(c, result)


# ---------------------------------------------------------------------------------------------
# the layers' compact pooling argmax

def _max_pool2d_with_argmax(x, pool_size, strides, padding):
    """(y, argmax) for MaxPooling2D: argmax holds each maximum's position in its window, in
    x's dtype, for _max_pool2d_backward_argmax (cheaper than the int64 image positions of
    max_pool2d(return_indices=True))."""
    fn = "MaxPooling2D"
    x = _array(x, "x", fn)
    args = _PoolArgs(fn, x, pool_size, strides, padding)
    compute, result = _dtypes([x])
    y = _buffers.empty(args.out_shape, compute)
    codes = _buffers.empty(args.out_shape, compute)
    _pool.max_pool2d_forward_codes(_contiguous(x, compute), y, codes, *args.kernel_args(),
                                   get_num_threads())
    return _finish(y, result), codes


def _max_pool2d_backward_argmax(dy, argmax, x_shape, pool_size, strides, padding):
    """dx for MaxPooling2D from the argmax of _max_pool2d_with_argmax."""
    fn = "MaxPooling2D"
    # a zero-size stand-in for x: the checks need its shape only
    args = _PoolArgs(fn, np.broadcast_to(np.uint8(0), x_shape), pool_size, strides, padding)
    dy = _array(dy, "dy", fn)
    if dy.shape != args.out_shape or argmax.shape != args.out_shape:
        raise ValueError(f"{fn}: dy and argmax must have the output's shape {args.out_shape}, "
                         f"got {dy.shape} and {argmax.shape}")
    compute, result = _dtypes([dy])
    dx = _buffers.empty(x_shape, compute)        # the kernel writes every value
    if not _pool.max_pool2d_backward_codes(_contiguous(dy, compute),
                                           _contiguous(argmax, compute), dx,
                                           *args.kernel_args(), get_num_threads()):
        raise ValueError(f"{fn}: argmax does not come from this layer's forward pass")
    return _finish(dx, result)


# ---------------------------------------------------------------------------------------------
# image resampling: the augmentation layers and the image loader's resize

_INTERPOLATIONS = {"nearest": 0, "bilinear": 1}
_FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2, "wrap": 3}


def _choice(value, table, name, fn):
    if value not in table:
        raise ValueError(f"{fn}: {name} must be one of {', '.join(map(repr, table))}, got "
                         f"{value!r}")
    return table[value]


def _resample_args(fn, images, matrices, interpolation, fill_mode, name="images"):
    images = _array(images, name, fn)
    _check_ndim(images, 4, name, fn, "(batch, height, width, channels)")
    m = np.asarray(matrices)
    if m.dtype.kind not in "biuf" or m.shape != (images.shape[0], 6):
        raise ValueError(f"{fn}: matrices must be real numbers of shape (batch, 6) = "
                         f"({images.shape[0]}, 6) for {name} {images.shape}, got {m.dtype} "
                         f"{m.shape}")
    return (images, _contiguous(m, np.float64),
            _choice(interpolation, _INTERPOLATIONS, "interpolation", fn),
            _choice(fill_mode, _FILL_MODES, "fill_mode", fn))


def _output_size(size, fn, name):
    try:
        size = tuple(operator.index(v) for v in size)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be a pair of integers (height, width), got "
                        f"{size!r}") from None
    if len(size) != 2 or min(size) < 0:
        raise ValueError(f"{fn}: {name} must be a pair of integers >= 0, got {size!r}")
    return size


def affine_transform(images, matrices, output_size=None, *, interpolation="bilinear",
                     fill_mode="reflect", fill_value=0.0):
    """Resample each NHWC image through an affine map: output pixel (row i, column j) of
    image b reads the input at column ``m[0] j + m[1] i + m[2]``, row ``m[3] j + m[4] i +
    m[5]``, with ``m = matrices[b]`` (pixel-index coordinates); points off the image follow
    Keras's fill modes (constant, nearest, reflect, wrap). src/image.pyx has the details.
    ``output_size`` (height, width) defaults to the input's."""
    fn = "affine_transform"
    images, m, interp, mode = _resample_args(fn, images, matrices, interpolation, fill_mode)
    size = images.shape[1:3] if output_size is None else _output_size(output_size, fn,
                                                                       "output_size")
    fill_value = float(fill_value)
    compute, result = _dtypes([images])
    out = _buffers.empty((images.shape[0],) + tuple(size) + images.shape[3:], compute)
    _image.affine_transform(_contiguous(images, compute), m, out, interp, mode, fill_value,
                            get_num_threads())
    return _finish(out, result)


def affine_transform_backward(dy, matrices, input_size, *, interpolation="bilinear",
                              fill_mode="reflect"):
    """The gradient with respect to the images of ``sum(dy * affine_transform(images,
    matrices, ...))`` for images of ``input_size`` (height, width): the map's transpose
    (fill values are constants and get no gradient)."""
    fn = "affine_transform_backward"
    dy, m, interp, mode = _resample_args(fn, dy, matrices, interpolation, fill_mode, "dy")
    size = _output_size(input_size, fn, "input_size")
    compute, result = _dtypes([dy])
    dx = _buffers.empty((dy.shape[0],) + size + dy.shape[3:], compute)
    _image.affine_transform_adjoint(_contiguous(dy, compute), m, dx, interp, mode,
                                    get_num_threads())
    return _finish(dx, result)


def resize_image(image, size, interpolation="bilinear"):
    """One (height, width, channels) image resized to ``size`` (height, width) as
    TensorFlow's ``tf.image.resize`` does without antialiasing (half-pixel centres; pixels
    off the edge repeat the edge), on the calling thread only: the image loader runs it in
    its own worker threads."""
    fn = "resize_image"
    image = _array(image, "image", fn)
    _check_ndim(image, 3, "image", fn, "(height, width, channels)")
    size = _output_size(size, fn, "size")
    interp = _choice(interpolation, _INTERPOLATIONS, "interpolation", fn)
    (h, w), (oh, ow) = image.shape[:2], size
    compute, result = _dtypes([image])
    out = np.empty((1, oh, ow, image.shape[2]), compute)
    sy, sx = h / max(oh, 1), w / max(ow, 1)
    m = np.array([[sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5]])
    _image.affine_transform(_contiguous(image, compute)[None], m, out, interp,
                            _FILL_MODES["nearest"], 0.0, 1)
    return _finish(out[0], result)


# ---------------------------------------------------------------------------------------------
# BatchNormalization's per-channel passes (the layer passes its own float32/float64 arrays)

def _channels_view(a, dtype, name):
    a = np.asarray(a)
    if a.ndim < 1:
        raise ValueError(f"BatchNormalization: {name} must have a channels axis, got {a.shape}")
    return _contiguous(a, dtype).reshape(-1, a.shape[-1]) if a.shape[-1] else \
        np.zeros((0, 0), dtype)


def _vector(v, dtype, c, name):
    v = _contiguous(np.asarray(v), dtype)        # aligned too (the fuzzer found it)
    if v.shape != (c,):
        raise ValueError(f"BatchNormalization: {name} must have shape ({c},), got {v.shape}")
    return v


def batch_norm_sums(x, shift, dy=None):
    """Per channel, in float64: (sum(x - shift), sum((x - shift)**2)) over all other axes,
    or with dy (same shape as x): (sum(dy), sum(dy * (x - shift)))."""
    x = np.asarray(x)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    c = x.shape[-1]
    x2 = _channels_view(x, dtype, "x")
    y2 = None
    if dy is not None:
        if np.shape(dy) != x.shape:
            raise ValueError(f"BatchNormalization: dy has shape {np.shape(dy)}, x {x.shape}")
        y2 = _channels_view(dy, dtype, "dy")
    out = np.zeros((2, c))
    if x2.size:
        _norm.channel_sums(x2, y2, _vector(shift, np.float64, c, "shift"), out,
                           get_num_threads())
    return out[0], out[1]


def channel_affine(x, center, scale, offset, y=None, y_scale=None):
    """(x - center) * scale + offset (+ y * y_scale), each factor per channel (the last axis),
    in x's dtype (float32 or float64), in one pass."""
    x = np.asarray(x)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    c = x.shape[-1]
    out = np.empty(x.shape, dtype)
    y2 = ys = None
    if y is not None:
        if np.shape(y) != x.shape:
            raise ValueError(f"BatchNormalization: y has shape {np.shape(y)}, x {x.shape}")
        y2, ys = _channels_view(y, dtype, "y"), _vector(y_scale, dtype, c, "y_scale")
    factors = [_vector(v, dtype, c, name) for v, name in ((center, "center"), (scale, "scale"),
                                                          (offset, "offset"))]
    if x.size == 0:
        return out
    _norm.channel_affine(_channels_view(x, dtype, "x"), *factors, y2, ys, out.reshape(-1, c),
                         get_num_threads())
    return out


# ---------------------------------------------------------------------------------------------
# the optimizers' updates

_UPDATES = {"rmsprop": _optim.rmsprop, "sgd": _optim.sgd, "adam": _optim.adam}
_NATIVE_FLOATS = (np.dtype("=f4"), np.dtype("=f8"))


def _update_in_place(rule, param, grad, state, *hyper):
    """One step of an optimizer's rule on the compiled kernels, writing param and its state
    arrays (a list like the kernel's arguments, None for an absent one) in place.

    The state arrays are the optimizer's own, made by np.zeros_like(param), so param's checks
    cover them. Returns False, having done nothing, where param cannot be written directly: a
    dtype other than native float32 or float64, a layout other than C-contiguous and aligned,
    a read-only array, or a gradient of another shape. The optimizer then runs its NumPy
    formula, which the kernels match bitwise.
    """
    if not (type(param) is np.ndarray and param.dtype in _NATIVE_FLOATS
            and param.flags.c_contiguous and param.flags.aligned and param.flags.writeable
            and grad.shape == param.shape):
        return False
    _UPDATES[rule](param.reshape(-1), _contiguous(grad, param.dtype).reshape(-1),
                   *[None if s is None else s.reshape(-1) for s in state], *hyper,
                   get_num_threads())
    return True
