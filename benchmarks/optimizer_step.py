"""One optimizer step over the seed network's parameters (93,322 float32 values in 10 arrays):
the compiled pass (fastconv._optim) against the NumPy formula it replaces.

usage: python benchmarks/optimizer_step.py [--repeat N]

Prints the median milliseconds per `optimizer.apply(params, grads)` for each rule, both ways;
the NumPy way is forced by making fastconv._api.optim.update_in_place decline every array.
"""
import argparse

import numpy as np

from fastconv import _api, optimizers
from fastconv.examples.mnist import build_network

import _impls            # benchmarks/_impls.py, beside this script

RULES = {
    "rmsprop": lambda: optimizers.RMSprop(),
    "sgd, momentum": lambda: optimizers.SGD(momentum=0.9),
    "adam": lambda: optimizers.Adam(),
}


def median_ms(optimizer, params, grads, repeat):
    return _impls.median_seconds(lambda: optimizer.apply(params, grads), repeat) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    repeat = parser.parse_args(argv).repeat
    network = build_network()
    network.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    params = [w for layer in network._layers for w in layer.weights]
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(p.shape).astype(p.dtype) * 1e-3 for p in params]
    compiled = _api.optim.update_in_place
    print(f"{sum(p.size for p in params):,} parameters in {len(params)} arrays; "
          f"median ms per step")
    for name, make in RULES.items():
        fast = median_ms(make(), [p.copy() for p in params], grads, repeat)
        _api.optim.update_in_place = lambda *args: False
        try:
            slow = median_ms(make(), [p.copy() for p in params], grads, repeat)
        finally:
            _api.optim.update_in_place = compiled
        print(f"{name:14s} compiled {fast:.3f}  numpy {slow:.3f}  ({slow / fast:.1f}x)")


if __name__ == "__main__":
    main()
