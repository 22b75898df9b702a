"""max_pool2d and max_pool2d_backward (src/pool.pyx), and the layers' compact argmax."""

import numpy as np

from .. import _buffers, _pool
from .._config import get_num_threads
from .checks import (check_ndim, contiguous, conv_output_size, dtypes, finish, floating_array,
                     padding_amounts, padding_name, pair)


MAX_POOL_AREA = 2 ** 24    # pooling tracks window positions exactly in float32


def max_pool2d_region(x, pool_size, strides, pad_top, pad_left, out_hw, threads):
    """max_pool2d's outputs out_hw of a region x of a larger image, its first window at
    (-pad_top, -pad_left): as conv2d_region, for fastconv.dask."""
    compute, result = dtypes([x])
    y = _buffers.empty((x.shape[0],) + tuple(out_hw) + (x.shape[3],), compute)
    _pool.max_pool2d_forward(contiguous(x, compute), y, None, pool_size[0], pool_size[1],
                             strides[0], strides[1], pad_top, pad_left, threads)
    return finish(y, result)


class PoolArgs:
    """Checked arguments of one max pooling: window, strides, padding, output geometry."""

    def __init__(self, fn, x, pool_size, strides, padding):
        check_ndim(x, 4, "x", fn, "(batch, height, width, channels)")
        n, h, w, c = x.shape
        self.ph, self.pw = pair(pool_size, "pool_size", fn)
        if strides is None:
            self.sh, self.sw = self.ph, self.pw
        else:
            self.sh, self.sw = pair(strides, "strides", fn)
        if self.ph * self.pw > MAX_POOL_AREA:
            raise ValueError(f"{fn}: pool_size {(self.ph, self.pw)} covers more than "
                             f"{MAX_POOL_AREA} values per window")
        self.padding = padding_name(padding, fn)
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
    x = floating_array(x, "x", fn)
    args = PoolArgs(fn, x, pool_size, strides, padding)
    compute, result = dtypes([x])
    y = _buffers.empty(args.out_shape, compute)
    indices = _buffers.empty(args.out_shape, np.int64) if return_indices else None
    _pool.max_pool2d_forward(contiguous(x, compute), y, indices, *args.kernel_args(),
                             get_num_threads())
    y = finish(y, result)
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
    dy = floating_array(dy, "dy", fn)
    x = floating_array(x, "x", fn)
    args = PoolArgs(fn, x, pool_size, strides, padding)
    if dy.shape != args.out_shape:
        raise ValueError(f"{fn}: dy must have the output's shape {args.out_shape} (x {x.shape}, "
                         f"pool_size {(args.ph, args.pw)}, strides {(args.sh, args.sw)}, "
                         f"padding {args.padding!r}), got {dy.shape}")
    compute, result = dtypes([dy, x])
    dy_c = contiguous(dy, compute)
    if indices is None:
        # the argmax as window positions in x's own type (the layers' compact form), which
        # routes gradients without any index arithmetic: 3x faster than image positions
        codes = _buffers.empty(args.out_shape, compute)
        _pool.max_pool2d_forward_codes(contiguous(x, compute),
                                       _buffers.empty(args.out_shape, compute), codes,
                                       *args.kernel_args(), get_num_threads())
        dx = _buffers.empty(x.shape, compute)   # the kernel writes every value
        _pool.max_pool2d_backward_codes(dy_c, codes, dx, *args.kernel_args(), get_num_threads())
        return finish(dx, result)
    indices = np.asarray(indices)
    if indices.shape != args.out_shape or indices.dtype.kind not in "iu":
        raise ValueError(f"{fn}: indices must be an integer array of shape "
                         f"{args.out_shape}, got {indices.dtype} {indices.shape}")
    indices = contiguous(indices, np.int64)
    dx = _buffers.empty(x.shape, compute)       # the kernel writes every value
    if not _pool.max_pool2d_backward(dy_c, indices, dx,
                                     *args.kernel_args(), get_num_threads()):
        raise ValueError(f"{fn}: indices point outside their pooling windows; pass the "
                         f"indices max_pool2d returned for this x, pool_size, strides and "
                         f"padding")
    return finish(dx, result)


def max_pool2d_with_argmax(x, pool_size, strides, padding):
    """(y, argmax) for MaxPooling2D: argmax holds each maximum's position in its window, in
    x's dtype, for max_pool2d_backward_argmax (cheaper than the int64 image positions of
    max_pool2d(return_indices=True))."""
    fn = "MaxPooling2D"
    x = floating_array(x, "x", fn)
    args = PoolArgs(fn, x, pool_size, strides, padding)
    compute, result = dtypes([x])
    y = _buffers.empty(args.out_shape, compute)
    codes = _buffers.empty(args.out_shape, compute)
    _pool.max_pool2d_forward_codes(contiguous(x, compute), y, codes, *args.kernel_args(),
                                   get_num_threads())
    return finish(y, result), codes


def max_pool2d_backward_argmax(dy, argmax, x_shape, pool_size, strides, padding):
    """dx for MaxPooling2D from the argmax of max_pool2d_with_argmax."""
    fn = "MaxPooling2D"
    # a zero-size stand-in for x: the checks need its shape only
    args = PoolArgs(fn, np.broadcast_to(np.uint8(0), x_shape), pool_size, strides, padding)
    dy = floating_array(dy, "dy", fn)
    if dy.shape != args.out_shape or argmax.shape != args.out_shape:
        raise ValueError(f"{fn}: dy and argmax must have the output's shape {args.out_shape}, "
                         f"got {dy.shape} and {argmax.shape}")
    compute, result = dtypes([dy])
    dx = _buffers.empty(x_shape, compute)        # the kernel writes every value
    if not _pool.max_pool2d_backward_codes(contiguous(dy, compute),
                                           contiguous(argmax, compute), dx,
                                           *args.kernel_args(), get_num_threads()):
        raise ValueError(f"{fn}: argmax does not come from this layer's forward pass")
    return finish(dx, result)
