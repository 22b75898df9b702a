"""Names shared by activations, initializers, losses, metrics and optimizers (lookup), and by
layers, metrics and Keras's files (snake_case)."""
import re


def lookup(kind, identifier, table, base):
    """An object for identifier: an instance of base as is, or a new one from its name."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in table:
        return table[identifier.lower()]()
    raise ValueError(f"unknown {kind} {identifier!r}; valid names: {', '.join(sorted(table))}")


def snake_case(name):
    """A class name as Keras writes it in layer names, metric names and weights paths: Conv2D
    -> conv2d, MaxPooling2D -> max_pooling2d, MeanIoU -> mean_io_u (a capitalised word gets an
    underscore before it, and so does a capital after a lowercase letter; anything but
    letters, digits and underscores is dropped)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
