"""Models as layers and frozen layers, as Keras 3 has them: a Sequential or Model called on a
symbolic tensor, added to a Sequential or nested in a Model, runs its own graph forward and
back; ``trainable`` (recursive on a model) decides what the optimizer updates, from the next
compile on; a frozen BatchNormalization runs in inference mode; a frozen prefix runs forward
only."""
import pickle

import numpy as np
import pytest

from fastconv import layers, models
from _helpers import numerical_gradient


def conv_base(name="conv_base", seed=0):
    """A small convolutional base of unknown spatial size, as VGG16(include_top=False)."""
    inputs = layers.Input((None, None, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name=f"{name}_c1",
                      dtype=inputs.dtype)(inputs)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = layers.Conv2D(5, 3, activation="relu", name=f"{name}_c2")(x)
    return models.Model(inputs, x, name=name)


def transfer_model(base=None):
    base = base or conv_base()
    augmentation = models.Sequential([layers.RandomFlip("horizontal", seed=3),
                                      layers.Conv2D(3, 1, name="mix")], name="augmentation")
    inputs = layers.Input((12, 12, 3))
    x = base(augmentation(inputs))
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return models.Model(inputs, outputs), augmentation, base


def data(rng, n=6, size=12):
    return rng.random((n, size, size, 3)).astype("float32"), np.eye(2)[rng.integers(0, 2, n)]


def test_a_nested_model_computes_what_its_layers_compute(rng):
    model, augmentation, base = transfer_model()
    x, _ = data(rng)
    want = x
    for layer in augmentation.layers:
        want = layer(want)
    want = base.predict(want, verbose=0)
    # a model's output is its own graph's, as in Keras: the call's is the next layer's input
    got = models.Model(model.input, model.get_layer("flatten").input).predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got.shape == (6, 4, 4, 5)
    assert base.output.shape == (None, None, None, 5)
    # a base of unknown size takes any size on its own
    assert base.predict(rng.random((2, 20, 14, 3)), verbose=0).shape == (2, 8, 5, 5)
    assert model.get_layer("flatten").input.shape == (None, 4, 4, 5)


def test_models_in_a_sequential_and_a_model_called_on_arrays(rng):
    inner = models.Sequential([layers.Dense(3, activation="tanh", input_shape=(4,))])
    outer = models.Sequential([inner, layers.Dense(2)])
    assert outer.input_shape == (None, 4) and outer.output_shape == (None, 2)
    x = rng.random((5, 4)).astype("float32")
    np.testing.assert_allclose(outer.predict(x, verbose=0),
                               outer.layers[1](inner(x)), rtol=1e-6)
    np.testing.assert_array_equal(inner(x), inner.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"model 'conv_base' takes inputs of shape "
                                         r"\(None, None, None, 3\), but receives"):
        conv_base()(layers.Input((8, 8, 2)))


def test_gradients_through_nested_models_by_finite_differences(rng):
    # float64 throughout: the input gradient and every weight's gradient, nested weights too
    inputs = layers.Input((6, 6, 2), dtype="float64")
    inner_in = layers.Input((6, 6, 2), dtype="float64")
    h = layers.Conv2D(3, 3, activation="tanh", dtype="float64")(inner_in)
    inner = models.Model(inner_in, layers.BatchNormalization(dtype="float64")(h))
    seq = models.Sequential([layers.Conv2D(2, 1, activation="tanh", dtype="float64",
                                           input_shape=(4, 4, 3)),
                             layers.Flatten(dtype="float64")])
    outputs = layers.Dense(1, dtype="float64")(seq(inner(inputs)))
    model = models.Model(inputs, outputs)
    model.compile("sgd", "mean_squared_error")
    x = rng.standard_normal((3, 6, 6, 2))
    dy = rng.standard_normal((3, 1))

    def f(xv):
        return float((model.predict(xv, verbose=0) * dy).sum())
    dx = model.input_gradient(x, dy)
    eps = 1e-6
    for idx in [(0, 1, 2, 0), (2, 5, 5, 1), (1, 3, 0, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        assert abs((f(xp) - f(xm)) / (2 * eps) - dx[idx]) < 1e-6 * max(1, abs(dx[idx]))
    # weight gradients: the training step's, in inference-free form (BatchNormalization uses
    # batch statistics in training: differentiate the training-mode loss)
    weights = model.trainable_weights
    assert len(weights) == 2 + 2 + 2 + 2
    model._graph.set_gradient_needs()
    out, = model._graph.run(x, training=True)
    model._graph.backward([dy])
    grads = [g.copy() for g in model.grads]

    def loss():
        out, = model._graph.run(x, training=True)
        return float((out * dy).sum())
    for w, g in zip(weights, grads):        # every entry of every weight
        num = numerical_gradient(loss, w, eps)
        assert np.all(np.abs(num - g) < 1e-6 * np.maximum(1, np.abs(g)))


def test_fit_trains_nested_weights(rng):
    model, augmentation, base = transfer_model()
    model.compile("rmsprop", "categorical_crossentropy")
    before = [w.copy() for w in model.weights]
    model.fit(*data(rng), epochs=1, batch_size=3, verbose=0)
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.weights)]
    assert all(changed[:2]) and all(changed[2:4])    # the augmentation's and the base's conv


def test_trainable_counts_as_keras_and_frozen_weights_stay_bitwise(rng):
    model, augmentation, base = transfer_model()
    assert len(base.trainable_weights) == 6           # two convs' kernel and bias, gamma, beta
    assert len(base.non_trainable_weights) == 2        # the moving statistics
    base.trainable = False
    assert base.trainable_weights == [] and len(base.non_trainable_weights) == 8
    assert all(not l.trainable for l in base.layers)
    assert len(model.trainable_weights) == 2 + 2     # the augmentation's conv, the Dense
    lines = []
    model.summary(print_fn=lines.append)
    total = model.count_params()
    frozen = sum(w.size for w in base.weights)
    assert f" Trainable params: {total - frozen:,} " in "\n".join(lines) + " "
    assert any(l.startswith(f" Non-trainable params: {frozen:,} ") for l in lines)
    model.compile("rmsprop", "categorical_crossentropy")
    frozen_before = [w.copy() for w in base.weights]
    others_before = [w.copy() for w in model.trainable_weights]
    model.fit(*data(rng), epochs=2, batch_size=3, verbose=0)
    for a, b in zip(frozen_before, base.weights):      # BatchNormalization's statistics too
        np.testing.assert_array_equal(a, b)
    assert all(not np.array_equal(a, b) for a, b in zip(others_before,
                                                         model.trainable_weights))


def test_a_change_of_trainable_takes_effect_at_the_next_compile(rng):
    model, augmentation, base = transfer_model()
    model.compile("sgd", "categorical_crossentropy")
    base.trainable = False                   # after compile: the base still trains
    before = [w.copy() for w in base.weights]
    model.fit(*data(rng), batch_size=3, verbose=0)
    assert not np.array_equal(before[0], base.weights[0])
    assert base.trainable is False           # the flag the user set stays
    model.compile("sgd", "categorical_crossentropy")
    before = [w.copy() for w in base.weights]
    model.fit(*data(rng), batch_size=3, verbose=0)
    for a, b in zip(before, base.weights):
        np.testing.assert_array_equal(a, b)
    # fine-tuning: the base's last layer trains again, its earlier ones stay
    base.trainable = True
    for layer in base.layers[:-1]:
        layer.trainable = False
    model.compile("sgd", "categorical_crossentropy")
    assert len(model.trainable_weights) == 2 + 2 + 2
    before = [w.copy() for w in base.weights]
    model.fit(*data(rng), batch_size=3, verbose=0)
    changed = [not np.array_equal(a, b) for a, b in zip(before, base.weights)]
    assert changed == [False] * 6 + [True, True]


def test_a_frozen_prefix_is_not_run_backward(rng, monkeypatch):
    model, augmentation, base = transfer_model()
    augmentation.trainable = False
    base.trainable = False
    calls = []
    for layer in augmentation.layers + base.layers[1:]:
        monkeypatch.setattr(layer, "backward",
                            lambda dy, name=layer.name: calls.append(name))
    model.compile("rmsprop", "categorical_crossentropy")
    model.fit(*data(rng), batch_size=3, verbose=0)
    assert calls == []
    # unfrozen, the same layers do run backward
    base.trainable = True
    model.compile("rmsprop", "categorical_crossentropy")
    monkeypatch.undo()
    before = base.weights[0].copy()
    model.fit(*data(rng), batch_size=3, verbose=0)
    assert not np.array_equal(before, base.weights[0])


def test_a_frozen_batch_normalization_runs_in_inference_mode(rng):
    bn = layers.BatchNormalization()
    model = models.Sequential([layers.Input((4, 4, 2)), layers.Conv2D(2, 1), bn,
                               layers.Flatten(), layers.Dense(1)])
    bn.moving_mean[...] = [0.5, -0.5]
    bn.moving_variance[...] = [2.0, 3.0]
    bn.trainable = False
    model.compile("sgd", "mean_squared_error")
    x = rng.random((8, 4, 4, 2)).astype("float32")
    y = rng.random((8, 1)).astype("float32")
    stats = [bn.moving_mean.copy(), bn.moving_variance.copy()]
    # in training the frozen layer normalises by its moving statistics, as predict does
    loss = model.train_on_batch(x, y)
    np.testing.assert_array_equal(stats[0], bn.moving_mean)
    np.testing.assert_array_equal(stats[1], bn.moving_variance)
    assert np.isfinite(loss)


@pytest.mark.parametrize("suffix", [".keras", ".fastconv", "pickle"])
def test_nested_models_save_and_load_with_their_trainable_flags(tmp_path, rng, suffix):
    if suffix == ".keras":
        pytest.importorskip("h5py")
    model, augmentation, base = transfer_model()
    base.trainable = False
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(*data(rng), batch_size=3, verbose=0)
    x, _ = data(rng)
    if suffix == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        model.save(tmp_path / f"m{suffix}")
        loaded = models.load_model(tmp_path / f"m{suffix}")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    nested = loaded.get_layer("conv_base")
    assert isinstance(nested, models.Model) and nested.trainable is False
    assert nested.input_shape == (None, None, None, 3)
    assert isinstance(loaded.get_layer("augmentation"), models.Sequential)
    assert len(loaded.trainable_weights) == 4
    if suffix != "pickle":
        assert loaded.optimizer.iterations == 2
        # the optimizer's slots follow the weights they belong to
        for (a, b) in zip(model.optimizer.get_state()[1], loaded.optimizer.get_state()[1]):
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])
        xs, ys = data(np.random.default_rng(5))
        model.train_on_batch(xs, ys)
        loaded.train_on_batch(xs, ys)
        for a, b in zip(model.get_weights(), loaded.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_keras_weights_file_of_a_nested_model_both_ways(tmp_path, rng):
    pytest.importorskip("h5py")
    model, _, base = transfer_model()
    model.save_weights(tmp_path / "w.weights.h5")
    other, _, _ = transfer_model()
    other.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    import h5py
    with h5py.File(tmp_path / "w.weights.h5") as f:
        names = []
        f.visit(names.append)
    assert "layers/functional/layers/conv2d/vars/0" in names        # Keras's nested layout
    assert "layers/sequential/layers/conv2d/vars/1" in names


def test_summary_shows_nested_models_as_keras_does():
    model, _, _ = transfer_model()
    lines = []
    model.summary(print_fn=lines.append)
    rows = [l.split() for l in lines]
    assert ["augmentation", "(Sequential)", "(None,", "12,", "12,", "3)", "12"] in rows
    assert ["conv_base", "(Functional)", "(None,", "4,", "4,", "5)", "313"] in rows
    assert not any(r[:1] == ["conv_base_c1"] for r in rows)
    lines = []
    model.summary(print_fn=lines.append, expand_nested=True)
    assert any(l.split()[:3] == ["\u2514", "conv_base_c1", "(Conv2D)"] and
               "(None, None, None, 4)" in l for l in lines)


def test_plot_model_draws_a_nested_model_as_one_box(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes
    from fastconv.utils import plot_model
    model, _, _ = transfer_model()
    titles = []
    real = Axes.text

    def text(self, x, y, s, *args, **kwargs):
        titles.append(s)
        return real(self, x, y, s, *args, **kwargs)
    monkeypatch.setattr(Axes, "text", text)
    out = plot_model(model, str(tmp_path / "m.png"), show_shapes=True)
    assert open(out, "rb").read(4) == b"\x89PNG"
    assert "conv_base (Functional)" in titles and "augmentation (Sequential)" in titles
    assert any("output: (None, 4, 4, 5)" in t for t in titles)
