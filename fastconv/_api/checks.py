"""The checks every kernel entry shares: window and padding arguments, output-shape
arithmetic, and the dtype policy.

Everything a caller can get wrong is caught in fastconv._api, with a message that names the
argument and the shapes; the kernels in src/ then run without bounds checks and without the GIL.

Dtype policy: float32 and float64 are computed natively. Mixed float32/float64 inputs are
computed in float64 (NumPy's promotion). float16 inputs are computed in float32 and the result
is returned as float16. Integer, boolean, complex, object and extended-precision inputs are
rejected with a TypeError: convert them yourself (``x.astype(np.float32)``).
"""
import operator

import numpy as np



MAX_WINDOW = 2 ** 31 - 1   # strides and pool sizes must fit the kernels' C integers


def pair(value, name, fn):
    """An int or a pair of ints, each >= 1, as a tuple (h, w)."""
    if isinstance(value, (str, bytes)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
    try:
        items = (operator.index(value),) * 2
    except TypeError:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(f"{fn}: {name} must be an int or a pair of ints, "
                            f"got {value!r}") from None
        if len(items) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of 2 ints, "
                             f"got {len(items)} values: {value!r}")
        try:
            if any(isinstance(v, (bool, np.bool_)) for v in items):
                raise TypeError
            items = tuple(operator.index(v) for v in items)
        except TypeError:
            raise TypeError(f"{fn}: {name} must be an int or a pair of ints, "
                            f"got {value!r}") from None
    if items[0] < 1 or items[1] < 1:
        raise ValueError(f"{fn}: {name} must be >= 1, got {value!r}")
    if max(items) > MAX_WINDOW:
        raise ValueError(f"{fn}: {name} must be at most {MAX_WINDOW}, got {value!r}")
    return items


def padding_name(padding, fn):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{fn}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def conv_output_size(size, window, stride, padding):
    """Output length along one axis (TensorFlow's rule for "valid" and "same")."""
    if padding == "same":
        return -(-size // stride)
    return (size - window) // stride + 1 if size >= window else 0


def window_output_shape(input_shape, window, strides, padding, channels, owner):
    """(batch, out_height, out_width, channels) of a (h, w) window sliding over inputs of
    shape (batch, height, width, c); unknown (None) sizes stay None. ValueError naming owner
    if the window does not fit."""
    n, h, w, _ = input_shape
    size = [None if s is None else conv_output_size(s, k, st, padding)
            for s, k, st in zip((h, w), window, strides)]
    if any(s is not None and s < 1 for s in size):
        raise ValueError(f"{owner}: a {window[0]}x{window[1]} window with strides {strides} "
                         f"and padding {padding!r} does not fit input shape {input_shape}")
    return (n, size[0], size[1], channels)


def padding_amounts(size, window, stride, padding):
    """(before, after) padding along one axis: the smaller half goes before, as in TensorFlow."""
    if padding == "valid":
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def floating_array(value, name, fn):
    """value as an ndarray of a floating dtype fastconv accepts (not converted yet)."""
    a = value if isinstance(value, np.ndarray) else np.asarray(value)
    kind = a.dtype.kind
    if kind == "f" and a.dtype.itemsize <= 8:
        return a
    if kind == "f":
        raise TypeError(f"{fn}: {name} has dtype {a.dtype}; fastconv computes in float32 or "
                        f"float64: convert with .astype(np.float64)")
    if kind in "biu":
        raise TypeError(f"{fn}: {name} has integer or boolean dtype {a.dtype}; fastconv "
                        f"computes in float32 or float64: convert with .astype(np.float32)")
    raise TypeError(f"{fn}: {name} has dtype {a.dtype}, which fastconv does not support "
                    f"(float16, float32 or float64 only)")


def dtypes(arrays):
    """(compute dtype, result dtype) for a set of floating arrays."""
    result = np.result_type(*arrays)
    result = np.dtype(np.float64) if result.itemsize == 8 else np.dtype(result.type)
    compute = np.dtype(np.float64) if result.itemsize == 8 else np.dtype(np.float32)
    return compute, result


def contiguous(a, dtype):
    # A C-contiguous, aligned, native-byte-order copy only when needed; never the caller's
    # array to write. Aligned too: data at an odd address (np.frombuffer with an offset) is
    # C-contiguous, but the kernels' loads of it would be undefined behaviour in C (the fuzzer
    # found it).
    b = np.ascontiguousarray(a, dtype=dtype)
    return b if b.flags.aligned else b.copy()       # (np.require: 1.6 us a call, this 0.2)


def check_ndim(a, ndim, name, fn, layout):
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D {layout}, got shape {a.shape}")


def finish(y, result):
    return y if y.dtype == result else y.astype(result)


def choice(value, table, name, fn):
    if value not in table:
        raise ValueError(f"{fn}: {name} must be one of {', '.join(map(repr, table))}, got "
                         f"{value!r}")
    return table[value]


def bias_operand(bias, size, fn, context=""):
    """bias (None stays None) as a floating array of shape (size,); ValueError naming fn and,
    in context, what fixes the size."""
    if bias is None:
        return None
    bias = floating_array(bias, "bias", fn)
    if bias.shape != (size,):
        raise ValueError(f"{fn}: bias must have shape ({size},){context}, got {bias.shape}")
    return bias


def fused_activation(activation, fn):
    """activation, if it is one the kernels apply themselves (None, "linear" or "relu")."""
    if activation not in (None, "linear", "relu"):
        raise ValueError(f"{fn}: activation must be None, 'linear' or 'relu', got {activation!r}")
    return activation


def relu_output_operand(relu_output, dy, fn):
    """A backward pass's relu_output (the forward's ReLU output, whose y > 0 masks dy),
    checked against dy's shape; None stays None."""
    if relu_output is None:
        return None
    relu_output = floating_array(relu_output, "relu_output", fn)
    if relu_output.shape != dy.shape:
        raise ValueError(f"{fn}: relu_output must have dy's shape {dy.shape}, got "
                         f"{relu_output.shape}")
    return relu_output
