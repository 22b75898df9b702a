/* Max pooling of one output pixel whose window lies inside the image, recording each maximum's
 * position in the window (the layers' codes), with the running maxima in vector registers.
 *
 * fc_pool_codes_*(c, npos, xp, code, y, codes): for each of c channels, y = the maximum of
 * xp[0][ch] .. xp[npos-1][ch] and codes = code[p] of the position p that holds it. The window
 * is visited in the order given (row-major); a value replaces the maximum when it is strictly
 * larger, or when it is the first NaN: the same rule as pool.pyx's replaces(), so both paths
 * give the same results. codes may be NULL: plain max pooling, nothing recorded. Compiled for
 * AVX-512, AVX2 and the baseline; picked by fc_simd_level (fc_gemm.h), like the GEMM.
 */
#ifndef FC_POOL_H
#define FC_POOL_H

#include "fc_gemm.h"

#define FC_DEFINE_POOL_CODES(T, TN, IT, VB, ISA, TARGET)                                       \
    typedef T fc_pool_vec_##TN##_##ISA __attribute__((vector_size(VB)));                      \
    typedef T fc_pool_vecu_##TN##_##ISA __attribute__((vector_size(VB), aligned(sizeof(T))));  \
    typedef IT fc_pool_ivec_##TN##_##ISA __attribute__((vector_size(VB)));                    \
    TARGET static void fc_pool_codes_##TN##_##ISA(fc_idx c, fc_idx npos, const T *const *xp,  \
                                                  const T *code, T *y, T *codes)              \
    {                                                                                         \
        typedef fc_pool_vec_##TN##_##ISA vec;                                                 \
        typedef fc_pool_vecu_##TN##_##ISA vecu;                                               \
        typedef fc_pool_ivec_##TN##_##ISA ivec;                                               \
        enum { VL = VB / sizeof(T) };                                                         \
        fc_idx ch, p;                                                                         \
        for (ch = 0; ch + VL <= c; ch += VL) {                                                \
            vec best = *(const vecu *)(xp[0] + ch), where = (vec){0} + code[0];               \
            for (p = 1; p < npos; p++) {                                                      \
                vec v = *(const vecu *)(xp[p] + ch);                                          \
                ivec take = (v > best) | ((v != v) & (best == best));                         \
                best = (vec)(((ivec)v & take) | ((ivec)best & ~take));                        \
                where = (vec)(((ivec)((vec){0} + code[p]) & take) | ((ivec)where & ~take));   \
            }                                                                                 \
            *(vecu *)(y + ch) = best;                                                         \
            if (codes) *(vecu *)(codes + ch) = where;                                         \
        }                                                                                     \
        for (; ch < c; ch++) {                                                                \
            T best = xp[0][ch], where = code[0];                                              \
            for (p = 1; p < npos; p++) {                                                      \
                T v = xp[p][ch];                                                              \
                if (v > best || (v != v && best == best)) {                                   \
                    best = v;                                                                 \
                    where = code[p];                                                          \
                }                                                                             \
            }                                                                                 \
            y[ch] = best;                                                                     \
            if (codes) codes[ch] = where;                                                     \
        }                                                                                     \
    }

FC_DEFINE_POOL_CODES(float, f32, int32_t, 16, generic, )
FC_DEFINE_POOL_CODES(double, f64, int64_t, 16, generic, )
#if FC_HAVE_AVX2_PATH
FC_DEFINE_POOL_CODES(float, f32, int32_t, 32, avx2, FC_TARGET_AVX2)
FC_DEFINE_POOL_CODES(double, f64, int64_t, 32, avx2, FC_TARGET_AVX2)
#endif
#if FC_HAVE_AVX512_PATH
FC_DEFINE_POOL_CODES(float, f32, int32_t, 64, avx512, FC_TARGET_AVX512)
FC_DEFINE_POOL_CODES(double, f64, int64_t, 64, avx512, FC_TARGET_AVX512)
#endif
#undef FC_DEFINE_POOL_CODES

static void fc_pool_codes_f32(fc_idx c, fc_idx npos, const float *const *xp, const float *code,
                              float *y, float *codes)
{
    FC_PICK(f32, fc_pool_codes, (c, npos, xp, code, y, codes));
}

static void fc_pool_codes_f64(fc_idx c, fc_idx npos, const double *const *xp,
                              const double *code, double *y, double *codes)
{
    FC_PICK(f64, fc_pool_codes, (c, npos, xp, code, y, codes));
}

#endif /* FC_POOL_H */
