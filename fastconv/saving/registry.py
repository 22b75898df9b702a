"""The one place that maps class names in a model's config to fastconv's layer classes (and a
user's own, given as custom_objects), and a config entry to a new layer."""
from .. import layers as layer_module
from ..layers.base import Layer


def layer_classes(custom_objects=None):
    """Class name -> layer class: fastconv's layers, then custom_objects (name -> a Layer
    subclass; TypeError for anything else)."""
    table = {name: getattr(layer_module, name) for name in layer_module.__all__
             if name not in ("Layer", "Input", "InputLayer")}
    for name, value in (custom_objects or {}).items():
        if not (isinstance(value, type) and issubclass(value, Layer)):
            raise TypeError(f"custom_objects[{name!r}] must be a Layer subclass, got {value!r}")
        table[name] = value
    return table


def layer_from_config(table, i, entry):
    """A new layer from a model config's entry i ({"class_name", "config"})."""
    name = entry["class_name"]
    if name not in table:
        raise ValueError(f"layer {i} has class {name!r}, which is not a fastconv layer; "
                         f"pass custom_objects={{{name!r}: TheClass}} if it is yours")
    return table[name](**entry["config"])
