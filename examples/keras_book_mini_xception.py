# The mini-Xception of the Keras book's chapter on advanced computer vision (Deep Learning
# with Python, 2nd edition, 9.3.5: "putting it together") as Keras 3 users write it (issue
# #30); only the imports name fastconv. Five blocks of BatchNormalization, ReLU and
# SeparableConv2D, each closed by a strided max pooling and a 1x1 strided residual, trained
# from scratch on the cats-and-dogs folders with augmentation.
#
# It reads data/train and data/validation (one subfolder per class): the book's
# cats-and-dogs subset, or a stand-in drawn with `fastconv draw-images data --size 180`.
# Needs the images extra (Pillow), and 'plot' (matplotlib) for the curves its last line draws.
from fastconv import layers, models
from fastconv.utils import image_dataset_from_directory

train_dataset = image_dataset_from_directory("data/train", image_size=(180, 180),
                                             batch_size=32)
validation_dataset = image_dataset_from_directory("data/validation", image_size=(180, 180),
                                                  batch_size=32)

data_augmentation = models.Sequential(
    [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
        layers.RandomZoom(0.2),
    ]
)

inputs = layers.Input(shape=(180, 180, 3))
x = data_augmentation(inputs)

x = layers.Rescaling(1./255)(x)
x = layers.Conv2D(filters=32, kernel_size=5, use_bias=False)(x)

for size in [32, 64, 128, 256, 512]:
    residual = x

    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)

    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)

    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

    residual = layers.Conv2D(
        size, 1, strides=2, padding="same", use_bias=False)(residual)
    x = layers.add([x, residual])

x = layers.GlobalAveragePooling2D()(x)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = models.Model(inputs=inputs, outputs=outputs)

model.compile(loss="binary_crossentropy",
              optimizer="rmsprop",
              metrics=["accuracy"])
history = model.fit(
    train_dataset,
    epochs=100,
    validation_data=validation_dataset)

from fastconv.utils import plot_history
plot_history(history, "mini_xception_history.png")
