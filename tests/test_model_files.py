"""Whole-model files (Sequential.save, models.load_model) and the callbacks of the images
chapter: ModelCheckpoint, ReduceLROnPlateau, CSVLogger, TerminateOnNaN."""
import csv
import io
import json
import os
import zipfile

import numpy as np
import pytest

from fastconv import callbacks, layers, models, optimizers, utils
from fastconv.saving import MODEL_VERSION
from _helpers import run_python


def chapter_model(seed_dropout=None):
    model = models.Sequential([
        layers.Input((10, 10, 3)), layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
        layers.RandomZoom(0.2), layers.RandomTranslation(0.1, 0.1, seed=4),
        layers.RandomContrast(0.2), layers.Rescaling(1 / 255),
        layers.Conv2D(4, 3, activation="relu", padding="same"), layers.BatchNormalization(),
        layers.MaxPooling2D(), layers.Conv2D(6, (2, 3), strides=(1, 2)),
        layers.AveragePooling2D(2, padding="same"), layers.Flatten(),
        layers.Dropout(0.5, seed=seed_dropout), layers.Dense(5, activation="relu"),
        layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.RMSprop(learning_rate=1e-3), "binary_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture
def data(rng):
    x = rng.uniform(0, 255, (24, 10, 10, 3)).astype(np.float32)
    y = (x[:, :5].mean(axis=(1, 2, 3)) > x[:, 5:].mean(axis=(1, 2, 3))).astype(np.float32)
    return x, y


@pytest.mark.parametrize("optimizer", [optimizers.RMSprop(1e-3), optimizers.Adam(1e-3),
                                       optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                                       optimizers.SGD(0.01)])
@pytest.mark.parametrize("suffix", [".keras", ".fastconv"])
def test_train_save_load_train_equals_training_straight_through(tmp_path, data, optimizer,
                                                                suffix):
    x, y = data
    cls, config = type(optimizer), optimizer.get_config()

    def make():
        model = chapter_model(seed_dropout=7)
        model.compile(type(optimizer)(**{k: v for k, v in config.items() if k != "name"}),
                      "binary_crossentropy", metrics=["accuracy"])
        return model
    utils.set_random_seed(11)
    straight = make()
    straight.fit(x, y, epochs=3, batch_size=8, verbose=0)
    utils.set_random_seed(11)
    first = make()
    first.fit(x, y, epochs=2, batch_size=8, verbose=0)
    first.save(tmp_path / ("m" + suffix))
    resumed = models.load_model(tmp_path / ("m" + suffix))
    assert type(resumed.optimizer) is cls and resumed.optimizer.iterations == 6
    resumed.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("suffix", [".keras", ".fastconv"])
def test_resuming_in_a_new_process_is_exact_with_the_random_state(tmp_path, data, suffix):
    x, y = data
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    utils.set_random_seed(2)
    model = chapter_model()
    model.fit(x, y, epochs=2, batch_size=6, verbose=0)
    model.save(tmp_path / ("m" + suffix))
    model.fit(x, y, epochs=1, batch_size=6, verbose=0)
    np.save(tmp_path / "expected.npy", model.get_weights()[0])
    code = (f"import numpy as np; from fastconv import models\n"
            f"m = models.load_model({str(tmp_path / ('m' + suffix))!r}, "
            f"restore_random_state=True)\n"
            f"m.fit(np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'y.npy')!r}),"
            f" epochs=1, batch_size=6, verbose=0)\n"
            f"print(np.array_equal(m.get_weights()[0], "
            f"np.load({str(tmp_path / 'expected.npy')!r})))")
    assert run_python(code).strip() == "True"


@pytest.mark.parametrize("suffix", [".keras", ".fastconv"])
def test_a_loaded_model_predicts_identically_and_keeps_its_settings(tmp_path, data, suffix):
    x, y = data
    model = chapter_model()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / ("m" + suffix))
    loaded = models.load_model(tmp_path / ("m" + suffix))
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(json.dumps(
        model.get_config()))
    assert loaded.loss.name == "binary_crossentropy" and loaded.optimizer.learning_rate == 1e-3
    assert loaded.optimizer.rho == 0.9
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
    uncompiled = models.load_model(tmp_path / ("m" + suffix), compile=False)
    assert uncompiled.loss is None
    # loading draws nothing from the shared generator
    utils.set_random_seed(4)
    from fastconv import _rng
    before = _rng.generator().bit_generator.state
    models.load_model(tmp_path / ("m" + suffix))
    assert _rng.generator().bit_generator.state == before
    # the same model (and generator state) gives the same bytes
    model.save(tmp_path / "one.keras")
    model.save(tmp_path / "two.keras")
    assert (tmp_path / "one.keras").read_bytes() == (tmp_path / "two.keras").read_bytes()


def test_the_file_is_a_zip_of_json_and_npy_without_pickles(tmp_path, data):
    model = chapter_model()
    model.fit(*data, epochs=1, verbose=0)
    model.save(tmp_path / "m.fastconv")
    with zipfile.ZipFile(tmp_path / "m.fastconv") as z:
        names = z.namelist()
        config = json.loads(z.read("config.json"))
        assert config["format"] == "fastconv-model" and config["version"] == MODEL_VERSION
        # every member is the JSON config or an array NumPy reads without unpickling
        assert [n for n in names if n != "config.json" and not n.endswith(".npy")] == []
        for name in names:
            if name.endswith(".npy"):
                array = np.load(io.BytesIO(z.read(name)), allow_pickle=False)
                assert array.dtype.kind in "biuf", (name, array.dtype)
    assert any(n.startswith("optimizer/") for n in names)


def test_a_keras_file_holds_keras_members_and_fastconvs_generators(tmp_path, data):
    model = chapter_model()
    model.fit(*data, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert sorted(z.namelist()) == ["config.json", "fastconv.json", "metadata.json",
                                        "model.weights.h5"]
        config = json.loads(z.read("config.json"))
        extra = json.loads(z.read("fastconv.json"))
    assert config["class_name"] == "Sequential" and config["compile_config"]["optimizer"][
        "class_name"] == "RMSprop"
    assert [e["class_name"] for e in config["config"]["layers"]][:3] == [
        "InputLayer", "RandomFlip", "RandomRotation"]
    assert sorted(extra) == ["fastconv_version", "layer_random_states", "random_state"]
    # the seeded RandomTranslation's generator, where Keras keeps none
    assert [n for n in extra["layer_random_states"] if n.startswith("random_translation")]


def test_an_uncompiled_or_unbuilt_model(tmp_path):
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert loaded.loss is None and np.array_equal(loaded.get_weights()[0],
                                                  model.get_weights()[0])
    with pytest.raises(ValueError, match="has not been built"):
        models.Sequential([layers.Dense(2)]).save(tmp_path / "x.keras")
    with pytest.raises(ValueError, match="overwrite is False"):
        model.save(tmp_path / "m.keras", overwrite=False)


def test_custom_layers_need_custom_objects(tmp_path):
    class Double(layers.Layer):
        def forward(self, x, training=False, activate=True):
            return 2 * x

        def backward(self, dy):
            return 2 * dy
    model = models.Sequential([layers.Input((3,)), Double(), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"Keras cannot load layer 0 \(Double.*\.fastconv"):
        model.save(tmp_path / "m.keras")            # Keras would need the class too
    assert not (tmp_path / "m.keras").exists()
    model.save(tmp_path / "m.fastconv")
    with pytest.raises(ValueError, match=r"class 'Double'.*custom_objects"):
        models.load_model(tmp_path / "m.fastconv")
    loaded = models.load_model(tmp_path / "m.fastconv", custom_objects={"Double": Double})
    x = np.ones((2, 3), np.float32)
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def rewrite(path, target, change):
    """Copy the model file at path to target with config.json changed by change(config)."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return target


def test_damaged_foreign_and_newer_files_are_refused_with_their_name(tmp_path, data):
    model = chapter_model()
    model.fit(*data, epochs=1, verbose=0)
    good = tmp_path / "m.fastconv"
    model.save(good)
    content = good.read_bytes()
    cases = {}
    for cut in (10, len(content) // 3, len(content) - 30):
        p = tmp_path / f"cut{cut}.keras"
        p.write_bytes(content[:cut])
        cases[p] = "not a complete fastconv model file"
    p = tmp_path / "text.keras"
    p.write_text("hello")
    cases[p] = "not a complete fastconv model file"
    p = tmp_path / "weights.npz"
    model.save_weights(p)
    cases[p] = "no config.json"
    p = tmp_path / "keras.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"")
    cases[p] = "not a Keras model's config"            # read as Keras's (tests/test_keras_files)
    p = tmp_path / "keras2.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("model.weights.h5", b"")
    cases[p] = "a Keras archive without config.json"
    cases[rewrite(good, tmp_path / "new.keras", lambda c: c.update(version=MODEL_VERSION + 1))] \
        = "format version 2 .* upgrade fastconv"
    cases[rewrite(good, tmp_path / "shape.keras",
                  lambda c: c["model"]["config"]["layers"][6]["config"].update(filters=5))] \
        = "weights/0000 holds float32"
    cases[rewrite(good, tmp_path / "nolayers.keras",
                  lambda c: c["model"]["config"].pop("layers"))] = "damaged model description"
    cases[rewrite(good, tmp_path / "badarg.keras",
                  lambda c: c["model"]["config"]["layers"][6]["config"].update(colour=1))] \
        = "damaged model description"
    cases[rewrite(good, tmp_path / "badval.keras",
                  lambda c: c["model"]["config"]["layers"][6]["config"].update(padding="full"))] \
        = "padding"
    cases[rewrite(good, tmp_path / "slots.keras",
                  lambda c: c["compile"]["optimizer_slots"].pop())] = "optimizer state"
    cases[rewrite(good, tmp_path / "rng.keras",
                  lambda c: c.update(random_state={"bit_generator": "MT19937"}))] = None
    for path, message in cases.items():
        if message is None:        # only read when asked for
            models.load_model(path)
            with pytest.raises(ValueError, match="random generator"):
                models.load_model(path, restore_random_state=True)
            continue
        with pytest.raises(ValueError, match=message) as info:
            models.load_model(path)
        assert str(path) in str(info.value)
    with pytest.raises(OSError):
        models.load_model(tmp_path / "missing.keras")


@pytest.mark.parametrize("suffix", [".fastconv", ".keras"])
def test_a_save_killed_or_failing_leaves_the_old_file(tmp_path, data, monkeypatch, suffix):
    model = chapter_model()
    path = tmp_path / ("m" + suffix)
    model.save(path)
    before = path.read_bytes()
    model.fit(*data, epochs=1, verbose=0)

    def broken(*args, **kwargs):
        raise OSError("disk full")
    # each writer's own array writer: .npy members, or the HDF5 datasets
    monkeypatch.setattr(np.lib.format, "write_array", broken)
    from fastconv.saving import keras_v3
    monkeypatch.setattr(keras_v3, "_h5_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


# -- callbacks ------------------------------------------------------------------------------

def test_model_checkpoint_best_only_and_every_epoch(tmp_path, data, capsys):
    x, y = data
    model = chapter_model()
    values = iter([0.5, 0.7, 0.4, 0.45])

    class FakeVal(callbacks.Callback):          # sets val_loss before the checkpoint sees it
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)
    best = callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), save_best_only=True,
                                     verbose=1)
    every = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch:02d}-{val_loss:.2f}.weights.npz"),
                                      save_weights_only=True)
    model.fit(x, y, epochs=4, verbose=0, callbacks=[FakeVal(), best, every])
    out = capsys.readouterr().out
    assert "val_loss improved from inf to 0.50000" in out
    assert "val_loss did not improve from 0.50000" in out
    assert "val_loss improved from 0.50000 to 0.40000" in out
    assert sorted(os.listdir(tmp_path)) == ["best.keras", "e01-0.50.weights.npz",
                                            "e02-0.70.weights.npz", "e03-0.40.weights.npz",
                                            "e04-0.45.weights.npz"]
    models.load_model(tmp_path / "best.keras")
    with pytest.warns(RuntimeWarning, match="only with val_accuracy"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(
            str(tmp_path / "b.keras"), monitor="val_accuracy", save_best_only=True)])
    with pytest.raises(ValueError, match="cannot fill in filepath"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "{nothing}.keras"))])
    batches = callbacks.ModelCheckpoint(str(tmp_path / "b{batch}.keras"), save_freq=2)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[batches])
    assert {"b2.keras", "b4.keras", "b6.keras"} <= set(os.listdir(tmp_path))


def test_reduce_lr_on_plateau(data):
    x, y = data
    model = chapter_model()
    losses = iter([1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.5])

    class FakeVal(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(losses)
    reduce = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=2e-4)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[FakeVal(), reduce])
    # the rate each epoch ran with: halved after the 2nd epoch without improvement, then one
    # epoch of cooldown, halved after 2 more, then once more but not below min_lr
    assert history.history["learning_rate"] == pytest.approx(
        [1e-3] * 4 + [5e-4] * 2 + [2.5e-4] * 2 + [2e-4] * 2)
    assert model.optimizer.learning_rate == pytest.approx(2e-4)
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_csv_logger_writes_and_appends(tmp_path, data):
    x, y = data
    model = chapter_model()
    path = tmp_path / "log.csv"
    first = model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
                      callbacks=[callbacks.CSVLogger(path)])
    second = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
                       callbacks=[callbacks.CSVLogger(path, append=True)])
    with open(path) as f:
        rows = list(csv.reader(f))
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert rows[0] == ["epoch"] + keys
    assert [r[0] for r in rows[1:]] == ["0", "1", "0"] and len(rows) == 4
    # each value as History has it, to the last bit (a float's text reads back exactly)
    logged = [(first, 0), (first, 1), (second, 0)]
    for row, (history, epoch) in zip(rows[1:], logged):
        assert [float(v) for v in row[1:]] == [history.history[k][epoch] for k in keys], row


def test_terminate_on_nan(data, capsys):
    x, y = data
    model = chapter_model()
    model.layers[-1].weights[0][...] = np.nan
    with np.errstate(invalid="ignore"):
        history = model.fit(x, y, epochs=3, batch_size=4, verbose=0,
                            callbacks=[callbacks.TerminateOnNaN()])
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out
    assert len(history.history["loss"]) == 1
