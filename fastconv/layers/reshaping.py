"""Layers that move values without arithmetic (ZeroPadding2D, Cropping2D, Reshape, Permute,
Identity) and UpSampling2D, which repeats or interpolates them."""
import numbers

import numpy as np

from .base import Layer, require_images


def _count(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{owner}: {name} must hold integers >= 0, got {value!r}")
    return int(value)


def _sides(value, name, owner):
    """((top, bottom), (left, right)) from an int (all four sides), a pair (rows top and
    bottom, columns left and right) or a pair of pairs, as Keras takes them."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pairs = ((value, value), (value, value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pairs = tuple((p, p) if isinstance(p, numbers.Integral) and not isinstance(p, bool)
                      else tuple(p) if isinstance(p, (tuple, list)) and len(p) == 2
                      else (None, None) for p in value)
    else:
        pairs = ((None, None), (None, None))
    return tuple(tuple(_count(v, name, owner) for v in pair) for pair in pairs)


class ZeroPadding2D(Layer):
    """Zero rows and columns around NHWC images: padding an int (all four sides), a pair
    (rows top and bottom, columns left and right) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = _sides(padding, "padding", "ZeroPadding2D")

    def build(self, input_shape):
        require_images(self, input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.padding
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def forward(self, x, training=False, activate=True):
        (t, b), (l, r) = self.padding
        y = np.zeros((x.shape[0], x.shape[1] + t + b, x.shape[2] + l + r, x.shape[3]), x.dtype)
        y[:, t:t + x.shape[1], l:l + x.shape[2]] = x
        self._hw = x.shape[1:3]
        return y

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        (t, _), (l, _) = self.padding
        h, w = self._hw
        return dy[:, t:t + h, l:l + w].copy()

    def get_config(self):
        return dict(super().get_config(), padding=self.padding)


class Reshape(Layer):
    """Each sample reshaped to target_shape (one entry may be -1: what the rest leaves)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(target_shape, (tuple, list)) or any(
                isinstance(d, bool) or not isinstance(d, numbers.Integral) or
                (d < 1 and d != -1) for d in target_shape) or list(target_shape).count(-1) > 1:
            raise ValueError(f"Reshape: target_shape must be a tuple of positive integers "
                             f"(one may be -1), got {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if None in rest:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        size = int(np.prod(rest))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if (-1 in self.target_shape and size % known) or \
                (-1 not in self.target_shape and known != size):
            raise ValueError(f"Reshape {self.name!r}: an input of shape {tuple(input_shape)} "
                             f"cannot take the shape {self.target_shape}")
        return (input_shape[0],) + tuple(size // known if d == -1 else d
                                         for d in self.target_shape)

    def forward(self, x, training=False, activate=True):
        self._shape = x.shape
        return x.reshape((x.shape[0],) + self.target_shape)

    def backward(self, dy):
        return dy.reshape(self._shape) if self.needs_input_grad else None

    def get_config(self):
        return dict(super().get_config(), target_shape=self.target_shape)


class Permute(Layer):
    """The non-batch axes reordered: dims is a permutation of 1 .. rank - 1 (Keras's
    numbering: the batch axis is 0 and stays first)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else None
        if dims is None or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1 .. n, got {dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute {self.name!r}: dims {self.dims} for inputs of shape "
                             f"{tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, x, training=False, activate=True):
        return np.ascontiguousarray(x.transpose((0,) + self.dims))

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return np.ascontiguousarray(dy.transpose(np.argsort((0,) + self.dims)))

    def get_config(self):
        return dict(super().get_config(), dims=self.dims)


class Identity(Layer):
    """Its input, unchanged."""

    def forward(self, x, training=False, activate=True):
        return x

    def backward(self, dy):
        return dy if self.needs_input_grad else None


class Cropping2D(Layer):
    """Rows and columns cut off NHWC images: cropping an int (all four sides), a pair (rows
    top and bottom, columns left and right) or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _sides(cropping, "cropping", "Cropping2D")

    def build(self, input_shape):
        require_images(self, input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.cropping
        size = [None if s is None else s - a - z for s, a, z in ((h, t, b), (w, l, r))]
        if any(s is not None and s < 1 for s in size):
            raise ValueError(f"Cropping2D {self.name!r}: cropping {self.cropping} leaves "
                             f"nothing of input shape {tuple(input_shape)}")
        return (n, size[0], size[1], c)

    def forward(self, x, training=False, activate=True):
        (t, b), (l, r) = self.cropping
        if x.shape[1] - t - b < 1 or x.shape[2] - l - r < 1:
            raise ValueError(f"Cropping2D {self.name!r}: cropping {self.cropping} leaves "
                             f"nothing of input shape {x.shape}")
        self._shape = x.shape
        return np.ascontiguousarray(x[:, t:x.shape[1] - b, l:x.shape[2] - r])

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        (t, _), (l, _) = self.cropping
        dx = np.zeros(self._shape, dy.dtype)
        dx[:, t:t + dy.shape[1], l:l + dy.shape[2]] = dy
        return dx

    def get_config(self):
        return dict(super().get_config(), cropping=self.cropping)


def _bilinear_weights(size, factor, dtype):
    """The (size * factor, size) matrix of TensorFlow's bilinear resize along one axis (half-
    pixel centres, no antialiasing, the edge repeated)."""
    out = size * factor
    src = np.clip((np.arange(out) + 0.5) / factor - 0.5, 0, size - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, size - 1)
    frac = src - lo
    m = np.zeros((out, size))
    np.add.at(m, (np.arange(out), lo), 1 - frac)
    np.add.at(m, (np.arange(out), hi), frac)
    return m.astype(dtype)


class UpSampling2D(Layer):
    """NHWC images enlarged by whole factors ``size`` (rows, columns): "nearest" repeats
    each pixel, "bilinear" interpolates as Keras does (TensorFlow's resize: half-pixel
    centres, no antialiasing; as two small matrix products, so its gradient is their
    transpose)."""

    def __init__(self, size=(2, 2), interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        pair = (size, size) if isinstance(size, numbers.Integral) else size
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                for v in pair)):
            raise ValueError(f"UpSampling2D: size must be a positive integer or a pair of "
                             f"them, got {size!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', "
                             f"got {interpolation!r}")
        self.size = tuple(int(v) for v in pair)
        self.interpolation = interpolation

    def build(self, input_shape):
        require_images(self, input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0],
                None if w is None else w * self.size[1], c)

    def forward(self, x, training=False, activate=True):
        fh, fw = self.size
        if self.interpolation == "nearest":
            return np.repeat(np.repeat(x, fh, axis=1), fw, axis=2)
        self._mats = (_bilinear_weights(x.shape[1], fh, x.dtype),
                      _bilinear_weights(x.shape[2], fw, x.dtype))
        mh, mw = self._mats
        return np.ascontiguousarray(np.einsum("jw,niwc->nijc", mw,
                                              np.einsum("ih,nhwc->niwc", mh, x)))

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        fh, fw = self.size
        if self.interpolation == "nearest":
            n, h, w, c = dy.shape
            return np.ascontiguousarray(
                dy.reshape(n, h // fh, fh, w // fw, fw, c).sum(axis=(2, 4)))
        mh, mw = self._mats
        return np.ascontiguousarray(np.einsum("ih,niwc->nhwc", mh,
                                              np.einsum("jw,nijc->niwc", mw, dy)))

    def get_config(self):
        return dict(super().get_config(), size=self.size, interpolation=self.interpolation)
