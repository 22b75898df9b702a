"""Weight initializers, by Keras name: glorot_uniform, glorot_normal, he_uniform, he_normal,
lecun_uniform, lecun_normal, random_uniform, random_normal, zeros, ones."""
import numpy as np

from . import _rng
from ._registry import lookup


def _fans(shape):
    """(fan_in, fan_out) as Keras computes them: a conv kernel's receptive field times channels."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    name = None

    def __call__(self, shape, dtype=np.float32):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name}


class Zeros(Initializer):
    name = "zeros"

    def __call__(self, shape, dtype=np.float32):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    name = "ones"

    def __call__(self, shape, dtype=np.float32):
        return np.ones(shape, dtype)


class RandomUniform(Initializer):
    name = "random_uniform"

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=np.float32):
        return _rng.generator().uniform(self.minval, self.maxval, shape).astype(dtype)


class RandomNormal(Initializer):
    name = "random_normal"

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=np.float32):
        return _rng.generator().normal(self.mean, self.stddev, shape).astype(dtype)


class VarianceScaling(Initializer):
    """Uniform, or normal truncated at 2 standard deviations, with variance scale / fan."""

    def __init__(self, scale, mode, distribution, name):
        self.scale, self.mode, self.distribution, self.name = scale, mode, distribution, name

    def __call__(self, shape, dtype=np.float32):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = _rng.generator()
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape).astype(dtype)
        # truncated normal; 0.8796... is the std of a unit normal truncated at +-2
        std = np.sqrt(variance) / 0.87962566103423978
        values = rng.standard_normal(shape)
        bad = np.abs(values) > 2
        while bad.any():
            values[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(values) > 2
        return (values * std).astype(dtype)


_TABLE = {
    "zeros": Zeros,
    "ones": Ones,
    "random_uniform": RandomUniform,
    "random_normal": RandomNormal,
    "glorot_uniform": lambda: VarianceScaling(1.0, "fan_avg", "uniform", "glorot_uniform"),
    "glorot_normal": lambda: VarianceScaling(1.0, "fan_avg", "normal", "glorot_normal"),
    "he_uniform": lambda: VarianceScaling(2.0, "fan_in", "uniform", "he_uniform"),
    "he_normal": lambda: VarianceScaling(2.0, "fan_in", "normal", "he_normal"),
    "lecun_uniform": lambda: VarianceScaling(1.0, "fan_in", "uniform", "lecun_uniform"),
    "lecun_normal": lambda: VarianceScaling(1.0, "fan_in", "normal", "lecun_normal"),
}


def get(identifier):
    """An Initializer from a name or an instance; ValueError listing the names otherwise."""
    return lookup("initializer", identifier, _TABLE, Initializer)
