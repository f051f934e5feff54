"""Per-item ranking losses: sigmoid cross entropy and mean squared error.

Exported by :mod:`monolith_np.losses.ranking`; vectorised ``xp`` code over the
valid items.
"""

from __future__ import annotations

from ._forms import VALUE
from ._ranking_inputs import _ITEM_W, _LIST_DOC, _check_labels_logits, _check_upstream, _item_weights, ranking_forms
from ._ranking_reduce import Reduction, _denominator, _reduce


def _pointwise(kind, labels, logits, weights, reduction, want, upstream):
    """A per-item loss (``kind`` ``"sigmoid"`` or ``"mse"``): validation, the losses, the reduction."""
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
        if want == VALUE:
            return value, None
        up = _check_upstream(xp, upstream, value.shape, dt)
        factor = up
    else:
        up = _check_upstream(xp, upstream, None, dt)
        den = _denominator(reduction, wv.sum(), xp.count_nonzero(wv), losses.size)
        value, factor = _reduce(xp, (losses * wv).sum(), den, up, dt)
    grad = xp.zeros(logits.shape, dt)
    grad[valid] = (d * wv * factor).astype(dt)
    return value, grad


def _sigmoid_cross_entropy(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, *, want,
                           upstream):
    return _pointwise("sigmoid", labels, logits, weights, reduction, want, upstream)


def _mean_squared(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, *, want,
                  upstream):
    return _pointwise("mse", labels, logits, weights, reduction, want, upstream)


_NOTES = ("Invalid items are dropped; the remaining per-item losses are reduced with their item weights. "
          "``Reduction.NONE`` returns one value per valid item (row-major order).")

SIGMOID_CROSS_ENTROPY_SPEC = ranking_forms(
    _sigmoid_cross_entropy, _LIST_DOC.format(
        summary="Sigmoid cross entropy of every valid item.", weights_doc=_ITEM_W, middle="", tail="",
        default_red="Reduction.SUM_BY_NONZERO_WEIGHTS", notes=_NOTES),
    name="sigmoid_cross_entropy_loss", value="0.4174",
    grad="[[-0.4834, -0.0964, 0.1338, 0.0]]")
MEAN_SQUARED_SPEC = ranking_forms(
    _mean_squared, _LIST_DOC.format(
        summary="Squared error of every valid item.", weights_doc=_ITEM_W, middle="", tail="",
        default_red="Reduction.SUM_BY_NONZERO_WEIGHTS", notes=_NOTES),
    name="mean_squared_loss", value="1.1367",
    grad="[[-1.2, -0.0667, -0.2667, 0.0]]")
