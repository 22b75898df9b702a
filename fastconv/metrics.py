"""Metrics, by Keras name. "accuracy" picks its kind from the loss, as Keras does."""
import numpy as np


class Metric:
    """A running mean over the samples seen since reset()."""
    name = None

    def __init__(self):
        self.reset()

    def reset(self):
        self._total, self._count = 0.0, 0

    def update(self, y_true, y_pred):
        correct = self.values(y_true, y_pred)
        self._total += float(np.sum(correct))
        self._count += correct.shape[0]

    def result(self):
        return self._total / self._count if self._count else 0.0

    def values(self, y_true, y_pred):
        raise NotImplementedError


class CategoricalAccuracy(Metric):
    name = "accuracy"

    def values(self, y_true, y_pred):
        return np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)


class SparseCategoricalAccuracy(Metric):
    name = "accuracy"

    def values(self, y_true, y_pred):
        return np.asarray(y_true).reshape(-1) == np.argmax(y_pred, axis=-1)


class BinaryAccuracy(Metric):
    name = "accuracy"

    def values(self, y_true, y_pred):
        y_pred, y_true = np.asarray(y_pred), np.asarray(y_true)
        if y_true.shape != y_pred.shape and y_true.size == y_pred.size:
            y_true = y_true.reshape(y_pred.shape)        # labels (n,) for outputs (n, 1)
        hit = (y_pred > 0.5) == (y_true > 0.5)
        return hit.reshape(hit.shape[0], -1).mean(axis=1)


def get(identifier, loss, output_shape):
    """A Metric for a name, given the compiled loss and the model's output shape."""
    if isinstance(identifier, Metric):
        return identifier
    names = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy",
             "binary_accuracy")
    if identifier not in names:
        raise ValueError(f"unknown metric {identifier!r}; valid names: {', '.join(names)}")
    if identifier == "categorical_accuracy":
        return CategoricalAccuracy()
    if identifier == "sparse_categorical_accuracy":
        return SparseCategoricalAccuracy()
    if identifier == "binary_accuracy":
        return BinaryAccuracy()
    if loss.name == "binary_crossentropy":
        return BinaryAccuracy()
    if loss.name == "sparse_categorical_crossentropy":
        return SparseCategoricalAccuracy()
    if loss.name == "categorical_crossentropy" or (output_shape and output_shape[-1] > 1):
        return CategoricalAccuracy()
    return BinaryAccuracy()
