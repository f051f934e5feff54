"""Learning-to-rank losses, forward + backward, on the CPU: our kernels against their peers.

Groups ``<loss>_and_grad-<B>x<L>``: the pairwise logistic, hinge and soft
zero-one losses, the softmax loss, ListMLE and approx-NDCG, each on
``[B=256, L=64]`` and ``[B=32, L=512]`` float32 lists (graded labels 0..4,
about 10% invalid items, standard normal logits), default arguments (no
weights, no lambda weight, each loss's default reduction). Every peer returns
the loss and its gradient with respect to the logits:

* ``monolith_np``: ``<loss>_and_grad`` (validation plus the fused ``prange``
  kernels, which never build the ``[B, L, L]`` pair tensors);
* ``tensorflow``: the TF transcription of the original
  (``tests/reference/ref_ranking.py``) differentiated with ``tf.GradientTape``
  inside one ``tf.function``; ListMLE uses the deterministic ordering of the
  reference, which costs the same ``top_k`` as the original's shuffle;
* ``torch``: the same math written in torch ops with autograd (helpers below;
  ``[B, L, L]`` pair tensors for the pairwise losses and approx-NDCG, as in TF).

JIT compilation and graph tracing are warmed up outside the timed region (8
untimed rounds: compilation, then the parallel kernels' thread choice); the
result of every peer is checked against ours.
``pytest --benchmark-disable`` runs every case once on ``[4, 8]`` and
``[2, 16]`` lists as a smoke test (still checking the peers' results).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from monolith_np import _config
from monolith_np.losses import ranking

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reference"))

SIZES = {"256x64": (256, 64), "32x512": (32, 512)}
SMOKE = {"256x64": (4, 8), "32x512": (2, 16)}
ROUNDS = {"256x64": 20, "32x512": 10}
LOSSES = [
    "pairwise_logistic_loss",
    "pairwise_hinge_loss",
    "pairwise_soft_zero_one_loss",
    "softmax_loss",
    "list_mle_loss",
    "approx_ndcg_loss",
]
LOG_EPS = float(np.log(np.float32(1e-10)))


@pytest.fixture(scope="module", params=list(SIZES))
def case(request):
    """(size name, labels, logits) for the size, tiny under ``--benchmark-disable``."""
    config = request.config
    smoke = config.getoption("benchmark_disable", False) and not config.getoption("benchmark_enable", False)
    b, l = (SMOKE if smoke else SIZES)[request.param]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=(b, l)).astype(np.float32)
    labels[rng.random((b, l)) < 0.1] = -1.0
    logits = rng.standard_normal((b, l)).astype(np.float32)
    # ListMLE: distinct valid labels per list, so its random tie-break cannot change the result
    distinct = np.argsort(rng.random((b, l)), axis=1).astype(np.float32)
    distinct[labels < 0] = -1.0
    return request.param, labels, distinct, logits


# --- monolith_np -------------------------------------------------------------------------------


def _ours(name, labels, logits):
    fn = getattr(ranking, name + "_and_grad")
    return lambda: fn(labels, logits)


# --- TensorFlow ------------------------------------------------------------------------------------


def _tensorflow(name, labels, logits):
    tf = pytest.importorskip("tensorflow")
    import ref_ranking

    loss_fn = ref_ranking.LOSSES[name]

    @tf.function
    def step(y, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(y, x)
        return loss, tape.gradient(loss, x)

    y, x = tf.constant(labels), tf.constant(logits)

    def run():
        loss, grad = step(y, x)
        return loss.numpy(), grad.numpy()

    return run


# --- torch -----------------------------------------------------------------------------------------


def _torch_pairwise(torch, kind, labels, logits):
    """Pairs with l_i > l_j (both valid), weight |l_i - l_j|, mean over the nonzero-weight pairs.

    Without a lambda weight the loss does not depend on the order of the list,
    so the sort of the original is skipped.
    """
    valid = labels >= 0
    diff = labels.unsqueeze(2) - labels.unsqueeze(1)
    w = torch.where((diff > 0) & valid.unsqueeze(2) & valid.unsqueeze(1), diff.abs(), torch.zeros_like(diff))
    x = logits.unsqueeze(2) - logits.unsqueeze(1)
    if kind == "hinge":
        pair = torch.relu(1.0 - x)
    elif kind == "logistic":
        pair = torch.nn.functional.softplus(-x)
    else:
        pair = torch.sigmoid(-x)
    return (w * pair).sum() / torch.clamp((w != 0).sum(), min=1)


def _torch_softmax(torch, labels, logits):
    valid = labels >= 0
    y = torch.where(valid, labels, torch.zeros_like(labels))
    s = torch.where(valid, logits, torch.full_like(logits, LOG_EPS))
    mass = y.sum(1)
    keep = mass > 0
    y, s, mass = y[keep], s[keep], mass[keep]
    ce = -(y / mass.unsqueeze(1) * torch.log_softmax(s, 1)).sum(1)
    return (ce * mass).sum() / torch.clamp(keep.sum(), min=1)


def _torch_list_mle(torch, labels, logits):
    valid = labels >= 0
    key = torch.where(valid, labels, torch.full_like(labels, -1.0))  # valid by label (stable), then invalid
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    s = torch.where(valid, logits, torch.full_like(logits, LOG_EPS)).gather(1, order)
    suffix = torch.logcumsumexp(s.flip(1), 1).flip(1)
    return (suffix - s).sum(1).mean()


def _torch_approx_ndcg(torch, labels, logits, alpha=10.0):
    valid = labels >= 0
    y = torch.where(valid, labels, torch.zeros_like(labels))
    s = torch.where(valid, logits, logits.min(1, keepdim=True).values - 1e3)
    keep = y.sum(1) > 0
    y, s = y[keep], s[keep]
    gains = torch.pow(2.0, y) - 1.0
    ranks = torch.sigmoid(alpha * (s.unsqueeze(1) - s.unsqueeze(2))).sum(-1) + 0.5
    dcg = (gains / torch.log1p(ranks)).sum(-1)
    ideal = torch.sort(gains, dim=1, descending=True).values
    pos = torch.arange(1, y.shape[1] + 1, dtype=y.dtype)
    max_dcg = (ideal / torch.log1p(pos)).sum(-1)
    inv = torch.where(max_dcg > 0, 1.0 / max_dcg, torch.zeros_like(max_dcg))
    return (-dcg * inv).sum()


def _torch(name, labels, logits):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(numba.get_num_threads())
    y = torch.from_numpy(labels)
    x0 = torch.from_numpy(logits)
    kinds = {"pairwise_logistic_loss": "logistic", "pairwise_hinge_loss": "hinge",
             "pairwise_soft_zero_one_loss": "soft_zero_one"}
    if name in kinds:
        def fn(x):
            return _torch_pairwise(torch, kinds[name], y, x)
    else:
        fn = {"softmax_loss": lambda x: _torch_softmax(torch, y, x),
              "list_mle_loss": lambda x: _torch_list_mle(torch, y, x),
              "approx_ndcg_loss": lambda x: _torch_approx_ndcg(torch, y, x)}[name]

    def run():
        x = x0.clone().requires_grad_(True)
        loss = fn(x)
        loss.backward()
        return loss.detach().numpy(), x.grad.numpy()

    return run


PEERS = {"monolith_np": _ours, "tensorflow": _tensorflow, "torch": _torch}


@pytest.mark.parametrize("impl", list(PEERS))
@pytest.mark.parametrize("name", LOSSES)
def test_ranking(benchmark, case, name, impl):
    size, graded, distinct, logits = case
    labels = distinct if name == "list_mle_loss" else graded
    run = PEERS[impl](name, labels, logits)
    b, l = labels.shape
    benchmark.group = f"{name}_and_grad-{size}"
    benchmark.extra_info.update(
        impl=impl,
        items=b * l * l if name.startswith("pairwise") or name == "approx_ndcg_loss" else b * l,
        shape=[b, l],
        numba_threads=numba.get_num_threads(),
        fastmath=False,
        cache=bool(_config.CACHE),
    )
    warmup = 1 if benchmark.disabled else 8
    loss, grad = benchmark.pedantic(run, warmup_rounds=warmup, rounds=ROUNDS[size], iterations=1)
    want_loss, want_grad = ranking.__dict__[name + "_and_grad"](labels, logits)
    assert np.shape(grad) == logits.shape and np.asarray(grad).dtype == np.float32
    np.testing.assert_allclose(loss, want_loss, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-3, atol=1e-5 * max(1.0, float(np.abs(want_grad).max())))
