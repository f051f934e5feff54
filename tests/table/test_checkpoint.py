"""Checkpoint records and files (monolith_np.table.checkpoint): SEMANTICS E.1, E.2 (save/restore ops)."""

import os

import google_crc32c
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np import optim
from monolith_np.entry import ZerosInitializer
from monolith_np.entry import SegmentedEntry
from monolith_np.optim import registry
from monolith_np.proto import EntryDump
from monolith_np.table.checkpoint import (
    decode_entry_dumps,
    encode_entry_dumps,
    load_entries,
    read_records,
    save_entries,
    sharded_file_name,
    write_records,
)

_BASES = [row.cls for row in registry.rows()]  # every table optimizer, from the one registry
_WRAPPERS = [optim.StochasticRoundingFloat16OptimizerWrapper, optim.DcOptimizerWrapper]
_INT64 = np.iinfo(np.int64)


def _adagrad_entry(dim=2):
    return SegmentedEntry([(dim, ZerosInitializer(), optim.AdagradOptimizer())])


@st.composite
def segment_configs(draw):
    segments = []
    for _ in range(draw(st.integers(1, 3))):
        base = draw(st.sampled_from(_BASES))
        dim = 1 if base is optim.BatchSoftmaxOptimizer else draw(st.integers(1, 8))
        opt = base()
        wrapper = draw(st.sampled_from([None, *_WRAPPERS]))
        if wrapper is not None:
            opt = wrapper(opt)
        segments.append((dim, ZerosInitializer(), opt))
    return SegmentedEntry(segments)


def _floats(shape):
    return hnp.arrays(np.float32, shape, elements=st.floats(width=32, allow_nan=True, allow_infinity=True))


@st.composite
def tables(draw, quiet_nan=False):
    """An entry and n rows of ids, params, random state and timestamps."""
    entry = draw(segment_configs())
    n = draw(st.integers(0, 20))
    special = st.sampled_from([0, -1, int(_INT64.min), int(_INT64.max)])
    ids = np.array(draw(st.lists(st.one_of(special, st.integers(int(_INT64.min), int(_INT64.max))),
                                 min_size=n, max_size=n)), dtype=np.int64)
    bits = st.one_of(st.sampled_from([0, 2**32 - 1]), st.integers(0, 2**32 - 1))
    timestamps = np.array(draw(st.lists(bits, min_size=n, max_size=n)), dtype=np.uint32)
    params = draw(_floats((n, entry.dim)))
    state = entry.init_state(n)
    for seg in state:
        for name, arr in seg.items():
            if arr.dtype == np.int64:
                arr[...] = draw(hnp.arrays(np.int64, arr.shape, elements=st.one_of(special, st.integers(-5, 5))))
            else:
                arr[...] = draw(_floats(arr.shape))
    if quiet_nan:  # the protobuf path turns signalling NaNs into quiet ones
        for arr in [params] + [a for seg in state for a in seg.values() if a.dtype == np.float32]:
            u = arr.view(np.uint32)
            u[np.isnan(arr)] |= np.uint32(0x00400000)
    return entry, ids, params, state, timestamps


def _messages(entry, ids, params, state, timestamps):
    dumps = entry.dump(params, state)
    for d, i, t in zip(dumps, ids.tolist(), timestamps.tolist()):
        d.id = i
        d.last_update_ts_sec = t
    return dumps


def _records(buffer, offsets):
    return [buffer[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])]


def _bits(x):
    x = np.asarray(x)
    return x.view(np.uint32) if x.dtype == np.float32 else x


def _assert_same_rows(got, entry, ids, params, state, timestamps):
    np.testing.assert_array_equal(got.ids, ids)
    np.testing.assert_array_equal(_bits(got.params), _bits(params))
    np.testing.assert_array_equal(got.timestamps, timestamps)
    np.testing.assert_array_equal(got.num_values, np.full(ids.size, entry.dim))
    for opt, want, have in zip(entry.optimizers, state, got.state):
        assert set(have) == set(want)
        for name in want:
            if name == "latest":  # DcOptimizerWrapper's snapshot is not part of a dump
                np.testing.assert_array_equal(have[name], opt.init_state(ids.size, want[name].shape[1])[name])
            else:
                assert have[name].dtype == want[name].dtype and have[name].shape == want[name].shape
                np.testing.assert_array_equal(_bits(have[name]), _bits(want[name]))


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@pytest.mark.slow
@given(tables(quiet_nan=True))
def test_encode_matches_protobuf_bytes(table):
    buffer, offsets = encode_entry_dumps(*table)
    assert offsets.dtype == np.int64 and offsets.shape == (table[1].size + 1,) and offsets[0] == 0
    assert _records(buffer, offsets) == [d.SerializeToString() for d in _messages(*table)]


@pytest.mark.slow
@given(tables())
def test_round_trip_is_bit_exact(table):
    buffer, offsets = encode_entry_dumps(*table)
    _assert_same_rows(decode_entry_dumps(table[0], buffer, offsets), *table)


@pytest.mark.slow
@given(tables(quiet_nan=True))
def test_decode_reads_protobuf_and_packed_encodings(table):
    entry, ids, params, state, timestamps = table
    records = []
    for d in _messages(*table):
        # Fields out of order, num packed, the optimizer records in one opt occurrence each.
        nums = np.asarray(d.num, np.float32).tobytes()
        record = EntryDump(last_update_ts_sec=d.last_update_ts_sec).SerializeToString()
        record += b"\x12" + _varint(len(nums)) + nums
        for single in d.opt.dump:
            record += EntryDump(opt={"dump": [single]}).SerializeToString()
        record += EntryDump(id=d.id).SerializeToString()
        records.append(record)
    buffer = np.frombuffer(b"".join(records), np.uint8)
    offsets = np.cumsum([0] + [len(r) for r in records]).astype(np.int64)
    _assert_same_rows(decode_entry_dumps(entry, buffer, offsets), *table)


def _varint(v):
    out = bytearray()
    while v >= 128:
        out.append(v & 127 | 128)
        v >>= 7
    out.append(v)
    return bytes(out)


def _decode_one(entry, record):
    return decode_entry_dumps(entry, np.frombuffer(record, np.uint8), np.array([0, len(record)], np.int64))


def test_golden_sgd_entry_matches_monolith_text():
    # SEMANTICS G.4: the sgd d=1 entry for -10 is `num: 1, opt { dump { sgd {} } }, last_update_ts_sec: 0`.
    entry = SegmentedEntry([(1, ZerosInitializer(), optim.SgdOptimizer())])
    buffer, offsets = encode_entry_dumps(entry, np.array([-10]), np.ones((1, 1), np.float32), entry.init_state(1),
                                         np.zeros(1, np.uint32))
    d = EntryDump.FromString(buffer.tobytes())
    assert (d.id, list(d.num), d.last_update_ts_sec) == (-10, [1.0], 0)
    assert d.HasField("last_update_ts_sec") and d.opt.dump[0].WhichOneof("type") == "sgd"


def test_moving_average_writes_an_empty_opt():
    entry = SegmentedEntry([(2, ZerosInitializer(), optim.MovingAverageOptimizer())])
    buffer, _ = encode_entry_dumps(entry, np.array([3]), np.zeros((1, 2), np.float32), entry.init_state(1),
                                   np.array([5], np.uint32))
    d = EntryDump.FromString(buffer.tobytes())
    assert d.HasField("opt") and len(d.opt.dump) == 0


def test_fewer_values_than_dim_are_leading_values_with_a_count():
    entry = _adagrad_entry(3)
    d = _messages(entry, np.array([4]), np.ones((1, 3), np.float32), entry.init_state(1), np.array([9], np.uint32))[0]
    del d.num[1:]
    got = _decode_one(entry, d.SerializeToString())
    assert got.num_values.tolist() == [1] and got.params.tolist() == [[1.0, 0.0, 0.0]]


def test_absent_id_and_timestamp_read_as_zero_and_timestamps_wrap():
    entry = SegmentedEntry([(1, ZerosInitializer(), optim.MovingAverageOptimizer())])
    got = _decode_one(entry, EntryDump(num=[2.0]).SerializeToString())
    assert (got.ids.tolist(), got.timestamps.tolist()) == ([0], [0])
    got = _decode_one(entry, EntryDump(last_update_ts_sec=2**32 + 7).SerializeToString())
    assert got.timestamps.tolist() == [7]


def test_dynamic_wd_adagrad_last_update_step_is_read_and_dropped():
    entry = SegmentedEntry([(1, ZerosInitializer(), optim.DynamicWdAdagradOptimizer())])
    d = _messages(entry, np.array([1]), np.zeros((1, 1), np.float32), entry.init_state(1), np.zeros(1, np.uint32))[0]
    d.opt.dump[0].dynamic_wd_adagrad.last_update_step = -3
    assert _decode_one(entry, d.SerializeToString()).ids.tolist() == [1]


def _bad_records():
    entry = SegmentedEntry([(2, ZerosInitializer(), optim.AdamOptimizer()),
                            (1, ZerosInitializer(), optim.SgdOptimizer())])
    good = _messages(entry, np.array([1]), np.ones((1, 3), np.float32), entry.init_state(1),
                     np.ones(1, np.uint32))[0]

    def edit(fn):
        d = EntryDump()
        d.CopyFrom(good)
        fn(d)
        return d.SerializeToString()

    ok = good.SerializeToString()
    return entry, {
        "unknown field 5": ok + b"\x28\x01",
        "wire type 0": b"\x08\x01" + ok,
        "varint cut off": ok + b"\x20\x80",
        "longer than 10 bytes": ok + b"\x20" + b"\xff" * 10 + b"\x01",
        "running past the end": ok + b"\x1a\x05\x0a",
        "more values (4)": edit(lambda d: d.num.append(1.0)),
        "more values": ok + b"\x12\x04\x00\x00\x00\x00",
        "not a multiple of 4": ok + b"\x12\x03\x00\x00\x00",
        "1 optimizer records instead of 2": edit(lambda d: d.opt.dump.pop()),
        "more than 2 optimizer records": edit(lambda d: d.opt.dump.add().sgd.SetInParent()),
        "holding adagrad (1) instead of adam": edit(lambda d: d.opt.dump[0].adagrad.norm.append(1.0)),
        "holding no optimizer instead of sgd": edit(lambda d: d.opt.dump[1].Clear()),
        "m (1) of optimizer record 0 (adam) with 1 values": edit(lambda d: d.opt.dump[0].adam.m.pop()),
        "more values (3) than it holds": edit(lambda d: d.opt.dump[0].adam.m.append(1.0)),
        "unknown field 9": edit(lambda d: d.opt.dump[0].adam.MergeFromString(b"\x48\x01")),
        "beta1_power (3) of optimizer record 0 (adam) with wire type 0":
            edit(lambda d: d.opt.dump[0].adam.MergeFromString(b"\x18\x01")),
    }


@pytest.mark.parametrize("what", list(_bad_records()[1]))
def test_decode_rejects_bad_records_naming_record_and_problem(what):
    entry, bad = _bad_records()
    good = bad["unknown field 5"][:-2]
    record = bad[what]
    buffer = np.frombuffer(good + record, np.uint8)
    with pytest.raises(ValueError, match=r"record 1 must be an EntryDump of .*got .*") as info:
        decode_entry_dumps(entry, buffer, np.array([0, len(good), buffer.size], np.int64))
    assert what in str(info.value) and "at byte" in str(info.value)


def _adagrad_record():
    entry = _adagrad_entry(3)
    record = _messages(entry, np.array([-1]), np.ones((1, 3), np.float32), entry.init_state(1),
                       np.array([2**32 - 1], np.uint32))[0].SerializeToString()
    return entry, record


@pytest.mark.parametrize("cut", range(1, 45))
def test_decode_rejects_every_truncation_inside_a_record(cut):
    entry, record = _adagrad_record()
    with pytest.raises(ValueError, match="record 0 must be an EntryDump"):
        _decode_one(entry, record[:cut])


def test_a_record_cut_before_its_timestamp_is_valid_protobuf():
    # The last field is optional, so only the file's CRC can tell this cut apart.
    entry, record = _adagrad_record()
    assert len(record) == 51 and record[45] == 0x20
    assert _decode_one(entry, record[:45]).timestamps.tolist() == [0]


def test_encode_and_decode_validate_arguments():
    entry = _adagrad_entry()
    params, state = entry.init_rows(2)
    ids, ts = np.arange(2), np.zeros(2, np.uint32)
    with pytest.raises(TypeError, match="entry must be a SegmentedEntry"):
        encode_entry_dumps(object(), ids, params, state, ts)
    with pytest.raises(TypeError, match="ids must be int64 or uint64"):
        encode_entry_dumps(entry, ids.astype(np.int32), params, state, ts)
    with pytest.raises(ValueError, match=r"params must have shape \(2, 2\)"):
        encode_entry_dumps(entry, ids, params[:1], state, ts)
    with pytest.raises(TypeError, match="timestamps must be uint32"):
        encode_entry_dumps(entry, ids, params, state, ts.astype(np.int64))
    with pytest.raises(ValueError, match=r"state\[0\] must be a dict with the keys \['norm'\]"):
        encode_entry_dumps(entry, ids, params, [{}], ts)
    with pytest.raises(ValueError, match="state must be a list of 1 dicts"):
        encode_entry_dumps(entry, ids, params, state * 2, ts)
    buffer, offsets = encode_entry_dumps(entry, ids.astype(np.uint64), params, state, ts)
    with pytest.raises(ValueError, match="offsets must be non-decreasing"):
        decode_entry_dumps(entry, buffer, offsets[::-1].copy())
    with pytest.raises(ValueError, match="offsets must have at least one entry"):
        decode_entry_dumps(entry, buffer, offsets[:0])


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def _small_file(tmp_path, n=3):
    entry = _adagrad_entry()
    params, state = entry.init_rows(n)
    params[:] = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    path = tmp_path / "table-00000-of-00001"
    save_entries(path, entry, np.arange(n) - 1, params, state, np.full(n, 77, np.uint32))
    return entry, path


def test_write_records_frames_records_as_tfrecord(tmp_path):
    buffer = np.frombuffer(b"abcdefghij", np.uint8)
    offsets = np.array([0, 3, 3, 10], np.int64)
    path = tmp_path / "x"
    write_records(path, buffer, offsets)
    data = path.read_bytes()

    def masked(b):
        crc = google_crc32c.value(b)
        return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

    want = b""
    for rec in (b"abc", b"", b"defghij"):
        length = len(rec).to_bytes(8, "little")
        want += length + masked(length).to_bytes(4, "little") + rec + masked(rec).to_bytes(4, "little")
    assert data == want
    got_buffer, got_offsets = read_records(path)
    assert got_buffer.tobytes() == b"abcdefghij" and got_offsets.tolist() == [0, 3, 3, 10]
    assert os.listdir(tmp_path) == ["x"]


def test_empty_file_has_no_records(tmp_path):
    path = tmp_path / "empty"
    write_records(path, np.zeros(0, np.uint8), np.zeros(1, np.int64))
    assert path.read_bytes() == b""
    buffer, offsets = read_records(path)
    assert buffer.size == 0 and offsets.tolist() == [0]


def test_save_load_round_trip_and_sharded_names(tmp_path):
    entry, path = _small_file(tmp_path)
    assert sharded_file_name(tmp_path / "table", 0, 1) == str(path)
    got = load_entries(path, entry)
    assert got.ids.tolist() == [-1, 0, 1] and got.params.tolist() == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="shard must be <= 1"):
        sharded_file_name("t", 2, 2)


@pytest.mark.parametrize("mode", ["truncate", "flip"])
def test_every_damaged_byte_is_detected(tmp_path, mode):
    entry, path = _small_file(tmp_path)
    data = path.read_bytes()
    boundaries = (read_records(path)[1] + 16 * np.arange(4)).tolist()
    damaged = tmp_path / "damaged"
    for k in range(len(data)):
        if mode == "truncate":
            damaged.write_bytes(data[:k])
        else:
            damaged.write_bytes(data[:k] + bytes([data[k] ^ 0x10]) + data[k + 1:])
        if mode == "truncate" and k in boundaries:
            # A cut between records leaves a valid, shorter file: only the expected count catches it.
            assert read_records(damaged)[1].size == boundaries.index(k) + 1
            with pytest.raises(ValueError, match=f"damaged must hold 3 records, got {boundaries.index(k)}"):
                load_entries(damaged, entry, num_records=3)
            continue
        with pytest.raises(ValueError, match=r"damaged must be a complete TFRecord file, got .* in record \d+ "
                                             r"at byte \d+"):
            load_entries(damaged, entry, num_records=3)


def test_trailing_garbage_and_foreign_files_are_rejected(tmp_path):
    entry, path = _small_file(tmp_path)
    data = path.read_bytes()
    other = tmp_path / "other"
    other.write_bytes(data + b"\x00" * 5)
    with pytest.raises(ValueError, match=r"record header cut off .* in record 3 at byte"):
        read_records(other)
    other.write_bytes(data + b"junk" * 10)
    with pytest.raises(ValueError, match="length whose CRC does not match .* in record 3"):
        read_records(other)
    other.write_bytes(b"this is a text file, not records\n" * 3)
    with pytest.raises(ValueError, match="in record 0 at byte 0"):
        read_records(other)


def test_write_is_atomic_and_cleans_up(tmp_path, monkeypatch):
    entry, path = _small_file(tmp_path)
    before = path.read_bytes()

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        write_records(path, np.frombuffer(b"new", np.uint8), np.array([0, 3], np.int64))
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]


def test_foreign_protos_in_a_tfrecord_are_rejected_by_the_decoder(tmp_path):
    entry = _adagrad_entry()
    path = tmp_path / "config"
    record = entry.as_proto().SerializeToString()
    write_records(path, np.frombuffer(record, np.uint8), np.array([0, len(record)], np.int64))
    with pytest.raises(ValueError, match=r"config: record 0 must be an EntryDump of"):
        load_entries(path, entry)


# ---------------------------------------------------------------------------
# TensorFlow interoperability
# ---------------------------------------------------------------------------


@pytest.mark.tf
def test_tensorflow_reads_our_files_and_we_read_its(tmp_path):
    tf = pytest.importorskip("tensorflow")
    entry = SegmentedEntry([(3, ZerosInitializer(), optim.AdamOptimizer()),
                            (1, ZerosInitializer(), optim.BatchSoftmaxOptimizer())])
    n = 50
    rng = np.random.default_rng(0)
    params = rng.standard_normal((n, 4)).astype(np.float32)
    state = entry.init_state(n)
    state[0]["m"][:] = rng.standard_normal((n, 3))
    state[1]["global_step"][:] = rng.integers(-10**12, 10**12, n)
    ids = rng.integers(_INT64.min, _INT64.max, n, dtype=np.int64)
    ts = rng.integers(0, 2**32, n, dtype=np.uint32)
    ours = tmp_path / "ours"
    save_entries(ours, entry, ids, params, state, ts)
    messages = _messages(entry, ids, params, state, ts)
    got = [EntryDump.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(ours))]
    assert got == messages
    theirs = tmp_path / "theirs"
    with tf.io.TFRecordWriter(str(theirs)) as writer:
        for d in messages:
            writer.write(d.SerializeToString())
    assert theirs.read_bytes() == ours.read_bytes()
    _assert_same_rows(load_entries(theirs, entry), entry, ids, params, state, ts)
