"""List-wise ranking losses: softmax, ListMLE and approx-NDCG (exported by :mod:`monolith_np.losses.ranking`).

Each runs one fused pass per list (:mod:`monolith_np._rules.ranking`: one
thread per list for softmax, one block per list on the GPU for the O(L^2)
ListMLE and approx-NDCG) and reduces the per-list losses on the host.
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import check_number, check_seed
from .._compile import run_cpu
from .._dispatch import gpu_drivers
from ._forms import VALUE
from ._ranking_cpu import approx_ndcg_cpu, list_mle_cpu, softmax_cpu
from ._ranking_inputs import (
    _EPSILON,
    _ITEM_W,
    _LIST_DOC,
    _LIST_W,
    _check_labels_logits,
    _check_upstream,
    _item_weights,
    _list_weights,
    _prep,
    ranking_forms,
)
from ._ranking_lambda import (
    DCGLambdaWeight,
    ListMLELambdaWeight,
    _disc_table,
    _discount_log1p,
    _LambdaWeight,
    _lambda_setup,
)
from ._ranking_reduce import Reduction, _denominator, _reduce


def _softmax(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, *,
             want, upstream):
    """Softmax loss: validation, the fused pass, :func:`_listwise_reduce`."""
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    B, L = logits.shape
    dt = logits.dtype
    w = _item_weights(xp, weights, (B, L), dt)
    if lambda_weight is not None and not isinstance(lambda_weight, _LambdaWeight):
        raise TypeError(f"lambda_weight must be None or a lambda weight, got {type(lambda_weight).__name__}")
    use = isinstance(lambda_weight, DCGLambdaWeight)
    lam = _lambda_setup(xp, lambda_weight if use else None, labels, (DCGLambdaWeight,))
    g = lam["g"] if lam["g"].shape == (B, L) else xp.zeros((B, L), dt)
    pos, inv = _prep(xp, labels, logits, g, lam["disc"], lam["cut"], use, use and lam["normalized"])
    ce = xp.zeros((B,), dt)
    ls = xp.zeros((B,), dt)
    grad = xp.zeros((B, L), dt)
    if B * L:
        args = (labels, logits, w, g, pos, lam["disc"], inv, use, bool(lam["normalized"]),
                dt.type(math.log(np.float32(_EPSILON))), ce, ls, grad)
        if xp is np:
            run_cpu(softmax_cpu, B * L, *args)
        else:
            gpu_drivers().ranking.softmax_gpu(*args)
    kept = ls > 0
    losses = (ce * ls)[kept]
    return _listwise_reduce(xp, losses, ls[kept], kept, grad, reduction, want, upstream, dt)


def _listwise_reduce(xp, weighted, weights, kept, grad, reduction, want, upstream, dt):
    """Reduce per-list weighted losses (rows ``kept``) and scale the per-row raw gradient."""
    if reduction == Reduction.NONE:
        if want == VALUE:
            return weighted, None
        up = _check_upstream(xp, upstream, weighted.shape, dt)
        full = xp.zeros(kept.shape, dt)
        full[kept] = up
        return weighted, grad * full[:, None]
    up = _check_upstream(xp, upstream, None, dt)
    den = _denominator(reduction, weights.sum(), xp.count_nonzero(weights), weighted.size)
    value, factor = _reduce(xp, weighted.sum(), den, up, dt)
    return value, grad * (factor * kept.astype(dt))[:, None]


def _list_mle(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None,
              seed=None, *, want, upstream):
    """ListMLE: validation, the fused pass, the reduction."""
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    seed = check_seed(seed)
    B, L = logits.shape
    dt = logits.dtype
    wl, _ = _list_weights(xp, weights, (B, L), dt)
    if lambda_weight is not None and not isinstance(lambda_weight, _LambdaWeight):
        raise TypeError(f"lambda_weight must be None or a lambda weight, got {type(lambda_weight).__name__}")
    use = isinstance(lambda_weight, ListMLELambdaWeight)
    disc = (_disc_table(xp, lambda_weight._rank_discount_fn, L + 1, dt) if use else xp.zeros(L + 2, dt))
    nll = xp.zeros((B,), dt)
    grad = xp.zeros((B, L), dt)
    if B * L:
        order = xp.zeros((B, L), np.int64)
        tmp = xp.zeros((B, L), dt)
        args = (labels, logits, seed, use, disc, dt.type(math.log(np.float32(_EPSILON))), dt.type(1), order, tmp,
                nll, grad)
        if xp is np:
            run_cpu(list_mle_cpu, B * L * L, *args)
        else:
            gpu_drivers().ranking.list_mle_gpu(*args)
    if reduction == Reduction.NONE:
        value = nll * wl
        if want == VALUE:
            return value, None
        up = _check_upstream(xp, upstream, value.shape, dt)
        return value, grad * (wl * up)[:, None]
    up = _check_upstream(xp, upstream, None, dt)
    den = _denominator(reduction, wl.sum(), xp.count_nonzero(wl), B)
    value, factor = _reduce(xp, (nll * wl).sum(), den, up, dt)
    return value, grad * (wl * factor)[:, None]


def _approx_ndcg(labels, logits, weights=None, reduction=Reduction.SUM, name=None, alpha=10., *, want, upstream):
    """Approx-NDCG: validation, the fused pass, the reduction."""
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    alpha = check_number("alpha", alpha)
    B, L = logits.shape
    dt = logits.dtype
    wl, _ = _list_weights(xp, weights, (B, L), dt)
    clean = xp.where(labels >= 0, labels, 0).astype(dt)
    gains = xp.ascontiguousarray((2.0 ** clean - 1.0).astype(dt))
    disc = _disc_table(xp, _discount_log1p, L + 1, dt)
    _, inv = _prep(xp, labels, logits, gains, disc, L, False, True)
    cost = xp.zeros((B, L), dt)
    a = xp.zeros((B, L), dt)
    grad = xp.zeros((B, L), dt)
    if B * L:
        args = (labels, logits, gains, inv, dt.type(alpha), dt.type(1e3), dt.type(1), want != VALUE,
                xp.empty((B, L), np.float64), cost, a, grad)
        if xp is np:
            run_cpu(approx_ndcg_cpu, B * L * L, *args)
        else:
            gpu_drivers().ranking.approx_ndcg_gpu(*args)
    kept = clean.sum(axis=1) > 0
    losses = cost.sum(axis=1)[kept]
    wk = wl[kept]
    if reduction == Reduction.NONE:
        value = losses * wk
        if want == VALUE:
            return value, None
        up = _check_upstream(xp, upstream, value.shape, dt)
        full = xp.zeros((B,), dt)
        full[kept] = up * wk
        return value, grad * full[:, None]
    up = _check_upstream(xp, upstream, None, dt)
    den = _denominator(reduction, wk.sum(), xp.count_nonzero(wk), losses.size)
    value, factor = _reduce(xp, (losses * wk).sum(), den, up, dt)
    return value, grad * (wl * factor * kept.astype(dt))[:, None]


# ---------------------------------------------------------------------------
# Public functions (each with its _grad and _and_grad).
# ---------------------------------------------------------------------------

_LW_SOFTMAX = """    lambda_weight : lambda weight or None, default None
        With a :class:`DCGLambdaWeight`, replace each target label by its
        individual weight (gain times the discount of the item's position by
        score); other lambda weights are ignored, as in the original.
"""
_LW_MLE = """    lambda_weight : lambda weight or None, default None
        With a :class:`ListMLELambdaWeight`, weight position ``k`` of the
        ground-truth order by its discount; others are ignored.
"""
_SEED = """
    seed : int or None, default None
        Seed of the counter-based uniforms that break label ties of the
        ground-truth permutation (``0 <= seed < 2**64``; None draws one)."""
_ALPHA = """
    alpha : float, default 10.0
        Slope of the sigmoid in the approximate ranks."""

SOFTMAX_SPEC = ranking_forms(
    _softmax, _LIST_DOC.format(
        summary="Softmax cross-entropy loss of each list.", weights_doc=_ITEM_W, middle=_LW_SOFTMAX, tail="",
        default_red="Reduction.SUM_BY_NONZERO_WEIGHTS",
        notes="Per list, targets ``t_i = w_i * l_i`` (invalid items: target 0, logit ``log(1e-10)``); lists "
              "with ``sum(t) > 0`` are kept and contribute ``sum(t) * CE(t / sum(t), softmax(s))``, reduced "
              "with the per-list weights ``sum(t)``. ``Reduction.NONE`` returns one value per kept list."),
    name="softmax_loss", value="3.1114",
    grad="[[-1.1579, 0.6958, 0.4621, 0.0]]")
LIST_MLE_SPEC = ranking_forms(
    _list_mle, _LIST_DOC.format(
        summary="ListMLE loss (Xia et al. 2008) of each list.", weights_doc=_LIST_W, middle=_LW_MLE, tail=_SEED,
        default_red="Reduction.SUM_BY_NONZERO_WEIGHTS",
        notes="The negative log-likelihood ``sum_k (log sum_{q >= k} exp(s_(q)) - s_(k))`` of the items in "
              "descending label order (random tie-break), invalid items at logit ``log(1e-10)``. The suffix "
              "sums are accumulated in log space, so the value stays finite for any logits (the original's "
              "``log(cumsum(exp))`` can reach ``-inf`` in float32). TF's random stream cannot be reproduced: "
              "ties use the package's counter-based uniforms keyed by ``seed``."),
    name="list_mle_loss", example_kw=", seed=0", value="1.5115",
    grad="[[-0.7193, 0.3511, 0.3682, 0.0]]")
APPROX_NDCG_SPEC = ranking_forms(
    _approx_ndcg, _LIST_DOC.format(
        summary="ApproxNDCG loss (Qin et al.) of each list.", weights_doc=_LIST_W, middle="", tail=_ALPHA,
        default_red="Reduction.SUM",
        notes="Lists with a positive label sum are kept; ``cost = -DCG(approx_ranks) / maxDCG`` with gains "
              "``2**l - 1`` and discounts ``1 / log1p(rank)``; invalid items take the logit ``min(s) - 1000``. "
              "Scalar weights and ``B == 1`` work here (the original fails on them in ``boolean_mask``)."),
    name="approx_ndcg_loss", value="-0.7963",
    grad="[[-0.0035, -0.0004, 0.0039, 0.0]]")
