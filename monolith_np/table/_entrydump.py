"""The ``EntryDump`` codec of table checkpoints: table rows to Monolith records and back.

:func:`encode_entry_dumps` / :func:`decode_entry_dumps` turn the rows of a
:class:`~monolith_np.entry.SegmentedEntry` table into serialized
``EntryDump`` records and back (Numba kernels, two passes, ``prange`` over
rows), over the varints and fixed-width fields of
:mod:`monolith_np.table._wire`. The record layout (:class:`_Schema`) comes
from the protobuf descriptors of :mod:`monolith_np.proto` and from the
optimizers' own ``dump_state`` on a fresh row, so the fast path cannot drift
from the message path. Both are re-exported by
:mod:`monolith_np.table.checkpoint`, which adds the files.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from numba import prange

from .._checks import check_array
from .._compile import cpu_jit, jitable, run_cpu
from ..entry.segments import SegmentedEntry
from ..proto import EntryDump, OptimizerDump, SingleOptimizerDump
from ._wire import I32, I64, LEN, VARINT, check_records, get_fixed, get_varint, put_fixed, put_varint, tag, varint_size

__all__ = ["DecodedEntries", "encode_entry_dumps", "decode_entry_dumps", "encode_rows", "decode_records", "check_entry"]

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
        key = varint_size(tag(fld_num[j], 0))
        kind = fld_type[j]
        if kind == _REPEATED_FLOAT:
            size += fld_len[j] * (key + 4)
        elif kind == _FLOAT:
            size += key + 4
        else:
            size += key + varint_size(ibits[i, col])
    return size


@jitable
def _single_size(r, i, ibits, sch):
    """Bytes of the body of row ``i``'s ``SingleOptimizerDump`` ``r``."""
    body = _member_size(r, i, ibits, sch)
    return varint_size(tag(sch[1][r], LEN)) + varint_size(np.uint64(body)) + body


@jitable
def _opt_size(i, ibits, sch):
    """Bytes of the body of row ``i``'s ``OptimizerDump``."""
    key = varint_size(tag(sch[0][_DUMP], LEN))
    size = 0
    for r in range(sch[1].size):
        single = _single_size(r, i, ibits, sch)
        size += key + varint_size(np.uint64(single)) + single
    return size


@cpu_jit(parallel=True)
def _encode_sizes(dim, ibits, timestamps, sch, sizes):
    """Size of each row's record: thread per row, writes ``sizes[i]``."""
    top = sch[0]
    fixed = varint_size(tag(top[_ID], I64)) + 8 + dim * (varint_size(tag(top[_NUM], I32)) + 4)
    for i in prange(sizes.size):
        opt = _opt_size(i, ibits, sch)
        sizes[i] = (fixed + varint_size(tag(top[_OPT], LEN)) + varint_size(np.uint64(opt)) + opt
                    + varint_size(tag(top[_TS], VARINT)) + varint_size(np.uint64(timestamps[i])))


@jitable
def _write_records_of_row(out, pos, i, fbits, ibits, sch):
    """Write row ``i``'s optimizer records (the ``OptimizerDump`` body) at ``out[pos]``."""
    top, rec_kind, rec_first, fld_num, fld_type, fld_col, fld_len = sch
    for r in range(rec_kind.size):
        pos = put_varint(out, pos, tag(top[_DUMP], LEN))
        pos = put_varint(out, pos, np.uint64(_single_size(r, i, ibits, sch)))
        pos = put_varint(out, pos, tag(rec_kind[r], LEN))
        pos = put_varint(out, pos, np.uint64(_member_size(r, i, ibits, sch)))
        for j in range(rec_first[r], rec_first[r + 1]):
            col = fld_col[j]
            if col < 0:
                continue
            kind = fld_type[j]
            if kind == _INT64:
                pos = put_varint(out, pos, tag(fld_num[j], VARINT))
                pos = put_varint(out, pos, ibits[i, col])
            else:
                for c in range(col, col + fld_len[j]):
                    pos = put_varint(out, pos, tag(fld_num[j], I32))
                    pos = put_fixed(out, pos, fbits[i, c], 4)
    return pos


@cpu_jit(parallel=True)
def _encode_write(idbits, pbits, fbits, ibits, timestamps, sch, offsets, out):
    """Serialize each row's ``EntryDump`` into ``out[offsets[i]:offsets[i + 1]]``: thread per row."""
    top = sch[0]
    for i in prange(idbits.size):
        pos = put_varint(out, offsets[i], tag(top[_ID], I64))
        pos = put_fixed(out, pos, idbits[i], 8)
        for c in range(pbits.shape[1]):
            pos = put_varint(out, pos, tag(top[_NUM], I32))
            pos = put_fixed(out, pos, pbits[i, c], 4)
        pos = put_varint(out, pos, tag(top[_OPT], LEN))
        pos = put_varint(out, pos, np.uint64(_opt_size(i, ibits, sch)))
        pos = _write_records_of_row(out, pos, i, fbits, ibits, sch)
        pos = put_varint(out, pos, tag(top[_TS], VARINT))
        put_varint(out, pos, np.uint64(timestamps[i]))


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
    key, nxt = get_varint(buf, pos, end)
    if nxt < 0:
        code = _E_VARINT_CUT if nxt == -1 else _E_VARINT_LONG
        return 0, 0, _fail(err, i, code, pos - base, 0, 0, level, record)
    return np.int64(key >> np.uint64(3)), np.int64(key & np.uint64(7)), nxt


@jitable
def _read_len(buf, pos, end, err, i, base, field, level, record):
    """Read the length of a length-delimited field: ``(stop, next position)``; position -1 on error."""
    length, nxt = get_varint(buf, pos, end)
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
    if wire == I32:
        # Unpacked values come in runs, each behind the same key: take the run at once.
        stop, nxt, key = pos + 4, pos, (field << 3) | I32
        if key < 128:
            stride = 5
            while stop + 5 <= end and buf[stop] == key:
                stop += 5
    elif wire == LEN:
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
            out[row, start + count + k] = np.uint32(get_fixed(buf, nxt + stride * k, 4))
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
        elif kind == _FLOAT and wire == I32:
            if nxt + 4 > end:
                return _fail(err, i, _E_PAST_END, pos - base, field, 0, _AT_MEMBER, r)
            if col >= 0:
                fbits[i, col] = np.uint32(get_fixed(buf, nxt, 4))
            nxt += 4
        elif kind == _INT64 and wire == VARINT:
            value, after = get_varint(buf, nxt, end)
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
        if wire != LEN:
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
        if wire != LEN:
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
        if field == top[_ID] and wire == I64:
            if nxt + 8 > end:
                _fail(err, i, _E_PAST_END, pos - base, field, 0, _AT_ENTRY, -1)
                return
            idbits[i] = get_fixed(buf, nxt, 8)
            nxt += 8
        elif field == top[_NUM]:
            num_values[i], nxt = _read_floats(buf, nxt, end, wire, pbits, i, 0, num_values[i], dim,
                                              err, i, base, field, _AT_ENTRY, -1)
        elif field == top[_OPT] and wire == LEN:
            stop, nxt = _read_len(buf, nxt, end, err, i, base, field, _AT_ENTRY, -1)
            if nxt < 0:
                return
            record = _decode_opt(buf, nxt, stop, i, record, sch, fbits, ibits, counts, err, base)
            if record < 0:
                return
            nxt = stop
        elif field == top[_TS] and wire == VARINT:
            value, nxt = get_varint(buf, nxt, end)
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


def check_entry(entry):
    """Raise ``TypeError`` unless ``entry`` is a :class:`~monolith_np.entry.SegmentedEntry` (the boundary check).

    Parameters
    ----------
    entry : object

    Examples
    --------
    >>> check_entry(None)
    Traceback (most recent call last):
    ...
    TypeError: entry must be a SegmentedEntry, got NoneType
    """
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
    check_entry(entry)
    ids = _check_ids(ids)
    n = ids.shape[0]
    check_array("params", params, dtypes=(np.float32,), shape=(n, entry.dim))
    check_array("timestamps", timestamps, dtypes=(np.uint32,), shape=(n,))
    _check_state(entry, state, n)
    return encode_rows(entry, ids, np.ascontiguousarray(params), state, np.ascontiguousarray(timestamps))


def encode_rows(entry, ids, params, state, timestamps):
    """:func:`encode_entry_dumps` of arguments already validated (the table's own rows).

    Parameters
    ----------
    entry : SegmentedEntry
    ids : (n,) int64 array, C-contiguous
    params : (n, entry.dim) float32 array, C-contiguous
    state : list of dict
        As ``entry.init_state(n)`` makes it.
    timestamps : (n,) uint32 array, C-contiguous

    Returns
    -------
    buffer, offsets : arrays
        As :func:`encode_entry_dumps`.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.entry import ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer())])
    >>> params, state = entry.init_rows(2)
    >>> buffer, offsets = encode_rows(entry, np.array([5, 6], np.int64), params, state, np.zeros(2, np.uint32))
    >>> EntryDump.FromString(buffer[offsets[1]:offsets[2]].tobytes()).id
    6
    """
    n = ids.shape[0]
    sch = _schema(entry)
    fstate = np.empty((n, sch.float_width), np.float32)
    istate = np.empty((n, sch.int_width), np.int64)
    for k, name, block, col, width in sch.columns:
        target = istate if block == "i" else fstate
        target[:, col:col + width] = state[k][name].reshape(n, width)
    ibits = istate.view(np.uint64)
    sizes = np.empty(n, np.int64)
    run_cpu(_encode_sizes, n * entry.dim, entry.dim, ibits, timestamps, sch.arrays, sizes)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    buffer = np.empty(int(offsets[-1]), np.uint8)
    run_cpu(_encode_write, n * entry.dim, ids.view(np.uint64), params.view(np.uint32),
            fstate.view(np.uint32), ibits, timestamps, sch.arrays, offsets, buffer)
    return buffer, offsets


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
    check_entry(entry)
    return decode_records(entry, *check_records(buffer, offsets))


def decode_records(entry, buffer, offsets):
    """:func:`decode_entry_dumps` of arguments already validated (records just read from a file).

    Parameters
    ----------
    entry : SegmentedEntry
    buffer : (size,) uint8 array, C-contiguous
    offsets : (n + 1,) int64 array, C-contiguous, non-decreasing inside ``buffer``

    Returns
    -------
    DecodedEntries

    Raises
    ------
    ValueError
        If a record is not an ``EntryDump`` of ``entry`` (as :func:`decode_entry_dumps`).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.entry import ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer())])
    >>> params, state = entry.init_rows(2)
    >>> records = encode_rows(entry, np.array([5, 6], np.int64), params, state, np.zeros(2, np.uint32))
    >>> decode_records(entry, *records).ids.tolist()
    [5, 6]
    """
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
