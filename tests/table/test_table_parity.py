"""EmbeddingHashTable against dense framework embeddings (the original's ``model_comp_test`` idea).

A table with SGD, Adagrad and FTRL entries (random-uniform init, seeded) is
trained for 20 steps on random id batches with repeats (dedup on) next to a
dense TensorFlow / PyTorch embedding matrix whose row for an id is created on
first use with the same initial values (:mod:`ref_table`). Hyper-parameters
are those where Monolith's rule equals the framework's (as in
``tests/optim/test_optimizers.py``): no weight decay, Adagrad epsilon 0, FTRL
beta 0 with TF ``l2`` = Monolith ``l2`` / 2 (textbook l1 sign).
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

from monolith_np.entry import RandomUniformInitializer  # noqa: E402
from monolith_np.optim import AdagradOptimizer, FtrlOptimizer, SgdOptimizer  # noqa: E402
from monolith_np.table import EmbeddingHashTable  # noqa: E402

STEPS = 20
POOL = 48  # distinct ids
BATCH = 24  # occurrences per step (with repeats)

#: kind -> (table optimizer, TF reference kwargs)
RULES = {
    "sgd": (lambda: SgdOptimizer(learning_rate=0.1), dict(lr=0.1)),
    "adagrad": (lambda: AdagradOptimizer(learning_rate=0.05, initial_accumulator_value=0.3),
                dict(lr=0.05, initial_accumulator_value=0.3)),
    "ftrl": (lambda: FtrlOptimizer(learning_rate=0.05, initial_accumulator_value=0.1, l1_regularization=0.02,
                                   l2_regularization=0.2),
             dict(lr=0.05, initial_accumulator_value=0.1, l1=0.02, l2=0.1)),
}


def _table(segments, seed=11):
    """A table of ``segments``: (kind, dim) pairs, each random-uniform in [-0.5, 0.5] with its own seed."""
    return EmbeddingHashTable([(dim, RandomUniformInitializer(-0.5, 0.5, seed=seed + k), RULES[kind][0]())
                               for k, (kind, dim) in enumerate(segments)])


def _initial_rows(table, k):
    """``ids -> rows`` of segment ``k``'s initial values (the initializer with ``row_ids``)."""
    def init_rows(ids):
        out = np.empty((len(ids), table.entry.dims[k]), np.float32)
        table.entry.initializers[k].initialize(out, row_ids=np.asarray(ids, np.int64))
        return out
    return init_rows


def _batches(seed):
    rng = np.random.default_rng(seed)
    pool = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, POOL, dtype=np.int64, endpoint=True)
    pool[:3] = [0, -1, 1 << 48]
    for _ in range(STEPS):
        # A skewed draw so every batch repeats some ids.
        ids = pool[np.minimum(rng.geometric(0.08, BATCH) - 1, POOL - 1)]
        yield ids, (rng.standard_normal((BATCH, 1)) * 0.5).astype(np.float32)


def _drive(segments, make_ref, seed, rtol, atol):
    """Train the table and one reference per segment side by side; compare every lookup."""
    table = _table(segments)
    refs = [make_ref(kind, dim, _initial_rows(table, k)) for k, (kind, dim) in enumerate(segments)]
    cols = table.entry.slices
    checked = 0
    for ids, scale in _batches(seed):
        rng = np.random.default_rng(int(scale.sum() * 1e6) & 0xFFFF)
        grads = (rng.standard_normal((ids.size, table.dim)) * scale).astype(np.float32)
        probe = np.concatenate([ids, ids[::-1] ^ 1])  # trained ids and (mostly) unknown ones
        before = table.lookup(probe)
        for ref, col in zip(refs, cols):
            np.testing.assert_allclose(before[:, col], ref.lookup(probe), rtol=rtol, atol=atol)
        table.apply_gradients(ids, grads, dedup=True)
        for ref, col in zip(refs, cols):
            ref.apply_gradients(ids, np.ascontiguousarray(grads[:, col]))
        checked += 1
    assert checked == STEPS
    all_ids = np.array(sorted(refs[0].map.row_of), np.int64)
    assert table.size == all_ids.size
    final = table.lookup(all_ids)
    for ref, col in zip(refs, cols):
        np.testing.assert_allclose(final[:, col], ref.lookup(all_ids), rtol=rtol, atol=atol)
    return table, refs, final


def test_initial_rows_are_what_a_new_entry_starts_from():
    table = _table([("sgd", 4), ("adagrad", 6)])
    ids = np.array([5, -7, 1 << 60], np.int64)
    assert table.reinitialize(ids).tolist() == [0, 0, 0]
    got = table.lookup(ids)
    for k, col in enumerate(table.entry.slices):
        np.testing.assert_array_equal(got[:, col], _initial_rows(table, k)(ids))
    assert np.abs(got).max() > 0.05  # really random-uniform in [-0.5, 0.5]


# --- TensorFlow ---------------------------------------------------------------------


def _tf_ref(kind, dim, init_rows):
    from ref_table import TfDenseEmbedding

    return TfDenseEmbedding(kind, dim, POOL, init_rows, **RULES[kind][1])


@pytest.mark.tf
@pytest.mark.parametrize("kind,dim,rtol,atol", [
    ("sgd", 4, 0, 0),  # bit-exact: w - fl(lr * g) on summed gradients, summed in occurrence order
    ("adagrad", 8, 2e-6, 1e-7),
    ("ftrl", 5, 2e-6, 1e-7),
])
def test_tf_parity(kind, dim, rtol, atol):
    _drive([(kind, dim)], _tf_ref, seed=dim, rtol=rtol, atol=atol)


@pytest.mark.tf
def test_tf_parity_multi_segment():
    """One table whose row is an SGD, an Adagrad and an FTRL segment side by side (A.17)."""
    _, _, final = _drive([("sgd", 4), ("adagrad", 8), ("ftrl", 6)], _tf_ref, seed=3, rtol=2e-6, atol=1e-7)
    assert final.shape[1] == 18


# --- PyTorch ---------------------------------------------------------------------


def _torch_ref(kind, dim, init_rows):
    from ref_table import TorchDenseEmbedding

    kwargs = dict(RULES[kind][1])
    return TorchDenseEmbedding(kind, dim, POOL, init_rows, **kwargs)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
@pytest.mark.parametrize("kind,dim", [("sgd", 6), ("adagrad", 7)])
def test_torch_parity(kind, dim):
    pytest.importorskip("torch")
    _drive([(kind, dim)], _torch_ref, seed=10 + dim, rtol=2e-6, atol=1e-7)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
def test_torch_parity_multi_segment():
    pytest.importorskip("torch")
    _drive([("sgd", 4), ("adagrad", 4)], _torch_ref, seed=21, rtol=2e-6, atol=1e-7)
