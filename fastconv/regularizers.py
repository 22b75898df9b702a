"""Weight and activity penalties, as Keras's regularizers: ``L1``, ``L2`` and ``L1L2`` (also
by the names ``"l1"``, ``"l2"``, ``"l1l2"``), passed to a layer as ``kernel_regularizer``,
``bias_regularizer``, ``depthwise_regularizer``, ``pointwise_regularizer`` or
``activity_regularizer``.

As in Keras 3, training adds each trainable weight's penalty, and each regularized layer's
activity penalty divided by the batch size, to the loss it minimises and reports (``fit``'s
progress bar and history, ``evaluate``); the gradients follow.
"""
import math
import numbers

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize"]


def _factor(value, name):
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value)
            or math.isinf(value) or value < 0):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


class Regularizer:
    """``l1 * sum(|w|) + l2 * sum(w ** 2)``; subclasses fix which factors they take."""

    l1 = l2 = 0.0

    def __call__(self, x):
        """The penalty of array x, a float."""
        x = np.asarray(x, np.float64)
        return self.l1 * float(np.sum(np.abs(x))) + self.l2 * float(np.sum(x * x))

    def gradient(self, x):
        """d penalty / d x, in x's dtype (0 where x is 0 for the L1 part, as Keras's)."""
        g = np.zeros_like(x)
        if self.l1:
            g += self.l1 * np.sign(x)
        if self.l2:
            g += 2 * self.l2 * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """``l1 * sum(|w|)``."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(l1, "L1: l1")

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w ** 2)``."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(l2, "L2: l2")

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w ** 2)`` (both 0 by default, as Keras's)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "L1L2: l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "L1L2: l2")


l1, l2, l1_l2 = L1, L2, L1L2
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1l2": L1L2, **_CLASSES}


def get(identifier):
    """A regularizer from a name ("l1", "l2", "l1l2", or the class names), Keras's serialized
    dict, or a Regularizer (returned as it is); None stays None. ValueError otherwise."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]()
    if isinstance(identifier, dict):
        name, config = identifier.get("class_name"), identifier.get("config") or {}
        module = identifier.get("module", "keras.regularizers")
        if (name in _CLASSES and isinstance(config, dict) and module in (
                None, "keras.regularizers", "keras.src.regularizers.regularizers")
                and set(config) <= {"l1", "l2"} and (name == "L1L2" or set(config) <=
                                                     {name.lower()})):
            return _CLASSES[name](**config)
    raise ValueError(f"unknown regularizer {identifier!r}; fastconv has L1, L2 and L1L2 (by "
                     f"the names 'l1', 'l2', 'l1l2', or as Keras serializes them)")


def serialize(regularizer):
    """Keras's dict for a regularizer (None for None)."""
    if regularizer is None:
        return None
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}
