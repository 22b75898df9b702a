"""Sequential: summary, compile, fit/evaluate/predict, weights, callbacks, interrupts."""
import os
import re
import signal

import numpy as np
import pytest

from fastconv import callbacks, layers, losses, models, optimizers
from fastconv.examples.mnist import build_network
from fastconv.utils import set_random_seed, to_categorical
from _helpers import numerical_gradient, random


def seed_network():
    """The Keras book's MNIST convnet, as fastconv train-mnist builds it."""
    return build_network()


def tiny_model(loss="categorical_crossentropy", last="softmax", dtype="float64"):
    m = models.Sequential([
        layers.Input((8, 8, 2), dtype=dtype),
        layers.Conv2D(3, 3, activation="relu", dtype=dtype, bias_initializer="random_normal"),
        layers.MaxPooling2D(2, dtype=dtype),
        layers.Conv2D(4, 2, padding="same", activation="tanh", dtype=dtype),
        layers.Flatten(dtype=dtype),
        layers.Dense(5, activation="sigmoid", dtype=dtype),
        layers.Dense(3, activation=last, dtype=dtype),
    ])
    m.compile("sgd", loss, metrics=["accuracy"])
    return m


def test_summary_matches_keras_parameter_counts():
    lines = []
    network = seed_network()
    network.summary(print_fn=lines.append)
    text = "\n".join(lines)
    counts = [layer.count_params() for layer in network.layers]
    assert counts == [320, 0, 18496, 0, 36928, 0, 36928, 650]
    for fragment in ["(None, 26, 26, 32)", "(None, 576)", "18,496", "36,928",
                     "Total params: 93,322 (364.54 KB)", "Trainable params: 93,322",
                     "Non-trainable params: 0", "(Conv2D)", "(MaxPooling2D)", "(Dense)"]:
        assert fragment in text
    assert network.count_params() == 93322


@pytest.mark.parametrize("loss,last", [("categorical_crossentropy", "softmax"),
                                       ("sparse_categorical_crossentropy", "softmax"),
                                       ("mean_squared_error", "linear"),
                                       ("categorical_crossentropy", "sigmoid")])
def test_whole_model_gradients_match_finite_differences(rng, loss, last):
    set_random_seed(5)
    m = tiny_model(loss, last)
    x = random(rng, (4, 8, 8, 2))
    labels = np.array([0, 2, 1, 2])
    y = labels if loss.startswith("sparse") else to_categorical(labels, 3).astype(np.float64)
    _, _, grad = m._loss_and_gradient(x, y, training=True)
    for layer in reversed(m.layers):
        grad = layer.backward(grad)
        if grad is None:
            break
    for layer in m.layers:
        for weight, g in zip(layer.weights, layer.grads):
            num = numerical_gradient(lambda: m._loss_and_gradient(x, y, False)[0], weight)
            np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=layer.name)


def test_fused_softmax_crossentropy_is_stable_for_extreme_logits():
    loss = losses.get("categorical_crossentropy")
    z = np.array([[1000.0, -1000.0, 0.0]])
    y = np.array([[0.0, 1.0, 0.0]])
    value, p, grad = loss.value_and_grad_from_logits(y, z)
    assert value == pytest.approx(2000.0) and np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[1, -1, 0]], atol=1e-12)


def test_compile_rejects_unknown_names_listing_valid_ones():
    m = tiny_model()
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'; valid names: adam, "
                                         "rmsprop, sgd"):
        m.compile("adagrad", "mse")
    with pytest.raises(ValueError, match="unknown loss 'hinge'; valid names: "
                                         "binary_crossentropy, categorical_crossentropy"):
        m.compile("sgd", "hinge")
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        m.compile("sgd", "mse", metrics=["auc"])
    with pytest.raises(ValueError, match="a loss is required"):
        m.compile("sgd")


def test_optimizer_steps_follow_keras_formulas():
    g = np.array([0.5, -2.0])
    p = np.array([1.0, 1.0])
    opt = optimizers.RMSprop()
    opt.apply([p], [g])
    v = 0.1 * g * g
    np.testing.assert_allclose(p, 1 - 0.001 * g / np.sqrt(v + 1e-7))
    g2 = np.array([-1.0, 3.0])
    opt.apply([p], [g2])                    # the second step carries v over
    v2 = 0.9 * v + 0.1 * g2 * g2
    np.testing.assert_allclose(p, 1 - 0.001 * g / np.sqrt(v + 1e-7)
                               - 0.001 * g2 / np.sqrt(v2 + 1e-7))
    p32 = np.ones(2, np.float32)
    optimizers.RMSprop().apply([p32], [g.astype(np.float32)])
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, 1 - 0.001 * g / np.sqrt(v + 1e-7), rtol=1e-6)
    p = np.array([1.0, 1.0])
    opt = optimizers.SGD(0.1, momentum=0.9, nesterov=True)
    opt.apply([p], [g])
    opt.apply([p], [g])
    m1 = -0.1 * g
    m2 = 0.9 * m1 - 0.1 * g
    np.testing.assert_allclose(p, 1 + (0.9 * m1 - 0.1 * g) + (0.9 * m2 - 0.1 * g))
    p = np.array([1.0, 1.0])
    optimizers.Adam(0.01).apply([p], [g])
    np.testing.assert_allclose(p, 1 - 0.01 * np.sign(g), rtol=1e-5)   # first step: lr * sign
    # the first step shows nothing of the moments: three more, betas off their defaults
    opt, p, want = optimizers.Adam(0.01, beta_1=0.5, beta_2=0.7), np.ones(2), np.ones(2)
    m = v = np.zeros(2)
    for t, gt in enumerate([g, g2, 3 * g - g2], start=1):
        opt.apply([p], [gt])
        m, v = 0.5 * m + 0.5 * gt, 0.7 * v + 0.3 * gt * gt
        m_hat, v_hat = m / (1 - 0.5 ** t), v / (1 - 0.7 ** t)
        want = want - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-7 / np.sqrt(1 - 0.7 ** t))
        np.testing.assert_allclose(p, want, rtol=1e-12, err_msg=f"Adam step {t}")


def test_fit_evaluate_predict_and_history(rng, capsys):
    set_random_seed(0)
    m = tiny_model()
    x = random(rng, (40, 8, 8, 2))
    y = to_categorical(rng.integers(0, 3, 40), 3)
    history = m.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert capsys.readouterr().out == ""
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 3 for v in history.history.values()) and history.epoch == [0, 1, 2]
    loss, acc = m.evaluate(x, y, verbose=0)
    assert 0 <= acc <= 1 and loss > 0
    assert m.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(loss)
    p = m.predict(x, batch_size=7, verbose=0)
    assert p.shape == (40, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1)
    np.testing.assert_allclose(m.predict_on_batch(x[:5]), p[:5])
    out = m.train_on_batch(x[:8], y[:8])
    assert len(out) == 2
    h2 = m.fit(x, y, epochs=1, validation_data=(x[:8], y[:8]), verbose=0)
    assert "val_loss" in h2.history


def _per_sample(loss, y, p):
    """(loss, accuracy) of each sample by Keras's definitions, from predicted probabilities."""
    if loss == "categorical_crossentropy":
        return -np.sum(y * np.log(p), axis=1), np.argmax(y, axis=1) == np.argmax(p, axis=1)
    if loss == "sparse_categorical_crossentropy":
        return -np.log(p[np.arange(len(y)), y]), y == np.argmax(p, axis=1)
    return (-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1),
            np.mean((p > 0.5) == (y > 0.5), axis=1))


class _Recorder(callbacks.Callback):
    """What the model predicts for each training batch before its step (fit's shuffle off:
    batch k is x[k * size:(k + 1) * size]) and for the validation data at each epoch's end."""

    def __init__(self, x, size, x_val):
        super().__init__()
        self.x, self.size, self.x_val = x, size, x_val
        self.train, self.val = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.train.append([])

    def on_train_batch_begin(self, batch, logs=None):
        xb = self.x[batch * self.size:(batch + 1) * self.size]
        self.train[-1].append(self.model.predict(xb, verbose=0))

    def on_epoch_end(self, epoch, logs=None):
        self.val.append(self.model.predict(self.x_val, verbose=0))


@pytest.mark.parametrize("loss,last", [("categorical_crossentropy", "softmax"),
                                       ("sparse_categorical_crossentropy", "softmax"),
                                       ("binary_crossentropy", "sigmoid")])
def test_evaluate_and_history_equal_keras_quantities_computed_from_predict(rng, loss, last):
    # 40 samples in batches of 16 leave a short last batch of 8: the mean is over samples,
    # not over batches; accuracy compares labels along the class axis
    set_random_seed(1)
    m = tiny_model(loss, last)
    x, x_val = random(rng, (40, 8, 8, 2)), random(rng, (13, 8, 8, 2))
    labels, labels_val = rng.integers(0, 3, 40), rng.integers(0, 3, 13)
    if loss == "categorical_crossentropy":
        y, y_val = to_categorical(labels, 3), to_categorical(labels_val, 3)
    elif loss == "sparse_categorical_crossentropy":
        y, y_val = labels, labels_val
    else:
        y, y_val = rng.integers(0, 2, (40, 3)).astype(float), rng.integers(0, 2, (13, 3)) * 1.0
    m.compile(optimizers.SGD(0.5), loss, metrics=["accuracy"])
    recorder = _Recorder(x, 16, x_val)
    history = m.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                    validation_data=(x_val, y_val), validation_batch_size=5,
                    callbacks=[recorder])
    for epoch in range(3):
        losses_, hits = _per_sample(loss, y, np.concatenate(recorder.train[epoch]))
        val_losses, val_hits = _per_sample(loss, y_val, recorder.val[epoch])
        for key, want in (("loss", losses_.mean()), ("accuracy", hits.mean()),
                          ("val_loss", val_losses.mean()), ("val_accuracy", val_hits.mean())):
            assert history.history[key][epoch] == pytest.approx(want, rel=1e-10), (key, epoch)
    losses_, hits = _per_sample(loss, y, m.predict(x, batch_size=7, verbose=0))
    assert 0 < hits.mean() < 1                      # the accuracy can be wrong either way
    got = m.evaluate(x, y, batch_size=16, verbose=0)
    assert got == pytest.approx([losses_.mean(), hits.mean()], rel=1e-10)
    assert m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True) == pytest.approx(
        {"loss": losses_.mean(), "accuracy": hits.mean()}, rel=1e-10)


def test_verbose_levels(rng, capsys):
    m = tiny_model()
    x, y = random(rng, (20, 8, 8, 2)), to_categorical(rng.integers(0, 3, 20), 3)
    m.fit(x, y, epochs=2, batch_size=8, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2" and len(out) == 4
    assert re.match(r"3/3 - \d+s - \d+(ms|us)/step - loss: \d\.\d{4} - accuracy: ", out[1])
    m.fit(x, y, epochs=1, batch_size=8, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("3/3 [==============================] - ")
    assert "loss: " in out[1] and "accuracy: " in out[1]


def test_progress_bar_redraws_in_place_on_a_terminal():
    import io
    from fastconv._progress import Progbar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = Progbar(4, verbose=1, interval=0, stream=stream)
    for step in range(1, 5):
        bar.update(step, [("loss", 1.0 / step)])
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    assert "1/4 [======>.......................] - ETA: " in text
    assert "4/4 [==============================] - " in text and "loss: 0.2500" in text


def test_fit_checks_data_against_the_model(rng):
    m = tiny_model()
    x, y = random(rng, (10, 8, 8, 2)), to_categorical(rng.integers(0, 3, 10), 3)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 8, 8, 2\), got "
                                         r"\(10, 8, 8\)"):
        m.fit(x[..., 0], y, verbose=0)
    with pytest.raises(ValueError, match="x has 10 samples but y has 9"):
        m.fit(x, y[:9], verbose=0)
    with pytest.raises(ValueError, match=r"targets must be one-hot of shape \(n, 3\)"):
        m.fit(x, np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        m.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="call compile"):
        models.Sequential([layers.Dense(2, input_shape=(3,))]).fit(np.ones((2, 3)),
                                                                  np.ones((2, 2)))
    with pytest.raises(ValueError, match="has not been built"):
        models.Sequential([layers.Dense(2)]).summary()


def test_weights_round_trip_and_refusals(rng, tmp_path):
    set_random_seed(1)
    a, b = tiny_model(), tiny_model()
    path = str(tmp_path / "model.weights.npz")
    a.save_weights(path)
    b.load_weights(path)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    x = random(rng, (3, 8, 8, 2))
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    b.set_weights([w * 0 for w in b.get_weights()])
    with pytest.raises(ValueError, match="has 8 weight arrays, got 6"):
        b.set_weights(a.get_weights()[:6])

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(open(path, "rb").read()[:-200])
    with pytest.raises(ValueError, match="not a complete fastconv weights file"):
        b.load_weights(str(truncated))
    other = models.Sequential([layers.Dense(3, input_shape=(4,), dtype="float64")])
    with pytest.raises(ValueError, match="holds weights for layers"):
        other.load_weights(path)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __meta__=np.array([{"format": "fastconv-weights"}], dtype=object))
    with pytest.raises(ValueError, match="not a complete fastconv weights file"):
        b.load_weights(str(pickled))
    with pytest.raises(FileNotFoundError):
        b.load_weights(str(tmp_path / "missing.npz"))
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


@pytest.mark.parametrize("meta", ["1e999", "[]", "null", '"fastconv-weights"', "{",
                                  '{"format": "fastconv-weights", "layers": 7}',
                                  '{"format": "fastconv-weights", "layers": [[1]]}',
                                  '{"format": "fastconv-weights"}', "[" * 100000])
def test_load_weights_refuses_any_description_but_its_own(tmp_path, meta):
    # the JSON description is read before anything else and trusted in nothing (the fuzzer
    # found an AttributeError for a description that was a number)
    model = tiny_model()
    path = tmp_path / "hostile.npz"
    np.savez(path, __meta__=np.array(meta), w0000=np.zeros(3))
    with pytest.raises(ValueError, match="hostile.npz"):
        model.load_weights(str(path))


def test_load_weights_checks_array_headers_before_reading_data(tmp_path):
    # a description that matches, with an array whose header claims another shape or dtype:
    # refused from the header, before its data is read or memory for it allocated
    model = tiny_model()
    good = tmp_path / "good.npz"
    model.save_weights(good)
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    for name, value in [("w0000", np.zeros((1, 10 ** 4), np.float32)),
                        ("w0001", arrays["w0001"].astype(np.int32)),
                        ("w0001", arrays["w0001"].astype(str))]:
        path = tmp_path / "bad.npz"
        np.savez(path, **{**arrays, name: value})
        with pytest.raises(ValueError, match=f"bad.npz .*{name}"):
            model.load_weights(str(path))


def test_same_seed_gives_same_weights_and_loss_curve(rng):
    x, y = random(rng, (32, 8, 8, 2)), to_categorical(rng.integers(0, 3, 32), 3)
    runs = []
    for _ in range(2):
        set_random_seed(42)
        m = models.Sequential([layers.Conv2D(3, 3, activation="relu", input_shape=(8, 8, 2)),
                               layers.Flatten(), layers.Dropout(0.2),
                               layers.Dense(3, activation="softmax")])
        m.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
        initial = m.get_weights()
        history = m.fit(x, y, epochs=3, batch_size=8, verbose=0)
        runs.append((initial, history.history["loss"], m.get_weights()))
    for a, b in zip(runs[0][0] + runs[0][2], runs[1][0] + runs[1][2]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1] and np.isfinite(runs[0][1]).all()


@pytest.fixture
def python_sigint_handler():
    """Python's own Ctrl-C handler, even where the test runner started with SIGINT ignored
    (a background job)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_fit_cleanly_and_leaves_the_model_usable(rng, capsys, python_sigint_handler):
    m = tiny_model()
    x, y = random(rng, (64, 8, 8, 2)), to_categorical(rng.integers(0, 3, 64), 3)
    interrupt = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch == 2 and signal.raise_signal(signal.SIGINT))
    history = m.fit(x, y, epochs=5, batch_size=8, callbacks=[interrupt], verbose=0)
    assert history.history == {}          # stopped inside the first epoch
    assert "Training interrupted in epoch 1 after step 3/8" in capsys.readouterr().out
    assert m.optimizer.iterations == 3
    assert np.isfinite(m.predict(x, verbose=0)).all()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    m.fit(x, y, epochs=1, verbose=0)      # and it trains on


def test_early_stopping_and_callback_hooks(rng):
    m = tiny_model()
    x, y = random(rng, (16, 8, 8, 2)), to_categorical(rng.integers(0, 3, 16), 3)
    seen = []
    hooks = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    history = m.fit(x, y, epochs=10, callbacks=[hooks, stop], verbose=0)
    assert seen == [0, 1] and stop.stopped_epoch == 1 and len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match="unknown hook"):
        callbacks.LambdaCallback(on_everything=print)


class _Doubling(layers.Activation):
    """A layer of the user's own (not fastconv's), for pickling."""

    def forward(self, x, training=False, activate=True):
        return 2 * x


def test_a_model_pickles_as_its_architecture_and_weights(rng):
    import pickle
    seq = models.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(None, None, 3)),
                             layers.MaxPooling2D(2), layers.BatchNormalization(),
                             _Doubling("linear")])
    seq.layers[2].set_weights([rng.random(4) + 0.5, rng.random(4), rng.random(4),
                               rng.random(4) + 0.5])
    inputs = layers.Input((8, 8, 1))
    outputs = layers.Dense(3)(layers.Flatten()(layers.Conv2D(2, 3)(inputs)))
    functional = models.Model(inputs, outputs)
    for model, x in ((seq, rng.random((2, 10, 10, 3))), (functional, rng.random((2, 8, 8, 1)))):
        copy = pickle.loads(pickle.dumps(model))
        assert type(copy) is type(model) and copy is not model
        assert [type(l) for l in copy.layers] == [type(l) for l in model.layers]
        np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(TypeError, match="not built"):
        pickle.dumps(models.Sequential([layers.Dense(2)]))
