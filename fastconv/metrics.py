"""Metrics, by Keras name. "accuracy" picks its kind from the loss, as Keras does."""
import numpy as np

from ._registry import snake_case


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


def _per_sample(hit):
    """Each sample's fraction of hits (its pixels' mean, for a prediction per pixel): the
    mean over samples is then Keras's mean over every prediction."""
    return hit.reshape(hit.shape[0], -1).mean(axis=1) if hit.ndim > 1 else hit


class CategoricalAccuracy(Metric):
    name = "accuracy"

    def values(self, y_true, y_pred):
        return _per_sample(np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1))


class SparseCategoricalAccuracy(Metric):
    name = "accuracy"

    def values(self, y_true, y_pred):
        predicted = np.argmax(y_pred, axis=-1)
        return _per_sample(np.asarray(y_true).reshape(predicted.shape) == predicted)


class BinaryAccuracy(Metric):
    name = "accuracy"

    def values(self, y_true, y_pred):
        y_pred, y_true = np.asarray(y_pred), np.asarray(y_true)
        if y_true.shape != y_pred.shape and y_true.size == y_pred.size:
            y_true = y_true.reshape(y_pred.shape)        # labels (n,) for outputs (n, 1)
        hit = (y_pred > 0.5) == (y_true > 0.5)
        return hit.reshape(hit.shape[0], -1).mean(axis=1)


def _count(value, name, owner, low=0):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


class IoU(Metric):
    """Intersection over union of classes, as Keras's ``IoU``: a confusion matrix of the
    integer labels (``sparse_y_true``; else the argmax over ``axis``) against the predicted
    classes (``sparse_y_pred``; else, for class scores such as a softmax per pixel, their
    argmax over ``axis``), every pixel of every sample counted, summed over the batches since
    reset; the result is the mean over ``target_class_ids`` of TP / (TP + FP + FN), a class
    that never occurs in either left out of the mean. Labels out of range, and ``ignore_class``,
    are not counted."""

    def __init__(self, num_classes, target_class_ids, name=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1, dtype=None):
        self.num_classes = _count(num_classes, "num_classes", type(self).__name__, low=1)
        ids = list(target_class_ids)
        for i in ids:
            _count(i, "target_class_ids", type(self).__name__)
            if i >= self.num_classes:
                raise ValueError(f"{type(self).__name__}: target class id {i} is out of "
                                 f"range [0, {self.num_classes})")
        if not ids:
            raise ValueError(f"{type(self).__name__}: target_class_ids must not be empty")
        self.target_class_ids = [int(i) for i in ids]
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.sparse_y_true, self.sparse_y_pred = bool(sparse_y_true), bool(sparse_y_pred)
        self.axis = int(axis)
        self.name = name or snake_case(type(self).__name__)     # io_u, mean_io_u: Keras's
        super().__init__()

    def reset(self):
        self._cm = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, y_true, y_pred):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        t, p = y_true.reshape(-1), y_pred.reshape(-1)
        if t.size != p.size:
            raise ValueError(f"{self.name}: {t.size} labels for {p.size} predictions (y_true "
                             f"{y_true.shape}, y_pred {y_pred.shape})")
        # Keras casts both to integers (truncating), then counts the in-range pairs
        t = np.trunc(t).astype(np.int64) if t.dtype.kind == "f" else t.astype(np.int64)
        p = np.trunc(p).astype(np.int64) if p.dtype.kind == "f" else p.astype(np.int64)
        n = self.num_classes
        keep = (t >= 0) & (t < n) & (p >= 0) & (p < n)
        if self.ignore_class is not None:
            keep &= t != self.ignore_class
        self._cm += np.bincount(t[keep] * n + p[keep], minlength=n * n).reshape(n, n)

    def result(self):
        cm = self._cm.astype(np.float64)
        tp = np.diag(cm)
        denominator = (cm.sum(axis=0) + cm.sum(axis=1) - tp)[self.target_class_ids]
        tp = tp[self.target_class_ids]
        valid = denominator > 1e-9
        iou = np.where(valid, tp / (denominator + 1e-7), 0.0)      # Keras's epsilon
        return float(iou.sum() / (valid.sum() + 1e-7))

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "name": self.name, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class MeanIoU(IoU):
    """IoU over every class (Keras's ``MeanIoU``)."""

    def __init__(self, num_classes, name=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1, dtype=None):
        super().__init__(num_classes, range(_count(num_classes, "num_classes", "MeanIoU",
                                                   low=1)),
                         name=name, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


CONFIGURABLE = {"IoU": IoU, "MeanIoU": MeanIoU}


def serialize(metric):
    """A compile argument's metric as plain data: its name, or {class_name, config}."""
    if isinstance(metric, str):
        return metric
    if type(metric).__name__ in CONFIGURABLE:
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    return metric.name


def get(identifier, loss, output_shape):
    """A Metric for a name (or serialize's dict), given the compiled loss and the model's
    output shape."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in CONFIGURABLE \
            and isinstance(identifier.get("config"), dict):
        return CONFIGURABLE[identifier["class_name"]](**identifier["config"])
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
