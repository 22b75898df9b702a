"""The one place that maps class names in a model's config to fastconv's layer classes (and a
user's own, given as custom_objects), and a config entry to a new layer."""
from .. import layers as layer_module
from ..layers.base import Layer

# Sequential and Model, which are layers too (a model nests in another); fastconv.models
# registers them here when it is imported, so that this module does not import it.
_MODELS = {}


def register_model(name, cls):
    """Let configs name the model class cls (fastconv.models does this for its own)."""
    _MODELS[name] = cls


def layer_classes(custom_objects=None):
    """Class name -> layer class: fastconv's layers, then custom_objects (name -> a Layer
    subclass; TypeError for anything else)."""
    table = {name: getattr(layer_module, name) for name in layer_module.__all__
             if name not in ("Layer", "Input", "InputLayer")
             and isinstance(getattr(layer_module, name), type)}     # not layers.add & co
    table.update(_MODELS)
    for name, value in (custom_objects or {}).items():
        if not (isinstance(value, type) and issubclass(value, Layer)):
            raise TypeError(f"custom_objects[{name!r}] must be a Layer subclass, got {value!r}")
        table[name] = value
    return table


def layer_from_config(table, i, entry, custom_objects=None):
    """A new layer (or model) from a model config's entry i ({"class_name", "config"})."""
    name = entry["class_name"]
    if name not in table:
        raise ValueError(f"layer {i} has class {name!r}, which is not a fastconv layer; "
                         f"pass custom_objects={{{name!r}: TheClass}} if it is yours")
    return table[name].from_config(entry["config"], custom_objects)
