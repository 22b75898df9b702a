# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Matrix products for Dense layers on fastconv's own GEMM micro-kernel and OpenMP threads.

Running Dense on the same thread pool as the convolutions keeps a second pool (the BLAS
library's) from spinning against it on a machine with few cores. fastconv._api checks shapes.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free

from fc_c cimport *


def set_simd_level(int level):
    """Select the micro-kernel path of this module (0 generic, 1 AVX2+FMA, 2 AVX-512;
    fastconv._config keeps all modules alike). A level this CPU lacks is refused."""
    global fc_simd_level
    if level < 0 or level > fc_simd_detect():
        raise ValueError(f"set_simd_level: level must be 0 .. {fc_simd_detect()}, got {level}")
    fc_simd_level = level


cdef enum:
    ROWS = 96          # most rows of C per unit of work (16 AVX2 micro-kernel rows)
    PANELS = 4         # column panels per unit of work


cdef inline void gemm(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const floating* a,
                      Py_ssize_t rsa, Py_ssize_t csa, const floating* bp, Py_ssize_t nr,
                      floating* c, Py_ssize_t ldc, const floating* bias,
                      int relu) noexcept nogil:
    # bp: B packed in panels of nr columns
    if floating is float:
        fc_gemm_f32(M, N, K, a, rsa, csa, bp, nr, c, ldc, 0, bias, relu)
    else:
        fc_gemm_f64(M, N, K, a, rsa, csa, bp, nr, c, ldc, 0, bias, relu)


def matmul(const floating[:, ::1] a, bint trans_a, const floating[:, ::1] b, bint trans_b,
           floating[:, ::1] c, const floating[::1] bias, bint relu, int num_threads):
    """c = op(a) @ op(b) (+ bias, then ReLU if relu), op transposing when asked.

    c is (M, N); op(a) is (M, K), op(b) is (K, N). bias is None or of length N.
    """
    cdef Py_ssize_t M = c.shape[0], N = c.shape[1]
    cdef Py_ssize_t K = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t rsa = 1 if trans_a else a.shape[1], csa = a.shape[1] if trans_a else 1
    cdef Py_ssize_t rsb = 1 if trans_b else b.shape[1], csb = b.shape[1] if trans_b else 1
    # panels as wide as the SIMD path in use wants, read once: every GEMM below is given it
    cdef Py_ssize_t nr = fc_panel_width_f32() if floating is float else fc_panel_width_f64()
    cdef Py_ssize_t panels = (N + nr - 1) // nr
    # Units of up to ROWS rows (each panel of B, read from L2, then serves many rows), but
    # small enough that every thread gets about two; the blocking never changes a sum.
    cdef Py_ssize_t rows = (M + 2 * num_threads - 1) // (2 * num_threads)
    rows = min(ROWS, max(FC_TILE_ROWS, (rows + FC_TILE_ROWS - 1) // FC_TILE_ROWS * FC_TILE_ROWS))
    cdef Py_ssize_t row_blocks = (M + rows - 1) // rows
    cdef Py_ssize_t col_blocks = (panels + PANELS - 1) // PANELS
    cdef Py_ssize_t u, i0, j0, m, n
    cdef const floating* bias_p = NULL
    cdef floating* bp
    if M == 0 or N == 0:
        return
    if bias is not None:
        bias_p = &bias[0]
    bp = <floating*>malloc(panels * K * nr * sizeof(floating) + 1)
    if bp == NULL:
        raise MemoryError()
    with nogil:
        if K > 0:
            # B packed by panels, in parallel: for a big B this is a pass over memory
            for u in prange(panels, schedule='static', num_threads=num_threads):
                n = N - u * nr if N - u * nr < nr else nr
                if floating is float:
                    fc_pack_b_f32(K, n, &b[0, 0] + u * nr * csb, rsb, csb, nr, bp + u * K * nr)
                else:
                    fc_pack_b_f64(K, n, &b[0, 0] + u * nr * csb, rsb, csb, nr, bp + u * K * nr)
        # One unit: a block of rows of c by PANELS panels of columns, the whole K each.
        for u in prange(row_blocks * col_blocks, schedule='dynamic', num_threads=num_threads):
            i0 = (u // col_blocks) * rows
            j0 = (u % col_blocks) * PANELS * nr
            m = M - i0 if M - i0 < rows else rows
            n = N - j0 if N - j0 < PANELS * nr else PANELS * nr
            gemm(m, n, K, &a[0, 0] + i0 * rsa, rsa, csa, bp + (j0 // nr) * K * nr, nr,
                 &c[0, 0] + i0 * N + j0, N, (bias_p + j0) if bias_p != NULL else NULL, relu)
    free(bp)
