"""Feature maps, filter patterns and Grad-CAM (fastconv.utils): the arrays against the
models' own outputs, gradient ascent that climbs, a heatmap whose peak finds the object in
a drawn task, the pictures written, and bad arguments refused by name."""
import sys

import numpy as np
import pytest

import fastconv
from fastconv import layers, models, utils


def draw_squares(n, rng, size=24, side=6):
    """Noise with two squares: a red (class 0) or blue (class 1) one, the evidence, and a
    green one of the same brightness, a distractor; returns (x, y, top-left of the
    evidence)."""
    x = rng.uniform(0, 0.3, (n, size, size, 3)).astype(np.float32)
    y = rng.integers(0, 2, n)
    where = np.zeros((n, 2), int)
    for i in range(n):
        while True:
            (r, c), (r2, c2) = rng.integers(0, size - side + 1, (2, 2))
            if abs(r - r2) >= side + 2 or abs(c - c2) >= side + 2:
                break
        where[i] = r, c
        for (top, left), channel in (((r2, c2), 1), ((r, c), 0 if y[i] == 0 else 2)):
            x[i, top:top + side, left:left + side] = 0.1
            x[i, top:top + side, left:left + side, channel] = 0.9
    return x, y, where


def squares_model():
    return models.Sequential([
        layers.Input((24, 24, 3)), layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="last_conv"),
        layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax")])


@pytest.fixture(scope="module")
def trained():
    utils.set_random_seed(0)
    x, y, _ = draw_squares(512, np.random.default_rng(0))
    model = squares_model()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, batch_size=32, epochs=20, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.95
    return model


def peaks_on_the_evidence(model, x, where, side=6):
    hits = 0
    for image, (r0, c0) in zip(x, where):
        cam = utils.grad_cam(model, image, "last_conv")
        assert cam.shape == (12, 12) and cam.dtype == np.float32
        assert cam.min() >= 0 and cam.max() == pytest.approx(1)
        r, c = np.unravel_index(np.argmax(cam), cam.shape)
        # a cell of the 12x12 map covers 2x2 pixels; one cell of slack around the square
        hits += (r0 - 2 <= 2 * r + 0.5 <= r0 + side + 1) and (c0 - 2 <= 2 * c + 0.5
                                                              <= c0 + side + 1)
    return hits


def test_grad_cam_peaks_on_the_object_after_training(trained):
    x, _, where = draw_squares(40, np.random.default_rng(1))
    assert peaks_on_the_evidence(trained, x, where) >= 36
    # the task is not given away by brightness: an untrained network's peak is on either
    # square about as often as not
    utils.set_random_seed(1)
    assert peaks_on_the_evidence(squares_model(), x, where) <= 28


def test_grad_cam_equals_its_definition(trained):
    x, _, _ = draw_squares(1, np.random.default_rng(2))
    conv = trained.get_layer("last_conv")
    (maps,), (grads,) = trained.layer_gradients(x, np.eye(2)[[1]], ["last_conv"], logits=True)
    cam = np.maximum(np.tensordot(maps[0], grads[0].mean(axis=(0, 1)), axes=1), 0)
    np.testing.assert_allclose(utils.grad_cam(trained, x[0], conv.name, class_index=1),
                               cam / cam.max(), rtol=1e-5, atol=1e-6)
    # the gradient of the pre-softmax score: finite differences of the logit through a
    # model that stops at the last conv and the head applied by hand
    dense = trained.layers[-1]
    logit = lambda m: (m.mean(axis=(0, 1)) @ dense.kernel + dense.bias)[1]
    eps, i = 1e-2, (5, 6, 3)
    up, down = maps[0].astype(np.float64).copy(), maps[0].astype(np.float64).copy()
    up[i] += eps
    down[i] -= eps
    assert grads[0][i] == pytest.approx((logit(up) - logit(down)) / (2 * eps), rel=1e-4)


def test_grad_cam_for_one_sigmoid_unit_takes_either_class():
    utils.set_random_seed(3)
    model = models.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3, name="c"),
                               layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    x = np.random.default_rng(3).standard_normal((6, 6, 1)).astype(np.float32)
    # by its definition, computed here: the logit is Flatten(maps) @ w + b, so the gradient
    # of class 1's score (the logit) is w, of class 0's (the negated logit) -w, at every map
    conv, dense = model.get_layer("c"), model.layers[-1]
    maps = fastconv.conv2d(x[None].astype(np.float64), conv.kernel, conv.bias)[0]
    w = dense.kernel[:, 0].astype(np.float64).reshape(maps.shape)
    for k, sign in ((0, -1.0), (1, 1.0)):
        cam = np.maximum(maps @ (sign * w).mean(axis=(0, 1)), 0)
        assert cam.max() > 0            # each class has places that raise its score
        np.testing.assert_allclose(utils.grad_cam(model, x, "c", class_index=k),
                                   cam / cam.max(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"class {k}")
    predicted = int(model.predict(x[None], verbose=0)[0, 0] > 0.5)
    np.testing.assert_array_equal(utils.grad_cam(model, x, "c"),
                                  utils.grad_cam(model, x, "c", class_index=predicted))


def test_filter_pattern_raises_the_filters_activation(trained):
    conv = trained.get_layer("last_conv")
    upto = models.Model(trained.input, conv.output)
    start = np.random.default_rng(4).uniform(0.4, 0.6, (1, 24, 24, 3)).astype(np.float32)
    alive = [f for f in range(16) if upto.predict(start, verbose=0)[..., f].mean() > 0]
    assert len(alive) >= 8
    for f in alive[:4]:
        before = upto.predict(start, verbose=0)[..., f].mean()
        pattern = utils.filter_pattern(trained, "last_conv", f, steps=20, seed=4)
        assert pattern.shape == (24, 24, 3) and pattern.dtype == np.float32
        after = upto.predict(pattern[None], verbose=0)[..., f].mean()
        assert after > 5 * before
        # more steps climb higher
        longer = utils.filter_pattern(trained, "last_conv", f, steps=40, seed=4)
        assert upto.predict(longer[None], verbose=0)[..., f].mean() > after
    # a filter silent on the grey start still climbs (on its pre-activation until it responds)
    silent = [f for f in range(16) if f not in alive]
    assert silent            # this seed leaves some (3 and 5)
    for f in silent[:2]:
        pattern = utils.filter_pattern(trained, "last_conv", f, steps=20, seed=4)
        assert upto.predict(pattern[None], verbose=0)[..., f].mean() > 0.1
    # zero steps: the grey start itself
    grey = utils.filter_pattern(trained, "last_conv", 0, steps=0, seed=4)
    assert grey.min() >= 0.4 and grey.max() <= 0.6


def test_filter_pattern_grows_beyond_the_input_size(trained):
    big = utils.filter_pattern(trained, trained.layers[0].name, 0, size=(40, 32), steps=3,
                               seed=5)
    assert big.shape == (40, 32, 3)
    # the layers were not touched: the model still takes 24x24
    assert trained.predict(np.zeros((1, 24, 24, 3), np.float32), verbose=0).shape == (1, 2)


def test_feature_maps_are_the_layers_outputs(trained):
    x, _, _ = draw_squares(1, np.random.default_rng(6))
    maps = utils.feature_maps(trained, x[0])
    assert [name for name, _ in maps] == [l.name for l in trained.layers[:3]]
    assert [m.shape for _, m in maps] == [(24, 24, 8), (12, 12, 8), (12, 12, 16)]
    by_hand = models.Model(trained.input, [l.output for l in trained.layers[:3]]).predict(
        x, verbose=0)
    for (_, m), want in zip(maps, by_hand):
        np.testing.assert_array_equal(m, want[0])


def test_pictures_are_written(trained, tmp_path):
    pytest.importorskip("matplotlib")
    x, _, _ = draw_squares(1, np.random.default_rng(7))
    files = [utils.plot_feature_maps(trained, x[0], tmp_path / "maps.png", images_per_row=4),
             utils.plot_filter_patterns(trained, "last_conv", tmp_path / "patterns.png",
                                        filters=[0, 1, 2], steps=3, seed=0),
             utils.plot_grad_cam(trained, x, "last_conv", tmp_path / "cam.png",
                                 class_names=["red", "blue"])]
    for f in files:
        with open(f, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_refused_by_name(trained, tmp_path):
    x, _, _ = draw_squares(1, np.random.default_rng(8))
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        utils.grad_cam(trained, x[0], "nope")
    dense = trained.layers[-1].name
    with pytest.raises(ValueError, match=rf"layer '{dense}' \(Dense\) gives \(None, 2\); it "
                                         r"needs a convolutional layer"):
        utils.grad_cam(trained, x[0], dense)
    with pytest.raises(ValueError, match=r"takes images of shape \(24, 24, 3\).*got "
                                         r"\(24, 24\)"):
        utils.grad_cam(trained, x[0, :, :, 0], "last_conv")
    with pytest.raises(ValueError, match=r"got \(2, 24, 24, 3\)"):
        utils.feature_maps(trained, np.zeros((2, 24, 24, 3)))
    with pytest.raises(ValueError, match=r"filter_index must be an integer in \[0, 16\) for "
                                         r"layer 'last_conv' with 16 filters, got 16"):
        utils.filter_pattern(trained, "last_conv", 16)
    with pytest.raises(ValueError, match="filter_index"):
        utils.filter_pattern(trained, "last_conv", -1)
    with pytest.raises(ValueError, match=r"class_index must be an integer in \[0, 2\)"):
        utils.grad_cam(trained, x[0], "last_conv", class_index=2)
    with pytest.raises(TypeError, match="layer_name must be a layer's name"):
        utils.grad_cam(trained, x[0], 3)
    small = models.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3, name="c")])
    with pytest.raises(ValueError, match=r"the layers before 'c' cannot take \(2, 2\) images"):
        utils.filter_pattern(small, "c", 0, size=(2, 2))
    with pytest.raises(ValueError, match="step_size must be a positive number"):
        utils.filter_pattern(trained, "last_conv", 0, step_size=0)
    with pytest.raises(ValueError, match="value_range"):
        utils.filter_pattern(trained, "last_conv", 0, value_range=(1, 1))
    with pytest.raises(ValueError, match="images_per_row must be a positive integer"):
        utils.plot_feature_maps(trained, x[0], tmp_path / "m.png", images_per_row=0)


def test_pictures_without_matplotlib_name_the_extra(trained, monkeypatch, tmp_path):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    x, _, _ = draw_squares(1, np.random.default_rng(9))
    for call in (lambda: utils.plot_feature_maps(trained, x[0], tmp_path / "a.png"),
                 lambda: utils.plot_grad_cam(trained, x[0], "last_conv", tmp_path / "b.png"),
                 lambda: utils.plot_filter_patterns(trained, "last_conv", tmp_path / "c.png")):
        with pytest.raises(ImportError, match=r"needs matplotlib.*fastconv\[plot\]"):
            call()


def test_heatmap_cells_sit_on_the_centres_of_what_they_see():
    """Valid 3x3 convolutions and 2x2 pooling: cell i of the last map is centred on input
    pixel 2 i + 3.5 (the MNIST convnet's conv2); a 'same' stride-2 convolution of a 9-pixel
    input on 2 i (its padding puts one pixel before)."""
    from fastconv.utils.visualization import _cell_centres, _heat_on_image
    model = models.Sequential([layers.Input((28, 28, 1)), layers.Conv2D(2, 3, name="c1"),
                               layers.MaxPooling2D(2), layers.Conv2D(2, 3, name="c2")])
    assert _cell_centres(model, model.get_layer("c2")) == [(2.0, 3.5), (2.0, 3.5)]
    assert _cell_centres(model, model.get_layer("c1")) == [(1.0, 1.0), (1.0, 1.0)]
    same = models.Sequential([layers.Input((9, 8, 1)),
                              layers.Conv2D(1, 3, strides=2, padding="same", name="s")])
    # rows: 9 -> 5 with total padding 2, one before: centres at 2 i; columns: 8 -> 4 with
    # total padding 1, none before: centres at 2 i + 1
    assert _cell_centres(same, same.get_layer("s")) == [(2.0, 0.0), (2.0, 1.0)]
    heat = np.zeros((11, 11), np.float32)
    heat[4, 6] = 1
    big = _heat_on_image(model, model.get_layer("c2"), heat, (28, 28))
    assert np.unravel_index(np.argmax(big), big.shape) in [(11, 15), (12, 15), (11, 16),
                                                           (12, 16)]
