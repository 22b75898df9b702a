"""The Keras book's MNIST convnet, trained with fastconv: ``fastconv train-mnist``.

The same program as in the book (Chollet, Deep Learning with Python, chapter 5) with fastconv's
imports, plus options and a report of the time each epoch took.
"""
import os
import time

from fastconv import callbacks, layers, models
from fastconv._command import CommandError, nonnegative_int, positive_int
from fastconv.datasets import mnist
from fastconv.utils import plot_model, set_random_seed, to_categorical


class EpochTimer(callbacks.Callback):
    """Records how long each epoch took, in seconds."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def build_network():
    network = models.Sequential()
    network.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
    network.add(layers.MaxPooling2D((2, 2)))
    network.add(layers.Conv2D(64, (3, 3), activation='relu'))
    network.add(layers.MaxPooling2D((2, 2)))
    network.add(layers.Conv2D(64, (3, 3), activation='relu'))
    network.add(layers.Flatten())
    network.add(layers.Dense(64, activation='relu'))
    network.add(layers.Dense(10, activation='softmax'))
    return network


def run(epochs=5, batch_size=64, data_dir=None, plot_file="mnist_convnet.png", seed=None,
        verbose=1, pictures=None):
    """Train and evaluate the convnet; returns (test_loss, test_acc, seconds per epoch).
    With pictures (a folder), then draw what it learned there from the first test digit."""
    if seed is not None:
        set_random_seed(seed)
    try:
        (train_data, train_labels), (test_data, test_labels) = mnist.load_data(data_dir)
    except (OSError, ValueError) as e:      # missing, offline, corrupt: the user's to fix
        raise CommandError(str(e)) from e       # its messages name MNIST and the fix
    train_data = train_data.reshape((60000, 28, 28, 1)).astype('float32') / 255
    test_data = test_data.reshape((10000, 28, 28, 1)).astype('float32') / 255
    train_labels = to_categorical(train_labels)
    test_labels = to_categorical(test_labels)
    network = build_network()
    if plot_file:
        try:
            plot_model(network, show_shapes=True, to_file=plot_file)
            print(f"wrote {os.path.abspath(plot_file)}")
        except ImportError as e:
            print(f"(no picture: {e})")
        except OSError as e:
            raise CommandError(f"cannot write the picture {plot_file}: {e}") from e
    network.summary()
    network.compile(optimizer='rmsprop', loss='categorical_crossentropy',
                    metrics=['accuracy'])
    timer = EpochTimer()
    network.fit(train_data, train_labels, epochs=epochs, batch_size=batch_size,
                callbacks=[timer], verbose=verbose)
    test_loss, test_acc = network.evaluate(test_data, test_labels, verbose=verbose)
    print(f"test_loss: {test_loss}")
    print(f"test_acc: {test_acc}")
    print("seconds per epoch: " + ", ".join(f"{s:.1f}" for s in timer.seconds)
          + f" (mean {sum(timer.seconds) / max(len(timer.seconds), 1):.1f})")
    if pictures:
        from fastconv.examples.pictures import write_pictures
        write_pictures(network, test_data[0], pictures,
                       class_names=[str(d) for d in range(10)], seed=seed or 0)
    return test_loss, test_acc, timer.seconds


def add_arguments(parser):
    parser.add_argument("--epochs", type=positive_int, default=5)
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--data-dir", default=None,
                        help="folder with the MNIST .gz files (default: $FASTCONV_DATA_DIR/mnist,"
                             " else download to the user cache)")
    parser.add_argument("--plot-file", default="mnist_convnet.png",
                        help="where to draw the network ('' to skip)")
    parser.add_argument("--seed", type=nonnegative_int, default=None)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--pictures", default=None, metavar="DIR",
                        help="after training, draw a test digit's feature maps, conv1's and "
                             "conv2's filter patterns and a Grad-CAM heatmap into DIR")


def check_arguments(args):
    """CommandError for paths that cannot work, before any time is spent training."""
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise CommandError(f"--data-dir: no such folder: {args.data_dir}")
    if args.plot_file:
        folder = os.path.dirname(os.path.abspath(args.plot_file))
        if not os.path.isdir(folder):
            raise CommandError(f"--plot-file: no such folder: {folder}")
        if not os.access(folder, os.W_OK):
            raise CommandError(f"--plot-file: cannot write into {folder}")
    if args.pictures:
        from fastconv.examples.pictures import check_folder
        check_folder(args.pictures)
