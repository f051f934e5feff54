"""What the framework adapters need to know about each differentiable loss.

``monolith_np.torch`` and ``monolith_np.tf`` wrap every loss of this package
as an autograd op from one table instead of one hand-written wrapper per loss:
the forward calls ``spec.value``, the backward calls ``spec.grad`` with the
caller's arguments plus ``upstream``.
"""

from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

from . import batch_softmax as _bs
from . import inbatch_auc as _auc
from . import loss_and_pred as _lp
from . import ranking as _rk


class LossSpec(NamedTuple):
    """One differentiable loss.

    ``value(*args, **kwargs)`` returns the loss (or ``(loss, pred)`` when
    ``n_outputs == 2``; the prediction gets no gradient), and
    ``grad(*args, upstream=g, **kwargs)`` returns the gradient with respect
    to the arguments named in ``wrt``: one array, or a tuple in ``wrt`` order
    when there are several.
    """

    value: Callable
    grad: Callable
    wrt: tuple
    n_outputs: int = 1

    def bind(self, args, kwargs):
        """The call's arguments by name, defaults filled in (``inspect.BoundArguments``)."""
        bound = inspect.signature(self.value).bind(*args, **kwargs)
        bound.apply_defaults()
        return bound


def _ranking(name):
    return LossSpec(getattr(_rk, name), getattr(_rk, name + "_grad"), ("logits",))


SPECS = {
    "batch_softmax_loss": LossSpec(_bs.batch_softmax_loss, _bs.batch_softmax_loss_grad, ("query", "item")),
    "inbatch_auc_loss": LossSpec(_auc.inbatch_auc_loss, _auc.inbatch_auc_loss_grad, ("logit",)),
    "get_sigmoid_loss_and_pred": LossSpec(_lp.get_sigmoid_loss_and_pred, _lp.get_sigmoid_loss_and_pred_grad,
                                          ("logits",), 2),
    "get_softmax_loss_and_pred": LossSpec(_lp.get_softmax_loss_and_pred, _lp.get_softmax_loss_and_pred_grad,
                                          ("logits",), 2),
    **{name: _ranking(name) for name in (
        "pairwise_hinge_loss", "pairwise_logistic_loss", "pairwise_soft_zero_one_loss", "softmax_loss",
        "sigmoid_cross_entropy_loss", "mean_squared_loss", "list_mle_loss", "approx_ndcg_loss")},
}
