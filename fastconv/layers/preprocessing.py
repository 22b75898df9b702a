"""Image preprocessing and augmentation layers, Keras 3's: Rescaling, RandomFlip,
RandomRotation, RandomZoom, RandomTranslation, RandomContrast.

The Random* layers change the images only in training (``fit``, ``train_on_batch``); in
``predict`` and ``evaluate`` they pass them through unchanged. Each image of a batch gets its
own random transformation, drawn from fastconv's generator (``utils.set_random_seed`` makes a
run reproducible) or from the layer's own when it is given a ``seed``. Rotations, zooms and
translations resample in compiled code (``_api.image.affine_transform``, src/image.pyx) with Keras's
interpolations ("bilinear", "nearest") and fill modes ("reflect", "wrap", "constant",
"nearest"); every layer has its exact backward pass, so gradients flow through them.
"""
import math
import numbers

import numpy as np

from .. import _api
from .base import Layer, SeededLayer, require_images


class Rescaling(Layer):
    """``x * scale + offset``, e.g. ``Rescaling(1.0 / 255)`` maps pixels to [0, 1]. Active in
    training and inference alike."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"Rescaling: {name} must be a finite number, got {value!r}")
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x, training=False, activate=True):
        y = x * x.dtype.type(self.scale)
        if self.offset:
            y += x.dtype.type(self.offset)
        return y

    def backward(self, dy):
        return dy * dy.dtype.type(self.scale) if self.needs_input_grad else None

    def get_config(self):
        return dict(super().get_config(), scale=self.scale, offset=self.offset)


class _RandomLayer(SeededLayer):
    """Base of the augmentation layers: a seed, its generator, and the training switch."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self._applied = None      # what the last training forward pass did, for backward

    def build(self, input_shape):
        require_images(self, input_shape, "images")
        super().build(input_shape)

    def forward(self, x, training=False, activate=True):
        if not training or x.shape[0] == 0:
            self._applied = None
            return x
        return self._augment(x)

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return dy if self._applied is None else self._augment_backward(dy)


def _as_given(factor):
    """A factor as get_config keeps it: a number as is, a pair as a tuple (None stays None)."""
    return factor if factor is None or isinstance(factor, numbers.Real) else tuple(factor)


def _bounds(factor, name, owner, low=None):
    """(lower, upper) from a factor: a number f means (-f, f), a pair is taken as is."""
    if isinstance(factor, numbers.Real):
        pair = (-abs(float(factor)), abs(float(factor)))
    else:
        try:
            pair = tuple(float(v) for v in factor)
        except (TypeError, ValueError):
            pair = ()
        if len(pair) != 2:
            raise ValueError(f"{owner}: {name} must be a number or a pair (lower, upper), got "
                             f"{factor!r}")
    if not all(math.isfinite(v) for v in pair) or pair[0] > pair[1]:
        raise ValueError(f"{owner}: {name} must be finite with lower <= upper, got {factor!r}")
    if low is not None and pair[0] < low:
        raise ValueError(f"{owner}: {name} must not go below {low}, got {factor!r}")
    return pair


class RandomFlip(_RandomLayer):
    """Flips each image left-right ("horizontal"), upside down ("vertical"), or each way
    independently ("horizontal_and_vertical", the default), each with probability 1/2."""

    _MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in self._MODES:
            raise ValueError(f"RandomFlip: mode must be one of {', '.join(self._MODES)}, got "
                             f"{mode!r}")
        self.mode = mode

    def _flip(self, x, rows, cols):
        y = x.copy()
        if rows is not None:
            y[rows] = y[rows][:, ::-1]
        if cols is not None:
            y[cols] = y[cols][:, :, ::-1]
        return y

    def _augment(self, x):
        n = x.shape[0]
        cols = self.rng.random(n) < 0.5 if self.mode != "vertical" else None
        rows = self.rng.random(n) < 0.5 if self.mode != "horizontal" else None
        self._applied = (rows, cols)
        return self._flip(x, rows, cols)

    def _augment_backward(self, dy):
        return self._flip(dy, *self._applied)     # a flip is its own transpose

    def get_config(self):
        return dict(super().get_config(), mode=self.mode)


class _AffineLayer(_RandomLayer):
    """An augmentation that resamples each image through a random affine map."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = type(self).__name__
        _api.checks.choice(fill_mode, _api.image.FILL_MODES, "fill_mode", owner)
        _api.checks.choice(interpolation, _api.image.INTERPOLATIONS, "interpolation", owner)
        if not isinstance(fill_value, numbers.Real) or not math.isfinite(fill_value):
            raise ValueError(f"{owner}: fill_value must be a finite number, got {fill_value!r}")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def _matrices(self, n, h, w):
        raise NotImplementedError

    def _augment(self, x):
        m = self._matrices(x.shape[0], x.shape[1], x.shape[2])
        self._applied = m
        return _api.image.affine_transform(x, m, interpolation=self.interpolation,
                                           fill_mode=self.fill_mode, fill_value=self.fill_value)

    def _augment_backward(self, dy):
        return _api.image.affine_transform_backward(dy, self._applied, dy.shape[1:3],
                                                    interpolation=self.interpolation,
                                                    fill_mode=self.fill_mode)

    def get_config(self):
        return dict(super().get_config(), fill_mode=self.fill_mode,
                    interpolation=self.interpolation, fill_value=self.fill_value)


class RandomRotation(_AffineLayer):
    """Rotates each image about its centre by a random angle: ``factor`` is a fraction of a
    full turn, a number f for angles in [-f * 2 pi, f * 2 pi] or a pair (lower, upper);
    positive angles turn counter-clockwise."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = _as_given(factor)
        self._range = _bounds(factor, "factor", "RandomRotation")

    def _matrices(self, n, h, w):
        lower, upper = self._range
        angle = self.rng.uniform(lower * 2 * np.pi, upper * 2 * np.pi, n)
        cos, sin = np.cos(angle), np.sin(angle)
        # output (x, y) reads the input at R (x, y) + offset: a rotation about the centre
        x_off = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2
        y_off = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2
        return np.stack([cos, -sin, x_off, sin, cos, y_off], axis=1)

    def get_config(self):
        return dict(super().get_config(), factor=self.factor)


class RandomZoom(_AffineLayer):
    """Zooms each image about its centre by a random amount: ``height_factor`` a number f for
    zooms in [-f, f] or a pair (lower, upper), where 0.2 shows 20 % more of the picture
    (zooming out) and -0.2 20 % less (zooming in); ``width_factor`` likewise, or None (the
    default) to keep the aspect ratio."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = _as_given(height_factor)
        self.width_factor = _as_given(width_factor)
        self._height = _bounds(height_factor, "height_factor", "RandomZoom", low=-1)
        self._width = (None if width_factor is None
                       else _bounds(width_factor, "width_factor", "RandomZoom", low=-1))

    def _matrices(self, n, h, w):
        zy = 1 + self.rng.uniform(*self._height, n)
        zx = zy if self._width is None else 1 + self.rng.uniform(*self._width, n)
        zero = np.zeros(n)
        return np.stack([zx, zero, (w - 1) / 2 * (1 - zx), zero, zy, (h - 1) / 2 * (1 - zy)],
                        axis=1)

    def get_config(self):
        return dict(super().get_config(), height_factor=self.height_factor,
                    width_factor=self.width_factor)


class RandomTranslation(_AffineLayer):
    """Shifts each image by a random fraction of its height and width: each factor a number f
    for shifts in [-f, f] or a pair (lower, upper); positive shifts move the picture down and
    right."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = _as_given(height_factor)
        self.width_factor = _as_given(width_factor)
        self._height = _bounds(height_factor, "height_factor", "RandomTranslation")
        self._width = _bounds(width_factor, "width_factor", "RandomTranslation")

    def _matrices(self, n, h, w):
        dy = self.rng.uniform(*self._height, n) * h
        dx = self.rng.uniform(*self._width, n) * w
        one, zero = np.ones(n), np.zeros(n)
        return np.stack([one, zero, -dx, zero, one, -dy], axis=1)

    def get_config(self):
        return dict(super().get_config(), height_factor=self.height_factor,
                    width_factor=self.width_factor)


class RandomContrast(_RandomLayer):
    """Scales each image's contrast by a random factor in [1 - lower, 1 + upper] (``factor`` a
    number f in [0, 1] for lower = upper = f, or a pair): each channel's pixels move away
    from (or towards) the channel's mean, ``(x - mean) * factor + mean``, and the result is
    clipped to ``value_range``."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(factor, numbers.Real):
            lower = upper = float(factor)
        else:
            lower, upper = _bounds(factor, "factor", "RandomContrast")
        if not (0 <= lower <= 1 and upper >= 0 and math.isfinite(upper)):
            raise ValueError(f"RandomContrast: factor must lie in [0, 1] (a pair: lower in "
                             f"[0, 1], upper >= 0), got {factor!r}")
        try:
            low, high = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise ValueError(f"RandomContrast: value_range must be a pair (low, high), got "
                             f"{value_range!r}") from None
        if not low < high:
            raise ValueError(f"RandomContrast: value_range must have low < high, got "
                             f"{value_range!r}")
        self.factor = _as_given(factor)
        self.value_range = (low, high)
        self._range = (1 - lower, 1 + upper)

    def _augment(self, x):
        f = self.rng.uniform(*self._range, x.shape[0]).astype(x.dtype)[:, None, None, None]
        mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(x.dtype)
        z = (x - mean) * f + mean
        low, high = self.value_range
        inside = (z >= low) & (z <= high)
        self._applied = (f, inside)
        return np.clip(z, x.dtype.type(low), x.dtype.type(high))

    def _augment_backward(self, dy):
        f, inside = self._applied
        g = np.where(inside, dy, 0).astype(dy.dtype, copy=False)
        # z = f x + (1 - f) mean(x): the mean's transpose spreads its gradient evenly
        return f * g + (1 - f) * g.mean(axis=(1, 2), keepdims=True)

    def get_config(self):
        return dict(super().get_config(), factor=self.factor, value_range=self.value_range)
