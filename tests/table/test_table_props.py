"""EmbeddingHashTable properties (hypothesis): dedup, ordering, isolation, id bits, errors (SEMANTICS E.1, E.2)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer, FtrlOptimizer, SgdOptimizer
from monolith_np.table import EmbeddingHashTable, TableFullError

I64 = np.iinfo(np.int64)
SPECIAL = [0, -1, 1, I64.min, I64.max, 1 << 48, (3 << 48) | 5, -(1 << 40), 2**32, 2**32 - 1]
PREFILL = np.array([0, -1, 1 << 48, 17, I64.max], np.int64)

ids_st = st.lists(st.one_of(st.sampled_from(SPECIAL), st.integers(-6, 6), st.integers(I64.min, I64.max)),
                  max_size=24).map(lambda v: np.array(v, np.int64))
nonempty_ids_st = ids_st.filter(lambda a: a.size > 0)


def _table(**kwargs):
    """sgd(2) + adagrad(3) + ftrl(2) segments, random-uniform init with fixed seeds."""
    return EmbeddingHashTable([
        (2, RandomUniformInitializer(-0.5, 0.5, seed=1), SgdOptimizer(learning_rate=0.1)),
        (3, RandomUniformInitializer(-0.5, 0.5, seed=2), AdagradOptimizer(learning_rate=0.05)),
        (2, RandomUniformInitializer(-0.5, 0.5, seed=3), FtrlOptimizer(learning_rate=0.05, l1_regularization=0.01)),
    ], **kwargs)


def _prefilled(**kwargs):
    table = _table(**kwargs)
    grads = np.linspace(-1, 1, PREFILL.size * table.dim, dtype=np.float32).reshape(PREFILL.size, -1)
    table.apply_gradients(PREFILL, grads, update_time=7)
    return table


def _grads(ids, dim, seed=0):
    rng = np.random.default_rng(seed + ids.size)
    return rng.standard_normal((ids.size, dim)).astype(np.float32)


def _by_id(export):
    """``{id: (values, [state rows], ts)}`` from :meth:`EmbeddingHashTable.export`."""
    ids, values, state, ts = export
    return {int(k): (values[i], [{n: a[i] for n, a in st_.items()} for st_ in state], int(ts[i]))
            for i, k in enumerate(ids.tolist())}


def _assert_same_entries(a, b, keys=None):
    a, b = _by_id(a), _by_id(b)
    if keys is None:
        assert sorted(a) == sorted(b)
        keys = a
    for k in keys:
        va, sa, ta = a[k]
        vb, sb, tb = b[k]
        np.testing.assert_array_equal(va, vb, err_msg=f"id {k}")
        for da, db in zip(sa, sb):
            assert sorted(da) == sorted(db)
            for n in da:
                np.testing.assert_array_equal(da[n], db[n], err_msg=f"id {k} state {n}")
        assert ta == tb, f"id {k} timestamp"


def _assert_export_equal(a, b):
    """Same entries in the same storage order (a failed call must not reorder anything)."""
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[3], b[3])
    for sa, sb in zip(a[2], b[2]):
        for n in sa:
            np.testing.assert_array_equal(sa[n], sb[n])


def _initial(table, ids):
    out = np.empty((ids.size, table.dim), np.float32)
    for k, col in enumerate(table.entry.slices):
        block = np.empty((ids.size, table.entry.dims[k]), np.float32)
        table.entry.initializers[k].initialize(block, row_ids=ids)
        out[:, col] = block
    return out


# --- apply_gradients --------------------------------------------------------------


@given(ids=ids_st)
def test_dedup_equals_presummed_unique_ids(ids):
    a, b = _prefilled(), _prefilled()
    grads = _grads(ids, a.dim)
    a.apply_gradients(ids, grads, dedup=True, update_time=9)
    uniq, first = np.unique(ids, return_index=True)
    order = np.sort(first)
    summed = {}
    for k, g in zip(ids.tolist(), grads):  # float32 sums in occurrence order
        summed[k] = summed[k] + g if k in summed else g.copy()
    b.apply_gradients(ids[order], np.array([summed[k] for k in ids[order].tolist()], np.float32).reshape(-1, a.dim),
                      update_time=9)
    _assert_same_entries(a.export(), b.export())


@given(ids=ids_st)
def test_no_dedup_equals_one_call_per_occurrence(ids):
    a, b = _prefilled(), _prefilled()
    grads = _grads(ids, a.dim, seed=5)
    a.apply_gradients(ids, grads, dedup=False, update_time=9)
    for i in range(ids.size):
        b.apply_gradients(ids[i:i + 1], grads[i:i + 1], update_time=9)
    _assert_same_entries(a.export(), b.export())


@given(ids=ids_st, dedup=st.booleans())
def test_rows_not_in_the_batch_are_untouched(ids, dedup):
    table = _prefilled()
    before = table.export()
    table.apply_gradients(ids, _grads(ids, table.dim), dedup=dedup, update_time=99)
    others = [k for k in PREFILL.tolist() if k not in set(ids.tolist())]
    _assert_same_entries(before, table.export(), keys=others)
    assert table.size == np.union1d(PREFILL, ids).size
    assert set(table.export()[3][np.isin(table.export()[0], ids)].tolist()) <= {99}


def test_new_ids_are_initialised_then_optimised():
    table = _table()
    ids = np.array([5, 6], np.int64)
    grads = np.zeros((2, table.dim), np.float32)
    table.apply_gradients(ids, grads)
    # a zero gradient leaves sgd and adagrad at their initial values (ftrl recomputes w from z)
    np.testing.assert_array_equal(table.lookup(ids)[:, :5], _initial(table, ids)[:, :5])


# --- reading ---------------------------------------------------------------------


@given(ids=ids_st)
def test_lookups_never_insert(ids):
    table = _prefilled()
    before = table.export()
    values = table.lookup(ids)
    found_values, found = table.find(ids)
    present = table.contains(ids)
    np.testing.assert_array_equal(found, np.isin(ids, PREFILL))
    np.testing.assert_array_equal(present, found)
    np.testing.assert_array_equal(values, found_values)
    np.testing.assert_array_equal(values[~found], 0.0)
    assert table.size == PREFILL.size
    _assert_export_equal(before, table.export())


@given(ids=ids_st, dedup=st.booleans())
def test_uint64_ids_are_their_int64_bits(ids, dedup):
    a, b = _prefilled(), _prefilled()
    u = ids.view(np.uint64)
    grads = _grads(ids, a.dim)
    a.apply_gradients(u, grads, dedup=dedup)
    b.apply_gradients(ids, grads, dedup=dedup)
    a.assign_add(u[::-1].copy(), grads)
    b.assign_add(ids[::-1].copy(), grads)
    _assert_export_equal(a.export(), b.export())
    np.testing.assert_array_equal(a.lookup(u), b.lookup(ids))
    np.testing.assert_array_equal(a.contains(u), a.contains(ids))
    assert a.export()[0].dtype == np.int64


def test_int32_ids_widen():
    table = _prefilled()
    np.testing.assert_array_equal(table.lookup(np.array([0, -1, 17], np.int32)),
                                  table.lookup(np.array([0, -1, 17], np.int64)))


# --- assign / assign_add -------------------------------------------------------------


@given(ids=ids_st)
def test_assign_repeated_ids_keeps_the_last_value(ids):
    table = _prefilled()
    before = table.export()
    values = _grads(ids, table.dim, seed=3)
    table.assign(ids, values, update_time=3)
    last = {k: v for k, v in zip(ids.tolist(), values)}
    if ids.size:
        keys = np.array(list(last), np.int64)
        np.testing.assert_array_equal(table.lookup(keys), np.array(list(last.values())))
    # optimizer state untouched for ids that already existed
    a, b = _by_id(before), _by_id(table.export())
    for k in set(last) & set(a):
        for sa, sb in zip(a[k][1], b[k][1]):
            for n in sa:
                np.testing.assert_array_equal(sa[n], sb[n])
        assert b[k][2] == 3


@given(ids=ids_st)
def test_assign_add_adds_every_delta_in_order(ids):
    table = _prefilled()
    start = _by_id(table.export())
    deltas = _grads(ids, table.dim, seed=4)
    expect = {}
    for k, d in zip(ids.tolist(), deltas):
        if k not in expect:
            expect[k] = start[k][0].copy() if k in start else _initial(table, np.array([k], np.int64))[0]
        expect[k] = expect[k] + d
    table.assign_add(ids, deltas)
    if expect:
        np.testing.assert_array_equal(table.lookup(np.array(list(expect), np.int64)), np.array(list(expect.values())))


# --- erase / reinitialize --------------------------------------------------------


@given(ids=ids_st)
def test_erase_then_lookup_gives_zeros(ids):
    table = _prefilled()
    table.assign(ids, _grads(ids, table.dim))
    before = table.export()
    gone = ids[::2].copy()
    removed = table.erase(gone)
    assert removed == np.unique(gone).size
    assert table.size == np.union1d(PREFILL, ids).size - removed
    np.testing.assert_array_equal(table.lookup(gone), 0.0)
    assert not table.contains(gone).any()
    assert table.erase(gone) == 0
    kept = [k for k in np.union1d(PREFILL, ids).tolist() if k not in set(gone.tolist())]
    _assert_same_entries(before, table.export(), keys=kept)


@given(ids=ids_st)
def test_reinitialize_status_and_values(ids):
    table = _prefilled()
    table.apply_gradients(ids, _grads(ids, table.dim))  # move the rows away from their initial values
    probe = np.concatenate([ids, PREFILL[:2], np.array([123456789], np.int64)])
    seen = set(table.export()[0].tolist())
    expect = []
    for k in probe.tolist():  # sequential: 1 if the id existed before this occurrence
        expect.append(int(k in seen))
        seen.add(k)
    status = table.reinitialize(probe, update_time=11)
    assert status.dtype == np.int32
    np.testing.assert_array_equal(status, expect)
    uniq = np.unique(probe)
    np.testing.assert_array_equal(table.lookup(uniq)[:, :5], _initial(table, uniq)[:, :5])
    fresh = _table()
    fresh.reinitialize(uniq, update_time=11)
    _assert_same_entries(fresh.export(), table.export(), keys=uniq.tolist())


def test_reinitialize_repeated_new_id_status_is_sequential():
    """The original's loop upserts one id at a time: a repeated new id exists from its second occurrence on."""
    table = _table()
    np.testing.assert_array_equal(table.reinitialize(np.array([7, 7, 8, 7], np.int64)), [0, 1, 0, 1])
    assert table.size == 2


# --- bad input -------------------------------------------------------------------------

_F = np.ones((2, 7), np.float32)
_I = np.array([0, 99], np.int64)
BAD = [
    ("lookup", (np.array([0.0, 1.0]),), {}, TypeError, "ids"),
    ("lookup", (np.array([[0, 1]]),), {}, ValueError, "ids"),
    ("lookup", (np.array([0, 1], np.int16),), {}, TypeError, "ids"),
    ("assign", (np.array([[0, 99]]), _F), {}, ValueError, "ids"),
    ("assign", (_I.astype(np.float64), _F), {}, TypeError, "ids"),
    ("assign", (_I, _F.astype(np.float64)), {}, TypeError, "values"),
    ("assign", (_I, _F[:1]), {}, ValueError, "values"),
    ("assign", (_I, np.ones((2, 6), np.float32)), {}, ValueError, "values"),
    ("assign", (_I, _F), {"update_time": -1}, ValueError, "update_time"),
    ("assign_add", (_I, _F.astype(np.float16)), {}, TypeError, "deltas"),
    ("assign_add", (_I, _F[:, :3]), {}, ValueError, "deltas"),
    ("assign_add", (_I, _F), {"update_time": -5}, ValueError, "update_time"),
    ("apply_gradients", (_I, _F.astype(np.float64)), {}, TypeError, "grads"),
    ("apply_gradients", (_I, _F.ravel()), {}, ValueError, "grads"),
    ("apply_gradients", (np.array([[0], [99]]), _F), {}, ValueError, "ids"),
    ("apply_gradients", (_I, _F), {"update_time": -1}, ValueError, "update_time"),
    ("apply_gradients", (_I, _F), {"global_step": -1}, ValueError, "global_step"),
    ("reinitialize", (np.array([[0, 99]]),), {}, ValueError, "ids"),
    ("reinitialize", (_I,), {"update_time": -1}, ValueError, "update_time"),
    ("erase", (np.array([0.5]),), {}, TypeError, "ids"),
    ("find", (_I,), {"out": np.empty((2, 7), np.float64)}, TypeError, "out"),
    ("find", (_I,), {"out": np.empty((3, 7), np.float32)}, ValueError, "out"),
]


@pytest.mark.parametrize("method,args,kwargs,exc,name", BAD,
                         ids=[f"{m}-{n}-{i}" for i, (m, _, _, _, n) in enumerate(BAD)])
def test_bad_input_raises_naming_the_argument_and_changes_nothing(method, args, kwargs, exc, name):
    table = _prefilled()
    before = table.export()
    with pytest.raises(exc, match=name):
        getattr(table, method)(*args, **kwargs)
    assert table.size == PREFILL.size
    _assert_export_equal(before, table.export())


BAD_RATES = [-1.0, float("nan"), np.float32([0.1, 0.2]), lambda: -1.0]


@pytest.mark.parametrize("lr", BAD_RATES, ids=["negative", "nan", "wrong_count", "negative_fn"])
def test_bad_learning_rate_changes_nothing(lr):
    table = _prefilled()
    before = table.export()
    with pytest.raises(ValueError, match="learning_rate"):
        table.apply_gradients(_I, _F, learning_rate=lr, update_time=50)
    assert table.size == PREFILL.size  # got PREFILL.size + 1: id 99 was inserted
    _assert_export_equal(before, table.export())  # and id 0's timestamp became 50


@pytest.mark.parametrize("lr", BAD_RATES, ids=["negative", "nan", "wrong_count", "negative_fn"])
def test_bad_learning_rate_raises_naming_it(lr):
    table = _prefilled()
    values = table.lookup(PREFILL)
    with pytest.raises(ValueError, match="learning_rate"):
        table.apply_gradients(_I, _F, learning_rate=lr)
    np.testing.assert_array_equal(table.lookup(PREFILL), values)  # no row was optimised


# --- capacity ----------------------------------------------------------------------------


@settings(max_examples=25)
@given(extra=st.lists(st.integers(100, 10_000), min_size=1, max_size=12, unique=True), method=st.sampled_from(
    ["assign", "assign_add", "apply_gradients", "reinitialize"]))
def test_full_table_without_growth_raises_and_changes_nothing(extra, method):
    table = _table(capacity=PREFILL.size, growth=False)
    capacity = table.capacity
    table.assign(PREFILL, np.zeros((PREFILL.size, table.dim), np.float32))  # fits
    fill = np.arange(1000, 1000 + capacity - PREFILL.size, dtype=np.int64)
    if fill.size:
        table.assign(fill, np.zeros((fill.size, table.dim), np.float32))
    assert table.size == capacity
    before = table.export()
    ids = np.concatenate([PREFILL[:2], np.array(extra, np.int64)])
    args = (ids,) if method == "reinitialize" else (ids, np.ones((ids.size, table.dim), np.float32))
    with pytest.raises(TableFullError, match=rf"size {capacity}.*capacity {capacity}"):
        getattr(table, method)(*args, update_time=5)
    assert table.size == capacity and table.capacity == capacity
    _assert_export_equal(before, table.export())
    # present ids still work on a full table
    table.assign_add(PREFILL, np.ones((PREFILL.size, table.dim), np.float32))


def test_growth_keeps_every_entry():
    table = _table()
    ids = np.arange(-3000, 3000, 7, dtype=np.int64) * 104729
    values = _grads(ids, table.dim)
    for chunk in np.array_split(np.arange(ids.size), 9):
        table.assign(ids[chunk], values[chunk])
    assert table.size == ids.size and table.capacity >= ids.size
    assert table.load_factor <= table.max_load_factor
    np.testing.assert_array_equal(table.lookup(ids), values)
    table.reserve(4 * ids.size)
    assert table.capacity >= 4 * ids.size
    np.testing.assert_array_equal(table.lookup(ids), values)


def _skewed_ids(n, parts=2):
    """``n`` ids that all land in sub-table 0 of a ``parts``-way index (the top bits of their Fibonacci hash)."""
    cand = np.arange(4 * n * parts, dtype=np.int64)
    h = (cand.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    return cand[((h * np.uint64(parts)) >> np.uint64(32)) == 0][:n]


def test_insert_of_ids_skewed_to_one_sub_table_terminates(monkeypatch):
    """5000 ids of one sub-table of a 2-part index (8192 slots, 4096 each): the insert must grow, not spin."""
    table = _table()
    calls = []
    real = EmbeddingHashTable._rehash

    def counted(self, entries, *args, **kwargs):
        calls.append((entries, self._slots.shape[0]))
        if len(calls) > 50:  # an endless grow-and-retry loop at one capacity (an earlier version hung here)
            raise RecursionError(f"_rehash called {len(calls)} times, last {calls[-3:]}")
        return real(self, entries, *args, **kwargs)

    monkeypatch.setattr(EmbeddingHashTable, "_rehash", counted)
    ids = _skewed_ids(5000)
    table.assign(ids, np.zeros((ids.size, table.dim), np.float32))
    assert table.size == ids.size
    np.testing.assert_array_equal(table.contains(ids), True)
