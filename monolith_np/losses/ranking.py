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
O(B L^2) losses run fused kernels (the rules of :mod:`monolith_np._rules.ranking`,
compiled by :mod:`monolith_np.losses._ranking_cpu` for the CPU and
:mod:`monolith_np.cuda.ranking` for the GPU) that never allocate ``B * L * L``
memory, except for the ``[B, L, L]`` result that ``reduction=Reduction.NONE``
asks for. See ``docs/ranking-losses.md``.

This module is the documented home of every name; the code lives in private
modules by concern: ``_ranking_inputs`` (argument checks, per-list
precomputation, the shared docstrings), ``_ranking_reduce`` (reductions),
``_ranking_lambda`` (lambda weights), ``_ranking_pairwise``,
``_ranking_listwise`` (softmax, ListMLE, approx-NDCG), ``_ranking_pointwise``
(sigmoid cross entropy, mean squared) and ``_ranking_helpers`` (the original
module's helpers).
"""

from __future__ import annotations

from ._ranking_helpers import (
    approx_ranks,
    get_batch_idx_size,
    label_valid_fn,
    organize_valid_indices,
    reshape_first_ndims,
    shuffle_valid_indices,
    sort_by_scores,
)
from ._ranking_lambda import (
    DCGLambdaWeight,
    IdentityLambdaWeight,
    ListMLELambdaWeight,
    PrecisionLambdaWeight,
    create_ndcg_lambda_weight,
    create_p_list_mle_lambda_weight,
    create_reciprocal_rank_lambda_weight,
    inverse_max_dcg,
)
from ._ranking_listwise import APPROX_NDCG_SPEC, LIST_MLE_SPEC, SOFTMAX_SPEC
from ._ranking_pairwise import HINGE_SPEC, LOGISTIC_SPEC, SOFT_ZERO_ONE_SPEC
from ._ranking_pointwise import MEAN_SQUARED_SPEC, SIGMOID_CROSS_ENTROPY_SPEC
from ._ranking_reduce import Reduction, compute_weighted_loss

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

#: Every differentiable ranking loss by name (its three forms: :class:`monolith_np.losses._forms.LossSpec`).
_LOSSES = {spec.name: spec for spec in (HINGE_SPEC, LOGISTIC_SPEC, SOFT_ZERO_ONE_SPEC, SOFTMAX_SPEC,
                                        SIGMOID_CROSS_ENTROPY_SPEC, MEAN_SQUARED_SPEC, LIST_MLE_SPEC,
                                        APPROX_NDCG_SPEC)}

pairwise_hinge_loss, pairwise_hinge_loss_grad, pairwise_hinge_loss_and_grad = HINGE_SPEC.forms
pairwise_logistic_loss, pairwise_logistic_loss_grad, pairwise_logistic_loss_and_grad = LOGISTIC_SPEC.forms
pairwise_soft_zero_one_loss, pairwise_soft_zero_one_loss_grad, pairwise_soft_zero_one_loss_and_grad = \
    SOFT_ZERO_ONE_SPEC.forms
softmax_loss, softmax_loss_grad, softmax_loss_and_grad = SOFTMAX_SPEC.forms
sigmoid_cross_entropy_loss, sigmoid_cross_entropy_loss_grad, sigmoid_cross_entropy_loss_and_grad = \
    SIGMOID_CROSS_ENTROPY_SPEC.forms
mean_squared_loss, mean_squared_loss_grad, mean_squared_loss_and_grad = MEAN_SQUARED_SPEC.forms
list_mle_loss, list_mle_loss_grad, list_mle_loss_and_grad = LIST_MLE_SPEC.forms
approx_ndcg_loss, approx_ndcg_loss_grad, approx_ndcg_loss_and_grad = APPROX_NDCG_SPEC.forms


class RankingLossKey:
    """Ranking loss key strings (the names :func:`make_loss_fn` accepts).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import RankingLossKey, make_loss_fn
    >>> RankingLossKey.SOFTMAX_LOSS
    'softmax_loss'
    >>> loss_fn = make_loss_fn(RankingLossKey.SOFTMAX_LOSS)
    >>> round(float(loss_fn(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]), {})), 4)  # log(2)
    0.6931
    """

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

    Examples
    --------
    One pairwise hinge loss, summed, with per-list weights read from the features:

    >>> import numpy as np
    >>> from monolith_np.losses import RankingLossKey, Reduction, make_loss_fn
    >>> labels = np.array([[2.0, 1.0, 0.0]])
    >>> logits = np.array([[0.5, 1.0, 0.0]])
    >>> loss_fn = make_loss_fn(RankingLossKey.PAIRWISE_HINGE_LOSS, weights_feature_name="w",
    ...                        reduction=Reduction.SUM)
    >>> features = {"w": np.array([[2.0]])}
    >>> float(loss_fn(labels, logits, features))
    5.0
    >>> loss_fn.grad(labels, logits, features).tolist()
    [[-6.0, 2.0, 4.0]]

    A weighted sum of two losses:

    >>> loss_fn = make_loss_fn([RankingLossKey.PAIRWISE_HINGE_LOSS, RankingLossKey.MEAN_SQUARED_LOSS],
    ...                        loss_weights=[1.0, 0.5])
    >>> round(float(loss_fn(labels, logits, {})), 4)
    1.2083
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

    def _combine(labels, logits, features, form):
        """Sum of ``form(spec)(...)`` (a loss's value or gradient function) over the keys."""
        total = None
        for k, key in enumerate(loss_keys):
            if key not in _LOSSES:
                raise ValueError(f"Invalid loss_key: {key}.")
            v = form(_LOSSES[key])(**_kwargs(key, labels, logits, features))
            if loss_weights:
                v = v * loss_weights[k]
            total = v if total is None else total + v
        return total

    def _loss_fn(labels, logits, features):
        return _combine(labels, logits, features, lambda spec: spec.value)

    _loss_fn.grad = lambda labels, logits, features: _combine(labels, logits, features, lambda spec: spec.grad)
    return _loss_fn


# The names live in private modules by concern; this module is their documented
# (and pickled) home, as before the split.
for _name in __all__:
    if callable(globals()[_name]):
        globals()[_name].__module__ = __name__
del _name
