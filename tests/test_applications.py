"""fastconv.applications: VGG16, VGG19 and ResNet50 built as keras.applications builds them
(layer names, order, parameter counts), their weights read from files in the layout of
Keras's published ImageNet files, preprocess_input on arrays and inside a model, and
utils.get_file (the download behind weights="imagenet") against a local HTTP server. No test
downloads anything: CI's Keras stage compares with real Keras."""
import contextlib
import hashlib
import http.server
import json
import os
import socket
import threading
import time

import numpy as np
import pytest

from fastconv import applications, layers, models, utils
from fastconv.applications import imagenet_utils

# Parameter counts from Keras's applications table (keras.io/api/applications) and
# keras.applications' own models: VGG16 138,357,544 with its top, 14,714,688 without;
# VGG19 20,024,384 without; ResNet50 25,636,712 with, 23,587,712 without.
VGG16_NAMES = ["input_layer"] + [f"block{b}_{kind}" for b, n in
                                 zip(range(1, 6), (2, 2, 3, 3, 3))
                                 for kind in [f"conv{i}" for i in range(1, n + 1)] + ["pool"]]


def test_vgg16_has_keras_layers_names_order_and_counts():
    model = applications.VGG16(weights=None, include_top=False)
    names = [l.name for l in model.layers]
    assert names[1:] == VGG16_NAMES[1:] and len(names) == 19
    assert model.count_params() == 14_714_688
    assert model.input_shape == (None, None, None, 3)
    assert len(model.trainable_weights) == 26             # what Keras prints for conv_base
    model.trainable = False
    assert len(model.trainable_weights) == 0
    # any size, at least 32x32: 180x180 ends at 5x5 (the book's features)
    assert model.compute_output_shape((None, 180, 180, 3)) == (None, 5, 5, 512)
    top = applications.VGG16(weights=None)
    assert top.count_params() == 138_357_544
    assert [l.name for l in top.layers][-4:] == ["flatten", "fc1", "fc2", "predictions"]
    assert top.input_shape == (None, 224, 224, 3) and top.output_shape == (None, 1000)


def test_vgg19_and_resnet50_counts_and_names():
    assert applications.VGG19(weights=None, include_top=False).count_params() == 20_024_384
    model = applications.ResNet50(weights=None)
    assert model.count_params() == 25_636_712
    names = [l.name for l in model.layers]
    assert len(names) == 177                                # as len(keras ResNet50().layers)
    assert names[1:8] == ["conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad",
                          "pool1_pool", "conv2_block1_1_conv"]
    assert names[-6:] == ["conv5_block3_3_conv", "conv5_block3_3_bn", "conv5_block3_add",
                          "conv5_block3_out", "avg_pool", "predictions"]
    notop = applications.ResNet50(weights=None, include_top=False, pooling="avg")
    assert notop.count_params() == 23_587_712 and notop.output_shape == (None, 2048)
    assert applications.resnet.ResNet50 is applications.ResNet50


def write_published(path, model):
    """Weights in the layout of Keras's published ImageNet files: layer_names at the root
    (every layer, in model.layers order), weight_names per layer, matched by order."""
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [l.name.encode() for l in model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            g = f.create_group(layer.name)
            names = [f"{layer.name}_W_{i}:0".encode() for i in range(len(layer.weights))]
            g.attrs["weight_names"] = names
            for n, w in zip(names, layer.weights):
                g.create_dataset(n.decode(), data=w)
    return path


@pytest.mark.parametrize("build", [
    lambda **k: applications.ResNet50(include_top=False, input_shape=(40, 40, 3), **k),
    lambda **k: applications.VGG19(include_top=False, pooling="max", **k)],
    ids=["resnet50", "vgg19"])
def test_weights_in_keras_published_layout_load(tmp_path, rng, build):
    pytest.importorskip("h5py")
    source = build(weights=None)
    for w in source.weights:                     # moving statistics away from 0 and 1 too
        w[...] = rng.standard_normal(w.shape).astype(w.dtype) * 0.05 + (w.min() == 1)
    path = write_published(tmp_path / "w.h5", source)
    model = build(weights=str(path))
    for a, b in zip(source.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = applications.resnet50.preprocess_input(rng.random((2, 40, 40, 3)) * 255)
    np.testing.assert_array_equal(model.predict(x, verbose=0), source.predict(x, verbose=0))


def test_application_arguments_are_checked_as_keras_checks_them(tmp_path):
    with pytest.raises(ValueError, match="classes must be 1000"):
        applications.VGG16(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=r"input_shape must be \(224, 224, 3\)"):
        applications.ResNet50(weights="imagenet", input_shape=(200, 200, 3))
    with pytest.raises(ValueError, match="at least 32x32"):
        applications.VGG16(weights=None, include_top=False, input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match="3 input channels"):
        applications.VGG16(weights="imagenet", include_top=False, input_shape=(64, 64, 1))
    with pytest.raises(ValueError, match="weights must be None"):
        applications.VGG16(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="pooling must be"):
        applications.VGG16(weights=None, include_top=False, pooling="sum")
    with pytest.raises(ValueError, match="classifier_activation"):
        applications.ResNet50(weights="imagenet", classifier_activation="sigmoid")
    model = applications.VGG16(weights=None, include_top=False, input_shape=(32, 48, 1))
    assert model.output_shape == (None, 1, 1, 512)


def test_input_tensor_and_a_model_built_on_it(rng):
    inputs = layers.Input((64, 64, 3))
    base = applications.VGG16(weights=None, include_top=False, input_tensor=inputs)
    assert base.input is inputs and base.output_shape == (None, 2, 2, 512)
    x = rng.random((1, 64, 64, 3)).astype("float32")
    assert base.predict(x, verbose=0).shape == (1, 2, 2, 512)


# -- preprocess_input -------------------------------------------------------------------------

MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_preprocess_input_follows_its_formula_and_leaves_the_caller_alone(rng, dtype):
    x = (rng.random((2, 5, 4, 3)) * 255).astype(dtype)
    keep = x.copy()
    f = np.float32 if dtype == "uint8" else np.dtype(dtype).type
    xf = x.astype(f)
    caffe = applications.vgg16.preprocess_input(x)
    np.testing.assert_array_equal(caffe, xf[..., ::-1] - np.array([103.939, 116.779, 123.68],
                                                                  f))
    np.testing.assert_array_equal(imagenet_utils.preprocess_input(x, mode="tf"),
                                  xf / f(127.5) - f(1))
    torch = imagenet_utils.preprocess_input(x, mode="torch")
    mean, std = np.array([0.485, 0.456, 0.406], f), np.array([0.229, 0.224, 0.225], f)
    np.testing.assert_array_equal(torch, (xf / f(255) - mean) / std)
    for out in (caffe, torch):
        assert out.dtype == f
    np.testing.assert_array_equal(x, keep)
    with pytest.raises(ValueError, match="mode must be"):
        imagenet_utils.preprocess_input(x, mode="bgr")
    with pytest.raises(ValueError, match="3 channels"):
        imagenet_utils.preprocess_input(x[..., :2])
    with pytest.raises(ValueError, match="channels_last"):
        imagenet_utils.preprocess_input(x, data_format="channels_first")


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_input_inside_a_model(tmp_path, rng, mode):
    inputs = layers.Input((6, 6, 3))
    x = imagenet_utils.preprocess_input(inputs, mode=mode)
    outputs = layers.Conv2D(2, 1)(x)
    model = models.Model(inputs, outputs)
    images = (rng.random((3, 6, 6, 3)) * 255).astype("float32")
    inner = models.Model(inputs, x)
    np.testing.assert_array_equal(inner.predict(images, verbose=0),
                                  imagenet_utils.preprocess_input(images, mode=mode))
    # gradients through it: Keras's chain rule, checked by central differences in float64
    dy = rng.standard_normal((3, 6, 6, 3))
    dx = inner.input_gradient(images.astype("float64"), dy)
    scale = {"caffe": np.ones(3), "tf": np.full(3, 1 / 127.5),
             "torch": 1 / (255 * np.array([0.229, 0.224, 0.225]))}[mode]
    want = (dy[..., ::-1] if mode == "caffe" else dy) * scale
    np.testing.assert_allclose(dx, want, rtol=1e-6)
    for suffix in (".fastconv", ".keras"):
        if suffix == ".keras":
            pytest.importorskip("h5py")
        model.save(tmp_path / f"m{suffix}")
        back = models.load_model(tmp_path / f"m{suffix}")
        np.testing.assert_array_equal(back.predict(images, verbose=0),
                                      model.predict(images, verbose=0))


def test_the_operations_are_written_as_keras_writes_them(tmp_path):
    pytest.importorskip("h5py")
    import zipfile
    inputs = layers.Input((4, 4, 3))
    model = models.Model(inputs, layers.Conv2D(1, 1)(
        applications.vgg16.preprocess_input(inputs)))
    model.save(tmp_path / "m.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    entries = config["config"]["layers"]
    assert [(e["module"], e["class_name"]) for e in entries[1:6]] == [
        ("keras.src.ops.numpy", "GetItem")] * 3 + [("keras.src.ops.numpy", "Stack"),
                                                   ("keras.src.ops.numpy", "Add")]
    assert entries[1]["inbound_nodes"][0]["args"][1] == [
        {"class_name": "__ellipsis__", "config": {}}, 2]
    constant = entries[5]["inbound_nodes"][0]["args"][1]
    assert constant["class_name"] == "__tensor__"
    np.testing.assert_array_equal(np.float32(constant["config"]["value"]).ravel(), -MEAN_BGR)


# -- downloads ----------------------------------------------------------------------------------

class _Server:
    """A local HTTP server: path -> bytes; a path in truncate sends a longer
    Content-Length than it sends bytes; requests counts the requests."""

    def __init__(self, files):
        self.files, self.truncate, self.requests = files, set(), []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                data = owner.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data) + (
                    1000 if self.path in owner.truncate else 0)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server({})
    yield s
    s.close()


@pytest.fixture
def homes(tmp_path, monkeypatch):
    """fastconv's cache and Keras's in temporary folders."""
    monkeypatch.setenv("FASTCONV_HOME", str(tmp_path / "fastconv"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "fastconv", tmp_path / "keras"


def md5(data):
    return hashlib.md5(data).hexdigest()


def test_get_file_downloads_checks_and_reuses_its_cache(server, homes):
    data = os.urandom(3 << 20)
    server.files["/w.h5"] = data
    path = utils.get_file("w.h5", server.url + "/w.h5", cache_subdir="models",
                          file_hash=md5(data))
    assert path == str(homes[0] / "models" / "w.h5")
    assert open(path, "rb").read() == data
    assert utils.get_file("w.h5", server.url + "/w.h5", cache_subdir="models",
                          file_hash=md5(data)) == path
    assert server.requests == ["/w.h5"]                  # the second call used the cache
    sha = hashlib.sha256(data).hexdigest()
    assert utils.get_file("w.h5", server.url + "/w.h5", cache_subdir="models",
                          file_hash=sha) == path       # a SHA-256 hash works too
    assert utils.get_file(origin=server.url + "/w.h5") == str(homes[0] / "datasets" / "w.h5")
    # a damaged cached file is downloaded again
    with open(path, "r+b") as f:
        f.write(b"damage")
    utils.get_file("w.h5", server.url + "/w.h5", cache_subdir="models", file_hash=md5(data))
    assert open(path, "rb").read() == data
    with pytest.raises(ValueError, match="fname must be a file name"):
        utils.get_file("../w.h5", server.url + "/w.h5")


def test_get_file_uses_a_keras_download_whose_hash_matches(server, homes):
    data = b"keras downloaded this"
    keras_copy = homes[1] / "models" / "w.h5"
    keras_copy.parent.mkdir(parents=True)
    keras_copy.write_bytes(data)
    server.files["/w.h5"] = data
    assert utils.get_file("w.h5", server.url + "/w.h5", cache_subdir="models",
                          file_hash=md5(data)) == str(keras_copy)
    assert server.requests == []
    keras_copy.write_bytes(b"an older file")            # a mismatch: fastconv downloads
    assert utils.get_file("w.h5", server.url + "/w.h5", cache_subdir="models",
                          file_hash=md5(data)) == str(homes[0] / "models" / "w.h5")
    assert server.requests == ["/w.h5"]


def test_get_file_refuses_a_wrong_hash_and_a_truncated_transfer(server, homes):
    server.files["/w.h5"] = b"x" * 5000
    target = homes[0] / "models" / "w.h5"
    with pytest.raises(ValueError, match=r"w\.h5 downloaded from http://127.*/w\.h5 is not the "
                                         r"published file.*put it at .*models/w\.h5"):
        utils.get_file("w.h5", server.url + "/w.h5", cache_subdir="models",
                       file_hash="0" * 32)
    assert not target.exists() and os.listdir(target.parent) == []   # nothing kept
    server.truncate.add("/w.h5")
    with pytest.raises(OSError, match=r"could not download w\.h5 .*ended after 5,000 of 6,000"):
        utils.get_file("w.h5", server.url + "/w.h5", cache_subdir="models")
    assert os.listdir(target.parent) == []
    with pytest.raises(OSError, match="HTTP Error 404"):
        utils.get_file("v.h5", server.url + "/v.h5")


def test_get_file_offline_fails_within_seconds_naming_where_to_put_the_file(homes):
    with socket.socket() as s:                           # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(OSError, match=rf"could not download w\.h5 from http://127\.0\.0\.1:"
                                      rf"{port}/w\.h5: .*refused.*put it at .*models/w\.h5"):
        utils.get_file("w.h5", f"http://127.0.0.1:{port}/w.h5", cache_subdir="models",
                       file_hash="0" * 32)
    assert time.monotonic() - start < 5


def test_get_file_extracts_archives_safely(server, homes, tmp_path):
    import io
    import tarfile
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("photos/cat.txt", "meow")
    server.files["/photos.zip"] = buf.getvalue()
    folder = utils.get_file("photos.zip", server.url + "/photos.zip", extract=True)
    assert open(os.path.join(folder, "photos", "cat.txt")).read() == "meow"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../escape.txt", "out")
    server.files["/evil.zip"] = buf.getvalue()
    with pytest.raises(ValueError, match="outside"):
        utils.get_file("evil.zip", server.url + "/evil.zip", extract=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 3
        t.addfile(info, io.BytesIO(b"out"))
    server.files["/evil.tgz"] = buf.getvalue()
    with pytest.raises(ValueError, match="cannot unpack"):
        utils.get_file("evil.tgz", server.url + "/evil.tgz", extract=True)
    assert not (homes[0] / "escape.txt").exists()


@contextlib.contextmanager
def published_at(monkeypatch, server, module, data, include_top=False):
    """module's ImageNet weights file served by server, with data's hash."""
    name = module.FILES[include_top][0]
    server.files["/" + name] = data
    monkeypatch.setitem(module.FILES, include_top, (name, f"{server.url}/{name}", md5(data)))
    yield name


def test_imagenet_weights_are_fetched_once_and_loaded(server, homes, monkeypatch, tmp_path):
    pytest.importorskip("h5py")
    source = applications.VGG16(weights=None, include_top=False)
    data = write_published(tmp_path / "vgg.h5", source).read_bytes()
    with published_at(monkeypatch, server, applications.vgg16, data) as name:
        model = applications.VGG16(weights="imagenet", include_top=False)
        again = applications.VGG16(weights="imagenet", include_top=False)
    assert server.requests == ["/" + name]
    assert (homes[0] / "models" / name).read_bytes() == data
    for a, b, c in zip(source.get_weights(), model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_imagenet_weights_offline_is_a_clear_error(homes, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = applications.vgg16.FILES[False][0]
    monkeypatch.setitem(applications.vgg16.FILES, False, (
        name, f"http://127.0.0.1:{port}/{name}", applications.vgg16.FILES[False][2]))
    with pytest.raises(OSError, match=rf"{name} from http://127.0.0.1:{port}/.*put it at "
                                      rf".*models/{name}"):
        applications.VGG16(weights="imagenet", include_top=False)


def test_decode_predictions_with_the_class_index(server, homes, monkeypatch, rng):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    data = json.dumps(index).encode()
    server.files["/index.json"] = data
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_URL", server.url + "/index.json")
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH", md5(data))
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    preds = rng.random((2, 1000)).astype("float32")
    got = applications.vgg16.decode_predictions(preds, top=3)
    for row, result in zip(preds, got):
        best = np.argsort(row)[::-1][:3]
        assert [r[:2] for r in result] == [(f"n{i:08d}", f"class_{i}") for i in best]
        assert [r[2] for r in result] == list(row[best])
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\)"):
        applications.vgg16.decode_predictions(preds[:, :10])


# -- MobileNetV2 and Xception --------------------------------------------------------------------

# Parameter counts of keras.applications.MobileNetV2 (Keras 3.15.1) per alpha, with and
# without its top; Xception 22,910,480 and 20,861,480 (keras.io's applications table).
MOBILENET_V2_COUNTS = {0.35: (1_691_208, 410_208), 0.5: (1_987_224, 706_224),
                       0.75: (2_663_064, 1_382_064), 1.0: (3_538_984, 2_257_984),
                       1.3: (5_431_048, 3_766_048), 1.4: (6_156_712, 4_363_712)}


@pytest.mark.parametrize("alpha", list(MOBILENET_V2_COUNTS))
def test_mobilenet_v2_counts_per_width(alpha):
    top, notop = MOBILENET_V2_COUNTS[alpha]
    model = applications.MobileNetV2(weights=None, alpha=alpha)
    assert model.count_params() == top and len(model.layers) == 156
    assert model.name == f"mobilenetv2_{alpha:0.2f}_224"
    assert applications.MobileNetV2(weights=None, alpha=alpha,
                                    include_top=False).count_params() == notop


def test_mobilenet_v2_layers_as_keras_names_them():
    model = applications.MobileNetV2(weights=None, input_shape=(96, 96, 3),
                                     include_top=False, pooling="max")
    names = [l.name for l in model.layers]
    assert names[1:12] == [
        "Conv1", "bn_Conv1", "Conv1_relu", "expanded_conv_depthwise",
        "expanded_conv_depthwise_BN", "expanded_conv_depthwise_relu", "expanded_conv_project",
        "expanded_conv_project_BN", "block_1_expand", "block_1_expand_BN", "block_1_expand_relu"]
    assert names[12:14] == ["block_1_pad", "block_1_depthwise"]
    assert names[-4:-1] == ["Conv_1", "Conv_1_bn", "out_relu"]
    # the residual Adds: where a stride-1 block keeps its channel count (10 of them)
    adds = [n for n in names if n.endswith("_add")]
    assert adds == [f"block_{i}_add" for i in (2, 4, 5, 7, 8, 9, 11, 12, 14, 15)]
    relu6 = model.get_layer("block_3_depthwise_relu")
    assert relu6.max_value == 6.0
    bn = model.get_layer("block_3_depthwise_BN")
    assert (bn.epsilon, bn.momentum) == (1e-3, 0.999)
    assert model.name == "mobilenetv2_1.00_96" and model.output_shape == (None, 1280)
    # 96 / 32 = 3: five halvings
    assert model.get_layer("out_relu").output.shape == (None, 3, 3, 1280)


@pytest.mark.parametrize("size, pad", [(64, ((0, 1), (0, 1))), (65, ((1, 1), (1, 1))),
                                       (None, ((0, 1), (0, 1)))])
def test_correct_pad_pads_as_keras_for_odd_even_and_unknown_sizes(size, pad):
    x = layers.Input((size, size, 8))
    assert imagenet_utils.correct_pad(x, 3) == pad
    assert imagenet_utils.correct_pad(x, (5, 3))[0] == (pad[0][0] + 1, pad[0][1] + 1)
    # after the stride-2 'valid' depthwise, the size 'same' padding would give: ceil(n / 2)
    if size:
        y = layers.DepthwiseConv2D(3, strides=2)(layers.ZeroPadding2D(pad)(x))
        assert y.shape[1] == -(-size // 2)


def test_mobilenet_v2_arguments_and_weight_files():
    with pytest.raises(ValueError, match="alpha must be one of 0.35, 0.5, 0.75, 1.0, 1.3"):
        applications.MobileNetV2(alpha=0.6)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        applications.MobileNetV2(weights=None, alpha=0)
    with pytest.raises(ValueError, match=r"input_shape must be \(160, 160, 3\)"):
        applications.MobileNetV2(input_shape=(160, 160, 1))
    # Keras's published file names, per width and size
    name, url = applications.mobilenet_v2.weight_file(0.5, 160, include_top=False)
    assert name == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_160_no_top.h5"
    assert url == ("https://storage.googleapis.com/tensorflow/keras-applications/"
                   "mobilenet_v2/" + name)
    assert applications.mobilenet_v2.weight_file(1, 224, True)[0] == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5")
    assert [applications.mobilenet_v2.make_divisible(v) for v in (32 * 0.35, 16 * 0.35, 3,
                                                                  1280 * 1.3, 99)] == [
        16, 8, 8, 1664, 96]


def test_mobilenet_v2_imagenet_weights_per_width_and_size(server, homes, monkeypatch,
                                                          tmp_path):
    pytest.importorskip("h5py")
    source = applications.MobileNetV2(weights=None, alpha=0.35, include_top=False,
                                      input_shape=(96, 96, 3))
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    server.files["/" + name] = write_published(tmp_path / "m.h5", source).read_bytes()
    monkeypatch.setattr(applications.mobilenet_v2, "BASE_URL", server.url + "/")
    model = applications.MobileNetV2(alpha=0.35, include_top=False, input_shape=(96, 96, 3))
    assert server.requests == ["/" + name]
    for a, b in zip(source.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a size without published weights loads the 224 file, with Keras's warning
    with pytest.warns(UserWarning, match="loading the weights for 224x224"), \
            pytest.raises(OSError, match="0.35_224_no_top.h5"):
        applications.MobileNetV2(alpha=0.35, include_top=False, input_shape=(100, 100, 3))


def test_xception_counts_names_and_sizes():
    model = applications.Xception(weights=None)
    assert model.count_params() == 22_910_480 and len(model.layers) == 134
    assert model.input_shape == (None, 299, 299, 3)
    names = [l.name for l in model.layers]
    assert names[7:12] == ["block2_sepconv1", "block2_sepconv1_bn", "block2_sepconv2_act",
                           "block2_sepconv2", "block2_sepconv2_bn"]
    assert names[-3:] == ["block14_sepconv2_act", "avg_pool", "predictions"]
    notop = applications.Xception(weights=None, include_top=False, pooling="avg")
    assert notop.count_params() == 20_861_480 and notop.output_shape == (None, 2048)
    with pytest.raises(ValueError, match="at least 71x71"):
        applications.Xception(weights=None, include_top=False, input_shape=(70, 80, 3))
    small = applications.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    assert small.output_shape == (None, 3, 3, 2048)


@pytest.mark.parametrize("build, module", [
    (lambda **k: applications.MobileNetV2(alpha=0.5, include_top=False,
                                          input_shape=(33, 33, 3), **k), "mobilenet_v2"),
    (lambda **k: applications.Xception(include_top=False, input_shape=(71, 71, 3),
                                       pooling="avg", **k), "xception")],
    ids=["mobilenet_v2", "xception"])
def test_mobilenet_v2_and_xception_load_the_published_layout(tmp_path, rng, build, module):
    pytest.importorskip("h5py")
    source = build(weights=None)
    for w in source.weights:
        w[...] = rng.standard_normal(w.shape).astype(w.dtype) * 0.05 + (w.min() == 1)
    model = build(weights=str(write_published(tmp_path / "w.h5", source)))
    for a, b in zip(source.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = rng.random((2, 71, 71, 3)) * 255 if module == "xception" else \
        rng.random((2, 33, 33, 3)) * 255
    x = getattr(applications, module).preprocess_input(images)
    np.testing.assert_array_equal(x, images.astype(np.float64) / 127.5 - 1)
    np.testing.assert_array_equal(model.predict(x, verbose=0), source.predict(x, verbose=0))
