"""Model files, below the models that use them: ``registry`` maps the class names in a
model's config to layers, and each file format is a module of its own that knows nothing of
the others (``native``: fastconv's NumPy-only weights and model files; ``keras_v3``: Keras 3's
``.keras`` archives, whose configs ``keras_config`` translates to fastconv's).

``fastconv.models.load_model`` and the models' ``save`` / ``save_weights`` choose the format
and build the model; the modules here read and write the files.
"""
from .native import (MODEL_FORMAT, MODEL_VERSION, ModelFile, load_weights, save_model,
                     save_weights)

__all__ = ["MODEL_FORMAT", "MODEL_VERSION", "ModelFile", "load_weights", "save_model",
           "save_weights"]
