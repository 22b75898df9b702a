"""The Keras book's mini-Xception (examples/keras_book_mini_xception.py: 180x180x3, batch 32)
training step, fastconv against PyTorch and Keras, in one run.

    python benchmarks/mini_xception.py [--steps 10] [--json FILE]

``train_on_batch`` on one batch of 32 pictures: Rescaling, a 5x5 Conv2D, five blocks of
BatchNormalization / ReLU / SeparableConv2D (twice) / MaxPooling2D 3 stride 2 'same' with a
1x1 strided residual, GlobalAveragePooling2D, Dropout, a sigmoid unit; binary cross-entropy
and RMSprop. fastconv and Keras 3 (TensorFlow backend) build it from the same code (their
layer APIs are the same), without and with the augmentation layers (RandomFlip,
RandomRotation, RandomZoom); PyTorch runs the same network by hand (NCHW and channels_last;
without augmentation: it has none without torchvision) with BCEWithLogitsLoss and RMSprop.
Every implementation on as many threads as fastconv uses, in its own process; median of
--steps steps after 3 warm-up ones. A missing library is reported, not fatal.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

from images_chapter import median_step       # benchmarks/images_chapter.py, beside this one

SIZE, BATCH = 180, 32
IMPLS = ("fastconv", "fastconv+augment", "torch:nchw", "torch:channels_last", "keras",
         "keras+augment")


def build(layers, models, augment):
    """The book's model, from a library's layers and models modules (fastconv's or Keras's)."""
    inputs = layers.Input(shape=(SIZE, SIZE, 3))
    x = inputs
    if augment:
        x = models.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                               layers.RandomZoom(0.2)])(x)
    x = layers.Rescaling(1. / 255)(x)
    x = layers.Conv2D(filters=32, kernel_size=5, use_bias=False)(x)
    for size in [32, 64, 128, 256, 512]:
        residual = x
        for _ in range(2):
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    model = models.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def torch_network(layout):
    """The same network in PyTorch: 'same' max pooling pads with -inf below and right (on
    even sizes, as TensorFlow's rule does), BatchNormalization with Keras's momentum and
    epsilon, RMSprop with Keras's defaults."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format

    def separable(c, filters):
        return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                             nn.Conv2d(c, filters, 1, bias=False))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 32, 5, bias=False)
            self.blocks = nn.ModuleList()
            c = 32
            for size in [32, 64, 128, 256, 512]:
                self.blocks.append(nn.ModuleDict({
                    "bn1": nn.BatchNorm2d(c, eps=1e-3, momentum=0.01),
                    "sep1": separable(c, size),
                    "bn2": nn.BatchNorm2d(size, eps=1e-3, momentum=0.01),
                    "sep2": separable(size, size),
                    "residual": nn.Conv2d(c, size, 1, stride=2, bias=False)}))
                c = size
            self.dropout = nn.Dropout(0.5)
            self.dense = nn.Linear(512, 1)

        def forward(self, x):
            x = self.stem(x * (1 / 255))
            for b in self.blocks:
                residual = x
                x = b["sep1"](F.relu(b["bn1"](x)))
                x = b["sep2"](F.relu(b["bn2"](x)))
                h = x.shape[2]
                total = max((-(-h // 2) - 1) * 2 + 3 - h, 0)
                x = F.max_pool2d(F.pad(x, (total // 2, total - total // 2) * 2,
                                       value=float("-inf")), 3, 2)
                x = x + b["residual"](residual)
            return self.dense(self.dropout(x.mean(dim=(2, 3))))
    net = Net().to(memory_format=fmt)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    return net, opt, nn.BCEWithLogitsLoss(), fmt


def child(impl, steps):
    import fastconv
    threads = fastconv.get_num_threads()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
    y = rng.integers(0, 2, BATCH).astype(np.float32)
    info = {"impl": impl, "threads": threads}
    if impl.startswith("fastconv"):
        from fastconv import layers, models, utils
        utils.set_random_seed(0)
        model = build(layers, models, impl.endswith("+augment"))
        info["version"] = f"{fastconv.__version__} ({fastconv.simd_path()})"
        info["seconds"] = median_step(lambda: model.train_on_batch(x, y), steps)
    elif impl.startswith("keras"):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        keras.utils.set_random_seed(0)
        model = build(keras.layers, keras.models, impl.endswith("+augment"))
        info["version"] = f"{keras.__version__} ({keras.backend.backend()})"
        info["seconds"] = median_step(lambda: model.train_on_batch(x, y), steps)
    else:
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        net, opt, loss_fn, fmt = torch_network(impl.split(":")[1])
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
        yt = torch.from_numpy(y).reshape(-1, 1)

        def step():
            opt.zero_grad()
            loss = loss_fn(net(xt), yt)
            loss.backward()
            opt.step()
        info["version"] = torch.__version__
        info["seconds"] = median_step(step, steps)
    return info


def table(results):
    base = next(r["seconds"] for r in results if r["impl"] == "fastconv")
    lines = [f"| mini-Xception training step, batch {BATCH} at {SIZE}x{SIZE}x3 | ms per step "
             f"| pictures/s |", "|---|---:|---:|"]
    for r in results:
        ratio = "" if r["impl"] == "fastconv" else f" ({r['seconds'] / base:.2f}x)"
        lines.append(f"| {r['impl']} {r['version']} | {r['seconds'] * 1e3:.0f}{ratio} | "
                     f"{BATCH / r['seconds']:.1f} |")
    lines += ["", f"{results[0]['threads']} threads each; in brackets: time / fastconv's "
                  f"time (without augmentation)."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps)))
        return
    results = []
    for impl in IMPLS:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--steps",
                               str(args.steps), "--child", impl], capture_output=True, text=True)
        if done.returncode:
            print(f"({impl}: failed: {done.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
