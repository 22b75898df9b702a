"""Cross-entropy per pixel, as segmentation models train (a softmax over the last axis of
(n, height, width, classes) outputs, a label per pixel): the loss is Keras's, the mean over
every pixel of every sample; gradients by finite differences in float64, fused with the
softmax and not; accuracy is the fraction of pixels right."""
import numpy as np
import pytest

from fastconv import layers, losses, metrics, models, optimizers


def keras_definition(y, p):
    """Keras's sparse categorical cross-entropy, mean over samples and pixels."""
    flat = p.reshape(-1, p.shape[-1])
    return float(np.mean(-np.log(flat[np.arange(flat.shape[0]), y.reshape(-1)])))


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("label_shape", [(3, 4, 5), (3, 4, 5, 1)])
def test_sparse_loss_per_pixel_by_definition_and_finite_differences(rng, label_shape):
    z = rng.standard_normal((3, 4, 5, 6))
    y = rng.integers(0, 6, label_shape)
    loss = losses.get("sparse_categorical_crossentropy")
    loss.check_targets(y, (None, 4, 5, 6))
    value, p, grad = loss.value_and_grad_from_logits(y, z)
    assert value == pytest.approx(keras_definition(y, softmax(z)), rel=1e-12)
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (2, 3, 4, 5), (1, 2, 1, 3)]:
        zp, zm = z.copy(), z.copy()
        zp[idx] += eps
        zm[idx] -= eps
        num = (keras_definition(y, softmax(zp)) - keras_definition(y, softmax(zm))) / (2 * eps)
        assert grad[idx] == pytest.approx(num, rel=1e-6, abs=1e-10)
    # on probabilities (not fused): the same value, and the gradient with respect to them
    value2, grad_p = loss.value_and_grad(y, softmax(z))
    assert value2 == pytest.approx(value, rel=1e-9)
    pr = softmax(z)
    for idx in [(0, 1, 2, 3), (2, 0, 4, 1)]:
        a, b = pr.copy(), pr.copy()
        a[idx] += eps
        b[idx] -= eps
        num = (loss.value_and_grad(y, a)[0] - loss.value_and_grad(y, b)[0]) / (2 * eps)
        assert grad_p[idx] == pytest.approx(num, rel=1e-5, abs=1e-9)
    onehot = np.eye(6)[y.reshape(label_shape[:3])]
    cat = losses.get("categorical_crossentropy")
    cat.check_targets(onehot, (None, 4, 5, 6))
    assert cat.value_and_grad_from_logits(onehot, z)[0] == pytest.approx(value, rel=1e-12)
    with pytest.raises(ValueError, match=r"labels of shape \(n, 4, 5\) or \(n, 4, 5, 1\)"):
        loss.check_targets(y[:, :2], (None, 4, 5, 6))
    with pytest.raises(ValueError, match=r"one-hot of shape \(n, 4, 5, 6\)"):
        cat.check_targets(onehot[..., :3], (None, 4, 5, 6))


def test_a_softmax_per_pixel_model_trains_and_reports_pixel_accuracy(rng):
    # a drawn task: each pixel's class is which of its three input channels is largest
    x = rng.random((24, 6, 6, 3)).astype("float32")
    y = x.argmax(-1)[..., None]
    inputs = layers.Input((6, 6, 3))
    h = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    model = models.Model(inputs, layers.Conv2D(3, 1, activation="softmax")(h))
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    assert before["loss"] == pytest.approx(keras_definition(y, model.predict(x, verbose=0)),
                                           rel=1e-5)
    model.fit(x, y, epochs=40, batch_size=8, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)
    # measured over 5 seeds: loss ratios 0.17-0.23, pixel accuracy 0.95-0.99
    assert after["loss"] < before["loss"] * 0.4 and after["accuracy"] > 0.9
    pred = model.predict(x, verbose=0).argmax(-1)
    assert after["accuracy"] == pytest.approx(float(np.mean(pred == y[..., 0])), abs=1e-6)
    acc = metrics.SparseCategoricalAccuracy()
    acc.update(y, model.predict(x, verbose=0))
    assert acc.result() == pytest.approx(after["accuracy"], abs=1e-6)
