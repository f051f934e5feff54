"""monolith_np.torch.HashEmbedding against torch.nn.EmbeddingBag / F.embedding on the same rows."""

import doctest

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import monolith_np.torch as mt  # noqa: E402
from monolith_np.entry import RandomUniformInitializer, ZerosInitializer  # noqa: E402
from monolith_np.optim import SgdOptimizer  # noqa: E402
from monolith_np.table import EmbeddingHashTable  # noqa: E402
from monolith_np.table.filters import create_hash_filter  # noqa: E402
from monolith_np.torch import embedding as emb_mod  # noqa: E402

pytestmark = pytest.mark.torch
DIM = 4


def _table(lr=0.1, seed=0):
    return EmbeddingHashTable([(DIM, RandomUniformInitializer(-1.0, 1.0, seed=seed), SgdOptimizer(learning_rate=lr))])


def _dense_copy(table, ids):
    """A dense weight holding the table's rows of ``ids`` (row k = k-th distinct id)."""
    uniq, inverse = np.unique(ids, return_inverse=True)
    weight = torch.nn.Parameter(torch.tensor(table.lookup(uniq)))
    return weight, torch.tensor(inverse.reshape(np.shape(ids)), dtype=torch.int64), uniq


def test_plain_lookup_matches_embedding_and_grads():
    table = _table()
    ids = np.array([[5, -3, 5], [2**62, 7, -3]], np.int64)
    table.insert(ids.reshape(-1))
    emb = mt.HashEmbedding(table, mode="rows")
    out = emb(torch.tensor(ids))
    weight, idx, uniq = _dense_copy(table, ids)
    ref = torch.nn.functional.embedding(idx, weight)
    assert out.shape == (2, 3, DIM) and out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    up = torch.randn(2, 3, DIM)
    (out * up).sum().backward()
    (ref * up).sum().backward()
    (gids, grows), = emb.pending_gradients
    dense = np.zeros((uniq.size, DIM), np.float32)
    np.add.at(dense, np.searchsorted(uniq, gids.numpy()), grows.numpy())
    np.testing.assert_allclose(dense, weight.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("combiner", ["sum", "mean"])
@pytest.mark.parametrize("include_last_offset", [False, True])
def test_bags_match_embedding_bag(combiner, include_last_offset):
    table = _table()
    values = np.array([3, 9, 3, 3, 11, 9, 4], np.int64)
    starts = [0, 3, 4]                           # bags [3 9 3] [3] [11 9 4]; no empty bag for "mean"
    offsets = starts + [len(values)] if include_last_offset else starts
    table.insert(values)
    emb = mt.HashEmbedding(table, combiner=combiner, mode="rows", include_last_offset=include_last_offset)
    out = emb(torch.tensor(values), torch.tensor(offsets))
    weight, idx, uniq = _dense_copy(table, values)
    bag = torch.nn.EmbeddingBag(uniq.size, DIM, mode=combiner, include_last_offset=include_last_offset)
    bag.weight = weight
    ref = bag(idx, torch.tensor(offsets))
    assert out.shape == (3, DIM)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    up = torch.randn(3, DIM)
    (out * up).sum().backward()
    (ref * up).sum().backward()
    gids = torch.cat([i for i, _ in emb.pending_gradients]).numpy()
    grows = torch.cat([g for _, g in emb.pending_gradients]).numpy()
    dense = np.zeros((uniq.size, DIM), np.float32)
    np.add.at(dense, np.searchsorted(uniq, gids), grows)
    np.testing.assert_allclose(dense, weight.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_fixed_length_bags_and_empty_sum_bag():
    table = _table()
    emb = mt.HashEmbedding(table, combiner="sum", mode="rows")
    ids = torch.tensor([[1, 2], [3, 1]])
    out = emb(ids)
    rows = torch.tensor(table.lookup(np.array([1, 2, 3, 1])))
    torch.testing.assert_close(out, torch.stack([rows[0] + rows[1], rows[2] + rows[3]]))
    out = emb(torch.tensor([1, 2]), torch.tensor([0, 0]))     # first bag empty -> zeros (like EmbeddingBag)
    assert out[0].abs().sum().item() == 0.0


def test_first_n_combiner():
    table = _table()
    emb = mt.HashEmbedding(table, combiner=("first_n", 2), mode="rows")
    values = torch.tensor([1, 2, 3, 4, 5, 6])
    out = emb(values, torch.tensor([0, 1, 3]))               # bags [1] [2 3] [4 5 6]
    rows = torch.tensor(table.lookup(values.numpy()))
    assert out.shape == (3, 2, DIM)
    torch.testing.assert_close(out[0, 0], rows[0])
    assert out[0, 1].abs().sum() == 0
    torch.testing.assert_close(out[2], rows[3:5])
    out.sum().backward()
    (gids, grows), = emb.pending_gradients
    np.testing.assert_array_equal(grows.numpy().sum(1), [DIM, DIM, DIM, DIM, DIM, 0])


def test_fused_sgd_equals_manual_sgd_with_duplicates():
    lr = 0.05
    table = _table(lr=lr, seed=3)
    ids_batches = [np.array([1, 2, 1, 1, 5], np.int64), np.array([5, 5, 2, 9, 1], np.int64),
                   np.array([9, 1, 2, 2, 7], np.int64)]
    all_ids = np.unique(np.concatenate(ids_batches))
    table.insert(all_ids)
    weight = torch.nn.Parameter(torch.tensor(table.lookup(all_ids)))
    dense_opt = torch.optim.SGD([weight], lr=lr)
    emb = mt.HashEmbedding(table, combiner="mean", mode="fused")
    target = torch.randn(2, DIM)
    for step, ids in enumerate(ids_batches):
        emb.global_step = step
        offsets = torch.tensor([0, 2])
        out = emb(torch.tensor(ids), offsets)
        ((out - target) ** 2).sum().backward()
        dense_opt.zero_grad()
        ref = torch.nn.functional.embedding_bag(torch.tensor(np.searchsorted(all_ids, ids)), weight, offsets,
                                                mode="mean")
        ((ref - target) ** 2).sum().backward()
        dense_opt.step()
        np.testing.assert_allclose(table.lookup(all_ids), weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert emb.grad_anchor.grad is None and emb.pending_gradients == []


def test_rows_mode_apply_gradients_clears_and_dedups():
    table = _table(lr=1.0)
    ids = np.array([4, 4, 8], np.int64)
    table.insert(ids)
    before = table.lookup(np.array([4, 8]))
    emb = mt.HashEmbedding(table, mode="rows")
    emb(torch.tensor(ids)).sum().backward()
    emb(torch.tensor([8])).sum().backward()
    np.testing.assert_array_equal(table.lookup(np.array([4, 8])), before)   # nothing applied yet
    assert len(emb.pending_gradients) == 2
    grads = emb.pending_gradients[0][1]
    grads.mul_(0.5)                                                          # the caller may clip in place
    assert emb.apply_gradients(global_step=3, update_time=100) == 4
    assert emb.pending_gradients == []
    np.testing.assert_allclose(table.lookup(np.array([4, 8])), before - np.array([[1.0], [1.5]], np.float32))
    assert emb.apply_gradients() == 0


def test_eval_mode_inserts_nothing():
    table = _table()
    table.insert(np.array([1], np.int64))
    emb = mt.HashEmbedding(table, combiner="sum").eval()
    out = emb(torch.tensor([1, 2, 3]), torch.tensor([0, 1]))
    assert len(table) == 1
    torch.testing.assert_close(out[1], torch.zeros(DIM))
    out.sum().backward()                                  # gradients of absent ids are dropped
    assert len(table) == 1
    emb.train()
    emb(torch.tensor([2, 3]), torch.tensor([0]))
    assert len(table) == 3


def test_training_respects_the_occurrence_filter():
    filt = create_hash_filter(capacity=1000, split_num=5, config={0: 2})   # admitted at the 3rd occurrence
    table = EmbeddingHashTable([(DIM, ZerosInitializer(), SgdOptimizer(learning_rate=1.0))], occurrence_filter=filt)
    emb = mt.HashEmbedding(table)
    for seen in range(1, 4):
        out = emb(torch.tensor([42]))
        out.sum().backward()
        assert (42 in table) == (seen >= 3)
    np.testing.assert_array_equal(table.lookup(np.array([42])), -np.ones((1, DIM), np.float32))


def test_training_loop_learns():
    torch.manual_seed(0)
    table = EmbeddingHashTable([(DIM, ZerosInitializer(), SgdOptimizer(learning_rate=0.5))])
    emb = mt.HashEmbedding(table, combiner="sum")
    head = torch.nn.Linear(DIM, 1)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    ids = torch.arange(16)
    y = (ids % 2).float()
    losses = []
    for step in range(40):
        emb.global_step = step
        opt.zero_grad()
        logits = head(emb(ids.reshape(-1, 1))).reshape(-1)
        loss, _ = mt.get_sigmoid_loss_and_pred("ctr", logits, y, 16)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_errors():
    table = _table()
    with pytest.raises(TypeError, match="table must be"):
        mt.HashEmbedding(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="combiner must be"):
        mt.HashEmbedding(table, combiner="max")
    with pytest.raises(ValueError, match="mode must be one of"):
        mt.HashEmbedding(table, mode="dense")
    emb = mt.HashEmbedding(table, combiner="sum")
    with pytest.raises(TypeError, match="ids must be an int64"):
        emb(torch.tensor([1.0, 2.0]), torch.tensor([0]))
    with pytest.raises(TypeError, match="offsets must be an int64"):
        emb(torch.tensor([1, 2]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="offsets must start at 0"):
        emb(torch.tensor([1, 2]), torch.tensor([1]))
    with pytest.raises(ValueError, match="non-decreasing"):
        emb(torch.tensor([1, 2, 3]), torch.tensor([0, 2, 1]))
    with pytest.raises(ValueError, match="non-decreasing and at most"):
        emb(torch.tensor([1, 2]), torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="2-D"):
        emb(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="offsets must end with"):
        mt.HashEmbedding(table, combiner="sum", include_last_offset=True)(torch.tensor([1, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="offsets need a combiner"):
        mt.HashEmbedding(table)(torch.tensor([1, 2]), torch.tensor([0]))
    with pytest.raises(ValueError, match="offsets must start at 0 .*an empty tensor for 2 values"):
        emb(torch.tensor([1, 2]), torch.tensor([], dtype=torch.int64))
    assert len(table) == 0                                  # nothing inserted by a rejected call


def test_module_doctests():
    assert doctest.testmod(emb_mod, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_table_round_trip():
    pytest.importorskip("cupy")
    table = EmbeddingHashTable([(DIM, ZerosInitializer(), SgdOptimizer(learning_rate=1.0))], device="cuda")
    emb = mt.HashEmbedding(table, combiner="sum")
    out = emb(torch.tensor([1, 2, 1], device="cuda"), torch.tensor([0, 2], device="cuda"))
    assert out.is_cuda and out.shape == (2, DIM)
    out.sum().backward()
    np.testing.assert_array_equal(table.lookup(np.array([1, 2])).get(), [[-2.0] * DIM, [-1.0] * DIM])
