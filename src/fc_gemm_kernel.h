/* One instance of the GEMM micro-kernel and its driver.
 *
 * fc_gemm.h includes this file once per (element type, instruction set) after defining
 *   FC_T      element type (float or double)
 *   FC_TN     its short name (f32, f64)
 *   FC_ISA    instruction-set suffix (avx2, generic)
 *   FC_TARGET function attribute that selects the instruction set (may be empty)
 * No include guard on purpose.
 */

#define FC_CAT3_(a, b, c) a##_##b##_##c
#define FC_CAT3(a, b, c) FC_CAT3_(a, b, c)
#define FC_FN(name) FC_CAT3(name, FC_TN, FC_ISA)

/* 32-byte vectors: one AVX register; GCC splits them in two SSE registers on the generic path.
 * The _u type may sit at any element-aligned address (packed panels and C rows are not 32-byte
 * aligned). */
#define FC_VL (32 / (fc_idx)sizeof(FC_T))
#define FC_NR (2 * FC_VL)
typedef FC_T FC_FN(vec) __attribute__((vector_size(32)));
typedef FC_T FC_FN(vecu) __attribute__((vector_size(32), aligned(sizeof(FC_T))));

/* C[0:mr, 0:nr] (=|+=) A[0:mr, 0:K] @ Bp, with A element (r, k) at a[r*rsa + k*csa] and Bp one
 * packed panel (K rows of FC_NR contiguous columns, zero beyond the matrix's last column).
 * 6 x 2 vector accumulators + 2 B vectors + 1 broadcast = 15 of AVX2's 16 registers.
 * Rows r >= mr read row mr-1 again, so A needs no padding; their results are dropped. */
FC_TARGET static void FC_FN(fc_micro)(fc_idx K, const FC_T *a, fc_idx rsa, fc_idx csa,
                                      const FC_T *bp, FC_T *c, fc_idx ldc, fc_idx mr, fc_idx nr,
                                      int accumulate, const FC_T *bias, int relu)
{
    typedef FC_FN(vec) vec;
    typedef FC_FN(vecu) vecu;
    const FC_T *a0 = a;
    const FC_T *a1 = a + (mr > 1 ? 1 : 0) * rsa;
    const FC_T *a2 = a + (mr > 2 ? 2 : mr - 1) * rsa;
    const FC_T *a3 = a + (mr > 3 ? 3 : mr - 1) * rsa;
    const FC_T *a4 = a + (mr > 4 ? 4 : mr - 1) * rsa;
    const FC_T *a5 = a + (mr > 5 ? 5 : mr - 1) * rsa;
    vec c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    vec c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
    fc_idx k, o = 0;
    for (k = 0; k < K; k++, o += csa, bp += FC_NR) {
        vec b0 = *(const vecu *)bp;
        vec b1 = *(const vecu *)(bp + FC_VL);
        FC_T s;
        s = a0[o]; c00 += b0 * s; c01 += b1 * s;
        s = a1[o]; c10 += b0 * s; c11 += b1 * s;
        s = a2[o]; c20 += b0 * s; c21 += b1 * s;
        s = a3[o]; c30 += b0 * s; c31 += b1 * s;
        s = a4[o]; c40 += b0 * s; c41 += b1 * s;
        s = a5[o]; c50 += b0 * s; c51 += b1 * s;
    }
    {
        FC_T t[6][FC_NR] __attribute__((aligned(32)));
        fc_idx r, j;
        *(vec *)&t[0][0] = c00; *(vec *)&t[0][FC_VL] = c01;
        *(vec *)&t[1][0] = c10; *(vec *)&t[1][FC_VL] = c11;
        *(vec *)&t[2][0] = c20; *(vec *)&t[2][FC_VL] = c21;
        *(vec *)&t[3][0] = c30; *(vec *)&t[3][FC_VL] = c31;
        *(vec *)&t[4][0] = c40; *(vec *)&t[4][FC_VL] = c41;
        *(vec *)&t[5][0] = c50; *(vec *)&t[5][FC_VL] = c51;
        for (r = 0; r < mr; r++) {
            FC_T *cr = c + r * ldc;
            for (j = 0; j < nr; j++) {
                FC_T v = t[r][j];
                if (accumulate) v += cr[j];
                if (bias) v += bias[j];
                /* written so that NaN passes through ReLU, as in NumPy's maximum */
                if (relu && v < 0) v = 0;
                cr[j] = v;
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
        for (i = 0; i < M; i += 6) {
            fc_idx mr = M - i < 6 ? M - i : 6;
            FC_FN(fc_micro)(K, a + i * rsa, rsa, csa, panel, c + i * ldc + j, ldc, mr, nr,
                            accumulate, bias ? bias + j : 0, relu);
        }
    }
}

#undef FC_VL
#undef FC_NR
#undef FC_FN
#undef FC_CAT3
#undef FC_CAT3_
