"""Images one at a time, as the Keras book loads them: load_img, img_to_array, array_to_img
and save_img, with Keras's arguments (channels last). Pillow does the decoding and
resizing: the images extra, ``pip install "fastconv[images]"``."""
import io
import os

import numpy as np

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img"]

_RESAMPLING = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}


def _pillow(fn):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"{fn} needs Pillow, an optional extra: "
                          f"pip install 'fastconv[images]'") from None
    return Image


def _channels_last(data_format, fn):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{fn}: fastconv's images are channels_last, got "
                         f"data_format={data_format!r}")


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """The image file at path (a path, or a file-like object of its bytes) as a Pillow image,
    in ``color_mode`` "rgb", "rgba" or "grayscale" (16- and 32-bit grey stay as they are),
    resized to ``target_size`` (height, width) with Pillow's filter ``interpolation``
    ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos"); with
    ``keep_aspect_ratio`` the largest centred window of the target's aspect ratio is
    resized, as Keras does. A file that is not an image: ValueError naming it."""
    Image = _pillow("load_img")
    if color_mode not in _MODES:
        raise ValueError(f"load_img: color_mode must be 'grayscale', 'rgb' or 'rgba', got "
                         f"{color_mode!r}")
    if interpolation not in _RESAMPLING:
        raise ValueError(f"load_img: interpolation must be one of {', '.join(_RESAMPLING)}, "
                         f"got {interpolation!r}")
    if target_size is not None:
        if not (isinstance(target_size, (tuple, list)) and len(target_size) == 2 and all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                for s in target_size)):
            raise ValueError(f"load_img: target_size must be (height, width), positive "
                             f"integers, got {target_size!r}")
    if hasattr(path, "read"):
        data, name = path.read(), "the file object"
    else:
        name = os.fspath(path)
        with open(name, "rb") as f:
            data = f.read()
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise ValueError(f"load_img: cannot decode image {name} ({type(e).__name__}: {e})") \
            from None
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif img.mode != _MODES[color_mode]:
        img = img.convert(_MODES[color_mode])
    if target_size is None or img.size == (target_size[1], target_size[0]):
        return img
    height, width = target_size
    resample = getattr(Image.Resampling, interpolation.upper())
    box = None
    if keep_aspect_ratio:
        w, h = img.size
        crop_h = min(h, (w * height) // width)
        crop_w = min(w, (h * width) // height)
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        box = (left, top, left + crop_w, top + crop_h)
    return img.resize((width, height), resample, box=box)


def img_to_array(img, data_format=None, dtype=None):
    """A Pillow image (or anything array-like) as a (height, width, channels) array of dtype
    (float32 by default): grey images get a channel axis of 1."""
    _channels_last(data_format, "img_to_array")
    x = np.asarray(img, dtype=dtype or np.float32)
    if x.ndim == 2:
        return x.reshape(x.shape + (1,))
    if x.ndim != 3:
        raise ValueError(f"img_to_array: an image must have 2 or 3 dimensions, got shape "
                         f"{x.shape}")
    return x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A (height, width, channels) array as a Pillow image: 1 channel grey ("L", or "I" for
    values above 255), 3 RGB, 4 RGBA. With ``scale`` the values are first stretched to
    0..255 (minimum to 0, maximum to 255), as Keras does."""
    Image = _pillow("array_to_img")
    _channels_last(data_format, "array_to_img")
    x = np.array(x, dtype=dtype or np.float32)           # a copy: the caller's stays
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expects one image (height, width, channels), got "
                         f"shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError("array_to_img: the image holds NaN or infinite values")
    if scale and x.size:
        x -= x.min()
        top = x.max()
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype(np.uint8), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype(np.uint8), "RGB")
    if channels == 1:
        if x.size and x.max() > 255:
            return Image.fromarray(x[:, :, 0].astype(np.int32), "I")
        return Image.fromarray(x[:, :, 0].astype(np.uint8), "L")
    raise ValueError(f"array_to_img: an image has 1, 3 or 4 channels, got {channels}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the array x as an image file (array_to_img, then Pillow's save); the format
    from file_format or the file name (an RGBA image saved as JPEG becomes RGB)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = os.path.splitext(os.fspath(path))[1][1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    if img.mode == "RGBA" and file_format and file_format.lower() == "jpeg":
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)
