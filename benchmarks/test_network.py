"""The seed convnet at batch 64, fastconv against PyTorch in the same run: each conv and pool
layer forward+backward (as training runs them: ReLU included, no dx for the first layer), and
one whole training step (forward, loss, backward, RMSprop update)."""
import pytest

import _impls

needs_torch = pytest.mark.skipif(_impls.torch is None,
                                 reason="PyTorch not installed (see README: a CPU build)")


@pytest.mark.parametrize("impl", ["fastconv", pytest.param("torch", marks=needs_torch)])
@pytest.mark.parametrize("layer", list(_impls.NETWORK))
def test_network_layer(benchmark, layer, impl):
    spec = _impls.NETWORK[layer]
    if impl == "fastconv":
        fn = _impls.fastconv_layer(spec)
    else:
        layout, fn = _impls.torch_layer(spec)
        benchmark.extra_info["layout"] = layout
    benchmark.group = f"net {layer} fwd+bwd"
    benchmark.extra_info.update(op="network_layer", shape=layer, impl=impl)
    benchmark(fn)


@pytest.mark.parametrize("impl", ["fastconv", pytest.param("torch", marks=needs_torch)])
def test_train_step(benchmark, impl):
    if impl == "fastconv":
        fn = _impls.fastconv_train_step()
    else:
        layout, fn = _impls.torch_train_step()
        benchmark.extra_info["layout"] = layout
    benchmark.group = "train step (batch 64, RMSprop)"
    benchmark.extra_info.update(op="train_step", impl=impl)
    benchmark(fn)
