"""What the ImageNet networks share, as keras.applications.imagenet_utils has it:
preprocess_input in its three modes, decode_predictions, and the checks of an input shape."""
import json
import numbers

import numpy as np

from ..layers.base import SymbolicTensor
from ..layers.core import InputLayer
from ..layers.operations import Arithmetic, GetItem, Stack

CLASS_INDEX_URL = ("https://storage.googleapis.com/download.tensorflow.org/data/"
                   "imagenet_class_index.json")
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"         # MD5, Keras's
_CLASS_INDEX = None

# per mode: the channel means subtracted and the deviations divided by, after the scaling
_CAFFE_MEAN = (103.939, 116.779, 123.68)          # BGR
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def preprocess_input(x, data_format=None, mode="caffe"):
    """Images (pixel values 0-255, RGB, channels last) as the ImageNet network of that mode
    was trained on them: "caffe" (VGG16, VGG19, ResNet50) turns RGB into BGR and subtracts
    each channel's ImageNet mean; "tf" scales to [-1, 1]; "torch" scales to [0, 1] and
    normalises each channel by ImageNet's mean and deviation. The arithmetic is Keras's,
    step by step, in the array's float dtype (integers become float32), so the results equal
    Keras's.

    On an array it returns a new array and leaves the caller's alone (Keras writes over a
    float array it is given). On a symbolic tensor it adds the same steps to the model being
    defined, as the operations Keras would record (GetItem, Stack, Add ...), so the model
    saves to a .keras file that Keras loads.
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"preprocess_input: mode must be 'caffe', 'tf' or 'torch', got "
                         f"{mode!r}")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"preprocess_input: fastconv's images are channels_last, got "
                         f"data_format={data_format!r}")
    if isinstance(x, SymbolicTensor):
        return _symbolic(x, mode)
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"preprocess_input: x must hold numbers, got dtype {x.dtype}")
    if x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(f"preprocess_input: x must be images with 3 channels last, got shape "
                         f"{x.shape}")
    x = x.astype(x.dtype if x.dtype.kind == "f" else np.float32)       # a copy, always
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        for c in range(3):
            x[..., c] -= _TORCH_MEAN[c]
            x[..., c] /= _TORCH_STD[c]
        return x
    x = x[..., ::-1]
    for c in range(3):
        x[..., c] -= _CAFFE_MEAN[c]
    return x


def caffe_preprocess_input(x, data_format=None):
    """preprocess_input in mode "caffe" (RGB to BGR, ImageNet's channel means subtracted), as
    VGG16, VGG19 and ResNet50 take their images; see preprocess_input."""
    return preprocess_input(x, data_format=data_format, mode="caffe")


def published_files(folder, stem, top_md5, notop_md5):
    """include_top -> (file name, URL, MD5) of Keras's published ImageNet weights for a
    network: ``<stem>_weights_tf_dim_ordering_tf_kernels[_notop].h5`` in Keras's folder."""
    base = f"https://storage.googleapis.com/tensorflow/keras-applications/{folder}/"
    names = {True: f"{stem}_weights_tf_dim_ordering_tf_kernels.h5",
             False: f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"}
    return {top: (name, base + name, top_md5 if top else notop_md5)
            for top, name in names.items()}


def _symbolic(x, mode):
    if len(x.shape) < 3 or x.shape[-1] != 3:
        raise ValueError(f"preprocess_input: x must be images with 3 channels last, got shape "
                         f"{x.shape}")
    ones = (1,) * (len(x.shape) - 1)
    if mode == "tf":
        return Arithmetic("subtract", 1.0)(Arithmetic("true_divide", 127.5)(x))
    if mode == "torch":
        x = Arithmetic("true_divide", 255.0)(x)
        x = Arithmetic("add", -np.array(_TORCH_MEAN, np.float32).reshape(ones + (3,)))(x)
        return Arithmetic("true_divide", np.array(_TORCH_STD, np.float32))(x)
    x = Stack(axis=-1)([GetItem(c)(x) for c in (2, 1, 0)])
    return Arithmetic("add", -np.array(_CAFFE_MEAN, np.float32).reshape(ones + (3,)))(x)


def correct_pad(inputs, kernel_size):
    """((top, bottom), (left, right)): the zero padding before a strided 'valid' convolution
    of kernel_size that MobileNets use in place of 'same', as Keras's correct_pad: half the
    kernel on each side, one row (column) less on top (left) of an even size or an unknown
    one. inputs is a symbolic tensor (batch, height, width, channels)."""
    if isinstance(kernel_size, numbers.Integral):
        kernel_size = (kernel_size, kernel_size)
    adjust = [1 if size is None else 1 - size % 2 for size in inputs.shape[1:3]]
    half = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((half[0] - adjust[0], half[0]), (half[1] - adjust[1], half[1]))


def decode_predictions(preds, top=5):
    """For each row of ImageNet class scores (batch, 1000): the top classes as (class id,
    name, score) tuples, best first. The class names come from Keras's class index file
    (downloaded once and checked, with utils.get_file)."""
    global _CLASS_INDEX
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(f"decode_predictions: expects a batch of ImageNet predictions, shape "
                         f"(samples, 1000), got {preds.shape}")
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or not 1 <= top <= 1000:
        raise ValueError(f"decode_predictions: top must be an integer from 1 to 1000, got "
                         f"{top!r}")
    if _CLASS_INDEX is None:
        from ..utils.downloads import get_file
        path = get_file("imagenet_class_index.json", CLASS_INDEX_URL, cache_subdir="models",
                        file_hash=CLASS_INDEX_HASH)
        with open(path) as f:
            _CLASS_INDEX = json.load(f)
    results = []
    for row in preds:
        best = np.argsort(row, kind="stable")[-top:][::-1]
        results.append(sorted((tuple(_CLASS_INDEX[str(i)]) + (row[i],) for i in best),
                              key=lambda t: t[2], reverse=True))
    return results


def input_shape_for(input_shape, default_size, min_size, require_flatten, weights, owner):
    """The input shape (height, width, channels) of an application, as Keras works it out:
    its default with a top and ImageNet weights, else the one given (channels 3 for ImageNet
    weights, sizes at least min_size), else (None, None, 3) without a top."""
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        default = (default_size, default_size, input_shape[-1])
    else:
        default = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default:
            raise ValueError(f"{owner}: with include_top=True and ImageNet weights, "
                             f"input_shape must be {default}, got {tuple(input_shape)}")
        return default
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"{owner}: input_shape must be (height, width, channels), got "
                             f"{input_shape}")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"{owner}: ImageNet weights need 3 input channels, got "
                             f"input_shape={input_shape}")
        if any(s is not None and s < min_size for s in input_shape[:2]):
            raise ValueError(f"{owner}: input size must be at least {min_size}x{min_size}, "
                             f"got input_shape={input_shape}")
    elif require_flatten:
        input_shape = default
    else:
        input_shape = (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(f"{owner}: with include_top=True the input shape must be known, got "
                         f"{input_shape}")
    return input_shape


def check_arguments(owner, weights, include_top, classes, classifier_activation, pooling):
    """Keras's checks of an application's arguments (weights a path must exist)."""
    import os
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike))
                                              and os.path.exists(weights))):
        raise ValueError(f"{owner}: weights must be None (random), 'imagenet' or the path of "
                         f"a weights file that exists, got {weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{owner}: with weights='imagenet' and include_top=True, classes "
                         f"must be 1000, got {classes!r}")
    if weights is not None and include_top and classifier_activation not in (None, "softmax"):
        raise ValueError(f"{owner}: with pretrained weights, classifier_activation must be "
                         f"None or 'softmax', got {classifier_activation!r}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{owner}: pooling must be None, 'avg' or 'max', got {pooling!r}")


def image_input(input_tensor, input_shape, owner):
    """(the model's input tensor, the tensor the network starts from): a new
    layers.Input(input_shape), or input_tensor and the Input it comes from."""
    from ..layers.core import Input
    if input_tensor is None:
        tensor = Input(shape=input_shape)
        return tensor, tensor
    if not isinstance(input_tensor, SymbolicTensor):
        raise TypeError(f"{owner}: input_tensor must be a symbolic tensor (layers.Input or a "
                        f"layer's output), got {input_tensor!r}")
    source = input_tensor
    while not isinstance(source.node.layer, InputLayer):
        if len(source.node.inputs) != 1:
            raise ValueError(f"{owner}: input_tensor must come from one layers.Input")
        source = source.node.inputs[0]
    return source, input_tensor


def head(x, include_top, pooling, classes, classifier_activation, top_pool=None,
         pool_names=(None, None)):
    """The end of an ImageNet network as Keras builds it: with the top, a global average
    pooling (named top_pool) and the ``predictions`` Dense; without it, pooling "avg" or
    "max" (named pool_names[0] or [1]) or nothing."""
    from .. import layers
    if include_top:
        x = layers.GlobalAveragePooling2D(name=top_pool)(x)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=pool_names[0])(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=pool_names[1])(x)
    return x


def load_weights(model, weights, include_top, files, owner):
    """ImageNet weights (files: include_top -> (file name, URL, MD5)) fetched with get_file,
    or the weights file at path weights, loaded into model as Keras loads them."""
    if weights == "imagenet":
        from ..utils.downloads import get_file
        name, url, md5 = files[bool(include_top)]
        weights = get_file(name, url, cache_subdir="models", file_hash=md5)
    if weights is not None:
        model.load_weights(weights)
    return model
