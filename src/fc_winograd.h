/* Winograd F(2x2, 3x3): a 3x3, stride-1 convolution computed 2x2 outputs at a time from 4x4
 * input tiles with 16 multiplications per (tile, input channel, filter) instead of 36
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
 *   Y = A^T [ (G g G^T) * (B^T d B) ] A,  elementwise product over the 16 positions,
 * the 16 products summed over input channels as 16 GEMMs (tiles x C) @ (C x F).
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1]; the kernel
 * transform G g G^T is done once per call, in NumPy (fastconv._api).
 * The transforms' loops run over channels (input, then filters), contiguous in NHWC, with
 * every load and store unconditional, so that they vectorise; like the GEMM micro-kernel
 * they are compiled for plain x86-64 and for AVX2, chosen at run time (fc_simd_level).
 */
#ifndef FC_WINOGRAD_H
#define FC_WINOGRAD_H

#include "fc_gemm.h"

/* V[xi * vs + ch] = (B^T d B)[xi] for ch < C, d's 16 pixels (row-major 4x4) given as
 * pointers to C channel values each (a pointer to zeros where the tile leaves the image). */
#define FC_DEFINE_WINO_IN(T, TN, ISA, TARGET)                                                 \
    TARGET static void fc_wino_in_##TN##_##ISA(const T *const *p, fc_idx C, T *restrict v,    \
                                               fc_idx vs)                                     \
    {                                                                                         \
        const T *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3], *p4 = p[4], *p5 = p[5];       \
        const T *p6 = p[6], *p7 = p[7], *p8 = p[8], *p9 = p[9], *p10 = p[10];                 \
        const T *p11 = p[11], *p12 = p[12], *p13 = p[13], *p14 = p[14], *p15 = p[15];         \
        fc_idx ch;                                                                            \
        for (ch = 0; ch < C; ch++) {                                                          \
            /* rows of B^T d, column by column */                                             \
            T a0 = p0[ch] - p8[ch], a1 = p1[ch] - p9[ch];                                     \
            T a2 = p2[ch] - p10[ch], a3 = p3[ch] - p11[ch];                                   \
            T b0 = p4[ch] + p8[ch], b1 = p5[ch] + p9[ch];                                     \
            T b2 = p6[ch] + p10[ch], b3 = p7[ch] + p11[ch];                                   \
            T c0 = p8[ch] - p4[ch], c1 = p9[ch] - p5[ch];                                     \
            T c2 = p10[ch] - p6[ch], c3 = p11[ch] - p7[ch];                                   \
            T d0 = p4[ch] - p12[ch], d1 = p5[ch] - p13[ch];                                   \
            T d2 = p6[ch] - p14[ch], d3 = p7[ch] - p15[ch];                                   \
            /* then (B^T d) B, row by row */                                                  \
            v[0 * vs + ch] = a0 - a2; v[1 * vs + ch] = a1 + a2;                               \
            v[2 * vs + ch] = a2 - a1; v[3 * vs + ch] = a1 - a3;                               \
            v[4 * vs + ch] = b0 - b2; v[5 * vs + ch] = b1 + b2;                               \
            v[6 * vs + ch] = b2 - b1; v[7 * vs + ch] = b1 - b3;                               \
            v[8 * vs + ch] = c0 - c2; v[9 * vs + ch] = c1 + c2;                               \
            v[10 * vs + ch] = c2 - c1; v[11 * vs + ch] = c1 - c3;                             \
            v[12 * vs + ch] = d0 - d2; v[13 * vs + ch] = d1 + d2;                             \
            v[14 * vs + ch] = d2 - d1; v[15 * vs + ch] = d1 - d3;                             \
        }                                                                                     \
    }

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

FC_DEFINE_WINO_IN(float, f32, generic, )
FC_DEFINE_WINO_IN(double, f64, generic, )
FC_DEFINE_WINO_OUT(float, f32, generic, )
FC_DEFINE_WINO_OUT(double, f64, generic, )
#if FC_HAVE_AVX2_PATH
FC_DEFINE_WINO_IN(float, f32, avx2, __attribute__((target("avx2,fma"))))
FC_DEFINE_WINO_IN(double, f64, avx2, __attribute__((target("avx2,fma"))))
FC_DEFINE_WINO_OUT(float, f32, avx2, __attribute__((target("avx2,fma"))))
FC_DEFINE_WINO_OUT(double, f64, avx2, __attribute__((target("avx2,fma"))))
#define FC_WINO_PICK(name, ...) \
    (fc_simd_level == 1 ? name##_avx2(__VA_ARGS__) : name##_generic(__VA_ARGS__))
#else
#define FC_WINO_PICK(name, ...) name##_generic(__VA_ARGS__)
#endif
#undef FC_DEFINE_WINO_IN
#undef FC_DEFINE_WINO_OUT

static void fc_wino_in_f32(const float **p, fc_idx C, float *v, fc_idx vs)
{
    FC_WINO_PICK(fc_wino_in_f32, p, C, v, vs);
}
static void fc_wino_in_f64(const double **p, fc_idx C, double *v, fc_idx vs)
{
    FC_WINO_PICK(fc_wino_in_f64, p, C, v, vs);
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
#undef FC_WINO_PICK

#endif /* FC_WINOGRAD_H */
