"""``EmbeddingHashTable``: int64 ids to trained embedding rows, on the CPU.

Storage (DESIGN §6): an open-addressing index (:mod:`monolith_np.table.index`)
maps each id to a row of a dense row store: ``values`` (the entry's floats,
all segments side by side), one optimizer state dict per segment, the id of
each row and its last-update time (uint32 seconds). Rows ``[0, size)`` are
live; erasing moves the last row into the hole, so the store stays dense and
export/save stream one contiguous block. Growing rehashes only the index.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .._backend import asarray, host_read, is_cuda_array
from .._random import mix64
from .._checks import check_array, check_choice, check_number, check_seconds, check_step
from ..entry import HashTableConfigInstance
from ..features import slot_of
from ..entry.segments import SegmentedEntry
from ..optim.sparse import RowGrads
from ..proto import EmbeddingHashTableConfig, MultiHashTableMetadata, SlotExpireTimeConfig
from . import _commit
from . import checkpoint as ck
from . import index as ix
from ._entrydump import encode_rows
from ._ops import CpuOps, GpuOps
from .filters import Filter

__all__ = ["EmbeddingHashTable", "TableFullError", "slot_of"]

_UINT32_MAX = 2**32 - 1
_SECONDS_PER_DAY = 86400
#: Rows of the smallest row store.
_MIN_ROWS = 16
#: A seeded table reseeds when an insert probes more than ``PROBE_LIMIT / (1 - max_load_factor)**2``
#: slots past an id's home (1024 at the default load 0.75, 6400 at 0.9): random ids essentially never
#: do (200k ids at load 0.75: 20; 1M ids at 0.9: about 1000), so lookups stay bounded by it.
PROBE_LIMIT = 64
_NO_PROBE = np.zeros(1, np.int64)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class TableFullError(RuntimeError):
    """Raised when an insert needs more room and the table may not grow.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.entry import ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.table import EmbeddingHashTable, TableFullError
    >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))], capacity=2, growth=False)
    >>> table.capacity
    3
    >>> try:
    ...     table.insert(np.arange(10))
    ... except TableFullError:
    ...     print("full, nothing inserted: size", table.size)
    full, nothing inserted: size 0
    """


class EmbeddingHashTable:
    """An embedding table keyed by any int64 id, with rows created on first use.

    Parameters
    ----------
    config : EmbeddingHashTableConfig, EntryConfig, HashTableConfigInstance, SegmentedEntry or sequence
        The entry: its segments (dim, initializer, optimizer, compressor),
        given as the table proto, its ``EntryConfig``, the Python builders'
        ``HashTableConfigInstance`` (whose learning-rate functions become the
        table's default rates), a ready :class:`SegmentedEntry`, or a sequence
        of segments as :class:`SegmentedEntry` takes them.
    capacity : int, optional
        Entries to make room for up front (``reserve``); default: the
        proto's ``initial_capacity`` (1).
    max_load_factor : float, default 0.75
        Entries per index slot above which the index doubles, in ``(0, 0.9]``.
    growth : bool, default True
        When false, an insert that needs more room raises
        :class:`TableFullError` (the batch is not applied) instead of growing.
    seed : int, optional
        Seed of random-uniform initializers built from config messages
        (segment ``k`` uses ``seed + k``); fresh when ``None``.
    slot_expire_time_config : SlotExpireTimeConfig, optional
        Per-slot expiry in days (:meth:`evict`, :meth:`save`); default the
        proto's (36500 days for every slot).
    occurrence_filter : Filter, optional
        A filter from :mod:`monolith_np.table.filters` (for example
        ``SlidingHashFilter``); consulted for ids not yet in the table by
        :meth:`assign`, :meth:`assign_add`, :meth:`apply_gradients` and
        :meth:`reinitialize` (never by lookups): an id gets an entry only once
        the filter admits it.
    occurrence_threshold : SlotOccurrenceThreshold, optional
        Per-slot thresholds (anything with ``thresholds(ids)``); default:
        the filter's own config.
    device : {"cpu", "cuda"}, default "cpu"
        Where the index and the row store live: numpy arrays and Numba CPU
        kernels, or CuPy arrays and numba.cuda kernels (numpy arrays under
        the CUDA simulator). Ids and values may be given as numpy or device
        arrays; results come back on the table's device.
    hash_seed : int, optional
        Seed of the index hash, in ``[0, 2**64)``. ``None`` (default): the
        fixed hash of earlier releases (same layout). With a seed, the index
        keys are a seeded SplitMix64 mix of the ids, so ids crafted to land
        in one sub-table or one probe chain cannot target the table; should
        one sub-table still overflow while the index is far from full, or
        an insert probe past ``PROBE_LIMIT / (1 - max_load_factor)**2``
        slots, the table moves to its next seed and rebuilds the index
        instead of growing it. Results never depend on the seed, and
        checkpoints (which store ids) restore into a table of any seed.

    Raises
    ------
    TypeError, ValueError
        On a config that cannot build a training entry or bad arguments.

    Notes
    -----
    Every int64 id is a valid key. Probing is bounded and the index grows
    before ``max_load_factor``; an operation either applies to the whole
    batch or, when it raises, leaves the table as it was. All methods take
    an internal lock, so concurrent calls from several Python threads are
    serialised (the compiled kernels release the GIL and use numba's threads).

    Examples
    --------
    One segment of two floats, zero-initialised and trained by SGD with
    learning rate 1, so an update subtracts the gradient:

    >>> import numpy as np
    >>> from monolith_np.entry import ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.table import EmbeddingHashTable
    >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
    >>> ids = np.array([7, -3, 2**62], dtype=np.int64)
    >>> table.apply_gradients(ids, np.float32([[1, 2], [3, 4], [5, 6]]))  # creates the rows, then optimises
    >>> table.lookup(ids)
    array([[-1., -2.],
           [-3., -4.],
           [-5., -6.]], dtype=float32)
    >>> len(table), table.dim
    (3, 2)

    A seeded index (for ids an adversary may choose); lookups are the same:

    >>> seeded = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))], hash_seed=2024)
    >>> seeded.apply_gradients(ids, np.float32([[1, 2], [3, 4], [5, 6]]))
    >>> np.array_equal(seeded.lookup(ids), table.lookup(ids))
    True
    """

    def __init__(self, config, capacity=None, max_load_factor=0.75, growth=True, seed=None,
                 slot_expire_time_config=None, occurrence_filter=None, occurrence_threshold=None, device="cpu",
                 hash_seed=None):
        self._lr_fns = None
        table_config = None
        if isinstance(config, HashTableConfigInstance):
            self._lr_fns = list(config.learning_rate_fns)
            config = config.table_config
        if isinstance(config, EmbeddingHashTableConfig):
            table_config = config
            config = config.entry_config
        self._entry = config if isinstance(config, SegmentedEntry) else SegmentedEntry(config, seed=seed)
        if self._lr_fns is not None and len(self._lr_fns) != self._entry.num_segments:
            raise ValueError(f"config.learning_rate_fns must have one function per segment "
                             f"({self._entry.num_segments}), got {len(self._lr_fns)}")
        self.max_load_factor = check_number("max_load_factor", max_load_factor, low=1e-3, high=0.9)
        self.growth = bool(growth)
        if slot_expire_time_config is None:
            slot_expire_time_config = (table_config.slot_expire_time_config if table_config is not None
                                       else SlotExpireTimeConfig())
        if not isinstance(slot_expire_time_config, SlotExpireTimeConfig):
            raise TypeError(f"slot_expire_time_config must be a SlotExpireTimeConfig, "
                            f"got {type(slot_expire_time_config).__name__}")
        self._expire = slot_expire_time_config
        if occurrence_filter is not None and not isinstance(occurrence_filter, Filter):
            raise TypeError(f"occurrence_filter must be a Filter of monolith_np.table.filters, "
                            f"got {type(occurrence_filter).__name__}")
        if occurrence_threshold is not None and not callable(getattr(occurrence_threshold, "thresholds", None)):
            raise TypeError(f"occurrence_threshold must have a thresholds(ids) method (SlotOccurrenceThreshold), "
                            f"got {type(occurrence_threshold).__name__}")
        if occurrence_threshold is not None and occurrence_filter is None:
            raise ValueError("occurrence_threshold needs an occurrence_filter, got none")
        self._filter = occurrence_filter
        self._threshold = occurrence_threshold
        if capacity is None:
            capacity = table_config.initial_capacity if table_config is not None else 1
        capacity = check_number("capacity", capacity, integer=True, low=0)
        self.device = check_choice("device", device, ("cpu", "cuda"))
        self._ops = GpuOps() if self.device == "cuda" else CpuOps()
        self._xp = self._ops.xp
        self.hash_seed = check_number("hash_seed", hash_seed, integer=True, low=0, high=2**64 - 1, allow_none=True)
        self._salt = None if hash_seed is None else np.uint64(self.hash_seed)
        self._lock = threading.RLock()
        self._max_update_ts = 0
        self._lookup_rows = self._xp.empty(0, np.int64)
        self._reset(capacity)

    # -- argument handling ------------------------------------------------------

    def _touched(self, shape, dtype):
        """A zero-filled array of the table's module whose pages are already mapped.

        ``np.zeros`` maps pages lazily, so the first inserts after ``reserve``
        would pay the page faults of the whole row store; writing the zeros
        now moves that cost to ``reserve``/growth, where it belongs.
        """
        out = self._xp.empty(shape, dtype)
        out.fill(0)
        return out

    def _array(self, name, x):
        """``x`` as a C-contiguous array of the table's module (moved to the table's device)."""
        if is_cuda_array(x) and self._xp is np:
            raise TypeError(f"{name} must be a host (numpy) array for a device='cpu' table, got a CUDA array")
        if not hasattr(x, "dtype"):
            x = np.asarray(x)
        return self._xp.ascontiguousarray(asarray(x, self._xp))

    def _check_ids(self, ids):
        """``ids`` as contiguous int64 (uint64 ids keep their bits)."""
        if not hasattr(ids, "dtype"):
            if not isinstance(ids, (list, tuple)):
                raise TypeError(f"ids must be a 1-D array (or list) of int64 ids, got {type(ids).__name__}")
            ids = np.asarray(ids)
            if ids.size == 0:
                ids = ids.astype(np.int64)
        check_array("ids", ids, ndim=1, dtypes=(np.int64, np.uint64, np.int32))
        ids = self._array("ids", ids)
        return ids.astype(np.int64) if ids.dtype == np.int32 else ids.view(np.int64)

    # -- description ----------------------------------------------------------

    @property
    def entry(self):
        """The :class:`SegmentedEntry` describing each row."""
        return self._entry

    @property
    def dim(self):
        """Floats per row."""
        return self._entry.dim

    @property
    def size(self):
        """Number of entries."""
        return self._size

    def __len__(self):
        return self._size

    @property
    def capacity(self):
        """Entries the index holds before it grows (``max_load_factor`` x slots)."""
        return int(self.max_load_factor * self._slots.shape[0])

    @property
    def load_factor(self):
        """Entries per index slot."""
        return self._size / self._slots.shape[0]

    @property
    def max_update_ts(self):
        """The latest ``update_time`` seen (data time; :meth:`save` expires against it)."""
        return self._max_update_ts

    def memory_bytes(self):
        """Bytes held by the index and the row store (allocated, not only live).

        Returns
        -------
        int

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> empty = table.memory_bytes()
        >>> table.reserve(1000)
        >>> table.memory_bytes() > empty, table.size
        (True, 0)
        """
        total = self._slots.nbytes + self._row_ids.nbytes + self._values.nbytes + self._ts.nbytes
        return total + sum(a.nbytes for st in self._state for a in st.values())

    # -- storage management -----------------------------------------------------

    def _slots_for(self, entries):
        """Smallest power-of-two slot count holding ``entries`` under the load limit."""
        need = max(2, int(np.ceil(entries / self.max_load_factor)) + 1)
        return 1 << (need - 1).bit_length()

    def _reset(self, capacity):
        self._slots, self._counts, self._parts, self._log2s = self._ops.rehash(self._xp.empty(0, np.int64),
                                                                               self._slots_for(capacity))
        rows = max(_MIN_ROWS, capacity)
        self._row_ids = self._xp.empty(rows, np.int64)
        self._values = self._touched((rows, self.dim), np.float32)
        self._state = self._entry.init_state(rows, like=self._values)
        self._ts = self._touched(rows, np.uint32)
        self._size = 0
        self._moves = getattr(self, "_moves", 0) + 1

    def _grow_rows(self, rows):
        """Make the row store hold at least ``rows`` rows (doubling)."""
        have = self._row_ids.shape[0]
        if rows <= have:
            return
        new = max(rows, 2 * have)
        n = self._size
        row_ids = self._xp.empty(new, np.int64)
        row_ids[:n] = self._row_ids[:n]
        values = self._touched((new, self.dim), np.float32)
        values[:n] = self._values[:n]
        state = self._entry.init_state(new, like=values)
        for st_new, st_old in zip(state, self._state):
            for key in st_new:
                st_new[key][:n] = st_old[key][:n]
        ts = self._touched(new, np.uint32)
        ts[:n] = self._ts[:n]
        self._row_ids, self._values, self._state, self._ts = row_ids, values, state, ts

    def _rehash(self, entries, force=False):
        """Rebuild the index with room for ``entries`` entries (``force``: at least double it)."""
        capacity = max(self._slots_for(entries), self._slots.shape[0] * (2 if force else 1))
        if capacity > self._slots.shape[0] and not self.growth:
            raise TableFullError(f"the table is full: size {self._size}, capacity {self.capacity} "
                                 f"(growth is disabled), and the batch needs room for {entries} entries")
        self._slots, self._counts, self._parts, self._log2s = self._ops.rehash(
            self._keys(self._row_ids[:self._size]), capacity)

    def _keys(self, ids):
        """The index keys of ``ids``: the ids themselves, or with a hash seed their seeded SplitMix64 mix.

        The mix is a bijection of the 64 bits, so the index stays
        collision-free; the row store keeps the ids themselves.
        """
        if self._salt is None:
            return ids
        return mix64(ids.view(np.uint64) ^ self._salt).view(np.int64)

    def _reseed(self):
        """Move a seeded table to its next hash seed and rebuild the index with it (same capacity).

        Taken when one sub-table overflows while the index is far from its
        load limit, or a probe runs past :data:`PROBE_LIMIT`: ids crafted
        against (or unlucky with) one seed spread again under the next.
        """
        self._salt = mix64(np.array([self._salt ^ _GOLDEN], np.uint64))[0]
        self._slots, self._counts, self._parts, self._log2s = self._ops.rehash(
            self._keys(self._row_ids[:self._size]), self._slots.shape[0])

    def reserve(self, n):
        """Make room for ``n`` entries in total without further growth.

        Parameters
        ----------
        n : int
            Entries, ``>= 0``.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.capacity
        3
        >>> table.reserve(100)
        >>> table.capacity >= 100, table.size
        (True, 0)
        """
        n = check_number("n", n, integer=True, low=0)
        with self._lock:
            if self._slots_for(n) > self._slots.shape[0]:
                self._rehash(n)
            self._grow_rows(n)

    def clear(self):
        """Remove every entry (the capacity is kept).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.insert(np.arange(50))
        50
        >>> capacity = table.capacity
        >>> table.clear()
        >>> table.size, table.capacity == capacity
        (0, True)
        """
        with self._lock:
            self._slots, self._counts, self._parts, self._log2s = self._ops.rehash(
                self._xp.empty(0, np.int64), self._slots.shape[0])
            self._size = 0
            self._moves += 1

    # -- reading ----------------------------------------------------------------

    def _rows(self, ids):
        return self._ops.find(self._slots, self._parts, self._log2s, self._keys(ids))

    def find(self, ids, out=None):
        """Rows of ``ids`` and whether each is present.

        Parameters
        ----------
        ids : (n,) int64 or uint64 array
        out : (n, dim) float32 array, optional
            Written in place and returned (saves allocating the result).

        Returns
        -------
        values : (n, dim) float32 array
            Each present id's lookup view (see :meth:`lookup`), zeros for absent ids.
        found : (n,) bool array

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1]), np.float32([[1.5, 2.5]]))
        >>> values, found = table.find(np.array([1, 9]))
        >>> values
        array([[1.5, 2.5],
               [0. , 0. ]], dtype=float32)
        >>> found
        array([ True, False])
        """
        return self._gather(ids, out)

    def _gather(self, ids, out, found_mask=True):
        """``(out, found)``: the lookup view of ``ids`` in ``out`` (allocated when None), the found mask or None."""
        ids = self._check_ids(ids)
        if out is not None:
            check_array("out", out, dtypes=(np.float32,), shape=(ids.size, self.dim))
            if not out.flags.c_contiguous or is_cuda_array(out) != (self._xp is not np):
                raise ValueError(f"out must be a C-contiguous array on the table's device ({self.device}), "
                                 f"got {'a strided' if not out.flags.c_contiguous else 'another device'} array")
        return self._gather_impl(ids, out, found_mask)

    def _gather_impl(self, ids, out=None, found_mask=False):
        """:meth:`_gather` for validated arguments: contiguous int64 ``ids`` and ``out`` on the table's device."""
        if out is None:
            out = self._xp.empty((ids.shape[0], self.dim), np.float32)
        with self._lock:
            # Lookups reuse one row buffer (under the lock): a fresh one per call
            # cost its first-touch page faults, ~10% of a 1M-id lookup.
            n = ids.shape[0]
            if self._lookup_rows.shape[0] < n:
                self._lookup_rows = self._xp.empty(n, np.int64)
            rows = self._ops.find(self._slots, self._parts, self._log2s, self._keys(ids), self._lookup_rows[:n])
            self._ops.take(self._values, rows, out)
            found = None if found_mask is False else rows != ix.EMPTY
        if self._needs_view:
            self._entry._lookup_impl(self._xp, out)
        return out, found

    @property
    def _needs_view(self):
        return any(r != "raw" for r in self._entry.retrievers)

    def _pool_source(self, rows):
        """``(values, rows)`` to read the lookup view of ``rows`` from (the pooling of :class:`monolith_np.table.EmbeddingCollection`).

        The row store and ``rows`` themselves when every segment is read raw;
        else (fake-quantised or HashNet segments) a copy of those rows through
        the retrievers, addressed ``0 .. n - 1``.
        """
        with self._lock:
            if not self._needs_view:
                return self._values, rows
            view = self._xp.empty((rows.shape[0], self.dim), np.float32)
            self._ops.take(self._values, rows, view)
        self._entry._lookup_impl(self._xp, view)
        return view, self._xp.arange(rows.shape[0], dtype=np.int64)

    def lookup(self, ids, out=None):
        """Embeddings of ``ids``; an absent id gives zeros and is **not** inserted.

        Parameters
        ----------
        ids : (n,) int64 or uint64 array
        out : (n, dim) float32 array, optional
            Written in place and returned.

        Returns
        -------
        (n, dim) float32 array
            The training view of each row (fake-quantised or HashNet segments
            as their retrievers return them, raw segments as stored).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1, 2]), np.float32([[1, 2], [3, 4]]))
        >>> table.lookup(np.array([2, 1, 9]))
        array([[3., 4.],
               [1., 2.],
               [0., 0.]], dtype=float32)
        >>> len(table)  # id 9 was not inserted
        2
        """
        return self._gather(ids, out, found_mask=False)[0]

    def contains(self, ids):
        """Whether each id has an entry.

        Parameters
        ----------
        ids : (n,) int64 or uint64 array

        Returns
        -------
        (n,) bool array

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.insert(np.array([3, 4]))
        2
        >>> table.contains(np.array([3, 5, 4]))
        array([ True, False,  True])
        >>> 3 in table
        True
        """
        ids = self._check_ids(ids)
        with self._lock:
            return self._rows(ids) != ix.EMPTY

    def __contains__(self, key):
        return bool(host_read(self.contains(np.array([key], np.int64)))[0])

    # -- inserting ----------------------------------------------------------------

    def _admit(self, ids, rows, dedup):
        """Host mask of the occurrences of absent ids that the occurrence filter keeps out.

        With ``dedup`` each distinct absent id is offered once with its
        number of occurrences (first-occurrence order); without, every
        occurrence is offered with count 1, in order. The
        filters run on the host: ``rows`` is read back, and ``ids`` too when
        some id is absent.
        """
        missing = np.flatnonzero(host_read(rows) == ix.EMPTY)
        out = np.zeros(ids.shape[0], np.bool_)
        if missing.size == 0:
            return out
        miss_ids = host_read(ids)[missing]
        if dedup:
            uniq, first, inverse, counts = np.unique(miss_ids, return_index=True, return_inverse=True,
                                                     return_counts=True)
            order = np.argsort(first, kind="stable")
            filtered = np.empty(uniq.size, np.bool_)
            filtered[order] = self._offer(uniq[order], counts[order])
            out[missing] = filtered[inverse]
        else:
            out[missing] = self._offer(miss_ids, np.ones(miss_ids.size, np.int64))
        return out

    def _offer(self, ids, counts):
        thresholds = None if self._threshold is None else np.asarray(self._threshold.thresholds(ids), np.int64)
        return np.asarray(self._filter.should_be_filtered(ids, counts.astype(np.int64), thresholds,
                                                          in_table=np.zeros(ids.size, np.bool_)), np.bool_)

    def _upsert(self, ids, update_time, dedup=True, init_values=True, filtered=True):
        """``(rows, plan)``: rows of ``ids`` (-1 where the filter keeps an id out), absent ones created.

        New rows ``[old size, size)`` get their initial optimizer state, and
        their initial values unless ``init_values`` is false (``assign``
        overwrites every value of the row anyway). ``filtered``: consult the
        occurrence filter (restores do not). ``plan`` groups the whole batch
        by sub-table (for parallel writes), or is None when the filter took
        part of it out. The arguments are the public method's, validated.
        """
        if not (filtered and self._filter is not None):
            return self._upsert_offered(ids, update_time, dedup, init_values, None)
        found = self._rows(ids)
        if self.device == "cpu" and self._fits_without_growing(int((found == ix.EMPTY).sum())):
            return self._upsert_offered(ids, update_time, dedup, init_values, found)  # nothing below can fail
        with self._filter._all_or_nothing():  # a failure below takes the filter's counts back
            return self._upsert_offered(ids, update_time, dedup, init_values, found)

    def _fits_without_growing(self, new):
        """Whether ``new`` more entries surely fit without growing the index or the row store."""
        limit = min(int(self.max_load_factor * self._slots.shape[0]), self._row_ids.shape[0])
        return self._size + new <= limit and int(self._counts.max()) + new < (1 << self._log2s)

    def _upsert_offered(self, ids, update_time, dedup, init_values, found):
        """:meth:`_upsert`; ``found``: the rows of ``ids`` before it, to offer the absent ones to the filter."""
        xp = self._xp
        offered, batch = None, ids
        if found is not None:
            keep_out = self._admit(ids, found, dedup)
            if keep_out.any():
                offered = xp.asarray(np.flatnonzero(~keep_out))
                batch = xp.ascontiguousarray(ids[offered])
        old = self._size
        room = int(self.max_load_factor * self._slots.shape[0]) - old
        keys = self._keys(batch)
        plan = self._ops.claim(self._slots, self._counts, self._parts, self._log2s, keys, room)
        if plan is None:
            plan, fits = self._ops.plan(self._slots, self._counts, self._parts, self._log2s, keys)
            reseeded = False
            while not (fits and old + plan.total <= self.max_load_factor * self._slots.shape[0]):
                if (not fits and not reseeded and self._salt is not None and self._parts > 1
                        and old + plan.total <= self.max_load_factor * self._slots.shape[0]):
                    self._reseed()  # one sub-table overflows, the index is not full: spread, do not grow
                    reseeded = True
                    keys = self._keys(batch)
                else:
                    self._rehash(old + plan.total, force=True)
                plan, fits = self._ops.plan(self._slots, self._counts, self._parts, self._log2s, keys)
            self._grow_rows(old + plan.total)
        else:
            try:
                self._grow_rows(old + plan.total)
            except BaseException:  # e.g. MemoryError: the index must not keep the marks
                self._ops.release(self._slots, plan)
                raise
        rows = xp.empty(batch.shape[0], np.int64)
        self._ops.place(self._slots, self._counts, self._log2s, plan, old, self._row_ids, keys, rows)
        self._size = old + plan.total
        if self._salt is not None:
            self._row_ids[rows] = batch  # the placement wrote the keys: the row store keeps the ids
            if int(getattr(plan, "longest", _NO_PROBE).max()) > PROBE_LIMIT / (1 - self.max_load_factor) ** 2:
                self._reseed()
        self._init_rows(old, self._size, init_values)
        if offered is not None:
            all_rows = xp.full(ids.shape[0], ix.EMPTY, np.int64)
            all_rows[offered] = rows
            rows, plan = all_rows, None
        self._touch(rows, update_time)
        return rows, plan

    def _init_rows(self, lo, hi, init_values=True):
        """Initialise rows ``[lo, hi)`` from their ids: optimizer state, and values if asked."""
        if hi <= lo:
            return
        ids = self._row_ids[lo:hi]
        for k, seg in enumerate(self._entry.slices if init_values else ()):
            self._entry.initializers[k].initialize(self._values[lo:hi, seg], row_ids=ids)
        fresh = self._entry.init_state(1, like=self._values)
        for st, init in zip(self._state, fresh):
            for key, arr in st.items():
                arr[lo:hi] = init[key][0]

    def _touch(self, rows, update_time):
        self._ops.stamp(self._ts, rows, np.uint32(update_time & _UINT32_MAX))
        self._max_update_ts = max(self._max_update_ts, update_time)

    def _check_batch(self, name, ids, values):
        ids = self._check_ids(ids)
        check_array(name, values, dtypes=(np.float32,), shape=(ids.size, self.dim))
        return ids, self._array(name, values)

    def insert(self, ids, update_time=0):
        """Create the absent ids with their initial values and state (present ids are left alone).

        Parameters
        ----------
        ids : (n,) int64 or uint64 array
        update_time : int, default 0
            Seconds; stored as the last-update time of every id of the batch.

        Returns
        -------
        int
            Entries created (an occurrence filter may keep ids out).

        Raises
        ------
        TypeError, ValueError
            On bad input (nothing is written).
        TableFullError
            When the table needs to grow and may not (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.insert(np.array([1, 2, 2]))  # a repeated id is created once
        2
        >>> table.insert(np.array([2, 3]))  # id 2 is present and left alone
        1
        >>> table.lookup(np.array([1, 2, 3]))  # the initializer's values
        array([[0., 0.],
               [0., 0.],
               [0., 0.]], dtype=float32)
        """
        ids = self._check_ids(ids)
        update_time = check_seconds("update_time", update_time)
        with self._lock:
            old = self._size
            self._upsert(ids, update_time)
            return self._size - old

    def assign(self, ids, values, update_time=0):
        """Set the rows of ``ids`` (created first when absent); optimizer state is untouched.

        Parameters
        ----------
        ids : (n,) int64 or uint64 array
            Repeated ids: the last value wins.
        values : (n, dim) float32 array
        update_time : int, default 0
            Seconds; stored as each entry's last-update time (as uint32).

        Raises
        ------
        TypeError, ValueError
            On bad input (nothing is written).
        TableFullError
            When the table needs to grow and may not (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1, 2, 1]), np.float32([[1, 1], [2, 2], [3, 3]]))
        >>> table.lookup(np.array([1, 2]))
        array([[3., 3.],
               [2., 2.]], dtype=float32)
        """
        ids, values = self._check_batch("values", ids, values)
        self._assign_impl(ids, values, check_seconds("update_time", update_time))

    def _assign_impl(self, ids, values, update_time):
        """:meth:`assign` for validated arguments (contiguous arrays on the table's device)."""
        with self._lock:
            # New rows skip the initializer: their whole row is overwritten here.
            rows = self._upsert(ids, update_time, init_values=False)[0]  # may reallocate the row store
            self._ops.put(self._values, rows, values)

    def assign_add(self, ids, deltas, update_time=0):
        """Add ``deltas`` to the rows of ``ids`` (created first when absent); state untouched.

        Parameters
        ----------
        ids : (n,) int64 or uint64 array
            Repeated ids: every delta is added, in order.
        deltas : (n, dim) float32 array
        update_time : int, default 0
            Seconds; stored as each entry's last-update time.

        Raises
        ------
        TypeError, ValueError
            On bad input (nothing is written).
        TableFullError
            When the table needs to grow and may not (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1]), np.float32([[10, 20]]))
        >>> table.assign_add(np.array([1, 1, 2]), np.float32([[1, 1], [2, 2], [5, 6]]))  # id 2: zeros + delta
        >>> table.lookup(np.array([1, 2]))
        array([[13., 23.],
               [ 5.,  6.]], dtype=float32)
        """
        ids, deltas = self._check_batch("deltas", ids, deltas)
        self._assign_add_impl(ids, deltas, check_seconds("update_time", update_time))

    def _assign_add_impl(self, ids, deltas, update_time):
        """:meth:`assign_add` for validated arguments (contiguous arrays on the table's device)."""
        with self._lock:
            rows = self._upsert(ids, update_time)[0]  # may reallocate the row store
            self._ops.add(self._values, rows, deltas)

    def apply_gradients(self, ids, grads, learning_rate=None, global_step=0, update_time=0, dedup=True):
        """Optimise the rows of ``ids`` with ``grads``; absent ids are created, then optimised.

        Parameters
        ----------
        ids : (n,) int64 or uint64 array
        grads : (n, dim) float32 array
        learning_rate : float, 1-D float array, LearningRateFunction or None, default None
            A rate for every segment, one per segment, or a schedule evaluated
            at ``global_step``; ``None``: the config's learning-rate functions
            (or each optimizer's own rate).
        global_step : int, default 0
        update_time : int, default 0
            Seconds; stored as each touched entry's last-update time.
        dedup : bool, default True
            True: repeated ids' gradients are summed (in occurrence order) and
            the rule runs once per id; False: once per occurrence, in order.

        Raises
        ------
        TypeError, ValueError
            On bad input (nothing is written).
        TableFullError
            When the table needs to grow and may not (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1]), np.float32([[1, 1]]))
        >>> grads = np.float32([[1, 2], [3, 4], [1, 1]])
        >>> table.apply_gradients(np.array([1, 1, 2]), grads, learning_rate=0.5)  # w -= 0.5 * summed gradient
        >>> table.lookup(np.array([1, 2]))
        array([[-1. , -2. ],
               [-0.5, -0.5]], dtype=float32)
        """
        ids, grads = self._check_batch("grads", ids, grads)
        update_time = check_seconds("update_time", update_time)
        global_step = check_step("global_step", global_step)
        # validated (and a schedule evaluated) once, before any id is inserted
        lrs = self._learning_rates(learning_rate, global_step)
        self._apply_gradients_impl(ids, grads, lrs, global_step, update_time, dedup)

    def _learning_rates(self, learning_rate, global_step):
        """Validated per-segment rates of ``learning_rate`` (None: the config's functions) at ``global_step``."""
        return self._entry._resolve_learning_rates(learning_rate, global_step, self._lr_fns, name="learning_rate")

    def _apply_gradients_impl(self, ids, grads, lrs, global_step, update_time, dedup):
        """:meth:`apply_gradients` for validated arguments and rates from :meth:`_learning_rates`."""
        with self._lock:
            rows, plan = self._upsert(ids, update_time, dedup=dedup)
            if plan is None:  # the occurrence filter kept some ids out: their rows are EMPTY
                keep = rows != ix.EMPTY
                rows, grads = rows[keep], grads[keep]
            if dedup or (self.device == "cpu" and self._entry._sequential_ok):  # one pass, linear in the batch
                self._entry._apply_rows_impl(self._values, rows, grads, self._state, lrs, global_step,
                                             sequential=not dedup)
                return
            for idx in _occurrence_rounds(host_read(rows)):  # GPU, HashNet: one call per occurrence rank
                idx = self._xp.asarray(idx)
                self._entry._apply_rows_impl(self._values, rows[idx], grads[idx], self._state, lrs, global_step)

    # -- resolved rows (the embedding collection's one pass per step) -----------------

    def _resolve_rows(self, ids, update_time, training, plan=None):
        """``(rows, moves)``: the row of each validated id, ``EMPTY`` where it has no entry.

        With ``plan`` (``dedup_ids(ids)`` of :mod:`monolith_np.table.pooling`)
        the rows are those of the distinct ids ``plan[0]``, each probed once.
        In training the absent ids are inserted first, as :meth:`insert` does
        (their occurrences offered to the occurrence filter, new rows numbered
        the same way), and every row is stamped with ``update_time``. The
        present ids cost one lookup; only the absent ones go through the
        insert. ``moves`` tells :meth:`_apply_resolved` whether the rows are
        still valid.
        """
        xp = self._xp
        with self._lock:
            rows = self._rows(ids if plan is None else plan[0])
            if training:
                miss = rows == ix.EMPTY
                if bool(miss.any()):
                    occ = xp.flatnonzero(miss if plan is None else miss[plan[1]])
                    new = self._upsert(xp.ascontiguousarray(ids[occ]), update_time)[0]
                    rows[occ if plan is None else plan[1][occ]] = new
                self._touch(rows, update_time)
            return rows, self._moves

    def _apply_resolved(self, ids, rows, moves, grads, lrs, global_step):
        """Optimise the rows of :meth:`_resolve_rows` with ``grads`` (an array or a ``RowGrads``), dedup on.

        ``ids`` are the keys of ``rows`` (the distinct ids for grouped
        gradients). The rows are found again when entries moved since (an
        erase or eviction in between); ids without an entry (kept out by the
        filter, or erased since) get no update, as in
        :class:`monolith_np.torch.HashEmbedding`. ``lrs`` the rates of
        :meth:`_learning_rates`; ``global_step`` validated by the caller.
        """
        with self._lock:
            if moves != self._moves:
                rows = self._rows(ids)
            grouped = isinstance(grads, RowGrads) and grads.groups is not None
            if grouped and (self._xp is not np or not self._entry._sequential_ok):
                rows, grads = grads.ungroup(rows)  # the GPU and HashNet paths take one row per occurrence
                grouped = False
            if not grouped:  # (the grouped driver skips EMPTY rows itself)
                keep = rows != ix.EMPTY
                if not bool(keep.all()):
                    rows = rows[keep]
                    grads = grads.subset(keep) if isinstance(grads, RowGrads) else grads[keep]
            if rows.shape[0]:
                self._entry._apply_rows_impl(self._values, rows, grads, self._state, lrs, global_step)

    def reinitialize(self, ids, update_time=0):
        """Reset the rows of ``ids`` to their initial values and state (creating absent ones).

        Parameters
        ----------
        ids : (n,) int64 or uint64 array
        update_time : int, default 0
            Seconds; stored as each entry's last-update time (Monolith uses
            the wall clock here; pass ``int(time.time())`` for that).

        Returns
        -------
        (n,) int32 array
            1 where the id existed before this occurrence (a repeated id
            counts as existing from its second occurrence on), 0 where it was
            created.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1]), np.float32([[4, 4]]))
        >>> table.reinitialize(np.array([1, 2, 2]))
        array([1, 0, 1], dtype=int32)
        >>> table.lookup(np.array([1, 2]))
        array([[0., 0.],
               [0., 0.]], dtype=float32)
        """
        ids = self._check_ids(ids)
        update_time = check_seconds("update_time", update_time)
        with self._lock:
            existed = self._rows(ids) != ix.EMPTY
            rows = self._upsert(ids, update_time)[0]
            self._init_rows_at(self._xp.unique(rows[existed]))
        repeat = np.ones(ids.size, np.bool_)
        repeat[np.unique(host_read(ids), return_index=True)[1]] = False
        return (existed | self._xp.asarray(repeat)).astype(np.int32)

    def _init_rows_at(self, rows):
        block = self._xp.empty((rows.size, self.dim), np.float32)
        ids = self._row_ids[rows]
        for k, seg in enumerate(self._entry.slices):
            self._entry.initializers[k].initialize(block[:, seg], row_ids=ids)
        self._values[rows] = block
        fresh = self._entry.init_state(1, like=self._values)
        for st, init in zip(self._state, fresh):
            for key, arr in st.items():
                arr[rows] = init[key][0]

    # -- removing -------------------------------------------------------------------

    def _remove(self, ids):
        """Erase ``ids`` (absent ones ignored); returns the number removed."""
        xp = self._xp
        freed = self._ops.erase(self._slots, self._counts, self._parts, self._log2s, self._keys(ids))
        holes = xp.sort(freed[freed != ix.EMPTY])
        if holes.size == 0:
            return 0
        n = self._size
        new_size = n - holes.size
        # Live rows past the new end fill the holes below it.
        tail = xp.arange(new_size, n)
        tail = tail[~xp.isin(tail, holes, assume_unique=True)]
        dest = holes[holes < new_size]
        if dest.size:
            self._row_ids[dest] = self._row_ids[tail]
            self._values[dest] = self._values[tail]
            self._ts[dest] = self._ts[tail]
            for st in self._state:
                for arr in st.values():
                    arr[dest] = arr[tail]
            self._ops.set_rows(self._slots, self._parts, self._log2s,
                               self._keys(xp.ascontiguousarray(self._row_ids[dest])),
                               xp.ascontiguousarray(dest))
        self._size = new_size
        self._moves += 1  # rows handed out before may now name other entries
        return int(holes.size)

    def erase(self, ids):
        """Remove the entries of ``ids`` (absent ids are ignored).

        Parameters
        ----------
        ids : (n,) int64 or uint64 array

        Returns
        -------
        int
            Entries removed.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.insert(np.array([1, 2, 3]))
        3
        >>> table.erase(np.array([2, 9]))
        1
        >>> table.contains(np.array([1, 2, 3]))
        array([ True, False,  True])
        """
        ids = self._check_ids(ids)
        with self._lock:
            return self._remove(ids)

    def expire_days(self, ids):
        """Expiry in days of each id's slot (``SlotExpireTimeConfig``).

        Parameters
        ----------
        ids : (n,) int64 array

        Returns
        -------
        (n,) int64 array

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import SlotExpireTimeConfig
        >>> from monolith_np.table import EmbeddingHashTable
        >>> expiry = SlotExpireTimeConfig(slot_expire_times=[dict(slot=1, expire_time=3)], default_expire_time=30)
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))], slot_expire_time_config=expiry)
        >>> ids = np.array([5, (1 << 48) | 5])  # slot 0 and slot 1
        >>> table.expire_days(ids)
        array([30,  3])
        """
        return self._expire_days(host_read(ids))

    def _expire_days(self, ids):
        """:meth:`expire_days` of host ids."""
        slots = slot_of(ids)
        days = np.full(slots.shape, self._expire.default_expire_time, np.int64)
        for item in self._expire.slot_expire_times:
            days[slots == item.slot] = item.expire_time
        return days

    def _live_ids_and_stamps(self):
        """Host copies of the live rows' ids and last-update times (two reads on a GPU, three after an insert).

        The last insert's placement status is read first: nothing leaves the
        device from an index that a failed placement left unusable.
        """
        self._ops.settle()
        return host_read(self._row_ids[:self._size]), host_read(self._ts[:self._size])

    def _expired(self, now, ids, ts):
        """Host mask of the rows with ``now - ts >= expire_days * 86400`` (``ids``, ``ts``: host copies)."""
        return np.int64(now) - ts.astype(np.int64) >= self._expire_days(ids) * _SECONDS_PER_DAY

    def evict(self, now):
        """Remove every entry with ``now - last_update >= expire_days(slot) * 86400``.

        Parameters
        ----------
        now : int
            Seconds (Monolith passes the latest update time seen,
            :attr:`max_update_ts`).

        Returns
        -------
        int
            Entries removed.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import SlotExpireTimeConfig
        >>> from monolith_np.table import EmbeddingHashTable
        >>> expiry = SlotExpireTimeConfig(slot_expire_times=[dict(slot=1, expire_time=3)], default_expire_time=30)
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))], slot_expire_time_config=expiry)
        >>> ids = np.array([5, (1 << 48) | 5])  # slot 0 and slot 1
        >>> table.insert(ids, update_time=0)
        2
        >>> table.evict(3 * 86400)  # three days later: the slot-1 entry has expired
        1
        >>> table.contains(ids)
        array([ True, False])
        """
        now = check_seconds("now", now)
        with self._lock:
            ids, ts = self._live_ids_and_stamps()
            return self._remove(self._xp.asarray(ids[self._expired(now, ids, ts)]))

    # -- checkpoints --------------------------------------------------------------------

    def save(self, path, num_shards=1):
        """Write every unexpired entry as Monolith ``EntryDump`` records: all of the save, or nothing.

        Entries with ``max_update_ts - last_update >= expire_days(slot) * 86400``
        are left out, as Monolith's save op does. Rows are split into
        ``num_shards`` contiguous shards, TFRecord files that Monolith and
        TensorFlow read, named as Monolith names them
        (``sharded_file_name(basename, k, num_shards)``) inside a directory
        of their own, ``path + ".save-<id>"``, with a ``-meta`` file listing
        them. The save becomes the checkpoint at ``path`` in one atomic
        step: the rename of ``path + "-manifest"``, which names that
        directory and every shard with its entry count, length and SHA-256
        (see ``docs/checkpoints.md``). Until then the previous checkpoint is
        untouched, whatever happens (a crash, a full disk, a save from
        another thread or process: saves of one path take turns, the last
        to finish wins). Afterwards the previous save's files are removed,
        and so are the leftovers of interrupted saves.

        Parameters
        ----------
        path : str or os.PathLike
            Base path of the checkpoint (its directory must exist).
        num_shards : int, default 1
            Number of shard files, ``>= 1``.

        Returns
        -------
        int
            Entries written.

        Raises
        ------
        OSError
            If a file cannot be written or synced, including the sync that
            makes the commit durable; the previous checkpoint at ``path`` is
            then still the checkpoint, and this save's files are removed.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1, 2]), np.float32([[1, 2], [3, 4]]), update_time=100)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     print(table.save(os.path.join(tmp, "emb"), num_shards=2))
        ...     files = sorted(os.listdir(tmp))
        ...     print(files)
        ...     print(sorted(os.listdir(os.path.join(tmp, files[2]))))
        2
        ['emb-manifest', 'emb.lock', 'emb.save-...']
        ['emb-00000-of-00002', 'emb-00001-of-00002', 'emb-meta']
        """
        num_shards = check_number("num_shards", num_shards, integer=True, low=1)
        path = os.fspath(path)
        with self._lock:
            ids, ts = self._live_ids_and_stamps()
            kept = np.flatnonzero(~self._expired(self._max_update_ts, ids, ts))
            ids, ts, keep = ids[kept], ts[kept], self._xp.asarray(kept)
            values = host_read(self._values[keep])
            state = [{k: host_read(a[keep]) for k, a in st.items()} for st in self._state]
        cuts = np.linspace(0, keep.size, num_shards + 1).astype(np.int64)
        base = os.path.basename(path)
        meta = []
        with _commit.begin(path) as save:
            for k in range(num_shards):
                lo, hi = int(cuts[k]), int(cuts[k + 1])
                name = ck.sharded_file_name(base, k, num_shards)
                save.add(name, *encode_rows(self._entry, ids[lo:hi], values[lo:hi],
                                            [{key: a[lo:hi] for key, a in st.items()} for st in state], ts[lo:hi]))
                meta.append(MultiHashTableMetadata(table_name=name, num_entries=hi - lo).SerializeToString())
            sizes = np.cumsum([0] + [len(r) for r in meta]).astype(np.int64)
            save.commit((np.frombuffer(b"".join(meta), np.uint8), sizes))
        return int(keep.size)

    @staticmethod
    def has_checkpoint(path):
        """Whether ``path`` names a checkpoint (``path-meta`` or ``path-NNNNN-of-NNNNN`` shard files).

        Parameters
        ----------
        path : str or os.PathLike
            A base path given to :meth:`save` (or Monolith's save op).

        Returns
        -------
        bool

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1, 2]), np.float32([[1, 2], [3, 4]]), update_time=100)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "emb")
        ...     print(EmbeddingHashTable.has_checkpoint(path))
        ...     _ = table.save(path)
        ...     print(EmbeddingHashTable.has_checkpoint(path))
        False
        True
        """
        path = os.fspath(path)
        return any(os.path.lexists(path + end) for end in ("-manifest", "-meta")) or bool(_commit.shard_files(path))

    @staticmethod
    def _shards(path):
        """``[(file name, its checked bytes, records it must hold or None)]`` of the checkpoint at ``path``.

        The committed manifest when there is one; otherwise the flat layout
        of older releases and Monolith (``path-meta``, or the
        ``path-NNNNN-of-NNNNN`` files alone). Every file must be a regular
        file; names in a manifest or ``-meta`` must be plain file names.
        """
        manifest = _commit.read_manifest(path)
        if manifest is not None:
            return [(_commit.shard_path(path, manifest, s), _commit.read_shard(path, manifest, s), s["entries"])
                    for s in manifest["shards"]]
        return [(name, _commit.open_regular(name, "a checkpoint shard"), n) for name, n in _commit.flat_shards(path)]


    def read_checkpoint(self, path):
        """Read and validate a checkpoint without changing the table (see :meth:`restore`).

        Parameters
        ----------
        path : str or os.PathLike
            The base path given to :meth:`save`.

        Returns
        -------
        DecodedEntries
            Every shard's records, concatenated (host arrays), for
            :meth:`apply_checkpoint`.

        Raises
        ------
        FileNotFoundError
            If there is no checkpoint at ``path``.
        ValueError
            If a file is truncated, corrupted or foreign, or holds another
            entry layout.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1, 2]), np.float32([[1, 2], [3, 4]]), update_time=100)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = table.save(os.path.join(tmp, "emb"))
        ...     entries = table.read_checkpoint(os.path.join(tmp, "emb"))
        >>> entries.ids, entries.timestamps
        (array([1, 2]), array([100, 100], dtype=uint32))
        >>> entries.params
        array([[1., 2.],
               [3., 4.]], dtype=float32)
        """
        parts = [ck.decode_shard(data, name, self._entry, n) for name, data, n in self._shards(os.fspath(path))]
        state = [{k: np.concatenate([p.state[s][k] for p in parts]) for k in st}
                 for s, st in enumerate(parts[0].state)]
        return ck.DecodedEntries(*(np.concatenate([getattr(p, f) for p in parts])
                                   for f in ("ids", "params")), state,
                                 *(np.concatenate([getattr(p, f) for p in parts])
                                   for f in ("timestamps", "num_values")))

    def apply_checkpoint(self, entries):
        """Upsert the records of :meth:`read_checkpoint` (the second half of :meth:`restore`).

        Parameters
        ----------
        entries : DecodedEntries
            From :meth:`read_checkpoint` of a table with the same entry layout.
            Its arrays are read, never written.

        Returns
        -------
        int
            Entries restored.

        Raises
        ------
        TypeError, ValueError
            If ``entries`` is not a ``DecodedEntries``, or an array does not
            fit the table: ids not int64/uint64, a shape that is not one row
            per entry, state keys other than the table's, timestamps beyond
            uint32 or ``num_values`` outside ``[0, dim]``. Everything is
            checked before the table changes.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1, 2]), np.float32([[1, 2], [3, 4]]), update_time=100)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = table.save(os.path.join(tmp, "emb"))
        ...     entries = table.read_checkpoint(os.path.join(tmp, "emb"))
        >>> other = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> other.apply_checkpoint(entries)
        2
        >>> other.lookup(np.array([2])), other.max_update_ts
        (array([[3., 4.]], dtype=float32), 100)
        """
        ids, values, state, ts, nums, short, latest = self._checked_entries(entries)
        xp = self._xp
        with self._lock:
            rows = self._upsert(ids, 0, filtered=False)[0]
            if short:  # as Monolith: a short record overwrites its leading values only (of a copy: ours)
                partial = nums < self.dim
                cols = xp.arange(self.dim)[None, :] < nums[partial, None]
                values[partial] = xp.where(cols, values[partial], self._values[rows[partial]])
            self._ops.put(self._values, rows, values)
            for st_table, st_saved in zip(self._state, state):
                for k, arr in st_table.items():
                    arr[rows] = st_saved[k]
            self._ts[rows] = ts
            if latest is not None:
                self._max_update_ts = max(self._max_update_ts, latest)
        return int(ids.shape[0])

    def _checked_entries(self, entries):
        """Every array of ``entries`` checked against the table's layout, on its device, before any change.

        Returns ``(ids, values, state, timestamps, num_values, short, latest)``;
        ``values`` is a copy when some record is short (it is then merged with
        the table's rows), so the caller's arrays are never written.
        """
        if not isinstance(entries, ck.DecodedEntries):
            raise TypeError(f"entries must be the DecodedEntries of read_checkpoint(), got {type(entries).__name__}")
        ids = entries.ids
        check_array("entries.ids", ids, ndim=1, dtypes=(np.int64, np.uint64))
        n = ids.shape[0]
        check_array("entries.params", entries.params, dtypes=(np.float32,), shape=(n, self.dim))
        check_array("entries.timestamps", entries.timestamps, dtype_kinds="iu", shape=(n,))
        check_array("entries.num_values", entries.num_values, dtype_kinds="iu", shape=(n,))
        host_ts, host_nums = host_read(entries.timestamps), host_read(entries.num_values)
        if n and (int(host_ts.min()) < 0 or int(host_ts.max()) > _UINT32_MAX):
            raise ValueError(f"entries.timestamps must be uint32 seconds in [0, {_UINT32_MAX}], got values from "
                             f"{int(host_ts.min())} to {int(host_ts.max())}")
        if n and (int(host_nums.min()) < 0 or int(host_nums.max()) > self.dim):
            raise ValueError(f"entries.num_values must be in [0, {self.dim}] (the table's dim), got values from "
                             f"{int(host_nums.min())} to {int(host_nums.max())}")
        if not isinstance(entries.state, (list, tuple)) or len(entries.state) != len(self._state):
            raise ValueError(f"entries.state must be a list of {len(self._state)} dicts (one per segment), "
                             f"got {type(entries.state).__name__} of {len(entries.state)}"
                             if isinstance(entries.state, (list, tuple)) else
                             f"entries.state must be a list of {len(self._state)} dicts, "
                             f"got {type(entries.state).__name__}")
        state = []
        for k, (mine, given) in enumerate(zip(self._state, entries.state)):
            if not isinstance(given, dict) or set(given) != set(mine):
                keys = sorted(given) if isinstance(given, dict) else type(given).__name__
                raise ValueError(f"entries.state[{k}] must have the keys {sorted(mine)}, got {keys}")
            for key, arr in mine.items():
                check_array(f"entries.state[{k}][{key!r}]", given[key], dtypes=(arr.dtype,),
                            shape=(n,) + tuple(arr.shape[1:]))
            state.append({key: self._array(f"entries.state[{k}][{key!r}]", given[key]) for key in mine})
        short = bool((host_nums < self.dim).any())
        values = self._array("entries.params", entries.params)
        if short and values is entries.params:
            values = values.copy()
        latest = int(host_ts.max()) if n else None
        return (self._array("entries.ids", ids).view(np.int64), values, state,
                self._array("entries.timestamps", entries.timestamps).astype(np.uint32),
                self._array("entries.num_values", entries.num_values).astype(np.int64), short, latest)

    def restore(self, path):
        """Load a checkpoint written by :meth:`save` (or Monolith's save op) into the table.

        Every shard is read and validated first (:meth:`read_checkpoint`);
        then each record is upserted (:meth:`apply_checkpoint`): an absent id
        is created (initial values and state), its leading ``len(num)``
        values, optimizer state and last-update time are set from the record.
        Entries not in the checkpoint are kept. The table's capacity may
        differ from the saving table's.

        Parameters
        ----------
        path : str or os.PathLike
            The base path given to :meth:`save`.

        Returns
        -------
        int
            Entries restored.

        Raises
        ------
        FileNotFoundError
            If there is no checkpoint at ``path``.
        ValueError
            If a file is truncated, corrupted or foreign, or holds another
            entry layout (nothing is changed then).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> table.assign(np.array([1, 2]), np.float32([[1, 2], [3, 4]]), update_time=100)
        >>> other = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> other.assign(np.array([7]), np.float32([[7, 7]]))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = table.save(os.path.join(tmp, "emb"))
        ...     print(other.restore(os.path.join(tmp, "emb")))
        2
        >>> other.lookup(np.array([1, 2, 7]))  # id 7 was not in the checkpoint and is kept
        array([[1., 2.],
               [3., 4.],
               [7., 7.]], dtype=float32)
        """
        return self.apply_checkpoint(self.read_checkpoint(path))

    # -- export -----------------------------------------------------------------------

    def export(self):
        """Copies of every entry, in storage order.

        Returns
        -------
        ids : (size,) int64 array
            On the table's device, as every array returned here.
        values : (size, dim) float32 array
            Stored values (full precision, not the lookup view).
        state : list of dict of str to array
            Each segment's optimizer state rows.
        timestamps : (size,) uint32 array
            Last-update times.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import AdagradOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), AdagradOptimizer(0.1, initial_accumulator_value=0.5))])
        >>> table.insert(np.array([4, 8]), update_time=60)
        2
        >>> ids, values, state, timestamps = table.export()
        >>> ids, timestamps
        (array([4, 8]), array([60, 60], dtype=uint32))
        >>> values.shape, sorted(state[0])
        ((2, 2), ['norm'])
        >>> state[0]["norm"]
        array([[0.5, 0.5],
               [0.5, 0.5]], dtype=float32)
        """
        with self._lock:
            n = self._size
            state = [{k: a[:n].copy() for k, a in st.items()} for st in self._state]
            return self._row_ids[:n].copy(), self._values[:n].copy(), state, self._ts[:n].copy()


def _occurrence_rounds(rows):
    """Index arrays: round ``k`` holds the ``k``-th occurrence of every row, in order.

    Applying the rounds one after another runs the rule once per occurrence
    and, for each row, in occurrence order (rows of one round are distinct).
    """
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    first = np.r_[True, sorted_rows[1:] != sorted_rows[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(rows.size), 0))
    rank = np.empty(rows.size, np.int64)
    rank[order] = np.arange(rows.size) - start
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2 if rows.size else 1))
    return [by_rank[bounds[k]:bounds[k + 1]] for k in range(bounds.size - 1)]
