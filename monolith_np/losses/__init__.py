"""Monolith's losses over plain arrays, each with its gradient.

* :mod:`~monolith_np.losses.batch_softmax` — ``batch_softmax_loss`` (in-batch
  sampled softmax with the item step-interval correction);
* :mod:`~monolith_np.losses.inbatch_auc` — ``inbatch_auc_loss`` (the pairwise
  log-likelihood custom op);
* :mod:`~monolith_np.losses.loss_and_pred` — ``get_sigmoid_loss_and_pred``,
  ``get_softmax_loss_and_pred`` and the logit correction;
* :mod:`~monolith_np.losses.ranking` — the learning-to-rank family of
  ``ltr_losses.py`` (pairwise, softmax, sigmoid, mean squared, ListMLE,
  approx-NDCG, lambda weights, reductions).

Every differentiable loss ``f`` comes with ``f_grad(..., upstream=1.0)`` and
``f_and_grad(...)``. All names are re-exported here; see ``docs/losses.md``
and ``docs/ranking-losses.md``.
"""

from . import batch_softmax, inbatch_auc, loss_and_pred, ranking
from .batch_softmax import *  # noqa: F401,F403
from .inbatch_auc import *  # noqa: F401,F403
from .loss_and_pred import *  # noqa: F401,F403
from .ranking import *  # noqa: F401,F403

__all__ = [
    "batch_softmax",
    "inbatch_auc",
    "loss_and_pred",
    "ranking",
    *batch_softmax.__all__,
    *inbatch_auc.__all__,
    *loss_and_pred.__all__,
    *ranking.__all__,
]
