"""Batch softmax loss (sampled softmax over the in-batch items, with frequency correction).

Re-creates ``monolith/native_training/losses/batch_softmax_loss.py``.
The similarity matrix ``S = q itemsᵀ`` comes from one
``xp.matmul``; everything that touches the ``[B, B]`` matrix afterwards is one
fused pass per row, written once as the rule
:func:`monolith_np._rules.losses.batch_softmax_row`:

- forward: the row maximum of ``S[i, j] + log I_j``, the log-sum-exp and the
  row's loss ``r_i (lse_i - S[i, i] - log I_i)``;
- backward (same pass): the softmax probabilities overwrite the row of ``S``,
  which becomes ``dS = g r_i (P[i, :] - e_i)``; two matmuls then give the
  gradients of the (normalised, tempered) query and item vectors.

So the forward and backward together hold one ``[B, B]`` array (``S``, reused
as ``dS``). The CPU runs the rule in a ``prange`` over rows
(:func:`_batch_softmax_rows_cpu`); :mod:`monolith_np.cuda.losses` compiles the
same rule for the GPU.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._compile import cpu_jit, run_cpu
from .._dispatch import gpu_drivers
from .._rules.losses import batch_softmax_row
from ._forms import GRAD, VALUE, loss_forms

__all__ = ["batch_softmax_loss", "batch_softmax_loss_grad", "batch_softmax_loss_and_grad"]

_DTYPES = (np.float32, np.float64)

#: ``tf.linalg.l2_normalize``'s floor on the squared norm.
_L2_EPSILON = 1e-12


# ---------------------------------------------------------------------------
# CPU driver: validates nothing, allocates nothing.
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _batch_softmax_rows_cpu(sim, c, r, g, want_grad, out):
    """Row pass over ``sim`` (B, B) in ``prange``: ``out[i]`` = row ``i``'s loss (float64).

    Each row of ``sim`` is overwritten: with its gradient row (coefficient
    ``g * r[i]``) under ``want_grad``, else with scratch.
    """
    for i in prange(sim.shape[0]):
        out[i] = batch_softmax_row(sim[i], c, i, r[i], g * r[i], want_grad)


# ---------------------------------------------------------------------------
# The loss: validation, then the pass (which trusts its inputs).
# ---------------------------------------------------------------------------


def _run(query, item, item_step_interval, r, normalize=True, temperature=1.0, *, want, upstream):
    """Validate the public arguments, then :func:`_batch_softmax`; returns ``(loss, grads or None)``."""
    xp = array_module(query=query, item=item, item_step_interval=item_step_interval, r=r)
    query = asarray(query, xp)
    item = asarray(item, xp)
    check_array("query", query, ndim=2, dtypes=_DTYPES)
    b, k = query.shape
    check_array("item", item, shape=(b, k), dtypes=(query.dtype,))
    dtype = query.dtype
    interval = asarray(item_step_interval, xp)
    check_array("item_step_interval", interval, dtype_kinds="fiub")
    if interval.shape != (b,):
        raise ValueError(f"item_step_interval must have shape ({b},) (one interval per item), "
                         f"got shape {tuple(interval.shape)}")
    if isinstance(r, (int, float)) and not isinstance(r, bool):
        r = xp.full((b,), r, dtype=dtype)
    r = asarray(r, xp)
    check_array("r", r, dtype_kinds="fiub")
    if r.shape == ():
        r = xp.full((b,), r, dtype=dtype)
    if r.shape != (b,):
        raise ValueError(f"r must have shape ({b},) (one weight per query) or be a scalar, "
                         f"got shape {tuple(r.shape)}")
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__} {normalize!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)):
        raise TypeError(f"temperature must be a real number, got {type(temperature).__name__} {temperature!r}")
    if not temperature > 0:
        raise ValueError(f"temperature should be positive, while got {temperature}")
    temperature = check_number("temperature", temperature)
    want_grad = want != VALUE
    g = dtype.type(check_number("upstream", upstream)) if want_grad else dtype.type(0)
    r = r.astype(dtype, copy=False)
    c = xp.log(xp.maximum(interval.astype(dtype, copy=False), dtype.type(1)))
    loss, grads = _batch_softmax(xp, query, item, r, c, bool(normalize), temperature, want_grad, g)
    return (None if want == GRAD else loss), grads


def _l2_normalize(xp, x):
    """``x / max(|x|, 1e-6)`` row-wise (``tf.linalg.l2_normalize``); returns (y, inv_norm, clipped)."""
    sq = xp.einsum("ij,ij->i", x, x)
    clipped = sq < x.dtype.type(_L2_EPSILON)
    inv = (x.dtype.type(1) / xp.sqrt(xp.maximum(sq, x.dtype.type(_L2_EPSILON))))[:, None]
    return x * inv, inv, clipped


def _l2_normalize_grad(xp, y, inv, clipped, dy):
    """Vector-Jacobian product of :func:`_l2_normalize`."""
    proj = xp.einsum("ij,ij->i", y, dy)
    proj = xp.where(clipped, y.dtype.type(0), proj)
    return (dy - y * proj[:, None]) * inv


def _batch_softmax(xp, q, it, r, c, normalize, temperature, want_grad, g):
    """The loss (0-d) and, with ``want_grad``, ``(d_query, d_item)`` times ``g``; inputs already checked."""
    dtype = q.dtype
    if normalize:
        qn, q_inv, q_clip = _l2_normalize(xp, q)
        itn, i_inv, i_clip = _l2_normalize(xp, it)
    else:
        qn, itn = q, it
    inv_t = dtype.type(1.0 / temperature)
    qs = qn * inv_t if temperature != 1.0 else qn
    b = q.shape[0]
    sim = xp.matmul(qs, itn.T)
    rows = xp.empty((b,), dtype=np.float64)
    if b:
        if xp is np:
            run_cpu(_batch_softmax_rows_cpu, b * b, sim, c, r, g, want_grad, rows)
        else:
            gpu_drivers().losses.batch_softmax_rows_gpu(sim, c, r, g, want_grad, rows)
    loss = xp.asarray(rows.sum(), dtype=dtype)
    if not want_grad:
        return loss, None
    # sim now holds dS (gradient w.r.t. the tempered similarity).
    d_qs = xp.matmul(sim, itn)
    d_itn = xp.matmul(sim.T, qs)
    d_qn = d_qs * inv_t if temperature != 1.0 else d_qs
    if normalize:
        d_q = _l2_normalize_grad(xp, qn, q_inv, q_clip, d_qn)
        d_i = _l2_normalize_grad(xp, itn, i_inv, i_clip, d_itn)
    else:
        d_q, d_i = d_qn, d_itn
    return loss, (d_q.astype(dtype, copy=False), d_i.astype(dtype, copy=False))


# ---------------------------------------------------------------------------
# Public functions: batch_softmax_loss, its _grad and _and_grad.
# ---------------------------------------------------------------------------

_DOC = """Batch softmax loss with sampling-bias correction (Monolith's ``batch_softmax_loss``).

    Every query is scored against every item of the batch; each logit is
    corrected by the log of the item's estimated step interval (the negative
    log of its sampling probability), and the loss is the weighted softmax
    cross-entropy of the diagonal (query ``i``'s own item), summed over the
    batch.

    Parameters
    ----------
    query : (B, k) float32 or float64 array
        Query embeddings, one row per example. numpy arrays run on the CPU,
        CUDA arrays (CuPy, ``__cuda_array_interface__``) on the GPU.
    item : (B, k) array like ``query``
        Item embeddings; item ``i`` is the positive of query ``i`` and every
        other item of the batch is a negative.
    item_step_interval : (B,) real array
        Estimated average number of global steps between two occurrences of
        each item (the batch_softmax optimizer's estimate). Values below 1
        (an item looked up for the first time reads 0) count as 1. Not
        differentiated.
    r : (B,) real array or scalar
        Per-query weight (interest of the query in its item). Not
        differentiated.
    normalize : bool, default True
        L2-normalise query and item rows first (``tf.linalg.l2_normalize``:
        ``x / sqrt(max(sum(x**2), 1e-12))``); the gradient flows through the
        normalisation.
    temperature : float, default 1.0
        Divides the similarities; must be > 0.

    Returns
    -------
    0-d array
        The loss (a sum over the batch, not a mean), dtype of ``query``, on
        its device.

    Raises
    ------
    TypeError
        If the embeddings are not float32/float64 arrays of one dtype, or an
        argument has the wrong type.
    ValueError
        If ``temperature <= 0`` (message starts like the original's,
        ``"temperature should be positive, ..."``), or a shape is wrong. The
        original silently broadcasts a ``(B, 1)`` ``r`` or interval into
        ``(B, B)``; here that is an error.

    See Also
    --------
    batch_softmax_loss_grad, batch_softmax_loss_and_grad

    Notes
    -----
    With :math:`\\hat q, \\hat v` the (optionally normalised) rows,
    :math:`S_{ij} = \\hat q_i \\cdot \\hat v_j / T` and
    :math:`c_j = \\log \\max(I_j, 1)`,

    .. math::

        L = -\\sum_i r_i \\log \\frac{e^{S_{ii} + c_i}}{\\sum_j e^{S_{ij} + c_j}}
          = \\sum_i r_i \\Big(\\operatorname{logsumexp}_j (S_{ij} + c_j) - S_{ii} - c_i\\Big).

    The original exponentiates without subtracting the maximum, so it
    overflows to inf/NaN for large similarities (``normalize=False``, a small
    temperature) or huge intervals. Here the log-sum-exp subtracts the row
    maximum (sums kept in float64): the value equals the original's where
    that is finite and stays finite where it overflows. Inputs may be float64
    (the original is float32 only).

    The gradient: with :math:`P` the row-softmax of :math:`S_{ij} + c_j`,
    :math:`\\partial L / \\partial S_{ij} = r_i (P_{ij} - \\delta_{ij})`; then
    :math:`d\\hat q = dS\\, \\hat v / T`, :math:`d\\hat v = dS^\\top \\hat q / T`,
    and through the normalisation :math:`dx = (d\\hat x - \\hat x (\\hat x
    \\cdot d\\hat x)) / \\max(|x|, 10^{-6})` (just :math:`d\\hat x \\cdot 10^6`
    where the norm is clipped), as TF differentiates ``l2_normalize``. The
    loss and the gradient come from one fused pass over the rows.

    References
    ----------
    .. [1] X. Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large
       Corpus Item Recommendations", RecSys 2019.
    .. [2] Monolith, ``monolith/native_training/losses/batch_softmax_loss.py``.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> loss = batch_softmax_loss(q, q, np.ones(2, np.float32), np.ones(2, np.float32))
    >>> round(float(loss), 5)  # 2 * log(1 + e^-1)
    0.62652
    >>> dq, di = batch_softmax_loss_grad(q, q, np.ones(2), np.ones(2), upstream=2.0)
    >>> dq.shape, di.dtype
    ((2, 2), dtype('float32'))
    >>> loss, (dq, di) = batch_softmax_loss_and_grad(q, q, np.ones(2), np.ones(2))
    >>> round(float(loss), 5)
    0.62652
    """

_SPEC = loss_forms(
    _run, _DOC, name="batch_softmax_loss", module=__name__, wrt=("query", "item"),
    grad_returns="tuple of two (B, k) arrays\n    ``(d_query, d_item)``, dtype and device of ``query``.")
batch_softmax_loss, batch_softmax_loss_grad, batch_softmax_loss_and_grad = _SPEC.forms
