"""Noise for training only, as Keras: GaussianNoise, and SpatialDropout2D (whole channels
dropped); both are the identity at inference."""
import numbers

import numpy as np

from .base import SeededLayer, require_images
from .core import Dropout


class GaussianNoise(SeededLayer):
    """x plus normal noise of standard deviation stddev, in training."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or \
                not 0 <= stddev < float("inf"):
            raise ValueError(f"GaussianNoise: stddev must be a finite number >= 0, got "
                             f"{stddev!r}")
        self.stddev = float(stddev)

    def forward(self, x, training=False, activate=True):
        if not training or self.stddev == 0:
            return x
        noise = self.rng.standard_normal(x.shape, dtype=np.float64 if x.dtype == np.float64
                                         else np.float32)
        return x + x.dtype.type(self.stddev) * noise

    def backward(self, dy):
        return dy if self.needs_input_grad else None

    def get_config(self):
        return dict(super().get_config(), stddev=self.stddev)


class SpatialDropout2D(Dropout):
    """Dropout of whole channels of each image (a fraction ``rate``, the others scaled by
    1 / (1 - rate)), in training: neighbouring pixels are correlated, so dropping single ones
    regularises little."""

    def build(self, input_shape):
        require_images(self, input_shape)
        super().build(input_shape)

    def _noise_shape(self, x):
        return (x.shape[0], 1, 1, x.shape[3])
