"""The fastconv command and the MNIST example it runs, on a small stand-in for MNIST."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from fastconv import cli
from fastconv.examples import mnist as example


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["train-mnist", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for option in ("--epochs", "--batch-size", "--data-dir", "--plot-file", "--seed"):
        assert option in out


def test_train_mnist_runs_the_program_and_reports_epoch_times(monkeypatch, tmp_path, capsys):
    rng = np.random.default_rng(0)

    def small_mnist(path=None):
        # the example reshapes to 60,000 and 10,000 images, so keep those counts but
        # train on a slice through a smaller fit
        x = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, 60000).astype(np.uint8)
        return (x, y), (x[:10000], y[:10000])

    monkeypatch.setattr(example.mnist, "load_data", small_mnist)
    real_fit = example.models.Sequential.fit

    def short_fit(self, x, y, **kwargs):
        return real_fit(self, x[:256], y[:256], **kwargs)

    monkeypatch.setattr(example.models.Sequential, "fit", short_fit)
    monkeypatch.setattr(example.models.Sequential, "evaluate",
                        lambda self, x, y, verbose=1: [1.0, 0.5])
    pytest.importorskip("matplotlib")
    picture = tmp_path / "net.png"
    pictures = tmp_path / "pictures" / "new"
    assert cli.main(["train-mnist", "--epochs", "2", "--batch-size", "64", "--seed", "1",
                     "--plot-file", str(picture), "--verbose", "2",
                     "--pictures", str(pictures)]) == 0
    out = capsys.readouterr().out
    assert picture.read_bytes()[:4] == b"\x89PNG"
    # conv1's and conv2's names depend on how many Conv2D this process made before
    drawn = sorted(os.listdir(pictures))
    assert drawn[0] == "feature_maps.png" and drawn[-1] == "grad_cam.png" and len(drawn) == 4
    assert all(name.startswith("filter_patterns_conv2d") for name in drawn[1:3])
    for name in drawn:
        assert (pictures / name).read_bytes()[:4] == b"\x89PNG"
        assert f"wrote {pictures / name}" in out
    assert "Total params: 93,322" in out and "Epoch 2/2" in out
    assert "test_acc: 0.5" in out and "seconds per epoch: " in out


def test_info_shows_the_build(capsys):
    import fastconv
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("fastconv:", "numpy:", "compiler:", "openmp:", "threads:", "simd compiled:",
                "simd in use:"):
        assert key in out
    info = fastconv._info.config()
    assert info["fastconv"] == fastconv.__version__ and info["numpy"] == np.__version__
    assert info["threads"] == fastconv.get_num_threads()
    assert info["simd in use"] in fastconv._config.simd_paths()
    assert info["simd this cpu"] == ", ".join(fastconv._config.simd_paths())
    assert info["simd compiled"].startswith("generic")
    assert info["compiler"] != "unknown"
    assert info["location"] == os.path.dirname(os.path.abspath(fastconv.__file__))
    if fastconv._conv.openmp_enabled() and sys.platform.startswith("linux"):
        assert "gomp" in info["openmp"] or "omp" in info["openmp"].split(", ", 1)[1]


def fastconv_command(*args, **env):
    """(exit status, stdout, stderr) of the installed `fastconv` entry point, run as a user
    would (python -m fastconv, outside the checkout)."""
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([sys.executable, "-m", "fastconv", *args], cwd=cwd,
                              env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("wanted", ["generic", "avx2", "avx512", "AVX512", "sse9", ""])
def test_fastconv_simd_forces_a_path_or_warns(wanted):
    import fastconv
    paths = fastconv._config.simd_paths()
    code, out, err = fastconv_command("info", FASTCONV_SIMD=wanted)
    assert code == 0, err
    in_use = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                  if line.startswith("simd in use:"))
    name = {"avx2": "avx2+fma"}.get(wanted.lower(), wanted.lower())
    if name in paths:
        assert in_use == name and "RuntimeWarning" not in err
    else:                                   # unknown or not on this CPU: the best, warned
        assert in_use == paths[-1]
        assert ("RuntimeWarning" in err) == bool(wanted), err
        assert wanted == "" or f"FASTCONV_SIMD={wanted!r}" in err


@pytest.mark.parametrize("args,status,message", [
    (["train-mnist", "--epochs", "0"], 2, "argument --epochs: expected a positive integer"),
    (["train-mnist", "--batch-size", "many"], 2, "expected a positive integer, got 'many'"),
    (["train-mnist", "--seed", "-3"], 2, "expected an integer >= 0, got -3"),
    (["train-mnist", "--verbose", "7"], 2, "invalid choice: 7"),
    (["train-mnist", "--data-dir", "/no/such/folder"], 1, "--data-dir: no such folder"),
    (["train-mnist", "--plot-file", "/no/such/folder/net.png"], 1,
     "--plot-file: no such folder: /no/such/folder"),
    (["train-mnist", "--plot-file", "", "--pictures", "/etc/hostname/pics"], 1,
     "--pictures: /etc/hostname is a file, not a folder"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
])
def test_user_errors_print_one_line_and_exit_nonzero(args, status, message):
    code, out, err = fastconv_command(*args)
    assert code == status
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_no_data_and_no_internet_is_one_line_naming_the_fix(tmp_path, monkeypatch, capsys):
    # offline: the mirrors refuse at once; the message says how to point at local files
    monkeypatch.setattr(example.mnist, "MIRRORS", ["http://127.0.0.1:9/"])
    monkeypatch.delenv("FASTCONV_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cli.main(["train-mnist", "--plot-file", ""]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastconv: error: MNIST: could not download") and err.count("\n") == 1
    assert "FASTCONV_DATA_DIR" in err
    # --debug keeps the traceback, for a bug report
    with pytest.raises(example.CommandError, match="could not download"):
        cli.main(["train-mnist", "--plot-file", "", "--debug"])


def test_a_folder_without_the_files_is_one_line(tmp_path):
    code, _, err = fastconv_command("train-mnist", "--plot-file", "",
                                    FASTCONV_DATA_DIR=str(tmp_path))
    assert code == 1 and err.count("\n") == 1 and "missing: train-images" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_output_folder_is_refused_before_training(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, _, err = fastconv_command("train-mnist", "--plot-file", str(folder / "n.png"))
    finally:
        folder.chmod(0o700)
    assert code == 1 and "cannot write into" in err


@pytest.mark.parametrize("argv,message", [
    (["train-mnist", "--plot-file", "{locked}/n.png"], "--plot-file: cannot write into {locked}"),
    (["train-mnist", "--plot-file", "", "--pictures", "{locked}/new/p"],
     "--pictures: cannot write into {locked}"),
    (["train-images", "{tmp}", "--out", "{locked}/out"], "--out: cannot write into {locked}"),
    (["train-images", "{tmp}", "--out", "{tmp}/out", "--pictures", "{locked}"],
     "--pictures: cannot write into {locked}")], ids=["plot-file", "mnist-pictures", "out",
                                                     "images-pictures"])
def test_every_unwritable_folder_is_refused_before_training(monkeypatch, tmp_path, capsys,
                                                           argv, message):
    # CI runs as root, for whom os.access finds every folder writable, so the checks are
    # reached by an os.access that refuses one folder
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and os.path.abspath(path).startswith(str(locked)):
            return False
        return real(path, mode, *args, **kwargs)
    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(example.models.Sequential, "fit", lambda *a, **k: pytest.fail("trained"))
    paths = dict(locked=locked, tmp=tmp_path)
    assert cli.main([a.format(**paths) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err == f"fastconv: error: {message.format(**paths)}\n"


def test_a_bug_still_shows_its_traceback(monkeypatch):
    # anything that is not the user's to fix propagates (the console script prints it)
    monkeypatch.setattr(example, "run", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cli.main(["train-mnist", "--plot-file", ""])


def test_a_picture_that_cannot_be_written_stops_before_training(monkeypatch, capsys):
    # /proc accepts no new files, even from root (for whom os.access says every folder is
    # writable): the error comes when the picture is drawn, still before training starts
    pytest.importorskip("matplotlib")
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux's /proc")
    x = np.zeros((60000, 28, 28), np.uint8)
    y = np.zeros(60000, np.uint8)
    monkeypatch.setattr(example.mnist, "load_data",
                        lambda path=None: ((x, y), (x[:10000], y[:10000])))
    monkeypatch.setattr(example.models.Sequential, "fit", lambda *a, **k: pytest.fail("trained"))
    assert cli.main(["train-mnist", "--plot-file", "/proc/fastconv-net.png"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastconv: error: cannot write the picture /proc/fastconv-net.png")
    assert err.count("\n") == 1
