"""Monolith feature ids ("fids"): a slot and an id inside it in one int64.

A fid keeps its slot in bits 48..62 and the id inside the slot in the low
48 bits: ``fid = (slot << 48) | (local_id & (2**48 - 1))``. Tables read the
slot back with :func:`slot_of` for per-slot expiry and occurrence thresholds.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_array, check_number

__all__ = ["to_fid", "slot_of"]

_ID_MASK = (1 << 48) - 1


def to_fid(slot, local_ids):
    """Monolith feature ids ``(slot << 48) | local_id``.

    Parameters
    ----------
    slot : int
        Slot, ``0 <= slot < 2**15``.
    local_ids : int array
        Ids inside the slot; only their low 48 bits are kept.

    Returns
    -------
    int64 array
        The feature ids, shape of ``local_ids``.

    Raises
    ------
    TypeError
        If ``local_ids`` is not an integer array (or list of integers).
    ValueError
        If ``slot`` is out of range.

    Examples
    --------
    >>> from monolith_np.features import slot_of, to_fid
    >>> fids = to_fid(3, [0, 7])
    >>> fids.tolist()
    [844424930131968, 844424930131975]
    >>> slot_of(fids).tolist()
    [3, 3]
    """
    slot = check_number("slot", slot, integer=True, low=0, high=(1 << 15) - 1)
    return (np.int64(slot) << np.int64(48)) | (_int_ids("local_ids", local_ids) & np.int64(_ID_MASK))


def slot_of(ids):
    """Feature slot of each id: ``(id >> 48) & 0x7FFF``.

    Parameters
    ----------
    ids : int array
        Feature ids (any int64, negative ones included).

    Returns
    -------
    int64 array
        The slots, in ``[0, 2**15)``, shape of ``ids``.

    Raises
    ------
    TypeError
        If ``ids`` is not an integer array (or list of integers).

    Examples
    --------
    >>> from monolith_np.features import slot_of
    >>> slot_of([(5 << 48) | 9, 12]).tolist()
    [5, 0]
    """
    return (_int_ids("ids", ids) >> 48) & 0x7FFF


def _int_ids(name, ids):
    """``ids`` (an integer array or list) as int64, 64-bit patterns kept; anything else is a TypeError."""
    a = np.asarray(ids)
    if a.size == 0 and not hasattr(ids, "dtype"):  # [] is float64 to numpy
        a = a.astype(np.int64)
    return check_array(name, a, dtype_kinds="iu").astype(np.int64, copy=False)
