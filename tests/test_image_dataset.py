"""image_dataset_from_directory against the behaviour of Keras 3's function (its documented
arguments and defaults), on pictures the tests draw into a temporary folder; and fit,
evaluate and predict on datasets and other iterables of batches."""
import os
import threading
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from fastconv import layers, models
from fastconv.utils import image_dataset_from_directory
from fastconv.utils import image_dataset as image_dataset_module
from _helpers import run_python


def write(path, array, **save):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **save)
    return path


@pytest.fixture
def folder(tmp_path):
    """cats: 3 PNG + 1 BMP, dogs: 2 JPEG + 1 GIF + one nested PNG; each 6x8 picture's red
    channel holds a distinct value, so that the tests can tell the pictures apart."""
    root = tmp_path / "pets"
    values = iter(range(10, 250, 20))
    files = {"cats": ["a.png", "b.png", "c.png", "d.bmp"],
             "dogs": ["e.jpg", "f.jpeg", "g.gif", os.path.join("inner", "h.png")]}
    for cls, names in files.items():
        for name in names:
            pixels = np.zeros((6, 8, 3), np.uint8)
            pixels[..., 0] = next(values)
            pixels[..., 1] = 7
            write(str(root / cls / name), pixels, **({"quality": 100}
                                                     if name.endswith(("jpg", "jpeg")) else {}))
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


def red_values(images):
    return sorted(int(round(v)) for v in images[:, 0, 0, 0])


def test_defaults_int_labels_classes_and_batches(folder, capsys):
    ds = image_dataset_from_directory(folder, image_size=(6, 8), batch_size=3)
    assert "Found 8 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["cats", "dogs"] and len(ds) == 3
    batches = list(ds)
    assert [b[0].shape for b in batches] == [(3, 6, 8, 3), (3, 6, 8, 3), (2, 6, 8, 3)]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.dtype == np.float32 and labels.dtype == np.int32
    # every file once; its label is its folder's (values 10..70 cats, 90..150 dogs)
    assert red_values(images) == [10, 30, 50, 70, 90, 110, 130, 150]
    for im, label in zip(images, labels):
        assert label == (0 if im[0, 0, 0] < 80 else 1)
    assert sorted(os.path.basename(p)[0] for p in ds.file_paths) == list("abcdefgh") and all(
        p.endswith(("png", "bmp", "jpg", "jpeg", "gif")) for p in ds.file_paths)


def test_shuffling_is_reproducible_by_seed_and_new_each_pass(folder):
    def order(ds):
        return [int(round(v)) for b in ds for v in b[0][:, 0, 0, 0]]
    a = image_dataset_from_directory(folder, image_size=(6, 8), batch_size=2, seed=5,
                                     verbose=False)
    b = image_dataset_from_directory(folder, image_size=(6, 8), batch_size=2, seed=5,
                                     verbose=False)
    first, second = order(a), order(a)
    assert first == order(b) and second == order(b)
    assert first != second and sorted(first) == sorted(second)
    plain = image_dataset_from_directory(folder, image_size=(6, 8), shuffle=False,
                                         verbose=False)
    assert order(plain) == [10, 30, 50, 70, 90, 110, 130, 150] == order(plain)


def test_label_modes(folder):
    kw = dict(image_size=(6, 8), shuffle=False, verbose=False)
    x, y = next(iter(image_dataset_from_directory(folder, label_mode="categorical", **kw)))
    assert y.dtype == np.float32 and y.shape == (8, 2) and np.array_equal(y.argmax(1),
                                                                          [0] * 4 + [1] * 4)
    x, y = next(iter(image_dataset_from_directory(folder, label_mode="binary", **kw)))
    assert y.dtype == np.float32 and y.shape == (8, 1) and y[:, 0].tolist() == [0] * 4 + [1] * 4
    x = next(iter(image_dataset_from_directory(folder, label_mode=None, **kw)))
    assert isinstance(x, np.ndarray) and x.shape == (8, 6, 8, 3)
    x = next(iter(image_dataset_from_directory(folder, labels=None, **kw)))
    assert isinstance(x, np.ndarray)
    # explicit labels, in the sorted order of the file paths
    labels = [3, 1, 4, 1, 5, 9, 2, 6]
    ds = image_dataset_from_directory(folder, labels=labels, **kw)
    x, y = next(iter(ds))
    assert y.tolist() == labels and ds.class_names == [str(i) for i in range(10)]


def test_class_names_fix_the_order(folder):
    ds = image_dataset_from_directory(folder, class_names=["dogs", "cats"], image_size=(6, 8),
                                      shuffle=False, verbose=False)
    x, y = next(iter(ds))
    assert ds.class_names == ["dogs", "cats"]
    assert y.tolist() == [0] * 4 + [1] * 4 and x[0, 0, 0, 0] > 80
    with pytest.raises(ValueError, match="do not match the subfolders"):
        image_dataset_from_directory(folder, class_names=["cats", "birds"])


def test_batch_size_none_gives_single_images(folder):
    ds = image_dataset_from_directory(folder, batch_size=None, image_size=(4, 4),
                                      verbose=False)
    items = list(ds)
    assert len(ds) == 8 == len(items) and items[0][0].shape == (4, 4, 3)
    assert items[0][1].shape == ()


def test_validation_split_subsets_are_disjoint_and_cover_everything(folder, capsys):
    kw = dict(image_size=(6, 8), validation_split=0.25, seed=3)
    train = image_dataset_from_directory(folder, subset="training", **kw)
    val = image_dataset_from_directory(folder, subset="validation", **kw)
    out = capsys.readouterr().out
    assert "Using 6 files for training." in out and "Using 2 files for validation." in out
    assert set(train.file_paths).isdisjoint(val.file_paths)
    assert len(set(train.file_paths) | set(val.file_paths)) == 8
    both = image_dataset_from_directory(folder, subset="both", verbose=False, **kw)
    assert both[0].file_paths == train.file_paths and both[1].file_paths == val.file_paths
    with pytest.raises(ValueError, match="give a seed"):
        image_dataset_from_directory(folder, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="go together"):
        image_dataset_from_directory(folder, validation_split=0.2, seed=1)
    with pytest.raises(ValueError, match="subset must be"):
        image_dataset_from_directory(folder, validation_split=0.2, subset="test", seed=1)


def _first_image(folder, size, interpolation):
    x, _ = next(iter(image_dataset_from_directory(folder, image_size=size,
                                                  interpolation=interpolation, verbose=False)))
    return x[0]


def _three_channels(values):
    """An RGB picture from one channel's values: (v, 255 - v, 7)."""
    v = np.asarray(values, np.uint8)
    return np.stack([v, 255 - v, np.full_like(v, 7)], axis=-1)


@pytest.mark.parametrize("interpolation,up,down", [
    # TensorFlow's rule without antialiasing, worked out by hand: output pixel i reads the
    # source at (i + 0.5) * in / out - 0.5 (bilinear; the edge pixels beyond the edges) or
    # at floor((i + 0.5) * in / out) (nearest)
    ("bilinear", [[0, 25, 75, 100], [50, 58.75, 76.25, 85], [150, 126.25, 78.75, 55],
                  [200, 160, 80, 40]], [7.5, 32.5]),
    ("nearest", [[0, 0, 100, 100], [0, 0, 100, 100], [200, 200, 40, 40], [200, 200, 40, 40]],
     [10, 30])])
def test_bilinear_and_nearest_resize_as_tensorflow_on_hand_computed_cases(tmp_path,
                                                                          interpolation, up,
                                                                          down):
    write(str(tmp_path / "up" / "a" / "x.png"), _three_channels([[0, 100], [200, 40]]))
    write(str(tmp_path / "down" / "a" / "x.png"), _three_channels([[0, 10, 20, 30, 40]]))
    for folder, size, want in (("up", (4, 4), up), ("down", (1, 2), [down])):
        want = np.asarray(want, np.float32)
        got = _first_image(tmp_path / folder, size, interpolation)
        np.testing.assert_array_equal(got, np.stack([want, 255 - want, np.full_like(want, 7)],
                                                    axis=-1), err_msg=f"{folder}scaling")


@pytest.mark.parametrize("interpolation,filter_name", [
    ("bicubic", "BICUBIC"), ("area", "BOX"), ("lanczos3", "LANCZOS"), ("lanczos5", "LANCZOS")])
def test_the_other_interpolations_are_pillows_own_resize(tmp_path, interpolation, filter_name):
    pixels = np.random.default_rng(0).integers(0, 256, (13, 17, 3), np.uint8)
    write(str(tmp_path / "a" / "x.png"), pixels)
    for size in ((7, 30), (26, 9)):
        want = Image.fromarray(pixels).resize((size[1], size[0]),
                                              getattr(Image.Resampling, filter_name))
        np.testing.assert_array_equal(_first_image(tmp_path, size, interpolation),
                                      np.asarray(want, np.float32), err_msg=str(size))


def test_an_unknown_interpolation_is_refused(tmp_path):
    with pytest.raises(ValueError, match="interpolation"):
        image_dataset_from_directory(tmp_path, interpolation="gaussian")


def test_crop_and_pad_to_aspect_ratio(tmp_path):
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :5] = 200          # a bright band on the left, cut off by a centred square crop
    pixels[:, 5:15] = 100
    write(str(tmp_path / "a" / "x.png"), pixels)
    kw = dict(image_size=(10, 10), verbose=False, interpolation="nearest")
    x, _ = next(iter(image_dataset_from_directory(tmp_path, crop_to_aspect_ratio=True, **kw)))
    assert np.all(x[0] == 100)
    x, _ = next(iter(image_dataset_from_directory(tmp_path, pad_to_aspect_ratio=True, **kw)))
    # 10x20 padded to 20x20 (5 zero rows above and below), then halved
    assert np.all(x[0, :2] == 0) and np.all(x[0, -2:] == 0) and np.all(x[0, 3:7, :2] == 200)
    with pytest.raises(ValueError, match="cannot both"):
        image_dataset_from_directory(tmp_path, crop_to_aspect_ratio=True,
                                     pad_to_aspect_ratio=True)


def test_color_modes_convert_as_keras_does(tmp_path):
    rgb = np.array([[[200, 100, 50]]], np.uint8)
    write(str(tmp_path / "a" / "rgb.png"), rgb)
    write(str(tmp_path / "a" / "grey.png"), np.array([[90]], np.uint8))
    rgba = np.array([[[10, 20, 30, 40]]], np.uint8)
    write(str(tmp_path / "a" / "rgba.png"), rgba)
    palette = Image.fromarray(np.array([[[0, 255, 0]]], np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE)
    palette.save(str(tmp_path / "a" / "zpal.png"))
    Image.fromarray(np.array([[40000]], np.uint16)).save(str(tmp_path / "a" / "zz16.png"))

    def load(mode):
        x, _ = next(iter(image_dataset_from_directory(tmp_path, color_mode=mode,
                                                      image_size=(1, 1), shuffle=False,
                                                      verbose=False)))
        return x[:, 0, 0]
    grey, rgb_all, rgba_all = load("grayscale"), load("rgb"), load("rgba")
    assert grey.shape == (5, 1) and rgb_all.shape == (5, 3) and rgba_all.shape == (5, 4)
    # files in order: grey, rgb, rgba, zpal, zz16
    assert grey[0, 0] == 90 and rgb_all[0].tolist() == [90, 90, 90]
    assert grey[1, 0] == round(200 * 0.299 + 100 * 0.587 + 50 * 0.114)   # ITU-R 601 luma
    assert rgb_all[2].tolist() == [10, 20, 30] and rgba_all[2].tolist() == [10, 20, 30, 40]
    assert rgba_all[1].tolist() == [200, 100, 50, 255]                       # opaque alpha
    assert rgb_all[3].tolist() == [0, 255, 0]
    assert grey[4, 0] == round(40000 / 257)                                   # 16-bit scaled
    with pytest.raises(ValueError, match="color_mode"):
        image_dataset_from_directory(tmp_path, color_mode="cmyk")


def test_gif_animations_give_their_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((4, 4, 3), v, np.uint8)) for v in (30, 220)]
    path = tmp_path / "a" / "anim.gif"
    os.makedirs(path.parent)
    frames[0].save(str(path), save_all=True, append_images=frames[1:])
    x, _ = next(iter(image_dataset_from_directory(tmp_path, image_size=(4, 4), verbose=False)))
    assert np.allclose(x, 30, atol=2)


def test_empty_and_bad_folders_are_clear_errors(tmp_path, folder):
    with pytest.raises(ValueError, match="is not a folder"):
        image_dataset_from_directory(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no subfolders"):
        image_dataset_from_directory(tmp_path / "empty")
    with pytest.raises(ValueError, match="no image files"):
        image_dataset_from_directory(tmp_path / "empty", labels=None)
    (folder / "birds").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*birds holds no images"):
        image_dataset_from_directory(folder)
    (folder / "birds").rmdir()
    with pytest.raises(ValueError, match="exactly 2 classes"):
        write(str(folder / "fish" / "x.png"), np.zeros((2, 2, 3), np.uint8))
        image_dataset_from_directory(folder, label_mode="binary")


@pytest.mark.parametrize("call,message", [
    (dict(label_mode="sparse"), "label_mode"), (dict(batch_size=0), "batch_size"),
    (dict(image_size=(0, 5)), "image_size"), (dict(image_size=(5,)), "image_size"),
    (dict(labels="folders"), "labels must be"), (dict(labels=[1, 2]), "2 labels for 8"),
    (dict(labels=None, class_names=["a"]), None), (dict(labels=[0] * 8, class_names=["a"]),
                                                   "only valid"),
    (dict(seed=-1), "seed"), (dict(validation_split=1.5, subset="training", seed=1),
                              "between 0 and 1"),
    (dict(on_bad_file="ignore"), "on_bad_file"), (dict(num_workers=0), "num_workers"),
    (dict(prefetch=0), "prefetch")])
def test_arguments_are_checked(folder, call, message):
    if message is None:          # labels=None drops the labels: class_names does not apply
        image_dataset_from_directory(folder, verbose=False, **call)
        return
    with pytest.raises(ValueError, match=message):
        image_dataset_from_directory(folder, verbose=False, **call)


def test_a_truncated_or_unreadable_file_is_named_or_skipped(folder):
    good = folder / "cats" / "a.png"
    data = good.read_bytes()
    (folder / "cats" / "broken.png").write_bytes(data[:len(data) // 2])
    (folder / "dogs" / "fake.jpg").write_bytes(b"this is not a picture")
    ds = image_dataset_from_directory(folder, image_size=(6, 8), shuffle=False, verbose=False)
    with pytest.raises(ValueError, match=r"cannot decode image file .*broken\.png"):
        list(ds)
    ds = image_dataset_from_directory(folder, image_size=(6, 8), shuffle=False, verbose=False,
                                      on_bad_file="warn", batch_size=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(ds)
        list(ds)
    messages = [str(w.message) for w in caught]
    assert sum("broken.png" in m for m in messages) == 1          # once per file
    assert sum("fake.jpg" in m for m in messages) == 1
    assert sum(len(b[0]) for b in batches) == 8


def test_without_pillow_the_error_names_the_extra(folder):
    code = ("import sys; sys.modules['PIL'] = None\n"
            "from fastconv.utils import image_dataset_from_directory\n"
            "try:\n"
            f"    image_dataset_from_directory({str(folder)!r})\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    assert "pip install 'fastconv[images]'" in run_python(code)


def test_decoding_runs_ahead_in_worker_threads_with_bounded_prefetch(folder, monkeypatch):
    seen, started = set(), []
    real = image_dataset_module._Loader.load

    def load(self, path):
        seen.add(threading.current_thread().name)
        started.append(path)
        return real(self, path)
    monkeypatch.setattr(image_dataset_module._Loader, "load", load)
    prefetch = 2
    ds = image_dataset_from_directory(folder, image_size=(6, 8), batch_size=1, num_workers=2,
                                      prefetch=prefetch, verbose=False)
    it = iter(ds)
    next(it)
    # while the consumer holds the first batch, the next two are decoded ahead (on demand,
    # nothing more would start until it asks)...
    deadline = time.monotonic() + 10
    while len(started) < 1 + prefetch and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(started) == 1 + prefetch, f"{len(started)} pictures started, not run ahead"
    # ...and no further, however long it waits: prefetch batches beyond the one taken
    time.sleep(0.2)
    assert len(started) == 1 + prefetch, f"{len(started)} pictures started"
    rest = list(it)
    assert len(rest) == 7 and len(started) == 8
    assert all(name.startswith("fastconv-images") for name in seen)


def test_take_and_repr(folder):
    ds = image_dataset_from_directory(folder, image_size=(6, 8), batch_size=3, verbose=False)
    assert len(ds.take(2)) == 2 and ds.take(0) == []
    assert "8 images" in repr(ds)


# -- fit, evaluate and predict on datasets and iterables -------------------------------------

def small_model(shape=(6, 8, 3)):
    model = models.Sequential([layers.Input(shape), layers.Rescaling(1 / 255),
                               layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
                               layers.Dense(1, activation="sigmoid")])
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    return model


def test_fit_evaluate_predict_on_a_dataset_equal_the_arrays(folder):
    kw = dict(image_size=(6, 8), label_mode="binary", shuffle=False, verbose=False)
    ds = image_dataset_from_directory(folder, batch_size=3, **kw)
    x, y = next(iter(image_dataset_from_directory(folder, batch_size=8, **kw)))
    a, b = small_model(), small_model()
    b.set_weights(a.get_weights())
    ha = a.fit(ds, epochs=2, validation_data=ds, verbose=0)
    hb = b.fit(x, y, batch_size=3, epochs=2, shuffle=False, validation_data=(x, y), verbose=0)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert np.allclose(ha.history[key], hb.history[key], rtol=1e-5), key
    assert np.allclose(a.evaluate(ds, verbose=0), b.evaluate(x, y, batch_size=3, verbose=0))
    assert np.array_equal(a.predict(ds, verbose=0), b.predict(x, batch_size=3, verbose=0))
    assert ha.params["steps"] == 3


def test_fit_on_a_generator_with_steps_per_epoch_and_a_plain_list(rng, capsys):
    model = small_model()

    def endless():
        while True:
            yield (rng.uniform(0, 255, (4, 6, 8, 3)).astype(np.float32),
                   rng.integers(0, 2, (4, 1)).astype(np.float32))
    history = model.fit(endless(), steps_per_epoch=3, epochs=2, verbose=2,
                        validation_data=endless(), validation_steps=2)
    assert len(history.history["loss"]) == 2 and "val_loss" in history.history
    assert capsys.readouterr().out.count("3/3") == 2
    batches = [next(endless()) for _ in range(3)]

    class Batches:              # re-iterable, with no length
        def __iter__(self):
            return iter(batches)
    model.fit(Batches(), epochs=2, verbose=0)
    assert model.predict(iter([b[0] for b in batches]), verbose=0).shape == (12, 1)
    # a generator that ends: one epoch, then a warning and a stop
    with pytest.warns(RuntimeWarning, match="ran out"):
        history = model.fit(iter(batches), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1


def test_unknown_length_shows_in_the_progress_bar(rng, capsys):
    model = small_model()
    gen = ((rng.uniform(0, 255, (2, 6, 8, 3)).astype(np.float32), np.ones((2, 1), np.float32))
           for _ in range(3))
    model.fit(gen, epochs=1, verbose=1)
    assert "3/3" in capsys.readouterr().out


def test_bad_batches_and_arguments_for_iterables(rng, folder):
    model = small_model()
    ds = image_dataset_from_directory(folder, image_size=(6, 8), label_mode="binary",
                                      verbose=False)
    with pytest.raises(ValueError, match="y must be None"):
        model.fit(ds, np.zeros(8))
    with pytest.raises(ValueError, match="batch_size must be None"):
        model.fit(ds, batch_size=4)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model.fit(ds, validation_split=0.2)
    with pytest.raises(ValueError, match=r"each batch must be a pair"):
        model.fit(iter([np.zeros((2, 6, 8, 3))]), verbose=0)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 6, 8, 3\)"):
        model.fit(iter([(np.zeros((2, 5, 8, 3)), np.zeros((2, 1)))]), verbose=0)
    with pytest.raises(ValueError, match="holds no batches"):
        model.evaluate(iter([]), verbose=0)


def test_follow_links_reads_linked_folders(folder, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write(str(elsewhere / "z.png"), np.full((6, 8, 3), 240, np.uint8))
    os.symlink(elsewhere, folder / "cats" / "linked")
    kw = dict(image_size=(6, 8), shuffle=False, verbose=False)
    assert len(image_dataset_from_directory(folder, **kw).file_paths) == 8
    ds = image_dataset_from_directory(folder, follow_links=True, **kw)
    assert len(ds.file_paths) == 9 and any(p.endswith("z.png") for p in ds.file_paths)
