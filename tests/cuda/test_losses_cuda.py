"""GPU drivers of the non-ranking losses against the CPU path (CUDA simulator or a real GPU).

Run in its own process with ``NUMBA_ENABLE_CUDASIM=1`` (see conftest.py). The
drivers take numpy arrays under the simulator; results agree with the CPU
drivers and public functions to rounding.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from numba import cuda

from monolith_np import _config
from monolith_np.cuda import losses as gpu
from monolith_np.losses import batch_softmax as bs
from monolith_np.losses import inbatch_auc as auc
from monolith_np.losses import loss_and_pred as lp

REAL_GPU = os.environ.get("MONOLITH_NP_REAL_GPU") == "1"


def device(a):
    """Host array -> what the drivers take (numpy under the simulator, device array on a GPU)."""
    return cuda.to_device(a) if REAL_GPU else a


def host(a):
    return a.copy_to_host() if REAL_GPU else a


@pytest.fixture(autouse=True)
def _few_blocks(monkeypatch):
    """Fewer threads than items, so the grid-stride loops take several turns."""
    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("want_grad", [False, True])
def test_batch_softmax_rows_gpu_matches_cpu(dtype, want_grad):
    rng = np.random.default_rng(0)
    b = 21
    sim = (rng.standard_normal((b, b)) * 3).astype(dtype)
    c = np.log(np.maximum(rng.integers(0, 9, b), 1)).astype(dtype)
    r = rng.random(b).astype(dtype)
    g = dtype(1.5)
    cpu_sim, cpu_out = sim.copy(), np.empty(b)
    bs._batch_softmax_rows_cpu(cpu_sim, c, r, g, want_grad, cpu_out)
    d_sim, d_out = device(sim.copy()), device(np.empty(b))
    gpu.batch_softmax_rows_gpu(d_sim, device(c), device(r), g, want_grad, d_out)
    np.testing.assert_allclose(host(d_out), cpu_out, **_tol(dtype))
    np.testing.assert_allclose(host(d_sim), cpu_sim, **_tol(dtype))
    if want_grad:  # the gradient rows of a softmax sum to g * r_i * (1 - 1) = 0
        np.testing.assert_allclose(host(d_sim).sum(axis=1), 0.0, atol=1e-5)


def test_batch_softmax_gpu_row_pass_gives_the_public_loss():
    rng = np.random.default_rng(1)
    q, it = rng.standard_normal((9, 4)), rng.standard_normal((9, 4))
    iv, r = rng.integers(0, 5, 9).astype(np.float64), rng.random(9)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    itn = it / np.linalg.norm(it, axis=1, keepdims=True)
    sim = (qn / 0.5) @ itn.T
    out = device(np.empty(9))
    gpu.batch_softmax_rows_gpu(device(sim), device(np.log(np.maximum(iv, 1))), device(r), 1.0, False, out)
    np.testing.assert_allclose(host(out).sum(), bs.batch_softmax_loss(q, it, iv, r, True, 0.5), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inbatch_auc_gpu_matches_cpu(dtype):
    rng = np.random.default_rng(2)
    label = rng.choice([1.0, 0.0, -1.0, -10000.0], size=40)
    logit = (rng.standard_normal(40) * 30).astype(dtype)
    logit[:3] = [100.0, -100.0, 0.0]
    flat_pos = np.ascontiguousarray(logit[label > 0])
    flat_neg = np.ascontiguousarray(logit[(label <= 0) & (label > -10000)])
    p, n = flat_pos.size, flat_neg.size
    loss_rows, pos_grad, neg_grad = device(np.empty(p)), device(np.empty(p)), device(np.empty(n))
    gpu.inbatch_auc_gpu(device(flat_pos), device(flat_neg), loss_rows, pos_grad, neg_grad)
    cpu_loss, cpu_grad = auc.inbatch_auc_loss_and_grad(label, logit, 0.5, 2.0)
    np.testing.assert_allclose(host(loss_rows).sum(), cpu_loss, **_tol(dtype))
    grad = np.zeros(40)
    grad[label > 0] = host(pos_grad) * 2.0
    grad[(label <= 0) & (label > -10000)] = host(neg_grad) * -0.5 * 2.0
    np.testing.assert_allclose(grad.astype(dtype), cpu_grad, **_tol(dtype))
    # forward only: the second pass is skipped
    loss_only = device(np.empty(p))
    gpu.inbatch_auc_gpu(device(flat_pos), device(flat_neg), loss_only, device(np.empty(p)), None)
    np.testing.assert_allclose(host(loss_only), host(loss_rows), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(sample_rate=0.2, sample_bias=True, logit_clip_threshold=0.05),
        dict(sample_rate="array", instance_weight="array", mask="array", predict_before_correction=False),
    ],
)
def test_sigmoid_gpu_matches_cpu(dtype, kwargs):
    rng = np.random.default_rng(3)
    n = 37
    x = (rng.standard_normal(n) * 5).astype(dtype)
    y = (rng.random(n) < 0.4).astype(dtype)
    sr = kwargs.get("sample_rate", 1.0)
    sr_arr = rng.uniform(0.05, 1, n).astype(dtype) if sr == "array" else None
    w = rng.random(n).astype(dtype) if kwargs.get("instance_weight") == "array" else None
    mask = rng.random(n) < 0.7 if kwargs.get("mask") == "array" else None
    sb = kwargs.get("sample_bias", False)
    c = kwargs.get("logit_clip_threshold")
    before = kwargs.get("predict_before_correction", True)
    loss, pred, grad = lp.get_sigmoid_loss_and_pred_and_grad(
        "h", x, y, n, sample_rate=sr_arr if sr_arr is not None else sr, sample_bias=sb, instance_weight=w, mask=mask,
        logit_clip_threshold=c, predict_before_correction=before, upstream=0.5)
    nlsr = -np.log(sr_arr) if sr_arr is not None else np.full(1, -np.log(sr), dtype)
    tau = np.log((1 - c) / c) if c is not None else 0.0
    d_pred, d_grad, d_losses = device(np.empty(n, dtype)), device(np.empty(n, dtype)), device(np.empty(n))
    gpu.sigmoid_loss_pred_gpu(
        device(x), device(y), device(nlsr.astype(dtype)), device(w if w is not None else np.ones(1, dtype)),
        device(mask.astype(np.uint8) if mask is not None else np.ones(1, np.uint8)), sb, c is not None, dtype(tau),
        before, dtype(0.5), dtype(0), dtype(1), d_pred, d_grad, d_losses)
    np.testing.assert_allclose(host(d_losses).sum(), loss, **_tol(dtype))
    np.testing.assert_allclose(host(d_pred), pred, **_tol(dtype))
    np.testing.assert_allclose(host(d_grad), grad, **_tol(dtype))
