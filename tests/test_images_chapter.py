"""The images chapter end to end, on pictures drawn into a temporary folder: the issue's
program (examples/keras_book_cats_and_dogs.py) at a smaller scale, a convnet learning a
drawn two-class task, and the train-images and draw-images commands."""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastconv import cli, layers, models, utils
from fastconv.examples import drawn_images, images as example

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "keras_book_cats_and_dogs.py")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    root = os.path.join(str(tmp_path_factory.mktemp("drawn")), "data")
    return drawn_images.write_folder(root, size=48, seed=3, formats=("png", "jpg", "bmp", "gif"),
                                     split={"train": 300, "validation": 100})


def test_the_issue_program_runs_and_reloads_to_identical_predictions(drawn, tmp_path,
                                                                     monkeypatch):
    pytest.importorskip("matplotlib")
    with open(EXAMPLE) as f:
        program = f.read()
    # the same program at a test's scale: 48x48 pictures, 2 epochs
    program = program.replace("150, 150", "48, 48").replace("epochs=30", "epochs=2")
    assert program.count("(48, 48") == 3 and "epochs=2," in program
    before_save, after_save = program.split('model.save("cats_and_dogs_small.keras")')
    monkeypatch.chdir(os.path.dirname(drawn))          # the program reads data/train
    namespace = {}
    exec(compile(before_save, EXAMPLE, "exec"), namespace)
    x = np.concatenate([batch for batch, _ in namespace["val_ds"]])
    trained = namespace["model"].predict(x, verbose=0)
    namespace["model"].save(str(tmp_path / "cats_and_dogs_small.keras"))
    monkeypatch.chdir(tmp_path)
    exec(compile(after_save, EXAMPLE, "exec"), namespace)
    assert np.array_equal(namespace["model"].predict(x, verbose=0), trained)
    assert set(namespace["history"].history) == {"loss", "accuracy", "val_loss",
                                                 "val_accuracy"}
    assert (tmp_path / "cats_and_dogs_history.png").read_bytes()[:4] == b"\x89PNG"


def test_a_convnet_learns_the_drawn_task_with_augmentation(drawn):
    utils.set_random_seed(0)
    kw = dict(image_size=(32, 32), batch_size=20, label_mode="binary", seed=1, verbose=False)
    train = utils.image_dataset_from_directory(os.path.join(drawn, "train"), **kw)
    val = utils.image_dataset_from_directory(os.path.join(drawn, "validation"), **kw)
    model = models.Sequential([
        layers.Input((32, 32, 3)), layers.RandomFlip("horizontal"), layers.RandomZoom(0.1),
        layers.Rescaling(1 / 255), layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(32, activation="relu"),
        layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=8, validation_data=val, verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.9, history.history


def test_train_images_command_writes_the_model_curves_and_summary(drawn, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    assert cli.main(["train-images", os.path.join(drawn, "train"), "--image-size", "46",
                     "--epochs", "2", "--batch-size", "25", "--validation-split", "0.25",
                     "--seed", "3", "--out", str(out), "--verbose", "2",
                     "--pictures", str(out / "pictures")]) == 0
    printed = capsys.readouterr().out
    for name in ("model.keras", "history.png", "history.csv", "summary.txt"):
        assert f"wrote {out / name}" in printed
    drawn = sorted(os.listdir(out / "pictures"))
    assert len(drawn) == 4 and drawn[0] == "feature_maps.png" and drawn[-1] == "grad_cam.png"
    for name in drawn:
        assert f"wrote {out / 'pictures' / name}" in printed
    assert "Using 450 files for training." in printed and "Epoch 2/2" in printed
    model = models.load_model(out / "model.keras")
    assert model.output_shape == (None, 1) and model.loss.name == "binary_crossentropy"
    summary = (out / "summary.txt").read_text()
    assert "classes: horizontal, vertical" in summary and "val_accuracy" in summary
    assert [type(l).__name__ for l in model.layers][:3] == ["RandomFlip", "RandomRotation",
                                                            "RandomZoom"]


def test_train_images_multiclass_without_augmentation(tmp_path, capsys):
    root = tmp_path / "three"
    rng = np.random.default_rng(0)
    from PIL import Image
    for k, name in enumerate(["red", "green", "blue"]):
        os.makedirs(root / name)
        for i in range(6):
            pixels = rng.integers(0, 60, (50, 50, 3)).astype(np.uint8)
            pixels[..., k] += 150
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    assert cli.main(["train-images", str(root), "--image-size", "46", "--epochs", "1",
                     "--validation-split", "0", "--no-augment", "--out", str(tmp_path / "o"),
                     "--verbose", "0"]) == 0
    model = models.load_model(tmp_path / "o" / "model.keras")
    assert model.output_shape == (None, 3) and type(model.layers[0]).__name__ == "Rescaling"
    assert model.loss.name == "sparse_categorical_crossentropy"


@pytest.mark.parametrize("args,message", [
    (["/nonexistent/pictures"], "DIR: no such folder"),
    (["{tmp}", "--image-size", "40"], "--image-size must be at least 46"),
    (["{tmp}", "--validation-dir", "/nonexistent"], "--validation-dir: no such folder"),
    (["{tmp}", "--out", "/nonexistent/deeper/out"], "--out: no such folder"),
    (["{tmp}"], "has no subfolders"),
])
def test_train_images_errors_are_one_line(tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    done = subprocess.run([sys.executable, "-m", "fastconv", "train-images"] + args
                          + ["--out", str(tmp_path / "o")] * ("--out" not in args),
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastconv: error: ") and message in lines[0]


def test_draw_images_command(tmp_path, capsys):
    assert cli.main(["draw-images", str(tmp_path / "d"), "--count", "4", "--size", "20"]) == 0
    for part, count in (("train", 4), ("validation", 2), ("test", 2)):
        for cls in drawn_images.CLASSES:
            files = os.listdir(tmp_path / "d" / part / cls)
            assert len(files) == count
    assert f"wrote {tmp_path / 'd' / 'train'}" in capsys.readouterr().out
    assert example.smallest_image_size() == 46
