"""Ragged rules: segment sums and means, first-n copies and sequence masks over a window.

Each formula of :mod:`monolith_np.ragged` is one plain-Python *rule* that fills
a window of its output: columns ``[col_lo, col_hi)`` of one row, or rows
``[row_lo, row_hi)`` times those columns. The CPU drivers of
:mod:`monolith_np.ragged` compile the rules with
:func:`~monolith_np._compile.cpu_jit` and call each once per ragged row with
the whole window; :mod:`monolith_np.cuda.ragged` compiles the same rules with
:func:`~monolith_np._compile.gpu_device` and calls them with a single element
per thread. Rules allocate nothing, raise nothing and read no globals;
:func:`row_of` is a jitable helper the GPU gradient kernels use to find an
id's row.
"""

from __future__ import annotations

import math

from .._compile import jitable

__all__ = ["row_of", "segment_reduce_row", "segment_spread_rows", "shifted_copy", "seq_mask_row"]


@jitable
def row_of(row_splits, i):
    """Return the row ``b`` with ``row_splits[b] <= i < row_splits[b + 1]`` (binary search).

    Empty rows share their split value with the next row, so the *last* ``b``
    with ``row_splits[b] <= i`` is the one that owns value ``i``.
    """
    lo = 0
    hi = row_splits.shape[0] - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if row_splits[mid] <= i:
            lo = mid
        else:
            hi = mid - 1
    return lo


def segment_reduce_row(values, start, end, mean, out_row, col_lo, col_hi):
    """Sum (``mean=0``) or average (``mean=1``) ``values[start:end]`` into ``out_row``.

    Columns ``[col_lo, col_hi)`` only. Rows are added one at a time in order,
    in the output dtype, like the original ``MonolithReduceSum``; the mean then
    multiplies by ``fl(1 / count)`` with the reciprocal rounded to the output
    dtype (so an empty row gives ``0 * inf = nan``, as in the original).
    """
    for j in range(col_lo, col_hi):
        out_row[j] = 0
    for i in range(start, end):
        for j in range(col_lo, col_hi):
            out_row[j] += values[i, j]
    if mean:
        count = end - start
        # 1/count in double like the original; the branch keeps pure-Python runs
        # (simulator, NUMBA_DISABLE_JIT) from raising ZeroDivisionError.
        scale = math.inf if count == 0 else 1.0 / count
        for j in range(col_lo, col_hi):
            total = out_row[j]
            out_row[j] = scale  # rounds fl(1/count) to the output dtype, as the original's float cast
            out_row[j] = total * out_row[j]


def segment_spread_rows(grad_row, count, mean, out, row_lo, row_hi, col_lo, col_hi):
    """Write the gradient of the id rows ``[row_lo, row_hi)`` of one segment into ``out``.

    Each gets ``grad_row`` (sum) or ``grad_row * fl(1/count)`` (mean), columns
    ``[col_lo, col_hi)`` only; ``count`` is the segment's length (at least 1).
    """
    if mean:
        scale = 1.0 / max(count, 1)  # count >= 1 whenever the row range is non-empty
        for i in range(row_lo, row_hi):
            for j in range(col_lo, col_hi):
                out[i, j] = scale  # rounds fl(1/count) to the output dtype
                out[i, j] = grad_row[j] * out[i, j]
    else:
        for i in range(row_lo, row_hi):
            for j in range(col_lo, col_hi):
                out[i, j] = grad_row[j]


def shifted_copy(source, source_end, offset, out, row_lo, row_hi, col_lo, col_hi):
    """``out[r, j] = source[r + offset, j]`` if ``r + offset < source_end`` else 0.

    For rows ``r`` in ``[row_lo, row_hi)`` and columns ``[col_lo, col_hi)``;
    ``r + offset`` is never negative. First-n forward: ``source`` = the
    embeddings, ``out`` = ``out[b]``, ``offset = start_b``, ``source_end =
    end_b``. Its gradient: ``source`` = ``grad[b]``, ``out`` = the id
    gradients, rows ``[start_b, end_b)``, ``offset = -start_b``, ``source_end = n``.
    """
    for r in range(row_lo, row_hi):
        s = r + offset
        if s < source_end:
            for j in range(col_lo, col_hi):
                out[r, j] = source[s, j]
        else:
            for j in range(col_lo, col_hi):
                out[r, j] = 0


def seq_mask_row(start, end, out_row, col_lo, col_hi):
    """Write ``out_row[j] = 1 if j < min(end - start, len(out_row)) else 0`` for ``j`` in ``[col_lo, col_hi)``."""
    length = min(end - start, out_row.shape[0])
    for j in range(col_lo, col_hi):
        if j < length:
            out_row[j] = 1
        else:
            out_row[j] = 0

