"""References for :mod:`monolith_np.ragged`: TensorFlow ops and naive numpy loops.

TF references (``ref_*``) express each original op with stock TF: ragged
``tf.reduce_sum``/``tf.reduce_mean`` (what Monolith's ``MonolithReduceSum``/
``MonolithReduceMean`` kernels compute), the ``to_sparse`` + ``tf.scatter_nd`` +
``tf.slice`` construction of the original ``FirstN``, ``tf.sequence_mask`` for
``GenSeqMask``, and a TF transcription of ``layers/utils.merge_tensor_list``.
Gradients come from ``tf.GradientTape`` with an explicit upstream gradient.

Naive references (``naive_*``) are sequential float loops in the original
kernels' order, used for bit-exact checks.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# ----------------------------------------------------------------------------
# TensorFlow
# ----------------------------------------------------------------------------


def _vjp(forward, values, upstream):
    """Run ``forward(values_tensor)`` and its VJP with ``upstream``; return numpy (out, d_values)."""
    v = tf.constant(values)
    with tf.GradientTape() as tape:
        tape.watch(v)
        out = forward(v)
    if upstream is None:
        return out.numpy(), None
    grad = tape.gradient(out, v, output_gradients=tf.constant(upstream, dtype=out.dtype))
    return out.numpy(), (np.zeros_like(values) if grad is None else tf.convert_to_tensor(grad).numpy())


def _ragged(values, row_splits):
    return tf.RaggedTensor.from_row_splits(values, tf.constant(np.asarray(row_splits, np.int64)))


def ref_reduce_sum(values, row_splits, upstream=None):
    """``tf.reduce_sum`` over the ragged axis, and its gradient for ``upstream`` (B, D)."""
    return _vjp(lambda v: tf.reduce_sum(_ragged(v, row_splits), axis=1), values, upstream)


def ref_reduce_mean(values, row_splits, upstream=None):
    """``tf.reduce_mean`` over the ragged axis (NaN for empty rows), and its gradient."""
    return _vjp(lambda v: tf.reduce_mean(_ragged(v, row_splits), axis=1), values, upstream)


def ref_segment_sum(values, value_rowids, nrows):
    """``tf.math.unsorted_segment_sum`` by row id (a peer in the benchmark)."""
    return tf.math.unsorted_segment_sum(values, value_rowids, nrows).numpy()


def ref_first_n(values, row_splits, n, upstream=None):
    """The original ``FirstN``: scatter ids into ``[B, max(n, longest), D]`` and slice ``n``."""

    def forward(v):
        key = _ragged(tf.zeros([int(row_splits[-1])], tf.int64), row_splits)
        sparse = key.to_sparse()
        shape = tf.stack(
            [key.nrows(), tf.math.reduce_max([tf.constant(n, tf.int64), sparse.dense_shape[1]]), v.shape[1]]
        )
        return tf.slice(tf.scatter_nd(sparse.indices, v, shape), [0, 0, 0], [-1, n, -1])

    return _vjp(forward, values, upstream)


def ref_gen_seq_mask(splits, max_seq_length):
    """``tf.sequence_mask(min(lengths, L), L)`` in the splits' dtype."""
    splits = np.asarray(splits)
    lengths = tf.constant(splits[1:] - splits[:-1])
    mask = tf.sequence_mask(tf.minimum(lengths, max_seq_length), max_seq_length, dtype=tf.as_dtype(splits.dtype))
    return mask.numpy()


def ref_merge_tensor_list(tensor_list, merge_type="concat", num_feature=None, axis=1, keep_list=False):
    """``layers/utils.merge_tensor_list`` transcribed to TF 2 eager; numpy in, numpy (or lists) out."""
    if isinstance(tensor_list, np.ndarray):
        tensor_list = [tensor_list]
    tensors = [tf.constant(t) for t in tensor_list]
    if merge_type not in ("stack", "concat", None):
        raise AssertionError(merge_type)

    def out(x):
        x = [x] if keep_list else x
        return _to_numpy(x)

    if len(tensors) == 1:
        (x,) = tensors
        shape = x.shape.as_list()
        if len(shape) == 3:
            if merge_type == "stack":
                return out(x)
            if merge_type == "concat":
                return out(tf.reshape(x, (shape[0], shape[1] * shape[2])))
            return _to_numpy(tf.unstack(x, axis=axis))
        if len(shape) == 2 and num_feature is not None and num_feature > 1:
            if merge_type == "concat":
                return out(x)
            x = tf.reshape(x, (shape[0], num_feature, int(shape[1] / num_feature)))
            return out(x) if merge_type == "stack" else _to_numpy(tf.unstack(x, axis=axis))
        if len(shape) == 2:
            return out(x)
        raise Exception(f"shape error: {shape}")
    if merge_type == "stack":
        return out(tf.stack(tensors, axis=axis))
    if merge_type == "concat":
        return out(tf.concat(tensors, axis=axis))
    return _to_numpy(tensors)


def _to_numpy(x):
    if isinstance(x, list):
        return [t.numpy() for t in x]
    return x.numpy()


# ----------------------------------------------------------------------------
# Naive loops in the original kernels' order (bit-exact references)
# ----------------------------------------------------------------------------


def naive_reduce(values, row_splits, mean):
    """Sequential per-row sum in the values' dtype; mean multiplies by ``dtype(1.0 / count)``."""
    values = np.asarray(values)
    dtype = values.dtype.type
    out = np.zeros((len(row_splits) - 1, values.shape[1]), values.dtype)
    for b in range(out.shape[0]):
        s, e = int(row_splits[b]), int(row_splits[b + 1])
        for i in range(s, e):
            out[b] += values[i]
        if mean:
            with np.errstate(divide="ignore", invalid="ignore"):
                out[b] *= dtype(np.float64(1.0) / np.float64(e - s))
    return out


def naive_reduce_grad(grad, row_splits, mean):
    """Id row ``i`` of row ``b`` gets ``grad[b]`` (times ``dtype(1.0 / count)`` for the mean)."""
    grad = np.asarray(grad)
    rows = []
    for b in range(grad.shape[0]):
        s, e = int(row_splits[b]), int(row_splits[b + 1])
        scale = grad.dtype.type(1.0 / (e - s)) if (mean and e > s) else grad.dtype.type(1)
        rows += [grad[b] * scale] * (e - s)
    return np.array(rows, grad.dtype).reshape(-1, grad.shape[1])
