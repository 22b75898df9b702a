"""One 3x3 "same" convolution, 32 -> 64 channels, on a single 2000x2000 image (147.5 GFLOP
forward): fastconv against PyTorch (channels_last, its faster layout here). Peak memory is
measured by benchmarks/large_layer_memory.py, one process per implementation."""
import pytest

import _impls

needs_torch = pytest.mark.skipif(_impls.torch is None, reason="PyTorch not installed")


@pytest.mark.parametrize("impl", ["fastconv", pytest.param("torch", marks=needs_torch)])
@pytest.mark.parametrize("direction", ["fwd", "bwd"])
def test_large_layer(benchmark, direction, impl):
    forward, backward = _impls.fastconv_large() if impl == "fastconv" else _impls.torch_large()
    benchmark.group = f"conv 2000x2000x32->64 {direction}"
    benchmark.extra_info.update(op="large_layer", shape="2000x2000x32->64",
                                direction=direction, impl=impl)
    # One untimed call first, as in a loop over images or training steps: the first call's
    # output memory is fresh (page faults) for both libraries; large_layer_memory.py times it.
    if direction == "fwd" or impl == "fastconv":
        benchmark.pedantic(forward if direction == "fwd" else backward, rounds=3,
                           warmup_rounds=1)
    else:
        # time torch's gradient computation only, not the forward pass autograd redoes
        seconds = []
        benchmark.pedantic(lambda: seconds.append(backward()[0]), rounds=3, warmup_rounds=1)
        del seconds[0]
        benchmark.stats.stats.data[:] = seconds
