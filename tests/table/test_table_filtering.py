"""The table with an occurrence filter: ids enter only once admitted (SEMANTICS E.2, E.3, G.4)."""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np.entry import ZerosInitializer
from monolith_np.optim import SgdOptimizer
from monolith_np.table import EmbeddingHashTable
from monolith_np.table.filters import HashFilter, SlidingHashFilter, SlotOccurrenceThreshold


def _table(flt, threshold=3, lr=0.1):
    return EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(learning_rate=lr))], occurrence_filter=flt,
                              occurrence_threshold=SlotOccurrenceThreshold(default_occurrence_threshold=threshold))


@pytest.mark.parametrize("make", [lambda: HashFilter(1000), lambda: SlidingHashFilter(3000, 7)])
def test_hash_table_ops_golden_without_dedup(make):
    # hash_table_ops_test.test_gradients_with_hash_filter: threshold 3, ids [0, 0, 1], gradient -1, lr 0.1.
    table = _table(make())
    want = [[0.0, 0.0], [0.1, 0.0], [0.3, 0.0], [0.5, 0.1]]
    for expected in want:
        table.apply_gradients(np.array([0, 0, 1]), -np.ones((3, 1), np.float32), dedup=False)
        np.testing.assert_allclose(table.lookup(np.array([0, 1]))[:, 0], expected, rtol=1e-6)


def test_with_dedup_an_id_is_offered_once_with_its_count():
    table = _table(HashFilter(1000), threshold=3)
    grads = -np.ones((3, 1), np.float32)
    table.apply_gradients(np.array([0, 0, 1]), grads)  # 0 seen twice, 1 once: both below 3 before
    assert table.size == 0
    table.apply_gradients(np.array([0, 0, 1]), grads)  # 0 had 2 earlier occurrences (< 3): still out
    assert table.size == 0
    table.apply_gradients(np.array([0, 0, 1]), grads)  # 0 had 4 (>= 3): admitted with the summed gradient
    np.testing.assert_allclose(table.lookup(np.array([0, 1]))[:, 0], [0.2, 0.0], rtol=1e-6)


def test_lookups_never_consult_the_filter_and_present_ids_skip_it():
    flt = HashFilter(1000)
    table = _table(flt, threshold=1)
    table.lookup(np.array([7, 7, 7]))
    assert flt.get(np.array([7]))[0] == 0
    table.assign(np.array([7]), np.ones((1, 1), np.float32))  # first sighting: filtered
    assert table.size == 0
    table.assign(np.array([7]), np.ones((1, 1), np.float32))
    assert table.size == 1
    table.assign(np.array([7]), np.full((1, 1), 2.0, np.float32))  # present: no longer counted
    assert flt.get(np.array([7]))[0] == 2
    assert table.lookup(np.array([7]))[0, 0] == 2.0


def test_threshold_without_filter_is_an_error():
    with pytest.raises(ValueError, match="occurrence_threshold"):
        EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer())],
                           occurrence_threshold=SlotOccurrenceThreshold(default_occurrence_threshold=1))
