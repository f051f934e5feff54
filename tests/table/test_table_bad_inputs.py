"""Bad inputs at the table package's public surface: a named TypeError/ValueError, nothing changed.

Cases are generated from tables: every id-taking method x every bad id
mutation, every (ids, rows) method x every bad rows mutation, and the scalar
arguments. Each case checks the error names the argument, the table (and its
filter) are bit-for-bit as before, and the caller's arrays are untouched.
``CASES`` holds them all: ``len(CASES)`` is the count. Inputs that must work
(strided views, read-only arrays, int32 ids, empty batches) are in ``GOOD``.
"""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer
from monolith_np.table import EmbeddingHashTable
from monolith_np.table.filters import HashFilter, SlotOccurrenceThreshold

DIM = 3


class _FakeDevice:
    """Looks like a CUDA array (``__cuda_array_interface__``) but is not one."""

    def __init__(self, n):
        self.shape, self.dtype, self.ndim = (n,), np.dtype(np.int64), 1
        self.__cuda_array_interface__ = {"shape": (n,), "typestr": "<i8", "data": (0, False), "version": 3}


def _table():
    table = EmbeddingHashTable([(DIM, RandomUniformInitializer(seed=1), AdagradOptimizer())],
                               occurrence_filter=HashFilter(100),
                               occurrence_threshold=SlotOccurrenceThreshold(default_occurrence_threshold=0))
    table.apply_gradients(np.arange(8, dtype=np.int64), np.ones((8, DIM), np.float32), update_time=50)
    return table


def _snapshot(table):
    ids, values, state, ts = table.export()
    order = np.argsort(ids)
    flt = {k: (v.tobytes() if isinstance(v, np.ndarray) else v) for k, v in table._filter.state_dict().items()}
    return (ids[order].tobytes(), values[order].tobytes(),
            [{k: a[order].tobytes() for k, a in sorted(st.items())} for st in state], ts[order].tobytes(),
            table.max_update_ts, table.size, flt)


BAD_IDS = {  # name: (ids, error)
    "float64": (np.array([1.0, 2.0]), TypeError),
    "uint8": (np.array([1, 2], np.uint8), TypeError),
    "bool": (np.array([True, False]), TypeError),
    "object": (np.array([1, "a"], object), TypeError),
    "float_list": ([1.5, 2.0], TypeError),
    "2d": (np.array([[1, 2]], np.int64), ValueError),
    "0d": (np.array(5, np.int64), ValueError),
    "none": (None, TypeError),
    "fake_device": (_FakeDevice(2), TypeError),
}

ID_CALLS = {  # name: call(table, ids) for ids of length 2
    "insert": lambda t, ids: t.insert(ids),
    "lookup": lambda t, ids: t.lookup(ids),
    "find": lambda t, ids: t.find(ids),
    "contains": lambda t, ids: t.contains(ids),
    "erase": lambda t, ids: t.erase(ids),
    "reinitialize": lambda t, ids: t.reinitialize(ids),
    "assign": lambda t, ids: t.assign(ids, np.ones((2, DIM), np.float32)),
    "assign_add": lambda t, ids: t.assign_add(ids, np.ones((2, DIM), np.float32)),
    "apply_gradients": lambda t, ids: t.apply_gradients(ids, np.ones((2, DIM), np.float32)),
    "apply_gradients_no_dedup": lambda t, ids: t.apply_gradients(ids, np.ones((2, DIM), np.float32), dedup=False),
}

IDS = np.array([3, 40], np.int64)
BAD_ROWS = {  # name: (rows, error)
    "float64": (np.ones((2, DIM)), TypeError),
    "float16": (np.ones((2, DIM), np.float16), TypeError),
    "int": (np.ones((2, DIM), np.int64), TypeError),
    "short": (np.ones((1, DIM), np.float32), ValueError),
    "wide": (np.ones((2, DIM + 1), np.float32), ValueError),
    "1d": (np.ones(2 * DIM, np.float32), ValueError),
    "list": ([[1.0] * DIM] * 2, TypeError),
    "none": (None, TypeError),
}
ROW_CALLS = {
    "assign": ("values", lambda t, rows: t.assign(IDS, rows)),
    "assign_add": ("deltas", lambda t, rows: t.assign_add(IDS, rows)),
    "apply_gradients": ("grads", lambda t, rows: t.apply_gradients(IDS, rows)),
    "lookup_out": ("out", lambda t, rows: t.lookup(IDS, out=rows)),
}

SCALARS = {  # name: (call, error, argument named)
    "update_time_float": (lambda t: t.insert(IDS, update_time=1.5), TypeError, "update_time"),
    "update_time_neg": (lambda t: t.insert(IDS, update_time=-5), ValueError, "update_time"),
    "update_time_ms": (lambda t: t.assign(IDS, np.ones((2, DIM), np.float32), update_time=2**40), ValueError,
                       "update_time"),
    "update_time_str": (lambda t: t.insert(IDS, update_time="1"), TypeError, "update_time"),
    "global_step_big": (lambda t: t.apply_gradients(IDS, np.ones((2, DIM), np.float32), global_step=2**64),
                        ValueError, "global_step"),
    "global_step_nan": (lambda t: t.apply_gradients(IDS, np.ones((2, DIM), np.float32),
                                                    global_step=float("nan")), (TypeError, ValueError),
                        "global_step"),
    "learning_rate_nan": (lambda t: t.apply_gradients(IDS, np.ones((2, DIM), np.float32),
                                                      learning_rate=float("nan")), ValueError, "learning_rate"),
    "evict_neg": (lambda t: t.evict(-1), ValueError, "now"),
    "evict_float": (lambda t: t.evict(0.5), TypeError, "now"),
    "reserve_neg": (lambda t: t.reserve(-1), ValueError, "n"),
    "reserve_float": (lambda t: t.reserve(2.5), TypeError, "n"),
    "save_shards": (lambda t: t.save("/nonexistent/emb", num_shards=0), ValueError, "num_shards"),
    "apply_checkpoint_type": (lambda t: t.apply_checkpoint({"ids": IDS}), TypeError, "entries"),
}

CASES = ([(f"ids-{m}-{c}", (lambda c, m: lambda t: ID_CALLS[c](t, BAD_IDS[m][0]))(c, m), BAD_IDS[m][1], "ids")
          for c in ID_CALLS for m in BAD_IDS]
         + [(f"rows-{m}-{c}", (lambda c, m: lambda t: ROW_CALLS[c][1](t, BAD_ROWS[m][0]))(c, m), BAD_ROWS[m][1],
             ROW_CALLS[c][0]) for c in ROW_CALLS for m in BAD_ROWS
            if (c, m) != ("lookup_out", "none")]  # out=None is the default
         + [(f"scalar-{k}", call, error, name) for k, (call, error, name) in SCALARS.items()])


@pytest.mark.parametrize("name,call,error,argument", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_names_itself_and_changes_nothing(name, call, error, argument):
    table = _table()
    before = _snapshot(table)
    with pytest.raises(error, match=argument):
        call(table)
    assert _snapshot(table) == before


def _strided(ids):
    wide = np.zeros(2 * ids.size, ids.dtype)
    wide[::2] = ids
    return wide[::2]


def _read_only(x):
    x = x.copy()
    x.flags.writeable = False
    return x


GOOD = {  # name: transform of the ids and rows, which must work as the plain arrays do
    "strided": (_strided, lambda r: np.asfortranarray(r)),
    "read_only": (_read_only, _read_only),
    "int32_ids": (lambda i: i.astype(np.int32), lambda r: r),
    "uint64_ids": (lambda i: i.view(np.uint64), lambda r: r),
    "list_ids": (lambda i: i.tolist(), lambda r: r),
}


@pytest.mark.parametrize("good", sorted(GOOD))
@pytest.mark.parametrize("call", ["assign", "assign_add", "apply_gradients", "apply_gradients_no_dedup",
                                  "lookup", "insert", "erase", "reinitialize", "contains"])
def test_views_and_read_only_arrays_work_and_are_not_written(good, call):
    ids_of, rows_of = GOOD[good]
    ids = np.array([3, 40, 3], np.int64)
    rows = np.arange(3 * DIM, dtype=np.float32).reshape(3, DIM)
    plain, other = _table(), _table()
    given_ids, given_rows = ids_of(ids), rows_of(rows)
    kept = (np.array(given_ids).copy(), np.array(given_rows).copy())
    calls = {
        "assign": lambda t, i, r: t.assign(i, r), "assign_add": lambda t, i, r: t.assign_add(i, r),
        "apply_gradients": lambda t, i, r: t.apply_gradients(i, r),
        "apply_gradients_no_dedup": lambda t, i, r: t.apply_gradients(i, r, dedup=False),
        "lookup": lambda t, i, r: t.lookup(i), "insert": lambda t, i, r: t.insert(i),
        "erase": lambda t, i, r: t.erase(i), "reinitialize": lambda t, i, r: t.reinitialize(i),
        "contains": lambda t, i, r: t.contains(i),
    }
    want = calls[call](plain, ids, rows)
    got = calls[call](other, given_ids, given_rows)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert _snapshot(other) == _snapshot(plain)
    np.testing.assert_array_equal(np.array(given_ids), kept[0])
    np.testing.assert_array_equal(np.array(given_rows), kept[1])


@pytest.mark.parametrize("ids", [np.empty(0, np.int64), [], np.empty(0, np.int32)])
def test_empty_batches_change_nothing(ids):
    table = _table()
    before = _snapshot(table)
    assert table.insert(ids) == 0
    table.apply_gradients(ids, np.empty((0, DIM), np.float32))
    table.apply_gradients(ids, np.empty((0, DIM), np.float32), dedup=False)
    table.assign(ids, np.empty((0, DIM), np.float32))
    assert table.lookup(ids).shape == (0, DIM)
    assert _snapshot(table) == before


def test_non_finite_gradients_are_applied_as_given():
    # kept behaviour (documented): gradients are data, not checked; NaN/inf reach the rows they touch only
    table = _table()
    table.apply_gradients(np.array([1, 2], np.int64), np.array([[np.nan] * DIM, [np.inf] * DIM], np.float32))
    values = table.lookup(np.array([1, 2, 3], np.int64))
    assert np.isnan(values[0]).all() and not np.isfinite(values[1]).any() and np.isfinite(values[2]).all()


def test_the_case_count():
    assert len(CASES) == len(ID_CALLS) * len(BAD_IDS) + len(ROW_CALLS) * len(BAD_ROWS) - 1 + len(SCALARS)
