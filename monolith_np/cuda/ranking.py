"""GPU drivers of the learning-to-rank losses: the rules of
:mod:`monolith_np._rules.ranking`, compiled for CUDA.

Drivers validate nothing and allocate nothing; their signatures are those of
the CPU drivers (``<name>_cpu`` -> ``<name>_gpu``), so under
``NUMBA_ENABLE_CUDASIM=1`` they run on numpy arrays. The O(L^2) losses run one
block per list (grid-stride over lists) whose threads stride over its items;
every thread writes only its own items' outputs, so no atomics are needed,
and the block synchronises between the phases of a list (approx-NDCG's
exponentials, ranks and gradient; ListMLE's draws, permutation and the
list's sums, the last on one thread). Softmax runs one thread per list.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .._compile import gpu_device, gpu_kernel
from .._rules import ranking as R
from ._launch import launch, launch_lists

__all__ = ["prep_gpu", "pairwise_gpu", "softmax_gpu", "list_mle_gpu", "approx_ndcg_gpu", "approx_ranks_gpu"]

_row_min = gpu_device(R.row_min)
_item_position = gpu_device(R.item_position)
_item_ideal_gain = gpu_device(R.item_ideal_gain)
_pairwise_item = gpu_device(R.pairwise_item)
_softmax_list = gpu_device(R.softmax_list)
_list_mle_draw = gpu_device(R.list_mle_draw)
_list_mle_position = gpu_device(R.list_mle_position)
_list_mle_list = gpu_device(R.list_mle_list)
_approx_shift = gpu_device(R.approx_shift)
_approx_exp = gpu_device(R.approx_exp)
_approx_rank_item = gpu_device(R.approx_rank_item)
_approx_terms = gpu_device(R.approx_ndcg_item_terms)
_approx_grad_item = gpu_device(R.approx_ndcg_grad_item)


@gpu_kernel
def _prep_kernel(labels, logits, gains, disc, cut, want_pos, want_ideal, eps, pos, ideal):
    L = labels.shape[1]
    for b in range(cuda.blockIdx.x, labels.shape[0], cuda.gridDim.x):
        pad = _row_min(logits[b]) - eps
        for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):
            if want_pos:
                pos[b, i] = _item_position(i, labels[b], logits[b], pad)
            if want_ideal:
                ideal[b, i] = _item_ideal_gain(i, labels[b], gains[b], disc, cut)


@gpu_kernel
def _pairwise_kernel(kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale,
                     one, none_mode, pair_out, pair_up, loss, count, wsum, grad):
    L = labels.shape[1]
    for b in range(cuda.blockIdx.x, labels.shape[0], cuda.gridDim.x):
        bb = b if none_mode else 0
        for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):
            lo, c, ws, gr = _pairwise_item(i, kind, labels[b], logits[b], w[b], g[b], pos[b], disc, inv[b], lam,
                                           topn_or, topn_mask, normalized, sf, scale, one, none_mode, pair_out[bb],
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
def _list_mle_kernel(labels, logits, seed, use_lambda, disc, pad_logit, one, order, tmp, nll, grad):
    L = labels.shape[1]
    for b in range(cuda.blockIdx.x, labels.shape[0], cuda.gridDim.x):
        off = np.uint64(b) * np.uint64(L)
        for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):  # draws, kept in grad until it is written
            grad[b, i] = _list_mle_draw(labels[b], seed, off, i)
        cuda.syncthreads()
        for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):
            order[b, _list_mle_position(i, labels[b], grad[b])] = i
        cuda.syncthreads()
        if cuda.threadIdx.x == 0:
            nll[b] = _list_mle_list(labels[b], logits[b], use_lambda, disc, pad_logit, one, order[b], tmp[b],
                                    grad[b])
        cuda.syncthreads()


@gpu_kernel
def _approx_ndcg_kernel(labels, logits, gains, inv, alpha, pad_gap, one, want_grad, e, cost, a, grad):
    L = labels.shape[1]
    for b in range(cuda.blockIdx.x, labels.shape[0], cuda.gridDim.x):
        pad = _row_min(logits[b]) - pad_gap
        shift = _approx_shift(labels[b], logits[b], pad, alpha)
        for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):
            e[b, i] = _approx_exp(i, labels[b], logits[b], pad, alpha, shift)
        cuda.syncthreads()
        for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):
            r = _approx_rank_item(i, labels[b], logits[b], pad, alpha, one, e[b])
            c, d = _approx_terms(r, gains[b, i], inv[b], one)
            cost[b, i] = c
            a[b, i] = d
        cuda.syncthreads()
        if want_grad:
            for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):
                grad[b, i] = _approx_grad_item(i, labels[b], logits[b], pad, alpha, one, a[b], e[b])


@gpu_kernel
def _approx_ranks_kernel(zeros, logits, alpha, one, e, out):
    L = logits.shape[1]
    for b in range(cuda.blockIdx.x, logits.shape[0], cuda.gridDim.x):
        shift = _approx_shift(zeros[b], logits[b], logits[b, 0], alpha)
        for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):
            e[b, i] = _approx_exp(i, zeros[b], logits[b], logits[b, 0], alpha, shift)
        cuda.syncthreads()
        for i in range(cuda.threadIdx.x, L, cuda.blockDim.x):
            out[b, i] = _approx_rank_item(i, zeros[b], logits[b], logits[b, 0], alpha, one, e[b])


def prep_gpu(labels, logits, gains, disc, cut, want_pos, want_ideal, eps, pos, ideal):
    """Positions by score and ideal-DCG terms; arguments as ``losses._ranking_cpu.prep_cpu``.

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
    launch_lists(_prep_kernel, labels.shape[0], labels.shape[1], labels, logits, gains, disc, cut, want_pos,
                 want_ideal, eps, pos, ideal)


def pairwise_gpu(kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale,
                 one, none_mode, pair_out, pair_up, loss, count, wsum, grad):
    """Per-item pairwise losses; arguments as ``losses._ranking_cpu.pairwise_cpu``.

    Parameters
    ----------
    kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale, one : see the CPU driver
        Inputs.
    none_mode, pair_out, pair_up : see the CPU driver
        Unreduced output and upstream (``(B, L, L)`` when ``none_mode``).
    loss, count, wsum, grad : (B, L) device arrays
        Outputs.
    """
    launch_lists(_pairwise_kernel, labels.shape[0], labels.shape[1], kind, labels, logits, w, g, pos, disc, inv, lam,
                 topn_or, topn_mask, normalized, sf, scale, one, none_mode, pair_out, pair_up, loss, count, wsum, grad)


def softmax_gpu(labels, logits, w, g, pos, disc, inv, use_lambda, normalized, pad_logit, ce, ls, grad):
    """Softmax losses, one thread per list; arguments as ``losses._ranking_cpu.softmax_cpu``.

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


def list_mle_gpu(labels, logits, seed, use_lambda, disc, pad_logit, one, order, tmp, nll, grad):
    """ListMLE, one thread per list; arguments as ``losses._ranking_cpu.list_mle_cpu``.

    Parameters
    ----------
    labels, logits, seed, use_lambda, disc, pad_logit, one : see the CPU driver
        Inputs.
    order, tmp : (B, L) device arrays
        Scratch.
    nll, grad : device arrays
        Outputs.
    """
    launch_lists(_list_mle_kernel, labels.shape[0], labels.shape[1], labels, logits, seed, use_lambda, disc,
                 pad_logit, one, order, tmp, nll, grad)


def approx_ndcg_gpu(labels, logits, gains, inv, alpha, pad_gap, one, want_grad, e, cost, a, grad):
    """Approx-NDCG item terms and gradient; arguments as ``losses._ranking_cpu.approx_ndcg_cpu``.

    Parameters
    ----------
    labels, logits, gains, inv, alpha, pad_gap, one, want_grad : see the CPU driver
        Inputs.
    e : (B, L) float64 device array
        Scratch (each list's shifted exponentials).
    cost, a, grad : (B, L) device arrays
        Outputs (``a`` is d cost / d rank).
    """
    launch_lists(_approx_ndcg_kernel, labels.shape[0], labels.shape[1], labels, logits, gains, inv, alpha, pad_gap,
                 one, want_grad, e, cost, a, grad)


def approx_ranks_gpu(zeros, logits, alpha, one, e, out):
    """Smooth ranks; arguments as ``losses._ranking_cpu.approx_ranks_cpu``.

    Parameters
    ----------
    zeros, logits : (B, L) device arrays
        Zeros (every item valid) and scores.
    alpha : float scalar
        Sigmoid slope in the compute dtype.
    one : float scalar
        1 in the compute dtype.
    e : (B, L) float64 device array
        Scratch.
    out : (B, L) device array
        Output.
    """
    launch_lists(_approx_ranks_kernel, logits.shape[0], logits.shape[1], zeros, logits, alpha, one, e, out)
