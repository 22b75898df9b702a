"""BatchNormalization, Keras's."""
import numbers

import numpy as np

from .. import _api, initializers
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
        # Statistics and the affine map run as compiled per-channel passes (_api): two passes
        # over x (the sums, shifted by the first pixel for accuracy, then y = (x - mean) *
        # scale + offset) where NumPy needs six.
        c = x.shape[-1]
        rows = x.size // max(c, 1)
        self._batch_stats = training and self.trainable and rows > 0
        self._x = x
        if self._batch_stats:
            shift = x.reshape(-1, c)[0].astype(np.float64)
            s1, s2 = _api.norm.batch_norm_sums(x, shift)
            mean = shift + s1 / rows
            var = np.maximum(s2 / rows - (s1 / rows) ** 2, 0)
            m = self.momentum
            self.moving_mean[...] = self.moving_mean * m + mean * (1 - m)
            self.moving_variance[...] = self.moving_variance * m + var * (1 - m)
        else:
            mean = self.moving_mean.astype(np.float64)
            var = self.moving_variance.astype(np.float64)
        self._mean, self._inv = mean, 1 / np.sqrt(var + self.epsilon)
        scale = self._inv * self.gamma if self.scale else self._inv
        offset = self.beta if self.center else np.zeros(c)
        return _api.norm.channel_affine(x, mean, scale, offset)

    def backward(self, dy):
        c = dy.shape[-1]
        rows = dy.size // max(c, 1)
        x, mean, inv = self._x, self._mean, self._inv
        sum_dy, sum_dyx = _api.norm.batch_norm_sums(x, mean, dy)     # sum(dy), sum(dy (x - mean))
        grads = []
        if self.scale:
            grads.append((inv * sum_dyx).astype(dy.dtype))      # sum(dy * xhat)
        if self.center:
            grads.append(sum_dy.astype(dy.dtype))
        self.grads = grads if self.trainable else []
        if not self.needs_input_grad:
            return None
        g = self.gamma.astype(np.float64) if self.scale else 1.0
        if not self._batch_stats:        # the moving statistics are constants
            return _api.norm.channel_affine(dy, np.zeros(c), np.broadcast_to(g * inv, (c,)),
                                            np.zeros(c))
        # through the batch mean and variance, with xhat = (x - mean) inv:
        # dx = inv (g dy - mean(g dy) - xhat mean(g dy xhat))
        #    = A dy + B (x - mean) + C per channel
        mean_g = g * sum_dy / rows
        mean_gx = g * inv * sum_dyx / rows
        a = np.broadcast_to(inv * g, (c,))
        return _api.norm.channel_affine(x, mean, -inv * inv * mean_gx, -inv * mean_g, y=dy,
                                        y_scale=a)

    def get_config(self):
        return dict(super().get_config(), axis=self.axis, momentum=self.momentum,
                    epsilon=self.epsilon, center=self.center, scale=self.scale)
