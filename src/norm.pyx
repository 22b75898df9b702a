# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Per-channel passes for BatchNormalization over (rows, channels) views of NHWC data: the
statistics (sums in double precision, shifted for accuracy), and the per-channel affine maps
that the forward and backward passes reduce to. Rows split evenly over the threads, each with
its own partial sums, added in thread order: the results do not depend on scheduling.
fastconv._api has checked every argument before these run.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport calloc, free


cdef inline Py_ssize_t part(Py_ssize_t rows, int parts, Py_ssize_t t) noexcept nogil:
    return rows * t // parts


def channel_sums(const floating[:, ::1] x, const floating[:, ::1] y, const double[::1] shift,
                 double[:, ::1] out, int num_threads):
    """out[0] = sum over rows of (x - shift), out[1] = sum of (x - shift)**2 if y is None,
    else out[0] = sum of y and out[1] = sum of y * (x - shift) (y: the output gradient)."""
    cdef Py_ssize_t rows = x.shape[0], c = x.shape[1], r, ch, t
    cdef int parts = num_threads if num_threads < rows else (<int>rows if rows > 0 else 1)
    cdef bint with_y = y is not None
    cdef double* acc = <double*>calloc(parts * 2 * c + 1, sizeof(double))
    cdef double* a
    cdef double d
    if acc == NULL:
        raise MemoryError()
    try:
        with nogil:
            for t in prange(parts, num_threads=parts, schedule="static", chunksize=1):
                a = acc + t * 2 * c
                for r in range(part(rows, parts, t), part(rows, parts, t + 1)):
                    if with_y:
                        for ch in range(c):
                            d = x[r, ch] - shift[ch]
                            a[ch] += y[r, ch]
                            a[c + ch] += y[r, ch] * d
                    else:
                        for ch in range(c):
                            d = x[r, ch] - shift[ch]
                            a[ch] += d
                            a[c + ch] += d * d
        out[...] = 0
        for t in range(parts):
            for ch in range(c):
                out[0, ch] += acc[t * 2 * c + ch]
                out[1, ch] += acc[t * 2 * c + c + ch]
    finally:
        free(acc)


def channel_affine(const floating[:, ::1] x, const floating[::1] center,
                   const floating[::1] scale, const floating[::1] offset,
                   const floating[:, ::1] y, const floating[::1] y_scale, floating[:, ::1] out,
                   int num_threads):
    """out = (x - center) * scale + offset, plus y * y_scale if y is not None (per channel).
    x is centred first: x * scale + (offset - center * scale) would cancel far from zero."""
    cdef Py_ssize_t rows = x.shape[0], c = x.shape[1], r, ch
    cdef bint with_y = y is not None
    with nogil:
        for r in prange(rows, num_threads=num_threads, schedule="static"):
            if with_y:
                for ch in range(c):
                    out[r, ch] = ((x[r, ch] - center[ch]) * scale[ch] + offset[ch]
                                  + y[r, ch] * y_scale[ch])
            else:
                for ch in range(c):
                    out[r, ch] = (x[r, ch] - center[ch]) * scale[ch] + offset[ch]
