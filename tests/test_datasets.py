"""fastconv.datasets.mnist: reading, verifying and downloading the four IDX files."""
import functools
import gzip
import http.server
import os
import shutil
import threading

import numpy as np
import pytest

from fastconv.datasets import mnist

DATA_DIR = os.environ.get("FASTCONV_DATA_DIR")
needs_mnist = pytest.mark.skipif(
    not DATA_DIR or not os.path.isdir(os.path.join(DATA_DIR, "mnist")),
    reason="set FASTCONV_DATA_DIR to a folder holding mnist/ (CI uses ../shared/datasets)")


@needs_mnist
def test_load_data_returns_keras_arrays():
    (x, y), (xt, yt) = mnist.load_data()
    assert (x.shape, y.shape, xt.shape, yt.shape) == ((60000, 28, 28), (60000,),
                                                      (10000, 28, 28), (10000,))
    assert x.dtype == y.dtype == np.uint8 and x.flags.writeable
    assert list(y[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]     # the well-known first labels
    assert list(yt[:5]) == [7, 2, 1, 0, 4]
    assert x.max() == 255 and x.min() == 0
    assert np.bincount(y).tolist()[:3] == [5923, 6742, 5958]


@needs_mnist
def test_path_argument_accepts_the_folder_or_its_parent(monkeypatch):
    monkeypatch.delenv("FASTCONV_DATA_DIR")
    (_, y), _ = mnist.load_data(DATA_DIR)
    (_, y2), _ = mnist.load_data(os.path.join(DATA_DIR, "mnist"))
    np.testing.assert_array_equal(y, y2)


def test_missing_files_name_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCONV_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="FASTCONV_DATA_DIR=.*missing: train-images"):
        mnist.load_data()


def fake_files(folder, corrupt=None):
    """Small IDX files; their checksums replace the real ones in the test."""
    folder.mkdir(parents=True, exist_ok=True)
    table = {}
    for name, (_, shape) in mnist.FILES.items():
        small = (3,) + shape[1:]
        header = bytes([0, 0, 8, len(small)]) + b"".join(d.to_bytes(4, "big") for d in small)
        payload = header + bytes(i % 256 for i in range(int(np.prod(small))))
        with gzip.open(folder / name, "wb") as f:
            f.write(payload if name != corrupt else payload[:-1] + b"\xff")
        import hashlib
        table[name] = (hashlib.sha256(payload).hexdigest(), small)
    return table


def test_corrupt_file_is_refused(tmp_path, monkeypatch):
    table = fake_files(tmp_path / "mnist", corrupt="t10k-labels-idx1-ubyte.gz")
    monkeypatch.setattr(mnist, "FILES", table)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz is corrupt: SHA-256"):
        mnist.load_data(str(tmp_path))


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over tmp_path/served."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_into_user_cache_and_verify(tmp_path, monkeypatch, server):
    root, url = server
    table = fake_files(root)
    monkeypatch.setattr(mnist, "FILES", table)
    monkeypatch.setattr(mnist, "MIRRORS", [url + "missing/", url])   # first mirror fails
    monkeypatch.delenv("FASTCONV_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (x, y), (xt, yt) = mnist.load_data()
    assert x.shape == (3, 28, 28) and list(y) == [0, 1, 2]
    assert sorted(os.listdir(tmp_path / "cache" / "fastconv" / "mnist")) == sorted(table)
    shutil.rmtree(root)                      # now offline: the cache alone serves
    (x2, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x, x2)


def test_download_refuses_a_corrupt_copy_and_offline_names_the_variable(tmp_path, monkeypatch,
                                                                        server):
    root, url = server
    fake_files(root, corrupt="train-labels-idx1-ubyte.gz")
    monkeypatch.setattr(mnist, "FILES", fake_files(tmp_path / "good"))
    monkeypatch.setattr(mnist, "MIRRORS", [url])
    monkeypatch.delenv("FASTCONV_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(OSError, match="train-labels-idx1-ubyte.gz.*corrupt.*FASTCONV_DATA_DIR"):
        mnist.load_data()
    folder = tmp_path / "cache" / "fastconv" / "mnist"
    assert "train-labels-idx1-ubyte.gz" not in os.listdir(folder)
    assert not [n for n in os.listdir(folder) if n.endswith(".part")]
    monkeypatch.setattr(mnist, "MIRRORS", ["http://127.0.0.1:9/"])     # nothing listens
    with pytest.raises(OSError, match="Without internet access.*set FASTCONV_DATA_DIR"):
        mnist.load_data()
