"""Embedding-table checkpoints: Monolith ``EntryDump`` records in TFRecord files.

Monolith's save op writes every entry of a hash-table shard as one serialized
``EntryDump`` (``id``, the row's floats ``num``, the optimizer state ``opt``,
``last_update_ts_sec``) in a TensorFlow record file, written under a
temporary name and renamed. This module reads and writes the same files from
dense arrays, fast enough for tables of millions of rows:

* :func:`encode_entry_dumps` / :func:`decode_entry_dumps` turn the rows of a
  :class:`~monolith_np.entry.SegmentedEntry` table into serialized
  ``EntryDump`` records and back (the codec of
  :mod:`monolith_np.table._entrydump`, re-exported here). The bytes equal
  ``SerializeToString()`` of the message that
  :meth:`SegmentedEntry.dump <monolith_np.entry.SegmentedEntry.dump>` builds,
  with ``id`` and ``last_update_ts_sec`` set.
* :func:`write_records` / :func:`read_records` write and read TFRecord files
  (the framing, CRC-32C of every length and every record, is
  :mod:`monolith_np.table._wire`), atomically and ``fsync``-ed.
* :func:`save_entries` / :func:`load_entries` do both;
  :func:`sharded_file_name` names shard files as Monolith does.

See ``docs/checkpoints.md``.

>>> import numpy as np, tempfile, os
>>> from monolith_np.entry import ZerosInitializer
>>> from monolith_np.entry import AdagradOptimizer, SegmentedEntry
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

import numpy as np

from .._checks import check_number
from ._entrydump import DecodedEntries, check_entry, decode_entry_dumps, decode_records, encode_entry_dumps
from ._wire import check_records, frame_records, unframe_records

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
    _write_framed(path, frame_records(*check_records(buffer, offsets)))


def _write_framed(path, framed):
    """Write the bytes of a framed TFRecord file to ``path`` atomically (see :func:`write_records`)."""
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
    return unframe_records(data, path, num_records)


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
    _write_framed(path, frame_records(*encode_entry_dumps(entry, ids, params, state, timestamps)))


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
    check_entry(entry)
    if num_records is not None:
        num_records = check_number("num_records", num_records, integer=True, low=0)
    path = os.fspath(path)
    return decode_shard(np.fromfile(path, dtype=np.uint8), path, entry, num_records)


def decode_shard(data, name, entry, num_records=None):
    """The rows of a shard file's bytes ``data``: framing and CRCs checked, records decoded.

    Parameters
    ----------
    data : (size,) uint8 array
        The file's bytes.
    name : str
        The file, for error messages.
    entry : SegmentedEntry
    num_records : int or None
        The records the file must hold (None: any number).

    Returns
    -------
    DecodedEntries

    Raises
    ------
    ValueError
        As :func:`load_entries`, naming ``name``.

    Examples
    --------
    >>> from monolith_np.entry import ZerosInitializer
    >>> from monolith_np.entry import SegmentedEntry, SgdOptimizer
    >>> from monolith_np.table._entrydump import encode_rows
    >>> from monolith_np.table._wire import frame_records
    >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer())])
    >>> params, state = entry.init_rows(2)
    >>> data = frame_records(*encode_rows(entry, np.array([5, 6], np.int64), params, state, np.zeros(2, np.uint32)))
    >>> decode_shard(data, "shard", entry, 2).ids.tolist()
    [5, 6]
    """
    buffer, offsets = unframe_records(data, name, num_records)
    try:
        return decode_records(entry, buffer, offsets)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
