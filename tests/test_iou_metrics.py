"""IoU and MeanIoU, Keras's segmentation metrics: against their definition on a confusion
matrix counted here, over batches, with argmax predictions, ignore_class and labels out of
range; in fit's logs and through both model file formats."""
import numpy as np
import pytest

from fastconv import layers, metrics, models


def definition(t, p, n, ids, ignore=None):
    keep = (t >= 0) & (t < n) & (p >= 0) & (p < n)
    if ignore is not None:
        keep &= t != ignore
    cm = np.zeros((n, n))
    for a, b in zip(t[keep], p[keep]):
        cm[a, b] += 1
    ious = []
    for c in ids:
        tp, fp, fn = cm[c, c], cm[:, c].sum() - cm[c, c], cm[c, :].sum() - cm[c, c]
        if tp + fp + fn > 0:
            ious.append(tp / (tp + fp + fn))
    return float(np.mean(ious)) if ious else 0.0


@pytest.mark.parametrize("ignore", [None, 1])
def test_iou_over_batches_of_pixels(rng, ignore):
    n = 4
    m = metrics.MeanIoU(n, ignore_class=ignore, sparse_y_pred=False)
    some = metrics.IoU(n, [0, 3], ignore_class=ignore, sparse_y_pred=False)
    ts, ps = [], []
    for _ in range(3):
        t = rng.integers(-1, n + 1, (2, 5, 6, 1))          # a few out of range
        scores = rng.random((2, 5, 6, n))
        m.update(t, scores)
        some.update(t, scores)
        ts.append(t.reshape(-1))
        ps.append(scores.argmax(-1).reshape(-1))
    t, p = np.concatenate(ts), np.concatenate(ps)
    assert m.result() == pytest.approx(definition(t, p, n, range(n), ignore), rel=1e-6)
    assert some.result() == pytest.approx(definition(t, p, n, [0, 3], ignore), rel=1e-6)
    assert m.name == "mean_io_u" and some.name == "io_u"
    m.reset()
    assert m.result() == 0.0
    with pytest.raises(ValueError, match="out of range"):
        metrics.IoU(3, [3])
    with pytest.raises(ValueError, match="labels for"):
        metrics.MeanIoU(3).update(np.zeros(4), np.zeros(5))


@pytest.mark.parametrize("suffix", [".fastconv", ".keras"])
def test_mean_iou_in_fit_and_through_files(tmp_path, rng, suffix):
    if suffix == ".keras":
        pytest.importorskip("h5py")
    # (per-pixel losses come with the segmentation model: here one class per image)
    inputs = layers.Input((6, 6, 2))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, activation="relu")(inputs))
    model = models.Model(inputs, layers.Dense(3, activation="softmax")(x))
    model.compile("adam", "categorical_crossentropy",
                  metrics=["accuracy", metrics.MeanIoU(3, sparse_y_true=False,
                                                       sparse_y_pred=False)])
    x = rng.random((8, 6, 6, 2)).astype("float32")
    y = np.eye(3)[rng.integers(0, 3, 8)].astype("float32")
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, validation_data=(x, y))
    assert set(history.history) == {"loss", "accuracy", "mean_io_u", "val_loss",
                                    "val_accuracy", "val_mean_io_u"}
    want = definition(y.argmax(-1).reshape(-1), model.predict(x, verbose=0).argmax(-1)
                      .reshape(-1), 3, range(3))
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["mean_io_u"] == pytest.approx(want, rel=1e-6)
    model.save(tmp_path / f"m{suffix}")
    loaded = models.load_model(tmp_path / f"m{suffix}")
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(logs)
