"""``index.put_rows``: every band count, serial and parallel, equals writing the rows in batch order."""

import numpy as np
import pytest

from monolith_np.table import index as ix


def reference(values, rows, src):
    out = values.copy()
    for i, r in enumerate(rows):
        if r != ix.EMPTY:
            out[r] = src[i]  # a repeated row: the last occurrence wins
    return out


@pytest.mark.parametrize("compiled", ["_serial", "_parallel"])
@pytest.mark.parametrize("bands", [1, 2, 3, 7])
def test_put_rows_equals_batch_order(compiled, bands):
    rng = np.random.default_rng(bands)
    values = rng.standard_normal((1000, 5)).astype(np.float32)
    rows = rng.integers(-1, 1000, 20_000)  # many repeats (each row ~20 times) and EMPTY rows
    rows[rows < 0] = ix.EMPTY
    src = rng.standard_normal((rows.size, 5)).astype(np.float32)
    want = reference(values, rows, src)
    getattr(ix.put_rows, compiled)(values, rows, src, bands)
    np.testing.assert_array_equal(values, want)


def test_put_rows_more_bands_than_rows():
    values = np.zeros((2, 1), np.float32)
    ix.put_rows(values, np.array([1, 0, 1]), np.float32([[1], [2], [3]]), 8)
    assert values.ravel().tolist() == [2.0, 3.0]
