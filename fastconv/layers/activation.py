"""The activation layers with arguments of their own: ReLU (max_value, negative_slope,
threshold: ReLU6 is ReLU(6.0)) and LeakyReLU, with Keras's definitions."""
import math
import numbers

import numpy as np

from .base import Layer


def _finite(value, name, owner, low=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or (low is not None and value < low):
        bound = "" if low is None else f" >= {low}"
        raise ValueError(f"{owner}: {name} must be a finite number{bound}, got {value!r}")
    return float(value)


class ReLU(Layer):
    """max_value where x >= max_value, x where threshold <= x < max_value, and
    negative_slope * (x - threshold) below threshold (Keras's ReLU layer)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _finite(max_value, "max_value",
                                                                "ReLU", 0)
        self.negative_slope = _finite(negative_slope, "negative_slope", "ReLU", 0)
        self.threshold = _finite(threshold, "threshold", "ReLU")

    def forward(self, x, training=False, activate=True):
        t = x.dtype.type
        below = x < t(self.threshold)
        above = None if self.max_value is None else x >= t(self.max_value)
        y = np.where(below, t(self.negative_slope) * (x - t(self.threshold)), x)
        if above is not None:
            y = np.where(above, t(self.max_value), y)
        self._slope = np.where(below, t(self.negative_slope), t(1))
        if above is not None:
            self._slope[above] = 0
        return y.astype(x.dtype, copy=False)

    def backward(self, dy):
        return dy * self._slope if self.needs_input_grad else None

    def get_config(self):
        return dict(super().get_config(), max_value=self.max_value,
                    negative_slope=self.negative_slope, threshold=self.threshold)


class LeakyReLU(Layer):
    """x where x >= 0, negative_slope * x below (Keras 3's default slope 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = _finite(negative_slope, "negative_slope", "LeakyReLU", 0)

    def forward(self, x, training=False, activate=True):
        self._slope = np.where(x >= 0, x.dtype.type(1), x.dtype.type(self.negative_slope))
        return x * self._slope

    def backward(self, dy):
        return dy * self._slope if self.needs_input_grad else None

    def get_config(self):
        return dict(super().get_config(), negative_slope=self.negative_slope)
