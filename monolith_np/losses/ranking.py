"""Learning-to-rank losses (TF-Ranking style), each with its gradient.

Re-creates ``monolith/native_training/losses/ltr_losses.py``: pairwise hinge,
logistic and soft zero-one losses, softmax cross entropy, sigmoid cross
entropy, mean squared error, ListMLE and approx-NDCG over ``[B, L]`` lists of
``labels`` (graded relevance; negative means "invalid/padding") and
``logits``, the lambda weights of the LambdaLoss framework, the helpers of the
original module and ``make_loss_fn``. The original's private loss functions
are public here without the leading underscore and keep their argument names,
order and defaults.

Every differentiable loss ``f`` comes with ``f_grad(..., upstream=1.0)`` (the
gradient with respect to ``logits``) and ``f_and_grad(...)`` (both). The
O(B L^2) losses run fused kernels (:mod:`monolith_np.losses._ranking_rules`
on the CPU, :mod:`monolith_np.cuda.ranking` on the GPU) that never allocate
``B * L * L`` memory, except for the ``[B, L, L]`` result that
``reduction=Reduction.NONE`` asks for. See ``docs/ranking-losses.md``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _random
from .._backend import array_module, asarray
from .._checks import check_array, check_number, check_seed
from .._compile import run_cpu
from . import _ranking_rules as R

__all__ = [
    "Reduction", "compute_weighted_loss", "RankingLossKey",
    "label_valid_fn", "sort_by_scores", "organize_valid_indices", "shuffle_valid_indices",
    "reshape_first_ndims", "approx_ranks", "inverse_max_dcg", "get_batch_idx_size", "make_loss_fn",
    "create_ndcg_lambda_weight", "create_reciprocal_rank_lambda_weight", "create_p_list_mle_lambda_weight",
    "DCGLambdaWeight", "PrecisionLambdaWeight", "ListMLELambdaWeight", "IdentityLambdaWeight",
    "pairwise_hinge_loss", "pairwise_hinge_loss_grad", "pairwise_hinge_loss_and_grad",
    "pairwise_logistic_loss", "pairwise_logistic_loss_grad", "pairwise_logistic_loss_and_grad",
    "pairwise_soft_zero_one_loss", "pairwise_soft_zero_one_loss_grad", "pairwise_soft_zero_one_loss_and_grad",
    "softmax_loss", "softmax_loss_grad", "softmax_loss_and_grad",
    "sigmoid_cross_entropy_loss", "sigmoid_cross_entropy_loss_grad", "sigmoid_cross_entropy_loss_and_grad",
    "mean_squared_loss", "mean_squared_loss_grad", "mean_squared_loss_and_grad",
    "list_mle_loss", "list_mle_loss_grad", "list_mle_loss_and_grad",
    "approx_ndcg_loss", "approx_ndcg_loss_grad", "approx_ndcg_loss_and_grad",
]

_DTYPES = (np.float32, np.float64)
#: The smallest probability used for the logit of invalid items (``log(1e-10)``).
_EPSILON = 1e-10


# ---------------------------------------------------------------------------
# Reductions (tf.compat.v1.losses.Reduction / compute_weighted_loss).
# ---------------------------------------------------------------------------


class Reduction:
    """Loss reduction names, the same strings as ``tf.compat.v1.losses.Reduction``.

    ``NONE`` keeps the weighted per-element losses; ``SUM`` sums them; ``MEAN``
    divides the sum by the sum of the (broadcast) weights;
    ``SUM_OVER_BATCH_SIZE`` by the number of loss elements;
    ``SUM_BY_NONZERO_WEIGHTS`` (alias ``SUM_OVER_NONZERO_WEIGHTS``) by the
    number of nonzero (broadcast) weights. Every division returns 0 where the
    denominator is 0.
    """

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        """Return every reduction name.

        Returns
        -------
        tuple of str
            The five distinct reduction strings.
        """
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_OVER_NONZERO_WEIGHTS,
                cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key):
        """Check a reduction name.

        Parameters
        ----------
        key : str
            A reduction name.

        Returns
        -------
        str
            ``key`` unchanged.

        Raises
        ------
        ValueError
            If ``key`` is not one of :meth:`all`.
        """
        if not isinstance(key, str) or key not in cls.all():
            raise ValueError(f"reduction must be one of {sorted(set(cls.all()))}, got {key!r}")
        return key


def _safe_div(xp, num, den):
    den = xp.asarray(den, dtype=num.dtype)
    ok = den != 0
    return xp.where(ok, num / xp.where(ok, den, 1), 0).astype(num.dtype)


def _denominator(reduction, wsum, nonzero, n):
    """The divisor of a reduction (None for SUM/NONE)."""
    if reduction == Reduction.MEAN:
        return wsum
    if reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
        return nonzero
    if reduction == Reduction.SUM_OVER_BATCH_SIZE:
        return n
    return None


def _reduce(xp, total, den, upstream, dtype):
    """Return (value, gradient factor) of ``total / den`` (0 where ``den == 0``)."""
    total = xp.asarray(total, dtype=dtype)
    up = xp.asarray(upstream, dtype=dtype)
    if den is None:
        return total, up
    return _safe_div(xp, total, den), _safe_div(xp, up, den)


def _check_weights_like(xp, name, w, losses_shape, dtype):
    w = asarray(w, xp)
    if w.ndim == 0:
        return w.astype(dtype)
    if w.ndim != len(losses_shape) or any(a not in (1, b) for a, b in zip(w.shape, losses_shape)):
        raise ValueError(f"{name} must be a scalar or broadcastable to the losses' shape "
                         f"{tuple(losses_shape)} (each dimension 1 or equal), got shape {tuple(w.shape)}")
    return w.astype(dtype)


def compute_weighted_loss(losses, weights=1.0, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """Weight and reduce a loss array like ``tf.compat.v1.losses.compute_weighted_loss``.

    Parameters
    ----------
    losses : float32 or float64 array
        The per-element losses.
    weights : float or array, default 1.0
        A scalar, or an array of the same rank whose dimensions are 1 or equal
        to those of ``losses``.
    reduction : str, default Reduction.SUM_BY_NONZERO_WEIGHTS
        One of :meth:`Reduction.all`.

    Returns
    -------
    array
        ``losses * weights`` for ``NONE``, otherwise a 0-d array: the weighted
        sum divided by the reduction's denominator (0 where it is 0).

    Raises
    ------
    TypeError
        If ``losses`` is not a float array.
    ValueError
        If ``weights`` cannot be broadcast or ``reduction`` is unknown.
    """
    xp = array_module(losses=losses, weights=weights)
    losses = check_array("losses", asarray(losses, xp), dtypes=_DTYPES)
    reduction = Reduction.validate(reduction)
    w = _check_weights_like(xp, "weights", weights, losses.shape, losses.dtype)
    weighted = losses * w
    if reduction == Reduction.NONE:
        return weighted
    wb = xp.broadcast_to(w, losses.shape)
    den = _denominator(reduction, wb.sum(), xp.count_nonzero(wb), losses.size)
    return _reduce(xp, weighted.sum(), den, 1.0, losses.dtype)[0]


# ---------------------------------------------------------------------------
# Argument checks.
# ---------------------------------------------------------------------------


def _check_labels_logits(labels, logits, weights=None):
    xp = array_module(labels=labels, logits=logits, weights=weights)
    logits = check_array("logits", asarray(logits, xp), ndim=2, dtypes=_DTYPES)
    labels = check_array("labels", asarray(labels, xp), ndim=2, dtype_kinds="fiu")
    if labels.shape != logits.shape:
        raise ValueError(f"labels must have the shape of logits {tuple(logits.shape)}, got shape "
                         f"{tuple(labels.shape)}")
    dtype = logits.dtype
    return xp, xp.ascontiguousarray(labels.astype(dtype, copy=False)), xp.ascontiguousarray(logits)


def _item_weights(xp, weights, shape, dtype):
    """Item-wise weights ``[B, L]`` from None, a scalar, ``[B, 1]`` or ``[B, L]``."""
    if weights is None:
        return xp.ones(shape, dtype)
    w = asarray(weights, xp)
    if not np.issubdtype(np.dtype(w.dtype), np.number) or np.dtype(w.dtype).kind == "c":
        raise TypeError(f"weights must be a real scalar or array, got dtype {w.dtype}")
    B, L = shape
    if w.ndim == 0 or (w.ndim == 2 and w.shape in ((B, 1), (B, L))):
        return xp.broadcast_to(w.astype(dtype), shape).copy()
    raise ValueError(f"weights must be a scalar, shape ({B}, 1) or shape ({B}, {L}), got shape {tuple(w.shape)}")


def _list_weights(xp, weights, shape, dtype):
    """List-wise weights ``[B]`` from None, a scalar, ``[B]`` or ``[B, 1]``."""
    B, L = shape
    if weights is None:
        return xp.ones((B,), dtype), True
    w = asarray(weights, xp)
    if not np.issubdtype(np.dtype(w.dtype), np.number) or np.dtype(w.dtype).kind == "c":
        raise TypeError(f"weights must be a real scalar or array, got dtype {w.dtype}")
    if w.ndim == 0:
        return xp.full((B,), w, dtype), True
    if w.shape in ((B,), (B, 1)):
        return xp.ascontiguousarray(w.reshape(B).astype(dtype)), False
    raise ValueError(f"weights must be a scalar, shape ({B},) or ({B}, 1) (list-wise weights), "
                     f"got shape {tuple(w.shape)}")


def _check_upstream(xp, upstream, shape, dtype):
    if shape is None:
        if hasattr(upstream, "shape") and getattr(upstream, "ndim", 0) == 0:
            upstream = float(upstream)
        return check_number("upstream", upstream)
    up = check_array("upstream", asarray(upstream, xp), dtype_kinds="fiu")
    if tuple(up.shape) != tuple(shape):
        if up.ndim == 0:
            return xp.full(shape, up, dtype)
        raise ValueError(f"upstream must have the unreduced loss's shape {tuple(shape)}, got shape "
                         f"{tuple(up.shape)}")
    return xp.ascontiguousarray(up.astype(dtype))


def _drivers(xp):
    if xp is np:
        return None
    from ..cuda import ranking

    return ranking


def _call(xp, name, work, *args):
    if xp is np:
        run_cpu(getattr(R, name + "_cpu"), work, *args)
    else:
        getattr(_drivers(xp), name + "_gpu")(*args)


# ---------------------------------------------------------------------------
# Lambda weights.
# ---------------------------------------------------------------------------


def _gain_exp2(labels):
    return 2.0 ** labels - 1.0


def _discount_log1p(rank):
    return 1.0 / np.log1p(rank)


def _identity(x):
    return x


def _reciprocal(rank):
    return 1.0 / rank


def _check_topn(topn):
    return check_number("topn", topn, integer=True, low=0, allow_none=True)


class _LambdaWeight:
    """Base class of the lambda weights (LambdaLoss framework)."""

    def individual_weights(self, sorted_labels):
        """Return the per-item weights of labels sorted by logits (default: the labels).

        Parameters
        ----------
        sorted_labels : (B, L) array
            Labels sorted by logits.

        Returns
        -------
        (B, L) array
        """
        return sorted_labels


class IdentityLambdaWeight(_LambdaWeight):
    """A lambda weight of 1 for every pair (only the ``lambda_scale`` factor applies)."""

    def __init__(self):
        pass

    def pair_weights(self, sorted_labels):
        """Return 1.0 for every pair.

        Parameters
        ----------
        sorted_labels : (B, L) array
            Labels sorted by logits (unused).

        Returns
        -------
        float
            ``1.0``.
        """
        return 1.0


def _sorted_rank_arrays(xp, sorted_labels):
    sorted_labels = asarray(sorted_labels, xp)
    valid = sorted_labels >= 0
    clean = xp.where(valid, sorted_labels, 0).astype(sorted_labels.dtype)
    return sorted_labels, valid, clean


class DCGLambdaWeight(_LambdaWeight):
    """Lambda weight for DCG-like metrics (LambdaLoss / LambdaMART pair weights).

    For sorted positions (1-based ranks) ``i`` and ``j`` the pair weight is
    ``|G_i - G_j| * ((1 - smooth_fraction) * u + smooth_fraction * v)`` with
    ``u = |D(|i - j|) - D(|i - j| + 1)|`` (ranks capped at ``topn + 1``),
    ``v = |D(i) - D(j)|`` (``D = 0`` beyond ``topn``), ``G = gain_fn(label)``
    (times the inverse ideal DCG when ``normalized``) and
    ``D = rank_discount_fn``; with ``topn`` set, pairs with both ranks beyond
    it get 0.

    Parameters
    ----------
    topn : int or None, default None
        The DCG cutoff.
    gain_fn : callable, default identity
        Maps a label array (numpy or cupy, invalid labels already set to 0) to
        gains, elementwise.
    rank_discount_fn : callable, default ``1 / rank``
        Maps a float array of 1-based ranks to discounts, elementwise.
    normalized : bool, default False
        Divide gains by the ideal DCG of the list.
    smooth_fraction : float, default 0.0
        Weight of the LambdaMART discount ``v``, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``smooth_fraction`` is outside ``[0, 1]`` or ``topn`` is negative.
    """

    def __init__(self, topn=None, gain_fn=_identity, rank_discount_fn=_reciprocal, normalized=False,
                 smooth_fraction=0.):
        self._topn = _check_topn(topn)
        if not callable(gain_fn) or not callable(rank_discount_fn):
            raise TypeError(f"gain_fn and rank_discount_fn must be callables, got {type(gain_fn).__name__} "
                            f"and {type(rank_discount_fn).__name__}")
        self._gain_fn = gain_fn
        self._rank_discount_fn = rank_discount_fn
        self._normalized = bool(normalized)
        self._smooth_fraction = check_number("smooth_fraction", smooth_fraction, low=0.0, high=1.0)

    def _gains(self, xp, clean):
        g = self._gain_fn(clean)
        g = xp.asarray(g, dtype=clean.dtype) if not hasattr(g, "dtype") else g.astype(clean.dtype)
        g = xp.broadcast_to(g, clean.shape)
        if self._normalized:
            g = g * inverse_max_dcg(clean, self._gain_fn, self._rank_discount_fn, self._topn)
        return g

    def _discounts(self, xp, n, dtype):
        return _disc_table(xp, self._rank_discount_fn, n, dtype)[1:]

    def pair_weights(self, sorted_labels):
        """Return the ``[B, L, L]`` pair weights of labels sorted by logits.

        Parameters
        ----------
        sorted_labels : (B, L) float array
            Labels sorted by logits (descending); negative labels are invalid.

        Returns
        -------
        (B, L, L) array
            Entry ``[b, i, j]`` weights the pair at sorted positions ``i, j``.
        """
        xp = array_module(sorted_labels=sorted_labels)
        sorted_labels, valid, clean = _sorted_rank_arrays(xp, sorted_labels)
        dt = clean.dtype
        L = clean.shape[1]
        gain = self._gains(xp, clean)
        pair_gain = (gain[:, :, None] - gain[:, None, :]) * (valid[:, :, None] & valid[:, None, :])
        topn = self._topn or L
        rank = xp.arange(1, L + 1)
        capped = xp.where(rank > topn, topn + 1, rank)
        diff = xp.abs(capped[:, None] - capped[None, :])
        table = _disc_table(xp, self._rank_discount_fn, L + 1, dt)
        u = xp.where(diff > 0, xp.abs(table[diff] - table[xp.minimum(diff + 1, L + 1)]), 0).astype(dt)
        rd = xp.where(rank > topn, 0, table[rank]).astype(dt)
        v = xp.abs(rd[:, None] - rd[None, :])
        sf = self._smooth_fraction
        w = xp.abs(pair_gain) * ((1.0 - sf) * u + sf * v)
        if self._topn is None:
            return w.astype(dt)
        m = rank <= self._topn
        return (w * (m[:, None] | m[None, :])).astype(dt)

    def individual_weights(self, sorted_labels):
        """Return per-item weights ``G_i * D(i)`` of labels sorted by logits.

        Parameters
        ----------
        sorted_labels : (B, L) float array
            Labels sorted by logits; negative labels count as 0.

        Returns
        -------
        (B, L) array
        """
        xp = array_module(sorted_labels=sorted_labels)
        _, _, clean = _sorted_rank_arrays(xp, sorted_labels)
        return self._gains(xp, clean) * self._discounts(xp, clean.shape[1], clean.dtype)[None, :]


class PrecisionLambdaWeight(_LambdaWeight):
    """Lambda weight for Precision@topn: 1 for pairs of different relevance across the cutoff.

    Parameters
    ----------
    topn : int
        The K of Precision@K.
    positive_fn : callable, default ``label >= 1``
        Maps a label array to booleans (True = positive), elementwise.
    """

    def __init__(self, topn, positive_fn=lambda label: label >= 1.0):
        self._topn = check_number("topn", topn, integer=True, low=0)
        if not callable(positive_fn):
            raise TypeError(f"positive_fn must be callable, got {type(positive_fn).__name__}")
        self._positive_fn = positive_fn

    def _binary(self, xp, clean):
        return xp.broadcast_to(xp.asarray(self._positive_fn(clean)).astype(clean.dtype), clean.shape)

    def pair_weights(self, sorted_labels):
        """Return the ``[B, L, L]`` pair weights of labels sorted by logits.

        Parameters
        ----------
        sorted_labels : (B, L) float array
            Labels sorted by logits; negative labels are invalid.

        Returns
        -------
        (B, L, L) array
            ``|pos_i - pos_j|`` where exactly one of ranks ``i, j`` is within ``topn``.
        """
        xp = array_module(sorted_labels=sorted_labels)
        _, valid, clean = _sorted_rank_arrays(xp, sorted_labels)
        b = self._binary(xp, clean)
        diff = xp.abs(b[:, :, None] - b[:, None, :]) * (valid[:, :, None] & valid[:, None, :])
        rank = xp.arange(1, clean.shape[1] + 1)
        m = rank <= self._topn
        return (diff * (m[:, None] ^ m[None, :])).astype(clean.dtype)


class ListMLELambdaWeight(_LambdaWeight):
    """Lambda weight of position-aware ListMLE: position ``k`` of the true order gets ``D(k)``.

    Parameters
    ----------
    rank_discount_fn : callable
        Maps a float array of 1-based ranks to weights, elementwise.
    """

    def __init__(self, rank_discount_fn):
        if not callable(rank_discount_fn):
            raise TypeError(f"rank_discount_fn must be callable, got {type(rank_discount_fn).__name__}")
        self._rank_discount_fn = rank_discount_fn

    def pair_weights(self, sorted_labels):
        """Return ``sorted_labels`` (as the original).

        Parameters
        ----------
        sorted_labels : (B, L) array
            Sorted labels.

        Returns
        -------
        (B, L) array
        """
        return sorted_labels

    def individual_weights(self, sorted_labels):
        """Return ``D(k)`` for every position ``k``, broadcast to the labels' shape.

        Parameters
        ----------
        sorted_labels : (B, L) array
            Sorted labels (only the shape is used).

        Returns
        -------
        (B, L) array
        """
        xp = array_module(sorted_labels=sorted_labels)
        s = asarray(sorted_labels, xp)
        d = _disc_table(xp, self._rank_discount_fn, s.shape[1], s.dtype)[1:]
        return xp.ones_like(s) * d[None, :]


def create_ndcg_lambda_weight(topn=None, smooth_fraction=0.):
    """Create the NDCG lambda weight: gain ``2**label - 1``, discount ``1 / log1p(rank)``, normalized.

    Parameters
    ----------
    topn : int or None, default None
        The NDCG cutoff.
    smooth_fraction : float, default 0.0
        Weight of the LambdaMART discount (see :class:`DCGLambdaWeight`).

    Returns
    -------
    DCGLambdaWeight
    """
    return DCGLambdaWeight(topn, gain_fn=_gain_exp2, rank_discount_fn=_discount_log1p, normalized=True,
                           smooth_fraction=smooth_fraction)


def create_reciprocal_rank_lambda_weight(topn=None, smooth_fraction=0.):
    """Create the MRR-like lambda weight: gain = label, discount ``1 / rank``, normalized.

    Parameters
    ----------
    topn : int or None, default None
        The cutoff.
    smooth_fraction : float, default 0.0
        Weight of the LambdaMART discount (see :class:`DCGLambdaWeight`).

    Returns
    -------
    DCGLambdaWeight
    """
    return DCGLambdaWeight(topn, gain_fn=_identity, rank_discount_fn=_reciprocal, normalized=True,
                           smooth_fraction=smooth_fraction)


def create_p_list_mle_lambda_weight(list_size):
    """Create the position-aware ListMLE lambda weight ``2**(list_size - rank) - 1`` (Lan et al.).

    Parameters
    ----------
    list_size : int
        The list size the discount is built for.

    Returns
    -------
    ListMLELambdaWeight
    """
    list_size = check_number("list_size", list_size, integer=True, low=0)
    return ListMLELambdaWeight(rank_discount_fn=lambda rank: 2.0 ** (list_size - rank) - 1.0)


def _disc_table(xp, fn, n, dtype):
    """``t[k] = fn(k)`` for ranks ``k = 1..n`` (float), ``t[0] = 0``."""
    ranks = xp.arange(1, n + 1, dtype=dtype)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        vals = fn(ranks)
    vals = xp.broadcast_to(xp.asarray(vals).astype(dtype), ranks.shape)
    t = xp.zeros(n + 1, dtype)
    t[1:] = vals
    return t


def _lambda_setup(xp, lambda_weight, labels, allowed):
    """Host-side arrays of a lambda weight for the kernels."""
    B, L = labels.shape
    dt = labels.dtype
    clean = xp.where(labels >= 0, labels, 0).astype(dt)
    info = dict(kind=R.LAMBDA_NONE, g=xp.zeros((1, 1), dt), disc=xp.zeros(L + 2, dt), topn_or=L, topn_mask=-1,
                normalized=False, sf=dt.type(0), cut=L, clean=clean)
    if lambda_weight is None:
        return info
    if not isinstance(lambda_weight, allowed):
        names = " or ".join(c.__name__ for c in allowed)
        raise TypeError(f"lambda_weight must be None or a {names}, got {type(lambda_weight).__name__}")
    if isinstance(lambda_weight, DCGLambdaWeight):
        g = lambda_weight._gain_fn(clean)
        g = xp.broadcast_to(xp.asarray(g).astype(dt), (B, L)).copy()
        topn = lambda_weight._topn
        info.update(kind=R.LAMBDA_DCG, g=g, disc=_disc_table(xp, lambda_weight._rank_discount_fn, L + 1, dt),
                    topn_or=topn or L, topn_mask=-1 if topn is None else topn,
                    normalized=lambda_weight._normalized, sf=dt.type(lambda_weight._smooth_fraction),
                    cut=L if topn is None else min(topn, L))
    elif isinstance(lambda_weight, PrecisionLambdaWeight):
        g = lambda_weight._binary(xp, clean).copy()
        info.update(kind=R.LAMBDA_PRECISION, g=g, topn_or=lambda_weight._topn or L,
                    topn_mask=lambda_weight._topn)
    elif isinstance(lambda_weight, IdentityLambdaWeight):
        info.update(kind=R.LAMBDA_IDENTITY)
    elif isinstance(lambda_weight, ListMLELambdaWeight):
        info.update(disc=_disc_table(xp, lambda_weight._rank_discount_fn, L + 1, dt))
    return info


def _prep(xp, labels, logits, gains, disc, cut, want_pos, want_ideal):
    """Positions by score and inverse ideal DCG per list."""
    B, L = labels.shape
    dt = logits.dtype
    pos = xp.zeros((B, L), np.int64)
    ideal = xp.zeros((B, L), dt)
    if (want_pos or want_ideal) and B * L:
        if gains.shape != (B, L):
            gains = xp.zeros((B, L), dt)
        _call(xp, "prep", B * L * L, labels, logits, gains, disc, int(cut), bool(want_pos), bool(want_ideal),
              dt.type(1e-6), pos, ideal)
    dcg = ideal.sum(axis=1)
    inv = _safe_div(xp, xp.ones_like(dcg), dcg) if want_ideal else xp.ones((B,), dt)
    inv = xp.where(dcg > 0, inv, 0).astype(dt) if want_ideal else inv
    return pos, inv


# ---------------------------------------------------------------------------
# Pairwise losses.
# ---------------------------------------------------------------------------

_PAIRWISE_LAMBDAS = (DCGLambdaWeight, PrecisionLambdaWeight, IdentityLambdaWeight)


def _pairwise(kind, labels, logits, weights, lambda_weight, lambda_scale, reduction, want, upstream):
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    B, L = logits.shape
    dt = logits.dtype
    w = _item_weights(xp, weights, (B, L), dt)
    lam = _lambda_setup(xp, lambda_weight, labels, _PAIRWISE_LAMBDAS)
    none_mode = reduction == Reduction.NONE
    g = lam["g"] if lam["g"].shape == (B, L) else xp.zeros((B, L), dt)
    want_ideal = lam["kind"] == R.LAMBDA_DCG and lam["normalized"]
    pos, inv = _prep(xp, labels, logits, g, lam["disc"], lam["cut"],
                     lam["kind"] != R.LAMBDA_NONE or none_mode, want_ideal)
    scale = dt.type(L if (lambda_weight is not None and lambda_scale) else 1)
    if none_mode:
        pair_out = xp.zeros((B, L, L), dt)
        if want != "value":
            pair_up = _check_upstream(xp, 1.0 if upstream is None else upstream, (B, L, L), dt)
        else:
            pair_up = pair_out
    else:
        pair_out = xp.zeros((1, 1, 1), dt)
        pair_up = pair_out
        up = _check_upstream(xp, 1.0 if upstream is None else upstream, None, dt)
    loss = xp.zeros((B, L), dt)
    count = xp.zeros((B, L), np.int64)
    wsum = xp.zeros((B, L), dt)
    grad = xp.zeros((B, L), dt)
    if B * L:
        _call(xp, "pairwise", B * L * L, kind, labels, logits, w, g, pos, lam["disc"], inv, lam["kind"],
              int(lam["topn_or"]), int(lam["topn_mask"]), bool(lam["normalized"]), lam["sf"], scale, dt.type(1),
              none_mode, pair_out, pair_up, loss, count, wsum, grad)
    if none_mode:
        return pair_out, grad
    den = _denominator(reduction, wsum.sum(), count.sum(), B * L * L)
    value, factor = _reduce(xp, loss.sum(), den, up, dt)
    return value, grad * factor


def _finish(res, want):
    if want == "value":
        return res[0]
    if want == "grad":
        return res[1]
    return res


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
        Ignored (TF op name).{extra}

    Returns
    -------
    {returns}

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

_UP_DOC = """
    upstream : float or array, default 1.0
        The gradient of the objective with respect to the loss: a scalar, or
        (``Reduction.NONE``) an array shaped like the unreduced loss."""

_LS_DOC = """    lambda_scale : bool, default True
        Multiply the pair weights by ``L`` when a lambda weight is given.
"""


def _doc(template, fn, summary, returns_kind, extra_params="", **kw):
    returns = {
        "value": "array\n        The loss: a 0-d array, or the unreduced losses for ``Reduction.NONE``.",
        "grad": "(B, L) array\n        d(loss)/d(logits) times ``upstream``.",
        "both": "tuple of arrays\n        ``(loss, grad)`` with ``upstream = 1`` (all ones for ``Reduction.NONE``).",
    }[returns_kind]
    extra = extra_params + (_UP_DOC if returns_kind == "grad" else "")
    fn.__doc__ = template.format(summary=summary, returns=returns, extra=extra, **kw)
    return fn


def pairwise_hinge_loss(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                        reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pairwise(R.HINGE, labels, logits, weights, lambda_weight, lambda_scale, reduction, "value", None)[0]


def pairwise_hinge_loss_grad(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                             reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, upstream=1.0):
    return _pairwise(R.HINGE, labels, logits, weights, lambda_weight, lambda_scale, reduction, "grad", upstream)[1]


def pairwise_hinge_loss_and_grad(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pairwise(R.HINGE, labels, logits, weights, lambda_weight, lambda_scale, reduction, "both", None)


def pairwise_logistic_loss(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                           reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pairwise(R.LOGISTIC, labels, logits, weights, lambda_weight, lambda_scale, reduction, "value", None)[0]


def pairwise_logistic_loss_grad(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                                reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, upstream=1.0):
    return _pairwise(R.LOGISTIC, labels, logits, weights, lambda_weight, lambda_scale, reduction, "grad",
                     upstream)[1]


def pairwise_logistic_loss_and_grad(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                                    reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pairwise(R.LOGISTIC, labels, logits, weights, lambda_weight, lambda_scale, reduction, "both", None)


def pairwise_soft_zero_one_loss(labels, logits, weights=None, lambda_weight=None,
                                reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pairwise(R.SOFT_ZERO_ONE, labels, logits, weights, lambda_weight, True, reduction, "value", None)[0]


def pairwise_soft_zero_one_loss_grad(labels, logits, weights=None, lambda_weight=None,
                                     reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, upstream=1.0):
    return _pairwise(R.SOFT_ZERO_ONE, labels, logits, weights, lambda_weight, True, reduction, "grad", upstream)[1]


def pairwise_soft_zero_one_loss_and_grad(labels, logits, weights=None, lambda_weight=None,
                                         reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pairwise(R.SOFT_ZERO_ONE, labels, logits, weights, lambda_weight, True, reduction, "both", None)


_HINGE_F = "the hinge ``max(0, 1 - x)``"
_LOGI_F = ("the logistic loss ``log(1 + exp(-x))`` (computed as ``relu(-x) + log1p(exp(-|x|))``; its "
           "gradient at ``x = 0`` is the true ``-1/2``, where TF's autograd gives 0)")
_SZO_F = "``1 - sigmoid(x)``; with a lambda weight the pair weights are always scaled by ``L``"
for _fn, _sum, _kind in [
    (pairwise_hinge_loss, "Pairwise hinge loss of each list.", "value"),
    (pairwise_hinge_loss_grad, "Gradient of :func:`pairwise_hinge_loss` with respect to ``logits``.", "grad"),
    (pairwise_hinge_loss_and_grad, "Value and gradient of :func:`pairwise_hinge_loss`.", "both"),
]:
    _doc(_PAIR_DOC, _fn, _sum, _kind, lambda_scale_doc=_LS_DOC, f_doc=_HINGE_F)
for _fn, _sum, _kind in [
    (pairwise_logistic_loss, "Pairwise logistic loss of each list.", "value"),
    (pairwise_logistic_loss_grad, "Gradient of :func:`pairwise_logistic_loss` with respect to ``logits``.",
     "grad"),
    (pairwise_logistic_loss_and_grad, "Value and gradient of :func:`pairwise_logistic_loss`.", "both"),
]:
    _doc(_PAIR_DOC, _fn, _sum, _kind, lambda_scale_doc=_LS_DOC, f_doc=_LOGI_F)
for _fn, _sum, _kind in [
    (pairwise_soft_zero_one_loss, "Pairwise soft zero-one loss of each list.", "value"),
    (pairwise_soft_zero_one_loss_grad,
     "Gradient of :func:`pairwise_soft_zero_one_loss` with respect to ``logits``.", "grad"),
    (pairwise_soft_zero_one_loss_and_grad, "Value and gradient of :func:`pairwise_soft_zero_one_loss`.", "both"),
]:
    _doc(_PAIR_DOC, _fn, _sum, _kind, lambda_scale_doc="", f_doc=_SZO_F)


# ---------------------------------------------------------------------------
# List-wise losses.
# ---------------------------------------------------------------------------


def _softmax(labels, logits, weights, lambda_weight, reduction, want, upstream):
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    B, L = logits.shape
    dt = logits.dtype
    w = _item_weights(xp, weights, (B, L), dt)
    if lambda_weight is not None and not isinstance(lambda_weight, _LambdaWeight):
        raise TypeError(f"lambda_weight must be None or a lambda weight, got {type(lambda_weight).__name__}")
    use = isinstance(lambda_weight, DCGLambdaWeight)
    lam = _lambda_setup(xp, lambda_weight if use else None, labels, (DCGLambdaWeight,))
    g = lam["g"] if lam["g"].shape == (B, L) else xp.zeros((B, L), dt)
    pos, inv = _prep(xp, labels, logits, g, lam["disc"], lam["cut"], use, use and lam["normalized"])
    ce = xp.zeros((B,), dt)
    ls = xp.zeros((B,), dt)
    grad = xp.zeros((B, L), dt)
    if B * L:
        _call(xp, "softmax", B * L, labels, logits, w, g, pos, lam["disc"], inv, use, bool(lam["normalized"]),
              dt.type(math.log(np.float32(_EPSILON))), ce, ls, grad)
    kept = ls > 0
    losses = (ce * ls)[kept]
    return _listwise_reduce(xp, losses, ls[kept], kept, grad, reduction, want, upstream, dt)


def _listwise_reduce(xp, weighted, weights, kept, grad, reduction, want, upstream, dt):
    """Reduce per-list weighted losses (rows ``kept``) and scale the per-row raw gradient."""
    if reduction == Reduction.NONE:
        if want == "value":
            return weighted, None
        up = _check_upstream(xp, 1.0 if upstream is None else upstream, weighted.shape, dt)
        full = xp.zeros(kept.shape, dt)
        full[kept] = up
        return weighted, grad * full[:, None]
    up = _check_upstream(xp, 1.0 if upstream is None else upstream, None, dt)
    den = _denominator(reduction, weights.sum(), xp.count_nonzero(weights), weighted.size)
    value, factor = _reduce(xp, weighted.sum(), den, up, dt)
    return value, grad * (factor * kept.astype(dt))[:, None]


def _pointwise(kind, labels, logits, weights, reduction, want, upstream):
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    dt = logits.dtype
    w = _item_weights(xp, weights, logits.shape, dt)
    valid = labels >= 0
    x, z, wv = logits[valid], labels[valid], w[valid]
    if kind == "sigmoid":
        losses = xp.maximum(x, 0) - x * z + xp.log1p(xp.exp(-xp.abs(x)))
        e = xp.exp(-xp.abs(x))
        sig = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(dt)
        d = sig - z
    else:
        losses = (x - z) ** 2
        d = 2 * (x - z)
    losses = losses.astype(dt)
    if reduction == Reduction.NONE:
        value = losses * wv
        if want == "value":
            return value, None
        up = _check_upstream(xp, 1.0 if upstream is None else upstream, value.shape, dt)
        factor = up
    else:
        up = _check_upstream(xp, 1.0 if upstream is None else upstream, None, dt)
        den = _denominator(reduction, wv.sum(), xp.count_nonzero(wv), losses.size)
        value, factor = _reduce(xp, (losses * wv).sum(), den, up, dt)
    grad = xp.zeros(logits.shape, dt)
    grad[valid] = (d * wv * factor).astype(dt)
    return value, grad


def _list_mle(labels, logits, weights, lambda_weight, reduction, seed, want, upstream):
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    seed = check_seed(seed)
    B, L = logits.shape
    dt = logits.dtype
    wl, _ = _list_weights(xp, weights, (B, L), dt)
    if lambda_weight is not None and not isinstance(lambda_weight, _LambdaWeight):
        raise TypeError(f"lambda_weight must be None or a lambda weight, got {type(lambda_weight).__name__}")
    use = isinstance(lambda_weight, ListMLELambdaWeight)
    disc = (_disc_table(xp, lambda_weight._rank_discount_fn, L + 1, dt) if use else xp.zeros(L + 2, dt))
    nll = xp.zeros((B,), dt)
    grad = xp.zeros((B, L), dt)
    if B * L:
        order = xp.zeros((B, L), np.int64)
        tmp = xp.zeros((B, L), dt)
        _call(xp, "list_mle", B * L * L, labels, logits, seed, use, disc,
              dt.type(math.log(np.float32(_EPSILON))), dt.type(1), order, tmp, nll, grad)
    if reduction == Reduction.NONE:
        value = nll * wl
        if want == "value":
            return value, None
        up = _check_upstream(xp, 1.0 if upstream is None else upstream, value.shape, dt)
        return value, grad * (wl * up)[:, None]
    up = _check_upstream(xp, 1.0 if upstream is None else upstream, None, dt)
    den = _denominator(reduction, wl.sum(), xp.count_nonzero(wl), B)
    value, factor = _reduce(xp, (nll * wl).sum(), den, up, dt)
    return value, grad * (wl * factor)[:, None]


def _approx_ndcg(labels, logits, weights, reduction, alpha, want, upstream):
    xp, labels, logits = _check_labels_logits(labels, logits, weights)
    reduction = Reduction.validate(reduction)
    alpha = check_number("alpha", alpha)
    B, L = logits.shape
    dt = logits.dtype
    wl, _ = _list_weights(xp, weights, (B, L), dt)
    clean = xp.where(labels >= 0, labels, 0).astype(dt)
    gains = xp.ascontiguousarray((2.0 ** clean - 1.0).astype(dt))
    disc = _disc_table(xp, _discount_log1p, L + 1, dt)
    _, inv = _prep(xp, labels, logits, gains, disc, L, False, True)
    cost = xp.zeros((B, L), dt)
    a = xp.zeros((B, L), dt)
    grad = xp.zeros((B, L), dt)
    if B * L:
        _call(xp, "approx_ndcg", B * L * L, labels, logits, gains, inv, dt.type(alpha), dt.type(1e3),
              dt.type(1), want != "value", xp.empty((B, L), np.float64), cost, a, grad)
    kept = clean.sum(axis=1) > 0
    losses = cost.sum(axis=1)[kept]
    wk = wl[kept]
    if reduction == Reduction.NONE:
        value = losses * wk
        if want == "value":
            return value, None
        up = _check_upstream(xp, 1.0 if upstream is None else upstream, value.shape, dt)
        full = xp.zeros((B,), dt)
        full[kept] = up * wk
        return value, grad * full[:, None]
    up = _check_upstream(xp, 1.0 if upstream is None else upstream, None, dt)
    den = _denominator(reduction, wk.sum(), xp.count_nonzero(wk), losses.size)
    value, factor = _reduce(xp, (losses * wk).sum(), den, up, dt)
    return value, grad * (wl * factor * kept.astype(dt))[:, None]


_COMMON_PARAMS = """    labels : (B, L) array
        Graded relevance; negative labels mark invalid items. Cast to the
        dtype of ``logits``.
    logits : (B, L) float32 or float64 array
        Ranking scores.
    weights : None, float or array, default None
        {weights_doc}
"""

_LIST_DOC = """{summary}

    Parameters
    ----------
""" + _COMMON_PARAMS + """{middle}    reduction : str, default {default_red}
        One of :meth:`Reduction.all`.
    name : str or None, default None
        Ignored (TF op name).{tail}{extra}

    Returns
    -------
    {returns}

    Raises
    ------
    TypeError
        If an argument has the wrong type or dtype.
    ValueError
        If shapes disagree or ``reduction`` is unknown.

    Notes
    -----
    {notes}
    """

_ITEM_W = "A scalar, ``(B, 1)`` list-wise or ``(B, L)`` item-wise weights."
_LIST_W = ("A scalar, ``(B,)`` or ``(B, 1)`` list-wise weights (item-wise weights raise, as TF's "
           "broadcast check does).")


def softmax_loss(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                 name=None):
    return _softmax(labels, logits, weights, lambda_weight, reduction, "value", None)[0]


def softmax_loss_grad(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                      name=None, upstream=1.0):
    return _softmax(labels, logits, weights, lambda_weight, reduction, "grad", upstream)[1]


def softmax_loss_and_grad(labels, logits, weights=None, lambda_weight=None,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _softmax(labels, logits, weights, lambda_weight, reduction, "both", None)


def sigmoid_cross_entropy_loss(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pointwise("sigmoid", labels, logits, weights, reduction, "value", None)[0]


def sigmoid_cross_entropy_loss_grad(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                                    name=None, upstream=1.0):
    return _pointwise("sigmoid", labels, logits, weights, reduction, "grad", upstream)[1]


def sigmoid_cross_entropy_loss_and_grad(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                                        name=None):
    return _pointwise("sigmoid", labels, logits, weights, reduction, "both", None)


def mean_squared_loss(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pointwise("mse", labels, logits, weights, reduction, "value", None)[0]


def mean_squared_loss_grad(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None,
                           upstream=1.0):
    return _pointwise("mse", labels, logits, weights, reduction, "grad", upstream)[1]


def mean_squared_loss_and_grad(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    return _pointwise("mse", labels, logits, weights, reduction, "both", None)


def list_mle_loss(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                  name=None, seed=None):
    return _list_mle(labels, logits, weights, lambda_weight, reduction, seed, "value", None)[0]


def list_mle_loss_grad(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                       name=None, seed=None, upstream=1.0):
    return _list_mle(labels, logits, weights, lambda_weight, reduction, seed, "grad", upstream)[1]


def list_mle_loss_and_grad(labels, logits, weights=None, lambda_weight=None,
                           reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, seed=None):
    return _list_mle(labels, logits, weights, lambda_weight, reduction, seed, "both", None)


def approx_ndcg_loss(labels, logits, weights=None, reduction=Reduction.SUM, name=None, alpha=10.):
    return _approx_ndcg(labels, logits, weights, reduction, alpha, "value", None)[0]


def approx_ndcg_loss_grad(labels, logits, weights=None, reduction=Reduction.SUM, name=None, alpha=10.,
                          upstream=1.0):
    return _approx_ndcg(labels, logits, weights, reduction, alpha, "grad", upstream)[1]


def approx_ndcg_loss_and_grad(labels, logits, weights=None, reduction=Reduction.SUM, name=None, alpha=10.):
    return _approx_ndcg(labels, logits, weights, reduction, alpha, "both", None)


_LW_SOFTMAX = """    lambda_weight : lambda weight or None, default None
        With a :class:`DCGLambdaWeight`, replace each target label by its
        individual weight (gain times the discount of the item's position by
        score); other lambda weights are ignored, as in the original.
"""
_LW_MLE = """    lambda_weight : lambda weight or None, default None
        With a :class:`ListMLELambdaWeight`, weight position ``k`` of the
        ground-truth order by its discount; others are ignored.
"""
_SEED = """
    seed : int or None, default None
        Seed of the counter-based uniforms that break label ties of the
        ground-truth permutation (``0 <= seed < 2**64``; None draws one)."""
_ALPHA = """
    alpha : float, default 10.0
        Slope of the sigmoid in the approximate ranks."""
_SOFTMAX_NOTES = ("Per list, targets ``t_i = w_i * l_i`` (invalid items: target 0, logit ``log(1e-10)``); lists "
                  "with ``sum(t) > 0`` are kept and contribute ``sum(t) * CE(t / sum(t), softmax(s))``, reduced "
                  "with the per-list weights ``sum(t)``. ``Reduction.NONE`` returns one value per kept list.")
_POINT_NOTES = ("Invalid items are dropped; the remaining per-item losses are reduced with their item weights. "
                "``Reduction.NONE`` returns one value per valid item (row-major order).")
_MLE_NOTES = ("The negative log-likelihood ``sum_k (log sum_{q >= k} exp(s_(q)) - s_(k))`` of the items in "
              "descending label order (random tie-break), invalid items at logit ``log(1e-10)``. The suffix "
              "sums are accumulated in log space, so the value stays finite for any logits (the original's "
              "``log(cumsum(exp))`` can reach ``-inf`` in float32). TF's random stream cannot be reproduced: "
              "ties use the package's counter-based uniforms keyed by ``seed``.")
_APPROX_NOTES = ("Lists with a positive label sum are kept; ``cost = -DCG(approx_ranks) / maxDCG`` with gains "
                 "``2**l - 1`` and discounts ``1 / log1p(rank)``; invalid items take the logit ``min(s) - 1000``. "
                 "Scalar weights and ``B == 1`` work here (the original fails on them in ``boolean_mask``).")
_specs = [
    ("softmax_loss", "Softmax cross-entropy loss of each list.", _ITEM_W, _LW_SOFTMAX, "", _SOFTMAX_NOTES,
     "Reduction.SUM_BY_NONZERO_WEIGHTS"),
    ("sigmoid_cross_entropy_loss", "Sigmoid cross entropy of every valid item.", _ITEM_W, "", "", _POINT_NOTES,
     "Reduction.SUM_BY_NONZERO_WEIGHTS"),
    ("mean_squared_loss", "Squared error of every valid item.", _ITEM_W, "", "", _POINT_NOTES,
     "Reduction.SUM_BY_NONZERO_WEIGHTS"),
    ("list_mle_loss", "ListMLE loss (Xia et al. 2008) of each list.", _LIST_W, _LW_MLE, _SEED, _MLE_NOTES,
     "Reduction.SUM_BY_NONZERO_WEIGHTS"),
    ("approx_ndcg_loss", "ApproxNDCG loss (Qin et al.) of each list.", _LIST_W, "", _ALPHA, _APPROX_NOTES,
     "Reduction.SUM"),
]
for _base, _sum, _wdoc, _mid, _tail, _notes, _red in _specs:
    for _suffix, _kind, _s in [("", "value", _sum),
                               ("_grad", "grad", f"Gradient of :func:`{_base}` with respect to ``logits``."),
                               ("_and_grad", "both", f"Value and gradient of :func:`{_base}`.")]:
        _doc(_LIST_DOC, globals()[_base + _suffix], _s, _kind, weights_doc=_wdoc, middle=_mid, tail=_tail,
             notes=_notes, default_red=_red)


# ---------------------------------------------------------------------------
# Helpers of the original module.
# ---------------------------------------------------------------------------


def label_valid_fn(labels):
    """Return which labels are valid (``>= 0``).

    Parameters
    ----------
    labels : array
        Labels of any shape.

    Returns
    -------
    bool array
        ``labels >= 0``.
    """
    xp = array_module(labels=labels)
    return asarray(labels, xp) >= 0


def _argsort_desc(xp, x):
    """Stable descending order (ties by index), like ``tf.nn.top_k``."""
    if xp is np:
        return np.argsort(-x, axis=1, kind="stable")
    return xp.argsort(-x, axis=1)


def sort_by_scores(scores, features_list, topn=None):
    """Sort features of each list by descending score (ties by index, like ``tf.nn.top_k``).

    Parameters
    ----------
    scores : (B, L) array
        Per-item scores.
    features_list : list of (B, L) arrays
        Arrays to reorder.
    topn : int or None, default None
        Keep the first ``min(topn, L)`` items.

    Returns
    -------
    list of (B, min(topn, L)) arrays
        The sorted features.

    Raises
    ------
    ValueError
        If ``scores`` is not 2-D or a feature has another shape.
    """
    xp = array_module(scores=scores)
    scores = check_array("scores", asarray(scores, xp), ndim=2)
    topn = check_number("topn", topn, integer=True, low=0, allow_none=True)
    L = scores.shape[1]
    n = L if topn is None else min(topn, L)
    idx = _argsort_desc(xp, scores)[:, :n]
    out = []
    for k, f in enumerate(features_list):
        f = check_array(f"features_list[{k}]", asarray(f, xp), shape=tuple(scores.shape))
        out.append(xp.take_along_axis(f, idx, axis=1))
    return out


def organize_valid_indices(is_valid, shuffle=True, seed=None):
    """Indices that put the valid items of each list first.

    Parameters
    ----------
    is_valid : (B, L) bool array
        Item validity.
    shuffle : bool, default True
        Shuffle the valid items (counter-based uniforms keyed by ``seed``;
        TF's random stream cannot be reproduced). Without it, the valid items
        keep their order and invalid ones follow in reverse order, exactly as
        the original.
    seed : int or None, default None
        Seed of the uniforms, ``0 <= seed < 2**64``; None draws one.

    Returns
    -------
    (B, L, 2) int32 array
        ``[b, k] = (b, index of the k-th item)``, for ``gather_nd``-style use.

    Raises
    ------
    ValueError
        If ``is_valid`` is not 2-D.
    """
    xp = array_module(is_valid=is_valid)
    is_valid = check_array("is_valid", asarray(is_valid, xp), ndim=2)
    B, L = is_valid.shape
    if shuffle:
        s = check_seed(seed)
        counters = np.arange(B * L, dtype=np.uint64)
        with np.errstate(over="ignore"):
            values = np.asarray(_random.uniform01_float32(s, counters), np.float32).reshape(B, L)
        values = xp.asarray(values)
    else:
        values = xp.broadcast_to(xp.arange(L - 1, -1, -1).astype(np.float32), (B, L))
    rand = xp.where(is_valid.astype(bool), values, np.float32(-1e-6)).astype(np.float32)
    idx = _argsort_desc(xp, rand).astype(np.int32)
    batch = xp.broadcast_to(xp.arange(B, dtype=np.int32)[:, None], (B, L))
    return xp.stack([batch, idx], axis=2)


def shuffle_valid_indices(is_valid, seed=None):
    """Shuffled indices with the valid items first: ``organize_valid_indices(is_valid, True, seed)``.

    Parameters
    ----------
    is_valid : (B, L) bool array
        Item validity.
    seed : int or None, default None
        Seed of the uniforms.

    Returns
    -------
    (B, L, 2) int32 array
    """
    return organize_valid_indices(is_valid, shuffle=True, seed=seed)


def reshape_first_ndims(tensor, first_ndims, new_shape):
    """Reshape the first ``first_ndims`` dimensions of ``tensor`` to ``new_shape``.

    Parameters
    ----------
    tensor : array
        The input.
    first_ndims : int
        How many leading dimensions to replace.
    new_shape : sequence of int
        Their new shape.

    Returns
    -------
    array
        ``tensor.reshape(new_shape + tensor.shape[first_ndims:])``.

    Raises
    ------
    ValueError
        If ``tensor`` has fewer than ``first_ndims`` dimensions.
    """
    xp = array_module(tensor=tensor)
    tensor = asarray(tensor, xp)
    first_ndims = check_number("first_ndims", first_ndims, integer=True, low=0)
    if tensor.ndim < first_ndims:
        raise ValueError(f"tensor must have at least {first_ndims} dimensions, got shape {tuple(tensor.shape)}")
    return tensor.reshape(tuple(int(d) for d in new_shape) + tuple(tensor.shape[first_ndims:]))


def approx_ranks(logits, alpha=10.):
    """Smooth ranks ``0.5 + sum_j sigmoid(alpha (s_j - s_i))`` of every item (Qin et al.).

    Parameters
    ----------
    logits : (B, L) float32 or float64 array
        Scores.
    alpha : float, default 10.0
        Slope of the sigmoid.

    Returns
    -------
    (B, L) array
        Approximate 1-based ranks. Computed without ``B * L * L`` memory.

    Raises
    ------
    TypeError, ValueError
        If ``logits`` is not a 2-D float array.
    """
    xp = array_module(logits=logits)
    logits = xp.ascontiguousarray(check_array("logits", asarray(logits, xp), ndim=2, dtypes=_DTYPES))
    alpha = check_number("alpha", alpha)
    out = xp.zeros(logits.shape, logits.dtype)
    if logits.size:
        _call(xp, "approx_ranks", logits.size * logits.shape[1], xp.zeros_like(logits), logits,
              logits.dtype.type(alpha), logits.dtype.type(1), xp.empty(logits.shape, np.float64), out)
    return out


def inverse_max_dcg(labels, gain_fn=_gain_exp2, rank_discount_fn=_discount_log1p, topn=None):
    """Inverse of the ideal DCG of each list (0 where it is not positive).

    Parameters
    ----------
    labels : (B, L) float array
        Graded relevance (used as given; callers clean invalid labels).
    gain_fn : callable, default ``2**label - 1``
        Elementwise gain of a label array.
    rank_discount_fn : callable, default ``1 / log1p(rank)``
        Elementwise discount of a float array of 1-based ranks.
    topn : int or None, default None
        Cutoff of the ideal ranking.

    Returns
    -------
    (B, 1) array
        ``1 / sum_k gain(l_(k)) D(k)`` over the top ``topn`` labels, or 0.
    """
    xp = array_module(labels=labels)
    labels = check_array("labels", asarray(labels, xp), ndim=2, dtype_kinds="f")
    topn = _check_topn(topn)
    L = labels.shape[1]
    n = L if topn is None else min(topn, L)
    s = -xp.sort(-labels, axis=1)[:, :n]
    g = xp.asarray(gain_fn(s)).astype(labels.dtype)
    d = xp.asarray(rank_discount_fn(xp.arange(1, n + 1, dtype=labels.dtype))).astype(labels.dtype)
    dcg = (g * d).sum(axis=1, keepdims=True).astype(labels.dtype)
    return xp.where(dcg > 0, 1 / xp.where(dcg > 0, dcg, 1), 0).astype(labels.dtype)


def get_batch_idx_size(logits, labels, rank_id, name_prefix):
    """Group a flat batch into lists by ``rank_id`` (host, numpy).

    Parameters
    ----------
    logits : (N,) array
        Flat scores.
    labels : (N,) array
        Flat labels.
    rank_id : (N,) array
        List id of each example; lists are numbered by first appearance.
    name_prefix : str
        Ignored (TF op names).

    Returns
    -------
    tuple
        ``(logits_idx, label_idx, mask_idx, unique_idx)``: ``[U, max_count]``
        scattered logits and labels (labels minus ``1e-6``, so empty slots
        are ``-1e-6``, i.e. invalid), an ``[N, N]`` mask with ones at the
        scatter positions, and the index of the first example of each list.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    rank_id = np.asarray(rank_id)
    n = logits.shape[0]
    _, first, inverse, counts = np.unique(rank_id, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # unique ids in order of first appearance
    remap = np.empty_like(order)
    remap[order] = np.arange(order.size)
    row = remap[inverse.reshape(-1)]
    counts = counts[order]
    col = np.zeros(n, np.int64)
    seen = np.zeros(order.size, np.int64)
    for k in range(n):
        col[k] = seen[row[k]]
        seen[row[k]] += 1
    shape = (order.size, int(counts.max()) if n else 0)
    logits_idx = np.zeros(shape, logits.dtype)
    logits_idx[row, col] = logits
    label_idx = np.zeros(shape, labels.dtype)
    label_idx[row, col] = labels
    label_idx = label_idx - labels.dtype.type(1e-6) if labels.dtype.kind == "f" else label_idx - 1e-6
    mask_idx = np.zeros((n, n), logits.dtype)
    mask_idx[row, col] = 1
    unique_idx = np.sort(first)
    return logits_idx, label_idx, mask_idx, unique_idx.astype(np.int64)


class RankingLossKey:
    """Ranking loss key strings (the names :func:`make_loss_fn` accepts)."""

    PAIRWISE_HINGE_LOSS = "pairwise_hinge_loss"
    PAIRWISE_LOGISTIC_LOSS = "pairwise_logistic_loss"
    PAIRWISE_SOFT_ZERO_ONE_LOSS = "pairwise_soft_zero_one_loss"
    SOFTMAX_LOSS = "softmax_loss"
    SIGMOID_CROSS_ENTROPY_LOSS = "sigmoid_cross_entropy_loss"
    MEAN_SQUARED_LOSS = "mean_squared_loss"
    LIST_MLE_LOSS = "list_mle_loss"
    APPROX_NDCG_LOSS = "approx_ndcg_loss"


def make_loss_fn(loss_keys, loss_weights=None, weights_feature_name=None, lambda_weight=None,
                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, seed=None, extra_args=None):
    """Make a loss function from one ranking loss or a weighted sum of several.

    Parameters
    ----------
    loss_keys : str or list of str
        :class:`RankingLossKey` names.
    loss_weights : list of float or None, default None
        One weight per key (default 1 each).
    weights_feature_name : str or None, default None
        Key of the weights in the ``features`` dict given to the loss function.
    lambda_weight : lambda weight or None, default None
        Passed to the losses that take one.
    reduction : str, default Reduction.SUM_BY_NONZERO_WEIGHTS
        Any reduction of :class:`Reduction` except ``NONE``.
    name : str or None, default None
        Ignored.
    seed : int or None, default None
        Passed to ListMLE.
    extra_args : dict or None, default None
        Extra keyword arguments for every loss.

    Returns
    -------
    callable
        ``loss_fn(labels, logits, features)`` returning the combined loss; it
        raises ``ValueError`` for an unknown key. Its ``.grad(labels, logits,
        features)`` returns d(loss)/d(logits).

    Raises
    ------
    ValueError
        If ``reduction`` is invalid or ``NONE``, ``loss_keys`` is empty, or
        ``loss_weights`` has another length than ``loss_keys``.
    """
    if not isinstance(reduction, str) or reduction not in Reduction.all() or reduction == Reduction.NONE:
        raise ValueError(f"Invalid reduction: {reduction}")
    if not loss_keys:
        raise ValueError("loss_keys cannot be None or empty.")
    if not isinstance(loss_keys, list):
        loss_keys = [loss_keys]
    if loss_weights and len(loss_keys) != len(loss_weights):
        raise ValueError("loss_keys and loss_weights must have the same size.")

    with_lambda = {"pairwise_hinge_loss", "pairwise_logistic_loss", "pairwise_soft_zero_one_loss",
                   "softmax_loss", "list_mle_loss"}

    def _kwargs(key, labels, logits, features):
        kw = {"labels": labels, "logits": logits,
              "weights": features[weights_feature_name] if weights_feature_name else None,
              "reduction": reduction, "name": name}
        if extra_args is not None:
            kw.update(extra_args)
        if key in with_lambda:
            kw["lambda_weight"] = lambda_weight
        if key == "list_mle_loss":
            kw["seed"] = seed
        return kw

    def _combine(labels, logits, features, suffix):
        total = None
        for k, key in enumerate(loss_keys):
            if key not in _KEY_TO_FN:
                raise ValueError(f"Invalid loss_key: {key}.")
            v = globals()[key + suffix](**_kwargs(key, labels, logits, features))
            if loss_weights:
                v = v * loss_weights[k]
            total = v if total is None else total + v
        return total

    def _loss_fn(labels, logits, features):
        return _combine(labels, logits, features, "")

    _loss_fn.grad = lambda labels, logits, features: _combine(labels, logits, features, "_grad")
    return _loss_fn


_KEY_TO_FN = {v for k, v in vars(RankingLossKey).items() if not k.startswith("_")}
