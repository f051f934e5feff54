"""Occurrence filters: admit a new id into an embedding table once it has been seen often enough.

A filter answers, for a batch of ids that are about to create table entries
(gradients, assignments), which of them must be dropped because the id has
not yet been seen ``threshold`` times. Thresholds are per slot
(:class:`SlotOccurrenceThreshold`, ``slot = (id >> 48) & 0x7FFF``), as in
Monolith's ``SlotOccurrenceThresholdConfig``.

Filters (Monolith's ``runtime/hash_filter`` and ``hash_filter_ops.py``):

* :class:`HashFilter` -- a counting filter of bounded capacity, never cleared;
* :class:`SlidingHashFilter` -- a ring of counting generations that forgets
  ids not seen for a while (the default, ``FilterType.SLIDING_HASH_FILTER``);
* :class:`ProbabilisticFilter` -- admits a new id at random with a probability
  that grows with its count in the batch;
* :class:`DummyFilter` -- never filters.

Decision rule of the counting filters: an occurrence with
threshold ``<= 0`` is never filtered and not counted; otherwise
``prev = add(id, count)`` (the count before this occurrence) and the
occurrence is filtered iff ``prev < threshold``. An id is thus admitted at its
``(threshold + 1)``-th occurrence. A batch is processed **in order**: an id
that appears twice in one batch is counted twice and its second occurrence
sees the first one's count.

Unlike Monolith, the counting filters store every id's full 64 bits and a
32-bit count (saturating at ``2**32 - 1``) in open-addressing tables, so there
are no false positives and every threshold works; see ``docs/filters.md`` for
the list of differences and their reasons.

The probe/add logic is written once as plain rules over arrays in
:mod:`monolith_np._rules.filters` (``probe``, ``older_count``,
``filter_add_batch``, ``filter_get_batch``, ``probabilistic_admit``) and
compiled for the CPU by the ``*_cpu`` drivers below; a CUDA driver can
compile the same rules.
"""

from __future__ import annotations

import contextlib

import numpy as np
from google.protobuf.message import DecodeError
from numba import prange

from .. import proto
from .._checks import check_array, check_choice, check_number, check_seed
from .._compile import cpu_jit, run_cpu
from .._random import uniform01_float32
from .._rules.filters import (MAX_COUNT, clear_generation, filter_add_batch, filter_get_batch, home_of,
                              probabilistic_admit, probe)

__all__ = [
    "HASH_FILTER_CAPACITY",
    "HASH_FILTER_SPLIT_NUM",
    "MAX_COUNT",
    "MAX_SLOT_NUMBER",
    "FilterType",
    "SlotOccurrenceThreshold",
    "Filter",
    "HashFilter",
    "SlidingHashFilter",
    "ProbabilisticFilter",
    "DummyFilter",
    "create_hash_filter",
    "create_probabilistic_filter",
    "create_dummy_hash_filter",
    "create_hash_filters",
]

HASH_FILTER_CAPACITY = 300_000_000
"""Default capacity of :class:`SlidingHashFilter` (Monolith's ``HASH_FILTER_CAPACITY``)."""

HASH_FILTER_SPLIT_NUM = 7
"""Default generation count of :class:`SlidingHashFilter` (Monolith's ``HASH_FILTER_SPLIT_NUM``)."""

MAX_SLOT_NUMBER = 1 << 15
"""Number of slots: ``slot(id) = (id >> 48) & 0x7FFF``."""

_STATE_VERSION = 1


class FilterType:
    """Filter kinds accepted by :func:`create_hash_filters` (Monolith's ``FilterType``).

    Examples
    --------
    >>> from monolith_np.table.filters import FilterType, create_hash_filters
    >>> FilterType.SLIDING_HASH_FILTER, FilterType.PROBABILISTIC_FILTER, FilterType.NO_FILTER
    ('sliding_hash_filter', 'probabilistic_filter', 'no_filter')
    >>> [type(f).__name__ for f in create_hash_filters(2, True, filter_type=FilterType.NO_FILTER)]
    ['DummyFilter', 'DummyFilter']
    """

    SLIDING_HASH_FILTER = "sliding_hash_filter"
    PROBABILISTIC_FILTER = "probabilistic_filter"
    NO_FILTER = "no_filter"


# ---------------------------------------------------------------------------
# CPU drivers.
# ---------------------------------------------------------------------------


_filter_add_batch_cpu = cpu_jit(filter_add_batch)
_filter_get_batch_cpu = cpu_jit(filter_get_batch)


#: An ``advance_limit`` the rule never reaches: the journaled driver advances the head itself.
_NEVER = np.int64(2**62)


@cpu_jit
def _filter_add_journaled_cpu(keys, counts, used, elements, state, ids, add_counts, skip, insert_limit,
                              advance_limit, prev, cell_gen, cell_idx, old_key, old_count, old_used, clear_at,
                              clear_gen, clear_used):
    """:func:`filter_add_batch` one id at a time, recording what each add overwrites; returns the clears made.

    Before each add, the cell its probe ends at (the one the rule writes) is
    saved; before the head advances, the ``used`` row of the generation it
    clears. :func:`_filter_undo_cpu` replays the record backwards.
    """
    size = keys.shape[1]
    clears = 0
    for j in range(ids.shape[0]):
        head = state[0]
        cell_idx[j] = -1
        if not skip[j]:
            i = probe(keys, used, head, ids[j], home_of(ids[j], size))
            if i >= 0:
                cell_gen[j], cell_idx[j] = head, i
                old_key[j], old_count[j], old_used[j] = keys[head, i], counts[head, i], used[head, i]
        filter_add_batch(keys, counts, used, elements, state, ids[j:j + 1], add_counts[j:j + 1], skip[j:j + 1],
                         insert_limit, _NEVER, prev[j:j + 1])
        if elements[head] >= advance_limit:  # the rule's advance, its clear saved first
            nxt = head + 1 if head + 1 < keys.shape[0] else 0
            clear_at[clears], clear_gen[clears] = j, nxt
            clear_used[clears, :] = used[nxt, :]
            clears += 1
            state[0] = nxt
            clear_generation(used, elements, nxt)
    return clears


@cpu_jit
def _filter_undo_cpu(keys, counts, used, cell_gen, cell_idx, old_key, old_count, old_used, clear_at, clear_gen,
                     clear_used, clears):
    """Take back a :func:`_filter_add_journaled_cpu` call: its writes and clears, newest first."""
    c = clears - 1
    for j in range(cell_idx.shape[0] - 1, -1, -1):
        while c >= 0 and clear_at[c] == j:
            used[clear_gen[c], :] = clear_used[c, :]
            c -= 1
        i = cell_idx[j]
        if i >= 0:
            g = cell_gen[j]
            keys[g, i], counts[g, i], used[g, i] = old_key[j], old_count[j], old_used[j]


@cpu_jit(parallel=True)
def _probabilistic_batch_cpu(seed, offset, add_counts, thresholds, consider, equal_probability, filtered):
    """One element per iteration: draw ``u(seed, offset + j)`` and write ``filtered[j]``."""
    for j in prange(add_counts.shape[0]):
        if consider[j]:
            u = np.float64(uniform01_float32(seed, offset + np.uint64(j)))
            filtered[j] = not probabilistic_admit(u, add_counts[j], thresholds[j], equal_probability)
        else:
            filtered[j] = False


# ---------------------------------------------------------------------------
# Thresholds.
# ---------------------------------------------------------------------------


def _slots(ids):
    """``(id >> 48) & 0x7FFF`` for int64 or uint64 ids (the mask makes the shift kind irrelevant)."""
    return (ids.view(np.int64) >> 48) & (MAX_SLOT_NUMBER - 1)


class SlotOccurrenceThreshold:
    """Per-slot occurrence thresholds, the array form of ``SlotOccurrenceThresholdConfig``.

    Holds one threshold for each of the ``2**15`` slots, so looking up a batch is
    one gather: ``table[(ids >> 48) & 0x7FFF]``.

    Parameters
    ----------
    slot_occurrence_thresholds : dict of int to int, optional
        Thresholds overriding the default for some slots; slots in
        ``[0, 2**15)``, thresholds in ``[0, 2**32 - 1]``.
    default_occurrence_threshold : int, default 0
        Threshold of every other slot; 0 means no filtering.

    Raises
    ------
    TypeError
        If a slot or threshold is not an integer.
    ValueError
        If a slot or threshold is out of range.

    Notes
    -----
    Monolith keeps the thresholds as C ``int``, so a configured ``uint32``
    threshold ``>= 2**31`` wraps negative and disables filtering for its slot;
    here every ``uint32`` threshold is kept as is.

    Examples
    --------
    >>> import numpy as np
    >>> t = SlotOccurrenceThreshold({1: 5}, default_occurrence_threshold=2)
    >>> t.thresholds(np.array([7, (1 << 48) | 7], dtype=np.int64))
    array([2, 5])
    """

    def __init__(self, slot_occurrence_thresholds=None, default_occurrence_threshold=0):
        default = check_number("default_occurrence_threshold", default_occurrence_threshold, integer=True,
                               low=0, high=MAX_COUNT)
        self._table = np.full(MAX_SLOT_NUMBER, default, dtype=np.int64)
        self.default_occurrence_threshold = default
        self.slot_occurrence_thresholds = {}
        for slot, threshold in dict(slot_occurrence_thresholds or {}).items():
            slot = check_number("slot", slot, integer=True, low=0, high=MAX_SLOT_NUMBER - 1)
            threshold = check_number(f"occurrence_threshold of slot {slot}", threshold, integer=True, low=0,
                                     high=MAX_COUNT)
            self._table[slot] = threshold
            self.slot_occurrence_thresholds[slot] = threshold

    @classmethod
    def from_config(cls, config):
        """Build thresholds from a config in any of its usual forms.

        Parameters
        ----------
        config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None
            A serialized or parsed ``SlotOccurrenceThresholdConfig`` (the
            original ops take the serialized bytes; ``b""`` is the all-zero
            default), a ``{slot: threshold}`` dict (default 0), an existing
            instance (returned as is) or ``None`` (no filtering).

        Returns
        -------
        SlotOccurrenceThreshold
            The thresholds.

        Raises
        ------
        TypeError
            If ``config`` has none of these types.
        ValueError
            If a slot or threshold is out of range, or bytes do not parse as
            a ``SlotOccurrenceThresholdConfig``.
        """
        if isinstance(config, cls):
            return config
        if config is None:
            return cls()
        if isinstance(config, dict):
            return cls(config)
        if isinstance(config, (bytes, bytearray)):
            try:
                config = proto.SlotOccurrenceThresholdConfig.FromString(bytes(config))
            except DecodeError:
                raise ValueError(f"config must be a serialized SlotOccurrenceThresholdConfig, got {len(config)} "
                                 "bytes that do not parse as one") from None
        if not isinstance(config, proto.SlotOccurrenceThresholdConfig):
            raise TypeError("config must be bytes, a SlotOccurrenceThresholdConfig, a dict or None, "
                            f"got {type(config).__name__}")
        return cls({s.slot: s.occurrence_threshold for s in config.slot_occurrence_thresholds},
                   config.default_occurrence_threshold)

    def to_config(self):
        """Return the equivalent ``SlotOccurrenceThresholdConfig`` message.

        Returns
        -------
        monolith_np.proto.SlotOccurrenceThresholdConfig
            Per-slot entries in slot order, then the default.

        Examples
        --------
        >>> from monolith_np.table.filters import SlotOccurrenceThreshold
        >>> config = SlotOccurrenceThreshold({3: 5, 1: 2}, default_occurrence_threshold=1).to_config()
        >>> [(item.slot, item.occurrence_threshold) for item in config.slot_occurrence_thresholds]
        [(1, 2), (3, 5)]
        >>> config.default_occurrence_threshold
        1
        >>> SlotOccurrenceThreshold.from_config(config.SerializeToString()).slot_occurrence_thresholds
        {1: 2, 3: 5}
        """
        config = proto.SlotOccurrenceThresholdConfig(default_occurrence_threshold=self.default_occurrence_threshold)
        for slot in sorted(self.slot_occurrence_thresholds):
            config.slot_occurrence_thresholds.add(slot=slot, occurrence_threshold=self.slot_occurrence_thresholds[slot])
        return config

    def thresholds(self, ids):
        """Return the threshold of each id's slot.

        Parameters
        ----------
        ids : (n,) int64 or uint64 numpy array
            The ids.

        Returns
        -------
        (n,) int64 numpy array
            ``threshold[slot(ids)]``.

        Raises
        ------
        TypeError
            If ``ids`` is not an int64/uint64 numpy array.
        ValueError
            If ``ids`` is not 1-D.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import SlotOccurrenceThreshold
        >>> t = SlotOccurrenceThreshold({2: 10}, default_occurrence_threshold=3)
        >>> ids = np.array([1, (2 << 48) | 1, (5 << 48) | 1], dtype=np.int64)  # slots 0, 2 and 5
        >>> t.thresholds(ids)
        array([ 3, 10,  3])
        """
        return self._table[_slots(_check_ids(ids))]


# ---------------------------------------------------------------------------
# Argument checks shared by the filters.
# ---------------------------------------------------------------------------


def _check_host(name, x):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (the filters run on the CPU), got {type(x).__name__}")
    return x


def _check_ids(ids):
    check_array("ids", _check_host("ids", ids), ndim=1, dtypes=(np.int64, np.uint64))
    return np.ascontiguousarray(ids).view(np.uint64)


def _check_counts(counts, n):
    check_array("counts", _check_host("counts", counts), ndim=1, dtype_kinds="iu", shape=(n,))
    if n and counts.min() < 0:
        raise ValueError(f"counts must be >= 0, got {counts.min()}")
    if n and counts.max() > MAX_COUNT:
        counts = np.minimum(counts, MAX_COUNT)
    return np.ascontiguousarray(counts, dtype=np.int64)


def _check_thresholds(thresholds, n):
    if isinstance(thresholds, np.ndarray):
        check_array("thresholds", thresholds, ndim=1, dtype_kinds="iu", shape=(n,))
        if n and thresholds.max() > MAX_COUNT:
            raise ValueError(f"thresholds must be <= {MAX_COUNT} (counts saturate there), got {thresholds.max()}")
        return np.ascontiguousarray(thresholds, dtype=np.int64)
    value = check_number("thresholds", thresholds, integer=True, high=MAX_COUNT)
    return np.full(n, value, dtype=np.int64)


def _check_in_table(in_table, n):
    if in_table is None:
        return None
    return check_array("in_table", _check_host("in_table", in_table), ndim=1, dtypes=(np.bool_,), shape=(n,))


def _check_state(state, name, expected):
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
    if name not in state:
        raise ValueError(f"state must have key {name!r}, got keys {sorted(state)}")
    value = state[name]
    if isinstance(expected, np.ndarray):
        if not isinstance(value, np.ndarray) or value.dtype != expected.dtype or value.shape != expected.shape:
            got = f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
            raise ValueError(f"state[{name!r}] must be a {expected.dtype} array of shape {expected.shape}, got {got}")
    elif value != expected:
        raise ValueError(f"state[{name!r}] must be {expected!r} (this filter's), got {value!r}")
    return value


# ---------------------------------------------------------------------------
# Filters.
# ---------------------------------------------------------------------------


class Filter:
    """Base class of the occurrence filters: the batched decision API and thresholds.

    Parameters
    ----------
    config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None, optional
        Per-slot thresholds used when :meth:`should_be_filtered` is given no
        ``thresholds`` (see :meth:`SlotOccurrenceThreshold.from_config`).

    Notes
    -----
    A filter is a mutable object; calls on one filter must not run concurrently.

    Examples
    --------
    Every filter shares this interface; :class:`HashFilter` with a threshold
    of 1 for slot 0 admits an id at its second sighting:

    >>> import numpy as np
    >>> from monolith_np.table.filters import Filter, HashFilter
    >>> f = HashFilter(100, config={0: 1})
    >>> isinstance(f, Filter), f.occurrence_threshold.thresholds(np.array([5], dtype=np.int64))
    (True, array([1]))
    >>> f.should_be_filtered(np.array([5, 5], dtype=np.int64), np.ones(2, dtype=np.int64))
    array([ True, False])
    """

    kind = "filter"

    def __init__(self, config=None):
        self.occurrence_threshold = SlotOccurrenceThreshold.from_config(config)
        self.name = self.kind

    def should_be_filtered(self, ids, counts, thresholds=None, in_table=None):
        """Decide, in batch order, which occurrences must not create a table entry.

        Parameters
        ----------
        ids : (n,) int64 or uint64 numpy array
            Ids, possibly repeated (uint64 is reinterpreted bit for bit).
        counts : (n,) integer numpy array
            Occurrences of each id represented by this position (1 without
            dedup, the group size with dedup); ``>= 0``, values above
            ``MAX_COUNT`` act as ``MAX_COUNT``.
        thresholds : (n,) integer numpy array or int, optional
            Each id's occurrence threshold, ``<= MAX_COUNT``; default: this
            filter's per-slot thresholds.
        in_table : (n,) bool numpy array, optional
            Which ids are already in the table. Those are never filtered and
            not counted. ``None``: counting filters consider every id (like
            Monolith's gradient interception), the probabilistic filter none.

        Returns
        -------
        (n,) bool numpy array
            True where the occurrence is filtered.

        Raises
        ------
        TypeError
            If an argument is not a numpy array of a suitable dtype.
        ValueError
            If shapes differ, a count is negative or a threshold exceeds
            ``MAX_COUNT``.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import HashFilter
        >>> f = HashFilter(100)
        >>> ids = np.array([1, 2, 1, 3], dtype=np.int64)
        >>> in_table = np.array([False, False, False, True])  # id 3 already has an entry
        >>> f.should_be_filtered(ids, np.ones(4, dtype=np.int64), thresholds=1, in_table=in_table)
        array([ True,  True, False, False])
        >>> f.get(ids)  # id 3 was not counted
        array([2, 1, 2, 0])
        """
        ids = _check_ids(ids)
        n = ids.shape[0]
        counts = _check_counts(counts, n)
        thresholds = (self.occurrence_threshold.thresholds(ids) if thresholds is None
                      else _check_thresholds(thresholds, n))
        return self._filter(ids, counts, thresholds, _check_in_table(in_table, n))

    def _filter(self, ids, counts, thresholds, in_table):
        return np.zeros(ids.shape[0], dtype=bool)

    @contextlib.contextmanager
    def _all_or_nothing(self):
        """Context in which every count made is taken back if the block raises (bit for bit).

        A table consults its filter inside one, so a call that fails after
        the filter counted its batch (``TableFullError``, out of memory)
        leaves the filter as it was.
        """
        saved = self._begin()
        try:
            yield
        except BaseException:
            self._rollback(saved)
            raise
        finally:
            self._end()

    def _begin(self):
        return None

    def _rollback(self, saved):
        pass

    def _end(self):
        pass

    def get(self, ids):
        """Return the current count of each id.

        Parameters
        ----------
        ids : (n,) int64 or uint64 numpy array
            The ids; nothing is counted.

        Returns
        -------
        (n,) int64 numpy array
            Counts; 0 for unknown ids and for filters that keep no counts.

        Raises
        ------
        TypeError
            If ``ids`` is not an int64/uint64 numpy array.
        ValueError
            If ``ids`` is not 1-D.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import DummyFilter, HashFilter
        >>> f = HashFilter(100)
        >>> _ = f.add(np.array([4, 4, 6], dtype=np.int64), np.array([1, 2, 1]))
        >>> f.get(np.array([4, 6, 8], dtype=np.int64))
        array([3, 1, 0])
        >>> DummyFilter().get(np.array([4], dtype=np.int64))
        array([0])
        """
        return np.zeros(_check_ids(ids).shape[0], dtype=np.int64)

    @property
    def size(self):
        """Number of stored (id, count) cells; 0 for filters that keep no counts."""
        return 0

    @property
    def failure_count(self):
        """Number of adds that found no room (the id was then admitted)."""
        return 0

    def clear(self):
        """Forget every count (a no-op for filters that keep none).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import HashFilter
        >>> f = HashFilter(100)
        >>> ids = np.array([4, 4], dtype=np.int64)
        >>> _ = f.add(ids, np.ones(2, dtype=np.int64))
        >>> f.size
        1
        >>> f.clear()
        >>> f.size, f.get(ids)
        (0, array([0, 0]))
        """

    def state_dict(self):
        """Return the filter's state as plain data.

        Returns
        -------
        dict
            ``kind``, ``version`` and the filter's own fields (numpy arrays are
            copies).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import DummyFilter, HashFilter
        >>> DummyFilter().state_dict()
        {'kind': 'dummy_filter', 'version': 1}
        >>> f = HashFilter(4)
        >>> _ = f.add(np.array([5, 5, 6], dtype=np.int64), np.ones(3, dtype=np.int64))
        >>> state = f.state_dict()
        >>> state["kind"], state["capacity"], state["elements"]
        ('hash_filter', 4, array([2]))
        """
        return {"kind": self.kind, "version": _STATE_VERSION}

    def load_state_dict(self, state):
        """Restore a state returned by :meth:`state_dict` of a filter built the same way.

        Parameters
        ----------
        state : dict
            The state.

        Raises
        ------
        TypeError
            If ``state`` is not a dict.
        ValueError
            If the kind, version, sizes or array dtypes/shapes do not match this
            filter, or the state is inconsistent.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import HashFilter
        >>> f = HashFilter(100)
        >>> _ = f.add(np.array([5, 5, 6], dtype=np.int64), np.ones(3, dtype=np.int64))
        >>> g = HashFilter(100)  # built the same way
        >>> g.load_state_dict(f.state_dict())
        >>> g.get(np.array([5, 6], dtype=np.int64))
        array([2, 1])
        >>> HashFilter(50).load_state_dict(f.state_dict())
        Traceback (most recent call last):
            ...
        ValueError: state['capacity'] must be 50 (this filter's), got 100
        """
        _check_state(state, "kind", self.kind)
        _check_state(state, "version", _STATE_VERSION)


class _CountingFilter(Filter):
    """Shared storage and drivers of :class:`HashFilter` and :class:`SlidingHashFilter`."""

    def __init__(self, config, num_generations, generation_capacity, fill_rate, insert_limit, advance_limit):
        super().__init__(config)
        cells = max(int(generation_capacity * fill_rate), generation_capacity + 1)
        shape = (num_generations, cells)
        self._keys = np.zeros(shape, dtype=np.uint64)
        self._counts = np.zeros(shape, dtype=np.uint32)
        self._used = np.zeros(shape, dtype=np.bool_)
        self._elements = np.zeros(num_generations, dtype=np.int64)
        self._state = np.zeros(2, dtype=np.int64)  # head, failure_count
        self._insert_limit = insert_limit
        self._advance_limit = advance_limit
        self._journal = None  # inside _all_or_nothing: the records of the adds made, to take them back

    def _arrays(self):
        return {"keys": self._keys, "counts": self._counts, "used": self._used, "elements": self._elements}

    def _add(self, ids, counts, skip):
        prev = np.empty(ids.shape[0], dtype=np.int64)
        if self._journal is None:
            _filter_add_batch_cpu(self._keys, self._counts, self._used, self._elements, self._state, ids, counts,
                                  skip, self._insert_limit, self._advance_limit, prev)
            return prev
        n = ids.shape[0]
        counted = n - int(skip.sum())
        most_clears = 0 if self._advance_limit > self._insert_limit else 1 + counted // self._advance_limit
        record = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.uint64), np.empty(n, np.uint32),
                  np.empty(n, np.bool_), np.empty(most_clears, np.int64), np.empty(most_clears, np.int64),
                  np.empty((most_clears, self._used.shape[1]), np.bool_))
        clears = _filter_add_journaled_cpu(self._keys, self._counts, self._used, self._elements, self._state, ids,
                                           counts, skip, self._insert_limit, self._advance_limit, prev, *record)
        self._journal.append((record, clears))
        return prev

    def _begin(self):
        self._journal = []
        return self._elements.copy(), self._state.copy()

    def _rollback(self, saved):
        for record, clears in reversed(self._journal):
            _filter_undo_cpu(self._keys, self._counts, self._used, *record, clears)
        self._elements[:], self._state[:] = saved

    def _end(self):
        self._journal = None

    def add(self, ids, counts):
        """Count occurrences, in batch order, and return each id's count before its add.

        Parameters
        ----------
        ids : (n,) int64 or uint64 numpy array
            Ids, possibly repeated.
        counts : (n,) integer numpy array
            Occurrences to add at each position, ``>= 0``.

        Returns
        -------
        (n,) int64 numpy array
            The count before each add (``MAX_COUNT`` when the add found no room).

        Raises
        ------
        TypeError
            If an argument is not a numpy array of a suitable dtype.
        ValueError
            If shapes differ or a count is negative.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import HashFilter
        >>> f = HashFilter(100)
        >>> f.add(np.array([9, 9, 7], dtype=np.int64), np.array([2, 1, 1]))  # 9 had no count, then 2
        array([0, 2, 0])
        """
        ids = _check_ids(ids)
        counts = _check_counts(counts, ids.shape[0])
        return self._add(ids, counts, np.zeros(ids.shape[0], dtype=bool))

    def _filter(self, ids, counts, thresholds, in_table):
        skip = thresholds <= 0
        if in_table is not None:
            skip |= in_table
        return ~skip & (self._add(ids, counts, skip) < thresholds)

    def get(self, ids):
        ids = _check_ids(ids)
        out = np.empty(ids.shape[0], dtype=np.int64)
        _filter_get_batch_cpu(self._keys, self._counts, self._used, self._elements, self._state[0], ids, out)
        return out


    @property
    def size(self):
        """Number of stored (id, count) cells over all generations."""
        return int(self._elements.sum())

    @property
    def failure_count(self):
        """Number of adds that found no room (the id was then admitted)."""
        return int(self._state[1])

    def clear(self):
        """Forget every count and reset the head and the failure count."""
        for array in (*self._arrays().values(), self._state):
            array.fill(0)

    def state_dict(self):
        state = super().state_dict()
        state.update(self._metadata())
        state.update({name: array.copy() for name, array in self._arrays().items()})
        state["keys"] = state["keys"].view(np.int64)
        state["head"], state["failure_count"] = (int(v) for v in self._state)
        return state


    def load_state_dict(self, state):
        super().load_state_dict(state)
        for name, value in self._metadata().items():
            _check_state(state, name, value)
        arrays = self._arrays()
        expected = dict(arrays, keys=arrays["keys"].view(np.int64))
        loaded = {name: _check_state(state, name, array) for name, array in expected.items()}
        head = check_number("state['head']", state.get("head"), integer=True, low=0,
                            high=self._elements.shape[0] - 1)
        failures = check_number("state['failure_count']", state.get("failure_count"), integer=True, low=0)
        occupied = loaded["used"].sum(axis=1)
        if not np.array_equal(occupied, loaded["elements"]):
            raise ValueError(f"state['elements'] must equal the occupied cells per generation {occupied.tolist()}, "
                             f"got {loaded['elements'].tolist()}")
        if occupied.max() > self._insert_limit or occupied[head] >= self._advance_limit:
            raise ValueError(f"state['elements'] must be <= {self._insert_limit} (and the head's < "
                             f"{self._advance_limit}), got {occupied.tolist()}")
        for name, array in arrays.items():
            np.copyto(array, loaded[name].view(array.dtype))
        self._state[:] = (head, failures)



class HashFilter(_CountingFilter):
    """Counting occurrence filter of bounded capacity, never cleared (Monolith's ``HashFilter``).

    Each distinct id takes one cell of an open-addressing table holding its full
    64-bit id and a 32-bit count. Once ``capacity`` distinct ids are stored, a
    new id is not stored: the add counts as a failure and the id is admitted
    (``add`` returns ``MAX_COUNT``), as Monolith does on a probe failure.

    Parameters
    ----------
    capacity : int
        Most distinct ids stored, ``>= 1``.
    fill_rate : float, default 1.5
        Cells per stored id (``>= 1``; at least ``capacity + 1`` cells are
        allocated, so a probe always ends at an empty cell or the id).
    config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None, optional
        Default per-slot thresholds (see :class:`Filter`).

    Raises
    ------
    TypeError
        If ``capacity`` is not an integer or ``fill_rate`` not a number.
    ValueError
        If ``capacity < 1`` or ``fill_rate < 1``.

    Notes
    -----
    Memory: 13 bytes per cell (8-byte id, 4-byte count, 1-byte occupancy);
    Monolith uses 2 bytes (a 12-bit signature and a 4-bit count) and so
    confuses ids with equal signatures and never admits at thresholds >= 16.

    Examples
    --------
    >>> import numpy as np
    >>> f = HashFilter(100)
    >>> ids = np.array([7, 7, 7], dtype=np.int64)
    >>> f.should_be_filtered(ids, np.ones(3, dtype=np.int64), thresholds=2)
    array([ True,  True, False])
    >>> f.get(np.array([7, 8], dtype=np.int64))
    array([3, 0])
    """

    kind = "hash_filter"

    def __init__(self, capacity, fill_rate=1.5, config=None):
        self.capacity = check_number("capacity", capacity, integer=True, low=1)
        self.fill_rate = check_number("fill_rate", fill_rate, low=1.0)
        super().__init__(config, 1, self.capacity, self.fill_rate, insert_limit=self.capacity,
                         advance_limit=self.capacity + 1)

    def _metadata(self):
        return {"capacity": self.capacity, "fill_rate": self.fill_rate}


class SlidingHashFilter(_CountingFilter):
    """Occurrence filter that forgets ids not seen for a while (Monolith's ``SlidingHashFilter``).

    A ring of ``S = max(split_num, 5)`` generations, each admitting
    ``split_capacity = capacity // (S - 1)`` distinct ids. New ids go into the
    head generation, carrying the count found in the newest older generation
    that holds them. When the head holds ``split_capacity - 1`` ids it advances
    and the generation after it is cleared, so an id not seen for about
    ``S - 2`` generations' worth of new ids is forgotten.

    Parameters
    ----------
    capacity : int, default 300_000_000
        Total number of ids over the ring (clamped to ``>= 300`` as in
        Monolith).
    split_num : int, default 7
        Number of generations ``S`` (values below 5 use 5).
    config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None, optional
        Default per-slot thresholds (see :class:`Filter`).

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If ``capacity < 1``, ``split_num < 1`` or ``capacity // (S - 1) < 2``.

    Notes
    -----
    Monolith's ring keeps one always-empty generation ahead of the head for its
    forward probe; with full-width probing no id ever lands there, so only
    ``S - 1`` generations are allocated -- the visible state is the same. Each
    generation has ``1.2 * split_capacity`` cells of 13 bytes, so the default
    capacity reserves about 4.7 GB of (lazily committed) memory.

    Examples
    --------
    >>> import numpy as np
    >>> f = SlidingHashFilter(capacity=300, split_num=5)
    >>> f.add(np.array([1, 1, 2], dtype=np.int64), np.array([1, 2, 1]))
    array([0, 1, 0])
    """

    kind = "sliding_hash_filter"

    def __init__(self, capacity=HASH_FILTER_CAPACITY, split_num=HASH_FILTER_SPLIT_NUM, config=None):
        self.capacity = max(check_number("capacity", capacity, integer=True, low=1), 300)
        self.split_num = check_number("split_num", split_num, integer=True, low=1)
        num_splits = max(self.split_num, 5)
        self.split_capacity = self.capacity // (num_splits - 1)
        if self.split_capacity < 2:
            raise ValueError(f"capacity must be >= {2 * (num_splits - 1)} for split_num={self.split_num}, "
                             f"got {self.capacity}")
        super().__init__(config, num_splits - 1, self.split_capacity, 1.2, insert_limit=self.split_capacity,
                         advance_limit=self.split_capacity - 1)

    @property
    def head(self):
        """Index of the generation new ids go into, in ``[0, max(split_num, 5) - 1)``."""
        return int(self._state[0])

    def _metadata(self):
        return {"capacity": self.capacity, "split_num": self.split_num}


class ProbabilisticFilter(Filter):
    """Admit a new id at random, more likely the more often it occurs (Monolith's ``ProbabilisticFilter``).

    Only ids not in the table are considered, so without ``in_table`` nothing
    is filtered. An id with ``count`` occurrences and threshold ``t > 0`` is
    admitted with probability ``min(1, count / t)``, or ``1 - 0.05 ** (count /
    t)`` with ``equal_probability`` (so ``t`` single sightings admit it with
    probability 0.95). Thresholds ``<= 0`` never filter.

    Parameters
    ----------
    equal_probability : bool, default False
        Use the exponential rule.
    config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None, optional
        Default per-slot thresholds (see :class:`Filter`).
    seed : int, optional
        Seed of the counter-based draws, in ``[0, 2**64)``; ``None`` draws one
        from the OS.

    Raises
    ------
    TypeError
        If ``seed`` is not an integer.
    ValueError
        If ``seed`` is out of range.

    Notes
    -----
    Position ``j`` of a call draws ``u = uniform01_float32(seed, draws + j)``,
    where ``draws`` counts the positions of earlier calls that had a table: the
    decisions are a function of the seed and the call sequence (Monolith uses a
    time-seeded xorshift and float32 probabilities).

    Examples
    --------
    >>> import numpy as np
    >>> f = ProbabilisticFilter(seed=0)
    >>> ids = np.arange(3, dtype=np.int64)
    >>> f.should_be_filtered(ids, np.full(3, 7), thresholds=7, in_table=np.zeros(3, bool))
    array([False, False, False])
    """

    kind = "probabilistic_filter"

    def __init__(self, equal_probability=False, config=None, seed=None):
        super().__init__(config)
        self.equal_probability = bool(check_choice("equal_probability", equal_probability, (False, True)))
        self.seed = int(check_seed(seed))
        self._draws = 0

    def _begin(self):
        return self._draws

    def _rollback(self, saved):
        self._draws = saved

    def _filter(self, ids, counts, thresholds, in_table):
        n = ids.shape[0]
        if in_table is None:
            return super()._filter(ids, counts, thresholds, in_table)
        filtered = np.empty(n, dtype=bool)
        run_cpu(_probabilistic_batch_cpu, n, np.uint64(self.seed), np.uint64(self._draws), counts, thresholds,
                ~in_table & (thresholds > 0), self.equal_probability, filtered)
        self._draws += n
        return filtered

    def state_dict(self):
        """Return the filter's state: :meth:`Filter.state_dict` plus the seed and the draws made so far.

        Returns
        -------
        dict
            ``kind``, ``version``, ``seed`` and ``draws``.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import ProbabilisticFilter
        >>> f = ProbabilisticFilter(seed=3)
        >>> _ = f.should_be_filtered(np.arange(4, dtype=np.int64), np.ones(4, dtype=np.int64), thresholds=4,
        ...                          in_table=np.zeros(4, dtype=bool))
        >>> f.state_dict()
        {'kind': 'probabilistic_filter', 'version': 1, 'seed': 3, 'draws': 4}
        """
        return dict(super().state_dict(), seed=self.seed, draws=self._draws)


    def load_state_dict(self, state):
        """Restore a state of :meth:`state_dict`: later decisions repeat those of the saved filter.

        Parameters
        ----------
        state : dict
            The state.

        Raises
        ------
        ValueError
            If the kind or version differ.
        TypeError, ValueError
            If ``state["seed"]`` or ``state["draws"]`` is missing or not an
            integer in range (nothing is changed then; a missing seed is not
            replaced by a fresh one, which would not repeat the saved
            decisions).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.table.filters import ProbabilisticFilter
        >>> ids, ones, absent = np.arange(4, dtype=np.int64), np.ones(4, dtype=np.int64), np.zeros(4, dtype=bool)
        >>> f = ProbabilisticFilter(seed=3)
        >>> _ = f.should_be_filtered(ids, ones, thresholds=4, in_table=absent)
        >>> g = ProbabilisticFilter()
        >>> g.load_state_dict(f.state_dict())
        >>> np.array_equal(g.should_be_filtered(ids, ones, thresholds=4, in_table=absent),
        ...                f.should_be_filtered(ids, ones, thresholds=4, in_table=absent))
        True
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        seed = check_number("state['seed']", state.get("seed"), integer=True, low=0, high=2**64 - 1)
        draws = check_number("state['draws']", state.get("draws"), integer=True, low=0)
        super().load_state_dict(state)  # checked first: a state refused changes nothing
        self.seed, self._draws = seed, draws



class DummyFilter(Filter):
    """A filter that never filters (Monolith's ``DummyHashFilter``, ``FilterType.NO_FILTER``).

    Parameters
    ----------
    config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None, optional
        Accepted for a uniform interface; ignored by the decision.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.table.filters import DummyFilter
    >>> f = DummyFilter({0: 100})
    >>> f.should_be_filtered(np.array([1, 2], dtype=np.int64), np.ones(2, dtype=np.int64))
    array([False, False])
    """

    kind = "dummy_filter"


# ---------------------------------------------------------------------------
# Monolith's factory functions (hash_filter_ops.py).
# ---------------------------------------------------------------------------


def create_hash_filter(capacity, split_num, config=b"", name_suffix=""):
    """Create a :class:`SlidingHashFilter` (Monolith's ``create_hash_filter``).

    Parameters
    ----------
    capacity : int
        Total capacity of the ring.
    split_num : int
        Number of generations.
    config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None, default b""
        Per-slot thresholds; the original takes a serialized
        ``SlotOccurrenceThresholdConfig``.
    name_suffix : str, default ""
        Appended to the filter's ``name`` (``"MonolithHashFilter" + name_suffix``,
        the original's TF shared name).

    Returns
    -------
    SlidingHashFilter
        The filter.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.table.filters import create_hash_filter
    >>> f = create_hash_filter(300, 5, config={0: 1}, name_suffix="_0")
    >>> type(f).__name__, f.name, f.split_capacity
    ('SlidingHashFilter', 'MonolithHashFilter_0', 75)
    >>> f.should_be_filtered(np.array([8, 8], dtype=np.int64), np.ones(2, dtype=np.int64))
    array([ True, False])
    """
    hash_filter = SlidingHashFilter(capacity, split_num, config)
    hash_filter.name = "MonolithHashFilter" + name_suffix
    return hash_filter


def create_probabilistic_filter(equal_probability, config=b"", name_suffix="", seed=None):
    """Create a :class:`ProbabilisticFilter` (Monolith's ``create_probabilistic_filter``).

    Parameters
    ----------
    equal_probability : bool
        Use the exponential admission rule.
    config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None, default b""
        Per-slot thresholds.
    name_suffix : str, default ""
        Appended to the filter's ``name``.
    seed : int, optional
        Seed of the draws (new here; ``None`` draws one from the OS).

    Returns
    -------
    ProbabilisticFilter
        The filter.

    Examples
    --------
    >>> from monolith_np.table.filters import create_probabilistic_filter
    >>> f = create_probabilistic_filter(True, config={0: 5}, name_suffix="_1", seed=7)
    >>> type(f).__name__, f.name, f.equal_probability
    ('ProbabilisticFilter', 'MonolithProbabilisticFilter_1', True)
    """
    prob_filter = ProbabilisticFilter(equal_probability, config, seed)
    prob_filter.name = "MonolithProbabilisticFilter" + name_suffix
    return prob_filter


def create_dummy_hash_filter(name_suffix="0"):
    """Create a :class:`DummyFilter` (Monolith's ``create_dummy_hash_filter``).

    Parameters
    ----------
    name_suffix : str, default "0"
        Appended to the filter's ``name``.

    Returns
    -------
    DummyFilter
        The filter.

    Examples
    --------
    >>> from monolith_np.table.filters import create_dummy_hash_filter
    >>> f = create_dummy_hash_filter()
    >>> type(f).__name__, f.name
    ('DummyFilter', 'DummyHashFilter0')
    """
    dummy = DummyFilter()
    dummy.name = "DummyHashFilter" + name_suffix
    return dummy


def create_hash_filters(ps_num, enable_hash_filter, config=b"", filter_capacity=HASH_FILTER_CAPACITY,
                        filter_split_num=HASH_FILTER_SPLIT_NUM, filter_equal_probability=False,
                        filter_type=FilterType.SLIDING_HASH_FILTER):
    """Create one filter per parameter-server shard (Monolith's ``create_hash_filters``).

    Parameters
    ----------
    ps_num : int
        Number of shards; 0 still creates one filter (suffix ``""``), otherwise
        filter ``i`` gets the suffix ``"_i"``.
    enable_hash_filter : bool
        False creates :class:`DummyFilter` objects whatever ``filter_type`` is.
    config : bytes, SlotOccurrenceThresholdConfig, dict, SlotOccurrenceThreshold or None, default b""
        Per-slot thresholds.
    filter_capacity : int, default 300_000_000
        Capacity of each sliding filter.
    filter_split_num : int, default 7
        Generations of each sliding filter.
    filter_equal_probability : bool, default False
        Rule of the probabilistic filters.
    filter_type : str, default FilterType.SLIDING_HASH_FILTER
        One of the :class:`FilterType` values.

    Returns
    -------
    list of Filter
        ``max(ps_num, 1)`` filters.

    Raises
    ------
    ValueError
        If ``ps_num < 0`` or ``filter_type`` is unknown.

    Examples
    --------
    The default ``filter_capacity`` reserves gigabytes (lazily); a small one is enough here:

    >>> from monolith_np.table.filters import FilterType, create_hash_filters
    >>> filters = create_hash_filters(2, True, filter_capacity=300, filter_split_num=5)
    >>> [f.name for f in filters]
    ['MonolithHashFilter_0', 'MonolithHashFilter_1']
    >>> [f.name for f in create_hash_filters(0, True, filter_type=FilterType.PROBABILISTIC_FILTER)]
    ['MonolithProbabilisticFilter']
    >>> [type(f).__name__ for f in create_hash_filters(3, False)]
    ['DummyFilter', 'DummyFilter', 'DummyFilter']
    """
    ps_num = check_number("ps_num", ps_num, integer=True, low=0)
    check_choice("filter_type", filter_type,
                 (FilterType.SLIDING_HASH_FILTER, FilterType.PROBABILISTIC_FILTER, FilterType.NO_FILTER))
    suffixes = [""] if ps_num == 0 else [f"_{i}" for i in range(ps_num)]
    if not enable_hash_filter or filter_type == FilterType.NO_FILTER:
        return [create_dummy_hash_filter(s) for s in suffixes]
    if filter_type == FilterType.PROBABILISTIC_FILTER:
        return [create_probabilistic_filter(filter_equal_probability, config, s) for s in suffixes]
    return [create_hash_filter(filter_capacity, filter_split_num, config, s) for s in suffixes]
