/* GEMM building blocks for fastconv's convolution kernels.
 *
 * C = A @ B on small, cache-sized tiles: fc_pack_b_* lays B out in panels of nr columns,
 * fc_gemm_* multiplies a tile of A by the packed B with a register-blocked micro-kernel. Each
 * kernel is one source (fc_gemm_kernel.h) compiled three times: for AVX-512 (F, BW, DQ, VL),
 * for AVX2+FMA and for the baseline x86-64 (or any other architecture); the dispatchers below
 * pick one at run time, so that the default build needs no -march flag and runs on any CPU.
 *
 * The paths differ in the panel width: 64 bytes of columns on the generic and AVX2 paths,
 * 128 on the AVX-512 path (fc_panel_width_*() gives the one in use). A caller asks for the
 * width once, packs with it and passes it on to every GEMM call on those panels, which then
 * runs the kernel built for that width: switching paths in another thread mid-call cannot
 * make a kernel read panels of the wrong width.
 */
#ifndef FC_GEMM_H
#define FC_GEMM_H

#include <stddef.h>
#include <string.h>
#include <stdlib.h>
#include <stdint.h>

typedef ptrdiff_t fc_idx;

/* Tiles are cut in multiples of 6 rows (every path's micro-kernel height divides it). */
#define FC_TILE_ROWS 6

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FC_HAVE_AVX2_PATH 1
#define FC_HAVE_AVX512_PATH 1
#include <immintrin.h>
#else
#define FC_HAVE_AVX2_PATH 0
#define FC_HAVE_AVX512_PATH 0
#endif

/* 0: generic, 1: AVX2 + FMA, 2: AVX-512. Set by the Python side at import (fastconv._config). */
static int fc_simd_level = 0;

#define FC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

/* Baseline: 16-byte vectors (SSE2 on x86-64), 3 rows x 4 vectors of accumulators. */
#define FC_TARGET
#define FC_ISA generic
#define FC_VB 16
#define FC_PB 64
#define FC_MR 3
#include "fc_gemm_path.h"
#if FC_HAVE_AVX2_PATH
/* AVX2 + FMA: 32-byte vectors, 6 rows x 2 vectors of accumulators. */
#define FC_TARGET FC_TARGET_AVX2
#define FC_ISA avx2
#define FC_VB 32
#define FC_PB 64
#define FC_MR 6
#include "fc_gemm_path.h"
#endif
#if FC_HAVE_AVX512_PATH
/* AVX-512: 64-byte vectors, 6 rows x 2 vectors of accumulators over 128-byte panels. Chosen
 * by `gcc -O3 -Isrc benchmarks/micro_kernel.c -o mk && ./mk` (one core, B in L1/L2, five
 * shapes) on a Xeon of the Sapphire Rapids class: 6x2 came within 5% of the best tile on
 * every shape (60-116 GFLOP/s in one run; AVX2's 6x2 43-56), where 12x1 (64-byte panels) ran
 * at 40-66, 8x2 58-95, 10x2 60-92, 6x3 21-91, 8x3 28-93 and 6x4 32-100: taller tiles read A
 * from more row pointers than the 16 general registers hold, and wider ones waste their
 * panels on layers of 32 filters. Partial tiles use masked loads and stores. */
#define FC_TARGET FC_TARGET_AVX512
#define FC_ISA avx512
#define FC_VB 64
#define FC_PB 128
#define FC_MR 6
#define FC_MASK_LOAD_f32(p, lanes) \
    ((vec)_mm512_maskz_loadu_ps((__mmask16)((1u << (lanes)) - 1), (p)))
#define FC_MASK_STORE_f32(p, lanes, x) \
    _mm512_mask_storeu_ps((p), (__mmask16)((1u << (lanes)) - 1), (__m512)(x))
#define FC_MASK_LOAD_f64(p, lanes) \
    ((vec)_mm512_maskz_loadu_pd((__mmask8)((1u << (lanes)) - 1), (p)))
#define FC_MASK_STORE_f64(p, lanes, x) \
    _mm512_mask_storeu_pd((p), (__mmask8)((1u << (lanes)) - 1), (__m512d)(x))
#include "fc_gemm_path.h"
#endif

/* Highest SIMD level this CPU (and its operating system) supports, among the compiled ones.
 * GCC's and Clang's __builtin_cpu_supports check that the OS saves the registers too. */
static int fc_simd_detect(void)
{
#if FC_HAVE_AVX2_PATH
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
#if FC_HAVE_AVX512_PATH
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 2;
#endif
    return 1;
#else
    return 0;
#endif
}

/* Highest SIMD level compiled into this build. */
static int fc_simd_compiled(void) { return FC_HAVE_AVX512_PATH ? 2 : FC_HAVE_AVX2_PATH; }

/* Columns of a packed B panel on the path in use (see the top of this file). */
static fc_idx fc_panel_width_f32(void) { return fc_simd_level == 2 ? 32 : 16; }
static fc_idx fc_panel_width_f64(void) { return fc_simd_level == 2 ? 16 : 8; }

/* The kernel for panels of pw columns: the AVX-512 one for its own width, else AVX2 or the
 * baseline as fc_simd_level says (both read 64-byte panels). */
#if FC_HAVE_AVX512_PATH
#define FC_IF_AVX512(code) code
#else
#define FC_IF_AVX512(code)
#endif
#if FC_HAVE_AVX2_PATH
#define FC_IF_AVX2(code) code
#else
#define FC_IF_AVX2(code)
#endif
#define FC_DISPATCH(T, TN, pw, name, args)                                                     \
    do {                                                                                      \
        FC_IF_AVX512(if ((pw) == 128 / (fc_idx)sizeof(T)) { name##_##TN##_avx512 args; break; }) \
        FC_IF_AVX2(if (fc_simd_level >= 1) { name##_##TN##_avx2 args; break; })              \
        name##_##TN##_generic args;                                                           \
    } while (0)

#define FC_DEFINE_GEMM_DISPATCH(T, TN)                                                        \
    static void fc_gemm_##TN(fc_idx M, fc_idx N, fc_idx K, const T *a, fc_idx rsa,            \
                             fc_idx csa, const T *bp, fc_idx pw, T *c, fc_idx ldc,            \
                             int accumulate, const T *bias, int relu)                         \
    {                                                                                         \
        FC_DISPATCH(T, TN, pw, fc_gemm,                                                       \
                    (M, N, K, a, rsa, csa, bp, c, ldc, accumulate, bias, relu));              \
    }                                                                                         \
    static void fc_rows_panel_##TN(fc_idx nseg, fc_idx seg_len, fc_idx seg_stride,            \
                                   const T **rows, fc_idx mr, fc_idx nr, const T *panel,      \
                                   fc_idx pw, T *c, fc_idx ldc, const T *bias, int relu)      \
    {                                                                                         \
        FC_DISPATCH(T, TN, pw, fc_rows_panel,                                                 \
                    (nseg, seg_len, seg_stride, rows, mr, nr, panel, c, ldc, bias, relu));    \
    }
FC_DEFINE_GEMM_DISPATCH(float, f32)
FC_DEFINE_GEMM_DISPATCH(double, f64)
#undef FC_DEFINE_GEMM_DISPATCH

/* Rows of the micro-kernel on the selected path (the most fc_rows_panel takes at once). */
static fc_idx fc_block_rows(void) { return fc_simd_level >= 1 ? 6 : 3; }


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

/* Element-wise helpers of the backward passes, compiled for each path like the GEMM and
 * picked by fc_simd_level (the loops vectorise at -O3 on every path).
 *
 * fc_relu_mask: out[0:n] = dy where y > 0, else 0: the ReLU's derivative applied to a
 * gradient. dy is read whatever y says, so the compiler can make the select a compare and a
 * mask instead of a branch, which mispredicts on half the values of a real ReLU output (this
 * cost 1.3 ms of the MNIST conv2's 5.4 ms backward). NaN in y is not > 0 and gives 0.
 * fc_add: dst[0:n] += src[0:n] (col2im's inner loop).
 * fc_pack_dy: a kernel gradient's tile of dy packed for the GEMM, masked, and summed into db.
 * db must hold ceil(f / pw) * pw values (the sums past f stay 0). */
#define FC_DEFINE_ELEMENTWISE(T, TN, ISA, TARGET, PB)                                           \
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
    /* m rows of dy (m x f, rows ld apart, as y's) packed into panels of PB bytes (as         \
     * fc_pack_b lays out B, zeros past column f), masked by y > 0 when y is given; db += the  \
     * packed values. */                                                                      \
    TARGET static void fc_pack_dy_##TN##_##ISA(fc_idx m, fc_idx f, fc_idx ld,                 \
                                               const T *restrict dy, const T *restrict y,     \
                                               T *restrict dyp, T *restrict db)               \
    {                                                                                         \
        enum { NR = PB / sizeof(T) };                                                         \
        fc_idx i, p, jj, full = f / NR, panels = (f + NR - 1) / NR;                           \
        for (i = 0; i < m; i++) {                                                             \
            const T *d = dy + i * ld;                                                         \
            if (y) {                                                                          \
                const T *yy = y + i * ld;                                                     \
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
                    v = !y || y[i * ld + j0 + jj] > 0 ? v : (T)0;                             \
                    out[jj] = v;                                                              \
                    db[j0 + jj] += v;                                                         \
                }                                                                             \
                for (; jj < NR; jj++) out[jj] = 0;                                            \
            }                                                                                 \
        }                                                                                     \
    }
FC_DEFINE_ELEMENTWISE(float, f32, generic, , 64)
FC_DEFINE_ELEMENTWISE(double, f64, generic, , 64)
#if FC_HAVE_AVX2_PATH
FC_DEFINE_ELEMENTWISE(float, f32, avx2, FC_TARGET_AVX2, 64)
FC_DEFINE_ELEMENTWISE(double, f64, avx2, FC_TARGET_AVX2, 64)
#endif
#if FC_HAVE_AVX512_PATH
FC_DEFINE_ELEMENTWISE(float, f32, avx512, FC_TARGET_AVX512, 128)
FC_DEFINE_ELEMENTWISE(double, f64, avx512, FC_TARGET_AVX512, 128)
#endif
/* name_TN_ISA args on the path fc_simd_level names (element-wise loops: any path's layout). */
#define FC_PICK(TN, name, args)                                                               \
    do {                                                                                      \
        FC_IF_AVX512(if (fc_simd_level == 2) { name##_##TN##_avx512 args; break; })           \
        FC_IF_AVX2(if (fc_simd_level >= 1) { name##_##TN##_avx2 args; break; })              \
        name##_##TN##_generic args;                                                           \
    } while (0)
#define FC_DEFINE_ELEMENTWISE_DISPATCH(T, TN)                                                 \
    static void fc_relu_mask_##TN(fc_idx n, const T *dy, const T *y, T *out)                  \
    {                                                                                         \
        FC_PICK(TN, fc_relu_mask, (n, dy, y, out));                                           \
    }                                                                                         \
    static void fc_add_##TN(fc_idx n, T *dst, const T *src)                                   \
    {                                                                                         \
        FC_PICK(TN, fc_add, (n, dst, src));                                                   \
    }                                                                                         \
    /* dy packed into panels of pw columns (a width from fc_panel_width_*()) */               \
    static void fc_pack_dy_##TN(fc_idx m, fc_idx f, fc_idx ld, const T *dy, const T *y,       \
                                T *dyp, fc_idx pw, T *db)                                     \
    {                                                                                         \
        FC_DISPATCH(T, TN, pw, fc_pack_dy, (m, f, ld, dy, y, dyp, db));                       \
    }
FC_DEFINE_ELEMENTWISE_DISPATCH(float, f32)
FC_DEFINE_ELEMENTWISE_DISPATCH(double, f64)
#undef FC_DEFINE_ELEMENTWISE_DISPATCH
#undef FC_DEFINE_ELEMENTWISE

/* FC_IF_AVX512, FC_IF_AVX2, FC_DISPATCH and FC_PICK stay defined for fc_pool.h and
 * fc_winograd.h. */

#endif /* FC_GEMM_H */
