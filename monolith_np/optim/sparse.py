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

from .._compile import cpu_jit, prefetch
from .._rules.optim import dc_compensate_at, stochastic_round_row
from .._rules.partition import bucket_count, partition_rows, scratch_slot, scratch_starts

__all__ = ["cpu_kernels", "SparseScratch", "RowGrads", "run_grouped", "run_sequential"]


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


class RowGrads:
    """Gradient rows given by reference: occurrence ``i``'s row is ``values[index[i]] * scale[i]``.

    A pooled embedding's backward gives every id of a bag the bag's gradient
    row (times ``fl(1/count)`` for a mean). Handing the sparse driver the
    ``(bags, dim)`` gradient and each occurrence's bag instead of an
    ``(n, dim)`` copy saves writing and re-reading the copy (and its page
    faults). ``expand`` makes the copy where a path needs real rows (the GPU,
    HashNet segments, ``dedup=False``): the same float32 products, so both
    forms give bit-identical updates.

    Parameters
    ----------
    values : (m, dim) float32 array
        The distinct gradient rows.
    index : (n,) int64 array
        Row of ``values`` of each occurrence.
    scale : (n,) float32 array or empty
        Per-occurrence factor; empty: none (the rows as they are).
    groups : (starts, order) of int64 arrays, optional
        The occurrences grouped by distinct row (``order[starts[u]:starts[u +
        1]]`` are distinct row ``u``'s, ascending), as
        :func:`monolith_np.table.pooling.dedup_ids` gives them. The rows
        passed with grouped gradients are then the distinct rows, one per
        group (``EMPTY`` groups are skipped), and the driver sums each group
        without an id -> slot map.

    Examples
    --------
    >>> g = RowGrads(np.float32([[1, 2], [3, 4]]), np.array([1, 1, 0]), np.float32([0.5, 1, 1]))
    >>> g.shape, g.expand(np).tolist()
    ((3, 2), [[1.5, 2.0], [3.0, 4.0], [1.0, 2.0]])
    """

    __slots__ = ("values", "index", "scale", "groups")

    def __init__(self, values, index, scale, groups=None):
        self.values, self.index, self.scale, self.groups = values, index, scale, groups

    @property
    def shape(self):
        """``(n, dim)``: the shape of the rows this stands for."""
        return (self.index.shape[0], self.values.shape[1])

    def columns(self, lo, hi):
        """The same occurrences restricted to columns ``[lo, hi)`` (a segment's)."""
        return RowGrads(self.values[:, lo:hi], self.index, self.scale, self.groups)

    def subset(self, keep):
        """The occurrences where the boolean mask ``keep`` is true (ungrouped gradients)."""
        return RowGrads(self.values, self.index[keep], self.scale[keep] if self.scale.shape[0] else self.scale)

    def ungroup(self, rows):
        """``(occurrence rows, ungrouped RowGrads)`` of grouped gradients whose distinct rows are ``rows``."""
        starts, order = self.groups
        occ = np.empty(order.shape[0], np.int64)
        occ[order] = np.repeat(rows, np.diff(starts))
        return occ, RowGrads(self.values, self.index, self.scale)

    def expand(self, xp):
        """The ``(n, dim)`` float32 rows, in ``xp``'s arrays."""
        out = self.values[self.index]
        if self.scale.shape[0]:
            out *= self.scale[:, None]
        return xp.ascontiguousarray(out)


def expand_grads(grads, xp):
    """``grads`` as real rows: :meth:`RowGrads.expand`, or the array itself."""
    return grads.expand(xp) if isinstance(grads, RowGrads) else grads


_NO_INDEX = np.empty(0, np.int64)
_NO_SCALE = np.empty(0, np.float32)


def column_window(a):
    """``(whole, col)``: a C-contiguous 2-D array whose columns ``[col, col + a.shape[1])`` are ``a``.

    A segment of a table is a column slice of the row store (``values[:, lo:hi]``):
    its rows are contiguous but numba types them as strided, so loops over
    them do not vectorise. The drivers read ``whole[r, col:col + dim]``
    instead, a contiguous row. ``(a, 0)`` when ``a`` is C-contiguous or no
    column slice of a C-contiguous array (the drivers then read its strided
    rows).

    Examples
    --------
    >>> import numpy as np
    >>> values = np.zeros((3, 5), np.float32)
    >>> whole, col = column_window(values[:, 2:4])
    >>> whole is values, col
    (True, 2)
    """
    if a.flags.c_contiguous:
        return a, 0
    if a.ndim == 2 and a.strides[1] == a.itemsize and a.strides[0] % a.itemsize == 0:
        width = a.strides[0] // a.itemsize
        start = a.__array_interface__["data"][0]
        whole = a.base
        while isinstance(whole, np.ndarray):
            if (whole.flags.c_contiguous and whole.dtype == a.dtype and whole.shape == (a.shape[0], width)):
                offset = start - whole.__array_interface__["data"][0]
                if 0 <= offset and offset + a.shape[1] * a.itemsize <= a.strides[0]:
                    return whole, offset // a.itemsize
            whole = whole.base
    return a, 0


def run_sparse(driver, params, rows, grads, S, lr, hp, step, seed):
    """Partition ``rows`` and run one entry's sparse driver (dedup, sum, rule) over the buckets.

    ``grads`` is an ``(n, dim)`` float32 array or a :class:`RowGrads`; both
    ``params`` and the gradient rows are read through :func:`column_window`.
    """
    n, num_rows = rows.size, params.shape[0]
    if isinstance(grads, RowGrads):
        (src, gcol), index, scale = column_window(grads.values), grads.index, grads.scale
    else:
        (src, gcol), index, scale = column_window(grads), _NO_INDEX, _NO_SCALE
    whole, pcol = column_window(params)
    order, starts = partition_rows(rows, bucket_count(n))
    dense = num_rows <= DENSE_FACTOR * n + DENSE_MIN and _DENSE_LOCK.acquire(blocking=False)
    try:
        slot = np.empty(0, np.int32)
        if dense:
            slot = _DENSE["slot"]
            if slot.size < num_rows:
                slot = _DENSE["slot"] = np.full(max(num_rows, 2 * slot.size), -1, np.int32)
        w = SparseScratch(n, params.shape[1], starts, slot)
        driver(whole, pcol, src, gcol, index, scale, rows, order, starts, w.uniq, w.acc, w.slot, w.keys, w.vals,
               w.hstarts, S, lr, hp, step, seed)
    finally:
        if dense:
            _DENSE_LOCK.release()


# ---------------------------------------------------------------------------
# Apply drivers, one per rule entry
# ---------------------------------------------------------------------------


#: Rows per scratch row of the dense dc driver (one small allocation per chunk).
DC_CHUNK = 256

#: Distinct rows per accumulator row of the grouped driver (one small allocation per chunk).
GROUP_CHUNK = 256

#: Distinct rows ahead whose table and state rows the grouped driver prefetches.
PREFETCH_ROWS = 4


@functools.lru_cache(maxsize=None)
def cpu_kernels(entry, rounding=False, dc=False):
    """Compile the sparse and dense CPU drivers of one rule entry.

    ``sparse(params, pcol, grads, gcol, index, scale, rows, order, starts, uniq,
    acc, slot, keys, vals, hstarts, S, lr, hp, step, seed)`` (table row ``r``
    is ``params[r, pcol:pcol + dim]`` and occurrence ``i``'s gradient row
    ``grads[index[i], gcol:gcol + dim] * scale[i]``, or ``grads[i, gcol:gcol +
    dim]`` for an empty ``index`` and ``scale``: :class:`RowGrads`, windows of
    :func:`column_window`; ``dim`` is ``acc``'s width) loops ``prange`` over the
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
        ``(sparse, dense, sequential, grouped)``; ``sequential(params, grads,
        rows, order, starts, S, lr, hp, step, seed)`` runs the rule once per
        occurrence, a row's occurrences in order (:func:`run_sequential`);
        ``grouped(params, pcol, grads, gcol, dim, index, scale, rows, starts,
        order, S, lr, hp, step, seed)`` (column windows as ``sparse``) runs it
        once per distinct row ``rows[u]`` on the
        sum of its group of occurrences (grouped :class:`RowGrads`, whose
        groups come with the batch: no partition, no id -> slot map).
    """

    def sparse(params, pcol, grads, gcol, index, scale, rows, order, starts, uniq, acc, slot, keys, vals, hstarts,
               S, lr, hp, step, seed):
        buckets = starts.size - 1
        dim = acc.shape[1]
        dense_map = slot.size > 0
        identity = order.size == 0
        indexed = index.size > 0
        scaled = scale.size > 0
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
                src = grads[index[i] if indexed else i, gcol:gcol + dim]
                if s < 0:
                    uniq[nu] = r
                    a = acc[nu]
                    if scaled:
                        for k in range(dim):
                            a[k] = src[k] * scale[i]
                    else:
                        for k in range(dim):
                            a[k] = src[k]
                    nu += 1
                else:
                    a = acc[s]
                    if scaled:
                        for k in range(dim):
                            a[k] += src[k] * scale[i]
                    else:
                        for k in range(dim):
                            a[k] += src[k]
            for s in range(lo, nu):
                r = uniq[s]
                w = params[r, pcol:pcol + dim]
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

    def grouped(params, pcol, grads, gcol, dim, index, scale, rows, starts, order, S, lr, hp, step, seed):
        m = rows.size
        indexed = index.size > 0
        scaled = scale.size > 0
        for c in prange((m + GROUP_CHUNK - 1) // GROUP_CHUNK):
            a = np.empty(dim, np.float32)  # one accumulator row per chunk of groups
            for u in range(c * GROUP_CHUNK, min(m, (c + 1) * GROUP_CHUNK)):
                if u + PREFETCH_ROWS < m and rows[u + PREFETCH_ROWS] >= 0:  # overlap the row and state misses
                    prefetch(params, rows[u + PREFETCH_ROWS])
                    prefetch(S, rows[u + PREFETCH_ROWS])
                r = rows[u]
                if r < 0:  # an id without an entry: no update
                    continue
                for q in range(starts[u], starts[u + 1]):
                    i = order[q]
                    src = grads[index[i] if indexed else i, gcol:gcol + dim]
                    first = q == starts[u]
                    for k in range(dim):
                        g = src[k] * scale[i] if scaled else src[k]
                        a[k] = g if first else a[k] + g
                w = params[r, pcol:pcol + dim]
                if dc:
                    dc_compensate_at(w, a, S, r, hp, a)
                entry(w, a, S, r, lr, hp, step)
                if rounding:
                    stochastic_round_row(w, seed, step, r)

    par = cpu_jit(parallel=True, work="grads")  # the thread count picked per call (ParallelKernel.run)
    return par(sparse), par(dense_dc if dc else dense), par(sequential), par(grouped)


def run_grouped(driver, params, rows, grads, S, lr, hp, step, seed):
    """Run one entry's grouped driver: ``rows`` the distinct rows, ``grads`` a grouped :class:`RowGrads`."""
    starts, order = grads.groups
    whole, pcol = column_window(params)
    src, gcol = column_window(grads.values)
    driver(whole, pcol, src, gcol, params.shape[1], grads.index, grads.scale, rows, starts, order, S, lr, hp, step,
           seed)


def run_sequential(driver, params, rows, grads, S, lr, hp, step, seed):
    """Run one entry's sequential driver: the rule once per occurrence, each row's occurrences in order.

    The occurrences are grouped by bucket (a stable partition, so a row's
    occurrences keep their order and no two buckets share a row); one thread
    walks each bucket. Linear in the batch whatever the multiplicity.
    """
    order, starts = partition_rows(rows, bucket_count(rows.size))
    driver(params, grads, rows, order, starts, S, lr, hp, step, seed)
