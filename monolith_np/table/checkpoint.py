"""Embedding-table checkpoints: Monolith ``EntryDump`` records in TFRecord files.

Monolith's save op writes every entry of a hash-table shard as one serialized
``EntryDump`` (``id``, the row's floats ``num``, the optimizer state ``opt``,
``last_update_ts_sec``) in a TensorFlow record file, written under a
temporary name and renamed. This module reads and writes the same files from
dense arrays, fast enough for tables of millions of rows:

* :func:`encode_entry_dumps` / :func:`decode_entry_dumps` turn the rows of a
  :class:`~monolith_np.optim.SegmentedEntry` table into serialized
  ``EntryDump`` records and back (Numba kernels, two passes, ``prange`` over
  rows). The bytes equal ``SerializeToString()`` of the message that
  :meth:`SegmentedEntry.dump <monolith_np.optim.SegmentedEntry.dump>` builds,
  with ``id`` and ``last_update_ts_sec`` set.
* :func:`write_records` / :func:`read_records` add and check TFRecord framing
  (CRC-32C of every length and every record).
* :func:`save_entries` / :func:`load_entries` do both;
  :func:`sharded_file_name` names shard files as Monolith does.

Field numbers and wire types come from the protobuf descriptors of
:mod:`monolith_np.proto`, and which optimizer records and fields a row writes
from the optimizers' own ``dump_state`` on a fresh row, so the fast path
cannot drift from the message path. See ``docs/checkpoints.md``.

>>> import numpy as np, tempfile, os
>>> from monolith_np.entry import ZerosInitializer
>>> from monolith_np.optim import AdagradOptimizer, SegmentedEntry
>>> entry = SegmentedEntry([(2, ZerosInitializer(), AdagradOptimizer())])
>>> params, state = entry.init_rows(3)
>>> ids = np.array([7, -1, 0], np.int64)
>>> path = os.path.join(tempfile.mkdtemp(), "table-00000-of-00001")
>>> save_entries(path, entry, ids, params, state, np.full(3, 100, np.uint32))
>>> loaded = load_entries(path, entry)
>>> loaded.ids.tolist(), loaded.timestamps.tolist(), loaded.state[0]["norm"][0].tolist()
([7, -1, 0], [100, 100, 100], [0.10000000149011612, 0.10000000149011612])
"""

from __future__ import annotations

import os
import secrets
from typing import NamedTuple

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from numba import prange

from .._checks import check_array, check_number
from .._compile import cpu_jit, jitable, run_cpu
from ..optim.segments import SegmentedEntry
from ..proto import EntryDump, OptimizerDump, SingleOptimizerDump

__all__ = [
    "DecodedEntries",
    "encode_entry_dumps",
    "decode_entry_dumps",
    "write_records",
    "read_records",
    "save_entries",
    "load_entries",
    "sharded_file_name",
]

# Protobuf wire types.
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# Optimizer-dump field kinds (``_Schema.fld_type``).
_REPEATED_FLOAT, _FLOAT, _INT64 = 0, 1, 2
_FIELD_KINDS = {
    (FieldDescriptor.TYPE_FLOAT, True): _REPEATED_FLOAT,
    (FieldDescriptor.TYPE_FLOAT, False): _FLOAT,
    (FieldDescriptor.TYPE_INT64, False): _INT64,
}

# Positions in ``_Schema.top``.
_ID, _NUM, _OPT, _TS, _DUMP = 0, 1, 2, 3, 4

# Decoder error codes (column 0 of the error array) and message levels (column 4).
(_E_VARINT_CUT, _E_VARINT_LONG, _E_FIELD, _E_WIRE, _E_PAST_END, _E_TOO_MANY, _E_PACKED, _E_RECORDS, _E_KIND,
 _E_COUNT) = range(1, 11)
_AT_ENTRY, _AT_OPT, _AT_SINGLE, _AT_MEMBER = range(4)

# TFRecord framing: ``uint64 length, uint32 masked crc(length), data, uint32 masked crc(data)``.
_HEADER, _FOOTER = 12, 4
_F_OK, _F_HEADER_CUT, _F_LENGTH_CRC, _F_DATA_CUT = range(4)


def _crc32c_table():
    """Slicing-by-8 tables of the reflected CRC-32C (Castagnoli) polynomial."""
    byte = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        byte = np.where(byte & 1, (byte >> 1) ^ np.uint32(0x82F63B78), byte >> 1).astype(np.uint32)
    table = np.empty((8, 256), np.uint32)
    table[0] = byte
    for k in range(1, 8):
        table[k] = (table[k - 1] >> 8) ^ table[0][table[k - 1] & 0xFF]
    return table


_CRC_TABLE = _crc32c_table()


# ---------------------------------------------------------------------------
# Kernels: protobuf wire format and CRC-32C
# ---------------------------------------------------------------------------


@jitable
def _varint_size(v):
    """Bytes of the varint of the uint64 ``v``."""
    size = 1
    while v >= np.uint64(128):
        v >>= np.uint64(7)
        size += 1
    return size


@jitable
def _tag(field, wire):
    """The uint64 key of ``field`` with wire type ``wire``."""
    return np.uint64((field << 3) | wire)


@jitable
def _put_varint(out, pos, v):
    """Write the uint64 ``v`` as a varint at ``out[pos]``; return the next position."""
    while v >= np.uint64(128):
        out[pos] = np.uint8((v & np.uint64(127)) | np.uint64(128))
        v >>= np.uint64(7)
        pos += 1
    out[pos] = np.uint8(v)
    return pos + 1


@jitable
def _put_fixed(out, pos, v, nbytes):
    """Write the low ``nbytes`` bytes of ``v`` little-endian at ``out[pos]``; return the next position."""
    v = np.uint64(v)
    for k in range(nbytes):
        out[pos + k] = np.uint8((v >> np.uint64(8 * k)) & np.uint64(255))
    return pos + nbytes


@jitable
def _get_fixed(buf, pos, nbytes):
    """The little-endian unsigned integer of ``nbytes`` bytes at ``buf[pos]``, as uint64."""
    v = np.uint64(0)
    for k in range(nbytes):
        v |= np.uint64(buf[pos + k]) << np.uint64(8 * k)
    return v


@jitable
def _get_varint(buf, pos, end):
    """Read a varint from ``buf[pos:end]``: ``(value, next position)``, position -1 if cut off, -2 if too long."""
    value = np.uint64(0)
    for k in range(10):
        if pos >= end:
            return value, -1
        b = buf[pos]
        pos += 1
        value |= np.uint64(b & 127) << np.uint64(7 * k)
        if b < 128:
            return value, pos
    return value, -2


@jitable
def _crc32c(table, data, start, stop):
    """CRC-32C of ``data[start:stop]`` (slicing-by-8)."""
    crc = np.uint32(0xFFFFFFFF)
    pos = start
    while pos + 8 <= stop:
        low = crc ^ np.uint32(_get_fixed(data, pos, 4))
        crc = (table[7, low & np.uint32(255)] ^ table[6, (low >> np.uint32(8)) & np.uint32(255)]
               ^ table[5, (low >> np.uint32(16)) & np.uint32(255)] ^ table[4, low >> np.uint32(24)]
               ^ table[3, data[pos + 4]] ^ table[2, data[pos + 5]] ^ table[1, data[pos + 6]]
               ^ table[0, data[pos + 7]])
        pos += 8
    while pos < stop:
        crc = table[0, (crc ^ np.uint32(data[pos])) & np.uint32(255)] ^ (crc >> np.uint32(8))
        pos += 1
    return crc ^ np.uint32(0xFFFFFFFF)


@jitable
def _masked_crc32c(table, data, start, stop):
    """TFRecord's masked CRC-32C, ``rotate_right(crc, 15) + 0xa282ead8`` (mod 2**32), as uint64."""
    crc = np.uint64(_crc32c(table, data, start, stop))
    rotated = ((crc >> np.uint64(15)) | (crc << np.uint64(17))) & np.uint64(0xFFFFFFFF)
    return (rotated + np.uint64(0xA282EAD8)) & np.uint64(0xFFFFFFFF)


# ---------------------------------------------------------------------------
# Kernels: EntryDump encoder
# ---------------------------------------------------------------------------


@jitable
def _member_size(r, i, ibits, sch):
    """Bytes of the body of row ``i``'s optimizer record ``r`` (its ``*OptimizerDump``)."""
    rec_first, fld_num, fld_type, fld_col, fld_len = sch[2], sch[3], sch[4], sch[5], sch[6]
    size = 0
    for j in range(rec_first[r], rec_first[r + 1]):
        col = fld_col[j]
        if col < 0:
            continue
        key = _varint_size(_tag(fld_num[j], 0))
        kind = fld_type[j]
        if kind == _REPEATED_FLOAT:
            size += fld_len[j] * (key + 4)
        elif kind == _FLOAT:
            size += key + 4
        else:
            size += key + _varint_size(ibits[i, col])
    return size


@jitable
def _single_size(r, i, ibits, sch):
    """Bytes of the body of row ``i``'s ``SingleOptimizerDump`` ``r``."""
    body = _member_size(r, i, ibits, sch)
    return _varint_size(_tag(sch[1][r], _LEN)) + _varint_size(np.uint64(body)) + body


@jitable
def _opt_size(i, ibits, sch):
    """Bytes of the body of row ``i``'s ``OptimizerDump``."""
    key = _varint_size(_tag(sch[0][_DUMP], _LEN))
    size = 0
    for r in range(sch[1].size):
        single = _single_size(r, i, ibits, sch)
        size += key + _varint_size(np.uint64(single)) + single
    return size


@cpu_jit(parallel=True)
def _encode_sizes(dim, ibits, timestamps, sch, sizes):
    """Size of each row's record: thread per row, writes ``sizes[i]``."""
    top = sch[0]
    fixed = _varint_size(_tag(top[_ID], _I64)) + 8 + dim * (_varint_size(_tag(top[_NUM], _I32)) + 4)
    for i in prange(sizes.size):
        opt = _opt_size(i, ibits, sch)
        sizes[i] = (fixed + _varint_size(_tag(top[_OPT], _LEN)) + _varint_size(np.uint64(opt)) + opt
                    + _varint_size(_tag(top[_TS], _VARINT)) + _varint_size(np.uint64(timestamps[i])))


@jitable
def _write_records_of_row(out, pos, i, fbits, ibits, sch):
    """Write row ``i``'s optimizer records (the ``OptimizerDump`` body) at ``out[pos]``."""
    top, rec_kind, rec_first, fld_num, fld_type, fld_col, fld_len = sch
    for r in range(rec_kind.size):
        pos = _put_varint(out, pos, _tag(top[_DUMP], _LEN))
        pos = _put_varint(out, pos, np.uint64(_single_size(r, i, ibits, sch)))
        pos = _put_varint(out, pos, _tag(rec_kind[r], _LEN))
        pos = _put_varint(out, pos, np.uint64(_member_size(r, i, ibits, sch)))
        for j in range(rec_first[r], rec_first[r + 1]):
            col = fld_col[j]
            if col < 0:
                continue
            kind = fld_type[j]
            if kind == _INT64:
                pos = _put_varint(out, pos, _tag(fld_num[j], _VARINT))
                pos = _put_varint(out, pos, ibits[i, col])
            else:
                for c in range(col, col + fld_len[j]):
                    pos = _put_varint(out, pos, _tag(fld_num[j], _I32))
                    pos = _put_fixed(out, pos, fbits[i, c], 4)
    return pos


@cpu_jit(parallel=True)
def _encode_write(idbits, pbits, fbits, ibits, timestamps, sch, offsets, out):
    """Serialize each row's ``EntryDump`` into ``out[offsets[i]:offsets[i + 1]]``: thread per row."""
    top = sch[0]
    for i in prange(idbits.size):
        pos = _put_varint(out, offsets[i], _tag(top[_ID], _I64))
        pos = _put_fixed(out, pos, idbits[i], 8)
        for c in range(pbits.shape[1]):
            pos = _put_varint(out, pos, _tag(top[_NUM], _I32))
            pos = _put_fixed(out, pos, pbits[i, c], 4)
        pos = _put_varint(out, pos, _tag(top[_OPT], _LEN))
        pos = _put_varint(out, pos, np.uint64(_opt_size(i, ibits, sch)))
        pos = _write_records_of_row(out, pos, i, fbits, ibits, sch)
        pos = _put_varint(out, pos, _tag(top[_TS], _VARINT))
        _put_varint(out, pos, np.uint64(timestamps[i]))


# ---------------------------------------------------------------------------
# Kernels: EntryDump decoder
# ---------------------------------------------------------------------------


@jitable
def _fail(err, i, code, offset, field, value, level, record):
    """Record row ``i``'s first error (see ``_describe_error``); return -1."""
    err[i, 0] = code
    err[i, 1] = offset
    err[i, 2] = field
    err[i, 3] = value
    err[i, 4] = level
    err[i, 5] = record
    return -1


@jitable
def _read_key(buf, pos, end, err, i, base, level, record):
    """Read a field key: ``(field, wire type, next position)``; position -1 after recording an error."""
    key, nxt = _get_varint(buf, pos, end)
    if nxt < 0:
        code = _E_VARINT_CUT if nxt == -1 else _E_VARINT_LONG
        return 0, 0, _fail(err, i, code, pos - base, 0, 0, level, record)
    return np.int64(key >> np.uint64(3)), np.int64(key & np.uint64(7)), nxt


@jitable
def _read_len(buf, pos, end, err, i, base, field, level, record):
    """Read the length of a length-delimited field: ``(stop, next position)``; position -1 on error."""
    length, nxt = _get_varint(buf, pos, end)
    if nxt < 0:
        code = _E_VARINT_CUT if nxt == -1 else _E_VARINT_LONG
        return 0, _fail(err, i, code, pos - base, field, 0, level, record)
    if length > np.uint64(end - nxt):
        return 0, _fail(err, i, _E_PAST_END, pos - base, field, 0, level, record)
    return nxt + np.int64(length), nxt


@jitable
def _read_floats(buf, pos, end, wire, out, row, start, count, limit, err, i, base, field, level, record):
    """Read floats into ``out[row, start + count:]``: one (wire I32, with the values right behind it
    under the same one-byte key) or a packed run (wire LEN).

    Returns ``(new count, next position)``; position -1 after recording an
    error (wrong wire type, past the end, more than ``limit`` values; a
    negative ``start`` reads and drops the values).
    """
    stride = 4
    if wire == _I32:
        # Unpacked values come in runs, each behind the same key: take the run at once.
        stop, nxt, key = pos + 4, pos, (field << 3) | _I32
        if key < 128:
            stride = 5
            while stop + 5 <= end and buf[stop] == key:
                stop += 5
    elif wire == _LEN:
        stop, nxt = _read_len(buf, pos, end, err, i, base, field, level, record)
        if nxt < 0:
            return count, -1
        if (stop - nxt) % 4:
            return count, _fail(err, i, _E_PACKED, pos - base, field, stop - nxt, level, record)
    else:
        return count, _fail(err, i, _E_WIRE, pos - base, field, wire, level, record)
    if stop > end:
        return count, _fail(err, i, _E_PAST_END, pos - base, field, 0, level, record)
    values = (stop - nxt + stride - 4) // stride
    if start >= 0:
        if count + values > limit:
            return count, _fail(err, i, _E_TOO_MANY, pos - base, field, count + values, level, record)
        for k in range(values):
            out[row, start + count + k] = np.uint32(_get_fixed(buf, nxt + stride * k, 4))
    return count + values, stop


@jitable
def _decode_member(buf, pos, end, i, r, sch, fbits, ibits, counts, err, base):
    """Parse one ``*OptimizerDump`` (record ``r`` of row ``i``) from ``buf[pos:end]``; return ``end`` or -1."""
    rec_first, fld_num, fld_type, fld_col, fld_len = sch[2], sch[3], sch[4], sch[5], sch[6]
    while pos < end:
        field, wire, nxt = _read_key(buf, pos, end, err, i, base, _AT_MEMBER, r)
        if nxt < 0:
            return -1
        j = rec_first[r]
        while j < rec_first[r + 1] and fld_num[j] != field:
            j += 1
        if j == rec_first[r + 1]:
            return _fail(err, i, _E_FIELD, pos - base, field, wire, _AT_MEMBER, r)
        kind, col = fld_type[j], fld_col[j]
        if kind == _REPEATED_FLOAT:
            counts[i, j], nxt = _read_floats(buf, nxt, end, wire, fbits, i, col, counts[i, j], fld_len[j],
                                             err, i, base, field, _AT_MEMBER, r)
        elif kind == _FLOAT and wire == _I32:
            if nxt + 4 > end:
                return _fail(err, i, _E_PAST_END, pos - base, field, 0, _AT_MEMBER, r)
            if col >= 0:
                fbits[i, col] = np.uint32(_get_fixed(buf, nxt, 4))
            nxt += 4
        elif kind == _INT64 and wire == _VARINT:
            value, after = _get_varint(buf, nxt, end)
            if after < 0:
                code = _E_VARINT_CUT if after == -1 else _E_VARINT_LONG
                return _fail(err, i, code, nxt - base, field, 0, _AT_MEMBER, r)
            if col >= 0:
                ibits[i, col] = value
            nxt = after
        else:
            return _fail(err, i, _E_WIRE, pos - base, field, wire, _AT_MEMBER, r)
        if nxt < 0:
            return -1
        pos = nxt
    return pos


@jitable
def _decode_single(buf, pos, end, i, r, sch, fbits, ibits, counts, err, base):
    """Parse row ``i``'s ``SingleOptimizerDump`` ``r`` from ``buf[pos:end]``; return ``end`` or -1.

    Its member must be the expected optimizer (repeated occurrences merge, as
    in protobuf); every dumped per-element field must then hold exactly its
    segment's dim values.
    """
    rec_kind, rec_first, fld_col, fld_len = sch[1], sch[2], sch[5], sch[6]
    start = pos
    for j in range(rec_first[r], rec_first[r + 1]):
        counts[i, j] = 0
    seen = False
    while pos < end:
        field, wire, nxt = _read_key(buf, pos, end, err, i, base, _AT_SINGLE, r)
        if nxt < 0:
            return -1
        if field != rec_kind[r]:
            return _fail(err, i, _E_KIND, pos - base, field, 0, _AT_SINGLE, r)
        if wire != _LEN:
            return _fail(err, i, _E_WIRE, pos - base, field, wire, _AT_SINGLE, r)
        stop, nxt = _read_len(buf, nxt, end, err, i, base, field, _AT_SINGLE, r)
        if nxt < 0 or _decode_member(buf, nxt, stop, i, r, sch, fbits, ibits, counts, err, base) < 0:
            return -1
        seen = True
        pos = stop
    if not seen:
        return _fail(err, i, _E_KIND, start - base, 0, 0, _AT_SINGLE, r)
    for j in range(rec_first[r], rec_first[r + 1]):
        if sch[4][j] == _REPEATED_FLOAT and fld_col[j] >= 0 and counts[i, j] != fld_len[j]:
            return _fail(err, i, _E_COUNT, start - base, sch[3][j], counts[i, j], _AT_MEMBER, r)
    return pos


@jitable
def _decode_opt(buf, pos, end, i, record, sch, fbits, ibits, counts, err, base):
    """Parse an ``OptimizerDump`` occurrence; return the number of records so far, or -1."""
    dump_field, num_records = sch[0][_DUMP], sch[1].size
    while pos < end:
        field, wire, nxt = _read_key(buf, pos, end, err, i, base, _AT_OPT, record)
        if nxt < 0:
            return -1
        if field != dump_field:
            return _fail(err, i, _E_FIELD, pos - base, field, wire, _AT_OPT, record)
        if wire != _LEN:
            return _fail(err, i, _E_WIRE, pos - base, field, wire, _AT_OPT, record)
        if record >= num_records:
            return _fail(err, i, _E_RECORDS, pos - base, field, record + 1, _AT_OPT, record)
        stop, nxt = _read_len(buf, nxt, end, err, i, base, field, _AT_OPT, record)
        if nxt < 0 or _decode_single(buf, nxt, stop, i, record, sch, fbits, ibits, counts, err, base) < 0:
            return -1
        record += 1
        pos = stop
    return record


@jitable
def _decode_entry(buf, pos, end, i, sch, idbits, pbits, fbits, ibits, timestamps, num_values, counts, err):
    """Parse row ``i``'s ``EntryDump`` from ``buf[pos:end]`` into the output rows (errors go to ``err[i]``)."""
    top = sch[0]
    base = pos
    record = 0
    dim = pbits.shape[1]
    while pos < end:
        field, wire, nxt = _read_key(buf, pos, end, err, i, base, _AT_ENTRY, -1)
        if nxt < 0:
            return
        if field == top[_ID] and wire == _I64:
            if nxt + 8 > end:
                _fail(err, i, _E_PAST_END, pos - base, field, 0, _AT_ENTRY, -1)
                return
            idbits[i] = _get_fixed(buf, nxt, 8)
            nxt += 8
        elif field == top[_NUM]:
            num_values[i], nxt = _read_floats(buf, nxt, end, wire, pbits, i, 0, num_values[i], dim,
                                              err, i, base, field, _AT_ENTRY, -1)
        elif field == top[_OPT] and wire == _LEN:
            stop, nxt = _read_len(buf, nxt, end, err, i, base, field, _AT_ENTRY, -1)
            if nxt < 0:
                return
            record = _decode_opt(buf, nxt, stop, i, record, sch, fbits, ibits, counts, err, base)
            if record < 0:
                return
            nxt = stop
        elif field == top[_TS] and wire == _VARINT:
            value, nxt = _get_varint(buf, nxt, end)
            if nxt < 0:
                code = _E_VARINT_CUT if nxt == -1 else _E_VARINT_LONG
                _fail(err, i, code, pos - base, field, 0, _AT_ENTRY, -1)
                return
            timestamps[i] = np.uint32(value & np.uint64(0xFFFFFFFF))
        elif field in (top[_ID], top[_OPT], top[_TS]):
            _fail(err, i, _E_WIRE, pos - base, field, wire, _AT_ENTRY, -1)
            return
        else:
            _fail(err, i, _E_FIELD, pos - base, field, wire, _AT_ENTRY, -1)
            return
        if nxt < 0:
            return
        pos = nxt
    if record != sch[1].size:
        _fail(err, i, _E_RECORDS, end - base, top[_OPT], record, _AT_ENTRY, -1)


@cpu_jit(parallel=True)
def _decode_all(buf, offsets, sch, idbits, pbits, fbits, ibits, timestamps, num_values, counts, err):
    """Parse record ``i = buf[offsets[i]:offsets[i + 1]]`` into row ``i`` of the outputs: thread per row."""
    for i in prange(idbits.size):
        _decode_entry(buf, offsets[i], offsets[i + 1], i, sch, idbits, pbits, fbits, ibits, timestamps,
                      num_values, counts, err)


# ---------------------------------------------------------------------------
# Kernels: TFRecord framing
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _frame(buf, offsets, table, out):
    """Write record ``i`` with its TFRecord header and footer into ``out``: thread per record."""
    for i in prange(offsets.size - 1):
        start, stop = offsets[i], offsets[i + 1]
        pos = start - offsets[0] + (_HEADER + _FOOTER) * i
        _put_fixed(out, pos, stop - start, 8)
        _put_fixed(out, pos + 8, _masked_crc32c(table, out, pos, pos + 8), 4)
        out[pos + _HEADER:pos + _HEADER + stop - start] = buf[start:stop]
        _put_fixed(out, pos + _HEADER + stop - start, _masked_crc32c(table, buf, start, stop), 4)


@cpu_jit
def _scan_frames(data, table, starts):
    """Walk the record headers of a TFRecord file, checking each length's CRC.

    One thread. Writes the byte offset of each record into ``starts`` while
    there is room (pass a size-0 array to count). Returns ``(records,
    status, offset)``: the number of whole records before the first problem,
    its ``_F_*`` code and the offset of the record that has it.
    """
    pos = 0
    count = 0
    size = data.size
    while pos < size:
        if size - pos < _HEADER:
            return count, _F_HEADER_CUT, pos
        if _get_fixed(data, pos + 8, 4) != _masked_crc32c(table, data, pos, pos + 8):
            return count, _F_LENGTH_CRC, pos
        length = _get_fixed(data, pos, 8)
        if length > np.uint64(size - pos - _HEADER) or size - pos - _HEADER - np.int64(length) < _FOOTER:
            return count, _F_DATA_CUT, pos
        if count < starts.size:
            starts[count] = pos
        pos += _HEADER + np.int64(length) + _FOOTER
        count += 1
    return count, _F_OK, pos


@cpu_jit(parallel=True)
def _unframe(data, starts, offsets, table, out, bad):
    """Check record ``i``'s data CRC and copy its data to ``out[offsets[i]:offsets[i + 1]]``: thread per record."""
    for i in prange(starts.size):
        pos = starts[i] + _HEADER
        length = offsets[i + 1] - offsets[i]
        stored = _get_fixed(data, pos + length, 4)
        bad[i] = stored != _masked_crc32c(table, data, pos, pos + length)
        out[offsets[i]:offsets[i + 1]] = data[pos:pos + length]


# ---------------------------------------------------------------------------
# Schema: what one row's EntryDump holds, from the descriptors and dump_state
# ---------------------------------------------------------------------------


class _Schema(NamedTuple):
    """Wire layout of one entry's ``EntryDump`` and where its state goes.

    ``arrays`` is the tuple the kernels read: ``top`` (field numbers of
    ``EntryDump.id, num, opt, last_update_ts_sec`` and ``OptimizerDump.dump``),
    ``rec_kind`` (per optimizer record, its ``SingleOptimizerDump`` field),
    ``rec_first`` (record ``r``'s fields are ``rec_first[r]:rec_first[r+1]``),
    then per field its number, kind (``_REPEATED_FLOAT``, ``_FLOAT``,
    ``_INT64``), column in the float or int state block (-1: a field of the
    message that ``dump_state`` does not write, parsed and dropped) and value
    count. ``columns`` lists ``(segment, name, block, column, width)``.
    """

    arrays: tuple
    columns: list
    float_width: int
    int_width: int
    record_names: list


def _field_number(message, name):
    return message.DESCRIPTOR.fields_by_name[name].number


def _schema(entry):
    """Build the :class:`_Schema` of ``entry`` from its optimizers' dumps of a fresh row."""
    top = [_field_number(EntryDump, name) for name in ("id", "num", "opt", "last_update_ts_sec")]
    top.append(_field_number(OptimizerDump, "dump"))
    rec_kind, rec_first, fields, columns, record_names = [], [0], [], [], []
    widths = {"f": 0, "i": 0}
    for k, (opt, dim) in enumerate(zip(entry.optimizers, entry.dims)):
        for record in opt.dump_state(opt.init_state(1, dim), [0])[0].dump:
            kind = record.WhichOneof("type")
            member = record.DESCRIPTOR.fields_by_name[kind]
            written = {f.name for f, _ in getattr(record, kind).ListFields()}
            rec_kind.append(member.number)
            record_names.append(kind)
            for f in sorted(member.message_type.fields, key=lambda f: f.number):
                code = _FIELD_KINDS[(f.type, f.is_repeated)]
                width = dim if code == _REPEATED_FLOAT else 1
                col = -1
                if f.name in written:
                    block = "i" if code == _INT64 else "f"
                    col = widths[block]
                    widths[block] += width
                    columns.append((k, f.name, block, col, width))
                fields.append((f.number, code, col, width))
            rec_first.append(len(fields))
    table = np.array(fields, dtype=np.int64).reshape(-1, 4).T
    arrays = (np.array(top, np.int64), np.array(rec_kind, np.int64), np.array(rec_first, np.int64),
              *(np.ascontiguousarray(a) for a in table))
    return _Schema(arrays, columns, widths["f"], widths["i"], record_names)


def _check_entry(entry):
    if not isinstance(entry, SegmentedEntry):
        raise TypeError(f"entry must be a SegmentedEntry, got {type(entry).__name__}")


def _check_state(entry, state, num_rows):
    """Check ``state`` against the arrays ``entry.init_state`` makes (names, dtypes, shapes)."""
    if not isinstance(state, (list, tuple)) or len(state) != entry.num_segments:
        got = f"{len(state)} items" if isinstance(state, (list, tuple)) else type(state).__name__
        raise ValueError(f"state must be a list of {entry.num_segments} dicts (one per segment), got {got}")
    for k, (spec, st) in enumerate(zip(entry.init_state(0), state)):
        if not isinstance(st, dict) or set(st) != set(spec):
            got = sorted(st) if isinstance(st, dict) else type(st).__name__
            raise ValueError(f"state[{k}] must be a dict with the keys {sorted(spec)}, got {got}")
        for name, arr in spec.items():
            check_array(f"state[{k}][{name!r}]", st[name], dtypes=(arr.dtype,), shape=(num_rows, *arr.shape[1:]))


def _check_ids(ids):
    check_array("ids", ids, ndim=1, dtypes=(np.int64, np.uint64))
    return np.ascontiguousarray(ids).view(np.int64)


# ---------------------------------------------------------------------------
# Public API: records
# ---------------------------------------------------------------------------


class DecodedEntries(NamedTuple):
    """Rows decoded from ``EntryDump`` records (:func:`decode_entry_dumps`, :func:`load_entries`).

    Parameters
    ----------
    ids : (n,) int64 array
        Each record's ``id`` (0 when absent).
    params : (n, dim) float32 array
        Each record's ``num``; values past ``num_values[i]`` are 0.
    state : list of dict
        Per segment, its optimizer's state arrays as ``init_state`` makes
        them, holding the records' optimizer dumps (state the dump does not
        carry, such as ``DcOptimizerWrapper``'s ``latest``, has its initial
        value).
    timestamps : (n,) uint32 array
        Each record's ``last_update_ts_sec`` modulo ``2**32`` (0 when absent).
    num_values : (n,) int64 array
        How many ``num`` values each record held (``<= dim``).
    """

    ids: np.ndarray
    params: np.ndarray
    state: list
    timestamps: np.ndarray
    num_values: np.ndarray


def encode_entry_dumps(entry, ids, params, state, timestamps):
    """Serialize table rows as Monolith ``EntryDump`` records, all in one buffer.

    Record ``i`` is row ``i``: ``id = ids[i]``, ``num = params[i]``, ``opt``
    = the segments' optimizer records of row ``i`` in segment order,
    ``last_update_ts_sec = timestamps[i]``.

    Parameters
    ----------
    entry : SegmentedEntry
        The table's entry description (segment dims and optimizers).
    ids : (n,) int64 or uint64 array
        The ids (uint64 is reinterpreted bit for bit).
    params : (n, entry.dim) float32 array
        The rows' stored values (all segments).
    state : list of dict
        Per segment, its optimizer's state arrays with ``n`` rows, as
        ``entry.init_state(n)`` makes them.
    timestamps : (n,) uint32 array
        Each row's last-update time in seconds.

    Returns
    -------
    buffer : (size,) uint8 array
        The records back to back.
    offsets : (n + 1,) int64 array
        Record ``i`` is ``buffer[offsets[i]:offsets[i + 1]]``.

    Raises
    ------
    TypeError
        If ``entry`` is not a ``SegmentedEntry`` or an array has a wrong dtype.
    ValueError
        If shapes disagree or ``state`` does not match the entry.

    Notes
    -----
    Each record is byte-identical to ``SerializeToString()`` of the message
    ``entry.dump(params, state, [i])[0]`` with ``id`` and
    ``last_update_ts_sec`` set (fields in number order, ``num`` and the
    per-element state unpacked as proto2 writes them, ``opt`` present even
    when empty), which is what Monolith's table writes. One difference: the
    message path turns signalling NaNs into quiet ones (it goes through
    Python floats); this encoder copies every float's bits.
    """
    _check_entry(entry)
    ids = _check_ids(ids)
    n = ids.shape[0]
    check_array("params", params, dtypes=(np.float32,), shape=(n, entry.dim))
    check_array("timestamps", timestamps, dtypes=(np.uint32,), shape=(n,))
    _check_state(entry, state, n)
    sch = _schema(entry)
    fstate = np.empty((n, sch.float_width), np.float32)
    istate = np.empty((n, sch.int_width), np.int64)
    for k, name, block, col, width in sch.columns:
        target = istate if block == "i" else fstate
        target[:, col:col + width] = state[k][name].reshape(n, width)
    timestamps = np.ascontiguousarray(timestamps)
    ibits = istate.view(np.uint64)
    sizes = np.empty(n, np.int64)
    run_cpu(_encode_sizes, n * entry.dim, entry.dim, ibits, timestamps, sch.arrays, sizes)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    buffer = np.empty(int(offsets[-1]), np.uint8)
    run_cpu(_encode_write, n * entry.dim, ids.view(np.uint64), np.ascontiguousarray(params).view(np.uint32),
            fstate.view(np.uint32), ibits, timestamps, sch.arrays, offsets, buffer)
    return buffer, offsets


def _check_records(buffer, offsets):
    """Validate a ``(buffer, offsets)`` pair; return them contiguous."""
    check_array("buffer", buffer, ndim=1, dtypes=(np.uint8,))
    check_array("offsets", offsets, ndim=1, dtypes=(np.int64,))
    if offsets.size < 1:
        raise ValueError("offsets must have at least one entry (n + 1 for n records), got none")
    decreasing = bool((np.diff(offsets) < 0).any())
    if decreasing or offsets[0] < 0 or offsets[-1] > buffer.size:
        order = "unsorted" if decreasing else "sorted"
        raise ValueError(f"offsets must be non-decreasing within [0, {buffer.size}] (the buffer's size), "
                         f"got {order} values from {int(offsets.min())} to {int(offsets.max())}")
    return np.ascontiguousarray(buffer), np.ascontiguousarray(offsets)


_LEVEL_NAMES = {_AT_ENTRY: "EntryDump", _AT_OPT: "OptimizerDump", _AT_SINGLE: "SingleOptimizerDump"}


def _field_name(message_type, number):
    field = message_type.DESCRIPTOR.fields_by_number.get(number)
    return f"{field.name} ({number})" if field is not None else str(number)


def _describe_error(sch, row):
    """Words for a decoder error row ``(code, offset, field, value, level, record)``."""
    code, offset, field, value, level, record = (int(v) for v in row)
    if level == _AT_MEMBER:
        kind = sch.record_names[record]
        where = f"optimizer record {record} ({kind})"
        message_type = getattr(SingleOptimizerDump(), kind)
    elif level == _AT_SINGLE:
        where, message_type = f"optimizer record {record}", SingleOptimizerDump
    else:
        where, message_type = _LEVEL_NAMES[level], {_AT_ENTRY: EntryDump, _AT_OPT: OptimizerDump}[level]
    name = _field_name(message_type, field)
    words = {
        _E_VARINT_CUT: f"a varint cut off by the end of {where}",
        _E_VARINT_LONG: f"a varint longer than 10 bytes in {where}",
        _E_FIELD: f"unknown field {field} (wire type {value}) in {where}",
        _E_WIRE: f"field {name} of {where} with wire type {value}",
        _E_PAST_END: f"field {name} of {where} running past the end of its message",
        _E_TOO_MANY: f"field {name} of {where} with more values ({value}) than it holds",
        _E_PACKED: f"packed field {name} of {where} of {value} bytes (not a multiple of 4)",
        _E_COUNT: f"field {name} of {where} with {value} values instead of its segment's dim",
    }
    if code == _E_RECORDS:
        expected = len(sch.record_names)
        text = f"more than {expected} optimizer records" if level == _AT_OPT else \
            f"{value} optimizer records instead of {expected}"
    elif code == _E_KIND:
        held = _field_name(SingleOptimizerDump, field) if field else "no optimizer"
        text = f"optimizer record {record} holding {held} instead of {sch.record_names[record]}"
    else:
        text = words[code]
    return f"{text} at byte {offset} of the record"


def decode_entry_dumps(entry, buffer, offsets):
    """Parse ``EntryDump`` records into table rows, validating every record.

    Parameters
    ----------
    entry : SegmentedEntry
        The entry description the records were written with.
    buffer : (size,) uint8 array
        The records back to back.
    offsets : (n + 1,) int64 array
        Record ``i`` is ``buffer[offsets[i]:offsets[i + 1]]``.

    Returns
    -------
    DecodedEntries
        ``(ids, params, state, timestamps, num_values)``, row ``i`` from
        record ``i``.

    Raises
    ------
    TypeError
        If ``entry`` is not a ``SegmentedEntry`` or an array has a wrong dtype.
    ValueError
        If ``offsets`` do not describe records inside ``buffer``, or a record
        is not an ``EntryDump`` of this entry: an unknown field, a wrong wire
        type, a cut-off varint, a length past the end of its message, more
        than ``entry.dim`` values in ``num``, the wrong number of optimizer
        records or a record of the wrong optimizer, or a per-element state
        field without exactly its segment's dim values. The message names the
        first bad record and the byte offset inside it.

    Notes
    -----
    Any valid protobuf encoding is read: fields in any order, repeated floats
    packed or not (or both), repeated occurrences merged as protobuf merges
    them (the last value of a scalar wins). Absent ``id`` and
    ``last_update_ts_sec`` read as 0, absent per-row state as 0 (the proto
    default), as Monolith's restore reads them. A record with fewer than
    ``dim`` values in ``num`` is accepted, as in Monolith's
    ``EntryAccessor::Restore``, which overwrites only the leading values of
    the row: ``num_values`` says how many there were so a table can do the
    same (the rest of the returned row is 0). ``last_update_ts_sec`` is kept
    modulo ``2**32``, as Monolith's uint32 timestamp keeps it. Fields of an
    optimizer's dump message that its ``dump_state`` never writes (e.g.
    ``DynamicWdAdagradOptimizerDump.last_update_step``) are parsed and dropped.
    """
    _check_entry(entry)
    buffer, offsets = _check_records(buffer, offsets)
    sch = _schema(entry)
    n = offsets.size - 1
    ids = np.zeros(n, np.int64)
    params = np.zeros((n, entry.dim), np.float32)
    fstate = np.zeros((n, sch.float_width), np.float32)
    istate = np.zeros((n, sch.int_width), np.int64)
    timestamps = np.zeros(n, np.uint32)
    num_values = np.zeros(n, np.int64)
    counts = np.zeros((n, max(sch.arrays[3].size, 1)), np.int64)
    err = np.zeros((n, 6), np.int64)
    run_cpu(_decode_all, int(offsets[-1] - offsets[0]), buffer, offsets, sch.arrays, ids.view(np.uint64),
            params.view(np.uint32), fstate.view(np.uint32), istate.view(np.uint64), timestamps, num_values,
            counts, err)
    bad = np.flatnonzero(err[:, 0])
    if bad.size:
        raise ValueError(f"record {int(bad[0])} must be an EntryDump of {entry!r}, "
                         f"got {_describe_error(sch, err[bad[0]])}")
    state = []
    for k, (opt, dim) in enumerate(zip(entry.optimizers, entry.dims)):
        dumped = {name: (block, col, width) for seg, name, block, col, width in sch.columns if seg == k}
        spec = opt.init_state(0, dim)
        st = opt.init_state(n, dim) if set(spec) - set(dumped) else {}
        for name in spec:
            if name in dumped:
                block, col, width = dumped[name]
                source = istate[:, col] if block == "i" else fstate[:, col:col + width]
                st[name] = np.ascontiguousarray(source).reshape((n, *spec[name].shape[1:]))
        state.append(st)
    return DecodedEntries(ids, params, state, timestamps, num_values)


# ---------------------------------------------------------------------------
# Public API: TFRecord files
# ---------------------------------------------------------------------------


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable (POSIX; elsewhere the rename is all there is)."""
    if os.name == "posix":
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_records(path, buffer, offsets):
    """Write records to a TFRecord file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace.
    buffer : (size,) uint8 array
        The records back to back.
    offsets : (n + 1,) int64 array
        Record ``i`` is ``buffer[offsets[i]:offsets[i + 1]]``.

    Raises
    ------
    TypeError
        If an array has a wrong dtype.
    ValueError
        If ``offsets`` do not describe records inside ``buffer``.
    OSError
        If the file cannot be written; ``path`` is then untouched and the
        temporary file removed.

    Notes
    -----
    The file is TensorFlow's record format (uncompressed): per record its
    length as a little-endian uint64, the masked CRC-32C of those 8 bytes
    (uint32), the data, and the masked CRC-32C of the data; the mask is
    ``((crc >> 15) | (crc << 17)) + 0xa282ead8`` modulo ``2**32``. As in
    Monolith's save op, the data goes to ``path + "-tmp-<random 64-bit>"`` in
    the same directory first; it is flushed and ``fsync``-ed, then renamed
    over ``path`` (``os.replace``, atomic on POSIX), and the directory is
    ``fsync``-ed. Readers see the old file or the complete new one, never a
    partial file.
    """
    buffer, offsets = _check_records(buffer, offsets)
    n = offsets.size - 1
    framed = np.empty(int(offsets[-1] - offsets[0]) + (_HEADER + _FOOTER) * n, np.uint8)
    run_cpu(_frame, framed.size, buffer, offsets, _CRC_TABLE, framed)
    path = os.fspath(path)
    tmp = f"{path}-tmp-{secrets.randbits(64)}"
    try:
        with open(tmp, "xb") as f:
            f.write(framed.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(os.path.dirname(os.path.abspath(path)))


def read_records(path, num_records=None):
    """Read every record of a TFRecord file, checking its framing and CRCs.

    Parameters
    ----------
    path : str or os.PathLike
        An uncompressed TFRecord file (as :func:`write_records`,
        ``tf.io.TFRecordWriter`` or Monolith's save op write it).
    num_records : int, optional
        The number of records the file must hold. A file cut exactly between
        two records is a valid, shorter TFRecord file (the format has no
        count or end marker); pass the count saved elsewhere to detect that.

    Returns
    -------
    buffer : (size,) uint8 array
        The records' data back to back.
    offsets : (n + 1,) int64 array
        Record ``i`` is ``buffer[offsets[i]:offsets[i + 1]]``.

    Raises
    ------
    ValueError
        If the file is not a complete, intact TFRecord file: a record header
        or record cut off by the end of the file (a truncated file, or
        trailing bytes that are not a record), a length whose CRC does not
        match, data whose CRC does not match, or not ``num_records``
        records. The message names the file, the record number and the
        record's byte offset.
    OSError
        If the file cannot be read.
    """
    path = os.fspath(path)
    if num_records is not None:
        num_records = check_number("num_records", num_records, integer=True, low=0)
    data = np.fromfile(path, dtype=np.uint8)
    n, status, at = _scan_frames(data, _CRC_TABLE, np.empty(0, np.int64))
    if status != _F_OK:
        left = data.size - at
        problem = {
            _F_HEADER_CUT: f"a record header cut off by the end of the file ({left} of {_HEADER} bytes)",
            _F_LENGTH_CRC: "a record length whose CRC does not match (corrupt or not a TFRecord file)",
            _F_DATA_CUT: f"a record cut off by the end of the file (its length says "
                         f"{int(data[at:at + 8].view(np.uint64)[0]) if left >= 8 else 0} bytes of data, "
                         f"{left - _HEADER - _FOOTER} remain)",
        }[status]
        raise ValueError(f"{path} must be a complete TFRecord file, got {problem} in record {n} at byte {at}")
    if num_records is not None and n != num_records:
        raise ValueError(f"{path} must hold {num_records} records, got {n} (a file cut between records?)")
    starts = np.empty(n, np.int64)
    _scan_frames(data, _CRC_TABLE, starts)
    offsets = np.zeros(n + 1, np.int64)
    if n:
        np.cumsum(np.diff(np.append(starts, data.size)) - (_HEADER + _FOOTER), out=offsets[1:])
    buffer = np.empty(int(offsets[-1]), np.uint8)
    bad = np.zeros(n, np.bool_)
    run_cpu(_unframe, data.size, data, starts, offsets, _CRC_TABLE, buffer, bad)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{path} must be a complete TFRecord file, got data whose CRC does not match "
                         f"(corrupt) in record {k} at byte {int(starts[k])}")
    return buffer, offsets


def sharded_file_name(basename, shard, nshards):
    """Name of shard ``shard`` of ``nshards`` as Monolith's save and restore ops form it.

    Parameters
    ----------
    basename : str or os.PathLike
        The checkpoint's base path of the table.
    shard : int
        The shard, ``0 <= shard < nshards``.
    nshards : int
        The number of shards, ``>= 1``.

    Returns
    -------
    str
        ``f"{basename}-{shard:05d}-of-{nshards:05d}"``.

    Raises
    ------
    TypeError
        If ``shard`` or ``nshards`` is not an integer.
    ValueError
        If they are out of range.

    Examples
    --------
    >>> sharded_file_name("ckpt/table", 3, 10)
    'ckpt/table-00003-of-00010'
    """
    nshards = check_number("nshards", nshards, integer=True, low=1)
    shard = check_number("shard", shard, integer=True, low=0, high=nshards - 1)
    return f"{os.fspath(basename)}-{shard:05d}-of-{nshards:05d}"


def save_entries(path, entry, ids, params, state, timestamps):
    """Write table rows to ``path`` as Monolith's hash-table save op does.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace (see :func:`sharded_file_name`).
    entry : SegmentedEntry
        The table's entry description.
    ids : (n,) int64 or uint64 array
        The ids.
    params : (n, entry.dim) float32 array
        The rows' values.
    state : list of dict
        Per segment, its optimizer's state arrays with ``n`` rows.
    timestamps : (n,) uint32 array
        Each row's last-update time in seconds.

    Raises
    ------
    TypeError, ValueError
        As :func:`encode_entry_dumps`.
    OSError
        As :func:`write_records` (the file is then untouched).

    Notes
    -----
    :func:`encode_entry_dumps` then :func:`write_records`: one ``EntryDump``
    record per row, written atomically. Dropping expired entries (Monolith's
    save op does) is the caller's choice of rows.
    """
    write_records(path, *encode_entry_dumps(entry, ids, params, state, timestamps))


def load_entries(path, entry, num_records=None):
    """Read the rows of a file written by :func:`save_entries` or Monolith's save op.

    Parameters
    ----------
    path : str or os.PathLike
        A TFRecord file of ``EntryDump`` records.
    entry : SegmentedEntry
        The entry description the rows were saved with.
    num_records : int, optional
        The number of records the file must hold (see :func:`read_records`).

    Returns
    -------
    DecodedEntries
        ``(ids, params, state, timestamps, num_values)`` in file order (see
        :func:`decode_entry_dumps`).

    Raises
    ------
    TypeError
        If ``entry`` is not a ``SegmentedEntry``.
    ValueError
        If the file is damaged (:func:`read_records`) or a record is not an
        ``EntryDump`` of ``entry`` (:func:`decode_entry_dumps`); the message
        names the file and the record.
    OSError
        If the file cannot be read.
    """
    _check_entry(entry)
    buffer, offsets = read_records(path, num_records)
    try:
        return decode_entry_dumps(entry, buffer, offsets)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None
