"""Lambda weights of the LambdaLoss framework and their kernel setup (:mod:`monolith_np.losses.ranking`).

The classes and ``create_*`` factories are public (re-exported by
:mod:`monolith_np.losses.ranking`); :func:`_lambda_setup` turns a lambda weight
into the arrays and flags the ranking kernels read.
"""

from __future__ import annotations

import numpy as np

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._rules import ranking as R


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
    """A lambda weight of 1 for every pair (only the ``lambda_scale`` factor applies).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import IdentityLambdaWeight, pairwise_hinge_loss
    >>> labels = np.array([[2.0, 1.0, 0.0]])
    >>> logits = np.array([[0.5, 1.0, 0.0]])
    >>> loss = pairwise_hinge_loss(labels, logits, lambda_weight=IdentityLambdaWeight(), lambda_scale=False)
    >>> round(float(loss), 4)  # pairs weigh 1 instead of the label difference
    0.6667
    """

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

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.losses import IdentityLambdaWeight
        >>> IdentityLambdaWeight().pair_weights(np.array([[2.0, 1.0, 0.0]]))
        1.0
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

    Examples
    --------
    With the defaults (gain = label, discount ``1 / rank``), the pair at
    sorted positions 1 and 2 of labels 2 and 1 weighs ``|2 - 1| * |1 - 1/2|``:

    >>> import numpy as np
    >>> from monolith_np.losses import DCGLambdaWeight, pairwise_logistic_loss
    >>> weight = DCGLambdaWeight()
    >>> float(weight.pair_weights(np.array([[2.0, 1.0, 0.0]]))[0, 0, 1])
    0.5

    It is passed to a pairwise loss as ``lambda_weight``:

    >>> labels = np.array([[2.0, 1.0, 0.0]])
    >>> logits = np.array([[0.0, 0.0, 0.0]])
    >>> round(float(pairwise_logistic_loss(labels, logits, lambda_weight=weight)), 4)
    0.9242
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
            # the public function also checks the labels' dtype for pair_weights/individual_weights
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

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.losses import DCGLambdaWeight
        >>> DCGLambdaWeight().pair_weights(np.array([[2.0, 1.0, 0.0]])).round(4).tolist()
        [[[0.0, 0.5, 0.3333], [0.5, 0.0, 0.5], [0.3333, 0.5, 0.0]]]
        >>> DCGLambdaWeight(topn=1).pair_weights(np.array([[2.0, 1.0, 0.0]])).round(4).tolist()
        [[[0.0, 0.5, 1.0], [0.5, 0.0, 0.0], [1.0, 0.0, 0.0]]]
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

        Examples
        --------
        Gains ``2, 1, 0, 0`` times discounts ``1, 1/2, 1/3, 1/4``:

        >>> import numpy as np
        >>> from monolith_np.losses import DCGLambdaWeight
        >>> DCGLambdaWeight().individual_weights(np.array([[2.0, 1.0, 0.0, -1.0]])).tolist()
        [[2.0, 0.5, 0.0, 0.0]]
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

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import PrecisionLambdaWeight, pairwise_hinge_loss
    >>> weight = PrecisionLambdaWeight(topn=1)
    >>> labels = np.array([[0.0, 1.0, 1.0]])  # the top-scored item is not relevant
    >>> logits = np.array([[2.0, 1.0, 0.0]])
    >>> float(pairwise_hinge_loss(labels, logits, lambda_weight=weight, lambda_scale=False))
    2.5
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

        Examples
        --------
        Only pairs across the cutoff whose relevance differs count:

        >>> import numpy as np
        >>> from monolith_np.losses import PrecisionLambdaWeight
        >>> PrecisionLambdaWeight(topn=1).pair_weights(np.array([[0.0, 1.0, 1.0]])).tolist()
        [[[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]]
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

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import ListMLELambdaWeight, list_mle_loss
    >>> weight = ListMLELambdaWeight(rank_discount_fn=lambda rank: 1.0 / rank)
    >>> labels = np.array([[1.0, 0.0]])
    >>> logits = np.array([[0.0, 0.0]])
    >>> round(float(list_mle_loss(labels, logits, lambda_weight=weight, seed=0)), 4)
    0.6931
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

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.losses import ListMLELambdaWeight
        >>> ListMLELambdaWeight(lambda rank: 1.0 / rank).pair_weights(np.array([[2.0, 1.0]])).tolist()
        [[2.0, 1.0]]
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

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.losses import ListMLELambdaWeight
        >>> weight = ListMLELambdaWeight(rank_discount_fn=lambda rank: 1.0 / rank)
        >>> weight.individual_weights(np.zeros((2, 4))).tolist()
        [[1.0, 0.5, 0.3333333333333333, 0.25], [1.0, 0.5, 0.3333333333333333, 0.25]]
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

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import create_ndcg_lambda_weight, pairwise_logistic_loss
    >>> weight = create_ndcg_lambda_weight(topn=2)
    >>> sorted_labels = np.array([[2.0, 1.0, 0.0]])
    >>> weight.pair_weights(sorted_labels).round(4).tolist()
    [[[0.0, 0.2033, 0.1082], [0.2033, 0.0, 0.1016], [0.1082, 0.1016, 0.0]]]
    >>> labels = np.array([[0.0, 1.0, 2.0]])
    >>> logits = np.array([[1.0, 0.0, -1.0]])  # ranked in the worst order
    >>> round(float(pairwise_logistic_loss(labels, logits, lambda_weight=weight)), 4)
    0.6306
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

    Examples
    --------
    One relevant item: its gain 1 is divided by the ideal DCG 1, and the
    pair of sorted positions 1 and 2 weighs ``1 - 1/2``:

    >>> import numpy as np
    >>> from monolith_np.losses import create_reciprocal_rank_lambda_weight
    >>> weight = create_reciprocal_rank_lambda_weight()
    >>> weight.pair_weights(np.array([[0.0, 1.0]])).tolist()
    [[[0.0, 0.5], [0.5, 0.0]]]
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

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import create_p_list_mle_lambda_weight
    >>> weight = create_p_list_mle_lambda_weight(3)
    >>> weight.individual_weights(np.zeros((1, 3))).tolist()  # 2**(3 - rank) - 1
    [[3.0, 1.0, 0.0]]
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

    Examples
    --------
    With gain = label and discount ``1 / rank``, the ideal DCG of labels
    ``3, 1`` is ``3 + 1/2``; a list without relevance gets 0:

    >>> import numpy as np
    >>> from monolith_np.losses import inverse_max_dcg
    >>> labels = np.array([[1.0, 3.0], [0.0, 0.0]])
    >>> inverse_max_dcg(labels, gain_fn=lambda g: g, rank_discount_fn=lambda r: 1.0 / r).round(4).tolist()
    [[0.2857], [0.0]]
    >>> inverse_max_dcg(labels, topn=1).round(4).tolist()  # default: 2**label - 1 and 1 / log1p(rank)
    [[0.099], [0.0]]
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
