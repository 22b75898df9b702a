# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""2-D max pooling kernels, NHWC, forward (optionally recording argmax) and backward.

A window's maximum is its first maximum in row-major order; NaN wins over any number, so NaN
propagates as in NumPy's max. Windows are clipped to the image: TensorFlow's "same" padding
never selects a padded position. fastconv._api has checked all arguments before these run.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset


cdef extern from "fc_pool.h" nogil:
    int fc_simd_level
    int fc_simd_detect()
    void fc_pool_codes_f32(Py_ssize_t c, Py_ssize_t npos, const float* const* xp,
                           const float* code, float* y, float* codes)
    void fc_pool_codes_f64(Py_ssize_t c, Py_ssize_t npos, const double* const* xp,
                           const double* code, double* y, double* codes)


def set_simd_level(int level):
    """Select the instruction set of this module's vector paths (0 generic, 1 AVX2+FMA,
    2 AVX-512; fastconv._config keeps all modules alike). A level this CPU lacks is refused."""
    global fc_simd_level
    if level < 0 or level > fc_simd_detect():
        raise ValueError(f"set_simd_level: level must be 0 .. {fc_simd_detect()}, got {level}")
    fc_simd_level = level


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
    MAX_WINDOW = 64     # window pixels the vector path for codes takes (fc_pool.h)


cdef inline void pool_codes(Py_ssize_t c, Py_ssize_t npos, const floating** xp,
                            const floating* code, floating* y, floating* codes) noexcept nogil:
    if floating is float:
        fc_pool_codes_f32(c, npos, xp, code, y, codes)
    else:
        fc_pool_codes_f64(c, npos, xp, code, y, codes)


cdef void pool_row(const floating* x, floating* y, int64_t* idx, const int64_t* offsets,
                   floating* codes, const PoolGeometry* g, Py_ssize_t n,
                   Py_ssize_t oh) noexcept nogil:
    # One output row (n, oh, :, :). Channels are the innermost, contiguous loop, and every
    # update is a branch-free select, so the loop vectorises; the window's pixels are visited
    # in row-major order. With indices, the winner's position in the (unclipped) window is
    # tracked as a value of the data's own type, in chunks of CHUNK channels, so that the
    # select stays one vector width; offsets[k] turns window position k into an image offset.
    # With codes instead of idx, the window position itself is stored (the layers' format).
    # Windows that lie inside the image go through the vector kernel (fc_pool.h), which
    # records codes only when asked; for idx, it records window positions CHUNK channels at a
    # time, which offsets[] turns into image positions.
    cdef Py_ssize_t ow, ih, iw, ch, c0, cc, ih0, ih1, iw0, iw1, top, left
    cdef const floating* xp       # the window's first pixel inside the image
    cdef const floating* xq
    cdef floating* yp
    cdef int64_t* ip
    cdef floating best[CHUNK]
    cdef floating where[CHUNK]
    cdef floating v, b, w, k, k0
    cdef bint take
    cdef const floating* wp[MAX_WINDOW]
    cdef floating code[MAX_WINDOW]
    cdef Py_ssize_t woff[MAX_WINDOW]       # window position p's offset from its first pixel
    cdef Py_ssize_t npos = g.ph * g.pw, p
    top = oh * g.sh - g.pad_top
    ih0 = top if top > 0 else 0
    ih1 = top + g.ph if top + g.ph < g.h else g.h
    if npos <= MAX_WINDOW:
        for p in range(npos):
            code[p] = <floating>p
            woff[p] = ((p // g.pw) * g.w + p % g.pw) * g.c
    for ow in range(g.ow):
        left = ow * g.sw - g.pad_left
        iw0 = left if left > 0 else 0
        iw1 = left + g.pw if left + g.pw < g.w else g.w
        yp = y + ((n * g.oh + oh) * g.ow + ow) * g.c
        xp = x + ((n * g.h + ih0) * g.w + iw0) * g.c
        if (npos <= MAX_WINDOW and ih0 == top and ih1 == top + g.ph
                and iw0 == left and iw1 == left + g.pw):
            # the whole window inside the image: window position p is code p
            if idx == NULL:
                for p in range(npos):
                    wp[p] = xp + woff[p]
                pool_codes(g.c, npos, wp, code, yp,
                           (codes + ((n * g.oh + oh) * g.ow + ow) * g.c) if codes != NULL
                           else NULL)
                continue
            c0 = 0
            while c0 < g.c:
                cc = g.c - c0 if g.c - c0 < CHUNK else CHUNK
                for p in range(npos):
                    wp[p] = xp + woff[p] + c0
                pool_codes(cc, npos, wp, code, yp + c0, where)
                ip = idx + ((n * g.oh + oh) * g.ow + ow) * g.c + c0
                for ch in range(cc):
                    ip[ch] = top * g.w + left + offsets[<Py_ssize_t>where[ch]]
                c0 += cc
            continue
        if idx == NULL and codes == NULL:
            for ch in range(g.c):
                yp[ch] = xp[ch]
            for ih in range(ih0, ih1):
                for iw in range(iw0, iw1):
                    xq = x + ((n * g.h + ih) * g.w + iw) * g.c
                    for ch in range(g.c):
                        v = xq[ch]
                        b = yp[ch]
                        yp[ch] = v if replaces(v, b) else b
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
                    xq = x + ((n * g.h + ih) * g.w + iw) * g.c + c0
                    k = <floating>((ih - top) * g.pw + iw - left)
                    for ch in range(cc):
                        # every operand loaded unconditionally: the selects vectorise
                        v = xq[ch]
                        b = best[ch]
                        w = where[ch]
                        take = replaces(v, b)
                        best[ch] = v if take else b
                        where[ch] = k if take else w
            for ch in range(cc):
                yp[c0 + ch] = best[ch]
            if codes != NULL:
                for ch in range(cc):
                    codes[((n * g.oh + oh) * g.ow + ow) * g.c + c0 + ch] = where[ch]
            else:
                for ch in range(cc):
                    idx[((n * g.oh + oh) * g.ow + ow) * g.c + c0 + ch] = \
                        top * g.w + left + offsets[<Py_ssize_t>where[ch]]
            c0 += cc


cdef int scatter_row(const floating* dy, const int64_t* idx, floating* dx,
                     const PoolGeometry* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    # dx[n, argmax] += dy for one output row; returns 1 if an index lies outside its window
    # (indices not made by max_pool2d for this geometry), leaving the rest of the row undone.
    # j, the index relative to the clipped window's corner, is split into (row, column) by
    # counting the window rows it reaches, not by division, and without branches: the argmax's
    # row is random, and a branch on it mispredicted half the time in 2x2 pooling.
    # The index is checked against the window's span before any signed arithmetic: any int64
    # may arrive here, and idx - origin overflows for values near INT64_MIN (undefined
    # behaviour, which would license the compiler to drop the check). The difference is taken
    # in unsigned arithmetic, which wraps by definition, so one unsigned comparison rejects
    # both ends.
    cdef Py_ssize_t ow, ch, ih0, ih1, iw0, iw1, r, o
    cdef int64_t j, dr, origin
    cdef uint64_t span, u
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
        origin = ih0 * g.w + iw0
        span = <uint64_t>((ih1 - ih0 - 1) * g.w + iw1 - iw0)    # > 0: windows are not empty
        for ch in range(g.c):
            u = <uint64_t>idx[o + ch] - <uint64_t>origin
            if u >= span:
                return 1
            j = <int64_t>u
            dr = 0
            for r in range(1, ih1 - ih0):
                dr += j >= r * g.w
            # dr < ih1 - ih0 by construction; beyond the last row, the column is >= w
            if j - dr * g.w >= iw1 - iw0:
                return 1
            dx[(n * g.h * g.w + origin + j) * g.c + ch] += dy[o + ch]
    return 0


cdef inline Py_ssize_t band_start(const PoolGeometry* g, Py_ssize_t oh) noexcept nogil:
    # Output row oh owns input rows [band_start, band_end) when windows do not overlap: from
    # its window's top to the next window's, the first and last bands reaching the image's
    # edges. (Returned by value: a prange body's variables are thread-private only when the
    # body assigns them itself.)
    cdef Py_ssize_t a = 0 if oh == 0 else oh * g.sh - g.pad_top
    return 0 if a < 0 else (g.h if a > g.h else a)


cdef inline Py_ssize_t band_end(const PoolGeometry* g, Py_ssize_t oh,
                                Py_ssize_t start) noexcept nogil:
    cdef Py_ssize_t b = g.h if oh == g.oh - 1 else (oh + 1) * g.sh - g.pad_top
    return start if b < start else (g.h if b > g.h else b)


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
            pool_row(&x[0, 0, 0, 0], &y[0, 0, 0, 0], ip, offsets, NULL, &g, r // g.oh,
                     r % g.oh)
    free(offsets)


def max_pool2d_backward(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] indices,
                        floating[:, :, :, ::1] dx, Py_ssize_t ph, Py_ssize_t pw,
                        Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pad_top, Py_ssize_t pad_left,
                        int num_threads):
    """dx = dy routed to each window's recorded argmax (image positions from
    max_pool2d_forward); every value of dx is written. Returns False if an index is not
    inside its window."""
    cdef PoolGeometry g = make_geometry(dx.shape, dy.shape, ph, pw, sh, sw, pad_top, pad_left)
    cdef bint ok
    if g.n * g.h * g.w * g.c == 0:
        return True
    with nogil:
        ok = route_gradients(&dy[0, 0, 0, 0], &indices[0, 0, 0, 0], NULL, &dx[0, 0, 0, 0], &g,
                             num_threads)
    return ok


def max_pool2d_forward_codes(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                             floating[:, :, :, ::1] codes, Py_ssize_t ph, Py_ssize_t pw,
                             Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pad_top,
                             Py_ssize_t pad_left, int num_threads):
    """y = window maxima; codes (y's shape) = each maximum's position in its unclipped window,
    row-major (kh * pw + kw), as a value of x's type: the compact argmax the layers keep."""
    cdef PoolGeometry g = make_geometry(x.shape, y.shape, ph, pw, sh, sw, pad_top, pad_left)
    cdef Py_ssize_t r
    if g.n * g.oh * g.ow * g.c == 0:
        return
    with nogil:
        for r in prange(g.n * g.oh, schedule='static', num_threads=num_threads):
            pool_row(&x[0, 0, 0, 0], &y[0, 0, 0, 0], NULL, NULL, &codes[0, 0, 0, 0], &g,
                     r // g.oh, r % g.oh)


cdef void fill_window_row(const floating* dy, const floating* codes, floating* dx,
                          const PoolGeometry* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    # Non-overlapping windows: dx at each pixel of output row oh's windows is dy where that
    # pixel's window position equals the recorded code, else 0 (branch-free, vectorised).
    cdef Py_ssize_t ow, ih, iw, ch, top, left, o
    cdef floating k, v
    cdef const floating* cp
    cdef const floating* dp
    cdef floating* xp
    top = oh * g.sh - g.pad_top
    for ow in range(g.ow):
        left = ow * g.sw - g.pad_left
        o = ((n * g.oh + oh) * g.ow + ow) * g.c
        cp = codes + o
        dp = dy + o
        for ih in range(top if top > 0 else 0, top + g.ph if top + g.ph < g.h else g.h):
            for iw in range(left if left > 0 else 0, left + g.pw if left + g.pw < g.w else g.w):
                k = <floating>((ih - top) * g.pw + iw - left)
                xp = dx + ((n * g.h + ih) * g.w + iw) * g.c
                for ch in range(g.c):
                    v = dp[ch]          # loaded unconditionally, so that the select vectorises
                    xp[ch] = v if cp[ch] == k else 0


cdef int add_window_row(const floating* dy, const floating* codes, floating* dx,
                        const PoolGeometry* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    # Overlapping windows: dx[pixel at the recorded code] += dy; returns 1 on a code that is
    # not a pixel of its window.
    cdef Py_ssize_t ow, ch, top, left, o, k, ih, iw
    top = oh * g.sh - g.pad_top
    for ow in range(g.ow):
        left = ow * g.sw - g.pad_left
        o = ((n * g.oh + oh) * g.ow + ow) * g.c
        for ch in range(g.c):
            # range first: casting NaN or an out-of-range value to an integer is undefined
            if not (0 <= codes[o + ch] < g.ph * g.pw):
                return 1
            k = <Py_ssize_t>codes[o + ch]
            if k != codes[o + ch]:
                return 1
            ih = top + k // g.pw
            iw = left + k % g.pw
            if ih < 0 or ih >= g.h or iw < 0 or iw >= g.w:
                return 1
            dx[((n * g.h + ih) * g.w + iw) * g.c + ch] += dy[o + ch]
    return 0


cdef bint route_gradients(const floating* dy, const int64_t* idx, const floating* codes,
                          floating* dx, const PoolGeometry* g, int num_threads) noexcept nogil:
    # dx = dy sent to each window's maximum, recorded either as image positions (idx) or as
    # window positions (codes); False if one lies outside its window. When windows do not
    # overlap (strides at least the pool), output row oh owns a band of input rows
    # (band_start/band_end), which its thread zeroes and fills while they are in cache; codes
    # write every pixel of their windows, so where windows tile the band exactly there is
    # nothing to zero. Overlapping windows may send two gradients to one pixel, so rows then
    # go to threads by image. (Every variable the prange bodies use is assigned in them, and
    # so private to each thread.)
    cdef Py_ssize_t r, n, oh, r0, r1, row = g.w * g.c
    cdef int bad = 0
    cdef int* bad_p = &bad
    cdef bint tiled = (codes != NULL and g.sh == g.ph and g.sw == g.pw and g.pad_top == 0
                       and g.pad_left == 0 and g.ow * g.sw == g.w)
    if g.sh >= g.ph and g.sw >= g.pw:
        for r in prange(g.n * g.oh, schedule='static', num_threads=num_threads):
            n = r // g.oh
            oh = r % g.oh
            r0 = band_start(g, oh)
            r1 = band_end(g, oh, r0)
            if not (tiled and r1 - r0 == g.ph):
                memset(dx + (n * g.h + r0) * row, 0, (r1 - r0) * row * sizeof(floating))
            if codes != NULL:
                fill_window_row(dy, codes, dx, g, n, oh)
            elif scatter_row(dy, idx, dx, g, n, oh):
                bad_p[0] = 1
    else:
        for n in prange(g.n, schedule='static', num_threads=num_threads):
            memset(dx + n * g.h * row, 0, g.h * row * sizeof(floating))
            for oh in range(g.oh):
                if codes != NULL:
                    if add_window_row(dy, codes, dx, g, n, oh):
                        bad_p[0] = 1
                elif scatter_row(dy, idx, dx, g, n, oh):
                    bad_p[0] = 1
    return not bad


def max_pool2d_backward_codes(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] codes,
                              floating[:, :, :, ::1] dx, Py_ssize_t ph, Py_ssize_t pw,
                              Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pad_top,
                              Py_ssize_t pad_left, int num_threads):
    """dx = dy routed through codes from max_pool2d_forward_codes; every value of dx is
    written. Returns False if a code is not a pixel of its window (checked where windows
    overlap; elsewhere such a gradient is dropped)."""
    cdef PoolGeometry g = make_geometry(dx.shape, dy.shape, ph, pw, sh, sw, pad_top, pad_left)
    cdef bint ok
    if g.n * g.h * g.w * g.c == 0:
        return True
    with nogil:
        ok = route_gradients(&dy[0, 0, 0, 0], NULL, &codes[0, 0, 0, 0], &dx[0, 0, 0, 0], &g,
                             num_threads)
    return ok
