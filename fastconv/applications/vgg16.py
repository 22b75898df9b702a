"""VGG16, its preprocess_input (mode "caffe") and decode_predictions, as
keras.applications.vgg16 has them."""
from . import imagenet_utils
from .imagenet_utils import caffe_preprocess_input as preprocess_input
from .imagenet_utils import decode_predictions
from ._vgg import vgg

__all__ = ["VGG16", "preprocess_input", "decode_predictions"]

# include_top -> (file name, URL, MD5): Keras's published weights
FILES = imagenet_utils.published_files("vgg16", "vgg16", "64373286793e3c8b2b4e3219cbf3544b",
                                       "6d6bbae143d832006294945121d1f1fc")


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg16"):
    """The VGG16 network, with Keras's arguments and layer names (``block1_conv1`` ...
    ``block5_pool``, then ``flatten``, ``fc1``, ``fc2``, ``predictions`` with the top):
    138,357,544 parameters with the top, 14,714,688 without.

    weights: "imagenet" (Keras's published file, fetched once and checked: see
    utils.get_file), None (random), or the path of a weights file. Without the top and
    without input_shape the model takes images of any size (at least 32x32); pooling
    ("avg" or "max") then ends it with a global pooling. Its inputs are images run through
    ``preprocess_input``.
    """
    return vgg((2, 2, 3, 3, 3), name, FILES, include_top, weights, input_tensor, input_shape,
               pooling, classes, classifier_activation, "VGG16")
