"""Hypothesis strategies shared by the ragged tests (CPU and CUDA-simulator lanes)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

_REFERENCE_DIR = str(Path(__file__).resolve().parents[1] / "reference")

FLOATS = st.floats(-100, 100, width=32, allow_subnormal=False)


def reference_module():
    """Import ``tests/reference/ref_ragged.py`` (it imports TensorFlow)."""
    if _REFERENCE_DIR not in sys.path:
        sys.path.insert(0, _REFERENCE_DIR)
    return importlib.import_module("ref_ragged")


@st.composite
def ragged_batches(draw, max_rows=7, max_len=5, max_dim=4, dtypes=(np.float32, np.float64), strided=True):
    """``(values[nnz, D], row_splits, row_lengths)``: empty rows, B = 0 and 1, D = 1, both split
    dtypes and, when ``strided``, sometimes non-contiguous views of the same numbers."""
    lengths = draw(st.lists(st.integers(0, max_len), max_size=max_rows))
    dim = draw(st.integers(1, max_dim))
    split_dtype = draw(st.sampled_from([np.int32, np.int64]))
    dtype = draw(st.sampled_from(dtypes))
    values = draw(hnp.arrays(dtype, (sum(lengths), dim), elements=FLOATS))
    row_lengths = np.asarray(lengths, dtype=split_dtype)
    row_splits = np.concatenate([[0], np.cumsum(lengths)]).astype(split_dtype)
    if strided and draw(st.booleans()):
        values = np.repeat(values, 2, axis=1)[:, ::2]
        row_splits = np.repeat(row_splits, 2)[::2]
    return values, row_splits, row_lengths


def upstream_like(draw, shape, dtype):
    """Draw an upstream gradient of ``shape``."""
    return draw(hnp.arrays(dtype, shape, elements=FLOATS))
