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

import numpy as np

from .._compile import jitable
from .._random import uniform
from . import vmath
from .reduce import as_type_of, lane_max, lane_sum

__all__ = ["gumbel_key", "continuous_topk_row", "sample_subset_row"]


@jitable(inline=True)
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
    return w - vmath.log(-vmath.log(u))


@jitable
def _relaxed_topk(cur, k, t, eps, out, y, q):
    """Run the k softmax rounds on the running keys ``cur`` (updated in place).

    ``out`` is ``(m, n)``: round ``i`` adds its one-hot into ``out[i % m]``, so
    ``m == 1`` sums the rounds and ``m == k`` keeps them apart. ``y`` and ``q``
    are scratch rows of ``n``.

    Round i's one-hot is ``e[j] / sum(e)`` with ``e[j] = exp(cur[j] / t - x_max)``
    and ``x_max = max(cur) / t``, so ``e == 1`` exactly at the maximum and its
    ties. ``y`` holds ``e`` below the maximum and ``0 * e`` at it (NaN, as TF's
    ``inf - inf``, at an infinite maximum): its sum ``rest`` is the other
    elements' share, and for a unique maximum ``1 - onehot`` is taken as
    ``rest / total``, the same number without the cancellation of ``1 - p``
    when ``p`` is a few ulps below 1. A one-hot that rounds to exactly 1 still
    gets the mask ``eps``, as in TF.

    Every loop over the row is free of branches and of running sums (maxima
    and sums go through :mod:`.reduce`, in an order fixed by ``n``), and
    ``exp``/``log`` are :mod:`.vmath`'s, so a CPU compilation runs each loop
    on SIMD registers.
    """
    n = cur.shape[0]
    slots = out.shape[0]
    one = eps / eps
    zero = eps - eps
    for s in range(slots):
        for j in range(n):
            out[s, j] = zero
    for i in range(k):
        top = lane_max(cur)
        x_max = top / t
        ties = 0
        for j in range(n):
            at_top = cur[j] == top
            ties += 1 if at_top else 0
            e = vmath.exp(cur[j] / t - x_max)
            y[j] = e * zero if at_top else e
        rest = as_type_of(lane_sum(y), eps)
        inv = one / (rest + as_type_of(ties, eps))
        slot = i % slots
        if i + 1 == k:
            for j in range(n):
                out[slot, j] += inv if cur[j] == top else y[j] * inv
            break
        lead = (ties == 1) & (rest < one) & (inv < one)
        lead_q = rest * inv
        for j in range(n):
            cj = cur[j]
            at_top = cj == top
            p = inv if at_top else y[j] * inv
            out[slot, j] += p
            qj = lead_q if at_top & lead else one - p
            cur[j] = cj + vmath.log(max(qj, eps))  # the next round's mask; log(1) == 0 for most


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
    scratch : (3, n) float array
        Running keys, the round's exponentials and the masks; overwritten.
    """
    cur = scratch[0]
    for j in range(w.shape[0]):
        cur[j] = w[j]
    _relaxed_topk(cur, k, t, eps, out, scratch[1], scratch[2])


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
    _relaxed_topk(cur, k, t, eps, out, scratch[1], scratch[2])
