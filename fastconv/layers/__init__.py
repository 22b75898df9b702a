"""Keras-style layers: Conv2D, MaxPooling2D, Dense, Flatten, Activation, Dropout, Input."""
from .base import Layer
from .convolutional import Conv2D
from .core import Activation, Dense, Dropout, Flatten, Input
from .pooling import MaxPooling2D

__all__ = ["Layer", "Conv2D", "MaxPooling2D", "Dense", "Flatten", "Activation", "Dropout",
           "Input"]
