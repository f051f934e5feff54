"""monolith_np.torch.HashEmbeddingCollection against per-feature HashEmbedding and torch.nn.EmbeddingBag."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import monolith_np.torch as mt  # noqa: E402
from monolith_np.entry import RandomUniformInitializer  # noqa: E402
from monolith_np.optim import AdagradOptimizer, SgdOptimizer  # noqa: E402
from monolith_np.table import EmbeddingHashTable  # noqa: E402

pytestmark = pytest.mark.torch


def _table(dim, seed, opt="adagrad", lr=0.05):
    o = AdagradOptimizer(learning_rate=lr, initial_accumulator_value=0.2) if opt == "adagrad" else SgdOptimizer(lr)
    return EmbeddingHashTable([(dim, RandomUniformInitializer(-0.5, 0.5, seed=seed), o)])


def _data(rng, f, b, pool, min_len=1, max_len=4):
    lengths = rng.integers(min_len, max_len + 1, f * b)
    ids = (rng.integers(0, pool, int(lengths.sum())).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)).view(np.int64)
    return torch.from_numpy(ids), torch.from_numpy(lengths.astype(np.int64))


def _assert_same(a, b):
    for x, y in zip(a.export()[:2], b.export()[:2]):
        np.testing.assert_array_equal(x, y)
    for sa, sb in zip(a.export()[2], b.export()[2]):
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])


@pytest.mark.parametrize("combiners", [("sum", "sum", "sum"), ("mean", "sum", ("first_n", 2))])
def test_collection_equals_one_hash_embedding_per_feature(combiners):
    """Fused training through one module and through three HashEmbeddings: same outputs, same tables."""
    dims = (4, 2, 3)
    ours = {f"t{i}": _table(d, i) for i, d in enumerate(dims)}
    theirs = {f"t{i}": _table(d, i) for i, d in enumerate(dims)}
    feats = {f"f{i}": (f"t{i}", c) for i, c in enumerate(combiners)}
    coll = mt.HashEmbeddingCollection(ours, feats)
    per_feature = [mt.HashEmbedding(theirs[f"t{i}"], combiner=c) for i, c in enumerate(combiners)]
    rng = np.random.default_rng(0)
    b = 6
    for step in range(4):
        values, lengths = _data(rng, 3, b, pool=20)
        weight = torch.from_numpy(rng.normal(size=(b, coll.output_dim)).astype(np.float32))
        coll.global_step = step
        out = coll(values, lengths=lengths)
        (out * weight).sum().backward()
        splits = np.concatenate(([0], np.cumsum(lengths.numpy())))
        parts = []
        for i, emb in enumerate(per_feature):
            emb.global_step = step
            lo, hi = splits[i * b], splits[(i + 1) * b]
            offs = torch.from_numpy(splits[i * b:(i + 1) * b] - lo)
            parts.append(emb(values[lo:hi], offs).reshape(b, -1))
        expect = torch.cat(parts, dim=1)
        (expect * weight).sum().backward()
        torch.testing.assert_close(out, expect, rtol=0, atol=0)
    for t in ours:
        _assert_same(ours[t], theirs[t])


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_collection_equals_embedding_bag_with_sgd(mode):
    """Same rows in a dense EmbeddingBag trained by torch's SGD: same pooled output and updated rows."""
    pool, dim, b = 30, 4, 8
    tables = {"a": _table(dim, 1, "sgd", 0.1), "b": _table(dim, 2, "sgd", 0.1)}
    ids = np.arange(pool, dtype=np.int64)
    bags = {}
    for name, t in tables.items():
        t.insert(ids)
        bags[name] = torch.nn.EmbeddingBag(pool, dim, mode=mode, sparse=True)
        with torch.no_grad():
            bags[name].weight.copy_(torch.from_numpy(t.lookup(ids)))
    coll = mt.HashEmbeddingCollection(tables, {"a": "a", "b": "b"}, combiner=mode)
    opt = torch.optim.SGD([m.weight for m in bags.values()], lr=0.1)
    rng = np.random.default_rng(3)
    for _ in range(3):
        lengths = rng.integers(1, 5, 2 * b)
        values = rng.integers(0, pool, int(lengths.sum()))
        target = torch.from_numpy(rng.normal(size=(b, 2 * dim)).astype(np.float32))
        out = coll(torch.from_numpy(values), lengths=torch.from_numpy(lengths))
        ((out - target) ** 2).sum().backward()
        splits = np.concatenate(([0], np.cumsum(lengths)))
        parts = []
        for i, name in enumerate(tables):
            lo, hi = splits[i * b], splits[(i + 1) * b]
            parts.append(bags[name](torch.from_numpy(values[lo:hi]), torch.from_numpy(splits[i * b:(i + 1) * b] - lo)))
        expect = torch.cat(parts, dim=1)
        opt.zero_grad()
        ((expect - target) ** 2).sum().backward()
        opt.step()
        torch.testing.assert_close(out, expect, rtol=1e-6, atol=1e-6)
    for name, t in tables.items():
        np.testing.assert_allclose(t.lookup(ids), bags[name].weight.detach().numpy(), rtol=1e-5, atol=1e-6)


class FakeKJT:
    """The three methods of torchrec's KeyedJaggedTensor the module reads."""

    def __init__(self, keys, values, lengths, weights=None):
        self._k, self._v, self._l, self._w = keys, values, lengths, weights

    def keys(self):
        return self._k

    def values(self):
        return self._v

    def lengths(self):
        return self._l

    def weights_or_none(self):
        return self._w


def _kjt_classes():
    classes = [FakeKJT]
    try:
        from torchrec.sparse.jagged_tensor import KeyedJaggedTensor
    except Exception:  # torchrec lives in the benchmark peers' venv only
        return classes
    return classes + [lambda k, v, l: KeyedJaggedTensor.from_lengths_sync(keys=k, values=v, lengths=l)]


@pytest.mark.parametrize("make", _kjt_classes())
def test_keyed_jagged_tensor_input_equals_flat_input(make):
    t = _table(2, 0)
    coll = mt.HashEmbeddingCollection({"t": t}, {"a": "t", "b": ("t", "mean")})
    values, lengths = torch.tensor([5, 6, 7, 8, 9]), torch.tensor([2, 1, 1, 1])
    flat = coll(values, lengths=lengths)
    np.testing.assert_array_equal(coll(make(["a", "b"], values, lengths)).detach(), flat.detach())


def test_kjt_with_extra_arguments_or_weights_is_refused():
    t = _table(2, 0)
    coll = mt.HashEmbeddingCollection({"t": t}, {"a": "t"})
    kjt = FakeKJT(["a"], torch.tensor([1]), torch.tensor([1]))
    with pytest.raises(ValueError, match="carries its own lengths"):
        coll(kjt, lengths=torch.tensor([1]))
    with pytest.raises(ValueError, match="weighted"):
        coll(FakeKJT(["a"], torch.tensor([1]), torch.tensor([1]), torch.tensor([0.5])))
    assert t.size == 0


def test_dict_output_views_train_like_the_tensor():
    dims = {"t": 2}
    a, b = _table(2, 0), _table(2, 0)
    feats = {"x": "t", "y": ("t", ("first_n", 3))}
    as_dict = mt.HashEmbeddingCollection({"t": a}, feats, output="dict")
    as_tensor = mt.HashEmbeddingCollection({"t": b}, feats)
    values, lengths = torch.tensor([1, 2, 3, 1, 4, 5]), torch.tensor([2, 1, 2, 1])
    d = as_dict(values, lengths=lengths)
    assert d["x"].shape == (2, dims["t"]) and d["y"].shape == (2, 3, dims["t"])
    (d["x"].sum() + 2 * d["y"].sum()).backward()
    out = as_tensor(values, lengths=lengths)
    w = torch.ones_like(out)
    w[:, 2:] = 2
    (out * w).sum().backward()
    _assert_same(a, b)


def test_rows_mode_queues_what_fused_mode_applies():
    a, b = _table(3, 0), _table(3, 0)
    feats = {"x": "t", "y": ("t", "mean")}
    fused = mt.HashEmbeddingCollection({"t": a}, feats)
    rows = mt.HashEmbeddingCollection({"t": b}, feats, mode="rows")
    values, lengths = torch.tensor([1, 2, 3, 1, 4, 5, 1]), torch.tensor([2, 2, 1, 2])
    for m in (fused, rows):
        m(values, lengths=lengths).pow(2).sum().backward()
    assert [name for name, _, _ in rows.pending_gradients] == ["t"]
    assert rows.apply_gradients() == 7 and rows.pending_gradients == []
    _assert_same(a, b)


def test_rows_mode_checks_every_table_before_applying_any():
    a, b = _table(2, 0, "sgd"), _table(3, 1, "sgd")
    emb = mt.HashEmbeddingCollection({"a": a, "b": b}, {"x": "a", "y": "b"}, mode="rows")
    emb(torch.tensor([1, 2]), lengths=torch.tensor([1, 1])).sum().backward()
    before = a.lookup(np.array([1])).copy()
    name, ids, rows = emb.pending_gradients[1]
    emb.pending_gradients[1] = (name, ids, rows.double())  # a user's clip that changed the dtype
    with pytest.raises(TypeError, match="grad_rows"):
        emb.apply_gradients()
    np.testing.assert_array_equal(a.lookup(np.array([1])), before)  # table "a" untouched
    assert len(emb.pending_gradients) == 2


def test_eval_mode_inserts_nothing():
    t = _table(2, 0)
    coll = mt.HashEmbeddingCollection({"t": t}, {"a": "t"}).eval()
    out = coll(torch.tensor([1, 2]), lengths=torch.tensor([1, 1]))
    assert t.size == 0 and out.abs().sum() == 0


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(values=torch.tensor([1.0]), lengths=torch.tensor([1])), TypeError, "values must be a tensor of dtype"),
    (dict(values=[1], lengths=torch.tensor([1])), TypeError, "values must be a torch.Tensor"),
    (dict(values=torch.tensor([[1]]), lengths=torch.tensor([1])), ValueError, "values must be 1-D"),
    (dict(values=torch.tensor([1]), lengths=torch.tensor([1.0])), TypeError, "lengths must be a tensor of dtype"),
    (dict(values=torch.tensor([1]), lengths=torch.tensor([2])), ValueError, "lengths must sum to len\\(values\\)"),
    (dict(values=torch.tensor([1])), ValueError, "exactly one of lengths and offsets"),
])
def test_bad_input_names_the_argument_and_changes_nothing(kwargs, err, match):
    t = _table(2, 0)
    coll = mt.HashEmbeddingCollection({"t": t}, {"a": "t"})
    with pytest.raises(err, match=match):
        coll(**kwargs)
    assert t.size == 0


def test_bad_construction_is_refused():
    t = _table(2, 0)
    with pytest.raises(ValueError, match="mode must be"):
        mt.HashEmbeddingCollection({"t": t}, {"a": "t"}, mode="dense")
    with pytest.raises(ValueError, match="output must be"):
        mt.HashEmbeddingCollection({"t": t}, {"a": "t"}, output="list")
    with pytest.raises(ValueError, match="learning_rate names tables"):
        mt.HashEmbeddingCollection({"t": t}, {"a": "t"}, learning_rate={"u": 0.1})
