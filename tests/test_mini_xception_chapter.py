"""The book's mini-Xception program (examples/keras_book_mini_xception.py) at a test's scale
on drawn pictures: it runs as written (the augmentation Sequential nested, SeparableConv2D
blocks with strided residuals), has Keras's parameter count, survives its files, and learns
the drawn task."""
import os

import numpy as np
import pytest

from fastconv import models, utils
from _helpers import edited_program
from fastconv.examples import drawn_images

pytest.importorskip("PIL")
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "keras_book_mini_xception.py")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    root = os.path.join(str(tmp_path_factory.mktemp("drawn")), "data")
    return drawn_images.write_folder(root, size=40, seed=5, formats=("png", "jpg"),
                                     split={"train": 200, "validation": 60})


def program(**changes):
    return edited_program(EXAMPLE, **changes)


def test_the_program_runs_as_written(drawn, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    text = program(**{"(180, 180": "(40, 40", "epochs=100": "epochs=1"})
    monkeypatch.chdir(os.path.dirname(drawn))
    namespace = {}
    exec(compile(text, EXAMPLE, "exec"), namespace)
    model = namespace["model"]
    # Keras 3.15.1 counts 721,857 parameters and 52 layers for this model (at any input size)
    assert model.count_params() == 721857 and len(model.layers) == 52
    assert [type(l).__name__ for l in model.layers[:4]] == ["InputLayer", "Sequential",
                                                            "Rescaling", "Conv2D"]
    assert sum(type(l).__name__ == "SeparableConv2D" for l in model.layers) == 10
    assert os.path.exists("mini_xception_history.png")
    x = np.concatenate([batch for batch, _ in namespace["validation_dataset"]])
    want = model.predict(x, verbose=0)
    model.save(str(tmp_path / "mini_xception.keras"))
    np.testing.assert_array_equal(models.load_model(str(tmp_path / "mini_xception.keras"))
                                  .predict(x, verbose=0), want)


def test_the_model_learns_the_drawn_task(drawn, monkeypatch):
    # the program's model at a quarter of its width and three blocks, on 32x32 pictures
    text = program(**{"(180, 180": "(32, 32", "[32, 64, 128, 256, 512]": "[8, 16, 32]",
                      "filters=32": "filters=8"})
    text = text.split("model.compile(")[0]
    monkeypatch.chdir(os.path.dirname(drawn))
    utils.set_random_seed(1)
    namespace = {}
    exec(compile(text, EXAMPLE, "exec"), namespace)
    model = namespace["model"]
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    # (BatchNormalization's moving statistics, momentum 0.99, need a few hundred steps
    # before validation sees what training sees: 25 epochs of 7 steps)
    history = model.fit(namespace["train_dataset"], epochs=25,
                        validation_data=namespace["validation_dataset"], verbose=0)
    # (chance is 0.5; RandomRotation(0.1) turns stripes by up to 36 degrees, which blurs
    # the two classes' 30 degrees of spread: 0.79 here)
    assert max(history.history["val_accuracy"][-3:]) >= 0.7, history.history
    assert history.history["accuracy"][-1] >= 0.75, history.history
