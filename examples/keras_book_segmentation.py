# The image-segmentation program of the Keras book's chapter on advanced computer vision
# (Deep Learning with Python, 2nd edition, 9.2) as Keras 3 users write it (issue #30); only
# the imports name fastconv. Strided convolutions go down to an eighth of the size,
# Conv2DTranspose layers back up, and a softmax per pixel gives each pixel one of three
# classes: the object, the background, or its outline.
#
# It reads images/ (pictures, .jpg) and annotations/trimaps/ (their trimaps, .png, 1 2 3), the
# Oxford-IIIT Pet data set's layout: the pets, or a stand-in drawn with
# `fastconv draw-images . --segmentation --count 4000 --size 200` (discs of stripes). Needs the
# images extra (Pillow), and 'plot' (matplotlib) for the curves its last lines draw.
import os
import random

import numpy as np

from fastconv import callbacks, layers, models
from fastconv.utils import img_to_array, load_img

input_dir = "images/"
target_dir = "annotations/trimaps/"

input_img_paths = sorted(
    [os.path.join(input_dir, fname)
     for fname in os.listdir(input_dir)
     if fname.endswith(".jpg")])
target_paths = sorted(
    [os.path.join(target_dir, fname)
     for fname in os.listdir(target_dir)
     if fname.endswith(".png") and not fname.startswith(".")])

img_size = (200, 200)
num_imgs = len(input_img_paths)

random.Random(1337).shuffle(input_img_paths)
random.Random(1337).shuffle(target_paths)


def path_to_input_image(path):
    return img_to_array(load_img(path, target_size=img_size))


def path_to_target(path):
    img = img_to_array(
        load_img(path, target_size=img_size, color_mode="grayscale"))
    img = img.astype("uint8") - 1
    return img


input_imgs = np.zeros((num_imgs,) + img_size + (3,), dtype="float32")
targets = np.zeros((num_imgs,) + img_size + (1,), dtype="uint8")
for i in range(num_imgs):
    input_imgs[i] = path_to_input_image(input_img_paths[i])
    targets[i] = path_to_target(target_paths[i])

num_val_samples = 1000
train_input_imgs = input_imgs[:-num_val_samples]
train_targets = targets[:-num_val_samples]
val_input_imgs = input_imgs[-num_val_samples:]
val_targets = targets[-num_val_samples:]


def get_model(img_size, num_classes):
    inputs = layers.Input(shape=img_size + (3,))
    x = layers.Rescaling(1./255)(inputs)

    x = layers.Conv2D(64, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(256, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(256, 3, activation="relu", padding="same")(x)

    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(
        256, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(
        128, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(
        64, 3, activation="relu", padding="same", strides=2)(x)

    outputs = layers.Conv2D(num_classes, 3, activation="softmax",
                            padding="same")(x)

    model = models.Model(inputs, outputs)
    return model


model = get_model(img_size=img_size, num_classes=3)
model.summary()

model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")

callbacks = [
    callbacks.ModelCheckpoint("oxford_segmentation.keras",
                              save_best_only=True)
]

history = model.fit(train_input_imgs, train_targets,
                    epochs=50,
                    callbacks=callbacks,
                    batch_size=64,
                    validation_data=(val_input_imgs, val_targets))

model = models.load_model("oxford_segmentation.keras")
i = 4
test_image = val_input_imgs[i]
mask = model.predict(np.expand_dims(test_image, 0))[0]
predicted = np.argmax(mask, axis=-1)
print(f"pixels of validation picture {i} given their trimap's class: "
      f"{np.mean(predicted == val_targets[i][:, :, 0]):.3f}")

from fastconv.utils import plot_history
plot_history(history, "oxford_segmentation_history.png")
