# The SIMD level and OpenMP configuration of the compiled kernels (fc_gemm_path.h,
# fc_omp.h), as fastconv._config reads and sets them; included by src/conv.pyx.

def simd_compiled():
    """Highest SIMD level compiled in: 0 generic, 1 AVX2+FMA, 2 AVX-512."""
    return fc_simd_compiled()


def simd_detect():
    """Highest SIMD level this CPU supports among those compiled: 0 generic, 1 AVX2+FMA,
    2 AVX-512 (F, BW, DQ, VL)."""
    return fc_simd_detect()


def get_simd_level():
    return fc_simd_level


def set_simd_level(int level):
    """Select the micro-kernel path (0 generic, 1 AVX2+FMA, 2 AVX-512). A level this CPU
    lacks is refused: its instructions would crash the process."""
    global fc_simd_level
    if level < 0 or level > fc_simd_detect():
        raise ValueError(f"set_simd_level: level must be 0 .. {fc_simd_detect()}, got {level}")
    fc_simd_level = level


def openmp_enabled():
    return bool(fc_omp_enabled())


def openmp_version():
    """The _OPENMP date (e.g. 201511) this module was compiled with, 0 without OpenMP."""
    return fc_omp_version()


def compiler():
    """The C compiler that built the kernels."""
    return fc_compiler().decode("ascii", "replace")


def openmp_max_threads():
    """omp_get_max_threads() in the calling thread (1 without OpenMP)."""
    return fc_omp_max_threads()


def openmp_set_num_threads(int n):
    """omp_set_num_threads(n) in the calling thread (nothing without OpenMP)."""
    fc_omp_set_num_threads(n)
