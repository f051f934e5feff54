"""Rules of the occurrence filters: the counting ring's probe, add and get, and the probabilistic admission.

Plain functions over array views (``keys``/``counts``/``used`` of shape
``(generations, cells)``), compiled for the CPU by the drivers of
:mod:`monolith_np.table.filters` and, like every rule, compilable for the GPU
with ``gpu_device``. Keys are the uint64 bit patterns of the int64 ids;
``used`` marks occupied cells, so every id (0, -1, ``INT64_MIN``, ...) is a
valid key. The decision rule they implement is described in
:mod:`monolith_np.table.filters`.
"""

from __future__ import annotations

import numpy as np

from .._compile import jitable
from .._random import mix64

__all__ = ["MAX_COUNT", "home_of", "probe", "saturating_add", "older_count", "clear_generation",
           "filter_add_batch", "filter_get_batch", "probabilistic_admit"]

MAX_COUNT = 2**32 - 1
"""Largest stored count; counts saturate here (Monolith: 15)."""


@jitable
def home_of(key, size):
    """Return the first cell probed for ``key`` (uint64) in a table of ``size`` cells.

    Examples
    --------
    >>> import numpy as np
    >>> 0 <= int(home_of(np.uint64(7), np.uint64(10))) < 10
    True
    """
    return np.int64(mix64(key) % np.uint64(size))


@jitable
def probe(keys, used, g, key, start):
    """Linear probing from ``start`` over generation ``g`` of ``keys``/``used`` (2-D).

    Returns the cell holding ``key`` or, failing that, the first empty cell on
    the way; ``-1`` when every cell holds another key. At most ``size`` cells
    are visited, so the search always ends.

    Examples
    --------
    >>> import numpy as np
    >>> keys, used = np.zeros((1, 4), np.uint64), np.zeros((1, 4), np.bool_)
    >>> keys[0, 2], used[0, 2] = 9, True
    >>> probe(keys, used, 0, np.uint64(9), 2), probe(keys, used, 0, np.uint64(5), 2)
    (2, 3)
    """
    size = keys.shape[1]
    i = start
    for _ in range(size):
        if not used[g, i] or keys[g, i] == key:
            return i
        i += 1
        if i == size:
            i = 0
    return -1


@jitable
def saturating_add(old, count):
    """Return ``min(old + count, MAX_COUNT)`` for int64 ``0 <= old, count <= MAX_COUNT``.

    Examples
    --------
    >>> saturating_add(3, 4), saturating_add(MAX_COUNT - 1, 5) == MAX_COUNT
    (7, True)
    """
    total = old + count
    return total if total < MAX_COUNT else MAX_COUNT


@jitable
def older_count(keys, counts, used, elements, head, key, start):
    """Count of ``key`` in the newest non-head generation that holds it (0 if none).

    Generations are visited from ``head - 1`` backwards around the ring; empty
    generations are skipped.

    Examples
    --------
    >>> import numpy as np
    >>> keys, counts = np.zeros((2, 4), np.uint64), np.zeros((2, 4), np.uint32)
    >>> used, elements = np.zeros((2, 4), np.bool_), np.array([1, 0])
    >>> keys[0, 1], counts[0, 1], used[0, 1] = 9, 5, True
    >>> int(older_count(keys, counts, used, elements, 1, np.uint64(9), 1))
    5
    """
    num_gens = keys.shape[0]
    for back in range(1, num_gens):
        g = head - back
        if g < 0:
            g += num_gens
        if elements[g] > 0:
            i = probe(keys, used, g, key, start)
            if i >= 0 and used[g, i]:
                return np.int64(counts[g, i])
    return np.int64(0)


@jitable
def clear_generation(used, elements, g):
    """Mark every cell of generation ``g`` empty.

    Examples
    --------
    >>> import numpy as np
    >>> used, elements = np.ones((2, 3), np.bool_), np.array([3, 3])
    >>> clear_generation(used, elements, 1)
    >>> bool(used[1].any()), elements.tolist()
    (False, [3, 0])
    """
    for i in range(used.shape[1]):
        used[g, i] = False
    elements[g] = 0


@jitable
def filter_add_batch(keys, counts, used, elements, state, ids, add_counts, skip, insert_limit, advance_limit,
                     prev):
    """Add ``add_counts[j]`` occurrences of ``ids[j]``, in order, to a ring of counting generations (rule).

    The loop over the batch is part of the rule: the per-id logic runs inline,
    since an out-of-line call per id costs reference-count traffic on its array
    arguments (about 100 ns on the CPU).

    Parameters
    ----------
    keys : (G, size) uint64 array
        Stored ids, one row per generation.
    counts : (G, size) uint32 array
        Stored counts.
    used : (G, size) bool array
        Occupied cells.
    elements : (G,) int64 array
        Occupied cells per generation.
    state : (2,) int64 array
        ``[head, failure_count]``, updated in place.
    ids : (n,) uint64 array
        The ids' bit patterns.
    add_counts : (n,) int64 array
        Occurrences to add, ``0 <= add_counts[j] <= MAX_COUNT``.
    skip : (n,) bool array
        Positions neither counted nor looked up.
    insert_limit : int64
        A generation holding this many ids takes no new id: the add fails
        (failure count + 1) and reports ``MAX_COUNT``.
    advance_limit : int64
        After a new id makes the head hold this many ids, the head moves to the
        next generation, which is cleared.
    prev : (n,) int64 array
        Output: each id's count before its add (``-1`` where skipped).

    Examples
    --------
    >>> import numpy as np
    >>> keys, counts = np.zeros((1, 8), np.uint64), np.zeros((1, 8), np.uint32)
    >>> used, elements, state = np.zeros((1, 8), np.bool_), np.zeros(1, np.int64), np.zeros(2, np.int64)
    >>> ids, prev = np.array([4, 4, 5], np.uint64), np.empty(3, np.int64)
    >>> filter_add_batch(keys, counts, used, elements, state, ids, np.ones(3, np.int64), np.zeros(3, np.bool_),
    ...                  6, 7, prev)
    >>> prev.tolist(), elements.tolist()
    ([0, 1, 0], [2])
    """
    size = keys.shape[1]
    for j in range(ids.shape[0]):
        if skip[j]:
            prev[j] = -1
            continue
        key = ids[j]
        head = state[0]
        start = home_of(key, size)
        i = probe(keys, used, head, key, start)
        if i >= 0 and used[head, i]:
            old = np.int64(counts[head, i])
        elif i < 0 or elements[head] >= insert_limit:
            state[1] += 1
            prev[j] = MAX_COUNT
            continue
        else:
            old = older_count(keys, counts, used, elements, head, key, start) if keys.shape[0] > 1 else 0
            keys[head, i] = key
            used[head, i] = True
            elements[head] += 1
        counts[head, i] = np.uint32(saturating_add(old, add_counts[j]))
        prev[j] = old
        if elements[head] >= advance_limit:
            state[0] = head + 1 if head + 1 < keys.shape[0] else 0
            clear_generation(used, elements, state[0])


@jitable
def filter_get_batch(keys, counts, used, elements, head, ids, out):
    """``out[j]`` = count of ``ids[j]``: the head's, else the newest older generation's, else 0 (rule).

    Examples
    --------
    >>> import numpy as np
    >>> keys, counts = np.zeros((1, 8), np.uint64), np.zeros((1, 8), np.uint32)
    >>> used, elements, state = np.zeros((1, 8), np.bool_), np.zeros(1, np.int64), np.zeros(2, np.int64)
    >>> filter_add_batch(keys, counts, used, elements, state, np.array([4], np.uint64), np.array([3]),
    ...                  np.zeros(1, np.bool_), 6, 7, np.empty(1, np.int64))
    >>> out = np.empty(2, np.int64)
    >>> filter_get_batch(keys, counts, used, elements, 0, np.array([4, 5], np.uint64), out)
    >>> out.tolist()
    [3, 0]
    """
    for j in range(ids.shape[0]):
        start = home_of(ids[j], keys.shape[1])
        i = probe(keys, used, head, ids[j], start)
        if i >= 0 and used[head, i]:
            out[j] = counts[head, i]
        else:
            out[j] = older_count(keys, counts, used, elements, head, ids[j], start)


@jitable
def probabilistic_admit(u, count, threshold, equal_probability):
    """Whether a uniform draw ``u`` in ``[0, 1)`` admits an id (rule; ``threshold > 0``).

    The admission probability is ``min(1, count / threshold)``, or
    ``1 - 0.05 ** (count / threshold)`` with ``equal_probability`` (float64).

    Examples
    --------
    >>> bool(probabilistic_admit(0.4, 1, 2, False)), bool(probabilistic_admit(0.6, 1, 2, False))
    (True, False)
    """
    ratio = np.float64(count) / np.float64(threshold)
    p = 1.0 - 0.05**ratio if equal_probability else ratio
    return u < p
