"""Pairwise ranking losses: hinge, logistic and soft zero-one (exported by :mod:`monolith_np.losses.ranking`).

One O(B L^2) fused pass (:func:`monolith_np._rules.ranking.pairwise_item`)
gives every item's share of the loss, its pair count and weight sum, and its
gradient; nothing of size ``B * L * L`` is allocated unless
``Reduction.NONE`` asks for the pair losses.
"""

from __future__ import annotations

import numpy as np

from .._compile import run_cpu
from .._dispatch import gpu_drivers
from .._rules import ranking as R
from ._forms import VALUE
from ._ranking_cpu import pairwise_cpu, pairwise_plain_cpu
from ._ranking_inputs import _check_labels_logits, _check_upstream, _item_weights, _prep, ranking_forms
from ._ranking_lambda import DCGLambdaWeight, IdentityLambdaWeight, PrecisionLambdaWeight, _lambda_setup
from ._ranking_reduce import Reduction, _denominator, _reduce

_PAIRWISE_LAMBDAS = (DCGLambdaWeight, PrecisionLambdaWeight, IdentityLambdaWeight)


def _pairwise(kind, labels, logits, weights, lambda_weight, lambda_scale, reduction, want, upstream):
    """Validate the arguments of a pairwise loss, then :func:`_pairwise_impl`."""
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    B, L = logits.shape
    dt = logits.dtype
    w = _item_weights(xp, weights, (B, L), dt)
    lam = _lambda_setup(xp, lambda_weight, labels, _PAIRWISE_LAMBDAS)
    if reduction != Reduction.NONE:
        up = _check_upstream(xp, upstream, None, dt)
    elif want != VALUE:
        up = _check_upstream(xp, upstream, (B, L, L), dt)
    else:
        up = None
    scale = dt.type(L if (lambda_weight is not None and lambda_scale) else 1)
    return _pairwise_impl(xp, kind, labels, logits, w, lam, scale, reduction, up)


def _pairwise_impl(xp, kind, labels, logits, w, lam, scale, reduction, up):
    """``(value, grad)`` of a pairwise loss; ``up`` is the checked upstream (None: value only, unreduced)."""
    B, L = logits.shape
    dt = logits.dtype
    none_mode = reduction == Reduction.NONE
    g = lam["g"] if lam["g"].shape == (B, L) else xp.zeros((B, L), dt)
    want_ideal = lam["kind"] == R.LAMBDA_DCG and lam["normalized"]
    pos, inv = _prep(xp, labels, logits, g, lam["disc"], lam["cut"],
                     lam["kind"] != R.LAMBDA_NONE or none_mode, want_ideal)
    if none_mode:
        pair_out = xp.zeros((B, L, L), dt)
        pair_up = pair_out if up is None else up
    else:
        pair_out = xp.zeros((1, 1, 1), dt)
        pair_up = pair_out
    loss = xp.zeros((B, L), dt)
    count = xp.zeros((B, L), np.int64)
    wsum = xp.zeros((B, L), dt)
    grad = xp.zeros((B, L), dt)
    if B * L:
        args = (kind, labels, logits, w, g, pos, lam["disc"], inv, lam["kind"], int(lam["topn_or"]),
                int(lam["topn_mask"]), bool(lam["normalized"]), lam["sf"], scale, dt.type(1), none_mode, pair_out,
                pair_up, loss, count, wsum, grad)
        if xp is np and lam["kind"] == R.LAMBDA_NONE and not none_mode:
            run_cpu(pairwise_plain_cpu(kind), B * L * L, labels, logits, w, dt.type(1), loss, count, wsum, grad)
        elif xp is np:
            run_cpu(pairwise_cpu, B * L * L, *args)
        else:
            gpu_drivers().ranking.pairwise_gpu(*args)
    if none_mode:
        return pair_out, grad
    den = _denominator(reduction, wsum.sum(), count.sum(), B * L * L)
    value, factor = _reduce(xp, loss.sum(), den, up, dt)
    return value, grad * factor


# ---------------------------------------------------------------------------
# Public functions (each with its _grad and _and_grad).
# ---------------------------------------------------------------------------

_PAIR_DOC = """{summary}

    Parameters
    ----------
    labels : (B, L) array
        Graded relevance; negative labels mark invalid items (ignored). Cast
        to the dtype of ``logits``.
    logits : (B, L) float32 or float64 array
        Ranking scores.
    weights : None, float or array, default None
        A scalar, ``(B, 1)`` list-wise or ``(B, L)`` item-wise weights. An
        item's weight multiplies the pairs where it is the better item.
    lambda_weight : DCGLambdaWeight, PrecisionLambdaWeight, IdentityLambdaWeight or None, default None
        Pair weights of the LambdaLoss framework, computed from the positions
        of the items when sorted by ``logits`` (a constant for the gradient).
        Without one, a pair ``l_i > l_j`` is weighted by ``l_i - l_j``.
{lambda_scale_doc}    reduction : str, default Reduction.SUM_BY_NONZERO_WEIGHTS
        How the ``[B, L, L]`` weighted pair losses are reduced; the
        nonzero-weight count is the number of pairs with a nonzero weight.
    name : str or None, default None
        Ignored (TF op name).

    Returns
    -------
    array
        The loss: a 0-d array, or the unreduced losses for ``Reduction.NONE``.

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype, or ``lambda_weight`` is of an unsupported class.
    ValueError
        If shapes disagree or ``reduction`` is unknown.

    Notes
    -----
    ``loss = reduce(sum_{{b,i,j}} W_bij f(s_bi - s_bj))`` where ``W_bij`` is
    nonzero only for valid pairs with ``l_i > l_j``: ``w_i (l_i - l_j)``, or
    ``w_i * lambda_ij`` (times ``L`` when ``lambda_scale``). ``f`` is {f_doc}.
    With ``Reduction.NONE`` the result is ``[B, L, L]`` in the order of items
    sorted by score, as in the original.
    """

_LS_DOC = """    lambda_scale : bool, default True
        Multiply the pair weights by ``L`` when a lambda weight is given.
"""


def _hinge(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
           reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, *, want, upstream):
    return _pairwise(R.HINGE, labels, logits, weights, lambda_weight, lambda_scale, reduction, want, upstream)


def _logistic(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
              reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, *, want, upstream):
    return _pairwise(R.LOGISTIC, labels, logits, weights, lambda_weight, lambda_scale, reduction, want, upstream)


def _soft_zero_one(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                   name=None, *, want, upstream):
    return _pairwise(R.SOFT_ZERO_ONE, labels, logits, weights, lambda_weight, True, reduction, want, upstream)


HINGE_SPEC = ranking_forms(
    _hinge, _PAIR_DOC.format(summary="Pairwise hinge loss of each list.", lambda_scale_doc=_LS_DOC,
                             f_doc="the hinge ``max(0, 1 - x)``"),
    name="pairwise_hinge_loss", value="0.8333",
    grad="[[-1.0, 0.3333, 0.6667, 0.0]]")
LOGISTIC_SPEC = ranking_forms(
    _logistic, _PAIR_DOC.format(
        summary="Pairwise logistic loss of each list.", lambda_scale_doc=_LS_DOC,
        f_doc="the logistic loss ``log(1 + exp(-x))`` (computed as ``relu(-x) + log1p(exp(-|x|))``; its "
              "gradient at ``x = 0`` is the true ``-1/2``, where TF's autograd gives 0)"),
    name="pairwise_logistic_loss", value="0.7397",
    grad="[[-0.459, 0.1513, 0.3076, 0.0]]")
SOFT_ZERO_ONE_SPEC = ranking_forms(
    _soft_zero_one, _PAIR_DOC.format(
        summary="Pairwise soft zero-one loss of each list.", lambda_scale_doc="",
        f_doc="``1 - sigmoid(x)``; with a lambda weight the pair weights are always scaled by ``L``"),
    name="pairwise_soft_zero_one_loss", value="0.5303",
    grad="[[-0.2264, 0.0178, 0.2086, 0.0]]")
