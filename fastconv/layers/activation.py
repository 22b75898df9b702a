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
        # one pass for ReLU and ReLU6 (np.clip); the slope is worked out in backward, from
        # the input kept here, so that predict makes no second array
        self._x = x
        t = x.dtype.type
        if self.negative_slope == 0 and self.threshold == 0:
            if self.max_value is None:
                return np.maximum(x, t(0))
            return np.clip(x, t(0), t(self.max_value))
        y = np.where(x < t(self.threshold), t(self.negative_slope) * (x - t(self.threshold)), x)
        if self.max_value is not None:
            y = np.where(x >= t(self.max_value), t(self.max_value), y)
        return y.astype(x.dtype, copy=False)

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        x, t = self._x, dy.dtype.type
        slope = np.where(x < t(self.threshold), t(self.negative_slope), t(1))
        if self.max_value is not None:
            slope[x >= t(self.max_value)] = 0
        return dy * slope

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
