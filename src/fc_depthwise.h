/* Depthwise convolution micro-kernels, NHWC: each channel convolved with its own taps, the
 * channels in vector registers (as XNNPACK's f32-dwconv and ncnn's pack kernels keep them).
 *
 * A depthwise convolution does one multiply-add per tap and loaded value, so it is bound by
 * memory and by loads, not by arithmetic. Both kernels below therefore share each load among
 * several multiply-adds: the forward one computes up to FC_DW_PIXELS output pixels at once, so
 * that a tap's weights, loaded once, feed every pixel; the kernel gradient's one keeps up to
 * FC_DW_TAPS taps' sums in registers while it walks along a run of pixels, so that each pixel's
 * dy, loaded once, feeds every tap. Compiled for AVX-512, AVX2+FMA and the baseline like the
 * GEMM (fc_gemm.h) and picked by fc_simd_level.
 *
 * fc_dw_taps_*(c, ntaps, src, sstep, kp, bias, relu, npix, dst, dstep): for pixel p < npix
 *   and channel ch < c, dst[p*dstep + ch] = bias[ch] (0 without bias) + the sum over taps t,
 *   in order, of src[t][p*sstep + ch] * kp[t][ch], then 0 where that is below 0 if relu
 *   (NaN stays NaN, as in the GEMM's ReLU). The forward pass
 *   (src: the input pixels under the taps, kp: the taps' weights) and the input gradient
 *   (src: dy's pixels, kp: the weights of the taps that reach the input pixel) both run it.
 * fc_dw3x3_*(..., stream): the 3x3 case of fc_dw_taps (see below); with stream set it writes
 *   its full vectors with non-temporal stores (around the caches: an output much larger than
 *   the last-level cache would only push the input out of it, and a store that misses reads
 *   the line first), then fences them.
 * fc_dw_filter_*(c, ntaps, xp, xstep, dy, dystep, npix, acc, db): for tap t < ntaps and
 *   channel ch, acc[t][ch] += the sum over p < npix, in order, of xp[t][p*xstep + ch] *
 *   dy[p*dystep + ch]; db[ch] += the sum of dy[p*dystep + ch] if db is not NULL.
 * A pixel's sum runs in the same order on every path and in every kernel here; they differ
 * only in whether a multiply-add rounds once (FMA) or twice, which the compiler decides per
 * loop (GCC keeps long chains of FMAs apart on some targets).
 */
#ifndef FC_DEPTHWISE_H
#define FC_DEPTHWISE_H

#include "fc_gemm.h"
#include <stdint.h>

#define FC_DW_PIXELS 4      /* output pixels per call of fc_dw_taps at most */
#define FC_DW_TAPS 8        /* taps whose sums fc_dw_filter holds in registers at once */

/* *p = v, a vector of any width: with stream (and p 16-byte aligned) as non-temporal 16-byte
 * stores (SSE's, which every x86-64 has), then FC_DW_FENCE; plain stores elsewhere. */
#if defined(__SSE__)
#include <xmmintrin.h>
#define FC_DW_STORE(VECU, p, v, stream)                                                        \
    do {                                                                                       \
        if ((stream) && ((uintptr_t)(p) & 15) == 0) {                                          \
            unsigned h_;                                                                       \
            for (h_ = 0; h_ < sizeof(v) / 16; h_++) {                                          \
                __m128 q_;                                                                     \
                __builtin_memcpy(&q_, (const char *)&(v) + 16 * h_, 16);                       \
                _mm_stream_ps((float *)((char *)(p) + 16 * h_), q_);                           \
            }                                                                                  \
        } else {                                                                               \
            *(VECU *)(p) = (v);                                                                \
        }                                                                                      \
    } while (0)
#define FC_DW_FENCE(stream) do { if (stream) _mm_sfence(); } while (0)
#else
#define FC_DW_STORE(VECU, p, v, stream) (*(VECU *)(p) = (v))
#define FC_DW_FENCE(stream) ((void)(stream))
#endif

#define FC_DEFINE_DEPTHWISE(T, TN, IT, VB, ISA, TARGET)                                        \
    typedef T fc_dw_vec_##TN##_##ISA __attribute__((vector_size(VB)));                         \
    typedef T fc_dw_vecu_##TN##_##ISA __attribute__((vector_size(VB), aligned(sizeof(T))));    \
    typedef IT fc_dw_ivec_##TN##_##ISA __attribute__((vector_size(VB)));                       \
    TARGET static void fc_dw_taps_##TN##_##ISA(fc_idx c, fc_idx ntaps, const T *const *src,    \
                                               fc_idx sstep, const T *const *kp,               \
                                               const T *bias, int relu, fc_idx npix, T *dst,   \
                                               fc_idx dstep)                                   \
    {                                                                                          \
        typedef fc_dw_vec_##TN##_##ISA vec;                                                    \
        typedef fc_dw_vecu_##TN##_##ISA vecu;                                                  \
        typedef fc_dw_ivec_##TN##_##ISA ivec;                                                  \
        enum { VL = VB / sizeof(T) };                                                          \
        const vec zero = (vec){0};                                                             \
        fc_idx ch = 0, t, p;                                                                   \
        if (npix == FC_DW_PIXELS) {                                                            \
            /* four pixels: each tap's weights loaded once for all four */                     \
            for (; ch + VL <= c; ch += VL) {                                                   \
                vec b = bias ? *(const vecu *)(bias + ch) : zero;                              \
                vec a0 = b, a1 = b, a2 = b, a3 = b;                                            \
                for (t = 0; t < ntaps; t++) {                                                  \
                    const T *s = src[t] + ch;                                                  \
                    vec k = *(const vecu *)(kp[t] + ch);                                       \
                    a0 += *(const vecu *)s * k;                                                \
                    a1 += *(const vecu *)(s + sstep) * k;                                      \
                    a2 += *(const vecu *)(s + 2 * sstep) * k;                                  \
                    a3 += *(const vecu *)(s + 3 * sstep) * k;                                  \
                }                                                                              \
                if (relu) {                                                                    \
                    a0 = (vec)((ivec)a0 & ~(ivec)(a0 < zero));                                 \
                    a1 = (vec)((ivec)a1 & ~(ivec)(a1 < zero));                                 \
                    a2 = (vec)((ivec)a2 & ~(ivec)(a2 < zero));                                 \
                    a3 = (vec)((ivec)a3 & ~(ivec)(a3 < zero));                                 \
                }                                                                              \
                *(vecu *)(dst + ch) = a0;                                                      \
                *(vecu *)(dst + dstep + ch) = a1;                                              \
                *(vecu *)(dst + 2 * dstep + ch) = a2;                                          \
                *(vecu *)(dst + 3 * dstep + ch) = a3;                                          \
            }                                                                                  \
        } else {                                                                               \
            for (; ch + VL <= c; ch += VL) {                                                   \
                for (p = 0; p < npix; p++) {                                                   \
                    vec a = bias ? *(const vecu *)(bias + ch) : zero;                          \
                    for (t = 0; t < ntaps; t++)                                                \
                        a += *(const vecu *)(src[t] + p * sstep + ch) *                        \
                             *(const vecu *)(kp[t] + ch);                                      \
                    if (relu) a = (vec)((ivec)a & ~(ivec)(a < zero));                          \
                    *(vecu *)(dst + p * dstep + ch) = a;                                       \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        for (; ch < c; ch++) {                   /* the channels past the last full vector */  \
            for (p = 0; p < npix; p++) {                                                       \
                T a = bias ? bias[ch] : (T)0;                                                  \
                for (t = 0; t < ntaps; t++) a += src[t][p * sstep + ch] * kp[t][ch];           \
                if (relu) a = a < 0 ? (T)0 : a;                                                \
                dst[p * dstep + ch] = a;                                                       \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    /* 3x3 taps, dilation 1, stride sw (1 or 2), every tap inside the image: rows[i] is the    \
     * first pixel of window row i of output pixel 0, pixels pc values apart; output p reads   \
     * rows[i] + (p*sw + j)*pc; k holds the 9 taps' weights, c each. Four outputs at a time    \
     * along the row, every channel of them before the next four: each input column is         \
     * loaded once for the (up to 3) outputs it reaches, where fc_dw_taps loads each tap       \
     * of each output. The sums run in fc_dw_taps's order.                              */     \
    TARGET static void fc_dw3x3_##TN##_##ISA(fc_idx c, const T *const *rows, fc_idx sw,        \
                                             fc_idx pc, const T *k, const T *bias, int relu,   \
                                             fc_idx npix, T *dst, fc_idx dstep, int stream)    \
    {                                                                                          \
        typedef fc_dw_vec_##TN##_##ISA vec;                                                    \
        typedef fc_dw_vecu_##TN##_##ISA vecu;                                                  \
        typedef fc_dw_ivec_##TN##_##ISA ivec;                                                  \
        enum { VL = VB / sizeof(T) };                                                          \
        const vec zero = (vec){0};                                                             \
        fc_idx ch, p, i, q;                                                                    \
        for (p = 0; p + 4 <= npix; p += 4) {                                                   \
            T *d = dst + p * dstep;                                                            \
            for (ch = 0; ch + VL <= c; ch += VL) {                                             \
                vec b = bias ? *(const vecu *)(bias + ch) : zero;                              \
                vec a0 = b, a1 = b, a2 = b, a3 = b;                                            \
                for (i = 0; i < 3; i++) {                                                      \
                    const T *r = rows[i] + p * sw * pc + ch;                                   \
                    const vec k0 = *(const vecu *)(k + 3 * i * c + ch);                        \
                    const vec k1 = *(const vecu *)(k + (3 * i + 1) * c + ch);                  \
                    const vec k2 = *(const vecu *)(k + (3 * i + 2) * c + ch);                  \
                    vec v0, v1, v2;                                                            \
                    if (sw == 1) {     /* columns 0..5; output q reads q, q+1, q+2 */          \
                        v0 = *(const vecu *)r;                                                 \
                        a0 += v0 * k0;                                                         \
                        v1 = *(const vecu *)(r + pc);                                          \
                        a0 += v1 * k1; a1 += v1 * k0;                                          \
                        v2 = *(const vecu *)(r + 2 * pc);                                      \
                        a0 += v2 * k2; a1 += v2 * k1; a2 += v2 * k0;                           \
                        v0 = *(const vecu *)(r + 3 * pc);                                      \
                        a1 += v0 * k2; a2 += v0 * k1; a3 += v0 * k0;                           \
                        v1 = *(const vecu *)(r + 4 * pc);                                      \
                        a2 += v1 * k2; a3 += v1 * k1;                                          \
                        v2 = *(const vecu *)(r + 5 * pc);                                      \
                        a3 += v2 * k2;                                                         \
                    } else {           /* columns 0..8; output q reads 2q, 2q+1, 2q+2 */       \
                        v0 = *(const vecu *)r;                                                 \
                        v1 = *(const vecu *)(r + pc);                                          \
                        v2 = *(const vecu *)(r + 2 * pc);                                      \
                        a0 += v0 * k0; a0 += v1 * k1; a0 += v2 * k2;                           \
                        v0 = *(const vecu *)(r + 3 * pc);                                      \
                        v1 = *(const vecu *)(r + 4 * pc);                                      \
                        a1 += v2 * k0; a1 += v0 * k1; a1 += v1 * k2;                           \
                        v0 = *(const vecu *)(r + 5 * pc);                                      \
                        v2 = *(const vecu *)(r + 6 * pc);                                      \
                        a2 += v1 * k0; a2 += v0 * k1; a2 += v2 * k2;                           \
                        v0 = *(const vecu *)(r + 7 * pc);                                      \
                        v1 = *(const vecu *)(r + 8 * pc);                                      \
                        a3 += v2 * k0; a3 += v0 * k1; a3 += v1 * k2;                           \
                    }                                                                          \
                }                                                                              \
                if (relu) {                                                                    \
                    a0 = (vec)((ivec)a0 & ~(ivec)(a0 < zero));                                 \
                    a1 = (vec)((ivec)a1 & ~(ivec)(a1 < zero));                                 \
                    a2 = (vec)((ivec)a2 & ~(ivec)(a2 < zero));                                 \
                    a3 = (vec)((ivec)a3 & ~(ivec)(a3 < zero));                                 \
                }                                                                              \
                FC_DW_STORE(vecu, d + ch, a0, stream);                                         \
                FC_DW_STORE(vecu, d + dstep + ch, a1, stream);                                 \
                FC_DW_STORE(vecu, d + 2 * dstep + ch, a2, stream);                             \
                FC_DW_STORE(vecu, d + 3 * dstep + ch, a3, stream);                             \
            }                                                                                  \
            for (; ch < c; ch++) {               /* the channels past the last full vector */  \
                for (q = 0; q < 4; q++) {                                                      \
                    T a = bias ? bias[ch] : (T)0;                                              \
                    for (i = 0; i < 9; i++)                                                    \
                        a += rows[i / 3][((p + q) * sw + i % 3) * pc + ch] * k[i * c + ch];    \
                    if (relu) a = a < 0 ? (T)0 : a;                                            \
                    d[q * dstep + ch] = a;                                                     \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        for (; p < npix; p++) {                  /* the last pixels, one at a time */          \
            for (ch = 0; ch + VL <= c; ch += VL) {                                             \
                vec a = bias ? *(const vecu *)(bias + ch) : zero;                              \
                for (i = 0; i < 9; i++)                                                        \
                    a += *(const vecu *)(rows[i / 3] + (p * sw + i % 3) * pc + ch) *           \
                         *(const vecu *)(k + i * c + ch);                                      \
                if (relu) a = (vec)((ivec)a & ~(ivec)(a < zero));                              \
                *(vecu *)(dst + p * dstep + ch) = a;                                           \
            }                                                                                  \
            for (; ch < c; ch++) {                                                             \
                T a = bias ? bias[ch] : (T)0;                                                  \
                for (i = 0; i < 9; i++)                                                        \
                    a += rows[i / 3][(p * sw + i % 3) * pc + ch] * k[i * c + ch];              \
                if (relu) a = a < 0 ? (T)0 : a;                                                \
                dst[p * dstep + ch] = a;                                                       \
            }                                                                                  \
        }                                                                                      \
        FC_DW_FENCE(stream);                                                                   \
    }                                                                                          \
    TARGET static void fc_dw_filter_##TN##_##ISA(fc_idx c, fc_idx ntaps, const T *const *xp,   \
                                                 fc_idx xstep, const T *dy, fc_idx dystep,     \
                                                 fc_idx npix, T *const *acc, T *db)            \
    {                                                                                          \
        typedef fc_dw_vec_##TN##_##ISA vec;                                                    \
        typedef fc_dw_vecu_##TN##_##ISA vecu;                                                  \
        enum { VL = VB / sizeof(T) };                                                          \
        fc_idx ch, t0, t, p, nt;  /* no taps at all (a window off the image): dy's sum still */ \
        for (t0 = 0; t0 < ntaps || t0 == 0; t0 += FC_DW_TAPS) {                                \
            T *sums = t0 == 0 ? db : NULL;            /* dy's sum once, with the first taps */ \
            nt = ntaps - t0 < FC_DW_TAPS ? ntaps - t0 : FC_DW_TAPS;                            \
            for (ch = 0; ch + VL <= c; ch += VL) {                                             \
                vec a[FC_DW_TAPS], s = (vec){0};                                               \
                for (t = 0; t < nt; t++) a[t] = *(vecu *)(acc[t0 + t] + ch);                   \
                for (p = 0; p < npix; p++) {                                                   \
                    vec d = *(const vecu *)(dy + p * dystep + ch);                             \
                    s += d;                                                                    \
                    for (t = 0; t < nt; t++)                                                   \
                        a[t] += *(const vecu *)(xp[t0 + t] + p * xstep + ch) * d;              \
                }                                                                              \
                for (t = 0; t < nt; t++) *(vecu *)(acc[t0 + t] + ch) = a[t];                   \
                if (sums) *(vecu *)(sums + ch) += s;                                           \
            }                                                                                  \
            for (; ch < c; ch++) {                                                             \
                T a[FC_DW_TAPS], s = 0;                                                        \
                for (t = 0; t < nt; t++) a[t] = acc[t0 + t][ch];                               \
                for (p = 0; p < npix; p++) {                                                   \
                    T d = dy[p * dystep + ch];                                                 \
                    s += d;                                                                    \
                    for (t = 0; t < nt; t++) a[t] += xp[t0 + t][p * xstep + ch] * d;           \
                }                                                                              \
                for (t = 0; t < nt; t++) acc[t0 + t][ch] = a[t];                               \
                if (sums) sums[ch] += s;                                                       \
            }                                                                                  \
        }                                                                                      \
    }

FC_DEFINE_DEPTHWISE(float, f32, int32_t, 16, generic, )
FC_DEFINE_DEPTHWISE(double, f64, int64_t, 16, generic, )
#if FC_HAVE_AVX2_PATH
FC_DEFINE_DEPTHWISE(float, f32, int32_t, 32, avx2, FC_TARGET_AVX2)
FC_DEFINE_DEPTHWISE(double, f64, int64_t, 32, avx2, FC_TARGET_AVX2)
#endif
#if FC_HAVE_AVX512_PATH
FC_DEFINE_DEPTHWISE(float, f32, int32_t, 64, avx512, FC_TARGET_AVX512)
FC_DEFINE_DEPTHWISE(double, f64, int64_t, 64, avx512, FC_TARGET_AVX512)
#endif
#undef FC_DEFINE_DEPTHWISE

#define FC_DEFINE_DEPTHWISE_DISPATCH(T, TN)                                                    \
    static void fc_dw_taps_##TN(fc_idx c, fc_idx ntaps, const T *const *src, fc_idx sstep,     \
                                const T *const *kp, const T *bias, int relu, fc_idx npix,      \
                                T *dst, fc_idx dstep)                                          \
    {                                                                                          \
        FC_PICK(TN, fc_dw_taps, (c, ntaps, src, sstep, kp, bias, relu, npix, dst, dstep));     \
    }                                                                                          \
    static void fc_dw3x3_##TN(fc_idx c, const T *const *rows, fc_idx sw, fc_idx pc,            \
                              const T *k, const T *bias, int relu, fc_idx npix, T *dst,        \
                              fc_idx dstep, int stream)                                        \
    {                                                                                          \
        FC_PICK(TN, fc_dw3x3, (c, rows, sw, pc, k, bias, relu, npix, dst, dstep, stream));     \
    }                                                                                          \
    static void fc_dw_filter_##TN(fc_idx c, fc_idx ntaps, const T *const *xp, fc_idx xstep,    \
                                  const T *dy, fc_idx dystep, fc_idx npix, T *const *acc,      \
                                  T *db)                                                       \
    {                                                                                          \
        FC_PICK(TN, fc_dw_filter, (c, ntaps, xp, xstep, dy, dystep, npix, acc, db));           \
    }
FC_DEFINE_DEPTHWISE_DISPATCH(float, f32)
FC_DEFINE_DEPTHWISE_DISPATCH(double, f64)
#undef FC_DEFINE_DEPTHWISE_DISPATCH

#endif /* FC_DEPTHWISE_H */
