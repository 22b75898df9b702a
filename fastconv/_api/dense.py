"""matmul: the Dense layer's products on fastconv's GEMM (src/dense.pyx)."""

from .. import _buffers, _dense
from .._config import get_num_threads
from .checks import bias_operand, contiguous, dtypes, finish, floating_array, fused_activation


def matmul(a, b, *, transpose_a=False, transpose_b=False, bias=None, activation=None):
    """``op(a) @ op(b) (+ bias)``, op transposing when asked, for 2-D float arrays, on
    fastconv's own GEMM and thread pool (the Dense layer's products).

    ``activation="relu"`` applies ReLU to the result inside the kernel. Dtypes follow the
    convolution's policy.
    """
    fn = "matmul"
    a, b = floating_array(a, "a", fn), floating_array(b, "b", fn)
    for name, arr in (("a", a), ("b", b)):
        if arr.ndim != 2:
            raise ValueError(f"{fn}: {name} must be 2-D, got shape {arr.shape}")
    m, k = a.shape[::-1] if transpose_a else a.shape
    k2, n = b.shape[::-1] if transpose_b else b.shape
    if k != k2:
        raise ValueError(f"{fn}: inner dimensions differ: op(a) is {(m, k)} (a {a.shape}), "
                         f"op(b) is {(k2, n)} (b {b.shape})")
    arrays = [a, b]
    bias = bias_operand(bias, n, fn)
    arrays += [] if bias is None else [bias]
    fused_activation(activation, fn)
    compute, result = dtypes(arrays)
    c = _buffers.empty((m, n), compute)
    _dense.matmul(contiguous(a, compute), bool(transpose_a), contiguous(b, compute),
                  bool(transpose_b), c, None if bias is None else contiguous(bias, compute),
                  activation == "relu", get_num_threads())
    return finish(c, result)
