"""A table call that fails after its occurrence filter counted the batch takes the counts back.

A full table (``growth=False``) raises ``TableFullError`` only once the
filter has decided which ids enter; the filter must then be as before, bit
for bit, and the next call must behave as if the failed one never happened.
"""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np.entry import ZerosInitializer
from monolith_np.optim import SgdOptimizer
from monolith_np.table import EmbeddingHashTable, TableFullError
from monolith_np.table.filters import HashFilter, ProbabilisticFilter, SlidingHashFilter, SlotOccurrenceThreshold

FILTERS = {
    "hash": lambda: HashFilter(1000),
    "hash_full": lambda: HashFilter(12),  # fails adds (failure_count) during the batch
    "sliding": lambda: SlidingHashFilter(300, 5),  # split capacity 75: the batch advances the head, clearing
    "sliding_tiny": lambda: SlidingHashFilter(8, 5),  # split capacity 2: a clear on every new id, wrapping
    "probabilistic": lambda: ProbabilisticFilter(seed=4),
}


def _table(flt):
    return EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))], capacity=8, growth=False,
                              occurrence_filter=flt,
                              occurrence_threshold=SlotOccurrenceThreshold(default_occurrence_threshold=1))


def _state_bytes(flt):
    return {k: (v.tobytes() if isinstance(v, np.ndarray) else v) for k, v in flt.state_dict().items()}


def _snapshot(table):
    ids, values, state, ts = table.export()
    order = np.argsort(ids)
    return ids[order].tobytes(), values[order].tobytes(), ts[order].tobytes(), table.size, table.max_update_ts


def _fill(table):
    ids = np.arange(6, dtype=np.int64)
    for _ in range(3):  # threshold 1: admitted at the second sighting (probabilistic: by chance)
        table.apply_gradients(np.repeat(ids, 2), np.ones((12, 2), np.float32), dedup=False, update_time=5)


CALLS = {
    "insert": lambda t, ids: t.insert(ids, update_time=7),
    "assign": lambda t, ids: t.assign(ids, np.ones((ids.size, 2), np.float32), update_time=7),
    "assign_add": lambda t, ids: t.assign_add(ids, np.ones((ids.size, 2), np.float32), update_time=7),
    "apply_gradients": lambda t, ids: t.apply_gradients(ids, np.ones((ids.size, 2), np.float32), update_time=7),
    "apply_gradients_no_dedup": lambda t, ids: t.apply_gradients(ids, np.ones((ids.size, 2), np.float32),
                                                                 update_time=7, dedup=False),
    "reinitialize": lambda t, ids: t.reinitialize(ids, update_time=7),
}


def _pre_count(table, ids):
    """Count ``ids`` in the filter, so that a deduplicating call (one offer per id) admits them."""
    if hasattr(table._filter, "add"):
        table._filter.add(np.unique(ids), np.full(np.unique(ids).size, 5, np.int64))


CASES = [(f, c) for f in sorted(FILTERS) for c in sorted(CALLS)
         if f != "sliding_tiny" or c == "apply_gradients_no_dedup"]  # the tiny ring forgets a pre-count


@pytest.mark.parametrize("filter_name,call_name", CASES)
def test_table_full_changes_neither_table_nor_filter(filter_name, call_name):
    failing, twin = _table(FILTERS[filter_name]()), _table(FILTERS[filter_name]())
    flood = np.repeat(np.arange(100, 160, dtype=np.int64), 3)  # every id admitted: far more than fits
    for table in (failing, twin):
        _fill(table)
        _pre_count(table, flood)
    table_before, filter_before = _snapshot(failing), _state_bytes(failing._filter)
    with pytest.raises(TableFullError):
        CALLS[call_name](failing, flood)
    assert _snapshot(failing) == table_before
    assert _state_bytes(failing._filter) == filter_before
    # the next call behaves as on a table that never saw the failed one
    later = np.array([3, 3, 500, 500, 501], np.int64)
    for table in (failing, twin):
        table.apply_gradients(later, np.ones((5, 2), np.float32), dedup=False, update_time=9)
    assert _snapshot(failing) == _snapshot(twin)
    assert _state_bytes(failing._filter) == _state_bytes(twin._filter)


def test_a_call_that_succeeds_keeps_its_counts():
    table = _table(HashFilter(1000))
    table.insert(np.array([1, 2], np.int64))
    assert table._filter.get(np.array([1, 2], np.int64)).tolist() == [1, 1]
    assert table.size == 0


def test_the_journal_is_dropped_after_each_call():
    flt = HashFilter(1000)
    table = _table(flt)
    table.insert(np.array([1], np.int64))
    assert flt._journal is None
    with pytest.raises(TableFullError):
        table.apply_gradients(np.repeat(np.arange(50, dtype=np.int64), 2), np.ones((100, 2), np.float32),
                              dedup=False)
    assert flt._journal is None


def test_a_filter_of_another_kind_is_refused():
    with pytest.raises(TypeError, match="occurrence_filter must be a Filter"):
        EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))], occurrence_filter=object())
