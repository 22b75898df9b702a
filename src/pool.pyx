# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""2-D max pooling kernels, NHWC, forward (optionally recording argmax) and backward.

A window's maximum is its first maximum in row-major order; NaN wins over any number, so NaN
propagates as in NumPy's max. Windows are clipped to the image: TensorFlow's "same" padding
never selects a padded position. fastconv._api has checked all arguments before these run.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset


cdef struct PoolGeometry:
    # x (n, h, w, c) pooled by (ph, pw) windows with strides (sh, sw) gives y (n, oh, ow, c)
    Py_ssize_t n, h, w, c, oh, ow, ph, pw, sh, sw, pad_top, pad_left


cdef PoolGeometry make_geometry(const Py_ssize_t* xs, const Py_ssize_t* ys, Py_ssize_t ph,
                                Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
                                Py_ssize_t pad_top, Py_ssize_t pad_left) noexcept:
    cdef PoolGeometry g
    g.n, g.h, g.w, g.c = xs[0], xs[1], xs[2], xs[3]
    g.oh, g.ow = ys[1], ys[2]
    g.ph, g.pw, g.sh, g.sw, g.pad_top, g.pad_left = ph, pw, sh, sw, pad_top, pad_left
    return g


cdef inline bint replaces(floating v, floating best) noexcept nogil:
    # v becomes the window's maximum: strictly larger, or the first NaN. Bitwise operators,
    # not `or`/`and`: no short-circuit branches, so the channel loops vectorise.
    return (v > best) | ((v != v) & (best == best))


cdef enum:
    CHUNK = 64      # channels per pass when recording indices (local arrays on the stack)


cdef void pool_row(const floating* x, floating* y, int64_t* idx, const int64_t* offsets,
                   const PoolGeometry* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    # One output row (n, oh, :, :). Channels are the innermost, contiguous loop, and every
    # update is a branch-free select, so the loop vectorises; the window's pixels are visited
    # in row-major order. With indices, the winner's position in the (unclipped) window is
    # tracked as a value of the data's own type, in chunks of CHUNK channels, so that the
    # select stays one vector width; offsets[k] turns window position k into an image offset.
    cdef Py_ssize_t ow, ih, iw, ch, c0, cc, ih0, ih1, iw0, iw1, top, left
    cdef const floating* xp
    cdef floating* yp
    cdef floating best[CHUNK]
    cdef floating where[CHUNK]
    cdef floating v, k, k0
    cdef bint take
    top = oh * g.sh - g.pad_top
    ih0 = top if top > 0 else 0
    ih1 = top + g.ph if top + g.ph < g.h else g.h
    for ow in range(g.ow):
        left = ow * g.sw - g.pad_left
        iw0 = left if left > 0 else 0
        iw1 = left + g.pw if left + g.pw < g.w else g.w
        yp = y + ((n * g.oh + oh) * g.ow + ow) * g.c
        xp = x + ((n * g.h + ih0) * g.w + iw0) * g.c
        if idx == NULL:
            for ch in range(g.c):
                yp[ch] = xp[ch]
            for ih in range(ih0, ih1):
                for iw in range(iw0, iw1):
                    xp = x + ((n * g.h + ih) * g.w + iw) * g.c
                    for ch in range(g.c):
                        v = xp[ch]
                        yp[ch] = v if replaces(v, yp[ch]) else yp[ch]
            continue
        k0 = <floating>((ih0 - top) * g.pw + iw0 - left)
        c0 = 0
        while c0 < g.c:
            cc = g.c - c0 if g.c - c0 < CHUNK else CHUNK
            for ch in range(cc):
                best[ch] = xp[c0 + ch]
                where[ch] = k0
            for ih in range(ih0, ih1):
                for iw in range(iw0, iw1):
                    xp = x + ((n * g.h + ih) * g.w + iw) * g.c + c0
                    k = <floating>((ih - top) * g.pw + iw - left)
                    for ch in range(cc):
                        v = xp[ch]
                        take = replaces(v, best[ch])
                        best[ch] = v if take else best[ch]
                        where[ch] = k if take else where[ch]
            for ch in range(cc):
                yp[c0 + ch] = best[ch]
                idx[((n * g.oh + oh) * g.ow + ow) * g.c + c0 + ch] = \
                    top * g.w + left + offsets[<Py_ssize_t>where[ch]]
            c0 += cc


cdef int scatter_row(const floating* dy, const int64_t* idx, floating* dx,
                     const PoolGeometry* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    # dx[n, argmax] += dy for one output row; returns 1 if an index lies outside its window
    # (indices not made by max_pool2d for this geometry), leaving the rest of the row undone.
    # The index is split into (row, column) by trying the window's few rows, not by division.
    cdef Py_ssize_t ow, ch, ih0, ih1, iw0, iw1, ih, o
    cdef int64_t j
    ih0 = oh * g.sh - g.pad_top
    ih1 = ih0 + g.ph
    if ih0 < 0:
        ih0 = 0
    if ih1 > g.h:
        ih1 = g.h
    for ow in range(g.ow):
        iw0 = ow * g.sw - g.pad_left
        iw1 = iw0 + g.pw
        if iw0 < 0:
            iw0 = 0
        if iw1 > g.w:
            iw1 = g.w
        o = ((n * g.oh + oh) * g.ow + ow) * g.c
        for ch in range(g.c):
            j = idx[o + ch] - ih0 * g.w
            ih = ih0
            while ih < ih1 and not (iw0 <= j < iw1):
                j -= g.w
                ih += 1
            if ih == ih1:
                return 1
            dx[((n * g.h + ih) * g.w + j) * g.c + ch] += dy[o + ch]
    return 0


def max_pool2d_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                       int64_t[:, :, :, ::1] indices, Py_ssize_t ph, Py_ssize_t pw,
                       Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pad_top, Py_ssize_t pad_left,
                       int num_threads):
    """y = window maxima of x; indices (same shape as y, or None) get ih * w + iw of each.

    Window positions are carried as floating values, exact below 2**24 (float32): the caller
    keeps ph * pw below that.
    """
    cdef PoolGeometry g = make_geometry(x.shape, y.shape, ph, pw, sh, sw, pad_top, pad_left)
    cdef Py_ssize_t r, kk
    cdef int64_t* ip = NULL
    cdef int64_t* offsets = NULL
    if g.n * g.oh * g.ow * g.c == 0:
        return
    if indices is not None:
        ip = &indices[0, 0, 0, 0]
        offsets = <int64_t*>malloc(ph * pw * sizeof(int64_t))
        if offsets == NULL:
            raise MemoryError()
        for kk in range(ph * pw):
            offsets[kk] = (kk // pw) * g.w + kk % pw
    with nogil:
        for r in prange(g.n * g.oh, schedule='static', num_threads=num_threads):
            pool_row(&x[0, 0, 0, 0], &y[0, 0, 0, 0], ip, offsets, &g, r // g.oh, r % g.oh)
    free(offsets)


def max_pool2d_backward(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] indices,
                        floating[:, :, :, ::1] dx, Py_ssize_t ph, Py_ssize_t pw,
                        Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pad_top, Py_ssize_t pad_left,
                        int num_threads):
    """dx = dy routed to each window's recorded argmax; every value of dx is written.

    Returns False if an index is not inside its window. When windows do not overlap (strides
    at least the pool), output row oh owns the band of input rows from its window's top to
    the next one's, which its thread zeroes and fills while they are in cache; the first and
    last bands reach the image's edges. Overlapping windows may send two gradients to one
    pixel, so rows then go to threads by image.
    """
    cdef PoolGeometry g = make_geometry(dx.shape, dy.shape, ph, pw, sh, sw, pad_top, pad_left)
    cdef Py_ssize_t r, n, oh, r0, r1, row = g.w * g.c
    cdef int bad = 0
    cdef int* bad_p = &bad
    if g.n * g.h * row == 0:
        return True
    with nogil:
        if sh >= ph and sw >= pw:
            for r in prange(g.n * g.oh, schedule='static', num_threads=num_threads):
                n = r // g.oh
                oh = r % g.oh
                r0 = 0 if oh == 0 else oh * g.sh - g.pad_top
                r1 = g.h if oh == g.oh - 1 else (oh + 1) * g.sh - g.pad_top
                r0 = 0 if r0 < 0 else (g.h if r0 > g.h else r0)
                r1 = r0 if r1 < r0 else (g.h if r1 > g.h else r1)
                memset(&dx[0, 0, 0, 0] + (n * g.h + r0) * row, 0,
                       (r1 - r0) * row * sizeof(floating))
                if scatter_row(&dy[0, 0, 0, 0], &indices[0, 0, 0, 0], &dx[0, 0, 0, 0], &g,
                               n, oh):
                    bad_p[0] = 1
        else:
            for n in prange(g.n, schedule='static', num_threads=num_threads):
                memset(&dx[0, 0, 0, 0] + n * g.h * row, 0, g.h * row * sizeof(floating))
                for oh in range(g.oh):
                    if scatter_row(&dy[0, 0, 0, 0], &indices[0, 0, 0, 0], &dx[0, 0, 0, 0],
                                   &g, n, oh):
                        bad_p[0] = 1
    return not bad
