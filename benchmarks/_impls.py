"""The seed network's layers and training step for each implementation the benchmarks time.

PyTorch is optional: without it, its benchmarks are skipped. It runs with as many threads as
fastconv, and each conv/pool layer in the layout (NCHW or channels_last) that is faster for it.
"""
import time

import numpy as np

import fastconv
from fastconv import _api
from fastconv.examples.mnist import build_network
from fastconv.utils import set_random_seed, to_categorical

try:
    import torch
    import torch.nn.functional as F
except ImportError:          # pragma: no cover - optional
    torch = None

BATCH = 64
# name: ("conv", (h, w, c), filters, first layer?) or ("pool", (h, w, c))
NETWORK = {
    "conv1 28x28x1->32": ("conv", (28, 28, 1), 32, True),
    "pool1 26x26x32": ("pool", (26, 26, 32)),
    "conv2 13x13x32->64": ("conv", (13, 13, 32), 64, False),
    "pool2 11x11x64": ("pool", (11, 11, 64)),
    "conv3 5x5x64->64": ("conv", (5, 5, 64), 64, False),
}


def layer_data(spec, seed=0):
    """NHWC float32 arrays for one layer: x, kernel, bias, dy."""
    rng = np.random.default_rng(seed)
    if spec[0] == "conv":
        _, (h, w, c), f, _ = spec
        x = rng.standard_normal((BATCH, h, w, c), np.float32)
        k = rng.standard_normal((3, 3, c, f), np.float32) * 0.1
        return x, k, np.zeros(f, np.float32), rng.standard_normal((BATCH, h - 2, w - 2, f),
                                                                 np.float32)
    _, (h, w, c) = spec
    x = rng.standard_normal((BATCH, h, w, c), np.float32)
    return x, None, None, rng.standard_normal((BATCH, h // 2, w // 2, c), np.float32)


def fastconv_layer(spec):
    """A function running the layer forward and backward as Conv2D/MaxPooling2D do in fit."""
    x, k, b, dy = layer_data(spec)
    if spec[0] == "conv":
        first = spec[3]

        def run():
            y = fastconv.conv2d(x, k, b, activation="relu")
            return fastconv.conv2d_backward(dy, x, k, relu_output=y, compute_dx=not first)
        return run

    def run():
        y, argmax = _api.pool.max_pool2d_with_argmax(x, 2, 2, "valid")
        return _api.pool.max_pool2d_backward_argmax(dy, argmax, x.shape, 2, 2, "valid")
    return run


def _torch_layer(spec, layout):
    x, k, b, dy = layer_data(spec)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    if spec[0] == "conv":
        first = spec[3]
        wt = torch.from_numpy(k).permute(3, 2, 0, 1).contiguous(memory_format=fmt)
        wt.requires_grad_(True)
        bt = torch.from_numpy(b).requires_grad_(True)
        xt.requires_grad_(not first)
        inputs = [wt, bt] if first else [xt, wt, bt]

        def run():
            y = F.relu(F.conv2d(xt, wt, bt))
            return torch.autograd.grad(y, inputs, dyt)
        return run
    xt.requires_grad_(True)

    def run():
        y = F.max_pool2d(xt, 2)
        return torch.autograd.grad(y, [xt], dyt)
    return run


def median_seconds(fn, repeat=15):
    """Median wall time of `repeat` calls of fn, after one untimed call."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _best(runs, repeat=15):
    """The (name, function) that is fastest here, by median of a few calls."""
    timings = [(median_seconds(fn, repeat), name, fn) for name, fn in runs]
    return min(timings, key=lambda item: item[0])[1:]


def torch_layer(spec):
    """(layout, function) for the layer in PyTorch's faster layout."""
    torch.set_num_threads(fastconv.get_num_threads())
    return _best([(layout, _torch_layer(spec, layout)) for layout in ("nchw", "channels_last")])


def mnist_batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, 28, 28, 1), dtype=np.float32)
    return x, to_categorical(rng.integers(0, 10, BATCH), 10)


def fastconv_train_step():
    """One fit step of the seed network (RMSprop, categorical cross-entropy)."""
    set_random_seed(0)
    network = build_network()
    network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = mnist_batch()
    return lambda: network._train_step(x, y)


def torch_seed_network(fmt):
    """The seed convnet in PyTorch, in memory format fmt, with Keras's RMSprop settings
    (PyTorch adds epsilon outside the square root): (network, optimizer, loss function)."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(64, 64, 3), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(576, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10),
    ).to(memory_format=fmt)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    return net, opt, torch.nn.CrossEntropyLoss()


def _torch_train_step(layout):
    torch.manual_seed(0)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    net, opt, loss_fn = torch_seed_network(fmt)
    x, y = mnist_batch()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    yt = torch.from_numpy(np.argmax(y, axis=1))

    def run():
        opt.zero_grad()
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return loss
    return run


def torch_train_step():
    torch.set_num_threads(fastconv.get_num_threads())
    return _best([(layout, _torch_train_step(layout)) for layout in ("nchw", "channels_last")],
                 repeat=10)


LARGE = (1, 2000, 2000, 32, 64)        # batch, height, width, in_channels, filters; 3x3 "same"
LARGE_FLOP = 2 * 9 * LARGE[0] * LARGE[1] * LARGE[2] * LARGE[3] * LARGE[4]   # forward: 147.5 G


def large_data(seed=0):
    n, h, w, c, f = LARGE
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c), np.float32)
    k = rng.standard_normal((3, 3, c, f), np.float32) * 0.05
    b = np.zeros(f, np.float32)
    dy = rng.standard_normal((n, h, w, f), np.float32)
    return x, k, b, dy


def fastconv_large():
    """(forward, backward) functions for the 2000x2000 layer."""
    x, k, b, dy = large_data()
    return (lambda: fastconv.conv2d(x, k, b, padding="same"),
            lambda: fastconv.conv2d_backward(dy, x, k, padding="same"))


def torch_large(layout="channels_last"):
    torch.set_num_threads(fastconv.get_num_threads())
    x, k, b, dy = large_data()
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    del x, dy
    wt = torch.from_numpy(k).permute(3, 2, 0, 1).contiguous(memory_format=fmt)
    bt = torch.from_numpy(b)

    def forward():
        with torch.no_grad():
            return F.conv2d(xt, wt, bt, padding=1)

    def backward():
        # the forward pass autograd needs is not timed: only the gradients
        xg, wg, bg = (t.detach().requires_grad_(True) for t in (xt, wt, bt))
        y = F.conv2d(xg, wg, bg, padding=1)
        start = time.perf_counter()
        grads = torch.autograd.grad(y, [xg, wg, bg], dyt)
        return time.perf_counter() - start, grads
    return forward, backward
