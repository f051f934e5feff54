"""Multi-table sets against the original's tests (multi_hash_table_ops_test.py, multi_type_hash_table_test.py).

Every config is ``test_utils.generate_test_hash_table_config(dim)``: cuckoo,
one segment of ``dim`` floats, sgd, zeros, fp32, learning rate 1.0 — so an
update subtracts the gradient and the golden numbers are exact.
"""

import hashlib

import numpy as np
import pytest

from monolith_np.entry import HashTableConfigInstance
from monolith_np.proto import EmbeddingHashTableConfig, MultiEmbeddingHashTableConfig
from monolith_np.schedules import PolynomialDecay
from monolith_np.table import EmbeddingHashTable
from monolith_np.table.multi import MergedMultiTypeHashTable, MultiHashTable, MultiTypeHashTable


def _proto(dim, optimizer="sgd"):
    config = EmbeddingHashTableConfig()
    config.cuckoo.SetInParent()
    seg = config.entry_config.segments.add(dim_size=dim)
    getattr(seg.opt_config, optimizer).SetInParent()
    seg.init_config.zeros.SetInParent()
    seg.comp_config.fp32.SetInParent()
    return config


def _config(dim=2, learning_rate=1.0, optimizer="sgd"):
    """``test_utils.generate_test_hash_table_config``."""
    return HashTableConfigInstance(_proto(dim, optimizer), [learning_rate])


def _ids(*values):
    return np.array(values, np.int64)


def _vals(*rows):
    return np.array(rows, np.float32)


def _assert_dict(got, want):
    assert list(got) == list(want)
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], np.array(value, np.float32))


def _three_slots(cls=MultiTypeHashTable):
    table = cls({"slot0": _config(1), "slot1": _config(2), "slot2": _config(2)})
    table.assign_add({"slot0": (_ids(0), _vals([1])), "slot1": (_ids(1), _vals([2, 2])),
                      "slot2": (_ids(2, 3), _vals([4, 4], [8, 8]))})
    return table


# -- MultiHashTable (multi_hash_table_ops_test.py) ----------------------------------------------


def test_lookup_assign_add_reinitialize():
    table = MultiHashTable.from_configs({"slot0": _config(1), "not_used": _config(2),
                                         "slot1": _config(2), "slot2": _config(2)})
    assert table.table_names == ("not_used", "slot0", "slot1", "slot2")
    table.assign_add({"slot0": (_ids(0), _vals([1])), "slot1": (_ids(1), _vals([2, 2])),
                      "slot2": (_ids(2, 3), _vals([4, 4], [8, 8]))})
    ids = {"slot0": _ids(0), "slot1": _ids(1), "slot2": _ids(2, 3)}
    _assert_dict(table.lookup(ids), {"slot0": [[1]], "slot1": [[2, 2]], "slot2": [[4, 4], [8, 8]]})
    status1 = table.reinitialize("slot2", _ids(1, 2, 3))
    status2 = table.reinitialize("slot3", _ids(1, 2, 3))
    np.testing.assert_array_equal(status1, [0, 1, 1])
    np.testing.assert_array_equal(status2, [-1, -1, -1])
    assert status2.dtype == np.int32
    _assert_dict(table.lookup({"slot0": _ids(0), "slot1": _ids(1), "slot2": _ids(1, 2, 3)}),
                 {"slot0": [[1]], "slot1": [[2, 2]], "slot2": [[0, 0], [0, 0], [0, 0]]})


def test_apply_gradients():
    table = MultiHashTable.from_configs({"slot0": _config(1), "slot1": _config(2)})
    table.apply_gradients({"slot0": (_ids(0), _vals([2.0])), "slot1": (_ids(1, 2), _vals([1, 3], [2, 4]))},
                          global_step=0)
    _assert_dict(table.lookup({"slot0": _ids(0), "slot1": _ids(1, 2)}),
                 {"slot0": [[-2]], "slot1": [[-1, -3], [-2, -4]]})


def test_lookup_takes_a_list_in_table_order():
    table = _three_slots(MultiHashTable.from_configs)
    got = table.lookup([_ids(0), _ids(), [3, 1]])
    assert isinstance(got, list)
    np.testing.assert_array_equal(got[0], [[1]])
    assert got[1].shape == (0, 2)
    np.testing.assert_array_equal(got[2], [[8, 8], [0, 0]])
    assert table.get_table_dim_sizes() == [1, 2, 2]


def test_proto_round_trip_keeps_names_order_and_configs():
    configs = [_config(3).table_config, _proto(1, "adagrad")]
    table = MultiHashTable(["zeta", "alpha"], configs)
    proto = table.to_proto()
    assert isinstance(proto, MultiEmbeddingHashTableConfig)
    assert list(proto.names) == ["zeta", "alpha"]
    assert [c.SerializeToString() for c in proto.configs] == [c.SerializeToString() for c in configs]
    again = MultiHashTable.from_proto(MultiEmbeddingHashTableConfig.FromString(proto.SerializeToString()))
    assert again.table_names == ("zeta", "alpha")
    assert again.get_table_dim_sizes() == [3, 1]
    assert again.to_proto().SerializeToString() == proto.SerializeToString()


def test_save_restore_with_added_and_removed_tables(tmp_path):
    """test_save_restore: slot1 is gone from the new set (ignored), slot3 is new (stays empty)."""
    old = MultiHashTable.from_configs({"slot0": _config(1), "slot1": _config(2), "slot2": _config(2)})
    old.assign_add({"slot0": (_ids(0, 1), _vals([1], [2])),
                    "slot1": (_ids(2, 3, 4, 5), _vals([1, 2], [2, 3], [3, 4], [4, 5])),
                    "slot2": (_ids(6, 7, 8, 9, 10), _vals([1, 1], [2, 2], [3, 3], [4, 4], [5, 5]))})
    assert old.save(tmp_path / "ckpt") == {"slot0": 2, "slot1": 4, "slot2": 5}
    new = MultiHashTable.from_configs({"slot0": _config(1), "slot2": _config(2), "slot3": _config(3)})
    assert new.restore(tmp_path / "ckpt") == {"slot0": 2, "slot2": 5}
    _assert_dict(new.lookup({"slot0": _ids(0, 1), "slot2": _ids(6, 7, 8, 9, 10)}),
                 {"slot0": [[1], [2]], "slot2": [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]})
    assert len(new["slot3"]) == 0


def test_restore_overrides_later_updates(tmp_path):
    """test_save_restore_hook: restoring after sub_op brings back the saved values."""
    table = MultiHashTable.from_configs({"slot0": _config(1), "slot1": _config(2), "slot2": _config(2)})
    table.assign_add({"slot0": (_ids(0), _vals([1])), "slot1": (_ids(1), _vals([2, 2])),
                      "slot2": (_ids(2, 3), _vals([4, 4], [8, 8]))})
    table.save(tmp_path)
    table.assign_add({"slot0": (_ids(0), _vals([-1])), "slot1": (_ids(1), _vals([-2, -3])),
                      "slot2": (_ids(2, 3), _vals([-4, -5], [-6, -7]))})
    table.restore(tmp_path)
    _assert_dict(table.lookup({"slot0": _ids(0), "slot1": _ids(1), "slot2": _ids(2, 3)}),
                 {"slot0": [[1]], "slot1": [[2, 2]], "slot2": [[4, 4], [8, 8]]})


def test_save_files_per_table_and_saver_parallel(tmp_path):
    table = MultiHashTable.from_configs({"a": _config(1), "b": _config(1)}, saver_parallel=2)
    table.assign({"a": (_ids(1, 2, 3), _vals([1], [2], [3]))})
    table.save(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert sorted(n.split(".save-")[0] for n in names) == ["a", "a-manifest", "a.lock", "b", "b-manifest", "b.lock"]
    for name in "ab":
        save = next(tmp_path.glob(f"{name}.save-*"))
        assert sorted(p.name for p in save.iterdir()) == [f"{name}-00000-of-00002", f"{name}-00001-of-00002",
                                                         f"{name}-meta"]
    single = EmbeddingHashTable(_config(1))
    assert single.restore(tmp_path / "a") == 3  # each table's files are a plain table checkpoint


def test_restore_falls_back_to_extra_restore_names(tmp_path):
    MultiHashTable.from_configs({"old": _config(1)}).save(tmp_path)
    writer = MultiHashTable.from_configs({"old": _config(1)})
    writer.assign({"old": (_ids(5), _vals([7]))})
    writer.save(tmp_path)
    renamed = HashTableConfigInstance(_proto(1), [1.0], extra_restore_names=["missing", "old"])
    table = MultiHashTable.from_configs({"new": renamed})
    assert table.restore(tmp_path) == {"new": 1}
    np.testing.assert_array_equal(table.lookup({"new": _ids(5)})["new"], [[7]])


def test_restore_of_a_missing_directory_names_path(tmp_path):
    table = MultiHashTable.from_configs({"a": _config(1)})
    with pytest.raises(FileNotFoundError, match="path must be a directory"):
        table.restore(tmp_path / "nothing")


def test_seeded_tables_draw_independently_of_the_other_tables():
    def uniform():
        config = EmbeddingHashTableConfig()
        seg = config.entry_config.segments.add(dim_size=4)
        seg.opt_config.sgd.SetInParent()
        seg.init_config.random_uniform.minval = -1.0
        seg.init_config.random_uniform.maxval = 1.0
        return config

    one = MultiHashTable.from_configs({"x": uniform()}, seed=7)
    two = MultiHashTable.from_configs({"a": uniform(), "x": uniform()}, seed=7)
    for t in (one, two):
        t.apply_gradients({"x": (_ids(3), np.zeros((1, 4), np.float32))}, 0)
    two.apply_gradients({"a": (_ids(3), np.zeros((1, 4), np.float32))}, 0)
    np.testing.assert_array_equal(one.lookup({"x": _ids(3)})["x"], two.lookup({"x": _ids(3)})["x"])
    assert not np.array_equal(two.lookup({"a": _ids(3)})["a"], two.lookup({"x": _ids(3)})["x"])


# -- MultiTypeHashTable (multi_type_hash_table_test.py) -----------------------------------------


def test_basic():
    table = _three_slots()
    _assert_dict(table.lookup({"slot0": _ids(0), "slot1": _ids(1), "slot2": _ids(2, 3)}),
                 {"slot0": [[1]], "slot1": [[2, 2]], "slot2": [[4, 4], [8, 8]]})


def test_type_apply_gradients():
    table = MultiTypeHashTable({"slot0": _config(1), "slot1": _config(2)})
    table.apply_gradients({"slot0": (_ids(0), _vals([2.0])), "slot1": (_ids(1, 2), _vals([1, 3], [2, 4]))}, 0)
    _assert_dict(table.lookup({"slot0": _ids(0), "slot1": _ids(1, 2)}),
                 {"slot0": [[-2]], "slot1": [[-1, -3], [-2, -4]]})


def test_apply_gradients_with_learning_rate_decay():
    decay = PolynomialDecay(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=1.1)
    table = MultiTypeHashTable({"slot0": _config(1, decay), "slot1": _config(2, decay)})
    table.apply_gradients({"slot0": (_ids(0), _vals([2.0])), "slot1": (_ids(1, 2), _vals([1, 3], [2, 4]))}, 0)
    got = table.lookup({"slot0": _ids(0), "slot1": _ids(1, 2)})
    np.testing.assert_allclose(got["slot0"], [[-0.2]], rtol=1e-6)
    np.testing.assert_allclose(got["slot1"], [[-0.1, -0.3], [-0.2, -0.4]], rtol=1e-6)


def test_apply_gradients_without_lookup():
    table = MultiTypeHashTable({"slot0": _config(1), "slot1": _config(2)})
    table.apply_gradients({"slot0": (_ids(1), _vals([3.0])), "slot1": (_ids(2, 2), _vals([1.1, 3.1], [2.2, 4.2]))},
                          0)
    got = table.lookup({"slot0": _ids(1), "slot1": _ids(1, 2)})
    np.testing.assert_allclose(got["slot0"], [[-3]])
    np.testing.assert_allclose(got["slot1"], [[0, 0], [-3.3, -7.3]], rtol=1e-6)


def test_type_table_factory_and_no_reinitialize():
    calls = []

    def factory(slot, config):
        calls.append(slot)
        return EmbeddingHashTable(config)

    table = MultiTypeHashTable({"b": _config(1), "a": _config(2)}, factory)
    assert calls == ["a", "b"] and table.get_table_dim_sizes() == [2, 1]
    with pytest.raises(NotImplementedError):
        table.reinitialize("a", _ids(1))


# -- fused layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [MultiTypeHashTable, MultiHashTable.from_configs])
def test_fused_lookup(cls):
    embeddings, splits, id_offsets, emb_offsets, indices = _three_slots(cls).fused_lookup(
        _ids(0, 1, 2, 3), [1, 1, 2], 1)
    np.testing.assert_array_equal(embeddings, [1, 2, 2, 4, 4, 8, 8])
    np.testing.assert_array_equal(splits, [7])
    np.testing.assert_array_equal(id_offsets, [0, 1, 2, 4])
    np.testing.assert_array_equal(emb_offsets, [0, 1, 3, 7])
    np.testing.assert_array_equal(indices, [0, 1, 2, 3])


def test_fused_lookup_multi_shards():
    embeddings, splits, id_offsets, emb_offsets, _ = _three_slots().fused_lookup(
        _ids(0, 2, 1, 3), [1, 0, 1, 0, 1, 1], 2)
    np.testing.assert_array_equal(embeddings, [1, 4, 4, 2, 2, 8, 8])
    np.testing.assert_array_equal(splits, [3, 4])
    np.testing.assert_array_equal(id_offsets, [0, 1, 1, 2, 2, 3, 4])
    np.testing.assert_array_equal(emb_offsets, [0, 1, 1, 3, 3, 5, 7])


def test_fused_layout_by_hand():
    """Tables a (dim 2) and b (dim 3), two shards: shard 0 has a:[10, 11] b:[20], shard 1 has b:[21, 22].

    Segments (shard, table) = (0,a) (0,b) (1,a) (1,b) hold 2, 1, 0, 2 ids, so
    id_offsets = [0, 2, 3, 3, 5]; they hold 2*2, 1*3, 0, 2*3 = 4, 3, 0, 6
    floats, so embedding_offsets = [0, 4, 7, 7, 13] and the shards hold 7 and 6.
    """
    table = MultiHashTable(["a", "b"], [_config(2), _config(3)])
    a_rows, b_rows = _vals([1, 2], [3, 4]), _vals([5, 6, 7], [8, 9, 10], [11, 12, 13])
    table.assign({"a": (_ids(10, 11), a_rows), "b": (_ids(20, 21, 22), b_rows)})
    ids = _ids(10, 11, 20, 21, 22)
    embeddings, splits, id_offsets, emb_offsets, indices = table.fused_lookup(ids, [2, 1, 0, 2], 2)
    np.testing.assert_array_equal(id_offsets, [0, 2, 3, 3, 5])
    np.testing.assert_array_equal(emb_offsets, [0, 4, 7, 7, 13])
    np.testing.assert_array_equal(splits, [7, 6])
    np.testing.assert_array_equal(embeddings, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    assert embeddings.dtype == np.float32 and splits.dtype == id_offsets.dtype == emb_offsets.dtype == np.int32
    # The gradients of each id sit where its row sat.
    grads = np.arange(13, dtype=np.float32)
    table.fused_apply_gradient(ids, indices, [2, 1, 0, 2], grads, id_offsets, emb_offsets, 0, 0, 2)
    np.testing.assert_array_equal(table.fused_lookup(ids, [2, 1, 0, 2], 2)[0],
                                  np.arange(1, 14, dtype=np.float32) - grads)


def test_fused_apply_gradients():
    table = MultiTypeHashTable({"slot0": _config(1), "slot1": _config(2)})
    ids, sizes = _ids(0, 1, 2), [1, 2]
    _, _, id_offsets, emb_offsets, indices = table.fused_lookup(ids, sizes, 1)
    table.fused_apply_gradient(ids, indices, sizes, _vals(2, 1, 3, 2, 4), id_offsets, emb_offsets, 0, 0, 1)
    embeddings, splits, id_offsets, emb_offsets, _ = table.fused_lookup(ids, sizes, 1)
    np.testing.assert_array_equal(embeddings, [-2, -1, -3, -2, -4])
    np.testing.assert_array_equal(splits, [5])
    np.testing.assert_array_equal(id_offsets, [0, 1, 3])
    np.testing.assert_array_equal(emb_offsets, [0, 1, 5])


def test_fused_apply_gradients_missing_tables():
    table = MultiTypeHashTable({"slot0": _config(1), "slot1": _config(2)})
    ids, sizes = _ids(1, 1), [1, 0, 1, 0]
    _, _, id_offsets, emb_offsets, indices = table.fused_lookup(ids, sizes, 2)
    table.fused_apply_gradient(ids, indices, sizes, _vals(1, 2), id_offsets, emb_offsets, 0, 0, 2)
    embeddings, splits, id_offsets, emb_offsets, _ = table.fused_lookup(ids, sizes, 2)
    np.testing.assert_array_equal(embeddings, [-3, -3])
    np.testing.assert_array_equal(splits, [1, 1])
    np.testing.assert_array_equal(id_offsets, [0, 1, 1, 2, 2])
    np.testing.assert_array_equal(emb_offsets, [0, 1, 1, 2, 2])


@pytest.mark.parametrize("accumulate", [False, True])
def test_fused_apply_gradient_matches_one_call_per_shard_and_table(accumulate):
    """Adagrad makes summing differ from sequential steps; each segment is one call with dedup = accumulate."""
    configs = {"p": _config(2, 0.5, "adagrad"), "q": _config(1, 0.5, "adagrad")}
    fused, ref = MultiTypeHashTable(configs), {k: EmbeddingHashTable(c) for k, c in configs.items()}
    ids = _ids(1, 1, 2, 1, 1, 3)  # shard 0: p [1, 1], q [2]; shard 1: p [1], q [1, 3]
    sizes = [2, 1, 1, 2]
    grads = np.linspace(-1, 1, 2 * 2 + 1 + 2 + 2).astype(np.float32)
    _, _, id_offsets, emb_offsets, indices = fused.fused_lookup(ids, sizes, 2)
    fused.fused_apply_gradient(ids, indices, sizes, grads, id_offsets, emb_offsets, 3, 9, 2,
                               enable_grad_accumulation=accumulate)
    for k, name in enumerate(["p", "q", "p", "q"]):
        dim = ref[name].dim
        ref[name].apply_gradients(ids[id_offsets[k]:id_offsets[k + 1]],
                                  grads[emb_offsets[k]:emb_offsets[k + 1]].reshape(-1, dim),
                                  global_step=3, update_time=9, dedup=accumulate)
    for name in configs:
        np.testing.assert_array_equal(fused[name].lookup(_ids(1, 2, 3)), ref[name].lookup(_ids(1, 2, 3)))
        assert fused[name].max_update_ts == 9


def test_table_sets_validate_once_and_call_the_tables_impl(monkeypatch):
    """The set checks every array itself; the tables' public checks and rate resolution are not run again."""
    table = MultiTypeHashTable({"p": _config(2, 0.5, "adagrad"), "q": _config(1)})
    calls = []
    monkeypatch.setattr(EmbeddingHashTable, "_check_ids", lambda *a: calls.append("ids"))
    monkeypatch.setattr(EmbeddingHashTable, "_check_batch", lambda *a: calls.append("batch"))
    resolve = EmbeddingHashTable._learning_rates
    monkeypatch.setattr(EmbeddingHashTable, "_learning_rates", lambda self, *a: calls.append("lr") or resolve(self, *a))
    table.assign({"p": (_ids(1), _vals([1, 1]))})
    table.assign_add({"q": (_ids(2, 2), _vals([1], [2]))})
    table.apply_gradients({"p": (_ids(1, 5), _vals([1, 1], [1, 1])), "q": (_ids(2), _vals([1]))}, global_step=0)
    got = table.lookup({"q": _ids(2), "p": _ids(1, 7)})
    ids = _ids(1, 2)
    _, _, id_offsets, emb_offsets, indices = table.fused_lookup(ids, [1, 1], 1)
    table.fused_apply_gradient(ids, indices, [1, 1], _vals(1, 1, 1), id_offsets, emb_offsets, 0, 0, 1)
    assert calls == ["lr", "lr", "lr", "lr"]  # one rate resolution per table per call, no re-check
    np.testing.assert_array_equal(got["q"], [[2.0]])  # 1 + 2 added, then sgd at rate 1.0: 3 - 1
    assert got["p"][1].tolist() == [0.0, 0.0]


# -- MergedMultiTypeHashTable -------------------------------------------------------------------------


def test_merged_basic():
    table = MergedMultiTypeHashTable({"slot0": _config(1), "slot1": _config(2), "slot2": _config(2)})
    table.assign_add({"slot0": (_ids(0), _vals([1])), "slot1": (_ids(1), _vals([2, 2])),
                      "slot2": (_ids(1), _vals([4, 4]))})
    _assert_dict(table.lookup({"slot0": _ids(0), "slot1": _ids(1), "slot2": _ids(1)}),
                 {"slot0": [[1]], "slot1": [[6, 6]], "slot2": [[6, 6]]})
    table.apply_gradients({"slot0": (_ids(0), _vals([-1])), "slot1": (_ids(1), _vals([1, 1])),
                           "slot2": (_ids(1), _vals([1, 1]))}, 0)
    _assert_dict(table.lookup({"slot0": _ids(0), "slot1": _ids(1)}), {"slot0": [[2]], "slot1": [[4, 4]]})
    assert len(table.table.table_names) == 2
    with pytest.raises(NotImplementedError):
        table.reinitialize("slot0", _ids(0))


def test_merged_lookup_splits_back_in_slot_order():
    table = MergedMultiTypeHashTable({"b": _config(2), "a": _config(2)})
    table.assign({"a": (_ids(1, 2), _vals([1, 1], [2, 2])), "b": (_ids(3), _vals([3, 3]))})
    got = table.lookup({"b": _ids(3, 1), "a": _ids(2)})
    np.testing.assert_array_equal(got["a"], [[2, 2]])
    np.testing.assert_array_equal(got["b"], [[3, 3], [1, 1]])


def test_name_stability():
    seen = []

    def factory(merged_slot_to_config):
        seen.append(list(merged_slot_to_config))
        return MultiTypeHashTable(merged_slot_to_config)

    table = MergedMultiTypeHashTable({"slot0": _config(1), "slot1": _config(1)}, factory)
    assert seen == [["e21904dd414d1780e5fc904866dc69c2"]]  # the original's golden
    assert seen[0][0] == hashlib.md5(b"slot0,slot1").hexdigest()
    assert table.slot_mapping == {"slot0": seen[0][0], "slot1": seen[0][0]}


def test_slots_merge_by_config_string():
    configs = {"x": _config(2), "y": _config(2, 0.5), "z": _config(2)}  # y's learning rate differs
    table = MergedMultiTypeHashTable(configs)
    xz, y = hashlib.md5(b"x,z").hexdigest(), hashlib.md5(b"y").hexdigest()
    assert table.slot_mapping == {"x": xz, "y": y, "z": xz}
    assert table.table.table_names == tuple(sorted([xz, y]))
    assert table.get_table_dim_sizes() == [2, 2]


def test_restore_name():
    seen = []

    def factory(merged_slot_to_config):
        seen.append(next(iter(merged_slot_to_config.values())))
        return MultiTypeHashTable(merged_slot_to_config)

    given = _config(1)
    MergedMultiTypeHashTable({"fc_slot_0": given}, factory)
    assert seen[0].extra_restore_names == [hashlib.md5(b"slot_0").hexdigest()]
    assert given.extra_restore_names == []  # the caller's config is not modified
    MergedMultiTypeHashTable({"slot_0": _config(1), "fc_slot_x": _config(1)}, factory)
    assert seen[1].extra_restore_names == []  # "fc_slot_x" is not fc_slot_<digits>: no old name


def test_merged_restore_from_old_slot_names(tmp_path):
    old = MergedMultiTypeHashTable({"slot_0": _config(1), "slot_1": _config(1)})
    old.assign({"slot_0": (_ids(4), _vals([4])), "slot_1": (_ids(5), _vals([5]))})
    old.save(tmp_path)
    new = MergedMultiTypeHashTable({"fc_slot_0": _config(1), "fc_slot_1": _config(1)})
    assert new.restore(tmp_path) == {hashlib.md5(b"fc_slot_0,fc_slot_1").hexdigest(): 2}
    _assert_dict(new.lookup({"fc_slot_0": _ids(4), "fc_slot_1": _ids(5)}), {"fc_slot_0": [[4]], "fc_slot_1": [[5]]})


def test_merged_over_multi_hash_table():
    table = MergedMultiTypeHashTable({"s1": _config(2), "s2": _config(2)}, MultiHashTable.from_configs)
    table.apply_gradients({"s1": (_ids(1), _vals([1, 2])), "s2": (_ids(2), _vals([3, 4]))}, global_step=0)
    _assert_dict(table.lookup({"s2": _ids(2), "s1": _ids(1)}), {"s2": [[-3, -4]], "s1": [[-1, -2]]})


# -- bad input ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two():
    return MultiHashTable.from_configs({"slot0": _config(1), "slot1": _config(2)})


def test_unknown_table_names_are_named(two):
    with pytest.raises(ValueError, match=r"slot_to_id keys must be table names .*got 'nope'"):
        two.lookup({"nope": _ids(1)})
    with pytest.raises(ValueError, match=r"slot_to_id_and_value keys must be table names .*got 'nope'"):
        two.assign({"slot0": (_ids(1), _vals([1])), "nope": (_ids(1), _vals([1]))})
    assert not two["slot0"].contains(_ids(1))[0]  # validated before any write
    with pytest.raises(ValueError, match=r"slot_to_id_and_grad keys must be table names"):
        two.apply_gradients({"nope": (_ids(1), _vals([1]))}, 0)
    with pytest.raises(ValueError, match=r"slot_to_id keys must be table names"):
        MergedMultiTypeHashTable({"a": _config(1)}).lookup({"b": _ids(1)})
    with pytest.raises(ValueError, match=r"slot_to_id must have one id array per table \(2\), got 1"):
        two.lookup([_ids(1)])


def test_bad_values_and_grads_are_named(two):
    shape = r"slot_to_id_and_grad\['slot1'\]\[1\] must have shape \(2, 2\), got shape \(2, 3\)"
    with pytest.raises(ValueError, match=shape):
        two.apply_gradients({"slot1": (_ids(1, 2), np.zeros((2, 3), np.float32))}, 0)
    with pytest.raises(TypeError, match=r"slot_to_id_and_value\['slot0'\]\[1\] must be float32, got float64"):
        two.assign_add({"slot0": (_ids(1), np.zeros((1, 1)))})
    with pytest.raises(ValueError, match=r"slot_to_id_and_value\['slot0'\]\[0\] must be 1-D"):
        two.assign({"slot0": (np.zeros((1, 1), np.int64), _vals([1]))})
    with pytest.raises(TypeError, match=r"slot_to_id_and_value\['slot0'\] must be an \(ids, values\) pair"):
        two.assign({"slot0": _ids(1)})
    with pytest.raises(ValueError, match=r"slot_to_id_and_grad\['a'\]\[1\] must have shape \(1, 1\)"):
        MergedMultiTypeHashTable({"a": _config(1)}).apply_gradients({"a": (_ids(1), _vals([1, 2]))}, 0)
    with pytest.raises(ValueError, match="global_step must be >= 0, got -1"):
        two.apply_gradients({"slot0": (_ids(1), _vals([1]))}, -1)


def test_bad_fused_layouts_are_named(two):
    ids = _ids(1, 2, 3)
    with pytest.raises(ValueError, match=r"fused_slot_size must have shape \(4\), got shape \(2,\)"):
        two.fused_lookup(ids, [1, 2], 2)
    with pytest.raises(ValueError, match=r"fused_slot_size must sum to len\(ids\) = 3, got 4"):
        two.fused_lookup(ids, [2, 2], 1)
    with pytest.raises(ValueError, match="fused_slot_size must be >= 0, got -1"):
        two.fused_lookup(ids, [4, -1], 1)
    with pytest.raises(ValueError, match="num_of_shards must be >= 1, got 0"):
        two.fused_lookup(ids, [], 0)
    _, _, id_offsets, emb_offsets, indices = two.fused_lookup(ids, [1, 2], 1)
    grads = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match=r"id_offsets must be \[0, 1, 3\] \(from fused_slot_size\), got \[0, 2, 3\]"):
        two.fused_apply_gradient(ids, indices, [1, 2], grads, [0, 2, 3], emb_offsets, 0, 0, 1)
    with pytest.raises(ValueError, match=r"grad_offsets must be \[0, 1, 5\]"):
        two.fused_apply_gradient(ids, indices, [1, 2], grads, id_offsets, [0, 1, 3], 0, 0, 1)
    with pytest.raises(ValueError, match=r"id_grads must have shape \(5\), got shape \(4,\)"):
        two.fused_apply_gradient(ids, indices, [1, 2], grads[:4], id_offsets, emb_offsets, 0, 0, 1)
    with pytest.raises(ValueError, match=r"indices must have shape \(3\), got shape \(2,\)"):
        two.fused_apply_gradient(ids, indices[:2], [1, 2], grads, id_offsets, emb_offsets, 0, 0, 1)
    assert len(two["slot0"]) == 0 and len(two["slot1"]) == 0


def test_bad_construction_is_named():
    with pytest.raises(ValueError, match=r"names must be unique, got 'a' twice"):
        MultiHashTable(["a", "a"], [_config(1), _config(1)])
    with pytest.raises(ValueError, match=r"names must be non-empty strings usable as file names .*got 'x/y'"):
        MultiHashTable(["x/y"], [_config(1)])
    with pytest.raises(ValueError, match=r"configs must have one config per name \(2\), got 1"):
        MultiHashTable(["a", "b"], [_config(1)])
    with pytest.raises(TypeError, match=r"configs\['a'\] must be a HashTableConfigInstance or EmbeddingHashTableConf"):
        MultiHashTable(["a"], [[(1, None, None)]])
    with pytest.raises(ValueError, match="saver_parallel must be -1 or >= 1, got 0"):
        MultiHashTable(["a"], [_config(1)], saver_parallel=0)
    with pytest.raises(TypeError, match=r"slot_to_config\['a'\] must be a HashTableConfigInstance"):
        MergedMultiTypeHashTable({"a": _proto(1)})
    with pytest.raises(TypeError, match="table_proto must be a MultiEmbeddingHashTableConfig"):
        MultiHashTable.from_proto(_proto(1))


def test_restore_validates_every_table_before_changing_any(tmp_path):
    from monolith_np.proto import EmbeddingHashTableConfig
    from monolith_np.table import EmbeddingHashTable, MultiHashTable

    def cfg(dim):
        c = EmbeddingHashTableConfig()
        seg = c.entry_config.segments.add()
        seg.dim_size = dim
        seg.init_config.zeros.SetInParent()
        seg.opt_config.sgd.SetInParent()
        return c

    saved = MultiHashTable(["a", "b"], [cfg(1), cfg(1)])
    saved.assign({"a": (np.array([1]), np.ones((1, 1), np.float32)),
                  "b": (np.array([2]), np.ones((1, 1), np.float32))})
    saved.save(tmp_path)
    shard = next(tmp_path.glob("b.save-*")) / "b-00000-of-00001"
    shard.write_bytes(shard.read_bytes()[:-3])
    target = MultiHashTable(["a", "b"], [cfg(1), cfg(1)])
    with pytest.raises(ValueError, match="b-00000-of-00001"):
        target.restore(tmp_path)
    assert target["a"].size == 0 and target["b"].size == 0
    assert EmbeddingHashTable.has_checkpoint(tmp_path / "a") and not EmbeddingHashTable.has_checkpoint(tmp_path / "c")
