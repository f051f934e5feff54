"""The wire codec of table checkpoints: protobuf varints and fixed-width fields, CRC-32C, TFRecord framing.

The leaf kernels (:func:`put_varint`, :func:`get_varint`, :func:`put_fixed`,
:func:`get_fixed`, :func:`crc32c`, ...) are jitable helpers the ``EntryDump``
codec (:mod:`monolith_np.table._entrydump`) compiles into its own kernels;
:func:`frame_records` and :func:`unframe_records` add and check TensorFlow's
record framing (``uint64 length, uint32 masked crc(length), data, uint32
masked crc(data)``) over a whole file's bytes, thread per record. The file
handling around them is :mod:`monolith_np.table.checkpoint`.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._checks import check_array
from .._compile import cpu_jit, jitable, run_cpu

__all__ = ["VARINT", "I64", "LEN", "I32", "HEADER", "FOOTER", "CRC_TABLE", "varint_size", "tag", "put_varint",
           "put_fixed", "get_fixed", "get_varint", "crc32c", "masked_crc32c", "check_records", "frame_records",
           "unframe_records"]

# Protobuf wire types.
VARINT, I64, LEN, I32 = 0, 1, 2, 5

# TFRecord framing: ``uint64 length, uint32 masked crc(length), data, uint32 masked crc(data)``.
HEADER, FOOTER = 12, 4
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


CRC_TABLE = _crc32c_table()


# ---------------------------------------------------------------------------
# Kernels: protobuf wire format and CRC-32C
# ---------------------------------------------------------------------------


@jitable
def varint_size(v):
    """Bytes of the varint of the uint64 ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> varint_size(np.uint64(127)), varint_size(np.uint64(128)), varint_size(np.uint64(2**64 - 1))
    (1, 2, 10)
    """
    size = 1
    while v >= np.uint64(128):
        v >>= np.uint64(7)
        size += 1
    return size


@jitable
def tag(field, wire):
    """The uint64 key of ``field`` with wire type ``wire``.

    Examples
    --------
    >>> int(tag(3, LEN))
    26
    """
    return np.uint64((field << 3) | wire)


@jitable
def put_varint(out, pos, v):
    """Write the uint64 ``v`` as a varint at ``out[pos]``; return the next position.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros(4, np.uint8)
    >>> put_varint(out, 1, np.uint64(300)), out.tolist()
    (3, [0, 172, 2, 0])
    """
    while v >= np.uint64(128):
        out[pos] = np.uint8((v & np.uint64(127)) | np.uint64(128))
        v >>= np.uint64(7)
        pos += 1
    out[pos] = np.uint8(v)
    return pos + 1


@jitable
def put_fixed(out, pos, v, nbytes):
    """Write the low ``nbytes`` bytes of ``v`` little-endian at ``out[pos]``; return the next position.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros(4, np.uint8)
    >>> put_fixed(out, 0, 0x0102, 2), out.tolist()
    (2, [2, 1, 0, 0])
    """
    v = np.uint64(v)
    for k in range(nbytes):
        out[pos + k] = np.uint8((v >> np.uint64(8 * k)) & np.uint64(255))
    return pos + nbytes


@jitable
def get_fixed(buf, pos, nbytes):
    """The little-endian unsigned integer of ``nbytes`` bytes at ``buf[pos]``, as uint64.

    Examples
    --------
    >>> import numpy as np
    >>> int(get_fixed(np.array([9, 2, 1], np.uint8), 1, 2))
    258
    """
    v = np.uint64(0)
    for k in range(nbytes):
        v |= np.uint64(buf[pos + k]) << np.uint64(8 * k)
    return v


@jitable
def get_varint(buf, pos, end):
    """Read a varint from ``buf[pos:end]``: ``(value, next position)``, position -1 if cut off, -2 if too long.

    Examples
    --------
    >>> import numpy as np
    >>> value, pos = get_varint(np.array([172, 2], np.uint8), 0, 2)
    >>> int(value), pos, get_varint(np.array([172, 2], np.uint8), 0, 1)[1]
    (300, 2, -1)
    """
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
def crc32c(table, data, start, stop):
    """CRC-32C of ``data[start:stop]`` (slicing-by-8).

    Examples
    --------
    >>> import numpy as np
    >>> hex(int(crc32c(CRC_TABLE, np.frombuffer(b"123456789", np.uint8), 0, 9)))  # the CRC-32C check value
    '0xe3069283'
    """
    crc = np.uint32(0xFFFFFFFF)
    pos = start
    while pos + 8 <= stop:
        low = crc ^ np.uint32(get_fixed(data, pos, 4))
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
def masked_crc32c(table, data, start, stop):
    """TFRecord's masked CRC-32C, ``rotate_right(crc, 15) + 0xa282ead8`` (mod 2**32), as uint64.

    Examples
    --------
    >>> import numpy as np
    >>> int(masked_crc32c(CRC_TABLE, np.zeros(0, np.uint8), 0, 0))  # empty data: crc 0, mask only
    2726488792
    """
    crc = np.uint64(crc32c(table, data, start, stop))
    rotated = ((crc >> np.uint64(15)) | (crc << np.uint64(17))) & np.uint64(0xFFFFFFFF)
    return (rotated + np.uint64(0xA282EAD8)) & np.uint64(0xFFFFFFFF)


# ---------------------------------------------------------------------------
# Kernels: TFRecord framing
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _frame(buf, offsets, table, out):
    """Write record ``i`` with its TFRecord header and footer into ``out``: thread per record."""
    for i in prange(offsets.size - 1):
        start, stop = offsets[i], offsets[i + 1]
        pos = start - offsets[0] + (HEADER + FOOTER) * i
        put_fixed(out, pos, stop - start, 8)
        put_fixed(out, pos + 8, masked_crc32c(table, out, pos, pos + 8), 4)
        out[pos + HEADER:pos + HEADER + stop - start] = buf[start:stop]
        put_fixed(out, pos + HEADER + stop - start, masked_crc32c(table, buf, start, stop), 4)


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
        if size - pos < HEADER:
            return count, _F_HEADER_CUT, pos
        if get_fixed(data, pos + 8, 4) != masked_crc32c(table, data, pos, pos + 8):
            return count, _F_LENGTH_CRC, pos
        length = get_fixed(data, pos, 8)
        if length > np.uint64(size - pos - HEADER) or size - pos - HEADER - np.int64(length) < FOOTER:
            return count, _F_DATA_CUT, pos
        if count < starts.size:
            starts[count] = pos
        pos += HEADER + np.int64(length) + FOOTER
        count += 1
    return count, _F_OK, pos


@cpu_jit(parallel=True)
def _unframe(data, starts, offsets, table, out, bad):
    """Check record ``i``'s data CRC and copy its data to ``out[offsets[i]:offsets[i + 1]]``: thread per record."""
    for i in prange(starts.size):
        pos = starts[i] + HEADER
        length = offsets[i + 1] - offsets[i]
        stored = get_fixed(data, pos + length, 4)
        bad[i] = stored != masked_crc32c(table, data, pos, pos + length)
        out[offsets[i]:offsets[i + 1]] = data[pos:pos + length]


def check_records(buffer, offsets):
    """Validate a ``(buffer, offsets)`` pair of records (the codec's boundary check); return them contiguous.

    Parameters
    ----------
    buffer : (size,) uint8 array
        Records back to back.
    offsets : (n + 1,) int64 array
        Non-decreasing offsets inside ``buffer``.

    Returns
    -------
    buffer, offsets : arrays
        C-contiguous.

    Raises
    ------
    TypeError, ValueError
        On a wrong dtype or shape, or offsets outside ``buffer`` or decreasing.

    Examples
    --------
    >>> import numpy as np
    >>> check_records(np.zeros(4, np.uint8), np.array([0, 5], np.int64))
    Traceback (most recent call last):
    ...
    ValueError: offsets must be non-decreasing within [0, 4] (the buffer's size), got sorted values from 0 to 5
    """
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


def frame_records(buffer, offsets):
    """The bytes of a TFRecord file holding the records ``buffer[offsets[i]:offsets[i + 1]]``.

    Parameters
    ----------
    buffer : (size,) uint8 array
        The records back to back (checked by :func:`check_records`).
    offsets : (n + 1,) int64 array
        Record ``i`` is ``buffer[offsets[i]:offsets[i + 1]]``.

    Returns
    -------
    (size + 16 n,) uint8 array
        Each record with its header and footer.

    Examples
    --------
    >>> import numpy as np
    >>> framed = frame_records(np.frombuffer(b"abc", np.uint8), np.array([0, 3], np.int64))
    >>> framed.size, framed[12:15].tobytes()
    (19, b'abc')
    """
    n = offsets.size - 1
    framed = np.empty(int(offsets[-1] - offsets[0]) + (HEADER + FOOTER) * n, np.uint8)
    run_cpu(_frame, framed.size, buffer, offsets, CRC_TABLE, framed)
    return framed


def unframe_records(data, name, num_records=None):
    """Check the framing and CRCs of a TFRecord file's bytes; return its records.

    Parameters
    ----------
    data : (size,) uint8 array
        The file's bytes.
    name : str
        The file, for error messages.
    num_records : int, optional
        The number of records it must hold (validated by the caller).

    Returns
    -------
    buffer : (size,) uint8 array
        The records' data back to back.
    offsets : (n + 1,) int64 array
        Record ``i`` is ``buffer[offsets[i]:offsets[i + 1]]``.

    Raises
    ------
    ValueError
        If a record header or record is cut off, a CRC does not match or the
        record count is not ``num_records``; the message names ``name``, the
        record number and its byte offset.

    Examples
    --------
    >>> import numpy as np
    >>> framed = frame_records(np.frombuffer(b"abcde", np.uint8), np.array([0, 3, 5], np.int64))
    >>> buffer, offsets = unframe_records(framed, "f")
    >>> buffer.tobytes(), offsets.tolist()
    (b'abcde', [0, 3, 5])
    """
    n, status, at = _scan_frames(data, CRC_TABLE, np.empty(0, np.int64))
    if status != _F_OK:
        left = data.size - at
        problem = {
            _F_HEADER_CUT: f"a record header cut off by the end of the file ({left} of {HEADER} bytes)",
            _F_LENGTH_CRC: "a record length whose CRC does not match (corrupt or not a TFRecord file)",
            _F_DATA_CUT: f"a record cut off by the end of the file (its length says "
                         f"{int(data[at:at + 8].view(np.uint64)[0]) if left >= 8 else 0} bytes of data, "
                         f"{left - HEADER - FOOTER} remain)",
        }[status]
        raise ValueError(f"{name} must be a complete TFRecord file, got {problem} in record {n} at byte {at}")
    if num_records is not None and n != num_records:
        raise ValueError(f"{name} must hold {num_records} records, got {n} (a file cut between records?)")
    starts = np.empty(n, np.int64)
    _scan_frames(data, CRC_TABLE, starts)
    offsets = np.zeros(n + 1, np.int64)
    if n:
        np.cumsum(np.diff(np.append(starts, data.size)) - (HEADER + FOOTER), out=offsets[1:])
    buffer = np.empty(int(offsets[-1]), np.uint8)
    bad = np.zeros(n, np.bool_)
    run_cpu(_unframe, data.size, data, starts, offsets, CRC_TABLE, buffer, bad)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{name} must be a complete TFRecord file, got data whose CRC does not match "
                         f"(corrupt) in record {k} at byte {int(starts[k])}")
    return buffer, offsets
