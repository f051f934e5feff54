"""Rules of the non-ranking losses (:mod:`monolith_np.losses`): plain Python over scalars and rows.

Compiled for the CPU by the drivers of the public modules and for the GPU by
:mod:`monolith_np.cuda.losses`:

- :func:`batch_softmax_row` -- one row of the batch softmax loss
  (:mod:`monolith_np.losses.batch_softmax`): the row's loss and, optionally,
  its gradient written over the row;
- :func:`auc_pair`, :func:`inbatch_auc_positive`, :func:`inbatch_auc_negative`
  -- the in-batch AUC loss (:mod:`monolith_np.losses.inbatch_auc`): one pair,
  one positive against every negative, one negative against every positive;
- :func:`sigmoid_loss_pred_elem` -- one example of the sigmoid head
  (:mod:`monolith_np.losses.loss_and_pred`), with :func:`sigmoid_from`.
"""

from __future__ import annotations

import math

import numpy as np

from .._compile import jitable
from . import vmath
from .reduce import lane_max, lane_sum

__all__ = ["batch_softmax_row", "auc_pair", "inbatch_auc_positive", "inbatch_auc_negative", "sigmoid_from",
           "sigmoid_loss_pred_elem"]


# ---------------------------------------------------------------------------
# Batch softmax.
# ---------------------------------------------------------------------------


@jitable(inline=True)
def batch_softmax_row(s, c, i, r_i, g_i, want_grad):
    """Loss of row ``i`` and, optionally, its gradient written over the row.

    Parameters
    ----------
    s : (B,) float array
        Row ``i`` of the tempered similarity ``S``; overwritten. With
        ``want_grad`` it ends as ``dS[i, :] = g_i (P[i, :] - e_i)``, ``P`` the
        row-softmax of ``S[i, :] + c``; else it holds the exponentials.
    c : (B,) float array
        Column corrections ``log max(I_j, 1)``.
    i : int
        The row (its diagonal element is the positive pair).
    r_i : float scalar
        The row's weight ``r[i]``.
    g_i : float scalar
        ``upstream * r[i]``, the coefficient of the gradient row.
    want_grad : bool
        Write the gradient row.

    Returns
    -------
    float64
        ``r_i (logsumexp_j (S[i, j] + c_j) - S[i, i] - c_i)``.

    Notes
    -----
    The maximum is subtracted before ``exp``; the sum of exponentials is kept
    in float64 (:func:`~monolith_np._rules.reduce.lane_sum`). A NaN anywhere
    in the row propagates to the result (through the sum). Each loop is free
    of reductions and branches, so the CPU runs them on SIMD registers.
    """
    n = s.shape[0]
    for j in range(n):
        s[j] = s[j] + c[j]
    diag = s[i]
    m = lane_max(s)
    for j in range(n):
        s[j] = vmath.exp(s[j] - m)
    total = lane_sum(s)
    lse = m + math.log(total)
    if want_grad:
        scale = g_i / total
        for j in range(n):
            s[j] = s[j] * scale
        s[i] = s[i] - g_i
    return r_i * (lse - diag)


# ---------------------------------------------------------------------------
# In-batch AUC.
# ---------------------------------------------------------------------------


@jitable(inline=True)
def auc_pair(d):
    """One pair's ``(log sigmoid(d), 1 - sigmoid(d))`` in float64, with the original's cut-offs.

    Parameters
    ----------
    d : float scalar
        ``logit_pos - logit_neg`` in the compute dtype.

    Returns
    -------
    tuple of two float64
        ``(d - log(1 + e^d), 1 - 1 / (1 + e^-d))`` for ``-87 < d < 88``,
        ``(d, 1)`` for ``d <= -87`` and ``(0, 0)`` otherwise (``d >= 88``, and a
        NaN ``d``, as in the original's comparisons).
    """
    x = np.float64(d)
    # branch-free (selects on both sides' values), so loops over pairs run on SIMD registers:
    # log sigmoid(x) = min(x, 0) - log1p(e) and 1 - sigmoid(x) = sigmoid(-x), from one e = exp(-|x|)
    e = vmath.exp(-abs(x))
    r = 1.0 / (1.0 + e)
    inside = (x > -87.0) & (x < 88.0)
    term = min(x, 0.0) - vmath.log1p(e) if inside else (x if x <= -87.0 else 0.0)
    gamma = (e * r if x >= 0.0 else r) if inside else (1.0 if x <= -87.0 else 0.0)
    return term, gamma


@jitable(inline=True)
def inbatch_auc_positive(x, neg, neg_acc):
    """One positive against every negative.

    Parameters
    ----------
    x : float scalar
        The positive's logit.
    neg : (N,) float array
        The negatives' logits.
    neg_acc : (N,) or (0,) float64 array
        When not empty, ``neg_acc[j] += 1 - sigmoid(x - neg[j])`` (the
        negatives' gradient sums, before ``-neg_weight``).

    Returns
    -------
    tuple of two float64
        The positive's loss ``sum_j log sigmoid(x - neg[j])`` and gradient
        ``sum_j (1 - sigmoid(x - neg[j]))``.
    """
    loss = 0.0
    grad = 0.0
    acc = neg_acc.shape[0] > 0
    for j in range(neg.shape[0]):
        term, gamma = auc_pair(x - neg[j])
        loss += term
        grad += gamma
        if acc:
            neg_acc[j] += gamma
    return loss, grad


@jitable(inline=True)
def inbatch_auc_positive_lanes(x, neg, neg_acc, t):
    """:func:`inbatch_auc_positive` with its sums in fixed-order lanes (CPU form).

    ``t`` is ``(2, N)`` float64 scratch: the pair terms and gradient weights
    go there and are summed by :func:`.reduce.lane_sum`, so the loop over
    negatives runs on SIMD registers (a running float64 sum would keep it
    scalar). Same arguments and results otherwise.
    """
    acc = neg_acc.shape[0] > 0
    for j in range(neg.shape[0]):
        term, gamma = auc_pair(x - neg[j])
        t[0, j] = term
        t[1, j] = gamma
    if acc:
        for j in range(neg.shape[0]):
            neg_acc[j] += t[1, j]
    return lane_sum(t[0]), lane_sum(t[1])


@jitable(inline=True)
def inbatch_auc_negative(x, pos):
    """One negative against every positive: ``sum_i (1 - sigmoid(pos[i] - x))``.

    Parameters
    ----------
    x : float scalar
        The negative's logit.
    pos : (P,) float array
        The positives' logits.

    Returns
    -------
    float64
        The negative's gradient sum (before ``-neg_weight``).
    """
    grad = 0.0
    for i in range(pos.shape[0]):
        gamma = auc_pair(pos[i] - x)[1]
        grad += gamma
    return grad


# ---------------------------------------------------------------------------
# Sigmoid head.
# ---------------------------------------------------------------------------


@jitable(inline=True)
def sigmoid_from(x, e, one):
    """``sigmoid(x)`` given ``e = exp(-|x|)`` (no overflow)."""
    return one / (one + e) if x >= 0 else e / (one + e)


@jitable(inline=True)
def sigmoid_loss_pred_elem(x, y, nlsr, w, sample_bias, clip, tau, before, single_exp, g, zero, one):
    """One example of the sigmoid head: ``(loss term, prediction, d loss / d x)``.

    Parameters
    ----------
    x : float scalar
        The (unbiased) logit.
    y : float scalar
        The label.
    nlsr : float scalar
        ``-log(sample_rate)`` (0 for no correction).
    w : float scalar
        Instance weight times mask (0 drops the example from the loss and its
        gradient; masked examples must pass 0 and are skipped, NaN-safe).
    sample_bias : bool
        Use ``log_sigmoid(x)`` in place of ``x`` in the correction.
    clip : bool
        Clip the corrected logit to ``[-tau, tau]`` (TF's ``max(min(z, tau), -tau)``).
    tau : float scalar
        The clip bound (may be <= 0, see the public function).
    before : bool
        Predict ``sigmoid(x)`` (True) or ``sigmoid(z)`` of the corrected,
        unclipped logit (False).
    single_exp : bool
        The caller guarantees that the predicted logit is the loss's logit
        (no clip, and no correction when ``before``), so one ``exp`` serves
        both; a compile-time True removes the second from the loop.
    g : float scalar
        Upstream gradient; the returned gradient is ``g * w * dl/dx``.
    zero, one : float scalars
        0 and 1 in the compute dtype.

    Returns
    -------
    tuple
        ``(w * l, prediction, g * w * dl/dx)`` with ``l`` the sigmoid
        cross-entropy of the (clipped) corrected logit.
    """
    if sample_bias:
        ex = vmath.exp(-abs(x))
        z = min(x, zero) - vmath.log1p_unit(ex) + nlsr
        dzdx = ex / (one + ex) if x >= 0 else one / (one + ex)
    else:
        ex = zero
        z = x + nlsr
        dzdx = one
    # below, every choice is a select between values computed on both sides (no branch on data or on the
    # flags), so a CPU loop over examples vectorises whatever the flags are
    lo = min(z, tau)
    zc = max(lo, -tau) if clip else z
    flow = ((z <= tau) & (lo >= -tau)) | (not clip)
    ez = vmath.exp(-abs(zc))
    sig = sigmoid_from(zc, ez, one)
    loss = max(zc, zero) - zc * y + vmath.log1p_unit(ez)
    target = x if before else z
    et = vmath.exp(-abs(target))
    et = ex if before & sample_bias else et
    pred = sig if single_exp or target == zc else sigmoid_from(target, et, one)
    grad = g * w * (sig - y) * dzdx if flow else zero
    return w * loss, pred, grad
