"""Losses: categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
mean_squared_error (by name, or as the classes, which take Keras's arguments).

Each returns the batch mean, and its gradient with respect to the predictions. The cross
entropies also work from logits (``value_and_grad_from_logits``): Sequential uses that when the
model ends in the activation the loss fuses with (``fuses_with``: softmax for the categorical
ones, sigmoid for the binary one), so that the loss is computed as log-softmax (or log-sigmoid)
and its gradient as ``softmax(z) - y`` (``sigmoid(z) - y``), with no division by a
probability that may have rounded to zero. With ``from_logits=True`` the model's outputs are
taken as logits and the same formulas apply.
"""
import numpy as np

from ._registry import lookup
from .activations import softmax

EPSILON = 1e-7   # Keras's clipping of probabilities when not fused with softmax


class Loss:
    name = None
    fuses_with = None        # the final activation whose logits value_and_grad_from_logits takes
    from_logits = False

    def __call__(self, y_true, y_pred):
        return self.value_and_grad(y_true, y_pred)[0]

    def get_config(self):
        return {"name": self.name}

    def value_and_grad(self, y_true, y_pred):
        """(mean loss over the batch, gradient with respect to y_pred)."""
        raise NotImplementedError

    def check_targets(self, y_true, output_shape):
        """Raise ValueError if y_true cannot be the targets of outputs of this shape."""


def _log_softmax(z):
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


class _CrossEntropy(Loss):
    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)
        if self.from_logits:
            self.fuses_with = None        # the outputs are logits already

    def value_and_grad(self, y_true, y_pred):
        if self.from_logits:
            loss, _, grad = self.value_and_grad_from_logits(y_true, y_pred)
            return loss, grad
        return self._value_and_grad(y_true, y_pred)

    def get_config(self):
        return dict(super().get_config(), from_logits=self.from_logits)


def _distributions(a):
    """How many class distributions an output holds: one per sample, or, for outputs
    (n, ..., classes) such as a softmax per pixel, one per sample and position (Keras
    averages the loss over all of them)."""
    return a.size // a.shape[-1] if a.shape[-1] else 0


class CategoricalCrossentropy(_CrossEntropy):
    """-sum(y_true * log(y_pred)) over the last axis, averaged over the samples (and over
    every position of outputs (n, ..., classes): a softmax per pixel); y_true one-hot (or
    any distribution), of the outputs' shape."""
    name = "categorical_crossentropy"
    fuses_with = "softmax"

    def _value_and_grad(self, y_true, y_pred):
        # As Keras: q = y_pred / sum(y_pred), clipped to [EPSILON, 1 - EPSILON], then -y log q.
        n = max(_distributions(y_pred), 1)
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
        n = max(_distributions(z), 1)
        log_p = _log_softmax(z)
        p = np.exp(log_p)
        loss = -np.sum(y_true * log_p) / n
        grad = (p * np.sum(y_true, axis=-1, keepdims=True) - y_true) / n
        return float(loss), p, grad.astype(z.dtype, copy=False)

    def check_targets(self, y_true, output_shape):
        if y_true.shape[1:] != tuple(output_shape[1:]):
            want = "(n, " + ", ".join(str(d) for d in output_shape[1:]) + ")"
            raise ValueError(f"{self.name}: targets must be one-hot of shape {want} for "
                             f"outputs {output_shape}, got {y_true.shape}; integer labels go "
                             f"with sparse_categorical_crossentropy, or use to_categorical")


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross entropy with integer class labels as targets: (n,) or (n, 1) for
    outputs (n, classes); (n, ...) or (n, ..., 1) for outputs (n, ..., classes), a label
    per pixel (a segmentation mask)."""
    name = "sparse_categorical_crossentropy"

    @staticmethod
    def _labels(y_true):
        return np.asarray(y_true).reshape(-1).astype(np.intp)

    def _value_and_grad(self, y_true, y_pred):
        onehot = np.zeros(y_pred.shape, y_pred.dtype)
        flat = onehot.reshape(-1, y_pred.shape[-1])
        flat[np.arange(flat.shape[0]), self._labels(y_true)] = 1
        return super()._value_and_grad(onehot, y_pred)

    def value_and_grad_from_logits(self, y_true, z):
        n = max(_distributions(z), 1)
        labels = self._labels(y_true)
        log_p = _log_softmax(z)
        p = np.exp(log_p)
        rows = np.arange(labels.size)
        loss = -np.sum(log_p.reshape(-1, z.shape[-1])[rows, labels]) / n
        grad = p.copy()
        grad.reshape(-1, z.shape[-1])[rows, labels] -= 1
        return float(loss), p, (grad / n).astype(z.dtype, copy=False)

    def check_targets(self, y_true, output_shape):
        positions = tuple(output_shape[1:-1])
        if y_true.shape[1:] not in (positions, positions + (1,)):
            want = ", ".join(str(d) for d in positions)
            raise ValueError(f"{self.name}: targets must be integer labels of shape "
                             f"(n{', ' + want if want else ''}) or (n, {want + ', ' if want else ''}1) "
                             f"for outputs {tuple(output_shape)}, got {y_true.shape}")
        if y_true.dtype.kind not in "iuf" or (
                y_true.dtype.kind == "f" and not np.all(np.mod(y_true, 1) == 0)):
            raise ValueError(f"{self.name}: targets must be integer labels, got "
                             f"{y_true.dtype}")
        if y_true.size and (y_true.min() < 0 or y_true.max() >= output_shape[-1]):
            raise ValueError(f"{self.name}: labels must lie in [0, {output_shape[-1]}), got "
                             f"values from {y_true.min()} to {y_true.max()}")


class BinaryCrossentropy(_CrossEntropy):
    """-(y log p + (1 - y) log(1 - p)), averaged over the last axis, then over the batch; p is
    clipped to [1e-7, 1 - 1e-7] as Keras clips it (not when fused with a final sigmoid or
    from logits: then the loss is max(z, 0) - z y + log(1 + exp(-|z|)), exact for any z).
    Targets in [0, 1] of the outputs' shape (a vector (n,) for outputs (n, 1) too);
    ``label_smoothing`` moves them towards 1/2: y (1 - s) + s / 2."""
    name = "binary_crossentropy"
    fuses_with = "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0):
        super().__init__(from_logits)
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"BinaryCrossentropy: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def _targets(self, y_true, like):
        y = np.asarray(y_true).reshape(like.shape).astype(like.dtype, copy=False)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + self.label_smoothing / 2
        return y

    def _value_and_grad(self, y_true, y_pred):
        y = self._targets(y_true, y_pred)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        count = max(y_pred.size, 1)
        loss = -np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)) / count
        grad = np.where(p == y_pred, (p - y) / (p * (1 - p)), 0) / count
        return float(loss), grad.astype(y_pred.dtype, copy=False)

    def value_and_grad_from_logits(self, y_true, z):
        """(mean loss, sigmoid(z), gradient with respect to the logits z)."""
        y = self._targets(y_true, z)
        count = max(z.size, 1)
        loss = np.sum(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))) / count
        p = np.exp(-np.logaddexp(0, -z)).astype(z.dtype, copy=False)
        return float(loss), p, ((p - y) / count).astype(z.dtype, copy=False)

    def check_targets(self, y_true, output_shape):
        shape = tuple(output_shape[1:])
        if y_true.shape[1:] != shape and not (shape == (1,) and y_true.ndim == 1):
            raise ValueError(f"{self.name}: targets must have the outputs' shape (n,) + "
                             f"{shape}, got {y_true.shape}")
        if y_true.dtype.kind not in "biuf":
            raise ValueError(f"{self.name}: targets must be numbers in [0, 1], got "
                             f"{y_true.dtype}")

    def get_config(self):
        return dict(super().get_config(), label_smoothing=self.label_smoothing)


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
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier):
    """A Loss from a name, a config (``get_config``'s dict) or an instance; ValueError listing
    the names otherwise."""
    if isinstance(identifier, dict):
        config = dict(identifier)
        cls = type(lookup("loss", config.pop("name", None), _TABLE, Loss))
        return cls(**config)
    return lookup("loss", identifier, _TABLE, Loss)
