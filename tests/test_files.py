"""Files that survive a crash: a writer killed or failing at any point leaves the old file or
the new one, whole (fastconv._files.atomic_write, used by save_weights and the MNIST download)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastconv import _files, layers, models

WRITER = textwrap.dedent("""
    import io, os, sys, time
    import numpy as np
    from fastconv import layers, models
    model = models.Sequential([layers.Dense(1000, input_shape=(2000,))])
    model.build((2000,))
    path = sys.argv[1]
    stop_in = int(sys.argv[2]) if len(sys.argv) > 2 else 0

    class Stalling(io.BufferedWriter):
        # a hook inside the writer: once 4 MB of the 8 MB file are on disk, say so and stall
        written = 0

        def write(self, data):
            n = super().write(data)
            type(self).written += n
            if type(self).written > 4 << 20:
                self.flush()
                print("mid-write", flush=True)
                time.sleep(600)
            return n

    fdopen = os.fdopen
    version = 0
    while True:
        version += 1
        if version == stop_in:          # this save's file object stalls half-way
            os.fdopen = lambda fd, mode="r", *a, **k: (
                Stalling(io.FileIO(fd, "w")) if mode == "wb" else fdopen(fd, mode, *a, **k))
        model.set_weights([np.full(w.shape, version, w.dtype) for w in model.get_weights()])
        model.save_weights(path)
        print(version, flush=True)
""")


def start_writer(path, *args):
    """WRITER saving to path in a loop, in a process of its own (one kernel thread)."""
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), *args],
                            cwd=os.path.dirname(path), stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def saves_in(path):
    """The saves (WRITER's versions) whose weights the file at path holds."""
    loaded = big_model()
    loaded.load_weights(path)
    return {float(v) for w in loaded.get_weights() for v in np.unique(w)}


def big_model():
    model = models.Sequential([layers.Dense(1000, input_shape=(2000,))])
    model.build((2000,))
    return model


def test_a_writer_killed_mid_write_leaves_a_whole_file(tmp_path):
    # A process saving 8 MB of weights in a loop is killed with SIGKILL at moments spread
    # over its writes; each time the file must load, whole, with every weight from one save.
    path = tmp_path / "model.weights.npz"
    model = big_model()
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.save_weights(path)                          # the old file: version 0
    for attempt in range(6):
        proc = start_writer(path)
        saved = int(proc.stdout.readline())           # it has saved at least once
        time.sleep(0.003 + 0.011 * attempt)           # then lands somewhere in a later save
        kill(proc)
        values = saves_in(path)
        assert len(values) == 1, f"a torn file: weights from saves {sorted(values)}"
        assert values.pop() >= saved
    # what a kill can leave besides: temporary files, never under the target's name
    assert all(n == path.name or (n.startswith(".fastconv-") and n.endswith(".tmp"))
               for n in os.listdir(tmp_path))


def test_a_writer_killed_inside_a_write_leaves_the_old_file(tmp_path):
    # the kill provably lands mid-write: the writer's file object stalls after 4 MB of the
    # third save, the half-written temporary file is seen on disk, then SIGKILL
    path = tmp_path / "model.weights.npz"
    proc = start_writer(path, "3")
    try:
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines == ["1", "2", "mid-write"]
        whole = path.stat().st_size
        partial = [n for n in os.listdir(tmp_path) if n != path.name]
        assert len(partial) == 1 and partial[0].startswith(".fastconv-")
        assert 4 << 20 < (tmp_path / partial[0]).stat().st_size < whole
    finally:
        kill(proc)
    assert saves_in(path) == {2.0}
    assert path.stat().st_size == whole


def test_a_write_that_fails_part_way_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.weights.npz"
    model = big_model()
    model.save_weights(path)
    before = path.read_bytes()

    real_savez = np.savez

    def savez_then_fail(f, **arrays):
        real_savez(f, **dict(list(arrays.items())[:2]))      # part of the archive written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    model.set_weights([w + 1 for w in model.get_weights()])
    with pytest.raises(OSError, match="No space left"):
        model.save_weights(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]               # no temporary file left behind
    monkeypatch.undo()
    big_model().load_weights(path)


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with _files.atomic_write(target) as f:
            f.write(b"new, but interrupted")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["t.bin"]
    with _files.atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["t.bin"]
    with _files.atomic_write(tmp_path / "fresh.bin") as f:      # no old file to replace
        f.write(b"x")
    assert (tmp_path / "fresh.bin").read_bytes() == b"x"


def test_save_weights_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError):
        big_model().save_weights(tmp_path / "no such folder" / "w.npz")


def test_a_saved_file_has_the_permissions_of_a_new_file_or_of_the_old_one(tmp_path):
    atomic_write = _files.atomic_write
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "new.bin") as f:
            f.write(b"x")
        assert os.stat(tmp_path / "new.bin").st_mode & 0o777 == 0o640
        os.chmod(tmp_path / "new.bin", 0o604)
        with atomic_write(tmp_path / "new.bin") as f:
            f.write(b"y")
        assert os.stat(tmp_path / "new.bin").st_mode & 0o777 == 0o604
    finally:
        os.umask(old)
