/* GEMM building blocks for fastconv's convolution kernels.
 *
 * C = A @ B on small, cache-sized tiles: fc_pack_b_* lays B out in panels of FC_NR columns,
 * fc_gemm_* multiplies a tile of A by the packed B with a 6 x FC_NR register-blocked
 * micro-kernel. Each kernel is compiled twice, for AVX2+FMA and for the baseline x86-64 (or any
 * other architecture), and fc_gemm_* picks one at run time, so that the default build needs no
 * -march flag and still runs on any CPU.
 */
#ifndef FC_GEMM_H
#define FC_GEMM_H

#include <stddef.h>
#include <string.h>
#include <stdlib.h>
#include <stdint.h>

typedef ptrdiff_t fc_idx;

/* Tiles are cut in multiples of 6 rows (both paths' micro-kernel heights divide it) and
 * B is packed in panels of 64 bytes of columns. */
#define FC_TILE_ROWS 6
#define FC_NR_F32 16
#define FC_NR_F64 8

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FC_HAVE_AVX2_PATH 1
#else
#define FC_HAVE_AVX2_PATH 0
#endif

/* 0: generic, 1: AVX2 + FMA. Set once by fc_simd_init() at module import. */
static int fc_simd_level = 0;

/* Baseline: 16-byte vectors (SSE2 on x86-64), 3 rows x 4 vectors of accumulators. */
#define FC_TARGET
#define FC_ISA generic
#define FC_VB 16
#define FC_MR 3
#define FC_T float
#define FC_TN f32
#define FC_IT int32_t
#include "fc_gemm_kernel.h"
#undef FC_T
#undef FC_TN
#undef FC_IT
#define FC_T double
#define FC_TN f64
#define FC_IT int64_t
#include "fc_gemm_kernel.h"
#undef FC_T
#undef FC_TN
#undef FC_IT
#undef FC_ISA
#undef FC_TARGET
#undef FC_VB
#undef FC_MR

#if FC_HAVE_AVX2_PATH
/* AVX2 + FMA: 32-byte vectors, 6 rows x 2 vectors of accumulators. */
#define FC_TARGET __attribute__((target("avx2,fma")))
#define FC_ISA avx2
#define FC_VB 32
#define FC_MR 6
#define FC_T float
#define FC_TN f32
#define FC_IT int32_t
#include "fc_gemm_kernel.h"
#undef FC_T
#undef FC_TN
#undef FC_IT
#define FC_T double
#define FC_TN f64
#define FC_IT int64_t
#include "fc_gemm_kernel.h"
#undef FC_T
#undef FC_TN
#undef FC_IT
#undef FC_ISA
#undef FC_TARGET
#undef FC_VB
#undef FC_MR
#endif

/* Highest SIMD level this CPU supports, among the compiled ones. */
static int fc_simd_detect(void)
{
#if FC_HAVE_AVX2_PATH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

static int fc_simd_compiled(void) { return FC_HAVE_AVX2_PATH; }

static void fc_gemm_f32(fc_idx M, fc_idx N, fc_idx K, const float *a, fc_idx rsa, fc_idx csa,
                        const float *bp, float *c, fc_idx ldc, int accumulate,
                        const float *bias, int relu)
{
#if FC_HAVE_AVX2_PATH
    if (fc_simd_level == 1) {
        fc_gemm_f32_avx2(M, N, K, a, rsa, csa, bp, c, ldc, accumulate, bias, relu);
        return;
    }
#endif
    fc_gemm_f32_generic(M, N, K, a, rsa, csa, bp, c, ldc, accumulate, bias, relu);
}

static void fc_gemm_f64(fc_idx M, fc_idx N, fc_idx K, const double *a, fc_idx rsa, fc_idx csa,
                        const double *bp, double *c, fc_idx ldc, int accumulate,
                        const double *bias, int relu)
{
#if FC_HAVE_AVX2_PATH
    if (fc_simd_level == 1) {
        fc_gemm_f64_avx2(M, N, K, a, rsa, csa, bp, c, ldc, accumulate, bias, relu);
        return;
    }
#endif
    fc_gemm_f64_generic(M, N, K, a, rsa, csa, bp, c, ldc, accumulate, bias, relu);
}

/* Rows of the micro-kernel on the selected path (the most fc_rows_panel takes at once). */
static fc_idx fc_block_rows(void) { return fc_simd_level == 1 ? 6 : 3; }

#if FC_HAVE_AVX2_PATH
#define FC_IF_AVX2(code) code
#else
#define FC_IF_AVX2(code)
#endif
#define FC_DEFINE_ROWS_PANEL(T, TN)                                                           \
    static void fc_rows_panel_##TN(fc_idx nseg, fc_idx seg_len, fc_idx seg_stride,           \
                                   const T **rows, fc_idx mr, fc_idx nr, const T *panel,      \
                                   T *c, fc_idx ldc, const T *bias, int relu)                 \
    {                                                                                         \
        FC_IF_AVX2(if (fc_simd_level == 1) {                                                  \
            fc_rows_panel_##TN##_avx2(nseg, seg_len, seg_stride, rows, mr, nr, panel, c, ldc, \
                                      bias, relu);                                            \
            return;                                                                           \
        })                                                                                    \
        fc_rows_panel_##TN##_generic(nseg, seg_len, seg_stride, rows, mr, nr, panel, c, ldc,  \
                                     bias, relu);                                             \
    }
FC_DEFINE_ROWS_PANEL(float, f32)
FC_DEFINE_ROWS_PANEL(double, f64)
#undef FC_DEFINE_ROWS_PANEL
#undef FC_IF_AVX2

/* dst[0:n] = src[0:n] for the im2col gathers, whose rows are often a few values long (a first
 * layer with one channel copies 3 at a time), where a call to memcpy costs more than the copy.
 * setup.py builds with -fno-tree-loop-distribute-patterns where the compiler has it, so that
 * the short loop is not turned back into a memcpy call. */
#define FC_DEFINE_COPY(T, TN)                                                                 \
    static inline void fc_copy_##TN(T *dst, const T *src, fc_idx n)       \
    {                                                                                         \
        fc_idx i;                                                                             \
        if (n > 32) {                                                                         \
            memcpy(dst, src, (size_t)n * sizeof(T));                                          \
            return;                                                                           \
        }                                                                                     \
        for (i = 0; i < n; i++) dst[i] = src[i];                                              \
    }
FC_DEFINE_COPY(float, f32)
FC_DEFINE_COPY(double, f64)
#undef FC_DEFINE_COPY

/* Packs B (K x N, element (k, n) at b[k*rsb + n*csb]) into ceil(N / nr) panels, each K rows of
 * nr contiguous values, zero-filled past column N. bp holds ceil(N / nr) * K * nr values. */
#define FC_DEFINE_PACK(T, TN)                                                                 \
    static void fc_pack_b_##TN(fc_idx K, fc_idx N, const T *b, fc_idx rsb, fc_idx csb,        \
                               fc_idx nr, T *bp)                                              \
    {                                                                                         \
        fc_idx j, k, jj;                                                                      \
        for (j = 0; j < N; j += nr) {                                                         \
            fc_idx w = N - j < nr ? N - j : nr;                                               \
            for (k = 0; k < K; k++) {                                                         \
                const T *src = b + k * rsb + j * csb;                                         \
                for (jj = 0; jj < w; jj++) bp[jj] = src[jj * csb];                            \
                for (; jj < nr; jj++) bp[jj] = 0;                                             \
                bp += nr;                                                                     \
            }                                                                                 \
        }                                                                                     \
    }
FC_DEFINE_PACK(float, f32)
FC_DEFINE_PACK(double, f64)
#undef FC_DEFINE_PACK

/* Element-wise helpers of the backward passes, compiled for AVX2 and for the baseline and
 * picked by fc_simd_level like the GEMM (the loops vectorise at -O3 on either path).
 *
 * fc_relu_mask: out[0:n] = dy where y > 0, else 0: the ReLU's derivative applied to a
 * gradient. dy is read whatever y says, so the compiler can make the select a compare and a
 * mask instead of a branch, which mispredicts on half the values of a real ReLU output (this
 * cost 1.3 ms of the MNIST conv2's 5.4 ms backward). NaN in y is not > 0 and gives 0.
 * fc_add: dst[0:n] += src[0:n] (col2im's inner loop).
 * fc_pack_dy: a kernel gradient's tile of dy packed for the GEMM, masked, and summed into db.
 * db must hold ceil(f / panel width) * panel width values (the sums past f stay 0). */
#define FC_DEFINE_ELEMENTWISE(T, TN, ISA, TARGET)                                             \
    TARGET static void fc_relu_mask_##TN##_##ISA(fc_idx n, const T *restrict dy,              \
                                                 const T *restrict y, T *restrict out)        \
    {                                                                                         \
        fc_idx i;                                                                             \
        for (i = 0; i < n; i++) {                                                             \
            T v = dy[i];                  /* read unconditionally: lets the compiler select */ \
            out[i] = y[i] > 0 ? v : (T)0;                                                     \
        }                                                                                     \
    }                                                                                         \
    TARGET static void fc_add_##TN##_##ISA(fc_idx n, T *restrict dst, const T *restrict src)  \
    {                                                                                         \
        fc_idx i;                                                                             \
        for (i = 0; i < n; i++) dst[i] += src[i];                                             \
    }                                                                                         \
    /* m rows of dy (m x f) packed into panels of FC_PANEL columns (as fc_pack_b lays out B,  \
     * zeros past column f), masked by y > 0 when y is given; db += the packed values. */     \
    TARGET static void fc_pack_dy_##TN##_##ISA(fc_idx m, fc_idx f, const T *restrict dy,      \
                                               const T *restrict y, T *restrict dyp,          \
                                               T *restrict db)                                \
    {                                                                                         \
        enum { NR = 64 / sizeof(T) };                                                         \
        fc_idx i, p, jj, full = f / NR, panels = (f + NR - 1) / NR;                           \
        for (i = 0; i < m; i++) {                                                             \
            const T *d = dy + i * f;                                                          \
            if (y) {                                                                          \
                const T *yy = y + i * f;                                                      \
                for (p = 0; p < full; p++) {                                                  \
                    T *out = dyp + (p * m + i) * NR;                                          \
                    for (jj = 0; jj < NR; jj++) {                                             \
                        T v = d[p * NR + jj];                                                 \
                        v = yy[p * NR + jj] > 0 ? v : (T)0;                                   \
                        out[jj] = v;                                                          \
                        db[p * NR + jj] += v;                                                 \
                    }                                                                         \
                }                                                                             \
            } else {                                                                          \
                for (p = 0; p < full; p++) {                                                  \
                    T *out = dyp + (p * m + i) * NR;                                          \
                    for (jj = 0; jj < NR; jj++) {                                             \
                        T v = d[p * NR + jj];                                                 \
                        out[jj] = v;                                                          \
                        db[p * NR + jj] += v;                                                 \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
            if (full < panels) {                  /* the last panel, part of it past f */     \
                T *out = dyp + (full * m + i) * NR;                                           \
                fc_idx j0 = full * NR;                                                        \
                for (jj = 0; jj < f - j0; jj++) {                                             \
                    T v = d[j0 + jj];                                                         \
                    v = !y || y[i * f + j0 + jj] > 0 ? v : (T)0;                              \
                    out[jj] = v;                                                              \
                    db[j0 + jj] += v;                                                         \
                }                                                                             \
                for (; jj < NR; jj++) out[jj] = 0;                                            \
            }                                                                                 \
        }                                                                                     \
    }
FC_DEFINE_ELEMENTWISE(float, f32, generic, )
FC_DEFINE_ELEMENTWISE(double, f64, generic, )
#if FC_HAVE_AVX2_PATH
FC_DEFINE_ELEMENTWISE(float, f32, avx2, __attribute__((target("avx2,fma"))))
FC_DEFINE_ELEMENTWISE(double, f64, avx2, __attribute__((target("avx2,fma"))))
#define FC_PICK(call_avx2, call_generic) \
    do { if (fc_simd_level == 1) call_avx2; else call_generic; } while (0)
#else
#define FC_PICK(call_avx2, call_generic) call_generic
#endif
#define FC_DEFINE_ELEMENTWISE_DISPATCH(T, TN)                                                 \
    static void fc_relu_mask_##TN(fc_idx n, const T *dy, const T *y, T *out)                  \
    {                                                                                         \
        FC_PICK(fc_relu_mask_##TN##_avx2(n, dy, y, out),                                      \
                fc_relu_mask_##TN##_generic(n, dy, y, out));                                  \
    }                                                                                         \
    static void fc_add_##TN(fc_idx n, T *dst, const T *src)                                   \
    {                                                                                         \
        FC_PICK(fc_add_##TN##_avx2(n, dst, src), fc_add_##TN##_generic(n, dst, src));         \
    }                                                                                         \
    static void fc_pack_dy_##TN(fc_idx m, fc_idx f, const T *dy, const T *y, T *dyp, T *db)   \
    {                                                                                         \
        FC_PICK(fc_pack_dy_##TN##_avx2(m, f, dy, y, dyp, db),                                 \
                fc_pack_dy_##TN##_generic(m, f, dy, y, dyp, db));                             \
    }
FC_DEFINE_ELEMENTWISE_DISPATCH(float, f32)
FC_DEFINE_ELEMENTWISE_DISPATCH(double, f64)
#undef FC_DEFINE_ELEMENTWISE_DISPATCH
#undef FC_DEFINE_ELEMENTWISE
#undef FC_PICK

#endif /* FC_GEMM_H */
