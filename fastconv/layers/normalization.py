"""BatchNormalization, Keras's."""
import numbers

import numpy as np

from .. import initializers
from .base import Layer


class BatchNormalization(Layer):
    """Normalises each channel (the last axis) to zero mean and unit variance, then scales by
    ``gamma`` and shifts by ``beta``.

    In training it uses the batch's own mean and (biased) variance and updates the moving
    statistics, ``moving = moving * momentum + batch * (1 - momentum)``; in inference
    (``predict``, ``evaluate``) it uses the moving statistics. As in Keras 3, a layer set
    ``trainable = False`` runs in inference mode even in ``fit``. Weights, in Keras's order:
    gamma, beta (the trainable ones, when ``scale`` and ``center``), moving_mean,
    moving_variance.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, 3):
            raise ValueError(f"BatchNormalization: only the channels axis (-1) is supported, "
                             f"got axis={axis!r}")
        for name, value in (("momentum", momentum), ("epsilon", epsilon)):
            if not isinstance(value, numbers.Real) or not np.isfinite(value):
                raise ValueError(f"BatchNormalization: {name} must be a number, got {value!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0, got {epsilon}")
        self.axis, self.momentum, self.epsilon = -1, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self._initializers = [initializers.get(i) for i in (
            gamma_initializer, beta_initializer, moving_mean_initializer,
            moving_variance_initializer)]

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"BatchNormalization {self.name!r} needs a known last input "
                             f"dimension, got input shape {input_shape}")
        super().build(input_shape)
        c = (input_shape[-1],)
        init_gamma, init_beta, init_mean, init_var = self._initializers
        self.gamma = init_gamma(c, self.dtype) if self.scale else None
        self.beta = init_beta(c, self.dtype) if self.center else None
        self.moving_mean = init_mean(c, self.dtype)
        self.moving_variance = init_var(c, self.dtype)
        self.weights = [w for w in (self.gamma, self.beta) if w is not None] + [
            self.moving_mean, self.moving_variance]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w in (self.gamma, self.beta) if w is not None]

    def forward(self, x, training=False, activate=True):
        axes = tuple(range(x.ndim - 1))
        self._batch_stats = training and self.trainable
        if self._batch_stats:
            mean = x.mean(axis=axes, dtype=np.float64)
            var = np.square(x - mean.astype(x.dtype)).mean(axis=axes, dtype=np.float64)
            m = self.momentum
            self.moving_mean[...] = self.moving_mean * m + mean * (1 - m)
            self.moving_variance[...] = self.moving_variance * m + var * (1 - m)
            mean, var = mean.astype(x.dtype), var.astype(x.dtype)
        else:
            mean, var = self.moving_mean, self.moving_variance
        self._inv = (1 / np.sqrt(var + x.dtype.type(self.epsilon))).astype(x.dtype)
        self._xhat = (x - mean) * self._inv
        y = self._xhat * self.gamma if self.scale else self._xhat.copy()
        if self.center:
            y += self.beta
        return y

    def backward(self, dy):
        axes = tuple(range(dy.ndim - 1))
        xhat = self._xhat
        grads = []
        if self.scale:
            grads.append(np.sum(dy * xhat, axis=axes, dtype=np.float64).astype(dy.dtype))
        if self.center:
            grads.append(np.sum(dy, axis=axes, dtype=np.float64).astype(dy.dtype))
        self.grads = grads if self.trainable else []
        if not self.needs_input_grad:
            return None
        g = dy * self.gamma if self.scale else dy
        if not self._batch_stats:        # the moving statistics are constants
            return g * self._inv
        # through the batch mean and variance:
        # dx = inv * (g - mean(g) - xhat * mean(g * xhat)), means over all but the channels
        mean_g = g.mean(axis=axes, dtype=np.float64).astype(dy.dtype)
        mean_gx = (g * xhat).mean(axis=axes, dtype=np.float64).astype(dy.dtype)
        return self._inv * (g - mean_g - xhat * mean_gx)

    def get_config(self):
        return dict(super().get_config(), axis=self.axis, momentum=self.momentum,
                    epsilon=self.epsilon, center=self.center, scale=self.scale)
