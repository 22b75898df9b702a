"""MobileNetV2 (Sandler et al., 2018), its preprocess_input (mode "tf") and
decode_predictions, as keras.applications.mobilenet_v2 has them: inverted residual blocks (a
1x1 expansion, a 3x3 depthwise convolution, a linear 1x1 projection, each with
BatchNormalization, ReLU6 after the first two) with Keras's layer names and order, so that
Keras's published weight files for every width (alpha) and input size load."""
import numbers
import warnings

from .. import layers
from ..models import Model
from . import imagenet_utils
from .imagenet_utils import decode_predictions

__all__ = ["MobileNetV2", "preprocess_input", "decode_predictions"]

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)      # the widths Keras publishes weights for
SIZES = (96, 128, 160, 192, 224)               # and the input sizes, for each width
# (expansion, filters, stride) of blocks 0 to 16, as the paper's table 2 and Keras have them
BLOCKS = ((1, 16, 1),
          (6, 24, 2), (6, 24, 1),
          (6, 32, 2), (6, 32, 1), (6, 32, 1),
          (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
          (6, 96, 1), (6, 96, 1), (6, 96, 1),
          (6, 160, 2), (6, 160, 1), (6, 160, 1),
          (6, 320, 1))


def preprocess_input(x, data_format=None):
    """preprocess_input in mode "tf" (pixel values scaled from 0-255 to [-1, 1]), as
    MobileNetV2 takes its images; see imagenet_utils.preprocess_input."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def make_divisible(v, divisor=8, min_value=None):
    """v rounded to the nearest multiple of divisor (at least min_value, default divisor),
    and up by one more divisor where rounding would lose more than 10%: the channel counts
    of a MobileNet of width alpha, as Keras's and the paper's reference code round them."""
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def weight_file(alpha, rows, include_top):
    """(file name, URL) of Keras's published weights for this width and input size."""
    name = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
            f"{'' if include_top else '_no_top'}.h5")
    return name, BASE_URL + name


def _bn(x, name):
    return layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)(x)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    """Expand (1x1, not in block 0), depthwise 3x3 (strided ones on Keras's correct_pad
    padding, then 'valid'), project linearly (1x1); the input is added back where the shapes
    allow it."""
    in_channels = inputs.shape[-1]
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    x = inputs
    if block_id:
        prefix = f"block_{block_id}_"
        x = layers.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = _bn(x, f"{prefix}expand_BN")
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = _bn(x, f"{prefix}depthwise_BN")
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(pointwise_filters, 1, padding="same", use_bias=False,
                      name=f"{prefix}project")(x)
    x = _bn(x, f"{prefix}project_BN")
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _default_size(shape):
    """Keras's rule: a square input of a published size is that size, anything else 224."""
    if shape is not None and len(shape) == 3 and shape[0] == shape[1] and shape[0] in SIZES:
        return shape[0]
    return 224


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
                input_tensor=None, pooling=None, classes=1000,
                classifier_activation="softmax", name=None):
    """The MobileNetV2 network with Keras's arguments and layer names (``Conv1``,
    ``bn_Conv1``, ``Conv1_relu``, ``expanded_conv_depthwise`` ... ``block_16_project_BN``,
    ``Conv_1``, ``Conv_1_bn``, ``out_relu``, then a global average pooling and
    ``predictions`` with the top): 3,538,984 parameters with the top at alpha 1.0, 2,257,984
    without.

    alpha: the width multiplier; each layer's channel count is scaled by it and rounded to a
    multiple of 8 (the last convolution keeps its 1280 unless alpha > 1). weights:
    "imagenet" (Keras's published file for this alpha, one of 0.35, 0.5, 0.75, 1.0, 1.3,
    1.4, and this input size, one of 96, 128, 160, 192, 224; other or non-square sizes load
    the 224 weights with a warning, as Keras does), None (random), or the path of a weights
    file. Keras publishes no checksums for these files: a downloaded one is checked only
    by loading it (every layer's weights must be there with their shapes). Without the top
    and without input_shape the model takes images of any size (at least 32x32); pooling
    ("avg" or "max") then ends it with a global pooling. Its inputs are images run through
    ``preprocess_input`` (values in [-1, 1]).
    """
    owner = "MobileNetV2"
    imagenet_utils.check_arguments(owner, weights, include_top, classes,
                                   classifier_activation, pooling)
    if input_shape is None and input_tensor is not None:
        default_size = _default_size(tuple(input_tensor.shape[1:]))
    else:
        default_size = _default_size(input_shape)
    input_shape = imagenet_utils.input_shape_for(input_shape, default_size, 32, include_top,
                                                 weights, owner)
    rows, cols = input_shape[:2]
    if weights == "imagenet":
        if alpha not in ALPHAS:
            raise ValueError(f"{owner}: with weights='imagenet', alpha must be one of "
                             f"{', '.join(map(str, ALPHAS))}, got alpha={alpha!r}")
        if rows != cols or rows not in SIZES:
            rows = 224
            warnings.warn(f"{owner}: the input shape {input_shape} is not square or not one "
                          f"of {SIZES}: loading the weights for 224x224", stacklevel=2)
    elif (not isinstance(alpha, numbers.Real) or isinstance(alpha, bool)
          or not 0 < alpha < float("inf")):
        raise ValueError(f"{owner}: alpha must be a positive number, got {alpha!r}")
    inputs, x = imagenet_utils.image_input(input_tensor, input_shape, owner)
    x = layers.Conv2D(make_divisible(32 * alpha, 8), 3, strides=2, padding="same",
                      use_bias=False, name="Conv1")(x)
    x = _bn(x, "bn_Conv1")
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (expansion, filters, stride) in enumerate(BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    # the last convolution is not narrowed below 1280 (the paper's choice), only widened
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = _bn(x, "Conv_1_bn")
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = imagenet_utils.head(x, include_top, pooling, classes, classifier_activation)
    model = Model(inputs, x, name=name or f"mobilenetv2_{alpha:0.2f}_{rows}")
    files = {top: weight_file(alpha, rows, top) + (None,) for top in (True, False)}
    return imagenet_utils.load_weights(model, weights, include_top, files, owner)
