/* One SIMD path of the GEMM: fc_gemm_kernel.h instanced for float and for double.
 *
 * fc_gemm.h includes this file once per path after defining FC_TARGET, FC_ISA, FC_VB, FC_PB and
 * FC_MR (see fc_gemm_kernel.h), and, for masked partial tiles, FC_MASK_LOAD_f32 /
 * FC_MASK_STORE_f32 and their _f64 forms. It undefines all of them. No include guard on purpose.
 */
#define FC_T float
#define FC_TN f32
#define FC_IT int32_t
#ifdef FC_MASK_LOAD_f32
#define FC_MASK_LOAD FC_MASK_LOAD_f32
#define FC_MASK_STORE FC_MASK_STORE_f32
#endif
#include "fc_gemm_kernel.h"
#undef FC_MASK_LOAD
#undef FC_MASK_STORE
#undef FC_T
#undef FC_TN
#undef FC_IT
#define FC_T double
#define FC_TN f64
#define FC_IT int64_t
#ifdef FC_MASK_LOAD_f64
#define FC_MASK_LOAD FC_MASK_LOAD_f64
#define FC_MASK_STORE FC_MASK_STORE_f64
#endif
#include "fc_gemm_kernel.h"
#undef FC_MASK_LOAD
#undef FC_MASK_STORE
#undef FC_T
#undef FC_TN
#undef FC_IT
#undef FC_MASK_LOAD_f32
#undef FC_MASK_STORE_f32
#undef FC_MASK_LOAD_f64
#undef FC_MASK_STORE_f64
#undef FC_TARGET
#undef FC_ISA
#undef FC_VB
#undef FC_PB
#undef FC_MR
