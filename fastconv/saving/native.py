"""fastconv's own file formats, which need NumPy alone: weights files (what
``save_weights`` writes and ``load_weights`` reads) and whole-model files (``save`` and
``models.load_model``).

A weights file is an ``.npz`` archive (a zip of ``.npy`` arrays): ``__meta__`` holds a JSON
description (format name, version, and each layer's class name and weight shapes), ``w0000``,
``w0001`` ... the weights in the model's order. Nothing is pickled. Files are written atomically
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

from .._files import atomic_write

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


# ---------------------------------------------------------------------------------------------
# whole-model files: Sequential.save and models.load_model

MODEL_FORMAT = "fastconv-model"
MODEL_VERSION = 1
_MAX_CONFIG_BYTES = 16 << 20


def _json_ready(value):
    """value with tuples as lists and NumPy scalars as Python ones, for json.dumps."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(path, config, arrays):
    """Write a model file: ``config.json`` (the JSON-able ``config``) and one ``.npy`` member
    per entry of ``arrays`` (name -> array), into a zip archive, atomically."""
    text = json.dumps(_json_ready(config), indent=1, allow_nan=False)
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
            # a fixed date, as the .npy members get: the same model gives the same bytes
            archive.writestr(zipfile.ZipInfo("config.json", (1980, 1, 1, 0, 0, 0)), text)
            for name, array in arrays.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(array),
                                              allow_pickle=False)


class ModelFile:
    """An open model file: ``config`` (its JSON, format and version checked) and
    ``array(name, shape)``, which checks a member's header against the shape the model
    expects before reading its data. Use as a context manager; every failure to read is a
    ValueError naming the file."""

    def __init__(self, path, content=None):
        self.path = os.fspath(path)
        if content is None:
            with open(self.path, "rb") as f:
                content = f.read()
        try:
            self._archive = zipfile.ZipFile(io.BytesIO(content))
            names = set(self._archive.namelist())
            if "config.json" not in names:
                if "model.weights.h5" in names:
                    raise _Refused("it is a Keras model file (HDF5 weights inside); fastconv "
                                   "reads the files its own Model.save writes")
                raise _Refused("not a fastconv model file (no config.json inside)")
            with self._archive.open("config.json") as f:
                text = f.read(_MAX_CONFIG_BYTES + 1)
            if len(text) > _MAX_CONFIG_BYTES:
                raise _Refused("its config.json is larger than 16 MB")
            config = json.loads(text.decode("utf-8"))
        except _Refused as e:
            raise ValueError(f"load_model: {self.path}: {e}") from None
        except _DAMAGED + (UnicodeDecodeError,) as e:
            raise ValueError(f"load_model: {self.path} is not a complete fastconv model file "
                             f"({type(e).__name__}: {e})") from None
        if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
            raise ValueError(f"load_model: {self.path} is not a fastconv model file")
        version = config.get("version")
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"load_model: {self.path} has a damaged format version "
                             f"{version!r}")
        if version > MODEL_VERSION:
            raise ValueError(f"load_model: {self.path} was written in model format version "
                             f"{version} by fastconv {config.get('fastconv_version', '?')}; "
                             f"this fastconv reads versions up to {MODEL_VERSION}: upgrade "
                             f"fastconv to load it")
        self.config = config

    def array(self, name, shape):
        try:
            return _read_member(self._archive, name, shape)
        except _DAMAGED as e:
            raise ValueError(f"load_model: {self.path}: member {name} is damaged or does not "
                             f"fit the model ({type(e).__name__}: {e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._archive.close()


class _Refused(Exception):
    pass
