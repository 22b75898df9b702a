"""The optimizers' updates in place (src/optim.pyx)."""

import numpy as np

from .. import _optim
from .._config import get_num_threads
from .checks import contiguous


UPDATES = {"rmsprop": _optim.rmsprop, "sgd": _optim.sgd, "adam": _optim.adam}
NATIVE_FLOATS = (np.dtype("=f4"), np.dtype("=f8"))


def update_in_place(rule, param, grad, state, *hyper):
    """One step of an optimizer's rule on the compiled kernels, writing param and its state
    arrays (a list like the kernel's arguments, None for an absent one) in place.

    The state arrays are the optimizer's own, made by np.zeros_like(param), so param's checks
    cover them. Returns False, having done nothing, where param cannot be written directly: a
    dtype other than native float32 or float64, a layout other than C-contiguous and aligned,
    a read-only array, or a gradient of another shape. The optimizer then runs its NumPy
    formula, which the kernels match bitwise.
    """
    if not (type(param) is np.ndarray and param.dtype in NATIVE_FLOATS
            and param.flags.c_contiguous and param.flags.aligned and param.flags.writeable
            and grad.shape == param.shape):
        return False
    UPDATES[rule](param.reshape(-1), contiguous(grad, param.dtype).reshape(-1),
                   *[None if s is None else s.reshape(-1) for s in state], *hyper,
                   get_num_threads())
    return True
