"""The functional Model: layers called on symbolic tensors, from ``layers.Input`` to one or
several outputs, with merges (Add, Concatenate) between. ``Graph`` runs the calls forward in
order and the gradients back in reverse order, adding them where a tensor feeds several
layers."""
from .. import _rng
from ..layers.base import SymbolicTensor, unique_name
from ..layers.core import Input, InputLayer
from ..saving import keras_config, registry
from .trainer import Trainer, _format_bytes


def _tensors(value, what):
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError(f"Model: {what} must not be empty")
    for t in items:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model: {what} must be symbolic tensors (from layers.Input or a "
                            f"layer called on one), got {t!r}")
    return items


class Graph:
    """The calls that lead from a model's input to its outputs, each after the calls whose
    outputs it takes (a topological order)."""

    def __init__(self, inputs, outputs, model_name="model"):
        inputs = _tensors(inputs, "inputs")
        self.single_output = not isinstance(outputs, (list, tuple))
        self.outputs = _tensors(outputs, "outputs")
        for t in inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model: inputs must come from layers.Input, got {t!r}")
        if len(inputs) != 1:
            raise ValueError(f"Model: {len(inputs)} inputs; fastconv's models take one input")
        self.input = inputs[0]
        self.nodes = self._order(model_name)
        self.input_layer = self.input.node.layer
        consumers = [n for n in self.nodes if any(t is self.input for t in n.inputs)]
        self.input_dtype = consumers[0].layer.dtype if consumers else self.input.dtype
        self._uses = {}
        for node in self.nodes:
            for t in node.inputs:
                self._uses[id(t)] = self._uses.get(id(t), 0) + 1
        self._output_ids = {id(t) for t in self.outputs}
        # the one output's call, when nothing else takes its output: its activation may be
        # left out (fused with the loss, or for the class scores before the softmax)
        last = self.outputs[0].node
        self.fusable = (last if len(self.outputs) == 1 and last in self.nodes
                        and id(self.outputs[0]) not in self._uses else None)
        self.set_gradient_needs()
        by_name = {node.layer.name: node for node in self.nodes}
        order = keras_config.keras_order(
            dict({n: [t.node.layer.name for t in node.inputs] for n, node in by_name.items()},
                 **{self.input_layer.name: []}),
            [self.input_layer.name], [t.node.layer.name for t in self.outputs])
        self.layers = [by_name[n].layer if n in by_name else self.input_layer for n in order]

    def _order(self, model_name):
        """The calls between input and outputs, depth first from the outputs, so that each
        comes after the calls it takes from; refuses a graph that needs another input and a
        layer called twice (its stored forward pass would be overwritten)."""
        order, done = [], set()
        stack = [(t.node, False) for t in reversed(self.outputs)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                order.append(node)
                continue
            if isinstance(node.layer, InputLayer) and node.output is not self.input:
                raise ValueError(f"Model {model_name!r}: graph disconnected: an output needs "
                                 f"input {node.layer.name!r}, which is not the model's input")
            stack.append((node, True))
            for t in reversed(node.inputs):
                if id(t.node) not in done:
                    stack.append((t.node, False))
        order = [n for n in order if not isinstance(n.layer, InputLayer)]
        seen = {}
        for node in order:
            other = seen.setdefault(node.layer.name, node)
            if other is not node:
                what = ("is called twice" if other.layer is node.layer else
                        "names two layers")
                raise ValueError(f"Model {model_name!r}: layer name {node.layer.name!r} "
                                 f"{what}; each layer may appear once in a model (shared "
                                 f"layers are not supported)")
        return order

    def tensor_of(self, layer, what):
        for node in self.nodes:
            if node.layer is layer:
                return node.output
        if layer is self.input_layer:
            return self.input
        raise ValueError(f"{what}: layer {layer.name!r} is not in this model")

    def set_gradient_needs(self, everything=False, input_needs=False):
        """Each layer computes its input gradient only if a layer before it has trainable
        weights, or the graph's own input needs its gradient (a nested model's, inside a
        trainable part of its model), or, with everything, always (for gradients with respect
        to the input). A frozen layer that needs none is not run backward at all."""
        upstream = {id(self.input): input_needs}
        for node in self.nodes:
            needs = any(upstream.get(id(t), False) for t in node.inputs)
            node.layer.needs_input_grad = everything or needs
            upstream[id(node.output)] = needs or bool(node.layer.trainable_weights)

    def output_shapes(self, input_shape):
        """The outputs' shapes for an input of input_shape, through each layer's
        compute_output_shape (the built shapes when input_shape is the input's own)."""
        if tuple(input_shape[1:]) == tuple(self.input.shape[1:]):
            return [t.shape for t in self.outputs]
        shapes = {id(self.input): tuple(input_shape)}
        for node in self.nodes:
            args = [shapes[id(t)] for t in node.inputs]
            shapes[id(node.output)] = tuple(node.layer.compute_output_shape(
                args if node.layer._takes_list else args[0]))
        return [shapes[id(t)] for t in self.outputs]

    def run(self, x, training, logits=False, keep=None):
        """The outputs (a list) for the batch x; with keep, also the values of those
        tensors: (outputs, kept). A value is dropped once the last call taking it has run."""
        values = {id(self.input): x}
        remaining = dict(self._uses)
        kept_ids = {id(t) for t in keep or ()}
        for node in self.nodes:
            args = [values[id(t)] for t in node.inputs]
            values[id(node.output)] = node.layer.forward(
                args if node.layer._takes_list else args[0], training=training,
                activate=not (logits and node is self.fusable))
            if node.layer.activity_regularizer is not None:
                # its penalty for the loss, its gradient for backward
                node.layer._activity = node.layer.activity_penalty(values[id(node.output)])
            for t in node.inputs:
                remaining[id(t)] -= 1
                if remaining[id(t)] == 0 and id(t) not in self._output_ids \
                        and id(t) not in kept_ids:
                    del values[id(t)]
        outputs = [values[id(t)] for t in self.outputs]
        if keep is not None:
            return outputs, [values[id(t)] for t in keep]
        return outputs

    def backward(self, output_grads, keep=None):
        """Back through the calls of the last run from the outputs' gradients: each layer
        stores its parameter gradients; returns the input's gradient (None when no layer
        computed it), and with keep, (input gradient, the gradients of those tensors)."""
        grads = {}

        def add(tensor, g):
            grads[id(tensor)] = g if id(tensor) not in grads else grads[id(tensor)] + g
        for t, g in zip(self.outputs, output_grads):
            add(t, g)
        kept = {}
        kept_ids = {id(t) for t in keep or ()}
        for node in reversed(self.nodes):
            g = grads.pop(id(node.output), None)
            if node.layer.activity_regularizer is not None:
                extra = node.layer._activity[1]
                g = extra if g is None else g + extra
            if id(node.output) in kept_ids:
                kept[id(node.output)] = g
            if g is None or not (node.layer.needs_input_grad or node.layer.trainable_weights):
                continue
            inputs_grad = node.layer.backward(g)
            if inputs_grad is None:
                continue
            for t, gi in zip(node.inputs, inputs_grad if node.layer._takes_list
                             else [inputs_grad]):
                add(t, gi)
        dx = grads.get(id(self.input))
        if keep is not None:
            return dx, [dx if t is self.input else kept[id(t)] for t in keep]
        return dx


class Model(Trainer):
    """A model from its input to its outputs, as Keras's functional API defines one:

    >>> inputs = layers.Input(shape=(28, 28, 1))
    >>> x = layers.Conv2D(32, 3, activation="relu")(inputs)
    >>> outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    >>> model = models.Model(inputs, outputs)

    ``outputs`` may be a list (predict then returns a list), and may be any layers' outputs,
    including those of a built Sequential's layers (``layer.output``): the book's activation
    model. Layers are shared with the models they came from, not copied.
    """

    _keras_class = "Functional"

    def __init__(self, inputs, outputs, name=None):
        self._init_trainer(name if name is not None else unique_name("functional"))
        self._graph = Graph(inputs, outputs, self.name)

    # -- structure -------------------------------------------------------------------------
    @property
    def layers(self):
        """The layers in Keras's order of model.layers (and of its weights): by depth, the
        longest path to an output, deepest first, so the input layer comes first and each
        layer after those whose outputs it takes; a branch's layers side by side as Keras
        lists them (``layers[:-4]`` picks what it picks in Keras)."""
        return list(self._graph.layers)

    @property
    def input(self):
        self._require_built("input")
        return self._graph.input

    @property
    def inputs(self):
        return [self.input]

    @property
    def output(self):
        self._require_built("output")
        return self._as_given(self._graph.outputs)

    @property
    def outputs(self):
        self._require_built("outputs")
        return list(self._graph.outputs)

    @property
    def input_shape(self):
        return self._graph.input.shape if self.built else None

    @property
    def output_shape(self):
        self._require_built("output_shape")
        return self._as_given([t.shape for t in self._graph.outputs])

    def get_layer(self, name=None, index=None):
        """The layer called ``name`` (or at position ``index`` of ``layers``)."""
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError("get_layer: give either name or index")
        if index is not None:
            if isinstance(index, bool) or int(index) != index or not -len(layers) <= index \
                    < len(layers):
                raise ValueError(f"get_layer: index {index!r} is out of range: model "
                                 f"{self.name!r} has {len(layers)} layers")
            return layers[int(index)]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r} in model {self.name!r}; its "
                         f"layers are {', '.join(repr(l.name) for l in layers)}")

    def _inbound(self, layer):
        """Names of the layers whose outputs this layer takes in this model."""
        for node in self._graph.nodes:
            if node.layer is layer:
                return [t.node.layer.name for t in node.inputs]
        return []

    @property
    def _is_chain(self):
        uses = [id(t) for node in self._graph.nodes for t in node.inputs]
        return (all(len(node.inputs) == 1 for node in self._graph.nodes)
                and len(uses) == len(set(uses)) and len(self._graph.outputs) == 1)

    def _call_shapes(self):
        """layer -> (the input shape it is called on, or a list of them for a merge; its
        output shape) in this model (a nested model's own shapes may be None where its call
        here has sizes)."""
        graph = self._graph
        shapes = {id(graph.input_layer): (graph.input.shape, graph.input.shape)}
        for node in graph.nodes:
            ins = [t.shape for t in node.inputs]
            shapes[id(node.layer)] = (ins if node.layer._takes_list else ins[0],
                                      node.output.shape)
        return shapes

    def _summary_rows(self, expand_nested, depth=0):
        rows = []
        shapes = self._call_shapes()
        for l in self.layers:
            label = getattr(l, "_keras_class", type(l).__name__)    # models, operations
            indent = "   " * depth + ("└ " if depth else "")
            rows.append((l, f"{indent}{l.name} ({label})", str(shapes[id(l)][1]),
                         f"{l.count_params():,}"))
            if expand_nested and isinstance(l, Trainer):
                rows += l._summary_rows(True, depth + 1)
        return rows

    def summary(self, print_fn=None, expand_nested=False):
        """Print a table of layers with output shapes and parameter counts, as Keras does,
        and the layers each one takes from when the model is not a plain chain. A nested
        model is one row (its class Functional or Sequential, its output shape where it is
        called), or, with expand_nested, followed by its own layers' rows."""
        self._require_built("summary")
        print_fn = print_fn or print
        connected = not self._is_chain
        head = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if connected
                                                             else ())
        rows = []
        for l, *row in self._summary_rows(expand_nested):
            rows.append(tuple(row) + ((", ".join(self._inbound(l)) or "-",) if connected
                                      else ()))
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
        def line(r):
            cells = [f"{r[0]:<{widths[0] + 4}}", f"{r[1]:<{widths[1] + 4}}",
                     f"{r[2]:>{widths[2]}}"] + ([f"    {r[3]:<{widths[3]}}"] if connected
                                                else [])
            return (" " + "".join(cells)).rstrip()
        width = 1 + sum(widths) + 8 + (4 if connected else 0) + 1
        lines = [f'Model: "{self.name}"', "_" * width, line(head), "=" * width]
        lines += [line(r) for r in rows]
        trainable = sum(w.size for w in self.trainable_weights)
        total = self.count_params()
        nbytes = sum(w.nbytes for w in self.weights)
        tbytes = sum(w.nbytes for w in self.trainable_weights)
        lines += ["=" * width,
                  f" Total params: {total:,} ({_format_bytes(nbytes)})",
                  f" Trainable params: {trainable:,} ({_format_bytes(tbytes)})",
                  f" Non-trainable params: {total - trainable:,} "
                  f"({_format_bytes(nbytes - tbytes)})",
                  "_" * width]
        for text in lines:
            print_fn(text)

    # -- pickling --------------------------------------------------------------------------
    def __reduce__(self):
        """A pickled model is its architecture (get_config) and weights, rebuilt on loading
        (so it travels to other processes: dask's workers, multiprocessing). The compile
        settings and optimizer state do not travel: Model.save keeps those."""
        if not self.built:
            raise TypeError(f"cannot pickle model {self.name!r}: it is not built yet "
                            f"(give it an input shape or call it on data first)")
        custom = {type(l).__name__: type(l) for l in self.layers
                  if type(l).__module__.split(".")[0] != "fastconv"}
        return _rebuild, (type(self), self.get_config(),
                          [l.get_weights() for l in self.layers], custom)

    # -- config ----------------------------------------------------------------------------
    def get_config(self):
        """The graph as plain data: each layer's class and config and the layers it takes
        from, in the order they run."""
        self._require_built("get_config")
        layers = [{"class_name": type(l).__name__, "config": l.get_config(),
                   "inbound": self._inbound(l)} for l in self.layers]
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": [self._graph.input_layer.name],
                "output_layers": [t.node.layer.name for t in self._graph.outputs],
                "single_output": self._graph.single_output}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model from get_config's dict; the weights are new ones."""
        table = registry.layer_classes(custom_objects)
        tensors = {}
        for i, entry in enumerate(config["layers"]):
            name = entry["class_name"]
            if name == "InputLayer":
                c = entry["config"]
                tensors[c["name"]] = Input(tuple(c["shape"]), name=c["name"], dtype=c["dtype"])
                continue
            layer = registry.layer_from_config(table, i, entry, custom_objects)
            inbound = [tensors[n] for n in entry["inbound"]]
            tensors[layer.name] = layer(inbound if layer._takes_list else inbound[0])
        outputs = [tensors[n] for n in config["output_layers"]]
        inputs = [tensors[n] for n in config["input_layers"]]
        model = cls(inputs[0] if len(inputs) == 1 else inputs,
                    outputs[0] if config.get("single_output", True) else outputs,
                    name=config["name"])
        model._trainable = bool(config.get("trainable", True))   # its layers keep their own
        return model


registry.register_model("Model", Model)
registry.register_model("Functional", Model)          # Keras's name for it


def _rebuild(cls, config, weights, custom_objects):
    """The model Model.__reduce__ pickled: a Model, a Sequential or a subclass of either."""
    with _rng.isolated():
        model = cls.from_config(config, custom_objects)
    for layer, arrays in zip(model.layers, weights):
        layer.set_weights(arrays)
    return model
