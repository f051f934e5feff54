"""GPU drivers of the learning-to-rank losses: the rules of
:mod:`monolith_np.losses._ranking_rules`, compiled for CUDA.

Drivers validate nothing and allocate nothing; their signatures are those of
the CPU drivers (``<name>_cpu`` -> ``<name>_gpu``), so under
``NUMBA_ENABLE_CUDASIM=1`` they run on numpy arrays. The O(L^2) work runs one
thread per item ``(b, i)`` (grid-stride over ``B * L``); every thread writes
only its own item's outputs, so no atomics are needed. Softmax and ListMLE
run one thread per list.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .._compile import gpu_device, gpu_kernel
from ..losses import _ranking_rules as R
from ._launch import launch

__all__ = ["prep_gpu", "pairwise_gpu", "softmax_gpu", "list_mle_gpu", "approx_ndcg_gpu", "approx_ranks_gpu"]

_row_min = gpu_device(R.row_min)
_item_position = gpu_device(R.item_position)
_item_ideal_gain = gpu_device(R.item_ideal_gain)
_pairwise_item = gpu_device(R.pairwise_item)
_softmax_list = gpu_device(R.softmax_list)
_list_mle_list = gpu_device(R.list_mle_list)
_approx_rank_item = gpu_device(R.approx_rank_item)
_approx_terms = gpu_device(R.approx_ndcg_item_terms)
_approx_grad_item = gpu_device(R.approx_ndcg_grad_item)


@gpu_kernel
def _prep_kernel(labels, logits, gains, disc, cut, want_pos, want_ideal, eps, pos, ideal):
    L = labels.shape[1]
    for t in range(cuda.grid(1), labels.shape[0] * L, cuda.gridsize(1)):
        b = t // L
        i = t - b * L
        if want_pos:
            pad = _row_min(logits[b]) - eps
            pos[b, i] = _item_position(i, labels[b], logits[b], pad)
        if want_ideal:
            ideal[b, i] = _item_ideal_gain(i, labels[b], gains[b], disc, cut)


@gpu_kernel
def _pairwise_kernel(kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale,
                     none_mode, pair_out, pair_up, loss, count, wsum, grad):
    L = labels.shape[1]
    for t in range(cuda.grid(1), labels.shape[0] * L, cuda.gridsize(1)):
        b = t // L
        i = t - b * L
        bb = b if none_mode else 0
        lo, c, ws, gr = _pairwise_item(i, kind, labels[b], logits[b], w[b], g[b], pos[b], disc, inv[b], lam,
                                       topn_or, topn_mask, normalized, sf, scale, none_mode, pair_out[bb],
                                       pair_up[bb])
        loss[b, i] = lo
        count[b, i] = c
        wsum[b, i] = ws
        grad[b, i] = gr


@gpu_kernel
def _softmax_kernel(labels, logits, w, g, pos, disc, inv, use_lambda, normalized, pad_logit, ce, ls, grad):
    for b in range(cuda.grid(1), labels.shape[0], cuda.gridsize(1)):
        c, s = _softmax_list(labels[b], logits[b], w[b], g[b], pos[b], disc, inv[b], use_lambda, normalized,
                             pad_logit, grad[b])
        ce[b] = c
        ls[b] = s


@gpu_kernel
def _list_mle_kernel(labels, logits, seed, use_lambda, disc, pad_logit, order, tmp, nll, grad):
    L = labels.shape[1]
    for b in range(cuda.grid(1), labels.shape[0], cuda.gridsize(1)):
        nll[b] = _list_mle_list(labels[b], logits[b], seed, np.uint64(b) * np.uint64(L), use_lambda, disc,
                                pad_logit, order[b], tmp[b], grad[b])


@gpu_kernel
def _approx_terms_kernel(labels, logits, gains, inv, alpha, pad_gap, cost, a):
    L = labels.shape[1]
    for t in range(cuda.grid(1), labels.shape[0] * L, cuda.gridsize(1)):
        b = t // L
        i = t - b * L
        pad = _row_min(logits[b]) - pad_gap
        r = _approx_rank_item(i, labels[b], logits[b], pad, alpha)
        c, d = _approx_terms(r, gains[b, i], inv[b])
        cost[b, i] = c
        a[b, i] = d


@gpu_kernel
def _approx_grad_kernel(labels, logits, alpha, pad_gap, a, grad):
    L = labels.shape[1]
    for t in range(cuda.grid(1), labels.shape[0] * L, cuda.gridsize(1)):
        b = t // L
        i = t - b * L
        pad = _row_min(logits[b]) - pad_gap
        grad[b, i] = _approx_grad_item(i, labels[b], logits[b], pad, alpha, a[b])


@gpu_kernel
def _approx_ranks_kernel(zeros, logits, alpha, out):
    L = logits.shape[1]
    for t in range(cuda.grid(1), logits.shape[0] * L, cuda.gridsize(1)):
        b = t // L
        i = t - b * L
        out[b, i] = _approx_rank_item(i, zeros[b], logits[b], logits[b, 0], alpha)


def prep_gpu(labels, logits, gains, disc, cut, want_pos, want_ideal, eps, pos, ideal):
    """Positions by score and ideal-DCG terms; arguments as ``_ranking_rules.prep_cpu``.

    Parameters
    ----------
    labels, logits, gains : (B, L) device arrays
        Inputs (``gains`` used for the ideal DCG).
    disc : (L + 2,) device array
        Rank discount table.
    cut : int
        Ideal-DCG cutoff.
    want_pos, want_ideal : bool
        What to compute.
    eps : float scalar
        ``1e-6`` in the compute dtype.
    pos : (B, L) int64 device array
        Output positions.
    ideal : (B, L) device array
        Output ideal-DCG terms.
    """
    launch(_prep_kernel, labels.size, labels, logits, gains, disc, cut, want_pos, want_ideal, eps, pos, ideal)


def pairwise_gpu(kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale,
                 none_mode, pair_out, pair_up, loss, count, wsum, grad):
    """Per-item pairwise losses; arguments as ``_ranking_rules.pairwise_cpu``.

    Parameters
    ----------
    kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale : see the CPU driver
        Inputs.
    none_mode, pair_out, pair_up : see the CPU driver
        Unreduced output and upstream (``(B, L, L)`` when ``none_mode``).
    loss, count, wsum, grad : (B, L) device arrays
        Outputs.
    """
    launch(_pairwise_kernel, labels.size, kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask,
           normalized, sf, scale, none_mode, pair_out, pair_up, loss, count, wsum, grad)


def softmax_gpu(labels, logits, w, g, pos, disc, inv, use_lambda, normalized, pad_logit, ce, ls, grad):
    """Softmax losses, one thread per list; arguments as ``_ranking_rules.softmax_cpu``.

    Parameters
    ----------
    labels, logits, w, g, pos, disc, inv, use_lambda, normalized, pad_logit : see the CPU driver
        Inputs.
    ce, ls : (B,) device arrays
        Outputs.
    grad : (B, L) device array
        Output.
    """
    launch(_softmax_kernel, labels.shape[0], labels, logits, w, g, pos, disc, inv, use_lambda, normalized,
           pad_logit, ce, ls, grad)


def list_mle_gpu(labels, logits, seed, use_lambda, disc, pad_logit, order, tmp, nll, grad):
    """ListMLE, one thread per list; arguments as ``_ranking_rules.list_mle_cpu``.

    Parameters
    ----------
    labels, logits, seed, use_lambda, disc, pad_logit : see the CPU driver
        Inputs.
    order, tmp : (B, L) device arrays
        Scratch.
    nll, grad : device arrays
        Outputs.
    """
    launch(_list_mle_kernel, labels.shape[0], labels, logits, seed, use_lambda, disc, pad_logit, order, tmp, nll,
           grad)


def approx_ndcg_gpu(labels, logits, gains, inv, alpha, pad_gap, want_grad, cost, a, grad):
    """Approx-NDCG item terms and gradient; arguments as ``_ranking_rules.approx_ndcg_cpu``.

    Parameters
    ----------
    labels, logits, gains, inv, alpha, pad_gap, want_grad : see the CPU driver
        Inputs.
    cost, a, grad : (B, L) device arrays
        Outputs (``a`` is d cost / d rank).
    """
    launch(_approx_terms_kernel, labels.size, labels, logits, gains, inv, alpha, pad_gap, cost, a)
    if want_grad:
        launch(_approx_grad_kernel, labels.size, labels, logits, alpha, pad_gap, a, grad)


def approx_ranks_gpu(zeros, logits, alpha, out):
    """Smooth ranks; arguments as ``_ranking_rules.approx_ranks_cpu``.

    Parameters
    ----------
    zeros, logits : (B, L) device arrays
        Zeros (every item valid) and scores.
    alpha : float scalar
        Sigmoid slope in the compute dtype.
    out : (B, L) device array
        Output.
    """
    launch(_approx_ranks_kernel, logits.size, zeros, logits, alpha, out)
