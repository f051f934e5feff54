"""CPU drivers of a collection step: de-duplicate a batch, pool bags from the row store, plan the backward.

A collection's forward de-duplicates each table's ids (:func:`dedup_ids`:
distinct ids in first-occurrence order, each occurrence's distinct index,
and the occurrences grouped by distinct id), resolves the distinct ids to
rows once, then
:func:`pool_rows` sums or averages each bag's rows (or
:func:`pool_first_n` copies its first ``n``) from the row store into the bag's
columns of the concatenated output: no ``(n, dim)`` array of looked-up rows
is made. The backward needs, for every id, the row of the stacked pooled
gradient it reads (and ``fl(1/count)`` for a mean): :func:`grad_sources`
writes them, and the optimizer's sparse driver reads the gradient through
them (:class:`monolith_np.optim.sparse.RowGrads`).

The math is the rules of :mod:`monolith_np._rules.ragged`
(``pool_rows_row``, ``pool_first_n``, ``bag_grad_sources``); the GPU drivers
of :mod:`monolith_np.cuda.pooling` run the same rules. Bags are described as
in a flat multi-feature batch: the feature's bags are ``splits[b]`` to
``splits[b + 1]`` (absolute positions in the batch), and bag ``b``'s ids sit
at ``rows[splits[b] + shift]`` of the table's resolved rows.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._compile import cpu_jit, prefetch, run_cpu
from .._rules.partition import scratch_slot, scratch_starts
from .._rules.ragged import bag_grad_sources, pool_first_n, pool_rows_row

__all__ = ["dedup_ids", "pool_rows", "pool_first_n_rows", "grad_sources"]


@cpu_jit
def _dedup(ids, keys, vals, uniq, inverse, starts, order):
    n = ids.shape[0]
    for c in range(keys.shape[0]):
        vals[c] = -1
    m = 0
    for i in range(n):
        c = scratch_slot(keys, vals, 0, keys.shape[0] - 1, ids[i])
        if vals[c] < 0:
            keys[c] = ids[i]
            vals[c] = m
            uniq[m] = ids[i]
            starts[m + 1] = 0
            m += 1
        u = vals[c]
        inverse[i] = u
        starts[u + 1] += 1
    starts[0] = 0
    for u in range(m):
        starts[u + 1] += starts[u]
    for u in range(m + 1):  # `vals` reused as the per-id write cursor
        vals[u] = starts[u]
    for i in range(n):
        u = inverse[i]
        order[vals[u]] = i
        vals[u] += 1
    return m


def dedup_ids(ids):
    """The distinct ids of a batch, in first-occurrence order, and the batch grouped by them.

    One pass over the batch with a scratch hash region small enough to stay
    in cache (twice the batch, rounded up to a power of two), then a stable
    counting sort of the occurrences by distinct id.

    Parameters
    ----------
    ids : (n,) int64 array

    Returns
    -------
    uniq : (m,) int64 array
        The distinct ids, in first-occurrence order.
    inverse : (n,) int64 array
        ``uniq[inverse[i]] == ids[i]``.
    starts : (m + 1,) int64 array
        Distinct id ``u``'s occurrences are ``order[starts[u]:starts[u + 1]]``.
    order : (n,) int64 array
        Occurrence indices grouped by distinct id, ascending inside a group.

    Examples
    --------
    >>> import numpy as np
    >>> uniq, inverse, starts, order = dedup_ids(np.array([5, 3, 5, 5]))
    >>> uniq.tolist(), inverse.tolist(), starts.tolist(), order.tolist()
    ([5, 3], [0, 1, 0, 0], [0, 3, 4], [0, 2, 3, 1])
    """
    n = ids.shape[0]
    cells = int(scratch_starts(np.array([max(n, 1)], np.int64))[-1])
    keys, vals = np.empty(cells, np.int64), np.empty(cells, np.int64)  # cells >= 2n: vals is also the cursor
    uniq, inverse = np.empty(n, np.int64), np.empty(n, np.int64)
    starts, order = np.empty(n + 1, np.int64), np.empty(n, np.int64)  # (the kernel writes every used entry)
    m = _dedup(ids, keys, vals, uniq, inverse, starts, order)
    return uniq[:m], inverse, starts[:m + 1], order

_pool_first_n = cpu_jit(pool_first_n)
_bag_grad_sources = cpu_jit(bag_grad_sources)


#: Bags ahead of the one being pooled whose table rows are prefetched: the
#: gathers are latency-bound, and ~4 bags (~18 rows) in flight overlap the misses.
PREFETCH_BAGS = 4


@cpu_jit
def _prefetch_bag(values, rows, splits, shift, b):
    if b < splits.shape[0] - 1:
        for i in range(splits[b] + shift, splits[b + 1] + shift):
            if rows[i] >= 0:
                prefetch(values, rows[i])


@cpu_jit
def _any_empty(rows, start, end):
    low = 0
    for i in range(start, end):
        low = min(low, rows[i])
    return low < 0


@cpu_jit(parallel=True)
def _pool_rows_cpu(values, rows, splits, shift, mean, out, col):
    dim = values.shape[1]
    if _any_empty(rows, splits[0] + shift, splits[-1] + shift):
        for b in prange(splits.shape[0] - 1):
            _prefetch_bag(values, rows, splits, shift, b + PREFETCH_BAGS)
            pool_rows_row(values, rows, splits[b] + shift, splits[b + 1] + shift, mean, 1, out[b, col:col + dim], 0,
                          dim)
    else:  # the common batch: no EMPTY row, no test in the row loop
        for b in prange(splits.shape[0] - 1):
            _prefetch_bag(values, rows, splits, shift, b + PREFETCH_BAGS)
            pool_rows_row(values, rows, splits[b] + shift, splits[b + 1] + shift, mean, 0, out[b, col:col + dim], 0,
                          dim)


@cpu_jit(parallel=True)
def _pool_first_n_cpu(values, rows, splits, shift, n, out, col):
    dim = values.shape[1]
    for b in prange(splits.shape[0] - 1):
        _prefetch_bag(values, rows, splits, shift, b + PREFETCH_BAGS)
        _pool_first_n(values, rows, splits[b] + shift, splits[b + 1] + shift, out[b, col:col + n * dim], n, dim,
                      0, n, 0, dim)


@cpu_jit(parallel=True)
def _grad_sources_cpu(splits, shift, first_row, row_stride, n, zero_row, mean, index, scale):
    for b in prange(splits.shape[0] - 1):
        _bag_grad_sources(splits[b], splits[b + 1], splits[b] + shift, first_row + b * row_stride, n, zero_row, mean,
                          index, scale)


def pool_rows(values, rows, splits, shift, mean, out, col):
    """Sum (or average) each bag's table rows into ``out[b, col:col + dim]``.

    Parameters
    ----------
    values : (num_rows, dim) float32 array
        The table's row store.
    rows : (m,) int64 array
        Resolved rows of the table's ids (``EMPTY``: reads zeros).
    splits : (B + 1,) int64 array
        The feature's bag bounds, positions in the batch.
    shift : int
        ``rows[splits[b] + shift]`` is the row of the bag's first id.
    mean : bool
        Average instead of sum (an empty bag gives NaN, as
        :func:`monolith_np.ragged.reduce_mean`).
    out : (B, width) float32 array
        Written at columns ``[col, col + dim)``.
    col : int

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros((2, 3), np.float32)
    >>> pool_rows(np.float32([[1, 2], [3, 4]]), np.array([0, 1, -1]), np.array([5, 7, 8]), -5, False, out, 1)
    >>> out.tolist()
    [[0.0, 4.0, 6.0], [0.0, 0.0, 0.0]]
    """
    run_cpu(_pool_rows_cpu, (splits[-1] - splits[0]) * values.shape[1], values, rows, splits, shift, int(mean),
            out, col)


def pool_first_n_rows(values, rows, splits, shift, n, out, col):
    """Copy each bag's first ``n`` table rows (zero-padded) into ``out[b, col:col + n * dim]``.

    Parameters
    ----------
    values : (num_rows, dim) float32 array
    rows : (m,) int64 array
    splits : (B + 1,) int64 array
    shift : int
        As in :func:`pool_rows`.
    n : int
        Rows kept per bag (>= 1).
    out : (B, width) float32 array
    col : int

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros((1, 4), np.float32)
    >>> pool_first_n_rows(np.float32([[1], [2]]), np.array([1, 0, 1]), np.array([0, 3]), 0, 4, out, 0)
    >>> out.tolist()
    [[2.0, 1.0, 2.0, 0.0]]
    """
    run_cpu(_pool_first_n_cpu, (splits.shape[0] - 1) * n * values.shape[1], values, rows, splits, shift, n, out,
            col)


def grad_sources(splits, shift, first_row, row_stride, n, zero_row, mean, index, scale):
    """Each id's row of the stacked pooled gradient (``index``) and, for a mean, its ``fl(1/count)``.

    Parameters
    ----------
    splits : (B + 1,) int64 array
        The feature's bag bounds, positions in the batch.
    shift : int
        The bag's ids sit at ``index[splits[b] + shift:splits[b + 1] + shift]``.
    first_row : int
        Row of bag 0's gradient in the stacked gradient.
    row_stride : int
        Rows from one bag's gradient to the next: bag ``b``'s is
        ``first_row + b * row_stride`` (sum, mean), or that plus ``k`` for
        its ``k``-th id (first-n, ``row_stride >= n``).
    n : int
        0 for sum and mean, else the first-n width.
    zero_row : int
        A zero row of the stacked gradient (ids past a bag's first ``n``).
    mean : bool
    index : (m,) int64 array
        Output.
    scale : (m,) float32 array
        Output for a mean (untouched otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> index, scale = np.empty(3, np.int64), np.empty(3, np.float32)
    >>> grad_sources(np.array([0, 2, 3]), 0, 10, 1, 0, 99, True, index, scale)
    >>> index.tolist(), scale.tolist()
    ([10, 10, 11], [0.5, 0.5, 1.0])
    """
    run_cpu(_grad_sources_cpu, splits[-1] - splits[0], splits, shift, first_row, row_stride, n, zero_row, int(mean),
            index, scale)
