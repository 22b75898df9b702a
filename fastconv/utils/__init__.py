"""to_categorical, set_random_seed, get_file, image_dataset_from_directory, images one at a
time (load_img, img_to_array, array_to_img, save_img), plot_model and
plot_history, and the pictures of what a convnet learned: feature maps, filter patterns and
Grad-CAM heatmaps (as arrays, and drawn)."""
import numpy as np

from .. import _rng
from .downloads import get_file
from .image_dataset import image_dataset_from_directory
from .images import array_to_img, img_to_array, load_img, save_img
from .plotting import plot_history, plot_model
from .visualization import (feature_maps, filter_pattern, grad_cam, plot_feature_maps,
                            plot_filter_patterns, plot_grad_cam)

__all__ = ["to_categorical", "set_random_seed", "get_file", "image_dataset_from_directory",
           "load_img", "img_to_array", "array_to_img", "save_img", "plot_model",
           "plot_history", "feature_maps", "plot_feature_maps", "filter_pattern",
           "plot_filter_patterns", "grad_cam", "plot_grad_cam"]


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels: shape (n,) or (n, 1) -> (n, num_classes)."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(np.mod(y, 1) == 0):
            raise ValueError("to_categorical: y must hold integer class labels")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: y must hold integer class labels, got {y.dtype}")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    labels = y.astype(np.intp)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {labels.min()}")
    top = int(labels.max()) + 1 if labels.size else 0
    if num_classes is None:
        num_classes = top
    elif top > num_classes:
        raise ValueError(f"to_categorical: label {top - 1} does not fit num_classes="
                         f"{num_classes}")
    out = np.zeros(labels.shape + (num_classes,), dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


def set_random_seed(seed):
    """Seed fastconv's generator (weights, dropout, shuffling), NumPy's and Python's: the same
    seed gives the same initial weights and the same training run."""
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative integer, got {seed!r}")
    _rng.seed(int(seed))
