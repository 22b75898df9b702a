"""Plain NumPy versions of fastconv's kernels, the oracle for tests and benchmarks (and of the
resampling kernel behind the augmentation layers: ``naive_affine_transform``).

Two implementations of convolution and pooling (one of depthwise convolution, naive), with the
compiled kernels' signatures and conventions (NHWC, kernels (kh, kw, in_channels, filters),
TensorFlow's "same" padding, first maximum in row-major order):

- ``naive_*``: the textbook loops over batch, filter (or channel), output row and output
  column, with one ``np.sum`` / ``np.max`` per window. Slow and obviously right.
- ``im2col_*``: vectorised with ``sliding_window_view`` and one matmul (the fast pure-NumPy way).

They compute in the inputs' result dtype and do no argument checking beyond NumPy's own.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._api.checks import conv_output_size, padding_amounts, pair

__all__ = ["naive_conv2d", "naive_conv2d_backward", "naive_max_pool2d",
           "naive_max_pool2d_backward", "im2col_conv2d", "im2col_conv2d_backward",
           "im2col_max_pool2d", "im2col_max_pool2d_backward", "naive_affine_transform",
           "naive_affine_transform_backward", "naive_depthwise_conv2d",
           "naive_depthwise_conv2d_backward", "naive_separable_conv2d", "naive_conv2d_transpose",
           "naive_conv2d_transpose_backward"]


def _geometry(x_shape, window, strides, padding):
    """Output size and (top, left) padding of a window sliding over x's rows and columns."""
    (kh, kw), (sh, sw) = window, strides
    _, h, w, _ = x_shape
    padding = padding.lower()
    oh = conv_output_size(h, kh, sh, padding)
    ow = conv_output_size(w, kw, sw, padding)
    pt, pb = padding_amounts(h, kh, sh, padding)
    pl, pr = padding_amounts(w, kw, sw, padding)
    return oh, ow, (pt, pb), (pl, pr)


def _zero_pad(x, pads_h, pads_w):
    return np.pad(x, ((0, 0), pads_h, pads_w, (0, 0)))


# --------------------------------------------------------------------------------------------
# naive loops

def naive_conv2d(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1,
                 groups=1):
    """Convolution by explicit loops: one np.sum over each (window x kernel) product; a
    dilated window takes every dh-th row and dw-th column of the padded input, and filter o
    of `groups` sees its group's channels only."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    kh, kw, cg, f = kernel.shape
    sh, sw = pair(strides, "strides", "naive_conv2d")
    dh, dw = pair(dilation_rate, "dilation_rate", "naive_conv2d")
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    oh, ow, ph, pw = _geometry(x.shape, (eh, ew), (sh, sw), padding)
    xp = _zero_pad(x, ph, pw)
    dtype = np.result_type(x, kernel) if bias is None else np.result_type(x, kernel, bias)
    y = np.zeros((x.shape[0], oh, ow, f), dtype)
    for n in range(x.shape[0]):
        for o in range(f):
            group = o // (f // groups)
            channels = slice(group * cg, (group + 1) * cg)
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, i * sh:i * sh + eh:dh, j * sw:j * sw + ew:dw, channels]
                    y[n, i, j, o] = np.sum(window * kernel[:, :, :, o])
            if bias is not None:
                y[n, :, :, o] += bias[o]
    return y


def naive_conv2d_backward(dy, x, kernel, *, strides=1, padding="valid", dilation_rate=1,
                          groups=1):
    """(dx, dkernel, dbias) by the same loops, each output's gradient spread over its window."""
    dy, x, kernel = np.asarray(dy), np.asarray(x), np.asarray(kernel)
    kh, kw, cg, f = kernel.shape
    sh, sw = pair(strides, "strides", "naive_conv2d_backward")
    dh, dw = pair(dilation_rate, "dilation_rate", "naive_conv2d_backward")
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    oh, ow, ph, pw = _geometry(x.shape, (eh, ew), (sh, sw), padding)
    xp = _zero_pad(x, ph, pw)
    dtype = np.result_type(dy, x, kernel)
    dxp = np.zeros(xp.shape, dtype)
    dkernel = np.zeros(kernel.shape, dtype)
    for n in range(x.shape[0]):
        for o in range(f):
            group = o // (f // groups)
            channels = slice(group * cg, (group + 1) * cg)
            for i in range(oh):
                for j in range(ow):
                    g = dy[n, i, j, o]
                    rows, cols = slice(i * sh, i * sh + eh, dh), slice(j * sw, j * sw + ew, dw)
                    dxp[n, rows, cols, channels] += g * kernel[:, :, :, o]
                    dkernel[:, :, :, o] += g * xp[n, rows, cols, channels]
    dx = dxp[:, ph[0]:ph[0] + x.shape[1], pw[0]:pw[0] + x.shape[2], :]
    dbias = np.sum(dy, axis=(0, 1, 2)).astype(dtype)
    return dx, dkernel, dbias


def _pool_window(h, w, i, j, pool, strides, top, left):
    """Row and column slices of output (i, j)'s window, clipped to the image."""
    r0, c0 = i * strides[0] - top, j * strides[1] - left
    return (slice(max(r0, 0), min(r0 + pool[0], h)), slice(max(c0, 0), min(c0 + pool[1], w)))


def naive_max_pool2d(x, pool_size=2, *, strides=None, padding="valid"):
    """Max pooling by loops: np.max over each window, clipped to the image."""
    x = np.asarray(x)
    pool = pair(pool_size, "pool_size", "naive_max_pool2d")
    strides = pool if strides is None else pair(strides, "strides", "naive_max_pool2d")
    oh, ow, ph, pw = _geometry(x.shape, pool, strides, padding)
    n_, h, w, c = x.shape
    y = np.zeros((n_, oh, ow, c), x.dtype)
    for n in range(n_):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    rows, cols = _pool_window(h, w, i, j, pool, strides, ph[0], pw[0])
                    y[n, i, j, ch] = np.max(x[n, rows, cols, ch])
    return y


def naive_max_pool2d_backward(dy, x, pool_size=2, *, strides=None, padding="valid"):
    """Each output's gradient added at its window's first maximum (np.argmax's choice)."""
    dy, x = np.asarray(dy), np.asarray(x)
    pool = pair(pool_size, "pool_size", "naive_max_pool2d_backward")
    strides = pool if strides is None else pair(strides, "strides", "naive_max_pool2d_backward")
    oh, ow, ph, pw = _geometry(x.shape, pool, strides, padding)
    n_, h, w, c = x.shape
    dx = np.zeros(x.shape, np.result_type(dy, x))
    for n in range(n_):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    rows, cols = _pool_window(h, w, i, j, pool, strides, ph[0], pw[0])
                    window = x[n, rows, cols, ch]
                    r, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, rows.start + r, cols.start + q, ch] += dy[n, i, j, ch]
    return dx


# --------------------------------------------------------------------------------------------
# vectorised: im2col with sliding_window_view and one matmul

def _im2col(xp, kh, kw, sh, sw, oh, ow):
    """(n*oh*ow, kh*kw*c) matrix of windows, columns in the kernel's (kh, kw, c) order."""
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :oh, :ow]
    # win: (n, oh, ow, c, kh, kw) -> (n, oh, ow, kh, kw, c)
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * xp.shape[3])


def im2col_conv2d(x, kernel, bias=None, *, strides=1, padding="valid"):
    """Convolution as one matmul of the im2col matrix by the (kh*kw*c, f) kernel."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    kh, kw, c, f = kernel.shape
    sh, sw = pair(strides, "strides", "im2col_conv2d")
    oh, ow, ph, pw = _geometry(x.shape, (kh, kw), (sh, sw), padding)
    cols = _im2col(_zero_pad(x, ph, pw), kh, kw, sh, sw, oh, ow)
    y = cols @ kernel.reshape(kh * kw * c, f)
    if bias is not None:
        y = y + bias
    return y.reshape(x.shape[0], oh, ow, f)


def im2col_conv2d_backward(dy, x, kernel, *, strides=1, padding="valid"):
    """dkernel = cols^T @ dy, dcols = dy @ kernel^T folded back (col2im) one tap at a time."""
    dy, x, kernel = np.asarray(dy), np.asarray(x), np.asarray(kernel)
    kh, kw, c, f = kernel.shape
    sh, sw = pair(strides, "strides", "im2col_conv2d_backward")
    oh, ow, ph, pw = _geometry(x.shape, (kh, kw), (sh, sw), padding)
    xp = _zero_pad(x, ph, pw)
    dy2 = dy.reshape(-1, f)
    dkernel = (_im2col(xp, kh, kw, sh, sw, oh, ow).T @ dy2).reshape(kernel.shape)
    dcols = (dy2 @ kernel.reshape(-1, f).T).reshape(x.shape[0], oh, ow, kh, kw, c)
    dxp = np.zeros(xp.shape, dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += dcols[:, :, :, i, j, :]
    dx = dxp[:, ph[0]:ph[0] + x.shape[1], pw[0]:pw[0] + x.shape[2], :]
    return dx, dkernel, dy2.sum(axis=0)


def _pool_windows(x, pool, strides, padding):
    """(n, oh, ow, c, ph*pw) windows of x padded with -inf, and the geometry."""
    oh, ow, ph, pw = _geometry(x.shape, pool, strides, padding)
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=-np.inf)
    win = sliding_window_view(xp, pool, axis=(1, 2))[:, ::strides[0], ::strides[1]][:, :oh, :ow]
    return win.reshape(*win.shape[:4], -1), xp.shape, ph, pw


def im2col_max_pool2d(x, pool_size=2, *, strides=None, padding="valid"):
    """Max pooling as one max over a window view (padding is -inf, never chosen over a value)."""
    x = np.asarray(x)
    pool = pair(pool_size, "pool_size", "im2col_max_pool2d")
    strides = pool if strides is None else pair(strides, "strides", "im2col_max_pool2d")
    win = _pool_windows(x, pool, strides, padding)[0]
    return win.max(axis=-1)


def im2col_max_pool2d_backward(dy, x, pool_size=2, *, strides=None, padding="valid"):
    """Gradient through each window's first argmax, scattered with np.add.at.

    Assumes x holds no -inf where "same" padding applies (padding is -inf here)."""
    dy, x = np.asarray(dy), np.asarray(x)
    pool = pair(pool_size, "pool_size", "im2col_max_pool2d_backward")
    strides = pool if strides is None else pair(strides, "strides",
                                                 "im2col_max_pool2d_backward")
    win, padded_shape, ph, pw = _pool_windows(x, pool, strides, padding)
    n, oh, ow, c = dy.shape
    arg = win.argmax(axis=-1)
    rows = np.arange(oh)[None, :, None, None] * strides[0] + arg // pool[1]
    cols = np.arange(ow)[None, None, :, None] * strides[1] + arg % pool[1]
    bn = np.broadcast_to(np.arange(n)[:, None, None, None], arg.shape)
    bc = np.broadcast_to(np.arange(c)[None, None, None, :], arg.shape)
    dxp = np.zeros(padded_shape, np.result_type(dy, x))
    np.add.at(dxp, (bn, rows, cols, bc), dy)
    return dxp[:, ph[0]:ph[0] + x.shape[1], pw[0]:pw[0] + x.shape[2], :]


# ---------------------------------------------------------------------------------------------
# resampling (fastconv._api.image.affine_transform), written out point by point

def _fill_index(k, n, mode):
    """Keras's fill modes on one pixel index: an index into [0, n), or None (constant fill)."""
    if 0 <= k < n:
        return k
    if mode == "constant":
        return None
    if mode == "nearest":
        return min(max(k, 0), n - 1)
    if mode == "wrap":
        return k % n
    k %= 2 * n                       # reflect: d c b a | a b c d | d c b a
    return k if k < n else 2 * n - 1 - k


def _taps(m, i, j, h, w, interpolation, mode):
    """[(row, col, weight)] that output pixel (i, j) reads through map m; row None for the
    fill value (only where its weight is not 0)."""
    px = m[0] * j + m[1] * i + m[2]
    py = m[3] * j + m[4] * i + m[5]
    if not (abs(px) < 1e15 and abs(py) < 1e15) or h == 0 or w == 0:
        return [(None, None, 1.0)]
    if interpolation == "nearest":
        points = [(int(np.floor(py + 0.5)), int(np.floor(px + 0.5)), 1.0)]
    else:
        x0, y0 = int(np.floor(px)), int(np.floor(py))
        fx, fy = px - x0, py - y0
        points = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                  (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]
    taps = []
    for r, c, weight in points:
        r, c = _fill_index(r, h, mode), _fill_index(c, w, mode)
        if r is None or c is None:
            if weight:
                taps.append((None, None, weight))
        else:
            taps.append((r, c, weight))
    return taps


def naive_affine_transform(x, matrices, output_size=None, *, interpolation="bilinear",
                           fill_mode="reflect", fill_value=0.0, magnitude=False):
    """affine_transform's rule, one output pixel and one neighbour at a time, in float64;
    with magnitude=True, the same sums over |weight * value| (a bound for rounding)."""
    x = np.asarray(x, np.float64)
    m = np.asarray(matrices, np.float64)
    n, h, w, c = x.shape
    oh, ow = (h, w) if output_size is None else output_size
    out = np.zeros((n, oh, ow, c))
    for b, i, j in np.ndindex(n, oh, ow):
        for r, col, weight in _taps(m[b], i, j, h, w, interpolation, fill_mode):
            value = np.full(c, float(fill_value)) if r is None else x[b, r, col]
            out[b, i, j] += abs(weight * value) if magnitude else weight * value
    return out


def naive_affine_transform_backward(dy, matrices, input_size, *, interpolation="bilinear",
                                    fill_mode="reflect", magnitude=False):
    """The transpose of naive_affine_transform's map applied to dy, in float64."""
    dy = np.asarray(dy, np.float64)
    m = np.asarray(matrices, np.float64)
    n, oh, ow, c = dy.shape
    h, w = input_size
    dx = np.zeros((n, h, w, c))
    for b, i, j in np.ndindex(n, oh, ow):
        for r, col, weight in _taps(m[b], i, j, h, w, interpolation, fill_mode):
            if r is not None:
                dx[b, r, col] += abs(weight * dy[b, i, j]) if magnitude else weight * dy[b, i, j]
    return dx


# --------------------------------------------------------------------------------------------
# depthwise convolution

def _depthwise_taps(x_shape, kernel_shape, strides, padding, dilation_rate, fn):
    """(output height, output width, taps): taps[(i, j)] lists, for output pixel (i, j), the
    kernel taps (a, b) whose input pixel (r, s) lies inside the image, as (a, b, r, s)."""
    _, h, w, _ = x_shape
    kh, kw = kernel_shape[:2]
    sh, sw = pair(strides, "strides", fn)
    dh, dw = pair(dilation_rate, "dilation_rate", fn)
    oh, ow, (pt, _), (pl, _) = _geometry(x_shape, ((kh - 1) * dh + 1, (kw - 1) * dw + 1),
                                         (sh, sw), padding)
    taps = {(i, j): [(a, b, i * sh - pt + a * dh, j * sw - pl + b * dw)
                     for a in range(kh) for b in range(kw)
                     if 0 <= i * sh - pt + a * dh < h and 0 <= j * sw - pl + b * dw < w]
            for i in range(oh) for j in range(ow)}
    return oh, ow, taps


def naive_depthwise_conv2d(x, kernel, bias=None, *, strides=1, padding="valid",
                           dilation_rate=1):
    """Depthwise convolution by loops over output pixels and kernel taps: output channel
    c * m + k of pixel (i, j) sums x[:, r, s, c] * kernel[a, b, c, k] over the taps (a, b)
    whose input pixel (r, s) = (i * sh - pad_top + a * dh, j * sw - pad_left + b * dw) lies
    in the image."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    n, c, m = x.shape[0], kernel.shape[2], kernel.shape[3]
    oh, ow, taps = _depthwise_taps(x.shape, kernel.shape, strides, padding, dilation_rate,
                                   "naive_depthwise_conv2d")
    dtype = np.result_type(x, kernel) if bias is None else np.result_type(x, kernel, bias)
    y = np.zeros((n, oh, ow, c * m), dtype)
    for (i, j), pixel_taps in taps.items():
        for a, b, r, s in pixel_taps:
            y[:, i, j, :] += (x[:, r, s, :, None] * kernel[a, b]).reshape(n, c * m)
    if bias is not None:
        y += bias
    return y


def naive_separable_conv2d(x, depthwise_kernel, pointwise_kernel, bias=None, *, strides=1,
                           padding="valid", dilation_rate=1):
    """Separable convolution by its definition: naive_depthwise_conv2d, then each pixel's
    channels times the pointwise kernel (1, 1, in_channels * depth_multiplier, filters)."""
    z = naive_depthwise_conv2d(x, depthwise_kernel, strides=strides, padding=padding,
                               dilation_rate=dilation_rate)
    pointwise_kernel = np.asarray(pointwise_kernel)
    y = np.tensordot(z, pointwise_kernel[0, 0], axes=([3], [0]))
    return y if bias is None else y + np.asarray(bias)


def naive_depthwise_conv2d_backward(dy, x, kernel, *, strides=1, padding="valid",
                                    dilation_rate=1):
    """(dx, dkernel, dbias) by the same loops: each output's gradient goes back along its
    taps."""
    dy, x, kernel = np.asarray(dy), np.asarray(x), np.asarray(kernel)
    n, c, m = x.shape[0], kernel.shape[2], kernel.shape[3]
    _, _, taps = _depthwise_taps(x.shape, kernel.shape, strides, padding, dilation_rate,
                                 "naive_depthwise_conv2d_backward")
    dtype = np.result_type(dy, x, kernel)
    dx = np.zeros(x.shape, dtype)
    dkernel = np.zeros(kernel.shape, dtype)
    for (i, j), pixel_taps in taps.items():
        g = dy[:, i, j, :].reshape(n, c, m)
        for a, b, r, s in pixel_taps:
            dx[:, r, s, :] += np.sum(g * kernel[a, b], axis=2)
            dkernel[a, b] += np.sum(x[:, r, s, :, None] * g, axis=0)
    dbias = np.sum(dy, axis=(0, 1, 2)).astype(dtype)
    return dx, dkernel, dbias


# --------------------------------------------------------------------------------------------
# transposed convolution

def _keras_transpose_pads(size, k, s, padding, output_padding):
    """(left, right) padding of the zero-dilated input, as Keras's JAX backend states its
    rule (keras/src/backend/common/backend_utils.py)."""
    if padding == "valid":
        return k - 1, k - 1 + (max(k, s) - k if output_padding is None else output_padding)
    pad_len = s + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k - 1)
    return left, pad_len - left


def _dilated_kernel(kernel, dilation_rate, fn):
    """kernel with dilation - 1 zeros between its taps (the window it covers)."""
    dh, dw = pair(dilation_rate, "dilation_rate", fn)
    kh, kw = kernel.shape[:2]
    out = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1) + kernel.shape[2:], kernel.dtype)
    out[::dh, ::dw] = kernel
    return out, (dh, dw)


def naive_conv2d_transpose(x, kernel, bias=None, *, strides=1, padding="valid",
                           output_padding=None, dilation_rate=1):
    """Transposed convolution by its definition: the input with stride - 1 zeros between
    values, padded by Keras's (left, right), correlated (valid) with the kernel turned 180
    degrees and its channel axes swapped; kernel (kh, kw, filters, in_channels); a dilated
    kernel is the kernel with dilation - 1 zeros between its taps."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    kernel, _ = _dilated_kernel(kernel, dilation_rate, "naive_conv2d_transpose")
    kh, kw, f, _ = kernel.shape
    sh, sw = pair(strides, "strides", "naive_conv2d_transpose")
    ops = (None, None) if output_padding is None else (
        (output_padding,) * 2 if np.ndim(output_padding) == 0 else tuple(output_padding))
    n, h, w, c = x.shape
    (t, b), (l, r) = (_keras_transpose_pads(h, kh, sh, padding.lower(), ops[0]),
                      _keras_transpose_pads(w, kw, sw, padding.lower(), ops[1]))
    dilated = np.zeros((n, (h - 1) * sh + 1, (w - 1) * sw + 1, c), np.result_type(x, kernel))
    dilated[:, ::sh, ::sw] = x
    # negative padding crops
    dilated = np.pad(dilated, ((0, 0), (max(t, 0), max(b, 0)), (max(l, 0), max(r, 0)),
                               (0, 0)))
    dilated = dilated[:, max(-t, 0):dilated.shape[1] - max(-b, 0),
                      max(-l, 0):dilated.shape[2] - max(-r, 0)]
    turned = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
    return naive_conv2d(dilated, turned, bias)


def naive_conv2d_transpose_backward(dy, x, kernel, *, strides=1, padding="valid",
                                    output_padding=None, dilation_rate=1):
    """(dx, dkernel, dbias) of naive_conv2d_transpose, by the same definition: the dilated
    input's gradient from naive_conv2d_backward, read at the input's places (and the dilated
    kernel's gradient at the kernel's taps)."""
    dy, x, kernel = np.asarray(dy), np.asarray(x), np.asarray(kernel)
    kernel, (dh, dw) = _dilated_kernel(kernel, dilation_rate, "naive_conv2d_transpose_backward")
    kh, kw, f, _ = kernel.shape
    sh, sw = pair(strides, "strides", "naive_conv2d_transpose_backward")
    ops = (None, None) if output_padding is None else (
        (output_padding,) * 2 if np.ndim(output_padding) == 0 else tuple(output_padding))
    n, h, w, c = x.shape
    (t, b), (l, r) = (_keras_transpose_pads(h, kh, sh, padding.lower(), ops[0]),
                      _keras_transpose_pads(w, kw, sw, padding.lower(), ops[1]))
    dilated = np.zeros((n, (h - 1) * sh + 1, (w - 1) * sw + 1, c), np.result_type(dy, x, kernel))
    dilated[:, ::sh, ::sw] = x
    padded = np.pad(dilated, ((0, 0), (max(t, 0), max(b, 0)), (max(l, 0), max(r, 0)), (0, 0)))
    top, left = max(-t, 0), max(-l, 0)
    cropped = padded[:, top:padded.shape[1] - max(-b, 0), left:padded.shape[2] - max(-r, 0)]
    turned = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
    d_cropped, d_turned, dbias = naive_conv2d_backward(dy, cropped, turned)
    d_padded = np.zeros(padded.shape, d_cropped.dtype)
    d_padded[:, top:top + cropped.shape[1], left:left + cropped.shape[2]] = d_cropped
    d_dilated = d_padded[:, max(t, 0):max(t, 0) + dilated.shape[1],
                         max(l, 0):max(l, 0) + dilated.shape[2]]
    dx = d_dilated[:, ::sh, ::sw]
    return dx, d_turned.transpose(0, 1, 3, 2)[::-1, ::-1][::dh, ::dw], dbias
