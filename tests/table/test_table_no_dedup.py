"""``apply_gradients(dedup=False)`` runs the rule once per occurrence, in order, in one pass.

Heavy multiplicity (one id thousands of times) must give exactly what one
call per occurrence gives, and cost about what distinct ids cost.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import (AdagradOptimizer, AdamOptimizer, DcOptimizerWrapper, FtrlOptimizer,
                               MomentumOptimizer, StochasticRoundingFloat16OptimizerWrapper)
from monolith_np.table import EmbeddingHashTable

OPTIMIZERS = [
    lambda: AdagradOptimizer(0.1),
    lambda: AdamOptimizer(0.01),
    lambda: FtrlOptimizer(0.1, l1_regularization=0.01),
    lambda: MomentumOptimizer(0.05),
    lambda: StochasticRoundingFloat16OptimizerWrapper(AdagradOptimizer(0.1)),
    lambda: DcOptimizerWrapper(AdagradOptimizer(0.1)),
]


def _table(make, capacity=64):
    return EmbeddingHashTable([(3, RandomUniformInitializer(-0.1, 0.1, seed=3), make()),
                               (2, RandomUniformInitializer(-0.1, 0.1, seed=4), AdagradOptimizer(0.2))],
                              capacity=capacity)


def _export(table):
    ids, values, state, ts = table.export()
    order = np.argsort(ids)
    return ids[order], values[order], [{k: a[order] for k, a in st.items()} for st in state], ts[order]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_heavy_multiplicity_equals_one_call_per_occurrence(make):
    rng = np.random.default_rng(11)
    ids = np.concatenate([np.full(300, 7), rng.integers(0, 20, 200), np.full(50, -1)]).astype(np.int64)
    rng.shuffle(ids)
    grads = rng.standard_normal((ids.size, 5)).astype(np.float32)
    one_pass, by_call = _table(make), _table(make)
    one_pass.apply_gradients(ids, grads, dedup=False, global_step=3, update_time=5)
    for i in range(ids.size):
        by_call.apply_gradients(ids[i:i + 1], grads[i:i + 1], global_step=3, update_time=5)
    for a, b in zip(_export(one_pass), _export(by_call)):
        if isinstance(a, list):
            for sa, sb in zip(a, b):
                for k in sa:
                    np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
        else:
            np.testing.assert_array_equal(a, b)


def test_grads_are_not_written():
    table = _table(lambda: DcOptimizerWrapper(AdagradOptimizer(0.1)))
    ids = np.array([1, 1, 2, 1], np.int64)
    grads = np.arange(20, dtype=np.float32).reshape(4, 5)
    kept = grads.copy()
    table.apply_gradients(ids, grads, dedup=False)
    np.testing.assert_array_equal(grads, kept)


def _best(call, repeats=5):
    call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return min(times)


def test_one_id_many_times_costs_about_what_distinct_ids_cost():
    n = 20_000
    grads = np.random.default_rng(0).standard_normal((n, 5)).astype(np.float32)
    same, distinct = _table(lambda: AdagradOptimizer(0.1), n), _table(lambda: AdagradOptimizer(0.1), n)
    ids_same, ids_distinct = np.full(n, 7, np.int64), np.arange(n, dtype=np.int64)
    t_same = _best(lambda: same.apply_gradients(ids_same, grads, dedup=False))
    t_distinct = _best(lambda: distinct.apply_gradients(ids_distinct, grads, dedup=False))
    # one call per occurrence rank took ~300x (20,000 calls); generous bound for a loaded machine
    assert t_same < 10 * t_distinct + 0.01, (t_same, t_distinct)
