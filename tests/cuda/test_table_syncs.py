"""Device-to-host reads of one public call on a warmed-up ``EmbeddingHashTable(device="cuda")``.

Every read the table does of its device arrays goes through
:func:`monolith_np._backend.host_read`, so :func:`~monolith_np._backend.host_reads`
counts a call's synchronisations (under the simulator the "device" arrays are
numpy arrays and nothing else would see them). The table is warmed up first:
kernels compiled, room reserved, so no call here grows it.
"""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np._backend import host_reads
from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer, SgdOptimizer
from monolith_np.table import EmbeddingHashTable

# The simulator runs the hash rules as Python on numpy scalars, which warn when they wrap (on purpose).
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

DIM = 3


def _table():
    segs = [(2, RandomUniformInitializer(-1.0, 1.0, seed=3), AdagradOptimizer(initial_accumulator_value=0.1)),
            (1, RandomUniformInitializer(seed=4), SgdOptimizer(learning_rate=0.5))]
    table = EmbeddingHashTable(segs, capacity=512, device="cuda")
    ids = np.arange(-20, 20, dtype=np.int64)
    table.insert(ids)  # every kernel of an insert compiled
    table.lookup(ids)
    table.apply_gradients(ids, np.ones((ids.size, DIM), np.float32))
    return table


def _reads(call, *args, **kwargs):
    before = host_reads()
    call(*args, **kwargs)
    return host_reads() - before


def test_lookup_reads_nothing_back():
    table = _table()
    ids = np.array([3, -7, 99, 3, 0], np.int64)  # present, absent and repeated ids
    assert _reads(table.lookup, ids) == 0
    assert _reads(table.find, ids) == 0


def test_insert_reads_once():
    table = _table()
    # one read sizes the new rows (status words, new and present keys per sub-table together), present ids or not
    assert _reads(table.insert, np.array([1, 2, 2, -3], np.int64)) == 1
    # the placement's status stays on the device until the next read
    assert _reads(table.insert, np.array([100, 101, 100, 5], np.int64)) == 1
    assert table.size == 42
    np.testing.assert_array_equal(table.contains(np.array([100, 101, 5, 102], np.int64)), [True, True, True, False])


def test_apply_gradients_reads_once():
    table = _table()
    ids = np.array([1, 2, 2, -3], np.int64)
    grads = np.ones((ids.size, DIM), np.float32)
    # learning rates resolved once on the host, rows trusted by the optimizers: only the insert's read
    assert _reads(table.apply_gradients, ids, grads) == 1
    assert _reads(table.apply_gradients, ids, grads, learning_rate=0.1) == 1
    new = np.array([200, 1, 200, 201], np.int64)
    assert _reads(table.apply_gradients, new, grads) == 1
    assert table.size == 42


def test_apply_gradients_without_dedup_reads_the_rows_once_more():
    table = _table()
    ids = np.array([1, 2, 2, -3], np.int64)
    # dedup=False orders the occurrences on the host: it reads the rows back
    assert _reads(table.apply_gradients, ids, np.ones((ids.size, DIM), np.float32), dedup=False) == 2


def test_a_failed_placement_is_reported_by_the_next_read():
    from monolith_np.table._ops import GpuOps

    ops = GpuOps()
    slots, counts, parts, log2s = ops.rehash(np.empty(0, np.int64), 4)  # one sub-table of 4 slots
    ids = np.arange(10, 16, dtype=np.int64)  # 6 keys for 4 slots: a caller that skips the room check
    plan, fits = ops.plan(slots, counts, parts, log2s, ids)
    assert not fits and plan.total == 6
    rows = np.empty(ids.size, np.int64)
    ops.place(slots, counts, log2s, plan, 0, np.empty(6, np.int64), ids, rows)  # reads nothing, raises nothing
    with pytest.raises(RuntimeError, match="GPU insert reported a full sub-table"):
        ops.settle()
    with pytest.raises(RuntimeError, match="GPU insert reported a full sub-table"):  # the failure stays
        ops.plan(slots, counts, parts, log2s, ids[:1])


def test_a_device_learning_rate_vector_is_read_once():
    table = _table()
    ids = np.array([1, 2], np.int64)
    lrs = np.array([0.1, 0.2], np.float32)  # stands for a device array under the simulator
    assert _reads(table.apply_gradients, ids, np.ones((ids.size, DIM), np.float32), learning_rate=lrs) <= 1
