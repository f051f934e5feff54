"""Gumbel top-k rules: one element's Gumbel key and one row's relaxed top-k.

The math of :mod:`monolith_np.sampling`, written once as plain functions over
scalars and 1-D row views:

- :func:`gumbel_key` -- one element's key ``w - log(-log(u))``;
- :func:`continuous_topk_row` / :func:`sample_subset_row` -- one row's relaxed
  k-hot, keeping the running keys in caller-provided scratch.

:mod:`monolith_np.sampling` compiles them for the CPU and
:mod:`monolith_np.cuda.sampling` for the GPU. They allocate nothing and raise
nothing. ``eps`` is :data:`monolith_np.sampling.EPSILON` in the compute dtype;
constants are derived from it, so float32 inputs are computed in float32 and
float64 inputs in float64. Randomness comes from the counter-based hash in
:mod:`monolith_np._random`, with the element's flat index as counter, so CPU
and GPU draw the same uniforms bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from .._compile import jitable
from .._random import uniform

__all__ = ["gumbel_key", "continuous_topk_row", "sample_subset_row"]


@jitable
def gumbel_key(w, seed, counter, eps):
    """Return one Gumbel key ``w - log(-log(u))``.

    Parameters
    ----------
    w : float scalar
        The log-weight.
    seed : np.uint64
        The stream's seed.
    counter : np.uint64
        The element's flat index (selects the uniform).
    eps : float scalar
        ``EPSILON`` in the compute dtype (that of ``w``).

    Returns
    -------
    float scalar
        ``w - log(-log(u))`` with ``u = r * (1 - eps) + eps``, ``r`` the
        24-bit uniform of :func:`monolith_np._random.uniform01_float32`.
    """
    one = eps / eps
    u = uniform(seed, counter, eps, one)
    return w - math.log(-math.log(u))


@jitable
def _row_argmax(x):
    jm = 0
    for j in range(1, x.shape[0]):
        if x[j] > x[jm]:
            jm = j
    return jm


@jitable
def _shifted_exp(cur, t, c, jm, y, eps):
    """Set ``y[j] = exp(cur[j] / t - c)``; return the sum over ``j != jm``."""
    rest = eps - eps
    for j in range(cur.shape[0]):
        v = math.exp(cur[j] / t - c)
        y[j] = v
        if j != jm:
            rest += v
    return rest


@jitable
def _relaxed_topk(cur, k, t, eps, out, y):
    """Run the k softmax rounds on the running keys ``cur`` (updated in place).

    ``out`` is ``(m, n)``: round ``i`` adds its one-hot into ``out[i % m]``, so
    ``m == 1`` sums the rounds and ``m == k`` keeps them apart.

    Round i's one-hot is ``e[j] / sum(e)`` with ``e[j] = exp(cur[j] / t - x_max)``
    and ``x_max = max(cur) / t = cur[jm] / t`` (t > 0), so ``e == 1`` exactly
    at the maximum and its ties. Elsewhere ``y`` caches ``exp(cur[j] / t - c)``
    for a reference ``c >= x_max`` and ``e[j] = y[j] * exp(c - x_max)``: a
    round re-evaluates ``exp`` only where its mask changed ``cur`` (most
    elements have ``1 - onehot == 1`` and keep their key). ``c`` moves to
    ``x_max`` (all of ``y`` recomputed) once the maximum has fallen by more
    than ``-log(eps) / 4`` (about 22), which keeps ``y`` clear of underflow for
    everything above ``exp(-82)`` times the maximum.

    For a unique leading element, ``1 - onehot`` is taken as ``rest / total``
    (the other elements' share): the same number without the cancellation of
    ``1 - p`` when ``p`` is a few ulps below 1. A one-hot that rounds to
    exactly 1 still gets the mask ``eps``, as in TF.
    """
    n = cur.shape[0]
    slots = out.shape[0]
    one = eps / eps
    zero = eps - eps
    span = -math.log(eps) / (one + one + one + one)
    for s in range(slots):
        for j in range(n):
            out[s, j] = zero
    jm = _row_argmax(cur)
    c = cur[jm] / t
    rest_y = _shifted_exp(cur, t, c, jm, y, eps)  # sum of y over j != jm
    for i in range(k):
        top = cur[jm]
        x_max = top / t
        if c - x_max > span:
            c = x_max
            rest_y = _shifted_exp(cur, t, c, jm, y, eps)
        scale = math.exp(c - x_max)
        rest = rest_y * scale
        inv = one / (one + rest)
        scale_inv = scale * inv  # onehot = y * scale_inv below the maximum
        slot = i % slots
        if i + 1 == k:
            for j in range(n):
                out[slot, j] += inv if cur[j] == top else y[j] * scale_inv
            break
        lead = jm if rest < one and inv < one else -1
        # Add this round's one-hot, apply the next round's mask
        # log(max(1 - onehot, eps)), and find the next jm and rest_y.
        rest_y = zero
        new_top = zero
        y_top = zero
        for j in range(n):
            cj = cur[j]
            yj = y[j]
            p = inv if cj == top else yj * scale_inv
            out[slot, j] += p
            q = rest * inv if j == lead else one - p
            if q != one:  # log(1) == 0: nothing to do for the many tiny p
                moved = cj + math.log(max(q, eps))
                if moved != cj:
                    cj = moved
                    yj = math.exp(moved / t - c)
                    cur[j] = cj
                    y[j] = yj
            if j == 0 or cj > new_top:
                if j > 0:
                    rest_y += y_top
                jm = j
                new_top = cj
                y_top = yj
            else:
                rest_y += yj


@jitable
def continuous_topk_row(w, k, t, eps, out, scratch):
    """Relaxed top-k of one row (rule; ``n >= 1``).

    Parameters
    ----------
    w : (n,) float array
        The row's keys (read only).
    k : int
        Number of softmax rounds, ``>= 1``.
    t : float scalar
        Temperature in the compute dtype, ``> 0``.
    eps : float scalar
        ``EPSILON`` in the compute dtype.
    out : (m, n) float array
        Overwritten: the sum of the k one-hots (``m == 1``) or each one-hot
        (``m == k``).
    scratch : (2, n) float array
        Running keys and cached exponentials; overwritten.
    """
    cur = scratch[0]
    for j in range(w.shape[0]):
        cur[j] = w[j]
    _relaxed_topk(cur, k, t, eps, out, scratch[1])


@jitable
def sample_subset_row(w, seed, offset, k, t, eps, out, scratch):
    """Gumbel keys then relaxed top-k of one row, fused (rule; ``n >= 1``).

    Parameters
    ----------
    w : (n,) float array
        The row's log-weights (read only).
    seed : np.uint64
        The stream's seed.
    offset : np.uint64
        Flat index of ``w[0]`` (the counter of its uniform).
    k, t, eps, out, scratch : see :func:`continuous_topk_row`
        The same arguments as there.
    """
    cur = scratch[0]
    for j in range(w.shape[0]):
        cur[j] = gumbel_key(w[j], seed, offset + np.uint64(j), eps)
    _relaxed_topk(cur, k, t, eps, out, scratch[1])
