"""The open-addressing index of an embedding hash table: int64 id -> row number.

Layout
------
``slots`` is a ``(capacity, 2)`` int64 array of ``(key, row)`` pairs, so a
probe reads one cache line. A slot is empty when its row is ``EMPTY`` (-1):
the key field is never a marker, so **every** int64 id, 0 and -1 and
``INT64_MIN`` included, is a valid key.

The slots are split into ``parts`` sub-tables of ``2**log2s`` slots each
(``parts`` and ``2**log2s`` powers of two). An id's sub-table is
:func:`monolith_np._rules.partition.bucket_of` (the top bits of a Fibonacci hash,
the same partition the sparse optimizer driver uses), its home slot inside
the sub-table the low bits of :func:`monolith_np._random.mix64`, and probing
is linear, wrapping inside the sub-table. Sub-tables never share a slot, so a
batch partitioned by sub-table is inserted in parallel with one thread per
sub-table and no atomics (:func:`place`), and erasing (backward-shift
deletion, no tombstones) stays inside one sub-table too.

The per-id rules (geometry, home slot, probe, lookup, backward-shift
deletion) are :mod:`monolith_np._rules.index`; this module holds the CPU
drivers that run them over a batch or over sub-tables, and
:mod:`monolith_np.cuda.table` compiles the same rules for the GPU.

Bounds
------
Every probe loop runs at most ``2**log2s`` steps, whatever the input: a
lookup ends at its key, at an empty slot or after one lap. An insert never
fills a sub-table's last slot: the batch's distinct new ids are counted per
sub-table first (:func:`plan_upsert`, which writes nothing), and the caller
grows the index (:func:`rehash`) until they fit (:func:`fits`) before
anything is placed (:func:`place`). When a batch fits even if every
occurrence were new, :func:`claim` resolves it and marks the new ids' slots
in one pass instead (a second pass over the probes saved); its marks are
rows-to-be, turned into rows by :func:`place` or taken back exactly by
:func:`release`.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._compile import cpu_jit, prefetch
from .._rules.index import EMPTY, delete_key, fits_counts, home_of, parts_for, probe, row_of
from .._rules.partition import bucket_of, partition_rows, scratch_slot, scratch_starts

__all__ = [
    "EMPTY",
    "home_of",
    "probe",
    "parts_for",
    "new_slots",
    "find_rows",
    "take_rows",
    "put_rows",
    "add_rows",
    "stamp_rows",
    "UpsertPlan",
    "plan_upsert",
    "fits",
    "claim",
    "release",
    "place",
    "erase_keys",
    "rehash",
    "set_rows",
]


def new_slots(capacity):
    """An empty ``(capacity, 2)`` int64 slot array (every row ``EMPTY``).

    Parameters
    ----------
    capacity : int
        Number of slots, a power of two.

    Returns
    -------
    (capacity, 2) int64 array

    Examples
    --------
    >>> slots = new_slots(4)
    >>> slots.shape, slots[:, 1].tolist()
    ((4, 2), [-1, -1, -1, -1])
    """
    slots = np.empty((capacity, 2), np.int64)
    _clear(slots)
    return slots


#: Ids ahead of the one being looked up whose home slot is prefetched.
PREFETCH_IDS = 16


@cpu_jit(parallel=True, work="slots")
def _clear(slots):
    for s in prange(slots.shape[0]):
        slots[s, 1] = EMPTY


@cpu_jit(parallel=True, work="ids")
def find_rows(slots, parts, log2s, ids, rows):
    """``rows[i]`` = the row of ``ids[i]``, or ``EMPTY`` when absent (parallel over ids).

    Parameters
    ----------
    slots : (capacity, 2) int64 array
    parts, log2s : int
        The index geometry.
    ids : (n,) int64 array
    rows : (n,) int64 array
        Output.

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.array([10, 20, 30], np.int64), 16)
    >>> rows = np.empty(3, np.int64)
    >>> find_rows(slots, parts, log2s, np.array([20, 99, 10], np.int64), rows)
    >>> rows.tolist()
    [1, -1, 0]
    """
    for i in prange(ids.size):
        if i + PREFETCH_IDS < ids.size:  # the home slot of an id ahead: overlap the probes' misses
            base, home = home_of(ids[i + PREFETCH_IDS], parts, log2s)
            prefetch(slots, base + home)
        rows[i] = row_of(slots, ids[i], parts, log2s)


@cpu_jit(parallel=True, work="out")
def take_rows(values, rows, out):
    """``out[i] = values[rows[i]]``, zeros where ``rows[i]`` is ``EMPTY`` (parallel over rows).

    Lookups find every row first (:func:`find_rows`) and gather second: fused
    into one loop, the probe's unpredictable branches kept fewer memory
    accesses in flight and the lookup ran about 2x slower.

    Parameters
    ----------
    values : (rows, dim) float32 array
        The row store.
    rows : (n,) int64 array
    out : (n, dim) float32 array
        Output.

    Examples
    --------
    >>> out = np.empty((2, 1), np.float32)
    >>> take_rows(np.array([[1.0], [2.0]], np.float32), np.array([1, EMPTY], np.int64), out)
    >>> out.ravel().tolist()
    [2.0, 0.0]
    """
    dim = values.shape[1]
    for i in prange(rows.size):
        if i + PREFETCH_IDS < rows.size and rows[i + PREFETCH_IDS] != EMPTY:  # overlap the row misses
            prefetch(values, rows[i + PREFETCH_IDS])
        r = rows[i]
        if r == EMPTY:
            for k in range(dim):
                out[i, k] = 0.0
        else:
            v = values[r]  # a row view: the column loop vectorises
            o = out[i]
            for k in range(dim):
                o[k] = v[k]


@cpu_jit(parallel=True, work="src")
def put_rows(values, rows, src, bands):
    """``values[rows[i]] = src[i]`` skipping ``EMPTY``, a repeated row keeping its last value.

    The occurrences are read in batch order (``src`` front to back). The
    table's rows are cut into ``bands`` (one per thread, in parallel): each
    band scans the whole batch and writes only its own rows, so the
    occurrences of a row stay in order on one thread. (Walking the upsert
    plan's groups instead read ``src`` rows far apart and ran 2.5x slower.)

    Parameters
    ----------
    values : (rows, dim) float32 array
        Written in place.
    rows : (n,) int64 array
    src : (n, dim) float32 array
    bands : int
        ``>= 1``; the threads numba may use.

    Examples
    --------
    >>> values = np.zeros((2, 1), np.float32)
    >>> put_rows(values, np.array([1, 1, EMPTY], np.int64), np.array([[1.0], [2.0], [3.0]], np.float32), 2)
    >>> values.ravel().tolist()
    [0.0, 2.0]
    """
    dim = values.shape[1]
    for t in prange(bands):
        lo = values.shape[0] * t // bands
        hi = values.shape[0] * (t + 1) // bands
        for i in range(rows.size):
            r = rows[i]
            if lo <= r < hi:  # (EMPTY is below every band)
                v, s = values[r], src[i]  # row views: the column loop vectorises
                for k in range(dim):
                    v[k] = s[k]


@cpu_jit
def add_rows(values, rows, src):
    """``values[rows[i]] += src[i]`` in order, skipping ``EMPTY``.

    Parameters
    ----------
    values : (rows, dim) float32 array
        Written in place.
    rows : (n,) int64 array
    src : (n, dim) float32 array

    Examples
    --------
    >>> values = np.zeros((2, 1), np.float32)
    >>> add_rows(values, np.array([1, 1, EMPTY], np.int64), np.array([[1.0], [2.0], [3.0]], np.float32))
    >>> values.ravel().tolist()
    [0.0, 3.0]
    """
    for i in range(rows.size):
        r = rows[i]
        if r != EMPTY:
            for k in range(values.shape[1]):
                values[r, k] += src[i, k]


@cpu_jit(parallel=True, work="rows")
def stamp_rows(stamps, rows, value):
    """``stamps[rows[i]] = value`` for every row that is not ``EMPTY``.

    Parameters
    ----------
    stamps : (rows,) uint32 array
        Written in place.
    rows : (n,) int64 array
    value : np.uint32

    Examples
    --------
    >>> stamps = np.zeros(3, np.uint32)
    >>> stamp_rows(stamps, np.array([2, EMPTY], np.int64), np.uint32(7))
    >>> stamps.tolist()
    [0, 0, 7]
    """
    for i in prange(rows.size):
        r = rows[i]
        if r != EMPTY and stamps[r] != value:  # read first: a hot row's line is not bounced between cores
            stamps[r] = value


class UpsertPlan:
    """A batch resolved against the index, grouped by sub-table (from :func:`plan_upsert`).

    Attributes
    ----------
    order, starts : int64 arrays
        The batch's occurrences grouped by sub-table (``order`` empty: identity).
    uniq : (n,) int64 array
        Sub-table ``p``'s distinct absent ids at
        ``uniq[starts[p]:starts[p] + new_count[p]]``, in first-occurrence order.
    res : (n,) int64 array
        Per grouped occurrence (``res[q]`` belongs to occurrence ``order[q]``):
        the row of a present id, or ``-2 - k`` for the ``k``-th distinct
        absent id of its sub-table.
    new_count : (parts,) int64 array
    parts : int
        The sub-table count the plan was made for.
    where : (n,) int64 array
        For a plan from :func:`claim`: the slot each new id already holds,
        at the positions of ``uniq``; empty for a plan from :func:`plan_upsert`.
    longest : (parts,) int64 array
        Per sub-table, the longest probe (slots past its home) a new id
        took: written by :func:`claim`, or by :func:`place` for a plan of
        :func:`plan_upsert`.
    """

    __slots__ = ("order", "starts", "uniq", "res", "new_count", "parts", "where", "longest")

    def __init__(self, order, starts, uniq, res, new_count, parts, where):
        self.order, self.starts, self.uniq, self.res = order, starts, uniq, res
        self.new_count, self.parts, self.where = new_count, parts, where
        self.longest = np.zeros(parts, np.int64)

    @property
    def total(self):
        """Number of distinct absent ids."""
        return int(self.new_count.sum())


@cpu_jit(parallel=True, work="keys")
def _resolve(slots, parts, log2s, keys, starts, hstarts, hkeys, hvals, uniq, res, new_count):
    for p in prange(parts):
        lo = hstarts[p]
        mask = hstarts[p + 1] - lo - 1
        for q in range(lo, hstarts[p + 1]):
            hvals[q] = -1
        n = 0
        for q in range(starts[p], starts[p + 1]):
            key = keys[q]
            base, home = home_of(key, parts, log2s)
            s, found = probe(slots, key, base, home, log2s)
            if found:
                res[q] = slots[s, 1]
                continue
            c = scratch_slot(hkeys, hvals, lo, mask, key)
            if hvals[c] < 0:
                hkeys[c] = key
                hvals[c] = n
                uniq[starts[p] + n] = key
                n += 1
            res[q] = -2 - hvals[c]
        new_count[p] = n


def plan_upsert(slots, parts, log2s, ids):
    """Resolve a batch against the index, sub-table by sub-table, writing nothing to it.

    The ids are grouped by sub-table (a stable counting sort); then one
    thread per sub-table finds each present id's row and de-duplicates the
    absent ones in a small scratch hash region. Each thread walks one
    sub-table at a time, so its probes stay in cache, unlike a lookup in
    batch order. The caller checks the room the new ids need
    (:func:`fits`) and grows the index first, so an insert never has to be
    undone.

    Parameters
    ----------
    slots : (capacity, 2) int64 array
    parts, log2s : int
        The index geometry.
    ids : (n,) int64 array
        Ids, possibly repeated, present or not.

    Returns
    -------
    UpsertPlan

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.array([10], np.int64), 16)
    >>> plan = plan_upsert(slots, parts, log2s, np.array([10, 5, 5, 6], np.int64))
    >>> plan.total, plan.res.tolist()
    (2, [0, -2, -2, -3])
    """
    order, starts = partition_rows(ids, parts)
    keys = ids[order] if order.size else ids  # grouped: the per-sub-table passes read in order
    hstarts = scratch_starts(np.diff(starts))
    hkeys = np.empty(int(hstarts[-1]), np.int64)
    hvals = np.empty(int(hstarts[-1]), np.int64)
    uniq = np.empty(ids.size, np.int64)
    res = np.empty(ids.size, np.int64)
    new_count = np.zeros(parts, np.int64)
    _resolve(slots, parts, log2s, keys, starts, hstarts, hkeys, hvals, uniq, res, new_count)
    return UpsertPlan(order, starts, uniq, res, new_count, parts, np.empty(0, np.int64))


def fits(counts, log2s, plan):
    """Whether every sub-table keeps an empty slot after inserting ``plan``'s new ids.

    Parameters
    ----------
    counts : (parts,) int64 array
    log2s : int
    plan : UpsertPlan

    Returns
    -------
    bool

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.empty(0, np.int64), 4)
    >>> fits(counts, log2s, plan_upsert(slots, parts, log2s, np.arange(3))), fits(
    ...     counts, log2s, plan_upsert(slots, parts, log2s, np.arange(4)))
    (True, False)
    """
    return plan.parts == counts.size and fits_counts(counts, plan.new_count, log2s)


@cpu_jit(parallel=True, work="keys")
def _claim(slots, counts, parts, log2s, keys, starts, uniq, where, res, new_count, full, longest):
    limit = (np.int64(1) << log2s) - 1  # keys a sub-table may hold: one slot stays empty
    for p in prange(parts):
        n = 0
        far = 0
        for q in range(starts[p], starts[p + 1]):
            if q + PREFETCH_IDS < starts[p + 1]:  # the home slot of a key ahead: overlap the probes' misses
                pb, ph = home_of(keys[q + PREFETCH_IDS], parts, log2s)
                prefetch(slots, pb + ph)
            key = keys[q]
            base, home = home_of(key, parts, log2s)
            s, found = probe(slots, key, base, home, log2s)
            if found:  # a row, or the -2 - k mark of an id claimed earlier in this batch
                res[q] = slots[s, 1]
                continue
            if counts[p] + n >= limit:
                full[p] = True
                break
            slots[s, 0] = key
            slots[s, 1] = -2 - n
            uniq[starts[p] + n] = key
            where[starts[p] + n] = s
            res[q] = -2 - n
            n += 1
            far = max(far, (s - base - home) & limit)
        new_count[p] = n
        longest[p] = far


def claim(slots, counts, parts, log2s, ids, max_new):
    """Resolve a batch and mark its new ids' slots in one pass, when the room is certain.

    The one-pass form of :func:`plan_upsert`: each absent id takes the empty
    slot its probe ends at, marked with the ``-2 - k`` of the plan (not yet a
    row), so its later occurrences find it there and no scratch table is
    needed. When a sub-table would have to take its last empty slot, or the
    batch holds more than ``max_new`` new ids, the marks are taken back and
    the result is None (the index is as it was; the caller plans and grows).
    Otherwise :func:`place` turns the marks into rows, or :func:`release`
    takes them back.

    Parameters
    ----------
    slots : (capacity, 2) int64 array
        Marked in place.
    counts : (parts,) int64 array
    parts, log2s : int
        The index geometry.
    ids : (n,) int64 array
    max_new : int
        Entries the table may still take before it must grow.

    Returns
    -------
    UpsertPlan or None

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.empty(0, np.int64), 16)
    >>> claim(slots, counts, parts, log2s, np.array([4, 4, 9], np.int64), max_new=1) is None
    True
    >>> plan = claim(slots, counts, parts, log2s, np.array([4, 4, 9], np.int64), max_new=2)
    >>> plan.total, int((slots[:, 1] != EMPTY).sum())
    (2, 2)
    """
    order, starts = partition_rows(ids, parts)
    keys = ids[order] if order.size else ids
    uniq = np.empty(ids.size, np.int64)
    where = np.empty(ids.size, np.int64)
    res = np.empty(ids.size, np.int64)
    new_count = np.zeros(parts, np.int64)
    full = np.zeros(parts, np.bool_)
    plan = UpsertPlan(order, starts, uniq, res, new_count, parts, where)
    _claim(slots, counts, parts, log2s, keys, starts, uniq, where, res, new_count, full, plan.longest)
    if full.any() or plan.total > max_new:
        release(slots, plan)
        return None
    return plan


@cpu_jit(parallel=True, work="where")
def _release(slots, starts, new_count, where):
    for p in prange(new_count.size):
        for k in range(new_count[p] - 1, -1, -1):  # newest first: each undoes one insert exactly
            slots[where[starts[p] + k], 1] = EMPTY


def release(slots, plan):
    """Take back the slots a :func:`claim` marked, leaving the index as it was before.

    Parameters
    ----------
    slots : (capacity, 2) int64 array
        Written in place.
    plan : UpsertPlan
        From :func:`claim`, not yet placed.

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.empty(0, np.int64), 16)
    >>> release(slots, claim(slots, counts, parts, log2s, np.array([4, 9], np.int64), max_new=2))
    >>> bool((slots[:, 1] == EMPTY).all())
    True
    """
    _release(slots, plan.starts, plan.new_count, plan.where)


@cpu_jit(parallel=True, work="rows")
def _place(slots, counts, parts, log2s, uniq, starts, new_count, res, order, where, row_base, row_ids, rows,
           longest):
    identity = order.size == 0
    claimed = where.size > 0
    mask = (np.int64(1) << log2s) - 1
    for p in prange(parts):
        for k in range(new_count[p]):
            if claimed and k + PREFETCH_IDS < new_count[p]:  # the claimed slot of a key ahead
                prefetch(slots, where[starts[p] + k + PREFETCH_IDS])
            key = uniq[starts[p] + k]
            if claimed:
                s = where[starts[p] + k]
            else:
                base, home = home_of(key, parts, log2s)
                s, _ = probe(slots, key, base, home, log2s)
                longest[p] = max(longest[p], (s - base - home) & mask)
            r = row_base[p] + k
            slots[s, 0] = key
            slots[s, 1] = r
            row_ids[r] = key
        counts[p] += new_count[p]
        for q in range(starts[p], starts[p + 1]):
            r = res[q]
            if r <= -2:
                r = row_base[p] + (-2 - r)
            rows[q if identity else order[q]] = r


def place(slots, counts, log2s, plan, first_row, row_ids, rows):
    """Insert a plan's new ids with rows ``first_row, first_row + 1, ...`` (sub-table by sub-table).

    The caller has checked :func:`fits` (or the plan is a :func:`claim`'s,
    whose slots are taken already and only get their rows). One thread per
    sub-table, no atomics.

    Parameters
    ----------
    slots : (capacity, 2) int64 array
        Written in place.
    counts : (parts,) int64 array
        Keys per sub-table, increased in place.
    log2s : int
    plan : UpsertPlan
    first_row : int
        Row of the first new id.
    row_ids : (row_capacity,) int64 array
        Key of every row, written for the new rows.
    rows : (n,) int64 array
        Output: the row of every occurrence of the planned batch.

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.empty(0, np.int64), 16)
    >>> ids = np.array([4, 9, 4], np.int64)
    >>> row_ids, rows = np.empty(4, np.int64), np.empty(3, np.int64)
    >>> place(slots, counts, log2s, plan_upsert(slots, parts, log2s, ids), 0, row_ids, rows)
    >>> rows.tolist(), row_ids[:2].tolist(), counts.tolist()
    ([0, 1, 0], [4, 9], [2])
    """
    row_base = first_row + np.concatenate(([0], np.cumsum(plan.new_count)[:-1])).astype(np.int64)
    _place(slots, counts, plan.parts, log2s, plan.uniq, plan.starts, plan.new_count, plan.res, plan.order,
           plan.where, row_base, row_ids, rows, plan.longest)


@cpu_jit
def erase_keys(slots, counts, parts, log2s, keys, rows):
    """Delete ``keys`` from the index; ``rows[i]`` gets the freed row or ``EMPTY``.

    Parameters
    ----------
    slots : (capacity, 2) int64 array
    counts : (parts,) int64 array
        Decreased in place.
    parts, log2s : int
        The index geometry.
    keys : (n,) int64 array
        Keys to delete (absent and repeated keys are fine).
    rows : (n,) int64 array
        Output.

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.array([10, 20], np.int64), 16)
    >>> rows = np.empty(2, np.int64)
    >>> erase_keys(slots, counts, parts, log2s, np.array([20, 99], np.int64), rows)
    >>> rows.tolist(), counts.tolist()
    ([1, -1], [1])
    """
    for i in range(keys.size):
        r = delete_key(slots, keys[i], parts, log2s)
        rows[i] = r
        if r != EMPTY:
            counts[bucket_of(keys[i], parts)] -= 1


@cpu_jit
def set_rows(slots, parts, log2s, keys, rows):
    """Point each present ``keys[i]`` at ``rows[i]`` (after rows moved).

    Parameters
    ----------
    slots : (capacity, 2) int64 array
    parts, log2s : int
        The index geometry.
    keys, rows : (n,) int64 arrays

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.array([10, 20], np.int64), 16)
    >>> set_rows(slots, parts, log2s, np.array([20], np.int64), np.array([0], np.int64))
    >>> found = np.empty(1, np.int64)
    >>> find_rows(slots, parts, log2s, np.array([20], np.int64), found)
    >>> found.tolist()
    [0]
    """
    for i in range(keys.size):
        base, home = home_of(keys[i], parts, log2s)
        s, found = probe(slots, keys[i], base, home, log2s)
        if found:
            slots[s, 1] = rows[i]


@cpu_jit(parallel=True, work="order")
def _reinsert(slots, counts, parts, log2s, row_ids, order, starts):
    identity = order.size == 0
    for p in prange(parts):
        for q in range(starts[p], starts[p + 1]):
            r = q if identity else order[q]
            key = row_ids[r]
            base, home = home_of(key, parts, log2s)
            s, _ = probe(slots, key, base, home, log2s)
            slots[s, 0] = key
            slots[s, 1] = r
        counts[p] = starts[p + 1] - starts[p]


def rehash(row_ids, capacity):
    """Build an index of ``capacity`` slots holding ``row_ids[r] -> r`` for every row.

    Parameters
    ----------
    row_ids : (size,) int64 array
        Distinct keys, one per row.
    capacity : int
        Slots, a power of two with room for every key.

    Returns
    -------
    slots : (capacity, 2) int64 array
    counts : (parts,) int64 array
    parts, log2s : int

    Examples
    --------
    >>> slots, counts, parts, log2s = rehash(np.array([7, -1, 0], np.int64), 1 << 13)
    >>> slots.shape, int(counts.sum()), parts, log2s
    ((8192, 2), 3, 2, 12)
    """
    parts = parts_for(capacity)
    log2s = int(capacity // parts).bit_length() - 1
    slots = new_slots(capacity)
    counts = np.zeros(parts, np.int64)
    order, starts = partition_rows(row_ids, parts)
    _reinsert(slots, counts, parts, log2s, row_ids, order, starts)
    return slots, counts, parts, log2s

