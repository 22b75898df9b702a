"""to_categorical, set_random_seed, plot_model, plot_history."""
import sys

import numpy as np
import pytest

from fastconv import layers, models
from fastconv.utils import plot_model, set_random_seed, to_categorical


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([2, 0, 1]), np.eye(3)[[2, 0, 1]])
    out = to_categorical(np.array([[1], [3]], np.uint8), num_classes=5)
    assert out.shape == (2, 5) and out.dtype == np.float32 and out[1, 3] == 1
    assert to_categorical(np.array([1.0, 2.0])).shape == (2, 3)
    with pytest.raises(ValueError, match="label 3 does not fit num_classes=3"):
        to_categorical([3], 3)
    with pytest.raises(ValueError, match=">= 0"):
        to_categorical([-1, 1])
    with pytest.raises(ValueError, match="integer class labels"):
        to_categorical([0.5])
    with pytest.raises(TypeError, match="integer class labels"):
        to_categorical(["a"])


def test_set_random_seed_validates():
    with pytest.raises(ValueError, match="non-negative integer"):
        set_random_seed(-1)
    set_random_seed(3)
    a = layers.Dense(4)
    a.build((None, 3))
    set_random_seed(3)
    b = layers.Dense(4)
    b.build((None, 3))
    np.testing.assert_array_equal(a.kernel, b.kernel)


def small_model():
    return models.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                              layers.Flatten(), layers.Dense(2, activation="softmax")])


def test_plot_model_writes_a_png_with_a_unicode_name(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "手写辨识CNN.png"
    assert plot_model(small_model(), show_shapes=True, to_file=str(target)) == str(target)
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 300 and height > 200


def test_plot_model_without_matplotlib_names_the_extra(monkeypatch, tmp_path):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'fastconv\[plot\]'"):
        plot_model(small_model(), to_file=str(tmp_path / "m.png"))


def test_plot_history_draws_the_two_figures(tmp_path):
    pytest.importorskip("matplotlib")
    from fastconv.utils import plot_history
    model = models.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32)
    history = model.fit(x, (x[:, 0] > 0).astype(np.float32), epochs=3, verbose=0,
                        validation_split=0.25)
    path = tmp_path / "curves.png"
    assert plot_history(history, str(path)) == str(path)
    assert path.read_bytes()[:4] == b"\x89PNG"
    plot_history({"loss": [3, 2, 1]}, str(tmp_path / "loss.png"))       # a dict, loss only
    with pytest.raises(ValueError, match="History"):
        plot_history({"accuracy": [1]}, str(tmp_path / "x.png"))


def test_plot_history_without_matplotlib_names_the_extra(monkeypatch, tmp_path):
    from fastconv.utils import plot_history
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"plot_history needs matplotlib.*fastconv\[plot\]"):
        plot_history({"loss": [1]}, str(tmp_path / "x.png"))
