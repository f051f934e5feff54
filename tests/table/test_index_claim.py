"""The one-pass insert (index.claim): same result as plan + place, exact release, refusal without room."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monolith_np.entry import ZerosInitializer
from monolith_np.optim import SgdOptimizer
from monolith_np.table import EmbeddingHashTable
from monolith_np.table import index as ix

I64 = np.iinfo(np.int64)
ids_st = st.lists(st.one_of(st.integers(-40, 40), st.sampled_from([0, -1, I64.min, I64.max]),
                            st.integers(I64.min, I64.max)), min_size=1, max_size=400).map(
    lambda v: np.array(v, np.int64))


def _assert_same_index(a, b):
    """Same rows in every slot and same keys in the occupied ones (an empty slot's key is meaningless)."""
    np.testing.assert_array_equal(a[:, 1], b[:, 1])
    used = a[:, 1] != ix.EMPTY
    np.testing.assert_array_equal(a[used, 0], b[used, 0])


def _index(present, capacity=1 << 14):
    slots, counts, parts, log2s = ix.rehash(present, capacity)
    return slots, counts, parts, log2s


@given(present=ids_st.map(np.unique), batch=ids_st)
def test_claim_then_place_equals_plan_then_place(present, batch):
    batch = np.concatenate([batch, present[::3]])  # some present ids too
    results = []
    for one_pass in (False, True):
        slots, counts, parts, log2s = _index(present)
        row_ids = np.empty(present.size + batch.size, np.int64)
        row_ids[:present.size] = present
        if one_pass:
            plan = ix.claim(slots, counts, parts, log2s, batch, max_new=batch.size)
            assert plan is not None
        else:
            plan = ix.plan_upsert(slots, parts, log2s, batch)
        rows = np.empty(batch.size, np.int64)
        ix.place(slots, counts, log2s, plan, present.size, row_ids, rows)
        results.append((slots, counts, rows, row_ids[:present.size + plan.total]))
    _assert_same_index(results[0][0], results[1][0])
    for a, b in zip(results[0][1:], results[1][1:]):
        np.testing.assert_array_equal(a, b)
    rows, row_ids = results[1][2], results[1][3]
    np.testing.assert_array_equal(row_ids[rows], batch)  # every occurrence got its id's row


@given(present=ids_st.map(np.unique), batch=ids_st)
def test_release_restores_the_index_exactly(present, batch):
    slots, counts, parts, log2s = _index(present)
    before = slots.copy()
    plan = ix.claim(slots, counts, parts, log2s, batch, max_new=batch.size)
    assert plan.total == np.setdiff1d(batch, present).size
    ix.release(slots, plan)
    _assert_same_index(slots, before)


def test_claim_refuses_without_room_and_writes_nothing():
    slots, counts, parts, log2s = _index(np.arange(10, dtype=np.int64), capacity=1 << 12)
    before = slots.copy()
    batch = np.repeat(np.arange(100, 200, dtype=np.int64), 50)  # 100 new ids, 5000 occurrences
    assert ix.claim(slots, counts, parts, log2s, batch, max_new=99) is None
    _assert_same_index(slots, before)
    assert ix.claim(slots, counts, parts, log2s, batch, max_new=100).total == 100  # repeats need no room
    slots, counts, parts, log2s = _index(np.arange(10, dtype=np.int64), capacity=1 << 12)
    nearly_full = np.full_like(counts, (1 << log2s) - 20)  # each sub-table may take 19 more keys
    assert ix.claim(slots, nearly_full, parts, log2s, batch, max_new=batch.size) is None
    _assert_same_index(slots, before)


def test_failure_after_claim_leaves_the_table_unchanged(monkeypatch):
    table = EmbeddingHashTable([(4, ZerosInitializer(), SgdOptimizer(learning_rate=0.1))], capacity=1 << 16)
    old = np.arange(0, 3000, 3, dtype=np.int64)
    table.assign(old, np.ones((old.size, 4), np.float32))
    slots = table._slots.copy()

    def no_memory(self, rows):
        raise MemoryError("simulated")

    monkeypatch.setattr(EmbeddingHashTable, "_grow_rows", no_memory)
    new = np.arange(1, 8000, 3, dtype=np.int64)
    with pytest.raises(MemoryError):
        table.insert(new)
    _assert_same_index(table._slots, slots)
    assert table.size == old.size
    np.testing.assert_array_equal(table.contains(new), False)
    np.testing.assert_array_equal(table.lookup(old), 1.0)
