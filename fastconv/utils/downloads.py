"""get_file: a file from a URL, kept in a per-user cache, checked against its published hash,
as Keras's ``keras.utils.get_file`` (the same arguments)."""
import hashlib
import os
import sys

from .._files import atomic_write

__all__ = ["get_file", "default_cache_dir", "keras_cache_dir"]

TIMEOUT = 30          # seconds a connection or a read may stall before the download fails


def default_cache_dir():
    """fastconv's download cache: ``$FASTCONV_HOME``, else ``$XDG_CACHE_HOME/fastconv``, by
    default ``~/.cache/fastconv``."""
    if os.environ.get("FASTCONV_HOME"):
        return os.environ["FASTCONV_HOME"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastconv")


def keras_cache_dir():
    """Where Keras keeps its downloads: ``$KERAS_HOME``, by default ``~/.keras``."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def _algorithm(file_hash, hash_algorithm):
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5', got "
                         f"{hash_algorithm!r}")
    if hash_algorithm == "auto":
        return "sha256" if len(file_hash) == 64 else "md5"
    return hash_algorithm


def _digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _matches(path, file_hash, algorithm):
    return file_hash is None or (os.path.isfile(path) and
                                 _digest(path, algorithm) == file_hash.lower())


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """The path of the file at URL ``origin``, downloaded into
    ``cache_dir/cache_subdir/fname`` unless it is there already (``cache_dir`` defaults to
    fastconv's cache, ``default_cache_dir()``), as Keras's ``get_file``.

    With ``file_hash`` (SHA-256, or MD5 for a 32-digit hash; ``hash_algorithm`` to say
    which) a cached file must match it (else it is downloaded again) and so must a
    download (else ValueError naming the file, the URL and both hashes; nothing is kept). A
    file Keras downloaded (``~/.keras/<cache_subdir>/<fname>``) that matches the hash is used
    where it is, so nothing is downloaded twice. A download goes to a temporary file that
    takes the file's name only once it is whole and checked: an interruption leaves no torn
    file. Without network, or when the transfer stalls for 30 seconds or ends early, OSError
    naming the file, the URL and where to put a copy by hand.

    With ``extract=True`` (or ``untar``) a tar or zip archive is unpacked beside it (members
    that would land outside the folder are refused) and the folder's path returned.
    """
    if origin is None:
        raise ValueError('get_file: origin is required, e.g. origin="https://.../file.h5"')
    if fname is None:
        fname = os.path.basename(origin.split("?")[0].rstrip("/"))
        if not fname:
            raise ValueError(f"get_file: cannot take a file name from origin {origin!r}; "
                             f"pass fname")
    fname = os.fspath(fname)
    if os.sep in fname or (os.altsep and os.altsep in fname) or fname in (".", ".."):
        raise ValueError(f"get_file: fname must be a file name, not a path: {fname!r} (the "
                         f"folder is cache_dir)")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = None if file_hash is None else _algorithm(file_hash, hash_algorithm)
    folder = os.path.join(os.path.expanduser(cache_dir) if cache_dir is not None
                          else default_cache_dir(), cache_subdir)
    extract = extract or untar
    target = os.path.join(folder, fname)
    if not force_download and os.path.isfile(target) and _matches(target, file_hash,
                                                                  algorithm):
        return _extracted(target, archive_format) if extract else target
    keras_copy = os.path.join(keras_cache_dir(), cache_subdir, fname)
    if not force_download and cache_dir is None and file_hash is not None and \
            _matches(keras_copy, file_hash, algorithm):
        return _extracted(keras_copy, archive_format, folder) if extract else keras_copy
    os.makedirs(folder, exist_ok=True)
    _download(origin, target, file_hash, algorithm)
    return _extracted(target, archive_format) if extract else target


def _download(origin, target, file_hash, algorithm):
    import urllib.error
    import urllib.request          # here: it costs 20 ms of `import fastconv`

    by_hand = (f"Without network access, download {origin} elsewhere and put it at {target}"
               + (f" (its {algorithm} hash is {file_hash})" if file_hash else ""))
    print(f"Downloading data from {origin}", flush=True)
    h = hashlib.new(algorithm) if algorithm else None
    received = 0
    try:
        with urllib.request.urlopen(origin, timeout=TIMEOUT) as response, \
                atomic_write(target, suffix=".part") as out:
            length = response.headers.get("Content-Length")
            while chunk := response.read(1 << 20):
                out.write(chunk)
                received += len(chunk)
                if h is not None:
                    h.update(chunk)
            if length is not None and length.isdigit() and received != int(length):
                raise _Truncated(f"the transfer ended after {received:,} of {int(length):,} "
                                 f"bytes")
            if h is not None and h.hexdigest() != file_hash.lower():
                raise _HashMismatch(f"its {algorithm} hash is {h.hexdigest()}, the published "
                                    f"one {file_hash}")
    except _HashMismatch as e:
        raise ValueError(f"get_file: {os.path.basename(target)} downloaded from {origin} is "
                         f"not the published file: {e}; nothing was kept. {by_hand}") from None
    except (OSError, urllib.error.URLError, _Truncated) as e:
        reason = e if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", None) or e
        raise OSError(f"get_file: could not download {os.path.basename(target)} from "
                      f"{origin}: {reason}. {by_hand}") from None


class _Truncated(Exception):
    pass


class _HashMismatch(Exception):
    pass


def _extracted(archive, archive_format, folder=None):
    """The folder an archive unpacks into (beside it, or in folder), unpacked once."""
    import shutil
    import tarfile
    import zipfile           # here: tarfile's imports cost `import fastconv` milliseconds
    name = os.path.basename(archive)
    stem = name.split(".")[0] if "." in name else name + "_extracted"
    out = os.path.join(folder or os.path.dirname(archive), stem)
    if os.path.isdir(out) and os.listdir(out):
        return out
    kinds = ("tar", "zip") if archive_format == "auto" else (
        (archive_format,) if isinstance(archive_format, str) else tuple(archive_format))
    partial = out + ".part"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        if "tar" in kinds and tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                if sys.version_info >= (3, 12) or hasattr(tarfile, "data_filter"):
                    t.extractall(partial, filter="data")
                else:                                          # pragma: no cover
                    _check_members(partial, [m.name for m in t.getmembers()])
                    t.extractall(partial)
        elif "zip" in kinds and zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _check_members(partial, z.namelist())
                z.extractall(partial)
        else:
            raise ValueError(f"get_file: {archive} is not a {' or '.join(kinds)} archive")
        os.replace(partial, out)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as e:
        shutil.rmtree(partial, ignore_errors=True)
        raise ValueError(f"get_file: cannot unpack {archive}: {e}") from None
    return out


def _check_members(folder, names):
    root = os.path.realpath(folder)
    for member in names:
        where = os.path.realpath(os.path.join(root, member))
        if os.path.commonpath([root, where]) != root:
            raise ValueError(f"get_file: archive member {member!r} would land outside "
                             f"{folder}")
