"""CPU batch drivers for the embedding-table optimizer rules.

``apply_rows`` work happens in two compiled stages, both parallel:

1. **Partition** (:func:`partition_rows`): the occurrences are split into
   ``P`` buckets by a multiplicative hash of their row id (a parallel
   counting pass over per-thread chunks, a prefix sum, a parallel stable
   scatter). Every row id lands in exactly one bucket, and inside a bucket the
   occurrences stay in occurrence order. With one thread (or a small batch)
   there is one bucket and no partition pass at all.
2. **Dedup, sum and apply** (``cpu_kernels(entry)``): ``prange`` over buckets.
   Each bucket walks its occurrences in order and looks each row id up in an
   id → slot map: a dense ``int32`` array of ``num_rows`` entries kept at
   ``-1`` between calls (allocated once per process, only touched entries
   reset), or, when ``num_rows`` is large compared with the batch, an
   open-addressing hash region per bucket (linear probing, load ≤ 0.5). A
   new row gets the next slot of the bucket and its gradient row is copied
   into the slot's float32 accumulator; a repeated one adds its row there, so
   duplicates are summed *in occurrence order* (as Monolith's
   ``enable_dedup`` does) while the gradients are read once, front to back.
   Then the rule's kernel entry updates each distinct row of the bucket and
   its state from the accumulator (read in order). Buckets own
   disjoint row ids, so no two iterations touch the same map entry, table row
   or state row: no atomics. No sort and no pointer chasing.

``cpu_kernels(entry, rounding, dc)`` builds one sparse and one dense driver per
rule entry (a closure, cached per entry, like :func:`monolith_np.schedules.cpu_kernels`),
so each entry is inlined into its own loop. The two decorators are flags of
the driver: ``rounding`` (stochastic float16 rounding after the rule) and
``dc`` (delay compensation of the gradient before it: in place in the
sparse driver's per-slot accumulator, through a per-chunk scratch row in the
dense driver, so the caller's gradients are never written).
"""

from __future__ import annotations

import functools
import threading

import numpy as np
from numba import prange

from .._compile import cpu_jit
from .._rules.optim import dc_compensate_at, stochastic_round_row
from .._rules.partition import bucket_count, partition_rows, scratch_slot, scratch_starts

__all__ = ["cpu_kernels", "SparseScratch", "run_sequential"]


_DENSE_LOCK = threading.Lock()
_DENSE = {"slot": np.full(0, -1, np.int32)}

#: Use the dense id -> slot map when ``num_rows <= DENSE_FACTOR * batch + DENSE_MIN``.
DENSE_FACTOR = 64
DENSE_MIN = 1 << 24


class SparseScratch:
    """Per-call work arrays of the sparse drivers, for a batch of ``n`` rows.

    ``uniq`` holds each slot's row id and ``acc`` its gradient row: the first
    occurrence's row, to which later occurrences are added in order.
    Slots of bucket ``b`` are numbered from ``starts[b]``. ``slot`` is the
    dense id → slot map (all -1) or empty; then ``keys``/``vals`` are the
    :func:`scratch_slot` hash regions (``hstarts`` from :func:`scratch_starts`).
    """

    __slots__ = ("uniq", "acc", "slot", "keys", "vals", "hstarts")

    def __init__(self, n, dim, starts, slot):
        self.uniq, self.acc = _reusable_buffers(n, dim)
        self.slot = slot
        sizes = np.diff(starts)
        self.hstarts = np.zeros(starts.size, np.int64) if slot.size else scratch_starts(sizes)
        self.keys = np.empty(int(self.hstarts[-1]), np.int64)
        self.vals = np.empty(int(self.hstarts[-1]), np.int32)


_SCRATCH = threading.local()


def _reusable_buffers(n, dim):
    """This thread's ``uniq`` (n,) int64 and ``acc`` (n, dim) float32 scratch, kept between calls.

    A fresh ``n x dim`` buffer per call (64 MB for a 1M x 16 batch) would make
    the driver pay first-touch page faults on every call; the buffers grow to
    the largest batch seen and are reused (per thread, so concurrent callers
    never share them).
    """
    uniq, acc = getattr(_SCRATCH, "uniq", None), getattr(_SCRATCH, "acc", None)
    if acc is None or acc.shape[1] != dim or acc.shape[0] < n:
        cap = max(n, 0 if acc is None or acc.shape[1] != dim else acc.shape[0])
        uniq = _SCRATCH.uniq = np.empty(cap, np.int64)
        acc = _SCRATCH.acc = np.empty((cap, dim), np.float32)
    return uniq[:n], acc[:n]


def run_sparse(driver, params, rows, grads, S, lr, hp, step, seed):
    """Partition ``rows`` and run one entry's sparse driver (dedup, sum, rule) over the buckets."""
    n, num_rows = rows.size, params.shape[0]
    order, starts = partition_rows(rows, bucket_count(n))
    dense = num_rows <= DENSE_FACTOR * n + DENSE_MIN and _DENSE_LOCK.acquire(blocking=False)
    try:
        slot = np.empty(0, np.int32)
        if dense:
            slot = _DENSE["slot"]
            if slot.size < num_rows:
                slot = _DENSE["slot"] = np.full(max(num_rows, 2 * slot.size), -1, np.int32)
        w = SparseScratch(n, params.shape[1], starts, slot)
        driver(params, grads, rows, order, starts, w.uniq, w.acc, w.slot, w.keys, w.vals, w.hstarts, S, lr, hp,
               step, seed)
    finally:
        if dense:
            _DENSE_LOCK.release()


# ---------------------------------------------------------------------------
# Apply drivers, one per rule entry
# ---------------------------------------------------------------------------


#: Rows per scratch row of the dense dc driver (one small allocation per chunk).
DC_CHUNK = 256


@functools.lru_cache(maxsize=None)
def cpu_kernels(entry, rounding=False, dc=False):
    """Compile the sparse and dense CPU drivers of one rule entry.

    ``sparse(params, grads, rows, order, starts, uniq, acc, slot, keys, vals,
    hstarts, S, lr, hp, step, seed)`` loops ``prange`` over the
    buckets of :func:`partition_rows`: dedup through ``slot`` (dense map, all
    -1, reset on exit) or the bucket's hash region, duplicate gradients summed
    into ``acc`` in occurrence order, then the rule once per distinct row (see
    the module docstring; :func:`run_sparse` prepares the arguments).
    ``dense(params, grads, S, lr, hp, step, seed)`` loops ``prange`` over
    every row. With ``rounding`` the updated rows are stochastically rounded
    to float16 values (``stochastic_round_row``, seeded by ``seed`` and
    ``step``). With ``dc`` each row's gradient is first delay-compensated
    (``dc_compensate_at``: the last state array of ``S`` is ``latest``, the
    last entry of ``hp`` is ``lambda_``): in place in ``acc`` (sparse), or
    into a scratch row allocated once per ``DC_CHUNK`` rows (dense).

    Parameters
    ----------
    entry : callable
        A ``*_at`` kernel entry of :mod:`monolith_np._rules.optim`.
    rounding : bool, default False
        Apply stochastic float16 rounding after the rule.
    dc : bool, default False
        Delay-compensate the gradient before the rule.

    Returns
    -------
    tuple of numba dispatchers
        ``(sparse, dense, sequential)``; ``sequential(params, grads, rows,
        order, starts, S, lr, hp, step, seed)`` runs the rule once per
        occurrence, a row's occurrences in order (:func:`run_sequential`).
    """

    def sparse(params, grads, rows, order, starts, uniq, acc, slot, keys, vals, hstarts, S, lr, hp, step, seed):
        buckets = starts.size - 1
        dim = grads.shape[1]
        dense_map = slot.size > 0
        identity = order.size == 0
        for b in prange(buckets):
            lo = starts[b]
            hlo = hstarts[b]
            mask = hstarts[b + 1] - hlo - 1
            if not dense_map:
                for p in range(hlo, hstarts[b + 1]):
                    vals[p] = -1
            nu = lo
            for p in range(lo, starts[b + 1]):
                i = p if identity else order[p]
                r = rows[i]
                if dense_map:
                    s = slot[r]
                    if s < 0:
                        slot[r] = nu
                else:
                    q = scratch_slot(keys, vals, hlo, mask, r)
                    s = vals[q]
                    if s < 0:
                        keys[q] = r
                        vals[q] = nu
                src = grads[i]
                if s < 0:
                    uniq[nu] = r
                    a = acc[nu]
                    for k in range(dim):
                        a[k] = src[k]
                    nu += 1
                else:
                    a = acc[s]
                    for k in range(dim):
                        a[k] += src[k]
            for s in range(lo, nu):
                r = uniq[s]
                w = params[r]
                g = acc[s]
                if dc:
                    dc_compensate_at(w, g, S, r, hp, g)
                entry(w, g, S, r, lr, hp, step)
                if rounding:
                    stochastic_round_row(w, seed, step, r)
                if dense_map:
                    slot[r] = -1

    def dense(params, grads, S, lr, hp, step, seed):
        for r in prange(params.shape[0]):
            w = params[r]
            entry(w, grads[r], S, r, lr, hp, step)
            if rounding:
                stochastic_round_row(w, seed, step, r)

    def dense_dc(params, grads, S, lr, hp, step, seed):
        n = params.shape[0]
        for c in prange((n + DC_CHUNK - 1) // DC_CHUNK):
            g = np.empty(params.shape[1], np.float32)
            for r in range(c * DC_CHUNK, min(n, (c + 1) * DC_CHUNK)):
                w = params[r]
                dc_compensate_at(w, grads[r], S, r, hp, g)
                entry(w, g, S, r, lr, hp, step)
                if rounding:
                    stochastic_round_row(w, seed, step, r)

    def sequential(params, grads, rows, order, starts, S, lr, hp, step, seed):
        identity = order.size == 0
        for b in prange(starts.size - 1):
            g = np.empty(grads.shape[1], np.float32)  # one scratch row per bucket: the caller's grads stay as given
            for p in range(starts[b], starts[b + 1]):
                i = p if identity else order[p]
                r = rows[i]
                w = params[r]
                if dc:
                    dc_compensate_at(w, grads[i], S, r, hp, g)
                else:
                    g[:] = grads[i]
                entry(w, g, S, r, lr, hp, step)
                if rounding:
                    stochastic_round_row(w, seed, step, r)

    return (cpu_jit(parallel=True)(sparse), cpu_jit(parallel=True)(dense_dc if dc else dense),
            cpu_jit(parallel=True)(sequential))


def run_sequential(driver, params, rows, grads, S, lr, hp, step, seed):
    """Run one entry's sequential driver: the rule once per occurrence, each row's occurrences in order.

    The occurrences are grouped by bucket (a stable partition, so a row's
    occurrences keep their order and no two buckets share a row); one thread
    walks each bucket. Linear in the batch whatever the multiplicity.
    """
    order, starts = partition_rows(rows, bucket_count(rows.size))
    driver(params, grads, rows, order, starts, S, lr, hp, step, seed)
