"""EmbeddingCollection against the per-feature path it replaces, bit for bit.

The reference is what one ``monolith_np.torch.HashEmbedding(mode="fused")``
per feature does, written with the public numpy API: in training
``table.insert(ids)``, ``table.lookup(ids)``, the ragged combiner; backward
the combiner's gradient, the ids without an entry dropped (``contains``),
``table.apply_gradients(..., dedup=True)``. Features sharing a table are
resolved together and their gradients applied in one call over the
concatenated ids (features in the collection's order). Tables are compared
through ``export()``: ids in storage order, values, optimizer state and
timestamps must all be equal.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monolith_np import ragged
from monolith_np.entry import FixedR8Compressor, OneBitCompressor, RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer, FtrlOptimizer, SgdOptimizer
from monolith_np.table import CollectionBatch, EmbeddingCollection, EmbeddingHashTable
from monolith_np.table.filters import HashFilter
from monolith_np.table.pooling import dedup_ids

OPTIMIZERS = {
    "sgd": lambda: SgdOptimizer(learning_rate=0.1),
    "adagrad": lambda: AdagradOptimizer(learning_rate=0.05, initial_accumulator_value=0.3),
    "ftrl": lambda: FtrlOptimizer(learning_rate=0.05, initial_accumulator_value=0.1, l1_regularization=0.02,
                                  l2_regularization=0.2),
}


def _table(kind="adagrad", dim=3, seed=5, **kw):
    kw = {k: v() if callable(v) else v for k, v in kw.items()}  # factories: twin tables share no filter
    init = RandomUniformInitializer(-0.5, 0.5, seed=seed)
    return EmbeddingHashTable([(dim, init, OPTIMIZERS[kind]())], **kw)


def _combine(rows, splits, kind, n):
    if kind == "sum":
        return ragged.reduce_sum(rows, row_splits=splits)
    if kind == "mean":
        return ragged.reduce_mean(rows, row_splits=splits)
    return ragged.first_n(rows, n, row_splits=splits).reshape(splits.shape[0] - 1, n * rows.shape[1])


def _combine_grad(grad, splits, kind, n, dim):
    if kind == "sum":
        return ragged.reduce_sum_grad(grad, row_splits=splits)
    if kind == "mean":
        return ragged.reduce_mean_grad(grad, row_splits=splits)
    return ragged.first_n_grad(grad.reshape(-1, n, dim), row_splits=splits)


class Reference:
    """The per-feature path: feature specs ``name -> (table, kind, n)`` over their own table objects."""

    def __init__(self, tables, features):
        self.tables, self.features = tables, features

    def step(self, values, lengths, grad_fn, training=True, update_time=0, learning_rate=None, global_step=0,
             between=None):
        b = lengths.size // len(self.features)
        splits = np.concatenate(([0], np.cumsum(lengths)))
        parts, per_table = [], {}
        for p, (name, (tname, kind, n)) in enumerate(self.features.items()):
            lo, hi = splits[p * b], splits[(p + 1) * b]
            ids = values[lo:hi]
            per_table.setdefault(tname, []).append((p, ids, splits[p * b:(p + 1) * b + 1] - lo, kind, n))
        rows_of = {}
        for tname, feats in per_table.items():
            table = self.tables[tname]
            if training:
                table.insert(np.concatenate([f[1] for f in feats]), update_time=update_time)
            for p, ids, fsplits, kind, n in feats:
                rows_of[p] = table.lookup(ids)
        for p, (name, (tname, kind, n)) in enumerate(self.features.items()):
            f = [x for x in per_table[tname] if x[0] == p][0]
            parts.append(_combine(rows_of[p], f[2], kind, n))
        out = np.concatenate(parts, axis=1)
        grad = grad_fn(out)
        if between is not None:
            between()
        col = 0
        grads = {}
        for p, (name, (tname, kind, n)) in enumerate(self.features.items()):
            width = parts[p].shape[1]
            f = [x for x in per_table[tname] if x[0] == p][0]
            dim = self.tables[tname].dim
            g = np.ascontiguousarray(grad[:, col:col + width])
            grads.setdefault(tname, []).append((f[1], _combine_grad(g, f[2], kind, n, dim)))
            col += width
        for tname, items in grads.items():
            ids = np.concatenate([i for i, _ in items])
            rows = np.concatenate([r for _, r in items])
            keep = self.tables[tname].contains(ids)
            rate = learning_rate.get(tname) if isinstance(learning_rate, dict) else learning_rate
            self.tables[tname].apply_gradients(ids[keep], rows[keep], learning_rate=rate, global_step=global_step,
                                               update_time=update_time, dedup=True)
        return out


def _spec(features):
    """Collection feature specs from reference specs."""
    out = {}
    for name, (tname, kind, n) in features.items():
        out[name] = (tname, ("first_n", n) if kind == "first_n" else kind)
    return out


def assert_tables_equal(a, b):
    ea, eb = a.export(), b.export()
    np.testing.assert_array_equal(ea[0], eb[0])
    np.testing.assert_array_equal(ea[1], eb[1])
    for sa, sb in zip(ea[2], eb[2]):
        assert sorted(sa) == sorted(sb)
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])
    np.testing.assert_array_equal(ea[3], eb[3])


def _batch(rng, num_features, b, pool, max_len=5, zipf=False):
    lengths = rng.integers(0, max_len + 1, size=num_features * b)
    n = int(lengths.sum())
    ids = (rng.zipf(1.3, size=n) % pool) if zipf else rng.integers(0, pool, size=n)
    mixed = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # raw 64-bit ids, not dense rows
    return mixed.view(np.int64), lengths.astype(np.int64)


def _pair(table_specs, features, combiner="sum", **kw):
    """(collection, its tables, reference) over identically configured twin tables."""
    ours = {t: _table(*spec, **kw) for t, spec in table_specs.items()}
    theirs = {t: _table(*spec, **kw) for t, spec in table_specs.items()}
    return EmbeddingCollection(ours, _spec(features), combiner=combiner), ours, Reference(theirs, features)


def _run_both(coll, ref, values, lengths, grad_fn, **kw):
    between = kw.pop("between", None)
    out, batch = coll.forward(values, lengths=lengths, training=kw.get("training", True),
                              update_time=kw.get("update_time", 0))
    grad = grad_fn(out)
    if between is not None:
        between[0]()
    coll.backward(batch, grad, learning_rate=kw.get("learning_rate"), global_step=kw.get("global_step", 0))
    expect = ref.step(values, lengths, grad_fn, between=None if between is None else between[1], **kw)
    return out, expect


def _grad_fn(seed):
    def fn(out):
        g = np.random.default_rng(seed).normal(size=out.shape).astype(np.float32)
        return np.where(np.isnan(out), np.float32(0), g).astype(np.float32)
    return fn


# -- parity with the per-feature path --------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
@pytest.mark.parametrize("combiner", ["sum", "mean", "first_n"])
def test_one_table_per_feature_equals_per_feature_path(kind, combiner):
    feats = {f"f{i}": (f"t{i}", combiner, 3 if combiner == "first_n" else None) for i in range(3)}
    coll, ours, ref = _pair({f"t{i}": (kind, 2 + i, 10 + i) for i in range(3)}, feats)
    rng = np.random.default_rng(0)
    for step in range(6):
        values, lengths = _batch(rng, 3, 7, pool=30)
        out, expect = _run_both(coll, ref, values, lengths, _grad_fn(step), update_time=100 + step,
                                global_step=step)
        np.testing.assert_array_equal(out, expect)
    for t in ours:
        assert_tables_equal(ours[t], ref.tables[t])


def test_shared_table_is_one_apply_over_the_concatenated_ids():
    feats = {"a": ("t", "sum", None), "b": ("u", "mean", None), "c": ("t", "first_n", 2), "d": ("t", "mean", None)}
    coll, ours, ref = _pair({"t": ("adagrad", 4, 1), "u": ("ftrl", 2, 2)}, feats)
    rng = np.random.default_rng(1)
    for step in range(5):
        values, lengths = _batch(rng, 4, 9, pool=12, zipf=True)
        out, expect = _run_both(coll, ref, values, lengths, _grad_fn(step), update_time=7)
        np.testing.assert_array_equal(out, expect)
    assert_tables_equal(ours["t"], ref.tables["t"])
    assert_tables_equal(ours["u"], ref.tables["u"])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), kinds=st.lists(st.sampled_from(["sum", "mean", "first_n"]), min_size=1, max_size=4),
       share=st.booleans(), opt=st.sampled_from(sorted(OPTIMIZERS)))
def test_random_collections_equal_the_per_feature_path(data, kinds, share, opt):
    feats = {f"f{i}": ("t0" if share else f"t{i}", k, data.draw(st.integers(1, 3)) if k == "first_n" else None)
             for i, k in enumerate(kinds)}
    tables = {t: (opt, data.draw(st.integers(1, 5)), i) for i, t in enumerate(sorted({s[0] for s in feats.values()}))}
    coll, ours, ref = _pair(tables, feats)
    b = data.draw(st.integers(0, 6))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    for step in range(data.draw(st.integers(1, 3))):
        values, lengths = _batch(rng, len(kinds), b, pool=data.draw(st.integers(1, 40)))
        out, expect = _run_both(coll, ref, values, lengths, _grad_fn(step), update_time=step)
        np.testing.assert_array_equal(out, expect)
    for t in ours:
        assert_tables_equal(ours[t], ref.tables[t])


def test_large_zipf_batch_in_parallel_drivers_equals_per_feature_path():
    """Big enough that every driver runs its parallel loop (work above the one-thread threshold)."""
    feats = {f"f{i}": (f"t{i}", "sum" if i % 2 else "mean", None) for i in range(2)}
    coll, ours, ref = _pair({f"t{i}": ("adagrad", 16, i) for i in range(2)}, feats, capacity=1 << 15)
    rng = np.random.default_rng(3)
    for step in range(2):
        values, lengths = _batch(rng, 2, 8192, pool=5000, max_len=8, zipf=True)
        out, expect = _run_both(coll, ref, values, lengths, _grad_fn(step))
        np.testing.assert_array_equal(out, expect)
    for t in ours:
        assert_tables_equal(ours[t], ref.tables[t])


@pytest.mark.parametrize("compressor", [FixedR8Compressor, OneBitCompressor])
def test_quantised_segments_are_pooled_through_their_lookup_view(compressor):
    """A segment read through a retriever (fake-quantised; HashNet, whose backward needs real rows)."""
    def table():
        return EmbeddingHashTable([(3, RandomUniformInitializer(-0.5, 0.5, seed=2), SgdOptimizer(0.1)),
                                   (2, RandomUniformInitializer(-0.5, 0.5, seed=3), OPTIMIZERS["adagrad"](),
                                    compressor())])

    feats = {"a": ("t", "sum", None), "b": ("t", "first_n", 2)}
    ours, theirs = {"t": table()}, {"t": table()}
    coll, ref = EmbeddingCollection(ours, _spec(feats)), Reference(theirs, feats)
    assert ours["t"]._needs_view
    rng = np.random.default_rng(6)
    for step in range(3):
        values, lengths = _batch(rng, 2, 5, pool=12)
        out, expect = _run_both(coll, ref, values, lengths, _grad_fn(step))
        np.testing.assert_array_equal(out, expect)
    assert_tables_equal(ours["t"], theirs["t"])


def test_occurrence_filter_admits_the_same_ids():
    feats = {"a": ("t", "sum", None), "b": ("t", "mean", None)}
    coll, ours, ref = _pair({"t": ("sgd", 2, 3)}, feats, occurrence_filter=lambda: HashFilter(1 << 12),
                            occurrence_threshold=lambda: _Threshold(2))
    rng = np.random.default_rng(4)
    seen = set()
    for step in range(4):
        values, lengths = _batch(rng, 2, 5, pool=80)
        seen.update(values.tolist())
        out, expect = _run_both(coll, ref, values, lengths, _grad_fn(step))
        np.testing.assert_array_equal(out, expect)
    assert 0 < ours["t"].size < len(seen)  # the filter kept some ids out, and let some in
    assert_tables_equal(ours["t"], ref.tables["t"])


class _Threshold:
    """Every id needs ``k`` occurrences before it gets an entry."""

    def __init__(self, k):
        self.k = k

    def thresholds(self, ids):
        return np.full(ids.shape, self.k, np.int64)


def test_eval_mode_reads_without_inserting_and_updates_only_present_ids():
    feats = {"a": ("t", "sum", None)}
    coll, ours, ref = _pair({"t": ("sgd", 2, 3)}, feats)
    values, lengths = np.array([1, 2, 3], np.int64), np.array([2, 1])
    _run_both(coll, ref, values, lengths, _grad_fn(0))
    values = np.array([1, 9, 9, 3], np.int64)
    out, expect = _run_both(coll, ref, values, np.array([1, 2, 1]), _grad_fn(1), training=False)
    np.testing.assert_array_equal(out, expect)
    np.testing.assert_array_equal(out[1], 0)  # [9, 9]: absent, zeros
    assert not ours["t"].contains(np.array([9]))[0]
    assert_tables_equal(ours["t"], ref.tables["t"])


def test_rows_moved_between_forward_and_backward_are_found_again():
    feats = {"a": ("t", "sum", None)}
    coll, ours, ref = _pair({"t": ("adagrad", 2, 3)}, feats)
    values = np.array([1, 2, 3, 4, 5, 6], np.int64)
    lengths = np.array([3, 3])
    _run_both(coll, ref, values, lengths, _grad_fn(0))
    # erasing 2 compacts storage: rows handed out by the forward now name other entries
    out, expect = _run_both(coll, ref, values, lengths, _grad_fn(1),
                            between=(lambda: ours["t"].erase(np.array([2, 4])),
                                     lambda: ref.tables["t"].erase(np.array([2, 4]))))
    np.testing.assert_array_equal(out, expect)
    assert_tables_equal(ours["t"], ref.tables["t"])


def test_per_table_learning_rates():
    feats = {"a": ("t", "sum", None), "b": ("u", "sum", None)}
    coll, ours, ref = _pair({"t": ("sgd", 2, 1), "u": ("sgd", 2, 2)}, feats)
    values, lengths = np.array([1, 2, 3, 4], np.int64), np.array([1, 1, 1, 1])
    _run_both(coll, ref, values, lengths, _grad_fn(0), learning_rate={"t": 0.5})
    assert_tables_equal(ours["t"], ref.tables["t"])
    assert_tables_equal(ours["u"], ref.tables["u"])
    with pytest.raises(ValueError, match="learning_rate names tables \\['v'\\]"):
        out, batch = coll.forward(values, lengths=lengths)
        coll.backward(batch, np.ones_like(out), learning_rate={"v": 1.0})


# -- input forms ---------------------------------------------------------------------------------


def test_offsets_keys_and_id_dtypes_give_the_same_output():
    t = _table("sgd", 2, 1)
    coll = EmbeddingCollection({"t": t}, {"a": "t", "b": ("t", "mean")})
    values, lengths = np.array([5, 6, 7, 5, 8], np.int64), np.array([2, 1, 0, 2])
    out, _ = coll.forward(values, lengths=lengths, training=True)
    again, _ = coll.forward(values, offsets=np.concatenate(([0], np.cumsum(lengths))), training=False)
    np.testing.assert_array_equal(out, again)
    np.testing.assert_array_equal(coll.forward(values.astype(np.int32), lengths=lengths, training=False)[0], out)
    np.testing.assert_array_equal(coll.forward(values.astype(np.uint64), lengths=lengths, training=False)[0], out)
    # keys in another order, with a feature the collection does not have
    swapped = np.array([5, 8, 5, 6, 7, 99], np.int64)
    out2, _ = coll.forward(swapped, lengths=np.array([0, 2, 2, 1, 0, 1]), keys=["b", "a", "z"], training=False)
    np.testing.assert_array_equal(out2, out)
    assert np.isnan(out[0, 2:]).all()  # an empty bag's mean is NaN, as ragged.reduce_mean


def test_gradient_rows_are_the_per_feature_rows():
    t = _table("sgd", 2, 1)
    coll = EmbeddingCollection({"t": t}, {"a": "t", "b": ("t", ("first_n", 1))})
    values, lengths = np.array([5, 6, 5, 7, 8, 9], np.int64), np.array([2, 1, 3, 0])
    out, batch = coll.forward(values, lengths=lengths)
    grad = np.arange(out.size, dtype=np.float32).reshape(out.shape)
    ids, rows = coll.gradient_rows(batch, grad)["t"]
    expect = np.concatenate([ragged.reduce_sum_grad(np.ascontiguousarray(grad[:, :2]), row_splits=np.array([0, 2, 3])),
                             ragged.first_n_grad(grad[:, None, 2:], row_splits=np.array([0, 3, 3]))])
    np.testing.assert_array_equal(ids, values)
    np.testing.assert_array_equal(rows, expect)


def test_dedup_ids_groups_every_occurrence():
    ids = np.random.default_rng(0).integers(0, 50, 400)
    uniq, inverse, starts, order = dedup_ids(ids)
    np.testing.assert_array_equal(uniq[inverse], ids)
    assert len(set(uniq.tolist())) == uniq.size == np.unique(ids).size
    first = [int(np.flatnonzero(ids == u)[0]) for u in uniq]
    assert first == sorted(first)
    for u in range(uniq.size):
        group = order[starts[u]:starts[u + 1]]
        np.testing.assert_array_equal(group, np.flatnonzero(ids == uniq[u]))
    e = dedup_ids(np.empty(0, np.int64))
    assert [a.size for a in e] == [0, 0, 1, 0]


# -- bad input changes nothing -------------------------------------------------------------------


def _snapshot(table):
    return [np.copy(a) if isinstance(a, np.ndarray) else a for a in table.export()[:2]] + [table.size]


@pytest.mark.parametrize("call, match", [
    (lambda c: c.forward([1, 2], lengths=np.array([1, 1])), "values must be a 1-D int64 array"),
    (lambda c: c.forward(np.float32([1, 2]), lengths=np.array([1, 1])), "values"),
    (lambda c: c.forward(np.array([1, 2]), lengths=np.array([1, 1, 1])), "lengths must have len\\(keys\\) \\* B"),
    (lambda c: c.forward(np.array([1, 2]), lengths=np.array([3, -1])), "lengths must be non-negative"),
    (lambda c: c.forward(np.array([1, 2]), lengths=np.array([1, 2])), "lengths must sum to len\\(values\\) = 2"),
    (lambda c: c.forward(np.array([1, 2]), offsets=np.array([0, 1, 2, 2])), "offsets must have"),
    (lambda c: c.forward(np.array([1, 2]), offsets=np.array([1, 2, 2])), "offsets must start at 0"),
    (lambda c: c.forward(np.array([1, 2, 3, 4]), offsets=np.array([0, 3, 2, 4, 4])), "non-decreasing"),
    (lambda c: c.forward(np.array([1, 2])), "exactly one of lengths and offsets"),
    (lambda c: c.forward(np.array([1, 2]), lengths=np.array([1, 1]), keys=["a"]), "missing \\['b'\\]"),
    (lambda c: c.forward(np.array([1, 2]), lengths=np.array([1, 1]), keys=["a", "a"]), "must not repeat"),
    (lambda c: c.forward(np.array([1, 2]), lengths=np.array([1, 1]), update_time=-1), "update_time"),
])
def test_bad_forward_input_is_refused_before_any_change(call, match):
    t = _table("sgd", 2, 1)
    t.insert(np.array([1]))
    coll = EmbeddingCollection({"t": t}, {"a": "t", "b": "t"})
    before = _snapshot(t)
    with pytest.raises((TypeError, ValueError), match=match):
        call(coll)
    after = _snapshot(t)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


@pytest.mark.parametrize("bad, match", [
    (lambda out, batch: (batch, np.ones((3, 4), np.float32)), "grad"),
    (lambda out, batch: (batch, np.ones_like(out, dtype=np.float64)), "grad"),
    (lambda out, batch: ("batch", np.ones_like(out)), "batch must be the CollectionBatch"),
    (lambda out, batch: (EmbeddingCollection({"t": _table("sgd", 2, 1)}, {"a": "t", "b": "t"}).forward(
        np.array([1, 2]), lengths=np.array([1, 1]))[1], np.ones_like(out)), "batch must come from this collection"),
])
def test_bad_backward_input_is_refused_before_any_change(bad, match):
    t = _table("sgd", 2, 1)
    coll = EmbeddingCollection({"t": t}, {"a": "t", "b": "t"})
    out, batch = coll.forward(np.array([1, 2]), lengths=np.array([1, 1]))
    before = _snapshot(t)
    with pytest.raises((TypeError, ValueError), match=match):
        coll.backward(*bad(out, batch))
    with pytest.raises(ValueError, match="global_step"):
        coll.backward(batch, np.ones_like(out), global_step=-1)
    with pytest.raises((TypeError, ValueError), match="learning_rate"):
        coll.backward(batch, np.ones_like(out), learning_rate=float("nan"))
    np.testing.assert_array_equal(before[1], _snapshot(t)[1])


@pytest.mark.parametrize("make, err, match", [
    (lambda t: EmbeddingCollection({}, {"a": "t"}), ValueError, "tables must be a non-empty mapping"),
    (lambda t: EmbeddingCollection({"t": object()}, {"a": "t"}), TypeError, "tables\\['t'\\] must be"),
    (lambda t: EmbeddingCollection({"t": t}, {}), ValueError, "features must be a non-empty mapping"),
    (lambda t: EmbeddingCollection({"t": t}, {"a": "x"}), ValueError, "names table 'x'"),
    (lambda t: EmbeddingCollection({"t": t}, {"a": ("t", "max")}), ValueError, "features\\['a'\\]\\[1\\] must be"),
    (lambda t: EmbeddingCollection({"t": t}, {"a": ("t", ("first_n", 0))}), ValueError, "\\[1\\]\\[1\\] must be >= 1"),
    (lambda t: EmbeddingCollection({"t": t}, {"a": ("t",)}), ValueError, "features\\['a'\\] must be"),
    (lambda t: EmbeddingCollection({"t": t}, {"a": "t"}, combiner="max"), ValueError, "combiner must be"),
])
def test_bad_construction_names_the_argument(make, err, match):
    with pytest.raises(err, match=match):
        make(_table("sgd", 2, 1))


def test_batch_attributes_describe_the_step():
    t = _table("sgd", 2, 1)
    coll = EmbeddingCollection({"t": t}, {"a": "t", "b": ("t", "mean")})
    out, batch = coll.forward(np.array([4, 4, 5]), lengths=np.array([2, 0, 1, 0]))
    assert isinstance(batch, CollectionBatch) and batch.batch_size == 2 and batch.sizes == {"t": 3}
    assert batch.ids["t"].tolist() == [4, 5]
    assert coll.output_dim == 4 and coll.feature_names == ["a", "b"]
