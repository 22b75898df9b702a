"""VGG19, its preprocess_input (mode "caffe") and decode_predictions, as
keras.applications.vgg19 has them."""
from . import imagenet_utils
from ._vgg import vgg

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
# include_top -> (file name, URL, MD5): Keras's published weights
FILES = {True: ("vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                _BASE + "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                "cbe5617147190e668d6c5d5026f83318"),
         False: ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 _BASE + "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "253f8cb515780f3b799900260a226db6")}


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg19"):
    """The VGG19 network: VGG16 with a fourth convolution in blocks 3, 4 and 5
    (143,667,240 parameters with the top, 20,024,384 without); the same arguments."""
    return vgg((2, 2, 4, 4, 4), name, FILES, include_top, weights, input_tensor, input_shape,
               pooling, classes, classifier_activation, "VGG19")


def preprocess_input(x, data_format=None):
    """imagenet_utils.preprocess_input in mode "caffe" (RGB to BGR, ImageNet means
    subtracted)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    return imagenet_utils.decode_predictions(preds, top=top)


decode_predictions.__doc__ = imagenet_utils.decode_predictions.__doc__
