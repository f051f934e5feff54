"""GPU drivers of monolith_np.sampling against the CPU path (CUDA simulator or a real GPU).

Run in its own process with ``NUMBA_ENABLE_CUDASIM=1`` (see conftest.py). The
drivers take numpy arrays under the simulator. Uniforms must agree bit for bit;
results that go through ``log``/``exp`` agree to a few ulps (the simulator
evaluates them in double precision, a GPU with its own libdevice).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import cuda

from monolith_np import _config, _random
from monolith_np._compile import gpu_device, gpu_kernel
from monolith_np.cuda import sampling as gpu
from monolith_np.cuda._launch import launch
from monolith_np.sampling import EPSILON, continuous_topk, gumbel_keys, sample_subset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from ref_sampling import ref_uniform01_float32, uniforms_from_gumbel_keys  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

REAL_GPU = os.environ.get("MONOLITH_NP_REAL_GPU") == "1"

_uniform01_dev = gpu_device(_random.uniform01_float32)


@gpu_kernel
def _fill_uniform01_kernel(seed, offset, out):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = _uniform01_dev(seed, offset + np.uint64(i))


def device(a):
    """Host array -> what the drivers take (numpy under the simulator, device array on a GPU)."""
    return cuda.to_device(a) if REAL_GPU else a


def host(a):
    return a.copy_to_host() if REAL_GPU else a


@pytest.fixture(autouse=True)
def _few_blocks(monkeypatch):
    """Fewer threads than rows, so the grid-stride loops take several turns."""
    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)


def _gpu_uniforms(seed, offset, size):
    out = device(np.empty(size, np.float32))
    launch(_fill_uniform01_kernel, size, np.uint64(seed), np.uint64(offset), out)
    return host(out)


@pytest.mark.parametrize("seed", [0, 2**64 - 1, 12345])
def test_uniforms_bit_identical_to_cpu(seed):
    # The CPU path's uniforms, read back exactly from its float64 Gumbel keys.
    cpu = uniforms_from_gumbel_keys(gumbel_keys(np.zeros(40), seed))
    np.testing.assert_array_equal(_gpu_uniforms(seed, 0, 40), cpu)


@pytest.mark.parametrize("seed, offset", [(0, 2**63 - 5), (7, 2**64 - 40)])
def test_uniforms_at_huge_counters_match_reference(seed, offset):
    np.testing.assert_array_equal(_gpu_uniforms(seed, offset, 40),
                                  ref_uniform01_float32(seed, range(offset, offset + 40)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gumbel_keys_gpu_matches_cpu(dtype):
    w = np.random.default_rng(0).standard_normal((3, 11)).astype(dtype)
    out = device(np.empty(w.size, dtype))
    gpu.gumbel_keys_gpu(device(w.reshape(-1)), np.uint64(42), dtype(EPSILON), out)
    got = host(out).reshape(w.shape)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, gumbel_keys(w, 42), rtol=1e-6, atol=1e-6)


def test_gumbel_kernel_draws_the_cpu_uniforms():
    out = device(np.empty(64))
    gpu.gumbel_keys_gpu(device(np.zeros(64)), np.uint64(5), np.float64(EPSILON), out)
    np.testing.assert_array_equal(uniforms_from_gumbel_keys(host(out)),
                                  uniforms_from_gumbel_keys(gumbel_keys(np.zeros(64), 5)))


def _relaxed_gpu(w, k, t, separate, seed=None):
    dtype = w.dtype.type
    rows, n = w.shape
    out = device(np.full((rows, k if separate else 1, n), np.nan, w.dtype))
    scratch = device(np.empty((3, n, rows), w.dtype))
    seed = None if seed is None else np.uint64(seed)
    gpu.relaxed_topk_gpu(device(w), k, dtype(t), dtype(EPSILON), out, scratch, seed)
    return host(out).transpose(1, 0, 2)  # (rounds, rows, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("separate", [False, True])
def test_continuous_topk_gpu_matches_cpu(dtype, separate):
    w = np.random.default_rng(1).standard_normal((19, 6)).astype(dtype)
    w[3] = 2.0  # a row of ties
    got = _relaxed_gpu(w, 3, 0.5, separate)
    cpu = continuous_topk(w, 3, 0.5, separate=separate)
    cpu = np.stack(cpu) if separate else cpu[None]
    assert got.dtype == dtype
    np.testing.assert_allclose(got, cpu, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sample_subset_gpu_matches_cpu(dtype):
    w = np.log(np.random.default_rng(2).uniform(0.05, 1.0, (17, 5))).astype(dtype)
    got = _relaxed_gpu(w, 2, 0.3, False, seed=9)[0]
    np.testing.assert_allclose(got, sample_subset(w, 2, 0.3, seed=9), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 2.0, rtol=1e-5)


def test_k_larger_than_row_and_single_element_rows():
    w = np.arange(6, dtype=np.float32).reshape(6, 1)
    np.testing.assert_array_equal(_relaxed_gpu(w, 4, 0.2, False)[0], np.full((6, 1), 4, np.float32))


class _NumpyAsDevice:
    """numpy under another name: the public functions take their GPU branch, which the simulator runs on numpy."""

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.mark.skipif(REAL_GPU, reason="feeds numpy arrays to the GPU branch (simulator only)")
def test_public_functions_reach_the_gpu_drivers(monkeypatch):
    """gumbel_keys, continuous_topk and sample_subset call ``gpu_drivers().sampling``, with the CPU's results."""
    from monolith_np import sampling

    w = np.log(np.random.default_rng(3).uniform(0.05, 1.0, (2, 3, 5))).astype(np.float32)
    calls = [
        lambda: gumbel_keys(w, seed=11),
        lambda: continuous_topk(w, 2, 0.4),
        lambda: continuous_topk(w, 3, 0.4, separate=True),
        lambda: sample_subset(w, 2, 0.3, seed=5),
    ]
    cpu = [call() for call in calls]
    called = []
    for name in gpu.__all__:
        driver = getattr(gpu, name)
        monkeypatch.setattr(gpu, name, lambda *args, _d=driver, _n=name: (called.append(_n), _d(*args))[1])
    monkeypatch.setattr(sampling, "array_module", lambda *arrays, **named: _NumpyAsDevice())
    got = [call() for call in calls]
    assert called == ["gumbel_keys_gpu", "relaxed_topk_gpu", "relaxed_topk_gpu", "relaxed_topk_gpu"]
    for g, want in zip(got, cpu):
        np.testing.assert_allclose(np.asarray(g), np.asarray(want), rtol=1e-5, atol=1e-6)
