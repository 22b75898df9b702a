"""Keras 3 ``.keras`` files read by models.load_model: files real Keras wrote (tests/data,
made by tests/data/make_keras_files.py) predict as Keras did; files written here from Keras's
documented layout (zip of config.json, metadata.json, model.weights.h5) show the weights are
matched by Keras's layout, and what must be refused is, by name, before any weight is read."""
import copy
import io
import json
import os
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from fastconv import models  # noqa: E402
from _helpers import run_python  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def keras_written(name):
    return os.path.join(DATA, name + ".keras"), np.load(os.path.join(DATA, name + ".npz"))


def close_to_keras(got, want):
    # float32, Winograd paths included: to 1e-4 of the output's largest magnitude
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@pytest.mark.parametrize("name,optimizer,loss", [
    ("sequential_convnet", "RMSprop", "categorical_crossentropy"),
    ("augmented_binary", "SGD", "binary_crossentropy")])
def test_sequential_files_keras_wrote_predict_as_keras_did_and_resume(name, optimizer, loss):
    path, io_ = keras_written(name)
    model = models.load_model(path)
    close_to_keras(model.predict(io_["x"], verbose=0), io_["y0"])
    assert type(model.optimizer).__name__ == optimizer and model.loss.name == loss
    assert model._metric_names == ["accuracy"]
    assert model.optimizer.iterations == 2          # two steps of 16 images
    slots = model.optimizer.get_state()[1]
    assert slots is not None and all(np.abs(v).max() > 0 for s in slots for v in s.values())


@pytest.mark.parametrize("name", ["resume_rmsprop", "resume_adam", "resume_nesterov",
                                  "resume_nested", "resume_separable"])
def test_training_resumes_from_a_keras_file_as_keras_resumes_it(name):
    # the file's optimizer state (step count, learning rate, slots in Keras's order) carries
    # on: one more step on the same batch gives Keras's weights (float32 rounding apart)
    path, io_ = keras_written(name)
    model = models.load_model(path)
    assert model.optimizer.iterations == 2
    model.train_on_batch(io_["x"], io_["y"])
    weights = model.get_weights()
    assert len(weights) == len([k for k in io_.files if k.startswith("w")])
    # to 1e-5 of the model's largest weight: a slot out of place moves a weight by about the
    # learning rate (1e-2); float32 rounding, amplified where a gradient is near zero (the
    # conv's bias before the BatchNormalization), by 1e-7 of it
    largest = max(np.abs(io_[f"w{i}"]).max() for i in range(len(weights)))
    for i, got in enumerate(weights):
        assert np.abs(got - io_[f"w{i}"]).max() <= 1e-5 * largest, f"weight {i}"


def test_a_functional_file_with_two_outputs_predicts_as_keras_did():
    path, io_ = keras_written("functional_graph")
    with pytest.warns(RuntimeWarning, match=r"not compiled: fastconv has no loss \["):
        model = models.load_model(path)          # one loss per output: not in fastconv yet
    assert model.loss is None
    got = model.predict(io_["x"], verbose=0)
    assert len(got) == 2
    for g, key in zip(got, ("y0", "y1")):
        close_to_keras(g, io_[key])
    assert [l.name for l in model.layers][:3] == ["image", "branch_a", "branch_b"]
    assert models.load_model(path, compile=False).loss is None


def test_nested_models_keras_wrote_load_frozen_and_predict_as_keras_did():
    # the transfer-learning pattern: an augmentation Sequential and a frozen functional base
    # of unknown spatial size, nested in a functional model
    path, io_ = keras_written("nested_transfer")
    model = models.load_model(path)
    close_to_keras(model.predict(io_["x"], verbose=0), io_["y0"])
    names = [l.name for l in model.layers]
    assert names[1:3] == ["augmentation", "conv_base"]
    augmentation, base = model.layers[1:3]
    assert type(augmentation).__name__ == "Sequential" and type(base).__name__ == "Model"
    assert base.input_shape == (None, None, None, 3)
    assert base.trainable is False and all(not l.trainable for l in base.layers[1:])
    assert len(base.weights) == 8 and base.trainable_weights == []
    assert len(model.trainable_weights) == 4          # the two Dense layers', as Keras counts
    assert type(model.optimizer).__name__ == "RMSprop" and model.optimizer.iterations == 2
    lines = []
    model.summary(print_fn=lines.append)
    assert any(l.split()[:2] == ["conv_base", "(Functional)"] and "(None, 6, 6, 8)" in l
               for l in lines)
    assert any(l.split()[:2] == ["augmentation", "(Sequential)"] for l in lines)


def test_separable_and_depthwise_layers_keras_wrote_predict_as_keras_did():
    # the mini-Xception's blocks (SeparableConv2D, a strided 1x1 residual) and MobileNet's
    # depthwise layers (depth multiplier 2, dilation 2, ReLU6), Keras's weights by name
    path, io_ = keras_written("separable_xception")
    model = models.load_model(path)
    close_to_keras(model.predict(io_["x"], verbose=0), io_["y0"])
    separable = [l for l in model.layers if type(l).__name__ == "SeparableConv2D"]
    depthwise = [l for l in model.layers if type(l).__name__ == "DepthwiseConv2D"]
    assert len(separable) == 4 and len(depthwise) == 2
    assert [w.shape for w in separable[1].weights] == [(3, 3, 8, 1), (1, 1, 8, 8)]
    assert depthwise[0].kernel.shape == (3, 3, 16, 2) and depthwise[0].activation.name == "relu6"
    assert depthwise[1].dilation_rate == (2, 2) and not depthwise[1].use_bias
    lines = []
    model.summary(print_fn=lines.append)
    assert any(l.split()[:2] == ["separable_conv2d_1", "(SeparableConv2D)"] for l in lines)


# -- files written here, in Keras's layout ------------------------------------------------------

def policy(name="float32"):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name},
            "registered_name": None}


def entry(class_name, **config):
    config.setdefault("trainable", True)
    config.setdefault("dtype", policy())
    return {"module": "keras.layers", "class_name": class_name, "config": config,
            "registered_name": None}


def conv(name, filters, **config):
    made = entry("Conv2D", name=name, filters=filters, kernel_size=[3, 3], strides=[1, 1],
                 padding="valid", data_format="channels_last", dilation_rate=[1, 1], groups=1,
                 activation="relu", use_bias=True,
                 kernel_initializer={"module": "keras.initializers",
                                     "class_name": "GlorotUniform", "config": {"seed": None},
                                     "registered_name": None},
                 bias_initializer={"module": "keras.initializers", "class_name": "Zeros",
                                   "config": {}, "registered_name": None},
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None)
    made["config"].update(config)
    return made


def sequential(*layers, shape=(6, 6, 2)):
    first = {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"batch_shape": [None, *shape], "dtype": "float32", "sparse": False,
                        "ragged": False, "name": "input_layer", "optional": False},
             "registered_name": None}
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "sequential", "trainable": True, "dtype": policy(),
                       "layers": [first, *layers]},
            "registered_name": None, "build_config": {"input_shape": [None, *shape]}}


def write_keras(path, config, variables, metadata=None, members=None):
    """A .keras file: config.json, metadata.json and model.weights.h5 holding variables
    ({"layers/conv2d": [kernel, bias], ...} as <path>/vars/<i>)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars")
        for where, arrays in variables.items():
            group = f.create_group(f"{where}/vars")
            for i, a in enumerate(arrays):
                group.create_dataset(str(i), data=a)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps(metadata or {"keras_version": "3.15.1"}))
        z.writestr("config.json", config if isinstance(config, str) else json.dumps(config))
        z.writestr("model.weights.h5", buffer.getvalue())
        for name, data in (members or {}).items():
            z.writestr(name, data)
    return path


def two_convs(rng):
    """A Sequential whose two Conv2D layers are named against their order, and its
    variables: Keras keeps them by class and position (layers/conv2d is the first)."""
    config = sequential(conv("second_by_name", 3), conv("first_by_name", 4),
                        entry("Flatten", name="flatten", data_format="channels_last"))
    variables = {"layers/conv2d": [rng.standard_normal((3, 3, 2, 3)).astype(np.float32),
                                   rng.standard_normal(3).astype(np.float32)],
                 "layers/conv2d_1": [rng.standard_normal((3, 3, 3, 4)).astype(np.float32),
                                     rng.standard_normal(4).astype(np.float32)]}
    return config, variables


def test_weights_follow_keras_layout_not_layer_names(tmp_path, rng):
    config, variables = two_convs(rng)
    model = models.load_model(write_keras(tmp_path / "m.keras", config, variables))
    assert [l.name for l in model.layers] == ["second_by_name", "first_by_name", "flatten"]
    weights = model.get_weights()
    for got, want in zip(weights, variables["layers/conv2d"] + variables["layers/conv2d_1"]):
        np.testing.assert_array_equal(got, want)
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    k1, b1, k2, b2 = weights
    from fastconv import conv2d
    want = conv2d(conv2d(x, k1, b1, activation="relu"), k2, b2, activation="relu")
    np.testing.assert_array_equal(model.predict(x, verbose=0), want.reshape(2, -1))


def test_a_mixed_precision_policy_runs_in_float32(tmp_path, rng):
    config, variables = two_convs(rng)
    for layer in config["config"]["layers"][1:]:
        layer["config"]["dtype"] = policy("mixed_float16")
    model = models.load_model(write_keras(tmp_path / "m.keras", config, variables))
    assert all(l.dtype == np.float32 for l in model.layers)


REFUSED = [
    ("Lambda", {"module": "keras.layers", "class_name": "Lambda",
                "config": {"name": "l", "function": {"class_name": "__lambda__",
                                                     "config": {"code": "4wEAAAAA"}}},
                "registered_name": None}, "a Lambda layer .*never runs"),
    ("custom", {"module": None, "class_name": "MyLayer", "config": {"name": "mine"},
                "registered_name": "mypackage>MyLayer"}, "'mypackage>MyLayer', registered by "
                                                          "another package"),
    ("unknown", entry("LayerNormalization", name="ln"), "'LayerNormalization', which fastconv "
                                                         "does not have"),
    ("channels_first", entry("Flatten", name="f", data_format="channels_first"),
     "data_format='channels_first'"),
    ("lora", conv("c", 2, lora_rank=4), "lora_rank=4"),
    ("float16", entry("Flatten", name="f", dtype=policy("float16")), "dtype policy 'float16'"),
    ("activation", entry("Activation", name="a", activation="mish"), "activation 'mish'"),
]


@pytest.mark.parametrize("what,layer,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_what_fastconv_cannot_run_is_refused_by_name(tmp_path, rng, what, layer, message):
    config, variables = two_convs(rng)
    config["config"]["layers"].append(layer)
    path = write_keras(tmp_path / "m.keras", config, variables)
    with pytest.raises(ValueError, match=f"load_model: {tmp_path}.*{message}"):
        models.load_model(path)


def test_what_a_nested_model_cannot_run_is_refused_naming_both_models(tmp_path, rng):
    config, variables = two_convs(rng)
    inner = sequential(entry("Lambda", name="code", function="..."), shape=(16,))
    inner["config"]["name"] = "augmentation"
    config["config"]["layers"].append(inner)
    path = write_keras(tmp_path / "m.keras", config, variables)
    with pytest.raises(ValueError, match=r"\(Sequential 'augmentation'\): layer 1 \(Lambda "
                                         r"'code'\): a Lambda layer"):
        models.load_model(path)


def test_every_problem_is_listed_at_once_before_any_weight_is_read(tmp_path, rng):
    config, _ = two_convs(rng)
    config["config"]["layers"][1]["config"]["lora_rank"] = 4
    config["config"]["layers"] += [entry("LayerNormalization", name="ln"),
                                   entry("Conv3D", name="up")]
    # no weights at all: the config alone is refused
    path = write_keras(tmp_path / "m.keras", config, {})
    with pytest.raises(ValueError) as raised:
        models.load_model(path)
    text = str(raised.value)
    for part in ("lora_rank=4", "'LayerNormalization'", "'Conv3D'"):
        assert part in text


def functional(layers, inputs, outputs):
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": "functional", "trainable": True, "layers": layers,
                       "input_layers": inputs, "output_layers": outputs},
            "registered_name": "Functional"}


def tensor(layer, shape):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, 0, 0]}}


def called(layer_entry, *inputs):
    arg = list(inputs) if len(inputs) > 1 else inputs[0]
    return dict(layer_entry, inbound_nodes=[{"args": [arg], "kwargs": {}}])


def residual(rng):
    image = {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"batch_shape": [None, 5, 5, 2], "dtype": "float32", "name": "image"},
             "registered_name": None, "inbound_nodes": []}
    a = called(conv("a", 2, padding="same"), tensor("image", [None, 5, 5, 2]))
    add = called(entry("Add", name="add"), tensor("a", [None, 5, 5, 2]),
                 tensor("image", [None, 5, 5, 2]))
    config = functional([image, a, add], ["image", 0, 0], ["add", 0, 0])
    variables = {"layers/conv2d": [rng.standard_normal((3, 3, 2, 2)).astype(np.float32),
                                   np.zeros(2, np.float32)]}
    return config, variables


def operation(class_name, name, args, **config):
    return {"module": "keras.src.ops.numpy", "class_name": class_name,
            "config": dict(config, name=name), "registered_name": class_name, "name": name,
            "inbound_nodes": [{"args": args, "kwargs": {}}]}


@pytest.mark.parametrize("op,message", [
    (operation("Matmul", "mm", [tensor("add", [None, 5, 5, 2]), 2.0]),
     "operation 'Matmul', which fastconv does not have"),
    (operation("GetItem", "g", [tensor("add", [None, 5, 5, 2]), [0, 1]]),
     r"an index \[0, 1\] other than \[\.\.\., i\]"),
    (operation("Add", "k", [tensor("add", [None, 5, 5, 2]), "code"]),
     "a constant operand 'code' that is not numbers"),
    (operation("TrueDivide", "k", [tensor("add", [None, 5, 5, 2]), 0.0]),
     "true_divide constant must not hold zeros"),
    (operation("Add", "k", [tensor("add", [None, 5, 5, 2]), {
        "class_name": "__tensor__", "config": {"value": [1.0, 2.0, 3.0]}}]),
     r"constant of shape \(3,\) does not broadcast"),
], ids=["unknown", "index", "not-numbers", "zero-divisor", "shape"])
def test_operations_fastconv_cannot_run_are_refused(tmp_path, rng, op, message):
    config, variables = residual(rng)
    config["config"]["layers"].append(op)
    config["config"]["output_layers"] = [op["name"], 0, 0]
    path = write_keras(tmp_path / "m.keras", config, variables)
    with pytest.raises(ValueError, match=f"load_model: {tmp_path}.*{message}"):
        models.load_model(path)


def test_a_functional_file_in_keras_layout(tmp_path, rng):
    config, variables = residual(rng)
    model = models.load_model(write_keras(tmp_path / "m.keras", config, variables))
    x = rng.standard_normal((3, 5, 5, 2)).astype(np.float32)
    from fastconv import conv2d
    want = conv2d(x, variables["layers/conv2d"][0], padding="same", activation="relu") + x
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6)


def hostile(rng):
    """(name, how to spoil a good file's config and variables, what the error says)."""
    def cycle(config, variables):
        config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"][
            "keras_history"] = ["add", 0, 0]
    def shared(config, variables):
        layer = config["config"]["layers"][1]
        layer["inbound_nodes"].append(layer["inbound_nodes"][0])
    def shape(config, variables):
        variables["layers/conv2d"][0] = np.zeros((3, 3, 2, 5), np.float32)
    def dtype(config, variables):
        variables["layers/conv2d"][0] = np.zeros((3, 3, 2, 2), np.int32)
    def rank(config, variables):
        variables["layers/conv2d"][1] = np.zeros((2, 1), np.float32)
    def missing(config, variables):
        variables["layers/conv2d"].pop()
    def extra(config, variables):
        variables["layers/conv2d"].append(np.zeros(2, np.float32))
    def history(config, variables):
        config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"][
            "keras_history"] = "image"
    def a_list(config, variables):
        config["config"] = [1, 2]
    def unknown_input(config, variables):
        config["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"][
            "keras_history"] = ["nowhere", 0, 0]
    return [("cycle", cycle, "a cycle among layers 'a', 'add'"), ("shared", shared, "called 2 times"),
            ("shape", shape, r"shape \(3, 3, 2, 5\)"), ("dtype", dtype, "dtype int32"),
            ("rank", rank, r"shape \(2, 1\)"), ("missing", missing, "2 weights finds 1 in layers/conv2d"),
            ("extra", extra, "2 weights finds 3 in layers/conv2d"), ("history", history, "keras_history"),
            ("a_list", a_list, "no list of layers"), ("unknown_input", unknown_input,
                                                      "'nowhere', which is not in the model")]


@pytest.mark.parametrize("name", [h[0] for h in hostile(None)])
def test_hand_crafted_files_are_refused_naming_the_file(tmp_path, rng, name):
    spoil, message = {h[0]: h[1:] for h in hostile(rng)}[name]
    config, variables = residual(rng)
    config, variables = copy.deepcopy(config), {k: list(v) for k, v in variables.items()}
    spoil(config, variables)
    path = write_keras(tmp_path / "m.keras", config, variables)
    with pytest.raises(ValueError, match=f"load_model: {tmp_path}.*{message}"):
        models.load_model(path)


def test_damaged_archives_are_value_errors(tmp_path, rng):
    config, variables = two_convs(rng)
    good = write_keras(tmp_path / "good.keras", config, variables).read_bytes()
    spoilt = {"truncated": good[:len(good) // 2], "empty": b"",
              "flipped": bytes(b ^ (0x10 if i % 997 == 500 else 0) for i, b in enumerate(good))}
    for name, content in spoilt.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"load_model: {tmp_path / name}"):
            models.load_model(tmp_path / name)
    # a config.json that is not JSON, or too large; weights that are not HDF5
    for name, kwargs in (("text", dict(config="{not json")),
                         ("huge", dict(config=" " * (17 << 20)))):
        path = write_keras(tmp_path / name, kwargs["config"], variables)
        with pytest.raises(ValueError, match="not JSON|larger than 16 MB"):
            models.load_model(path)
    with zipfile.ZipFile(tmp_path / "nohdf5", "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", "{}")
        z.writestr("model.weights.h5", b"not hdf5 at all")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        models.load_model(tmp_path / "nohdf5")


def test_a_weights_member_larger_than_the_model_needs_is_not_read(tmp_path, rng):
    # a member that expands to gigabytes: refused after reading what the model can use
    config, variables = two_convs(rng)
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", "{}")
        with z.open("model.weights.h5", "w", force_zip64=True) as member:
            chunk = b"\x89HDF\r\n\x1a\n" + bytes(1 << 20)
            for _ in range(1024):                 # 1 GiB, about 1 MB compressed
                member.write(chunk)
    assert path.stat().st_size < 8 << 20
    with pytest.raises(ValueError, match="larger than the model's weights"):
        models.load_model(path)


def test_without_h5py_a_keras_file_names_the_extra(tmp_path, rng):
    config, variables = two_convs(rng)
    path = write_keras(tmp_path / "m.keras", config, variables)
    code = ("import sys; sys.modules['h5py'] = None\n"
            "from fastconv import models\n"
            f"try:\n    models.load_model({str(path)!r})\n"
            "except ImportError as e:\n    print(e)\n")
    assert 'pip install "fastconv[keras]"' in run_python(code)


def test_import_fastconv_does_not_import_h5py():
    assert run_python("import sys, fastconv; print('h5py' in sys.modules)").strip() == "False"


# -- files fastconv writes for Keras -------------------------------------------------------------

def test_keras_layer_order_is_the_one_keras_wrote():
    # Keras lists a functional model's layers (and keeps their weights) by depth, then by a
    # walk back from the outputs: the order of the config Keras itself wrote
    from fastconv.saving import keras_config
    path, _ = keras_written("functional_graph")
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))["config"]
    names = [entry["name"] for entry in config["layers"]]
    inbound = {}
    for entry in config["layers"]:
        nodes = entry["inbound_nodes"]
        args = nodes[0]["args"][0] if nodes else []
        inbound[entry["name"]] = [t["config"]["keras_history"][0]
                                  for t in (args if isinstance(args, list) else [args])]
    outputs = [o[0] for o in config["output_layers"]]
    assert keras_config.keras_order(inbound, ["image"], outputs) == names


def test_a_model_saved_as_keras_loads_back_with_keras_names_and_order(tmp_path, rng):
    path, io_ = keras_written("functional_graph")
    with pytest.warns(RuntimeWarning):
        model = models.load_model(path)
    model.save(tmp_path / "again.keras")
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(tmp_path / "again.keras") as y:
        theirs = json.loads(z.read("config.json"))["config"]["layers"]
        ours = json.loads(y.read("config.json"))["config"]["layers"]
        with h5py.File(io.BytesIO(z.read("model.weights.h5"))) as a, \
                h5py.File(io.BytesIO(y.read("model.weights.h5"))) as b:
            for name in [n for n in a["layers"] if "vars" in a["layers"][n]]:
                for i in a[f"layers/{name}/vars"]:
                    np.testing.assert_array_equal(a[f"layers/{name}/vars/{i}"][()],
                                                  b[f"layers/{name}/vars/{i}"][()])
    assert [e["name"] for e in ours] == [e["name"] for e in theirs]
    assert [e["class_name"] for e in ours] == [e["class_name"] for e in theirs]
    again = models.load_model(tmp_path / "again.keras", compile=False)
    for got, want in zip(again.predict(io_["x"], verbose=0), model.predict(io_["x"], verbose=0)):
        np.testing.assert_array_equal(got, want)


def test_keras_weights_files_both_ways(tmp_path, rng):
    path, io_ = keras_written("sequential_convnet")
    model = models.load_model(path)
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = models.load_model(path)
    for layer in fresh.layers:
        layer.set_weights([np.zeros_like(w) for w in layer.weights])
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(fresh.predict(io_["x"], verbose=0),
                                  model.predict(io_["x"], verbose=0))
    # Keras's own weights store (model.weights.h5 is what its save_weights writes)
    with zipfile.ZipFile(path) as z:
        (tmp_path / "k.weights.h5").write_bytes(z.read("model.weights.h5"))
    for layer in fresh.layers:
        layer.set_weights([np.zeros_like(w) for w in layer.weights])
    fresh.load_weights(tmp_path / "k.weights.h5")
    close_to_keras(fresh.predict(io_["x"], verbose=0), io_["y0"])
    # other layers, or not HDF5 at all: refused by name
    config, variables = two_convs(rng)
    other = models.load_model(write_keras(tmp_path / "o.keras", config, variables))
    with pytest.raises(ValueError, match=r"load_weights: .*k.weights.h5: .*layers/conv2d"):
        other.load_weights(tmp_path / "k.weights.h5")
    (tmp_path / "bad.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match="bad.weights.h5"):
        fresh.load_weights(tmp_path / "bad.weights.h5")


def test_saving_as_legacy_hdf5_is_refused(tmp_path, rng):
    config, variables = two_convs(rng)
    model = models.load_model(write_keras(tmp_path / "m.keras", config, variables))
    with pytest.raises(ValueError, match="legacy HDF5"):
        model.save(tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


# -- legacy HDF5: Keras 2 / tf.keras model and weights files ---------------------------------------

@pytest.mark.parametrize("name", ["functional_graph", "augmented_binary",
                                  "separable_xception"])
def test_legacy_files_keras_wrote_predict_as_keras_did(name):
    # the whole model (model.save("x.h5")) and the weights alone, in keras.applications'
    # layout (layer_names at the root, weight_names per layer), matched by order
    _, io_ = keras_written(name)
    with pytest.warns() if name == "functional_graph" else _no_warning():
        model = models.load_model(os.path.join(DATA, name + ".h5"))
    outputs = model.predict(io_["x"], verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    for i, got in enumerate(outputs):
        close_to_keras(got, io_[f"y{i}"])
    if name == "augmented_binary":
        assert model.loss.name == "binary_crossentropy" and model._metric_names == ["accuracy"]
        assert type(model.optimizer).__name__ == "SGD" and model.optimizer.momentum == 0.9
    fresh = models.load_model(os.path.join(DATA, name + ".keras"), compile=False)
    for layer in fresh.layers:
        layer.set_weights([np.zeros_like(w) for w in layer.weights])
    fresh.load_weights(os.path.join(DATA, name + ".weights-legacy.h5"))
    outputs = fresh.predict(io_["x"], verbose=0)
    for i, got in enumerate(outputs if isinstance(outputs, list) else [outputs]):
        close_to_keras(got, io_[f"y{i}"])


class _no_warning:
    def __enter__(self):
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def write_legacy(path, layers_weights, model_config=None, training_config=None,
                 chunks=1):
    """A legacy HDF5 file as Keras 2 wrote it: layer_names (split into chunks attributes
    layer_names0 ... when chunks > 1), weight_names "layer/kernel:0" per layer; with a
    model_config, a whole-model file (weights under model_weights)."""
    with h5py.File(path, "w") as f:
        group = f
        if model_config is not None:
            f.attrs["model_config"] = json.dumps(model_config).encode()
            f.attrs["keras_version"] = b"2.15.0"
            if training_config is not None:
                f.attrs["training_config"] = json.dumps(training_config).encode()
            group = f.create_group("model_weights")
        names = [n.encode() for n, _ in layers_weights]
        if chunks == 1:
            group.attrs["layer_names"] = names
        else:
            step = -(-len(names) // chunks)
            for c in range(chunks):
                group.attrs[f"layer_names{c}"] = names[c * step:(c + 1) * step]
        for name, arrays in layers_weights:
            layer = group.create_group(name)
            labels = [f"{name}/{w}:0" for w in ("kernel", "bias", "moving_mean",
                                                 "moving_variance")[:len(arrays)]]
            layer.attrs["weight_names"] = [l.encode() for l in labels]
            for label, a in zip(labels, arrays):
                layer.create_dataset(label, data=a)
    return path


def keras2_functional():
    """A Keras 2 functional config: inbound_nodes as [[layer, node, tensor, kwargs]], a
    LeakyReLU with alpha, outputs in a list even for one."""
    def layer(cls, name, inbound, **config):
        return {"class_name": cls, "name": name, "inbound_nodes": [
            [[n, 0, 0, {}] for n in inbound]] if inbound else [],
                "config": dict(config, name=name, trainable=True, dtype="float32")}
    return {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5, 5, 2], "dtype": "float32",
                    "sparse": False, "ragged": False, "name": "input_1"}},
        layer("Conv2D", "conv", ["input_1"], filters=2, kernel_size=[3, 3], strides=[1, 1],
              padding="same", data_format="channels_last", dilation_rate=[1, 1], groups=1,
              activation="linear", use_bias=True),
        layer("LeakyReLU", "leaky", ["conv"], alpha=0.2),
        layer("Add", "add", ["leaky", "input_1"]),
        layer("Flatten", "flat", ["add"], data_format="channels_last"),
        layer("Dense", "out", ["flat"], units=1, activation="sigmoid", use_bias=True)],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["out", 0, 0]]}}


def test_a_keras2_model_file_with_its_own_config_forms(tmp_path, rng):
    k, b = rng.standard_normal((3, 3, 2, 2)), rng.standard_normal(2)
    dk, db = rng.standard_normal((50, 1)), rng.standard_normal(1)
    training = {"loss": "binary_crossentropy", "metrics": [["accuracy"]],
                "optimizer_config": {"class_name": "RMSprop", "config": {
                    "name": "RMSprop", "learning_rate": 0.002, "decay": 0.0, "rho": 0.9,
                    "momentum": 0.0, "epsilon": 1e-07, "centered": False,
                    "jit_compile": False, "is_legacy_optimizer": False}}}
    path = write_legacy(tmp_path / "m.h5", [("conv", [k, b]), ("out", [dk, db])],
                        keras2_functional(), training)
    model = models.load_model(path)
    assert model.loss.name == "binary_crossentropy"
    assert model.optimizer.learning_rate == 0.002
    x = rng.standard_normal((3, 5, 5, 2)).astype(np.float32)
    from fastconv import conv2d
    z = conv2d(x.astype(np.float64), k, b, padding="same")
    z = np.where(z >= 0, z, 0.2 * z) + x
    want = 1 / (1 + np.exp(-(z.reshape(3, -1) @ dk + db)))
    got = model.predict(x, verbose=0)
    assert got.shape == (3, 1)                 # one output, not a list of one
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_legacy_weights_by_order_by_name_and_mismatches(tmp_path, rng):
    config, variables = two_convs(rng)
    model = models.load_model(write_keras(tmp_path / "m.keras", config, variables))
    k1, b1 = rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)
    k2, b2 = rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)
    # by order: the file's names need not be the model's; layer_names split in chunks
    path = write_legacy(tmp_path / "w.h5", [("block1_conv", [k1, b1]), ("pool", []),
                                            ("block2_conv", [k2, b2])], chunks=2)
    model.load_weights(path)
    for got, want in zip(model.get_weights(), [k1, b1, k2, b2]):
        np.testing.assert_allclose(got, want.astype(np.float32))
    # by name: only the layers the file has (here the second)
    before = model.get_weights()
    named = write_legacy(tmp_path / "n.h5", [("first_by_name", [k2 * 2, b2 * 2]),
                                             ("elsewhere", [k1, b1])])
    model.load_weights(named, by_name=True)
    np.testing.assert_array_equal(model.get_weights()[0], before[0])
    np.testing.assert_allclose(model.get_weights()[2], (k2 * 2).astype(np.float32))
    # a count or a shape that does not fit: refused, naming the file, unless skipped
    write_legacy(tmp_path / "one.h5", [("a", [k1, b1])])
    with pytest.raises(ValueError, match=r"load_weights: .*one.h5: it holds weights for 1 "
                                         r"layers \(a\), the model has 2"):
        model.load_weights(tmp_path / "one.h5")
    wrong = write_legacy(tmp_path / "wrong.h5", [("a", [k2, b2]), ("b", [k2, b2])])
    with pytest.raises(ValueError, match=r"wrong.h5: a/a/kernel:0 has shape \(3, 3, 3, 4\)"):
        model.load_weights(wrong)
    before = model.get_weights()
    model.load_weights(wrong, skip_mismatch=True)          # the first stays, the second fits
    np.testing.assert_array_equal(model.get_weights()[0], before[0])
    np.testing.assert_allclose(model.get_weights()[2], k2.astype(np.float32))
    # a weights-only file given to load_model says what to do
    with pytest.raises(ValueError, match="weights only .* load_weights"):
        models.load_model(path)
