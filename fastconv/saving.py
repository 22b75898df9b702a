"""Weights files: what ``Sequential.save_weights`` writes and ``load_weights`` reads.

A file is an ``.npz`` archive (a zip of ``.npy`` arrays): ``__meta__`` holds a JSON description
(format name, version, and each layer's class name and weight shapes), ``w0000``, ``w0001`` ...
the weights in the model's order. Nothing is pickled. Files are written atomically
(fastconv._files.atomic_write). Reading trusts nothing in the file: the description must equal
the model's own before any array is read, and each array's header (dtype and shape) is checked
against it before its data is, so a hostile or damaged file costs no more memory than the
model's weights and is refused with a ValueError that names it.
"""
import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np

from ._files import atomic_write

FORMAT = "fastconv-weights"
_MAX_META_BYTES = 1 << 20

# What a damaged archive can raise inside zipfile and numpy's .npy reader, besides ValueError
# (numpy's header checks): torn or altered zip structures, unsupported or encrypted entries,
# bad compressed data, headers that do not parse.
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, KeyError, ValueError,
            TypeError, NotImplementedError, RuntimeError, OverflowError, IndexError,
            struct.error, zlib.error, OSError, SyntaxError)


def save_weights(path, architecture, weights):
    """Write `weights` (arrays) and `architecture` (JSON-able) to `path`, atomically."""
    meta = {"format": FORMAT, "version": 1, "layers": architecture}
    arrays = {f"w{i:04d}": w for i, w in enumerate(weights)}
    with atomic_write(path) as f:
        np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)


def _read_member(archive, name, shape=None, max_bytes=None):
    """The array in member `name`, its header checked first (dtype floating, shape given)."""
    with archive.open(name + ".npy") as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):      # what np.savez writes for plain arrays
            raise ValueError(f"unsupported .npy version {version}")
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape_, fortran, dtype = header(f)
        if shape is not None and (list(shape_) != list(shape) or dtype.kind != "f"):
            raise ValueError(f"{name} holds {dtype} {shape_} where the description says "
                             f"floating {tuple(shape)}")
        if max_bytes is not None and dtype.itemsize * int(np.prod(shape_)) > max_bytes:
            raise ValueError(f"{name} is larger than {max_bytes} bytes")
    # read again from the start, now that its size is known to be what we expect
    with archive.open(name + ".npy") as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def load_weights(path, architecture):
    """The weight arrays in `path`, a file save_weights wrote for `architecture`.

    OSError if the file cannot be read (missing, a folder, no permission); ValueError naming
    the file if it is not a complete fastconv weights file or was saved from other layers.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        content = f.read()
    expected = json.loads(json.dumps(architecture))      # lists all the way down, as in a file
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            meta = _read_member(archive, "__meta__", max_bytes=_MAX_META_BYTES)
            if meta.dtype.kind != "U" or meta.ndim != 0:
                raise ValueError("no fastconv description inside")
            meta = json.loads(str(meta))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ValueError("not a fastconv weights file")
            layers = meta.get("layers")
            if layers != expected:
                raise _Mismatch(layers)
            shapes = [shape for _, layer_shapes in expected for shape in layer_shapes]
            return [_read_member(archive, f"w{i:04d}", shape) for i, shape in enumerate(shapes)]
    except _Mismatch as e:
        found = repr(e.layers)
        found = found if len(found) <= 300 else found[:300] + "..."
        raise ValueError(f"load_weights: {path} holds weights for layers {found}, but the "
                         f"model has {expected}") from None
    except _DAMAGED as e:
        raise ValueError(f"load_weights: {path} is not a complete fastconv weights file "
                         f"({type(e).__name__}: {e})") from None


class _Mismatch(Exception):
    def __init__(self, layers):
        super().__init__()
        self.layers = layers
