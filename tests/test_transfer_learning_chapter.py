"""The transfer-learning chapter's programs (examples/keras_book_feature_extraction.py and
examples/keras_book_fine_tuning.py) end to end at a test's scale: pictures drawn into a
temporary folder, VGG16 weights from a file written here in the layout of Keras's published
one (random weights: nothing is downloaded), images of 32x32 and two epochs. The programs
must print Keras's trainable counts (26, then 0), keep the frozen layers bitwise, train what
fine-tuning unfreezes, and reload their checkpoints to the same predictions."""
import os

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("h5py")

from fastconv import applications, models, utils  # noqa: E402
from fastconv.examples import drawn_images  # noqa: E402
from test_applications import write_published  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "examples")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """data/train, data/validation, data/test and a VGG16 weights file, beside each other."""
    root = tmp_path_factory.mktemp("chapter")
    drawn_images.write_folder(str(root / "data"), size=40, seed=5, formats=("png", "jpg"),
                              split={"train": 24, "validation": 8, "test": 8})
    utils.set_random_seed(7)
    write_published(root / "vgg16_notop.h5",
                    applications.VGG16(weights=None, include_top=False))
    return root


def program(name, **replace):
    path = os.path.join(EXAMPLES, name)
    with open(path) as f:
        text = f.read()
    for old, (new, count) in replace.items():
        assert text.count(old) == count, old
        text = text.replace(old, new)
    return compile(text, path, "exec")


def test_feature_extraction_program(folder, monkeypatch, capsys):
    monkeypatch.chdir(folder)
    monkeypatch.setenv("VGG16_WEIGHTS", str(folder / "vgg16_notop.h5"))
    code = program("keras_book_feature_extraction.py",
                   **{"180, 180": ("32, 32", 4), "(5, 5, 512)": ("(1, 1, 512)", 1),
                      "epochs=20": ("epochs=2", 1)})
    namespace = {}
    exec(code, namespace)
    printed = capsys.readouterr().out
    assert "Test accuracy: " in printed and "Total params: 14,714,688" in printed
    assert namespace["train_features"].shape == (48, 1, 1, 512)
    assert namespace["val_features"].shape == (16, 1, 1, 512)
    saved = models.load_model(folder / "feature_extraction.keras")
    np.testing.assert_array_equal(saved.predict(namespace["test_features"], verbose=0),
                                  namespace["test_model"].predict(namespace["test_features"],
                                                                  verbose=0))


def test_augmented_feature_extraction_then_fine_tuning(folder, monkeypatch, capsys):
    monkeypatch.chdir(folder)
    monkeypatch.setenv("VGG16_WEIGHTS", str(folder / "vgg16_notop.h5"))
    code = program("keras_book_fine_tuning.py",
                   **{"180, 180": ("32, 32", 4), "epochs=50": ("epochs=2", 1),
                      "epochs=30": ("epochs=2", 1)})
    source = applications.VGG16(weights=str(folder / "vgg16_notop.h5"), include_top=False)
    namespace = {}
    exec(code, namespace)
    printed = capsys.readouterr().out
    assert "before freezing the conv base: 26" in printed
    assert "after freezing the conv base: 0" in printed
    assert printed.count("Test accuracy: ") == 2
    conv_base = namespace["conv_base"]
    # frozen through both phases: every layer but the last block; the last block's three
    # convolutions trained in fine-tuning
    changed = [not np.array_equal(a, b) for a, b in zip(source.get_weights(),
                                                          conv_base.get_weights())]
    assert changed == [False] * 20 + [True] * 6
    assert len(conv_base.trainable_weights) == 6
    for name in ("feature_extraction_with_data_augmentation.keras", "fine_tuning.keras"):
        loaded = models.load_model(folder / name)
        assert [type(l).__name__ for l in loaded.layers][:8] == [
            "InputLayer", "Sequential", "GetItem", "GetItem", "GetItem", "Stack",
            "Arithmetic", "Model"]
    # the fine-tuning checkpoint keeps the freezing: block5's three convolutions and the two
    # Dense layers trainable, everything before block5 frozen
    loaded = models.load_model(folder / "fine_tuning.keras")
    base = loaded.get_layer(conv_base.name)
    assert [l.trainable for l in base.layers[1:]] == [False] * 14 + [True] * 4
    assert len(loaded.trainable_weights) == 6 + 4
