/* OpenMP queries that also compile without OpenMP (then everything runs on one thread). */
#ifndef FC_OMP_H
#define FC_OMP_H
#ifdef _OPENMP
#include <omp.h>
static int fc_omp_enabled(void) { return 1; }
static int fc_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static int fc_omp_enabled(void) { return 0; }
static int fc_omp_max_threads(void) { return 1; }
#endif
#endif
