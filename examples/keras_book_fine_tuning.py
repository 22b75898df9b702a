# The transfer-learning chapter's second and third programs (Deep Learning with Python, 2nd
# edition, 8.3: "feature extraction together with data augmentation", then "fine-tuning a
# pretrained model", run one after the other as in the book) as Keras 3 users write them
# (issue #29); only the imports name fastconv. VGG16's frozen convolutional base runs inside
# the model, after augmentation and preprocess_input; then its last block is unfrozen and
# trained at a small learning rate. The frozen layers run forward only.
#
# It reads data/train, data/validation and data/test (one subfolder per class): the book's
# cats-and-dogs subset, or a stand-in drawn with `fastconv draw-images data --size 180`.
# weights="imagenet" downloads Keras's published file once (58 MB, checked against its
# hash); offline, set VGG16_WEIGHTS to a copy of it (vgg16_weights_tf_dim_ordering_tf_
# kernels_notop.h5) or to any weights file in its layout. Needs the images extra (Pillow)
# and the keras extra (h5py).
import os

from fastconv import applications, callbacks, layers, models, optimizers
from fastconv.utils import image_dataset_from_directory

WEIGHTS = os.environ.get("VGG16_WEIGHTS", "imagenet")

train_dataset = image_dataset_from_directory("data/train", image_size=(180, 180),
                                             batch_size=32)
validation_dataset = image_dataset_from_directory("data/validation", image_size=(180, 180),
                                                  batch_size=32)
test_dataset = image_dataset_from_directory("data/test", image_size=(180, 180), batch_size=32)

# -- feature extraction together with data augmentation ------------------------------------
conv_base = applications.vgg16.VGG16(weights=WEIGHTS, include_top=False)
conv_base.trainable = True
print("This is the number of trainable weights before freezing the conv base:",
      len(conv_base.trainable_weights))
conv_base.trainable = False
print("This is the number of trainable weights after freezing the conv base:",
      len(conv_base.trainable_weights))

data_augmentation = models.Sequential([layers.RandomFlip("horizontal"),
                                       layers.RandomRotation(0.1),
                                       layers.RandomZoom(0.2)])
inputs = layers.Input(shape=(180, 180, 3))
x = data_augmentation(inputs)
x = applications.vgg16.preprocess_input(x)
x = conv_base(x)
x = layers.Flatten()(x)
x = layers.Dense(256)(x)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = models.Model(inputs, outputs)
model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])

callbacks_list = [callbacks.ModelCheckpoint(
    filepath="feature_extraction_with_data_augmentation.keras", save_best_only=True,
    monitor="val_loss")]
history = model.fit(train_dataset, epochs=50, validation_data=validation_dataset,
                    callbacks=callbacks_list)

test_model = models.load_model("feature_extraction_with_data_augmentation.keras")
test_loss, test_acc = test_model.evaluate(test_dataset)
print(f"Test accuracy: {test_acc:.3f}")

# -- fine-tuning a pretrained model ---------------------------------------------------------
conv_base.trainable = True
for layer in conv_base.layers[:-4]:
    layer.trainable = False

model.compile(loss="binary_crossentropy", optimizer=optimizers.RMSprop(learning_rate=1e-5),
              metrics=["accuracy"])
callbacks_list = [callbacks.ModelCheckpoint(filepath="fine_tuning.keras", save_best_only=True,
                                            monitor="val_loss")]
history = model.fit(train_dataset, epochs=30, validation_data=validation_dataset,
                    callbacks=callbacks_list)

model = models.load_model("fine_tuning.keras")
test_loss, test_acc = model.evaluate(test_dataset)
print(f"Test accuracy: {test_acc:.3f}")
