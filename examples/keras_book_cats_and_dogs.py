# The images chapter's program as Keras 3 users write it (issue #12); only the imports name
# fastconv. It reads data/train and data/validation (one subfolder per class): draw a
# two-class stand-in with `fastconv draw-images data`, or use your own pictures. Needs the
# 'images' extra (Pillow), and 'plot' (matplotlib) for the curves its last lines draw.
from fastconv import layers, models, optimizers
from fastconv.utils import image_dataset_from_directory

train_ds = image_dataset_from_directory("data/train", image_size=(150, 150), batch_size=20)
val_ds = image_dataset_from_directory("data/validation", image_size=(150, 150), batch_size=20)
model = models.Sequential()
model.add(layers.Input(shape=(150, 150, 3)))
model.add(layers.RandomFlip("horizontal"))
model.add(layers.RandomRotation(0.1))
model.add(layers.RandomZoom(0.2))
model.add(layers.Rescaling(1.0 / 255))
model.add(layers.Conv2D(32, (3, 3), activation="relu"))
model.add(layers.MaxPooling2D((2, 2)))
model.add(layers.Conv2D(64, (3, 3), activation="relu"))
model.add(layers.MaxPooling2D((2, 2)))
model.add(layers.Conv2D(128, (3, 3), activation="relu"))
model.add(layers.MaxPooling2D((2, 2)))
model.add(layers.Conv2D(128, (3, 3), activation="relu"))
model.add(layers.MaxPooling2D((2, 2)))
model.add(layers.Flatten())
model.add(layers.Dropout(0.5))
model.add(layers.Dense(512, activation="relu"))
model.add(layers.Dense(1, activation="sigmoid"))
model.compile(loss="binary_crossentropy", optimizer=optimizers.RMSprop(learning_rate=1e-4),
              metrics=["accuracy"])
history = model.fit(train_ds, epochs=30, validation_data=val_ds)
model.save("cats_and_dogs_small.keras")
model = models.load_model("cats_and_dogs_small.keras")

print(f"val_accuracy of the reloaded model: "
      f"{model.evaluate(val_ds, verbose=0, return_dict=True)['accuracy']:.4f}")
from fastconv.utils import plot_history
plot_history(history, "cats_and_dogs_history.png")
