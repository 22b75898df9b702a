"""Sequential: a Model whose layers form one chain, added one by one."""
from ..layers.base import Layer, SymbolicTensor, unique_name
from ..layers.core import Input, InputLayer
from ..saving import registry
from .functional import Graph, Model


class Sequential(Model):
    """A linear stack of layers: a functional Model whose graph is the chain of its layers,
    made when the input shape is known (the first layer's input_shape, a layers.Input
    first, build(), or the first data it sees).

    >>> model = Sequential([layers.Dense(10, activation="softmax", input_shape=(4,))])
    >>> model.compile(optimizer="rmsprop", loss="categorical_crossentropy",
    ...               metrics=["accuracy"])
    """

    _keras_class = "Sequential"

    def __init__(self, layers=None, name=None):
        Model._init_trainer(self, name if name is not None else unique_name("sequential"))
        self._layers = []
        self._input = None          # the symbolic input, once the input shape is known
        for layer in layers or []:
            self.add(layer)

    # -- structure -------------------------------------------------------------------------
    @property
    def layers(self):
        """The layers in order (the input layer is not one of them, as in Keras)."""
        return list(self._layers)

    @property
    def input_shape(self):
        return None if self._input is None else self._input.shape

    def add(self, layer):
        """Append a layer (or set the input shape with layers.Input)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer or layers.Input(shape), got "
                            f"{layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("layers.Input must be added before any other layer")
            self._input = layer.output
            return
        if any(layer is other for other in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in the model")
        if not self._layers and self._input is None and layer._input_shape_arg is not None:
            self._input = Input(layer._input_shape_arg[1:], dtype=layer.dtype)
        self._layers.append(layer)
        if self._input is not None:
            self._connect()

    def pop(self):
        """Remove the last layer and return it."""
        if not self._layers:
            raise ValueError("pop: the model has no layers")
        layer = self._layers.pop()
        self._disconnect()
        if self._layers and self._input is not None:
            self._connect()
        return layer

    def build(self, input_shape=None):
        """Build every layer for inputs of this shape (with or without the batch dim None)."""
        if input_shape is None:
            if self._input is None:
                raise ValueError(f"build: model {self.name!r} has no input shape; pass one")
            shape = self._input.shape
        else:
            shape = tuple(input_shape)
            if shape and shape[0] is not None:
                shape = (None,) + shape
        if self._input is not None and tuple(self._input.shape[1:]) != shape[1:]:
            raise ValueError(f"model {self.name!r} was declared with input shape "
                             f"{self._input.shape}, cannot build it for {shape}")
        if self._input is None:
            self._input = Input(shape[1:], dtype=self._layers[0].dtype if self._layers
                                else "float32")
        self._connect()

    def _build_for(self, x, what):
        if not self._layers:
            raise ValueError(f"{what}: the model has no layers")
        self.build((None,) + x.shape[1:])

    def _disconnect(self):
        if self._graph is not None:
            for node in self._graph.nodes:
                node.layer._nodes.remove(node)
        self._graph = None

    def _connect(self):
        """Call the layers in turn on the input: builds them and makes the chain's graph."""
        self._disconnect()
        if not self._layers:
            return
        made, t = [], self._input
        try:
            for layer in self._layers:
                t = layer(t)
                made.append(t.node)
        except Exception:
            for node in made:
                node.layer._nodes.remove(node)
            raise
        self._graph = Graph(self._input, t, self.name)

    # -- config ----------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "input_shape": None if self._input is None else list(self._input.shape),
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()}
                           for l in self._layers]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model from get_config's dict (layers by class name: fastconv's own, or
        those in custom_objects, name -> class). The weights are new ones."""
        table = registry.layer_classes(custom_objects)
        model = cls(name=config["name"])
        if config.get("input_shape") is not None:
            model.add(Input(shape=tuple(config["input_shape"])[1:]))
        for i, entry in enumerate(config["layers"]):
            model.add(registry.layer_from_config(table, i, entry, custom_objects))
        model._trainable = bool(config.get("trainable", True))   # its layers keep their own
        return model


registry.register_model("Sequential", Sequential)
