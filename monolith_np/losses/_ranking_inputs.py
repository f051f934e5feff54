"""Shared input preparation of the ranking losses: argument checks, positions and ideal DCG, docstring pieces.

:func:`ranking_forms` makes the value, ``_grad`` and ``_and_grad`` functions
of one ranking loss (see :mod:`monolith_np.losses._forms`), exported from
:mod:`monolith_np.losses.ranking`.
"""

from __future__ import annotations

import numpy as np

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._compile import run_cpu
from .._dispatch import gpu_drivers
from ._forms import loss_forms
from ._ranking_cpu import prep_cpu
from ._ranking_reduce import _safe_div

_DTYPES = (np.float32, np.float64)
#: The smallest probability used for the logit of invalid items (``log(1e-10)``).
_EPSILON = 1e-10


# ---------------------------------------------------------------------------
# Argument checks (the public boundary of every ranking loss).
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


# ---------------------------------------------------------------------------
# Per-list precomputation (trusts its inputs).
# ---------------------------------------------------------------------------


def _prep(xp, labels, logits, gains, disc, cut, want_pos, want_ideal):
    """Positions by score and inverse ideal DCG per list."""
    B, L = labels.shape
    dt = logits.dtype
    pos = xp.zeros((B, L), np.int64)
    ideal = xp.zeros((B, L), dt)
    if (want_pos or want_ideal) and B * L:
        if gains.shape != (B, L):
            gains = xp.zeros((B, L), dt)
        args = (labels, logits, gains, disc, int(cut), bool(want_pos), bool(want_ideal), dt.type(1e-6), pos, ideal)
        if xp is np:
            run_cpu(prep_cpu, B * L * L, *args)
        else:
            gpu_drivers().ranking.prep_gpu(*args)
    dcg = ideal.sum(axis=1)
    inv = _safe_div(xp, xp.ones_like(dcg), dcg) if want_ideal else xp.ones((B,), dt)
    inv = xp.where(dcg > 0, inv, 0).astype(dt) if want_ideal else inv
    return pos, inv


# ---------------------------------------------------------------------------
# The three public forms of a ranking loss.
# ---------------------------------------------------------------------------

_COMMON_PARAMS = """    labels : (B, L) array
        Graded relevance; negative labels mark invalid items. Cast to the
        dtype of ``logits``.
    logits : (B, L) float32 or float64 array
        Ranking scores.
    weights : None, float or array, default None
        {weights_doc}
"""

#: Docstring of the list-wise and per-item losses (``str.format`` fields in braces).
_LIST_DOC = """{summary}

    Parameters
    ----------
""" + _COMMON_PARAMS + """{middle}    reduction : str, default {default_red}
        One of :meth:`Reduction.all`.
    name : str or None, default None
        Ignored (TF op name).{tail}

    Returns
    -------
    array
        The loss: a 0-d array, or the unreduced losses for ``Reduction.NONE``.

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

_UPSTREAM_DOC = """float or array, default 1.0
    The gradient of the objective with respect to the loss: a scalar, or
    (``Reduction.NONE``) an array shaped like the unreduced loss."""

_EXAMPLES = """
    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[2.0, 1.0, 0.0, -1.0]])  # the last item is invalid
    >>> logits = np.array([[0.2, 0.9, -0.4, 1.5]])
    >>> round(float({name}(labels, logits{kw})), 4)
    {value}
    >>> {name}_grad(labels, logits{kw}).round(4).tolist()
    {grad}
    >>> loss, grad = {name}_and_grad(labels, logits{kw})
    >>> loss.shape, grad.shape
    ((), (1, 4))
    """


def ranking_forms(run, doc, *, name, example_kw="", value, grad):
    """The value, ``_grad`` and ``_and_grad`` functions (a :class:`LossSpec`) of one ranking loss.

    ``doc`` is the value's docstring without Examples; the examples (shared
    by the three forms) are generated from ``example_kw`` (extra keyword
    arguments, e.g. ``", seed=0"``) and the expected ``value`` and ``grad``.
    """
    doc = doc.rstrip() + "\n" + _EXAMPLES.format(name=name, kw=example_kw, value=value, grad=grad)
    return loss_forms(run, doc, name=name, module="monolith_np.losses.ranking", wrt=("logits",),
                      grad_returns="(B, L) array\n    d(loss)/d(logits) times ``upstream``.",
                      upstream_doc=_UPSTREAM_DOC, and_grad_upstream=False)
