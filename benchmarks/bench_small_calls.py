"""Small and mid-sized calls on 1 and 2 threads, on an idle machine and with one core kept busy (issue 14).

The rule under test: for every call, numba's 2 threads are never more than
10% slower than 1 thread. Each group compares ``monolith_np`` (2 threads) and
``monolith_np_1thread`` (``numba.set_num_threads`` around the call) on the same
data, so ``tools/perf_report.py``'s speed-up column reads 1-thread time / 2-thread
time (at least 0.9 is the rule):

* ``small_lookup-<n>-<load>``: ``EmbeddingHashTable.lookup(ids, out=out)`` of
  ``n`` Zipf(1.1) ids of a table of 1,000,000 entries (16 floats, Adagrad);
* ``small_apply-<n>-<load>``: ``apply_gradients`` of ``n`` such ids with
  16-float gradients (dedup, Adagrad; every id present);
* ``small_step-<n>-<load>``: an ``EmbeddingCollection`` step (forward +
  backward, gradient ones) over 2 features of such tables, bags of 1-8 ids,
  about ``n`` ids in all.

``n`` is 256, 4,096 and 65,536 ids. ``<load>`` is ``idle``, or ``busy``: a
separate process spins on one core for the whole timed region (as a data
loader or a second job would). ``docs/performance.md`` reports the 2-thread /
1-thread ratios. With ``--benchmark-disable`` each case runs
once on a 4,000-entry table.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp

import numba
import numpy as np
import pytest

from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer
from monolith_np.table import EmbeddingCollection, EmbeddingHashTable

SIZES = [256, 4096, 65536]
DIM = 16


def _spin(stop):
    x = 0
    while not stop.is_set():
        x += 1


@contextlib.contextmanager
def _load(kind):
    if kind == "idle":
        yield
        return
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    proc = ctx.Process(target=_spin, args=(stop,), daemon=True)
    proc.start()
    try:
        yield
    finally:
        stop.set()
        proc.join(5)


@contextlib.contextmanager
def _threads(n):
    old = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _mix(x):
    return (x.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)).view(np.int64)


class _Data:
    def __init__(self, rows):
        self.rows = rows
        self.tables = [self._table(rows, seed) for seed in range(2)]
        self.rng = np.random.default_rng(0)

    @staticmethod
    def _table(rows, seed):
        t = EmbeddingHashTable([(DIM, RandomUniformInitializer(-0.05, 0.05, seed=seed),
                                 AdagradOptimizer(0.01, initial_accumulator_value=0.1))], capacity=rows)
        t.insert(_mix(np.arange(rows)))
        return t

    def ids(self, n):
        return _mix((self.rng.zipf(1.1, n) - 1) % self.rows)


@pytest.fixture(scope="module")
def data(request):
    disabled = request.config.getoption("benchmark_disable", False)
    return _Data(4000 if disabled else 1_000_000)


def _case(benchmark, op, n, load, threads):
    benchmark.group = f"small_{op}-{n}-{load}"
    benchmark.extra_info["impl"] = "monolith_np_1thread" if threads == 1 else "monolith_np"
    benchmark.extra_info["numba_threads"] = min(threads, numba.config.NUMBA_NUM_THREADS)


def _time(benchmark, fn, threads, load):
    with _load(load), _threads(threads):
        for _ in range(20):  # warm-up: JIT, and each kernel's thread-count timings
            fn()
        benchmark.pedantic(fn, rounds=50, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("load", ["idle", "busy"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", SIZES)
def test_lookup(benchmark, data, n, threads, load):
    _case(benchmark, "lookup", n, load, threads)
    table, ids = data.tables[0], data.ids(n)
    out = np.empty((n, DIM), np.float32)
    _time(benchmark, lambda: table.lookup(ids, out=out), threads, load)
    np.testing.assert_array_equal(out, table.lookup(ids))


@pytest.mark.parametrize("load", ["idle", "busy"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", SIZES)
def test_apply(benchmark, data, n, threads, load):
    _case(benchmark, "apply", n, load, threads)
    table, ids = data.tables[0], data.ids(n)
    grads = np.full((n, DIM), 1e-3, np.float32)
    size = table.size
    _time(benchmark, lambda: table.apply_gradients(ids, grads), threads, load)
    assert table.size == size  # every id was present: nothing inserted


@pytest.mark.parametrize("load", ["idle", "busy"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", SIZES)
def test_step(benchmark, data, n, threads, load):
    _case(benchmark, "step", n, load, threads)
    coll = EmbeddingCollection({"a": data.tables[0], "b": data.tables[1]}, {"a": "a", "b": "b"})
    rng = np.random.default_rng(n)
    lengths = rng.integers(1, 9, 2 * max(1, round(n / 9)))  # 2 features' bags of 4.5 ids on average: ~n ids
    values = data.ids(int(lengths.sum()))

    def step():
        out, batch = coll.forward(values, lengths=lengths)
        coll.backward(batch, np.ones_like(out))

    size = data.tables[0].size
    _time(benchmark, step, threads, load)
    assert data.tables[0].size == size
