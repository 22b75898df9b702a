# fc_gemm.h's GEMM for Cython's fused floating types, included by the modules that multiply
# with it (src/conv.pyx, src/depthwise.pyx): the panel width of the SIMD path in use, B
# packed in panels of that width, and C = A B (+ bias, ReLU) on the packed panels.

cdef inline Py_ssize_t panel_width(floating* dummy) noexcept nogil:
    # Columns of a packed B panel on the SIMD path in use. Read once per call: the panels are
    # packed with it and every GEMM on them is given it (fc_gemm.h picks the kernel from it).
    if floating is float:
        return fc_panel_width_f32()
    else:
        return fc_panel_width_f64()


cdef inline void gemm(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const floating* a,
                      Py_ssize_t rsa, Py_ssize_t csa, const floating* bp, Py_ssize_t nr,
                      floating* c, Py_ssize_t ldc, int accumulate, const floating* bias,
                      int relu) noexcept nogil:
    # bp: B packed in panels of nr columns
    if floating is float:
        fc_gemm_f32(M, N, K, a, rsa, csa, bp, nr, c, ldc, accumulate, bias, relu)
    else:
        fc_gemm_f64(M, N, K, a, rsa, csa, bp, nr, c, ldc, accumulate, bias, relu)


cdef inline void pack_b(Py_ssize_t K, Py_ssize_t N, const floating* b, Py_ssize_t rsb,
                        Py_ssize_t csb, Py_ssize_t nr, floating* bp) noexcept nogil:
    if floating is float:
        fc_pack_b_f32(K, N, b, rsb, csb, nr, bp)
    else:
        fc_pack_b_f64(K, N, b, rsb, csb, nr, bp)
