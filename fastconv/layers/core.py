"""Dense, Flatten, Activation, Dropout, and Input with its InputLayer."""
import numpy as np

from .. import _api, _rng, initializers
from .base import ActivatedLayer, Layer, Node, SymbolicTensor, unique_name


class Dense(ActivatedLayer):
    """``activation(x @ kernel + bias)`` over the last axis.

    The products run on fastconv's own GEMM and threads (``_api.matmul``), not on the BLAS
    library's thread pool, which would compete with the convolutions' threads.
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self._regularize(kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer)
        if int(units) != units or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense {self.name!r} needs a known last input dimension, got "
                             f"input shape {input_shape}")
        super().build(input_shape)
        self.kernel = self.kernel_initializer((input_shape[-1], self.units), self.dtype)
        self.weights = [self.kernel]
        if self.use_bias:
            self.bias = self.bias_initializer((self.units,), self.dtype)
            self.weights.append(self.bias)
        self.weight_regularizers = [self.kernel_regularizer, self.bias_regularizer][
            :len(self.weights)]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False, activate=True):
        self._x = x
        x2 = x.reshape(-1, x.shape[-1])
        bias = self.bias if self.use_bias else None
        if activate and self.activation.name == "relu":
            self._activated = True
            z = _api.matmul(x2, self.kernel, bias=bias, activation="relu")
            return self.activation.remember_output(z.reshape(x.shape[:-1] + (self.units,)))
        z = _api.matmul(x2, self.kernel, bias=bias)
        return self._activate(z.reshape(x.shape[:-1] + (self.units,)), activate)

    def backward(self, dy):
        dz = self._activation_grad(dy)
        x2 = self._x.reshape(-1, self._x.shape[-1])
        dz2 = dz.reshape(-1, self.units)
        self.grads = [_api.matmul(x2, dz2, transpose_a=True)]
        if self.use_bias:
            self.grads.append(dz2.sum(axis=0))
        if not self.needs_input_grad:
            return None
        return _api.matmul(dz2, self.kernel, transpose_b=True).reshape(self._x.shape)

    def get_config(self):
        return dict(super().get_config(), units=self.units, use_bias=self.use_bias)


class Flatten(Layer):
    """(batch, ...) -> (batch, product of the rest)."""

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))

    def forward(self, x, training=False, activate=True):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape) if self.needs_input_grad else None


class Activation(ActivatedLayer):
    """An activation function as a layer of its own."""

    def __init__(self, activation, **kwargs):
        super().__init__(activation=activation, **kwargs)

    def forward(self, x, training=False, activate=True):
        return self._activate(x, activate)

    def backward(self, dy):
        return self._activation_grad(dy) if self.needs_input_grad else None


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs in training and scales the rest by
    1 / (1 - rate) (inverted dropout); the identity at inference."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def forward(self, x, training=False, activate=True):
        if not training or self.rate == 0:
            self._scale = None
            return x
        rng = self._generator or _rng.generator()
        keep = rng.random(self._noise_shape(x),
                          dtype=np.float64 if x.dtype == np.float64 else np.float32)
        self._scale = (keep >= self.rate).astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * self._scale

    def _noise_shape(self, x):
        """The shape of the mask drawn (broadcast over x): one draw per value."""
        return x.shape

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return dy if self._scale is None else dy * self._scale

    def get_config(self):
        return dict(super().get_config(), rate=self.rate, seed=self.seed)


class InputLayer(Layer):
    """The entry of a model: makes the symbolic tensor that ``Input`` returns. It has no
    weights and passes its input on; Sequential does not list it, a functional Model does
    (as in Keras)."""

    def __init__(self, shape, name=None, dtype="float32"):
        shape = tuple(shape)
        if any(d is not None and (isinstance(d, bool) or int(d) != d or d < 1)
               for d in shape):
            raise ValueError(f"Input: shape must hold positive integers (or None), got {shape}")
        super().__init__(name=name if name is not None else unique_name("input_layer"),
                         input_shape=shape, dtype=dtype)
        self.shape = (None,) + tuple(None if d is None else int(d) for d in shape)
        self.build(self.shape)
        tensor = SymbolicTensor(self.shape, self.dtype)
        tensor.node = Node(self, [], tensor)
        self._nodes.append(tensor.node)

    @property
    def input(self):
        return self.output

    def forward(self, x, training=False, activate=True):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape[1:]), "dtype": self.dtype.name}


def Input(shape, name=None, dtype="float32"):
    """A model's input: the symbolic tensor of shape ``(None,) + shape`` to call layers on,
    and to give to ``models.Model(inputs, outputs)``; also a Sequential's first entry, which
    sets its input shape."""
    return InputLayer(shape, name=name, dtype=dtype).output
