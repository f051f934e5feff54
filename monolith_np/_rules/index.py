"""Rules of the embedding-table index: its geometry, the home slot and the bounded probe of an id.

The index (:mod:`monolith_np.table.index` on the CPU,
:mod:`monolith_np.cuda.table` on the GPU) is a ``(capacity, 2)`` int64 array
of ``(key, row)`` slots, empty where the row is :data:`EMPTY`, split into
``parts`` sub-tables of ``2**log2s`` slots (:func:`parts_for`). An id's
sub-table is :func:`monolith_np._rules.partition.bucket_of`, its home slot
the low bits of :func:`monolith_np._random.mix64` (:func:`home_of`), and
probing is linear, wrapping inside the sub-table (:func:`probe`). The CPU
drivers compile these rules with ``cpu_jit`` (through their callers) and the
GPU drivers with ``gpu_device``, so both devices lay out and search an index
slot for slot alike.
"""

from __future__ import annotations

import numpy as np

from .._compile import jitable
from .._random import as_uint64, mix64
from .partition import bucket_of

__all__ = ["EMPTY", "MIN_PART_SLOTS", "MAX_PARTS", "parts_for", "fits_counts", "home_of", "probe", "row_of",
           "delete_key"]

#: Row value of an empty slot.
EMPTY = -1

#: Slots per sub-table below which the index is one sub-table, and the most sub-tables.
MIN_PART_SLOTS = 1 << 12
MAX_PARTS = 256


def parts_for(capacity):
    """Number of sub-tables of an index of ``capacity`` slots (a power of two, at most 256).

    It depends only on the capacity, never on the thread count, so a table's
    layout (and the row numbers it hands out) is reproducible.

    Parameters
    ----------
    capacity : int
        Slots of the index, a power of two.

    Returns
    -------
    int
        ``clip(capacity / 4096, 1, 256)``.

    Examples
    --------
    >>> parts_for(16), parts_for(1 << 16), parts_for(1 << 30)
    (1, 16, 256)
    """
    return int(min(MAX_PARTS, max(1, capacity // MIN_PART_SLOTS)))


def fits_counts(counts, new_count, log2s):
    """Whether every sub-table keeps an empty slot after taking ``new_count`` more keys.

    The room rule of an insert: a sub-table of ``2**log2s`` slots may hold at
    most ``2**log2s - 1`` keys, so every probe ends. The caller checks its
    global load limit separately.

    Parameters
    ----------
    counts : (parts,) int64 array
        Keys per sub-table now (host array).
    new_count : (parts,) int64 array
        New keys per sub-table (host array).
    log2s : int
        log2 of the slots per sub-table.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> fits_counts(np.array([6, 0]), np.array([1, 7]), 3), fits_counts(np.array([6, 0]), np.array([2, 0]), 3)
    (True, False)
    """
    return counts.shape[0] == new_count.shape[0] and bool((counts + new_count < (1 << int(log2s))).all())


@jitable
def home_of(key, parts, log2s):
    """First slot of ``key``'s sub-table and its home offset there.

    Parameters
    ----------
    key : int64
    parts : int
        Number of sub-tables.
    log2s : int
        log2 of the slots per sub-table.

    Returns
    -------
    base, home : int64
        ``base`` is the sub-table's first slot, ``home`` the offset probing starts at.

    Examples
    --------
    >>> import numpy as np
    >>> base, home = home_of(np.int64(7), 4, 3)
    >>> int(base) % 8, 0 <= int(home) < 8
    (0, True)
    """
    base = bucket_of(key, parts) << log2s
    home = np.int64(mix64(as_uint64(key)) & np.uint64((1 << log2s) - 1))
    return base, home


@jitable
def probe(slots, key, base, home, log2s):
    """Find ``key`` in its sub-table.

    Parameters
    ----------
    slots : (capacity, 2) int64 array
        The index.
    key : int64
    base, home : int64
        From :func:`home_of`.
    log2s : int
        log2 of the slots per sub-table.

    Returns
    -------
    slot : int64
        The slot holding ``key``, else the first empty slot on its probe
        path, else -1 (a full sub-table, which inserts never let happen).
    found : bool
        Whether ``slot`` holds ``key``.

    Examples
    --------
    >>> import numpy as np
    >>> slots = np.full((8, 2), EMPTY, np.int64)
    >>> base, home = home_of(np.int64(5), 1, 3)
    >>> s, found = probe(slots, np.int64(5), base, home, 3)
    >>> bool(found), int(s) == int(base + home)
    (False, True)
    """
    mask = (np.int64(1) << log2s) - 1
    pos = home
    for _ in range(mask + 1):
        s = base + pos
        if slots[s, 1] == EMPTY:
            return s, False
        if slots[s, 0] == key:
            return s, True
        pos = (pos + 1) & mask
    return np.int64(-1), False


@jitable
def row_of(slots, key, parts, log2s):
    """Row of ``key`` in the index, ``EMPTY`` when absent (the lookup rule).

    Parameters
    ----------
    slots : (capacity, 2) int64 array
    key : int64
    parts, log2s : int
        The index geometry.

    Returns
    -------
    int64

    Examples
    --------
    >>> import numpy as np
    >>> slots = np.full((8, 2), EMPTY, np.int64)
    >>> int(row_of(slots, np.int64(5), 1, 3))
    -1
    """
    base, home = home_of(key, parts, log2s)
    s, found = probe(slots, key, base, home, log2s)
    return slots[s, 1] if found else np.int64(EMPTY)


@jitable
def delete_key(slots, key, parts, log2s):
    """Remove ``key`` by backward-shift deletion (no tombstones); return its row (``EMPTY`` if absent).

    Entries after the hole on the probe path move back into it unless their
    home lies cyclically in ``(hole, pos]``, so every remaining key stays
    reachable by :func:`probe`. Only ``key``'s sub-table is touched.

    Parameters
    ----------
    slots : (capacity, 2) int64 array
        Written in place.
    key : int64
    parts, log2s : int
        The index geometry.

    Returns
    -------
    int64

    Examples
    --------
    >>> import numpy as np
    >>> slots = np.full((8, 2), EMPTY, np.int64)
    >>> base, home = home_of(np.int64(5), 1, 3)
    >>> slots[base + home] = (5, 0)
    >>> int(delete_key(slots, np.int64(5), 1, 3)), int(row_of(slots, np.int64(5), 1, 3))
    (0, -1)
    """
    base, home = home_of(key, parts, log2s)
    s, found = probe(slots, key, base, home, log2s)
    if not found:
        return np.int64(EMPTY)
    row = slots[s, 1]
    mask = (np.int64(1) << log2s) - 1
    hole = s - base
    pos = hole
    for _ in range(mask):
        pos = (pos + 1) & mask
        t = base + pos
        if slots[t, 1] == EMPTY:
            break
        _, want = home_of(slots[t, 0], parts, log2s)
        # The entry at ``pos`` may move into the hole unless its home lies
        # cyclically in (hole, pos]: then the hole is not on its probe path.
        if (want - hole - 1) & mask < (pos - hole) & mask:
            continue
        slots[base + hole, 0] = slots[t, 0]
        slots[base + hole, 1] = slots[t, 1]
        hole = pos
    slots[base + hole, 1] = EMPTY
    return row
