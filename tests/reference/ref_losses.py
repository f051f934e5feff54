"""References for the non-ranking losses (SEMANTICS.md C.1, F.1, F.5).

- ``tf_batch_softmax_loss``: TensorFlow transcription of the original
  ``batch_softmax_loss`` (no max subtraction, ``1 / interval`` then ``log``),
  in the dtype of the inputs; differentiable with ``tf.GradientTape``.
- ``ref_inbatch_auc_loss`` / ``ref_inbatch_auc_loss_grad``: the custom op's
  loops transcribed in Python float64 (the op is C++, TF cannot differentiate
  it, so the gradient reference is a direct transcription of the grad op).
  ``tf_inbatch_auc_loss`` is the same forward math in TF ops (pair matrix).
- ``tf_log_sigmoid`` / ``tf_logit_correction``: ``LogitCorrection`` in TF ops.
- ``tf_sigmoid_loss_and_pred`` / ``tf_softmax_loss_and_pred``: the bodies of
  ``native_model.get_sigmoid_loss_and_pred`` / ``get_softmax_loss_and_pred``
  in TF ops (PREDICT is ``"infer"``).
"""

from __future__ import annotations

import math

import numpy as np


def tf_batch_softmax_loss(query, item, item_step_interval, r, normalize=True, temperature=1.0):
    """The original's math on tensors (graph-compatible)."""
    import tensorflow as tf

    if temperature <= 0:
        raise ValueError(f"temperature should be positive, while got {temperature}")
    if normalize:
        query = tf.linalg.l2_normalize(query, axis=1)
        item = tf.linalg.l2_normalize(item, axis=1)
    sim = tf.matmul(query, item, transpose_b=True) / tf.constant(temperature, dtype=query.dtype)
    interval = tf.math.maximum(item_step_interval, tf.constant([1.0], dtype=query.dtype))
    freq = 1 / interval
    sim = tf.math.exp(sim - tf.math.log(freq))
    return -tf.reduce_sum(r * tf.math.log(tf.linalg.tensor_diag_part(sim) / tf.reduce_sum(sim, axis=1)))


def ref_batch_softmax_loss_and_grad(query, item, item_step_interval, r, normalize=True, temperature=1.0):
    """Eager TF loss and ``tf.GradientTape`` gradients (numpy results)."""
    import tensorflow as tf

    q = tf.constant(query)
    i = tf.constant(item)
    iv = tf.constant(np.asarray(item_step_interval, dtype=query.dtype))
    rr = tf.constant(np.asarray(r, dtype=query.dtype))
    with tf.GradientTape() as tape:
        tape.watch([q, i])
        loss = tf_batch_softmax_loss(q, i, iv, rr, normalize, temperature)
    dq, di = tape.gradient(loss, [q, i])
    return loss.numpy(), dq.numpy(), di.numpy()


def _auc_sets(label, logit):
    label = np.asarray(label, dtype=np.float64).reshape(-1)
    pos = [i for i, v in enumerate(label) if v > 0]
    neg = [j for j, v in enumerate(label) if -10000 < v <= 0]
    return pos, neg


def ref_inbatch_auc_loss(label, logit):
    """The forward op's loop; pair differences in the logit dtype, terms in float64."""
    logit = np.asarray(logit)
    flat = logit.reshape(-1)
    pos, neg = _auc_sets(label, logit)
    total = 0.0
    for i in pos:
        for j in neg:
            d = float(flat[i] - flat[j])
            if -87 < d < 88:
                total += d - math.log(1.0 + math.exp(d))
            elif d <= -87:
                total += d
    return total


def ref_inbatch_auc_loss_grad(label, logit, neg_weight=1.0, grad=1.0):
    """The grad op's loop in float64 (``grad`` is the upstream scalar)."""
    logit = np.asarray(logit)
    flat = logit.reshape(-1)
    pos, neg = _auc_sets(label, logit)
    out = np.zeros(flat.shape, dtype=np.float64)
    for i in pos:
        for j in neg:
            d = float(flat[i] - flat[j])
            if -87 < d < 88:
                g = 1.0 - 1.0 / (1.0 + math.exp(-d))
            elif d <= -87:
                g = 1.0
            else:
                g = 0.0
            out[i] += g
            out[j] -= neg_weight * g
    return (out * grad).reshape(logit.shape)


def tf_inbatch_auc_loss(label, logit):
    """The forward math in TF ops over the ``P x N`` pair matrix (float64 terms)."""
    import tensorflow as tf

    label = tf.reshape(tf.cast(label, tf.float64), [-1])
    logit = tf.reshape(logit, [-1])
    pos = tf.boolean_mask(logit, label > 0)
    neg = tf.boolean_mask(logit, (label <= 0) & (label > -10000))
    d = tf.cast(pos[:, None] - neg[None, :], tf.float64)
    mid = d - tf.math.log(1.0 + tf.exp(tf.clip_by_value(d, -87.0, 88.0)))
    term = tf.where(d <= -87.0, d, tf.where(d >= 88.0, tf.zeros_like(d), mid))
    return tf.reduce_sum(term)


def tf_log_sigmoid(logits):
    """``LogitCorrection.safe_log_sigmoid`` in TF ops."""
    import tensorflow as tf

    zeros = tf.zeros_like(logits)
    cond = logits >= zeros
    relu = tf.where(cond, logits, zeros)
    neg_abs = tf.where(cond, -logits, logits)
    return tf.negative(relu - logits + tf.math.log1p(tf.exp(neg_abs)))


def tf_logit_correction(logits, sample_rate, sample_bias):
    """``LogitCorrection.get_sample_logits`` in TF ops."""
    import tensorflow as tf

    if sample_rate is None and sample_bias:
        return tf_log_sigmoid(logits)
    if sample_rate is not None and not sample_bias:
        return tf.add(logits, tf.negative(tf.math.log(sample_rate)))
    if sample_rate is not None and sample_bias:
        return tf.add(tf_log_sigmoid(logits), tf.negative(tf.math.log(sample_rate)))
    return logits


def tf_sigmoid_loss_and_pred(logits, label, sample_rate=1.0, sample_bias=False, mode="train",
                             instance_weight=None, mask=None, logit_clip_threshold=None,
                             predict_before_correction=True):
    """``get_sigmoid_loss_and_pred``'s body on tensors; returns ``(loss or None, pred)``."""
    import tensorflow as tf

    logits = tf.reshape(logits, (-1,))
    n = tf.shape(logits)[0]
    if mode == "infer":
        return None, tf.nn.sigmoid(logits)
    if sample_rate is not None and isinstance(sample_rate, float):
        sample_rate = tf.fill((n,), tf.constant(sample_rate, dtype=logits.dtype))
    if sample_rate is None:
        sample_rate = tf.fill((n,), tf.constant(1.0, dtype=logits.dtype))
    z = tf_logit_correction(logits, sample_rate, sample_bias)
    pred = tf.nn.sigmoid(logits) if predict_before_correction else tf.nn.sigmoid(z)
    if logit_clip_threshold is not None:
        t = math.log((1 - logit_clip_threshold) / logit_clip_threshold)
        z = tf.clip_by_value(z, tf.constant(-t, dtype=z.dtype), tf.constant(t, dtype=z.dtype))
    losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.reshape(label, (-1,)), logits=z)
    if instance_weight is not None:
        instance_weight = tf.reshape(instance_weight, (-1,))
    if mask is not None:
        mask = tf.reshape(mask, (-1,))
        losses = tf.boolean_mask(losses, mask)
        if instance_weight is not None:
            instance_weight = tf.boolean_mask(instance_weight, mask)
    if instance_weight is not None:
        losses = losses * instance_weight
    return tf.reduce_sum(losses), pred


def ref_sigmoid_loss_pred_grad(logits, label, upstream=1.0, **kwargs):
    """Eager ``tf_sigmoid_loss_and_pred`` plus the tape gradient w.r.t. the logits (numpy)."""
    import tensorflow as tf

    x = tf.constant(logits)
    conv = {}
    for key in ("instance_weight", "sample_rate"):
        v = kwargs.get(key)
        if isinstance(v, np.ndarray):
            conv[key] = tf.constant(v.astype(logits.dtype))
    if isinstance(kwargs.get("mask"), np.ndarray):
        conv["mask"] = tf.constant(kwargs["mask"].astype(bool))
    kwargs = {**kwargs, **conv}
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss, pred = tf_sigmoid_loss_and_pred(x, tf.constant(np.asarray(label, dtype=logits.dtype)), **kwargs)
    if loss is None:
        return None, pred.numpy(), None
    grad = tape.gradient(loss, x)
    grad = np.zeros_like(logits) if grad is None else grad.numpy() * upstream
    return loss.numpy(), pred.numpy(), grad


def tf_softmax_loss_and_pred(logits, label, mode="train"):
    """``get_softmax_loss_and_pred``'s body on tensors."""
    import tensorflow as tf

    pred = tf.argmax(tf.nn.softmax(logits), axis=1)
    if mode == "infer":
        return None, pred
    return tf.nn.softmax_cross_entropy_with_logits(labels=label, logits=logits), pred
