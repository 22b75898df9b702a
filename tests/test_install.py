"""What the tests exercise is what a user installs: the package in site-packages, its compiled
modules beside it, one version everywhere, and an import that stays light."""
import importlib.metadata
import os
import sysconfig

import pytest

import fastconv
from fastconv import _conv, _dense, _image, _norm, _optim, _pool
from _helpers import run_python


def test_version_matches_the_installed_distribution_metadata():
    assert importlib.metadata.version("fastconv") == fastconv.__version__


@pytest.mark.skipif(not os.environ.get("CI"),
                    reason="CI tests the installed wheel; a developer may test an editable install")
def test_ci_imports_the_installed_wheel_not_the_source_folder():
    package = os.path.dirname(os.path.realpath(fastconv.__file__))
    site = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    assert os.path.dirname(package) in site, f"fastconv imported from {package}, not {site}"
    source = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fastconv")
    assert package != os.path.realpath(source)
    for module in (_conv, _dense, _image, _norm, _optim, _pool):
        assert os.path.dirname(os.path.realpath(module.__file__)) == package


def test_import_fastconv_loads_no_network_plotting_or_dask_modules():
    code = ("import sys, fastconv; "
            "print(sorted(m for m in ('urllib.request', 'http.client', 'ssl', 'matplotlib', 'PIL', "
            "'dask', 'distributed') if m in sys.modules))")
    assert run_python(code).strip() == "[]"
