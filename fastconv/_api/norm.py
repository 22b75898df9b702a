"""BatchNormalization's per-channel passes (src/norm.pyx); the layer passes its own
float32/float64 arrays."""

import numpy as np

from .. import _norm
from .._config import get_num_threads
from .checks import contiguous


def channels_view(a, dtype, name):
    a = np.asarray(a)
    if a.ndim < 1:
        raise ValueError(f"BatchNormalization: {name} must have a channels axis, got {a.shape}")
    return contiguous(a, dtype).reshape(-1, a.shape[-1]) if a.shape[-1] else \
        np.zeros((0, 0), dtype)


def channel_vector(v, dtype, c, name):
    v = contiguous(np.asarray(v), dtype)        # aligned too (the fuzzer found it)
    if v.shape != (c,):
        raise ValueError(f"BatchNormalization: {name} must have shape ({c},), got {v.shape}")
    return v


def batch_norm_sums(x, shift, dy=None):
    """Per channel, in float64: (sum(x - shift), sum((x - shift)**2)) over all other axes,
    or with dy (same shape as x): (sum(dy), sum(dy * (x - shift)))."""
    x = np.asarray(x)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    c = x.shape[-1]
    x2 = channels_view(x, dtype, "x")
    y2 = None
    if dy is not None:
        if np.shape(dy) != x.shape:
            raise ValueError(f"BatchNormalization: dy has shape {np.shape(dy)}, x {x.shape}")
        y2 = channels_view(dy, dtype, "dy")
    out = np.zeros((2, c))
    if x2.size:
        _norm.channel_sums(x2, y2, channel_vector(shift, np.float64, c, "shift"), out,
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
        y2, ys = channels_view(y, dtype, "y"), channel_vector(y_scale, dtype, c, "y_scale")
    factors = [channel_vector(v, dtype, c, name)
               for v, name in ((center, "center"), (scale, "scale"), (offset, "offset"))]
    if x.size == 0:
        return out
    _norm.channel_affine(channels_view(x, dtype, "x"), *factors, y2, ys, out.reshape(-1, c),
                         get_num_threads())
    return out
