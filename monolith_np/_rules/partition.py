"""Partition rules shared by the sparse optimizer driver and the table index.

A batch of int64 ids is split into ``buckets`` groups by a multiplicative
(Fibonacci) hash (:func:`bucket_of`); every id lands in exactly one bucket, so
a ``prange`` over buckets touches disjoint ids and needs no atomics.
:func:`partition_rows` is the stable counting sort that groups a batch's
occurrences by bucket; :func:`scratch_slot` and :func:`scratch_starts` are the
per-bucket open-addressing scratch regions both drivers dedup in. The table
index and the CUDA table kernels use the same :func:`bucket_of`, so a CPU and a
GPU table split ids into the same sub-tables.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .. import _config
from .._compile import cpu_jit, jitable
from .._random import as_uint64

__all__ = ["bucket_of", "scratch_slot", "scratch_starts", "partition_rows", "bucket_count", "BUCKETS_PER_THREAD"]


@jitable
def bucket_of(r, buckets):
    """Bucket of id ``r`` (any int64) among ``buckets`` (top 32 bits of a Fibonacci hash, scaled)."""
    h = (as_uint64(r) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    return np.int64((h * np.uint64(buckets)) >> np.uint64(32))


@jitable
def scratch_slot(keys, vals, lo, mask, key):
    """Slot of ``key`` in a scratch hash region, or the empty slot where it belongs.

    The region is ``keys``/``vals[lo:lo + mask + 1]`` (``mask + 1`` a power
    of two, load at most 1/2); a slot is empty while its ``vals`` entry is
    -1, so any int64 key fits. Linear probing from a Fibonacci hash.
    """
    pos = np.int64((as_uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(17)) & mask
    while vals[lo + pos] != -1 and keys[lo + pos] != key:
        pos = (pos + 1) & mask
    return lo + pos


def scratch_starts(sizes):
    """Offsets of one scratch hash region per bucket: ``2 * size`` rounded up to a power of two (>= 16).

    Parameters
    ----------
    sizes : (buckets,) int64 array
        Keys each bucket may insert.

    Returns
    -------
    (buckets + 1,) int64 array
    """
    caps = np.left_shift(1, np.maximum(4, np.ceil(np.log2(np.maximum(2 * sizes, 1))).astype(np.int64)))
    return np.concatenate(([0], np.cumsum(caps))).astype(np.int64)


@cpu_jit(parallel=True, work="rows")
def _partition(rows, buckets, chunks, order, starts):
    """Stable counting sort of occurrence indices by bucket (``starts``: ``buckets + 1`` offsets)."""
    n = rows.size
    counts = np.zeros((chunks, buckets), np.int64)
    for c in prange(chunks):
        for i in range(c * n // chunks, (c + 1) * n // chunks):
            counts[c, bucket_of(rows[i], buckets)] += 1
    pos = 0
    for b in range(buckets):
        starts[b] = pos
        for c in range(chunks):
            k = counts[c, b]
            counts[c, b] = pos
            pos += k
    starts[buckets] = pos
    for c in prange(chunks):
        for i in range(c * n // chunks, (c + 1) * n // chunks):
            b = bucket_of(rows[i], buckets)
            order[counts[c, b]] = i
            counts[c, b] += 1


def bucket_count(n):
    """Number of buckets for a batch of ``n`` occurrences: 1 on one thread or a small batch."""
    threads = numba.get_num_threads()
    if threads <= 1 or n < _config.PARALLEL_MIN_WORK // 16:
        return 1
    return BUCKETS_PER_THREAD * threads


#: Buckets per numba thread when the batch is partitioned (a few, for balance).
BUCKETS_PER_THREAD = 4


def partition_rows(rows, buckets):
    """Group the occurrences of a batch into ``buckets`` by row id.

    Parameters
    ----------
    rows : (n,) int64 array
        Validated row ids.
    buckets : int
        Number of buckets (1: no partition).

    Returns
    -------
    order : (n,) int64 array
        Occurrence indices grouped by bucket, in occurrence order inside each
        bucket (empty when ``buckets == 1``: the identity).
    starts : (buckets + 1,) int64 array
        Bucket ``b`` holds ``order[starts[b]:starts[b + 1]]``.
    """
    starts = np.empty(buckets + 1, np.int64)
    if buckets == 1:
        starts[0], starts[1] = 0, rows.size
        return np.empty(0, np.int64), starts
    order = np.empty(rows.size, np.int64)
    _partition(rows, buckets, numba.get_num_threads(), order, starts)
    return order, starts
