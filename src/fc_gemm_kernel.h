/* One instance of the GEMM micro-kernel and its driver.
 *
 * fc_gemm.h includes this file once per (element type, instruction set) after defining
 *   FC_T      element type (float or double)
 *   FC_TN     its short name (f32, f64)
 *   FC_IT     the signed integer type of the same size (lane masks)
 *   FC_ISA    instruction-set suffix (avx2, generic)
 *   FC_TARGET function attribute that selects the instruction set (may be empty)
 *   FC_VB     vector size in bytes (16 or 32)
 *   FC_MR     rows of the micro-kernel
 * No include guard on purpose.
 */

#define FC_CAT3_(a, b, c) a##_##b##_##c
#define FC_CAT3(a, b, c) FC_CAT3_(a, b, c)
#define FC_FN(name) FC_CAT3(name, FC_TN, FC_ISA)

/* Vectors of FC_VB bytes (32: one AVX register; 16: one SSE register). The _u type may sit at
 * any element-aligned address (packed panels and C rows are not vector-aligned). A panel row is
 * FC_NR values: 64 bytes, FC_NV vectors; the micro-kernel holds FC_MR x FC_NV accumulators. */
#define FC_VL (FC_VB / (fc_idx)sizeof(FC_T))
#define FC_NR (64 / (fc_idx)sizeof(FC_T))
#define FC_NV (FC_NR / FC_VL)
typedef FC_T FC_FN(vec) __attribute__((vector_size(FC_VB)));
typedef FC_T FC_FN(vecu) __attribute__((vector_size(FC_VB), aligned(sizeof(FC_T))));
typedef FC_IT FC_FN(ivec) __attribute__((vector_size(FC_VB)));

/* C[0:mr, 0:nr] (=|+=) A[0:mr, 0:K] @ Bp, with Bp one packed panel (K rows of FC_NR
 * contiguous columns, zero beyond the matrix's last column) and A's row r read from rows[r]:
 * K = nseg * seg_len values, segment sg starting at rows[r] + sg * seg_stride, consecutive
 * values csa apart. One segment is a plain strided row; KH segments of KW*C values, W*C
 * apart, are a convolution window read straight from an NHWC image.
 * The loops over rows and vectors have constant trip counts: the compiler unrolls them and
 * keeps the accumulators in registers (AVX2: 6 x 2 + 2 B vectors + 1 broadcast = 15 of 16).
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
    fc_idx k, o, sg, r, v, j;
    for (r = 0; r < FC_MR; r++) {
        ar[r] = rows[r < mr ? r : mr - 1];
        for (v = 0; v < FC_NV; v++) acc[r][v] = (vec){0};
    }
    for (sg = 0; sg < nseg; sg++) {
        for (k = 0, o = sg * seg_stride; k < seg_len; k++, o += csa, bp += FC_NR) {
            vec b[FC_NV];
            for (v = 0; v < FC_NV; v++) b[v] = *(const vecu *)(bp + v * FC_VL);
            for (r = 0; r < FC_MR; r++) {
                FC_T s = ar[r][o];
                for (v = 0; v < FC_NV; v++) acc[r][v] += b[v] * s;
            }
        }
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
    {
        FC_T t[FC_MR][FC_NR] __attribute__((aligned(FC_VB)));
        for (r = 0; r < FC_MR; r++)
            for (v = 0; v < FC_NV; v++) *(vec *)&t[r][v * FC_VL] = acc[r][v];
        for (r = 0; r < mr; r++) {
            FC_T *cr = c + r * ldc;
            for (j = 0; j < nr; j++) {
                FC_T x = t[r][j];
                if (accumulate) x += cr[j];
                if (bias) x += bias[j];
                if (relu && x < 0) x = 0;
                cr[j] = x;
            }
        }
    }
}

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

/* One micro-kernel call for a caller that walks blocks and panels itself: C[0:mr, 0:nr] =
 * A @ one packed panel (+ bias, ReLU), A's rows given as in fc_micro. */
FC_TARGET static void FC_FN(fc_rows_panel)(fc_idx nseg, fc_idx seg_len, fc_idx seg_stride,
                                           const FC_T **rows, fc_idx mr, fc_idx nr,
                                           const FC_T *panel, FC_T *c, fc_idx ldc,
                                           const FC_T *bias, int relu)
{
    FC_FN(fc_micro)(nseg, seg_len, seg_stride, rows, 1, panel, c, ldc, mr, nr, 0, bias, relu);
}

#undef FC_VL
#undef FC_NR
#undef FC_NV
#undef FC_FN
#undef FC_CAT3
#undef FC_CAT3_
