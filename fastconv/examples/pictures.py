"""The pictures ``--pictures DIR`` writes after training (fastconv train-mnist, fastconv
train-images): what the trained convnet learned, as the Keras book's chapter shows it."""
import os

from fastconv._command import CommandError
from fastconv.layers import Conv2D
from fastconv.utils import plot_feature_maps, plot_filter_patterns, plot_grad_cam


def write_pictures(model, image, folder, value_range=(0.0, 1.0), class_names=None, seed=0):
    """Into ``folder``: feature_maps.png (the image's activations at every convolution and
    pooling layer), filter_patterns_<layer>.png for the first two convolution layers, and
    grad_cam.png (the heatmap of the predicted class at the last convolution layer whose
    maps are at least 7 pixels a side, else the last one).
    Returns the paths written; without matplotlib, says so and writes nothing."""
    convs = [layer for layer in model.layers if isinstance(layer, Conv2D)]
    cam_layer = ([l for l in convs if min(l.output_shape[1:3]) >= 7] or convs)[-1].name
    convs = [layer.name for layer in convs]
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise CommandError(f"--pictures: cannot make {folder}: {e}") from e
    jobs = [("feature_maps.png",
             lambda path: plot_feature_maps(model, image, path))]
    for name in convs[:2]:
        jobs.append((f"filter_patterns_{name}.png",
                     lambda path, name=name: plot_filter_patterns(
                         model, name, path, value_range=value_range, seed=seed)))
    jobs.append(("grad_cam.png",
                 lambda path: plot_grad_cam(model, image, cam_layer, path,
                                            class_names=class_names)))
    written = []
    try:
        for file_name, draw in jobs:
            path = os.path.join(folder, file_name)
            draw(path)
            written.append(path)
            print(f"wrote {os.path.abspath(path)}")
    except ImportError as e:
        print(f"(no pictures: {e})")
    except OSError as e:
        raise CommandError(f"--pictures: cannot write into {folder}: {e}") from e
    return written


def check_folder(folder):
    """CommandError, before training, for a pictures folder that cannot be made."""
    path = os.path.abspath(folder)
    while not os.path.isdir(path):
        if os.path.exists(path):
            raise CommandError(f"--pictures: {path} is a file, not a folder")
        path = os.path.dirname(path)
    if not os.access(path, os.W_OK):
        raise CommandError(f"--pictures: cannot write into {path}")
