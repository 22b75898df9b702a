# The transfer-learning chapter's first program (Deep Learning with Python, 2nd edition, 8.3:
# "fast feature extraction without data augmentation") as Keras 3 users write it (issue #29);
# only the imports name fastconv. VGG16's convolutional base, pretrained on ImageNet, turns
# each picture into 5x5x512 features once; a small dense classifier trains on them.
#
# It reads data/train, data/validation and data/test (one subfolder per class): the book's
# cats-and-dogs subset, or a stand-in drawn with `fastconv draw-images data --size 180`.
# weights="imagenet" downloads Keras's published file once (58 MB, checked against its
# hash); offline, set VGG16_WEIGHTS to a copy of it (vgg16_weights_tf_dim_ordering_tf_
# kernels_notop.h5) or to any weights file in its layout. Needs the images extra (Pillow)
# and the keras extra (h5py, for the weights file).
import os

import numpy as np
from fastconv import applications, callbacks, layers, models
from fastconv.utils import image_dataset_from_directory

WEIGHTS = os.environ.get("VGG16_WEIGHTS", "imagenet")

train_dataset = image_dataset_from_directory("data/train", image_size=(180, 180),
                                             batch_size=32)
validation_dataset = image_dataset_from_directory("data/validation", image_size=(180, 180),
                                                  batch_size=32)
test_dataset = image_dataset_from_directory("data/test", image_size=(180, 180), batch_size=32)

conv_base = applications.vgg16.VGG16(weights=WEIGHTS, include_top=False,
                                     input_shape=(180, 180, 3))
conv_base.summary()


def get_features_and_labels(dataset):
    all_features = []
    all_labels = []
    for images, labels in dataset:
        preprocessed_images = applications.vgg16.preprocess_input(images)
        features = conv_base.predict(preprocessed_images)
        all_features.append(features)
        all_labels.append(labels)
    return np.concatenate(all_features), np.concatenate(all_labels)


train_features, train_labels = get_features_and_labels(train_dataset)
val_features, val_labels = get_features_and_labels(validation_dataset)
test_features, test_labels = get_features_and_labels(test_dataset)
print(train_features.shape)

inputs = layers.Input(shape=(5, 5, 512))
x = layers.Flatten()(inputs)
x = layers.Dense(256)(x)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = models.Model(inputs, outputs)
model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
callbacks_list = [callbacks.ModelCheckpoint(filepath="feature_extraction.keras",
                                            save_best_only=True, monitor="val_loss")]
history = model.fit(train_features, train_labels, epochs=20,
                    validation_data=(val_features, val_labels), callbacks=callbacks_list)

test_model = models.load_model("feature_extraction.keras")
test_loss, test_acc = test_model.evaluate(test_features, test_labels)
print(f"Test accuracy: {test_acc:.3f}")
