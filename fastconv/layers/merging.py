"""The layers that merge branches of a functional model (a residual block's shortcut, an
Inception module's towers, a squeeze-and-excitation gate): Add, Subtract, Multiply, Average,
Maximum, Minimum and Concatenate. They take a list of inputs. Keras's functional forms too:
``add([a, b])`` is ``Add()([a, b])``, and so on."""
import numpy as np

from .base import Layer, SymbolicTensor


class _Merge(Layer):
    """A layer on a list of at least two inputs; backward returns a list of gradients."""
    _takes_list = True

    def build(self, input_shape):
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape, (list, tuple)) \
            and input_shape and isinstance(input_shape[0], (list, tuple)) else None
        if shapes is None or len(shapes) < 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a list of at least 2 "
                             f"inputs, got input shape {input_shape}")
        self.input_shape = shapes
        self.output_shape = self.compute_output_shape(shapes)
        self.built = True

    def __call__(self, inputs, training=False):
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"{type(self).__name__} {self.name!r} takes a list of inputs, got "
                            f"{type(inputs).__name__}")
        if inputs and isinstance(inputs[0], SymbolicTensor):
            return self._symbolic_call(inputs)
        arrays = [np.asarray(a) for a in inputs]
        if not self.built:
            self.build([(None,) + a.shape[1:] for a in arrays])
        self.check_input(arrays)
        return self.forward([a.astype(self.dtype, copy=False) for a in arrays],
                            training=training)

    def check_input(self, arrays):
        got = [a.shape for a in arrays]
        if len(arrays) != len(self.input_shape) or any(
                a.shape[1:] != tuple(s[1:]) or a.shape[:1] != arrays[0].shape[:1]
                for a, s in zip(arrays, self.input_shape)):
            raise ValueError(f"{type(self).__name__} {self.name!r} expected inputs of shapes "
                             f"{self.input_shape} (one batch size), got {got}")


class _Elementwise(_Merge):
    """A merge of inputs of one shape, element by element."""

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        for shape in input_shape[1:]:
            if tuple(shape[1:]) != first[1:]:
                raise ValueError(f"{type(self).__name__} {self.name!r} needs inputs of one "
                                 f"shape, got {[tuple(s) for s in input_shape]}")
        return first


class Add(_Elementwise):
    """The element-wise sum of its inputs, which must all have one shape."""

    def forward(self, inputs, training=False, activate=True):
        out = inputs[0] + inputs[1]
        for x in inputs[2:]:
            out += x
        return out

    def backward(self, dy):
        # each input gets dy itself: layers never write into the gradient they receive
        return [dy] * len(self.input_shape) if self.needs_input_grad else None


class Subtract(_Elementwise):
    """inputs[0] - inputs[1]: exactly two inputs."""

    def build(self, input_shape):
        super().build(input_shape)
        if len(self.input_shape) != 2:
            raise ValueError(f"Subtract {self.name!r} takes exactly 2 inputs, got "
                             f"{len(self.input_shape)}")

    def forward(self, inputs, training=False, activate=True):
        return inputs[0] - inputs[1]

    def backward(self, dy):
        return [dy, -dy] if self.needs_input_grad else None


class Multiply(_Elementwise):
    """The element-wise product of its inputs."""

    def forward(self, inputs, training=False, activate=True):
        self._inputs = inputs
        out = inputs[0] * inputs[1]
        for x in inputs[2:]:
            out *= x
        return out

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        grads = []
        for i in range(len(self._inputs)):
            g = dy.copy()
            for j, x in enumerate(self._inputs):
                if j != i:
                    g *= x
            grads.append(g)
        return grads


class Average(Add):
    """The element-wise mean of its inputs."""

    def forward(self, inputs, training=False, activate=True):
        out = super().forward(inputs)
        out /= out.dtype.type(len(inputs))
        return out

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        g = dy / dy.dtype.type(len(self.input_shape))
        return [g] * len(self.input_shape)


class _Extreme(_Elementwise):
    """The element-wise maximum or minimum; its gradient goes to the first input that holds
    it (as Keras's pairwise maximum and minimum give it)."""
    _pick = None

    def forward(self, inputs, training=False, activate=True):
        stacked = np.stack(inputs)
        self._which = type(self)._pick(stacked, axis=0)
        return np.take_along_axis(stacked, self._which[None], axis=0)[0]

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return [np.where(self._which == i, dy, dy.dtype.type(0))
                for i in range(len(self.input_shape))]


class Maximum(_Extreme):
    """The element-wise maximum of its inputs."""
    _pick = staticmethod(np.argmax)


class Minimum(_Extreme):
    """The element-wise minimum of its inputs."""
    _pick = staticmethod(np.argmin)


class Concatenate(_Merge):
    """Its inputs joined along ``axis`` (the channels, -1, by default); the other
    dimensions must agree."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or int(axis) != axis:
            raise ValueError(f"Concatenate: axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        ndim = len(input_shape[0])
        if not -ndim < self.axis < ndim or self.axis == 0 or self.axis == -ndim:
            raise ValueError(f"Concatenate {self.name!r}: axis {self.axis} is not a non-batch "
                             f"axis of inputs of shape {tuple(input_shape[0])}")
        axis = self.axis % ndim
        rest = [tuple(s[:axis]) + tuple(s[axis + 1:]) for s in input_shape]
        if any(len(s) != ndim for s in input_shape) or any(r != rest[0] for r in rest):
            raise ValueError(f"Concatenate {self.name!r} needs inputs that agree except along "
                             f"axis {self.axis}, got {[tuple(s) for s in input_shape]}")
        sizes = [s[axis] for s in input_shape]
        out = list(input_shape[0])
        out[axis] = None if None in sizes else int(sum(sizes))
        return tuple(out)

    def forward(self, inputs, training=False, activate=True):
        self._sizes = [x.shape[self.axis] for x in inputs]
        return np.concatenate(inputs, axis=self.axis)

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return np.split(dy, np.cumsum(self._sizes)[:-1], axis=self.axis)

    def get_config(self):
        return dict(super().get_config(), axis=self.axis)


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``, as Keras's ``layers.add``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``, as Keras's ``layers.subtract``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``, as Keras's ``layers.multiply``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``, as Keras's ``layers.average``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``, as Keras's ``layers.maximum``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``, as Keras's ``layers.minimum``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``, as Keras's ``layers.concatenate``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
