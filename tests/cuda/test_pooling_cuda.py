"""GPU drivers of the collection's pooling (``monolith_np.cuda.pooling``) against the CPU drivers, bit for bit.

Under the simulator (``NUMBA_ENABLE_CUDASIM=1``) the drivers allocate nothing
and run on numpy arrays; on a real GPU (``MONOLITH_NP_REAL_GPU=1``) the same
tests move the inputs to the device first. Blocks are 8 threads (conftest) and
at most 2 of them here, so every launch takes several grid-stride turns.

The end-to-end test runs :class:`~monolith_np.table.EmbeddingCollection` over
``device="cuda"`` tables next to the same collection over CPU tables. Under
the simulator the GPU tables keep numpy arrays, so the collection's GPU branch
is reached by presenting numpy as the device module (as
``test_ragged_cuda.test_public_functions_reach_every_gpu_driver`` does).
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba import cuda

from monolith_np import _config
from monolith_np._backend import to_numpy
from monolith_np.cuda import pooling as G
from monolith_np.table import pooling as P

# The simulator runs the tables' hash rules as Python on numpy scalars, which warn when they wrap (on purpose).
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

REAL_GPU = os.environ.get("MONOLITH_NP_REAL_GPU") == "1"
FLOATS = st.floats(-100, 100, width=32, allow_subnormal=False)
SENTINEL = -7


def device(a):
    """Host array -> what the drivers take (numpy under the simulator, a device array on a GPU)."""
    return cuda.to_device(a) if REAL_GPU else a


def host(a):
    return a.copy_to_host() if REAL_GPU else a


@pytest.fixture(autouse=True)
def _two_blocks(monkeypatch):
    """Fewer threads than items (2 blocks), so the grid-stride loops take several turns."""
    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0 * inf of an empty bag's mean, in Python scalars
        fn(*args)


def assert_same_bits(got, want):
    """Equal bit for bit, except that any NaN matches any NaN (a GPU's NaN has another payload)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "f":
        nan = np.isnan(want)
        np.testing.assert_array_equal(np.isnan(got), nan)
        bits = {4: np.uint32, 8: np.uint64}[got.dtype.itemsize]
        np.testing.assert_array_equal(got[~nan].view(bits), want[~nan].view(bits))
    else:
        np.testing.assert_array_equal(got, want)


@st.composite
def bags(draw):
    """One feature's bags over a table's resolved rows.

    Bag lengths 0..4 (empty bags, B = 0), bag bounds starting anywhere in the
    batch (``base``) and ids anywhere in the resolved rows (``lead``), rows
    with ``EMPTY`` (-1) entries and repeats, a small row store.
    """
    lengths = draw(st.lists(st.integers(0, 4), max_size=6))
    base = draw(st.integers(0, 3))
    splits = base + np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    lead, trail = draw(st.integers(0, 3)), draw(st.integers(0, 2))
    m = lead + int(sum(lengths)) + trail
    num_rows, dim = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    values = draw(hnp.arrays(np.float32, (num_rows, dim), elements=FLOATS))
    rows = np.array(draw(st.lists(st.integers(-1, num_rows - 1), min_size=m, max_size=m)), np.int64)
    return values, rows, splits, lead - base


@settings(max_examples=20)
@given(batch=bags(), mean=st.integers(0, 1), col=st.integers(0, 3), extra=st.integers(0, 2))
def test_pool_rows_matches_cpu(batch, mean, col, extra):
    values, rows, splits, shift = batch
    out = np.full((splits.size - 1, col + values.shape[1] + extra), SENTINEL, np.float32)
    want = out.copy()
    _quiet(P.pool_rows, values, rows, splits, shift, bool(mean), want, col)
    got = device(out)
    _quiet(G.pool_rows_gpu, device(values), device(rows), device(splits), shift, mean, got, col)
    assert_same_bits(host(got), want)


@settings(max_examples=20)
@given(batch=bags(), n=st.integers(1, 4), col=st.integers(0, 3), extra=st.integers(0, 2))
def test_pool_first_n_matches_cpu(batch, n, col, extra):
    values, rows, splits, shift = batch
    out = np.full((splits.size - 1, col + n * values.shape[1] + extra), SENTINEL, np.float32)
    want = out.copy()
    P.pool_first_n_rows(values, rows, splits, shift, n, want, col)
    got = device(out)
    G.pool_first_n_gpu(device(values), device(rows), device(splits), shift, n, got, col)
    assert_same_bits(host(got), want)


@settings(max_examples=20)
@given(batch=bags(), n=st.integers(0, 4), mean=st.integers(0, 1), first_row=st.integers(0, 5))
def test_grad_sources_match_cpu(batch, n, mean, first_row):
    _, rows, splits, shift = batch
    zero_row = 1000
    index = np.full(rows.size, SENTINEL, np.int64)
    scale = np.full(rows.size, SENTINEL, np.float32)
    want_index, want_scale = index.copy(), scale.copy()
    P.grad_sources(splits, shift, first_row, max(n, 1), n, zero_row, bool(mean), want_index, want_scale)
    got_index, got_scale = device(index), device(scale)
    G.grad_sources_gpu(device(splits), shift, first_row, max(n, 1), n, zero_row, mean, got_index, got_scale)
    assert_same_bits(host(got_index), want_index)
    assert_same_bits(host(got_scale), want_scale)


def test_golden_cases():
    """The CPU drivers' documented examples, on the GPU drivers."""
    out = device(np.zeros((2, 3), np.float32))
    G.pool_rows_gpu(device(np.float32([[1, 2], [3, 4]])), device(np.array([0, 1, -1])), device(np.array([5, 7, 8])),
                    -5, 0, out, 1)
    assert host(out).tolist() == [[0.0, 4.0, 6.0], [0.0, 0.0, 0.0]]
    out = device(np.zeros((1, 4), np.float32))
    G.pool_first_n_gpu(device(np.float32([[1], [2]])), device(np.array([1, 0, 1])), device(np.array([0, 3])), 0, 4,
                       out, 0)
    assert host(out).tolist() == [[2.0, 1.0, 2.0, 0.0]]
    index, scale = device(np.empty(3, np.int64)), device(np.empty(3, np.float32))
    G.grad_sources_gpu(device(np.array([0, 2, 3])), 0, 10, 1, 0, 99, 1, index, scale)
    assert host(index).tolist() == [10, 10, 11]
    assert host(scale).tolist() == [0.5, 0.5, 1.0]


def test_mean_of_empty_bag_is_nan_and_zero_bags_launch_nothing():
    values = np.float32([[1, 2]])
    out = device(np.full((2, 2), SENTINEL, np.float32))
    _quiet(G.pool_rows_gpu, device(values), device(np.array([0, 0])), device(np.array([0, 0, 2])), 0, 1, out, 0)
    got = host(out)
    assert np.isnan(got[0]).all() and got[1].tolist() == [1.0, 2.0]
    empty = device(np.zeros((0, 2), np.float32))
    G.pool_rows_gpu(device(values), device(np.array([0])), device(np.array([3])), 0, 0, empty, 0)
    G.pool_first_n_gpu(device(values), device(np.array([0])), device(np.array([3])), 0, 2, empty, 0)
    G.grad_sources_gpu(device(np.array([3])), 0, 0, 1, 0, 0, 0, device(np.empty(0, np.int64)),
                       device(np.empty(0, np.float32)))


# -- the collection over GPU tables ----------------------------------------------------


class _NumpyAsDevice:
    """numpy under another name: the collection takes its GPU branch, which the simulator runs on numpy."""

    def __getattr__(self, name):
        return getattr(np, name)


@contextlib.contextmanager
def _gpu_branch(monkeypatch):
    """Under the simulator, let numpy arrays pass for device arrays in the collection."""
    if REAL_GPU:
        yield
        return
    from monolith_np.table import collection

    with monkeypatch.context() as m:
        m.setattr(collection, "get_cupy", lambda: _NumpyAsDevice())
        m.setattr(collection, "is_cuda_array", lambda x: isinstance(x, np.ndarray))
        yield


def _to_gpu(a):
    if not REAL_GPU:
        return a
    import cupy

    return cupy.asarray(a)


def _tables(device_name):
    from monolith_np.entry import OnesInitializer, RandomUniformInitializer
    from monolith_np.optim import AdagradOptimizer, SgdOptimizer
    from monolith_np.table import EmbeddingHashTable

    return {
        "sgd": EmbeddingHashTable([(2, RandomUniformInitializer(-1.0, 1.0, seed=5), SgdOptimizer(learning_rate=0.5))],
                                  capacity=4, device=device_name),
        "ada": EmbeddingHashTable([(3, OnesInitializer(), AdagradOptimizer(learning_rate=0.1,
                                                                           initial_accumulator_value=0.1))],
                                  capacity=4, device=device_name),
    }


FEATURES = {"user": "sgd", "item": ("ada", "mean"), "hist": ("ada", ("first_n", 2)), "tag": ("sgd", "mean")}


def _run_collections(monkeypatch, steps, backward):
    """Train both collections side by side for ``steps`` steps; compare outputs, gradient rows and tables."""
    from monolith_np.table import EmbeddingCollection

    called = []
    for name in G.__all__:  # every GPU driver is reached (the collection looks them up on each call)
        driver = getattr(G, name)
        monkeypatch.setattr(G, name, lambda *args, _d=driver, _n=name: (called.append(_n), _d(*args))[1])
    cpu_tables, gpu_tables = _tables("cpu"), _tables("cuda")
    cpu = EmbeddingCollection(cpu_tables, FEATURES)
    gpu = EmbeddingCollection(gpu_tables, FEATURES)
    rng = np.random.default_rng(0)
    b = 4
    probe = np.arange(-7, 7, dtype=np.int64)
    for step in range(steps):
        lengths = rng.integers(0, 4, len(FEATURES) * b)  # empty bags included
        values = rng.integers(-6, 6, int(lengths.sum())).astype(np.int64)  # repeats within and across features
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the NaN mean of an empty bag
            out_c, batch_c = cpu.forward(values, lengths=lengths, update_time=10 * step)
            with _gpu_branch(monkeypatch):
                out_g, batch_g = gpu.forward(_to_gpu(values), lengths=lengths, update_time=10 * step)
        assert_same_bits(to_numpy(out_g), out_c)
        grad = (rng.integers(-4, 5, out_c.shape) / 4).astype(np.float32)
        rows_c = cpu.gradient_rows(batch_c, grad)
        with _gpu_branch(monkeypatch):
            rows_g = gpu.gradient_rows(batch_g, _to_gpu(grad))
        for name, (ids, rows) in rows_c.items():
            assert_same_bits(to_numpy(rows_g[name][0]), ids)
            assert_same_bits(to_numpy(rows_g[name][1]), rows)
        if backward:
            cpu.backward(batch_c, grad, global_step=step)
            with _gpu_branch(monkeypatch):
                gpu.backward(batch_g, _to_gpu(grad), global_step=step)
        for name in cpu_tables:
            got, want = to_numpy(gpu_tables[name].lookup(_to_gpu(probe))), cpu_tables[name].lookup(probe)
            if REAL_GPU and backward:
                # the GPU optimizer sums an id's duplicate gradients in its own order: within 2 ulp
                np.testing.assert_array_max_ulp(got, want, maxulp=2)
            else:
                assert_same_bits(got, want)
            assert gpu_tables[name].size == cpu_tables[name].size
    # Read only: absent ids read zeros, nothing is inserted.
    values = np.array([100, 1, 101, 2, 3, 102, 4], np.int64)
    lengths = np.array([1, 1, 0, 1, 2, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out_c, _ = cpu.forward(values, lengths=lengths, training=False)
        with _gpu_branch(monkeypatch):
            out_g, _ = gpu.forward(_to_gpu(values), lengths=lengths, training=False)
    assert_same_bits(to_numpy(out_g), out_c)
    assert gpu_tables["sgd"].size == cpu_tables["sgd"].size
    assert sorted(set(called)) == sorted(G.__all__)


def test_collection_forward_over_gpu_tables_matches_cpu(monkeypatch):
    """Forward (inserting) and the gradient rows of the backward plan, without the optimizer."""
    _run_collections(monkeypatch, steps=2, backward=False)


def test_collection_training_over_gpu_tables_matches_cpu(monkeypatch):
    """Forward and backward (SGD and AdaGrad tables): outputs and looked-up rows equal after every step."""
    _run_collections(monkeypatch, steps=3, backward=True)
