"""Pretrained convnets as keras.applications builds them: VGG16, VGG19, ResNet50,
MobileNetV2 and Xception, with Keras's arguments, layer names and order, so that Keras's
published ImageNet weight files (``weights="imagenet"``, fetched once and checked where Keras
publishes a checksum) and files Keras users saved load as they are; each module has its
``preprocess_input`` and ``decode_predictions``."""
from . import imagenet_utils, mobilenet_v2, resnet50, vgg16, vgg19, xception
from .mobilenet_v2 import MobileNetV2
from .resnet50 import ResNet50
from .vgg16 import VGG16
from .vgg19 import VGG19
from .xception import Xception

resnet = resnet50          # Keras has ResNet50 in keras.applications.resnet too

__all__ = ["VGG16", "VGG19", "ResNet50", "MobileNetV2", "Xception", "vgg16", "vgg19",
           "resnet50", "resnet", "mobilenet_v2", "xception", "imagenet_utils"]
