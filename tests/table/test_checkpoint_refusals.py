"""What ``restore`` must refuse, each with a clear error and the live table unchanged.

Mixed saves, shards of another table, a manifest cut at every byte, names that
leave the checkpoint directory, FIFOs, links and device files in a shard's
place, absurd lengths: ``ValueError`` (or ``FileNotFoundError``) naming the
file, and the table's entries, values, state and timestamps as they were.
"""

from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pytest

from monolith_np.entry import RandomUniformInitializer, ZerosInitializer
from monolith_np.optim import AdagradOptimizer, SgdOptimizer
from monolith_np.proto import MultiHashTableMetadata
from monolith_np.table import EmbeddingHashTable
from monolith_np.table import _commit
from monolith_np.table._wire import frame_records
from monolith_np.table.checkpoint import write_records


def _segments():
    return [(2, RandomUniformInitializer(seed=1), AdagradOptimizer(initial_accumulator_value=0.1)),
            (1, ZerosInitializer(), SgdOptimizer(learning_rate=0.5))]


def _table(v, n=20):
    table = EmbeddingHashTable(_segments())
    ids = np.arange(n, dtype=np.int64) * 13 + v
    table.assign(ids, np.full((n, 3), v, np.float32), update_time=v)
    table.apply_gradients(ids[::2], np.ones((ids[::2].size, 3), np.float32), update_time=v)
    return table


def _snapshot(table):
    ids, values, state, ts = table.export()
    return ids.tobytes(), values.tobytes(), [{k: a.tobytes() for k, a in st.items()} for st in state], ts.tobytes()


def _refused(path, match, error=ValueError):
    """Restore ``path`` into a live table: it must raise ``error`` matching ``match`` and change nothing."""
    live = _table(9, n=5)
    before = _snapshot(live)
    with pytest.raises(error, match=match):
        live.restore(path)
    assert _snapshot(live) == before
    return live


def _write_manifest(path, manifest):
    record = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    data = frame_records(record, np.array([0, record.size], np.int64))
    with open(path + "-manifest", "wb") as f:
        f.write(data.tobytes())


@pytest.fixture
def saved(tmp_path):
    path = str(tmp_path / "emb")
    _table(1).save(path, 2)
    return path, _commit.read_manifest(path)


def _shard_file(path, manifest, k=0):
    return os.path.join(os.path.dirname(path), manifest["directory"], manifest["shards"][k]["name"])


def test_a_shard_of_another_save_of_the_same_table_is_refused(tmp_path, saved):
    path, manifest = saved
    other = str(tmp_path / "other" / "emb")
    os.makedirs(os.path.dirname(other))
    _table(2).save(other, 2)  # same table layout and record count, another save
    shutil.copy(_shard_file(other, _commit.read_manifest(other), 1), _shard_file(path, manifest, 1))
    _refused(path, "must be the shard the manifest names")


def test_a_shard_of_another_table_with_the_same_record_count_is_refused(tmp_path, saved):
    path, manifest = saved
    other = str(tmp_path / "other" / "emb")
    os.makedirs(os.path.dirname(other))
    table = EmbeddingHashTable(_segments())
    table.assign(np.arange(20, dtype=np.int64) + 1000, np.zeros((20, 3), np.float32))
    table.save(other, 2)
    shutil.copy(_shard_file(other, _commit.read_manifest(other), 0), _shard_file(path, manifest, 0))
    _refused(path, "another save or table")


def test_a_manifest_cut_at_any_byte_is_refused(saved):
    path, _ = saved
    data = open(path + "-manifest", "rb").read()
    for cut in range(len(data)):
        with open(path + "-manifest", "wb") as f:
            f.write(data[:cut])
        _refused(path, "TFRecord|must hold 1 records")


def test_every_flipped_byte_of_the_manifest_is_refused(saved):
    path, _ = saved
    data = bytearray(open(path + "-manifest", "rb").read())
    for at in range(0, len(data), max(1, len(data) // 97)):
        damaged = bytearray(data)
        damaged[at] ^= 0x40
        with open(path + "-manifest", "wb") as f:
            f.write(bytes(damaged))
        _refused(path, "TFRecord|CRC|must hold")


@pytest.mark.parametrize("field,value", [
    ("directory", "../elsewhere"), ("directory", "/etc"), ("directory", "emb.save-0000000000000000"),
    ("shard", "../../etc/passwd"), ("shard", "/etc/passwd"), ("shard", ".."), ("shard", "a/b"),
])
def test_names_that_leave_the_checkpoint_are_refused(saved, field, value):
    path, manifest = saved
    if field == "directory":
        manifest["directory"] = value
    else:
        manifest["shards"][0]["name"] = value
    _write_manifest(path, manifest)
    _refused(path, "plain file name|another save or table")


@pytest.mark.parametrize("key,value", [("bytes", 2**62), ("bytes", -1), ("entries", 2**62), ("entries", "7"),
                                       ("sha256", "0" * 63), ("extra", 1)])
def test_absurd_or_malformed_shard_fields_are_refused(saved, key, value):
    path, manifest = saved
    manifest["shards"][0][key] = value
    if key == "entries" and isinstance(value, int):
        manifest["entries"] = sum(s["entries"] for s in manifest["shards"])
    _write_manifest(path, manifest)
    _refused(path, "must be|checkpoint manifest|must hold")


def test_a_manifest_whose_total_disagrees_with_its_shards_is_refused(saved):
    path, manifest = saved
    manifest["entries"] += 1
    _write_manifest(path, manifest)
    _refused(path, "entries")


def test_a_fifo_in_a_shards_place_is_refused_without_hanging(saved):
    path, manifest = saved
    shard = _shard_file(path, manifest)
    os.unlink(shard)
    os.mkfifo(shard)
    done = []
    worker = threading.Thread(target=lambda: done.append(_refused(path, "regular file, got a FIFO")))
    worker.start()
    worker.join(timeout=60)
    assert done, "restore hung on a FIFO"


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/hostname"])
def test_a_link_in_a_shards_place_is_refused(saved, target):
    path, manifest = saved
    shard = _shard_file(path, manifest)
    os.unlink(shard)
    os.symlink(target, shard)
    _refused(path, "symbolic link")


def test_a_directory_in_a_shards_place_is_refused(saved):
    path, manifest = saved
    shard = _shard_file(path, manifest)
    os.unlink(shard)
    os.mkdir(shard)
    _refused(path, "regular file, got a directory")


def test_a_missing_shard_or_save_directory_is_refused(saved):
    path, manifest = saved
    os.unlink(_shard_file(path, manifest, 1))
    _refused(path, "No such file", FileNotFoundError)
    shutil.rmtree(os.path.join(os.path.dirname(path), manifest["directory"]))
    _refused(path, "No such file", FileNotFoundError)


def test_flat_layout_meta_names_must_stay_in_the_directory(tmp_path):
    path = str(tmp_path / "emb")
    record = MultiHashTableMetadata(table_name="../outside-00000-of-00001", num_entries=1).SerializeToString()
    write_records(path + "-meta", np.frombuffer(record, np.uint8), np.array([0, len(record)], np.int64))
    _refused(path, "plain file name")


def test_flat_layout_meta_that_is_not_metadata_is_refused(tmp_path):
    path = str(tmp_path / "emb")
    record = b"\xff\xff\xff"
    write_records(path + "-meta", np.frombuffer(record, np.uint8), np.array([0, len(record)], np.int64))
    _refused(path, "MultiHashTableMetadata")


def test_a_fifo_as_the_manifest_is_refused(tmp_path):
    path = str(tmp_path / "emb")
    os.mkfifo(path + "-manifest")
    _refused(path, "regular file, got a FIFO")
