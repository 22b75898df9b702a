"""The fastconv command and the MNIST example it runs, on a small stand-in for MNIST."""
import os
import sys

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
    assert cli.main(["train-mnist", "--epochs", "2", "--batch-size", "64", "--seed", "1",
                     "--plot-file", str(picture), "--verbose", "2"]) == 0
    out = capsys.readouterr().out
    assert picture.read_bytes()[:4] == b"\x89PNG"
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
    assert info["simd in use"] in ("generic", "avx2+fma")
    assert info["compiler"] != "unknown"
    assert info["location"] == os.path.dirname(os.path.abspath(fastconv.__file__))
    if fastconv._conv.openmp_enabled() and sys.platform.startswith("linux"):
        assert "gomp" in info["openmp"] or "omp" in info["openmp"].split(", ", 1)[1]
