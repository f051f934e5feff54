"""``EmbeddingHashTable.save``/``restore``: round trips, Monolith goldens, damaged files (SEMANTICS E.2, G.4)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from monolith_np.entry import RandomUniformInitializer, ZerosInitializer
from monolith_np.optim import AdagradOptimizer, AdamOptimizer, FtrlOptimizer, SgdOptimizer
from monolith_np.proto import EntryDump, SlotExpireTimeConfig
from monolith_np.table import EmbeddingHashTable
from monolith_np.table import _commit
from monolith_np.table.checkpoint import read_records, sharded_file_name


def _segments():
    return [(3, RandomUniformInitializer(-1.0, 1.0, seed=4), AdagradOptimizer(initial_accumulator_value=0.1)),
            (2, ZerosInitializer(), FtrlOptimizer()),
            (2, RandomUniformInitializer(seed=5), AdamOptimizer())]


def _trained(capacity=1, n=300, **kwargs):
    table = EmbeddingHashTable(_segments(), capacity=capacity, **kwargs)
    rng = np.random.default_rng(0)
    ids = np.concatenate([[0, -1, 2**63 - 1, -(2**63)], rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)])
    for step in range(3):
        batch = ids[rng.integers(0, ids.size, ids.size)]
        table.apply_gradients(batch, rng.normal(size=(batch.size, 7)).astype(np.float32), global_step=step,
                              update_time=1000 + step)
    return table


def _sorted_export(table):
    ids, values, state, stamps = table.export()
    order = np.argsort(ids)
    return ids[order], values[order], [{k: a[order] for k, a in st.items()} for st in state], stamps[order]


def _assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].tobytes() == b[1].tobytes()
    for sa, sb in zip(a[2], b[2]):
        for key in sa:
            assert sa[key].tobytes() == sb[key].tobytes(), key
    np.testing.assert_array_equal(a[3], b[3])


@pytest.mark.parametrize("shards", [1, 4])
@pytest.mark.parametrize("capacity", [1, 10_000])
def test_round_trip_is_bit_exact_into_any_capacity(tmp_path, shards, capacity):
    table = _trained()
    assert table.save(tmp_path / "emb", num_shards=shards) == table.size
    other = EmbeddingHashTable(_segments(), capacity=capacity)
    assert other.restore(tmp_path / "emb") == table.size
    _assert_same(_sorted_export(table), _sorted_export(other))
    assert other.max_update_ts == table.max_update_ts
    ids = table.export()[0]
    np.testing.assert_array_equal(other.lookup(ids), table.lookup(ids))


def _save_dir(path):
    """The directory of the save committed at ``path``."""
    return path.parent / _commit.read_manifest(str(path))["directory"]


def test_files_are_monolith_entry_dumps(tmp_path):
    table = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(learning_rate=0.01))])
    table.assign_add(np.array([5, -3]), np.array([[2.5], [-0.5]], np.float32), update_time=7)
    table.save(tmp_path / "emb")
    buffer, offsets = read_records(sharded_file_name(_save_dir(tmp_path / "emb") / "emb", 0, 1))
    dumps = [EntryDump.FromString(buffer[offsets[k]:offsets[k + 1]].tobytes()) for k in range(offsets.size - 1)]
    got = sorted((d.id, list(d.num), d.last_update_ts_sec, d.opt.dump[0].WhichOneof("type")) for d in dumps)
    assert got == [(-3, [-0.5], 7, "sgd"), (5, [2.5], 7, "sgd")]


def test_save_restore_golden(tmp_path):
    # embedding_hash_table_test SaveRestore: AssignAdd(5, [2.5]), AssignAdd(-3, [-0.5]); restore into a new table.
    table = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(learning_rate=0.01))])
    table.assign_add(np.array([5]), np.array([[2.5]], np.float32))
    table.assign_add(np.array([-3]), np.array([[-0.5]], np.float32))
    table.save(tmp_path / "t")
    fresh = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(learning_rate=0.01))])
    fresh.restore(tmp_path / "t")
    np.testing.assert_array_equal(fresh.lookup(np.array([5, -3]))[:, 0], [2.5, -0.5])


@pytest.mark.parametrize("days,want", [(0, [0.0, 0.0]), (3600, [1.0, 2.0])])
def test_entry_ttl_golden(tmp_path, days, want):
    # hash_table_ops_test.test_entry_ttl_zero / not_zero: expired entries are dropped at save.
    expire = SlotExpireTimeConfig(default_expire_time=days)
    table = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer())], slot_expire_time_config=expire)
    table.assign_add(np.array([0, 1]), np.array([[1.0], [2.0]], np.float32))
    table.save(tmp_path / "t")
    fresh = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer())], slot_expire_time_config=expire)
    fresh.restore(tmp_path / "t")
    np.testing.assert_array_equal(fresh.lookup(np.array([0, 1]))[:, 0], want)


def test_entry_ttl_by_slots_golden(tmp_path):
    expire = SlotExpireTimeConfig(default_expire_time=3600)
    expire.slot_expire_times.add(slot=1, expire_time=0)
    expire.slot_expire_times.add(slot=2, expire_time=1)
    ids = np.array([1 << 48, 2 << 48])
    table = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer())], slot_expire_time_config=expire)
    table.assign_add(ids, np.array([[1.0], [2.0]], np.float32), update_time=100)
    table.save(tmp_path / "t")
    fresh = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer())], slot_expire_time_config=expire)
    fresh.restore(tmp_path / "t")
    np.testing.assert_array_equal(fresh.lookup(ids)[:, 0], [0.0, 2.0])


def test_restore_upserts_and_keeps_other_entries(tmp_path):
    table = _trained(n=20)
    table.save(tmp_path / "t")
    target = EmbeddingHashTable(_segments())
    target.assign(np.array([123456789]), np.full((1, 7), 3.0, np.float32))
    target.restore(tmp_path / "t")
    assert target.size == table.size + 1
    np.testing.assert_array_equal(target.lookup(np.array([123456789])), np.full((1, 7), 3.0, np.float32))


def _damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) * 2 // 3]
    elif how == "flip":
        data[len(data) // 2] ^= 0x40
    elif how == "drop_last_record":  # a clean cut between records: still a valid TFRecord file
        _, offsets = read_records(path)
        last = int(offsets[-1] - offsets[-2]) + 16
        data = data[:-last]
    else:
        data = bytearray(b"not a tfrecord file at all")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncate", "flip", "drop_last_record", "foreign"])
def test_damaged_checkpoint_is_a_clear_error_and_changes_nothing(tmp_path, how):
    table = _trained(n=50)
    table.save(tmp_path / "t", num_shards=2)
    _damage(_save_dir(tmp_path / "t") / sharded_file_name("t", 1, 2), how)
    target = _trained(n=10)
    before = _sorted_export(target)
    with pytest.raises(ValueError, match="t-00001-of-00002"):
        target.restore(tmp_path / "t")
    _assert_same(before, _sorted_export(target))


def test_checkpoint_of_another_entry_layout_is_rejected(tmp_path):
    _trained(n=10).save(tmp_path / "t")
    other = EmbeddingHashTable([(7, ZerosInitializer(), SgdOptimizer())])
    with pytest.raises(ValueError, match="record 0"):
        other.restore(tmp_path / "t")
    assert other.size == 0


def test_monolith_checkpoint_without_meta_restores(tmp_path):
    table = _trained(n=30)
    table.save(tmp_path / "t", num_shards=3)
    flat = _save_dir(tmp_path / "t")  # a save's directory holds Monolith's flat layout: shards and t-meta
    other = EmbeddingHashTable(_segments())
    assert other.restore(flat / "t") == table.size
    (flat / "t-meta").unlink()
    other = EmbeddingHashTable(_segments())
    assert other.restore(flat / "t") == table.size
    _assert_same(_sorted_export(table), _sorted_export(other))
    (flat / "t-00002-of-00003").unlink()
    with pytest.raises(ValueError, match="all its shards"):
        EmbeddingHashTable(_segments()).restore(flat / "t")


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing"):
        EmbeddingHashTable(_segments()).restore(tmp_path / "nothing")


def test_save_is_atomic_when_the_directory_is_gone(tmp_path):
    table = _trained(n=5)
    with pytest.raises(OSError):
        table.save(tmp_path / "missing_dir" / "t")
    assert not (tmp_path / "missing_dir").exists()
