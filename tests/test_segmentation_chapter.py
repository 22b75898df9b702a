"""The book's image-segmentation program (examples/keras_book_segmentation.py) at a test's
scale, on pictures and trimaps drawn into a temporary folder (the Oxford-IIIT Pet layout):
it runs, checkpoints and reloads, and its model learns the drawn task."""
import os

import numpy as np
import pytest

from fastconv import cli
from _helpers import edited_program
from fastconv.examples import drawn_images

pytest.importorskip("PIL")
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "keras_book_segmentation.py")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("pets"))
    assert cli.main(["draw-images", folder, "--segmentation", "--count", "240", "--size",
                     "40", "--seed", "2"]) == 0
    return folder


def test_the_drawn_trimaps_mark_disc_background_and_rim(drawn):
    from PIL import Image
    names = sorted(os.listdir(os.path.join(drawn, "images")))
    assert len(names) == 240 and names[0] == "drawn_00000.jpg"
    trimap = np.asarray(Image.open(os.path.join(drawn, "annotations", "trimaps",
                                                "drawn_00000.png")))
    assert trimap.shape == (40, 40) and set(np.unique(trimap)) == {1, 2, 3}
    picture, again = drawn_images.draw_with_trimap(np.random.default_rng(2), 40)
    np.testing.assert_array_equal(again, trimap)


def program(**changes):
    return edited_program(EXAMPLE, **changes)


def test_the_program_runs_checkpoints_and_reloads(drawn, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    text = program(**{"img_size = (200, 200)": "img_size = (32, 32)",
                      "num_val_samples = 1000": "num_val_samples = 40",
                      "epochs=50": "epochs=2"})
    monkeypatch.chdir(drawn)
    namespace = {}
    exec(compile(text, EXAMPLE, "exec"), namespace)
    assert namespace["model"].output_shape == (None, 32, 32, 3)
    assert set(namespace["history"].history) == {"loss", "val_loss"}
    assert os.path.exists("oxford_segmentation.keras")
    assert "pixels of validation picture 4 given their trimap's class" in capsys.readouterr().out
    assert open("oxford_segmentation_history.png", "rb").read(4) == b"\x89PNG"
    targets = namespace["targets"]
    assert targets.dtype == np.uint8 and set(np.unique(targets)) == {0, 1, 2}


def test_the_model_learns_the_drawn_task(drawn, monkeypatch):
    from fastconv import optimizers, utils
    # the program's data loading and model (at an eighth of its width, for a test's time),
    # trained longer at 32x32
    text = program(**{"img_size = (200, 200)": "img_size = (32, 32)",
                      "num_val_samples = 1000": "num_val_samples = 40"})
    text = text.split("model = get_model(")[0]
    for wide, narrow in (("256, 3", "32, 3"), ("128, 3", "16, 3"), ("64, 3", "8, 3")):
        text = text.replace(wide, narrow)
    monkeypatch.chdir(drawn)
    namespace = {}
    exec(compile(text, EXAMPLE, "exec"), namespace)
    utils.set_random_seed(0)
    model = namespace["get_model"]((32, 32), 3)
    assert [l.filters for l in model.layers if hasattr(l, "filters")] == [
        8, 8, 16, 16, 32, 32, 32, 32, 16, 16, 8, 8, 3]
    model.compile(optimizer=optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(namespace["train_input_imgs"], namespace["train_targets"], epochs=25,
              batch_size=16, verbose=0)
    predicted = np.argmax(model.predict(namespace["val_input_imgs"], verbose=0), axis=-1)
    truth = namespace["val_targets"][..., 0]
    accuracy = np.mean(predicted == truth)
    majority = max(np.mean(truth == c) for c in range(3))
    assert accuracy > 0.8 and accuracy > majority + 0.2, (accuracy, majority)
