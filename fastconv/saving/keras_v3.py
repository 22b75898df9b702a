"""Keras 3's ``.keras`` files: a zip archive of ``metadata.json`` (the Keras version that
wrote it), ``config.json`` (the model's architecture and compile settings, see keras_config)
and ``model.weights.h5``, an HDF5 file holding each object's variables as datasets
``<path>/vars/0``, ``<path>/vars/1`` ...: ``layers/conv2d/vars/0`` is the first Conv2D's
kernel in model.layers order (not by layer name), ``optimizer/vars/0`` the optimizer's step
count.

HDF5 is read with h5py, the ``keras`` extra, imported only here and only when such a file is
opened. Reading trusts nothing in the file: the JSON members are read up to 16 MB, the HDF5
member up to what the model's own weights (and an optimizer's state) can take, and each
dataset's dtype and shape are checked against the variable it is meant for before its data
is read; every failure is a ValueError naming the file (reported by the caller).
"""
import io
import json
import zipfile

import numpy as np

from .._files import atomic_write
from .native import _DAMAGED

_MAX_JSON = 16 << 20
WEIGHTS = "model.weights.h5"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def h5py():
    """The h5py module, or an ImportError that says how to get it."""
    try:
        import h5py as module
    except ImportError:
        raise ImportError('Keras model files (.keras, .h5) need h5py, the "keras" extra: '
                          'pip install "fastconv[keras]"') from None
    return module


# The Keras release whose layout these files follow (metadata.json's keras_version; Keras reads
# the field for information only).
KERAS_VERSION = "3.15.1"
# What fastconv keeps beside Keras's members (its random generators' states), which Keras
# ignores.
EXTRA = "fastconv.json"


def _h5_bytes(variables):
    """An HDF5 file holding variables ({"layers/conv2d": [kernel, bias], ...}) as Keras
    lays them out: each array as <path>/vars/<i>, and the model's own empty vars group."""
    buffer = io.BytesIO()
    with h5py().File(buffer, "w", track_order=True) as f:
        f.create_group("vars")
        for where, arrays in variables.items():
            group = f.create_group(f"{where}/vars")
            for i, array in enumerate(arrays):
                group.create_dataset(str(i), data=np.asarray(array))
    return buffer.getvalue()


def write_weights(path, variables):
    """A Keras 3 weights file (what Keras's save_weights writes to x.weights.h5), atomically."""
    data = _h5_bytes(variables)
    with atomic_write(path) as f:
        f.write(data)


def is_hdf5(path):
    with open(path, "rb") as f:
        return f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE


class weights_file:
    """An open Keras 3 weights file (``.weights.h5``), read whole up to budget bytes: the
    H5Store, as a context manager; ValueError naming the file if it is not one."""

    def __init__(self, path, budget):
        self.path, self.budget = path, budget

    def __enter__(self):
        with open(self.path, "rb") as f:
            data = f.read(self.budget + 1)
        where = f"load_weights: {self.path}"
        if len(data) > self.budget:
            raise ValueError(f"{where}: larger than the model's weights can make it "
                             f"({self.budget} bytes)")
        try:
            self.store = H5Store(data)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        except _DAMAGED as e:
            raise ValueError(f"{where} is not a complete HDF5 file ({type(e).__name__}: "
                             f"{e})") from None
        return self.store

    def __exit__(self, *exc):
        self.store.close()


def write(path, config, variables, extra=None):
    """Write a .keras file atomically: config (Keras's model config) as config.json, the
    variables ({"layers/conv2d": [kernel, bias], ...}, each written as <path>/vars/<i>) in
    model.weights.h5, and extra (JSON-able) as fastconv.json. The same model gives the same
    bytes (no dates, fixed zip times)."""
    members = [("metadata.json", json.dumps({"keras_version": KERAS_VERSION})),
               ("config.json", json.dumps(config)), ("model.weights.h5", _h5_bytes(variables))]
    if extra is not None:
        members.append((EXTRA, json.dumps(extra)))
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
            for name, data in members:
                archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)


def is_keras_archive(names):
    """Whether a zip archive's member names are a Keras 3 model file's."""
    return WEIGHTS in names or ("metadata.json" in names and "config.json" in names)


class KerasArchive:
    """An open ``.keras`` file (its bytes): ``config`` (config.json's dict), ``metadata``, and
    ``weights(budget)``, the HDF5 weights store. Use as a context manager."""

    def __init__(self, content):
        self._zip = zipfile.ZipFile(io.BytesIO(content))
        names = set(self._zip.namelist())
        for required in ("config.json", WEIGHTS):
            if required not in names:
                raise ValueError(f"a Keras archive without {required}")
        self.config = self._json("config.json")
        self.metadata = self._json("metadata.json") if "metadata.json" in names else {}
        self.extra = self._json(EXTRA) if EXTRA in names else None
        if not isinstance(self.config, dict):
            raise ValueError("its config.json is not a dict")
        if not isinstance(self.metadata, dict):
            raise ValueError("its metadata.json is not a dict")
        self._h5 = None

    def _json(self, name):
        with self._zip.open(name) as f:
            text = f.read(_MAX_JSON + 1)
        if len(text) > _MAX_JSON:
            raise ValueError(f"its {name} is larger than 16 MB")
        try:
            return json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise ValueError(f"its {name} is not JSON ({type(e).__name__}: {e})") from None

    def weights(self, budget):
        """The weights store, its HDF5 bytes read up to budget bytes (more: refused)."""
        if self._h5 is None:
            with self._zip.open(WEIGHTS) as f:
                data = f.read(budget + 1)
            if len(data) > budget:
                raise ValueError(f"its {WEIGHTS} is larger than the model's weights can "
                                 f"make it ({budget} bytes)")
            self._h5 = H5Store(data)
        return self._h5

    def close(self):
        if self._h5 is not None:
            self._h5.close()
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_dataset(where, dataset, shape, integer=False):
    """A dataset's values, after checking it is one, floating (or integer), of this shape."""
    if not isinstance(dataset, h5py().Dataset):
        raise ValueError(f"{where} is not a dataset")
    if dataset.dtype.kind not in ("iu" if integer else "f") or dataset.dtype.itemsize > 8:
        raise ValueError(f"{where} has dtype {dataset.dtype}, where a "
                         f"{'integer' if integer else 'floating'} array is expected")
    if tuple(dataset.shape) != tuple(shape):
        raise ValueError(f"{where} has shape {tuple(dataset.shape)}, where the model's "
                         f"variable has {tuple(shape)}")
    try:
        return dataset[()]
    except _DAMAGED as e:
        raise ValueError(f"{where} cannot be read ({type(e).__name__}: {e})") from None


class H5Store:
    """Variables in an HDF5 file laid out as Keras 3 lays them out: ``vars(path)`` lists the
    datasets of ``<path>/vars`` in order, ``read(path, i, shape)`` reads one after checking
    it is a floating (or, given integer=True, integer) array of that shape."""

    def __init__(self, data):
        if not data.startswith(_HDF5_SIGNATURE):
            raise ValueError("its weights are not an HDF5 file")
        self.data = data                  # the bytes, for a legacy reader of the same file
        self._file = h5py().File(io.BytesIO(data), "r")

    def count(self, path):
        """How many variables ``<path>/vars`` holds (0 if there is no such group)."""
        group = self._group(path)
        if group is None:
            return 0
        names = sorted(group.keys(), key=lambda n: (len(n), n))
        if names != [str(i) for i in range(len(names))]:
            raise ValueError(f"{path}/vars holds {names[:10]}, not variables 0, 1, ...")
        return len(names)

    def _group(self, path):
        name = f"{path}/vars" if path else "vars"
        if name not in self._file:
            return None
        group = self._file[name]
        if not isinstance(group, h5py().Group):
            raise ValueError(f"{name} is not a group")
        return group

    def read(self, path, i, shape, integer=False):
        group = self._group(path)
        key = str(i)
        if group is None or key not in group:
            raise ValueError(f"{path}/vars/{key} is missing")
        return read_dataset(f"{path}/vars/{key}", group[key], shape, integer)

    def is_legacy(self):
        """Whether this is a legacy (Keras 2 layout) weights file rather than Keras 3's."""
        f = self._file
        return "layers" not in f and ("layer_names" in f.attrs or "layer_names0" in f.attrs
                                      or "model_weights" in f)

    def read_layer(self, path, shapes):
        """The floating arrays of these shapes in ``<path>/vars``, which must hold as many."""
        count = self.count(path) if path else 0
        if count != len(shapes):
            raise ValueError(f"a layer with {len(shapes)} weights finds {count} in {path}/vars")
        return [self.read(path, i, shape) for i, shape in enumerate(shapes)]

    def close(self):
        self._file.close()
