"""conv2d and conv2d_backward: checks, the choice between the direct and the Winograd
kernels (src/conv.pyx: conv_direct.pxi, conv_winograd.pxi), and the regions fastconv.dask
computes."""
import os
from types import SimpleNamespace

import numpy as np

from .. import _buffers, _conv
from .._config import get_num_threads
from .checks import (bias_operand, check_ndim, contiguous, conv_output_size, dtypes, finish,
                     floating_array, fused_activation, padding_amounts, padding_name, pair,
                     relu_output_operand)


class ConvArgs:
    """Checked arguments of one convolution: arrays, strides, dilation, groups, padding and
    output geometry."""

    def __init__(self, fn, x, kernel, strides, padding, dilation_rate=1, groups=1):
        check_ndim(x, 4, "x", fn, "(batch, height, width, channels)")
        check_ndim(kernel, 4, "kernel", fn, "(kh, kw, in_channels / groups, filters)")
        n, h, w, c = x.shape
        kh, kw, kc, f = kernel.shape
        self.groups = group_count(groups, fn)
        if kc * self.groups != c:
            raise ValueError(f"{fn}: kernel in_channels {kc} (kernel shape {kernel.shape}) "
                             f"times groups {self.groups} does not match x channels {c} "
                             f"(x shape {x.shape})")
        if f % self.groups:
            raise ValueError(f"{fn}: filters {f} (kernel shape {kernel.shape}) must be a "
                             f"multiple of groups {self.groups}")
        if kh < 1 or kw < 1:
            raise ValueError(f"{fn}: kernel must be at least 1x1, got shape {kernel.shape}")
        self.sh, self.sw = pair(strides, "strides", fn)
        self.dh, self.dw = pair(dilation_rate, "dilation_rate", fn)
        self.dilated = (self.dh, self.dw) != (1, 1)
        if self.dilated and (self.sh, self.sw) != (1, 1):
            raise ValueError(f"{fn}: dilation_rate {(self.dh, self.dw)} needs strides 1 (as in "
                             f"TensorFlow and Keras), got strides {(self.sh, self.sw)}")
        self.padding = padding_name(padding, fn)
        eh, ew = (kh - 1) * self.dh + 1, (kw - 1) * self.dw + 1
        self.oh = conv_output_size(h, eh, self.sh, self.padding)
        self.ow = conv_output_size(w, ew, self.sw, self.padding)
        if self.oh < 1 or self.ow < 1:
            dilation = f" dilated by {(self.dh, self.dw)}" if self.dilated else ""
            raise ValueError(f"{fn}: empty output: a {kh}x{kw} window{dilation} with strides "
                             f"{(self.sh, self.sw)} and padding {self.padding!r} does not fit "
                             f"x of shape {x.shape}")
        (self.pt, self.pb), (self.pl, self.pr) = (padding_amounts(h, eh, self.sh, self.padding),
                                                  padding_amounts(w, ew, self.sw, self.padding))
        self.out_shape = (n, self.oh, self.ow, f)


def group_count(groups, fn):
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{fn}: groups must be a positive int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{fn}: groups must be >= 1, got {groups}")
    return int(groups)


def conv2d(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1,
           activation=None):
    """2-D convolution (cross-correlation, as in Keras and PyTorch) of NHWC data.

    Parameters
    ----------
    x : array_like, shape (batch, height, width, in_channels), float32 or float64
    kernel : array_like, shape (kh, kw, in_channels, filters)
    bias : array_like, shape (filters,), optional
    strides : int or (int, int), keyword-only, default 1
    padding : {"valid", "same"}, keyword-only, case-insensitive; "same" pads as TensorFlow
        does (output size ceil(size / stride), the smaller half of the padding on top/left).
    dilation_rate : int or (int, int), keyword-only, default 1: the kernel's taps this far
        apart (strides must then be 1, as in TensorFlow). Computed as dilation_rate[0] x
        dilation_rate[1] undilated convolutions over the input's interleaved phases, on the
        same kernels.
    groups : int, keyword-only, default 1: the channels split into this many groups, each
        convolved with its own filters / groups filters (kernel (kh, kw, in_channels /
        groups, filters)), one convolution per group.
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
    x = floating_array(x, "x", fn)
    args, kernel, bias, compute, result = conv_operands(fn, x, kernel, bias, strides, padding,
                                                         activation, dilation_rate, groups)
    if args.groups > 1 or args.dilated:
        return finish(split_forward(args, contiguous(x, compute), contiguous(kernel, compute),
                                    None if bias is None else contiguous(bias, compute),
                                    activation), result)
    f = kernel.shape[3]
    b = np.zeros(f, compute) if bias is None else contiguous(bias, compute)
    y = _buffers.empty(args.out_shape, compute)
    x_c, k_c = contiguous(x, compute), contiguous(kernel, compute)
    tile = winograd_pays(args, kernel.shape)
    if tile:
        _conv.conv2d_forward_winograd(x_c, winograd_kernel(k_c, tile), k_c, b, y, args.pt,
                                      args.pl, activation == "relu", get_num_threads())
    else:
        _conv.conv2d_forward(x_c, k_c, b, y, args.sh, args.sw, args.pt, args.pl,
                             activation == "relu", get_num_threads())
    return finish(y, result)


def conv_operands(fn, x, kernel, bias, strides, padding, activation, dilation_rate=1,
                  groups=1):
    """(args, kernel, bias, compute dtype, result dtype) of a convolution, checked. x is an
    array already checked by floating_array, or anything with its shape, ndim and dtype
    (fastconv.dask passes a dask array, which is never read here); kernel and bias are
    array_like."""
    kernel = floating_array(kernel, "kernel", fn)
    args = ConvArgs(fn, x, kernel, strides, padding, dilation_rate, groups)
    f = kernel.shape[3]
    arrays = [np.empty((0,), x.dtype), kernel]
    bias = bias_operand(bias, f, fn, f" for kernel shape {kernel.shape}")
    arrays += [] if bias is None else [bias]
    fused_activation(activation, fn)
    compute, result = dtypes(arrays)
    return args, kernel, bias, compute, result


def group_slices(args, kernel):
    """(input channel slice, filter slice) of each group."""
    cg, fg = kernel.shape[2], kernel.shape[3] // args.groups
    return [(slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg))
            for g in range(args.groups)]


def phases(args):
    """The dilated convolution's phases: (row offset, column offset) of the outputs, and of
    the padded input, that one undilated convolution computes: outputs (a + dh * i, b + dw *
    j) read only padded input rows a + dh * k and columns b + dw * l."""
    return [(a, b) for a in range(min(args.dh, args.oh)) for b in range(min(args.dw, args.ow))]


def padded(args, x):
    return np.pad(x, ((0, 0), (args.pt, args.pb), (args.pl, args.pr), (0, 0)))


def split_forward(args, x, kernel, bias, activation):
    """conv2d with groups (one convolution per group, on its channels) or a dilation (one
    undilated 'valid' convolution per phase of the padded input), all in x's dtype."""
    y = _buffers.empty(args.out_shape, x.dtype)
    for cs, fs in group_slices(args, kernel):
        xg, kg, bg = x[..., cs], kernel[..., fs], None if bias is None else bias[fs]
        if not args.dilated:
            y[..., fs] = conv2d(xg, kg, bg, strides=(args.sh, args.sw), padding=args.padding,
                                activation=activation)
            continue
        xp = padded(args, xg)
        for a, b in phases(args):
            y[:, a::args.dh, b::args.dw, fs] = conv2d(xp[:, a::args.dh, b::args.dw], kg, bg,
                                                      activation=activation)
    return y


def split_backward(args, dy, x, kernel, relu_output, compute_dx):
    """conv2d_backward for split_forward's convolutions: each group's and each phase's
    gradients from conv2d_backward, the phases' kernel and bias gradients summed."""
    dx = np.zeros(x.shape, x.dtype) if compute_dx else None
    dkernel = np.zeros(kernel.shape, x.dtype)
    dbias = np.zeros(kernel.shape[3], x.dtype)
    for cs, fs in group_slices(args, kernel):
        dyg, xg, kg = dy[..., fs], x[..., cs], kernel[..., fs]
        yg = None if relu_output is None else relu_output[..., fs]
        if not args.dilated:
            dxg, dkernel[..., fs], dbias[fs] = conv2d_backward(
                dyg, xg, kg, strides=(args.sh, args.sw), padding=args.padding,
                compute_dx=compute_dx, relu_output=yg)
            if compute_dx:
                dx[..., cs] = dxg
            continue
        xp = padded(args, xg)
        dxp = np.zeros(xp.shape, x.dtype) if compute_dx else None
        for a, b in phases(args):
            rows, cols = slice(a, None, args.dh), slice(b, None, args.dw)
            dxs, dks, dbs = conv2d_backward(dyg[:, rows, cols], xp[:, rows, cols], kg,
                                            compute_dx=compute_dx,
                                            relu_output=None if yg is None else yg[:, rows, cols])
            if compute_dx:
                dxp[:, rows, cols] = dxs
            dkernel[..., fs] += dks
            dbias[fs] += dbs
        if compute_dx:
            dx[..., cs] = dxp[:, args.pt:args.pt + x.shape[1], args.pl:args.pl + x.shape[2]]
    return dx, dkernel, dbias


# Winograd for 3x3 kernels with strides 1: F(2x2, 3x3) takes 16 multiplications for 4 outputs and
# F(4x4, 3x3) 36 for 16, where a direct convolution needs 36 and 144; whole tiles overhang the
# image by up to 1 (F(2x2)) or 3 (F(4x4)) outputs a side. The input gradient of such a convolution
# is one too (dy convolved with the kernel turned 180 degrees), so it takes the same path. Measured
# here against the direct kernels (float32, 2 threads; AMD EPYC Zen 3, avx2+fma; `python
# benchmarks/winograd_tiles.py` times the forward kernels alone over output sizes and channel
# counts, `python benchmarks/winograd_paths.py` each path through conv2d and conv2d_backward): with
# 32 or more channels in and out F(2x2) takes about 0.62 and F(4x4) about 0.45 of the direct time
# per output in its tiles (0.26 to 0.91 and 0.37 to 1.1 over the shapes), so the computed outputs
# ("overhang": outputs in whole tiles / outputs) decide: F(4x4) where 0.45 x its overhang is below
# 0.62 x F(2x2)'s, and either only while its overhang, counted in F(2x2)'s units, is at most 1.35
# (forward) or 1.2 (input gradient, whose transform also applies the ReLU's mask). Each call also
# transforms and packs the kernel (16 or 36 c x f matrices), which few tiles do not repay: the
# overhang counts (1 + 32 / tiles) times (64 tiles of 3x3 outputs, 64 x 64 channels: F(4x4) 1.4x to
# 1.9x the direct time over two runs, 0.9x to 1.1x at 256; `python benchmarks/winograd_tiles.py
# --batches`), the tiles of a batch of 64 images, whatever the batch (an image's result must not
# depend on the batch it comes in). With fewer channels the GEMMs are thin: F(2x2) lost to the
# direct kernel (1.0x to 1.9x its time) below 32 x 32 channel pairs, F(4x4) held 0.6x to 0.8x from
# 16 x 32, and with 16 x 16 pairs or fewer neither pays. The error of F(4x4) in float32 is up to
# 54x the direct kernel's, F(2x2)'s 2.6x (`python benchmarks/winograd_accuracy.py`).
# FASTCONV_WINOGRAD=0 turns both off (every convolution then runs the direct kernels);
# FASTCONV_WINOGRAD=2x2 keeps F(2x2, 3x3) only, for its smaller error.
WINOGRAD_SETTING = os.environ.get("FASTCONV_WINOGRAD", "1").strip().lower()
WINOGRAD = WINOGRAD_SETTING not in ("0", "off", "no")
WINOGRAD_4X4 = WINOGRAD and WINOGRAD_SETTING not in ("2", "2x2")
F4_COST = 0.45 / 0.62       # F(4x4)'s time per computed output, in F(2x2)'s


def winograd_pays(args, kernel_shape):
    """The Winograd tile conv2d's forward pass takes: 0 (none: the direct kernel), 2 or 4."""
    kh, kw, c, f = kernel_shape
    return winograd_shape_pays(kh, kw, args.sh, args.sw, c, f, args.oh, args.ow, 1.35)


def winograd_dx_pays(args, kernel_shape, x_shape):
    """The tile conv2d_backward's input gradient takes (0, 2 or 4): the same test on the
    transposed convolution, from dy (filters channels) to dx (in_channels, x's size)."""
    kh, kw, c, f = kernel_shape
    return winograd_shape_pays(kh, kw, args.sh, args.sw, f, c, x_shape[1], x_shape[2], 1.2)


def winograd_dw_pays(args, kernel_shape):
    """Whether conv2d_backward's kernel gradient takes it (F(3x3, 2x2) over dy's tiles).

    Its 16 GEMMs sum over tiles into c x f products, so it pays with many channel pairs and
    little overhang (`python benchmarks/winograd_paths.py`: 1.4x with 32 x 64 channels on a
    200x200 image, 1.6x and 2.3x with 128 x 128 and 256 x 256, but 1.04x with 32 x 32 and
    0.86x with 16 x 16 on 32x32 and 16x16 images; on MNIST conv2's 11x11 outputs 0.6x to 1.2x
    from run to run).
    """
    kh, kw, c, f = kernel_shape
    overhang = 4 * ((args.oh + 1) // 2) * ((args.ow + 1) // 2) / max(args.oh * args.ow, 1)
    return (winograd_applies(kh, kw, args.sh, args.sw, c, f) and c * f >= 2048
            and overhang <= 1.1)


def winograd_applies(kh, kw, sh, sw, c_in, c_out):
    """Whether any Winograd path may run: on, 3x3, strides 1, 16+ channels in and out."""
    return WINOGRAD and (kh, kw, sh, sw) == (3, 3, 1, 1) and c_in >= 16 and c_out >= 16


def winograd_shape_pays(kh, kw, sh, sw, c_in, c_out, oh, ow, max_overhang):
    """0, 2 or 4: the Winograd tile for this convolution (see the comment above), its fixed
    cost counted for a batch of n = 64 images whatever the batch, so that an image's result
    does not depend on the batch it came in (predict's last, shorter batch; dask's chunks)."""
    n = 64
    if not (winograd_applies(kh, kw, sh, sw, c_in, c_out) and c_in * c_out > 256
            and oh * ow > 0):
        return 0
    tiles2 = n * ((oh + 1) // 2) * ((ow + 1) // 2)
    tiles4 = n * ((oh + 3) // 4) * ((ow + 3) // 4)
    over2 = 4 * tiles2 / (n * oh * ow) * (1 + 32 / tiles2)
    over4 = 16 * tiles4 / (n * oh * ow) * F4_COST * (1 + 32 / tiles4)
    if c_in * c_out < 1024:
        over2 = float("inf")
    if not WINOGRAD_4X4:
        over4 = float("inf")
    cost, tile = min((over2, 2), (over4, 4))
    return tile if cost <= max_overhang else 0


def winograd_kernel(kernel, tile=2):
    """G g G^T for each (in, out) channel pair of a C-contiguous float32/float64 kernel: 16
    matrices (in_channels, filters) of its dtype for F(2x2, 3x3) (tile 2), 36 for F(4x4, 3x3)
    (tile 4), computed in float64."""
    points = 16 if tile == 2 else 36
    u = np.empty((points,) + kernel.shape[2:], kernel.dtype)
    (_conv.winograd_kernel if tile == 2 else _conv.winograd_kernel4)(kernel, u)
    return u


def conv2d_region(x, kernel, winograd_kernel, bias, strides, pad_top, pad_left, out_hw, relu,
                   threads, result=None):
    """The outputs out_hw = (rows, cols) of a convolution whose first window starts at
    (-pad_top, -pad_left) of x, a region of a larger image (what lies past x's bottom and
    right edges counts as padding): fastconv.dask's tiles. winograd_kernel is
    winograd_kernel(kernel) for the Winograd path (None: the direct one), chosen once for the
    whole image, as conv2d would: each output is then computed with the same operations in
    the same order as conv2d computes it on the whole image, so the tiles' values are
    conv2d's, bit for bit (for Winograd, when the region starts at an even output row and
    column). Arguments are checked by the caller; result is the dtype returned (default: the
    inputs', as conv2d's)."""
    arrays = [x, kernel] + ([] if bias is None else [bias])
    compute, own = dtypes(arrays)
    result = own if result is None else result
    f = kernel.shape[3]
    b = np.zeros(f, compute) if bias is None else contiguous(bias, compute)
    x_c, k_c = contiguous(x, compute), contiguous(kernel, compute)
    y = _buffers.empty((x.shape[0],) + tuple(out_hw) + (f,), compute)
    if winograd_kernel is not None:
        _conv.conv2d_forward_winograd(x_c, contiguous(winograd_kernel, compute), k_c, b, y,
                                      pad_top, pad_left, relu, threads)
    else:
        _conv.conv2d_forward(x_c, k_c, b, y, strides[0], strides[1], pad_top, pad_left, relu,
                             threads)
    return finish(y, result)


def conv2d_backward(dy, x, kernel, *, strides=1, padding="valid", dilation_rate=1, groups=1,
                    compute_dx=True, relu_output=None):
    """Gradients of conv2d with respect to its input, kernel and bias.

    Parameters
    ----------
    dy : array_like, shape (batch, out_height, out_width, filters): gradient of the loss
        with respect to conv2d(x, kernel, bias, strides=strides, padding=padding).
    x, kernel, strides, padding, dilation_rate, groups : as given to conv2d.
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
    dy = floating_array(dy, "dy", fn)
    x = floating_array(x, "x", fn)
    kernel = floating_array(kernel, "kernel", fn)
    args = ConvArgs(fn, x, kernel, strides, padding, dilation_rate, groups)
    if dy.shape != args.out_shape:
        raise ValueError(f"{fn}: dy must have the output's shape {args.out_shape} (x {x.shape}, "
                         f"kernel {kernel.shape}, strides {(args.sh, args.sw)}, dilation_rate "
                         f"{(args.dh, args.dw)}, groups {args.groups}, padding "
                         f"{args.padding!r}), got {dy.shape}")
    relu_output = relu_output_operand(relu_output, dy, fn)
    arrays = [dy, x, kernel] + ([] if relu_output is None else [relu_output])
    compute, result = dtypes(arrays)
    if args.groups > 1 or args.dilated:
        grads = split_backward(args, contiguous(dy, compute), contiguous(x, compute),
                               contiguous(kernel, compute),
                               None if relu_output is None else contiguous(relu_output, compute),
                               compute_dx)
        return tuple(None if g is None else finish(g, result) for g in grads)
    y_c = None if relu_output is None else contiguous(relu_output, compute)
    dy_c = contiguous(dy, compute)
    x_c = contiguous(x, compute)
    k_c = contiguous(kernel, compute)
    dkernel = _buffers.empty(kernel.shape, compute)
    dbias = np.empty(kernel.shape[3], compute)
    if not (winograd_dw_pays(args, kernel.shape) and
            _conv.conv2d_backward_filter_winograd(dy_c, x_c, dkernel, dbias, args.pt, args.pl,
                                                  get_num_threads(), y_c)):
        _conv.conv2d_backward_filter(dy_c, x_c, dkernel, dbias, args.sh, args.sw, args.pt,
                                     args.pl, get_num_threads(), y_c)
    dx = None
    if compute_dx:
        dx = _buffers.empty(x.shape, compute)          # the kernels write every value
        done = False
        tile = winograd_dx_pays(args, kernel.shape, x.shape)
        if tile:
            # a forward convolution of dy with the kernel turned 180 degrees, its channel
            # axes swapped; False where a non-finite value spread (then the direct kernel)
            turned = np.ascontiguousarray(k_c[::-1, ::-1].transpose(0, 1, 3, 2))
            done = _conv.conv2d_backward_input_winograd(dy_c, winograd_kernel(turned, tile),
                                                        turned, dx, args.pt, args.pl,
                                                        get_num_threads(), y_c)
        if not done:
            _conv.conv2d_backward_input(dy_c, k_c, dx, args.sh, args.sw, args.pt, args.pl,
                                        get_num_threads(), y_c)
        dx = finish(dx, result)
    return dx, finish(dkernel, result), finish(dbias, result)


def transpose_padding(size, window, stride, padding, output_padding):
    """(output size, pad_top) along one axis of Keras's transposed convolution: the output is
    the input gradient of a convolution over an input of that size with that pad_top.

    Keras's rule, as its JAX backend states it: the input, stride - 1 zeros between its
    values, padded by (left, right) and correlated with the kernel turned around. 'valid':
    left = window - 1, right = left + output_padding (default max(window, stride) - window);
    'same': pad_len = stride + window - 2 (window + window % 2 - 2 + output_padding when
    given), left = min(ceil(pad_len / 2), window - 1), right = pad_len - left."""
    if padding == "valid":
        left = window - 1
        right = left + (max(window, stride) - window if output_padding is None
                        else output_padding)
    else:
        pad_len = (stride + window - 2 if output_padding is None
                   else window + window % 2 - 2 + output_padding)
        left = min(pad_len // 2 + pad_len % 2, window - 1)
        right = pad_len - left
    return (size - 1) * stride + 1 + left + right - window + 1, window - 1 - left


class TransposeArgs:
    """Checked arguments of one transposed convolution (kernel (kh, kw, filters,
    in_channels), Keras's layout): strides, padding, output_padding, the output geometry."""

    def __init__(self, fn, x, kernel, strides, padding, output_padding, dilation_rate=1):
        check_ndim(x, 4, "x", fn, "(batch, height, width, channels)")
        check_ndim(kernel, 4, "kernel", fn, "(kh, kw, filters, in_channels)")
        n, h, w, c = x.shape
        kh, kw, f, kc = kernel.shape
        if kc != c:
            raise ValueError(f"{fn}: kernel in_channels {kc} (kernel shape {kernel.shape}, "
                             f"(kh, kw, filters, in_channels)) does not match x channels {c} "
                             f"(x shape {x.shape})")
        if kh < 1 or kw < 1:
            raise ValueError(f"{fn}: kernel must be at least 1x1, got shape {kernel.shape}")
        if h < 1 or w < 1:
            raise ValueError(f"{fn}: x must have at least one row and one column, got shape "
                             f"{x.shape}")
        self.sh, self.sw = pair(strides, "strides", fn)
        self.dh, self.dw = pair(dilation_rate, "dilation_rate", fn)
        self.dilated = (self.dh, self.dw) != (1, 1)
        if self.dilated and (self.sh, self.sw) != (1, 1):
            raise ValueError(f"{fn}: strides > 1 is incompatible with dilation_rate > 1 (as in "
                             f"Keras), got strides {(self.sh, self.sw)} and dilation_rate "
                             f"{(self.dh, self.dw)}")
        # the window a dilated kernel covers
        self.eh, self.ew = (kh - 1) * self.dh + 1, (kw - 1) * self.dw + 1
        self.padding = padding_name(padding, fn)
        if output_padding is None:
            ops = (None, None)
        else:
            ops = pair_or_zero(output_padding, "output_padding", fn)
            for op, s in zip(ops, (self.sh, self.sw)):
                if op >= s:
                    raise ValueError(f"{fn}: output_padding must be less than strides, got "
                                     f"output_padding {output_padding!r} and strides "
                                     f"{(self.sh, self.sw)}")
        self.output_padding = None if output_padding is None else ops
        self.oh, self.pt = transpose_padding(h, self.eh, self.sh, self.padding, ops[0])
        self.ow, self.pl = transpose_padding(w, self.ew, self.sw, self.padding, ops[1])
        if self.oh < 1 or self.ow < 1:
            raise ValueError(f"{fn}: empty output for x of shape {x.shape}, kernel "
                             f"{kernel.shape}, strides {(self.sh, self.sw)}, padding "
                             f"{self.padding!r} and output_padding {output_padding!r}")
        self.out_shape = (n, self.oh, self.ow, f)
        # stride 1: the convolution whose input gradient this is pads its input (the
        # transposed output) by pt, pb on top and bottom (pl, pr at the sides); the
        # transposed convolution is a convolution of x padded by eh - 1 - pt, eh - 1 - pb
        self.pb = h + self.eh - 1 - self.oh - self.pt
        self.pr = w + self.ew - 1 - self.ow - self.pl

    def turned_padding(self):
        """((top, bottom), (left, right)) of x for the stride-1 transposed convolution as
        a 'valid' convolution with the kernel turned around."""
        return ((self.eh - 1 - self.pt, self.eh - 1 - self.pb),
                (self.ew - 1 - self.pl, self.ew - 1 - self.pr))


def pair_or_zero(value, name, fn):
    """An int or a pair of ints, each >= 0, as a tuple (h, w)."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{fn}: {name} must be an int or a pair of 2 ints, got {value!r}")
    return tuple(v - 1 for v in pair(tuple(v + 1 if isinstance(v, int) and
                                           not isinstance(v, bool) and v >= 0 else v
                                           for v in items), name, fn))


def conv2d_transpose(x, kernel, bias=None, *, strides=1, padding="valid", output_padding=None,
                     dilation_rate=1, activation=None):
    """Transposed 2-D convolution of NHWC data (Keras's Conv2DTranspose, PyTorch's
    ConvTranspose2d): the input gradient of a convolution, each input pixel spreading its
    values, times the kernel, over a window of the output.

    Parameters
    ----------
    x : array_like, shape (batch, height, width, in_channels), float32 or float64
    kernel : array_like, shape (kh, kw, filters, in_channels): Keras's layout
    bias : array_like, shape (filters,), optional
    strides : int or (int, int), keyword-only, default 1
    padding : {"valid", "same"}, keyword-only
    output_padding : int, (int, int) or None, keyword-only: rows and columns added at the
        bottom and right, each less than its stride. The output size is Keras's:
        'valid' ``(size - 1) * stride + kernel + output_padding`` (default output_padding
        ``max(kernel, stride) - kernel``), 'same' ``size * stride`` without output_padding,
        ``(size - 1) * stride + kernel % 2 + output_padding`` with it.
    dilation_rate : int or (int, int), keyword-only, default 1: dilation - 1 zeros between
        the kernel's taps (kernel in the sizes above: its dilated extent); strides 1 only,
        as in Keras.
    activation : {None, "relu"}, keyword-only

    Returns
    -------
    y : ndarray, shape (batch, out_height, out_width, filters), the inputs' floating dtype.

    Examples
    --------
    >>> x = np.ones((1, 5, 5, 3), np.float32); k = np.ones((3, 3, 4, 3), np.float32)
    >>> conv2d_transpose(x, k, strides=2, padding="same").shape
    (1, 10, 10, 4)
    """
    fn = "conv2d_transpose"
    x = floating_array(x, "x", fn)
    kernel = floating_array(kernel, "kernel", fn)
    args = TransposeArgs(fn, x, kernel, strides, padding, output_padding, dilation_rate)
    arrays = [x, kernel]
    f = kernel.shape[2]
    bias = bias_operand(bias, f, fn, f" for kernel shape {kernel.shape}")
    arrays += [] if bias is None else [bias]
    fused_activation(activation, fn)
    compute, result = dtypes(arrays)
    if args.dilated:
        # a dilated 'valid' convolution of x padded, with the kernel turned around: conv2d's
        # phases (each an undilated convolution on its kernels)
        turned = np.ascontiguousarray(contiguous(kernel, compute)[::-1, ::-1]
                                      .transpose(0, 1, 3, 2))
        xp = np.pad(contiguous(x, compute), ((0, 0),) + args.turned_padding() + ((0, 0),))
        return finish(conv2d(xp, turned, None if bias is None else contiguous(bias, compute),
                             dilation_rate=(args.dh, args.dw), activation=activation), result)
    if (args.sh, args.sw) == (1, 1):
        # a convolution with the kernel turned 180 degrees, its channel axes swapped, padded
        # by what the transposed one crops less: conv2d's kernels, Winograd where it pays
        kh, kw = kernel.shape[:2]
        turned = np.ascontiguousarray(contiguous(kernel, compute)[::-1, ::-1]
                                      .transpose(0, 1, 3, 2))
        tile = winograd_shape_pays(kh, kw, 1, 1, x.shape[3], f, args.oh, args.ow, 1.35)
        return conv2d_region(x, turned, winograd_kernel(turned, tile) if tile else None, bias,
                             (1, 1), kh - 1 - args.pt, kw - 1 - args.pl, (args.oh, args.ow),
                             activation == "relu", get_num_threads(), result)
    y = _buffers.empty(args.out_shape, compute)       # the kernel writes every value
    _conv.conv2d_backward_input(contiguous(x, compute), contiguous(kernel, compute), y,
                                args.sh, args.sw, args.pt, args.pl, get_num_threads())
    if bias is not None:
        y += contiguous(bias, compute)
    if activation == "relu":
        y[y < 0] = 0                                  # NaN stays NaN, as the fused ReLUs'
    return finish(y, result)


def conv2d_transpose_backward(dy, x, kernel, *, strides=1, padding="valid",
                              output_padding=None, dilation_rate=1, compute_dx=True,
                              relu_output=None):
    """Gradients of conv2d_transpose with respect to x, kernel and bias: dx is the
    convolution of dy with the kernel, dkernel the convolution's kernel gradient with the
    roles of its input and output gradient swapped. Arguments as conv2d_backward's.

    Returns
    -------
    (dx, dkernel, dbias) : shapes of x, kernel and (filters,), the inputs' floating dtype.
    """
    fn = "conv2d_transpose_backward"
    dy = floating_array(dy, "dy", fn)
    x = floating_array(x, "x", fn)
    kernel = floating_array(kernel, "kernel", fn)
    args = TransposeArgs(fn, x, kernel, strides, padding, output_padding, dilation_rate)
    if dy.shape != args.out_shape:
        raise ValueError(f"{fn}: dy must have the output's shape {args.out_shape} (x {x.shape}, "
                         f"kernel {kernel.shape}, strides {(args.sh, args.sw)}, padding "
                         f"{args.padding!r}, output_padding {output_padding!r}), got {dy.shape}")
    relu_output = relu_output_operand(relu_output, dy, fn)
    arrays = [dy, x, kernel] + ([] if relu_output is None else [relu_output])
    compute, result = dtypes(arrays)
    g = contiguous(dy, compute)
    if relu_output is not None:
        g = np.where(contiguous(relu_output, compute) > 0, g, 0).astype(compute, copy=False)
    x_c, k_c = contiguous(x, compute), contiguous(kernel, compute)
    kh, kw, f, c = kernel.shape
    n, h, w, _ = x.shape
    if args.dilated:
        # the dilated convolution (input dy padded, output x): its input gradient, kernel
        # gradient
        gp = np.pad(g, ((0, 0), (args.pt, args.pb), (args.pl, args.pr), (0, 0)))
        d = (args.dh, args.dw)
        _, dkernel, _ = conv2d_backward(x_c, gp, k_c, dilation_rate=d, compute_dx=False)
        dbias = g.sum(axis=(0, 1, 2), dtype=np.float64).astype(compute)
        dx = conv2d(gp, k_c, dilation_rate=d) if compute_dx else None
        return (None if dx is None else finish(dx, result), finish(dkernel, result),
                finish(dbias, result))
    stride_1 = (args.sh, args.sw) == (1, 1)
    # the geometry of the convolution whose input gradient the forward pass is (its input
    # is dy, its output x), for the Winograd choices
    conv = SimpleNamespace(sh=args.sh, sw=args.sw, oh=h, ow=w)
    dkernel = _buffers.empty(kernel.shape, compute)
    unused = np.empty(c, compute)
    if not (winograd_dw_pays(conv, kernel.shape) and
            _conv.conv2d_backward_filter_winograd(x_c, g, dkernel, unused, args.pt, args.pl,
                                                  get_num_threads())):
        _conv.conv2d_backward_filter(x_c, g, dkernel, unused, args.sh, args.sw, args.pt,
                                     args.pl, get_num_threads())
    dbias = g.sum(axis=(0, 1, 2), dtype=np.float64).astype(compute)
    dx = None
    if compute_dx:
        tile = winograd_pays(conv, kernel.shape) if stride_1 else 0
        dx = conv2d_region(g, k_c, winograd_kernel(k_c, tile) if tile else None, None,
                           (args.sh, args.sw), args.pt, args.pl, (h, w), False,
                           get_num_threads(), result)
    return dx, finish(dkernel, result), finish(dbias, result)
