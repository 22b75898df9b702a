"""Layer: the Keras-style base class. A layer is built from its input shape, keeps in
``forward`` what ``backward`` needs, and stores its parameters' gradients in ``grads``."""
import itertools
import numbers
from collections import defaultdict

import numpy as np

from .. import _rng, activations, regularizers
from .._registry import snake_case

_name_counters = defaultdict(itertools.count)


def unique_name(prefix):
    """prefix, prefix_1, prefix_2, ... as Keras names layers."""
    n = next(_name_counters[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def require_images(layer, input_shape, what="inputs"):
    """ValueError naming the layer unless input_shape is (batch, height, width, channels)."""
    if len(input_shape) != 4:
        raise ValueError(f"{type(layer).__name__} {layer.name!r} expects {what} (batch, height, "
                         f"width, channels), got input shape {input_shape}")


class SymbolicTensor:
    """What a layer returns when it is called on a model's input while the model is being
    defined (Keras's KerasTensor): a shape (batch dimension None) and a dtype, and the call
    (``node``) that makes it. It holds no numbers; ``models.Model(inputs, outputs)`` runs the
    calls between them."""

    def __init__(self, shape, dtype, node=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.node = node

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        source = f" from {self.node.layer.name!r}" if self.node is not None else ""
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name}{source}>"


class Node:
    """One call of a layer on symbolic tensors: the tensors it took and the one it made."""

    def __init__(self, layer, inputs, output):
        self.layer = layer
        self.inputs = list(inputs)
        self.output = output


def _dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"layer dtype must be float32 or float64, got {dtype}")
    return dtype


def _batchless(shape):
    """The shape (or list of shapes) without its batch dimension."""
    if shape and isinstance(shape[0], (tuple, list)):
        return [tuple(s[1:]) for s in shape]
    return tuple(shape[1:])


class Layer:
    """Base class. Subclasses set ``weights`` (a list of arrays) in ``build`` and implement
    ``compute_output_shape``, ``forward`` and ``backward``.

    Shapes include the batch dimension as None, as in Keras: ``(None, 28, 28, 1)``.
    """

    def __init__(self, name=None, input_shape=None, dtype="float32", trainable=True,
                 activity_regularizer=None):
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        # a penalty on the layer's output, and one per weight (None: none), as Keras's
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.weight_regularizers = []
        self._input_shape_arg = None if input_shape is None else (None,) + tuple(input_shape)
        self.dtype = _dtype(dtype)
        self.trainable = trainable
        self.built = False
        self.input_shape = self.output_shape = None
        self.weights = []
        self.grads = []
        # False for layers whose input gradient nobody needs (the model's first layers).
        self.needs_input_grad = True
        self._nodes = []        # the calls on symbolic tensors, first one first

    # Merging layers take a list of inputs; every other layer takes one array.
    _takes_list = False

    # -- building --------------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of this shape (batch dimension None)."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    @property
    def trainable_weights(self):
        """The weights the optimizer updates (``grads`` holds their gradients, in order)."""
        return list(self.weights) if self.trainable else []

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    # -- calls on symbolic tensors (defining a model) -----------------------------------------
    def _symbolic_call(self, inputs):
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for t in tensors:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"{type(self).__name__} {self.name!r}: cannot mix symbolic "
                                f"tensors and arrays in one call, got {t!r}")
        if self._takes_list:
            if not isinstance(inputs, (list, tuple)):
                raise TypeError(f"{type(self).__name__} {self.name!r} takes a list of "
                                f"tensors, got one: {inputs!r}")
            shape = [t.shape for t in tensors]
        elif len(tensors) != 1 or isinstance(inputs, (list, tuple)):
            raise TypeError(f"{type(self).__name__} {self.name!r} takes one tensor, got "
                            f"{len(tensors)}")
        else:
            shape = tensors[0].shape
        if not self.built:
            self.build(shape)
        elif _batchless(self.input_shape) != _batchless(shape):
            raise ValueError(f"layer {self.name!r} was built for input shape "
                             f"{self.input_shape}, but receives {shape} here")
        output = SymbolicTensor(self.output_shape, self.dtype)
        output.node = Node(self, tensors, output)
        self._nodes.append(output.node)
        return output

    def _first_node(self, what):
        if not self._nodes:
            raise AttributeError(f"layer {self.name!r} has no {what}: it has not been called "
                                 f"on a model's input (layers.Input) nor built in a model")
        return self._nodes[0]

    @property
    def input(self):
        """The symbolic tensor this layer was first called on (a list for merging layers)."""
        node = self._first_node("input")
        return list(node.inputs) if self._takes_list else node.inputs[0]

    @property
    def output(self):
        """The symbolic tensor this layer's first call made: ``models.Model(inputs,
        [layer.output ...])`` is a model with the layer's activations as outputs."""
        return self._first_node("output").output

    # -- running ---------------------------------------------------------------------------
    def __call__(self, x, training=False):
        """Run the layer on its own (on an array: builds it on first use and checks the
        input's shape), or, on a symbolic tensor (layers.Input's or another layer's), add
        the call to the model being defined and return the symbolic output."""
        if isinstance(x, SymbolicTensor) or (isinstance(x, (list, tuple)) and x
                                             and isinstance(x[0], SymbolicTensor)):
            return self._symbolic_call(x)
        x = np.asarray(x)
        if not self.built:
            self.build((None,) + x.shape[1:])
        self.check_input(x)
        return self.forward(x.astype(self.dtype, copy=False), training=training)

    def check_input(self, x):
        expected = self.input_shape
        if x.ndim != len(expected) or any(e is not None and e != s
                                          for e, s in zip(expected[1:], x.shape[1:])):
            want = "(batch, " + ", ".join(str(e) for e in expected[1:]) + ")"
            raise ValueError(f"{type(self).__name__} {self.name!r} expected input of shape "
                             f"{want}, got {x.shape}")

    def forward(self, x, training=False, activate=True):
        """The layer's output; ``activate=False`` stops before the activation (logits)."""
        raise NotImplementedError

    def backward(self, dy):
        """Gradient with respect to the input (None if not needs_input_grad); parameter
        gradients go to ``grads``, in the order of ``weights``."""
        raise NotImplementedError

    # -- weights and config ----------------------------------------------------------------
    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(f"layer {self.name!r} has {len(self.weights)} weight arrays, "
                             f"got {len(weights)}")
        for i, (w, new) in enumerate(zip(self.weights, weights)):
            new = np.asarray(new)
            if new.shape != w.shape:
                raise ValueError(f"layer {self.name!r} weight {i} has shape {w.shape}, got "
                                 f"{new.shape}")
            w[...] = new

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new layer from get_config's dict (custom_objects matters to models only)."""
        return cls(**config)

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype.name, "trainable": self.trainable}
        if self._input_shape_arg is not None:
            config["input_shape"] = self._input_shape_arg[1:]
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        for name in self._regularizer_names:
            if getattr(self, name) is not None:
                config[name] = regularizers.serialize(getattr(self, name))
        return config

    _regularizer_names = ()

    def _regularize(self, **named):
        """Keep weight regularizers under their Keras argument names (kernel_regularizer=...);
        build lists them per weight in weight_regularizers."""
        self._regularizer_names = tuple(named)
        for name, value in named.items():
            setattr(self, name, regularizers.get(value))

    # -- penalties (regularizers) ------------------------------------------------------------
    def weight_penalty(self):
        """The weights' regularizers' penalty (0.0 with none)."""
        return sum(r(w) for w, r in zip(self.weights, self.weight_regularizers) if r)

    def add_weight_penalty_grads(self):
        """grads += the weight penalty's gradient."""
        for i, (w, r) in enumerate(zip(self.weights, self.weight_regularizers)):
            if r is not None and i < len(self.grads):
                self.grads[i] = self.grads[i] + r.gradient(w)

    def activity_penalty(self, y):
        """(penalty, its gradient) of the activity regularizer on output y, each divided by
        the batch size, as Keras 3 divides."""
        n = max(y.shape[0], 1) if y.ndim else 1
        return self.activity_regularizer(y) / n, self.activity_regularizer.gradient(y) / n

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class SeededLayer(Layer):
    """A layer that draws at random in training: from its own generator, given a seed (an
    integer >= 0), else from fastconv's shared one."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be None or an integer >= 0, "
                             f"got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else np.random.default_rng(self.seed)

    @property
    def rng(self):
        return self._generator or _rng.generator()

    def get_config(self):
        return dict(super().get_config(), seed=self.seed)


class ActivatedLayer(Layer):
    """A layer with an ``activation`` applied to its output, which the model may skip
    (``activate=False``) to fuse a final softmax with the cross-entropy loss."""

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._activated = True

    def _activate(self, z, activate):
        self._activated = activate
        return self.activation.forward(z) if activate else z

    def _activation_grad(self, dy):
        return self.activation.backward(dy) if self._activated else dy

    def get_config(self):
        return dict(super().get_config(), activation=self.activation.name)
