"""In-batch AUC loss: the pairwise log-likelihood of positives ranked above negatives.

Re-creates Monolith's ``InbatchAucLoss`` / ``InbatchAucLossGrad`` custom ops
(``monolith/native_training/losses/inbatch_auc_loss.py`` and
``runtime/ops/inbatch_auc_loss.cc``). The math is written
once as rules in :mod:`monolith_np._rules.losses`:

- ``auc_pair`` -- one pair's term ``log sigmoid(d)`` and gradient weight
  ``1 - sigmoid(d)`` with the original's cut-offs at -87 and 88;
- ``inbatch_auc_positive`` -- one positive against every negative
  (its loss, its gradient, and optionally the negatives' gradient sums);
- ``inbatch_auc_negative`` -- one negative against every positive
  (the GPU's second pass, which avoids atomics).

The CPU driver runs ``inbatch_auc_positive_lanes`` (the same sums in
fixed-order lanes, so the pair loop is SIMD) in a ``prange`` over chunks
of positives, each chunk accumulating the negatives' gradients in its own
row of a scratch buffer (no ``P x N`` temporaries, no atomics);
:mod:`monolith_np.cuda.losses` compiles the same rules for the GPU.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._compile import cpu_jit, run_cpu
from .._dispatch import gpu_drivers
from .._rules.losses import inbatch_auc_positive_lanes
from ._forms import GRAD, VALUE, loss_forms

__all__ = ["inbatch_auc_loss", "inbatch_auc_loss_grad", "inbatch_auc_loss_and_grad"]

_DTYPES = (np.float32, np.float64)

#: Labels at or below this value mark examples that are neither positive nor negative.
IGNORE_LABEL = -10000.0


# ---------------------------------------------------------------------------
# CPU driver: validates nothing, allocates nothing.
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _inbatch_auc_cpu(pos, neg, loss_out, pos_grad, neg_acc, terms):
    """Positives cut into ``neg_acc.shape[0]`` contiguous chunks, one ``prange`` iteration each.

    ``loss_out[i]`` and ``pos_grad[i]`` (float64, one per positive) receive the
    positive's loss and gradient sums; chunk ``c`` adds its negatives'
    gradient sums into ``neg_acc[c]`` (``(chunks, N)`` float64, zeroed by the
    caller; ``(chunks, 0)`` to skip) and uses ``terms[c]`` (``(chunks, 2, N)``
    float64) as the scratch of :func:`inbatch_auc_positive_lanes`.
    """
    p = pos.shape[0]
    chunks = neg_acc.shape[0]
    for c in prange(chunks):
        for i in range(c * p // chunks, (c + 1) * p // chunks):
            loss, grad = inbatch_auc_positive_lanes(pos[i], neg, neg_acc[c], terms[c])
            loss_out[i] = loss
            pos_grad[i] = grad


# ---------------------------------------------------------------------------
# The loss: validation, then the pass (which trusts its inputs).
# ---------------------------------------------------------------------------


def _run(label, logit, neg_weight=1.0, *, want, upstream):
    """Validate the public arguments, then :func:`_inbatch_auc`; returns ``(loss or None, grad or None)``."""
    xp = array_module(label=label, logit=logit)
    label = asarray(label, xp)
    logit = asarray(logit, xp)
    check_array("logit", logit, dtypes=_DTYPES)
    check_array("label", label, dtype_kinds="fiub")
    if label.size != logit.size:
        raise ValueError(f"label must have as many elements as logit ({logit.size}), "
                         f"got shape {tuple(label.shape)}")
    neg_weight = check_number("neg_weight", neg_weight)
    if not 0.0 < neg_weight <= 1.0:
        raise ValueError(f"neg_weight must be in (0, 1], got {neg_weight}")
    if want != VALUE:
        upstream = check_number("upstream", upstream)
    return _inbatch_auc(xp, label, logit, neg_weight, want != GRAD, want != VALUE, upstream)


def _inbatch_auc(xp, label, logit, neg_weight, want_loss, want_grad, upstream):
    """Loss (0-d) and gradient (shape of ``logit``), each None unless wanted; inputs already checked."""
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
            terms = np.empty((chunks, 2, n), dtype=np.float64)
            run_cpu(_inbatch_auc_cpu, p * n, pos, neg, loss_rows, pos_grad, neg_acc, terms)
            if want_grad:
                neg_acc.sum(axis=0, out=neg_grad)
        else:
            gpu_drivers().losses.inbatch_auc_gpu(pos, neg, loss_rows, pos_grad, neg_grad if want_grad else None)
    loss = xp.asarray(loss_rows.sum(), dtype=dtype) if want_loss else None
    if not want_grad:
        return loss, None
    grad = xp.zeros(flat.shape, dtype=dtype)
    grad[pos_idx] = (pos_grad * upstream).astype(dtype)
    grad[neg_idx] = (neg_grad * (-neg_weight * upstream)).astype(dtype)
    return loss, grad.reshape(logit.shape)


# ---------------------------------------------------------------------------
# Public functions: inbatch_auc_loss, its _grad and _and_grad.
# ---------------------------------------------------------------------------

_DOC = """In-batch AUC loss: the sum of ``log sigmoid(logit_pos - logit_neg)`` over all pairs.

    Every positive example of the batch is paired with every negative one.
    The value is the pairwise log-likelihood that positives score above
    negatives; like the original op it is **not** negated (it is <= 0), so a
    caller who wants to learn AUC minimises ``-inbatch_auc_loss(...)``.
    ``inbatch_auc_loss_grad`` is the original's grad op.

    Parameters
    ----------
    label : array of real numbers
        Any shape with as many elements as ``logit``. ``label > 0`` marks a
        positive, ``-10000 < label <= 0`` a negative; labels ``<= -10000``
        (and NaN) are ignored. Compared in the dtype of ``logit``. Not
        differentiated.
    logit : float32 or float64 array
        Scores, any shape (flattened). numpy arrays run on the CPU, CUDA arrays
        on the GPU.
    neg_weight : float, default 1.0
        In ``(0, 1]``. Scales the negatives' gradient only; checked by every
        form, as the original forward op does (its grad op does not check it).

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

    The gradient: with :math:`\\gamma(d) = 1 - \\sigma(d)` for
    :math:`-87 < d < 88` (float64), 1 for :math:`d \\le -87` and 0 for
    :math:`d \\ge 88`,

    .. math::

        \\partial_i = g \\sum_{j \\in N} \\gamma(d_{ij}), \\qquad
        \\partial_j = -g\\, w_{neg} \\sum_{i \\in P} \\gamma(d_{ij}),

    and 0 for ignored examples (:math:`g` is ``upstream``). This is the
    gradient of the (non-negated) loss; with ``neg_weight < 1`` it is not the
    gradient of the returned value, since the forward ignores ``neg_weight``
    (as in the original).

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
    >>> inbatch_auc_loss_grad(label, logit, upstream=2.0).round(5)
    array([ 1.24173, -1.20151, -1.04105,  1.00083], dtype=float32)
    >>> loss, grad = inbatch_auc_loss_and_grad(np.array([1.0, 0.0]), np.array([0.0, 0.0]))
    >>> float(loss), grad.tolist()
    (-0.6931471805599453, [0.5, -0.5])
    """

_SPEC = loss_forms(
    _run, _DOC, name="inbatch_auc_loss", module=__name__, wrt=("logit",),
    grad_returns="array\n    ``d loss / d logit`` times ``upstream``; shape, dtype and device of ``logit``.",
    upstream_doc="float, default 1.0\n    Gradient of the final objective with respect to the loss (the grad op's "
                 "``grad`` input).")
inbatch_auc_loss, inbatch_auc_loss_grad, inbatch_auc_loss_and_grad = _SPEC.forms
