"""plot_model (the layer stack) and plot_history (the training curves) as PNG pictures, drawn
with matplotlib (the optional 'plot' extra)."""


def _matplotlib(what="plot_model"):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch
    except ImportError:
        raise ImportError(f"{what} needs matplotlib, an optional extra: "
                          "pip install 'fastconv[plot]'") from None
    return Figure, FigureCanvasAgg, FancyBboxPatch


def plot_model(model, to_file="model.png", show_shapes=False, show_layer_names=True,
               dpi=96):
    """Draw the model's layers top to bottom, with their input and output shapes if
    show_shapes, an arrow from each layer to those that take its output (curved round the
    side where it skips layers: a residual shortcut), and save the picture to ``to_file``
    (PNG). Returns the file name."""
    Figure, FigureCanvasAgg, FancyBboxPatch = _matplotlib()
    model._require_built("plot_model")
    layers = model.layers
    shapes = model._call_shapes()
    rows = []
    for layer in layers:
        kind = getattr(layer, "_keras_class", type(layer).__name__)   # a nested model's
        title = f"{layer.name} ({kind})" if show_layer_names else kind
        shape_in, shape_out = shapes[id(layer)]
        if isinstance(shape_in, list):
            shape_in = ", ".join(str(s) for s in shape_in)
        detail = f"input: {shape_in}   output: {shape_out}" if show_shapes else ""
        rows.append((title, detail))
    position = {layer.name: i for i, layer in enumerate(layers)}
    edges = [(position[source], i) for i, layer in enumerate(layers)
             for source in model._inbound(layer) if source in position]
    skips = [(a, b) for a, b in edges if b > a + 1]
    box_h, gap, margin, lane = (0.9 if show_shapes else 0.6), 0.45, 0.4, 0.3
    box_w = max(5.2, 0.08 * max(len(t) for row in rows for t in row) + 0.5)
    width = box_w + 2 * margin + lane * len(skips)
    height = len(rows) * (box_h + gap) + gap
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    tops = [height - gap - i * (box_h + gap) for i in range(len(rows))]
    middle, right = margin + box_w / 2, margin + box_w
    for (title, detail), y in zip(rows, tops):
        ax.add_patch(FancyBboxPatch((margin, y - box_h), box_w, box_h,
                                    boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor="#e8f0fe", edgecolor="#3b5b92", linewidth=1.2))
        if detail:
            ax.text(middle, y - box_h * 0.33, title, ha="center", va="center",
                    fontsize=11, weight="bold")
            ax.text(middle, y - box_h * 0.72, detail, ha="center", va="center", fontsize=9,
                    family="monospace")
        else:
            ax.text(middle, y - box_h / 2, title, ha="center", va="center", fontsize=11,
                    weight="bold")
    for a, b in edges:
        if b == a + 1:
            ax.annotate("", xy=(middle, tops[b] + 0.02), xytext=(middle, tops[a] - box_h),
                        arrowprops=dict(arrowstyle="->", color="#3b5b92", lw=1.2))
    # an edge that skips layers runs in a lane of its own on the right
    for k, (a, b) in enumerate(skips):
        x = right + lane * (k + 0.7)
        ya, yb = tops[a] - box_h * 0.35, tops[b] - box_h * 0.65
        ax.plot([right, x, x], [ya, ya, yb], color="#b5562c", lw=1.2)
        ax.annotate("", xy=(right + 0.03, yb), xytext=(x, yb),
                    arrowprops=dict(arrowstyle="->", color="#b5562c", lw=1.2))
    fig.savefig(to_file, dpi=dpi)
    return to_file


def plot_history(history, to_file="history.png", dpi=96):
    """The Keras book's two figures from fit's History (or its ``history`` dict), side by
    side: training and validation accuracy, training and validation loss, per epoch. Saves
    a PNG to ``to_file`` and returns the file name."""
    Figure, FigureCanvasAgg, _ = _matplotlib("plot_history")
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or "loss" not in logs:
        raise ValueError("plot_history: expected fit's History (or its history dict) holding "
                         "at least 'loss'")
    accuracy = next((k for k in ("accuracy", "acc", "binary_accuracy", "categorical_accuracy",
                                 "sparse_categorical_accuracy") if k in logs), None)
    panels = ([(accuracy, "accuracy")] if accuracy else []) + [("loss", "loss")]
    fig = Figure(figsize=(5.5 * len(panels), 4), dpi=dpi)
    FigureCanvasAgg(fig)
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        epochs = range(1, len(logs[key]) + 1)
        ax.plot(epochs, logs[key], "o", color="#3b5b92", label=f"Training {label}")
        if "val_" + key in logs:
            ax.plot(range(1, len(logs["val_" + key]) + 1), logs["val_" + key], "-",
                    color="#c0392b", label=f"Validation {label}")
        ax.set_title(f"Training and validation {label}")
        ax.set_xlabel("Epochs")
        ax.set_ylabel(label.capitalize())
        ax.legend()
    fig.tight_layout()
    fig.savefig(to_file, dpi=dpi)
    return to_file
