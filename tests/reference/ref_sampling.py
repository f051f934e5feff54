"""References for :mod:`monolith_np.sampling` (SEMANTICS.md F.2).

- ``ref_gumbel_keys`` / ``ref_continuous_topk`` (``tf_continuous_topk`` on
  tensors, graph-compatible): TensorFlow transcriptions of Monolith's
  ``layers/utils.py`` ops. The Gumbel keys take the ``[0, 1)`` draws
  explicitly (TF1's stateful generator cannot be reproduced), and both work in
  the dtype of ``w`` (the original hard-codes float32).
- ``ref_continuous_topk_exact``: the same iteration in 50-digit decimal
  arithmetic, the yardstick for accuracy where float32 rounding decides
  (``1 - onehot`` for an element whose one-hot is within ulps of 1).
- ``ref_random_bits64`` / ``ref_uniform01_float32``: the counter-based hash of
  :mod:`monolith_np._random` on Python ints masked to 64 bits, independent of
  numpy's and numba's overflow behaviour; ``uniforms_from_gumbel_keys`` reads
  the uniforms back out of float64 Gumbel keys of zeros.
"""

from __future__ import annotations

import numpy as np

EPSILON = np.finfo(np.float32).tiny
_MASK = (1 << 64) - 1


def ref_gumbel_keys(w, r):
    """TF Gumbel keys ``w - log(-log(u))`` for given base draws.

    ``r`` holds the ``[0, 1)`` draws; they are scaled to ``[EPSILON, 1)`` the
    way ``tf.random_uniform(minval=EPSILON, maxval=1.0)`` scales its own draws.
    """
    import tensorflow as tf

    w = tf.constant(w)
    eps = tf.constant(EPSILON, dtype=w.dtype)
    r = tf.cast(tf.constant(np.asarray(r, dtype=np.float32)), w.dtype)
    u = r * (tf.constant(1.0, dtype=w.dtype) - eps) + eps
    return (w + -tf.math.log(-tf.math.log(u))).numpy()


def tf_continuous_topk(w, k, t, separate=False):
    """TF relaxed top-k on a tensor, with the original's cumulative update of the keys.

    Graph-compatible (the benchmark wraps it in ``tf.function``); returns tensors.
    """
    import tensorflow as tf

    eps = tf.constant(EPSILON, dtype=w.dtype)
    onehot = tf.zeros_like(w)
    rounds = []
    for _ in range(k):
        w = w + tf.math.log(tf.maximum(1.0 - onehot, eps))
        onehot = tf.nn.softmax(w / t, axis=-1)
        rounds.append(onehot)
    return rounds if separate else tf.reduce_sum(rounds, 0)


def ref_continuous_topk(w, k, t, separate=False):
    """:func:`tf_continuous_topk` run eagerly on a numpy array; numpy results."""
    import tensorflow as tf

    got = tf_continuous_topk(tf.constant(w), k, t, separate)
    return [a.numpy() for a in got] if separate else got.numpy()


def ref_continuous_topk_exact(w, k, t, separate=False, digits=50):
    """The relaxed top-k in decimal arithmetic (``t`` rounded to the dtype of ``w`` first)."""
    from decimal import Decimal, localcontext

    w = np.asarray(w)
    n = w.shape[-1]
    rounds = np.zeros((k,) + w.shape, dtype=np.float64)
    flat = rounds.reshape(k, -1, n)
    with localcontext() as ctx:
        ctx.prec = digits
        eps = Decimal(float(EPSILON))
        temp = Decimal(float(w.dtype.type(t)))
        for r, row in enumerate(w.reshape(-1, n)):
            cur = [Decimal(float(x)) for x in row]
            onehot = [Decimal(0)] * n
            for i in range(k):
                cur = [c + max(1 - a, eps).ln() for c, a in zip(cur, onehot)]
                x = [c / temp for c in cur]
                top = max(x)
                ex = [(v - top).exp() for v in x]
                total = sum(ex)
                onehot = [v / total for v in ex]
                flat[i, r] = [float(v) for v in onehot]
    if separate:
        return list(rounds)
    return rounds.sum(0)


def _mix64(x):
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def ref_random_bits64(seed, counter):
    """SplitMix64 counter-based bits on Python ints (wrap-around by masking)."""
    key = _mix64(int(seed) ^ 0x6A09E667F3BCC909)
    return _mix64((key + int(counter) * 0x9E3779B97F4A7C15) & _MASK)


def ref_uniform01_float32(seed, counters):
    """The 24-bit float32 uniforms for an iterable of counters."""
    bits = [ref_random_bits64(seed, c) >> 40 for c in counters]
    return np.asarray(bits, dtype=np.float64).astype(np.float32) * np.float32(2.0**-24)


def uniforms_from_gumbel_keys(keys):
    """The ``[0, 1)`` draws behind float64 Gumbel keys of zeros, recovered exactly.

    ``u = exp(-exp(-g))`` is exact to ~1e-15, far below the ``2**-24`` grid of
    the draws, so rounding to the grid gives them back bit for bit (``u ==
    EPSILON`` comes back as 0, the draw it was scaled from).
    """
    u = np.exp(-np.exp(-np.asarray(keys, np.float64)))
    return (np.round(u * 2.0**24) * 2.0**-24).astype(np.float32)
