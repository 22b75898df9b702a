# Declarations of the C helpers (fc_gemm.h, fc_omp.h, fc_winograd.h) for the Cython kernels.

cdef extern from "fc_omp.h" nogil:
    const char* fc_compiler()
    int fc_omp_version()
    int fc_omp_enabled()
    int fc_omp_max_threads()
    void fc_omp_set_num_threads(int n)

cdef extern from "fc_gemm.h" nogil:
    int FC_TILE_ROWS
    Py_ssize_t fc_panel_width_f32()
    Py_ssize_t fc_panel_width_f64()
    int fc_simd_level
    int fc_simd_detect()
    int fc_simd_compiled()
    void fc_gemm_f32(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float* a, Py_ssize_t rsa,
                     Py_ssize_t csa, const float* bp, Py_ssize_t pw, float* c, Py_ssize_t ldc,
                     int accumulate, const float* bias, int relu)
    void fc_gemm_f64(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double* a, Py_ssize_t rsa,
                     Py_ssize_t csa, const double* bp, Py_ssize_t pw, double* c, Py_ssize_t ldc,
                     int accumulate, const double* bias, int relu)
    Py_ssize_t fc_block_rows()
    void fc_rows_panel_f32(Py_ssize_t nseg, Py_ssize_t seg_len, Py_ssize_t seg_stride,
                           const float** rows, Py_ssize_t mr, Py_ssize_t nr, const float* panel,
                           Py_ssize_t pw, float* c, Py_ssize_t ldc, const float* bias, int relu)
    void fc_rows_panel_f64(Py_ssize_t nseg, Py_ssize_t seg_len, Py_ssize_t seg_stride,
                           const double** rows, Py_ssize_t mr, Py_ssize_t nr,
                           const double* panel, Py_ssize_t pw, double* c, Py_ssize_t ldc,
                           const double* bias, int relu)
    void fc_copy_f32(float* dst, const float* src, Py_ssize_t n)
    void fc_copy_f64(double* dst, const double* src, Py_ssize_t n)
    void fc_pack_b_f32(Py_ssize_t K, Py_ssize_t N, const float* b, Py_ssize_t rsb,
                       Py_ssize_t csb, Py_ssize_t nr, float* bp)
    void fc_pack_b_f64(Py_ssize_t K, Py_ssize_t N, const double* b, Py_ssize_t rsb,
                       Py_ssize_t csb, Py_ssize_t nr, double* bp)
    void fc_relu_mask_f32(Py_ssize_t n, const float* dy, const float* y, float* out)
    void fc_relu_mask_f64(Py_ssize_t n, const double* dy, const double* y, double* out)
    void fc_relu_mask_f32_generic(Py_ssize_t n, const float* dy, const float* y, float* out)
    void fc_relu_mask_f64_generic(Py_ssize_t n, const double* dy, const double* y, double* out)
    void fc_pack_dy_f32(Py_ssize_t m, Py_ssize_t f, Py_ssize_t ld, const float* dy,
                        const float* y, float* dyp, Py_ssize_t pw, float* db)
    void fc_pack_dy_f64(Py_ssize_t m, Py_ssize_t f, Py_ssize_t ld, const double* dy,
                        const double* y, double* dyp, Py_ssize_t pw, double* db)
    void fc_add_f32(Py_ssize_t n, float* dst, const float* src)
    void fc_add_f64(Py_ssize_t n, double* dst, const double* src)

cdef extern from "fc_winograd.h" nogil:
    void fc_wino_in_f32(const float** p, Py_ssize_t C, float* v, Py_ssize_t vs)
    void fc_wino_in_f64(const double** p, Py_ssize_t C, double* v, Py_ssize_t vs)
    void fc_wino_in_masked_f32(const float** p, const float** q, Py_ssize_t C, float* v,
                               Py_ssize_t vs)
    void fc_wino_in_masked_f64(const double** p, const double** q, Py_ssize_t C, double* v,
                               Py_ssize_t vs)
    void fc_wino_dy_f32(const float** p, const float** q, Py_ssize_t F, float* u,
                        Py_ssize_t us, float* db)
    void fc_wino_dy_f64(const double** p, const double** q, Py_ssize_t F, double* u,
                        Py_ssize_t us, double* db)
    int fc_wino_out_f32(const float* m, Py_ssize_t ms, Py_ssize_t F, const float* bias,
                        int relu, float* o00, float* o01, float* o10, float* o11)
    int fc_wino_out_f64(const double* m, Py_ssize_t ms, Py_ssize_t F, const double* bias,
                        int relu, double* o00, double* o01, double* o10, double* o11)
    void fc_wino4_in_f32(const float** p, const float** q, Py_ssize_t C, float* v,
                         Py_ssize_t vs)
    void fc_wino4_in_f64(const double** p, const double** q, Py_ssize_t C, double* v,
                         Py_ssize_t vs)
    int fc_wino4_out_f32(const float* m, Py_ssize_t ms, Py_ssize_t F, const float* bias,
                         int relu, float** o)
    int fc_wino4_out_f64(const double* m, Py_ssize_t ms, Py_ssize_t F, const double* bias,
                         int relu, double** o)
