"""load_model: a whole model back from a file: fastconv's own model format, or a Keras 3
``.keras`` file (told apart by what the file holds, not by its name)."""
import contextlib
import io
import os
import warnings
import zipfile

import numpy as np

from .. import _rng, losses, optimizers, saving
from ..saving import keras_config, keras_v3, legacy_h5
from ..saving.native import _DAMAGED
from .functional import Model
from .sequential import Sequential

_MODEL_CLASSES = {"Sequential": Sequential, "Model": Model}


def load_model(filepath, custom_objects=None, compile=True, restore_random_state=False):
    """The model (a Sequential or a Model) that save wrote to ``filepath``: its layers,
    weights and, with compile=True, its optimizer (with its state), loss and metrics, ready
    to resume training.

    A Keras 3 ``.keras`` file, or a legacy HDF5 one (``model.save("x.h5")`` of Keras 2,
    tf.keras or Keras 3), loads too (``pip install "fastconv[keras]"`` for h5py): every
    layer in it must be one fastconv has (ValueError listing those it lacks, before any weight
    is read; a Lambda layer or another package's class is refused, never run), and its
    weights are matched by Keras's own layout; with compile=True its loss, metrics and
    optimizer (with its state) are restored where fastconv has them, else the model loads
    uncompiled with a warning saying why.

    Seeded layers get their generators' states back; with restore_random_state=True so does
    fastconv's shared generator (shuffling, dropout and augmentation of unseeded layers), so
    that a run resumed in a new process is the run that was saved. Building the model does not
    draw from the shared generator. Refuses with ValueError, naming the file, a file that is
    not a complete fastconv model file, one from a newer format version, and one whose arrays
    do not fit its own description; OSError if it cannot be read at all.
    """
    path = os.fspath(filepath)
    with open(path, "rb") as f:
        content = f.read()
    if content.startswith(keras_v3._HDF5_SIGNATURE):
        return _load_legacy(path, content, compile)
    if _is_keras_archive(content):
        return _load_keras(path, content, compile, restore_random_state)
    with saving.ModelFile(path, content) as f:
        config = f.config
        path = f.path
        try:
            model_config = config["model"]
            model_class = _MODEL_CLASSES.get(model_config["class_name"])
            if model_class is None:
                raise ValueError(f"model class {model_config['class_name']!r} is not one "
                                 f"fastconv knows")
            with _rng.isolated():
                model = model_class.from_config(model_config["config"], custom_objects)
            if not model.built:
                raise ValueError("the model has no input shape")
            weights = config["weights"]
            if len(weights) != len(model.layers):
                raise ValueError(f"weights for {len(weights)} layers, the model has "
                                 f"{len(model.layers)}")
            # by name: the file's order of layers may be another fastconv version's
            by_name = {layer.name: layer for layer in model.layers}
            if sorted(by_name) != sorted(entry["layer"] for entry in weights):
                raise ValueError("its weights are for layers other than its model's")
            for entry in weights:
                layer = by_name[entry["layer"]]
                if len(entry["arrays"]) != len(layer.weights):
                    raise ValueError(f"layer {layer.name!r}: {len(entry['arrays'])} weight "
                                     f"arrays where it has {len(layer.weights)}")
                layer.set_weights([f.array(name, w.shape)
                                   for name, w in zip(entry["arrays"], layer.weights)])
            model._set_random_states(config.get("layer_random_states", {}))
            info = config.get("compile")
            if compile and info is not None:
                model.compile(optimizers.get(info["optimizer"]), losses.get(info["loss"]),
                              info["metrics"])
                slots = info.get("optimizer_slots")
                params = model._trainable_params()
                if slots is not None and len(slots) != len(params):     # before any read
                    raise ValueError(f"optimizer state for {len(slots)} parameters, the "
                                     f"model has {len(params)}")
                state = None if slots is None else [
                    {key: f.array(name, p.shape) for key, name in entry.items()}
                    for entry, p in zip(slots, params)]
                model.optimizer.set_state(info["optimizer_iterations"], state, params)
            if restore_random_state:
                _rng.set_state(config["random_state"])
        except ValueError as e:
            if str(e).startswith("load_model:"):
                raise
            raise ValueError(f"load_model: {path}: {e}") from None
        except (KeyError, TypeError, AttributeError, IndexError) as e:
            raise ValueError(f"load_model: {path} holds a damaged model description "
                             f"({type(e).__name__}: {e})") from None
    return model


def _is_keras_archive(content):
    if not content.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            return keras_v3.is_keras_archive(set(z.namelist()))
    except _DAMAGED:
        return False


def _load_keras(path, content, compile, restore_random_state):
    """A Keras 3 .keras file's model: its config translated to fastconv's, its weights by
    Keras's layout, its compile settings where fastconv has them, and, from a file fastconv
    wrote, its random generators."""
    with _refused(path, "Keras model file"), keras_v3.KerasArchive(content) as archive:
        kind, config = keras_config.from_keras(archive.config)
        with _rng.isolated():
            model = _MODEL_CLASSES[kind].from_config(config)
        if not model.built:
            raise ValueError("the model has no input shape")
        store = archive.weights(model._weights_budget())
        for group, layer in model._keras_layout()[1]:
            try:
                values = store.read_layer(group, [w.shape for w in layer.weights])
            except ValueError as e:
                raise ValueError(f"layer {layer.name!r}: {e}") from None
            layer.set_weights(values)
        compile_config = archive.config.get("compile_config")
        if compile and compile_config:
            _compile_as_keras(model, compile_config, store, path)
        _restore_generators(model, archive.extra, restore_random_state)
    return model


@contextlib.contextmanager
def _refused(path, what):
    """Every failure to read a file, as a ValueError naming it (an ImportError for a missing
    h5py goes through)."""
    try:
        yield
    except ValueError as e:
        raise ValueError(f"load_model: {path}: {e}") from None
    except _DAMAGED + (AttributeError, RecursionError) as e:
        raise ValueError(f"load_model: {path} is not a complete {what} "
                         f"({type(e).__name__}: {e})") from None


def _restore_generators(model, extra, restore_random_state):
    """The seeded layers' generators (and with restore_random_state the shared one) from
    the fastconv.json member fastconv writes beside Keras's."""
    if not isinstance(extra, dict):
        if restore_random_state:
            raise ValueError("it holds no random state to restore (fastconv did not write it)")
        return
    model._set_random_states(extra.get("layer_random_states") or {})
    if restore_random_state:
        _rng.set_state(extra["random_state"])


def _load_legacy(path, content, compile):
    """A legacy HDF5 model file's model: model_config translated as a .keras file's config
    is, the weights matched by layer name, and the compile settings from training_config
    (the optimizer's state, kept in Keras 2's own layout, is not restored)."""
    with _refused(path, "Keras HDF5 model file"), legacy_h5.LegacyFile(content) as f:
        if f.model_config is None:
            raise ValueError("it holds weights only (no model_config): build the model, "
                             "then call its load_weights")
        kind, config = keras_config.from_keras(f.model_config, legacy=True)
        with _rng.isolated():
            model = _MODEL_CLASSES[kind].from_config(config)
        if not model.built:
            raise ValueError("the model has no input shape")
        for layer, arrays in legacy_h5.layer_weights(f, model.layers, by_name=True):
            layer.set_weights(arrays)
        missing = [l.name for l in model.layers if l.weights and
                   l.name not in f.layer_names]
        if missing:
            raise ValueError(f"no weights for layers {missing}")
        training = f.training_config
        if compile and training:
            try:
                optimizer, loss, metrics = keras_config.compile_from_keras(
                    {"optimizer": training.get("optimizer_config"),
                     "loss": training.get("loss"), "metrics": _flat(training.get("metrics")),
                     "loss_weights": training.get("loss_weights"),
                     "weighted_metrics": training.get("weighted_metrics") or None})
                model.compile(optimizers.get(optimizer), losses.get(loss), metrics)
            except keras_config.NotRestorable as e:
                warnings.warn(f"load_model: {path}: the model is not compiled: fastconv has "
                              f"no {e}", RuntimeWarning, stacklevel=3)
    return model


def _flat(metrics):
    """Keras 2's metrics (a list, or a list per output) as one list."""
    if isinstance(metrics, list) and len(metrics) == 1 and isinstance(metrics[0], list):
        return metrics[0]
    return metrics


def _compile_as_keras(model, compile_config, store, path):
    """compile with Keras's settings, and the optimizer's variables (step count, learning
    rate, slots) from the file, mapped from Keras's order of trainable weights (model.layers
    in Keras's order) to fastconv's."""
    try:
        optimizer, loss, metrics = keras_config.compile_from_keras(compile_config)
    except keras_config.NotRestorable as e:
        warnings.warn(f"load_model: {path}: the model is not compiled: fastconv has no {e}",
                      RuntimeWarning, stacklevel=4)
        return
    model.compile(optimizers.get(optimizer), losses.get(loss), metrics)
    count = store.count("optimizer")
    if count == 0:
        return
    with model._as_compiled():
        keras_order = model._keras_layout()[2]
    opt = model.optimizer
    slots = sorted(opt._new_state(np.zeros(0)))         # Keras interleaves: m, v per weight
    expected = 2 + len(slots) * len(keras_order)
    if count <= 2 and int(store.read("optimizer", 0, (), integer=True)) == 0:
        slots, expected = [], count                     # never stepped: no slots made yet
    if count not in (expected, expected - 1):           # no learning-rate variable: a schedule
        raise ValueError(f"the optimizer holds {count} variables where {type(opt).__name__} "
                         f"keeps {expected} for this model")
    iterations = int(store.read("optimizer", 0, (), integer=True))
    first = 1
    if count == expected:
        # Keras keeps the rate as a float32 variable: the config's own value (a float64)
        # stands where they agree, the variable's where a callback changed it
        rate = float(store.read("optimizer", 1, ()))
        if np.float32(rate) != np.float32(opt.learning_rate):
            opt.learning_rate = rate
        first = 2
    state = {}
    for i, w in enumerate(keras_order):
        state[id(w)] = {name: store.read("optimizer", first + i * len(slots) + j, w.shape)
                        for j, name in enumerate(slots)}
    params = model._trainable_params()
    opt.set_state(iterations, [state[id(p)] for p in params] if slots else None, params)
