"""GPU drivers for the non-ranking losses: the rules of :mod:`monolith_np._rules.losses`, compiled for CUDA.

Drivers validate nothing and allocate nothing: the caller passes outputs (so
under ``NUMBA_ENABLE_CUDASIM=1`` they also run on numpy arrays). Scalars must
already be in the compute dtype, as the public functions prepare them.

- batch softmax: one thread per row of the similarity matrix
  (:func:`monolith_np._rules.losses.batch_softmax_row`);
- in-batch AUC: one thread per positive, then one thread per negative (two
  passes instead of atomics, so results are deterministic);
- sigmoid head: one thread per example
  (:func:`monolith_np._rules.losses.sigmoid_loss_pred_elem`), the
  per-example losses summed by the caller.
"""

from __future__ import annotations

from numba import cuda

from .._compile import gpu_device, gpu_kernel
from .._rules.losses import batch_softmax_row, inbatch_auc_negative, inbatch_auc_positive, sigmoid_loss_pred_elem
from ._launch import launch

__all__ = ["batch_softmax_rows_gpu", "inbatch_auc_gpu", "sigmoid_loss_pred_gpu"]

batch_softmax_row_dev = gpu_device(batch_softmax_row)
inbatch_auc_positive_dev = gpu_device(inbatch_auc_positive)
inbatch_auc_negative_dev = gpu_device(inbatch_auc_negative)
sigmoid_loss_pred_elem_dev = gpu_device(sigmoid_loss_pred_elem)


@gpu_kernel
def _batch_softmax_rows_kernel(sim, c, r, g, want_grad, out):
    """One thread per row (grid-stride): ``out[i]`` = row loss; row ``i`` of ``sim`` becomes dS with ``want_grad``."""
    for i in range(cuda.grid(1), sim.shape[0], cuda.gridsize(1)):
        out[i] = batch_softmax_row_dev(sim[i], c, i, r[i], g * r[i], want_grad)


@gpu_kernel
def _auc_positive_kernel(pos, neg, empty, loss_out, pos_grad):
    """One thread per positive (grid-stride): its loss and gradient sums (float64)."""
    for i in range(cuda.grid(1), pos.shape[0], cuda.gridsize(1)):
        loss, grad = inbatch_auc_positive_dev(pos[i], neg, empty)
        loss_out[i] = loss
        pos_grad[i] = grad


@gpu_kernel
def _auc_negative_kernel(pos, neg, neg_grad):
    """One thread per negative (grid-stride): its gradient sum over the positives (float64)."""
    for j in range(cuda.grid(1), neg.shape[0], cuda.gridsize(1)):
        neg_grad[j] = inbatch_auc_negative_dev(neg[j], pos)


@gpu_kernel
def _sigmoid_kernel(x, y, nlsr, w, keep, sample_bias, clip, tau, before, g, zero, one, pred, grad, losses):
    """One thread per example (grid-stride); length-1 ``y``/``nlsr``/``w``/``keep`` broadcast."""
    n = x.shape[0]
    sy = 1 if y.shape[0] == n else 0
    ss = 1 if nlsr.shape[0] == n else 0
    sw = 1 if w.shape[0] == n else 0
    sk = 1 if keep.shape[0] == n else 0
    want_grad = grad.shape[0] == n
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        kept = keep[i * sk] != 0
        wi = w[i * sw] if kept else zero
        loss, p, d = sigmoid_loss_pred_elem_dev(x[i], y[i * sy], nlsr[i * ss], wi, sample_bias, clip, tau, before,
                                                False, g, zero, one)
        pred[i] = p
        losses[i] = loss if kept else 0.0
        if want_grad:
            grad[i] = d if kept else zero


def batch_softmax_rows_gpu(sim, c, r, g, want_grad, out):
    """Row pass of the batch softmax loss on the GPU.

    Parameters
    ----------
    sim : (B, B) float32 or float64 device array
        C-contiguous tempered similarities; overwritten with ``dS`` when
        ``want_grad``.
    c : (B,) device array like ``sim``
        Column corrections ``log max(I_j, 1)``.
    r : (B,) device array like ``sim``
        Row weights.
    g : float scalar
        Upstream gradient in the dtype of ``sim``.
    want_grad : bool
        Write the gradient rows.
    out : (B,) float64 device array
        Receives each row's loss.
    """
    launch(_batch_softmax_rows_kernel, sim.shape[0], sim, c, r, g, want_grad, out)


def inbatch_auc_gpu(pos, neg, loss_out, pos_grad, neg_grad=None):
    """Pairwise in-batch AUC sums on the GPU.

    Parameters
    ----------
    pos : (P,) float device array
        The positives' logits (``P >= 1``).
    neg : (N,) device array like ``pos``
        The negatives' logits (``N >= 1``).
    loss_out : (P,) float64 device array
        Receives each positive's loss sum.
    pos_grad : (P,) float64 device array
        Receives each positive's gradient sum.
    neg_grad : (N,) float64 device array or None
        Receives each negative's gradient sum (before ``-neg_weight``); None
        skips the second pass.
    """
    launch(_auc_positive_kernel, pos.shape[0], pos, neg, loss_out[:0], loss_out, pos_grad)
    if neg_grad is not None:
        launch(_auc_negative_kernel, neg.shape[0], pos, neg, neg_grad)


def sigmoid_loss_pred_gpu(x, y, nlsr, w, keep, sample_bias, clip, tau, before, g, zero, one, pred, grad, losses):
    """Fused sigmoid head on the GPU, one thread per example.

    Parameters
    ----------
    x : (n,) float device array
        Logits.
    y, nlsr, w : (n,) or (1,) device arrays like ``x``
        Labels, ``-log(sample_rate)`` and instance weights (length 1 broadcasts).
    keep : (n,) or (1,) uint8 device array
        Mask (0 drops an example).
    sample_bias, clip, before : bool
        As :func:`monolith_np._rules.losses.sigmoid_loss_pred_elem`.
    tau, g, zero, one : float scalars
        Clip bound, upstream gradient, 0 and 1, in the dtype of ``x``.
    pred : (n,) device array like ``x``
        Receives the predictions.
    grad : (n,) or (0,) device array like ``x``
        Receives the gradient (length 0 skips it).
    losses : (n,) float64 device array
        Receives each example's weighted loss (0 where masked).
    """
    launch(_sigmoid_kernel, x.shape[0], x, y, nlsr, w, keep, sample_bias, clip, tau, before, g, zero, one, pred, grad,
           losses)
