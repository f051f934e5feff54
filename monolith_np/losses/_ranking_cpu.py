"""CPU drivers of the learning-to-rank losses: ``prange`` over lists of the rules in :mod:`monolith_np._rules.ranking`.

Each driver validates nothing and allocates only per-list scratch; its GPU
twin in :mod:`monolith_np.cuda.ranking` has the same arguments
(``<name>_cpu`` -> ``<name>_gpu``).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import prange

from .._compile import cpu_jit
from .._rules.ranking import (
    approx_exp,
    approx_ndcg_grad_list,
    approx_ndcg_item_terms,
    approx_ranks_list,
    approx_shift,
    item_ideal_gain,
    item_position,
    list_mle_draw,
    list_mle_list,
    list_mle_list_linear,
    list_mle_order,
    pairwise_list,
    pairwise_list_plain,
    row_min,
    softmax_list,
)

__all__ = ["prep_cpu", "pairwise_cpu", "pairwise_plain_cpu", "softmax_cpu", "list_mle_cpu", "approx_ndcg_cpu", "approx_ranks_cpu"]


@cpu_jit(parallel=True)
def prep_cpu(labels, logits, gains, disc, cut, want_pos, want_ideal, eps, pos, ideal):
    """Positions by score (``pos``) and ideal-DCG terms (``ideal``) of every item."""
    B, L = labels.shape
    for b in prange(B):
        if want_pos:
            pad = row_min(logits[b]) - eps
            for i in range(L):
                pos[b, i] = item_position(i, labels[b], logits[b], pad)
        if want_ideal:
            for i in range(L):
                ideal[b, i] = item_ideal_gain(i, labels[b], gains[b], disc, cut)


@cpu_jit(parallel=True)
def pairwise_cpu(kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf,
                 scale, one, none_mode, pair_out, pair_up, loss, count, wsum, grad):
    """Per-item pairwise loss, nonzero-pair count, weight sum and raw gradient (one list per thread)."""
    B, L = labels.shape
    for b in prange(B):
        po = pair_out[b] if none_mode else pair_out[0]
        pu = pair_up[b] if none_mode else pair_up[0]
        pairwise_list(kind, labels[b], logits[b], w[b], g[b], pos[b], disc, inv[b], lam, topn_or, topn_mask,
                      normalized, sf, scale, one, none_mode, po, pu, loss[b], count[b], wsum[b], grad[b])


@functools.lru_cache(maxsize=None)
def pairwise_plain_cpu(kind):
    """The CPU driver of pairwise loss ``kind`` without lambda weight or unreduced output.

    ``kind`` is fixed in the closure (numba keys cached closures on their
    cell contents), so the pair loop holds no branch on it and vectorises:
    one compilation per kind and dtype, on first use.
    ``driver(labels, logits, w, one, loss, count, wsum, grad)`` writes the
    per-item results of :func:`pairwise_cpu`, one list per ``prange``
    iteration; it has no GPU twin (the GPU runs :func:`pairwise_cpu`'s).
    """

    def driver(labels, logits, w, one, loss, count, wsum, grad):
        B, L = labels.shape
        for b in prange(B):
            terms = np.empty((3, L), logits.dtype)
            pairwise_list_plain(kind, labels[b], logits[b], w[b], one, terms, loss[b], count[b], wsum[b], grad[b])

    driver.__qualname__ = f"pairwise_plain_cpu.driver_{kind}"
    return cpu_jit(parallel=True)(driver)


@cpu_jit(parallel=True)
def softmax_cpu(labels, logits, w, g, pos, disc, inv, use_lambda, normalized, pad_logit, ce, ls, grad):
    """Softmax cross entropy and label sum of every list, with the raw gradient."""
    for b in prange(labels.shape[0]):
        c, s = softmax_list(labels[b], logits[b], w[b], g[b], pos[b], disc, inv[b], use_lambda, normalized,
                            pad_logit, grad[b])
        ce[b] = c
        ls[b] = s


@cpu_jit(parallel=True)
def list_mle_cpu(labels, logits, seed, use_lambda, disc, pad_logit, one, order, tmp, nll, grad):
    """ListMLE nll and gradient of every list (the permutation by :func:`list_mle_order`, O(L log L))."""
    B, L = labels.shape
    for b in prange(B):
        off = np.uint64(b) * np.uint64(L)
        draws = np.empty(L, np.float32)
        for i in range(L):
            draws[i] = list_mle_draw(labels[b], seed, off, i)
        list_mle_order(labels[b], draws, order[b], np.empty(L, np.uint64), np.empty(L, labels.dtype))
        ok, v = list_mle_list_linear(labels[b], logits[b], use_lambda, disc, pad_logit, one, order[b],
                                     np.empty((3, L), np.float64), grad[b])
        if not ok:
            v = list_mle_list(labels[b], logits[b], use_lambda, disc, pad_logit, one, order[b], tmp[b], grad[b])
        nll[b] = v


@cpu_jit(parallel=True)
def approx_ndcg_cpu(labels, logits, gains, inv, alpha, pad_gap, one, want_grad, e, cost, a, grad):
    """Per-item approx-NDCG cost terms and (optionally) gradient of every list; ``e`` is float64 scratch."""
    B, L = labels.shape
    for b in prange(B):
        work = np.empty((2, L), np.float64)
        pad = row_min(logits[b]) - pad_gap
        shift = approx_shift(labels[b], logits[b], pad, alpha)
        for i in range(L):
            e[b, i] = approx_exp(i, labels[b], logits[b], pad, alpha, shift)
        ranks = work[1]
        approx_ranks_list(labels[b], logits[b], pad, alpha, one, e[b], work[0], ranks)
        for i in range(L):
            c, d = approx_ndcg_item_terms(ranks[i], gains[b, i], inv[b], one)
            cost[b, i] = c
            a[b, i] = d
        if want_grad:
            approx_ndcg_grad_list(labels[b], logits[b], pad, alpha, one, a[b], e[b], work[0], work[1], grad[b])


@cpu_jit(parallel=True)
def approx_ranks_cpu(zeros, logits, alpha, one, e, out):
    """``out[b, i] = 0.5 + sum_j sigmoid(alpha (s_j - s_i))``; ``zeros`` marks every item valid, ``e`` is scratch."""
    B, L = logits.shape
    for b in prange(B):
        work = np.empty((2, L), np.float64)
        shift = approx_shift(zeros[b], logits[b], logits[b, 0], alpha)
        for i in range(L):
            e[b, i] = approx_exp(i, zeros[b], logits[b], logits[b, 0], alpha, shift)
        approx_ranks_list(zeros[b], logits[b], logits[b, 0], alpha, one, e[b], work[0], work[1])
        for i in range(L):
            out[b, i] = work[1, i]
