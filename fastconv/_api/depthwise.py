"""depthwise_conv2d, depthwise_conv2d_backward and separable_conv2d: checks and dispatch into
src/depthwise.pyx."""
import numpy as np

from .. import _buffers, _depthwise
from .._config import get_num_threads, last_level_cache_bytes
from .checks import (bias_operand, check_ndim, contiguous, conv_output_size, dtypes, finish,
                     floating_array, fused_activation, padding_amounts, padding_name, pair,
                     relu_output_operand)


def dilated(size, rate):
    """The span of a window of `size` taps `rate` apart."""
    return (size - 1) * rate + 1


class DepthwiseArgs:
    """Checked arguments of one depthwise convolution: strides, dilation, padding and the
    output geometry."""

    def __init__(self, fn, x, kernel, strides, padding, dilation_rate):
        check_ndim(x, 4, "x", fn, "(batch, height, width, channels)")
        check_ndim(kernel, 4, "kernel", fn, "(kh, kw, in_channels, depth_multiplier)")
        n, h, w, c = x.shape
        kh, kw, kc, m = kernel.shape
        if kc != c:
            raise ValueError(f"{fn}: kernel in_channels {kc} (kernel shape {kernel.shape}) does "
                             f"not match x channels {c} (x shape {x.shape})")
        if kh < 1 or kw < 1 or m < 1:
            raise ValueError(f"{fn}: kernel must be at least 1x1 with a depth multiplier of at "
                             f"least 1, got shape {kernel.shape}")
        self.sh, self.sw = pair(strides, "strides", fn)
        self.dh, self.dw = pair(dilation_rate, "dilation_rate", fn)
        self.padding = padding_name(padding, fn)
        eh, ew = dilated(kh, self.dh), dilated(kw, self.dw)
        self.oh = conv_output_size(h, eh, self.sh, self.padding)
        self.ow = conv_output_size(w, ew, self.sw, self.padding)
        if self.oh < 1 or self.ow < 1:
            raise ValueError(f"{fn}: empty output: a {kh}x{kw} window with dilation "
                             f"{(self.dh, self.dw)} ({eh}x{ew}), strides {(self.sh, self.sw)} "
                             f"and padding {self.padding!r} does not fit x of shape {x.shape}")
        self.pt = padding_amounts(h, eh, self.sh, self.padding)[0]
        self.pl = padding_amounts(w, ew, self.sw, self.padding)[0]
        self.multiplier = m
        self.out_shape = (n, self.oh, self.ow, c * m)

    def kernel_args(self):
        return self.sh, self.sw, self.dh, self.dw, self.pt, self.pl


def streams(nbytes):
    """Whether an output of nbytes is written around the caches: when it is more than twice
    the last-level cache, so that none of it would be there for the next layer anyway, and
    a store that misses would read its line first."""
    return nbytes > 2 * last_level_cache_bytes()


def repeated(x, m):
    """x with each channel repeated m times (channel c * m + k is x's channel c): the input a
    depth multiplier m turns into, for the kernels, which see one output channel per input
    channel."""
    return x if m == 1 else np.repeat(x, m, axis=3)


def depthwise_conv2d(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1,
                     activation=None):
    """Depthwise 2-D convolution of NHWC data: each input channel convolved with its own
    ``depth_multiplier`` kernels (Keras's DepthwiseConv2D, TensorFlow's
    ``depthwise_conv2d``, PyTorch's Conv2d with ``groups=in_channels``).

    Parameters
    ----------
    x : array_like, shape (batch, height, width, in_channels), float32 or float64
    kernel : array_like, shape (kh, kw, in_channels, depth_multiplier)
    bias : array_like, shape (in_channels * depth_multiplier,), optional
    strides : int or (int, int), keyword-only, default 1
    padding : {"valid", "same"}, keyword-only, as in conv2d (TensorFlow's rule, applied to the
        dilated window)
    dilation_rate : int or (int, int), keyword-only, default 1: taps this far apart
    activation : {None, "relu"}, keyword-only; "relu" is applied inside the kernel.

    Returns
    -------
    y : ndarray, shape (batch, out_height, out_width, in_channels * depth_multiplier), the
        inputs' floating dtype as in conv2d. Output channel ``c * depth_multiplier + k`` is
        input channel c convolved with ``kernel[:, :, c, k]``.

    Raises
    ------
    ValueError
        wrong ndim, channel mismatch, bias shape, strides or dilation_rate < 1, unknown
        padding, empty output.
    TypeError
        non-floating dtypes.

    Examples
    --------
    >>> x = np.ones((1, 5, 5, 3), np.float32); k = np.ones((3, 3, 3, 2), np.float32)
    >>> depthwise_conv2d(x, k, padding="same").shape
    (1, 5, 5, 6)
    """
    fn = "depthwise_conv2d"
    x = floating_array(x, "x", fn)
    kernel = floating_array(kernel, "kernel", fn)
    args = DepthwiseArgs(fn, x, kernel, strides, padding, dilation_rate)
    arrays = [x, kernel]
    cm = args.out_shape[3]
    bias = bias_operand(bias, cm, fn, f" = in_channels x depth_multiplier for kernel shape "
                                      f"{kernel.shape}")
    arrays += [] if bias is None else [bias]
    fused_activation(activation, fn)
    compute, result = dtypes(arrays)
    y = _buffers.empty(args.out_shape, compute)     # the kernel writes every value
    _depthwise.depthwise_forward(
        contiguous(repeated(x, args.multiplier), compute),
        contiguous(kernel, compute).reshape(kernel.shape[0], kernel.shape[1], cm),
        None if bias is None else contiguous(bias, compute), y, *args.kernel_args(),
        activation == "relu", get_num_threads(), streams(y.nbytes))
    return finish(y, result)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, bias=None, *, strides=1,
                     padding="valid", dilation_rate=1, activation=None):
    """Separable 2-D convolution of NHWC data (Keras's SeparableConv2D, TensorFlow's
    ``separable_conv2d``): a depthwise convolution, then a 1x1 convolution of its result,
    computed together: a few rows of the depthwise result at a time go from a buffer of the
    thread's straight into the 1x1 convolution's GEMM, so the intermediate array is never
    written to memory (what ``conv2d(depthwise_conv2d(x, depthwise_kernel),
    pointwise_kernel)`` writes and reads back).

    Parameters
    ----------
    x : array_like, shape (batch, height, width, in_channels), float32 or float64
    depthwise_kernel : array_like, shape (kh, kw, in_channels, depth_multiplier)
    pointwise_kernel : array_like, shape (1, 1, in_channels * depth_multiplier, filters)
    bias : array_like, shape (filters,), optional
    strides, padding, dilation_rate : keyword-only, the depthwise convolution's, as in
        depthwise_conv2d
    activation : {None, "relu"}, keyword-only; "relu" is applied in the GEMM's output.

    Returns
    -------
    y : ndarray, shape (batch, out_height, out_width, filters), the inputs' floating dtype.
        Equal to the two convolutions one after the other up to rounding (the 1x1
        convolution's sums may run in another order).

    Raises
    ------
    ValueError
        as depthwise_conv2d's, and a pointwise kernel that is not (1, 1, in_channels *
        depth_multiplier, filters) or a bias that is not (filters,).
    TypeError
        non-floating dtypes.

    Examples
    --------
    >>> x = np.ones((1, 5, 5, 3), np.float32)
    >>> separable_conv2d(x, np.ones((3, 3, 3, 2), np.float32),
    ...                  np.ones((1, 1, 6, 4), np.float32), padding="same").shape
    (1, 5, 5, 4)
    """
    fn = "separable_conv2d"
    x = floating_array(x, "x", fn)
    depthwise_kernel = floating_array(depthwise_kernel, "depthwise_kernel", fn)
    pointwise_kernel = floating_array(pointwise_kernel, "pointwise_kernel", fn)
    args = DepthwiseArgs(fn, x, depthwise_kernel, strides, padding, dilation_rate)
    cm = args.out_shape[3]
    check_ndim(pointwise_kernel, 4, "pointwise_kernel", fn,
               "(1, 1, in_channels * depth_multiplier, filters)")
    if pointwise_kernel.shape[:3] != (1, 1, cm):
        raise ValueError(f"{fn}: pointwise_kernel must have shape (1, 1, {cm}, filters) for "
                         f"depthwise_kernel shape {depthwise_kernel.shape} (in_channels x "
                         f"depth_multiplier = {cm}), got {pointwise_kernel.shape}")
    f = pointwise_kernel.shape[3]
    arrays = [x, depthwise_kernel, pointwise_kernel]
    bias = bias_operand(bias, f, fn, f" for pointwise_kernel shape {pointwise_kernel.shape}")
    arrays += [] if bias is None else [bias]
    fused_activation(activation, fn)
    compute, result = dtypes(arrays)
    y = _buffers.empty(args.out_shape[:3] + (f,), compute)     # the kernel writes every value
    kh, kw = depthwise_kernel.shape[:2]
    _depthwise.separable_forward(
        contiguous(repeated(x, args.multiplier), compute),
        contiguous(depthwise_kernel, compute).reshape(kh, kw, cm),
        contiguous(pointwise_kernel, compute).reshape(cm, f),
        None if bias is None else contiguous(bias, compute), y, *args.kernel_args(),
        activation == "relu", get_num_threads())
    return finish(y, result)


def depthwise_conv2d_backward(dy, x, kernel, *, strides=1, padding="valid", dilation_rate=1,
                              compute_dx=True, relu_output=None):
    """Gradients of depthwise_conv2d with respect to its input, kernel and bias.

    Parameters
    ----------
    dy : array_like, shape (batch, out_height, out_width, in_channels * depth_multiplier): the
        gradient of the loss with respect to depthwise_conv2d's result.
    x, kernel, strides, padding, dilation_rate : as given to depthwise_conv2d.
    compute_dx : bool, keyword-only, default True. False skips the input gradient and
        returns None in its place.
    relu_output : array_like, keyword-only, optional: the result y of
        ``depthwise_conv2d(..., activation="relu")``; dy is then the gradient with respect
        to y, and the ReLU's derivative (y > 0) is applied inside the kernels.

    Returns
    -------
    (dx, dkernel, dbias) : shapes of x, kernel and (in_channels * depth_multiplier,), in
    the inputs' floating dtype. Each is independent of the thread count.
    """
    fn = "depthwise_conv2d_backward"
    dy = floating_array(dy, "dy", fn)
    x = floating_array(x, "x", fn)
    kernel = floating_array(kernel, "kernel", fn)
    args = DepthwiseArgs(fn, x, kernel, strides, padding, dilation_rate)
    if dy.shape != args.out_shape:
        raise ValueError(f"{fn}: dy must have the output's shape {args.out_shape} (x {x.shape}, "
                         f"kernel {kernel.shape}, strides {(args.sh, args.sw)}, dilation_rate "
                         f"{(args.dh, args.dw)}, padding {args.padding!r}), got {dy.shape}")
    relu_output = relu_output_operand(relu_output, dy, fn)
    arrays = [dy, x, kernel] + ([] if relu_output is None else [relu_output])
    compute, result = dtypes(arrays)
    kh, kw, c, m = kernel.shape
    n, h, w, _ = x.shape
    dkernel = _buffers.empty((kh, kw, c * m), compute)
    dbias = np.empty(c * m, compute)
    dx = _buffers.empty((n, h, w, c * m), compute) if compute_dx else None
    _depthwise.depthwise_backward(
        contiguous(dy, compute), contiguous(repeated(x, m), compute),
        contiguous(kernel, compute).reshape(kh, kw, c * m), dx, dkernel, dbias,
        *args.kernel_args(), get_num_threads(),
        None if relu_output is None else contiguous(relu_output, compute))
    if dx is not None:
        dx = finish(dx if m == 1 else dx.reshape(n, h, w, c, m).sum(axis=4), result)
    return dx, finish(dkernel.reshape(kernel.shape), result), finish(dbias, result)
