"""The collection's CPU pooling (``monolith_np.table.pooling.pool_rows``) against a float32 numpy loop, bit for bit.

Both kernel paths are drawn: batches whose rows are all real (the row loop
without a test) and batches with ``EMPTY`` rows (read as zeros).
"""

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np.table import pooling as P

FLOATS = st.floats(-1e4, 1e4, width=32)


def reference(values, rows, splits, shift, mean, out, col):
    """Each bag's rows added one at a time in float32, from +0; the mean times float32(1 / count)."""
    dim = values.shape[1]
    for b in range(splits.size - 1):
        acc = np.zeros(dim, np.float32)
        lo, hi = splits[b] + shift, splits[b + 1] + shift
        for i in range(lo, hi):
            if rows[i] >= 0:
                acc = acc + values[rows[i]]
        if mean:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an empty bag: 0 * inf
                acc = acc * np.float32(1.0 / (hi - lo) if hi > lo else np.inf)
        out[b, col:col + dim] = acc


@st.composite
def batches(draw):
    lengths = draw(st.lists(st.integers(0, 9), max_size=12))
    base, lead = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    splits = base + np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    m = lead + int(sum(lengths))
    num_rows, dim = draw(st.integers(1, 12)), draw(st.sampled_from([1, 3, 8, 16, 17, 33]))
    values = draw(hnp.arrays(np.float32, (num_rows, dim), elements=FLOATS))
    low = -1 if draw(st.booleans()) else 0  # with or without EMPTY rows
    rows = np.array(draw(st.lists(st.integers(low, num_rows - 1), min_size=m, max_size=m)), np.int64)
    return values, rows, splits, lead - base


@settings(max_examples=150, deadline=None)
@given(batch=batches(), mean=st.booleans(), col=st.integers(0, 3))
def test_pool_rows_matches_a_float32_loop(batch, mean, col):
    values, rows, splits, shift = batch
    out = np.full((splits.size - 1, col + values.shape[1] + 2), -7, np.float32)
    want = out.copy()
    reference(values, rows, splits, shift, mean, want, col)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        P.pool_rows(values, rows, splits, shift, mean, out, col)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(out[ok].view(np.uint32), want[ok].view(np.uint32))


def test_pool_rows_both_paths_on_a_large_batch():
    """Thousands of bags (the parallel path), once with every row real and once with EMPTY rows among them."""
    rng = np.random.default_rng(3)
    values = rng.standard_normal((5000, 16)).astype(np.float32)
    lengths = rng.integers(0, 8, 20_000)
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    rows = rng.integers(0, 5000, splits[-1])
    for r in (rows, np.where(rng.random(rows.size) < 0.1, -1, rows)):
        out, want = np.empty((lengths.size, 16), np.float32), np.empty((lengths.size, 16), np.float32)
        P.pool_rows(values, r, splits, 0, False, out, 0)
        reference(values, r, splits, 0, False, want, 0)
        np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))
