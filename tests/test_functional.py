"""The functional API: layers.Input, layers called on symbolic tensors, models.Model with
merges and several outputs; layer.input / layer.output of a built Sequential; the activation
model of the Keras book; gradients through a graph; files of functional models."""
import numpy as np
import pytest

import fastconv
from fastconv import layers, models, utils
from fastconv.reference import naive_conv2d, naive_max_pool2d


def book_convnet():
    utils.set_random_seed(3)
    model = models.Sequential([
        layers.Input((14, 14, 1)),
        layers.Conv2D(6, 3, activation="relu", bias_initializer="random_normal"),
        layers.MaxPooling2D(2),
        layers.Conv2D(8, 3, activation="relu", bias_initializer="random_normal"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    return model


def residual_model(dtype="float64", bias=True, seed=5):
    """Conv -> (Conv -> Conv) + shortcut -> pool -> concatenate with a pooled branch ->
    Dense: fan-out, Add and Concatenate."""
    utils.set_random_seed(seed)
    kw = dict(dtype=dtype, use_bias=bias)
    if bias:
        kw["bias_initializer"] = "random_normal"
    inputs = layers.Input((8, 8, 2), dtype=dtype)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="stem", **kw)(inputs)
    y = layers.Conv2D(4, 3, padding="same", activation="relu", name="inner", **kw)(x)
    y = layers.Conv2D(4, 3, padding="same", name="inner2", **kw)(y)
    y = layers.Add(name="add", dtype=dtype)([x, y])
    y = layers.Activation("relu", name="post", dtype=dtype)(y)
    y = layers.MaxPooling2D(2, name="pool", dtype=dtype)(y)
    z = layers.MaxPooling2D(2, name="side", dtype=dtype)(x)
    y = layers.Concatenate(name="concat", dtype=dtype)([y, z])
    y = layers.Flatten(name="flat", dtype=dtype)(y)
    outputs = layers.Dense(3, name="head", dtype=dtype, use_bias=bias)(y)
    return models.Model(inputs, outputs, name="residual")


def numerical_input_gradient(f, x, dy, eps=1e-6):
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = np.sum(f(x) * dy)
        flat[i] = old - eps
        down = np.sum(f(x) * dy)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


# -- the book's activation model --------------------------------------------------------------
def test_book_activation_model_equals_the_kernels_run_by_hand():
    model = book_convnet()
    img_tensor = np.random.default_rng(0).random((2, 14, 14, 1), dtype=np.float32)
    # the book's code, as printed
    layer_outputs = [layer.output for layer in model.layers[:4]]
    activation_model = models.Model(inputs=model.input, outputs=layer_outputs)
    activations = activation_model.predict(img_tensor)

    conv1, pool1, conv2, pool2 = model.layers[:4]
    x = img_tensor.astype(np.float64)
    a1 = np.maximum(naive_conv2d(x, conv1.kernel.astype(np.float64)) + conv1.bias, 0)
    a2 = naive_max_pool2d(a1, 2)
    a3 = np.maximum(naive_conv2d(a2, conv2.kernel.astype(np.float64)) + conv2.bias, 0)
    a4 = naive_max_pool2d(a3, 2)
    assert isinstance(activations, list) and len(activations) == 4
    for got, want in zip(activations, [a1, a2, a3, a4]):
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # the kernels themselves, called directly
    np.testing.assert_allclose(
        activations[0], fastconv.conv2d(img_tensor, conv1.kernel, conv1.bias, activation="relu"),
        rtol=1e-6, atol=1e-6)
    # the activation model's last output is the model's pooled features
    assert activation_model.output_shape == [l.output_shape for l in model.layers[:4]]
    # and running it changed nothing in the original model
    np.testing.assert_allclose(model.predict(img_tensor, verbose=0),
                               models.Model(model.input, model.output).predict(img_tensor,
                                                                               verbose=0))


def test_sequential_layers_have_inputs_and_outputs_once_built():
    model = book_convnet()
    assert model.input is model.layers[0].input
    assert model.input.shape == (None, 14, 14, 1)
    assert model.output is model.layers[-1].output
    for before, after in zip(model.layers, model.layers[1:]):
        assert after.input is before.output
    assert model.layers[0].output.shape == (None, 12, 12, 6)
    assert "SymbolicTensor" in repr(model.output)


def test_deferred_sequential_gets_an_input_on_first_data():
    model = models.Sequential([layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match="has not been built"):
        model.input
    with pytest.raises(AttributeError, match="has no output"):
        model.layers[0].output
    model.predict(np.zeros((1, 5, 5, 1), np.float32), verbose=0)
    assert model.input.shape == (None, 5, 5, 1)
    assert model.layers[0].output.shape == (None, 3, 3, 2)


def test_rebuilding_a_sequential_keeps_one_node_per_layer():
    model = models.Sequential([layers.Input((4,))])
    first = layers.Dense(3)
    model.add(first)
    model.add(layers.Dense(2))
    model.add(layers.Dense(1))
    assert len(first._nodes) == 1
    popped = model.pop()
    assert popped._nodes == [] and model.output_shape == (None, 2)
    assert len(first._nodes) == 1


def test_functional_chain_equals_the_sequential_of_the_same_layers():
    seq = book_convnet()
    inputs = layers.Input((14, 14, 1))
    x = inputs
    for layer in seq.layers:
        x = layer(x)
    fun = models.Model(inputs, x)
    data = np.random.default_rng(1).random((5, 14, 14, 1), dtype=np.float32)
    np.testing.assert_array_equal(fun.predict(data, verbose=0), seq.predict(data, verbose=0))
    assert fun.count_params() == seq.count_params()
    assert [l.name for l in fun.layers[1:]] == [l.name for l in seq.layers]
    assert isinstance(fun.layers[0], layers.InputLayer)


# -- merges, several outputs --------------------------------------------------------------------
def test_residual_graph_forward_equals_numpy():
    model = residual_model()
    x = np.random.default_rng(2).standard_normal((3, 8, 8, 2))
    g = {l.name: l for l in model.layers}

    def conv(name, v, relu):
        out = naive_conv2d(v, g[name].kernel, padding="same") + g[name].bias
        return np.maximum(out, 0) if relu else out
    a = conv("stem", x, True)
    y = np.maximum(a + conv("inner2", conv("inner", a, True), False), 0)
    y = np.concatenate([naive_max_pool2d(y, 2), naive_max_pool2d(a, 2)], axis=-1)
    want = y.reshape(3, -1) @ g["head"].kernel + g["head"].bias
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-10, atol=1e-12)


def test_residual_graph_input_gradient_matches_finite_differences():
    model = residual_model()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 8, 2))
    dy = rng.standard_normal((2, 3))
    got = model.input_gradient(x, dy)
    want = numerical_input_gradient(lambda v: model.predict(v, verbose=0), x.copy(), dy)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_residual_graph_parameter_gradients_match_finite_differences():
    model = residual_model()
    model.compile("sgd", "mse")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 8, 8, 2))
    y = rng.standard_normal((2, 3))
    model._graph.set_gradient_needs()
    _, _, grad = model._loss_and_gradient(x, y, training=True)
    model._graph.backward([grad])
    for layer in ("stem", "inner", "inner2", "head"):
        layer = model.get_layer(layer)
        for w, g in zip(layer.weights, layer.grads):
            flat, want = w.reshape(-1), np.zeros(w.size)
            for i in range(0, w.size, max(1, w.size // 7)):
                old = flat[i]
                flat[i] = old + 1e-6
                up = model.loss.value_and_grad(y, model.predict(x, verbose=0))[0]
                flat[i] = old - 1e-6
                down = model.loss.value_and_grad(y, model.predict(x, verbose=0))[0]
                flat[i] = old
                want[i] = (up - down) / 2e-6
                assert g.reshape(-1)[i] == pytest.approx(want[i], rel=1e-5, abs=1e-8), layer.name


def test_euler_identity_holds_through_add_and_concatenate():
    """A bias-free network of ReLU, max pooling, Add and Concatenate is positively
    homogeneous of degree 1: sum(dy * f(x)) == sum(input_gradient(x, dy) * x)."""
    model = residual_model(bias=False)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 8, 8, 2))
    dy = rng.standard_normal((4, 3))
    lhs = np.sum(dy * model.predict(x, verbose=0))
    rhs = np.sum(model.input_gradient(x, dy) * x)
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_layer_gradients_equal_the_tail_models_input_gradient():
    model = residual_model()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 8, 8, 2))
    dy = rng.standard_normal((3, 3))
    (stem, head), (d_stem, d_head) = model.layer_gradients(x, dy, ["stem", "head"],
                                                           batch_size=2)
    np.testing.assert_array_equal(d_head, dy)
    np.testing.assert_allclose(head, model.predict(x, verbose=0))
    # the same layers after the stem, called on a new input: a model of the rest
    g = {l.name: l for l in model.layers}
    t = layers.Input((8, 8, 4), dtype="float64")
    y = g["add"]([t, g["inner2"](g["inner"](t))])
    y = g["pool"](g["post"](y))
    tail = models.Model(t, g["head"](g["flat"](g["concat"]([y, g["side"](t)]))))
    np.testing.assert_allclose(tail.predict(stem, verbose=0), head, rtol=1e-12)
    np.testing.assert_allclose(tail.input_gradient(stem, dy), d_stem, rtol=1e-10, atol=1e-12)
    (inp,), (d_inp,) = model.layer_gradients(x, dy, [model.layers[0].name])
    np.testing.assert_array_equal(inp, x)
    np.testing.assert_allclose(d_inp, model.input_gradient(x, dy), rtol=1e-12)


def test_layer_gradients_with_logits_skip_the_last_activation():
    utils.set_random_seed(7)
    model = models.Sequential([layers.Input((5,), dtype="float64"),
                               layers.Dense(3, activation="softmax", dtype="float64")])
    x = np.random.default_rng(7).standard_normal((4, 5))
    dy = np.eye(3)[[0, 1, 2, 0]]
    (z,), (dz,) = model.layer_gradients(x, dy, [model.layers[0].name], logits=True)
    dense = model.layers[0]
    np.testing.assert_allclose(z, x @ dense.kernel + dense.bias)
    np.testing.assert_array_equal(dz, dy)
    np.testing.assert_allclose(model.layer_gradients(x, dy, [], logits=True)[0], [])
    (p,), _ = model.layer_gradients(x, dy, [dense.name])
    np.testing.assert_allclose(p.sum(axis=1), 1)


def test_several_outputs_predict_lists_and_gradients_add_up():
    utils.set_random_seed(8)
    inputs = layers.Input((6, 6, 1), dtype="float64")
    a = layers.Conv2D(2, 3, activation="tanh", dtype="float64")(inputs)
    b = layers.Flatten(dtype="float64")(a)
    out1 = layers.Dense(2, dtype="float64")(b)
    out2 = layers.GlobalAveragePooling2D(dtype="float64")(a)
    model = models.Model(inputs, [out1, out2])
    x = np.random.default_rng(8).standard_normal((5, 6, 6, 1))
    p1, p2 = model.predict(x, batch_size=2, verbose=0)
    assert p1.shape == (5, 2) and p2.shape == (5, 2)
    assert model.output_shape == [(None, 2), (None, 2)]
    single = models.Model(inputs, [out1])
    assert isinstance(single.predict(x, verbose=0), list)
    d1, d2 = np.ones((5, 2)), np.full((5, 2), 0.5)
    both = model.input_gradient(x, [d1, d2])
    one = models.Model(inputs, out1).input_gradient(x, d1)
    two = models.Model(inputs, out2).input_gradient(x, d2)
    np.testing.assert_allclose(both, one + two, rtol=1e-12)
    with pytest.raises(ValueError, match="2 outputs; output_gradient must be a list"):
        model.input_gradient(x, d1)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="has 2 outputs; training and evaluation need"):
        model.fit(x, d1, verbose=0)


# -- training and files -------------------------------------------------------------------------
def test_fit_on_a_functional_chain_equals_fit_on_the_sequential():
    def train(functional):
        utils.set_random_seed(11)
        seq = models.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(3, 3, activation="relu"),
                                 layers.MaxPooling2D(2), layers.Flatten(),
                                 layers.Dense(2, activation="softmax")])
        model = models.Model(seq.input, seq.output) if functional else seq
        model.compile("adam", "categorical_crossentropy", ["accuracy"])
        rng = np.random.default_rng(0)
        x = rng.random((40, 6, 6, 1), dtype=np.float32)
        y = utils.to_categorical(rng.integers(0, 2, 40), 2)
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_split=0.2)
        return history.history, model.get_weights()
    (h1, w1), (h2, w2) = train(False), train(True)
    assert h1 == h2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_residual_model_trains(tmp_path):
    model = residual_model(dtype="float32")
    model.compile("adam", "mse")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((32, 8, 8, 2)).astype(np.float32)
    y = x.mean(axis=(1, 2))[:, :1].repeat(3, axis=1)
    history = model.fit(x, y, batch_size=8, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_functional_model_file_round_trip_resumes_training(tmp_path):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((16, 8, 8, 2)).astype(np.float32)
    y = rng.standard_normal((16, 3)).astype(np.float32)
    model = residual_model(dtype="float32")
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "res.keras")
    loaded = models.load_model(tmp_path / "res.keras")
    assert isinstance(loaded, models.Model) and not isinstance(loaded, models.Sequential)
    assert loaded.get_config() == model.get_config()
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_multi_output_model_file_keeps_its_list(tmp_path):
    inputs = layers.Input((4,))
    model = models.Model(inputs, [layers.Dense(2)(inputs), layers.Dense(1)(inputs)])
    model.save(tmp_path / "two.keras")
    loaded = models.load_model(tmp_path / "two.keras")
    x = np.ones((3, 4), np.float32)
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)


def test_summary_shows_connections_and_plot_model_draws_the_graph(tmp_path):
    pytest.importorskip("matplotlib")
    model = residual_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    assert [line for line in lines if line.startswith(" add (Add)")][0].endswith("stem, inner2")
    assert f"Total params: {model.count_params():,}" in text
    path = utils.plot_model(model, tmp_path / "graph.png", show_shapes=True)
    assert (tmp_path / "graph.png").stat().st_size > 1000 and path == tmp_path / "graph.png"
    chain = []
    book_convnet().summary(print_fn=chain.append)
    assert "Connected to" not in "\n".join(chain)


def test_get_layer_by_name_and_index():
    model = residual_model()
    assert model.get_layer("add").name == "add"
    assert model.get_layer(index=0) is model.layers[0]
    with pytest.raises(ValueError, match=r"no layer named 'nope' in model 'residual'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="out of range"):
        model.get_layer(index=99)
    with pytest.raises(ValueError, match="either name or index"):
        model.get_layer()


# -- bad graphs ---------------------------------------------------------------------------------
def test_graph_errors_name_the_problem():
    a, b = layers.Input((4,)), layers.Input((4,))
    total = layers.Add()([a, b])
    with pytest.raises(ValueError, match="graph disconnected"):
        models.Model(a, total)
    with pytest.raises(ValueError, match="take one input"):
        models.Model([a, b], total)
    shared = layers.Dense(4)
    twice = shared(shared(a))
    with pytest.raises(ValueError, match="is called twice"):
        models.Model(a, twice)
    with pytest.raises(TypeError, match="symbolic tensors"):
        models.Model(a, np.zeros(3))
    with pytest.raises(ValueError, match="must come from layers.Input"):
        models.Model(layers.Dense(2)(a), twice)
    with pytest.raises(ValueError, match="was built for input shape"):
        shared(layers.Input((7,)))
    with pytest.raises(ValueError, match="Add 'bad_add' needs inputs of one shape"):
        layers.Add(name="bad_add")([a, layers.Input((3,))])
    with pytest.raises(ValueError, match="at least 2"):
        layers.Add()([a])
    with pytest.raises(TypeError, match="takes a list"):
        layers.Add()(a)
    with pytest.raises(ValueError, match="agree except along axis -1"):
        layers.Concatenate()([layers.Input((2, 3)), layers.Input((3, 3))])
    with pytest.raises(ValueError, match="not a non-batch axis"):
        layers.Concatenate(axis=0)([a, b])
    with pytest.raises(ValueError, match="positive integers"):
        layers.Input((0, 3))


def test_merge_layers_run_on_arrays_too():
    add, cat = layers.Add(), layers.Concatenate(axis=1)
    x, y = np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32)
    np.testing.assert_array_equal(add([x, y]), np.full((2, 3), 3))
    np.testing.assert_array_equal(cat([x, y]), np.concatenate([x, y], axis=1))
    with pytest.raises(ValueError, match="expected inputs of shapes"):
        add([x, np.ones((2, 4))])
