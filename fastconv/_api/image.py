"""Image resampling (src/image.pyx): the augmentation layers' affine maps and the image
loader's resize."""
import operator

import numpy as np

from .. import _buffers, _image
from .._config import get_num_threads
from .checks import check_ndim, choice, contiguous, dtypes, finish, floating_array


INTERPOLATIONS = {"nearest": 0, "bilinear": 1}
FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2, "wrap": 3}


def resample_args(fn, images, matrices, interpolation, fill_mode, name="images"):
    images = floating_array(images, name, fn)
    check_ndim(images, 4, name, fn, "(batch, height, width, channels)")
    m = np.asarray(matrices)
    if m.dtype.kind not in "biuf" or m.shape != (images.shape[0], 6):
        raise ValueError(f"{fn}: matrices must be real numbers of shape (batch, 6) = "
                         f"({images.shape[0]}, 6) for {name} {images.shape}, got {m.dtype} "
                         f"{m.shape}")
    return (images, contiguous(m, np.float64),
            choice(interpolation, INTERPOLATIONS, "interpolation", fn),
            choice(fill_mode, FILL_MODES, "fill_mode", fn))


def size_pair(size, fn, name):
    try:
        size = tuple(operator.index(v) for v in size)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be a pair of integers (height, width), got "
                        f"{size!r}") from None
    if len(size) != 2 or min(size) < 0:
        raise ValueError(f"{fn}: {name} must be a pair of integers >= 0, got {size!r}")
    return size


def affine_transform(images, matrices, output_size=None, *, interpolation="bilinear",
                     fill_mode="reflect", fill_value=0.0):
    """Resample each NHWC image through an affine map: output pixel (row i, column j) of
    image b reads the input at column ``m[0] j + m[1] i + m[2]``, row ``m[3] j + m[4] i +
    m[5]``, with ``m = matrices[b]`` (pixel-index coordinates); points off the image follow
    Keras's fill modes (constant, nearest, reflect, wrap). src/image.pyx has the details.
    ``output_size`` (height, width) defaults to the input's."""
    fn = "affine_transform"
    images, m, interp, mode = resample_args(fn, images, matrices, interpolation, fill_mode)
    size = images.shape[1:3] if output_size is None else size_pair(output_size, fn,
                                                                   "output_size")
    fill_value = float(fill_value)
    compute, result = dtypes([images])
    out = _buffers.empty((images.shape[0],) + tuple(size) + images.shape[3:], compute)
    _image.affine_transform(contiguous(images, compute), m, out, interp, mode, fill_value,
                            get_num_threads())
    return finish(out, result)


def affine_transform_backward(dy, matrices, input_size, *, interpolation="bilinear",
                              fill_mode="reflect"):
    """The gradient with respect to the images of ``sum(dy * affine_transform(images,
    matrices, ...))`` for images of ``input_size`` (height, width): the map's transpose
    (fill values are constants and get no gradient)."""
    fn = "affine_transform_backward"
    dy, m, interp, mode = resample_args(fn, dy, matrices, interpolation, fill_mode, "dy")
    size = size_pair(input_size, fn, "input_size")
    compute, result = dtypes([dy])
    dx = _buffers.empty((dy.shape[0],) + size + dy.shape[3:], compute)
    _image.affine_transform_adjoint(contiguous(dy, compute), m, dx, interp, mode,
                                    get_num_threads())
    return finish(dx, result)


def resize_image(image, size, interpolation="bilinear"):
    """One (height, width, channels) image resized to ``size`` (height, width) as
    TensorFlow's ``tf.image.resize`` does without antialiasing (half-pixel centres; pixels
    off the edge repeat the edge), on the calling thread only: the image loader runs it in
    its own worker threads."""
    fn = "resize_image"
    image = floating_array(image, "image", fn)
    check_ndim(image, 3, "image", fn, "(height, width, channels)")
    size = size_pair(size, fn, "size")
    interp = choice(interpolation, INTERPOLATIONS, "interpolation", fn)
    (h, w), (oh, ow) = image.shape[:2], size
    compute, result = dtypes([image])
    out = np.empty((1, oh, ow, image.shape[2]), compute)
    sy, sx = h / max(oh, 1), w / max(ow, 1)
    m = np.array([[sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5]])
    _image.affine_transform(contiguous(image, compute)[None], m, out, interp,
                            FILL_MODES["nearest"], 0.0, 1)
    return finish(out[0], result)
