"""VGG19, its preprocess_input (mode "caffe") and decode_predictions, as
keras.applications.vgg19 has them."""
from . import imagenet_utils
from .imagenet_utils import caffe_preprocess_input as preprocess_input
from .imagenet_utils import decode_predictions
from ._vgg import vgg

__all__ = ["VGG19", "preprocess_input", "decode_predictions"]

# include_top -> (file name, URL, MD5): Keras's published weights
FILES = imagenet_utils.published_files("vgg19", "vgg19", "cbe5617147190e668d6c5d5026f83318",
                                       "253f8cb515780f3b799900260a226db6")


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg19"):
    """The VGG19 network: VGG16 with a fourth convolution in blocks 3, 4 and 5
    (143,667,240 parameters with the top, 20,024,384 without); the same arguments."""
    return vgg((2, 2, 4, 4, 4), name, FILES, include_top, weights, input_tensor, input_shape,
               pooling, classes, classifier_activation, "VGG19")
