# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Image resampling, NHWC: an affine map per image, sampled by nearest or bilinear
interpolation with Keras's fill modes, and its adjoint (for the backward pass).

Output pixel (row i, column j) of image b reads input point
    x = m[b, 0] * j + m[b, 1] * i + m[b, 2],   y = m[b, 3] * j + m[b, 4] * i + m[b, 5]
in pixel-index coordinates (pixel (r, c) is the point x = c, y = r). Nearest takes the pixel
at floor(x + 0.5), floor(y + 0.5); bilinear blends the four around the point. A pixel index
outside the image is mapped by the fill mode, each neighbour on its own:
    constant  k k k k | a b c d | k k k k   (the neighbour reads fill_value)
    nearest   a a a a | a b c d | d d d d
    reflect   d c b a | a b c d | d c b a   (about the edge of the last pixel)
    wrap      a b c d | a b c d | a b c d
A neighbour outside with weight 0 (a point exactly on a pixel row or column) does not read
the fill value. A point that is not finite, or too far out for int64 arithmetic, reads
fill_value, whatever the mode (its gradient is 0). This is also
TensorFlow's bilinear and nearest resize (half-pixel centres, no antialiasing) when m scales
and shifts by half a pixel and the fill mode is nearest. fastconv._api has checked every
argument before these run.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport floor, fabs
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free


cdef enum:
    NEAREST = 0
    BILINEAR = 1

cdef enum:
    CONSTANT = 0
    EDGE = 1        # Keras's "nearest" fill mode
    REFLECT = 2
    WRAP = 3

# |coordinate| beyond this reads as outside: floor() of it still fits int64 with room to add 1
cdef double FAR = 1e15


cdef inline int64_t fill_index(int64_t k, int64_t n, int mode) noexcept nogil:
    """k mapped into [0, n) by the fill mode, or -1 for a constant fill."""
    cdef int64_t period
    if 0 <= k < n:
        return k
    if mode == CONSTANT:
        return -1
    if mode == EDGE:
        return 0 if k < 0 else n - 1
    if mode == WRAP:
        k = k % n
        return k + n if k < 0 else k
    period = 2 * n          # REFLECT, half-sample symmetric
    k = k % period
    if k < 0:
        k = k + period
    return k if k < n else period - 1 - k


cdef inline bint far(double v) noexcept nogil:
    return not (fabs(v) < FAR)      # also true for NaN


cdef void sample_row(const floating* x, floating* out, const double* m, Py_ssize_t i,
                     Py_ssize_t h, Py_ssize_t w, Py_ssize_t c, Py_ssize_t ow, int interp,
                     int mode, floating fill, const floating* zeros) noexcept nogil:
    """Output row i of one image: ow pixels of c channels from x (h, w, c); zeros holds c
    zeros."""
    cdef Py_ssize_t j, ch
    cdef double px, py, fx, fy
    cdef int64_t x0, y0, r0, r1, c0, c1
    cdef floating w00, w01, w10, w11, rest
    cdef bint outside
    cdef const floating* p00
    cdef const floating* p01
    cdef const floating* p10
    cdef const floating* p11
    cdef floating* o
    for j in range(ow):
        o = out + j * c
        px = m[0] * j + m[1] * i + m[2]
        py = m[3] * j + m[4] * i + m[5]
        if far(px) or far(py):
            for ch in range(c):
                o[ch] = fill
            continue
        if interp == NEAREST:
            c0 = fill_index(<int64_t>floor(px + 0.5), w, mode)
            r0 = fill_index(<int64_t>floor(py + 0.5), h, mode)
            if c0 < 0 or r0 < 0:
                for ch in range(c):
                    o[ch] = fill
            else:
                p00 = x + (r0 * w + c0) * c
                for ch in range(c):
                    o[ch] = p00[ch]
            continue
        x0 = <int64_t>floor(px)
        y0 = <int64_t>floor(py)
        fx = px - x0
        fy = py - y0
        c0 = fill_index(x0, w, mode)
        c1 = fill_index(x0 + 1, w, mode)
        r0 = fill_index(y0, h, mode)
        r1 = fill_index(y0 + 1, h, mode)
        w00 = <floating>((1 - fy) * (1 - fx))
        w01 = <floating>((1 - fy) * fx)
        w10 = <floating>(fy * (1 - fx))
        w11 = <floating>(fy * fx)
        rest = 0
        outside = False
        # a neighbour outside (constant fill) gives its weight, if any, to fill_value
        if (r0 < 0 or c0 < 0) and w00 != 0:
            rest = rest + w00
            w00 = 0
            outside = True
        if (r0 < 0 or c1 < 0) and w01 != 0:
            rest = rest + w01
            w01 = 0
            outside = True
        if (r1 < 0 or c0 < 0) and w10 != 0:
            rest = rest + w10
            w10 = 0
            outside = True
        if (r1 < 0 or c1 < 0) and w11 != 0:
            rest = rest + w11
            w11 = 0
            outside = True
        # a neighbour outside reads zeros (not pixel 0: 0 * NaN would be NaN)
        p00 = zeros if r0 < 0 or c0 < 0 else x + (r0 * w + c0) * c
        p01 = zeros if r0 < 0 or c1 < 0 else x + (r0 * w + c1) * c
        p10 = zeros if r1 < 0 or c0 < 0 else x + (r1 * w + c0) * c
        p11 = zeros if r1 < 0 or c1 < 0 else x + (r1 * w + c1) * c
        # fill_value only where a neighbour outside has weight: a NaN or infinite fill_value
        # must not reach the pixels that do not read it (0 * NaN is NaN)
        rest = rest * fill if outside else 0
        for ch in range(c):
            o[ch] = w00 * p00[ch] + w01 * p01[ch] + w10 * p10[ch] + w11 * p11[ch] + rest


cdef void scatter_image(const floating* dy, floating* dx, const double* m, Py_ssize_t h,
                        Py_ssize_t w, Py_ssize_t c, Py_ssize_t oh, Py_ssize_t ow, int interp,
                        int mode) noexcept nogil:
    """dx (h, w, c) += the transpose of sample_row's map applied to dy (oh, ow, c)."""
    cdef Py_ssize_t i, j, ch, k
    cdef double px, py, fx, fy
    cdef int64_t x0, y0, rr[4]
    cdef int64_t cc[4]
    cdef floating wt[4]
    cdef const floating* g
    cdef floating* d
    for i in range(oh):
        for j in range(ow):
            g = dy + (i * ow + j) * c
            px = m[0] * j + m[1] * i + m[2]
            py = m[3] * j + m[4] * i + m[5]
            if far(px) or far(py):
                continue
            if interp == NEAREST:
                cc[0] = fill_index(<int64_t>floor(px + 0.5), w, mode)
                rr[0] = fill_index(<int64_t>floor(py + 0.5), h, mode)
                if cc[0] >= 0 and rr[0] >= 0:
                    d = dx + (rr[0] * w + cc[0]) * c
                    for ch in range(c):
                        d[ch] = d[ch] + g[ch]
                continue
            x0 = <int64_t>floor(px)
            y0 = <int64_t>floor(py)
            fx = px - x0
            fy = py - y0
            # the four neighbours: (y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)
            rr[0] = fill_index(y0, h, mode)
            rr[2] = fill_index(y0 + 1, h, mode)
            cc[0] = fill_index(x0, w, mode)
            cc[1] = fill_index(x0 + 1, w, mode)
            rr[1], rr[3], cc[2], cc[3] = rr[0], rr[2], cc[0], cc[1]
            wt[0] = <floating>((1 - fy) * (1 - fx))
            wt[1] = <floating>((1 - fy) * fx)
            wt[2] = <floating>(fy * (1 - fx))
            wt[3] = <floating>(fy * fx)
            for k in range(4):
                if rr[k] < 0 or cc[k] < 0:
                    continue
                d = dx + (rr[k] * w + cc[k]) * c
                for ch in range(c):
                    d[ch] = d[ch] + wt[k] * g[ch]


def affine_transform(const floating[:, :, :, ::1] x, const double[:, ::1] m,
                     floating[:, :, :, ::1] out, int interp, int mode, double fill_value,
                     int num_threads):
    """out[b] = x[b] resampled through the map in m[b] (see the module's docstring)."""
    cdef Py_ssize_t n = out.shape[0], oh = out.shape[1], ow = out.shape[2], c = out.shape[3]
    cdef Py_ssize_t h = x.shape[1], w = x.shape[2]
    cdef Py_ssize_t row, b, i
    cdef floating fill = <floating>fill_value
    if n == 0 or oh == 0 or ow == 0 or c == 0:
        return
    if h == 0 or w == 0:            # nothing to read: every point is outside
        out[...] = fill
        return
    cdef floating* zeros = <floating*>calloc(c, sizeof(floating))
    if zeros == NULL:
        raise MemoryError()
    try:
        with nogil:
            for row in prange(n * oh, num_threads=num_threads, schedule="static"):
                b = row // oh
                i = row - b * oh
                sample_row(&x[b, 0, 0, 0], &out[b, i, 0, 0], &m[b, 0], i, h, w, c, ow,
                           interp, mode, fill, zeros)
    finally:
        free(zeros)


def affine_transform_adjoint(const floating[:, :, :, ::1] dy, const double[:, ::1] m,
                             floating[:, :, :, ::1] dx, int interp, int mode,
                             int num_threads):
    """dx[b] = the adjoint of affine_transform's map (the gradient with respect to x of
    sum(dy * affine_transform(x))); dx is overwritten."""
    cdef Py_ssize_t n = dx.shape[0], h = dx.shape[1], w = dx.shape[2], c = dx.shape[3]
    cdef Py_ssize_t oh = dy.shape[1], ow = dy.shape[2]
    cdef Py_ssize_t b
    dx[...] = 0
    if n == 0 or h == 0 or w == 0 or c == 0 or oh == 0 or ow == 0:
        return
    with nogil:
        # images are independent: one thread per image writes its own dx[b]
        for b in prange(n, num_threads=num_threads, schedule="dynamic"):
            scatter_image(&dy[b, 0, 0, 0], &dx[b, 0, 0, 0], &m[b, 0], h, w, c, oh, ow,
                          interp, mode)
