# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Depthwise 2-D convolution kernels, NHWC: forward, input gradient and kernel gradient.

Each channel of x (n, h, w, c) is convolved with its own (kh, kw) taps, kernel (kh, kw, c),
with strides (sh, sw), dilation (dh, dw) and the first window at (-pad_top, -pad_left): tap
(i, j) of output pixel (oh, ow) reads x at row oh*sh - pad_top + i*dh, column ow*sw -
pad_left + j*dw, and taps that fall off the image read nothing (zero padding). A depth
multiplier m > 1 is the same convolution on x with each channel repeated m times
(fastconv._api.depthwise does that); these kernels see one output channel per input channel.

The channel loops are the micro-kernels of fc_depthwise.h; here, the geometry: which taps
reach which pixels, and runs of neighbouring pixels that share their taps. The input gradient
gathers (each input pixel sums the dy values that its taps reach) rather than scatters, so
the threads never write the same value and every result is independent of the thread count.
fastconv._api.depthwise has checked every argument before these run.
"""
from cython cimport floating
from cython.parallel cimport prange, parallel
from libc.stdlib cimport malloc, calloc, free

from fc_c cimport (fc_relu_mask_f32, fc_relu_mask_f64, fc_panel_width_f32, fc_panel_width_f64,
                   fc_gemm_f32, fc_gemm_f64, fc_pack_b_f32, fc_pack_b_f64)

include "fc_gemm_calls.pxi"


cdef extern from "fc_depthwise.h" nogil:
    int fc_simd_level
    int fc_simd_detect()
    int FC_DW_PIXELS
    void fc_dw_taps_f32(Py_ssize_t c, Py_ssize_t ntaps, const float* const* src,
                        Py_ssize_t sstep, const float* const* kp, const float* bias, int relu,
                        Py_ssize_t npix, float* dst, Py_ssize_t dstep)
    void fc_dw_taps_f64(Py_ssize_t c, Py_ssize_t ntaps, const double* const* src,
                        Py_ssize_t sstep, const double* const* kp, const double* bias,
                        int relu, Py_ssize_t npix, double* dst, Py_ssize_t dstep)
    void fc_dw3x3_f32(Py_ssize_t c, const float* const* rows, Py_ssize_t sw, Py_ssize_t pc,
                      const float* k, const float* bias, int relu, Py_ssize_t npix, float* dst,
                      Py_ssize_t dstep, int stream)
    void fc_dw3x3_f64(Py_ssize_t c, const double* const* rows, Py_ssize_t sw, Py_ssize_t pc,
                      const double* k, const double* bias, int relu, Py_ssize_t npix,
                      double* dst, Py_ssize_t dstep, int stream)
    void fc_dw_filter_f32(Py_ssize_t c, Py_ssize_t ntaps, const float* const* xp,
                          Py_ssize_t xstep, const float* dy, Py_ssize_t dystep,
                          Py_ssize_t npix, float* const* acc, float* db)
    void fc_dw_filter_f64(Py_ssize_t c, Py_ssize_t ntaps, const double* const* xp,
                          Py_ssize_t xstep, const double* dy, Py_ssize_t dystep,
                          Py_ssize_t npix, double* const* acc, double* db)


def set_simd_level(int level):
    """Select the instruction set of this module's vector paths (0 generic, 1 AVX2+FMA,
    2 AVX-512; fastconv._config keeps all modules alike). A level this CPU lacks is refused."""
    global fc_simd_level
    if level < 0 or level > fc_simd_detect():
        raise ValueError(f"set_simd_level: level must be 0 .. {fc_simd_detect()}, got {level}")
    fc_simd_level = level


cdef struct DwGeometry:
    # x (n, h, w, c) and y (n, oh, ow, c); kernel (kh, kw, c)
    Py_ssize_t n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pad_top, pad_left


cdef enum:
    # The kernel gradient's partial sums: output rows are dealt into at most this many groups
    # (the shapes alone decide how), each summing into its own accumulator; the groups are
    # then added in order, so the result does not depend on the thread count.
    MAX_GROUPS = 32


cdef inline void taps(Py_ssize_t c, Py_ssize_t ntaps, const floating** src, Py_ssize_t sstep,
                      const floating** kp, const floating* bias, bint relu, Py_ssize_t npix,
                      floating* dst, Py_ssize_t dstep) noexcept nogil:
    if floating is float:
        fc_dw_taps_f32(c, ntaps, src, sstep, kp, bias, relu, npix, dst, dstep)
    else:
        fc_dw_taps_f64(c, ntaps, src, sstep, kp, bias, relu, npix, dst, dstep)


cdef inline void taps3x3(Py_ssize_t c, const floating** rows, Py_ssize_t sw, Py_ssize_t pc,
                         const floating* k, const floating* bias, bint relu, Py_ssize_t npix,
                         floating* dst, Py_ssize_t dstep, bint stream) noexcept nogil:
    if floating is float:
        fc_dw3x3_f32(c, rows, sw, pc, k, bias, relu, npix, dst, dstep, stream)
    else:
        fc_dw3x3_f64(c, rows, sw, pc, k, bias, relu, npix, dst, dstep, stream)


cdef bint kernels_3x3 = True


def set_kernels_3x3(bint on):
    """Whether 3x3 layers take fc_dw3x3 where it applies (default); the other kernels give
    the same results. For tests and benchmarks. Returns the previous setting."""
    global kernels_3x3
    previous, kernels_3x3 = kernels_3x3, on
    return previous


cdef inline bint is_3x3(const DwGeometry* g, Py_ssize_t max_stride) noexcept nogil:
    # fc_dw3x3 runs the pixels whose 3x3 windows (dilation 1) lie inside the image
    return (kernels_3x3 and g.kh == 3 and g.kw == 3 and g.dh == 1 and g.dw == 1
            and g.sw <= max_stride)


cdef inline void filter_sums(Py_ssize_t c, Py_ssize_t ntaps, const floating** xp,
                             Py_ssize_t xstep, const floating* dy, Py_ssize_t dystep,
                             Py_ssize_t npix, floating** acc, floating* db) noexcept nogil:
    if floating is float:
        fc_dw_filter_f32(c, ntaps, xp, xstep, dy, dystep, npix, acc, db)
    else:
        fc_dw_filter_f64(c, ntaps, xp, xstep, dy, dystep, npix, acc, db)


cdef inline void tap_range(Py_ssize_t start, Py_ssize_t size, Py_ssize_t k, Py_ssize_t d,
                           Py_ssize_t* first, Py_ssize_t* end) noexcept nogil:
    # The taps t in [first, end) of a window starting at `start` whose position start + t*d
    # lies in [0, size).
    first[0] = 0 if start >= 0 else (-start + d - 1) // d
    end[0] = 0 if size - 1 - start < 0 else (size - 1 - start) // d + 1
    if end[0] > k:
        end[0] = k
    if first[0] > end[0]:
        first[0] = end[0]


cdef void column_taps(const DwGeometry* g, Py_ssize_t* jfirst, Py_ssize_t* jend) noexcept nogil:
    # each output column's taps inside the image: the same for every row
    cdef Py_ssize_t ow
    for ow in range(g.ow):
        tap_range(ow * g.sw - g.pad_left, g.w, g.kw, g.dw, &jfirst[ow], &jend[ow])


cdef void forward_row(const floating* x, const floating* k, const floating* bias,
                      floating* yrow, const DwGeometry* g, Py_ssize_t n, Py_ssize_t r,
                      bint relu, const Py_ssize_t* jfirst, const Py_ssize_t* jend,
                      const floating** src, const floating** kp, bint stream) noexcept nogil:
    # Output row (n, r), written from yrow on (ow pixels, c apart): its pixels in runs of
    # neighbours whose windows cover the same taps (all of them inside the image, or the
    # same ones clipped at an edge): a 3x3 layer's windows inside the image all in one call
    # of fc_dw3x3, the others in runs of up to FC_DW_PIXELS, src and kp listing the run's
    # first pixel's taps, row by row. stream: fc_dw3x3 stores around the caches.
    cdef Py_ssize_t top = r * g.sh - g.pad_top, left, i0, i1, i, j, ow = 0, npix, t
    cdef bint three = is_3x3(g, 2)
    tap_range(top, g.h, g.kh, g.dh, &i0, &i1)
    three = three and i0 == 0 and i1 == 3
    while ow < g.ow:
        npix = 1
        while (ow + npix < g.ow and jfirst[ow + npix] == jfirst[ow]
               and jend[ow + npix] == jend[ow]
               and (three or npix < FC_DW_PIXELS)):
            npix += 1
        left = ow * g.sw - g.pad_left
        if three and jend[ow] - jfirst[ow] == 3:
            # the whole run's windows inside the image: the 3x3 kernel, weights in registers
            for i in range(3):
                src[i] = x + ((n * g.h + top + i) * g.w + left) * g.c
            taps3x3(g.c, src, g.sw, g.c, k, bias, relu, npix, yrow + ow * g.c, g.c, stream)
            ow += npix
            continue
        if npix > FC_DW_PIXELS:
            npix = FC_DW_PIXELS
        t = 0
        for i in range(i0, i1):
            for j in range(jfirst[ow], jend[ow]):
                src[t] = x + ((n * g.h + top + i * g.dh) * g.w + left + j * g.dw) * g.c
                kp[t] = k + (i * g.kw + j) * g.c
                t += 1
        taps(g.c, t, src, g.sw * g.c, kp, bias, relu, npix, yrow + ow * g.c, g.c)
        ow += npix


cdef DwGeometry make_geometry(const Py_ssize_t* xs, const Py_ssize_t* ks, const Py_ssize_t* ys,
                              Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw,
                              Py_ssize_t pad_top, Py_ssize_t pad_left) noexcept:
    cdef DwGeometry g
    g.n, g.h, g.w, g.c = xs[0], xs[1], xs[2], xs[3]
    g.kh, g.kw = ks[0], ks[1]
    g.oh, g.ow = ys[1], ys[2]
    g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left = sh, sw, dh, dw, pad_top, pad_left
    return g


def depthwise_forward(const floating[:, :, :, ::1] x, const floating[:, :, ::1] kernel,
                      const floating[::1] bias, floating[:, :, :, ::1] y, Py_ssize_t sh,
                      Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pad_top,
                      Py_ssize_t pad_left, bint relu, int num_threads, bint stream=False):
    """y = the depthwise convolution of x with kernel (kh, kw, c), + bias (None: none), then
    ReLU if relu; every value of y (n, oh, ow, c) is written. stream: the 3x3 kernel stores
    y around the caches (for a y much larger than the last-level cache)."""
    cdef DwGeometry g = make_geometry(&x.shape[0], &kernel.shape[0], &y.shape[0], sh, sw, dh,
                                      dw, pad_top, pad_left)
    cdef Py_ssize_t u, ntaps = g.kh * g.kw
    cdef const floating* b = NULL
    cdef const floating** src
    cdef const floating** kp
    cdef Py_ssize_t* cols
    cdef int failed = 0
    cdef int* failed_p = &failed
    if g.n * g.oh * g.ow * g.c == 0:
        return
    if bias is not None:
        b = &bias[0]
    cols = <Py_ssize_t*>malloc(2 * g.ow * sizeof(Py_ssize_t))
    if cols == NULL:
        raise MemoryError()
    column_taps(&g, cols, cols + g.ow)
    with nogil, parallel(num_threads=num_threads):
        src = <const floating**>malloc(2 * ntaps * sizeof(floating*))
        kp = NULL
        if src == NULL:
            failed_p[0] = 1
        else:
            kp = src + ntaps
        for u in prange(g.n * g.oh, schedule='static'):      # neighbouring rows, one thread
            if src != NULL:
                forward_row(&x[0, 0, 0, 0], &kernel[0, 0, 0], b, &y[0, 0, 0, 0] + u * g.ow * g.c,
                            &g, u // g.oh, u % g.oh, relu, cols, cols + g.ow, src, kp, stream)
        free(src)
    free(cols)
    if failed:
        raise MemoryError()


def separable_forward(const floating[:, :, :, ::1] x, const floating[:, :, ::1] kernel,
                      const floating[:, ::1] pointwise, const floating[::1] bias,
                      floating[:, :, :, ::1] y, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t dh,
                      Py_ssize_t dw, Py_ssize_t pad_top, Py_ssize_t pad_left, bint relu,
                      int num_threads):
    """y = the depthwise convolution of x with kernel (kh, kw, c), times pointwise (c, f)
    at each pixel, + bias (None: none), then ReLU if relu; every value of y (n, oh, ow, f)
    is written. The depthwise rows of a few output rows go into a buffer of the thread's
    (L2-sized), which the GEMM multiplies by the packed pointwise kernel at once: the
    depthwise result never goes through memory."""
    cdef DwGeometry g = make_geometry(&x.shape[0], &kernel.shape[0], &y.shape[0], sh, sw, dh,
                                      dw, pad_top, pad_left)
    cdef Py_ssize_t f = pointwise.shape[1], c = g.c, u, i, nn, r0, m, ntaps = g.kh * g.kw
    cdef Py_ssize_t nr = panel_width(<floating*>NULL)
    # rows per unit: about 64 pixels for the GEMM, the buffer at most 256 KiB
    cdef Py_ssize_t rows = (64 + g.ow - 1) // g.ow if g.ow > 0 else 1
    cdef Py_ssize_t most = (256 * 1024) // (g.ow * c * sizeof(floating) + 1)
    cdef Py_ssize_t per_image, units
    cdef const floating* b = NULL
    cdef const floating** src
    cdef const floating** kp
    cdef floating* z
    cdef floating* bp
    cdef Py_ssize_t* cols
    cdef int failed = 0
    cdef int* failed_p = &failed
    if g.n * g.oh * g.ow * f == 0:
        return
    if rows > most:
        rows = most if most > 0 else 1
    if rows > g.oh:
        rows = g.oh
    per_image = (g.oh + rows - 1) // rows
    units = g.n * per_image
    if bias is not None:
        b = &bias[0]
    cols = <Py_ssize_t*>malloc(2 * g.ow * sizeof(Py_ssize_t))
    bp = <floating*>malloc(((f + nr - 1) // nr) * nr * c * sizeof(floating) + 1)
    if cols == NULL or bp == NULL:
        free(cols)
        free(bp)
        raise MemoryError()
    column_taps(&g, cols, cols + g.ow)
    pack_b(c, f, &pointwise[0, 0], f, 1, nr, bp)
    with nogil, parallel(num_threads=num_threads):
        src = <const floating**>malloc(2 * ntaps * sizeof(floating*))
        z = <floating*>malloc(rows * g.ow * c * sizeof(floating) + 1)
        kp = NULL
        if src == NULL or z == NULL:
            failed_p[0] = 1
        else:
            kp = src + ntaps
        for u in prange(units, schedule='static'):         # neighbouring rows, one thread
            if kp != NULL:
                nn = u // per_image
                r0 = (u % per_image) * rows
                m = g.oh - r0 if g.oh - r0 < rows else rows
                for i in range(m):
                    forward_row(&x[0, 0, 0, 0], &kernel[0, 0, 0], <const floating*>NULL,
                                z + i * g.ow * c, &g, nn, r0 + i, 0, cols, cols + g.ow, src,
                                kp, 0)
                gemm(m * g.ow, f, c, z, c, 1, bp, nr, &y[nn, r0, 0, 0], f, 0, b, relu)
        free(z)
        free(src)
    free(cols)
    free(bp)
    if failed:
        raise MemoryError()


cdef void input_grad_row(const floating* dy, const floating* k, floating* dx,
                         const DwGeometry* g, Py_ssize_t n, Py_ssize_t ih,
                         const Py_ssize_t* jlist, const Py_ssize_t* owlist,
                         const Py_ssize_t* jcount, Py_ssize_t* ilist, Py_ssize_t* ohlist,
                         const floating** src, const floating** kp,
                         const floating* kflip) noexcept nogil:
    # Input row (n, ih): each pixel sums dy over the output pixels whose windows cover it,
    # times the tap that covers it. ilist/ohlist: the kernel rows that reach this row and
    # their output rows; jlist/owlist (kw per input column, jcount of them valid): the same
    # for the columns. Pixels sw apart that share their kernel columns read neighbouring
    # output pixels: they go in runs of up to FC_DW_PIXELS.
    cdef Py_ssize_t i, ni = 0, num, iw, npix, t, a, b, q, r, lo = 0, hi = 0
    cdef const floating* rows[3]
    for i in range(g.kh):
        num = ih + g.pad_top - i * g.dh
        if num % g.sh == 0 and num >= 0 and num // g.sh < g.oh:
            ilist[ni] = i
            ohlist[ni] = num // g.sh
            ni += 1
    if kflip != NULL and ni == 3:
        # stride 1, 3x3: the pixels whose dy windows lie inside dy are a convolution of dy
        # with the kernel turned 180 degrees, by fc_dw3x3
        lo = 2 - g.pad_left if 2 - g.pad_left > 0 else 0
        hi = g.ow - g.pad_left if g.ow - g.pad_left < g.w else g.w
        if hi > lo:
            for a in range(3):
                rows[a] = dy + ((n * g.oh + ohlist[2 - a]) * g.ow + lo + g.pad_left - 2) * g.c
            taps3x3(g.c, rows, 1, g.c, kflip, <const floating*>NULL, 0, hi - lo,
                    dx + ((n * g.h + ih) * g.w + lo) * g.c, g.c, 0)
    for r in range(g.sw if g.sw < g.w else g.w):           # the columns iw = r (mod sw)
        iw = r
        while iw < g.w:
            if lo <= iw < hi:                                 # done above
                iw = hi
                continue
            npix = 1
            while npix < FC_DW_PIXELS and iw + npix * g.sw < g.w:
                q = iw + npix * g.sw                  # same columns, and the next outputs?
                if (lo <= q < hi) or jcount[q] != jcount[iw] or (jcount[iw] > 0 and (
                        jlist[q * g.kw] != jlist[iw * g.kw] or
                        owlist[q * g.kw] != owlist[iw * g.kw] + npix)):
                    break
                npix += 1
            t = 0
            for a in range(ni):
                for b in range(jcount[iw]):
                    src[t] = dy + ((n * g.oh + ohlist[a]) * g.ow + owlist[iw * g.kw + b]) * g.c
                    kp[t] = k + (ilist[a] * g.kw + jlist[iw * g.kw + b]) * g.c
                    t += 1
            taps(g.c, t, src, g.c, kp, <const floating*>NULL, 0, npix,
                 dx + ((n * g.h + ih) * g.w + iw) * g.c, g.sw * g.c)
            iw += npix * g.sw


cdef int relu_masked(const floating* dy, const floating* y, floating* out, Py_ssize_t size,
                     int num_threads) noexcept nogil:
    # out = dy where y > 0, else 0, in blocks shared by the threads
    cdef Py_ssize_t block = 1 << 16, nb = (size + block - 1) // block, u, m
    for u in prange(nb, schedule='static', num_threads=num_threads):
        m = size - u * block if size - u * block < block else block
        if floating is float:
            fc_relu_mask_f32(m, dy + u * block, y + u * block, out + u * block)
        else:
            fc_relu_mask_f64(m, dy + u * block, y + u * block, out + u * block)
    return 0


def depthwise_backward(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x,
                       const floating[:, :, ::1] kernel, floating[:, :, :, ::1] dx,
                       floating[:, :, ::1] dkernel, floating[::1] dbias, Py_ssize_t sh,
                       Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t pad_top,
                       Py_ssize_t pad_left, int num_threads,
                       const floating[:, :, :, ::1] relu_output=None):
    """The gradients of depthwise_forward: dx (None: not computed), dkernel and dbias, each
    written whole. With relu_output (the forward's y with ReLU), dy is masked by y > 0 first."""
    cdef DwGeometry g = make_geometry(&x.shape[0], &kernel.shape[0], &dy.shape[0], sh, sw, dh,
                                      dw, pad_top, pad_left)
    cdef Py_ssize_t size = g.n * g.oh * g.ow * g.c
    cdef floating* masked = NULL
    cdef const floating* d
    if g.n * g.h * g.w * g.c == 0 or size == 0:
        if dx is not None:
            dx[...] = 0
        dkernel[...] = 0
        dbias[...] = 0
        return
    d = &dy[0, 0, 0, 0]
    if relu_output is not None:
        masked = <floating*>malloc(size * sizeof(floating))
        if masked == NULL:
            raise MemoryError()
        with nogil:
            relu_masked(d, &relu_output[0, 0, 0, 0], masked, size, num_threads)
        d = masked
    try:
        filter_grad(d, &x[0, 0, 0, 0], &dkernel[0, 0, 0], &dbias[0], &g, num_threads)
        if dx is not None:
            input_grad(d, &kernel[0, 0, 0], &dx[0, 0, 0, 0], &g, num_threads)
    finally:
        free(masked)


cdef input_grad(const floating* d, const floating* k, floating* dx, const DwGeometry* g,
                int num_threads):
    cdef Py_ssize_t iw, j, num, nj, u, ntaps = g.kh * g.kw
    cdef Py_ssize_t* jlist = <Py_ssize_t*>malloc((2 * g.kw + 1) * g.w * sizeof(Py_ssize_t))
    cdef Py_ssize_t* owlist
    cdef Py_ssize_t* jcount
    cdef Py_ssize_t* rows
    cdef const floating** src
    cdef const floating** kp
    cdef int failed = 0
    cdef int* failed_p = &failed
    cdef floating* kflip = NULL
    if jlist == NULL:
        raise MemoryError()
    if is_3x3(g, 1) and g.sh == 1:
        kflip = <floating*>malloc(9 * g.c * sizeof(floating))
        if kflip == NULL:
            free(jlist)
            raise MemoryError()
        for j in range(9):
            for num in range(g.c):
                kflip[j * g.c + num] = k[(8 - j) * g.c + num]
    owlist = jlist + g.kw * g.w
    jcount = owlist + g.kw * g.w
    # each input column's kernel columns (and output columns): the same for every row
    for iw in range(g.w):
        nj = 0
        for j in range(g.kw):
            num = iw + g.pad_left - j * g.dw
            if num % g.sw == 0 and num >= 0 and num // g.sw < g.ow:
                jlist[iw * g.kw + nj] = j
                owlist[iw * g.kw + nj] = num // g.sw
                nj += 1
        jcount[iw] = nj
    with nogil, parallel(num_threads=num_threads):
        src = <const floating**>malloc(2 * ntaps * sizeof(floating*))
        kp = NULL
        rows = <Py_ssize_t*>malloc(2 * g.kh * sizeof(Py_ssize_t))
        if src == NULL or rows == NULL:
            failed_p[0] = 1
        else:
            kp = src + ntaps
        for u in prange(g.n * g.h, schedule='dynamic'):
            if src != NULL and rows != NULL:
                input_grad_row(d, k, dx, g, u // g.h, u % g.h, jlist, owlist, jcount, rows,
                               rows + g.kh, src, kp, kflip)
        free(src)
        free(rows)
    free(jlist)
    free(kflip)
    if failed:
        raise MemoryError()


cdef void filter_grad_rows(const floating* d, const floating* x, const DwGeometry* g,
                           Py_ssize_t u0, Py_ssize_t u1, const Py_ssize_t* jfirst,
                           const Py_ssize_t* jend, floating* acc, const floating** xp,
                           floating** ap) noexcept nogil:
    # Output rows u0 .. u1 - 1 (u = n * oh + r) into acc (kh * kw taps, then the bias's sums,
    # c values each): each run of pixels that share their taps in one call, which keeps the
    # taps' sums in registers along the run.
    cdef Py_ssize_t u, n, r, top, left, i0, i1, i, j, ow, npix, t
    for u in range(u0, u1):
        n = u // g.oh
        r = u % g.oh
        top = r * g.sh - g.pad_top
        tap_range(top, g.h, g.kh, g.dh, &i0, &i1)
        ow = 0
        while ow < g.ow:
            npix = 1
            while (ow + npix < g.ow and jfirst[ow + npix] == jfirst[ow]
                   and jend[ow + npix] == jend[ow]):
                npix += 1
            left = ow * g.sw - g.pad_left
            t = 0
            for i in range(i0, i1):
                for j in range(jfirst[ow], jend[ow]):
                    xp[t] = x + ((n * g.h + top + i * g.dh) * g.w + left + j * g.dw) * g.c
                    ap[t] = acc + (i * g.kw + j) * g.c
                    t += 1
            filter_sums(g.c, t, xp, g.sw * g.c, d + ((n * g.oh + r) * g.ow + ow) * g.c, g.c,
                        npix, ap, acc + g.kh * g.kw * g.c)
            ow += npix


cdef filter_grad(const floating* d, const floating* x, floating* dk, floating* db,
                 const DwGeometry* g, int num_threads):
    cdef Py_ssize_t rows = g.n * g.oh, groups = rows if rows < MAX_GROUPS else MAX_GROUPS
    cdef Py_ssize_t ntaps = g.kh * g.kw, stride = (ntaps + 1) * g.c, gi, e, q
    cdef floating* acc = <floating*>calloc(groups * stride + 1, sizeof(floating))
    cdef Py_ssize_t* cols
    cdef const floating** xp
    cdef floating** ap
    cdef floating s
    cdef int failed = 0
    cdef int* failed_p = &failed
    cols = <Py_ssize_t*>malloc(2 * g.ow * sizeof(Py_ssize_t) + 1)
    if acc == NULL or cols == NULL:
        free(acc)
        free(cols)
        raise MemoryError()
    column_taps(g, cols, cols + g.ow)
    with nogil, parallel(num_threads=num_threads):
        xp = <const floating**>malloc(ntaps * sizeof(floating*) + 1)
        ap = <floating**>malloc(ntaps * sizeof(floating*) + 1)
        if xp == NULL or ap == NULL:
            failed_p[0] = 1
        for gi in prange(groups, schedule='dynamic'):
            if xp != NULL and ap != NULL:
                filter_grad_rows(d, x, g, gi * rows // groups, (gi + 1) * rows // groups, cols,
                                 cols + g.ow, acc + gi * stride, xp, ap)
        free(xp)
        free(ap)
    free(cols)
    if not failed:
        with nogil:
            # the groups' sums added in group order: kernel taps, then the bias
            for e in prange(stride, schedule='static', num_threads=num_threads):
                s = 0
                for q in range(groups):
                    s = s + acc[q * stride + e]
                if e < ntaps * g.c:
                    dk[e] = s
                else:
                    db[e - ntaps * g.c] = s
    free(acc)
    if failed:
        raise MemoryError()
