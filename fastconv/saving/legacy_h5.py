"""Keras's legacy HDF5 files (``.h5``, ``.hdf5``): what Keras 2 and tf.keras wrote with
``model.save("x.h5")``, what Keras 3 still writes under that name, and the weights-only files
``save_weights("x.h5")`` wrote, keras.applications' published weights among them.

A whole-model file keeps the architecture as JSON in the root's ``model_config`` attribute, the
compile settings in ``training_config``, and the weights in the group ``model_weights``; a
weights-only file keeps the weights at its root. Either way the weights group lists its layers
in the attribute ``layer_names`` (split into ``layer_names0``, ``layer_names1`` ... when long),
and each layer's group lists its arrays in ``weight_names`` (``conv1/kernel:0``: paths inside
that group), trainable weights first. Keras matches them to a model's layers by order (the
layers that have weights, in model.layers order), or by name.

Read with h5py, the ``keras`` extra; nothing is read beyond what the model can use, and each
dataset's dtype and shape are checked before its data is read.
"""
import io
import json

from .keras_v3 import _HDF5_SIGNATURE, h5py, read_dataset

_MAX_JSON = 16 << 20


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _names(group, attribute):
    """A list-of-strings attribute, joined from its chunks when HDF5 made Keras split it."""
    if attribute in group.attrs:
        values = list(group.attrs[attribute])
    else:
        values, chunk = [], 0
        while f"{attribute}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{attribute}{chunk}"])
            chunk += 1
    return [_text(v) for v in values]


class LegacyFile:
    """An open legacy HDF5 file (its bytes): ``model_config`` and ``training_config`` (dicts,
    None for a weights-only file), ``layer_names`` (the weights group's, with weights), and
    ``weights(layer_name)``: that layer's datasets, in order, not yet read."""

    def __init__(self, data):
        if not data.startswith(_HDF5_SIGNATURE):
            raise ValueError("not an HDF5 file")
        self._file = h5py().File(io.BytesIO(data), "r")
        attrs = self._file.attrs
        self.model_config = self._json(attrs, "model_config")
        self.training_config = self._json(attrs, "training_config")
        if "model_weights" in self._file:
            self._group = self._file["model_weights"]
        elif "layer_names" in attrs or "layer_names0" in attrs:
            self._group = self._file
        elif "layers" in self._file:
            raise ValueError("a Keras 3 weights file (layers/...), not a legacy one")
        else:
            raise ValueError("no Keras weights inside (no layer_names)")
        if not isinstance(self._group, h5py().Group):
            raise ValueError("its model_weights is not a group")
        self.layer_names = [n for n in _names(self._group, "layer_names")
                            if self._weight_names(n)]

    @staticmethod
    def _json(attrs, name):
        if name not in attrs:
            return None
        text = attrs[name]
        text = text if isinstance(text, (bytes, str)) else bytes(text)
        if len(text) > _MAX_JSON:
            raise ValueError(f"its {name} is larger than 16 MB")
        try:
            value = json.loads(_text(text))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise ValueError(f"its {name} is not JSON ({type(e).__name__}: {e})") from None
        if not isinstance(value, dict):
            raise ValueError(f"its {name} is not a dict")
        return value

    def _layer_group(self, name):
        if name not in self._group:
            raise ValueError(f"layer_names lists {name!r}, which has no group")
        group = self._group[name]
        if not isinstance(group, h5py().Group):
            raise ValueError(f"{name} is not a group")
        return group

    def _weight_names(self, name):
        return _names(self._layer_group(name), "weight_names")

    def weights(self, name):
        group = self._layer_group(name)
        out = []
        for weight in self._weight_names(name):
            if weight not in group:
                raise ValueError(f"layer {name!r}: its weight {weight!r} is missing")
            out.append((f"{name}/{weight}", group[weight]))
        return out

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def layer_weights(file, layers, by_name=False, skip_mismatch=False):
    """[(layer, [arrays])] for the model's layers with weights (in Keras's model.layers
    order), matched to the file's as Keras matches them: by order (the same count of layers
    with weights on both sides), or by_name (layers the file lacks are left as they are). A
    layer whose weights do not fit is an error, or with skip_mismatch left as it is."""
    layers = [layer for layer in layers if layer.weights]
    if by_name:
        pairs = [(layer, layer.name) for layer in layers if layer.name in file.layer_names]
    else:
        if len(file.layer_names) != len(layers):
            raise ValueError(f"it holds weights for {len(file.layer_names)} layers "
                             f"({', '.join(file.layer_names[:8])}"
                             f"{', ...' if len(file.layer_names) > 8 else ''}), the model has "
                             f"{len(layers)} layers with weights")
        pairs = list(zip(layers, file.layer_names))
    out = []
    for layer, name in pairs:
        try:
            datasets = file.weights(name)
            if len(datasets) != len(layer.weights):
                raise ValueError(f"layer {layer.name!r} has {len(layer.weights)} weights, the "
                                 f"file's {name!r} {len(datasets)}")
            out.append((layer, [read_dataset(where, d, w.shape)
                                for (where, d), w in zip(datasets, layer.weights)]))
        except ValueError:
            if not skip_mismatch:
                raise
    return out
