"""Losses: categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error.

Each returns the batch mean, and its gradient with respect to the predictions. The two cross
entropies also work from logits (``value_and_grad_from_logits``): Sequential uses that when the
model ends in a softmax, so that the loss is computed as log-softmax and its gradient as
``softmax(z) - y``, with no division by a probability that may have rounded to zero.
"""
import numpy as np

from ._registry import lookup
from .activations import softmax

EPSILON = 1e-7   # Keras's clipping of probabilities when not fused with softmax


class Loss:
    name = None
    fusable_with_softmax = False

    def __call__(self, y_true, y_pred):
        return self.value_and_grad(y_true, y_pred)[0]

    def value_and_grad(self, y_true, y_pred):
        """(mean loss over the batch, gradient with respect to y_pred)."""
        raise NotImplementedError

    def check_targets(self, y_true, output_shape):
        """Raise ValueError if y_true cannot be the targets of outputs of this shape."""


def _log_softmax(z):
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


class CategoricalCrossentropy(Loss):
    """-sum(y_true * log(y_pred)) per sample, y_true one-hot (or any distribution)."""
    name = "categorical_crossentropy"
    fusable_with_softmax = True

    def value_and_grad(self, y_true, y_pred):
        # As Keras: q = y_pred / sum(y_pred), clipped to [EPSILON, 1 - EPSILON], then -y log q.
        n = y_pred.shape[0]
        total = np.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / total
        clipped = np.clip(q, EPSILON, 1 - EPSILON)
        loss = -np.sum(y_true * np.log(clipped)) / n
        dq = np.where(clipped == q, -y_true / clipped / n, 0)
        # through the normalisation: dq_i / dp_j = (delta_ij - q_i) / total
        grad = (dq - np.sum(dq * q, axis=-1, keepdims=True)) / total
        return float(loss), grad.astype(y_pred.dtype, copy=False)

    def value_and_grad_from_logits(self, y_true, z):
        """(mean loss, softmax(z), gradient with respect to the logits z)."""
        n = z.shape[0]
        log_p = _log_softmax(z)
        p = np.exp(log_p)
        loss = -np.sum(y_true * log_p) / n
        grad = (p * np.sum(y_true, axis=-1, keepdims=True) - y_true) / n
        return float(loss), p, grad.astype(z.dtype, copy=False)

    def check_targets(self, y_true, output_shape):
        if y_true.ndim != 2 or y_true.shape[1] != output_shape[-1]:
            raise ValueError(f"{self.name}: targets must be one-hot of shape (n, "
                             f"{output_shape[-1]}) for outputs {output_shape}, got "
                             f"{y_true.shape}; integer labels go with "
                             f"sparse_categorical_crossentropy, or use to_categorical")


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross entropy with integer class labels as targets."""
    name = "sparse_categorical_crossentropy"

    @staticmethod
    def _labels(y_true):
        return np.asarray(y_true).reshape(-1).astype(np.intp)

    def value_and_grad(self, y_true, y_pred):
        onehot = np.zeros(y_pred.shape, y_pred.dtype)
        onehot[np.arange(y_pred.shape[0]), self._labels(y_true)] = 1
        return super().value_and_grad(onehot, y_pred)

    def value_and_grad_from_logits(self, y_true, z):
        n = z.shape[0]
        labels = self._labels(y_true)
        log_p = _log_softmax(z)
        p = np.exp(log_p)
        loss = -np.sum(log_p[np.arange(n), labels]) / n
        grad = p.copy()
        grad[np.arange(n), labels] -= 1
        return float(loss), p, (grad / n).astype(z.dtype, copy=False)

    def check_targets(self, y_true, output_shape):
        if not (y_true.ndim == 1 or (y_true.ndim == 2 and y_true.shape[1] == 1)):
            raise ValueError(f"{self.name}: targets must be integer labels of shape (n,), "
                             f"got {y_true.shape}")
        if y_true.dtype.kind not in "iuf" or (
                y_true.dtype.kind == "f" and not np.all(np.mod(y_true, 1) == 0)):
            raise ValueError(f"{self.name}: targets must be integer labels, got "
                             f"{y_true.dtype}")
        if y_true.size and (y_true.min() < 0 or y_true.max() >= output_shape[-1]):
            raise ValueError(f"{self.name}: labels must lie in [0, {output_shape[-1]}), got "
                             f"values from {y_true.min()} to {y_true.max()}")


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def value_and_grad(self, y_true, y_pred):
        diff = y_pred - y_true
        return float(np.mean(diff * diff)), (2 * diff / diff.size).astype(y_pred.dtype,
                                                                          copy=False)

    def check_targets(self, y_true, output_shape):
        if y_true.shape[1:] != tuple(output_shape[1:]):
            raise ValueError(f"{self.name}: targets must have the outputs' shape "
                             f"(n,) + {tuple(output_shape[1:])}, got {y_true.shape}")


_TABLE = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier):
    """A Loss from a name or an instance; ValueError listing the names otherwise."""
    return lookup("loss", identifier, _TABLE, Loss)
