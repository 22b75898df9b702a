"""Regularizers: L1, L2 and L1L2 by their formulas, Keras's names and serialized form, and in
training: the loss fit and evaluate report includes the penalties, and the step follows their
gradients (central differences in float64)."""
import numpy as np
import pytest

from fastconv import layers, models, optimizers, regularizers
from _helpers import numerical_gradient, random


def test_penalties_and_gradients_are_the_formulas(rng):
    w = random(rng, (3, 4))
    w[0, 0] = 0.0
    for r, l1, l2 in ((regularizers.L1(0.3), 0.3, 0), (regularizers.L2(0.2), 0, 0.2),
                      (regularizers.L1L2(0.1, 0.5), 0.1, 0.5), (regularizers.L1L2(), 0, 0)):
        assert r(w) == pytest.approx(l1 * np.abs(w).sum() + l2 * (w ** 2).sum(), rel=1e-12)
        np.testing.assert_allclose(r.gradient(w), l1 * np.sign(w) + 2 * l2 * w, rtol=1e-12)
        assert r.gradient(w)[0, 0] == 0.0      # |w|'s slope at 0 taken as 0, as Keras's


def test_keras_names_and_serialized_form():
    assert regularizers.get("l2").l2 == 0.01 and regularizers.get("l1").l1 == 0.01
    assert (regularizers.get("l1l2").l1, regularizers.get("l1l2").l2) == (0.0, 0.0)
    assert regularizers.l1_l2 is regularizers.L1L2 and regularizers.get(None) is None
    r = regularizers.L1L2(0.01, 0.02)
    assert regularizers.get(r) is r
    data = regularizers.serialize(regularizers.L2(0.05))
    assert data == {"module": "keras.regularizers", "class_name": "L2",
                    "config": {"l2": 0.05}, "registered_name": None}
    assert regularizers.get(data).l2 == 0.05
    for bad in ("l3", {"class_name": "Orthogonal", "config": {}}, 0.01,
                {"class_name": "L2", "config": {"l1": 0.1}}):
        with pytest.raises(ValueError, match="unknown regularizer"):
            regularizers.get(bad)
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(-1)


def model_with_penalties(regularized=True):
    r = regularized
    return models.Sequential([
        layers.Input((5, 5, 2)),
        layers.Conv2D(3, 3, kernel_regularizer="l2" if r else None,
                      bias_regularizer=regularizers.L1(0.05) if r else None, dtype="float64"),
        layers.DepthwiseConv2D(2, depth_multiplier=2, dtype="float64",
                               depthwise_regularizer=regularizers.L1L2(0.01, 0.03) if r
                               else None,
                               activity_regularizer=regularizers.L2(0.1) if r else None),
        layers.Flatten(dtype="float64"),
        layers.Dense(2, kernel_regularizer=regularizers.L1(0.02) if r else None,
                     activity_regularizer=regularizers.L1(0.05) if r else None,
                     dtype="float64")])


def test_the_reported_loss_adds_the_penalties(rng):
    x, y = random(rng, (6, 5, 5, 2)), random(rng, (6, 2))
    model, plain = model_with_penalties(), model_with_penalties(regularized=False)
    plain.set_weights(model.get_weights())
    for m in (model, plain):
        m.compile("sgd", "mse")
    conv, depthwise, _, dense = model.layers
    hidden = models.Sequential(model.layers[:2]).predict(x, verbose=0)
    out = model.predict(x, verbose=0)
    penalty = (0.01 * (conv.kernel ** 2).sum() + 0.05 * np.abs(conv.bias).sum()
               + 0.01 * np.abs(depthwise.kernel).sum() + 0.03 * (depthwise.kernel ** 2).sum()
               + 0.02 * np.abs(dense.kernel).sum()
               + 0.1 * (hidden ** 2).sum() / 6 + 0.05 * np.abs(out).sum() / 6)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        plain.evaluate(x, y, verbose=0) + penalty, rel=1e-10)
    # frozen layers' weights carry no penalty (Keras counts trainable weights only)
    conv.trainable = False
    model.compile("sgd", "mse")
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        plain.evaluate(x, y, verbose=0) + penalty - 0.01 * (conv.kernel ** 2).sum()
        - 0.05 * np.abs(conv.bias).sum(), rel=1e-10)


def test_a_training_step_follows_the_penalties_gradients(rng):
    x, y = random(rng, (4, 5, 5, 2)), random(rng, (4, 2))
    model = model_with_penalties()
    model.compile(optimizers.SGD(learning_rate=1.0), "mse")
    before = [w.copy() for w in model.get_weights()]

    def loss():
        return model.evaluate(x, y, batch_size=4, verbose=0)
    numeric = [numerical_gradient(loss, w) for w in model.weights]
    model.train_on_batch(x, y)
    for i, (b, a, g) in enumerate(zip(before, model.get_weights(), numeric)):
        np.testing.assert_allclose(b - a, g, rtol=1e-6, atol=1e-8, err_msg=f"weight {i}")


def test_regularizers_survive_the_files(tmp_path, rng):
    model = model_with_penalties()
    model.compile("adam", "mse")
    for suffix in (".keras", ".fastconv"):
        model.save(tmp_path / f"m{suffix}")
        loaded = models.load_model(tmp_path / f"m{suffix}")
        conv, depthwise, _, dense = loaded.layers
        assert conv.kernel_regularizer.l2 == 0.01 and conv.bias_regularizer.l1 == 0.05
        assert (depthwise.depthwise_regularizer.l1, depthwise.depthwise_regularizer.l2) == \
            (0.01, 0.03)
        assert depthwise.activity_regularizer.l2 == 0.1 and dense.activity_regularizer.l1 == 0.05
        x, y = random(rng, (3, 5, 5, 2)), random(rng, (3, 2))
        assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0),
                                                                 rel=1e-12)
