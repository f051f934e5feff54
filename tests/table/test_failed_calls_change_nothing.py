"""A call that fails changes nothing: every argument is checked before the first write.

Each case runs a public call with one bad argument against a live table and
checks the error names the argument and the table is bit-for-bit as before
(entries, values, optimizer state, timestamps, ``max_update_ts``).
"""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer, SgdOptimizer
from monolith_np.table import EmbeddingHashTable
from monolith_np.table.checkpoint import DecodedEntries
from monolith_np.table.multi import MultiTypeHashTable

DIM = 3


def _table():
    table = EmbeddingHashTable([(2, RandomUniformInitializer(seed=1), AdagradOptimizer()),
                                (1, RandomUniformInitializer(seed=2), SgdOptimizer(learning_rate=0.5))])
    ids = np.arange(10, dtype=np.int64)
    table.apply_gradients(ids, np.ones((10, DIM), np.float32), update_time=100)
    return table


def _snapshot(table):
    ids, values, state, ts = table.export()
    order = np.argsort(ids)
    return (ids[order].tobytes(), values[order].tobytes(),
            [{k: a[order].tobytes() for k, a in sorted(st.items())} for st in state], ts[order].tobytes(),
            table.max_update_ts, table.size)


NEW = np.array([50, 51], np.int64)
ROWS = np.ones((2, DIM), np.float32)


@pytest.mark.parametrize("call,error,match", [
    (lambda t: t.insert(NEW, update_time=2**32), ValueError, "update_time must be <= 4294967295"),
    (lambda t: t.insert(NEW, update_time=1_700_000_000_000), ValueError, "update_time must be <= 4294967295"),
    (lambda t: t.assign(NEW, ROWS, update_time=2**64), ValueError, "update_time must be <="),
    (lambda t: t.assign_add(NEW, ROWS, update_time=-1), ValueError, "update_time must be >= 0"),
    (lambda t: t.apply_gradients(NEW, ROWS, update_time=2**32), ValueError, "update_time"),
    (lambda t: t.apply_gradients(NEW, ROWS, global_step=2**63), ValueError, "global_step must be <= 9223372036854775807"),
    (lambda t: t.apply_gradients(NEW, ROWS, global_step=-1), ValueError, "global_step must be >= 0"),
    (lambda t: t.apply_gradients(NEW, ROWS, global_step=1.5), TypeError, "global_step"),
    (lambda t: t.reinitialize(NEW, update_time=2**40), ValueError, "update_time"),
    (lambda t: t.evict(2**32), ValueError, "now must be <= 4294967295"),
    (lambda t: t.apply_gradients(NEW, ROWS, learning_rate=[0.1]), ValueError, "learning_rate"),
    (lambda t: t.apply_gradients(NEW, ROWS, learning_rate=float("inf")), ValueError, r"learning_rate\[0\] must be finite"),
    (lambda t: t.apply_gradients(NEW, ROWS, learning_rate=np.array([0.1, np.inf], np.float32)), ValueError,
     r"learning_rate\[1\] must be finite"),
    (lambda t: t.apply_gradients(NEW, np.ones((2, DIM + 1), np.float32)), ValueError, "grads"),
    (lambda t: t.assign(NEW.astype(np.float64), ROWS), TypeError, "ids"),
])
def test_a_bad_argument_changes_nothing(call, error, match):
    table = _table()
    before = _snapshot(table)
    with pytest.raises(error, match=match):
        call(table)
    assert _snapshot(table) == before


def _entries(table, **change):
    ids, values, state, ts = table.export()
    fields = dict(ids=ids[:4].copy(), params=values[:4].copy(), state=[{k: a[:4].copy() for k, a in st.items()}
                                                                      for st in state],
                  timestamps=ts[:4].copy(), num_values=np.full(4, DIM, np.int64))
    fields["ids"] = fields["ids"] + 1000  # new ids: an insert would show
    fields.update(change)
    return DecodedEntries(**fields)


def _state_without_key(table):
    state = _entries(table).state
    del state[0][next(iter(state[0]))]
    return state


def _state_with_one_row(table):
    state = _entries(table).state
    key = next(iter(state[0]))
    state[0][key] = state[0][key][:1]
    return state


@pytest.mark.parametrize("change,match", [
    (lambda t: {"state": _state_without_key(t)}, r"entries.state\[0\] must have the keys"),
    (lambda t: {"state": _state_with_one_row(t)}, r"entries.state\[0\]"),
    (lambda t: {"state": _entries(t).state[:1]}, r"entries.state must be a list of 2"),
    (lambda t: {"ids": np.arange(4, dtype=np.float64) + 1000}, "entries.ids"),
    (lambda t: {"ids": np.arange(3, dtype=np.int64) + 1000}, "entries.params|entries.timestamps"),
    (lambda t: {"num_values": np.array([-1, 3, 3, 3])}, r"entries.num_values must be in \[0, 3\]"),
    (lambda t: {"num_values": np.array([4, 3, 3, 3])}, r"entries.num_values must be in \[0, 3\]"),
    (lambda t: {"timestamps": np.array([2**32, 0, 0, 0], np.int64)}, "entries.timestamps must be uint32"),
    (lambda t: {"params": np.ones((4, DIM), np.float64)}, "entries.params"),
])
def test_apply_checkpoint_checks_everything_first(change, match):
    table = _table()
    entries = _entries(table, **change(table))
    before = _snapshot(table)
    with pytest.raises((TypeError, ValueError), match=match):
        table.apply_checkpoint(entries)
    assert _snapshot(table) == before


def test_apply_checkpoint_does_not_write_the_callers_arrays():
    table = _table()
    entries = _entries(table, num_values=np.array([1, 3, 0, 2]))
    copies = [entries.params.copy(), entries.ids.copy(), entries.timestamps.copy()]
    assert table.apply_checkpoint(entries) == 4
    for given, kept in zip((entries.params, entries.ids, entries.timestamps), copies):
        np.testing.assert_array_equal(given, kept)


def test_table_sets_check_times_and_steps_before_any_table_changes():
    from monolith_np.entry import HashTableConfigInstance
    from monolith_np.proto import EmbeddingHashTableConfig

    config = EmbeddingHashTableConfig()
    config.cuckoo.SetInParent()
    seg = config.entry_config.segments.add(dim_size=1)
    seg.opt_config.sgd.SetInParent()
    seg.init_config.zeros.SetInParent()
    seg.comp_config.fp32.SetInParent()
    tables = MultiTypeHashTable({"a": HashTableConfigInstance(config, [1.0]),
                                 "b": HashTableConfigInstance(config, [1.0])})
    pair = (np.array([1]), np.ones((1, 1), np.float32))
    with pytest.raises(ValueError, match="req_time must be <= 4294967295"):
        tables.assign({"a": pair, "b": pair}, req_time=2**32)
    with pytest.raises(ValueError, match="global_step must be <="):
        tables.apply_gradients({"a": pair, "b": pair}, global_step=2**63)
    assert tables["a"].size == 0 and tables["b"].size == 0


@pytest.mark.parametrize("make", [
    lambda: AdagradOptimizer(learning_rate=float("inf")),
    lambda: AdagradOptimizer(initial_accumulator_value=float("inf")),
    lambda: SgdOptimizer(learning_rate=float("inf")),
])
def test_hyperparameters_that_make_every_update_non_finite_are_refused(make):
    with pytest.raises(ValueError, match="must be finite"):
        make()
