"""What a convnet learned, as in the Keras book's chapter: the feature maps of an image
(every channel of every convolution and pooling layer), the pattern each filter responds to
most (gradient ascent in input space), and where in a picture the class evidence lies
(Grad-CAM). The arrays come from the models' own gradients (``layer_gradients``,
``input_gradient``); the pictures are drawn with matplotlib (the optional 'plot' extra)."""
import numpy as np

from .. import _api, _rng
from ..layers.base import ActivatedLayer
from ..layers.convolutional import Conv2D
from ..layers.pooling import _Pooling2D
from ..models.functional import Model
from ..models.trainer import _positive_int
from .plotting import _matplotlib


# -- arrays ---------------------------------------------------------------------------------------
def _spatial_layer(model, layer_name, what):
    """The named layer of the model, which must give (batch, height, width, channels)."""
    if not isinstance(layer_name, str):
        raise TypeError(f"{what}: layer_name must be a layer's name (a string), got "
                        f"{layer_name!r}")
    model._require_built(what)
    layer = model.get_layer(layer_name)
    shape = layer.output_shape
    if not isinstance(shape, tuple) or len(shape) != 4:
        raise ValueError(f"{what}: layer {layer_name!r} ({type(layer).__name__}) gives "
                         f"{shape}; it needs a convolutional layer, one whose output is "
                         f"(batch, height, width, channels)")
    return layer


def _one_image(model, image, what):
    """image (height, width, channels) or (1, height, width, channels) as a batch of one
    of the model's input shape."""
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise TypeError(f"{what}: image must hold numbers, got dtype {image.dtype}")
    expected = tuple(model.input_shape[1:])
    if image.ndim == len(expected) + 1 and image.shape[0] == 1:
        image = image[0]
    if image.shape != expected:
        raise ValueError(f"{what}: model {model.name!r} takes images of shape {expected} "
                         f"(or (1,) + that), got {image.shape}")
    return image[None]


def _sub_model(model, layer, what, input_size=None):
    """A Model from the model's input to the layer's output, sharing its layers; for another
    input_size (height, width), the same layers rebuilt for it with the same weights."""
    graph = model._graph
    sub = Model(graph.input, graph.tensor_of(layer, what), name=f"{model.name}_to_{layer.name}")
    if input_size is None or tuple(input_size) == tuple(model.input_shape[1:3]):
        return sub
    config = sub.get_config()
    config["layers"][0]["config"]["shape"][:2] = list(input_size)
    config["name"] += "_resized"
    try:
        resized = Model.from_config(config)
    except ValueError as e:
        raise ValueError(f"{what}: the layers before {layer.name!r} cannot take "
                         f"{tuple(input_size)} images ({e}); leave size=None") from None
    resized.set_weights(sub.get_weights())
    return resized


def feature_maps(model, image, layer_names=None):
    """``[(name, maps)]``: the activations of one image at each named layer (by default every
    convolution and pooling layer), each maps of shape (height, width, channels)."""
    what = "feature_maps"
    model._require_built(what)
    if layer_names is None:
        chosen = [l for l in model.layers if isinstance(l, (Conv2D, _Pooling2D))]
        if not chosen:
            raise ValueError(f"{what}: model {model.name!r} has no convolution or pooling "
                             f"layer; name the layers with layer_names")
    else:
        if isinstance(layer_names, str):
            layer_names = [layer_names]
        chosen = [_spatial_layer(model, name, what) for name in layer_names]
    x = _one_image(model, image, what)
    graph = model._graph
    activation_model = Model(graph.input, [graph.tensor_of(l, what) for l in chosen])
    maps = activation_model.predict(x, verbose=0)
    return [(l.name, m[0]) for l, m in zip(chosen, maps)]


def filter_pattern(model, layer_name, filter_index, size=None, steps=30, step_size=10.0,
                   value_range=(0.0, 1.0), seed=None):
    """The input image that maximises the mean activation of one filter (channel
    ``filter_index`` of layer ``layer_name``), by gradient ascent as the Keras book does:
    from a grey, slightly noisy start (uniform in the middle fifth of ``value_range``, the
    range of the model's inputs), ``steps`` steps of ``step_size`` along the L2-normalised
    gradient (scaled by the range's width). Where the filter is silent everywhere (a ReLU
    passes no gradient then) a step climbs its output before the activation instead, until
    it responds. ``size`` (height, width) grows the image
    beyond the model's input size when the layers before this one allow it. Returns the
    image as a float32 array (height, width, channels), not clipped:
    ``plot_filter_patterns`` shows it normalised."""
    return _filter_patterns(model, layer_name, [filter_index], size, steps, step_size,
                            value_range, seed, "filter_pattern")[0]


def _filter_patterns(model, layer_name, filters, size, steps, step_size, value_range, seed,
                     what):
    """filter_pattern for each of filters, the arguments checked and the model up to the
    layer made once."""
    layer = _spatial_layer(model, layer_name, what)
    channels = layer.output_shape[3]
    for filter_index in filters:
        if isinstance(filter_index, bool) or not isinstance(filter_index, (int, np.integer)) \
                or not 0 <= filter_index < channels:
            raise ValueError(f"{what}: filter_index must be an integer in [0, {channels}) for "
                             f"layer {layer_name!r} with {channels} filters, got "
                             f"{filter_index!r}")
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"{what}: steps must be a non-negative integer, got {steps!r}")
    steps = int(steps)
    if size is not None:
        size = _api.image.size_pair(size, what, "size")
    lo, hi = (float(v) for v in value_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{what}: value_range must be (low, high) with low < high, got "
                         f"{value_range!r}")
    if not np.isfinite(step_size) or step_size <= 0:
        raise ValueError(f"{what}: step_size must be a positive number, got {step_size!r}")
    sub = _sub_model(model, layer, what, size)
    shape = tuple(sub.input_shape[1:])
    rng = _rng.generator() if seed is None else np.random.default_rng(seed)
    out_shape = (1,) + tuple(sub.output_shape[1:])
    patterns = []
    for filter_index in filters:
        image = (lo + (hi - lo) * rng.uniform(0.4, 0.6, (1,) + shape)).astype(
            sub._graph.input_dtype)
        dy = np.zeros(out_shape, image.dtype)
        dy[..., filter_index] = 1.0 / (out_shape[1] * out_shape[2])   # d mean / d activation
        for _ in range(steps):
            grad = sub.input_gradient(image, dy)
            norm = np.sqrt(np.sum(grad.astype(np.float64) ** 2))
            if not norm > 0:
                grad = sub.input_gradient(image, dy, logits=True)
                norm = np.sqrt(np.sum(grad.astype(np.float64) ** 2))
            if not norm > 0:       # a filter that sees nothing of the input: nothing to climb
                break
            image += (step_size * (hi - lo) / norm) * grad
        patterns.append(image[0])
    return patterns


def _predicted_class(p):
    """The class of one prediction: the argmax, or for one sigmoid unit 1 above 0.5."""
    return int(p[0] > 0.5) if p.shape[0] == 1 else int(np.argmax(p))


def grad_cam(model, image, layer_name, class_index=None):
    """The class-activation heatmap of Grad-CAM (Selvaraju et al.) for one image: the layer's
    channels weighted by the mean gradient of the class score over each channel's map,
    summed, through a ReLU, and divided by its maximum: an array of the layer's height and
    width in [0, 1] (all zeros if no place raises the score). The class score is taken
    before the last layer's softmax or sigmoid; ``class_index`` defaults to the predicted
    class (for one sigmoid unit: 1 if its probability exceeds 0.5, else 0, whose score is the
    negated logit)."""
    what = "grad_cam"
    layer = _spatial_layer(model, layer_name, what)
    graph = model._graph
    if len(graph.outputs) != 1 or len(graph.outputs[0].shape) != 2:
        raise ValueError(f"{what}: model {model.name!r} must have one output of class scores "
                         f"(batch, classes), it gives {model.output_shape}")
    x = _one_image(model, image, what)
    units = graph.outputs[0].shape[1]
    classes = 2 if units == 1 else units
    if class_index is None:
        class_index = _predicted_class(model.predict(x, verbose=0)[0])
    elif isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
            or not 0 <= class_index < classes:
        raise ValueError(f"{what}: class_index must be an integer in [0, {classes}), got "
                         f"{class_index!r}")
    dy = np.zeros((1, units))
    if units == 1:
        dy[0, 0] = 1.0 if class_index == 1 else -1.0
    else:
        dy[0, class_index] = 1.0
    last = graph.fusable
    logits = last is not None and isinstance(last.layer, ActivatedLayer) \
        and last.layer.activation.name in ("softmax", "sigmoid")
    (maps,), (grads,) = model.layer_gradients(x, dy, [layer.name], logits=logits)
    weights = grads[0].astype(np.float64).mean(axis=(0, 1))
    cam = np.maximum(maps[0].astype(np.float64) @ weights, 0)
    top = cam.max()
    return (cam / top if top > 0 else cam).astype(np.float32)


def _cell_centres(model, layer):
    """Where the centres of the layer's map cells fall on the input image, per axis:
    ``(scale, offset)`` with cell i at input pixel ``offset + scale * i``, from the windows,
    strides and paddings of the convolution and pooling layers on the way (the first input
    of a merge); None if a layer on the way resizes in a way this does not know."""
    geometry = [(1.0, 0.0), (1.0, 0.0)]
    graph = model._graph
    tensor = graph.tensor_of(layer, "grad_cam")
    while tensor is not graph.input:
        node = tensor.node
        current = node.layer
        shape_in = node.inputs[0].shape
        if isinstance(current, (Conv2D, _Pooling2D)):
            window = current.kernel_size if isinstance(current, Conv2D) else current.pool_size
            for axis in (0, 1):
                top, _ = _api.padding_amounts(shape_in[1 + axis], window[axis],
                                              current.strides[axis], current.padding)
                scale, offset = geometry[axis]
                # cell i of this layer is centred on its input's point s i - top + (k - 1) / 2
                step = current.strides[axis]
                geometry[axis] = (scale * step,
                                  offset * step + (-top + (window[axis] - 1) / 2))
        elif tuple(node.output.shape[1:3]) != tuple(shape_in[1:3]):
            return None
        tensor = node.inputs[0]
    return geometry


# -- pictures -------------------------------------------------------------------------------------
def _for_display(a):
    """The book's normalisation of a map or pattern for viewing: zero mean, unit standard
    deviation, then 64 grey levels a deviation around mid-grey, clipped to [0, 255]; a
    constant map shows mid-grey."""
    a = np.asarray(a, np.float64)
    a = a - a.mean()
    std = a.std()
    if std > 0:
        a = a / std
    return np.clip(a * 64 + 128, 0, 255).astype(np.uint8)


def _image_for_display(image):
    """An input image scaled to [0, 1] for drawing (grey when it has one channel)."""
    image = np.asarray(image, np.float64)
    lo, hi = image.min(), image.max()
    image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return image[..., 0] if image.shape[-1] == 1 else image[..., :3]


def plot_feature_maps(model, image, to_file, layer_names=None, images_per_row=16, dpi=96):
    """The book's picture of an image's intermediate activations: for each layer (by default
    every convolution and pooling layer) a grid of all its channels, each normalised for
    display, the layer's name and shape as its title; saves a PNG and returns the file name.
    Read top to bottom it shows the network making the image "smaller and thicker"."""
    Figure, FigureCanvasAgg, _ = _matplotlib("plot_feature_maps")
    from matplotlib import colormaps
    per_row = _positive_int(images_per_row, "plot_feature_maps: images_per_row")
    maps = feature_maps(model, image, layer_names)
    grids = []
    for name, m in maps:
        h, w, c = m.shape
        cols = min(per_row, c)
        rows = -(-c // cols)
        grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)   # white lines
        for k in range(c):
            r, q = divmod(k, cols)
            grid[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = \
                _for_display(m[:, :, k])
        grids.append((f"{name}: {h}x{w}, {c} channels", grid))
    cmap = colormaps["viridis"].with_extremes(bad="white")
    width = 12.0
    heights = [width * g.shape[0] / g.shape[1] + 0.45 for _, g in grids]
    fig = Figure(figsize=(width, sum(heights)), dpi=dpi)
    FigureCanvasAgg(fig)
    bottom = 1.0
    for (title, grid), height in zip(grids, heights):
        frac = height / sum(heights)
        ax = fig.add_axes([0.01, bottom - frac + 0.02 * frac, 0.98, frac * 0.8])
        bottom -= frac
        ax.imshow(grid, cmap=cmap, aspect="equal", interpolation="nearest", vmin=0,
                  vmax=255)
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    fig.savefig(to_file, dpi=dpi)
    return to_file


def plot_filter_patterns(model, layer_name, to_file, filters=None, images_per_row=8,
                         size=None, steps=30, step_size=10.0, value_range=(0.0, 1.0),
                         seed=None, dpi=96):
    """A grid of the patterns (``filter_pattern``) of the layer's filters, the first 64 by
    default or those in ``filters``; saves a PNG and returns the file name."""
    Figure, FigureCanvasAgg, _ = _matplotlib("plot_filter_patterns")
    what = "plot_filter_patterns"
    layer = _spatial_layer(model, layer_name, what)
    per_row = _positive_int(images_per_row, f"{what}: images_per_row")
    filters = list(range(min(64, layer.output_shape[3]))) if filters is None \
        else list(filters)
    if not filters:
        raise ValueError(f"{what}: filters must name at least one filter")
    patterns = _filter_patterns(model, layer_name, filters, size, steps, step_size,
                                value_range, seed, what)
    cols = min(per_row, len(patterns))
    rows = -(-len(patterns) // cols)
    h, w = patterns[0].shape[:2]
    height = 1.6 * rows * h / w + 0.2 * rows + 0.5
    fig = Figure(figsize=(1.6 * cols, height), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.01, top=1 - 0.5 / height,
                        wspace=0.08, hspace=0.25)
    fig.suptitle(f"{layer_name}: the input each filter responds to most", fontsize=11)
    for i, (f, p) in enumerate(zip(filters, patterns)):
        ax = fig.add_subplot(rows, cols, i + 1)
        shown = _for_display(p)
        if shown.shape[-1] == 1:
            ax.imshow(shown[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(shown[..., :3], interpolation="nearest")
        ax.set_title(str(f), fontsize=8)
        ax.axis("off")
    fig.savefig(to_file, dpi=dpi)
    return to_file


def _heat_on_image(model, layer, heat, size):
    """The heatmap resampled (bilinear) onto the image's pixels, each cell at the centre of
    the input region it sees; a plain resize when that is unknown."""
    geometry = _cell_centres(model, layer)
    if geometry is None:
        return _api.image.resize_image(heat[:, :, None], size)[:, :, 0]
    (sy, oy), (sx, ox) = geometry
    m = np.array([[1 / sx, 0, -ox / sx, 0, 1 / sy, -oy / sy]])
    return _api.image.affine_transform(heat[None, :, :, None], m, size,
                                       fill_mode="nearest")[0, :, :, 0]


def plot_grad_cam(model, image, layer_name, to_file, class_index=None, class_names=None,
                  alpha=0.4, dpi=96):
    """Three panels: the image, the Grad-CAM heatmap at the layer's resolution, and the
    heatmap laid over the image, each cell placed at the centre of the input region it sees
    (valid convolutions shrink a map towards the middle: a plain resize would shift it);
    saves a PNG and returns the file name."""
    Figure, FigureCanvasAgg, _ = _matplotlib("plot_grad_cam")
    from matplotlib import colormaps
    if not 0 <= alpha <= 1:
        raise ValueError(f"plot_grad_cam: alpha must be in [0, 1], got {alpha!r}")
    x = _one_image(model, image, "plot_grad_cam")
    p = model.predict(x, verbose=0)[0]
    if class_index is None:
        class_index = _predicted_class(p)
    heat = grad_cam(model, x, layer_name, class_index)
    shown = _image_for_display(x[0])
    big = _heat_on_image(model, model.get_layer(layer_name), heat, x.shape[1:3])
    colour = colormaps["jet"](np.clip(big, 0, 1))[..., :3]
    base = shown if shown.ndim == 3 else np.repeat(shown[..., None], 3, axis=2)
    overlay = (1 - alpha) * base + alpha * colour
    probability = (p[0] if class_index == 1 else 1 - p[0]) if p.shape[0] == 1 \
        else p[class_index]
    label = class_names[class_index] if class_names is not None else f"class {class_index}"
    fig = Figure(figsize=(10, 3.7), dpi=dpi)
    FigureCanvasAgg(fig)
    for i, (title, picture) in enumerate([("image", shown), (f"Grad-CAM at {layer_name}", heat),
                                          (f"{label} ({probability:.2f})", overlay)]):
        ax = fig.add_subplot(1, 3, i + 1)
        if picture.ndim == 2:
            ax.imshow(picture, cmap="gray" if i == 0 else "jet", vmin=0, vmax=1,
                      interpolation="nearest")
        else:
            ax.imshow(picture, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(to_file, dpi=dpi)
    return to_file
