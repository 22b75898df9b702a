# The direct convolution (implicit GEMM on gathered tiles), forward and both gradients:
# included by src/conv.pyx (one compiled module, fastconv._conv).

cdef struct ConvGeometry:
    # x (n, h, w, c) convolved with a (kh, kw, c, f) kernel gives y (n, oh, ow, f)
    Py_ssize_t n, h, w, c, kh, kw, f, oh, ow
    Py_ssize_t sh, sw, pad_top, pad_left


# Tiles are groups of output pixels; gradient sums over pixels go through this many
# accumulators at most, whatever the thread count, so results do not depend on it.
cdef enum:
    MAX_GROUPS = 16
    MIN_GROUP_TILES = 4

# The kernel gradients' accumulators (one per group) take at most this many bytes together,
# or one group's if that is more (an accumulator is about the size of the gradient itself):
# fewer groups then, the shapes alone deciding, and the threads share out blocks of columns
# (filters) instead. Without it, 1024 x 1024 channels took 16 accumulators, 1.2 GB in float64.
cdef Py_ssize_t ACC_BUDGET = 64 * 1024 * 1024


def set_accumulator_budget(Py_ssize_t nbytes):
    """Set the kernel gradients' accumulator budget in bytes (tests make it small to reach
    the column-blocked path on small shapes); returns the previous one."""
    global ACC_BUDGET
    previous = ACC_BUDGET
    ACC_BUDGET = nbytes if nbytes > 0 else 1
    return previous


cdef inline Py_ssize_t budget_groups(Py_ssize_t groups, Py_ssize_t stride,
                                     Py_ssize_t itemsize) noexcept nogil:
    # groups, or fewer (at least 1) so that groups accumulators of stride values fit ACC_BUDGET
    cdef Py_ssize_t most = ACC_BUDGET // (stride * itemsize if stride > 0 else 1)
    if most < 1:
        most = 1
    return groups if groups < most else most


cdef inline Py_ssize_t column_blocks(Py_ssize_t groups, Py_ssize_t panels,
                                     int num_threads) noexcept nogil:
    # Blocks of a gradient's panels of columns, so that groups x blocks units keep every
    # thread busy (about 2 units each) while a block stays 2 panels or wider. Splitting the
    # columns changes no sum (each column is summed over the same tiles in the same order),
    # so it may depend on the thread count.
    cdef Py_ssize_t blocks = (2 * num_threads + groups - 1) // groups
    if blocks > panels // 2:
        blocks = panels // 2
    return blocks if blocks > 1 else 1



cdef inline Py_ssize_t tile_rows(Py_ssize_t k, Py_ssize_t itemsize) noexcept nogil:
    # Rows of one gathered tile: about 128 KiB, so the tile stays in L2 beside one B panel,
    # between 6 and 192 rows, a multiple of the micro-kernel's 6.
    cdef Py_ssize_t m = (128 * 1024) // (k * itemsize if k > 0 else 1)
    m = (m // FC_TILE_ROWS) * FC_TILE_ROWS
    if m < FC_TILE_ROWS:
        m = FC_TILE_ROWS
    if m > 32 * FC_TILE_ROWS:
        m = 32 * FC_TILE_ROWS
    return m


cdef inline void next_pixel(const ConvGeometry* g, Py_ssize_t* n, Py_ssize_t* oh,
                            Py_ssize_t* ow) noexcept nogil:
    # (n, oh, ow) of the next output pixel in row-major order
    ow[0] += 1
    if ow[0] == g.ow:
        ow[0] = 0
        oh[0] += 1
        if oh[0] == g.oh:
            oh[0] = 0
            n[0] += 1


cdef inline void copy(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fc_copy_f32(dst, src, n)
    else:
        fc_copy_f64(dst, src, n)


cdef void gather_windows(const floating* x, const ConvGeometry* g, Py_ssize_t p0,
                         Py_ssize_t m, floating* a) noexcept nogil:
    # im2col rows for output pixels p0 .. p0+m (flat over n, oh, ow): row i holds the
    # (kh, kw, c) window of pixel p0+i, zeros where it hangs over the padding. Each kernel
    # row is KW*C contiguous values of x, copied whole when it lies inside the image.
    # (n, oh, ow) advance with the row instead of being divided out of p each time.
    cdef Py_ssize_t i, kh, kw, ih, iw0
    cdef Py_ssize_t ow = p0 % g.ow, oh = (p0 // g.ow) % g.oh, n = p0 // (g.ow * g.oh)
    cdef Py_ssize_t c = g.c, seg = g.kw * g.c, k = g.kh * g.kw * g.c
    cdef floating* dst
    cdef const floating* src
    for i in range(m):
        dst = a + i * k
        iw0 = ow * g.sw - g.pad_left
        for kh in range(g.kh):
            ih = oh * g.sh - g.pad_top + kh
            src = x + ((n * g.h + ih) * g.w + iw0) * c
            if ih < 0 or ih >= g.h:
                memset(dst, 0, seg * sizeof(floating))
            elif iw0 >= 0 and iw0 + g.kw <= g.w:
                copy(dst, src, seg)
            else:
                for kw in range(g.kw):
                    if iw0 + kw < 0 or iw0 + kw >= g.w:
                        memset(dst + kw * c, 0, c * sizeof(floating))
                    else:
                        copy(dst + kw * c, src + kw * c, c)
            dst += seg
        next_pixel(g, &n, &oh, &ow)


cdef inline void add(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fc_add_f32(n, dst, src)
    else:
        fc_add_f64(n, dst, src)


cdef void scatter_windows(const floating* d, const ConvGeometry* g, Py_ssize_t p0,
                          Py_ssize_t m, floating* dx) noexcept nogil:
    # col2im, the adjoint of gather_windows: dx[window of output pixel p0+i] += row i of d,
    # dropping what falls on the padding. The channel loop is contiguous and vectorises.
    # A window row's pixels are consecutive in dx, so the part of it inside the image is one
    # run of values.
    cdef Py_ssize_t i, kh, ih, iw, kw0, kw1, c = g.c
    cdef Py_ssize_t ow = p0 % g.ow, oh = (p0 // g.ow) % g.oh, n = p0 // (g.ow * g.oh)
    cdef Py_ssize_t seg = g.kw * g.c, k = g.kh * g.kw * g.c
    cdef const floating* src
    for i in range(m):
        src = d + i * k
        iw = ow * g.sw - g.pad_left
        kw0 = -iw if iw < 0 else 0
        kw1 = g.w - iw if g.w - iw < g.kw else g.kw
        for kh in range(g.kh):
            ih = oh * g.sh - g.pad_top + kh
            if 0 <= ih < g.h and kw0 < kw1:
                add(dx + ((n * g.h + ih) * g.w + iw + kw0) * c, src + kw0 * c, (kw1 - kw0) * c)
            src += seg
        next_pixel(g, &n, &oh, &ow)


cdef inline void rows_panel(Py_ssize_t nseg, Py_ssize_t seg_len, Py_ssize_t seg_stride,
                            const floating** rows, Py_ssize_t mr, Py_ssize_t nr,
                            const floating* panel, Py_ssize_t pw, floating* c, Py_ssize_t ldc,
                            const floating* bias, int relu) noexcept nogil:
    # nr of the panel's pw columns used
    if floating is float:
        fc_rows_panel_f32(nseg, seg_len, seg_stride, rows, mr, nr, panel, pw, c, ldc, bias,
                          relu)
    else:
        fc_rows_panel_f64(nseg, seg_len, seg_stride, rows, mr, nr, panel, pw, c, ldc, bias,
                          relu)


cdef enum:
    MAX_TILE = 192      # tile_rows' upper bound
    MAX_BLOCKS = 64     # blocks of at least 3 rows in a tile


cdef void forward_tile(const floating* x, const floating* bp, const floating* bias,
                       floating* y, const ConvGeometry* g, Py_ssize_t p0, Py_ssize_t m,
                       int relu, floating* a, Py_ssize_t nr) noexcept nogil:
    # Output pixels p0 .. p0+m in micro-kernel blocks of rows. A block whose windows all lie
    # inside the image is read straight from x (implicit GEMM: a window is KH runs of KW*C
    # values, W*C apart); a block touching the padding is gathered into `a` first. Then panel
    # by panel of the kernel (one panel stays in L1 while every block passes), block by block.
    # bp: the kernel packed in panels of nr columns.
    cdef Py_ssize_t k = g.kh * g.kw * g.c, f = g.f, block = fc_block_rows()
    cdef Py_ssize_t i = 0, r, mr, ih0, iw0, nb = 0, j, bi
    cdef Py_ssize_t ow = p0 % g.ow, oh = (p0 // g.ow) % g.oh, n = p0 // (g.ow * g.oh)
    cdef const floating* rows[MAX_TILE]
    cdef bint inside[MAX_BLOCKS]
    while i < m:
        mr = block if m - i > block else m - i
        inside[nb] = True
        for r in range(mr):
            ih0 = oh * g.sh - g.pad_top
            iw0 = ow * g.sw - g.pad_left
            if ih0 < 0 or ih0 + g.kh > g.h or iw0 < 0 or iw0 + g.kw > g.w:
                inside[nb] = False
            else:
                rows[i + r] = x + ((n * g.h + ih0) * g.w + iw0) * g.c
            next_pixel(g, &n, &oh, &ow)
        if not inside[nb]:
            gather_windows(x, g, p0 + i, mr, a + i * k)
            for r in range(mr):
                rows[i + r] = a + (i + r) * k
        i += mr
        nb += 1
    j = 0
    while j < f:
        i = 0
        bi = 0
        while i < m:
            mr = block if m - i > block else m - i
            if inside[bi]:
                rows_panel(g.kh, g.kw * g.c, g.w * g.c, &rows[i], mr,
                           f - j if f - j < nr else nr, bp + (j // nr) * k * nr, nr,
                           y + (p0 + i) * f + j, f, bias + j, relu)
            else:
                rows_panel(1, k, 0, &rows[i], mr, f - j if f - j < nr else nr,
                           bp + (j // nr) * k * nr, nr, y + (p0 + i) * f + j, f, bias + j,
                           relu)
            i += mr
            bi += 1
        j += nr


cdef inline void relu_mask(Py_ssize_t n, const floating* dy, const floating* y,
                           floating* out) noexcept nogil:
    # out = dy where y > 0, else 0 (NaN in y counts as not > 0), without branches.
    if floating is float:
        fc_relu_mask_f32(n, dy, y, out)
    else:
        fc_relu_mask_f64(n, dy, y, out)


cdef inline void pack_rows(Py_ssize_t m, Py_ssize_t f, Py_ssize_t ld, const floating* dy,
                           const floating* y, floating* dyp, Py_ssize_t nr,
                           floating* db) noexcept nogil:
    # m rows of dy (m x f) packed into panels, as fc_pack_b does, with their column sums
    # added to db (ldw values long). With y (the ReLU's output), dy is masked by y > 0 on the
    # way: the ReLU's derivative costs no pass of its own.
    if floating is float:
        fc_pack_dy_f32(m, f, ld, dy, y, dyp, nr, db)
    else:
        fc_pack_dy_f64(m, f, ld, dy, y, dyp, nr, db)


cdef void filter_grad_tiles(const floating* x, const floating* dy, const floating* y,
                            const ConvGeometry* g, Py_ssize_t mt, Py_ssize_t t0, Py_ssize_t t1,
                            Py_ssize_t j0, Py_ssize_t j1, floating* dw, Py_ssize_t ldw,
                            floating* db, floating* a, floating* dyp,
                            Py_ssize_t nr) noexcept nogil:
    # Columns j0 .. j1 (filters; j0 a multiple of nr, j1 too or f) of dw (K x F, row stride
    # ldw) = im2col(x)^T @ dy and of db = column sums of dy, over tiles t0 .. t1 in order (dy
    # masked by y > 0 if y): the first tile writes them, the others add. The im2col tile is
    # read transposed (row stride 1, column stride K); dy's tiles are packed in panels of nr
    # columns (ldw a multiple of nr).
    cdef Py_ssize_t k = g.kh * g.kw * g.c, f = g.f, p = g.n * g.oh * g.ow
    cdef Py_ssize_t t, p0, m, j, w = j1 - j0
    for j in range(j0, (j1 + nr - 1) // nr * nr):
        db[j] = 0
    for t in range(t0, t1):
        p0 = t * mt
        m = mt if p - p0 > mt else p - p0
        gather_windows(x, g, p0, m, a)
        pack_rows(m, w, f, dy + p0 * f + j0, (y + p0 * f + j0) if y != NULL else NULL, dyp,
                  nr, db + j0)
        gemm(k, w, m, a, 1, k, dyp, nr, dw + j0, ldw, t > t0, NULL, 0)


cdef void sum_groups(const floating* acc, Py_ssize_t groups, Py_ssize_t stride,
                     Py_ssize_t n, floating* out) noexcept nogil:
    # out[j] = sum over groups of acc[group * stride + j], added in group order from 0 (the
    # loop over j inside, so that it runs on vectors)
    cdef Py_ssize_t j, gi
    cdef const floating* src
    for j in range(n):
        out[j] = 0
    for gi in range(groups):
        src = acc + gi * stride
        for j in range(n):
            out[j] = out[j] + src[j]


cdef inline Py_ssize_t unit_pixel(const ConvGeometry* g, Py_ssize_t u, Py_ssize_t pairs,
                                  Py_ssize_t bands, Py_ssize_t per_unit, Py_ssize_t band,
                                  bint end) noexcept nogil:
    # First output pixel (or, with end, one past the last) of work unit u's band: unit u covers
    # images u // pairs * per_unit .. + per_unit (fewer at the end) and, of each, the output
    # rows of band `band` (2 * (u % pairs), or one more for the odd pass). Returned by value:
    # a prange body's variables are thread-private only when the body assigns them itself.
    cdef Py_ssize_t img = (u // pairs) * per_unit
    if end:
        img = img + per_unit if img + per_unit < g.n else g.n
        return ((img - 1) * g.oh + (band + 1) * g.oh // bands) * g.ow
    return (img * g.oh + band * g.oh // bands) * g.ow


cdef void input_grad_band(const floating* dy, const floating* y, const floating* bp,
                          floating* dx, const ConvGeometry* g, Py_ssize_t p0,
                          Py_ssize_t p_end, Py_ssize_t mt, floating* d,
                          floating* masked, Py_ssize_t nr) noexcept nogil:
    # dx += col2im(dy[p0:p_end] @ kernel^T) for output pixels p0 .. p_end, in tiles of mt
    # pixels taken in order. dy rows are the GEMM's A as they are, or, with y, copied masked
    # by y > 0 into `masked`.
    cdef Py_ssize_t k = g.kh * g.kw * g.c, f = g.f, i
    cdef Py_ssize_t m
    cdef const floating* rows
    while p0 < p_end:
        m = mt if p_end - p0 > mt else p_end - p0
        rows = dy + p0 * f
        if y != NULL:
            relu_mask(m * f, rows, y + p0 * f, masked)
            rows = masked
        gemm(m, k, f, rows, f, 1, bp, nr, d, k, 0, NULL, 0)
        scatter_windows(d, g, p0, m, dx)
        p0 += m


cdef ConvGeometry make_geometry(const Py_ssize_t* xs, const Py_ssize_t* ks, Py_ssize_t oh,
                                Py_ssize_t ow, Py_ssize_t sh, Py_ssize_t sw,
                                Py_ssize_t pad_top, Py_ssize_t pad_left):
    cdef ConvGeometry g
    g.n, g.h, g.w, g.c = xs[0], xs[1], xs[2], xs[3]
    g.kh, g.kw, g.f = ks[0], ks[1], ks[3]
    g.oh, g.ow = oh, ow
    g.sh, g.sw, g.pad_top, g.pad_left = sh, sw, pad_top, pad_left
    return g


def conv2d_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] kernel,
                   const floating[::1] bias, floating[:, :, :, ::1] y,
                   Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pad_top, Py_ssize_t pad_left,
                   bint relu, int num_threads):
    """y = conv(x, kernel) + bias (then ReLU if relu), written into y (n, oh, ow, f)."""
    cdef ConvGeometry g = make_geometry(x.shape, kernel.shape, y.shape[1], y.shape[2],
                                        sh, sw, pad_top, pad_left)
    cdef Py_ssize_t p = g.n * g.oh * g.ow, k = g.kh * g.kw * g.c
    cdef Py_ssize_t nr = panel_width(<floating*>NULL)
    cdef Py_ssize_t mt = tile_rows(k, sizeof(floating))
    cdef Py_ssize_t ntiles = (p + mt - 1) // mt, t
    cdef Py_ssize_t panels = (g.f + nr - 1) // nr
    cdef floating* bp
    cdef floating* a
    cdef int failed = 0
    cdef int* failed_p = &failed
    if p == 0 or g.f == 0:
        return
    bp = <floating*>malloc(panels * k * nr * sizeof(floating) + 1)
    if bp == NULL:
        raise MemoryError()
    with nogil, parallel(num_threads=num_threads):
        a = <floating*>malloc(mt * k * sizeof(floating) + 1)
        if a == NULL:
            failed_p[0] = 1
        for t in prange(panels, schedule='static'):         # the kernel's panels, shared out
            pack_b(k, g.f - t * nr if g.f - t * nr < nr else nr, &kernel[0, 0, 0, 0] + t * nr,
                   g.f, 1, nr, bp + t * k * nr)
        for t in prange(ntiles, schedule='dynamic'):
            if a != NULL:
                forward_tile(&x[0, 0, 0, 0], bp, &bias[0], &y[0, 0, 0, 0], &g, t * mt,
                             mt if p - t * mt > mt else p - t * mt, relu, a, nr)
        free(a)
    free(bp)
    if failed:
        raise MemoryError()



def conv2d_backward_filter(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x,
                           floating[:, :, :, ::1] dkernel, floating[::1] dbias,
                           Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pad_top,
                           Py_ssize_t pad_left, int num_threads,
                           const floating[:, :, :, ::1] relu_output=None):
    """dkernel = im2col(x)^T @ dy reshaped (kh, kw, c, f); dbias = dy summed over n, oh, ow.

    With relu_output (y of a forward pass with ReLU, dy's shape), dy is first masked by y > 0.
    """
    cdef ConvGeometry g = make_geometry(x.shape, dkernel.shape, dy.shape[1], dy.shape[2],
                                        sh, sw, pad_top, pad_left)
    cdef Py_ssize_t p = g.n * g.oh * g.ow, k = g.kh * g.kw * g.c, f = g.f
    cdef Py_ssize_t nr = panel_width(<floating*>NULL)
    cdef Py_ssize_t mt = tile_rows(k, sizeof(floating))
    cdef Py_ssize_t ntiles = (p + mt - 1) // mt
    # Groups of at least MIN_GROUP_TILES tiles: each group zeroes, fills and hands over a
    # whole k x f accumulator, which costs more than a tile or two adds to it. The grouping
    # depends on the shapes only (and ACC_BUDGET), so the sum does not depend on the thread
    # count; each group's columns may be split into blocks, one unit of work each.
    cdef Py_ssize_t groups = ntiles // MIN_GROUP_TILES
    cdef Py_ssize_t ldw = ((f + nr - 1) // nr) * nr
    cdef Py_ssize_t stride = k * ldw + ldw, gi, j, u, blocks, j0, j1
    cdef floating* acc
    cdef floating* a
    cdef floating* dyp
    cdef const floating* yp = NULL
    cdef int failed = 0
    cdef int* failed_p = &failed
    if relu_output is not None and p > 0:
        yp = &relu_output[0, 0, 0, 0]
    if groups > MAX_GROUPS:
        groups = MAX_GROUPS
    if groups < 1 and ntiles > 0:
        groups = 1
    groups = budget_groups(groups, stride, sizeof(floating))
    if groups > 1 and ntiles % groups:
        # Smaller tiles, so that every group gets as many (conv3: 12 of 48 rows in 2 groups
        # instead of 11 of 54, 6 and 5, where one thread waited on the other).
        ntiles = (ntiles + groups - 1) // groups * groups
        mt = (p + ntiles - 1) // ntiles
        mt = (mt + FC_TILE_ROWS - 1) // FC_TILE_ROWS * FC_TILE_ROWS
        ntiles = (p + mt - 1) // mt
    if groups == 0 or f == 0:
        dkernel[...] = 0
        dbias[...] = 0
        return
    # Per group: dw (k x ldw) then db (ldw), each written whole by its group, summed in group
    # order at the end.
    acc = <floating*>malloc((groups * stride + 1) * sizeof(floating))
    if acc == NULL:
        raise MemoryError()
    blocks = column_blocks(groups, ldw // nr, num_threads)
    with nogil, parallel(num_threads=num_threads):
        a = <floating*>malloc(mt * k * sizeof(floating) + 1)
        dyp = <floating*>malloc(mt * ldw * sizeof(floating) + 1)
        if a == NULL or dyp == NULL:
            failed_p[0] = 1
        for u in prange(groups * blocks, schedule='dynamic'):
            if a != NULL and dyp != NULL:
                gi = u // blocks
                j0 = (u % blocks) * (ldw // nr) // blocks * nr
                j1 = (u % blocks + 1) * (ldw // nr) // blocks * nr
                filter_grad_tiles(&x[0, 0, 0, 0], &dy[0, 0, 0, 0], yp, &g, mt,
                                  gi * ntiles // groups, (gi + 1) * ntiles // groups,
                                  j0, j1 if j1 < f else f, acc + gi * stride, ldw,
                                  acc + gi * stride + k * ldw, a, dyp, nr)
        free(a)
        free(dyp)
    if not failed:
        with nogil:
            for j in prange(k, schedule='static', num_threads=num_threads):
                sum_groups(acc + j * ldw, groups, stride, f, &dkernel[0, 0, 0, 0] + j * f)
            sum_groups(acc + k * ldw, groups, stride, f, &dbias[0])
    free(acc)
    if failed:
        raise MemoryError()


def conv2d_backward_input(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] kernel,
                          floating[:, :, :, ::1] dx, Py_ssize_t sh, Py_ssize_t sw,
                          Py_ssize_t pad_top, Py_ssize_t pad_left, int num_threads,
                          const floating[:, :, :, ::1] relu_output=None):
    """dx = the transposed convolution of dy with kernel (dy masked by relu_output > 0 if
    given). dx's values on entry do not matter: the threads zero it first, row by row.

    Work goes by (image, band of output rows). A band is at least ceil(kh / sh) rows tall, so
    the input rows of bands two apart never meet: even bands run in parallel, then odd ones,
    and no two threads add into the same dx value. The bands depend on the shapes only, so the
    result does not depend on the thread count.
    """
    cdef ConvGeometry g = make_geometry(dx.shape, kernel.shape, dy.shape[1], dy.shape[2],
                                        sh, sw, pad_top, pad_left)
    cdef Py_ssize_t k = g.kh * g.kw * g.c, f = g.f
    cdef Py_ssize_t nr = panel_width(<floating*>NULL)
    cdef Py_ssize_t mt = tile_rows(k, sizeof(floating))
    cdef Py_ssize_t panels = (k + nr - 1) // nr
    cdef Py_ssize_t min_band = (g.kh + g.sh - 1) // g.sh
    cdef Py_ssize_t bands, pairs, u, n, b, per_unit, units
    cdef floating* bp
    cdef floating* d
    cdef floating* masked
    cdef const floating* yp = NULL
    cdef int failed = 0
    cdef int* failed_p = &failed
    if g.n * g.oh * g.ow == 0 or k == 0:
        if g.n * g.h * g.w * g.c > 0:
            memset(&dx[0, 0, 0, 0], 0, g.n * g.h * g.w * g.c * sizeof(floating))
        return
    if relu_output is not None:
        yp = &relu_output[0, 0, 0, 0]
    # Enough bands for 16 units of work (any image count), each at least min_band rows.
    bands = (16 + g.n - 1) // g.n
    if bands > g.oh // min_band:
        bands = g.oh // min_band
    if bands < 1:
        bands = 1
    pairs = (bands + 1) // 2
    # Small images (one band each) go several to a unit, so that the GEMM gets full blocks of
    # rows (MNIST conv3: 9 pixels an image), while 16 units remain where the batch allows.
    per_unit = 1
    if bands == 1 and g.oh * g.ow < mt:
        per_unit = mt // (g.oh * g.ow)
        if per_unit > g.n // 16:
            per_unit = g.n // 16
        if per_unit < 1:
            per_unit = 1
    units = (g.n + per_unit - 1) // per_unit
    # B = kernel^T (f x k), packed into panels of nr columns.
    bp = <floating*>malloc(panels * f * nr * sizeof(floating) + 1)
    if bp == NULL:
        raise MemoryError()
    with nogil, parallel(num_threads=num_threads):
        d = <floating*>malloc(mt * k * sizeof(floating) + 1)
        masked = <floating*>malloc(mt * f * sizeof(floating) + 1)
        if d == NULL or masked == NULL:
            failed_p[0] = 1
        # One pass before the GEMMs: the panels of B (a strided gather, the transpose) and
        # dx's rows zeroed, shared among the threads.
        for u in prange(panels + g.n * g.h, schedule='static'):
            if u < panels:
                pack_b(f, k - u * nr if k - u * nr < nr else nr, &kernel[0, 0, 0, 0] + u * nr * f,
                       1, f, nr, bp + u * f * nr)
            else:
                memset(&dx[0, 0, 0, 0] + (u - panels) * g.w * g.c, 0,
                       g.w * g.c * sizeof(floating))
        for u in prange(units * pairs, schedule='dynamic'):
            if d != NULL and masked != NULL:
                input_grad_band(&dy[0, 0, 0, 0], yp, bp, &dx[0, 0, 0, 0], &g,
                                unit_pixel(&g, u, pairs, bands, per_unit, 2 * (u % pairs), 0),
                                unit_pixel(&g, u, pairs, bands, per_unit, 2 * (u % pairs), 1),
                                mt, d, masked, nr)
        for u in prange(units * pairs if bands > 1 else 0, schedule='dynamic'):
            if d != NULL and masked != NULL and 2 * (u % pairs) + 1 < bands:
                input_grad_band(&dy[0, 0, 0, 0], yp, bp, &dx[0, 0, 0, 0], &g,
                                unit_pixel(&g, u, pairs, bands, per_unit, 2 * (u % pairs) + 1, 0),
                                unit_pixel(&g, u, pairs, bands, per_unit, 2 * (u % pairs) + 1, 1),
                                mt, d, masked, nr)
        free(d)
        free(masked)
    free(bp)
    if failed:
        raise MemoryError()
