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


def test_insert_reads_once_per_step():
    table = _table()
    # present ids: nothing to place, nothing read
    assert _reads(table.insert, np.array([1, 2, 2, -3], np.int64)) == 0
    # new ids: one read after the de-duplication (status, new and present counts together), one status read
    # after the placement
    assert _reads(table.insert, np.array([100, 101, 100, 5], np.int64)) == 2
    assert table.size == 42


def test_apply_gradients_reads_at_most_once_from_the_table():
    table = _table()
    ids = np.array([1, 2, 2, -3], np.int64)
    grads = np.ones((ids.size, DIM), np.float32)
    # dedup=False orders the occurrences on the host: it reads the rows back, once
    assert _reads(table.apply_gradients, ids, grads, dedup=False) == 1


def test_apply_gradients_reads_nothing_for_present_ids():
    table = _table()
    ids = np.array([1, 2, 2, -3], np.int64)
    # learning rates resolved once on the host, rows trusted by the optimizers: no row-range read
    assert _reads(table.apply_gradients, ids, np.ones((ids.size, DIM), np.float32)) == 0
    assert _reads(table.apply_gradients, ids, np.ones((ids.size, DIM), np.float32), learning_rate=0.1) == 0


def test_apply_gradients_with_new_ids_reads_like_an_insert():
    table = _table()
    ids = np.array([200, 1, 200, 201], np.int64)
    # the insert's two reads (new-key counts to size the growth, the placement's status word), nothing more
    assert _reads(table.apply_gradients, ids, np.ones((ids.size, DIM), np.float32)) == 2


def test_a_device_learning_rate_vector_is_read_once():
    table = _table()
    ids = np.array([1, 2], np.int64)
    lrs = np.array([0.1, 0.2], np.float32)  # stands for a device array under the simulator
    assert _reads(table.apply_gradients, ids, np.ones((ids.size, DIM), np.float32), learning_rate=lrs) <= 1
