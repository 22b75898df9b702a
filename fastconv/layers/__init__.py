"""Keras-style layers: convolution and pooling, dense and core layers, normalisation,
merging, and the image preprocessing and augmentation layers."""
from .base import Layer
from .convolutional import Conv2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer
from .merging import Add, Concatenate
from .normalization import BatchNormalization
from .pooling import (AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                      MaxPooling2D)
from .preprocessing import (RandomContrast, RandomFlip, RandomRotation, RandomTranslation,
                            RandomZoom, Rescaling)

__all__ = ["Layer", "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "Dense", "Flatten", "Activation", "Dropout", "Input",
           "InputLayer", "Add", "Concatenate",
           "BatchNormalization", "Rescaling", "RandomFlip", "RandomRotation", "RandomZoom",
           "RandomTranslation", "RandomContrast"]
