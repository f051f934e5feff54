"""GPU drivers of the embedding-table index (the CPU's is :mod:`monolith_np.table.index`), same layout.

The index is the CPU one, slot for slot: a ``(capacity, 2)`` int64 array of
``(key, row)`` slots, empty where the row is ``EMPTY`` (-1), split into
``parts`` sub-tables of ``2**log2s`` slots. The probing rules are the CPU's
own (``home_of``, ``probe``, ``row_of`` and the backward-shift ``delete_key``
of :mod:`monolith_np._rules.index`, ``bucket_of`` of
:mod:`monolith_np._rules.partition`), compiled as
CUDA device functions; an index built or changed here is read by the CPU
functions and the other way round (after a copy).

Every driver validates nothing and allocates nothing: outputs and scratch
arrays are arguments (CuPy arrays on a GPU, numpy arrays under
``NUMBA_ENABLE_CUDASIM=1``), and failures are reported through a ``status``
array (``STATUS_OK`` or ``STATUS_FULL``) that the caller reads once after the
launch, never by an exception in a kernel.

Insertion
---------
A batch of ids, possibly repeated, with the rows :func:`find_rows_gpu` gave
them (``found``, ``EMPTY`` for an absent id) is inserted in two steps, so
nothing is written to the index before the caller knows it fits. Present
occurrences are skipped by every thread, so the caller never compacts the
batch on the device (no data-dependent size, hence no hidden wait):

1. :func:`plan_insert_gpu` de-duplicates on the device. Each absent occurrence ``i``
   claims a cell of a scratch hash region (``cells``, a power of two
   ``>= 2 n``, see :func:`dedup_cells`) with ``atomic.cas(cells, c, 0, i + 1)``.
   A thread that loses the CAS reads the winner's occurrence ``j`` and
   compares ``ids[j]`` with its key: ``ids`` is never written, so there is no
   half-written key to wait for, hence no spin-wait and no deadlock. The
   winner is its key's representative; it takes the next number of its
   sub-table's counter (``local[i] = atomic.add(new_count, p, 1)``), which
   also counts the sub-table's new keys. Each occurrence records its
   representative in ``rep``. Nothing of the index is written.
2. The caller reads ``new_count`` back once, checks
   :func:`monolith_np._rules.index.fits_counts` (every sub-table keeps one
   empty slot) and its load limit, grows first if needed (and then
   plans again, as the CPU table does), and calls :func:`place_gpu`. It
   gives sub-table ``p`` the rows ``row_base[p] + [0, new_count[p])`` with
   ``row_base`` the exclusive prefix sum of ``new_count`` from ``first_row``
   (so the new rows are ``[first_row, first_row + total)``, grouped by
   sub-table like the CPU's), and each representative claims the first empty
   slot on its probe path with ``atomic.cas(slots, (s, 1), EMPTY, row)`` and
   then writes the key; a present occurrence gets its ``found`` row. Keys
   placed are distinct and absent, so no key is compared
   while claiming; a slot never becomes empty during an insert, so every
   slot between a key's home and its slot is occupied and the CPU's
   ``probe`` finds it. The walk is bounded by one lap of the sub-table; a
   thread that finds no slot (impossible when the caller checked room) sets
   ``status[0] = STATUS_FULL``; nothing resets it, so the caller may read it
   with its next read instead of waiting for the device right after the
   launch.

Which occurrence wins a cell, and so the order of rows inside a sub-table's
block, depends on thread scheduling: GPU row numbers are not reproducible
run to run (the CPU's are). Everything derived from the id alone (initial
values, lookups) is unaffected.

Erasing
-------
Two routes. :func:`erase_gpu` runs the CPU's backward-shift deletion with
one thread per sub-table (sub-tables never share a slot), each thread
walking the whole batch and deleting its own keys in batch order: the slots
it leaves are bit-identical to the CPU's :func:`~monolith_np.table.index.erase_keys`.
Its parallelism is only ``parts`` threads (1 below 8192 slots), so it suits
small erase batches; rows moved by the compaction of the row store are then
re-pointed with :func:`set_rows_gpu`. For large batches, compact the row
store and rebuild with :func:`rehash_gpu` instead: ``O(capacity + size)``
per call, fully parallel.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .._compile import gpu_device, gpu_kernel
from .._random import as_uint64, mix64
from .._rules import index as rix
from .._rules.partition import bucket_of
from ._launch import launch

__all__ = [
    "EMPTY",
    "STATUS_OK",
    "STATUS_FULL",
    "dedup_cells",
    "find_rows_gpu",
    "take_rows_gpu",
    "put_rows_gpu",
    "add_rows_gpu",
    "stamp_rows_gpu",
    "plan_insert_gpu",
    "place_gpu",
    "rehash_gpu",
    "erase_gpu",
    "set_rows_gpu",
]

#: Row value of an empty slot (the CPU index's).
EMPTY = rix.EMPTY
#: ``status[0]`` after a launch that went well.
STATUS_OK = 0
#: ``status[0]`` when a key found no free slot (or cell): the caller did not check room.
STATUS_FULL = 1

# The index rules the CPU drivers run, compiled for the GPU (no copy of the probing math).
home_of_dev = gpu_device(rix.home_of)
probe_dev = gpu_device(rix.probe)
row_of_dev = gpu_device(rix.row_of)
delete_dev = gpu_device(rix.delete_key)
bucket_of_dev = gpu_device(bucket_of)
mix64_dev = gpu_device(mix64)
as_uint64_dev = gpu_device(as_uint64)


def _claim(slots, key, row, parts, log2s):
    """Claim the first empty slot on ``key``'s probe path for ``row`` (CAS on the row field).

    Returns the slot, or -1 after a full lap of the sub-table. The key is
    written after the claim; ``key`` must be absent and distinct from every
    key placed concurrently.
    """
    base, home = home_of_dev(key, parts, log2s)
    mask = (np.int64(1) << log2s) - 1
    pos = home
    for _ in range(mask + 1):
        s = base + pos
        if slots[s, 1] == EMPTY:
            if cuda.atomic.cas(slots, (s, 1), np.int64(EMPTY), row) == EMPTY:
                slots[s, 0] = key
                return s
        pos = (pos + 1) & mask
    return np.int64(-1)


claim_dev = gpu_device(_claim)


# -- lookups and row-store access ---------------------------------------------------


@gpu_kernel
def _find_kernel(slots, parts, log2s, ids, rows):
    """One thread per id: ``rows[i]`` = the row of ``ids[i]`` or ``EMPTY``."""
    for i in range(cuda.grid(1), ids.shape[0], cuda.gridsize(1)):
        rows[i] = row_of_dev(slots, ids[i], parts, log2s)


@gpu_kernel
def _take_kernel(values, rows, out):
    """One thread per element of ``out`` (n, dim): gather, zeros for ``EMPTY`` rows."""
    dim = out.shape[1]
    for t in range(cuda.grid(1), rows.shape[0] * dim, cuda.gridsize(1)):
        i = t // dim
        k = t - i * dim
        r = rows[i]
        if r == EMPTY:
            out[i, k] = 0
        else:
            out[i, k] = values[r, k]


@gpu_kernel
def _unmark_kernel(rows, last):
    """One thread per occurrence: ``last[rows[i]] = -1`` (every writer writes the same value)."""
    for i in range(cuda.grid(1), rows.shape[0], cuda.gridsize(1)):
        r = rows[i]
        if r != EMPTY:
            last[r] = -1


@gpu_kernel
def _mark_kernel(rows, last):
    """One thread per occurrence: ``last[rows[i]] = max(i)`` (``atomic.max``)."""
    for i in range(cuda.grid(1), rows.shape[0], cuda.gridsize(1)):
        r = rows[i]
        if r != EMPTY:
            cuda.atomic.max(last, r, i)


@gpu_kernel
def _put_kernel(values, rows, src, last):
    """One thread per element of ``src``: the row's last occurrence writes it."""
    dim = src.shape[1]
    for t in range(cuda.grid(1), rows.shape[0] * dim, cuda.gridsize(1)):
        i = t // dim
        k = t - i * dim
        r = rows[i]
        if r != EMPTY and last[r] == i:
            values[r, k] = src[i, k]


@gpu_kernel
def _add_kernel(values, rows, src):
    """One thread per element of ``src``: ``atomic.add`` into ``values[rows[i], k]``."""
    dim = src.shape[1]
    for t in range(cuda.grid(1), rows.shape[0] * dim, cuda.gridsize(1)):
        i = t // dim
        k = t - i * dim
        r = rows[i]
        if r != EMPTY:
            cuda.atomic.add(values, (r, k), src[i, k])


@gpu_kernel
def _stamp_kernel(stamps, rows, value):
    """One thread per occurrence: ``stamps[rows[i]] = value`` (same value from every writer)."""
    for i in range(cuda.grid(1), rows.shape[0], cuda.gridsize(1)):
        r = rows[i]
        if r != EMPTY:
            stamps[r] = value


def find_rows_gpu(slots, parts, log2s, ids, rows):
    """Look up the row of every id (one thread per id).

    The GPU twin of :func:`monolith_np.table.index.find_rows`, built from the
    same ``row_of`` rule: a bounded linear probe inside the id's sub-table.

    Parameters
    ----------
    slots : (capacity, 2) int64 device array
        The index (read only).
    parts : int
        Number of sub-tables (a power of two).
    log2s : int
        log2 of the slots per sub-table.
    ids : (n,) int64 device array
        Any int64 values.
    rows : (n,) int64 device array
        Output: the row of ``ids[i]``, or ``EMPTY`` when absent.

    See Also
    --------
    monolith_np.table.index.find_rows : The CPU driver.
    """
    launch(_find_kernel, ids.shape[0], slots, np.int64(parts), np.int64(log2s), ids, rows)


def take_rows_gpu(values, rows, out):
    """Gather rows of the row store: ``out[i] = values[rows[i]]``, zeros where ``rows[i]`` is ``EMPTY``.

    One thread per output element.

    Parameters
    ----------
    values : (num_rows, dim) device array
        The row store (read only).
    rows : (n,) int64 device array
        Rows, or ``EMPTY``.
    out : (n, dim) device array
        Output, same dtype as ``values``.

    See Also
    --------
    monolith_np.table.index.take_rows : The CPU driver.
    """
    launch(_take_kernel, rows.shape[0] * out.shape[1], values, rows, out)


def put_rows_gpu(values, rows, src, last):
    """Scatter ``values[rows[i]] = src[i]``; a repeated row keeps its last occurrence.

    Three launches make the result independent of thread order: every
    occurrence resets ``last[rows[i]]`` to -1, then ``atomic.max`` leaves the
    largest occurrence index of each row there, then only that occurrence
    writes its row. Only the rows named in ``rows`` are touched in ``last``,
    so it needs no clearing by the caller (``xp.empty`` is fine) and a call
    costs ``O(n * dim)``, not ``O(num_rows)``.

    Parameters
    ----------
    values : (num_rows, dim) device array
        Written in place.
    rows : (n,) int64 device array
        Rows; ``EMPTY`` entries are skipped.
    src : (n, dim) device array
        The new rows.
    last : (num_rows,) int64 device array
        Scratch (its content on entry does not matter; overwritten at the
        rows named).

    See Also
    --------
    monolith_np.table.index.put_rows : The CPU driver (in order, same result).
    """
    n = rows.shape[0]
    launch(_unmark_kernel, n, rows, last)
    launch(_mark_kernel, n, rows, last)
    launch(_put_kernel, n * src.shape[1], values, rows, src, last)


def add_rows_gpu(values, rows, src):
    """Accumulate ``values[rows[i]] += src[i]`` with one atomic add per element.

    Parameters
    ----------
    values : (num_rows, dim) float32 or float64 device array
        Written in place.
    rows : (n,) int64 device array
        Rows; ``EMPTY`` entries are skipped.
    src : (n, dim) device array
        Increments (cast to ``values``' dtype).

    Notes
    -----
    The adds to a repeated row land in scheduling order, whereas the CPU
    driver adds in batch order: float results can differ by rounding when a
    row repeats (they are exact when the sums are, e.g. small integers).

    See Also
    --------
    monolith_np.table.index.add_rows : The CPU driver.
    """
    launch(_add_kernel, rows.shape[0] * src.shape[1], values, rows, src)


def stamp_rows_gpu(stamps, rows, value):
    """Set ``stamps[rows[i]] = value`` for every row that is not ``EMPTY``.

    Parameters
    ----------
    stamps : (num_rows,) uint32 device array
        Written in place.
    rows : (n,) int64 device array
    value : numpy.uint32
        The stamp (e.g. the update time).

    See Also
    --------
    monolith_np.table.index.stamp_rows : The CPU driver.
    """
    launch(_stamp_kernel, rows.shape[0], stamps, rows, value)


# -- insertion ----------------------------------------------------------------------


@gpu_kernel
def _plan_clear_kernel(cells, new_count, status):
    """One thread per cell (or sub-table): zero ``cells`` and ``new_count``, reset ``status``."""
    for t in range(cuda.grid(1), max(cells.shape[0], new_count.shape[0]), cuda.gridsize(1)):
        if t < cells.shape[0]:
            cells[t] = 0
        if t < new_count.shape[0]:
            new_count[t] = 0
        if t == 0:
            status[0] = STATUS_OK


@gpu_kernel
def _dedup_kernel(ids, found, parts, cells, rep, local, new_count, status):
    """One thread per absent occurrence: CAS-claim a cell (``i + 1``) or find the key's owner there."""
    mask = cells.shape[0] - 1
    umask = np.uint64(mask)
    for i in range(cuda.grid(1), ids.shape[0], cuda.gridsize(1)):
        if found[i] != EMPTY:
            continue
        key = ids[i]
        h = mix64_dev(as_uint64_dev(key))
        # The high half first: home_of uses the low bits, so keys crowding one
        # home slot still spread over the cells.
        pos = np.int64(((h >> np.uint64(32)) | (h << np.uint64(32))) & umask)
        done = False
        for _ in range(mask + 1):
            c = cuda.atomic.cas(cells, pos, np.int64(0), np.int64(i + 1))
            if c == 0:
                rep[i] = i
                local[i] = cuda.atomic.add(new_count, bucket_of_dev(key, parts), np.int64(1))
                done = True
                break
            j = c - 1
            if ids[j] == key:
                rep[i] = j
                done = True
                break
            pos = (pos + 1) & mask
        if not done:
            cuda.atomic.max(status, 0, np.int64(STATUS_FULL))


@gpu_kernel
def _bases_kernel(new_count, counts, first_row, row_base):
    """Thread 0 only: ``row_base`` = exclusive prefix sum of ``new_count`` from ``first_row``; counts grow."""
    if cuda.grid(1) == 0:
        acc = first_row
        for p in range(new_count.shape[0]):
            row_base[p] = acc
            acc += new_count[p]
            counts[p] += new_count[p]


@gpu_kernel
def _place_kernel(slots, parts, log2s, ids, found, rep, local, row_base, row_ids, rows, status):
    """One thread per occurrence: its row; representatives claim a slot and write ``row_ids``."""
    for i in range(cuda.grid(1), ids.shape[0], cuda.gridsize(1)):
        if found[i] != EMPTY:
            rows[i] = found[i]
            continue
        key = ids[i]
        j = rep[i]
        r = row_base[bucket_of_dev(key, parts)] + local[j]
        rows[i] = r
        if j == i:
            row_ids[r] = key
            if claim_dev(slots, key, r, parts, log2s) < 0:
                cuda.atomic.max(status, 0, np.int64(STATUS_FULL))


def dedup_cells(n):
    """Size of the scratch hash region :func:`plan_insert_gpu` needs for ``n`` ids.

    Parameters
    ----------
    n : int
        Ids in the batch (occurrences, repeats included).

    Returns
    -------
    int
        The smallest power of two ``>= 2 n``, at least 16.
    """
    return 1 << max(4, (2 * int(n) - 1).bit_length())


def plan_insert_gpu(ids, found, parts, cells, rep, local, new_count, status):
    """De-duplicate the absent ids of a batch on the device and count new keys per sub-table.

    Writes nothing to the index, so the caller can check room with
    ``new_count`` (:func:`monolith_np._rules.index.fits_counts`, its load
    limit) and grow the index
    before :func:`place_gpu`. After a rehash, plan again: ``local`` numbers
    and ``new_count`` are per sub-table of the ``parts`` given here.

    Parameters
    ----------
    ids : (n,) int64 device array
        The batch, possibly repeated. Must not change until :func:`place_gpu`
        has run.
    found : (n,) int64 device array
        Row of each id in the index (:func:`find_rows_gpu`), ``EMPTY`` where
        absent; only the absent occurrences are planned.
    parts : int
        Sub-tables of the index the ids go to.
    cells : (m,) int64 device array
        Scratch hash region, ``m`` a power of two ``>= 2 n``
        (:func:`dedup_cells`); cleared here, content on entry irrelevant.
    rep : (n,) int64 device array
        Output at absent occurrences: the representative occurrence of
        ``ids[i]`` (one per distinct absent id; ``rep[i] == i`` for the
        representative itself).
    local : (n,) int64 device array
        Output, at representatives: the key's number among its sub-table's
        new keys, ``0 .. new_count[p] - 1``.
    new_count : (parts,) int64 device array
        Output: distinct new ids per sub-table (cleared here first).
    status : (1,) int64 device array
        Output: ``STATUS_OK``, or ``STATUS_FULL`` if ``cells`` was too small.

    Notes
    -----
    Which occurrence becomes the representative, and so the order of the
    numbers inside a sub-table, depends on thread scheduling.

    See Also
    --------
    monolith_np.table.index.plan_upsert : The CPU version (which also resolves present ids).
    """
    launch(_plan_clear_kernel, max(cells.shape[0], new_count.shape[0]), cells, new_count, status)
    launch(_dedup_kernel, ids.shape[0], ids, found, np.int64(parts), cells, rep, local, new_count, status)


def place_gpu(slots, counts, parts, log2s, ids, found, rep, local, new_count, first_row, row_base, row_ids, rows,
              status):
    """Insert a planned batch: claim slots with CAS, number the rows, record every occurrence's row.

    Sub-table ``p``'s new keys get rows ``row_base[p] + local`` where
    ``row_base`` is the exclusive prefix sum of ``new_count`` starting at
    ``first_row``: the batch's new rows are ``[first_row, first_row + total)``.
    One thread per occurrence; representatives walk from their home slot and
    claim the first empty one with ``atomic.cas`` on its row field, at most
    one lap of the sub-table.

    Parameters
    ----------
    slots : (capacity, 2) int64 device array
        The index, written in place.
    counts : (parts,) int64 device array
        Keys per sub-table, increased by ``new_count`` in place.
    parts, log2s : int
        The index geometry (``parts`` as given to :func:`plan_insert_gpu`).
    ids, found, rep, local, new_count : device arrays
        The batch, its rows found, and its plan from :func:`plan_insert_gpu`.
    first_row : int
        Row of the first new key (the table's size).
    row_base : (parts,) int64 device array
        Scratch, written here.
    row_ids : (row_capacity,) int64 device array
        Key of every row; written for the new rows (``row_capacity >=
        first_row + total``).
    rows : (n,) int64 device array
        Output: the row of every occurrence (may be ``found`` itself).
    status : (1,) int64 device array
        Set to ``STATUS_FULL`` when some key found no empty slot, left alone
        otherwise (pass ``STATUS_OK``; a failure stays until the caller
        reads it). That cannot happen after
        :func:`~monolith_np._rules.index.fits_counts` was true, and the index
        is then not usable (the caller raises).

    See Also
    --------
    monolith_np.table.index.place : The CPU version (one thread per sub-table).
    """
    launch(_bases_kernel, 1, new_count, counts, np.int64(first_row), row_base)
    launch(_place_kernel, ids.shape[0], slots, np.int64(parts), np.int64(log2s), ids, found, rep, local, row_base,
           row_ids, rows, status)


# -- rebuilding and erasing ---------------------------------------------------------


@gpu_kernel
def _clear_kernel(slots, counts, status):
    """One thread per slot: mark it empty; zero ``counts``; reset ``status``."""
    for t in range(cuda.grid(1), slots.shape[0], cuda.gridsize(1)):
        slots[t, 1] = EMPTY
        if t < counts.shape[0]:
            counts[t] = 0
        if t == 0:
            status[0] = STATUS_OK


@gpu_kernel
def _reinsert_kernel(slots, counts, parts, log2s, row_ids, size, status):
    """One thread per row ``r < size``: claim a slot for ``row_ids[r] -> r``, count it."""
    for r in range(cuda.grid(1), size, cuda.gridsize(1)):
        key = row_ids[r]
        if claim_dev(slots, key, np.int64(r), parts, log2s) < 0:
            cuda.atomic.max(status, 0, np.int64(STATUS_FULL))
        else:
            cuda.atomic.add(counts, bucket_of_dev(key, parts), np.int64(1))


@gpu_kernel
def _erase_kernel(slots, counts, parts, log2s, ids, rows):
    """One thread per sub-table: backward-shift-delete its keys of ``ids``, in batch order."""
    for p in range(cuda.grid(1), parts, cuda.gridsize(1)):
        for i in range(ids.shape[0]):
            key = ids[i]
            if bucket_of_dev(key, parts) == p:
                r = delete_dev(slots, key, parts, log2s)
                rows[i] = r
                if r != EMPTY:
                    counts[p] -= 1


@gpu_kernel
def _set_rows_kernel(slots, parts, log2s, keys, rows):
    """One thread per key: point the present key's slot at ``rows[i]``."""
    for i in range(cuda.grid(1), keys.shape[0], cuda.gridsize(1)):
        key = keys[i]
        base, home = home_of_dev(key, parts, log2s)
        s, found = probe_dev(slots, key, base, home, log2s)
        if found:
            slots[s, 1] = rows[i]


def rehash_gpu(row_ids, size, slots, counts, parts, log2s, status):
    """Rebuild an index holding ``row_ids[r] -> r`` for every row ``r < size`` (growth, erase).

    A clearing launch (one thread per slot) and a parallel insert (one thread
    per row, slots claimed with ``atomic.cas`` as in :func:`place_gpu`).

    Parameters
    ----------
    row_ids : (row_capacity,) int64 device array
        Distinct keys of rows ``0 .. size - 1``.
    size : int
        Live rows.
    slots : (capacity, 2) int64 device array
        Output: the new index (any content on entry).
    counts : (parts,) int64 device array
        Output: keys per sub-table.
    parts, log2s : int
        The new geometry, ``parts << log2s == capacity``; the CPU table takes
        ``parts = monolith_np._rules.index.parts_for(capacity)``.
    status : (1,) int64 device array
        Output: ``STATUS_OK``, or ``STATUS_FULL`` when a sub-table overflowed
        (the capacity was too small for the keys).

    Notes
    -----
    Slot positions inside a cluster depend on scheduling; the key -> row
    mapping is the CPU :func:`~monolith_np.table.index.rehash`'s.

    See Also
    --------
    monolith_np.table.index.rehash : The CPU version.
    """
    launch(_clear_kernel, slots.shape[0], slots, counts, status)
    launch(_reinsert_kernel, int(size), slots, counts, np.int64(parts), np.int64(log2s), row_ids,
           np.int64(size), status)


def erase_gpu(slots, counts, parts, log2s, ids, rows):
    """Delete ``ids`` from the index by backward shift; ``rows[i]`` gets the freed row or ``EMPTY``.

    One thread per sub-table runs the CPU's ``delete_key`` rule over the ids of
    its sub-table, in batch order, so the slots, ``counts`` and ``rows`` come
    out exactly as :func:`monolith_np.table.index.erase_keys` leaves them.
    Absent and repeated ids are fine (a repeat gets ``EMPTY``).

    Parameters
    ----------
    slots : (capacity, 2) int64 device array
        The index, written in place.
    counts : (parts,) int64 device array
        Decreased in place.
    parts, log2s : int
        The index geometry.
    ids : (n,) int64 device array
        Keys to delete.
    rows : (n,) int64 device array
        Output.

    Notes
    -----
    The work is ``O(n * parts)`` bucket hashes plus the deletions, spread
    over only ``parts`` threads (one below 8192 slots): meant for small
    batches. For large ones, compact the row store and call
    :func:`rehash_gpu` (``O(capacity + size)``, fully parallel). After the
    row store's tail rows move into the freed rows, re-point their keys with
    :func:`set_rows_gpu`.

    See Also
    --------
    monolith_np.table.index.erase_keys : The CPU version.
    """
    launch(_erase_kernel, int(parts), slots, counts, np.int64(parts), np.int64(log2s), ids, rows)


def set_rows_gpu(slots, parts, log2s, keys, rows):
    """Point each present ``keys[i]`` at ``rows[i]`` (after rows moved); one thread per key.

    Parameters
    ----------
    slots : (capacity, 2) int64 device array
        The index, written in place.
    parts, log2s : int
        The index geometry.
    keys : (n,) int64 device array
        Distinct keys; absent ones are skipped.
    rows : (n,) int64 device array
        Their new rows.

    See Also
    --------
    monolith_np.table.index.set_rows : The CPU version.
    """
    launch(_set_rows_kernel, keys.shape[0], slots, np.int64(parts), np.int64(log2s), keys, rows)
