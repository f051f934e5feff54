"""``EmbeddingHashTable(device="cuda")`` equals the CPU table, operation by operation.

Under the simulator the GPU table keeps numpy arrays and launches the
numba.cuda drivers of :mod:`monolith_np.cuda.table`; on a real GPU
(``MONOLITH_NP_REAL_GPU=1``) it keeps CuPy arrays. Rows may be numbered
differently on the GPU, so everything is compared by id.
"""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np._backend import to_numpy
from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer, SgdOptimizer
from monolith_np.proto import SlotExpireTimeConfig
from monolith_np.table import EmbeddingHashTable
from monolith_np.table.filters import HashFilter, SlotOccurrenceThreshold

# The simulator runs the hash rules as Python on numpy scalars, which warn when they wrap (on purpose).
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

I64 = np.iinfo(np.int64)
DIM = 3


def _pair(make_filter=None, **kwargs):
    """A CPU and a GPU table of the same config, each with its own filter from ``make_filter``."""
    def make(device):
        segs = [(2, RandomUniformInitializer(-1.0, 1.0, seed=3), AdagradOptimizer(initial_accumulator_value=0.1)),
                (1, RandomUniformInitializer(seed=4), SgdOptimizer(learning_rate=0.5))]
        if make_filter is not None:
            kwargs["occurrence_filter"] = make_filter()
        return EmbeddingHashTable(segs, device=device, **kwargs)

    return make("cpu"), make("cuda")


def _same(cpu, gpu):
    a, b = cpu.export(), gpu.export()
    ia, ib = np.argsort(a[0]), np.argsort(to_numpy(b[0]))
    np.testing.assert_array_equal(a[0][ia], to_numpy(b[0])[ib])
    np.testing.assert_array_equal(a[1][ia], to_numpy(b[1])[ib])
    for sa, sb in zip(a[2], b[2]):
        for key in sa:
            np.testing.assert_array_equal(sa[key][ia], to_numpy(sb[key])[ib])
    np.testing.assert_array_equal(a[3][ia], to_numpy(b[3])[ib])


def _batch(rng, n):
    pool = np.array([0, -1, 1, I64.min, I64.max, 1 << 48, 7, 8, 9, 10], np.int64)
    return np.concatenate([pool[rng.integers(0, pool.size, n // 2)], rng.integers(-50, 50, n - n // 2)])


def test_gpu_table_matches_cpu_through_every_operation(tmp_path):
    expire = SlotExpireTimeConfig(default_expire_time=1)
    expire.slot_expire_times.add(slot=1, expire_time=0)
    cpu, gpu = _pair(capacity=1, slot_expire_time_config=expire)
    rng = np.random.default_rng(0)
    for step in range(4):
        ids = _batch(rng, 24)
        grads = ((np.arange(24 * DIM).reshape(24, DIM) % 7) - 3).astype(np.float32) / 4
        for t in (cpu, gpu):
            t.apply_gradients(ids, grads, global_step=step, update_time=100 * step, dedup=step % 2 == 0)
        _same(cpu, gpu)
        small = np.arange(6, dtype=np.float32).reshape(2, DIM)
        for t in (cpu, gpu):
            t.assign(ids[:2], small, update_time=50)
            t.assign_add(ids[2:4], small, update_time=60)
        _same(cpu, gpu)
        probe = _batch(rng, 16)
        np.testing.assert_array_equal(to_numpy(gpu.lookup(probe)), cpu.lookup(probe))
        np.testing.assert_array_equal(to_numpy(gpu.reinitialize(ids[:5])), cpu.reinitialize(ids[:5]))
        assert gpu.erase(ids[5:9]) == cpu.erase(ids[5:9])
        _same(cpu, gpu)
    assert gpu.evict(250) == cpu.evict(250)
    _same(cpu, gpu)
    gpu.save(tmp_path / "g")
    back = EmbeddingHashTable(cpu.entry, capacity=3)
    back.restore(tmp_path / "g")
    _same(cpu, back)
    gpu2 = _pair()[1]
    gpu2.restore(tmp_path / "g")
    _same(cpu, gpu2)


def test_gpu_table_with_an_occurrence_filter():
    thresholds = SlotOccurrenceThreshold(default_occurrence_threshold=2)
    cpu, gpu = _pair(lambda: HashFilter(100), occurrence_threshold=thresholds)
    ids = np.array([5, 5, 6, 7, 5], np.int64)
    for _ in range(3):
        for t in (cpu, gpu):
            t.apply_gradients(ids, np.ones((5, DIM), np.float32))
        _same(cpu, gpu)


def test_gpu_table_growth_disabled_raises():
    from monolith_np.table import TableFullError

    _, gpu = _pair(capacity=2, growth=False)
    with pytest.raises(TableFullError, match="size 0"):
        gpu.insert(np.arange(40, dtype=np.int64))
    assert gpu.size == 0
