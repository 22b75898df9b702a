/* The GEMM micro-kernel's register tiles side by side, one core, float32: the measurement
 * behind the AVX-512 path's 6 x 2 tile (src/fc_gemm.h), and this core's peak.
 *
 *     gcc -O3 -Isrc benchmarks/micro_kernel.c -o /tmp/micro_kernel && /tmp/micro_kernel
 *
 * For each of five (M, N, K) products (B packed, in L1/L2): GFLOP/s of fastconv's AVX2 kernel
 * (6 rows x 2 ymm, 64-byte panels) and of AVX-512 tiles of rows x zmm vectors over panels as
 * wide as the vectors (6x2 is the one fastconv ships), each the best of 5 runs of about
 * 10 GFLOP; then the peak: a loop of 12 independent 512-bit (and 256-bit) multiply-adds.
 * Needs a CPU with AVX-512 F/BW/DQ/VL.
 */
#include <stdio.h>
#include <time.h>
#include "fc_gemm.h"

/* Extra AVX-512 tiles, instanced from the same kernel source as fastconv's paths. */
#define FC_T float
#define FC_TN f32
#define FC_IT int32_t
#define FC_TARGET FC_TARGET_AVX512
#define FC_VB 64
#define FC_ISA m12n1
#define FC_MR 12
#define FC_PB 64
#include "fc_gemm_kernel.h"
#undef FC_ISA
#undef FC_MR
#undef FC_PB
#define FC_ISA m8n2
#define FC_MR 8
#define FC_PB 128
#include "fc_gemm_kernel.h"
#undef FC_ISA
#undef FC_MR
#undef FC_PB
#define FC_ISA m10n2
#define FC_MR 10
#define FC_PB 128
#include "fc_gemm_kernel.h"
#undef FC_ISA
#undef FC_MR
#undef FC_PB
#define FC_ISA m6n3
#define FC_MR 6
#define FC_PB 192
#include "fc_gemm_kernel.h"
#undef FC_ISA
#undef FC_MR
#undef FC_PB
#define FC_ISA m8n3
#define FC_MR 8
#define FC_PB 192
#include "fc_gemm_kernel.h"
#undef FC_ISA
#undef FC_MR
#undef FC_PB
#define FC_ISA m6n4
#define FC_MR 6
#define FC_PB 256
#include "fc_gemm_kernel.h"
#undef FC_ISA
#undef FC_MR
#undef FC_PB

typedef void (*gemm_fn)(fc_idx, fc_idx, fc_idx, const float *, fc_idx, fc_idx, const float *,
                        float *, fc_idx, int, const float *, int);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

#define FMA512(r) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #r "\n"
#define FMA256(r) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #r "\n"

FC_TARGET_AVX512 static void peak(void)
{
    long n = 100000000, i;
    double s = now(), e;
    for (i = 0; i < n; i++)
        __asm__ volatile(FMA512(0) FMA512(1) FMA512(2) FMA512(3) FMA512(4) FMA512(5) FMA512(6)
                         FMA512(7) FMA512(8) FMA512(9) FMA512(10) FMA512(11) ::: "memory");
    e = now() - s;
    printf("peak, 512-bit FMAs: %.1f GFLOP/s\n", 12.0 * 32 * n / e / 1e9);
    s = now();
    for (i = 0; i < n; i++)
        __asm__ volatile(FMA256(0) FMA256(1) FMA256(2) FMA256(3) FMA256(4) FMA256(5) FMA256(6)
                         FMA256(7) FMA256(8) FMA256(9) FMA256(10) FMA256(11) ::: "memory");
    e = now() - s;
    printf("peak, 256-bit FMAs: %.1f GFLOP/s\n", 12.0 * 16 * n / e / 1e9);
}

int main(void)
{
    static const int shapes[][3] = {{672, 192, 256}, {240, 64, 288}, {1440, 64, 288},
                                    {4000, 32, 27}, {960, 128, 576}};
    gemm_fn fn[] = {fc_gemm_f32_avx2, fc_gemm_f32_avx512, fc_gemm_f32_m12n1, fc_gemm_f32_m8n2,
                    fc_gemm_f32_m10n2, fc_gemm_f32_m6n3, fc_gemm_f32_m8n3, fc_gemm_f32_m6n4};
    const char *name[] = {"avx2 6x2", "6x2", "12x1", "8x2", "10x2", "6x3", "8x3", "6x4"};
    int nfn = sizeof fn / sizeof fn[0], s, v, t;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl")) {
        fprintf(stderr, "this CPU lacks AVX-512 F/BW/DQ/VL\n");
        return 1;
    }
    printf("GFLOP/s, one core, float32 (AVX-512 tiles: rows x zmm vectors)\n%-16s", "M x N x K");
    for (v = 0; v < nfn; v++) printf("%9s", name[v]);
    printf("\n");
    for (s = 0; s < 5; s++) {
        long M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], i, reps;
        float *a = malloc(sizeof(float) * M * K), *bp = malloc(sizeof(float) * (N + 64) * K);
        float *c = malloc(sizeof(float) * M * N);
        for (i = 0; i < M * K; i++) a[i] = (i % 7) * 0.1f;
        for (i = 0; i < (N + 64) * K; i++) bp[i] = (i % 5) * 0.1f;
        reps = (long)(1e10 / (2.0 * M * N * K)) + 1;
        printf("%4ld x %3ld x %3ld ", M, N, K);
        for (v = 0; v < nfn; v++) {
            double best = 1e30;
            for (t = 0; t < 5; t++) {
                double start = now(), e;
                long r;
                for (r = 0; r < reps; r++) fn[v](M, N, K, a, K, 1, bp, c, N, 0, 0, 0);
                e = now() - start;
                if (e < best) best = e;
            }
            printf("%9.1f", 2.0 * M * N * K * reps / best / 1e9);
        }
        printf("\n");
        free(a);
        free(bp);
        free(c);
    }
    peak();
    return 0;
}
