"""The kernel cache is keyed by release and by a digest of every package source file."""

import os
import subprocess
import sys
import time
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


# -- thread count per call (ParallelKernel.run) ---------------------------------------------------

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import monolith_np  # noqa: E402


def _threads_used(x):
    return numba.get_num_threads()


class _Stub:
    """Stands for a compiled dispatcher: says its name; nothing is ever compiled.

    The parallel stub run with numba's thread count at 1 says ``"one thread"``
    (big calls on one thread run the parallel compilation on one thread).
    """

    def __init__(self, name):
        self.name, self.overloads = name, {}

    def __call__(self, *args):
        return "one thread" if self.name == "parallel" and numba.get_num_threads() == 1 else self.name


def _kernel():
    """A kernel whose two compilations are replaced by stubs saying which one ran."""
    k = _compile.ParallelKernel(_threads_used, dict(nogil=True), work="x")
    k._serial, k._parallel = _Stub("serial"), _Stub("parallel")
    return k


needs_two = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread")


def test_small_calls_run_the_serial_compilation():
    k = _kernel()
    assert k(np.zeros(10)) == "serial"
    assert k.run(_config.PARALLEL_MIN_WORK - 1, np.zeros(1)) == "serial"


def test_serial_compilation_is_cached_apart_and_gives_the_same_result():
    k = _compile.ParallelKernel(_threads_used, dict(nogil=True), work="x")
    assert k._serial.py_func.__qualname__ == "_threads_used__serial"
    x = np.zeros(3)
    assert k._serial(x) == k._parallel(x) == numba.get_num_threads()


@needs_two
def test_big_calls_run_on_the_count_timed_faster(monkeypatch):
    monkeypatch.setattr(_config, "PARALLEL_REPROBE", 1000)
    k = _kernel()
    big = np.zeros(_config.PARALLEL_MIN_WORK)
    k(big)
    key = big.size.bit_length()
    k._timings[key] = [1.0, 2.0, 1000, 1000, 3, 3]  # one thread timed faster
    assert k(big) == "one thread"
    k._timings[key] = [2.0, 1.0, 1000, 1000, 3, 3]
    assert k(big) == "parallel"


@needs_two
def test_calls_that_compile_are_not_timed():
    k = _compile.ParallelKernel(_threads_used, dict(nogil=True), work="x")
    big = np.zeros(_config.PARALLEL_MIN_WORK)
    k(big)  # compiles (or loads) the parallel form: not timed
    assert k._timings[big.size.bit_length()][:2] == [0.0, 0.0]
    k(big)  # timed now
    assert k._timings[big.size.bit_length()][1] > 0


@needs_two
def test_each_count_gets_its_first_samples_and_keeps_the_best():
    k = _kernel()
    big = np.zeros(_config.PARALLEL_MIN_WORK)
    sleeps = {"parallel": iter([0.05, 0.002, 0.004]), "one thread": iter([0.003, 0.003, 0.003])}

    class Sleepy(_Stub):  # a first parallel call as slow as a wake-up on a busy machine
        def __call__(self, *args):
            used = super().__call__(*args)
            time.sleep(next(sleeps[used]))
            return used

    k._parallel = Sleepy("parallel")
    used = [k(big) for _ in range(2 * _compile._TIMING_SAMPLES)]
    assert used == ["parallel", "one thread"] * _compile._TIMING_SAMPLES  # alternating while warming up
    t = k._timings[big.size.bit_length()]
    assert t[1] < t[0]  # the best parallel time counts, not the slow first one (a mean would say 0.019 s)
    k._serial, k._parallel = _Stub("serial"), _Stub("parallel")
    assert k(big) == "parallel"
    assert t[4] >= _compile._TIMING_SAMPLES and t[5] >= _compile._TIMING_SAMPLES


@needs_two
def test_the_slower_count_is_timed_again_with_a_doubling_interval(monkeypatch):
    monkeypatch.setattr(_config, "PARALLEL_REPROBE", 4)
    k = _kernel()
    big = np.zeros(_config.PARALLEL_MIN_WORK)
    k(big)
    key = big.size.bit_length()
    k._timings[key] = [1e-9, 1.0, 4, 4, 3, 3]  # parallel hopelessly slower
    used = [k(big) for _ in range(4 + 8)]
    assert used.count("parallel") == 2  # re-timed after 4 calls, then after 8 more
    assert k._timings[key][3] == 16


def test_set_threads_caps_every_kernel_and_is_validated():
    k = _kernel()
    previous = monolith_np.set_threads(1)
    try:
        assert monolith_np.get_threads() == 1
        assert k(np.zeros(_config.PARALLEL_MIN_WORK * 4)) == "one thread"
        assert k(np.zeros(8)) == "serial"
        plain = _compile.ParallelKernel(_threads_used, dict(nogil=True))
        assert plain(np.zeros(1)) == 1
    finally:
        monolith_np.set_threads(previous)
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match="threads must be an integer >= 0"):
            monolith_np.set_threads(bad)


def test_bad_environment_setting_is_refused_at_import():
    env = dict(os.environ, MONOLITH_NP_THREADS="many")
    out = subprocess.run([sys.executable, "-c", "import monolith_np"], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "MONOLITH_NP_THREADS must be an integer >= 0" in out.stderr
    env["MONOLITH_NP_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", "import monolith_np; print(monolith_np.get_threads())"], env=env,
                         capture_output=True, text=True)
    assert out.stdout.strip() == "1"


def test_prefetch_changes_no_result():
    @numba.njit
    def gather(values, rows, ahead):
        s = 0.0
        for i in range(rows.size):
            if ahead and i + 3 < rows.size:
                _compile.prefetch(values, rows[i + 3])
                _compile.prefetch((values, values[:, :1]), rows[i + 3])
            s += values[rows[i], 0]
        return s

    values = np.random.default_rng(0).random((1000, 4))
    rows = np.random.default_rng(1).integers(0, 1000, 500)
    assert gather(values, rows, True) == gather(values, rows, False)
