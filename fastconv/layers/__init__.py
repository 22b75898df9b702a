"""Keras-style layers: convolution and pooling, dense and core layers, activations,
normalisation, merging, reshaping, training noise, the image preprocessing and
augmentation layers, and Keras's tensor operations a model may hold (operations.py)."""
from .activation import LeakyReLU, ReLU
from .base import Layer
from .convolutional import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                      average, concatenate, maximum, minimum, multiply, subtract)
from .normalization import BatchNormalization
from .operations import Arithmetic, GetItem, Stack
from .pooling import (AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                      MaxPooling2D)
from .preprocessing import (RandomContrast, RandomFlip, RandomRotation, RandomTranslation,
                            RandomZoom, Rescaling)
from .regularization import GaussianNoise, SpatialDropout2D
from .reshaping import (Cropping2D, Identity, Permute, Reshape, UpSampling2D,
                        ZeroPadding2D)

__all__ = ["Layer", "Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D",
           "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "Dense", "Flatten", "Activation", "Dropout", "Input",
           "InputLayer", "Add", "Concatenate", "Subtract", "Multiply", "Average", "Maximum",
           "Minimum", "ReLU", "LeakyReLU", "ZeroPadding2D", "Cropping2D", "UpSampling2D",
           "Reshape", "Permute", "Identity",
           "GaussianNoise", "SpatialDropout2D",
           "BatchNormalization", "Rescaling", "RandomFlip", "RandomRotation", "RandomZoom",
           "RandomTranslation", "RandomContrast", "GetItem", "Stack", "Arithmetic", "add",
           "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]
