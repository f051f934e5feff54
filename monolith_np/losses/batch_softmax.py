"""Batch softmax loss (sampled softmax over the in-batch items, with frequency correction).

Re-creates ``monolith/native_training/losses/batch_softmax_loss.py``
(SEMANTICS.md F.1). The similarity matrix ``S = q itemsᵀ`` comes from one
``xp.matmul``; everything that touches the ``[B, B]`` matrix afterwards is one
fused pass per row, written once as the rule :func:`batch_softmax_row`:

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

import math

import numpy as np
from numba import prange

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._compile import cpu_jit, jitable, run_cpu

__all__ = ["batch_softmax_loss", "batch_softmax_loss_grad", "batch_softmax_loss_and_grad"]

_DTYPES = (np.float32, np.float64)

#: ``tf.linalg.l2_normalize``'s floor on the squared norm.
_L2_EPSILON = 1e-12


# ---------------------------------------------------------------------------
# Rule (plain Python; compiled for the CPU here and for the GPU in cuda/losses.py).
# ---------------------------------------------------------------------------


@jitable(inline=True)
def batch_softmax_row(s, c, i, r_i, g_i, want_grad):
    """Loss of row ``i`` and, optionally, its gradient written over the row.

    Parameters
    ----------
    s : (B,) float array
        Row ``i`` of the tempered similarity ``S``. With ``want_grad`` it is
        overwritten with ``dS[i, :] = g_i (P[i, :] - e_i)``, ``P`` the
        row-softmax of ``S[i, :] + c``.
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
    in float64. A NaN anywhere in the row propagates to the result.
    """
    n = s.shape[0]
    m = s[0] + c[0]
    for j in range(1, n):
        v = s[j] + c[j]
        if v > m:
            m = v
    diag = s[i] + c[i]
    total = 0.0
    if want_grad:
        for j in range(n):
            e = math.exp(s[j] + c[j] - m)
            s[j] = e
            total += e
    else:
        for j in range(n):
            total += math.exp(s[j] + c[j] - m)
    lse = m + math.log(total)
    if want_grad:
        scale = g_i / total
        for j in range(n):
            s[j] = s[j] * scale
        s[i] = s[i] - g_i
    return r_i * (lse - diag)


# ---------------------------------------------------------------------------
# CPU driver: validates nothing, allocates nothing.
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _batch_softmax_rows_cpu(sim, c, r, g, want_grad, out):
    """Row pass over ``sim`` (B, B) in ``prange``: ``out[i]`` = row ``i``'s loss (float64).

    With ``want_grad`` each row of ``sim`` is overwritten with its gradient row
    (coefficient ``g * r[i]``).
    """
    for i in prange(sim.shape[0]):
        out[i] = batch_softmax_row(sim[i], c, i, r[i], g * r[i], want_grad)


# ---------------------------------------------------------------------------
# Public functions.
# ---------------------------------------------------------------------------


def _gpu():
    from ..cuda import losses

    return losses


def _prepare(query, item, item_step_interval, r, normalize, temperature):
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
    r = r.astype(dtype, copy=False)
    c = xp.log(xp.maximum(interval.astype(dtype, copy=False), dtype.type(1)))
    return xp, query, item, r, c, bool(normalize), temperature


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


def _run(query, item, item_step_interval, r, normalize, temperature, want_grad, upstream):
    xp, q, it, r, c, normalize, temperature = _prepare(query, item, item_step_interval, r, normalize,
                                                        temperature)
    dtype = q.dtype
    if want_grad:
        upstream = check_number("upstream", upstream)
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
    g = dtype.type(upstream) if want_grad else dtype.type(0)
    if b:
        if xp is np:
            run_cpu(_batch_softmax_rows_cpu, b * b, sim, c, r, g, want_grad, rows)
        else:
            _gpu().batch_softmax_rows_gpu(sim, c, r, g, want_grad, rows)
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


def batch_softmax_loss(query, item, item_step_interval, r, normalize=True, temperature=1.0):
    """Batch softmax loss with sampling-bias correction (Monolith's ``batch_softmax_loss``).

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
        (an item looked up for the first time reads 0) count as 1.
    r : (B,) real array or scalar
        Per-query weight (interest of the query in its item).
    normalize : bool, default True
        L2-normalise query and item rows first (``tf.linalg.l2_normalize``:
        ``x / sqrt(max(sum(x**2), 1e-12))``).
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
    """
    return _run(query, item, item_step_interval, r, normalize, temperature, False, 1.0)[0]


def batch_softmax_loss_grad(query, item, item_step_interval, r, normalize=True, temperature=1.0,
                            upstream=1.0):
    """Gradient of :func:`batch_softmax_loss` with respect to ``query`` and ``item``.

    Parameters
    ----------
    query : (B, k) float32 or float64 array
        As in :func:`batch_softmax_loss`.
    item : (B, k) array like ``query``
        As in :func:`batch_softmax_loss`.
    item_step_interval : (B,) real array
        As in :func:`batch_softmax_loss` (not differentiated).
    r : (B,) real array or scalar
        As in :func:`batch_softmax_loss` (not differentiated).
    normalize : bool, default True
        As in :func:`batch_softmax_loss`; the gradient flows through the
        normalisation.
    temperature : float, default 1.0
        As in :func:`batch_softmax_loss`.
    upstream : float, default 1.0
        Gradient of the final objective with respect to the loss.

    Returns
    -------
    tuple of two (B, k) arrays
        ``(d_query, d_item)``, dtype and device of ``query``.

    Raises
    ------
    TypeError, ValueError
        Same as :func:`batch_softmax_loss`.

    See Also
    --------
    batch_softmax_loss_and_grad : The loss and this gradient from one pass.

    Notes
    -----
    With :math:`P` the row-softmax of :math:`S_{ij} + c_j`,
    :math:`\\partial L / \\partial S_{ij} = r_i (P_{ij} - \\delta_{ij})`; then
    :math:`d\\hat q = dS\\, \\hat v / T`, :math:`d\\hat v = dS^\\top \\hat q / T`,
    and through the normalisation :math:`dx = (d\\hat x - \\hat x (\\hat x
    \\cdot d\\hat x)) / \\max(|x|, 10^{-6})` (just :math:`d\\hat x \\cdot 10^6`
    where the norm is clipped), as TF differentiates ``l2_normalize``.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> dq, di = batch_softmax_loss_grad(q, q, np.ones(2), np.ones(2))
    >>> dq.shape, di.shape
    ((2, 2), (2, 2))
    """
    return _run(query, item, item_step_interval, r, normalize, temperature, True, upstream)[1]


def batch_softmax_loss_and_grad(query, item, item_step_interval, r, normalize=True, temperature=1.0,
                                upstream=1.0):
    """:func:`batch_softmax_loss` and its gradient from one fused pass.

    Parameters
    ----------
    query : (B, k) float32 or float64 array
        As in :func:`batch_softmax_loss`.
    item : (B, k) array like ``query``
        As in :func:`batch_softmax_loss`.
    item_step_interval : (B,) real array
        As in :func:`batch_softmax_loss`.
    r : (B,) real array or scalar
        As in :func:`batch_softmax_loss`.
    normalize : bool, default True
        As in :func:`batch_softmax_loss`.
    temperature : float, default 1.0
        As in :func:`batch_softmax_loss`.
    upstream : float, default 1.0
        Gradient of the final objective with respect to the loss.

    Returns
    -------
    loss : 0-d array
        Same as :func:`batch_softmax_loss` (not scaled by ``upstream``).
    grads : tuple of two (B, k) arrays
        ``(d_query, d_item)`` as :func:`batch_softmax_loss_grad`.

    Raises
    ------
    TypeError, ValueError
        Same as :func:`batch_softmax_loss`.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.eye(3, dtype=np.float32)
    >>> loss, (dq, di) = batch_softmax_loss_and_grad(q, q, np.ones(3), np.ones(3))
    >>> loss.dtype, dq.dtype
    (dtype('float32'), dtype('float32'))
    """
    return _run(query, item, item_step_interval, r, normalize, temperature, True, upstream)
