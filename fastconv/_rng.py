"""The random generator behind initializers, dropout and shuffling (see utils.set_random_seed)."""
import contextlib
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


def get_state():
    """The shared generator's state (a JSON-able dict)."""
    return _generator.bit_generator.state


def set_state(state):
    """Put the shared generator in a state get_state returned (ValueError if it is not one)."""
    global _generator
    fresh = np.random.default_rng()
    try:
        fresh.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise ValueError(f"not a state of fastconv's random generator ({e})") from None
    _generator = fresh


@contextlib.contextmanager
def isolated():
    """Within the block, generator() is a throwaway one: building a model to load weights
    into it leaves the shared generator, and so a training run's randomness, untouched."""
    global _generator
    saved = _generator
    _generator = np.random.default_rng(0)
    try:
        yield
    finally:
        _generator = saved
