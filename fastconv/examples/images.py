"""The Keras book's small convnet for your own pictures: ``fastconv train-images DIR``.

DIR holds one subfolder of pictures per class (.jpeg, .jpg, .png, .bmp, .gif). The program is
the book's cats-and-dogs convnet, as Keras 3 users write it: augmentation (RandomFlip,
RandomRotation, RandomZoom), Rescaling, four Conv2D + MaxPooling2D blocks of 32, 64, 128 and
128 filters, Dropout(0.5), Dense(512), and a sigmoid output with binary cross-entropy for two
classes (a softmax with sparse categorical cross-entropy for more), RMSprop at 1e-4. It
validates on ``--validation-dir`` or on a ``--validation-split`` of DIR, and writes into
``--out`` the trained model (model.keras, fastconv's whole-model file), the curves
(history.png), the epochs' logs (history.csv) and a summary (summary.txt); with
``--pictures DIR``, what the network learned (feature maps, filter patterns, Grad-CAM).

``fastconv draw-images DIR`` draws a two-class folder to try it on (see
fastconv.examples.drawn_images).
"""
import os
import time

from fastconv import callbacks, layers, models, optimizers
from fastconv._command import CommandError, nonnegative_int, positive_int
from fastconv.utils import image_dataset_from_directory, plot_history, set_random_seed

BLOCKS = (32, 64, 128, 128)


def smallest_image_size():
    """The smallest side that the four (3x3 valid conv, 2x2 pool) blocks fit."""
    def fits(size):
        for _ in BLOCKS:
            size -= 2                    # the convolution
            if size < 2:                 # the pooling needs a 2x2 window
                return False
            size //= 2
        return True
    return next(size for size in range(3, 1000) if fits(size))


def build_model(image_size, num_classes, augment=True):
    """The chapter's convnet for (image_size x image_size) RGB pictures."""
    model = models.Sequential()
    model.add(layers.Input(shape=(image_size, image_size, 3)))
    if augment:
        model.add(layers.RandomFlip("horizontal"))
        model.add(layers.RandomRotation(0.1))
        model.add(layers.RandomZoom(0.2))
    model.add(layers.Rescaling(1.0 / 255))
    for filters in BLOCKS:
        model.add(layers.Conv2D(filters, (3, 3), activation="relu"))
        model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(512, activation="relu"))
    if num_classes == 2:
        model.add(layers.Dense(1, activation="sigmoid"))
        loss = "binary_crossentropy"
    else:
        model.add(layers.Dense(num_classes, activation="softmax"))
        loss = "sparse_categorical_crossentropy"
    model.compile(loss=loss, optimizer=optimizers.RMSprop(learning_rate=1e-4),
                  metrics=["accuracy"])
    return model


def _datasets(args):
    kw = dict(image_size=(args.image_size, args.image_size), batch_size=args.batch_size,
              seed=args.seed if args.seed is not None else 1337)
    probe = image_dataset_from_directory(args.directory, verbose=False, shuffle=False,
                                         image_size=kw["image_size"])
    label_mode = "binary" if len(probe.class_names) == 2 else "int"
    if len(probe.class_names) < 2:
        raise CommandError(f"{args.directory} holds one class folder "
                           f"({probe.class_names[0]}); a classifier needs at least two")
    if args.validation_dir:
        train = image_dataset_from_directory(args.directory, label_mode=label_mode, **kw)
        val = image_dataset_from_directory(args.validation_dir, label_mode=label_mode,
                                           class_names=train.class_names, **kw)
    elif args.validation_split:
        train, val = image_dataset_from_directory(
            args.directory, label_mode=label_mode, validation_split=args.validation_split,
            subset="both", **kw)
    else:
        train = image_dataset_from_directory(args.directory, label_mode=label_mode, **kw)
        val = None
    return train, val


def run(args):
    """Train, save and report; returns the History."""
    if args.seed is not None:
        set_random_seed(args.seed)
    try:
        train, val = _datasets(args)
    except ValueError as e:              # empty folders, bad class names, ...: the user's
        raise CommandError(str(e)) from e
    model = build_model(args.image_size, len(train.class_names), args.augment)
    model.summary()
    os.makedirs(args.out, exist_ok=True)
    paths = {name: os.path.join(args.out, name)
             for name in ("model.keras", "history.png", "history.csv", "summary.txt")}
    start = time.perf_counter()
    try:
        history = model.fit(train, epochs=args.epochs, validation_data=val,
                            verbose=args.verbose,
                            callbacks=[callbacks.CSVLogger(paths["history.csv"])])
    except ValueError as e:
        if "cannot decode image file" in str(e):
            raise CommandError(str(e)) from e
        raise
    seconds = time.perf_counter() - start
    model.save(paths["model.keras"])
    lines = []
    model.summary(print_fn=lines.append)
    final = {k: v[-1] for k, v in history.history.items()}
    lines += ["", f"classes: {', '.join(train.class_names)}",
              f"training images: {len(train.file_paths)}"
              + (f", validation images: {len(val.file_paths)}" if val else ""),
              f"epochs: {len(history.epoch)}, {seconds:.1f} s "
              f"({seconds / max(len(history.epoch), 1):.1f} s per epoch)"]
    lines += [f"{k}: {v:.4f}" for k, v in final.items()]
    with open(paths["summary.txt"], "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        plot_history(history, paths["history.png"])
    except ImportError as e:
        print(f"(no curves: {e})")
        del paths["history.png"]
    print(" - ".join(f"{k}: {v:.4f}" for k, v in final.items()))
    for path in paths.values():
        print(f"wrote {os.path.abspath(path)}")
    if args.pictures:
        from .pictures import write_pictures
        image = next(iter(val if val is not None else train))[0][0]
        write_pictures(model, image, args.pictures, value_range=(0.0, 255.0),
                       class_names=train.class_names, seed=args.seed or 0)
    return history


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 <= value < 1:
        import argparse
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def add_arguments(parser):
    parser.add_argument("directory", help="folder with one subfolder of pictures per class")
    parser.add_argument("--image-size", type=positive_int, default=150,
                        help="side of the square the pictures are resized to (default 150)")
    parser.add_argument("--epochs", type=positive_int, default=30)
    parser.add_argument("--batch-size", type=positive_int, default=20)
    parser.add_argument("--validation-split", type=_fraction, default=0.2,
                        help="fraction of DIR kept for validation (default 0.2; 0: none)")
    parser.add_argument("--validation-dir", default=None,
                        help="validate on this folder (same classes) instead of a split")
    parser.add_argument("--augment", action="store_true", default=True,
                        help="random flips, rotations and zooms in training (the default)")
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--out", default="train_images_out",
                        help="folder for model.keras, history.png, history.csv, summary.txt")
    parser.add_argument("--seed", type=nonnegative_int, default=None)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--pictures", default=None, metavar="DIR",
                        help="after training, draw a validation picture's feature maps, the "
                             "first two conv layers' filter patterns and a Grad-CAM heatmap "
                             "into DIR")


def check_arguments(args):
    """CommandError for arguments that cannot work, before any time is spent training."""
    for name in ("directory", "validation_dir"):
        path = getattr(args, name)
        if path is not None and not os.path.isdir(path):
            raise CommandError(f"{'--validation-dir' if name != 'directory' else 'DIR'}: no "
                               f"such folder: {path}")
    smallest = smallest_image_size()
    if args.image_size < smallest:
        raise CommandError(f"--image-size must be at least {smallest} for the four "
                           f"convolution blocks, got {args.image_size}")
    out = os.path.abspath(args.out)
    parent = out if os.path.isdir(out) else os.path.dirname(out)
    if not os.path.isdir(parent):
        raise CommandError(f"--out: no such folder: {parent}")
    if not os.access(parent, os.W_OK):
        raise CommandError(f"--out: cannot write into {parent}")
    try:
        from PIL import Image  # noqa: F401
    except ImportError:
        raise CommandError("train-images needs Pillow, an optional extra: "
                           "pip install 'fastconv[images]'") from None
    if args.pictures:
        from .pictures import check_folder
        check_folder(args.pictures)


def add_draw_arguments(parser):
    parser.add_argument("directory", help="where to write train/, validation/ and test/")
    parser.add_argument("--count", type=positive_int, default=1000,
                        help="pictures per class for training (half as many for validation "
                             "and for test)")
    parser.add_argument("--size", type=positive_int, default=150, help="picture side")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--segmentation", action="store_true",
                        help="draw COUNT pictures with their trimaps instead, in the "
                             "Oxford-IIIT Pet layout: DIR/images/ and DIR/annotations/trimaps/")


def draw(args):
    """Draw DIR/train/<class>/, DIR/validation/<class>/ and DIR/test/<class>/ (the
    book's three folders): pictures of a disc of horizontal or vertical stripes
    (fastconv.examples.drawn_images), in JPEG, PNG, BMP and GIF. With --segmentation:
    DIR/images/*.jpg and DIR/annotations/trimaps/*.png, each picture's disc, background and
    rim as 1, 2 and 3 (the Oxford-IIIT Pet data set's trimaps)."""
    from fastconv.examples import drawn_images
    if getattr(args, "segmentation", False):
        try:
            drawn_images.write_segmentation(args.directory, count=args.count, size=args.size,
                                            seed=args.seed)
        except ImportError:
            raise CommandError("draw-images needs Pillow, an optional extra: "
                               "pip install 'fastconv[images]'") from None
        except OSError as e:
            raise CommandError(f"cannot write into {args.directory}: {e}") from e
        for part in ("images", os.path.join("annotations", "trimaps")):
            print(f"wrote {os.path.abspath(os.path.join(args.directory, part))}")
        return
    try:
        drawn_images.write_folder(args.directory, size=args.size, seed=args.seed,
                                  formats=("jpg", "png", "bmp", "gif"),
                                  split={"train": args.count,
                                         "validation": max(args.count // 2, 1),
                                         "test": max(args.count // 2, 1)})
    except ImportError:
        raise CommandError("draw-images needs Pillow, an optional extra: "
                           "pip install 'fastconv[images]'") from None
    except OSError as e:
        raise CommandError(f"cannot write into {args.directory}: {e}") from e
    for part in ("train", "validation", "test"):
        print(f"wrote {os.path.abspath(os.path.join(args.directory, part))}")
