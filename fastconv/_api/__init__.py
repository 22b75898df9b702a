"""The checked entries into the compiled kernels, one module per kernel family, named after its
source in src/ (conv: src/conv.pyx ...): argument checks, output-shape and padding arithmetic,
the dtype policy (checks.py), allocation, then one call into the extension. Thread and SIMD
configuration live in fastconv._config."""
from . import checks, conv, dense, depthwise, image, norm, optim, pool
from .checks import conv_output_size, padding_amounts
from .conv import conv2d, conv2d_backward, conv2d_transpose, conv2d_transpose_backward
from .dense import matmul
from .depthwise import depthwise_conv2d, depthwise_conv2d_backward, separable_conv2d
from .pool import max_pool2d, max_pool2d_backward

__all__ = ["conv2d", "conv2d_backward", "conv2d_transpose", "conv2d_transpose_backward",
           "depthwise_conv2d", "depthwise_conv2d_backward", "separable_conv2d",
           "max_pool2d", "max_pool2d_backward", "matmul", "conv_output_size", "padding_amounts",
           "checks", "conv", "dense", "depthwise", "image", "norm", "optim", "pool"]
