"""``EmbeddingHashTable`` against a dict model, driven by a hypothesis state machine.

Tiny initial capacities make every batch exercise growth, the per-sub-table
overflow rollback and backward-shift deletion; ids include 0, -1, the int64
extremes and uint64 spellings.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import SgdOptimizer
from monolith_np.proto import SlotExpireTimeConfig
from monolith_np.table import EmbeddingHashTable, TableFullError

DIM = 3
LR = np.float32(0.5)
I64 = np.iinfo(np.int64)
SPECIAL = [0, -1, 1, I64.min, I64.max, I64.min + 1, 1 << 48, (2 << 48) | 5, -(1 << 48)]

ids_strategy = st.lists(
    st.one_of(st.sampled_from(SPECIAL), st.integers(-40, 40), st.integers(I64.min, I64.max)),
    min_size=0, max_size=12,
)
times = st.integers(0, 10 * 86400)


def _init():
    return RandomUniformInitializer(-1.0, 1.0, seed=3)


def _initial(key):
    return _init().initialize(np.zeros((1, DIM), np.float32), row_ids=np.array([key], np.int64))[0]


def _values(draw_floats, n):
    return np.asarray(draw_floats, np.float32).reshape(n, DIM)


class TableMachine(RuleBasedStateMachine):
    """Each rule applies one batch to the table and to ``self.model`` (id -> [row, time])."""

    @initialize(capacity=st.integers(0, 4), load=st.sampled_from([0.5, 0.75, 0.9]))
    def make(self, capacity, load):
        expire = SlotExpireTimeConfig(default_expire_time=2)
        expire.slot_expire_times.add(slot=1, expire_time=0)
        self.expire = expire
        self.table = self._new_table(capacity, load)
        self.model = {}
        self.max_t = 0
        self.dir = Path(tempfile.mkdtemp(prefix="table_sm_"))

    def _new_table(self, capacity, load):
        return EmbeddingHashTable([(DIM, _init(), SgdOptimizer(learning_rate=float(LR)))], capacity=capacity,
                                  max_load_factor=load, slot_expire_time_config=self.expire)

    def _create(self, key, t):
        if key not in self.model:
            self.model[key] = [_initial(key), t]
        self.model[key][1] = t

    @rule(ids=ids_strategy, data=st.data(), t=times)
    def assign(self, ids, data, t):
        vals = data.draw(st.lists(st.floats(-4, 4, width=32), min_size=len(ids) * DIM, max_size=len(ids) * DIM))
        values = _values(vals, len(ids))
        self.table.assign(np.array(ids, np.int64), values, update_time=t)
        self.max_t = max(self.max_t, t)  # every call's time counts, as the original's max_update_ts
        for key, v in zip(ids, values):
            self._create(key, t)
            self.model[key][0] = v.copy()

    @rule(ids=ids_strategy, t=times)
    def assign_add(self, ids, t):
        deltas = np.arange(len(ids) * DIM, dtype=np.float32).reshape(len(ids), DIM) / 8
        self.table.assign_add(np.array(ids, np.int64).view(np.uint64), deltas, update_time=t)
        self.max_t = max(self.max_t, t)
        for key, d in zip(ids, deltas):
            self._create(key, t)
            self.model[key][0] = self.model[key][0] + d

    @rule(ids=ids_strategy, t=times, dedup=st.booleans())
    def apply_gradients(self, ids, t, dedup):
        grads = (np.arange(len(ids) * DIM, dtype=np.float32).reshape(len(ids), DIM) - 4) / 16
        self.table.apply_gradients(np.array(ids, np.int64), grads, update_time=t, dedup=dedup)
        self.max_t = max(self.max_t, t)
        summed = {}
        for key, g in zip(ids, grads):
            self._create(key, t)
            if dedup:
                summed[key] = summed[key] + g if key in summed else g.copy()
            else:
                self.model[key][0] = self.model[key][0] - LR * g
        for key, g in summed.items():
            self.model[key][0] = self.model[key][0] - LR * g

    @rule(ids=ids_strategy)
    def erase(self, ids):
        removed = self.table.erase(np.array(ids, np.int64))
        assert removed == len({k for k in ids if k in self.model})
        for key in ids:
            self.model.pop(key, None)

    @rule(ids=ids_strategy, t=times)
    def reinitialize(self, ids, t):
        status = self.table.reinitialize(np.array(ids, np.int64), update_time=t)
        seen = set()
        for key, s in zip(ids, status):
            assert s == (key in self.model or key in seen)
            seen.add(key)
        for key in ids:
            self.model[key] = [_initial(key), t]
        self.max_t = max(self.max_t, t)

    @rule(now=st.integers(0, 12 * 86400))
    def evict(self, now):
        days = {1: 0}
        gone = [k for k, (_, t) in self.model.items()
                if now - t >= days.get((k >> 48) & 0x7FFF, 2) * 86400]
        assert self.table.evict(now) == len(gone)
        for key in gone:
            del self.model[key]

    @rule(capacity=st.integers(0, 8), shards=st.integers(1, 3), load=st.sampled_from([0.5, 0.9]))
    def save_restore(self, capacity, shards, load):
        base = self.dir / f"t{len(list(self.dir.iterdir()))}"
        days = {1: 0}
        kept = {k: v for k, v in self.model.items()
                if self.max_t - v[1] < days.get((k >> 48) & 0x7FFF, 2) * 86400}
        saved = self.table.save(base, num_shards=shards)
        assert saved == len(kept)
        self.table = self._new_table(capacity, load)
        assert self.table.restore(base) == len(kept)
        self.model = kept
        self.max_t = max((v[1] for v in kept.values()), default=0)
        assert self.table.max_update_ts == self.max_t

    @rule()
    def clear(self):
        self.table.clear()
        self.model.clear()

    @rule(n=st.integers(0, 64))
    def reserve(self, n):
        self.table.reserve(n)
        assert self.table.capacity >= n

    @rule(ids=ids_strategy)
    def lookup(self, ids):
        got, found = self.table.find(np.array(ids, np.int64))
        for key, row, f in zip(ids, got, found):
            assert f == (key in self.model)
            want = self.model[key][0] if key in self.model else np.zeros(DIM, np.float32)
            np.testing.assert_array_equal(row, want)

    @precondition(lambda self: self.model)
    @rule()
    def export_matches(self):
        ids, values, _, stamps = self.table.export()
        assert sorted(ids.tolist()) == sorted(self.model)
        for key, v, t in zip(ids.tolist(), values, stamps.tolist()):
            np.testing.assert_array_equal(v, self.model[key][0])
            assert t == self.model[key][1]

    @invariant()
    def sizes(self):
        assert self.table.size == len(self.model)
        assert self.table.load_factor <= self.table.max_load_factor


TableMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_table_against_dict_model = pytest.mark.slow(TableMachine.TestCase)


def test_growth_disabled_raises_and_leaves_the_table_unchanged():
    table = EmbeddingHashTable([(DIM, _init(), SgdOptimizer())], capacity=4, growth=False)
    table.assign(np.arange(3), np.ones((3, DIM), np.float32))
    before = table.export()
    with pytest.raises(TableFullError, match=r"size 3, capacity"):
        table.assign(np.arange(3, 40), np.ones((37, DIM), np.float32))
    after = table.export()
    for a, b in zip((before[0], before[1], before[3]), (after[0], after[1], after[3])):
        np.testing.assert_array_equal(a, b)
    assert table.contains(np.arange(3, 40)).sum() == 0


def test_ids_crowding_one_sub_table_still_insert_and_erase():
    # Many ids of one home slot (found by search): probing wraps, growth and erase keep them all.
    from monolith_np.table import index as ix

    table = EmbeddingHashTable([(DIM, _init(), SgdOptimizer())], capacity=1)
    table.reserve(6000)  # several sub-tables
    parts, log2s = table._parts, table._log2s
    candidates = np.arange(1, 400_000, dtype=np.int64)
    with np.errstate(over="ignore"):  # the hash wraps on purpose
        homes = np.array([ix.home_of(int(k), parts, log2s) for k in candidates[:20000]])
    same = candidates[:20000][(homes[:, 0] == homes[0, 0]) & (homes[:, 1] == homes[0, 1])]
    keys = np.concatenate([same, candidates[20000:20050]])
    assert same.size >= 4
    table.assign(keys, np.repeat(keys[:, None], DIM, axis=1).astype(np.float32))
    np.testing.assert_array_equal(table.lookup(keys)[:, 0], keys.astype(np.float32))
    assert table.erase(keys[::2]) == keys[::2].size
    np.testing.assert_array_equal(table.lookup(keys[1::2])[:, 0], keys[1::2].astype(np.float32))
    assert not table.contains(keys[::2]).any()
