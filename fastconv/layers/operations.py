"""Keras's tensor operations as layers of a model: what a function such as
``applications.vgg16.preprocess_input`` leaves in a model when it is applied to a symbolic
tensor. Keras 3 writes these calls into a model's config as operations of ``keras.ops``
(``GetItem``, ``Stack``, and ``Add``, ``Subtract``, ``Multiply``, ``TrueDivide`` with a
constant); fastconv reads and writes them under those names, so that a model holding them
goes both ways between the libraries."""
import numbers

import numpy as np

from .base import Layer, unique_name

# Keras's operation class -> fastconv's name for the arithmetic, and back
OPERATIONS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply",
              "TrueDivide": "true_divide"}


def _axis(axis, ndim, owner):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or \
            not -ndim <= axis < ndim:
        raise ValueError(f"{owner}: axis {axis!r} is out of range for {ndim} dimensions")
    return int(axis) % ndim


class GetItem(Layer):
    """``x[..., index]``: one entry of the last axis, which the output drops (Keras's
    ``GetItem`` as ``x[..., i]`` writes it)."""

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise ValueError(f"GetItem: index must be an integer, got {index!r}")
        self.index = int(index)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None or \
                not -input_shape[-1] <= self.index < input_shape[-1]:
            raise ValueError(f"GetItem {self.name!r}: index {self.index} is out of range for "
                             f"input shape {input_shape}")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def forward(self, x, training=False, activate=True):
        self._shape = x.shape
        return np.ascontiguousarray(x[..., self.index])

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        dx = np.zeros(self._shape, dy.dtype)
        dx[..., self.index] = dy
        return dx

    def get_config(self):
        return dict(super().get_config(), index=self.index)


class Stack(Layer):
    """Its inputs (all of one shape) stacked along a new axis (Keras's ``ops.stack``)."""

    _takes_list = True

    def __init__(self, axis=0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"Stack: axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def build(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"Stack {self.name!r} needs inputs of one shape, got {shapes}")
        # the batch axis stays first: the new one goes among the others
        if _axis(self.axis, len(shapes[0]) + 1, f"Stack {self.name!r}") == 0:
            raise ValueError(f"Stack {self.name!r}: axis {self.axis} would stack along the "
                             f"batch axis")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape[0])
        shape.insert(_axis(self.axis, len(shape) + 1, "Stack"), len(input_shape))
        return tuple(shape)

    def forward(self, inputs, training=False, activate=True):
        self._count = len(inputs)
        return np.stack(inputs, axis=self.axis)

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return [np.ascontiguousarray(np.take(dy, i, axis=self.axis))
                for i in range(self._count)]

    def get_config(self):
        return dict(super().get_config(), axis=self.axis)


class Arithmetic(Layer):
    """``x + c``, ``x - c``, ``x * c`` or ``x / c`` (operation ``"add"``, ``"subtract"``,
    ``"multiply"``, ``"true_divide"``) with a constant c: a number or an array that
    broadcasts to each input without enlarging it (Keras's operations of those names with a
    constant operand). Computed in the layer's dtype, as Keras computes them."""

    def __init__(self, operation, constant, **kwargs):
        if operation not in OPERATIONS.values():
            raise ValueError(f"Arithmetic: operation must be one of "
                             f"{', '.join(OPERATIONS.values())}, got {operation!r}")
        kwargs.setdefault("name", unique_name(operation))
        super().__init__(**kwargs)
        self.operation = operation
        value = np.asarray(constant)
        if value.dtype.kind not in "biuf" or not np.all(np.isfinite(value)):
            raise ValueError(f"Arithmetic: constant must hold finite numbers, got "
                             f"{constant!r:.100}")
        if operation == "true_divide" and np.any(value == 0):
            raise ValueError("Arithmetic: a true_divide constant must not hold zeros")
        self.constant = value.astype(self.dtype)

    def build(self, input_shape):
        c = self.constant.shape
        try:
            fits = len(c) <= len(input_shape) and np.broadcast_shapes(
                tuple(1 if d is None else d for d in input_shape), c) == tuple(
                1 if d is None else d for d in input_shape)
        except ValueError:
            fits = False
        if not fits or any(d is None and k != 1 for d, k in zip(input_shape[len(input_shape) -
                                                                            len(c):], c)):
            raise ValueError(f"Arithmetic {self.name!r}: a constant of shape {c} does not "
                             f"broadcast to input shape {input_shape}")
        super().build(input_shape)

    @property
    def _keras_class(self):
        """The Keras operation this layer stands for (summary shows it, as Keras does)."""
        return {v: k for k, v in OPERATIONS.items()}[self.operation]

    def forward(self, x, training=False, activate=True):
        c = self.constant.astype(x.dtype, copy=False)
        if self.operation == "add":
            return x + c
        if self.operation == "subtract":
            return x - c
        if self.operation == "multiply":
            return x * c
        return x / c

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        c = self.constant.astype(dy.dtype, copy=False)
        if self.operation in ("add", "subtract"):
            return dy
        return dy * c if self.operation == "multiply" else dy / c

    def get_config(self):
        return dict(super().get_config(), operation=self.operation,
                    constant=self.constant.tolist())
