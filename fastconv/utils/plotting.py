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
    show_shapes, and save the picture to ``to_file`` (PNG). Returns the file name."""
    Figure, FigureCanvasAgg, FancyBboxPatch = _matplotlib()
    model._require_built("plot_model")
    rows = []
    for layer in model.layers:
        title = f"{layer.name} ({type(layer).__name__})" if show_layer_names \
            else type(layer).__name__
        detail = f"input: {layer.input_shape}   output: {layer.output_shape}" \
            if show_shapes else ""
        rows.append((title, detail))
    box_h, gap, width = 0.9 if show_shapes else 0.6, 0.45, 6.0
    height = len(rows) * (box_h + gap) + gap
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    y = height - gap
    for i, (title, detail) in enumerate(rows):
        ax.add_patch(FancyBboxPatch((0.4, y - box_h), width - 0.8, box_h,
                                    boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor="#e8f0fe", edgecolor="#3b5b92", linewidth=1.2))
        if detail:
            ax.text(width / 2, y - box_h * 0.33, title, ha="center", va="center",
                    fontsize=11, weight="bold")
            ax.text(width / 2, y - box_h * 0.72, detail, ha="center", va="center", fontsize=9,
                    family="monospace")
        else:
            ax.text(width / 2, y - box_h / 2, title, ha="center", va="center", fontsize=11,
                    weight="bold")
        if i + 1 < len(rows):
            ax.annotate("", xy=(width / 2, y - box_h - gap + 0.02), xytext=(width / 2, y - box_h),
                        arrowprops=dict(arrowstyle="->", color="#3b5b92", lw=1.2))
        y -= box_h + gap
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
