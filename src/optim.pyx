# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The optimizers' parameter updates, one pass over each parameter and its state.

Each loop body is the sequence of operations of the NumPy formula it replaces
(fastconv.optimizers), in the same order and the same precision, so the results are bitwise
equal: the module is built without floating-point contraction, and with -fno-math-errno, so
that the square roots vectorise (errno is the only thing it drops). One pass over memory instead
of one per NumPy operation (benchmarks/optimizer_step.py times both). Hyperparameters arrive as
Python floats and are rounded to the parameters' type, as NumPy does with a Python scalar.
fastconv._api checks every array.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf


cdef enum:
    UNIT = 16384        # values per unit of work: arrays of fewer run on one thread


cdef inline floating root(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


# Each rule's loop runs over units of UNIT values: unit u is values u * UNIT .. unit_end(u, n).

cdef inline Py_ssize_t units(Py_ssize_t n) noexcept nogil:
    return (n + UNIT - 1) // UNIT


cdef inline int threads_for(Py_ssize_t n, int num_threads) noexcept nogil:
    return <int>units(n) if units(n) < num_threads else num_threads


cdef inline Py_ssize_t unit_end(Py_ssize_t u, Py_ssize_t n) noexcept nogil:
    return (u + 1) * UNIT if (u + 1) * UNIT < n else n


def rmsprop(floating[::1] p, const floating[::1] g, floating[::1] v, double learning_rate,
            double rho, double epsilon, int num_threads):
    """v = rho * v + (1 - rho) * g * g; p -= lr * g / sqrt(v + epsilon)."""
    cdef Py_ssize_t n = p.shape[0], u, i
    cdef floating r = <floating>rho, keep = <floating>(1.0 - rho)
    cdef floating eps = <floating>epsilon, lr = <floating>learning_rate
    cdef floating vi, step
    if n == 0:
        return
    with nogil:
        for u in prange(units(n), schedule='static', num_threads=threads_for(n, num_threads)):
            for i in range(u * UNIT, unit_end(u, n)):
                vi = v[i] * r + (g[i] * g[i]) * keep
                v[i] = vi
                step = (lr * g[i]) / root(vi + eps)
                p[i] = p[i] - step


def sgd(floating[::1] p, const floating[::1] g, floating[::1] m, double learning_rate,
        double momentum, bint nesterov, int num_threads):
    """p -= lr * g; with momentum (m not None): m = momentum * m - lr * g, then p += m, or
    p += momentum * m - lr * g (Nesterov)."""
    cdef Py_ssize_t n = p.shape[0], u, i
    cdef floating lr = <floating>learning_rate, mu = <floating>momentum, mi
    cdef bint plain = m is None
    if n == 0:
        return
    with nogil:
        for u in prange(units(n), schedule='static', num_threads=threads_for(n, num_threads)):
            if plain:
                for i in range(u * UNIT, unit_end(u, n)):
                    p[i] = p[i] - lr * g[i]
            elif nesterov:
                for i in range(u * UNIT, unit_end(u, n)):
                    mi = m[i] * mu - lr * g[i]
                    m[i] = mi
                    p[i] = p[i] + (mu * mi - lr * g[i])
            else:
                for i in range(u * UNIT, unit_end(u, n)):
                    mi = m[i] * mu - lr * g[i]
                    m[i] = mi
                    p[i] = p[i] + mi


def adam(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
         double step_size, double beta_1, double beta_2, double epsilon, int num_threads):
    """m += (1 - beta_1) * (g - m); v += (1 - beta_2) * (g * g - v);
    p -= step_size * m / (sqrt(v) + epsilon), step_size holding the bias corrections."""
    cdef Py_ssize_t n = p.shape[0], u, i
    cdef floating b1 = <floating>(1.0 - beta_1), b2 = <floating>(1.0 - beta_2)
    cdef floating eps = <floating>epsilon, step = <floating>step_size, mi, vi
    if n == 0:
        return
    with nogil:
        for u in prange(units(n), schedule='static', num_threads=threads_for(n, num_threads)):
            for i in range(u * UNIT, unit_end(u, n)):
                mi = m[i] + b1 * (g[i] - m[i])
                m[i] = mi
                vi = v[i] + b2 * (g[i] * g[i] - v[i])
                v[i] = vi
                p[i] = p[i] - (step * mi) / (root(vi) + eps)
