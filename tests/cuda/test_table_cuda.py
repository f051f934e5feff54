"""GPU drivers of the table index (``monolith_np.cuda.table``) against the CPU index.

Both sides use the same slot layout, so an index built by one is read by the
other: CPU-built indexes are searched on the GPU and GPU-built (or GPU-changed)
ones with the CPU's ``find_rows``. GPU row numbers inside a sub-table depend on
scheduling, so insert tests check properties (distinct, consecutive, grouped by
sub-table, consistent with ``row_ids``), not exact numbers.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from numba import cuda

from monolith_np import _config
from monolith_np.cuda import table as gt
from monolith_np._rules import index as rix
from monolith_np._rules.partition import bucket_of
from monolith_np.table import index as ix

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

REAL_GPU = os.environ.get("MONOLITH_NP_REAL_GPU") == "1"
I64_MIN, I64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max
SPECIAL = np.array([0, -1, 1, I64_MIN, I64_MAX, I64_MIN + 1, I64_MAX - 1], np.int64)


def device(a):
    """Host array -> what the drivers take (numpy under the simulator, device array on a GPU)."""
    return cuda.to_device(a) if REAL_GPU else a


def host(a):
    return a.copy_to_host() if REAL_GPU else a


@pytest.fixture(autouse=True)
def _few_blocks(monkeypatch):
    """Fewer threads than items, so the grid-stride loops take several turns."""
    monkeypatch.setattr(_config, "MAX_BLOCKS", 4)


def _cpu_find(slots, parts, log2s, ids):
    rows = np.empty(ids.size, np.int64)
    ix.find_rows(slots, parts, log2s, ids, rows)
    return rows


def _gpu_find(slots, parts, log2s, ids):
    rows = device(np.empty(ids.size, np.int64))
    gt.find_rows_gpu(device(slots), parts, log2s, device(ids), rows)
    return host(rows)


def _crowd(parts, log2s, count, like=0):
    """``count`` keys with the same sub-table and home slot as ``like`` (``like`` included)."""
    target = ix.home_of(np.int64(like), parts, log2s)
    out = [like]
    k = like + 1
    while len(out) < count:
        if ix.home_of(np.int64(k), parts, log2s) == target:
            out.append(k)
        k += 1
    return np.array(out, np.int64)


def _keys(n, seed=0):
    rng = np.random.default_rng(seed)
    keys = np.unique(np.concatenate([SPECIAL, rng.integers(I64_MIN, I64_MAX, n, dtype=np.int64, endpoint=True)]))
    return rng.permutation(keys)


def _cpu_index(keys, parts, log2s):
    """A CPU index of the given geometry holding distinct ``keys`` (CPU plan + place).

    Returns the slots, the counts, ``row_ids`` (key of each row) and the row of each key.
    """
    slots = ix.new_slots(parts << log2s)
    counts = np.zeros(parts, np.int64)
    row_ids = np.empty(max(1, keys.size), np.int64)
    rows = np.empty(keys.size, np.int64)
    plan = ix.plan_upsert(slots, parts, log2s, keys)
    assert ix.fits(counts, log2s, plan), "test geometry too small"
    ix.place(slots, counts, log2s, plan, 0, row_ids, rows)
    return slots, counts, row_ids[:keys.size], rows


def _per_part(keys, parts):
    return np.bincount([bucket_of(np.int64(k), parts) for k in keys], minlength=parts).astype(np.int64)


# -- lookups --------------------------------------------------------------------------


@pytest.mark.parametrize("parts,log2s", [(1, 6), (4, 5)])
def test_find_rows_on_cpu_index_agrees_with_cpu(parts, log2s):
    keys = _keys(40)
    slots, _, row_ids, _ = _cpu_index(keys, parts, log2s)
    probe = np.concatenate([keys, _keys(30, seed=1), keys[:5]])
    want = _cpu_find(slots, parts, log2s, probe)
    got = _gpu_find(slots, parts, log2s, probe)
    np.testing.assert_array_equal(got, want)
    assert (got[:keys.size] >= 0).all() and np.array_equal(row_ids[got[:keys.size]], keys)


def test_find_rows_empty_batch_and_empty_index():
    slots = ix.new_slots(16)
    assert _gpu_find(slots, 1, 4, np.empty(0, np.int64)).size == 0
    np.testing.assert_array_equal(_gpu_find(slots, 1, 4, SPECIAL), np.full(SPECIAL.size, ix.EMPTY))


def test_find_rows_on_full_sub_table_terminates():
    # A sub-table with no empty slot (inserts never allow it) still ends after one lap.
    parts, log2s = 2, 3
    keys = np.array([k for k in range(400) if bucket_of(np.int64(k), parts) == 0][:8], np.int64)
    d_slots, status = device(ix.new_slots(parts << log2s)), device(np.zeros(1, np.int64))
    gt.rehash_gpu(device(keys), keys.size, d_slots, device(np.zeros(parts, np.int64)), parts, log2s, status)
    assert host(status)[0] == gt.STATUS_OK
    slots = host(d_slots)
    assert (slots[:8, 1] != ix.EMPTY).all()
    absent = np.array([k for k in range(400, 2000) if bucket_of(np.int64(k), parts) == 0][:3], np.int64)
    np.testing.assert_array_equal(_gpu_find(slots, parts, log2s, absent), [ix.EMPTY] * 3)
    np.testing.assert_array_equal(_gpu_find(slots, parts, log2s, keys), np.arange(8))


# -- row store ------------------------------------------------------------------------


def test_take_rows_matches_cpu():
    values = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    rows = np.array([3, ix.EMPTY, 0, 8, 3, ix.EMPTY, 5], np.int64)
    want = np.empty((rows.size, 3), np.float32)
    ix.take_rows(values, rows, want)
    out = device(np.full((rows.size, 3), np.nan, np.float32))
    gt.take_rows_gpu(device(values), device(rows), out)
    np.testing.assert_array_equal(host(out), want)


def test_put_rows_keeps_last_occurrence_like_cpu():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(12, 4)).astype(np.float32)
    rows = np.array([2, 5, 2, ix.EMPTY, 11, 5, 2, 0, ix.EMPTY, 11], np.int64)
    src = rng.normal(size=(rows.size, 4)).astype(np.float32)
    want = values.copy()
    ix.put_rows(want, rows, src, 2)
    got = device(values.copy())
    last = device(np.full(12, 12345, np.int64))  # stale content must not matter
    gt.put_rows_gpu(got, device(rows), device(src), last)
    np.testing.assert_array_equal(host(got), want)
    gt.put_rows_gpu(got, device(rows[:0]), device(src[:0]), last)  # empty batch
    np.testing.assert_array_equal(host(got), want)


def test_add_rows_matches_cpu_on_exact_sums():
    rng = np.random.default_rng(2)
    values = rng.integers(-5, 5, size=(7, 3)).astype(np.float32)
    rows = np.array([1, 1, 4, ix.EMPTY, 1, 6, 4, 0], np.int64)
    src = rng.integers(-8, 8, size=(rows.size, 3)).astype(np.float32)
    want = values.copy()
    ix.add_rows(want, rows, src)
    got = device(values.copy())
    gt.add_rows_gpu(got, device(rows), device(src))
    np.testing.assert_array_equal(host(got), want)


def test_stamp_rows_matches_cpu():
    stamps = np.arange(10, dtype=np.uint32)
    rows = np.array([3, ix.EMPTY, 9, 3, 0], np.int64)
    want = stamps.copy()
    ix.stamp_rows(want, rows, np.uint32(77))
    got = device(stamps.copy())
    gt.stamp_rows_gpu(got, device(rows), np.uint32(77))
    np.testing.assert_array_equal(host(got), want)


# -- insertion ------------------------------------------------------------------------


class _Plan:
    """Scratch arrays of one GPU insert, allocated as the table would (with ``xp``)."""

    def __init__(self, ids, parts, found=None):
        n = ids.size
        self.ids = device(ids)
        self.cells = device(np.full(gt.dedup_cells(n), 99, np.int64))
        self.rep = device(np.empty(n, np.int64))
        self.local = device(np.empty(n, np.int64))
        self.new_count = device(np.full(parts, 7, np.int64))
        self.status = device(np.full(1, 5, np.int64))
        self.found = device(np.full(n, ix.EMPTY, np.int64) if found is None else found)
        gt.plan_insert_gpu(self.ids, self.found, parts, self.cells, self.rep, self.local, self.new_count, self.status)


def _insert(slots, counts, parts, log2s, ids, first_row, row_ids, check=True):
    plan = _Plan(ids, parts)
    assert host(plan.status)[0] == gt.STATUS_OK
    new_count = host(plan.new_count)
    if check:
        assert rix.fits_counts(counts, new_count, log2s)
    rows = device(np.empty(ids.size, np.int64))
    row_base = device(np.empty(parts, np.int64))
    status = device(np.full(1, gt.STATUS_OK, np.int64))
    d_slots, d_counts, d_row_ids = device(slots), device(counts), device(row_ids)
    gt.place_gpu(d_slots, d_counts, parts, log2s, plan.ids, plan.found, plan.rep, plan.local, plan.new_count, first_row,
                 row_base, d_row_ids, rows, status)
    return (host(d_slots), host(d_counts), host(d_row_ids), host(rows), new_count, host(row_base),
            int(host(status)[0]))


@pytest.mark.parametrize("parts,log2s", [(1, 6), (2, 5), (4, 5)])
def test_plan_and_place_insert_duplicates(parts, log2s):
    rng = np.random.default_rng(3)
    old_keys = _keys(10, seed=4)
    old_keys = old_keys[~np.isin(old_keys, SPECIAL)]
    slots, counts, _, old_rows = _cpu_index(old_keys, parts, log2s)
    size = old_keys.size
    row_ids = np.full(128, -7, np.int64)
    row_ids[old_rows] = old_keys
    crowd = _crowd(parts, log2s, 5, like=0)
    crowd = crowd[~np.isin(crowd, old_keys)]
    distinct = np.unique(np.concatenate([SPECIAL, crowd, rng.integers(-1000, 1000, 12)]))
    distinct = distinct[~np.isin(distinct, old_keys)]
    ids = rng.permutation(np.concatenate([distinct, rng.choice(distinct, 25)]))

    cpu_plan = ix.plan_upsert(slots, parts, log2s, ids)
    slots, counts2, row_ids, rows, new_count, row_base, status = _insert(slots, counts.copy(), parts, log2s, ids,
                                                                        size, row_ids)
    assert status == gt.STATUS_OK
    np.testing.assert_array_equal(new_count, cpu_plan.new_count)
    np.testing.assert_array_equal(new_count, _per_part(distinct, parts))
    np.testing.assert_array_equal(counts2, counts + new_count)
    # one row per distinct key, the rows [size, size + n_new), grouped by sub-table
    key_row = {}
    for k, r in zip(ids.tolist(), rows.tolist()):
        assert key_row.setdefault(k, r) == r
    assert sorted(key_row.values()) == list(range(size, size + distinct.size))
    for k, r in key_row.items():
        p = bucket_of(np.int64(k), parts)
        assert row_base[p] <= r < row_base[p] + new_count[p]
    np.testing.assert_array_equal(row_ids[rows], ids)
    # the CPU finds every key, old and new, in the GPU-written slots
    np.testing.assert_array_equal(_cpu_find(slots, parts, log2s, ids), rows)
    np.testing.assert_array_equal(_cpu_find(slots, parts, log2s, old_keys), old_rows)
    np.testing.assert_array_equal(_gpu_find(slots, parts, log2s, ids), rows)
    assert (slots[:, 1] != ix.EMPTY).sum() == size + distinct.size


def test_plan_insert_all_repeats_of_one_key_and_empty_batch():
    for key in (0, -1, I64_MIN, I64_MAX):
        ids = np.full(17, key, np.int64)
        slots, counts, row_ids, rows, new_count, _, status = _insert(
            ix.new_slots(16), np.zeros(1, np.int64), 1, 4, ids, 3, np.empty(8, np.int64))
        assert status == gt.STATUS_OK and new_count.tolist() == [1] and counts.tolist() == [1]
        assert (rows == 3).all() and row_ids[3] == key
        np.testing.assert_array_equal(_cpu_find(slots, 1, 4, ids[:1]), [3])
    slots, counts, _, rows, new_count, _, status = _insert(
        ix.new_slots(16), np.zeros(2, np.int64), 2, 3, np.empty(0, np.int64), 0, np.empty(1, np.int64))
    assert status == gt.STATUS_OK and rows.size == 0 and new_count.tolist() == [0, 0]
    assert (slots[:, 1] == ix.EMPTY).all()


def test_crowded_home_slot_wraps_inside_sub_table():
    parts, log2s = 2, 3
    crowd = _crowd(parts, log2s, 7, like=-1)  # 7 keys, one home, 8 slots: one stays empty
    slots, counts, row_ids, rows, new_count, _, status = _insert(
        ix.new_slots(parts << log2s), np.zeros(parts, np.int64), parts, log2s, np.concatenate([crowd, crowd[::-1]]),
        0, np.empty(16, np.int64))
    assert status == gt.STATUS_OK
    p = bucket_of(np.int64(-1), parts)
    assert new_count[p] == 7 and new_count.sum() == 7
    sub = slots[p << log2s:(p + 1) << log2s]
    assert (sub[:, 1] != ix.EMPTY).sum() == 7
    np.testing.assert_array_equal(_cpu_find(slots, parts, log2s, crowd), rows[:7])


def test_place_without_room_sets_status_and_terminates():
    parts, log2s = 1, 3
    old = np.arange(6, dtype=np.int64)
    slots, counts, _, _ = _cpu_index(old, parts, log2s)
    new = np.arange(100, 104, dtype=np.int64)  # 6 + 4 keys, 8 slots
    plan = _Plan(new, parts)
    assert not rix.fits_counts(counts, host(plan.new_count), log2s)
    slots, counts, row_ids, rows, new_count, _, status = _insert(slots, counts, parts, log2s, new, 6,
                                                                np.empty(16, np.int64), check=False)
    assert status == gt.STATUS_FULL
    assert (slots[:, 1] != ix.EMPTY).all()
    np.testing.assert_array_equal(_cpu_find(slots, parts, log2s, old), _gpu_find(slots, parts, log2s, old))


def test_plan_with_too_few_cells_sets_status():
    ids = np.arange(40, dtype=np.int64)
    status = device(np.zeros(1, np.int64))
    gt.plan_insert_gpu(device(ids), device(np.full(40, ix.EMPTY, np.int64)), 1, device(np.empty(16, np.int64)), device(np.empty(40, np.int64)),
                       device(np.empty(40, np.int64)), device(np.empty(1, np.int64)), status)
    assert host(status)[0] == gt.STATUS_FULL


def test_dedup_cells():
    assert gt.dedup_cells(0) == 16 and gt.dedup_cells(8) == 16 and gt.dedup_cells(9) == 32
    assert gt.dedup_cells(1000) == 2048


# -- rehash, erase ----------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [128, 8192])
def test_rehash_matches_cpu_mapping(capacity):
    keys = np.concatenate([_keys(50, seed=5), _crowd(ix.parts_for(capacity), 7, 4, like=5)])
    keys = np.unique(keys)[np.random.default_rng(6).permutation(np.unique(keys).size)]
    cpu_slots, cpu_counts, parts, log2s = ix.rehash(keys, capacity)
    row_ids = np.concatenate([keys, np.full(9, -3, np.int64)])  # row capacity > size
    slots = device(np.full((capacity, 2), 42, np.int64))
    counts = device(np.full(parts, -1, np.int64))
    status = device(np.full(1, 9, np.int64))
    gt.rehash_gpu(device(row_ids), keys.size, slots, counts, parts, log2s, status)
    slots, counts = host(slots), host(counts)
    assert host(status)[0] == gt.STATUS_OK
    np.testing.assert_array_equal(counts, cpu_counts)
    probe = np.concatenate([keys, _keys(20, seed=7)])
    np.testing.assert_array_equal(_cpu_find(slots, parts, log2s, probe), _cpu_find(cpu_slots, parts, log2s, probe))
    np.testing.assert_array_equal(_cpu_find(slots, parts, log2s, keys), np.arange(keys.size))
    assert (slots[:, 1] != ix.EMPTY).sum() == keys.size


def test_rehash_overflow_sets_status():
    keys = np.arange(9, dtype=np.int64)
    status = device(np.zeros(1, np.int64))
    gt.rehash_gpu(device(keys), 9, device(np.empty((8, 2), np.int64)), device(np.empty(1, np.int64)), 1, 3, status)
    assert host(status)[0] == gt.STATUS_FULL


@pytest.mark.parametrize("parts,log2s", [(1, 5), (4, 4)])
def test_erase_matches_cpu_bit_for_bit(parts, log2s):
    keys = np.concatenate([_keys(20, seed=8), _crowd(parts, log2s, 5, like=0)[1:]])
    slots, counts, _, _ = _cpu_index(keys, parts, log2s)
    rng = np.random.default_rng(9)
    erase = np.concatenate([rng.choice(keys, 12, replace=False), [12345, 0, 0], _crowd(parts, log2s, 3, like=0)])
    erase = rng.permutation(erase)
    want_slots, want_counts, want_rows = slots.copy(), counts.copy(), np.empty(erase.size, np.int64)
    ix.erase_keys(want_slots, want_counts, parts, log2s, erase, want_rows)
    got_slots, got_counts, got_rows = device(slots.copy()), device(counts.copy()), device(np.empty(erase.size,
                                                                                                     np.int64))
    gt.erase_gpu(got_slots, got_counts, parts, log2s, device(erase), got_rows)
    np.testing.assert_array_equal(host(got_rows), want_rows)
    np.testing.assert_array_equal(host(got_counts), want_counts)
    np.testing.assert_array_equal(host(got_slots), want_slots)


def test_set_rows_matches_cpu():
    parts, log2s = 2, 4
    keys = _keys(12, seed=10)
    slots, _, _, _ = _cpu_index(keys, parts, log2s)
    move = keys[[1, 4, 7]]
    new_rows = np.array([100, 101, 102], np.int64)
    want = slots.copy()
    ix.set_rows(want, parts, log2s, np.append(move, 999), np.append(new_rows, 5))
    got = device(slots.copy())
    gt.set_rows_gpu(got, parts, log2s, device(np.append(move, 999)), device(np.append(new_rows, 5)))
    np.testing.assert_array_equal(host(got), want)


# -- the table's flow: find, plan, grow, place, erase, compact ------------------------------


def _grow(row_ids, size, parts, log2s):
    """Rebuild the index one size up (parts fixed), as a table does before placing."""
    log2s += 1
    slots = device(np.empty((parts << log2s, 2), np.int64))
    counts = device(np.empty(parts, np.int64))
    status = device(np.empty(1, np.int64))
    gt.rehash_gpu(device(row_ids), size, slots, counts, parts, log2s, status)
    assert host(status)[0] == gt.STATUS_OK
    return host(slots), host(counts), log2s


def test_insert_and_erase_batches_against_dict_model():
    rng = np.random.default_rng(11)
    parts, log2s, max_load = 2, 2, 0.75
    slots, counts = ix.new_slots(parts << log2s), np.zeros(parts, np.int64)
    row_ids, size, model = np.empty(512, np.int64), 0, {}
    universe = np.concatenate([SPECIAL, rng.integers(-100, 100, 60), _crowd(parts, 3, 6, like=7)])
    for step in range(8):
        ids = rng.choice(universe, 40)
        rows = _gpu_find(slots, parts, log2s, ids)
        while True:  # present and absent ids planned together, as the table does
            plan = _Plan(ids, parts, found=rows)
            total = int(host(plan.new_count).sum())
            if rix.fits_counts(counts, host(plan.new_count), log2s) and size + total <= max_load * (parts << log2s):
                break
            slots, counts, log2s = _grow(row_ids, size, parts, log2s)  # then find and plan again
            rows = _gpu_find(slots, parts, log2s, ids)
        d_rows = device(np.full(ids.size, -5, np.int64))
        status = device(np.full(1, gt.STATUS_OK, np.int64))
        d_slots, d_counts, d_row_ids = device(slots), device(counts), device(row_ids)
        gt.place_gpu(d_slots, d_counts, parts, log2s, plan.ids, plan.found, plan.rep, plan.local, plan.new_count,
                     size, device(np.empty(parts, np.int64)), d_row_ids, d_rows, status)
        assert host(status)[0] == gt.STATUS_OK
        slots, counts, row_ids, rows = host(d_slots), host(d_counts), host(d_row_ids), host(d_rows)
        for k, r in zip(ids.tolist(), rows.tolist()):
            assert model.setdefault(k, r) == r
        size += total
        assert size == len(model)

        # erase some present and absent ids, then compact the row store as the table does
        gone = rng.choice(universe, 6)
        freed = device(np.empty(gone.size, np.int64))
        d_slots, d_counts = device(slots), device(counts)
        gt.erase_gpu(d_slots, d_counts, parts, log2s, device(gone), freed)
        slots, counts, freed = host(d_slots), host(d_counts), host(freed)
        holes = np.unique(freed[freed != ix.EMPTY])
        assert sorted(holes.tolist()) == sorted({model.pop(k) for k in set(gone.tolist()) if k in model})
        new_size = size - holes.size
        tail = np.arange(new_size, size)
        tail = tail[~np.isin(tail, holes)]
        dest = holes[holes < new_size]
        row_ids[dest] = row_ids[tail]
        d_slots = device(slots)
        gt.set_rows_gpu(d_slots, parts, log2s, device(row_ids[dest]), device(dest))
        slots = host(d_slots)
        for r in dest.tolist():
            model[int(row_ids[r])] = r
        size = new_size

        keys = np.array(list(model), np.int64)
        np.testing.assert_array_equal(_cpu_find(slots, parts, log2s, keys), [model[k] for k in keys.tolist()])
        np.testing.assert_array_equal(row_ids[:size][_cpu_find(slots, parts, log2s, row_ids[:size])],
                                      row_ids[:size])
        np.testing.assert_array_equal(counts, _per_part(keys, parts))
        assert sorted(model.values()) == list(range(size))
    assert log2s > 2  # the index grew


def test_many_duplicates_into_a_tiny_table():
    """Cross-block CAS races are only real on a GPU (the simulator runs blocks one by one): big there."""
    n, distinct = (200_000, 3000) if REAL_GPU else (300, 40)
    rng = np.random.default_rng(12)
    keys = np.unique(np.concatenate([SPECIAL, rng.integers(I64_MIN, I64_MAX, distinct, dtype=np.int64)]))
    ids = rng.choice(keys, n)
    ids[:keys.size] = keys
    parts, log2s = 1, keys.size.bit_length()  # a load in [1/2, 1): long clusters
    slots, counts, row_ids, rows, new_count, _, status = _insert(
        ix.new_slots(parts << log2s), np.zeros(parts, np.int64), parts, log2s, ids, 0, np.empty(keys.size, np.int64))
    assert status == gt.STATUS_OK and new_count.sum() == keys.size
    np.testing.assert_array_equal(row_ids[rows], ids)
    assert np.unique(rows).size == keys.size and rows.max() == keys.size - 1
    np.testing.assert_array_equal(_cpu_find(slots, parts, log2s, ids), rows)
