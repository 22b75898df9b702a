"""Check what fastconv's release archives hold; print each archive's name, size and files.

usage: python .ci/check_dist.py DIST_DIR_OR_WHEEL

The wheel holds the fastconv package, its compiled modules and (after auditwheel repair)
fastconv.libs/, nothing else: no tests, benchmarks or build inputs. Its metadata version is
fastconv/_version.py's. The sdist holds everything a build from source needs.
"""
import email.parser
import os
import re
import sys
import tarfile
import zipfile


def fail(message):
    sys.exit(f"check_dist: {message}")


def show(path, names):
    print(f"{os.path.basename(path)}: {os.path.getsize(path) / 1e3:.0f} kB, {len(names)} files")
    for name in names:
        print(f"    {name}")


def check_wheel(path):
    with zipfile.ZipFile(path) as whl:
        infos = [i for i in whl.infolist() if not i.is_dir()]
        names = [i.filename for i in infos]
        meta_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        if meta_name is None:
            fail(f"{path} has no METADATA")
        metadata = email.parser.Parser().parsestr(whl.read(meta_name).decode())
        version_py = whl.read("fastconv/_version.py").decode()
    show(path, [f"{i.file_size:>9}  {i.filename}" for i in infos])
    stray = [n for n in names
             if not re.match(r"(fastconv/|fastconv\.libs/|fastconv-[^/]+\.dist-info/)", n)
             or n.endswith((".pyx", ".pxi", ".pxd", ".c", ".h")) or "/tests/" in n
             or "benchmarks" in n]
    if stray:
        fail(f"{path} holds files a user does not need: {stray}")
    for module in ("_conv", "_dense", "_depthwise", "_image", "_norm", "_optim", "_pool"):
        if not any(re.fullmatch(rf"fastconv/{module}\..*\.so|fastconv/{module}\..*\.pyd", n)
                   for n in names):
            fail(f"{path} lacks the compiled module fastconv.{module}")
    version = re.search(r"__version__ = \"([^\"]+)\"", version_py).group(1)
    if metadata["Version"] != version or metadata["Name"] != "fastconv":
        fail(f"{path}: metadata says {metadata['Name']} {metadata['Version']}, "
             f"fastconv/_version.py says {version}")


def check_sdist(path):
    with tarfile.open(path) as tar:
        names = sorted(m.name.split("/", 1)[1] for m in tar.getmembers()
                       if m.isfile() and "/" in m.name)
    show(path, names)
    needed = ["setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in",
              "src/conv.pyx", "src/conv_config.pxi", "src/conv_direct.pxi",
              "src/conv_winograd.pxi", "src/fc_gemm_calls.pxi", "src/dense.pyx",
              "src/depthwise.pyx", "src/optim.pyx",
              "src/pool.pyx", "src/fc_c.pxd", "src/fc_gemm.h", "src/fc_gemm_kernel.h",
              "src/fc_gemm_path.h", "src/fc_omp.h", "src/fc_pool.h", "src/fc_winograd.h",
              "src/fc_depthwise.h", "fastconv/__init__.py", "tests/conftest.py"]
    missing = [n for n in needed if n not in names]
    if missing:
        fail(f"{path} lacks {missing}")
    leftovers = [n for n in names if n.endswith((".so", ".pyd", ".o")) or re.fullmatch(r"src/.*\.c", n)]
    if leftovers:
        fail(f"{path} holds build products: {leftovers}")


def main(target):
    paths = ([os.path.join(target, n) for n in sorted(os.listdir(target))]
             if os.path.isdir(target) else [target])
    kinds = {"wheel": [p for p in paths if p.endswith(".whl")],
             "sdist": [p for p in paths if p.endswith(".tar.gz")]}
    if not kinds["wheel"] or (os.path.isdir(target) and len(kinds["sdist"]) != 1):
        fail(f"expected one sdist and a wheel in {target}, found {paths}")
    for path in kinds["sdist"]:
        check_sdist(path)
    for path in kinds["wheel"]:
        check_wheel(path)


if __name__ == "__main__":
    main(sys.argv[1])
