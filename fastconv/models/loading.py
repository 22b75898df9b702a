"""load_model: a whole model back from the file Model.save wrote."""
from .. import _rng, losses, optimizers, saving
from .functional import Model
from .sequential import Sequential

_MODEL_CLASSES = {"Sequential": Sequential, "Model": Model}


def load_model(filepath, custom_objects=None, compile=True, restore_random_state=False):
    """The model (a Sequential or a Model) that save wrote to ``filepath``: its layers,
    weights and, with compile=True, its optimizer (with its state), loss and metrics, ready
    to resume training.

    Seeded layers get their generators' states back; with restore_random_state=True so does
    fastconv's shared generator (shuffling, dropout and augmentation of unseeded layers), so
    that a run resumed in a new process is the run that was saved. Building the model does not
    draw from the shared generator. Refuses with ValueError, naming the file, a file that is
    not a complete fastconv model file, one from a newer format version, and one whose arrays
    do not fit its own description; OSError if it cannot be read at all.
    """
    with saving.ModelFile(filepath) as f:
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
            for layer, entry in zip(model.layers, weights):
                if len(entry["arrays"]) != len(layer.weights):
                    raise ValueError(f"layer {layer.name!r}: {len(entry['arrays'])} weight "
                                     f"arrays where it has {len(layer.weights)}")
                layer.set_weights([f.array(name, w.shape)
                                   for name, w in zip(entry["arrays"], layer.weights)])
            for layer in model.layers:
                state = config.get("layer_random_states", {}).get(layer.name)
                if state is not None and getattr(layer, "_generator", None) is not None:
                    layer._generator.bit_generator.state = state
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
