"""The kernel cache is keyed by release and by a digest of every package source file."""

import os
import subprocess
import sys
from pathlib import Path

from numba.core import caching

from monolith_np import _compile, _config, _checks


def _locator_class():
    return next(c for c in caching.CacheImpl._locator_classes if c.__name__ == "_ReleaseCacheLocator")


def test_package_functions_cache_under_release_and_digest():
    loc = _locator_class().from_function(_checks.check_number, _checks.__file__)
    assert loc is not None
    path = Path(loc.get_cache_path())
    assert path.is_relative_to(Path(_config.CACHE_ROOT))
    assert path.parts[-1].endswith(_compile.package_digest()) or _compile.package_digest() in str(path)
    assert loc.get_source_stamp() == _compile.package_digest()


def test_outside_functions_use_numba_default_locators():
    def outside():
        return 1

    assert _locator_class().from_function(outside, __file__) is None


def test_digest_covers_every_source_file(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(_compile, "_PACKAGE_DIR", pkg)
    _compile.package_digest.cache_clear()
    try:
        before = _compile.package_digest()
        (pkg / "a.py").write_text("x = 2\n")
        _compile.package_digest.cache_clear()
        assert _compile.package_digest() != before
    finally:
        _compile.package_digest.cache_clear()


def test_cache_can_be_turned_off(tmp_path):
    env = dict(os.environ, MONOLITH_NP_CACHE="0", MONOLITH_NP_CACHE_DIR=str(tmp_path))
    code = "from monolith_np import _compile; print(_compile._CACHE_ON)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fastmath_registry_names_real_kernels_with_the_safe_flags():
    import importlib

    assert "nnan" not in _config.FASTMATH and "ninf" not in _config.FASTMATH
    for qualified in _config.FASTMATH_KERNELS:
        module_name, name = qualified.rsplit(".", 1)
        kernel = getattr(importlib.import_module(module_name), name)
        assert kernel.targetoptions["fastmath"] == set(_config.FASTMATH), qualified


def test_unlisted_kernels_compile_without_fastmath():
    from monolith_np import ragged

    assert ragged._reduce_cpu.targetoptions["fastmath"] is False
