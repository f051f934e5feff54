"""Non-ranking losses on the CPU: our kernels against their peers.

Groups (float32):

* ``batch_softmax-fwd-4096x64`` / ``batch_softmax-fwdbwd-4096x64``: B = 4096
  queries and items of dimension 64, normalised, temperature 0.1. Peers:
  ``numpy`` (stable log-softmax with a hand-written gradient), ``tensorflow``
  (the transcription of the original in ``tf.function``, gradients from
  ``GradientTape``), ``torch`` (autograd), and ``sgemm`` (the forward's
  ``q @ itemᵀ`` alone: the floor for every implementation).
* ``sigmoid_loss_and_pred-fwd-1M`` / ``-fwdbwd-1M``: 1,000,000 logits with a
  sample rate of 0.1 and instance weights. Peers: ``torch``
  (``binary_cross_entropy_with_logits`` + sigmoid, autograd) and
  ``tensorflow`` (the transcription of ``get_sigmoid_loss_and_pred``).
* ``inbatch_auc-fwdbwd-4096``: 4096 examples, about a quarter positive. Peers:
  ``numpy`` (the pair matrix, vectorised) and ``tensorflow`` (pair-matrix TF ops
  for the value; the op's gradient has no TF form).

JIT compilation and graph tracing run before the timed region; results are
checked against the peers. With ``--benchmark-disable`` every case runs once
on tiny sizes as a smoke test (same checks).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from monolith_np.losses.batch_softmax import batch_softmax_loss, batch_softmax_loss_and_grad
from monolith_np.losses.inbatch_auc import inbatch_auc_loss_and_grad
from monolith_np.losses.loss_and_pred import get_sigmoid_loss_and_pred, get_sigmoid_loss_and_pred_and_grad

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reference"))

TEMPERATURE = 0.1
SAMPLE_RATE = 0.1


def _tag(benchmark, group, impl):
    benchmark.group = group
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["numba_threads"] = numba.get_num_threads()


def _run(benchmark, fn, rounds=5):
    out = fn()  # warm-up (JIT, tracing) outside the timed region
    # then the calls in which our parallel kernels time one thread against two (ParallelKernel.run), untimed
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0 if benchmark.disabled else 8)
    return out


# --- batch softmax -------------------------------------------------------------------


def _bs_data(benchmark):
    b, k = (64, 8) if benchmark.disabled else (4096, 64)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((b, k)).astype(np.float32)
    it = rng.standard_normal((b, k)).astype(np.float32)
    iv = rng.integers(0, 100, b).astype(np.float32)
    r = rng.random(b).astype(np.float32)
    return f"{b}x{k}", q, it, iv, r


def _numpy_bs(q, it, iv, r, grad):
    """Stable log-softmax with a hand-written gradient (float32 numpy)."""
    t = np.float32(TEMPERATURE)
    qn_inv = 1 / np.sqrt(np.maximum((q * q).sum(1), np.float32(1e-12)))
    in_inv = 1 / np.sqrt(np.maximum((it * it).sum(1), np.float32(1e-12)))
    qn, itn = q * qn_inv[:, None], it * in_inv[:, None]
    s = (qn @ itn.T) / t + np.log(np.maximum(iv, np.float32(1)))[None, :]
    m = s.max(axis=1, keepdims=True)
    s -= m
    np.exp(s, out=s)
    total = s.sum(axis=1, keepdims=True)
    diag = np.diagonal(s).copy()
    loss = -np.sum(r * (np.log(diag) - np.log(total[:, 0])))
    if not grad:
        return loss
    s /= total
    s[np.diag_indices_from(s)] -= 1
    s *= r[:, None]
    dqn = (s @ itn) / t
    din = (s.T @ qn) / t
    dq = (dqn - qn * (qn * dqn).sum(1, keepdims=True)) * qn_inv[:, None]
    di = (din - itn * (itn * din).sum(1, keepdims=True)) * in_inv[:, None]
    return loss, (dq, di)


def _tf_bs(q, it, iv, r, grad):
    import tensorflow as tf
    from ref_losses import tf_batch_softmax_loss

    args = [tf.constant(a) for a in (q, it, iv, r)]

    @tf.function
    def fwd(q, it, iv, r):
        return tf_batch_softmax_loss(q, it, iv, r, True, TEMPERATURE)

    @tf.function
    def fwdbwd(q, it, iv, r):
        with tf.GradientTape() as tape:
            tape.watch([q, it])
            loss = tf_batch_softmax_loss(q, it, iv, r, True, TEMPERATURE)
        return loss, tape.gradient(loss, [q, it])

    if grad:
        return lambda: (lambda out: (out[0].numpy(), (out[1][0].numpy(), out[1][1].numpy())))(fwdbwd(*args))
    return lambda: fwd(*args).numpy()


def _torch_bs(q, it, iv, r, grad):
    import torch

    tq, tit = torch.from_numpy(q), torch.from_numpy(it)
    tiv, tr = torch.from_numpy(iv), torch.from_numpy(r)

    def run():
        with torch.set_grad_enabled(grad):
            a = tq.clone().requires_grad_(grad)
            b = tit.clone().requires_grad_(grad)
            qn = torch.nn.functional.normalize(a, dim=1, eps=1e-6)
            itn = torch.nn.functional.normalize(b, dim=1, eps=1e-6)
            s = qn @ itn.T / TEMPERATURE + torch.log(torch.clamp(tiv, min=1.0))[None, :]
            logp = torch.log_softmax(s, dim=1)
            loss = -(tr * torch.diagonal(logp)).sum()
            if not grad:
                return loss.numpy()
            loss.backward()
            return loss.detach().numpy(), (a.grad.numpy(), b.grad.numpy())

    return run


@pytest.mark.parametrize("impl", ["monolith_np", "numpy", "tensorflow", "torch", "sgemm"])
@pytest.mark.parametrize("grad", [False, True], ids=["fwd", "fwdbwd"])
def test_batch_softmax(benchmark, impl, grad):
    size, q, it, iv, r = _bs_data(benchmark)
    if impl == "sgemm" and grad:
        pytest.skip("the sgemm floor is reported in the forward group")
    _tag(benchmark, f"batch_softmax-{'fwdbwd' if grad else 'fwd'}-{size}", impl)
    ours = (batch_softmax_loss_and_grad if grad else batch_softmax_loss)
    if impl == "monolith_np":
        fn = lambda: ours(q, it, iv, r, True, TEMPERATURE)  # noqa: E731
    elif impl == "numpy":
        fn = lambda: _numpy_bs(q, it, iv, r, grad)  # noqa: E731
    elif impl == "tensorflow":
        fn = _tf_bs(q, it, iv, r, grad)
    elif impl == "torch":
        fn = _torch_bs(q, it, iv, r, grad)
    else:
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        itn = it / np.linalg.norm(it, axis=1, keepdims=True)
        _run(benchmark, lambda: np.matmul(qn, itn.T))
        return
    got = _run(benchmark, fn, rounds=3 if not benchmark.disabled else 1)
    want = ours(q.astype(np.float64), it.astype(np.float64), iv, r.astype(np.float64), True, TEMPERATURE)
    if grad:
        np.testing.assert_allclose(got[0], want[0], rtol=1e-3)
        scale = float(np.abs(want[1][0]).max())
        for a, b in zip(got[1], want[1]):
            np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-3 * scale)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-3)


# --- sigmoid loss and prediction ---------------------------------------------------


def _sig_data(benchmark):
    n = 1000 if benchmark.disabled else 1_000_000
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    y = (rng.random(n) < 0.2).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    return ("1M" if n == 1_000_000 else str(n)), x, y, w


def _torch_sig(x, y, w, grad):
    import torch

    tx, ty, tw = (torch.from_numpy(a) for a in (x, y, w))
    shift = -float(np.log(SAMPLE_RATE))

    def run():
        with torch.set_grad_enabled(grad):
            a = tx.clone().requires_grad_(grad) if grad else tx
            pred = torch.sigmoid(a.detach()) if grad else torch.sigmoid(a)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(a + shift, ty, weight=tw, reduction="sum")
            if not grad:
                return loss.numpy(), pred.numpy()
            loss.backward()
            return loss.detach().numpy(), pred.numpy(), a.grad.numpy()

    return run


def _tf_sig(x, y, w, grad):
    import tensorflow as tf
    from ref_losses import tf_sigmoid_loss_and_pred

    args = [tf.constant(a) for a in (x, y, w)]

    @tf.function
    def fwd(x, y, w):
        return tf_sigmoid_loss_and_pred(x, y, sample_rate=SAMPLE_RATE, instance_weight=w)

    @tf.function
    def fwdbwd(x, y, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss, pred = tf_sigmoid_loss_and_pred(x, y, sample_rate=SAMPLE_RATE, instance_weight=w)
        return loss, pred, tape.gradient(loss, x)

    if grad:
        return lambda: tuple(t.numpy() for t in fwdbwd(*args))
    return lambda: tuple(t.numpy() for t in fwd(*args))


@pytest.mark.parametrize("impl", ["monolith_np", "torch", "tensorflow"])
@pytest.mark.parametrize("grad", [False, True], ids=["fwd", "fwdbwd"])
def test_sigmoid_loss_and_pred(benchmark, impl, grad):
    size, x, y, w = _sig_data(benchmark)
    _tag(benchmark, f"sigmoid_loss_and_pred-{'fwdbwd' if grad else 'fwd'}-{size}", impl)
    kw = dict(sample_rate=SAMPLE_RATE, instance_weight=w)
    if impl == "monolith_np":
        if grad:
            fn = lambda: get_sigmoid_loss_and_pred_and_grad("h", x, y, x.size, **kw)  # noqa: E731
        else:
            fn = lambda: get_sigmoid_loss_and_pred("h", x, y, x.size, **kw)  # noqa: E731
    else:
        fn = (_torch_sig if impl == "torch" else _tf_sig)(x, y, w, grad)
    got = _run(benchmark, fn, rounds=10 if not benchmark.disabled else 1)
    want = get_sigmoid_loss_and_pred_and_grad("h", x.astype(np.float64), y, x.size, sample_rate=SAMPLE_RATE,
                                              instance_weight=w)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
    if grad:
        np.testing.assert_allclose(got[2], want[2], rtol=1e-4, atol=1e-6)


# --- in-batch AUC -------------------------------------------------------------------


def _numpy_auc(label, logit):
    pos, neg = logit[label > 0], logit[label <= 0]
    d = (pos[:, None] - neg[None, :]).astype(np.float64)
    e = np.exp(np.clip(d, -87, 88))
    term = np.where(d <= -87, d, np.where(d >= 88, 0.0, d - np.log1p(e)))
    gamma = np.where(d <= -87, 1.0, np.where(d >= 88, 0.0, 1 - 1 / (1 + 1 / e)))
    grad = np.zeros(logit.shape, np.float64)
    grad[label > 0] = gamma.sum(1)
    grad[label <= 0] = -gamma.sum(0)
    return np.float32(term.sum()), grad.astype(np.float32)


def _tf_auc(label, logit):
    import tensorflow as tf
    from ref_losses import tf_inbatch_auc_loss

    fn = tf.function(tf_inbatch_auc_loss)
    args = (tf.constant(label), tf.constant(logit))
    return lambda: (np.float32(fn(*args).numpy()), None)


@pytest.mark.parametrize("impl", ["monolith_np", "numpy", "tensorflow"])
def test_inbatch_auc(benchmark, impl):
    n = 64 if benchmark.disabled else 4096
    rng = np.random.default_rng(2)
    label = (rng.random(n) < 0.25).astype(np.float32)
    logit = (rng.standard_normal(n) * 2).astype(np.float32)
    _tag(benchmark, f"inbatch_auc-fwdbwd-{n}", impl)
    benchmark.extra_info["pairs"] = int((label > 0).sum() * (label <= 0).sum())
    if impl == "monolith_np":
        fn = lambda: inbatch_auc_loss_and_grad(label, logit)  # noqa: E731
    elif impl == "numpy":
        fn = lambda: _numpy_auc(label, logit)  # noqa: E731
    else:
        fn = _tf_auc(label, logit)
    got = _run(benchmark, fn, rounds=5 if not benchmark.disabled else 1)
    want = inbatch_auc_loss_and_grad(label, logit.astype(np.float64))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    if got[1] is not None:
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
