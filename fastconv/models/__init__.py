"""Models: Sequential (a stack of layers) and the functional Model (layers called on
symbolic tensors, with merges and several outputs), one training loop for both
(``trainer.Trainer``), and load_model for whole-model files."""
from .functional import Model
from .loading import load_model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]
