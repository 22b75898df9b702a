"""fastconv: fast 2-D convolution and max pooling on NumPy arrays (NHWC), forward and backward.

The kernels ``conv2d``, ``conv2d_transpose``, ``depthwise_conv2d``, ``max_pool2d`` and their
``*_backward`` gradients, and ``separable_conv2d``, run compiled, multithreaded code;
``fastconv.reference`` holds plain NumPy versions of each.
``fastconv.models.Sequential`` and ``fastconv.layers`` build and train networks the Keras way.
"""
from ._version import __version__
from ._api import (conv2d, conv2d_backward, conv2d_transpose, conv2d_transpose_backward,
                   depthwise_conv2d, depthwise_conv2d_backward, max_pool2d, max_pool2d_backward,
                   separable_conv2d)
from ._config import get_num_threads, set_num_threads, simd_path, simd_paths, set_simd_path
from ._buffers import get_buffer_cache_limit, set_buffer_cache_limit
from ._info import show_config
from . import (activations, applications, callbacks, datasets, initializers, layers, losses,
               metrics, models, optimizers, regularizers, utils)

__all__ = ["__version__", "conv2d", "conv2d_backward", "conv2d_transpose",
           "conv2d_transpose_backward", "depthwise_conv2d",
           "depthwise_conv2d_backward", "separable_conv2d", "max_pool2d", "max_pool2d_backward",
           "get_num_threads", "set_num_threads", "simd_path", "simd_paths", "set_simd_path",
           "get_buffer_cache_limit",
           "set_buffer_cache_limit", "show_config", "activations", "applications", "callbacks",
           "datasets",
           "initializers", "layers", "losses", "metrics", "models", "optimizers",
           "regularizers", "utils"]
