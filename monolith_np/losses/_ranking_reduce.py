"""Loss reductions of the ranking losses: ``tf.compat.v1.losses.Reduction`` and ``compute_weighted_loss``.

Public names are re-exported by :mod:`monolith_np.losses.ranking`; the private
helpers (:func:`_denominator`, :func:`_reduce`) turn a weighted sum into the
reduced value and the factor its gradient is scaled by.
"""

from __future__ import annotations

import numpy as np

from .._backend import array_module, asarray
from .._checks import check_array

_DTYPES = (np.float32, np.float64)


class Reduction:
    """Loss reduction names, the same strings as ``tf.compat.v1.losses.Reduction``.

    ``NONE`` keeps the weighted per-element losses; ``SUM`` sums them; ``MEAN``
    divides the sum by the sum of the (broadcast) weights;
    ``SUM_OVER_BATCH_SIZE`` by the number of loss elements;
    ``SUM_BY_NONZERO_WEIGHTS`` (alias ``SUM_OVER_NONZERO_WEIGHTS``) by the
    number of nonzero (broadcast) weights. Every division returns 0 where the
    denominator is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import Reduction, compute_weighted_loss
    >>> Reduction.SUM, Reduction.SUM_OVER_NONZERO_WEIGHTS == Reduction.SUM_BY_NONZERO_WEIGHTS
    ('weighted_sum', True)
    >>> float(compute_weighted_loss(np.array([1.0, 3.0]), reduction=Reduction.MEAN))
    2.0
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
    w = check_array(name, asarray(w, xp), dtype_kinds="fiu")
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
        If ``losses`` is not a float array, or ``weights`` not a real one.
    ValueError
        If ``weights`` cannot be broadcast or ``reduction`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import Reduction, compute_weighted_loss
    >>> losses = np.array([1.0, 2.0, 3.0, 0.0])
    >>> weights = np.array([1.0, 1.0, 0.0, 2.0])
    >>> compute_weighted_loss(losses, weights, Reduction.NONE).tolist()
    [1.0, 2.0, 0.0, 0.0]
    >>> float(compute_weighted_loss(losses, weights, Reduction.SUM))
    3.0
    >>> float(compute_weighted_loss(losses, weights))  # divided by the 3 nonzero weights
    1.0
    >>> float(compute_weighted_loss(losses, weights, Reduction.MEAN))  # by the weights' sum 4
    0.75
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
    # Summed in C order, so the result does not depend on the memory layout of ``losses``.
    return _reduce(xp, xp.ascontiguousarray(weighted).sum(), den, 1.0, losses.dtype)[0]
