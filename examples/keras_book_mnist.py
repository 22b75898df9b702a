# The Keras book's MNIST convnet exactly as its readers ran it; only the imports name fastconv.
# Run: FASTCONV_DATA_DIR=../shared/datasets python examples/keras_book_mnist.py (needs the
# 'plot' extra for plot_model). `fastconv train-mnist` runs the same program with options.
from fastconv.datasets import mnist
(train_data, train_labels), (test_data, test_labels) = mnist.load_data()
train_data = train_data.reshape((60000, 28, 28, 1)).astype('float32') / 255
test_data = test_data.reshape((10000, 28, 28, 1)).astype('float32') / 255
from fastconv.utils import to_categorical
train_labels = to_categorical(train_labels)
test_labels = to_categorical(test_labels)
from fastconv import models, layers
network = models.Sequential()
network.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
network.add(layers.MaxPooling2D((2, 2)))
network.add(layers.Conv2D(64, (3, 3), activation='relu'))
network.add(layers.MaxPooling2D((2, 2)))
network.add(layers.Conv2D(64, (3, 3), activation='relu'))
network.add(layers.Flatten())
network.add(layers.Dense(64, activation='relu'))
network.add(layers.Dense(10, activation='softmax'))
from fastconv.utils import plot_model
plot_model(network, show_shapes=True, to_file='手写辨识CNN.png')
network.summary()
network.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
network.fit(train_data, train_labels, epochs=5, batch_size=64)
test_loss, test_acc = network.evaluate(test_data, test_labels)
print(f"test_loss: {test_loss}")
print(f"test_acc: {test_acc}")
