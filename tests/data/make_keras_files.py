"""Writes the small Keras files in this folder with real Keras, and what Keras predicts for
them, so that the tests can check fastconv's reader without TensorFlow.

    pip install "keras==3.15.1" "torch==2.13.0" h5py
    KERAS_BACKEND=torch python tests/data/make_keras_files.py tests/data [NAME ...]

Each model is trained a step or two (so that the optimizer has state and BatchNormalization
moving statistics) and saved as NAME.keras (two also in the legacy HDF5 formats, see LEGACY);
NAME.npz holds the inputs ``x`` and Keras's ``predict(x)`` (``y0``, ``y1`` ... for several
outputs). The files written by the last run:
Keras 3.15.1 on its torch backend (torch 2.13.0, CPU).
"""
import os
import sys

import numpy as np

import keras
from keras import layers, models, optimizers


def sequential_convnet():
    # the MNIST chapter's convnet, narrower; Winograd-sized 3x3 layers (16 -> 32 channels)
    model = models.Sequential([
        keras.Input((20, 20, 1)), layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2), layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2), layers.Conv2D(32, 3, activation="relu", padding="same"),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model, (20, 20, 1), lambda y: np.eye(10)[y % 10]


def functional_graph():
    # two branches added, batch normalization, both poolings, a concatenation, two outputs
    inputs = keras.Input((20, 20, 3), name="image")
    a = layers.Conv2D(8, 3, padding="same", activation="relu", name="branch_a")(inputs)
    b = layers.Conv2D(8, 1, use_bias=False, name="branch_b")(inputs)
    x = layers.Add()([a, b])
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    p = layers.MaxPooling2D(2, strides=1, padding="same")(x)
    q = layers.AveragePooling2D(3, strides=2)(x)
    g = layers.Concatenate()([layers.GlobalAveragePooling2D()(p),
                              layers.GlobalMaxPooling2D()(q)])
    g = layers.Dropout(0.5)(g)
    classes = layers.Dense(4, activation="softmax", name="classes")(g)
    score = layers.Dense(1, activation="sigmoid", name="score")(g)
    model = models.Model(inputs, [classes, score])
    model.compile(optimizer=optimizers.Adam(1e-3), loss=["categorical_crossentropy",
                                                           "binary_crossentropy"])
    return model, (20, 20, 3), lambda y: [np.eye(4)[y % 4], (y % 2).reshape(-1, 1)]


def augmented_binary():
    # the images chapter's pattern: augmentation and rescaling before the convolutions
    model = models.Sequential([
        keras.Input((24, 24, 3)), layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1), layers.RandomZoom(0.2), layers.Rescaling(1 / 255),
        layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(32, 3, activation="relu", padding="same"),
        layers.GlobalAveragePooling2D(), layers.Dense(8, activation="tanh"),
        layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(0.01, momentum=0.9), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model, (24, 24, 3), lambda y: (y % 2).reshape(-1, 1).astype("float32")


def conv_base():
    # a convolutional base of unknown spatial size, as VGG16(include_top=False) builds one
    inputs = keras.Input((None, None, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="block1_conv1")(inputs)
    x = layers.BatchNormalization(name="block1_bn")(x)
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = layers.Conv2D(8, 3, activation="relu", name="block2_conv1")(x)
    return models.Model(inputs, x, name="conv_base")


def nested_transfer():
    # the transfer-learning chapter's model: an augmentation Sequential and a frozen
    # functional base nested in a functional model
    base = conv_base()
    base.trainable = False
    augmentation = models.Sequential([layers.RandomFlip("horizontal"),
                                      layers.RandomRotation(0.1)], name="augmentation")
    inputs = keras.Input((16, 16, 3))
    x = base(augmentation(inputs))
    x = layers.Flatten()(x)
    x = layers.Dense(6, activation="relu")(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = models.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model, (16, 16, 3), lambda y: (y % 2).reshape(-1, 1).astype("float32")


def separable_xception():
    # the mini-Xception's pattern: SeparableConv2D blocks with a strided 1x1 residual, then
    # MobileNet's depthwise layers (a depth multiplier, a dilation, ReLU6)
    inputs = keras.Input((12, 12, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(8, 3, use_bias=False)(x)
    previous = x
    for size in (8, 16):
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same", use_bias=False)(previous)
        x = layers.add([x, residual])
        previous = x
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6")(x)
    x = layers.DepthwiseConv2D(2, dilation_rate=2, padding="same", use_bias=False)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(layers.Dropout(0.5)(x))
    model = models.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model, (12, 12, 3), lambda y: (y % 2).reshape(-1, 1).astype("float32")


MODELS = {"sequential_convnet": sequential_convnet, "functional_graph": functional_graph,
          "augmented_binary": augmented_binary, "nested_transfer": nested_transfer,
          "separable_xception": separable_xception}

# Models without randomness in training, one per optimizer: RESUME.keras is saved after a
# step, RESUME.npz holds a batch (x, y) and the weights after one more train_on_batch on it
# (w0, w1 ...), which fastconv must reproduce from the file's optimizer state.
# resume_nested: fine-tuning, a nested base with its first convolution frozen (Adam's slots
# then interleave over the trainable weights of the nested and the outer layers).
RESUME = {"resume_rmsprop": "rmsprop",
          "resume_adam": lambda: optimizers.Adam(0.01, beta_1=0.8),
          "resume_nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
          "resume_nested": lambda: optimizers.Adam(0.01),
          "resume_separable": lambda: optimizers.Adam(0.01)}


def resumed_model(name):
    if name == "resume_nested":
        base = conv_base()
        base.get_layer("block1_conv1").trainable = False
        inputs = keras.Input((8, 8, 2))
        x = layers.Conv2D(3, 1, name="to_rgb")(inputs)
        x = layers.Flatten()(base(x))
        return models.Model(inputs, layers.Dense(3, activation="softmax")(x))
    if name == "resume_separable":       # three weights in a layer, and a depth multiplier
        return models.Sequential([
            keras.Input((8, 8, 2)), layers.SeparableConv2D(4, 3, depth_multiplier=2),
            layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu"), layers.Flatten(),
            layers.Dense(3, activation="softmax")])
    return models.Sequential([
        keras.Input((8, 8, 2)), layers.Conv2D(4, 3, activation="relu"),
        layers.BatchNormalization(), layers.Flatten(),
        layers.Dense(3, activation="softmax")])


def resumed(folder, rng, only=None):
    for name, optimizer in RESUME.items():
        if only and name not in only:
            continue
        model = resumed_model(name)
        model.compile(optimizer=optimizer if isinstance(optimizer, str) else optimizer(),
                      loss="categorical_crossentropy")
        x = rng.random((6, 8, 8, 2)).astype("float32")
        y = np.eye(3)[[0, 1, 2, 0, 1, 2]].astype("float32")
        model.fit(x, y, batch_size=3, epochs=1, verbose=0)
        model.save(os.path.join(folder, name + ".keras"))
        model.train_on_batch(x, y)
        np.savez(os.path.join(folder, name + ".npz"), x=x, y=y,
                 **{f"w{i}": w for i, w in enumerate(model.get_weights())})
        print(name, os.path.getsize(os.path.join(folder, name + ".keras")), "bytes")


# Also in Keras's legacy HDF5 format: the whole model (NAME.h5, model.save's legacy format,
# which Keras 3 still writes) and its weights alone in the layout keras.applications'
# published weight files have (NAME.weights-legacy.h5: layer_names at the root, weight_names
# per layer; Keras's own legacy writer).
LEGACY = ("functional_graph", "augmented_binary", "separable_xception")


def legacy(model, stem):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    model.save(stem + ".h5")
    with h5py.File(stem + ".weights-legacy.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def main(folder, only=None):
    """Writes every file, or with only (names) those models' alone (the others' bytes stay as
    they are: a file's metadata holds the date it was written)."""
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    for name, make in MODELS.items():
        if only and name not in only:
            continue
        model, shape, targets = make()
        scale = 255 if name in ("augmented_binary", "separable_xception") else 1
        x_train = (rng.random((32,) + shape) * scale).astype("float32")
        model.fit(x_train, targets(rng.integers(0, 40, 32)), batch_size=16, epochs=1,
                  verbose=0)
        x = (rng.random((5,) + shape) * scale).astype("float32")
        y = model.predict(x, verbose=0)
        y = y if isinstance(y, list) else [y]
        model.save(os.path.join(folder, name + ".keras"))
        np.savez(os.path.join(folder, name + ".npz"), x=x,
                 **{f"y{i}": out for i, out in enumerate(y)})
        print(name, os.path.getsize(os.path.join(folder, name + ".keras")), "bytes")
        if name in LEGACY:
            legacy(model, os.path.join(folder, name))
    resumed(folder, rng, only)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)),
         sys.argv[2:])
