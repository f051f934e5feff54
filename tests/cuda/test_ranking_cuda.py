"""GPU drivers of monolith_np.losses.ranking against the CPU drivers (CUDA simulator).

Run with ``NUMBA_ENABLE_CUDASIM=1`` (see conftest.py); the drivers take numpy
arrays under the simulator. Both paths compile the same rules.
"""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np import _config
from monolith_np.cuda import ranking as gpu
from monolith_np._rules import ranking as R
from monolith_np.losses import _ranking_cpu as cpu
from monolith_np.losses import ranking as rk
from monolith_np.losses._ranking_inputs import _prep
from monolith_np.losses._ranking_lambda import _lambda_setup
from monolith_np.losses._ranking_pairwise import _PAIRWISE_LAMBDAS

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@pytest.fixture(autouse=True)
def _few_blocks(monkeypatch):
    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)


def _inputs(dtype, B=3, L=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(-1, 3, (B, L)).astype(dtype)
    logits = rng.standard_normal((B, L)).astype(dtype)
    logits[0, 1] = logits[0, 2]  # a tie
    return labels, logits


def _both(name, args_cpu, args_gpu):
    getattr(cpu, name + "_cpu")(*args_cpu)
    getattr(gpu, name + "_gpu")(*args_gpu)


def _copy(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prep_matches_cpu(dtype):
    labels, logits = _inputs(dtype)
    B, L = labels.shape
    gains = (2.0 ** np.maximum(labels, 0) - 1).astype(dtype)
    disc = np.concatenate([[0], 1 / np.log1p(np.arange(1, L + 2))]).astype(dtype)
    args = [labels, logits, gains, disc, 3, True, True, dtype(1e-6), np.zeros((B, L), np.int64),
            np.zeros((B, L), dtype)]
    a, b = _copy(args), _copy(args)
    _both("prep", a, b)
    np.testing.assert_array_equal(a[8], b[8])
    np.testing.assert_allclose(a[9], b[9], rtol=1e-6)


@pytest.mark.parametrize("kind", [R.HINGE, R.LOGISTIC, R.SOFT_ZERO_ONE])
@pytest.mark.parametrize("lam", [None, "ndcg", "precision"])
@pytest.mark.parametrize("none_mode", [False, True])
def test_pairwise_matches_cpu(kind, lam, none_mode):
    dtype = np.float64
    labels, logits = _inputs(dtype)
    B, L = labels.shape
    w = np.random.default_rng(1).uniform(0.5, 2, (B, L))
    lw = {None: None, "ndcg": rk.create_ndcg_lambda_weight(topn=2, smooth_fraction=0.5),
          "precision": rk.PrecisionLambdaWeight(topn=2)}[lam]
    info = _lambda_setup(np, lw, labels, _PAIRWISE_LAMBDAS)
    g = info["g"] if info["g"].shape == (B, L) else np.zeros((B, L))
    pos, inv = _prep(np, labels, logits, g, info["disc"], info["cut"], True, True)
    shape = (B, L, L) if none_mode else (1, 1, 1)
    up = np.random.default_rng(2).standard_normal(shape)
    outs = [np.zeros(shape), up, np.zeros((B, L)), np.zeros((B, L), np.int64), np.zeros((B, L)), np.zeros((B, L))]
    common = [kind, labels, logits, w, g, pos, info["disc"], inv, info["kind"], int(info["topn_or"]),
              int(info["topn_mask"]), bool(info["normalized"]), info["sf"], dtype(L), dtype(1), none_mode]
    a, b = common + _copy(outs), common + _copy(outs)
    _both("pairwise", a, b)
    for x, y in zip(a[16:], b[16:]):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
    assert np.abs(a[-1]).sum() > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("use_lambda", [False, True])
def test_softmax_matches_cpu(dtype, use_lambda):
    labels, logits = _inputs(dtype)
    B, L = labels.shape
    lw = rk.create_ndcg_lambda_weight() if use_lambda else None
    info = _lambda_setup(np, lw, labels, (rk.DCGLambdaWeight,))
    g = info["g"] if info["g"].shape == (B, L) else np.zeros((B, L), dtype)
    pos, inv = _prep(np, labels, logits, g, info["disc"], info["cut"], True, True)
    common = [labels, logits, np.ones((B, L), dtype), g, pos, info["disc"], inv, use_lambda, True,
              dtype(np.log(np.float32(1e-10)))]
    outs = [np.zeros(B, dtype), np.zeros(B, dtype), np.zeros((B, L), dtype)]
    a, b = common + _copy(outs), common + _copy(outs)
    _both("softmax", a, b)
    for x, y in zip(a[10:], b[10:]):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_list_mle_matches_cpu(dtype):
    labels, logits = _inputs(dtype)
    B, L = labels.shape
    disc = np.arange(L + 2, dtype=dtype)
    common = [labels, logits, np.uint64(9), True, disc, dtype(np.log(np.float32(1e-10))), dtype(1)]
    outs = [np.zeros((B, L), np.int64), np.zeros((B, L), dtype), np.zeros(B, dtype), np.zeros((B, L), dtype)]
    a, b = common + _copy(outs), common + _copy(outs)
    _both("list_mle", a, b)
    np.testing.assert_array_equal(a[7], b[7])  # the permutations agree bit for bit
    for x, y in zip(a[9:], b[9:]):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_approx_ndcg_and_ranks_match_cpu(dtype):
    labels, logits = _inputs(dtype)
    B, L = labels.shape
    gains = (2.0 ** np.maximum(labels, 0) - 1).astype(dtype)
    inv = np.full(B, 0.3, dtype)
    common = [labels, logits, gains, inv, dtype(10), dtype(1e3), dtype(1), True]
    outs = [np.zeros((B, L))] + [np.zeros((B, L), dtype) for _ in range(3)]
    a, b = common + _copy(outs), common + _copy(outs)
    _both("approx_ndcg", a, b)
    for x, y in zip(a[8:], b[8:]):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert np.abs(a[-1]).sum() > 0
    ra, rb = np.zeros((B, L), dtype), np.zeros((B, L), dtype)
    z = np.zeros((B, L), dtype)
    cpu.approx_ranks_cpu(z, logits, dtype(10), dtype(1), np.zeros((B, L)), ra)
    gpu.approx_ranks_gpu(z, logits, dtype(10), dtype(1), np.zeros((B, L)), rb)
    np.testing.assert_allclose(ra, rb, rtol=1e-6)
