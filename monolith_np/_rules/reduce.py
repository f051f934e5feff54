"""Fixed-order float sums that a compiled loop can vectorise.

A loop that adds into one scalar (``total += v``) is a chain of dependent
additions: without reassociation LLVM may neither vectorise it nor the rest
of the loop body around it. Drivers whose per-element work should vectorise
write the terms into a buffer and sum it here, in an order fixed by the
buffer's length alone (so results never depend on the thread count, the
vector width or the target).
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from .._compile import jitable

__all__ = ["as_type_of", "lane_max", "lane_sum"]


def as_type_of(value, like):
    """``value`` converted to the float type of ``like`` (float32 or float64).

    Brings a sum of :func:`lane_sum` (float64) or an integer count back to a
    rule's compute dtype, so the arithmetic after it stays in that dtype (a
    float32 rule keeps eight SIMD lanes, not four).

    Parameters
    ----------
    value : number
    like : np.float32 or np.float64 scalar

    Returns
    -------
    np.float32 or np.float64

    Examples
    --------
    >>> as_type_of(0.1, np.float32(1.0))
    np.float32(0.1)
    """
    return np.float32(value) if isinstance(like, np.float32) else np.float64(value)


@overload(as_type_of)
def _as_type_of_compiled(value, like):
    if like == types.float32:
        return lambda value, like: np.float32(value)
    return lambda value, like: np.float64(value)


@jitable(inline=True)
def lane_sum(a):
    """The float64 sum of a 1-D array in eight interleaved lanes.

    Lane ``k`` adds ``a[k], a[k + 8], a[k + 16], ...`` in order; the lanes are
    then added pairwise, ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``,
    and the ``len(a) % 8`` trailing elements last, in order. Eight independent
    chains: about eight times the throughput of a single running sum, and a
    smaller rounding error on long arrays.

    Parameters
    ----------
    a : 1-D float array

    Returns
    -------
    float
        The sum, in float64.

    Examples
    --------
    >>> import numpy as np
    >>> float(lane_sum(np.arange(10.0)))
    45.0
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    n = a.shape[0]
    m = n - n % 8
    for j in range(0, m, 8):
        s0 += a[j]
        s1 += a[j + 1]
        s2 += a[j + 2]
        s3 += a[j + 3]
        s4 += a[j + 4]
        s5 += a[j + 5]
        s6 += a[j + 6]
        s7 += a[j + 7]
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for j in range(m, n):
        total += a[j]
    return total


@jitable(inline=True)
def lane_max(a):
    """The largest element of a non-empty 1-D array, in eight interleaved lanes.

    A NaN may or may not win (as in a running ``m = v if v > m else m``,
    where only a leading NaN does); callers that need NaN to propagate must
    carry it some other way (e.g. through a sum of the elements).

    Parameters
    ----------
    a : 1-D float array with at least one element

    Returns
    -------
    scalar
        The maximum, in ``a``'s dtype.

    Examples
    --------
    >>> import numpy as np
    >>> float(lane_max(np.array([3.0, -1.0, 7.5, 2.0])))
    7.5
    """
    n = a.shape[0]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = a[0]
    m = n - n % 8
    for j in range(0, m, 8):
        m0 = a[j] if a[j] > m0 else m0
        m1 = a[j + 1] if a[j + 1] > m1 else m1
        m2 = a[j + 2] if a[j + 2] > m2 else m2
        m3 = a[j + 3] if a[j + 3] > m3 else m3
        m4 = a[j + 4] if a[j + 4] > m4 else m4
        m5 = a[j + 5] if a[j + 5] > m5 else m5
        m6 = a[j + 6] if a[j + 6] > m6 else m6
        m7 = a[j + 7] if a[j + 7] > m7 else m7
    for j in range(m, n):
        m0 = a[j] if a[j] > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    m4 = m5 if m5 > m4 else m4
    m6 = m7 if m7 > m6 else m6
    m0 = m2 if m2 > m0 else m0
    m4 = m6 if m6 > m4 else m4
    return m4 if m4 > m0 else m0
