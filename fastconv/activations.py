"""Activation functions with their derivatives, by Keras's names: linear, relu, sigmoid,
tanh, softmax, and the ones Keras's convnets use (relu6, silu/swish, gelu, hard_sigmoid,
hard_silu/hard_swish, elu, selu, softplus, exponential), with Keras 3's definitions.

Each layer gets its own Activation object, which remembers what its backward pass needs.
"""
import math

import numpy as np

from ._registry import lookup

_erf = np.frompyfunc(math.erf, 1, 1)


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


def _sigmoid(z):
    return np.exp(-np.logaddexp(0, -z)).astype(z.dtype, copy=False)


class _Elementwise(Activation):
    """f(z) and f'(z) element by element: backward multiplies dy by f'(z) of the last input."""

    def forward(self, z):
        self._z = z
        return self.value(z).astype(z.dtype, copy=False)

    def backward(self, dy):
        return (dy * self.slope(self._z)).astype(dy.dtype, copy=False)


class ReLU6(_Elementwise):
    """min(max(z, 0), 6); slope 1 strictly between 0 and 6."""
    name = "relu6"

    def value(self, z):
        return np.clip(z, 0, 6)

    def slope(self, z):
        return ((z > 0) & (z < 6)).astype(z.dtype)


class SiLU(_Elementwise):
    """z sigmoid(z) (Keras's silu, also called swish)."""
    name = "silu"

    def value(self, z):
        return z * _sigmoid(z)

    def slope(self, z):
        s = _sigmoid(z)
        return s * (1 + z * (1 - s))


class GELU(_Elementwise):
    """z Phi(z) with the normal distribution's exact Phi (Keras's default, approximate=False).
    erf is Python's, element by element: exact, but slower than the other activations."""
    name = "gelu"

    def value(self, z):
        return 0.5 * z * (1 + _erf(z.astype(np.float64) / math.sqrt(2)).astype(np.float64))

    def slope(self, z):
        z64 = z.astype(np.float64)
        phi = 0.5 * (1 + _erf(z64 / math.sqrt(2)).astype(np.float64))
        return phi + z64 * np.exp(-0.5 * z64 * z64) / math.sqrt(2 * math.pi)


class HardSigmoid(_Elementwise):
    """relu6(z + 3) / 6 (Keras 3's)."""
    name = "hard_sigmoid"

    def value(self, z):
        return np.clip(z + 3, 0, 6) / 6

    def slope(self, z):
        return ((z > -3) & (z < 3)).astype(z.dtype) / 6


class HardSiLU(_Elementwise):
    """z hard_sigmoid(z) (Keras's hard_silu, also called hard_swish)."""
    name = "hard_silu"

    def value(self, z):
        return z * np.clip(z + 3, 0, 6) / 6

    def slope(self, z):
        inside = (z > -3) & (z < 3)
        return np.where(z >= 3, 1, np.where(inside, (2 * z + 3) / 6, 0)).astype(z.dtype)


class ELU(_Elementwise):
    """z for z > 0, exp(z) - 1 below (alpha 1, as Keras's activation)."""
    name = "elu"

    def value(self, z):
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))

    def slope(self, z):
        return np.where(z > 0, 1, np.exp(np.minimum(z, 0))).astype(z.dtype)


class SELU(_Elementwise):
    """scale * elu(z, alpha) with Klambauer et al.'s constants, as Keras."""
    name = "selu"
    ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

    def value(self, z):
        return self.SCALE * np.where(z > 0, z, self.ALPHA * np.expm1(np.minimum(z, 0)))

    def slope(self, z):
        return (self.SCALE * np.where(z > 0, 1, self.ALPHA * np.exp(np.minimum(z, 0)))).astype(
            z.dtype)


class Softplus(_Elementwise):
    """log(1 + exp(z)), without overflow."""
    name = "softplus"

    def value(self, z):
        return np.logaddexp(0, z)

    def slope(self, z):
        return _sigmoid(z)


class Exponential(_Elementwise):
    name = "exponential"

    def value(self, z):
        return np.exp(z)

    def slope(self, z):
        return np.exp(z)


_TABLE = {"linear": Linear, "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "softmax": Softmax,
          "relu6": ReLU6, "silu": SiLU, "swish": SiLU, "gelu": GELU,
          "hard_sigmoid": HardSigmoid, "hard_silu": HardSiLU, "hard_swish": HardSiLU,
          "elu": ELU, "selu": SELU, "softplus": Softplus, "exponential": Exponential}


def get(identifier):
    """A new Activation for a name (None means linear) or of an instance's class: each layer
    needs its own, since it remembers its last forward pass."""
    if identifier is None:
        return Linear()
    if isinstance(identifier, Activation):
        return type(identifier)()
    return lookup("activation", identifier, _TABLE, Activation)
