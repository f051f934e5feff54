"""GPU drivers of monolith_np.ragged under the CUDA simulator: results equal the CPU path.

Run in its own process with ``NUMBA_ENABLE_CUDASIM=1`` (see ``tests/cuda/conftest.py``). The
drivers allocate nothing, so they run here on small numpy arrays; blocks are patched to 8
threads so every launch spans several blocks and the grid-stride loops are exercised.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np import ragged as R
from monolith_np._rules import ragged as rules
from monolith_np.cuda import ragged as G

FLOATS = st.floats(-100, 100, width=32, allow_subnormal=False)


@st.composite
def batches(draw):
    """Small ragged batches: empty rows, B = 0/1, D = 1, int32/int64 splits, float32/float64."""
    lengths = draw(st.lists(st.integers(0, 4), max_size=5))
    dim = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(draw(st.sampled_from([np.int32, np.int64])))
    values = draw(hnp.arrays(dtype, (int(splits[-1]), dim), elements=FLOATS))
    grad = draw(hnp.arrays(dtype, (len(lengths), dim), elements=FLOATS))
    return values, splits, grad


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0 * inf of empty-row means, in Python scalars
        fn(*args)


@pytest.mark.parametrize("mean", [0, 1])
@settings(max_examples=12)
@given(batch=batches())
def test_reduce_and_grad_match_cpu(mean, batch):
    values, splits, grad = batch
    out = np.full((len(splits) - 1, values.shape[1]), -7, values.dtype)
    _quiet(G.reduce_gpu, values, splits, mean, out)
    cpu = (R.reduce_mean if mean else R.reduce_sum)(values, row_splits=splits)
    np.testing.assert_array_equal(out, cpu)
    d_values = np.full_like(values, -7)
    G.reduce_grad_gpu(grad, splits, mean, d_values)
    np.testing.assert_array_equal(d_values, (R.reduce_mean_grad if mean else R.reduce_sum_grad)(grad, row_splits=splits))


@settings(max_examples=12)
@given(batch=batches(), n=st.integers(1, 5), data=st.data())
def test_first_n_and_grad_match_cpu(batch, n, data):
    values, splits, _ = batch
    out = np.full((len(splits) - 1, n, values.shape[1]), -7, values.dtype)
    G.first_n_gpu(values, splits, out)
    np.testing.assert_array_equal(out, R.first_n(values, n, row_splits=splits))
    grad = data.draw(hnp.arrays(values.dtype, out.shape, elements=FLOATS))
    d_values = np.full_like(values, -7)
    G.first_n_grad_gpu(grad, splits, d_values)
    np.testing.assert_array_equal(d_values, R.first_n_grad(grad, row_splits=splits))


@settings(max_examples=12)
@given(batch=batches(), max_seq_length=st.integers(0, 6))
def test_seq_mask_matches_cpu(batch, max_seq_length):
    _, splits, _ = batch
    out = np.full((len(splits) - 1, max_seq_length), -7, splits.dtype)
    G.seq_mask_gpu(splits, out)
    np.testing.assert_array_equal(out, R.gen_seq_mask(splits, max_seq_length))


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_golden_seq_mask(dtype):
    out = np.empty((4, 6), dtype)
    G.seq_mask_gpu(np.array([0, 5, 7, 9, 13], dtype), out)
    np.testing.assert_array_equal(
        out, [[1, 1, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]]
    )


def test_more_items_than_grid_threads(monkeypatch):
    """The grid-stride loops cover work beyond one pass of the grid."""
    from monolith_np import _config

    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)  # 2 blocks x 8 threads = 16 threads
    splits = np.array([0, 3, 3, 9, 9, 10], np.int64)
    values = np.arange(40, dtype=np.float32).reshape(10, 4)
    out = np.empty((5, 4), np.float32)  # 20 items
    _quiet(G.reduce_gpu, values, splits, 1, out)
    np.testing.assert_array_equal(out, R.reduce_mean(values, row_splits=splits))
    d_values = np.empty_like(values)  # 40 items
    G.reduce_grad_gpu(out, splits, 0, d_values)
    np.testing.assert_array_equal(d_values, R.reduce_sum_grad(out, row_splits=splits))


def test_row_of_binary_search_with_empty_rows():
    splits = np.array([0, 0, 2, 2, 2, 5, 6, 6], np.int64)
    owners = [rules.row_of(splits, i) for i in range(6)]
    assert owners == [1, 1, 4, 4, 4, 5]


class _NumpyAsDevice:
    """numpy under another name: the public functions take their GPU branch, which the simulator runs on numpy."""

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1", reason="feeds numpy arrays to the GPU branch")
def test_public_functions_reach_every_gpu_driver(monkeypatch):
    """The public functions and combiners call each ``gpu_drivers().ragged`` driver, with the CPU's results."""
    splits = np.array([0, 2, 2, 5, 6], np.int64)
    lengths = np.diff(splits)
    values = np.arange(18, dtype=np.float32).reshape(6, 3) / 7
    calls = [
        lambda: R.reduce_sum(values, row_splits=splits),
        lambda: R.reduce_mean(values, row_lengths=lengths),
        lambda: R.reduce_sum_grad(values[:4], row_splits=splits),
        lambda: R.reduce_mean_grad(values[:4], row_lengths=lengths),
        lambda: R.first_n(values, 2, row_splits=splits),
        lambda: R.first_n_grad(np.arange(24, dtype=np.float32).reshape(4, 2, 3), row_splits=splits),
        lambda: R.gen_seq_mask(splits, 3),
        lambda: R.FirstN(2).combine((np.arange(6), splits), values),
        lambda: R.ReduceMean().combine_grad(R.Ragged.from_row_lengths(np.arange(6), lengths), values[:4]),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the NaN mean of the empty row
        cpu = [call() for call in calls]
        called = []
        for name in G.__all__:
            driver = getattr(G, name)
            monkeypatch.setattr(G, name, lambda *args, _d=driver, _n=name: (called.append(_n), _d(*args))[1])
        monkeypatch.setattr(R, "array_module", lambda *arrays, **named: _NumpyAsDevice())
        gpu = [call() for call in calls]
    assert sorted(set(called)) == sorted(G.__all__)
    for got, want in zip(gpu, cpu):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
