"""References for :mod:`monolith_np.optim.clip`, written with TensorFlow.

* ``ref_global_norm``, ``ref_tf_clip_by_global_norm``, ``ref_clip_by_norm``,
  ``ref_clip_by_value``: TensorFlow's own ``tf.linalg.global_norm``,
  ``tf.clip_by_global_norm``, ``tf.clip_by_norm``, ``tf.clip_by_value``.
* ``ref_monolith_clip_by_global_norm``: a TF transcription of Monolith's
  ``clip_ops.clip_by_global_norm`` on the CPU (``tf.linalg.global_norm``, then
  the ``MonolithClipByGlobalNorm`` kernel: multiply by ``clip_norm / n`` when
  ``n > clip_norm``, else forward the inputs).
* ``ref_clip_gradients``: a TF transcription of the clipping step of
  ``feature_utils.apply_gradients_with_var_optimizer`` (with
  ``dense_reduce_mean`` applied before every mode, monolith_np's documented
  choice), using the two functions above and ``_gen_norm_warmup``.

Inputs are lists of numpy arrays; outputs are numpy arrays (and float norms).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

CLIP_BY_NORM, CLIP_BY_GLOBAL_NORM, CLIP_BY_VALUE, CLIP_BY_DENSE_AND_SPARSE, NO_CLIP = 1, 2, 3, 4, 5


def _tensors(t_list):
    return [tf.constant(t) for t in t_list]


def ref_global_norm(t_list):
    """``tf.linalg.global_norm`` as a numpy scalar."""
    return tf.linalg.global_norm(_tensors(t_list)).numpy()


def ref_tf_clip_by_global_norm(t_list, clip_norm, use_norm=None):
    """``tf.clip_by_global_norm``; returns ``(list of arrays, norm)``."""
    clipped, norm = tf.clip_by_global_norm(_tensors(t_list), clip_norm, use_norm=use_norm)
    return [c.numpy() for c in clipped], norm.numpy()


def _monolith_clip(tensors, clip_norm, norm):
    clip = tf.cast(clip_norm, norm.dtype)
    if bool(norm > clip):
        scale = clip / norm
        return [t * tf.cast(scale, t.dtype) for t in tensors]
    return list(tensors)


def ref_monolith_clip_by_global_norm(t_list, clip_norm, use_norm=None):
    """Monolith's CPU ``clip_by_global_norm`` in TF ops; returns ``(list of arrays, norm)``."""
    tensors = _tensors(t_list)
    if not tensors:
        return [], 0.0
    norm = tf.linalg.global_norm(tensors) if use_norm is None else tf.constant(use_norm, tensors[0].dtype)
    return [t.numpy() for t in _monolith_clip(tensors, clip_norm, norm)], norm.numpy()


def ref_clip_by_norm(t, clip_norm, axes=None):
    """``tf.clip_by_norm``."""
    return tf.clip_by_norm(tf.constant(t), clip_norm, axes=axes).numpy()


def ref_clip_by_value(t, clip_value_min, clip_value_max):
    """``tf.clip_by_value``."""
    return tf.clip_by_value(tf.constant(t), clip_value_min, clip_value_max).numpy()


def _norm_warmup(clip_norm, global_step, warmup_step):
    if not warmup_step:
        return clip_norm
    step = tf.constant(global_step, tf.int64)
    scale = tf.cond(tf.less(step, warmup_step),
                    lambda: tf.compat.v1.div(tf.cast(step, tf.float32), float(warmup_step)), lambda: 1.0)
    return scale * clip_norm


def ref_clip_gradients(dense_grads, sparse_grads, clip_type=CLIP_BY_GLOBAL_NORM, clip_norm=None, global_step=0,
                       dense_weight_decay=0.0, sparse_clip_norm=None, sparse_norm_warmup_steps=None,
                       dense_reduce_mean=False, batch_size=1, dense_vars=None):
    """The clipping step of ``apply_gradients_with_var_optimizer`` in TF ops; returns ``(dense, sparse)``."""
    dense = _tensors(dense_grads)
    sparse = _tensors(sparse_grads)
    if dense_reduce_mean:
        dense = [g / batch_size for g in dense]
    grads = dense + sparse
    if clip_type == CLIP_BY_GLOBAL_NORM and clip_norm is not None:
        norm = tf.linalg.global_norm(grads)
        sparse_clip = sparse_clip_norm or clip_norm
        if sparse_norm_warmup_steps is not None:
            sparse_clip = _norm_warmup(sparse_clip, global_step, sparse_norm_warmup_steps)
        dense = _monolith_clip(dense, clip_norm, norm) if dense else dense
        sparse = _monolith_clip(sparse, sparse_clip, norm) if sparse else sparse
    elif clip_type == CLIP_BY_DENSE_AND_SPARSE:
        if dense:
            dense = _monolith_clip(dense, clip_norm, tf.linalg.global_norm(dense))
        if sparse_clip_norm is not None and sparse:
            sparse = _monolith_clip(sparse, sparse_clip_norm, tf.linalg.global_norm(sparse))
    elif clip_type == CLIP_BY_VALUE and clip_norm is not None:
        dense = [tf.clip_by_value(g, -clip_norm, clip_norm) for g in dense]
        sparse = [tf.clip_by_value(g, -clip_norm, clip_norm) for g in sparse]
    elif clip_type == CLIP_BY_NORM and clip_norm is not None:
        dense = [tf.clip_by_norm(g, clip_norm) for g in dense]
        sparse = [tf.clip_by_norm(g, clip_norm) for g in sparse]
    if dense_weight_decay and dense:
        dense = [g + dense_weight_decay * tf.constant(v) for g, v in zip(dense, dense_vars)]
    return [np.asarray(g) for g in dense], [np.asarray(g) for g in sparse]
