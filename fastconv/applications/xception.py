"""Xception (Chollet, 2017), its preprocess_input (mode "tf") and decode_predictions, as
keras.applications.xception has them: an entry flow of strided separable blocks with 1x1
residual convolutions, eight middle blocks of three separable convolutions added to their
input, an exit flow; Keras's layers in Keras's order (its residual convolutions, their
BatchNormalization and the Adds are unnamed, numbered as Keras numbers them), so that Keras's
published weight files load."""
from .. import layers
from ..models import Model
from . import imagenet_utils
from .imagenet_utils import decode_predictions

__all__ = ["Xception", "preprocess_input", "decode_predictions"]

# include_top -> (file name, URL, MD5): Keras's published weights
_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
FILES = {top: (name, _BASE + name, md5) for top, name, md5 in (
    (True, "xception_weights_tf_dim_ordering_tf_kernels.h5",
     "0a58e3b7378bc2990ea3b43d5981f1f6"),
    (False, "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "b0042744bf5b25fce3cb969f33bebb97"))}


def preprocess_input(x, data_format=None):
    """preprocess_input in mode "tf" (pixel values scaled from 0-255 to [-1, 1]), as Xception
    takes its images; see imagenet_utils.preprocess_input."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def _residual(x, filters):
    x = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
    return layers.BatchNormalization()(x)


def _separable(x, filters, name, act_before=True, act_after=False):
    """[ReLU] SeparableConv2D 3x3 'same' without bias, BatchNormalization [ReLU], named as
    Keras names them (the ReLU before a convolution takes the convolution's name)."""
    if act_before:
        x = layers.Activation("relu", name=f"{name}_act")(x)
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if act_after:
        x = layers.Activation("relu", name=f"{name}_act")(x)
    return x


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="xception"):
    """The Xception network with Keras's arguments and layers (``block1_conv1`` ...
    ``block14_sepconv2_act``, then ``avg_pool`` and ``predictions`` with the top):
    22,910,480 parameters with the top, 20,861,480 without; 299x299 images by default.

    weights: "imagenet" (Keras's published file, fetched once and checked: see
    utils.get_file), None (random), or the path of a weights file. Without the top and
    without input_shape the model takes images of any size (at least 71x71); pooling ("avg"
    or "max") then ends it with a global pooling. Its inputs are images run through
    ``preprocess_input`` (values in [-1, 1]).
    """
    owner = "Xception"
    imagenet_utils.check_arguments(owner, weights, include_top, classes,
                                   classifier_activation, pooling)
    input_shape = imagenet_utils.input_shape_for(input_shape, 299, 71, include_top, weights,
                                                 owner)
    inputs, x = imagenet_utils.image_input(input_tensor, input_shape, owner)
    x = layers.Conv2D(32, 3, strides=2, use_bias=False, name="block1_conv1")(x)
    x = layers.BatchNormalization(name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, 3, use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)
    # entry flow: blocks 2-4 halve the size, their input added back through a 1x1 stride 2
    for block, filters in ((2, 128), (3, 256), (4, 728)):
        residual = _residual(x, filters)
        if block == 2:
            # block 2 starts on block 1's ReLU; its one ReLU, between the convolutions,
            # has the name Keras gives it
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False,
                                       name="block2_sepconv1")(x)
            x = layers.BatchNormalization(name="block2_sepconv1_bn")(x)
            x = _separable(x, filters, "block2_sepconv2")
        else:
            x = _separable(x, filters, f"block{block}_sepconv1")
            x = _separable(x, filters, f"block{block}_sepconv2")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"block{block}_pool")(x)
        x = layers.add([x, residual])
    # middle flow: eight blocks of three separable convolutions, added to their input
    for block in range(5, 13):
        residual = x
        for i in (1, 2, 3):
            x = _separable(x, 728, f"block{block}_sepconv{i}")
        x = layers.add([x, residual])
    # exit flow
    residual = _residual(x, 1024)
    x = _separable(x, 728, "block13_sepconv1")
    x = _separable(x, 1024, "block13_sepconv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="block13_pool")(x)
    x = layers.add([x, residual])
    x = _separable(x, 1536, "block14_sepconv1", act_before=False, act_after=True)
    x = _separable(x, 2048, "block14_sepconv2", act_before=False, act_after=True)
    x = imagenet_utils.head(x, include_top, pooling, classes, classifier_activation,
                            "avg_pool")
    model = Model(inputs, x, name=name)
    return imagenet_utils.load_weights(model, weights, include_top, FILES, owner)
