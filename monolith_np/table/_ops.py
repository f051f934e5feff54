"""The index operations of a table on one device: CPU kernels or GPU kernels, one interface.

:class:`~monolith_np.table.EmbeddingHashTable` keeps its arrays in one array
module (``xp``: numpy, or CuPy on a GPU) and calls the index through an ops
object. Both classes hold the same ``(key, row)`` slot layout and run the same
probing rules (:mod:`monolith_np._rules.index`); :class:`CpuOps` calls the CPU
drivers of :mod:`monolith_np.table.index`, :class:`GpuOps` the numba.cuda
drivers (reached through :func:`monolith_np._dispatch.gpu_drivers`) and
allocates their scratch; under the CUDA simulator it works on numpy arrays.

The table validates every argument before it calls an ops method: the ops
trust their inputs. On the GPU each device-to-host read goes through
:func:`monolith_np._backend.host_read`: an insert reads one small array (its
new keys per sub-table, with the status words), a lookup nothing.
"""

from __future__ import annotations

import numpy as np
from numba import config as numba_config

from .._backend import get_cupy, host_read
from .._compile import thread_count
from .._dispatch import gpu_drivers
from .._rules.index import fits_counts, parts_for
from . import index as ix


class CpuOps:
    """Index operations with the CPU kernels of :mod:`monolith_np.table.index`."""

    xp = np

    @staticmethod
    def rehash(row_ids, capacity):
        """Index of ``capacity`` slots over ``row_ids[r] -> r``; ``(slots, counts, parts, log2s)``."""
        return ix.rehash(row_ids, capacity)

    @staticmethod
    def settle():
        """Nothing: the CPU kernels report their failures when they return."""

    @staticmethod
    def find(slots, parts, log2s, ids, rows=None):
        """Row of each id, ``EMPTY`` when absent (into ``rows`` when given)."""
        rows = np.empty(ids.size, np.int64) if rows is None else rows
        ix.find_rows(slots, parts, log2s, ids, rows)
        return rows

    take = staticmethod(ix.take_rows)

    @staticmethod
    def put(values, rows, src):
        """``values[rows[i]] = src[i]``, a repeated row keeping its last value."""
        ix.put_rows(values, rows, src, thread_count())

    add = staticmethod(ix.add_rows)
    stamp = staticmethod(ix.stamp_rows)

    @staticmethod
    def plan(slots, counts, parts, log2s, ids):
        """``(plan, fits)``: the batch resolved (writes nothing), and whether every sub-table keeps room."""
        plan = ix.plan_upsert(slots, parts, log2s, ids)
        return plan, ix.fits(counts, log2s, plan)

    claim = staticmethod(ix.claim)
    release = staticmethod(ix.release)

    @staticmethod
    def place(slots, counts, log2s, plan, first_row, row_ids, ids, rows):
        """Insert a plan's absent ids with rows from ``first_row``; ``rows`` gets every occurrence's row."""
        ix.place(slots, counts, log2s, plan, first_row, row_ids, rows)

    @staticmethod
    def erase(slots, counts, parts, log2s, keys):
        """Delete ``keys``; return each one's freed row (``EMPTY`` when absent)."""
        rows = np.empty(keys.size, np.int64)
        ix.erase_keys(slots, counts, parts, log2s, keys, rows)
        return rows

    set_rows = staticmethod(ix.set_rows)


class _GpuPlan:
    """A batch resolved on the GPU: every occurrence's row found, the de-duplication plan of the absent ones.

    ``new_count`` is the device array :meth:`GpuOps.place` launches with;
    ``total`` was read back with it.
    """

    __slots__ = ("ids", "found", "rep", "local", "new_count", "parts", "total")

    def __init__(self, ids, found, rep, local, new_count, parts, total):
        self.ids, self.found, self.rep, self.local = ids, found, rep, local
        self.new_count, self.parts, self.total = new_count, parts, total


class GpuOps:
    """Index operations with the numba.cuda drivers of :mod:`monolith_np.cuda.table`.

    Arrays are CuPy's on a GPU and numpy's under the CUDA simulator. Lookups
    read nothing back; an insert reads one small array (the counts that size
    its new rows) and nothing else: the status word of its placement stays
    on the device (:attr:`_placed`, never reset) and travels back with the
    next read of any status, or :meth:`settle`.
    """

    def __init__(self):
        gpu_drivers()  # loads the drivers and checks that a GPU (or the simulator) is usable
        self.xp = np if numba_config.ENABLE_CUDASIM else get_cupy()
        self._last = self.xp.empty(0, np.int64)
        self._placed = self.xp.zeros(1, np.int64)  # STATUS_OK until a placement finds no slot
        self._unread = False  # a placement ran since _placed was last read

    @staticmethod
    def _raise_full(what):
        raise RuntimeError(f"GPU {what} reported a full sub-table: the index was not given room first "
                           f"(a bug; please report it)")

    def _read(self, words, what):
        """Read ``words`` back (one read) with the placement status; raise on a failure of either.

        ``words[0]`` is the status word of ``what``; ``words[1]`` is
        overwritten by the placement status, the rest is returned as read.
        """
        words[1:2] = self._placed
        host = host_read(words)
        self._unread = False
        if host[1] != gpu_drivers().table.STATUS_OK:
            self._raise_full("insert")
        if host[0] != gpu_drivers().table.STATUS_OK:
            self._raise_full(what)
        return host[2:]

    def settle(self):
        """Read the status of the last placement back if nothing has yet (one read; none otherwise)."""
        if self._unread:
            self._read(self.xp.zeros(2, np.int64), "insert")

    def rehash(self, row_ids, capacity):
        """Index of ``capacity`` slots over ``row_ids[r] -> r``; ``(slots, counts, parts, log2s)``."""
        xp = self.xp
        parts = parts_for(capacity)
        log2s = int(capacity // parts).bit_length() - 1
        slots = xp.empty((capacity, 2), np.int64)
        counts = xp.zeros(parts, np.int64)
        words = xp.zeros(2, np.int64)
        gpu_drivers().table.rehash_gpu(row_ids, row_ids.shape[0], slots, counts, parts, log2s, words[:1])
        self._read(words, "rehash")
        return slots, counts, parts, log2s

    def find(self, slots, parts, log2s, ids, rows=None):
        """Row of each id, ``EMPTY`` when absent (into ``rows`` when given)."""
        rows = self.xp.empty(ids.shape[0], np.int64) if rows is None else rows
        if ids.shape[0]:
            gpu_drivers().table.find_rows_gpu(slots, parts, log2s, ids, rows)
        return rows

    def take(self, values, rows, out):
        """``out[i] = values[rows[i]]`` (zeros for ``EMPTY``)."""
        if rows.shape[0]:
            gpu_drivers().table.take_rows_gpu(values, rows, out)

    def put(self, values, rows, src):
        """``values[rows[i]] = src[i]``; a repeated row keeps its last occurrence."""
        if rows.shape[0]:
            if self._last.shape[0] < values.shape[0]:  # scratch of one row store, kept between calls
                self._last = self.xp.empty(values.shape[0], np.int64)
            gpu_drivers().table.put_rows_gpu(values, rows, src, self._last[:values.shape[0]])

    def add(self, values, rows, src):
        """``values[rows[i]] += src[i]`` (atomic adds)."""
        if rows.shape[0]:
            gpu_drivers().table.add_rows_gpu(values, rows, src)

    def stamp(self, stamps, rows, value):
        """``stamps[rows[i]] = value``."""
        if rows.shape[0]:
            gpu_drivers().table.stamp_rows_gpu(stamps, rows, value)

    def plan(self, slots, counts, parts, log2s, ids):
        """``(plan, fits)``: the batch resolved (writes nothing), and whether every sub-table keeps room.

        One read, whatever the batch: the de-duplication's status word, the
        last placement's, the new keys per sub-table and the keys per
        sub-table, side by side in one small array. The kernels skip present
        ids themselves, so nothing selects the absent ones on the device
        (which would wait for it, as any result of data-dependent size does).
        """
        xp = self.xp
        n = ids.shape[0]
        found = self.find(slots, parts, log2s, ids)
        rep, local = xp.empty(n, np.int64), xp.empty(n, np.int64)
        words = xp.empty(2 + 2 * parts, np.int64)  # statuses, new_count, counts: read back together
        new_count = words[2:2 + parts]
        gpu_drivers().table.plan_insert_gpu(ids, found, parts,
                                            xp.empty(gpu_drivers().table.dedup_cells(n), np.int64),
                                            rep, local, new_count, words[:1])
        words[2 + parts:] = counts
        host = self._read(words, "de-duplication")
        new_host = host[:parts]
        plan = _GpuPlan(ids, found, rep, local, new_count, parts, int(new_host.sum()))
        return plan, fits_counts(host[parts:], new_host, log2s)

    @staticmethod
    def claim(slots, counts, parts, log2s, ids, max_new):
        """None: the GPU plans every batch first (its de-duplication runs on atomics, off the index)."""
        return None

    def place(self, slots, counts, log2s, plan, first_row, row_ids, ids, rows):
        """Insert a plan's absent ids with rows from ``first_row``; ``rows`` gets every occurrence's row.

        Reads nothing back: a placement that found no slot (a bug; room was
        checked) is reported by the next read (:meth:`_read`).
        """
        if not plan.total:
            rows[...] = plan.found
            return
        gpu_drivers().table.place_gpu(slots, counts, plan.parts, log2s, plan.ids, plan.found, plan.rep, plan.local,
                                      plan.new_count, first_row, self.xp.empty(plan.parts, np.int64), row_ids,
                                      rows, self._placed)
        self._unread = True

    def erase(self, slots, counts, parts, log2s, keys):
        """Delete ``keys``; return each one's freed row (``EMPTY`` when absent)."""
        rows = self.xp.empty(keys.shape[0], np.int64)
        if keys.shape[0]:
            gpu_drivers().table.erase_gpu(slots, counts, parts, log2s, keys, rows)
        return rows

    def set_rows(self, slots, parts, log2s, keys, rows):
        """Point the present ``keys`` at ``rows``."""
        if keys.shape[0]:
            gpu_drivers().table.set_rows_gpu(slots, parts, log2s, keys, rows)
