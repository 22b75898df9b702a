"""ResNet50 (He et al., 2015), its preprocess_input (mode "caffe") and decode_predictions, as
keras.applications.resnet50 has them: the same layers, names and order, so that Keras's
published weight files load."""
from .. import layers
from ..models import Model
from . import imagenet_utils
from .imagenet_utils import caffe_preprocess_input as preprocess_input
from .imagenet_utils import decode_predictions

__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]

# include_top -> (file name, URL, MD5): Keras's published weights
FILES = imagenet_utils.published_files("resnet", "resnet50", "2cb95161c43110f7111970584f804107",
                                       "4d473c1dd8becc155b73f8504c6f6626")
_EPSILON = 1.001e-5          # Keras's ResNets' BatchNormalization epsilon


def _block(x, filters, name, stride=1, conv_shortcut=True):
    """A bottleneck block: 1x1 (strided), 3x3, 1x1 to 4 * filters, each with
    BatchNormalization, added to the shortcut (a strided 1x1 convolution, or x), then ReLU."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(epsilon=_EPSILON, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(epsilon=_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(epsilon=_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(epsilon=_EPSILON, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _stack(x, filters, blocks, name, stride=2):
    x = _block(x, filters, f"{name}_block1", stride=stride)
    for i in range(2, blocks + 1):
        x = _block(x, filters, f"{name}_block{i}", conv_shortcut=False)
    return x


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="resnet50"):
    """The ResNet50 network with Keras's arguments and layer names (``conv1_pad``,
    ``conv1_conv`` ... ``conv5_block3_out``, then ``avg_pool`` and ``predictions`` with the
    top): 25,636,712 parameters with the top, 23,587,712 without.

    weights: "imagenet" (Keras's published file, fetched once and checked: see
    utils.get_file), None (random), or the path of a weights file. Without the top and
    without input_shape the model takes images of any size (at least 32x32); pooling
    ("avg" or "max") then ends it with a global pooling. Its inputs are images run through
    ``preprocess_input``.
    """
    owner = "ResNet50"
    imagenet_utils.check_arguments(owner, weights, include_top, classes,
                                   classifier_activation, pooling)
    input_shape = imagenet_utils.input_shape_for(input_shape, 224, 32, include_top, weights,
                                                 owner)
    inputs, x = imagenet_utils.image_input(input_tensor, input_shape, owner)
    x = layers.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stack(x, 64, 3, "conv2", stride=1)
    x = _stack(x, 128, 4, "conv3")
    x = _stack(x, 256, 6, "conv4")
    x = _stack(x, 512, 3, "conv5")
    x = imagenet_utils.head(x, include_top, pooling, classes, classifier_activation,
                            "avg_pool", ("avg_pool", "max_pool"))
    model = Model(inputs, x, name=name)
    return imagenet_utils.load_weights(model, weights, include_top, FILES, owner)
