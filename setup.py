"""Build fastconv's compiled kernels: src/*.pyx -> fastconv._conv, _depthwise, _dense, _image,
_norm, _optim, _pool.

OpenMP is used when the compiler accepts -fopenmp (set FASTCONV_NO_OPENMP=1 to build without
it). No -march flag: the AVX2+FMA code paths are chosen at run time (src/fc_gemm.h).
"""
import os
import shlex
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def compiler_accepts(compiler, flags, code):
    """Whether compiling and linking `code` with `flags` succeeds."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            # distutils links executables without LDFLAGS: a build with CFLAGS that need
            # link flags too (the sanitizers) would otherwise fail every probe
            compiler.link_executable(objs, os.path.join(tmp, "probe"),
                                     extra_postargs=flags + shlex.split(os.environ.get("LDFLAGS", "")))
        except Exception:
            return False
    return True


OPENMP_PROBE = """
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
  n += 1;
  return omp_get_max_threads() > 0 && n > 0 ? 0 : 1; }
"""


# The optimizers' updates must round exactly like the NumPy formulas they replace (no fused
# multiply-adds, whatever flags a user adds); sqrt without errno vectorises.
UNIX_FLAGS = {"fastconv._optim": ["-ffp-contract=off", "-fno-math-errno"]}


class BuildExt(build_ext):
    def build_extensions(self):
        unix = self.compiler.compiler_type == "unix"
        compile_args = ["-O3", "-g0"] if unix else []
        # Keep GCC from turning the kernels' short copy loops into memcpy calls.
        if unix and compiler_accepts(self.compiler, ["-fno-tree-loop-distribute-patterns"],
                                     "int main(void) { return 0; }\n"):
            compile_args.append("-fno-tree-loop-distribute-patterns")
        link_args = []
        use_openmp = os.environ.get("FASTCONV_NO_OPENMP", "") in ("", "0")
        if use_openmp:
            flag = "-fopenmp" if unix else "/openmp"
            if compiler_accepts(self.compiler, [flag], OPENMP_PROBE):
                compile_args.append(flag)
                link_args.append(flag)
            else:
                print("fastconv: the compiler does not support OpenMP; building single-threaded",
                      file=sys.stderr)
        for ext in self.extensions:
            own = UNIX_FLAGS.get(ext.name, []) if unix else []
            ext.extra_compile_args = compile_args + own + list(ext.extra_compile_args)
            ext.extra_link_args = link_args + list(ext.extra_link_args)
        jobs = os.environ.get("FASTCONV_BUILD_JOBS", "")
        if jobs.isdigit() and int(jobs) > 1 and not self.parallel:
            self.parallel = int(jobs)       # the modules compile side by side
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    exts = [
        Extension("fastconv._conv", ["src/conv.pyx"], include_dirs=["src"],
                  depends=["src/conv_config.pxi", "src/conv_direct.pxi",
                           "src/conv_winograd.pxi", "src/fc_gemm_calls.pxi", "src/fc_gemm.h",
                           "src/fc_gemm_kernel.h", "src/fc_gemm_path.h", "src/fc_omp.h",
                           "src/fc_winograd.h", "src/fc_c.pxd"]),
        Extension("fastconv._depthwise", ["src/depthwise.pyx"], include_dirs=["src"],
                  depends=["src/fc_depthwise.h", "src/fc_gemm_calls.pxi", "src/fc_gemm.h",
                           "src/fc_gemm_kernel.h", "src/fc_gemm_path.h", "src/fc_c.pxd"]),
        Extension("fastconv._dense", ["src/dense.pyx"], include_dirs=["src"],
                  depends=["src/fc_gemm.h", "src/fc_gemm_kernel.h", "src/fc_gemm_path.h",
                           "src/fc_c.pxd"]),
        Extension("fastconv._image", ["src/image.pyx"]),
        Extension("fastconv._norm", ["src/norm.pyx"]),
        Extension("fastconv._optim", ["src/optim.pyx"]),
        Extension("fastconv._pool", ["src/pool.pyx"], include_dirs=["src"],
                  depends=["src/fc_omp.h", "src/fc_pool.h", "src/fc_gemm.h",
                           "src/fc_gemm_kernel.h", "src/fc_gemm_path.h", "src/fc_c.pxd"]),
    ]
    return cythonize(exts, include_path=["src"], compiler_directives={"language_level": 3})


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
