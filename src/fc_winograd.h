/* Winograd F(2x2, 3x3): a 3x3, stride-1 convolution computed 2x2 outputs at a time from 4x4
 * input tiles with 16 multiplications per (tile, input channel, filter) instead of 36
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
 *   Y = A^T [ (G g G^T) * (B^T d B) ] A,  elementwise product over the 16 positions,
 * the 16 products summed over input channels as 16 GEMMs (tiles x C) @ (C x F).
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1]; the kernel
 * transform G g G^T is done once per call (conv.pyx's winograd_kernel).
 * The transforms' loops run over channels (input, then filters), contiguous in NHWC, with
 * every load and store unconditional, so that they vectorise; like the GEMM micro-kernel
 * they are compiled for plain x86-64, AVX2 and AVX-512, chosen at run time (fc_simd_level).
 */
#ifndef FC_WINOGRAD_H
#define FC_WINOGRAD_H

#include "fc_gemm.h"

/* V[xi * vs + ch] = (B^T d B)[xi] for ch < C, d's 16 pixels (row-major 4x4) given as
 * pointers to C channel values each (a pointer to zeros where the tile leaves the image).
 * The _masked form takes d's value where the matching value of q (the output of a ReLU, the
 * same pixels of another array) is > 0, else 0: the input gradient's ReLU mask. It ANDs d's
 * bits with the comparison's, so that a NaN in d where the ReLU was off is dropped.
 * Written on GNU vector types, VL channels at a time (the compiler did not vectorise the
 * plain loop: 16 loads through pointers read from an array), then channel by channel. */
#define FC_WINO_IN_STEP(V, LOAD, STORE)                                                       \
    {                                                                                         \
        V d0 = LOAD(0), d1 = LOAD(1), d2 = LOAD(2), d3 = LOAD(3), d4 = LOAD(4);               \
        V d5 = LOAD(5), d6 = LOAD(6), d7 = LOAD(7), d8 = LOAD(8), d9 = LOAD(9);               \
        V d10 = LOAD(10), d11 = LOAD(11), d12 = LOAD(12), d13 = LOAD(13);                     \
        V d14 = LOAD(14), d15 = LOAD(15);                                                     \
        /* rows of B^T d, column by column */                                                 \
        V a0 = d0 - d8, a1 = d1 - d9, a2 = d2 - d10, a3 = d3 - d11;                           \
        V b0 = d4 + d8, b1 = d5 + d9, b2 = d6 + d10, b3 = d7 + d11;                           \
        V c0 = d8 - d4, c1 = d9 - d5, c2 = d10 - d6, c3 = d11 - d7;                           \
        V e0 = d4 - d12, e1 = d5 - d13, e2 = d6 - d14, e3 = d7 - d15;                         \
        /* then (B^T d) B, row by row */                                                      \
        STORE(0, a0 - a2); STORE(1, a1 + a2); STORE(2, a2 - a1); STORE(3, a1 - a3);           \
        STORE(4, b0 - b2); STORE(5, b1 + b2); STORE(6, b2 - b1); STORE(7, b1 - b3);           \
        STORE(8, c0 - c2); STORE(9, c1 + c2); STORE(10, c2 - c1); STORE(11, c1 - c3);         \
        STORE(12, e0 - e2); STORE(13, e1 + e2); STORE(14, e2 - e1); STORE(15, e1 - e3);       \
    }
#define FC_WINO_LOAD_VEC(i) (*(const vecu *)(p[i] + ch))
#define FC_WINO_LOAD_VEC_MASKED(i)                                                            \
    ((vec)((ivec)FC_WINO_LOAD_VEC(i) & (ivec)(*(const vecu *)(q[i] + ch) > (vec){0})))
#define FC_WINO_LOAD_ONE(i) (p[i][ch])
#define FC_WINO_LOAD_ONE_MASKED(i) (q[i][ch] > 0 ? p[i][ch] : (scalar)0)
#define FC_WINO_STORE_VEC(xi, value) (*(vecu *)(v + (xi) * vs + ch) = (value))
#define FC_WINO_STORE_ONE(xi, value) (v[(xi) * vs + ch] = (value))
/* scalar, vec (aligned), vecu (unaligned), ivec (lane masks) and VL, the lanes of a vector */
#define FC_WINO_VECTOR_TYPES(T, IT, VB)                                                       \
    typedef T scalar __attribute__((unused));                                                 \
    typedef T vec __attribute__((vector_size(VB)));                                           \
    typedef T vecu __attribute__((vector_size(VB), aligned(sizeof(T))));                      \
    typedef IT ivec __attribute__((vector_size(VB), unused));                                 \
    enum { VL = VB / sizeof(T) };
/* An input transform over C channels, VL at a time, then one by one: STEP is FC_WINO_IN_STEP
 * (4x4 tiles) or FC_WINO4_IN_STEP (6x6) */
#define FC_DEFINE_WINO_IN_FORM(T, IT, NAME, TARGET, VB, STEP, LOAD_VEC, LOAD_ONE)             \
    TARGET static void NAME(const T *const *p, const T *const *q, fc_idx C, T *restrict v,    \
                            fc_idx vs)                                                        \
    {                                                                                         \
        FC_WINO_VECTOR_TYPES(T, IT, VB)                                                       \
        fc_idx ch = 0;                                                                        \
        (void)q;                                                                              \
        for (; ch + VL <= C; ch += VL) STEP(vec, LOAD_VEC, FC_WINO_STORE_VEC)                 \
        for (; ch < C; ch++) STEP(T, LOAD_ONE, FC_WINO_STORE_ONE)                             \
    }
#define FC_DEFINE_WINO_IN(T, IT, TN, ISA, TARGET, VB)                                         \
    FC_DEFINE_WINO_IN_FORM(T, IT, fc_wino_in_##TN##_##ISA, TARGET, VB, FC_WINO_IN_STEP,       \
                           FC_WINO_LOAD_VEC, FC_WINO_LOAD_ONE)                                \
    FC_DEFINE_WINO_IN_FORM(T, IT, fc_wino_in_masked_##TN##_##ISA, TARGET, VB,                 \
                           FC_WINO_IN_STEP, FC_WINO_LOAD_VEC_MASKED, FC_WINO_LOAD_ONE_MASKED)

/* The 2x2 outputs of one tile from its 16 GEMM results m[xi * ms + f], plus bias, then ReLU
 * if relu, written to o[0..3] (rows then columns of the 2x2; a scratch row where an output
 * lies outside the image). Returns nonzero if a value before the ReLU is not finite: the
 * caller then recomputes directly, since the transforms turn an infinite input into NaN even
 * in outputs whose window does not contain it. ReLU keeps NaN (never reached here). */
#define FC_DEFINE_WINO_OUT(T, TN, ISA, TARGET)                                                \
    TARGET static int fc_wino_out_##TN##_##ISA(const T *m, fc_idx ms, fc_idx F,               \
                                               const T *bias, int relu, T *restrict o0,       \
                                               T *restrict o1, T *restrict o2,                \
                                               T *restrict o3)                                \
    {                                                                                         \
        fc_idx f;                                                                             \
        int bad = 0;                                                                          \
        for (f = 0; f < F; f++) {                                                             \
            T s00 = m[0 * ms + f] + m[4 * ms + f] + m[8 * ms + f];                            \
            T s01 = m[1 * ms + f] + m[5 * ms + f] + m[9 * ms + f];                            \
            T s02 = m[2 * ms + f] + m[6 * ms + f] + m[10 * ms + f];                           \
            T s03 = m[3 * ms + f] + m[7 * ms + f] + m[11 * ms + f];                           \
            T s10 = m[4 * ms + f] - m[8 * ms + f] - m[12 * ms + f];                           \
            T s11 = m[5 * ms + f] - m[9 * ms + f] - m[13 * ms + f];                           \
            T s12 = m[6 * ms + f] - m[10 * ms + f] - m[14 * ms + f];                          \
            T s13 = m[7 * ms + f] - m[11 * ms + f] - m[15 * ms + f];                          \
            T y0 = s00 + s01 + s02 + bias[f], y1 = s01 - s02 - s03 + bias[f];                 \
            T y2 = s10 + s11 + s12 + bias[f], y3 = s11 - s12 - s13 + bias[f];                 \
            /* x - x is 0 for every finite x, NaN for infinities and NaN */                   \
            bad |= !((y0 - y0) + (y1 - y1) + (y2 - y2) + (y3 - y3) == 0);                     \
            if (relu) {                                                                       \
                y0 = y0 < 0 ? (T)0 : y0; y1 = y1 < 0 ? (T)0 : y1;                             \
                y2 = y2 < 0 ? (T)0 : y2; y3 = y3 < 0 ? (T)0 : y3;                             \
            }                                                                                 \
            o0[f] = y0; o1[f] = y1; o2[f] = y2; o3[f] = y3;                                   \
        }                                                                                     \
        return bad;                                                                           \
    }

/* The kernel gradient's transform of one 2x2 tile of dy, F(3x3, 2x2)'s "filter":
 * v[xi * vs + ch] = (G' g G'^T)[xi] for each of C filters ch, G' = [1 0; 1/2 1/2; 1/2 -1/2;
 * 0 1], g's four values (row-major 2x2) given as pointers to C filter values each (zeros past
 * the output's edge), masked by q > 0 when q is given (the ReLU's output, as in
 * fc_wino_in_masked); and db[ch] += the four (masked) values. Vectors of VL filters, then
 * filter by filter. (The names are the input transform's, whose load and store macros it
 * shares.) */
#define FC_WINO_DY_STEP(V, LOAD, STORE, LOAD_DB, STORE_DB, HALF)                              \
    {                                                                                         \
        V g00 = LOAD(0), g01 = LOAD(1), g10 = LOAD(2), g11 = LOAD(3);                         \
        /* G' down the columns: rows r0..r3 of 2 values */                                    \
        V r00 = g00, r01 = g01;                                                               \
        V r10 = (g00 + g10) * HALF, r11 = (g01 + g11) * HALF;                                 \
        V r20 = (g00 - g10) * HALF, r21 = (g01 - g11) * HALF;                                 \
        V r30 = g10, r31 = g11;                                                               \
        /* then along each row */                                                             \
        STORE(0, r00); STORE(1, (r00 + r01) * HALF); STORE(2, (r00 - r01) * HALF);            \
        STORE(3, r01);                                                                        \
        STORE(4, r10); STORE(5, (r10 + r11) * HALF); STORE(6, (r10 - r11) * HALF);            \
        STORE(7, r11);                                                                        \
        STORE(8, r20); STORE(9, (r20 + r21) * HALF); STORE(10, (r20 - r21) * HALF);           \
        STORE(11, r21);                                                                       \
        STORE(12, r30); STORE(13, (r30 + r31) * HALF); STORE(14, (r30 - r31) * HALF);         \
        STORE(15, r31);                                                                       \
        STORE_DB(LOAD_DB + ((g00 + g01) + (g10 + g11)));                                      \
    }
#define FC_WINO_DB_LOAD_VEC (*(vecu *)(db + ch))
#define FC_WINO_DB_STORE_VEC(value) (*(vecu *)(db + ch) = (value))
#define FC_WINO_DB_LOAD_ONE (db[ch])
#define FC_WINO_DB_STORE_ONE(value) (db[ch] = (value))
#define FC_DEFINE_WINO_DY_FORM(T, IT, NAME, TARGET, VB, LOAD_VEC, LOAD_ONE)                   \
    TARGET static void NAME(const T *const *p, const T *const *q, fc_idx C, T *restrict v,    \
                            fc_idx vs, T *restrict db)                                        \
    {                                                                                         \
        FC_WINO_VECTOR_TYPES(T, IT, VB)                                                       \
        const vec half_v = (vec){0} + (T)0.5;                                                 \
        fc_idx ch = 0;                                                                        \
        (void)q;                                                                              \
        for (; ch + VL <= C; ch += VL)                                                        \
            FC_WINO_DY_STEP(vec, LOAD_VEC, FC_WINO_STORE_VEC, FC_WINO_DB_LOAD_VEC,            \
                            FC_WINO_DB_STORE_VEC, half_v)                                     \
        for (; ch < C; ch++)                                                                  \
            FC_WINO_DY_STEP(T, LOAD_ONE, FC_WINO_STORE_ONE, FC_WINO_DB_LOAD_ONE,              \
                            FC_WINO_DB_STORE_ONE, (T)0.5)                                     \
    }
#define FC_DEFINE_WINO_DY(T, IT, TN, ISA, TARGET, VB)                                         \
    FC_DEFINE_WINO_DY_FORM(T, IT, fc_wino_dy_##TN##_##ISA, TARGET, VB, FC_WINO_LOAD_VEC,      \
                           FC_WINO_LOAD_ONE)                                                  \
    FC_DEFINE_WINO_DY_FORM(T, IT, fc_wino_dy_masked_##TN##_##ISA, TARGET, VB,                 \
                           FC_WINO_LOAD_VEC_MASKED, FC_WINO_LOAD_ONE_MASKED)

/* Winograd F(4x4, 3x3): 4x4 outputs from 6x6 input tiles, 36 multiplications per (tile,
 * input channel, filter) for 16 outputs where F(2x2, 3x3) needs 64 and a direct convolution
 * 144 (Lavin and Gray's matrices, interpolation points 0, 1, -1, 2, -2 and infinity):
 *   B^T = [4  0 -5  0 1 0; 0 -4 -4  1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *          0  4  0 -5 0 1],
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 * (the kernel transform G g G^T is done in double precision by fastconv._api). Its larger
 * coefficients cost accuracy: benchmarks/winograd_accuracy.py measures how much. */

/* B^T z for one column (or row) z0..z5 of a tile, into r0..r5 (lvalues) */
#define FC_WINO4_BT(V, z0, z1, z2, z3, z4, z5, r0, r1, r2, r3, r4, r5)                     \
    {                                                                                         \
        V z0_ = (z0), z1_ = (z1), z2_ = (z2), z3_ = (z3), z4_ = (z4), z5_ = (z5);             \
        V a_ = z4_ - (scalar)4 * z2_, b_ = z3_ - (scalar)4 * z1_;                             \
        V c_ = z4_ - z2_, e_ = (scalar)2 * (z3_ - z1_);                                       \
        r0 = (scalar)4 * z0_ - (scalar)5 * z2_ + z4_;                                         \
        r1 = a_ + b_; r2 = a_ - b_; r3 = c_ + e_; r4 = c_ - e_;                               \
        r5 = (scalar)4 * z1_ - (scalar)5 * z3_ + z5_;                                         \
    }
/* V[xi * vs + ch] = (B^T d B)[xi] for the 36 pixels p[0..35] of a 6x6 tile (row-major), as
 * fc_wino_in does for 4x4 tiles (the same LOAD macros, the same mask). */
#define FC_WINO4_IN_STEP(V, LOAD, STORE)                                                      \
    {                                                                                         \
        V t_[36];                                                                             \
        int j_;                                                                               \
        for (j_ = 0; j_ < 6; j_++)          /* B^T d, column by column */                     \
            FC_WINO4_BT(V, LOAD(j_), LOAD(6 + j_), LOAD(12 + j_), LOAD(18 + j_),              \
                        LOAD(24 + j_), LOAD(30 + j_), t_[j_], t_[6 + j_], t_[12 + j_],        \
                        t_[18 + j_], t_[24 + j_], t_[30 + j_])                                \
        for (j_ = 0; j_ < 6; j_++) {        /* then (B^T d) B, row by row */                  \
            V r0_, r1_, r2_, r3_, r4_, r5_;                                                   \
            FC_WINO4_BT(V, t_[6 * j_], t_[6 * j_ + 1], t_[6 * j_ + 2], t_[6 * j_ + 3],        \
                        t_[6 * j_ + 4], t_[6 * j_ + 5], r0_, r1_, r2_, r3_, r4_, r5_)         \
            STORE(6 * j_, r0_); STORE(6 * j_ + 1, r1_); STORE(6 * j_ + 2, r2_);               \
            STORE(6 * j_ + 3, r3_); STORE(6 * j_ + 4, r4_); STORE(6 * j_ + 5, r5_);           \
        }                                                                                     \
    }
#define FC_DEFINE_WINO4_IN(T, IT, TN, ISA, TARGET, VB)                                        \
    FC_DEFINE_WINO_IN_FORM(T, IT, fc_wino4_in_##TN##_##ISA, TARGET, VB, FC_WINO4_IN_STEP,     \
                           FC_WINO_LOAD_VEC, FC_WINO_LOAD_ONE)                                \
    FC_DEFINE_WINO_IN_FORM(T, IT, fc_wino4_in_masked_##TN##_##ISA, TARGET, VB,                \
                           FC_WINO4_IN_STEP, FC_WINO_LOAD_VEC_MASKED, FC_WINO_LOAD_ONE_MASKED)

/* A^T z for one column (or row) z0..z5, into r0..r3 */
#define FC_WINO4_AT(V, z0, z1, z2, z3, z4, z5, r0, r1, r2, r3)                                \
    {                                                                                         \
        V s_ = (z1) + (z2), d_ = (z1) - (z2), s2_ = (z3) + (z4), d2_ = (z3) - (z4);           \
        r0 = (z0) + s_ + s2_; r1 = d_ + (scalar)2 * d2_;                                      \
        r2 = s_ + (scalar)4 * s2_; r3 = d_ + (scalar)8 * d2_ + (z5);                          \
    }
/* The 4x4 outputs of one tile from its 36 GEMM results m[xi * ms + f], plus bias, then ReLU
 * if relu, written to o[0..15][f] (row-major; a scratch row where an output lies outside the
 * image), as fc_wino_out does for 2x2 outputs, with the same finiteness test: nonzero if a
 * value before the ReLU is not finite. F filters, VL at a time, then one by one. */
#define FC_WINO4_OUT_STEP(V, LOAD_M, LOAD_B, STORE_O, BAD, RELU)                              \
    {                                                                                         \
        V t_[24], b_ = LOAD_B;                                                                \
        int j_;                                                                               \
        for (j_ = 0; j_ < 6; j_++)          /* A^T m, column by column */                     \
            FC_WINO4_AT(V, LOAD_M(j_), LOAD_M(6 + j_), LOAD_M(12 + j_), LOAD_M(18 + j_),      \
                        LOAD_M(24 + j_), LOAD_M(30 + j_), t_[j_], t_[6 + j_], t_[12 + j_],    \
                        t_[18 + j_])                                                          \
        for (j_ = 0; j_ < 4; j_++) {        /* then (A^T m) A, row by row */                  \
            V y_[4];                                                                          \
            int k_;                                                                           \
            FC_WINO4_AT(V, t_[6 * j_], t_[6 * j_ + 1], t_[6 * j_ + 2], t_[6 * j_ + 3],        \
                        t_[6 * j_ + 4], t_[6 * j_ + 5], y_[0], y_[1], y_[2], y_[3])           \
            for (k_ = 0; k_ < 4; k_++) {                                                      \
                V yk_ = y_[k_] + b_;                                                          \
                BAD(yk_);                                                                     \
                if (relu) yk_ = RELU(yk_);                                                    \
                STORE_O(4 * j_ + k_, yk_);                                                    \
            }                                                                                 \
        }                                                                                     \
    }
#define FC_WINO4_M_VEC(xi) (*(const vecu *)(m + (xi) * ms + f))
#define FC_WINO4_M_ONE(xi) (m[(xi) * ms + f])
#define FC_WINO4_O_VEC(k, value) (*(vecu *)(o[k] + f) = (value))
#define FC_WINO4_O_ONE(k, value) (o[k][f] = (value))
/* x - x is 0 for every finite x, NaN (so not == 0) for infinities and NaN */
#define FC_WINO4_BAD_VEC(y) (badv |= ((y) - (y)) != (vec){0})
#define FC_WINO4_BAD_ONE(y) (bad |= !((y) - (y) == 0))
/* negative lanes to 0, NaN kept (as the scalar form below) */
#define FC_WINO4_RELU_VEC(y) ((vec)((ivec)(y) & ~(ivec)((y) < (vec){0})))
#define FC_WINO4_RELU_ONE(y) ((y) < 0 ? (scalar)0 : (y))
#define FC_DEFINE_WINO4_OUT(T, IT, TN, ISA, TARGET, VB)                                       \
    TARGET static int fc_wino4_out_##TN##_##ISA(const T *m, fc_idx ms, fc_idx F,              \
                                                const T *bias, int relu, T *const *o)         \
    {                                                                                         \
        FC_WINO_VECTOR_TYPES(T, IT, VB)                                                       \
        ivec badv = (ivec){0};                                                                \
        fc_idx f = 0, lane;                                                                   \
        int bad = 0;                                                                          \
        for (; f + VL <= F; f += VL)                                                          \
            FC_WINO4_OUT_STEP(vec, FC_WINO4_M_VEC, *(const vecu *)(bias + f), FC_WINO4_O_VEC, \
                              FC_WINO4_BAD_VEC, FC_WINO4_RELU_VEC)                            \
        for (; f < F; f++)                                                                    \
            FC_WINO4_OUT_STEP(T, FC_WINO4_M_ONE, bias[f], FC_WINO4_O_ONE, FC_WINO4_BAD_ONE,   \
                              FC_WINO4_RELU_ONE)                                              \
        for (lane = 0; lane < VL; lane++) bad |= badv[lane] != 0;                             \
        return bad;                                                                           \
    }

/* Every transform of one path, for both element types. */
#define FC_DEFINE_WINO_PATH(ISA, TARGET, VB)                                                  \
    FC_DEFINE_WINO_DY(float, int32_t, f32, ISA, TARGET, VB)                                   \
    FC_DEFINE_WINO_DY(double, int64_t, f64, ISA, TARGET, VB)                                  \
    FC_DEFINE_WINO_IN(float, int32_t, f32, ISA, TARGET, VB)                                   \
    FC_DEFINE_WINO_IN(double, int64_t, f64, ISA, TARGET, VB)                                  \
    FC_DEFINE_WINO_OUT(float, f32, ISA, TARGET)                                               \
    FC_DEFINE_WINO_OUT(double, f64, ISA, TARGET)                                              \
    FC_DEFINE_WINO4_IN(float, int32_t, f32, ISA, TARGET, VB)                                  \
    FC_DEFINE_WINO4_IN(double, int64_t, f64, ISA, TARGET, VB)                                 \
    FC_DEFINE_WINO4_OUT(float, int32_t, f32, ISA, TARGET, VB)                                 \
    FC_DEFINE_WINO4_OUT(double, int64_t, f64, ISA, TARGET, VB)
FC_DEFINE_WINO_PATH(generic, , 16)
#if FC_HAVE_AVX2_PATH
FC_DEFINE_WINO_PATH(avx2, FC_TARGET_AVX2, 32)
#endif
#if FC_HAVE_AVX512_PATH
FC_DEFINE_WINO_PATH(avx512, FC_TARGET_AVX512, 64)
#endif
#undef FC_DEFINE_WINO_PATH
#define FC_WINO_PICK(name, ...)                                                                 \
    (FC_IF_AVX512(fc_simd_level == 2 ? name##_avx512(__VA_ARGS__) :)                           \
     FC_IF_AVX2(fc_simd_level >= 1 ? name##_avx2(__VA_ARGS__) :) name##_generic(__VA_ARGS__))
#undef FC_DEFINE_WINO4_IN
#undef FC_DEFINE_WINO4_OUT
#undef FC_WINO4_IN_STEP
#undef FC_WINO4_OUT_STEP
#undef FC_WINO4_BT
#undef FC_WINO4_AT
#undef FC_WINO4_M_VEC
#undef FC_WINO4_M_ONE
#undef FC_WINO4_O_VEC
#undef FC_WINO4_O_ONE
#undef FC_WINO4_BAD_VEC
#undef FC_WINO4_BAD_ONE
#undef FC_WINO4_RELU_VEC
#undef FC_WINO4_RELU_ONE
#undef FC_DEFINE_WINO_IN
#undef FC_DEFINE_WINO_OUT
#undef FC_DEFINE_WINO_IN_FORM
#undef FC_WINO_VECTOR_TYPES
#undef FC_DEFINE_WINO_DY
#undef FC_DEFINE_WINO_DY_FORM
#undef FC_WINO_DY_STEP
#undef FC_WINO_DB_LOAD_VEC
#undef FC_WINO_DB_STORE_VEC
#undef FC_WINO_DB_LOAD_ONE
#undef FC_WINO_DB_STORE_ONE
#undef FC_WINO_IN_STEP
#undef FC_WINO_LOAD_VEC
#undef FC_WINO_LOAD_VEC_MASKED
#undef FC_WINO_LOAD_ONE
#undef FC_WINO_LOAD_ONE_MASKED
#undef FC_WINO_STORE_VEC
#undef FC_WINO_STORE_ONE

static void fc_wino_in_f32(const float **p, fc_idx C, float *v, fc_idx vs)
{
    FC_WINO_PICK(fc_wino_in_f32, p, 0, C, v, vs);
}
static void fc_wino_in_f64(const double **p, fc_idx C, double *v, fc_idx vs)
{
    FC_WINO_PICK(fc_wino_in_f64, p, 0, C, v, vs);
}
static void fc_wino_in_masked_f32(const float **p, const float **q, fc_idx C, float *v,
                                  fc_idx vs)
{
    FC_WINO_PICK(fc_wino_in_masked_f32, p, q, C, v, vs);
}
static void fc_wino_in_masked_f64(const double **p, const double **q, fc_idx C, double *v,
                                  fc_idx vs)
{
    FC_WINO_PICK(fc_wino_in_masked_f64, p, q, C, v, vs);
}
static void fc_wino_dy_f32(const float **p, const float **q, fc_idx F, float *u, fc_idx us,
                           float *db)
{
    if (q)
        FC_WINO_PICK(fc_wino_dy_masked_f32, p, q, F, u, us, db);
    else
        FC_WINO_PICK(fc_wino_dy_f32, p, 0, F, u, us, db);
}
static void fc_wino_dy_f64(const double **p, const double **q, fc_idx F, double *u,
                           fc_idx us, double *db)
{
    if (q)
        FC_WINO_PICK(fc_wino_dy_masked_f64, p, q, F, u, us, db);
    else
        FC_WINO_PICK(fc_wino_dy_f64, p, 0, F, u, us, db);
}
static int fc_wino_out_f32(const float *m, fc_idx ms, fc_idx F, const float *bias, int relu,
                           float *o0, float *o1, float *o2, float *o3)
{
    return FC_WINO_PICK(fc_wino_out_f32, m, ms, F, bias, relu, o0, o1, o2, o3);
}
static int fc_wino_out_f64(const double *m, fc_idx ms, fc_idx F, const double *bias,
                           int relu, double *o0, double *o1, double *o2, double *o3)
{
    return FC_WINO_PICK(fc_wino_out_f64, m, ms, F, bias, relu, o0, o1, o2, o3);
}
static void fc_wino4_in_f32(const float **p, const float **q, fc_idx C, float *v, fc_idx vs)
{
    if (q)
        FC_WINO_PICK(fc_wino4_in_masked_f32, p, q, C, v, vs);
    else
        FC_WINO_PICK(fc_wino4_in_f32, p, 0, C, v, vs);
}
static void fc_wino4_in_f64(const double **p, const double **q, fc_idx C, double *v,
                            fc_idx vs)
{
    if (q)
        FC_WINO_PICK(fc_wino4_in_masked_f64, p, q, C, v, vs);
    else
        FC_WINO_PICK(fc_wino4_in_f64, p, 0, C, v, vs);
}
static int fc_wino4_out_f32(const float *m, fc_idx ms, fc_idx F, const float *bias, int relu,
                            float *const *o)
{
    return FC_WINO_PICK(fc_wino4_out_f32, m, ms, F, bias, relu, o);
}
static int fc_wino4_out_f64(const double *m, fc_idx ms, fc_idx F, const double *bias,
                            int relu, double *const *o)
{
    return FC_WINO_PICK(fc_wino4_out_f64, m, ms, F, bias, relu, o);
}
#undef FC_WINO_PICK

#endif /* FC_WINOGRAD_H */
