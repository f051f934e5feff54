"""The optimizer GPU drivers (``monolith_np.cuda.optim``) against the CPU drivers.

Under ``NUMBA_ENABLE_CUDASIM=1`` the drivers run on numpy arrays; the rules run
as Python on numpy float32 scalars. Rows without duplicates must match the CPU
bit for bit (1 ulp on a real GPU, where NVVM fuses multiply-adds); duplicate
gradients are summed in arrival order on the GPU, so rows with duplicates
match to float32 rounding.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from monolith_np.cuda.optim import apply_dense_gpu, apply_rows_gpu
from monolith_np.optim import optimizers as O

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "optim"))
from registry_cases import cases  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

EXACT = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"

#: One case per registry row plus the decorated ones (tests/optim/registry_cases.py).
CASES = cases()
IDS = [c[0] for c in CASES]


def _data(dim=5, num_rows=9, n=14, seed=0):
    rng = np.random.default_rng(seed)
    params = rng.normal(size=(num_rows, dim)).astype(np.float32)
    rows = rng.integers(0, num_rows, n).astype(np.int64)
    grads = rng.normal(size=(n, dim)).astype(np.float32)
    return params, rows, grads


def _gpu_args(opt, step):
    """``(entry, rounding, lr, hp, seed, dc)`` of the optimizer's plan, as its public calls pass them."""
    plan = opt._plan()
    config = plan.base._config()
    return plan.base._row.entry, plan.rounding, opt._default_learning_rate(step, config), plan.hparams(config), \
        plan.seed, plan.dc


def _compare(a, b, exact):
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sparse_gpu_matches_cpu(case):
    _, opt, dim = case
    params, rows, grads = _data(dim)
    state = opt.init_state(*params.shape)
    p_cpu, s_cpu = params.copy(), {k: v.copy() for k, v in state.items()}
    opt.apply_rows(p_cpu, rows, grads, s_cpu, global_step=3)
    entry, rounding, lr, hp, seed, dc = _gpu_args(opt, 3)
    S = opt._check_state(state, *params.shape)
    apply_rows_gpu(entry, rounding, params, rows, grads, S, lr, hp, 3, seed, dc=dc)
    unique = np.unique(rows, return_counts=True)
    single = unique[0][unique[1] == 1]
    _compare(params[single], p_cpu[single], EXACT)
    np.testing.assert_allclose(params, p_cpu, rtol=1e-5, atol=1e-6)
    for k in state:
        np.testing.assert_allclose(state[k], s_cpu[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dense_gpu_matches_cpu(case):
    _, opt, dim = case
    params, _, _ = _data(dim)
    grads = np.random.default_rng(1).normal(size=params.shape).astype(np.float32)
    state = opt.init_state(*params.shape)
    p_cpu, s_cpu = params.copy(), {k: v.copy() for k, v in state.items()}
    opt.apply(p_cpu, grads, s_cpu, global_step=2)
    entry, rounding, lr, hp, seed, dc = _gpu_args(opt, 2)
    apply_dense_gpu(entry, rounding, params, grads, opt._check_state(state, *params.shape), lr, hp, 2, seed, dc=dc)
    _compare(params, p_cpu, EXACT)


def test_batch_softmax_gpu():
    opt = O.BatchSoftmaxOptimizer()
    params = np.ones((4, 1), np.float32)
    state = opt.init_state(4, 1)
    rows = np.array([3, 1, 3], np.int64)
    grads = np.zeros((3, 1), np.float32)
    p_cpu, s_cpu = params.copy(), {k: v.copy() for k, v in state.items()}
    opt.apply_rows(p_cpu, rows, grads, s_cpu, global_step=5)
    entry, rounding, lr, hp, seed, dc = _gpu_args(opt, 5)
    apply_rows_gpu(entry, rounding, params, rows, grads, opt._check_state(state, 4, 1), lr, hp, 5, seed, dc=dc)
    np.testing.assert_array_equal(params, p_cpu)
    np.testing.assert_array_equal(state["global_step"], s_cpu["global_step"])


@pytest.mark.parametrize("base", [O.AdagradOptimizer(learning_rate=0.1),
                                  O.StochasticRoundingFloat16OptimizerWrapper(O.AdamOptimizer(learning_rate=0.1))],
                         ids=lambda o: type(o).__name__)
def test_dc_gpu_matches_cpu(base):
    opt = O.DcOptimizerWrapper(base, lambda_=0.5)
    params, rows, grads = _data()
    state = opt.init_state(*params.shape)
    state["latest"][:] = np.random.default_rng(2).normal(size=params.shape).astype(np.float32)
    before = grads.copy()
    p_cpu, s_cpu = params.copy(), {k: v.copy() for k, v in state.items()}
    opt.apply_rows(p_cpu, rows, grads, s_cpu, global_step=3)
    entry, rounding, lr, hp, seed, dc = _gpu_args(opt, 3)
    apply_rows_gpu(entry, rounding, params, rows, grads, opt._check_state(state, *params.shape), lr, hp, 3, seed,
                   dc=dc)
    np.testing.assert_array_equal(grads, before)
    unique = np.unique(rows, return_counts=True)
    single = unique[0][unique[1] == 1]
    _compare(params[single], p_cpu[single], EXACT)
    np.testing.assert_allclose(params, p_cpu, rtol=1e-5, atol=1e-6)
    for k in state:
        np.testing.assert_allclose(state[k], s_cpu[k], rtol=1e-5, atol=1e-6)
    dense = np.random.default_rng(1).normal(size=params.shape).astype(np.float32)
    opt.apply(p_cpu, dense, s_cpu, global_step=4)
    entry, rounding, lr, hp, seed, dc = _gpu_args(opt, 4)
    apply_dense_gpu(entry, rounding, params, dense, opt._check_state(state, *params.shape), lr, hp, 4, seed, dc=dc)
    np.testing.assert_allclose(params, p_cpu, rtol=1e-5, atol=1e-6)
    p_cpu2, s_cpu2 = params.copy(), {k: v.copy() for k, v in state.items()}
    opt.apply(p_cpu2, dense, s_cpu2, global_step=5)
    apply_dense_gpu(entry, rounding, params, dense, opt._check_state(state, *params.shape), lr, hp, 5, seed, dc=dc)
    _compare(params, p_cpu2, EXACT)
