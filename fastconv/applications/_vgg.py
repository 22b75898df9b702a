"""The VGG networks (Simonyan and Zisserman, 2014) as keras.applications builds them: blocks
of 3x3 'same' convolutions with ReLU, each ending in a 2x2 max pooling, then two 4096-unit
Dense layers, with Keras's layer names so that its published weight files load."""
from .. import layers
from ..models import Model
from . import imagenet_utils


def vgg(convs_per_block, name, files, include_top, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation, owner):
    imagenet_utils.check_arguments(owner, weights, include_top, classes,
                                   classifier_activation, pooling)
    input_shape = imagenet_utils.input_shape_for(input_shape, 224, 32, include_top, weights,
                                                 owner)
    inputs, x = imagenet_utils.image_input(input_tensor, input_shape, owner)
    for block, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block),
                                             start=1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, 3, activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.head(x, False, pooling, classes, classifier_activation)
    model = Model(inputs, x, name=name)
    return imagenet_utils.load_weights(model, weights, include_top, files, owner)
