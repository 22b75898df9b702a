"""image_dataset_from_directory: batches of images read from a folder, as Keras 3's function
makes them, decoded by Pillow (the optional 'images' extra) in worker threads.
"""
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _api

FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
# interpolations computed by fastconv (TensorFlow's rule) and those left to Pillow's filters
_OWN = ("bilinear", "nearest")
_PILLOW = {"bicubic": "BICUBIC", "area": "BOX", "lanczos3": "LANCZOS", "lanczos5": "LANCZOS"}


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("image_dataset_from_directory needs Pillow, an optional extra: "
                          "pip install 'fastconv[images]'") from None
    return Image


def _walk(folder, follow_links):
    """The image files under folder, recursively: folders in sorted order, files sorted."""
    found = []
    for root, dirs, files in sorted(os.walk(folder, followlinks=follow_links),
                                    key=lambda entry: entry[0]):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files)
                  if f.lower().endswith(FORMATS)]
    return found


def _index(directory, labels, class_names, follow_links):
    """(file paths, integer labels or None, class names)."""
    if isinstance(labels, str):          # "inferred" (checked by the caller)
        subdirs = sorted(d for d in os.listdir(directory)
                         if os.path.isdir(os.path.join(directory, d)))
        if class_names is not None:
            class_names = [str(c) for c in class_names]
            if sorted(set(class_names)) != subdirs or len(set(class_names)) != len(class_names):
                raise ValueError(f"image_dataset_from_directory: class_names {class_names} do "
                                 f"not match the subfolders of {directory}: {subdirs}")
        else:
            class_names = subdirs
        if not class_names:
            raise ValueError(f"image_dataset_from_directory: {directory} has no subfolders; "
                             f"with labels='inferred' it needs one folder of images per class "
                             f"(or pass labels=None)")
        paths, indices = [], []
        for i, name in enumerate(class_names):
            files = _walk(os.path.join(directory, name), follow_links)
            if not files:
                raise ValueError(f"image_dataset_from_directory: class folder "
                                 f"{os.path.join(directory, name)} holds no images "
                                 f"({', '.join(FORMATS)})")
            paths += files
            indices += [i] * len(files)
        return paths, np.array(indices, np.int32), class_names
    paths = _walk(directory, follow_links)
    if labels is None:            # no labels: class_names has nothing to name (as in Keras)
        return paths, None, None
    if class_names is not None:
        raise ValueError("image_dataset_from_directory: class_names is only valid with "
                         "labels='inferred'")
    given = np.asarray(labels)
    if given.ndim != 1 or given.dtype.kind not in "iu":
        raise ValueError(f"image_dataset_from_directory: labels must be 'inferred', None or a "
                         f"list of integer labels, got {labels!r:.100}")
    if len(given) != len(paths):
        raise ValueError(f"image_dataset_from_directory: {len(given)} labels for "
                         f"{len(paths)} image files in {directory}")
    if given.size and given.min() < 0:
        raise ValueError("image_dataset_from_directory: labels must be >= 0")
    count = int(given.max()) + 1 if given.size else 0
    return paths, given.astype(np.int32), [str(i) for i in range(count)]


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, verbose=True, num_workers=None,
                                 prefetch=2, on_bad_file="error"):
    """Batches of ``(images, labels)`` from a folder with one subfolder per class, with Keras
    3's arguments and defaults.

    Images (.jpeg, .jpg, .png, .bmp, .gif; the first frame of an animation) are float32
    arrays ``(batch, height, width, channels)`` holding 0..255, resized to ``image_size``
    (height, width); channels by ``color_mode``: "grayscale" 1, "rgb" 3, "rgba" 4 (colour
    images become grey by ITU-R 601 luma, alpha is dropped or added opaque, palette images
    take their colours). Labels by ``label_mode``: "int" (int32, class indices), "categorical"
    (float32 one-hot), "binary" (float32 0/1 of shape (batch, 1), two classes only), or None
    (images only). Classes are the subfolders in alphanumeric order unless ``class_names``
    fixes them; ``labels`` may instead be None (no labels) or a list of integer labels for
    the files in sorted path order.

    ``shuffle`` shuffles the file list once (by ``seed``) and the order again at every pass;
    ``validation_split`` keeps the last fraction of the (shuffled) files for the
    "validation" ``subset``, the rest for "training" ("both": a pair of datasets); with
    shuffling it needs a seed, so that the two subsets never overlap. ``interpolation``
    "bilinear" and "nearest" are TensorFlow's (no antialiasing), computed by fastconv;
    "bicubic", "area", "lanczos3" and "lanczos5" use Pillow's filters (BICUBIC, BOX, LANCZOS),
    which antialias, so they differ from TensorFlow's a little. ``crop_to_aspect_ratio`` cuts
    the largest centred window of the target's aspect ratio first; ``pad_to_aspect_ratio``
    pads with zeros to it instead.

    The returned ``ImageDataset`` has ``class_names``, ``file_paths`` (absolute) and a
    length (batches per pass). Images are decoded and resized by ``num_workers`` threads (default: the CPU
    count, at most 4) up to ``prefetch`` batches ahead of the consumer. A file that cannot be
    decoded raises ValueError naming it, or, with ``on_bad_file="warn"``, is left out of its
    batch with a warning. Needs Pillow: ``pip install 'fastconv[images]'``.
    """
    fn = "image_dataset_from_directory"
    Image = _pillow()
    # absolute paths: the dataset keeps working after a change of the working folder
    directory = os.path.abspath(os.fspath(directory))
    if not os.path.isdir(directory):
        raise ValueError(f"{fn}: {directory} is not a folder")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"{fn}: label_mode must be 'int', 'categorical', 'binary' or None, "
                         f"got {label_mode!r}")
    if not (isinstance(labels, (list, tuple, np.ndarray)) or labels is None
            or labels == "inferred"):
        raise ValueError(f"{fn}: labels must be 'inferred', None or a list of integer labels, "
                         f"got {labels!r:.100}")
    if labels is None or label_mode is None:          # either means: images only (as Keras)
        labels = label_mode = None
    if color_mode not in _CHANNELS:
        raise ValueError(f"{fn}: color_mode must be 'grayscale', 'rgb' or 'rgba', got "
                         f"{color_mode!r}")
    if interpolation not in _OWN and interpolation not in _PILLOW:
        raise ValueError(f"{fn}: interpolation must be one of "
                         f"{', '.join(_OWN + tuple(_PILLOW))}, got {interpolation!r}")
    size = _api.image.size_pair(image_size, fn, "image_size")
    if min(size) < 1:
        raise ValueError(f"{fn}: image_size must be positive, got {image_size!r}")
    if batch_size is not None:
        batch_size = _positive(batch_size, "batch_size", fn)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{fn}: crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be "
                         f"set")
    if seed is not None and (isinstance(seed, bool) or int(seed) != seed or seed < 0):
        raise ValueError(f"{fn}: seed must be None or an integer >= 0, got {seed!r}")
    if (validation_split is None) != (subset is None):
        raise ValueError(f"{fn}: validation_split and subset go together (got "
                         f"validation_split={validation_split!r}, subset={subset!r})")
    if validation_split is not None:
        if not 0 < validation_split < 1:
            raise ValueError(f"{fn}: validation_split must be between 0 and 1, got "
                             f"{validation_split!r}")
        if subset not in ("training", "validation", "both"):
            raise ValueError(f"{fn}: subset must be 'training', 'validation' or 'both', got "
                             f"{subset!r}")
        if shuffle and seed is None:
            raise ValueError(f"{fn}: with validation_split and shuffle, give a seed, so that "
                             f"the training and validation subsets do not overlap")
    if on_bad_file not in ("error", "warn"):
        raise ValueError(f"{fn}: on_bad_file must be 'error' or 'warn', got {on_bad_file!r}")
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    num_workers = _positive(num_workers, "num_workers", fn)
    prefetch = _positive(prefetch, "prefetch", fn)

    paths, label_values, names = _index(directory, labels, class_names, follow_links)
    if not paths:
        raise ValueError(f"{fn}: no image files ({', '.join(FORMATS)}) in {directory}")
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"{fn}: label_mode='binary' needs exactly 2 classes, found "
                         f"{len(names)}: {names}")
    if verbose:
        if not isinstance(labels, str):
            print(f"Found {len(paths)} files.")
        else:
            print(f"Found {len(paths)} files belonging to {len(names)} classes.")
    order = np.arange(len(paths))
    if shuffle:
        if seed is None:
            seed = int(np.random.default_rng().integers(1 << 31))
        order = np.random.default_rng(seed).permutation(len(paths))
    split = {}
    if validation_split is not None:
        n_val = int(validation_split * len(paths))
        split = {"training": order[:len(order) - n_val], "validation": order[len(order) - n_val:]}
        if subset != "both" and not len(split[subset]):
            raise ValueError(f"{fn}: validation_split={validation_split} leaves no files for "
                             f"the {subset} subset of {len(paths)}")
    loader = _Loader(Image, _CHANNELS[color_mode], size, interpolation, crop_to_aspect_ratio,
                     pad_to_aspect_ratio, on_bad_file)

    reshuffle = seed if shuffle else None           # each pass's order, from the same seed

    def make(indices, subset_name):
        chosen = [paths[i] for i in indices]
        chosen_labels = None if label_values is None else label_values[indices]
        if verbose and subset_name:
            print(f"Using {len(chosen)} files for {subset_name}.")
        return ImageDataset(chosen, chosen_labels, names if label_mode else None, label_mode,
                            len(names) if names else 0, batch_size, reshuffle, loader,
                            num_workers, prefetch)

    if subset is None:
        return make(order, None)
    if subset == "both":
        return make(split["training"], "training"), make(split["validation"], "validation")
    return make(split[subset], subset)


def _positive(value, name, fn):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {value!r}")
    return int(value)


class _Loader:
    """Decodes, converts and resizes one file into a float32 (height, width, channels)."""

    def __init__(self, Image, channels, size, interpolation, crop, pad, on_bad_file):
        self.Image, self.channels, self.size = Image, channels, size
        self.interpolation, self.crop, self.pad = interpolation, crop, pad
        self.on_bad_file = on_bad_file
        self._warned = set()
        self._lock = threading.Lock()

    def _pixels(self, img):
        """The image's pixels as uint8 (or float for 16-bit), in the wanted channel count."""
        if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
            # 16-bit grey: scaled to 0..255 as TensorFlow's decoder does to uint8
            grey = np.clip(np.asarray(img, dtype=np.float32) / 257, 0, 255)
            grey = np.round(grey).astype(np.uint8)
            img = self.Image.fromarray(grey, mode="L")
        want = {1: "L", 3: "RGB", 4: "RGBA"}[self.channels]
        if img.mode == "P":        # palette: to its colours first (transparency as alpha)
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        if img.mode != want:
            img = img.convert(want)
        return img

    def _geometry(self, h, w):
        """(top, left, height, width) of the window to resize (beyond the image: padding)."""
        th, tw = self.size
        if self.crop:
            ch = max(min(h, int(w * th / tw)), 1)
            cw = max(min(w, int(h * tw / th)), 1)
            return (h - ch) // 2, (w - cw) // 2, ch, cw
        if self.pad:
            ph = max(h, int(w * th / tw))
            pw = max(w, int(h * tw / th))
            return -((ph - h) // 2), -((pw - w) // 2), ph, pw
        return 0, 0, h, w

    def load(self, path):
        """The image as float32 (height, width, channels), or None if it is bad and bad files
        are skipped."""
        try:
            with self.Image.open(path) as img:
                img.load()
                img = self._pixels(img)
                if self.interpolation in _PILLOW:
                    return self._resize_pillow(img)
                a = np.asarray(img, dtype=np.float32)
        except (OSError, ValueError, SyntaxError, EOFError, self.Image.DecompressionBombError) \
                as e:
            reason = f"{type(e).__name__}: {e}"
            if self.on_bad_file == "error":
                raise ValueError(f"cannot decode image file {path} ({reason})") from None
            with self._lock:
                first = path not in self._warned
                self._warned.add(path)
            if first:
                warnings.warn(f"skipping image file {path}, which cannot be decoded ({reason})",
                              RuntimeWarning, stacklevel=2)
            return None
        if a.ndim == 2:
            a = a[:, :, None]
        top, left, h, w = self._geometry(*a.shape[:2])
        if top < 0 or left < 0:            # pad_to_aspect_ratio: zeros around the image
            padded = np.zeros((h, w, a.shape[2]), np.float32)
            padded[-top:-top + a.shape[0], -left:-left + a.shape[1]] = a
            a = padded
        else:
            a = a[top:top + h, left:left + w]
        if a.shape[:2] == self.size:
            return a
        return _api.image.resize_image(a, self.size, self.interpolation)

    def _resize_pillow(self, img):
        top, left, h, w = self._geometry(img.height, img.width)
        box = (left, top, left + w, top + h)
        if top < 0 or left < 0:
            canvas = self.Image.new(img.mode, (w, h))
            canvas.paste(img, (-left, -top))
            img, box = canvas, (0, 0, w, h)
        resample = getattr(self.Image.Resampling, _PILLOW[self.interpolation])
        out = img.resize((self.size[1], self.size[0]), resample=resample, box=box)
        a = np.asarray(out, dtype=np.float32)
        return a[:, :, None] if a.ndim == 2 else a


class ImageDataset:
    """What image_dataset_from_directory returns: iterating gives ``(images, labels)``
    batches (``images`` alone with label_mode None), a fresh pass (in a new order, if
    shuffled) each time. ``len()`` is the number of batches of a pass."""

    def __init__(self, file_paths, labels, class_names, label_mode, num_classes, batch_size,
                 seed, loader, num_workers, prefetch):
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self.label_mode = label_mode
        self.batch_size = batch_size
        self._labels = labels
        self._num_classes = num_classes
        self._shuffle = seed is not None
        self._rng = np.random.default_rng(seed) if self._shuffle else None
        self._loader = loader
        self._workers, self._prefetch = num_workers, prefetch

    def __len__(self):
        n = len(self.file_paths)
        return n if self.batch_size is None else -(-n // self.batch_size)

    def __repr__(self):
        return (f"<ImageDataset: {len(self.file_paths)} images, {len(self)} batches of "
                f"{self.batch_size}, classes {self.class_names}>")

    def _encode(self, labels):
        if self.label_mode == "int":
            return labels.astype(np.int32)
        if self.label_mode == "binary":
            return labels.astype(np.float32).reshape(-1, 1)
        from . import to_categorical       # (fastconv.utils imports this module first)
        return to_categorical(labels, self._num_classes)

    def _batch(self, indices):
        images = [self._loader.load(self.file_paths[i]) for i in indices]
        kept = [k for k, im in enumerate(images) if im is not None]
        if not kept:
            return None
        x = np.stack([images[k] for k in kept])
        if self.label_mode is None:
            return x
        return x, self._encode(self._labels[np.asarray(indices)[kept]])

    def _batches(self):
        n = len(self.file_paths)
        order = self._rng.permutation(n) if self._shuffle else np.arange(n)
        size = self.batch_size or 1
        return [order[i:i + size] for i in range(0, n, size)]

    def _decoded(self, pool, pending):
        """The batches of a pass in order, each submitted to the pool up to prefetch batches
        before it is taken."""
        for indices in self._batches():
            pending.append(pool.submit(self._batch, indices))
            if len(pending) > self._prefetch:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()

    def __iter__(self):
        with ThreadPoolExecutor(self._workers, thread_name_prefix="fastconv-images") as pool:
            pending = []
            try:
                for item in self._decoded(pool, pending):
                    if item is not None:           # None: every file of the batch was bad
                        yield _unbatch(item) if self.batch_size is None else item
            finally:
                for f in pending:          # a consumer that stops early: no decoding left
                    f.cancel()

    def take(self, count):
        """The first ``count`` batches of a pass (a list)."""
        out = []
        if count <= 0:
            return out
        for item in self:
            out.append(item)
            if len(out) == count:
                break
        return out


def _unbatch(item):
    if isinstance(item, tuple):
        return tuple(part[0] for part in item)
    return item[0]
