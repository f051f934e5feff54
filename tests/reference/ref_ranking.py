"""TensorFlow reference for :mod:`monolith_np.losses.ranking`.

An independent transcription, in TF2 ops, of Monolith's
``native_training/losses/ltr_losses.py`` (the learning-to-rank losses adapted
from TF-Ranking): the helpers (``label_valid_fn``, ``sort_by_scores``,
``organize_valid_indices``, ``reshape_first_ndims``, ``approx_ranks``,
``inverse_max_dcg``, ``get_batch_idx_size``), the lambda weights, the eight
losses and ``make_loss_fn``. Every function takes numpy arrays or tensors,
returns tensors, and works eagerly and inside ``tf.function`` (the benchmark
wraps the losses in one, the parity tests take gradients with
``tf.GradientTape``).

Where this reference departs from a literal transcription, on purpose:

- dtype: the original hard-codes float32 in several places (``to_float``,
  the cast of the item weights, ``compute_weighted_loss`` casting to float32).
  Here everything is computed in the dtype of ``logits``. For float32 inputs
  the reduction *is* ``tf.compat.v1.losses.compute_weighted_loss``; for other
  dtypes :func:`compute_weighted_loss` is a replica of it (same broadcast
  check, same ``div_no_nan`` denominators) that does not round to float32.
- ListMLE: the original shuffles the valid entries with TF's stateful RNG
  before sorting them by label, so the order among *tied valid labels* is
  random and cannot be reproduced. :func:`list_mle_loss` takes an explicit
  ``shuffled_indices`` ([B, L, 2], the output format of
  :func:`organize_valid_indices`) and, when it is not given, uses the
  deterministic ``shuffle=False`` ordering (valid entries first, in their
  original order). Any shuffle gives the same loss when the valid labels of
  each list are pairwise distinct; the parity tests compare only such inputs
  (invalid entries may repeat: they all become label 0 / logit log(1e-10) and
  stay behind the valid ones, so their order does not matter).
- pairwise logistic: ``smooth_at_ties=True`` swaps the original's stable
  formula for ``softplus``: same values, but the exact gradient (-w/2 per pair)
  at tied logits, where TF's gradient of the original formula is 0.
- approx-NDCG weights: the original ``squeeze``s the list weights and then
  ``boolean_mask``s them, which raises for a batch of one list (the squeeze
  leaves a scalar) and for scalar weights. Here ``None``, a scalar and a
  [B, 1] tensor all become one weight per list; item-wise [B, L] weights raise
  ``ValueError`` like the original (the weights cannot be broadcast to the
  per-list costs).
"""

from __future__ import annotations

import numpy as np

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover - the tests skip without TensorFlow
    tf = None

EPSILON = 1e-10


# --- reductions -----------------------------------------------------------------------


class Reduction:
    """The reduction names of ``tf.compat.v1.losses.Reduction``."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_OVER_NONZERO_WEIGHTS,
                cls.SUM_BY_NONZERO_WEIGHTS)


def _check_broadcastable(weights, losses):
    """The static part of ``weights_broadcast_ops.assert_broadcastable``."""
    ws, ls = weights.shape, losses.shape
    if ws.rank is None or ls.rank is None or ws.rank == 0:
        return
    if ws.rank != ls.rank:
        raise ValueError(f"weights can not be broadcast to values: weights rank {ws.rank}, values rank {ls.rank}")
    for w, v in zip(ws.as_list(), ls.as_list()):
        if w is not None and v is not None and w != 1 and w != v:
            raise ValueError(f"weights can not be broadcast to values: weights shape {ws}, values shape {ls}")


def compute_weighted_loss(losses, weights=1.0, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """``tf.compat.v1.losses.compute_weighted_loss`` in the dtype of ``losses``.

    float32 losses go through the TF function itself; other dtypes through a
    replica of it without the float32 round trip.
    """
    losses = tf.convert_to_tensor(losses)
    if losses.dtype == tf.float32:
        return tf.compat.v1.losses.compute_weighted_loss(losses, weights=weights, reduction=reduction)
    if reduction not in Reduction.all():
        raise ValueError(f"Invalid Reduction Key {reduction}.")
    dtype = losses.dtype
    weights = tf.cast(tf.convert_to_tensor(weights), dtype)
    _check_broadcastable(weights, losses)
    weighted = losses * weights
    if reduction == Reduction.NONE:
        return weighted
    total = tf.reduce_sum(weighted)
    if reduction == Reduction.MEAN:
        return tf.math.divide_no_nan(total, tf.reduce_sum(tf.ones_like(losses) * weights))
    if reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
        present = tf.where(tf.equal(weights, 0), tf.zeros_like(weights), tf.ones_like(weights))
        return tf.math.divide_no_nan(total, tf.reduce_sum(present * tf.ones_like(losses)))
    if reduction == Reduction.SUM_OVER_BATCH_SIZE:
        return tf.math.divide_no_nan(total, tf.cast(tf.size(losses), dtype))
    return total


# --- helpers -------------------------------------------------------------------------------


def label_valid_fn(labels):
    """Boolean tensor: which labels are valid (``>= 0``)."""
    return tf.greater_equal(tf.convert_to_tensor(labels), 0)


def sort_by_scores(scores, features_list, topn=None):
    """Gather every feature of ``features_list`` in descending order of ``scores`` (rows of [B, L]).

    Ties keep the lower index first (``tf.math.top_k``); at most ``topn`` columns.
    """
    scores = tf.convert_to_tensor(scores)
    scores.shape.assert_has_rank(2)
    list_size = tf.shape(scores)[1]
    k = list_size if topn is None else tf.minimum(topn, list_size)
    _, indices = tf.math.top_k(scores, k, sorted=True)
    return [tf.gather(tf.convert_to_tensor(f), indices, batch_dims=1) for f in features_list]


def organize_valid_indices(is_valid, shuffle=True, seed=None):
    """[B, L, 2] (list, item) indices with the valid items of each list first.

    ``shuffle=False`` keeps the valid items in their original order (then the
    invalid ones, in their original order); ``shuffle=True`` draws TF random
    keys (not reproducible outside TF).
    """
    is_valid = tf.convert_to_tensor(is_valid)
    is_valid.shape.assert_has_rank(2)
    shape = tf.shape(is_valid)
    if shuffle:
        values = tf.random.uniform(shape, seed=seed)
    else:
        values = tf.ones(shape, tf.float32) * tf.reverse(tf.cast(tf.range(shape[1]), tf.float32), [-1])
    keys = tf.where(is_valid, values, tf.ones(shape) * -1e-6)
    _, indices = tf.math.top_k(keys, shape[1], sorted=True)
    batch_ids = tf.ones_like(indices) * tf.expand_dims(tf.range(shape[0]), 1)
    return tf.stack([batch_ids, indices], axis=2)


def shuffle_valid_indices(is_valid, seed=None):
    """:func:`organize_valid_indices` with ``shuffle=True``."""
    return organize_valid_indices(is_valid, shuffle=True, seed=seed)


def reshape_first_ndims(tensor, first_ndims, new_shape):
    """Replace the first ``first_ndims`` dimensions of ``tensor`` by ``new_shape``."""
    if not isinstance(tensor, tf.SparseTensor):
        tensor = tf.convert_to_tensor(tensor)
    rank = tensor.shape.rank
    assert rank is None or rank >= first_ndims, f"Tensor shape is less than {first_ndims} dims."
    shape = tf.shape(tensor, out_type=tf.int64) if isinstance(tensor, tf.SparseTensor) else tf.shape(tensor)
    full = tf.concat([tf.cast(new_shape, shape.dtype), shape[first_ndims:]], 0)
    if isinstance(tensor, tf.SparseTensor):
        return tf.sparse.reshape(tensor, full)
    return tf.reshape(tensor, full)


def approx_ranks(logits, alpha=10.0):
    """Smooth ranks ``0.5 + sum_j sigmoid(alpha * (s_j - s_i))`` (the j = i term adds another 0.5)."""
    logits = tf.convert_to_tensor(logits)
    diff = tf.expand_dims(logits, 1) - tf.expand_dims(logits, 2)  # [b, i, j] = s_j - s_i
    return tf.reduce_sum(tf.sigmoid(alpha * diff), -1) + 0.5


def _default_gain(labels):
    return 2.0 ** labels - 1.0


def _default_discount(rank):
    return 1.0 / tf.math.log1p(rank)


def inverse_max_dcg(labels, gain_fn=_default_gain, rank_discount_fn=_default_discount, topn=None):
    """[B, 1]: one over the ideal DCG of each list (0 where that DCG is not positive)."""
    labels = tf.convert_to_tensor(labels)
    (ideal,) = sort_by_scores(labels, [labels], topn=topn)
    rank = tf.cast(tf.range(tf.shape(ideal)[1]) + 1, labels.dtype)
    dcg = tf.reduce_sum(gain_fn(ideal) * rank_discount_fn(rank), 1, keepdims=True)
    return tf.where(dcg > 0, 1.0 / tf.where(dcg > 0, dcg, tf.ones_like(dcg)), tf.zeros_like(dcg))


def get_batch_idx_size(logits, labels, rank_id, name_prefix):
    """Group a flat batch into lists by ``rank_id`` (order of first appearance).

    Returns ``(logits_idx [U, C], label_idx [U, C], mask_idx [N, N], unique_idx [U])``:
    the logits and labels scattered to (group, position in group) with C the
    largest group; labels shifted by -1e-6 (padding becomes -1e-6, invalid);
    ones at the same positions of an N x N zero matrix; the first item of each group.
    """
    logits = tf.convert_to_tensor(logits)
    labels = tf.convert_to_tensor(labels)
    n = tf.shape(logits)[0]
    _, group, count = tf.unique_with_counts(rank_id)
    groups = tf.shape(count)[0]
    member = tf.cast(tf.equal(tf.expand_dims(group, 0), tf.expand_dims(tf.range(groups), 1)), tf.int32)
    position = tf.reduce_sum(member * tf.cumsum(member, axis=1, exclusive=True), axis=0)
    idx = tf.stack([group, position], axis=1)
    shape = tf.stack([groups, tf.reduce_max(count)])
    logits_idx = tf.scatter_nd(idx, logits, shape, name=name_prefix + "logits_idx")
    label_idx = tf.scatter_nd(idx, labels, shape, name=name_prefix + "label_idx") - 1e-6
    mask_idx = tf.scatter_nd(idx, tf.ones_like(logits), tf.stack([n, n]), name=name_prefix + "mask_idx")
    unique_idx = tf.argmax(member, axis=1)
    return logits_idx, label_idx, mask_idx, unique_idx


# --- lambda weights ---------------------------------------------------------------------------


class _LambdaWeight:
    """Base of the lambda weights (LambdaLoss framework)."""

    def _valid_pairs_and_clean_labels(self, sorted_labels):
        sorted_labels = tf.convert_to_tensor(sorted_labels)
        sorted_labels.shape.assert_has_rank(2)
        valid = label_valid_fn(sorted_labels)
        pairs = tf.logical_and(tf.expand_dims(valid, 2), tf.expand_dims(valid, 1))
        return pairs, tf.where(valid, sorted_labels, tf.zeros_like(sorted_labels))

    def pair_weights(self, sorted_labels):
        raise NotImplementedError

    def individual_weights(self, sorted_labels):
        return sorted_labels


class IdentityLambdaWeight(_LambdaWeight):
    def pair_weights(self, sorted_labels):
        return 1.0


class DCGLambdaWeight(_LambdaWeight):
    """DCG lambda weights: |gain_i - gain_j| times a rank discount (LambdaLoss u, LambdaMART v)."""

    def __init__(self, topn=None, gain_fn=lambda label: label, rank_discount_fn=lambda rank: 1.0 / rank,
                 normalized=False, smooth_fraction=0.0):
        assert 0.0 <= smooth_fraction <= 1.0, f"smooth_fraction {smooth_fraction} should be in range [0, 1]."
        self._topn = topn
        self._gain_fn = gain_fn
        self._rank_discount_fn = rank_discount_fn
        self._normalized = normalized
        self._smooth_fraction = smooth_fraction

    def _gain(self, labels):
        gain = self._gain_fn(labels)
        if self._normalized:
            gain *= inverse_max_dcg(labels, gain_fn=self._gain_fn, rank_discount_fn=self._rank_discount_fn,
                                    topn=self._topn)
        return gain

    def pair_weights(self, sorted_labels):
        valid_pair, labels = self._valid_pairs_and_clean_labels(sorted_labels)
        dtype = labels.dtype
        gain = self._gain(labels)
        pair_gain = (tf.expand_dims(gain, 2) - tf.expand_dims(gain, 1)) * tf.cast(valid_pair, dtype)
        list_size = tf.shape(labels)[1]
        topn = self._topn or list_size
        rank = tf.range(list_size) + 1
        # u: discount of the relative rank difference (ranks past topn capped to topn + 1)
        capped = tf.where(rank > topn, tf.ones_like(rank) * (topn + 1), rank)
        diff = tf.cast(tf.abs(tf.expand_dims(capped, 1) - tf.expand_dims(capped, 0)), dtype)
        u = tf.where(diff > 0, tf.abs(self._rank_discount_fn(diff) - self._rank_discount_fn(diff + 1.0)),
                     tf.zeros_like(diff))
        # v: LambdaMART's |D(r_i) - D(r_j)|, D = 0 past topn
        rank_f = tf.cast(rank, dtype)
        disc = tf.where(rank > topn, tf.zeros_like(rank_f), self._rank_discount_fn(rank_f))
        v = tf.abs(tf.expand_dims(disc, 1) - tf.expand_dims(disc, 0))
        discount = (1.0 - self._smooth_fraction) * u + self._smooth_fraction * v
        weight = tf.abs(pair_gain) * discount
        if self._topn is None:
            return weight
        in_top = rank <= self._topn
        mask = tf.logical_or(tf.expand_dims(in_top, 1), tf.expand_dims(in_top, 0))
        return weight * tf.cast(mask, dtype)

    def individual_weights(self, sorted_labels):
        sorted_labels = tf.convert_to_tensor(sorted_labels)
        labels = tf.where(label_valid_fn(sorted_labels), sorted_labels, tf.zeros_like(sorted_labels))
        gain = self._gain(labels)
        rank = tf.cast(tf.range(tf.shape(labels)[1]) + 1, labels.dtype)
        return gain * self._rank_discount_fn(rank)


class PrecisionLambdaWeight(_LambdaWeight):
    """Precision@topn lambda weights: 1 for pairs of different relevance straddling the cut."""

    def __init__(self, topn, positive_fn=lambda label: label >= 1.0):
        self._topn = topn
        self._positive_fn = positive_fn

    def pair_weights(self, sorted_labels):
        valid_pair, labels = self._valid_pairs_and_clean_labels(sorted_labels)
        dtype = labels.dtype
        binary = tf.cast(self._positive_fn(labels), dtype)
        diff = tf.abs(tf.expand_dims(binary, 2) - tf.expand_dims(binary, 1)) * tf.cast(valid_pair, dtype)
        in_top = tf.range(tf.shape(labels)[1]) + 1 <= self._topn
        mask = tf.math.logical_xor(tf.expand_dims(in_top, 1), tf.expand_dims(in_top, 0))
        return diff * tf.cast(mask, dtype)


class ListMLELambdaWeight(_LambdaWeight):
    """Position weights for ListMLE (``rank_discount_fn`` of the 1-based position)."""

    def __init__(self, rank_discount_fn):
        self._rank_discount_fn = rank_discount_fn

    def pair_weights(self, sorted_labels):
        return sorted_labels

    def individual_weights(self, sorted_labels):
        sorted_labels = tf.convert_to_tensor(sorted_labels)
        rank = tf.cast(tf.range(tf.shape(sorted_labels)[1]) + 1, sorted_labels.dtype)
        return tf.ones_like(sorted_labels) * self._rank_discount_fn(rank)


def create_ndcg_lambda_weight(topn=None, smooth_fraction=0.0):
    return DCGLambdaWeight(topn, gain_fn=_default_gain, rank_discount_fn=_default_discount, normalized=True,
                           smooth_fraction=smooth_fraction)


def create_reciprocal_rank_lambda_weight(topn=None, smooth_fraction=0.0):
    return DCGLambdaWeight(topn, gain_fn=lambda labels: labels, rank_discount_fn=lambda rank: 1.0 / rank,
                           normalized=True, smooth_fraction=smooth_fraction)


def create_p_list_mle_lambda_weight(list_size):
    return ListMLELambdaWeight(rank_discount_fn=lambda rank: 2.0 ** (list_size - rank) - 1.0)


# --- losses -----------------------------------------------------------------------------------------


def _inputs(labels, logits, weights):
    logits = tf.convert_to_tensor(logits)
    logits.shape.assert_has_rank(2)
    labels = tf.cast(tf.convert_to_tensor(labels), logits.dtype)
    logits.shape.assert_is_compatible_with(labels.shape)
    weights = 1.0 if weights is None else weights
    weights = tf.cast(tf.convert_to_tensor(weights), logits.dtype)
    return labels, logits, weights


def _sort_and_normalize(labels, logits, weights):
    """Labels, logits and item weights sorted by logit (invalid entries last)."""
    labels, logits, weights = _inputs(labels, logits, weights)
    weights = tf.ones_like(labels) * weights
    scores = tf.where(labels >= 0, logits, -1e-6 * tf.ones_like(logits) + tf.reduce_min(logits, 1, keepdims=True))
    return sort_by_scores(scores, [labels, logits, weights])


def _pairwise_comparison(sorted_labels, sorted_logits, sorted_weights, lambda_weight=None):
    dtype = sorted_logits.dtype
    label_diff = tf.expand_dims(sorted_labels, 2) - tf.expand_dims(sorted_labels, 1)
    pairwise_logits = tf.expand_dims(sorted_logits, 2) - tf.expand_dims(sorted_logits, 1)
    pairwise_labels = tf.cast(label_diff > 0, dtype)
    valid = label_valid_fn(sorted_labels)
    valid_pair = tf.logical_and(tf.expand_dims(valid, 2), tf.expand_dims(valid, 1))
    w = pairwise_labels * tf.cast(valid_pair, dtype) * tf.expand_dims(sorted_weights, 2)
    if lambda_weight is not None:
        w *= lambda_weight.pair_weights(sorted_labels)
    else:
        w *= tf.abs(label_diff)
    return pairwise_labels, pairwise_logits, tf.stop_gradient(w)


def _pairwise_loss(loss_fn, labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                   reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    sorted_labels, sorted_logits, sorted_weights = _sort_and_normalize(labels, logits, weights)
    _, pairwise_logits, pairwise_weights = _pairwise_comparison(sorted_labels, sorted_logits, sorted_weights,
                                                                lambda_weight)
    if lambda_weight is not None and lambda_scale:
        pairwise_weights *= tf.cast(tf.shape(sorted_labels)[1], pairwise_weights.dtype)
    return compute_weighted_loss(loss_fn(pairwise_logits), weights=pairwise_weights, reduction=reduction)


def pairwise_hinge_loss(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                        reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    """Sum over pairs with l_i > l_j of w * relu(1 - (s_i - s_j))."""
    return _pairwise_loss(lambda x: tf.nn.relu(1.0 - x), labels, logits, weights, lambda_weight, lambda_scale,
                          reduction)


def pairwise_logistic_loss(labels, logits, weights=None, lambda_weight=None, lambda_scale=True,
                           reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None, smooth_at_ties=False):
    """Sum over pairs with l_i > l_j of w * log(1 + exp(-(s_i - s_j))) (stable form).

    The original writes the pair loss as ``relu(-x) + log1p(exp(-|x|))``, whose
    TF gradient at ``x = 0`` (tied logits) is 0 (``relu'(0) = sign(0) = 0``)
    although the function is smooth there with derivative -1/2.
    ``smooth_at_ties=True`` computes the same values as ``softplus(-x)``, whose
    gradient is exact everywhere.
    """
    if smooth_at_ties:
        fn = lambda x: tf.math.softplus(-x)  # noqa: E731
    else:
        fn = lambda x: tf.nn.relu(-x) + tf.math.log1p(tf.exp(-tf.abs(x)))  # noqa: E731
    return _pairwise_loss(fn, labels, logits, weights, lambda_weight, lambda_scale, reduction)


def pairwise_soft_zero_one_loss(labels, logits, weights=None, lambda_weight=None,
                                reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    """Sum over pairs with l_i > l_j of w * (1 - sigmoid(s_i - s_j)); lambda weights always scaled by L."""
    return _pairwise_loss(lambda x: tf.where(x > 0, 1.0 - tf.sigmoid(x), tf.sigmoid(-x)), labels, logits, weights,
                          lambda_weight, True, reduction)


def softmax_loss(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                 name=None):
    """Listwise softmax cross entropy against the (weighted) label distribution, weighted by its mass."""
    sorted_labels, sorted_logits, sorted_weights = _sort_and_normalize(labels, logits, weights)
    dtype = sorted_logits.dtype
    valid = label_valid_fn(sorted_labels)
    sorted_labels = tf.where(valid, sorted_labels, tf.zeros_like(sorted_labels))
    pad = tf.math.log(tf.constant(EPSILON, dtype))  # ~zero weight in the softmax
    sorted_logits = tf.where(valid, sorted_logits, pad * tf.ones_like(sorted_logits))
    if lambda_weight is not None and isinstance(lambda_weight, DCGLambdaWeight):
        sorted_labels = lambda_weight.individual_weights(sorted_labels)
    sorted_labels *= sorted_weights
    label_sum = tf.reduce_sum(sorted_labels, 1, keepdims=True)
    keep = tf.reshape(label_sum, [-1]) > 0
    label_sum, sorted_labels, sorted_logits = [
        tf.boolean_mask(x, keep) for x in (label_sum, sorted_labels, sorted_logits)]
    target = tf.stop_gradient(sorted_labels / label_sum)
    losses = tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=sorted_logits)
    return compute_weighted_loss(losses, weights=tf.reshape(label_sum, [-1]), reduction=reduction)


def _masked_vectors(labels, logits, weights):
    labels, logits, weights = _inputs(labels, logits, weights)
    valid = tf.reshape(label_valid_fn(labels), [-1])
    weights = tf.ones_like(labels) * weights
    return [tf.boolean_mask(tf.reshape(x, [-1]), valid) for x in (labels, logits, weights)]


def sigmoid_cross_entropy_loss(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    """Per-item sigmoid cross entropy over the valid items."""
    y, s, w = _masked_vectors(labels, logits, weights)
    return compute_weighted_loss(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=s), weights=w,
                                 reduction=reduction)


def mean_squared_loss(labels, logits, weights=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS, name=None):
    """Per-item squared error over the valid items."""
    y, s, w = _masked_vectors(labels, logits, weights)
    return compute_weighted_loss(tf.math.squared_difference(s, y), weights=w, reduction=reduction)


def list_mle_loss(labels, logits, weights=None, lambda_weight=None, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                  name=None, seed=None, shuffled_indices=None):
    """ListMLE negative log-likelihood of the label order.

    ``shuffled_indices`` ([B, L, 2]) replaces the original's random shuffle of
    the valid entries; ``None`` means ``organize_valid_indices(valid, shuffle=False)``
    (``seed`` is accepted and ignored).
    """
    logits = tf.convert_to_tensor(logits)
    dtype = logits.dtype
    labels = tf.cast(tf.convert_to_tensor(labels), dtype)
    valid = label_valid_fn(labels)
    labels = tf.where(valid, labels, tf.zeros_like(labels))
    logits = tf.where(valid, logits, tf.math.log(tf.constant(EPSILON, dtype)) * tf.ones_like(logits))
    weights = tf.constant(1.0, dtype) if weights is None else tf.cast(tf.convert_to_tensor(weights), dtype)
    weights = tf.squeeze(weights)
    if shuffled_indices is None:
        shuffled_indices = organize_valid_indices(valid, shuffle=False)
    shuffled_labels = tf.gather_nd(labels, shuffled_indices)
    shuffled_logits = tf.gather_nd(logits, shuffled_indices)
    sorted_labels, sorted_logits = sort_by_scores(shuffled_labels, [shuffled_labels, shuffled_logits])
    sorted_logits = sorted_logits - tf.reduce_max(sorted_logits, axis=1, keepdims=True)
    sums = tf.math.log(tf.cumsum(tf.exp(sorted_logits), axis=1, reverse=True)) - sorted_logits
    if lambda_weight is not None and isinstance(lambda_weight, ListMLELambdaWeight):
        sums *= lambda_weight.individual_weights(sorted_labels)
    return compute_weighted_loss(tf.reduce_sum(sums, 1), weights=weights, reduction=reduction)


def approx_ndcg_loss(labels, logits, weights=None, reduction=Reduction.SUM, name=None, alpha=10.0):
    """Negative ApproxNDCG of each list with a positive label sum, weighted per list."""
    logits = tf.convert_to_tensor(logits)
    dtype = logits.dtype
    labels = tf.cast(tf.convert_to_tensor(labels), dtype)
    valid = label_valid_fn(labels)
    labels = tf.where(valid, labels, tf.zeros_like(labels))
    logits = tf.where(valid, logits, -1e3 * tf.ones_like(logits) + tf.reduce_min(logits, axis=-1, keepdims=True))
    label_sum = tf.reduce_sum(labels, 1, keepdims=True)
    if weights is None:
        weights = tf.ones_like(label_sum)
    weights = tf.cast(tf.convert_to_tensor(weights), dtype)
    if weights.shape.rank == 2 and weights.shape[1] != 1:
        raise ValueError(f"approx_ndcg_loss takes list weights ([B, 1] or scalar), got shape {weights.shape}")
    weights = tf.reshape(tf.ones_like(label_sum) * weights, [-1])  # one weight per list
    keep = tf.reshape(label_sum, [-1]) > 0
    labels, logits, weights = [tf.boolean_mask(x, keep) for x in (labels, logits, weights)]
    gains = 2.0 ** labels - 1.0
    ranks = approx_ranks(logits, alpha=alpha)
    dcg = tf.reduce_sum(gains / tf.math.log1p(ranks), -1)
    cost = -dcg * tf.reshape(inverse_max_dcg(labels), [-1])
    return compute_weighted_loss(cost, weights=weights, reduction=reduction)


# --- make_loss_fn ------------------------------------------------------------------------------------


class RankingLossKey:
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
    """``loss_fn(labels, logits, features)``: the (weighted) sum of the named losses."""
    if reduction not in Reduction.all() or reduction == Reduction.NONE:
        raise ValueError(f"Invalid reduction: {reduction}")
    if not loss_keys:
        raise ValueError("loss_keys cannot be None or empty.")
    if loss_weights and len(loss_keys) != len(loss_weights):
        raise ValueError("loss_keys and loss_weights must have the same size.")
    if not isinstance(loss_keys, list):
        loss_keys = [loss_keys]

    def _loss_fn(labels, logits, features):
        weights = features[weights_feature_name] if weights_feature_name else None
        base = {"labels": labels, "logits": logits, "weights": weights, "reduction": reduction, "name": name}
        if extra_args is not None:
            base.update(extra_args)
        with_lambda = dict(base, lambda_weight=lambda_weight)
        with_seed = dict(with_lambda, seed=seed)
        table = {
            RankingLossKey.PAIRWISE_HINGE_LOSS: (pairwise_hinge_loss, with_lambda),
            RankingLossKey.PAIRWISE_LOGISTIC_LOSS: (pairwise_logistic_loss, with_lambda),
            RankingLossKey.PAIRWISE_SOFT_ZERO_ONE_LOSS: (pairwise_soft_zero_one_loss, with_lambda),
            RankingLossKey.SOFTMAX_LOSS: (softmax_loss, with_lambda),
            RankingLossKey.SIGMOID_CROSS_ENTROPY_LOSS: (sigmoid_cross_entropy_loss, base),
            RankingLossKey.MEAN_SQUARED_LOSS: (mean_squared_loss, base),
            RankingLossKey.LIST_MLE_LOSS: (list_mle_loss, with_seed),
            RankingLossKey.APPROX_NDCG_LOSS: (approx_ndcg_loss, base),
        }
        values = []
        for key in loss_keys:
            if key not in table:
                raise ValueError(f"Invalid loss_key: {key}.")
            fn, kwargs = table[key]
            values.append(fn(**kwargs))
        if loss_weights:
            values = [v * w for v, w in zip(values, loss_weights)]
        return tf.add_n(values)

    return _loss_fn


LOSSES = {
    "pairwise_hinge_loss": pairwise_hinge_loss,
    "pairwise_logistic_loss": pairwise_logistic_loss,
    "pairwise_soft_zero_one_loss": pairwise_soft_zero_one_loss,
    "softmax_loss": softmax_loss,
    "sigmoid_cross_entropy_loss": sigmoid_cross_entropy_loss,
    "mean_squared_loss": mean_squared_loss,
    "list_mle_loss": list_mle_loss,
    "approx_ndcg_loss": approx_ndcg_loss,
}


def loss_and_grad(name, labels, logits, upstream=None, **kwargs):
    """(loss, d loss / d logits) of the named reference loss, as numpy (eager ``GradientTape``).

    The gradient is that of ``sum(upstream * loss)`` (``upstream=None``: of
    ``sum(loss)``), so an unreduced loss can take a per-element upstream.
    """
    x = tf.constant(np.asarray(logits))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = LOSSES[name](labels, x, **kwargs)
        total = tf.reduce_sum(loss if upstream is None else loss * tf.cast(upstream, loss.dtype))
    grad = tape.gradient(total, x)
    grad = tf.zeros_like(x) if grad is None else grad
    return loss.numpy(), grad.numpy()

