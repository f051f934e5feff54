"""CPU batch drivers for the embedding-table optimizer rules.

``apply_rows`` work happens in two compiled stages:

1. **Dedup** (:func:`dedup_rows`): every occurrence ``i`` of a row id is
   linked to the next occurrence of the same id (``nxt``), and each distinct
   row gets one *unique slot* ``u`` with its first occurrence ``head[u]``, in
   first-occurrence order. Row ids are bounded by the table's ``num_rows``, so
   the id → slot map is a dense ``int32`` array of ``num_rows`` entries that is
   allocated once per process, kept at ``-1`` and reset after each call (only
   the touched entries). When ``num_rows`` is large compared with the batch an
   open-addressing hash of the ids (linear probing, capacity a power of two at
   least twice the batch) replaces it. Both are a single pass in occurrence
   order; no sort.
2. **Apply** (``cpu_kernels(entry)``): ``prange`` over chunks of unique slots.
   For each unique row the gradient is the row of its only occurrence, or the
   sum of its occurrences' rows *in occurrence order* (a float32 running sum
   into a per-chunk scratch row, as Monolith's ``enable_dedup`` does); then the
   rule's kernel entry updates the row and its state. Unique rows are distinct,
   so no two iterations write the same memory and no atomics are needed.

``cpu_kernels(entry, rounding)`` builds one sparse and one dense driver per
rule entry (a closure, cached per entry, like :func:`monolith_np.schedules.cpu_kernels`),
so each entry is inlined into its own loop.
"""

from __future__ import annotations

import functools
import threading

import numba
import numpy as np
from numba import prange

from .._compile import cpu_jit
from .rules import stochastic_round_row

__all__ = ["cpu_kernels", "dedup_rows", "Dedup"]


# ---------------------------------------------------------------------------
# Dedup
# ---------------------------------------------------------------------------


@cpu_jit
def _dedup_dense(rows, slot, uniq, head, tail, nxt):
    """Link occurrences of equal rows through the dense ``slot`` map (all -1 on entry)."""
    nu = 0
    for i in range(rows.size):
        r = rows[i]
        s = slot[r]
        nxt[i] = -1
        if s < 0:
            slot[r] = nu
            uniq[nu] = r
            head[nu] = i
            tail[nu] = i
            nu += 1
        else:
            nxt[tail[s]] = i
            tail[s] = i
    return nu


@cpu_jit(parallel=True)
def _reset_dense(slot, uniq, nu):
    """Put the touched entries of the dense map back to -1."""
    for u in prange(nu):
        slot[uniq[u]] = -1


@cpu_jit
def _dedup_hash(rows, keys, vals, uniq, head, tail, nxt):
    """As ``_dedup_dense`` with an open-addressing hash (``keys`` all -1, power-of-two size)."""
    mask = np.uint64(keys.size - 1)
    nu = 0
    for i in range(rows.size):
        r = rows[i]
        h = (np.uint64(r) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(17)
        pos = np.int64(h & mask)
        while keys[pos] != -1 and keys[pos] != r:
            pos = np.int64((np.uint64(pos) + np.uint64(1)) & mask)
        nxt[i] = -1
        if keys[pos] == -1:
            keys[pos] = r
            vals[pos] = nu
            uniq[nu] = r
            head[nu] = i
            tail[nu] = i
            nu += 1
        else:
            s = vals[pos]
            nxt[tail[s]] = i
            tail[s] = i
    return nu


class Dedup:
    """Result of :func:`dedup_rows`: unique rows and the occurrence links.

    Attributes
    ----------
    uniq : (u,) int64 array
        Distinct rows in first-occurrence order.
    head : (u,) int64 array
        First occurrence (index into the batch) of each unique row.
    nxt : (n,) int64 array
        Next occurrence of the same row after occurrence ``i``, or -1.
    """

    __slots__ = ("uniq", "head", "nxt")

    def __init__(self, uniq, head, nxt):
        self.uniq = uniq
        self.head = head
        self.nxt = nxt


_DENSE_LOCK = threading.Lock()
_DENSE = {"slot": np.empty(0, np.int32)}

#: Use the dense id -> slot map when ``num_rows <= DENSE_FACTOR * batch + DENSE_MIN``.
DENSE_FACTOR = 64
DENSE_MIN = 1 << 24


def dedup_rows(rows, num_rows):
    """Group equal row ids of a batch (validated int64 ids in ``[0, num_rows)``).

    Parameters
    ----------
    rows : (n,) int64 array
        Row ids; may repeat.
    num_rows : int
        Number of rows of the table (an exclusive bound on ``rows``).

    Returns
    -------
    Dedup
        Unique rows in first-occurrence order and the occurrence links.
    """
    n = rows.size
    uniq = np.empty(n, np.int64)
    head = np.empty(n, np.int64)
    tail = np.empty(n, np.int64)
    nxt = np.empty(n, np.int64)
    if num_rows <= DENSE_FACTOR * n + DENSE_MIN and _DENSE_LOCK.acquire(blocking=False):
        try:
            slot = _DENSE["slot"]
            if slot.size < num_rows:
                slot = _DENSE["slot"] = np.full(max(num_rows, 2 * slot.size), -1, np.int32)
            nu = _dedup_dense(rows, slot, uniq, head, tail, nxt)
            _reset_dense(slot, uniq, nu)
        finally:
            _DENSE_LOCK.release()
    else:
        cap = 1 << max(4, int(2 * n - 1).bit_length())
        keys = np.full(cap, -1, np.int64)
        vals = np.empty(cap, np.int64)
        nu = _dedup_hash(rows, keys, vals, uniq, head, tail, nxt)
    return Dedup(uniq[:nu], head[:nu], nxt)


# ---------------------------------------------------------------------------
# Apply drivers, one per rule entry
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def cpu_kernels(entry, rounding=False):
    """Compile the sparse and dense CPU drivers of one rule entry.

    ``sparse(params, grads, uniq, head, nxt, S, lr, hp, step, seed, scratch)``
    loops ``prange`` over ``scratch.shape[0]`` chunks of the unique rows; each
    chunk sums duplicate gradients into its own scratch row. ``dense(params,
    grads, S, lr, hp, step, seed)`` loops ``prange`` over every row. With
    ``rounding`` the updated rows are stochastically rounded to float16 values
    (``stochastic_round_row``, seeded by ``seed`` and ``step``).

    Parameters
    ----------
    entry : callable
        A ``*_at`` kernel entry of :mod:`monolith_np.optim.rules`.
    rounding : bool, default False
        Apply stochastic float16 rounding after the rule.

    Returns
    -------
    tuple of numba dispatchers
        ``(sparse, dense)``.
    """

    def sparse(params, grads, uniq, head, nxt, S, lr, hp, step, seed, scratch):
        nu = uniq.size
        chunks = scratch.shape[0]
        dim = grads.shape[1]
        for c in prange(chunks):
            buf = scratch[c]
            for u in range(c * nu // chunks, (c + 1) * nu // chunks):
                r = uniq[u]
                i = head[u]
                j = nxt[i]
                if j < 0:
                    g = grads[i]
                else:
                    src = grads[i]
                    for k in range(dim):
                        buf[k] = src[k]
                    while j >= 0:
                        src = grads[j]
                        for k in range(dim):
                            buf[k] += src[k]
                        j = nxt[j]
                    g = buf
                w = params[r]
                entry(w, g, S, r, lr, hp, step)
                if rounding:
                    stochastic_round_row(w, seed, step, r)

    def dense(params, grads, S, lr, hp, step, seed):
        for r in prange(params.shape[0]):
            w = params[r]
            entry(w, grads[r], S, r, lr, hp, step)
            if rounding:
                stochastic_round_row(w, seed, step, r)

    return cpu_jit(parallel=True)(sparse), cpu_jit(parallel=True)(dense)


def chunk_count(unique):
    """Number of ``prange`` chunks for ``unique`` rows (a few per thread, for balance)."""
    return max(1, min(unique, 16 * numba.get_num_threads()))
