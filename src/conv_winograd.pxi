# Winograd F(2x2, 3x3) and F(4x4, 3x3): kernel transforms, the forward pass and both
# gradients on transformed tiles; included by src/conv.pyx after conv_direct.pxi (its
# geometry and accumulator budget).

cdef inline void wino_in(const floating** p, const floating** q, Py_ssize_t c, floating* v,
                         Py_ssize_t vs) noexcept nogil:
    # q NULL: plain; else the values of p where those of q are > 0 (a ReLU's mask)
    if floating is float:
        if q == NULL:
            fc_wino_in_f32(p, c, v, vs)
        else:
            fc_wino_in_masked_f32(p, q, c, v, vs)
    else:
        if q == NULL:
            fc_wino_in_f64(p, c, v, vs)
        else:
            fc_wino_in_masked_f64(p, q, c, v, vs)


cdef inline int wino_out(const floating* m, Py_ssize_t ms, Py_ssize_t f, const floating* bias,
                         int relu, floating** o) noexcept nogil:
    if floating is float:
        return fc_wino_out_f32(m, ms, f, bias, relu, o[0], o[1], o[2], o[3])
    else:
        return fc_wino_out_f64(m, ms, f, bias, relu, o[0], o[1], o[2], o[3])


cdef inline void wino4_in(const floating** p, const floating** q, Py_ssize_t c, floating* v,
                          Py_ssize_t vs) noexcept nogil:
    # F(4x4, 3x3)'s input transform of a 6x6 tile (q as for wino_in)
    if floating is float:
        fc_wino4_in_f32(p, q, c, v, vs)
    else:
        fc_wino4_in_f64(p, q, c, v, vs)


cdef inline int wino4_out(const floating* m, Py_ssize_t ms, Py_ssize_t f,
                          const floating* bias, int relu, floating** o) noexcept nogil:
    if floating is float:
        return fc_wino4_out_f32(m, ms, f, bias, relu, o)
    else:
        return fc_wino4_out_f64(m, ms, f, bias, relu, o)


cdef inline void input_tile(const floating* x, const floating* mask, const ConvGeometry* g,
                            Py_ssize_t tile, const floating* zeros, const floating** p,
                            const floating** q, Py_ssize_t ts) noexcept nogil:
    # p[s * i + j] (s = ts + 2): x's pixel (i, j) of the s x s input tile under output tile
    # `tile` (ts x ts outputs, (image, tile row, tile column) order), or zeros where it leaves
    # the image; q the same pixels of mask (only when mask is given).
    cdef Py_ssize_t tw = (g.ow + ts - 1) // ts, th = (g.oh + ts - 1) // ts, s = ts + 2
    cdef Py_ssize_t n = tile // (th * tw), ty = tile // tw % th, tx = tile % tw, i, j, ih, iw, o
    for i in range(s):
        ih = ts * ty - g.pad_top + i
        for j in range(s):
            iw = ts * tx - g.pad_left + j
            if 0 <= ih < g.h and 0 <= iw < g.w:
                o = ((n * g.h + ih) * g.w + iw) * g.c
                p[s * i + j] = x + o
                if mask != NULL:
                    q[s * i + j] = mask + o
            else:
                p[s * i + j] = zeros
                if mask != NULL:
                    q[s * i + j] = zeros


cdef inline Py_ssize_t tiles_per_chunk(Py_ssize_t budget, Py_ssize_t channels,
                                       Py_ssize_t itemsize, Py_ssize_t most_blocks) noexcept:
    # Tiles of a Winograd pass's chunk: their 16 transformed matrices of `channels` (in + out)
    # values a tile fill about `budget` bytes (F(4x4)'s chunks hold as many tiles, in 36
    # matrices); a multiple of the micro-kernel's rows, between one and most_blocks blocks.
    cdef Py_ssize_t mt
    if channels < 1:        # no channels at all (zero in and out): any size does
        return FC_TILE_ROWS
    mt = budget // (16 * channels * itemsize) // FC_TILE_ROWS * FC_TILE_ROWS
    if mt < FC_TILE_ROWS:
        return FC_TILE_ROWS
    return mt if mt < most_blocks * FC_TILE_ROWS else most_blocks * FC_TILE_ROWS


cdef inline void output_tile(const ConvGeometry* g, Py_ssize_t tile, Py_ssize_t channels,
                             Py_ssize_t* offsets, Py_ssize_t ts) noexcept nogil:
    # offsets[ts * i + j]: where output pixel (i, j) of tile `tile` (ts x ts outputs) starts
    # in an array shaped like the output with `channels` values a pixel, or -1 past its edge
    cdef Py_ssize_t tw = (g.ow + ts - 1) // ts, th = (g.oh + ts - 1) // ts
    cdef Py_ssize_t n = tile // (th * tw), ty = tile // tw % th, tx = tile % tw, i, j
    for i in range(ts):
        for j in range(ts):
            offsets[ts * i + j] = (((n * g.oh + ts * ty + i) * g.ow + ts * tx + j) * channels
                                   if ts * ty + i < g.oh and ts * tx + j < g.ow else -1)


cdef int winograd_tiles(const floating* x, const floating* mask, const floating* up,
                        const floating* bias, floating* y, const ConvGeometry* g,
                        Py_ssize_t t0, Py_ssize_t nt, int relu, floating* v, floating* mb,
                        const floating* zeros, Py_ssize_t nr, Py_ssize_t ts) noexcept nogil:
    # Output tiles t0 .. t0+nt (ts x ts outputs each, ts 2 or 4, in (image, tile row, tile
    # column) order): input transforms into v (np = (ts + 2)^2 matrices nt x c), np GEMMs
    # with the packed transformed kernel into mb (np matrices nt x f, then a scratch row for
    # the outputs of tiles that overhang the image), output transforms into y. With mask (x's
    # shape), x counts as 0 where mask is not > 0. Returns nonzero if an output came out
    # non-finite before the ReLU.
    cdef const floating* p[36]
    cdef const floating* q[36]
    cdef floating* o[16]
    cdef Py_ssize_t c = g.c, f = g.f, npts = (ts + 2) * (ts + 2)
    cdef Py_ssize_t pstride = ((f + nr - 1) // nr) * c * nr
    cdef Py_ssize_t t, i, xi
    cdef Py_ssize_t offsets[16]
    cdef int bad = 0
    for t in range(nt):
        input_tile(x, mask, g, t0 + t, zeros, p, q, ts)
        if ts == 2:
            wino_in(p, q if mask != NULL else NULL, c, v + t * c, nt * c)
        else:
            wino4_in(p, q if mask != NULL else NULL, c, v + t * c, nt * c)
    for xi in range(npts):
        gemm(nt, f, c, v + xi * nt * c, c, 1, up + xi * pstride, nr, mb + xi * nt * f, f, 0,
             NULL, 0)
    for t in range(nt):
        output_tile(g, t0 + t, f, offsets, ts)
        for i in range(ts * ts):
            o[i] = y + offsets[i] if offsets[i] >= 0 else mb + npts * nt * f
        if ts == 2:
            bad |= wino_out(mb + t * f, nt * f, f, bias, relu, o)
        else:
            bad |= wino4_out(mb + t * f, nt * f, f, bias, relu, o)
    return bad


cdef enum:
    WK_BLOCK = 256      # channel pairs per pass of winograd_kernel


def winograd_kernel(const floating[:, :, :, ::1] kernel, floating[:, :, ::1] u):
    """u[4 * a + b, c, f] = (G g G^T)[a, b], g the 3x3 kernel of channel pair (c, f), computed
    in double precision: the transformed kernel of conv2d_forward_winograd. G's rows are g0,
    (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2 and g2.

    Blocks of WK_BLOCK pairs, plane by plane: the 9 input and 16 output planes lie c * f
    values apart, often a power of two, and a loop through all 25 for each pair kept missing
    the cache."""
    cdef Py_ssize_t n = kernel.shape[2] * kernel.shape[3], e0, e, m, j, a
    cdef const floating* g = &kernel[0, 0, 0, 0]
    cdef floating* out = &u[0, 0, 0]
    cdef const double* r0
    cdef const double* r1
    cdef const double* r2
    cdef double t[12][WK_BLOCK]      # t[3 * a + j] = (G g)[a, j]
    cdef double half, g1
    if n == 0:
        return
    with nogil:
        e0 = 0
        while e0 < n:
            m = n - e0 if n - e0 < WK_BLOCK else WK_BLOCK
            for j in range(3):                    # G applied down each column j of g
                for e in range(m):
                    half = 0.5 * (<double>g[j * n + e0 + e] + <double>g[(6 + j) * n + e0 + e])
                    g1 = 0.5 * <double>g[(3 + j) * n + e0 + e]
                    t[j][e] = g[j * n + e0 + e]
                    t[3 + j][e] = half + g1
                    t[6 + j][e] = half - g1
                    t[9 + j][e] = g[(6 + j) * n + e0 + e]
            for a in range(4):                    # then along each row a of G g
                r0, r1, r2 = t[3 * a], t[3 * a + 1], t[3 * a + 2]
                for e in range(m):
                    half = 0.5 * (r0[e] + r2[e])
                    g1 = 0.5 * r1[e]
                    out[(4 * a) * n + e0 + e] = <floating>r0[e]
                    out[(4 * a + 1) * n + e0 + e] = <floating>(half + g1)
                    out[(4 * a + 2) * n + e0 + e] = <floating>(half - g1)
                    out[(4 * a + 3) * n + e0 + e] = <floating>r2[e]
            e0 += m


cdef inline void g4_column(double a, double b, double c, double* r, Py_ssize_t e,
                           Py_ssize_t stride) noexcept nogil:
    # r[i * stride + e] = (G z)[i] for z = (a, b, c), F(4x4, 3x3)'s G (fc_winograd.h)
    # (multiplications by the rounded reciprocals: within an ulp of the divisions, in double)
    cdef double s = a + c, p = a * (1.0 / 24.0) + c * (1.0 / 6.0), q = b * (1.0 / 12.0)
    r[e] = 0.25 * a
    r[stride + e] = (s + b) * (-1.0 / 6.0)
    r[2 * stride + e] = (s - b) * (-1.0 / 6.0)
    r[3 * stride + e] = p + q
    r[4 * stride + e] = p - q
    r[5 * stride + e] = c


def winograd_kernel4(const floating[:, :, :, ::1] kernel, floating[:, :, ::1] u):
    """u[6 * a + b, c, f] = (G g G^T)[a, b] with F(4x4, 3x3)'s 6x3 G, g the 3x3 kernel of
    channel pair (c, f), in double precision; blocks of WK_BLOCK pairs, as winograd_kernel."""
    cdef Py_ssize_t n = kernel.shape[2] * kernel.shape[3], e0, e, m, j, a, b
    cdef const floating* g = &kernel[0, 0, 0, 0]
    cdef floating* out = &u[0, 0, 0]
    cdef double t[18][WK_BLOCK]      # t[3 * a + j] = (G g)[a, j]
    cdef double r[6][WK_BLOCK]       # one row a of (G g) G^T
    if n == 0:
        return
    with nogil:
        e0 = 0
        while e0 < n:
            m = n - e0 if n - e0 < WK_BLOCK else WK_BLOCK
            for j in range(3):                    # G applied down each column j of g
                for e in range(m):
                    g4_column(g[j * n + e0 + e], g[(3 + j) * n + e0 + e],
                              g[(6 + j) * n + e0 + e], &t[j][0], e, 3 * WK_BLOCK)
            for a in range(6):                    # then along each row a of G g
                for e in range(m):
                    g4_column(t[3 * a][e], t[3 * a + 1][e], t[3 * a + 2][e], &r[0][0], e,
                              WK_BLOCK)
                for b in range(6):
                    for e in range(m):
                        out[(6 * a + b) * n + e0 + e] = <floating>r[b][e]
            e0 += m


cdef int winograd_run(const floating* x, const floating* mask, const floating[:, :, ::1] u,
                      const floating* bias, floating* y, const ConvGeometry* g, bint relu,
                      int num_threads) except -1:
    # y = the Winograd convolution of x (masked by mask > 0 if mask) with the transformed
    # kernel u, + bias, then ReLU if relu: F(2x2, 3x3) if u holds 16 matrices, F(4x4, 3x3) if
    # 36. Returns 1 if every output came out finite, else 0 (y then holds garbage where a
    # non-finite value spread through a tile).
    cdef Py_ssize_t c = g.c, f = g.f, nr = panel_width(<floating*>NULL)
    cdef Py_ssize_t npts = u.shape[0], ts = 2 if npts == 16 else 4
    cdef Py_ssize_t pstride = ((f + nr - 1) // nr) * c * nr
    cdef Py_ssize_t ntiles = g.n * ((g.oh + ts - 1) // ts) * ((g.ow + ts - 1) // ts)
    cdef Py_ssize_t mt = tiles_per_chunk(192 * 1024, c + f, sizeof(floating), 20)
    cdef Py_ssize_t chunks, ci, xi
    cdef floating* up
    cdef floating* zeros
    cdef floating* v
    cdef floating* mb
    cdef int failed = 0, bad = 0
    cdef int* failed_p = &failed
    cdef int* bad_p = &bad
    if npts not in (16, 36) or u.shape[1] != c or u.shape[2] != f:
        raise ValueError(f"the transformed kernel must be (16 or 36, {c}, {f}), got "
                         f"({u.shape[0]}, {u.shape[1]}, {u.shape[2]})")
    if ntiles == 0 or f == 0:
        return 1
    chunks = (ntiles + mt - 1) // mt
    up = <floating*>malloc(npts * pstride * sizeof(floating) + 1)
    zeros = <floating*>calloc(c + 1, sizeof(floating))
    if up == NULL or zeros == NULL:
        free(up)
        free(zeros)
        raise MemoryError()
    for xi in range(npts):
        pack_b(c, f, &u[xi, 0, 0], f, 1, nr, up + xi * pstride)
    with nogil, parallel(num_threads=num_threads):
        v = <floating*>malloc(npts * mt * c * sizeof(floating) + 1)
        mb = <floating*>malloc((npts * mt + 1) * f * sizeof(floating) + 1)
        if v == NULL or mb == NULL:
            failed_p[0] = 1
        for ci in prange(chunks, schedule='dynamic'):
            if v != NULL and mb != NULL:
                if winograd_tiles(x, mask, up, bias, y, g, ci * mt,
                                  mt if ntiles - ci * mt > mt else ntiles - ci * mt, relu, v,
                                  mb, zeros, nr, ts):
                    bad_p[0] = 1
        free(v)
        free(mb)
    free(up)
    free(zeros)
    if failed:
        raise MemoryError()
    return 0 if bad else 1


def conv2d_forward_winograd(const floating[:, :, :, ::1] x, const floating[:, :, ::1] u,
                            const floating[:, :, :, ::1] kernel, const floating[::1] bias,
                            floating[:, :, :, ::1] y, Py_ssize_t pad_top, Py_ssize_t pad_left,
                            bint relu, int num_threads):
    """y = conv(x, kernel) + bias (then ReLU) for a 3x3 kernel with strides 1, by Winograd
    F(2x2, 3x3) or F(4x4, 3x3); u (16 or 36, c, f) is the transformed kernel G g G^T, whose
    size picks the tiles (fastconv._api.conv.winograd_kernel). If an output comes out
    non-finite (an infinite or NaN input, or overflow in the transforms), y is recomputed
    directly, and the result is False."""
    cdef ConvGeometry g = make_geometry(x.shape, kernel.shape, y.shape[1], y.shape[2],
                                        1, 1, pad_top, pad_left)
    if g.n * g.oh * g.ow * g.f == 0:
        return True
    if winograd_run(&x[0, 0, 0, 0], <const floating*>NULL, u, &bias[0], &y[0, 0, 0, 0], &g,
                    relu, num_threads):
        return True
    conv2d_forward(x, kernel, bias, y, 1, 1, pad_top, pad_left, relu, num_threads)
    return False


def conv2d_backward_input_winograd(const floating[:, :, :, ::1] dy,
                                   const floating[:, :, ::1] u,
                                   const floating[:, :, :, ::1] kernel,
                                   floating[:, :, :, ::1] dx, Py_ssize_t pad_top,
                                   Py_ssize_t pad_left, int num_threads,
                                   const floating[:, :, :, ::1] relu_output=None):
    """dx of a 3x3, stride-1 convolution with the given padding (dy masked by relu_output > 0
    if given), by Winograd: the full correlation of dy with the kernel turned 180 degrees,
    its channel axes swapped (kernel, (3, 3, filters, in_channels)); u is that kernel
    transformed; pad_top and pad_left are the forward pass's. Returns False, with dx not
    written in full, if a value came out non-finite: the caller then runs the direct kernel,
    which keeps a NaN or infinity to the inputs it touches."""
    cdef ConvGeometry g = make_geometry(dy.shape, kernel.shape, dx.shape[1], dx.shape[2],
                                        1, 1, 2 - pad_top, 2 - pad_left)
    cdef floating* zero_bias
    cdef int ok
    if g.n * g.oh * g.ow * g.f == 0:
        return True
    zero_bias = <floating*>calloc(g.f + 1, sizeof(floating))
    if zero_bias == NULL:
        raise MemoryError()
    try:
        ok = winograd_run(&dy[0, 0, 0, 0],
                          &relu_output[0, 0, 0, 0] if relu_output is not None else NULL, u,
                          zero_bias, &dx[0, 0, 0, 0], &g, False, num_threads)
    finally:
        free(zero_bias)
    return bool(ok)


cdef inline void wino_dy(const floating** p, const floating** q, Py_ssize_t f, floating* u,
                         Py_ssize_t us, floating* db) noexcept nogil:
    if floating is float:
        fc_wino_dy_f32(p, q, f, u, us, db)
    else:
        fc_wino_dy_f64(p, q, f, u, us, db)


cdef void winograd_filter_tiles(const floating* x, const floating* dy, const floating* mask,
                                const ConvGeometry* g, Py_ssize_t t0, Py_ssize_t nt,
                                Py_ssize_t j0, Py_ssize_t j1, floating* acc, Py_ssize_t ldw,
                                floating* db, bint accumulate, floating* v, floating* u,
                                floating* up, const floating* zeros,
                                Py_ssize_t nr) noexcept nogil:
    # Tiles t0 .. t0+nt of dy (2x2 outputs each, (image, tile row, tile column) order): x's
    # 4x4 tiles transformed into v (16 matrices nt x c), dy's 2x2 tiles (masked by mask > 0 if
    # mask) into u (16 matrices nt x f, their sums added to db), then acc[xi] (c x ldw) (+)=
    # v[xi]^T @ u[xi] for the 16 xi: the tiles' sum is the reduction of 16 GEMMs. Only
    # filters j0 .. j1 (j0 a multiple of nr) of dy, acc and db.
    cdef const floating* p[16]
    cdef const floating* gp[4]
    cdef const floating* gq[4]
    cdef Py_ssize_t c = g.c, f = g.f, w = j1 - j0
    cdef Py_ssize_t t, i, xi
    cdef Py_ssize_t offsets[4]
    for t in range(nt):
        input_tile(x, <const floating*>NULL, g, t0 + t, zeros, p, NULL, 2)
        wino_in(p, NULL, c, v + t * c, nt * c)
        output_tile(g, t0 + t, f, offsets, 2)
        for i in range(4):
            gp[i] = dy + offsets[i] + j0 if offsets[i] >= 0 else zeros
            if mask != NULL:
                gq[i] = mask + offsets[i] + j0 if offsets[i] >= 0 else zeros
        wino_dy(gp, gq if mask != NULL else NULL, w, u + t * w, nt * w, db + j0)
    for xi in range(16):
        pack_b(nt, w, u + xi * nt * w, w, 1, nr, up)
        gemm(c, w, nt, v + xi * nt * c, 1, c, up, nr, acc + xi * c * ldw + j0, ldw, accumulate,
             NULL, 0)


def conv2d_backward_filter_winograd(const floating[:, :, :, ::1] dy,
                                    const floating[:, :, :, ::1] x,
                                    floating[:, :, :, ::1] dkernel, floating[::1] dbias,
                                    Py_ssize_t pad_top, Py_ssize_t pad_left, int num_threads,
                                    const floating[:, :, :, ::1] relu_output=None):
    """dkernel and dbias of a 3x3, stride-1 convolution by Winograd F(3x3, 2x2): each 2x2
    tile of dy and the 4x4 tile of x under it give a 3x3 correlation in 16 multiplications
    instead of 36. x's tiles take F(2x2, 3x3)'s input transform B^T d B, dy's G' g G'^T; the
    16 products, summed over tiles, are 16 GEMMs; the output transform A^T M A, A^T = [1 1 1
    0; 0 1 -1 0; 0 1 1 -1] (F(3x3, 2x2)'s, its last column negated to match B^T's last row),
    gives dkernel. Tiles go to a fixed number of groups, summed in order (the result does not
    depend on the thread count). Returns False, dkernel and dbias not written in full, if a
    value comes out non-finite: the caller then runs the direct kernel."""
    cdef ConvGeometry g = make_geometry(x.shape, dkernel.shape, dy.shape[1], dy.shape[2],
                                        1, 1, pad_top, pad_left)
    cdef Py_ssize_t c = g.c, f = g.f, nr = panel_width(<floating*>NULL)
    cdef Py_ssize_t ldw = ((f + nr - 1) // nr) * nr
    cdef Py_ssize_t ntiles = g.n * ((g.oh + 1) // 2) * ((g.ow + 1) // 2)
    cdef Py_ssize_t mt = tiles_per_chunk(384 * 1024, c + f, sizeof(floating), 32)
    cdef Py_ssize_t chunks, groups, stride, gi, ci, c0, c1, j, a, e, uu, blocks, j0, j1
    cdef floating* acc
    cdef floating* m
    cdef floating* zeros
    cdef floating* v
    cdef floating* u
    cdef floating* up
    cdef const floating* mask = NULL
    cdef floating* out = &dkernel[0, 0, 0, 0]
    cdef floating s0, s1, s2, s3
    cdef Py_ssize_t plane = c * ldw
    cdef int failed = 0
    cdef int* failed_p = &failed
    cdef bint finite = True
    if ntiles == 0 or c == 0 or f == 0:
        return False                  # nothing to gain: the direct kernel handles it
    if relu_output is not None:
        mask = &relu_output[0, 0, 0, 0]
    chunks = (ntiles + mt - 1) // mt
    groups = chunks // 8 if chunks // 8 < MAX_GROUPS else MAX_GROUPS
    if groups < 1:
        groups = 1
    stride = 16 * plane + ldw          # a group's 16 planes, then its db
    groups = budget_groups(groups, stride, sizeof(floating))
    blocks = column_blocks(groups, ldw // nr, num_threads)
    acc = <floating*>malloc((groups * stride + 1) * sizeof(floating))
    # the groups' sum (one group is its own sum: no second buffer of the gradient's size)
    m = <floating*>malloc((stride + 1) * sizeof(floating)) if groups > 1 else acc
    zeros = <floating*>calloc((c if c > f else f) + 1, sizeof(floating))
    if acc == NULL or m == NULL or zeros == NULL:
        if m != acc:
            free(m)
        free(acc)
        free(zeros)
        raise MemoryError()
    with nogil, parallel(num_threads=num_threads):
        v = <floating*>malloc(16 * mt * c * sizeof(floating) + 1)
        u = <floating*>malloc(16 * mt * f * sizeof(floating) + 1)
        up = <floating*>malloc(mt * ldw * sizeof(floating) + 1)
        if v == NULL or u == NULL or up == NULL:
            failed_p[0] = 1
        for uu in prange(groups * blocks, schedule='dynamic'):
            if v != NULL and u != NULL and up != NULL:
                gi = uu // blocks
                j0 = (uu % blocks) * (ldw // nr) // blocks * nr
                j1 = (uu % blocks + 1) * (ldw // nr) // blocks * nr
                c0 = gi * chunks // groups
                c1 = (gi + 1) * chunks // groups
                memset(acc + gi * stride + 16 * plane + j0, 0, (j1 - j0) * sizeof(floating))
                for ci in range(c0, c1):
                    winograd_filter_tiles(&x[0, 0, 0, 0], &dy[0, 0, 0, 0], mask, &g, ci * mt,
                                          mt if ntiles - ci * mt > mt else ntiles - ci * mt,
                                          j0, j1 if j1 < f else f, acc + gi * stride, ldw,
                                          acc + gi * stride + 16 * plane, ci > c0, v, u, up,
                                          zeros, nr)
        free(v)
        free(u)
        free(up)
    if not failed:
        with nogil:
            # the groups summed in order, then A^T M A for each (c, f): rows first, then columns
            if groups > 1:
                for j in prange(16 * c + 1, schedule='static', num_threads=num_threads):
                    sum_groups(acc + j * ldw, groups, stride, ldw, m + j * ldw)
            for e in range(c):
                for j in range(f):
                    for a in range(4):         # s_a = row a of M, transformed along columns
                        s0 = m[(4 * a) * plane + e * ldw + j]
                        s1 = m[(4 * a + 1) * plane + e * ldw + j]
                        s2 = m[(4 * a + 2) * plane + e * ldw + j]
                        s3 = m[(4 * a + 3) * plane + e * ldw + j]
                        m[(4 * a) * plane + e * ldw + j] = s0 + s1 + s2
                        m[(4 * a + 1) * plane + e * ldw + j] = s1 - s2
                        m[(4 * a + 2) * plane + e * ldw + j] = s1 + s2 - s3
                    for a in range(3):         # then down the rows
                        s0 = m[(0 * 4 + a) * plane + e * ldw + j]
                        s1 = m[(1 * 4 + a) * plane + e * ldw + j]
                        s2 = m[(2 * 4 + a) * plane + e * ldw + j]
                        s3 = m[(3 * 4 + a) * plane + e * ldw + j]
                        out[((0 * 3 + a) * c + e) * f + j] = s0 + s1 + s2
                        out[((1 * 3 + a) * c + e) * f + j] = s1 - s2
                        out[((2 * 3 + a) * c + e) * f + j] = s1 + s2 - s3
            for j in range(f):
                dbias[j] = m[16 * plane + j]
                finite = finite & (dbias[j] - dbias[j] == 0)
            for j in range(9 * c * f):
                finite = finite & (out[j] - out[j] == 0)
    if m != acc:
        free(m)
    free(acc)
    free(zeros)
    if failed:
        raise MemoryError()
    return bool(finite)

