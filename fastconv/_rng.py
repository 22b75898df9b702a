"""The random generator behind initializers, dropout and shuffling (see utils.set_random_seed)."""
import random

import numpy as np

_generator = np.random.default_rng()


def generator():
    """The shared numpy Generator."""
    return _generator


def seed(value):
    """Reseed the shared generator, and Python's and NumPy's global ones as Keras does."""
    global _generator
    _generator = np.random.default_rng(value)
    random.seed(value)
    np.random.seed(value % 2 ** 32)
