"""fastconv and real Keras 3 on each other's files: Keras writes models of every layer kind
fastconv reads, and fastconv must predict what Keras predicts; fastconv writes models, and Keras
must load them without custom_objects, predict the same and train on. Skipped unless Keras is
installed: CI's Keras stage (.ci/keras) runs it in a virtual environment with Keras on its
JAX backend, h5py and the fastconv wheel."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
if os.environ.get("FASTCONV_KERAS_STAGE"):
    import keras                    # the Keras stage: a missing Keras is a failure, not a skip
else:
    keras = pytest.importorskip("keras")

import fastconv  # noqa: E402
from fastconv import layers as fl, models as fm  # noqa: E402
from _helpers import winograd_calls  # noqa: E402

RTOL = 1e-4          # of the output's largest magnitude, float32 (Winograd paths included)


def close(got, want, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    assert np.abs(got - want).max() <= RTOL * max(np.abs(want).max(), 1e-30), what


def keras_models():
    """Keras models covering every layer fastconv reads, each with an input shape."""
    L = keras.layers
    yield "convnet", keras.Sequential([
        keras.Input((20, 20, 3)), L.Rescaling(1 / 255, offset=0.1),
        L.RandomFlip("horizontal"), L.RandomRotation(0.1), L.RandomZoom(0.2),
        L.RandomTranslation(0.1, 0.1), L.RandomContrast(0.2),
        L.Conv2D(16, 3, activation="relu"), L.BatchNormalization(momentum=0.9),
        L.MaxPooling2D(2), L.Conv2D(32, 3, padding="same", activation="tanh"),
        L.Conv2D(32, (2, 3), strides=(1, 2), use_bias=False),
        L.AveragePooling2D(3, strides=2, padding="same"), L.Flatten(), L.Dropout(0.4),
        L.Dense(16, activation="sigmoid"), L.Dense(5, activation="softmax")])
    inputs = keras.Input((16, 16, 16))
    a = L.Conv2D(32, 3, padding="same", activation="relu")(inputs)     # Winograd-sized
    b = L.Conv2D(32, 1)(inputs)
    x = L.Add()([a, b])
    x = L.Activation("relu")(x)
    g = L.Concatenate()([L.GlobalAveragePooling2D()(x),
                         L.GlobalMaxPooling2D()(L.MaxPooling2D(3, strides=2)(x))])
    yield "graph", keras.Model(inputs, [L.Dense(3, activation="softmax")(g),
                                        L.Dense(1, activation="sigmoid")(g)])
    inputs = keras.Input((8, 8, 4))
    x = L.ZeroPadding2D(((1, 0), (0, 2)))(inputs)
    x = L.Conv2D(6, 3)(x)
    acts = [L.Activation(name)(x) for name in (
        "relu6", "silu", "swish", "gelu", "hard_sigmoid", "hard_silu", "elu", "selu",
        "softplus", "exponential")]
    x = L.Concatenate()(acts[:5] + [L.Average()(acts[5:])])
    x = L.Conv2D(8, 1)(x)
    y = L.LeakyReLU(0.2)(x)
    z = L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5)(x)
    x = L.Maximum()([L.Multiply()([y, z]), L.Subtract()([y, z]), L.Minimum()([y, x])])
    x = L.GaussianNoise(0.3)(L.SpatialDropout2D(0.3)(L.Identity()(x)))
    x = L.Reshape((-1, 8))(L.Permute((2, 1, 3))(x))
    yield "modern", keras.Model(inputs, L.Dense(3)(L.Flatten()(x)))
    yield "keepdims", keras.Sequential([
        keras.Input((9, 9, 4)), L.Conv2D(6, 3, strides=2, padding="same"),
        L.GlobalAveragePooling2D(keepdims=True), L.Flatten(), L.Dense(2)])
    # transfer learning: an augmentation Sequential and a frozen base of unknown size nested
    base_in = keras.Input((None, None, 3))
    b = L.Conv2D(16, 3, padding="same", activation="relu")(base_in)
    b = L.MaxPooling2D(2)(L.BatchNormalization()(b))
    base = keras.Model(base_in, L.Conv2D(8, 3, activation="relu")(b), name="base")
    base.trainable = False
    augmentation = keras.Sequential([L.RandomFlip("horizontal"), L.RandomZoom(0.2)])
    inputs = keras.Input((14, 14, 3))
    x = L.Flatten()(base(augmentation(inputs)))
    yield "nested", keras.Model(inputs, L.Dense(4, activation="softmax")(x))
    # segmentation's resizing layers: strided down, up by both interpolations, cropped
    inputs = keras.Input((10, 10, 3))
    x = L.Conv2D(4, 3, strides=2, padding="same")(inputs)
    a = L.UpSampling2D(2)(x)
    b = L.UpSampling2D((2, 3), interpolation="bilinear")(x)
    b = L.Cropping2D(((0, 0), (2, 3)))(b)
    x = L.Concatenate()([a, b])
    yield "resizing", keras.Model(inputs, L.Conv2D(2, 1)(L.Cropping2D(1)(x)))
    # the Xception and MobileNet pattern: separable and depthwise layers, a strided residual;
    # a dilated, grouped convolution
    inputs = keras.Input((11, 11, 6))
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6")(inputs)
    x = L.DepthwiseConv2D(2, dilation_rate=2, use_bias=False)(x)
    x = L.BatchNormalization()(x)
    y = L.SeparableConv2D(16, 3, padding="same", activation="relu")(x)
    y = L.SeparableConv2D(16, 3, strides=2, padding="same", use_bias=False,
                          depth_multiplier=2)(y)
    y = L.MaxPooling2D(3, strides=2, padding="same")(
        L.SeparableConv2D(16, (3, 2), dilation_rate=(1, 2), padding="same")(y))
    r = L.Conv2D(16, 1, strides=4, padding="same")(x)
    x = L.Add()([y, r])
    x = L.Conv2D(16, 3, dilation_rate=2, groups=4, padding="same", activation="relu")(x)
    yield "separable", keras.Model(inputs, L.Dense(3, activation="softmax")(
        L.GlobalAveragePooling2D()(x)))
    yield "segmentation", segmentation_model(keras.layers, keras.Model, keras.Input)
    yield "mini_xception", mini_xception_model(keras.layers, keras)


def mini_xception_model(L, models):
    """The book's mini-Xception (examples/keras_book_mini_xception.py) at 40x40, written once
    for Keras and fastconv: the augmentation Sequential nested, Rescaling, a 5x5 stem without
    bias, five blocks of BatchNormalization / ReLU / SeparableConv2D with a strided max
    pooling and a strided 1x1 residual, GlobalAveragePooling2D, Dropout, a sigmoid unit."""
    augmentation = models.Sequential([L.RandomFlip("horizontal"), L.RandomRotation(0.1),
                                      L.RandomZoom(0.2)])
    inputs = L.Input(shape=(40, 40, 3))
    x = L.Rescaling(1. / 255)(augmentation(inputs))
    x = L.Conv2D(filters=32, kernel_size=5, use_bias=False)(x)
    for size in [32, 64, 128, 256, 512]:
        residual = x
        for _ in range(2):
            x = L.BatchNormalization()(x)
            x = L.Activation("relu")(x)
            x = L.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = L.Conv2D(size, 1, strides=2, padding="same", use_bias=False)(residual)
        x = L.add([x, residual])
    x = L.Dropout(0.5)(L.GlobalAveragePooling2D()(x))
    return models.Model(inputs=inputs, outputs=L.Dense(1, activation="sigmoid")(x))


def segmentation_model(L, Model, Input):
    """The book's segmentation model in small: strided convolutions down, transposed ones up
    (Keras's sizes: 'same' stride 2 on an odd size, output_padding, 'valid'), a softmax per
    pixel; written once for Keras and fastconv."""
    inputs = Input((11, 11, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)       # 6x6
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)            # 3x3
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)   # 6x6
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", output_padding=0)(x)    # 11x11
    x = L.Conv2DTranspose(6, (2, 3), strides=(1, 2), padding="valid",
                          output_padding=(0, 1))(x)                                # 12x24
    x = L.Conv2D(4, (2, 14), activation="relu")(x)                                # 11x11
    x = L.Conv2DTranspose(5, 3, padding="same", dilation_rate=(2, 3))(x)             # 11x11
    x = L.Conv2DTranspose(4, 2, dilation_rate=2, activation="relu")(x)              # 13x13
    x = L.Conv2D(4, 3)(x)                                                         # 11x11
    return Model(inputs, L.Conv2D(3, 3, padding="same", activation="softmax")(x))


@pytest.mark.parametrize("name", ["convnet", "graph", "modern", "keepdims", "nested",
                                  "resizing", "separable", "segmentation", "mini_xception"])
def test_fastconv_predicts_what_keras_predicts_from_keras_files(tmp_path, name):
    keras.utils.set_random_seed(1)
    model = dict(keras_models())[name]
    rng = np.random.default_rng(0)
    shape = model.inputs[0].shape[1:]
    x = (rng.random((6,) + tuple(shape)) * (255 if name in ("convnet", "mini_xception")
                                             else 1)).astype("float32")
    if name in ("convnet", "nested", "separable", "mini_xception"):
        # moving statistics away from their start
        classes = model.outputs[0].shape[-1]
        model.compile("adam", "categorical_crossentropy")
        model.fit(x, np.eye(classes)[np.arange(6) % classes], epochs=2, verbose=0)
    model.save(tmp_path / "k.keras")
    want = model.predict(x, verbose=0)
    want = want if isinstance(want, list) else [want]
    loaded = fm.load_model(tmp_path / "k.keras")
    # as fastconv chooses, then with every 3x3 stride-1 convolution on each Winograd tile
    for tile in (None, 2, 4):
        with pytest.MonkeyPatch.context() as patched:
            if tile:
                patched.setattr(fastconv._api.conv, "winograd_shape_pays",
                                lambda kh, kw, sh, sw, *rest, t=tile:
                                t if (kh, kw, sh, sw) == (3, 3, 1, 1) else 0)
            calls = winograd_calls(patched)
            got = loaded.predict(x, verbose=0)
        if name == "graph":
            assert ("forward", True, tile or 4) in calls, calls
        for g, w in zip(got if isinstance(got, list) else [got], want):
            close(g, w, f"{name}, Winograd tile {tile}")


def fastconv_models():
    yield "sequential", fm.Sequential([
        fl.Input((12, 12, 3)), fl.RandomFlip("horizontal", seed=1), fl.Rescaling(1 / 255),
        fl.Conv2D(8, 3, activation="relu"), fl.BatchNormalization(),
        fl.MaxPooling2D(), fl.Conv2D(16, 3, padding="same", activation="tanh"),
        fl.AveragePooling2D(2, padding="same"), fl.Flatten(), fl.Dropout(0.3),
        fl.Dense(8, activation="relu"), fl.Dense(3, activation="softmax")])
    inputs = fl.Input((10, 10, 16))
    a = fl.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    b = fl.Conv2D(32, 1)(inputs)
    x = fl.BatchNormalization()(fl.Add()([a, b]))
    g = fl.Concatenate()([fl.GlobalAveragePooling2D()(x),
                          fl.GlobalMaxPooling2D()(fl.MaxPooling2D(2)(x))])
    yield "functional", fm.Model(inputs, fl.Dense(1, activation="sigmoid")(fl.Dropout(0.2)(g)))
    inputs = fl.Input((6, 6, 3))
    x = fl.Conv2D(4, 3, activation="gelu")(fl.ZeroPadding2D(1)(inputs))
    x = fl.ReLU(6.0)(x)
    gate = fl.Activation("hard_sigmoid")(fl.Conv2D(4, 1)(x))
    x = fl.Multiply()([x, gate])
    y = fl.Subtract()([x, fl.LeakyReLU(0.1)(fl.Conv2D(4, 1, activation="selu")(x))])
    x = fl.Average()([fl.Maximum()([x, y]), fl.Minimum()([x, y])])
    x = fl.GaussianNoise(0.1)(fl.SpatialDropout2D(0.2)(fl.Identity()(x)))
    x = fl.Reshape((-1,))(fl.Permute((2, 1, 3))(x))
    yield "modern", fm.Model(inputs, fl.Dense(1, activation="sigmoid")(
        fl.Activation("swish")(x)))
    yield "nested", nested_model(augment=True)
    inputs = fl.Input((8, 8, 3))
    x = fl.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inputs)
    x = fl.UpSampling2D(2, interpolation="bilinear")(x)
    x = fl.Cropping2D(((1, 0), (0, 1)))(fl.UpSampling2D((1, 2))(x))
    yield "resizing", fm.Model(inputs, fl.Dense(1, activation="sigmoid")(
        fl.GlobalAveragePooling2D()(x)))
    yield "separable", separable_model()
    yield "segmentation", segmentation_model(fl, fm.Model, fl.Input)
    yield "mini_xception", mini_xception_model(fl, fm)


def separable_model():
    """Depthwise and separable layers in the Xception pattern, no randomness in training."""
    inputs = fl.Input((9, 9, 4))
    x = fl.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False)(inputs)
    x = fl.Activation("relu")(fl.BatchNormalization()(x))
    y = fl.SeparableConv2D(8, 3, padding="same", activation="relu")(x)
    y = fl.SeparableConv2D(8, 3, strides=2, padding="same", dilation_rate=1,
                           depth_multiplier=2)(y)
    x = fl.Add()([y, fl.Conv2D(8, 1, strides=2, padding="same")(x)])
    x = fl.Conv2D(8, 2, dilation_rate=(2, 1), groups=2, padding="same")(x)
    x = fl.DepthwiseConv2D(2, dilation_rate=2, activation="tanh")(x)
    return fm.Model(inputs, fl.Dense(1, activation="sigmoid")(fl.GlobalAveragePooling2D()(x)))


def nested_model(augment):
    """A functional model with a Sequential and a base of unknown size nested, the base's
    first convolution frozen (fine-tuning)."""
    base_in = fl.Input((None, None, 4))
    b = fl.Conv2D(8, 3, padding="same", activation="relu", name="frozen_conv")(base_in)
    b = fl.MaxPooling2D(2)(b)
    base = fm.Model(base_in, fl.Conv2D(8, 3, activation="relu")(b), name="base")
    base.get_layer("frozen_conv").trainable = False
    front = fm.Sequential(([fl.RandomFlip("horizontal", seed=1)] if augment else []) +
                          [fl.Conv2D(4, 1)], name="front")
    inputs = fl.Input((10, 10, 3))
    x = fl.GlobalAveragePooling2D()(base(front(inputs)))
    return fm.Model(inputs, fl.Dense(1, activation="sigmoid")(x))


def steady_models():
    """fastconv models whose training draws nothing at random (no dropout, no
    augmentation), so that a step in Keras and a step in fastconv can be compared."""
    # (no bias before the BatchNormalization and no ReLU between: a gradient that is zero
    # but for rounding, scaled up by Adam's normalised step, would compare two roundings)
    yield "sequential", fm.Sequential([
        fl.Input((10, 10, 3)), fl.Rescaling(1 / 255), fl.Conv2D(8, 3, use_bias=False),
        fl.BatchNormalization(), fl.Activation("relu"), fl.MaxPooling2D(), fl.Flatten(),
        fl.Dense(3, activation="softmax")])
    inputs = fl.Input((8, 8, 16))
    a = fl.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = fl.Add()([a, fl.Conv2D(16, 1)(inputs)])
    yield "functional", fm.Model(inputs, fl.Dense(1, activation="sigmoid")(
        fl.GlobalAveragePooling2D()(x)))
    yield "nested", nested_model(augment=False)
    yield "separable", separable_model()
    yield "segmentation", segmentation_model(fl, fm.Model, fl.Input)


def data_for(model, name):
    rng = np.random.default_rng(1)
    x = rng.random((8,) + model.input_shape[1:]).astype("float32")
    if name == "sequential":                       # pixels, for its Rescaling layer
        x *= 255
        return x, np.eye(3)[np.arange(8) % 3].astype("float32"), "categorical_crossentropy"
    if name == "segmentation":                     # a class per pixel
        return (x, rng.integers(0, 3, (8, 11, 11, 1)).astype("float32"),
                "sparse_categorical_crossentropy")
    return x, (np.arange(8) % 2).astype("float32").reshape(-1, 1), "binary_crossentropy"


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
@pytest.mark.parametrize("name", ["sequential", "functional", "modern", "nested",
                                  "resizing", "separable", "segmentation", "mini_xception"])
def test_keras_loads_what_fastconv_saves_and_predicts_the_same(tmp_path, name, optimizer):
    from fastconv import utils
    utils.set_random_seed(2)
    model = dict(fastconv_models())[name]
    x, y, loss = data_for(model, name)
    model.compile(optimizer, loss, metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "f.keras")
    loaded = keras.models.load_model(tmp_path / "f.keras")
    close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), name)
    assert int(loaded.optimizer.iterations.numpy()) == 2
    assert type(loaded.optimizer).__name__.lower() == optimizer
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0)       # and trains on
    assert int(loaded.optimizer.iterations.numpy()) == 4


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd_nesterov"])
@pytest.mark.parametrize("name", ["sequential", "functional", "nested", "separable",
                                  "segmentation"])
def test_a_step_in_keras_after_loading_equals_the_step_in_fastconv(tmp_path, name, optimizer):
    # the optimizer's step count, learning rate and slots came across in Keras's order
    from fastconv import optimizers, utils
    utils.set_random_seed(3)
    model = dict(steady_models())[name]
    x, y, loss = data_for(model, name)
    opt = {"rmsprop": lambda: optimizers.RMSprop(0.01), "adam": lambda: optimizers.Adam(
        0.01, beta_1=0.8), "sgd_nesterov": lambda: optimizers.SGD(0.05, momentum=0.9,
                                                                  nesterov=True)}[optimizer]
    model.compile(opt(), loss)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "f.keras")
    loaded = keras.models.load_model(tmp_path / "f.keras")
    loaded.train_on_batch(x, y)
    model.train_on_batch(x, y)
    # to 1e-5 of the model's largest weight: a slot out of place moves a weight by about
    # the learning rate (1e-2), float32 rounding by 1e-7 of the weights
    largest = max(np.abs(w).max() for w in model.get_weights())
    for layer in model.layers:
        theirs = loaded.get_layer(layer.name).get_weights()
        assert len(theirs) == len(layer.weights), layer.name
        for got, want in zip(layer.get_weights(), theirs):
            assert np.abs(got - want).max() <= 1e-5 * largest, layer.name


def test_keras_reads_fastconvs_weights_files(tmp_path):
    model = dict(fastconv_models())["sequential"]
    model.save(tmp_path / "f.keras")
    model.save_weights(tmp_path / "w.weights.h5")
    loaded = keras.models.load_model(tmp_path / "f.keras")
    for w in loaded.weights:
        w.assign(np.zeros(w.shape, w.dtype))
    loaded.load_weights(tmp_path / "w.weights.h5")
    x = np.random.default_rng(2).random((3, 12, 12, 3)).astype("float32")
    close(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # and fastconv reads Keras's
    loaded.save_weights(tmp_path / "k.weights.h5")
    back = fm.load_model(tmp_path / "f.keras")
    for layer in back.layers:
        layer.set_weights([np.zeros_like(w) for w in layer.weights])
    back.load_weights(tmp_path / "k.weights.h5")
    close(back.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_input_inside_models_both_ways(tmp_path, mode):
    # Keras records preprocess_input on a symbolic tensor as operations (GetItem, Stack,
    # Add, TrueDivide ...): fastconv reads them, and writes its own as Keras does
    from fastconv.applications import imagenet_utils
    rng = np.random.default_rng(4)
    x = (rng.random((3, 8, 8, 3)) * 255).astype("float32")
    inputs = keras.Input((8, 8, 3))
    y = keras.applications.imagenet_utils.preprocess_input(inputs, mode=mode)
    theirs = keras.Model(inputs, keras.layers.Conv2D(2, 1)(y))
    theirs.save(tmp_path / "k.keras")
    loaded = fm.load_model(tmp_path / "k.keras")
    close(loaded.predict(x, verbose=0), theirs.predict(x, verbose=0), mode)
    inputs = fl.Input((8, 8, 3))
    ours = fm.Model(inputs, fl.Conv2D(2, 1)(imagenet_utils.preprocess_input(inputs, mode=mode)))
    ours.save(tmp_path / "f.keras")
    back = keras.models.load_model(tmp_path / "f.keras")
    close(back.predict(x, verbose=0), ours.predict(x, verbose=0), mode)
    # on arrays, the same numbers as Keras's
    np.testing.assert_array_equal(
        imagenet_utils.preprocess_input(x, mode=mode),
        keras.applications.imagenet_utils.preprocess_input(x.copy(), mode=mode))


APPLICATIONS = {  # name -> (module, input size, arguments)
    "VGG16": ("vgg16", 48, {}), "VGG19": ("vgg19", 48, {}), "ResNet50": ("resnet50", 64, {}),
    "MobileNetV2": ("mobilenet_v2", 64, {"alpha": 1.0}),
    "MobileNetV2-0.35": ("mobilenet_v2", 65, {"alpha": 0.35}),     # odd: correct_pad's case
    "Xception": ("xception", 80, {})}


@pytest.mark.parametrize("case", list(APPLICATIONS))
def test_applications_load_keras_weight_files_and_predict_as_keras(tmp_path, case):
    # Keras's model with random weights (moving statistics moved), written in the layout of
    # its published ImageNet files by Keras's own legacy writer; fastconv's application
    # loads it as Keras loads it (topologically) and predicts what Keras predicts
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    from fastconv import applications
    name = case.split("-")[0]
    module, size, kwargs = APPLICATIONS[case]
    theirs = getattr(keras.applications, name)(weights=None, include_top=False,
                                               input_shape=(size, size, 3), pooling="avg",
                                               **kwargs)
    rng = np.random.default_rng(5)
    for w in theirs.weights:
        value = rng.standard_normal(w.shape).astype("float32") * 0.05
        w.assign(value + 1 if "variance" in w.path or "gamma" in w.path else value)
    with h5py.File(tmp_path / "w.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, theirs)
    ours = getattr(applications, name)(weights=str(tmp_path / "w.h5"), include_top=False,
                                       input_shape=(size, size, 3), pooling="avg", **kwargs)
    # (the input's, the global pooling's and Xception's unnamed layers' names are numbered
    # per process, in either library)
    def named(model):
        return [l.name for l in model.layers if not l.name.startswith(
            ("input_layer", "global_", "conv2d", "batch_normalization", "add"))]
    assert named(ours) == named(theirs) and len(ours.layers) == len(theirs.layers)
    assert ([type(l).__name__ for l in ours.layers][1:] ==
            [type(l).__name__ for l in theirs.layers][1:])
    assert ours.count_params() == theirs.count_params()
    x = (rng.random((2, size, size, 3)) * 255).astype("float32")
    close(ours.predict(getattr(applications, module).preprocess_input(x), verbose=0),
          theirs.predict(getattr(keras.applications, module).preprocess_input(x.copy()),
                         verbose=0), case)


def test_mobilenet_v2_saved_by_keras_loads_and_predicts_as_keras(tmp_path):
    # a whole MobileNetV2 (top included, 96x96, alpha 0.5) in a .keras file Keras wrote:
    # fastconv loads it without fastconv's application code and predicts what Keras does
    theirs = keras.applications.MobileNetV2(weights=None, alpha=0.5,
                                            input_shape=(96, 96, 3), classes=7)
    rng = np.random.default_rng(8)
    for w in theirs.weights:
        value = rng.standard_normal(w.shape).astype("float32") * 0.1
        w.assign(np.abs(value) + 0.5 if "variance" in w.path else value)
    theirs.save(tmp_path / "m.keras")
    ours = fm.load_model(tmp_path / "m.keras")
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    x = rng.uniform(-1, 1, (3, 96, 96, 3)).astype("float32")
    close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), "MobileNetV2 .keras")


def test_keras_loads_fastconvs_mobilenet_v2_and_predicts_the_same(tmp_path):
    # fastconv's MobileNetV2 (alpha 0.35, an odd size: correct_pad's other case), moving
    # statistics moved, saved as .keras: Keras loads it with its own classes and predicts
    # the same
    from fastconv import applications
    rng = np.random.default_rng(9)
    ours = applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(97, 97, 3),
                                    classes=5)
    for w in ours.weights:
        w[...] = (np.abs(rng.standard_normal(w.shape)) + 0.5 if w.min() == 1 else
                  rng.standard_normal(w.shape) * 0.1).astype(w.dtype)
    ours.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras")
    assert [l.name for l in theirs.layers] == [l.name for l in ours.layers]
    assert theirs.count_params() == ours.count_params()
    x = rng.uniform(-1, 1, (2, 97, 97, 3)).astype("float32")
    close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), "MobileNetV2 to Keras")


def test_iou_metrics_compile_configs_both_ways(tmp_path):
    # MeanIoU and IoU in the compile config: each library restores the other's, and their
    # values agree (Keras computes in float32 with its epsilon, fastconv in float64)
    from fastconv import metrics as fmetrics
    rng = np.random.default_rng(6)
    x = rng.random((12, 6, 6, 2)).astype("float32")
    y = np.eye(3)[np.arange(12) % 3].astype("float32")
    L = keras.layers
    inputs = keras.Input((6, 6, 2))
    h = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, activation="relu")(inputs))
    theirs = keras.Model(inputs, L.Dense(3, activation="softmax")(h))
    theirs.compile("adam", "categorical_crossentropy", metrics=[
        keras.metrics.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False),
        keras.metrics.IoU(3, [0, 2], sparse_y_true=False, sparse_y_pred=False)])
    theirs.fit(x, y, epochs=1, verbose=0)
    want = theirs.evaluate(x, y, verbose=0, return_dict=True)
    theirs.save(tmp_path / "k.keras")
    ours = fm.load_model(tmp_path / "k.keras")
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    for key in ("mean_io_u", "io_u"):
        assert got[key] == pytest.approx(float(want[key]), abs=1e-6), key
    ours.compile("adam", "categorical_crossentropy", metrics=[
        fmetrics.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False)])
    ours.save(tmp_path / "f.keras")
    back = keras.models.load_model(tmp_path / "f.keras")
    again = back.evaluate(x, y, verbose=0, return_dict=True)
    assert float(again["mean_io_u"]) == pytest.approx(
        ours.evaluate(x, y, verbose=0, return_dict=True)["mean_io_u"], abs=1e-6)


def test_a_softmax_per_pixel_model_evaluates_as_in_keras_both_ways(tmp_path):
    # segmentation's loss and accuracy: sparse categorical cross-entropy over every pixel
    rng = np.random.default_rng(7)
    x = rng.random((6, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, (6, 8, 8, 1))
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    h = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    h = L.UpSampling2D(2)(h)
    theirs = keras.Model(inputs, L.Conv2D(3, 1, activation="softmax")(h))
    theirs.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    theirs.fit(x, y, epochs=1, verbose=0)
    want = theirs.evaluate(x, y, verbose=0, return_dict=True)
    theirs.save(tmp_path / "k.keras")
    ours = fm.load_model(tmp_path / "k.keras")
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(float(want["loss"]), rel=1e-5)
    assert got["accuracy"] == pytest.approx(float(want["accuracy"]), abs=1e-6)
    ours.fit(x, y, epochs=1, verbose=0)
    ours.save(tmp_path / "f.keras")
    back = keras.models.load_model(tmp_path / "f.keras")
    again = back.evaluate(x, y, verbose=0, return_dict=True)
    mine = ours.evaluate(x, y, verbose=0, return_dict=True)
    assert float(again["loss"]) == pytest.approx(mine["loss"], rel=1e-5)
    assert float(again["accuracy"]) == pytest.approx(mine["accuracy"], abs=1e-6)


def test_regularizers_count_in_the_loss_as_in_keras(tmp_path):
    # Keras adds each trainable weight's penalty and each activity penalty / batch size to
    # the loss evaluate and fit report; fastconv must report the same, both ways
    L, R = keras.layers, keras.regularizers
    inputs = keras.Input((7, 7, 3))
    x = L.Conv2D(4, 3, kernel_regularizer=R.L2(0.02), bias_regularizer=R.L1(0.01),
                 bias_initializer="ones")(inputs)
    x = L.DepthwiseConv2D(2, depthwise_regularizer=R.L1L2(0.01, 0.02),
                          activity_regularizer=R.L2(0.05))(x)
    x = L.SeparableConv2D(3, 2, pointwise_regularizer=R.L1(0.03),
                          depthwise_regularizer=R.L2(0.01))(x)
    x = L.Dense(2, kernel_regularizer=R.L1L2(0.0, 0.04), activity_regularizer=R.L1(0.02))(
        L.Flatten()(x))
    model = keras.Model(inputs, x)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(4)
    x, y = rng.random((6, 7, 7, 3)).astype("float32"), rng.random((6, 2)).astype("float32")
    want = model.evaluate(x, y, batch_size=6, verbose=0)
    model.save(tmp_path / "k.keras")
    loaded = fm.load_model(tmp_path / "k.keras")
    assert abs(loaded.evaluate(x, y, batch_size=6, verbose=0) - want) <= 1e-5 * want
    loaded.save(tmp_path / "f.keras")
    back = keras.models.load_model(tmp_path / "f.keras")
    assert abs(back.evaluate(x, y, batch_size=6, verbose=0) - want) <= 1e-5 * want
    # a step of each from the same weights: the penalties' gradients included
    loaded.train_on_batch(x, y)
    back.train_on_batch(x, y)
    for layer in loaded.layers:
        for got, theirs in zip(layer.get_weights(), back.get_layer(layer.name).get_weights()):
            assert np.abs(got - theirs).max() <= 1e-5 * max(np.abs(theirs).max(), 1e-3)
