# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""2-D convolution kernels, NHWC data and (KH, KW, C, F) kernels, forward and backward.

Every product is a GEMM on cache-sized tiles (implicit GEMM): a tile of output pixels is
gathered into a thread-local im2col buffer and multiplied by the packed kernel with the
register-blocked micro-kernel of fc_gemm.h. The Python wrapper (fastconv._api.conv) has
checked every shape, dtype and stride before these functions run; they do no checking of
their own.

One compiled module (fastconv._conv) from three source files, by family:
conv_direct.pxi (the implicit-GEMM convolution), conv_winograd.pxi (Winograd tiles, C in
fc_winograd.h) and conv_config.pxi (SIMD level and OpenMP settings); fc_gemm_calls.pxi
holds the GEMM calls it shares with src/depthwise.pyx.
"""
from cython cimport floating
from cython.parallel cimport prange, parallel
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memset

from fc_c cimport *

include "conv_config.pxi"
include "fc_gemm_calls.pxi"
include "conv_direct.pxi"
include "conv_winograd.pxi"
