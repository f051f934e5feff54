"""Ragged rules: segment sums and means, first-n copies and sequence masks over a window.

Each formula of :mod:`monolith_np.ragged` is one plain-Python *rule* that fills
a window of its output: columns ``[col_lo, col_hi)`` of one row, or rows
``[row_lo, row_hi)`` times those columns. The CPU drivers of
:mod:`monolith_np.ragged` compile the rules with
:func:`~monolith_np._compile.cpu_jit` and call each once per ragged row with
the whole window (the rules are inlined into the driver's loop, so a ragged
row costs no call); :mod:`monolith_np.cuda.ragged` compiles the same rules with
:func:`~monolith_np._compile.gpu_device` and calls them with a single element
per thread. Rules allocate nothing, raise nothing and read no globals;
:func:`row_of` is a jitable helper the GPU gradient kernels use to find an
id's row.
"""

from __future__ import annotations

import math

from .._compile import jitable

__all__ = ["row_of", "segment_reduce_row", "segment_spread_rows", "shifted_copy", "seq_mask_row", "pool_rows_row",
           "pool_first_n", "EMPTY_ROW"]

#: The row of an id without an entry (a table's ``EMPTY``): it reads as zeros.
EMPTY_ROW = -1


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


@jitable(inline=True)
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
        _divide_by_count(out_row, end - start, col_lo, col_hi)


@jitable
def _divide_by_count(out_row, count, col_lo, col_hi):
    """``out_row[j] *= fl(1 / count)`` (the reciprocal rounded to the output dtype; ``count == 0``: inf)."""
    # 1/count in double like the original; the branch keeps pure-Python runs
    # (simulator, NUMBA_DISABLE_JIT) from raising ZeroDivisionError.
    scale = math.inf if count == 0 else 1.0 / count
    for j in range(col_lo, col_hi):
        total = out_row[j]
        out_row[j] = scale  # rounds fl(1/count) to the output dtype, as the original's float cast
        out_row[j] = total * out_row[j]


@jitable(inline=True)
def pool_rows_row(values, rows, start, end, mean, checked, out_row, col_lo, col_hi):
    """:func:`segment_reduce_row` of the table rows ``values[rows[i]]``, ``i`` in ``[start, end)``.

    An embedding bag pooled straight from the row store: no ``(n, dim)``
    copy of the looked-up rows. ``out_row`` is the bag's slot of the
    output (its columns are the rows' columns); columns ``[col_lo, col_hi)``
    only. With ``checked`` a row ``EMPTY_ROW`` (an id without an entry) reads
    as zeros and is skipped: the running sum starts at +0 and never becomes
    -0, so adding a zero row would not change a bit. Without it every row
    must be a real one (the caller knows the batch has no ``EMPTY_ROW``): the
    row loop then has no test in it and runs about twice as fast on the CPU.
    """
    for j in range(col_lo, col_hi):
        out_row[j] = 0
    if checked:
        for i in range(start, end):
            r = rows[i]
            if r != EMPTY_ROW:
                v = values[r]
                for j in range(col_lo, col_hi):
                    out_row[j] += v[j]
    else:
        for i in range(start, end):
            v = values[rows[i]]  # a row view: the column loop vectorises (2.5x over 2-D indexing)
            for j in range(col_lo, col_hi):
                out_row[j] += v[j]
    if mean:
        _divide_by_count(out_row, end - start, col_lo, col_hi)


def pool_first_n(values, rows, start, end, out_row, n, dim, k_lo, k_hi, j_lo, j_hi):
    """The first ``n`` table rows of a bag, zero-padded, laid out ``n x dim`` in ``out_row``.

    Position ``k`` in ``[k_lo, k_hi)``, column ``j`` in ``[j_lo, j_hi)``:
    ``out_row[k * dim + j] = values[rows[start + k], j]``, or 0 past the
    bag's end or for an ``EMPTY_ROW`` (the forward of :func:`shifted_copy`
    read through ``rows``).
    """
    for k in range(k_lo, k_hi):
        r = rows[start + k] if start + k < end else EMPTY_ROW
        for j in range(j_lo, j_hi):
            out_row[k * dim + j] = 0 if r == EMPTY_ROW else values[r, j]


@jitable(inline=True)
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


@jitable(inline=True)
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


@jitable(inline=True)
def seq_mask_row(start, end, out_row, col_lo, col_hi):
    """Write ``out_row[j] = 1 if j < min(end - start, len(out_row)) else 0`` for ``j`` in ``[col_lo, col_hi)``."""
    length = min(end - start, out_row.shape[0])
    for j in range(col_lo, col_hi):
        if j < length:
            out_row[j] = 1
        else:
            out_row[j] = 0



def bag_grad_sources(start, end, first, row, n, zero_row, mean, index, scale):
    """Where each id of one bag reads its gradient row: ``index[first + k]`` (and ``scale`` for a mean).

    The ids ``[start, end)`` of a bag whose pooled gradient is row ``row`` of
    a stacked gradient array (sum and mean: every id reads ``row``, a mean
    times ``fl(1 / count)``), or, for ``n > 0`` (first-n), rows
    ``row + k`` for the first ``n`` ids and ``zero_row`` (a zero row) for the
    rest. ``first`` is where the bag's first id sits in ``index``.
    """
    count = end - start
    for k in range(count):
        if n > 0:
            index[first + k] = row + k if k < n else zero_row
        else:
            index[first + k] = row
        if mean:
            scale[first + k] = 1.0 / count  # rounds fl(1/count) to float32, as segment_spread_rows
