"""Keras 3's model configs, translated to fastconv's own (plain data both ways, no arrays).

Keras writes a model's architecture as nested dicts: ``{"module", "class_name", "config",
"registered_name", "build_config"}`` for the model and for each layer, the layer's arguments
under their Keras names (fastconv's layers take the same names), dtype policies, and, for a
functional model, each layer's calls (``inbound_nodes``, whose tensors point back with
``keras_history = [layer, node, tensor]``). ``from_keras`` turns that into the config
``Sequential.from_config`` or ``Model.from_config`` takes, after checking every layer: a class
fastconv does not have, a Lambda layer (its config holds Python bytecode, which is never run),
a class registered by another package (``"package>Layer"``), channels_first data, an argument
value fastconv does not implement, a dtype policy it cannot run: each is listed, all of them,
in one ValueError, before anything else is read. Nothing here evaluates or imports anything
named in a file.

Initializers are dropped (the weights come from the file) and so are constraints. Regularizers
(L1, L2, L1L2) are kept where fastconv's layers apply them: every layer's activity
regularizer, and the kernels' and biases' of the convolutions and Dense; another layer's
(BatchNormalization's gamma and beta) is dropped with a warning: fastconv runs the model as
Keras does, but its training would not add that penalty.
"""
import numbers
import warnings

from .. import regularizers
from .._registry import snake_case
from ..layers.operations import OPERATIONS

_INITIALIZERS = {"kernel_initializer", "bias_initializer", "gamma_initializer",
                 "beta_initializer", "moving_mean_initializer", "moving_variance_initializer",
                 "depthwise_initializer", "pointwise_initializer"}
_CONSTRAINTS = {"kernel_constraint", "bias_constraint", "beta_constraint", "gamma_constraint",
                "depthwise_constraint", "pointwise_constraint"}
_REGULARIZERS = {"kernel_regularizer", "bias_regularizer", "activity_regularizer",
                 "beta_regularizer", "gamma_regularizer", "depthwise_regularizer",
                 "pointwise_regularizer"}
_CHANNELS_LAST = {"data_format": ("channels_last", None)}
# The weight regularizers fastconv's layers apply (any layer takes an activity_regularizer);
# the others (BatchNormalization's gamma and beta) are dropped with a warning.
_WEIGHT_REGULARIZERS = {
    "Conv2D": ("kernel_regularizer", "bias_regularizer"),
    "Conv2DTranspose": ("kernel_regularizer", "bias_regularizer"),
    "Dense": ("kernel_regularizer", "bias_regularizer"),
    "DepthwiseConv2D": ("depthwise_regularizer", "bias_regularizer"),
    "SeparableConv2D": ("depthwise_regularizer", "pointwise_regularizer", "bias_regularizer")}

# Per Keras class: the arguments fastconv takes under the same name; the ones it does not
# take, with the values that mean what fastconv does anyway (anything else is refused); the
# ones that do not change what the model computes.
_LAYERS = {
    "Conv2D": (("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups",
                "activation", "use_bias"),
               dict(_CHANNELS_LAST, lora_rank=(None,)),
               _INITIALIZERS | _CONSTRAINTS | {"lora_alpha"}),
    "Conv2DTranspose": (("filters", "kernel_size", "strides", "padding", "output_padding",
                         "dilation_rate", "activation", "use_bias"), _CHANNELS_LAST,
                        _INITIALIZERS | _CONSTRAINTS),
    "DepthwiseConv2D": (("kernel_size", "strides", "padding", "depth_multiplier",
                         "dilation_rate", "activation", "use_bias"), _CHANNELS_LAST,
                        _INITIALIZERS | _CONSTRAINTS),
    "SeparableConv2D": (("filters", "kernel_size", "strides", "padding", "depth_multiplier",
                         "dilation_rate", "activation", "use_bias"), _CHANNELS_LAST,
                        _INITIALIZERS | _CONSTRAINTS),
    "Dense": (("units", "activation", "use_bias"), {"lora_rank": (None,),
                                                    "quantization_config": (None,)},
              _INITIALIZERS | _CONSTRAINTS | {"lora_alpha"}),
    "MaxPooling2D": (("pool_size", "strides", "padding"), _CHANNELS_LAST, set()),
    "AveragePooling2D": (("pool_size", "strides", "padding"), _CHANNELS_LAST, set()),
    "GlobalAveragePooling2D": (("keepdims",), _CHANNELS_LAST, set()),
    "GlobalMaxPooling2D": (("keepdims",), _CHANNELS_LAST, set()),
    "Flatten": ((), _CHANNELS_LAST, set()),
    "Activation": (("activation",), {}, set()),
    "Dropout": (("rate", "seed"), {"noise_shape": (None,)}, set()),
    "Add": ((), {}, set()),
    "Concatenate": (("axis",), {}, set()),
    "BatchNormalization": (("axis", "momentum", "epsilon", "center", "scale"),
                           {"synchronized": (False,), "renorm": (False,)},
                           _INITIALIZERS | _CONSTRAINTS | {"renorm_clipping",
                                                           "renorm_momentum"}),
    "Rescaling": (("scale", "offset"), {}, set()),
    "RandomFlip": (("mode", "seed"), _CHANNELS_LAST, set()),
    "RandomRotation": (("factor", "fill_mode", "interpolation", "seed", "fill_value"),
                       _CHANNELS_LAST, set()),
    "RandomZoom": (("height_factor", "width_factor", "fill_mode", "interpolation", "seed",
                    "fill_value"), _CHANNELS_LAST, set()),
    "RandomTranslation": (("height_factor", "width_factor", "fill_mode", "interpolation",
                           "seed", "fill_value"), _CHANNELS_LAST, set()),
    "RandomContrast": (("factor", "seed", "value_range"), _CHANNELS_LAST, set()),
    "ReLU": (("max_value", "negative_slope", "threshold"), {}, set()),
    "LeakyReLU": (("negative_slope",), {}, set()),
    "ZeroPadding2D": (("padding",), _CHANNELS_LAST, set()),
    "Cropping2D": (("cropping",), _CHANNELS_LAST, set()),
    "UpSampling2D": (("size", "interpolation"), _CHANNELS_LAST, set()),
    "Reshape": (("target_shape",), {}, set()),
    "Permute": (("dims",), {}, set()),
    "Identity": ((), {}, set()),
    "Subtract": ((), {}, set()),
    "Multiply": ((), {}, set()),
    "Average": ((), {}, set()),
    "Maximum": ((), {}, set()),
    "Minimum": ((), {}, set()),
    "GaussianNoise": (("stddev", "seed"), {}, set()),
    "SpatialDropout2D": (("rate", "seed"), dict(_CHANNELS_LAST, noise_shape=(None,)), set()),
}
MERGES = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
# Keras 2's names for what Keras 3 renamed, and what its configs carry that changes nothing
# here (the input shape is read from the first layer before this)
_RENAMED = {("LeakyReLU", "alpha"): "negative_slope"}
_LEGACY_IGNORED = {"batch_input_shape", "input_dim", "autocast"}
_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "relu6", "silu", "swish",
                "gelu", "hard_sigmoid", "hard_silu", "hard_swish", "elu", "selu", "softplus",
                "exponential")
# The dtype policies fastconv runs: the mixed ones keep float32 variables, and run here in
# float32 (more precise than Keras's float16 or bfloat16 arithmetic).
_DTYPES = {"float32": "float32", "float64": "float64", "mixed_float16": "float32",
           "mixed_bfloat16": "float32"}
_MODELS = ("Sequential", "Functional", "Model")


class _Problems:
    """Everything wrong with a config, gathered so that one error lists it all."""

    def __init__(self):
        self.items = []

    def add(self, where, what):
        self.items.append(f"{where}: {what}")

    def raise_any(self):
        if self.items:
            raise ValueError("it holds what fastconv cannot run: " + "; ".join(self.items))


def _dtype_name(value, where, problems):
    """The dtype a layer's dtype entry (a string or a DTypePolicy dict) runs in."""
    if value is None:
        return "float32"
    if isinstance(value, dict):
        value = value.get("config", {}).get("name") if isinstance(value.get("config"),
                                                                 dict) else None
    if not isinstance(value, str) or value not in _DTYPES:
        problems.add(where, f"dtype policy {value!r} (fastconv runs "
                            f"{', '.join(sorted(_DTYPES))})")
        return "float32"
    return _DTYPES[value]


def _activation(value, where, problems):
    if isinstance(value, dict):           # {"class_name": "function", "config": "relu"}
        value = value.get("config")
    if value is None:
        return "linear"
    if value not in _ACTIVATIONS:
        problems.add(where, f"activation {value!r} (fastconv has {', '.join(_ACTIVATIONS)})")
        return "linear"
    return value


def _same(value, allowed):
    return any(value == a or (isinstance(value, list) and tuple(value) == a) for a in allowed)


def _class_name(entry, where, problems):
    """The Keras class of a config entry, or None (after noting why) if it is not Keras's."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        problems.add(where, "an entry without a class_name")
        return None
    name = entry["class_name"]
    registered = entry.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        problems.add(where, f"class {registered!r}, registered by another package (custom "
                            f"code, which fastconv does not run)")
        return None
    if name == "Lambda":
        problems.add(where, "a Lambda layer (Python code inside the file, which fastconv "
                            "never runs)")
        return None
    module = entry.get("module")
    if module is not None and not (isinstance(module, str) and module.split(".")[0] == "keras"):
        problems.add(where, f"class {name!r} from module {module!r}, not Keras's")
        return None
    return name


def layer_config(entry, where, problems, regularized, legacy=False):
    """fastconv's {"class_name", "config"} for one Keras layer entry (a nested model's
    included, translated whole)."""
    name = _class_name(entry, where, problems)
    if name is None:
        return None
    if name in _MODELS:
        if legacy:
            problems.add(where, f"a nested {name} model in a legacy HDF5 file (fastconv reads "
                                f"nested models from .keras files)")
            return None
        inner = _Problems()
        made = _model(entry, inner, regularized)
        for item in inner.items:
            problems.add(where, item)
        return None if made is None else {"class_name": made[0], "config": made[1]}
    if name not in _LAYERS:
        problems.add(where, f"layer class {name!r}, which fastconv does not have")
        return None
    config = entry.get("config")
    if not isinstance(config, dict):
        problems.add(where, "a config that is not a dict")
        return None
    keep, fixed, ignored = _LAYERS[name]
    out = {"name": config.get("name"), "trainable": bool(config.get("trainable", True)),
           "dtype": _dtype_name(config.get("dtype"), where, problems)}
    if not isinstance(out["name"], str) or not out["name"]:
        problems.add(where, "a layer without a name")
    for key, value in config.items():
        key = _RENAMED.get((name, key), key)
        if key in ("name", "trainable", "dtype") or key in _LEGACY_IGNORED:
            continue
        if key in keep:
            out[key] = _activation(value, where, problems) if key == "activation" else value
        elif key in fixed:
            if not _same(value, fixed[key]):
                problems.add(where, f"{name} {key}={value!r} (fastconv has {fixed[key][0]!r} "
                                    f"only)")
        elif key in _REGULARIZERS:
            if value is None:
                continue
            if key == "activity_regularizer" or key in _WEIGHT_REGULARIZERS.get(name, ()):
                try:
                    regularizers.get(value)
                except ValueError as e:
                    problems.add(where, f"{name} {key}: {e}")
                out[key] = value
            else:
                regularized.append(f"{out['name']}.{key}")
        elif key not in ignored:
            problems.add(where, f"{name} argument {key}={value!r}, which fastconv does not "
                                f"have")
    if name == "BatchNormalization" and isinstance(out.get("axis"), list):
        axis = out["axis"]
        out["axis"] = axis[0] if len(axis) == 1 else axis
    return {"class_name": name, "config": out}


def _shape(value):
    """A batch shape from a config ([None, 28, 28, 1]), batch dimension dropped."""
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError(f"an input shape {value!r} that is not (batch, ...)")
    return [None if d is None else d for d in value[1:]]


def _input_layer(entry, where, problems):
    config = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(config, dict):
        problems.add(where, "an InputLayer without a config")
        return None
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    if shape is None and "shape" in config:
        shape = [None] + list(config["shape"])
    for key in ("sparse", "ragged"):
        if config.get(key):
            problems.add(where, f"a {key} input")
    return {"name": config.get("name"), "shape": _shape(shape),
            "dtype": _dtype_name(config.get("dtype"), where, problems)}


def from_keras(model, legacy=False):
    """(kind, config) for ``Sequential.from_config`` (kind "Sequential") or
    ``Model.from_config`` (kind "Model"), nested models translated too. ValueError for a
    config fastconv cannot run. The weights' places follow from the model built from it
    (Keras keeps them by the order of model.layers, not by name)."""
    if not isinstance(model, dict) or "class_name" not in model:
        raise ValueError("its config.json is not a Keras model's config (no class_name)")
    problems = _Problems()
    kind = _class_name(model, "the model", problems)
    problems.raise_any()
    if kind not in _MODELS:
        raise ValueError(f"its top-level object is a {kind!r}, not a Keras model")
    config = model.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("its model config has no list of layers")
    regularized = []
    result = _model(model, problems, regularized, legacy)
    problems.raise_any()
    if regularized:
        warnings.warn(f"the regularizers of {', '.join(regularized)} are not applied in "
                      f"fastconv's training (they change no prediction)", RuntimeWarning,
                      stacklevel=3)
    return result


def _model(model, problems, regularized, legacy=False):
    """(kind, fastconv config) of a Keras model entry, or None after noting what is wrong."""
    config = model.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        problems.add("the model", "a model config without a list of layers")
        return None
    if model["class_name"] == "Sequential":
        result = _sequential(config, model, problems, regularized, legacy)
    else:
        result = _functional(config, problems, regularized, legacy)
    if result is not None:
        result[1]["trainable"] = bool(config.get("trainable", True))
    return result


def weight_paths(layers):
    """Keras's weights group for each layer, from (class name, layer name) pairs in Keras's
    model.layers order: layers/<snake_case class>, then _1, _2 ... for the next ones."""
    used, paths = {}, {}
    for class_name, name in layers:
        base = snake_case(class_name)
        if base in used:
            used[base] += 1
            paths[name] = f"layers/{base}_{used[base]}"
        else:
            used[base] = 0
            paths[name] = f"layers/{base}"
    return paths


def _sequential(config, model, problems, regularized, legacy=False):
    entries = config["layers"]
    input_shape = None
    if entries and isinstance(entries[0], dict) and entries[0].get("class_name") == "InputLayer":
        first = _input_layer(entries[0], "layer 0 (InputLayer)", problems)
        entries = entries[1:]
        if first is not None:
            input_shape = [None] + first["shape"]
    elif entries and isinstance(entries[0], dict) and isinstance(entries[0].get("config"), dict) \
            and isinstance(entries[0]["config"].get("batch_input_shape"), list):
        input_shape = [None] + _shape(entries[0]["config"]["batch_input_shape"])   # Keras 2
    elif isinstance(config.get("build_input_shape"), list):
        input_shape = [None] + _shape(config["build_input_shape"])
    elif isinstance(model.get("build_config"), dict) and \
            isinstance(model["build_config"].get("input_shape"), list):
        input_shape = [None] + _shape(model["build_config"]["input_shape"])
    layers = [layer_config(e, f"layer {i} ({_label(e)})", problems, regularized, legacy)
              for i, e in enumerate(entries, start=1 if input_shape else 0)]
    if input_shape is None:
        problems.add("the model", "no input shape (fastconv builds models from one)")
    if problems.items:
        return None
    return ("Sequential",
            {"name": config.get("name", "sequential"), "input_shape": input_shape,
             "layers": layers})


def _label(entry):
    if isinstance(entry, dict):
        name = entry.get("config", {}).get("name") if isinstance(entry.get("config"),
                                                                 dict) else None
        return f"{entry.get('class_name')} {name!r}" if name else str(entry.get("class_name"))
    return "?"


def _history(tensor, where):
    """The layer name a Keras tensor in an inbound node comes from."""
    if not (isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__"
            and isinstance(tensor.get("config"), dict)):
        raise ValueError(f"{where}: an input that is not a Keras tensor: {tensor!r:.200}")
    history = tensor["config"].get("keras_history")
    if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)):
        raise ValueError(f"{where}: a tensor with a damaged keras_history {history!r:.200}")
    if history[1:] != [0, 0]:
        raise ValueError(f"{where}: takes call {history[1]} output {history[2]} of layer "
                         f"{history[0]!r}; fastconv runs layers called once, with one output")
    return history[0]


def _inbound(entry, where):
    """The names of the layers a functional model's layer takes its inputs from."""
    nodes = entry.get("inbound_nodes")
    if not isinstance(nodes, list) or len(nodes) != 1:
        count = len(nodes) if isinstance(nodes, list) else nodes
        raise ValueError(f"{where}: called {count} times; fastconv runs layers called once "
                         f"(shared layers are not supported)")
    node = nodes[0]
    if isinstance(node, list):                  # Keras 2: [[layer, node, tensor, kwargs], ...]
        names = []
        for item in node:
            if not (isinstance(item, list) and len(item) in (3, 4) and isinstance(item[0], str)
                    and item[1:3] == [0, 0]):
                raise ValueError(f"{where}: a damaged or shared-layer input {item!r:.200}")
            if len(item) == 4 and item[3] and any(v is not None for v in item[3].values()):
                raise ValueError(f"{where}: a call with arguments {item[3]!r:.200}")
            names.append(item[0])
        return names, None
    if not isinstance(node, dict) or not isinstance(node.get("args"), list) or \
            len(node["args"]) != 1:
        raise ValueError(f"{where}: a call that is not one input (or one list of inputs)")
    kwargs = node.get("kwargs") or {}
    if not isinstance(kwargs, dict) or any(v is not None for k, v in kwargs.items()
                                           if k != "training"):
        raise ValueError(f"{where}: a call with arguments {kwargs!r:.200}")
    arg = node["args"][0]
    if isinstance(arg, list):
        return [_history(t, where) for t in arg], True
    return [_history(arg, where)], False


def _endpoints(value, what):
    """input_layers / output_layers: [name, 0, 0] for one, a list of those for several."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value[0]], True
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 3 and
                                                 isinstance(v[0], str) for v in value):
        return [v[0] for v in value], False
    raise ValueError(f"the model's {what} {value!r:.200} are damaged")


# Keras's tensor operations fastconv has as layers (fastconv.layers.operations), and the
# fastconv classes that write them back
_OPERATIONS = {"GetItem", "Stack"} | set(OPERATIONS)
_AS_OPERATIONS = {"GetItem", "Stack", "Arithmetic"}


def _is_operation(entry):
    return (isinstance(entry, dict) and isinstance(entry.get("module"), str)
            and entry["module"].startswith("keras.src.ops"))


def _constant(value, where):
    """A constant operand as Keras writes it: a number, or a tensor or array's values."""
    if isinstance(value, dict) and value.get("class_name") in ("__tensor__", "__numpy__") \
            and isinstance(value.get("config"), dict):
        value = value["config"].get("value")
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, list)):
        raise ValueError(f"{where}: a constant operand {value!r:.100} that is not numbers")
    return value


def _operation(entry, where):
    """fastconv's entry (with "inbound") for one of Keras's operation calls; ValueError
    naming what fastconv does not run."""
    name = entry["class_name"]
    config = entry.get("config")
    if name not in _OPERATIONS or not isinstance(config, dict):
        raise ValueError(f"{where}: operation {name!r}, which fastconv does not have "
                         f"(it runs {', '.join(sorted(_OPERATIONS))})")
    nodes = entry.get("inbound_nodes")
    if not (isinstance(nodes, list) and len(nodes) == 1 and isinstance(nodes[0], dict)
            and isinstance(nodes[0].get("args"), list)):
        raise ValueError(f"{where}: an operation not called exactly once")
    args, kwargs = nodes[0]["args"], nodes[0].get("kwargs") or {}
    if not isinstance(kwargs, dict) or any(v is not None for v in kwargs.values()):
        raise ValueError(f"{where}: a call with arguments {kwargs!r:.200}")
    out = {"name": config.get("name"), "dtype": "float32"}
    if name == "Stack":
        if len(args) != 1 or not isinstance(args[0], list):
            raise ValueError(f"{where}: a Stack call that is not one list of tensors")
        out["axis"] = config.get("axis", 0)
        return {"class_name": "Stack", "config": out,
                "inbound": [_history(t, where) for t in args[0]]}
    if len(args) != 2:
        raise ValueError(f"{where}: an operation call with {len(args)} arguments")
    source = _history(args[0], where)
    if name == "GetItem":
        key = args[1]
        if not (isinstance(key, list) and len(key) == 2 and isinstance(key[0], dict)
                and key[0].get("class_name") == "__ellipsis__"
                and isinstance(key[1], int) and not isinstance(key[1], bool)):
            raise ValueError(f"{where}: an index {key!r:.100} other than [..., i]")
        out["index"] = key[1]
        return {"class_name": "GetItem", "config": out, "inbound": [source]}
    out.update(operation=OPERATIONS[name], constant=_constant(args[1], where))
    return {"class_name": "Arithmetic", "config": out, "inbound": [source]}


def _functional(config, problems, regularized, legacy=False):
    entries = config["layers"]
    layers = []
    for i, entry in enumerate(entries):
        where = f"layer {i} ({_label(entry)})"
        if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            made = _input_layer(entry, where, problems)
            if made is not None:
                layers.append({"class_name": "InputLayer", "config": made, "inbound": []})
            continue
        if _is_operation(entry):
            try:
                layers.append(_operation(entry, where))
            except ValueError as e:
                problems.add(where, str(e).split(": ", 1)[-1])
            continue
        made = layer_config(entry, where, problems, regularized, legacy)
        if made is None:
            continue
        try:
            inbound, as_list = _inbound(entry, where)
        except ValueError as e:
            problems.add(where, str(e).split(": ", 1)[-1])
            continue
        if as_list is not None and as_list != (made["class_name"] in MERGES):
            problems.add(where, "inputs given as a list to a layer that takes one, or the "
                                "other way round")
        made["inbound"] = inbound
        layers.append(made)
    if problems.items:
        return None
    inputs, _ = _endpoints(config.get("input_layers"), "input layers")
    outputs, single = _endpoints(config.get("output_layers"), "output layers")
    if legacy and len(outputs) == 1:
        single = True
    layers = _run_order(layers, problems)
    if layers is None:
        return None
    for name in inputs + outputs:
        if not any(layer["config"]["name"] == name for layer in layers):
            problems.add("the model", f"input or output layer {name!r} is not among its layers")
    if problems.items:
        return None
    return ("Model",
            {"name": config.get("name", "functional"), "layers": layers,
             "input_layers": inputs, "output_layers": outputs, "single_output": single})


def _run_order(layers, problems):
    """The layers in an order where each comes after those it takes inputs from (Keras
    writes them so; a file need not), or None after noting a cycle or a missing layer."""
    by_name = {}
    for layer in layers:
        name = layer["config"]["name"]
        if name in by_name:
            problems.add("the model", f"two layers named {name!r}")
            return None
        by_name[name] = layer
    for layer in layers:
        for source in layer["inbound"]:
            if source not in by_name:
                problems.add(f"layer {layer['config']['name']!r}",
                             f"takes its input from {source!r}, which is not in the model")
    if problems.items:
        return None
    done, ordered = set(), []
    while len(ordered) < len(layers):
        ready = [l for l in layers if l["config"]["name"] not in done and
                 all(s in done for s in l["inbound"])]
        if not ready:
            stuck = [l["config"]["name"] for l in layers if l["config"]["name"] not in done]
            problems.add("the model", f"a cycle among layers {', '.join(map(repr, stuck))}")
            return None
        for layer in ready:
            done.add(layer["config"]["name"])
            ordered.append(layer)
    return ordered


# -- compile settings ---------------------------------------------------------------------
_LOSSES = {"CategoricalCrossentropy": "categorical_crossentropy",
           "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
           "BinaryCrossentropy": "binary_crossentropy", "MeanSquaredError": "mean_squared_error"}
_LOSS_NAMES = set(_LOSSES.values()) | {"mse"}
_LOSS_IGNORED = {"name", "reduction", "dtype"}
_METRICS = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy",
            "binary_accuracy")
# per optimizer: the arguments fastconv takes, and those it lacks with the values that
# change nothing
_OPTIMIZER_OFF = {"weight_decay": (None, 0, 0.0), "clipnorm": (None,), "clipvalue": (None,),
                  "global_clipnorm": (None,), "use_ema": (False,),
                  "loss_scale_factor": (None,), "gradient_accumulation_steps": (None,),
                  "decay": (0, 0.0)}
_OPTIMIZERS = {
    "SGD": ("sgd", ("learning_rate", "momentum", "nesterov"), {}),
    "RMSprop": ("rmsprop", ("learning_rate", "rho", "epsilon"),
                {"momentum": (0, 0.0), "centered": (False,)}),
    "Adam": ("adam", ("learning_rate", "beta_1", "beta_2", "epsilon"), {"amsgrad": (False,)}),
}
_OPTIMIZER_IGNORED = {"name", "ema_momentum", "ema_overwrite_frequency", "jit_compile",
                      "is_legacy_optimizer"}


class NotRestorable(Exception):
    """A compile setting fastconv does not have: the model loads uncompiled."""


def _loss(value):
    if isinstance(value, str):
        if value not in _LOSS_NAMES:
            raise NotRestorable(f"loss {value!r}")
        return value
    if not (isinstance(value, dict) and value.get("class_name") in _LOSSES and
            isinstance(value.get("config") or {}, dict)):
        raise NotRestorable(f"loss {value!r:.100}")
    config = {"name": _LOSSES[value["class_name"]]}
    for key, arg in (value.get("config") or {}).items():
        if key == "from_logits":
            config[key] = bool(arg)
        elif key == "label_smoothing" and config["name"] == "binary_crossentropy":
            config[key] = arg
        elif key in _LOSS_IGNORED or (key in ("label_smoothing", "ignore_class") and
                                      arg in (None, 0, 0.0)) or (key == "axis" and arg == -1):
            continue
        else:
            raise NotRestorable(f"{value['class_name']} {key}={arg!r}")
    return config


def _optimizer(value):
    if not (isinstance(value, dict) and value.get("class_name") in _OPTIMIZERS and
            isinstance(value.get("config"), dict)):
        name = value.get("class_name") if isinstance(value, dict) else value
        raise NotRestorable(f"optimizer {name!r:.100}")
    name, keep, fixed = _OPTIMIZERS[value["class_name"]]
    config = {"name": name}
    for key, arg in value["config"].items():
        if key in keep:
            if key == "learning_rate" and not isinstance(arg, (int, float)):
                raise NotRestorable("a learning-rate schedule")
            config[key] = arg
        elif key in fixed or key in _OPTIMIZER_OFF:
            if not _same(arg, fixed.get(key) or _OPTIMIZER_OFF[key]):
                raise NotRestorable(f"{value['class_name']} {key}={arg!r}")
        elif key not in _OPTIMIZER_IGNORED:
            raise NotRestorable(f"{value['class_name']} argument {key}={arg!r}")
    return config


# Keras's metric classes fastconv has, with the arguments it takes (others must be absent)
_METRIC_CLASSES = {"MeanIoU": ("num_classes", "name", "ignore_class", "sparse_y_true",
                               "sparse_y_pred", "axis"),
                   "IoU": ("num_classes", "target_class_ids", "name", "ignore_class",
                           "sparse_y_true", "sparse_y_pred", "axis")}


def _metric(value):
    """fastconv's metric (a name, or metrics.serialize's dict) for one of Keras's."""
    if isinstance(value, str):
        if value not in _METRICS:
            raise NotRestorable(f"metric {value!r:.100}")
        return value
    if not (isinstance(value, dict) and value.get("class_name") in _METRIC_CLASSES
            and isinstance(value.get("config"), dict)):
        raise NotRestorable(f"metric {value!r:.100}")
    keep = _METRIC_CLASSES[value["class_name"]]
    config = {}
    for key, arg in value["config"].items():
        if key in keep:
            config[key] = arg
        elif key != "dtype":
            raise NotRestorable(f"{value['class_name']} {key}={arg!r:.50}")
    return {"class_name": value["class_name"], "config": config}


def compile_from_keras(compile_config):
    """(optimizer config, loss, metrics) for fastconv's compile, from Keras's compile_config;
    NotRestorable naming what fastconv lacks."""
    if not isinstance(compile_config, dict):
        raise NotRestorable("a damaged compile_config")
    for key in ("loss_weights", "weighted_metrics"):
        if compile_config.get(key) is not None:
            raise NotRestorable(key)
    metrics = compile_config.get("metrics") or []
    if isinstance(metrics, (str, dict)):
        metrics = [metrics]
    if not isinstance(metrics, list):
        raise NotRestorable(f"metrics {metrics!r:.100}")
    metrics = [_metric(m) for m in metrics]
    return _optimizer(compile_config.get("optimizer")), _loss(compile_config.get("loss")), \
        metrics


# -- fastconv's configs, as Keras writes them -----------------------------------------------

def keras_order(inbound, inputs, outputs):
    """The layer names of a functional graph in the order Keras lists model.layers (and keeps
    their weights): by depth, the longest path to an output, deepest first, ties by the order a
    depth-first walk back from the outputs (each output in turn, each layer's inputs in
    turn) first meets them. inbound: name -> the names of the layers it takes inputs from."""
    index, post, finished = {}, [], set()
    for output in outputs:
        stack = [(output, False)]
        while stack:                          # the walk, without recursion
            name, expanded = stack.pop()
            if name in finished:
                continue
            if expanded:
                finished.add(name)
                post.append(name)
                continue
            index.setdefault(name, len(index))
            stack.append((name, True))
            for source in reversed(inbound[name]):
                if source not in finished:
                    stack.append((source, False))
    depth = {}
    for name in reversed(post):               # each layer after every layer it feeds
        d = depth.setdefault(name, 0)
        for source in inbound[name]:
            depth[source] = max(depth.get(source, 0), d + 1)
    for name in inputs:                       # an input no output uses
        if name not in depth:
            depth[name], index[name] = 0, -1
    return sorted(depth, key=lambda n: (-depth[n], index[n]))


# arguments Keras's constructor does not take for a class (its get_config leaves them out)
_KERAS_LACKS = {"SpatialDropout2D": ("trainable",)}


def _policy(dtype):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
            "registered_name": None}


def _shape_list(shape):
    return [None if d is None else int(d) for d in shape]


def _keras_layer(entry, input_shape):
    """Keras's entry for one of fastconv's layer configs ({"class_name", "config"})."""
    name, config = entry["class_name"], dict(entry["config"])
    config.pop("input_shape", None)                # the InputLayer carries it
    for key in _KERAS_LACKS.get(name, ()):
        config.pop(key, None)
    config["dtype"] = _policy(config.get("dtype", "float32"))
    if "data_format" in _LAYERS[name][1]:
        config["data_format"] = "channels_last"
    for key, value in config.items():
        if isinstance(value, tuple):
            config[key] = list(value)
    out = {"module": "keras.layers", "class_name": name, "config": config,
           "registered_name": None}
    if input_shape is not None:
        out["build_config"] = {"input_shape": input_shape}
    return out


def layer_order(kind, config):
    """The layer names of fastconv's get_config of a Sequential (kind "Sequential") or a
    Model in the order Keras lists model.layers and keeps their weights (for a functional
    model Keras works it out from the graph when it loads one, whatever the order of the
    config's list)."""
    if kind == "Sequential":
        return [e["config"]["name"] for e in config["layers"]]
    inbound = {e["config"]["name"]: list(e.get("inbound", [])) for e in config["layers"]}
    return keras_order(inbound, config["input_layers"], config["output_layers"])


def to_keras(kind, config, shapes, nested=None):
    """Keras's model config for fastconv's get_config of a Sequential (kind "Sequential") or
    a Model. shapes: layer name -> (input shape, or a list of them for a merge; output
    shape), batch dimension None, as the layer is called in this model; nested: layer name
    -> Keras's config of a nested model (from this function). Every layer must be one Keras
    has (ValueError naming the others)."""
    nested = nested or {}
    problems = _Problems()
    for i, entry in enumerate(config["layers"]):
        if entry["config"].get("name") in nested or (entry["class_name"] in _AS_OPERATIONS
                                                     and kind != "Sequential"):
            continue
        if entry["class_name"] not in _LAYERS and entry["class_name"] != "InputLayer":
            problems.add(f"layer {i} ({entry['class_name']} {entry['config'].get('name')!r})",
                         "a class Keras does not have; save it as .fastconv, fastconv's own "
                         "format")
    if problems.items:
        raise ValueError("Keras cannot load " + "; ".join(problems.items))
    if kind == "Sequential":
        first_shape = _shape_list(config["input_shape"])
        layers = [{"module": "keras.layers", "class_name": "InputLayer",
                   "config": {"batch_shape": first_shape, "dtype": _dtype_of(config),
                              "sparse": False, "name": "input_layer"},
                   "registered_name": None}]
        layers += [_keras_entry(e, shapes, nested) for e in config["layers"]]
        return {"module": "keras", "class_name": "Sequential",
                "config": {"name": config["name"], "trainable": config.get("trainable", True),
                           "dtype": _policy("float32"), "layers": layers,
                           "build_input_shape": first_shape},
                "registered_name": None, "build_config": {"input_shape": first_shape}}
    by_name = {e["config"]["name"]: e for e in config["layers"]}
    inbound = {name: list(e.get("inbound", [])) for name, e in by_name.items()}
    layers = []
    for name in layer_order(kind, config):
        entry = by_name[name]
        if entry["class_name"] == "InputLayer":
            c = entry["config"]
            layers.append({"module": "keras.layers", "class_name": "InputLayer",
                           "config": {"batch_shape": [None] + _shape_list(c["shape"]),
                                      "dtype": c["dtype"], "sparse": False, "name": name},
                           "registered_name": None, "name": name, "inbound_nodes": []})
            continue
        tensors = [{"class_name": "__keras_tensor__",
                    "config": {"shape": _shape_list(shapes[source][1]),
                               "dtype": by_name[source]["config"].get("dtype", "float32"),
                               "keras_history": [source, 0, 0]}}
                   for source in inbound[name]]
        if entry["class_name"] in _AS_OPERATIONS:
            layers.append(_keras_operation(entry, tensors))
            continue
        made = _keras_entry(entry, shapes, nested)
        made["name"] = name
        arg = tensors if entry["class_name"] in MERGES else tensors[0]
        made["inbound_nodes"] = [{"args": [arg], "kwargs": {}}]
        layers.append(made)

    def ends(names, single):
        return [names[0], 0, 0] if single else [[n, 0, 0] for n in names]
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": config["name"], "trainable": config.get("trainable", True),
                       "layers": layers,
                       "input_layers": ends(config["input_layers"],
                                            len(config["input_layers"]) == 1),
                       "output_layers": ends(config["output_layers"],
                                             config.get("single_output", True))},
            "registered_name": "Functional", "build_config": {"input_shape": None}}


def _keras_operation(entry, tensors):
    """Keras's entry for the call of one of its operations that a fastconv layer stands for."""
    config = entry["config"]
    kind, name = entry["class_name"], config["name"]
    if kind == "Stack":
        args, keras_config = [tensors], {"name": name, "axis": config["axis"]}
    elif kind == "GetItem":
        args = [tensors[0], [{"class_name": "__ellipsis__", "config": {}}, config["index"]]]
        keras_config = {"name": name}
    else:
        kind = {v: k for k, v in OPERATIONS.items()}[config["operation"]]
        constant = config["constant"]
        if isinstance(constant, list):
            constant = {"class_name": "__tensor__",
                        "config": {"value": constant, "dtype": config.get("dtype", "float32")}}
        args, keras_config = [tensors[0], constant], {"name": name}
    return {"module": "keras.src.ops.numpy", "class_name": kind, "config": keras_config,
            "registered_name": kind, "name": name,
            "inbound_nodes": [{"args": args, "kwargs": {}}]}


def _keras_entry(entry, shapes, nested):
    """Keras's entry for a layer of a model: a nested model's own config, built for the
    shape it is called on, or the layer's."""
    name = entry["config"]["name"]
    input_shape = _shapes_list(shapes[name][0])
    if name in nested:
        return dict(nested[name], build_config={"input_shape": input_shape},
                    compile_config={})
    return _keras_layer(entry, input_shape)


def _dtype_of(config):
    layers = config["layers"]
    return layers[0]["config"].get("dtype", "float32") if layers else "float32"


def _shapes_list(shape):
    if shape and isinstance(shape[0], (tuple, list)):
        return [_shape_list(s) for s in shape]
    return _shape_list(shape)


_KERAS_OPTIMIZERS = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam"}
_KERAS_LOSSES = {v: k for k, v in _LOSSES.items()}


def compile_to_keras(optimizer, loss, metrics):
    """Keras's compile_config for fastconv's optimizer config, loss config and metric names."""
    config = dict(optimizer)
    name = config.pop("name")
    config.update(name=name, weight_decay=None, clipnorm=None, global_clipnorm=None,
                  clipvalue=None, use_ema=False, ema_momentum=0.99,
                  ema_overwrite_frequency=None, loss_scale_factor=None,
                  gradient_accumulation_steps=None)
    if name == "rmsprop":
        config.update(momentum=0.0, centered=False)
    if name == "adam":
        config["amsgrad"] = False
    loss = dict(loss)
    loss_name = loss.pop("name")
    loss_config = {"name": loss_name, "reduction": "sum_over_batch_size"}
    loss_config.update(loss)
    return {"optimizer": {"module": "keras.optimizers", "class_name": _KERAS_OPTIMIZERS[name],
                          "config": config, "registered_name": None},
            "loss": {"module": "keras.losses", "class_name": _KERAS_LOSSES[loss_name],
                     "config": loss_config, "registered_name": None},
            "loss_weights": None,
            "metrics": [m if isinstance(m, str) else {
                "module": "keras.metrics", "class_name": m["class_name"],
                "config": m["config"], "registered_name": None} for m in metrics] or None,
            "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}
