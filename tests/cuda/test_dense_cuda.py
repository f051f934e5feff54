"""The dense-optimizer GPU drivers (``monolith_np.cuda.dense``) against the CPU kernels.

Under ``NUMBA_ENABLE_CUDASIM=1`` the drivers run on numpy arrays and the rules
run as Python on numpy scalars (NEP 50 keeps float32 arithmetic in float32),
so they must match the compiled CPU loops bit for bit. On a real GPU
(``MONOLITH_NP_REAL_GPU=1``) NVVM may fuse multiply-adds: a few ulps are
allowed there.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from monolith_np import _config
from monolith_np.cuda.dense import adamom_gpu, rmsprop_gpu
from monolith_np.optim import dense as D

EXACT = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _device(arrays):
    if EXACT:
        return arrays
    from numba import cuda

    return [cuda.to_device(a) for a in arrays]


def _host(arrays):
    return [a if isinstance(a, np.ndarray) else a.copy_to_host() for a in arrays]


def _compare(ours, expected):
    for a, b in zip(ours, expected):
        if EXACT:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=4e-6, atol=1e-6)


def _inputs(n, k, dtype, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1, 1, n).astype(dtype) for _ in range(k)]
    for i in range(2, k):
        arrays[i] = np.abs(arrays[i]) + (1 if i == 3 else 0)  # v >= 0, c >= 1
    return arrays


@pytest.mark.parametrize("dtype, update_slots, use_v2",
                         list(itertools.product([np.float32, np.float64], [True, False], [False, True])))
def test_adamom_gpu_matches_cpu(dtype, update_slots, use_v2):
    var, m, v, c, grad = _inputs(37, 5, dtype, 0)
    hyper = tuple(dtype(x) for x in (0.1, 0.99, 0.9, 1e-6, 0.01)) + (update_slots, use_v2)
    cpu = [a.copy() for a in (var, m, v, c)]
    D._adamom_cpu(*cpu, grad, *hyper)
    gpu = _device([a.copy() for a in (var, m, v, c)] + [grad])
    adamom_gpu(*gpu, *hyper)
    _compare(_host(gpu[:4]), cpu)


@pytest.mark.parametrize("dtype, update_slots, use_v2",
                         list(itertools.product([np.float32, np.float64], [True, False], [False, True])))
def test_rmsprop_gpu_matches_cpu(dtype, update_slots, use_v2):
    var, m, v, grad = _inputs(29, 4, dtype, 1)
    hyper = tuple(dtype(x) for x in (0.1, 0.9, 0.99, 1e-6, 0.01)) + (update_slots, use_v2)
    cpu = [a.copy() for a in (var, m, v)]
    D._rmsprop_cpu(*cpu, grad, *hyper)
    gpu = _device([a.copy() for a in (var, m, v)] + [grad])
    rmsprop_gpu(*gpu, *hyper)
    _compare(_host(gpu[:3]), cpu)


def test_golden_numbers_on_the_gpu_driver():
    f = np.float32
    var, m, v, grad = (np.array([x], f) for x in (0.1, 0.0, 0.0, 0.12))
    arrays = _device([var, m, v, grad])
    rmsprop_gpu(*arrays, f(0.1), f(0.9), f(0.9), f(0.1), f(1.0), True, False)
    var, m, v, _ = _host(arrays)
    np.testing.assert_allclose([m[0], v[0], var[0]], [0.06794526153774846, 0.00484, 0.03205473846225154], atol=1e-8)


def test_grid_stride_loop_covers_every_element(monkeypatch):
    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)  # 16 simulator threads for 61 elements
    var, m, v, c, grad = _inputs(61, 5, np.float32, 2)
    hyper = tuple(np.float32(x) for x in (0.1, 0.99, 0.9, 1e-6, 0.0)) + (True, False)
    cpu = [a.copy() for a in (var, m, v, c)]
    D._adamom_cpu(*cpu, grad, *hyper)
    gpu = _device([a.copy() for a in (var, m, v, c)] + [grad])
    adamom_gpu(*gpu, *hyper)
    _compare(_host(gpu[:4]), cpu)
