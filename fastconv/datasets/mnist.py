"""MNIST as Keras returns it, from the four standard IDX files.

``load_data(path=None)`` looks for the files in ``path``, else in ``$FASTCONV_DATA_DIR/mnist``,
else in a per-user cache folder (``$XDG_CACHE_HOME/fastconv/mnist``, by default
``~/.cache/fastconv/mnist``), where missing files are downloaded. Every file's uncompressed
payload is checked against its published SHA-256 whenever it is read.
"""
import gzip
import hashlib
import os
import zlib

import numpy as np

from .._files import atomic_write

# file: (SHA-256 of the uncompressed payload, shape)
FILES = {
    "train-images-idx3-ubyte.gz":
        ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz":
        ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", (60000,)),
    "t10k-images-idx3-ubyte.gz":
        ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz":
        ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", (10000,)),
}
MIRRORS = [
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
]
ENV_VAR = "FASTCONV_DATA_DIR"


def cache_dir():
    """The per-user folder that downloads go to."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastconv", "mnist")


def load_data(path=None):
    """``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes (60000, 28, 28),
    (60000,), (10000, 28, 28), (10000,), as keras.datasets.mnist.load_data returns.

    Parameters
    ----------
    path : str, optional
        Folder holding the four .gz files (or holding a ``mnist`` folder that does).

    Raises
    ------
    FileNotFoundError
        The files are not in ``path`` or ``$FASTCONV_DATA_DIR/mnist``.
    OSError
        They had to be downloaded and could not be (for example offline).
    ValueError
        A file is corrupt: its payload does not match the published checksum.
    """
    folder = _folder(path)
    arrays = [_read_idx(os.path.join(folder, name), *FILES[name]) for name in FILES]
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def _has_all(folder):
    return all(os.path.isfile(os.path.join(folder, name)) for name in FILES)


def _folder(path):
    for given, source in ((path, "path"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if not given:
            continue
        for folder in (given, os.path.join(given, "mnist")):
            if _has_all(folder):
                return folder
        missing = [n for n in FILES if not os.path.isfile(os.path.join(given, "mnist", n))]
        raise FileNotFoundError(f"MNIST: {source}={given!r} holds neither the four files nor a "
                                f"'mnist' folder with them (missing: {', '.join(missing)})")
    folder = cache_dir()
    _download_missing(folder)
    return folder


def _download_missing(folder):
    os.makedirs(folder, exist_ok=True)
    for name, (sha256, _) in FILES.items():
        target = os.path.join(folder, name)
        if os.path.isfile(target):
            continue
        errors = []
        for mirror in MIRRORS:
            try:
                _download(mirror + name, target, sha256)
                break
            except (OSError, ValueError) as e:
                errors.append(f"{mirror + name}: {e}")
        else:
            raise OSError(f"MNIST: could not download {name} into {folder} ("
                          + "; ".join(errors) + f"). Without internet access, put the four "
                          f"files in DIR/mnist and set {ENV_VAR}=DIR, or pass load_data(path=...)")


def _download(url, target, sha256):
    import urllib.request          # here, not at the top: it costs 20 ms of `import fastconv`

    # held in memory (11 MB in all) and checked there; only a verified file takes the real
    # name, through an atomic replace, so an interrupted download leaves nothing behind
    with urllib.request.urlopen(url, timeout=60) as response:
        data = bytearray()
        while chunk := response.read(1 << 20):
            data += chunk
    _verify(bytes(data), sha256, url)
    with atomic_write(target, suffix=".part") as out:
        out.write(data)


def _verify(data, sha256, name):
    """The payload of gzip `data` named `name`, if its SHA-256 is sha256; else ValueError."""
    try:
        payload = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"MNIST: {name} is not a readable gzip file ({e})") from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != sha256:
        raise ValueError(f"MNIST: {name} is corrupt: SHA-256 of its payload is {digest}, "
                         f"expected {sha256}; delete it and load again")
    return payload


def _payload(filename, sha256):
    with open(filename, "rb") as f:
        return _verify(f.read(), sha256, filename)


def _read_idx(filename, sha256, shape):
    """The uint8 array in an IDX file (magic 0x0000 08 <ndim>, big-endian dimensions)."""
    data = _payload(filename, sha256)
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if data[:3] != b"\x00\x00\x08" or dims != shape:
        raise ValueError(f"MNIST: {filename} is not an IDX file of uint8 {shape}")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()
