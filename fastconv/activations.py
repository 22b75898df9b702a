"""Activation functions with their derivatives: relu, sigmoid, tanh, softmax, linear.

Each layer gets its own Activation object, which remembers what its backward pass needs.
"""
import numpy as np

from ._registry import lookup


def softmax(z, axis=-1):
    """Numerically stable softmax (the maximum is subtracted first)."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


class Activation:
    name = None

    def forward(self, z):
        """The activation of z; remembers what backward needs."""
        raise NotImplementedError

    def backward(self, dy):
        """Gradient with respect to z, given dy with respect to the output."""
        raise NotImplementedError


class Linear(Activation):
    name = "linear"

    def forward(self, z):
        return z

    def backward(self, dy):
        return dy


class ReLU(Activation):
    name = "relu"

    def forward(self, z):
        return self.remember_output(np.maximum(z, 0))

    def remember_output(self, y):
        """For a kernel that applied the ReLU itself: backward needs only the output."""
        self._y = y
        return y

    @property
    def output(self):
        """The last forward pass's output."""
        return self._y

    def backward(self, dy):
        return dy * (self._y > 0)


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, z):
        # 1 / (1 + exp(-z)) without overflow for large |z|
        self._y = np.exp(-np.logaddexp(0, -z)).astype(z.dtype, copy=False)
        return self._y

    def backward(self, dy):
        return dy * self._y * (1 - self._y)


class Tanh(Activation):
    name = "tanh"

    def forward(self, z):
        self._y = np.tanh(z)
        return self._y

    def backward(self, dy):
        return dy * (1 - self._y * self._y)


class Softmax(Activation):
    name = "softmax"

    def forward(self, z):
        self._y = softmax(z)
        return self._y

    def backward(self, dy):
        y = self._y
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


_TABLE = {"linear": Linear, "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax}


def get(identifier):
    """A new Activation for a name (None means linear) or of an instance's class: each layer
    needs its own, since it remembers its last forward pass."""
    if identifier is None:
        return Linear()
    if isinstance(identifier, Activation):
        return type(identifier)()
    return lookup("activation", identifier, _TABLE, Activation)
