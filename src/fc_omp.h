/* Build facts, and OpenMP queries that also compile without OpenMP (then everything runs on
 * one thread). */
#ifndef FC_OMP_H
#define FC_OMP_H
/* The compiler that built this module, for fastconv.show_config(). */
#if defined(__clang__)
#define FC_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define FC_COMPILER "gcc " __VERSION__
#elif defined(_MSC_VER)
#define FC_COMPILER "msvc"
#else
#define FC_COMPILER "unknown"
#endif
static const char *fc_compiler(void) { return FC_COMPILER; }

#ifdef _OPENMP
#include <omp.h>
static int fc_omp_version(void) { return _OPENMP; }
static int fc_omp_enabled(void) { return 1; }
static int fc_omp_max_threads(void) { return omp_get_max_threads(); }
static void fc_omp_set_num_threads(int n) { omp_set_num_threads(n); }
#else
static int fc_omp_version(void) { return 0; }
static int fc_omp_enabled(void) { return 0; }
static int fc_omp_max_threads(void) { return 1; }
static void fc_omp_set_num_threads(int n) { (void)n; }
#endif
#endif
