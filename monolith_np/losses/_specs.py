"""Every differentiable loss of :mod:`monolith_np.losses`, by name: the table the framework adapters read.

``monolith_np.torch`` and ``monolith_np.tf`` wrap every loss of this package
as an autograd op from this table instead of one hand-written wrapper per
loss: the forward calls ``spec.value``, the backward calls ``spec.grad`` with
the caller's arguments plus ``upstream``. Each entry is the
:class:`~monolith_np.losses._forms.LossSpec` that made the loss's three public
forms (:func:`~monolith_np.losses._forms.loss_forms`).
"""

from __future__ import annotations

from . import batch_softmax, inbatch_auc, loss_and_pred, ranking
from ._forms import LossSpec

__all__ = ["LossSpec", "SPECS"]

SPECS = {spec.name: spec for spec in (batch_softmax._SPEC, inbatch_auc._SPEC, loss_and_pred._SIGMOID,
                                      loss_and_pred._SOFTMAX, *ranking._LOSSES.values())}
