/* One instance of the GEMM micro-kernel and its driver.
 *
 * fc_gemm_path.h includes this file once per (element type, instruction set) after defining
 *   FC_T      element type (float or double)
 *   FC_TN     its short name (f32, f64)
 *   FC_IT     the signed integer type of the same size (lane masks)
 *   FC_ISA    instruction-set suffix (avx512, avx2, generic)
 *   FC_TARGET function attribute that selects the instruction set (may be empty)
 *   FC_VB     vector size in bytes (16, 32 or 64)
 *   FC_PB     bytes of one row of a packed B panel (a multiple of FC_VB)
 *   FC_MR     rows of the micro-kernel
 *   FC_MASK_LOAD(p, lanes), FC_MASK_STORE(p, lanes, x), optional: load or store the first
 *             `lanes` values of one vector at p with masked moves, touching nothing beyond
 *             (AVX-512); without them, a loop over the lanes does the same.
 * No include guard on purpose.
 */

#define FC_CAT3_(a, b, c) a##_##b##_##c
#define FC_CAT3(a, b, c) FC_CAT3_(a, b, c)
#define FC_FN(name) FC_CAT3(name, FC_TN, FC_ISA)

/* Vectors of FC_VB bytes (64: one AVX-512 register; 32: AVX; 16: SSE). The _u type may sit at
 * any element-aligned address (packed panels and C rows are not vector-aligned). A panel row is
 * FC_NR values: FC_PB bytes, FC_NV vectors; the micro-kernel holds FC_MR x FC_NV accumulators. */
#define FC_VL (FC_VB / (fc_idx)sizeof(FC_T))
#define FC_NR (FC_PB / (fc_idx)sizeof(FC_T))
#define FC_NV (FC_PB / FC_VB)
typedef FC_T FC_FN(vec) __attribute__((vector_size(FC_VB)));
typedef FC_T FC_FN(vecu) __attribute__((vector_size(FC_VB), aligned(sizeof(FC_T))));
typedef FC_IT FC_FN(ivec) __attribute__((vector_size(FC_VB)));

/* The first `lanes` values of one vector at p (the rest 0), and their store: the partial
 * tiles' loads and stores, on every path the same code. */
#ifdef FC_MASK_LOAD
#define FC_LOAD_LANES FC_MASK_LOAD
#define FC_STORE_LANES FC_MASK_STORE
#else
static inline FC_TARGET FC_FN(vec) FC_FN(fc_load_lanes)(const FC_T *p, fc_idx lanes)
{
    FC_FN(vec) x = (FC_FN(vec)){0};
    fc_idx l;
    for (l = 0; l < lanes; l++) x[l] = p[l];
    return x;
}
static inline FC_TARGET void FC_FN(fc_store_lanes)(FC_T *p, fc_idx lanes, FC_FN(vec) x)
{
    fc_idx l;
    for (l = 0; l < lanes; l++) p[l] = x[l];
}
#define FC_LOAD_LANES FC_FN(fc_load_lanes)
#define FC_STORE_LANES FC_FN(fc_store_lanes)
#endif

/* acc[r][0:NVX] += A's row r times the panel, over all K values (see fc_micro). NVX vectors
 * of each panel row are read (the rest are the zeros past the matrix's last column). */
#define FC_MICRO_LOOP(NVX)                                                                    \
    for (sg = 0; sg < nseg; sg++) {                                                           \
        const FC_T *pb = bp + sg * seg_len * FC_NR;                                           \
        for (k = 0, o = sg * seg_stride; k < seg_len; k++, o += csa, pb += FC_NR) {           \
            vec b[NVX];                                                                       \
            for (v = 0; v < (NVX); v++) b[v] = *(const vecu *)(pb + v * FC_VL);               \
            for (r = 0; r < FC_MR; r++) {                                                     \
                FC_T s = ar[r][o];                                                            \
                for (v = 0; v < (NVX); v++) acc[r][v] += b[v] * s;                            \
            }                                                                                 \
        }                                                                                     \
    }

/* C[0:mr, 0:nr] (=|+=) A[0:mr, 0:K] @ Bp, with Bp one packed panel (K rows of FC_NR
 * contiguous columns, zero beyond the matrix's last column) and A's row r read from rows[r]:
 * K = nseg * seg_len values, segment sg starting at rows[r] + sg * seg_stride, consecutive
 * values csa apart. One segment is a plain strided row; KH segments of KW*C values, W*C
 * apart, are a convolution window read straight from an NHWC image.
 * The loops over rows and vectors have constant trip counts: the compiler unrolls them and
 * keeps the accumulators in registers (AVX2: 6 x 2 + 2 B vectors + 1 broadcast = 15 of 16;
 * AVX-512: 6 x 2 of 32, the broadcasts folded into the multiply-adds). A panel whose columns
 * past nr are all padding (nr <= half of it) is read half-wide.
 * Rows r >= mr read row mr-1 again, so A needs no padding; their results are dropped. */
FC_TARGET static void FC_FN(fc_micro)(fc_idx nseg, fc_idx seg_len, fc_idx seg_stride,
                                      const FC_T **rows, fc_idx csa, const FC_T *bp, FC_T *c,
                                      fc_idx ldc, fc_idx mr, fc_idx nr, int accumulate,
                                      const FC_T *bias, int relu)
{
    typedef FC_FN(vec) vec;
    typedef FC_FN(vecu) vecu;
    typedef FC_FN(ivec) ivec;
    const FC_T *ar[FC_MR];
    vec acc[FC_MR][FC_NV];
    fc_idx k, o, sg, r, v, nv = FC_NV;
    for (r = 0; r < FC_MR; r++) {
        ar[r] = rows[r < mr ? r : mr - 1];
        for (v = 0; v < FC_NV; v++) acc[r][v] = (vec){0};
    }
#if FC_NV > 1 && FC_NV % 2 == 0
    if (nr <= FC_NR / 2) {
        nv = FC_NV / 2;
        FC_MICRO_LOOP(FC_NV / 2)
    } else
#endif
    {
        FC_MICRO_LOOP(FC_NV)
    }
    if (mr == FC_MR && nr == FC_NR) {
        /* Full tile: finish in registers. ReLU clears the bits of negative lanes, so NaN
         * (never < 0) passes through, as in NumPy's maximum. */
        for (r = 0; r < FC_MR; r++) {
            for (v = 0; v < FC_NV; v++) {
                vec x = acc[r][v];
                vecu *cv = (vecu *)(c + r * ldc + v * FC_VL);
                if (accumulate) x += *cv;
                if (bias) x += *(const vecu *)(bias + v * FC_VL);
                if (relu) x = (vec)((ivec)x & ~(ivec)(x < (vec){0}));
                *cv = x;
            }
        }
        return;
    }
    /* Part of a tile: the same in registers, the last vector of each row loaded and stored
     * lane by lane up to column nr (masked moves on AVX-512), nothing past it or past row mr
     * read or written. */
    for (r = 0; r < mr; r++) {
        for (v = 0; v < nv && v * FC_VL < nr; v++) {
            fc_idx lanes = nr - v * FC_VL < FC_VL ? nr - v * FC_VL : FC_VL;
            FC_T *cp = c + r * ldc + v * FC_VL;
            vec x = acc[r][v];
            if (accumulate) x += FC_LOAD_LANES(cp, lanes);
            if (bias) x += FC_LOAD_LANES(bias + v * FC_VL, lanes);
            if (relu) x = (vec)((ivec)x & ~(ivec)(x < (vec){0}));
            FC_STORE_LANES(cp, lanes, x);
        }
    }
}
#undef FC_MICRO_LOOP

/* C[0:M, 0:N] (=|+=) A[0:M, 0:K] @ B, with B packed by fc_pack_b (ceil(N / FC_NR) panels).
 * Panel-outer order keeps one K x FC_NR panel of B in L1/L2 while the rows of A stream past. */
FC_TARGET static void FC_FN(fc_gemm)(fc_idx M, fc_idx N, fc_idx K, const FC_T *a, fc_idx rsa,
                                     fc_idx csa, const FC_T *bp, FC_T *c, fc_idx ldc,
                                     int accumulate, const FC_T *bias, int relu)
{
    fc_idx i, j;
    for (j = 0; j < N; j += FC_NR) {
        fc_idx nr = N - j < FC_NR ? N - j : FC_NR;
        const FC_T *panel = bp + (j / FC_NR) * K * FC_NR;
        for (i = 0; i < M; i += FC_MR) {
            fc_idx r, mr = M - i < FC_MR ? M - i : FC_MR;
            const FC_T *rows[FC_MR];
            for (r = 0; r < mr; r++) rows[r] = a + (i + r) * rsa;
            FC_FN(fc_micro)(1, K, 0, rows, csa, panel, c + i * ldc + j, ldc, mr, nr,
                            accumulate, bias ? bias + j : 0, relu);
        }
    }
}

/* Micro-kernel calls for a caller that walks blocks and panels itself: C[0:mr, 0:nr] =
 * A @ one packed panel (+ bias, ReLU), A's rows given as in fc_micro. One call when mr is at
 * most FC_MR (fc_block_rows() rows); more if the caller blocked for a taller kernel. */
FC_TARGET static void FC_FN(fc_rows_panel)(fc_idx nseg, fc_idx seg_len, fc_idx seg_stride,
                                           const FC_T **rows, fc_idx mr, fc_idx nr,
                                           const FC_T *panel, FC_T *c, fc_idx ldc,
                                           const FC_T *bias, int relu)
{
    fc_idx i;
    for (i = 0; i < mr; i += FC_MR)
        FC_FN(fc_micro)(nseg, seg_len, seg_stride, rows + i, 1, panel, c + i * ldc, ldc,
                        mr - i < FC_MR ? mr - i : FC_MR, nr, 0, bias, relu);
}

#undef FC_LOAD_LANES
#undef FC_STORE_LANES
#undef FC_VL
#undef FC_NR
#undef FC_NV
#undef FC_FN
#undef FC_CAT3
#undef FC_CAT3_
