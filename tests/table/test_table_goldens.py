"""EmbeddingHashTable against the original's table goldens (SEMANTICS G.4, G.2; E.1, E.2, A.17).

The cases of ``embedding_hash_table_test.h`` (CPU training table: d=1, zeros,
sgd, ``learning_rates = [0.01]``), of ``hash_table_ops_test.py`` (sgd d=1,
zeros, loss ``-embedding`` so every gradient is -1) and the entry-accessor
cases of G.2 driven through a table. Save/restore cases live with the
checkpoint module.
"""

import threading

import numpy as np
import pytest

from monolith_np.entry import AdagradOptimizer, HashTableConfigInstance, SgdOptimizer, ZerosInitializer
from monolith_np.proto import EmbeddingHashTableConfig, EntryConfig, SlotExpireTimeConfig
from monolith_np.schedules import PolynomialDecay
from monolith_np.table import EmbeddingHashTable

DAY = 86400


def _ids(*values):
    return np.array(values, np.int64)


def _vals(*rows):
    return np.array(rows, np.float32).reshape(len(rows), -1)


def _g4_config(initial_capacity=1, **expire):
    """The G.4 table config: d=1, zeros, sgd, cuckoo, ``initial_capacity`` 1."""
    config = EmbeddingHashTableConfig(initial_capacity=initial_capacity)
    config.cuckoo.SetInParent()
    seg = config.entry_config.segments.add(dim_size=1)
    seg.opt_config.sgd.SetInParent()
    seg.init_config.zeros.SetInParent()
    if expire:
        config.slot_expire_time_config.CopyFrom(_expire_config(**expire))
    return config


def _expire_config(default, per_slot):
    config = SlotExpireTimeConfig(default_expire_time=default)
    for slot, days in per_slot.items():
        config.slot_expire_times.add(slot=slot, expire_time=days)
    return config


def _g4_table(**kwargs):
    return EmbeddingHashTable(HashTableConfigInstance(_g4_config(), [0.01]), **kwargs)


def _ops_table(dim, learning_rate):
    """``hash_table_ops_test.test_hash_table``: sgd, zeros, the given learning-rate function."""
    config = EmbeddingHashTableConfig()
    config.cuckoo.SetInParent()
    seg = config.entry_config.segments.add(dim_size=dim)
    seg.opt_config.sgd.SetInParent()
    seg.init_config.zeros.SetInParent()
    return EmbeddingHashTable(HashTableConfigInstance(config, [learning_rate]))


# --- embedding_hash_table_test.h -------------------------------------------------


def test_single_thread():
    table = _g4_table()
    np.testing.assert_array_equal(table.lookup(_ids(5)), [[0.0]])
    assert table.size == 0 and not table.contains(_ids(5))[0]  # lookups never insert

    table.assign_add(_ids(-10), _vals([2.5]), update_time=100)
    np.testing.assert_array_equal(table.lookup(_ids(-10)), [[2.5]])

    table.apply_gradients(_ids(13), _vals([1.0]))
    np.testing.assert_allclose(table.lookup(_ids(13)), [[-0.01]], atol=1e-6)
    assert table.lookup(_ids(13))[0, 0] == np.float32(-0.01)  # 0 - fl(0.01) * 1

    table.assign(_ids(-10, 13, 100), _vals([1], [2], [3]))
    np.testing.assert_array_equal(table.lookup(_ids(5, -10, 13, 100)), [[0], [1], [2], [3]])
    _, found = table.find(_ids(5, -10, 13, 100))
    np.testing.assert_array_equal(found, [False, True, True, True])  # BatchLookup finds 3
    # BatchLookupEntry: 5 has no entry; -10 holds num 1 and the last update time 0 (the assign's).
    ids, values, state, ts = table.export()
    assert 5 not in ids.tolist()
    k = ids.tolist().index(-10)
    assert values[k, 0] == 1.0 and ts[k] == 0 and state == [{}]
    assert table.size == 3


def test_multi_thread():
    table = _g4_table()
    barrier = threading.Barrier(100)
    errors = []

    def work(i):
        try:
            barrier.wait()
            table.assign_add(_ids(i), _vals([i]))
            table.apply_gradients(_ids(i), _vals([-200.0 * i]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert table.size == 100
    got = table.lookup(np.arange(100, dtype=np.int64))[:, 0]
    np.testing.assert_allclose(got, 3.0 * np.arange(100), atol=1e-6, rtol=1e-6)


def test_clear():
    table = _g4_table()
    table.assign(_ids(1), _vals([2]))
    capacity = table.capacity
    table.clear()
    np.testing.assert_array_equal(table.lookup(_ids(1)), [[0]])
    assert table.size == 0 and table.capacity == capacity
    table.assign(_ids(1), _vals([3]))  # usable after clear
    np.testing.assert_array_equal(table.lookup(_ids(1)), [[3]])


def test_one_time_evict():
    config = _g4_config(default=14, per_slot={0: 0, 1: 5, 2: 6})
    table = EmbeddingHashTable(HashTableConfigInstance(config, [0.01]))
    fids = _ids((1 << 48) | 123, (2 << 48) | 234, (3 << 48) | 456)
    for fid, value in zip(fids, (2.0, 5.0, 7.0)):
        table.assign(fid[None], _vals([value]), update_time=1234)
    np.testing.assert_array_equal(table.lookup(fids), [[2], [5], [7]])
    removed = table.evict(1234 + 5 * DAY + 60)
    assert removed == 1
    np.testing.assert_array_equal(table.lookup(fids), [[0], [5], [7]])
    np.testing.assert_array_equal(table.contains(fids), [False, True, True])


def test_one_time_evict_config_as_argument():
    """The same expiry given as ``slot_expire_time_config=`` instead of in the proto."""
    table = _g4_table(slot_expire_time_config=_expire_config(14, {0: 0, 1: 5, 2: 6}))
    fids = _ids((1 << 48) | 123, (2 << 48) | 234, (3 << 48) | 456)
    table.assign(fids, _vals([2], [5], [7]), update_time=1234)
    table.evict(1234 + 5 * DAY + 60)
    np.testing.assert_array_equal(table.lookup(fids), [[0], [5], [7]])


def test_evict_while_rehash():
    slots, per_slot = 20, 50
    config = _g4_config(default=0, per_slot={i: i for i in range(slots)})
    table = EmbeddingHashTable(HashTableConfigInstance(config, [0.01]))
    assert table.capacity <= 4  # tiny, so the inserts below rehash many times
    now = 1234 + 5 * DAY + DAY // 2
    start = threading.Barrier(slots + 1)
    errors = []

    def insert(slot):
        try:
            start.wait()
            for j in range(per_slot):
                table.assign(_ids((slot << 48) | j), _vals([123.0]), update_time=1234 + j)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def evict():
        try:
            start.wait()
            for _ in range(3):
                table.evict(now)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=insert, args=(i,)) for i in range(slots)]
    threads.append(threading.Thread(target=evict))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    table.evict(now)  # the final evict of the original
    fids = ((np.arange(slots, dtype=np.int64)[:, None] << 48) | np.arange(per_slot)).ravel()
    got = table.lookup(fids).reshape(slots, per_slot)
    np.testing.assert_array_equal(got[:6], 0.0)
    np.testing.assert_array_equal(got[6:], 123.0)
    assert table.size == (slots - 6) * per_slot
    assert table.capacity >= table.size


def test_evict_boundary_is_inclusive():
    """E.2: evicted when ``now - ts >= days * 86400``; expire 0 days evicts ts <= now."""
    table = _g4_table(slot_expire_time_config=_expire_config(1, {1: 0}))
    a, b = _ids(7), _ids((1 << 48) | 7)
    table.assign(a, _vals([1]), update_time=1000)
    table.assign(b, _vals([1]), update_time=1000)
    assert table.evict(1000 + DAY - 1) == 1  # slot 1 (0 days) goes, slot 0 (1 day) stays
    assert table.contains(a)[0] and not table.contains(b)[0]
    assert table.evict(1000 + DAY) == 1
    assert table.size == 0


# --- hash_table_ops_test.py -----------------------------------------------------


def test_ops_basic():
    table = _ops_table(1, 1.0)
    table.assign_add(_ids(0, 1), np.ones((2, 1), np.float32))
    np.testing.assert_array_equal(table.lookup(_ids(0, 1, 2)), [[1], [1], [0]])
    assert table.size == 2


def test_ops_assign():
    table = _ops_table(1, 1.0)
    table.assign(_ids(0, 1), np.ones((2, 1), np.float32))
    np.testing.assert_array_equal(table.lookup(_ids(0, 1, 2)), [[1], [1], [0]])
    table.assign(_ids(1), _vals([5]))
    np.testing.assert_array_equal(table.lookup(_ids(0, 1, 2)), [[1], [5], [0]])


def _minus_one_step(table, lookup_ids, apply_ids, dedup=True, global_step=0):
    """Look ``lookup_ids`` up, take loss = -embedding and apply its gradient to ``apply_ids``."""
    emb = table.lookup(_ids(*lookup_ids))
    grads = -np.ones_like(emb)
    table.apply_gradients(_ids(*apply_ids), grads, global_step=global_step, dedup=dedup)
    return table.lookup(_ids(0, 1))


@pytest.mark.parametrize("dedup", [True, False], ids=["dedup", "no_dedup"])
@pytest.mark.parametrize("lr", [0.1, lambda: 0.1], ids=["float", "lambda"])
def test_ops_gradients(lr, dedup):
    got = _minus_one_step(_ops_table(1, lr), [0, 0, 1], [0, 0, 1], dedup=dedup)
    np.testing.assert_allclose(got, [[0.2], [0.1]], rtol=1e-6)


@pytest.mark.parametrize("dedup", [True, False], ids=["dedup", "no_dedup"])
def test_ops_gradients_with_learning_rate_decay(dedup):
    decay = PolynomialDecay(initial_learning_rate=0.01, decay_steps=10, end_learning_rate=0.11)
    got = _minus_one_step(_ops_table(1, decay), [0, 0, 1], [0, 0, 1], dedup=dedup, global_step=1)
    np.testing.assert_allclose(got, [[0.04], [0.02]], rtol=1e-6)


def test_ops_gradients_with_learning_rate_decay_as_argument():
    """A schedule passed to ``apply_gradients`` overrides the config's rate."""
    table = _ops_table(1, 123.0)
    table.apply_gradients(_ids(0, 0, 1), -np.ones((3, 1), np.float32), global_step=1,
                          learning_rate=PolynomialDecay(initial_learning_rate=0.01, decay_steps=10,
                                                        end_learning_rate=0.11))
    np.testing.assert_allclose(table.lookup(_ids(0, 1)), [[0.04], [0.02]], rtol=1e-6)


def test_ops_gradients_with_dedup():
    got = _minus_one_step(_ops_table(10, 0.1), [0, 1, 0, 1, 0], [0, 1, 0, 1, 0], dedup=True)
    np.testing.assert_allclose(got, [[0.3] * 10, [0.2] * 10], rtol=1e-6)


def test_ops_gradients_with_different_ids():
    got = _minus_one_step(_ops_table(1, 0.1), [0, 0, 1], [1, 0, 1])
    np.testing.assert_allclose(got, [[0.1], [0.2]], rtol=1e-6)


# --- G.2 entry accessor through a table ------------------------------------------


def test_entry_accessor_from_config():
    config = EntryConfig()
    for dim in (1, 2):
        seg = config.segments.add(dim_size=dim)
        seg.init_config.zeros.SetInParent()
        seg.opt_config.sgd.SetInParent()
    table = EmbeddingHashTable(config)
    table.apply_gradients(_ids(42), _vals([1, 2, 3]), learning_rate=np.float32([1, 2]))
    np.testing.assert_array_equal(table.lookup(_ids(42)), [[-1, -4, -6]])


def test_entry_accessor_save_restore_as_optimize():
    table = EmbeddingHashTable([(1, ZerosInitializer(), AdagradOptimizer(initial_accumulator_value=0.1))])
    table.apply_gradients(_ids(3), _vals([1]), learning_rate=np.float32([1]), update_time=100)
    first = table.lookup(_ids(3))[0, 0]
    np.testing.assert_array_max_ulp(first, np.float32(-0.95346254), maxulp=4)
    assert table.export()[3][0] == 100
    table.apply_gradients(_ids(3), _vals([1]), learning_rate=1.0)
    np.testing.assert_array_max_ulp(table.lookup(_ids(3))[0, 0], np.float32(-1.643528), maxulp=4)


def test_entry_accessor_update_assign():
    """G.2 EntryAccessor Update: Assign overwrites the stored values exactly, state untouched."""
    table = EmbeddingHashTable([(3, ZerosInitializer(), SgdOptimizer())])
    table.assign(_ids(9), _vals([0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(table.lookup(_ids(9)), _vals([0.1, 0.2, 0.3]))
