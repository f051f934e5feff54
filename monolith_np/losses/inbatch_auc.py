"""In-batch AUC loss: the pairwise log-likelihood of positives ranked above negatives.

Re-creates Monolith's ``InbatchAucLoss`` / ``InbatchAucLossGrad`` custom ops
(``monolith/native_training/losses/inbatch_auc_loss.py`` and
``runtime/ops/inbatch_auc_loss.cc``; SEMANTICS.md C.1). The math is written
once as rules:

- :func:`auc_pair` -- one pair's term ``log sigmoid(d)`` and gradient weight
  ``1 - sigmoid(d)`` with the original's cut-offs at -87 and 88;
- :func:`inbatch_auc_positive` -- one positive against every negative
  (its loss, its gradient, and optionally the negatives' gradient sums);
- :func:`inbatch_auc_negative` -- one negative against every positive
  (the GPU's second pass, which avoids atomics).

The CPU driver runs :func:`inbatch_auc_positive` in a ``prange`` over chunks
of positives, each chunk accumulating the negatives' gradients in its own
row of a scratch buffer (no ``P x N`` temporaries, no atomics);
:mod:`monolith_np.cuda.losses` compiles the same rules for the GPU.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._compile import cpu_jit, jitable, run_cpu

__all__ = ["inbatch_auc_loss", "inbatch_auc_loss_grad", "inbatch_auc_loss_and_grad"]

_DTYPES = (np.float32, np.float64)

#: Labels at or below this value mark examples that are neither positive nor negative.
IGNORE_LABEL = -10000.0


# ---------------------------------------------------------------------------
# Rules (plain Python; compiled for the CPU here and for the GPU in cuda/losses.py).
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
    if x > -87.0 and x < 88.0:
        return x - math.log(1.0 + math.exp(x)), 1.0 - 1.0 / (1.0 + math.exp(-x))
    if x <= -87.0:
        return x, 1.0
    return 0.0, 0.0


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
# CPU driver: validates nothing, allocates nothing.
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _inbatch_auc_cpu(pos, neg, loss_out, pos_grad, neg_acc):
    """Positives cut into ``neg_acc.shape[0]`` contiguous chunks, one ``prange`` iteration each.

    ``loss_out[i]`` and ``pos_grad[i]`` (float64, one per positive) receive the
    positive's loss and gradient sums; chunk ``c`` adds its negatives'
    gradient sums into ``neg_acc[c]`` (``(chunks, N)`` float64, zeroed by the
    caller; ``(chunks, 0)`` to skip).
    """
    p = pos.shape[0]
    chunks = neg_acc.shape[0]
    for c in prange(chunks):
        for i in range(c * p // chunks, (c + 1) * p // chunks):
            loss, grad = inbatch_auc_positive(pos[i], neg, neg_acc[c])
            loss_out[i] = loss
            pos_grad[i] = grad


# ---------------------------------------------------------------------------
# Public functions.
# ---------------------------------------------------------------------------


def _gpu():
    from ..cuda import losses

    return losses


def _check_neg_weight(neg_weight):
    neg_weight = check_number("neg_weight", neg_weight)
    if not 0.0 < neg_weight <= 1.0:
        raise ValueError(f"neg_weight must be in (0, 1], got {neg_weight}")
    return neg_weight


def _run(label, logit, neg_weight, want_loss, want_grad, upstream):
    xp = array_module(label=label, logit=logit)
    label = asarray(label, xp)
    logit = asarray(logit, xp)
    check_array("logit", logit, dtypes=_DTYPES)
    check_array("label", label, dtype_kinds="fiub")
    if label.size != logit.size:
        raise ValueError(f"label must have as many elements as logit ({logit.size}), "
                         f"got shape {tuple(label.shape)}")
    neg_weight = _check_neg_weight(neg_weight)
    if want_grad:
        upstream = check_number("upstream", upstream)
    dtype = logit.dtype
    flat = logit.reshape(-1)
    lab = label.reshape(-1).astype(dtype, copy=False)
    pos_idx = xp.flatnonzero(lab > 0)
    neg_idx = xp.flatnonzero((lab <= 0) & (lab > dtype.type(IGNORE_LABEL)))
    pos = xp.ascontiguousarray(flat[pos_idx])
    neg = xp.ascontiguousarray(flat[neg_idx])
    p, n = int(pos.shape[0]), int(neg.shape[0])
    loss_rows = xp.zeros((p,), dtype=np.float64)
    pos_grad = xp.zeros((p,), dtype=np.float64)
    neg_grad = xp.zeros((n,), dtype=np.float64)
    if p and n:
        if xp is np:
            chunks = max(1, min(p, numba.get_num_threads()))
            neg_acc = np.zeros((chunks, n if want_grad else 0), dtype=np.float64)
            run_cpu(_inbatch_auc_cpu, p * n, pos, neg, loss_rows, pos_grad, neg_acc)
            if want_grad:
                neg_acc.sum(axis=0, out=neg_grad)
        else:
            _gpu().inbatch_auc_gpu(pos, neg, loss_rows, pos_grad, neg_grad if want_grad else None)
    loss = xp.asarray(loss_rows.sum(), dtype=dtype) if want_loss else None
    if not want_grad:
        return loss, None
    grad = xp.zeros(flat.shape, dtype=dtype)
    grad[pos_idx] = (pos_grad * upstream).astype(dtype)
    grad[neg_idx] = (neg_grad * (-neg_weight * upstream)).astype(dtype)
    return loss, grad.reshape(logit.shape)


def inbatch_auc_loss(label, logit, neg_weight=1.0):
    """In-batch AUC loss: the sum of ``log sigmoid(logit_pos - logit_neg)`` over all pairs.

    Every positive example of the batch is paired with every negative one.
    The value is the pairwise log-likelihood that positives score above
    negatives; like the original op it is **not** negated (it is <= 0), so a
    caller who wants to learn AUC minimises ``-inbatch_auc_loss(...)``.

    Parameters
    ----------
    label : array of real numbers
        Any shape with as many elements as ``logit``. ``label > 0`` marks a
        positive, ``-10000 < label <= 0`` a negative; labels ``<= -10000``
        (and NaN) are ignored. Compared in the dtype of ``logit``.
    logit : float32 or float64 array
        Scores, any shape (flattened). numpy arrays run on the CPU, CUDA arrays
        on the GPU.
    neg_weight : float, default 1.0
        In ``(0, 1]``. Scales the negatives' gradient only (see
        :func:`inbatch_auc_loss_grad`); checked here as the original op does.

    Returns
    -------
    0-d array
        The loss in the dtype of ``logit``; 0 when there are no pairs.

    Raises
    ------
    TypeError
        If ``logit`` is not float32/float64 or ``label`` is not numeric.
    ValueError
        If the element counts differ or ``neg_weight`` is outside ``(0, 1]``
        (the original aborts the process).

    See Also
    --------
    inbatch_auc_loss_grad, inbatch_auc_loss_and_grad

    Notes
    -----
    With :math:`d_{ij} = l_i - l_j` (computed in the logit dtype),

    .. math::

        L = \\sum_{i \\in P} \\sum_{j \\in N} \\ell(d_{ij}), \\qquad
        \\ell(d) = \\begin{cases} d - \\log(1 + e^d) & -87 < d < 88 \\\\
        d & d \\le -87 \\\\ 0 & d \\ge 88 \\end{cases}

    Each term is evaluated in float64 as in the original. The original sums
    the terms into a float32 accumulator; here the sums are float64 (per
    positive, then over positives), which is at least as accurate and does not
    depend on the thread count. Cost O(|P| |N|) time, O(|P| + |N|) memory.

    References
    ----------
    .. [1] Monolith, ``monolith/native_training/runtime/ops/inbatch_auc_loss.cc``.

    Examples
    --------
    >>> import numpy as np
    >>> label = np.array([1, 0, 0, 1], dtype=np.float32)
    >>> logit = np.array([0.5, -0.2, -0.4, 0.8], dtype=np.float32)
    >>> round(float(inbatch_auc_loss(label, logit)), 6)
    -1.320884
    """
    return _run(label, logit, neg_weight, True, False, 1.0)[0]


def inbatch_auc_loss_grad(label, logit, neg_weight=1.0, upstream=1.0):
    """Gradient of :func:`inbatch_auc_loss` with respect to ``logit`` (the original's grad op).

    Parameters
    ----------
    label : array of real numbers
        As in :func:`inbatch_auc_loss` (not differentiated).
    logit : float32 or float64 array
        As in :func:`inbatch_auc_loss`.
    neg_weight : float, default 1.0
        In ``(0, 1]``: each negative's gradient is multiplied by it.
    upstream : float, default 1.0
        Gradient of the final objective with respect to the loss (the grad
        op's ``grad`` input).

    Returns
    -------
    array
        Same shape, dtype and device as ``logit``.

    Raises
    ------
    TypeError, ValueError
        Same as :func:`inbatch_auc_loss` (the original grad op does not check
        ``neg_weight``; here it is checked in both).

    Notes
    -----
    With :math:`\\gamma(d) = 1 - \\sigma(d)` for :math:`-87 < d < 88` (float64),
    1 for :math:`d \\le -87` and 0 for :math:`d \\ge 88`:

    .. math::

        \\partial_i = g \\sum_{j \\in N} \\gamma(d_{ij}), \\qquad
        \\partial_j = -g\\, w_{neg} \\sum_{i \\in P} \\gamma(d_{ij}),

    and 0 for ignored examples. This is the gradient of the (non-negated)
    loss; with ``neg_weight < 1`` it is not the gradient of the returned
    value, since the forward ignores ``neg_weight`` (as in the original).

    Examples
    --------
    >>> import numpy as np
    >>> label = np.array([1, 0, 0, 1], dtype=np.float32)
    >>> logit = np.array([0.5, -0.2, -0.4, 0.8], dtype=np.float32)
    >>> inbatch_auc_loss_grad(label, logit, upstream=2.0).round(5)
    array([ 1.24173, -1.20151, -1.04105,  1.00083], dtype=float32)
    """
    return _run(label, logit, neg_weight, False, True, upstream)[1]


def inbatch_auc_loss_and_grad(label, logit, neg_weight=1.0, upstream=1.0):
    """:func:`inbatch_auc_loss` and :func:`inbatch_auc_loss_grad` from one pass over the pairs.

    Parameters
    ----------
    label : array of real numbers
        As in :func:`inbatch_auc_loss`.
    logit : float32 or float64 array
        As in :func:`inbatch_auc_loss`.
    neg_weight : float, default 1.0
        As in :func:`inbatch_auc_loss_grad`.
    upstream : float, default 1.0
        As in :func:`inbatch_auc_loss_grad`.

    Returns
    -------
    loss : 0-d array
        Same as :func:`inbatch_auc_loss` (not scaled by ``upstream``).
    grad : array
        Same as :func:`inbatch_auc_loss_grad`.

    Raises
    ------
    TypeError, ValueError
        Same as :func:`inbatch_auc_loss`.

    Examples
    --------
    >>> import numpy as np
    >>> loss, grad = inbatch_auc_loss_and_grad(np.array([1.0, 0.0]), np.array([0.0, 0.0]))
    >>> float(loss), grad.tolist()
    (-0.6931471805599453, [0.5, -0.5])
    """
    return _run(label, logit, neg_weight, True, True, upstream)
