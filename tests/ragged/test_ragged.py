"""Tests of monolith_np.ragged: TF parity, naive bit-exact parity, golden seed cases, errors."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monolith_np import ragged as R
from monolith_np._rules import ragged as rules
from monolith_np.ragged import (
    DCNType,
    FirstN,
    MergeType,
    Ragged,
    ReduceMean,
    ReduceSum,
    check_dim,
    dim_size,
    first_n,
    first_n_grad,
    gen_seq_mask,
    merge_tensor_list,
    reduce_mean,
    reduce_mean_grad,
    reduce_sum,
    reduce_sum_grad,
)
from ragged_strategies import ragged_batches, reference_module, upstream_like

REDUCE = {"sum": (reduce_sum, reduce_sum_grad, False), "mean": (reduce_mean, reduce_mean_grad, True)}


def _partition(row_splits, row_lengths, use_lengths):
    return {"row_lengths": row_lengths} if use_lengths else {"row_splits": row_splits}


def _tol(dtype):
    return {"rtol": 1e-6, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-10}


# ---------------------------------------------------------------------------
# Parity with TensorFlow (hypothesis)
# ---------------------------------------------------------------------------


@pytest.mark.tf
@pytest.mark.parametrize("op", sorted(REDUCE))
@settings(max_examples=30)
@given(batch=ragged_batches(), use_lengths=st.booleans(), data=st.data())
def test_reduce_matches_tf(ref, op, batch, use_lengths, data):
    values, row_splits, row_lengths = batch
    forward, backward, _ = REDUCE[op]
    part = _partition(row_splits, row_lengths, use_lengths)
    upstream = upstream_like(data.draw, (len(row_lengths), values.shape[1]), values.dtype)
    want, want_grad = getattr(ref, f"ref_reduce_{op}")(values, row_splits, upstream)
    got = forward(values, **part)
    assert got.dtype == values.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, **_tol(values.dtype))
    got_grad = backward(upstream, **part)
    assert got_grad.dtype == values.dtype and got_grad.shape == values.shape
    np.testing.assert_allclose(got_grad, want_grad, **_tol(values.dtype))


@pytest.mark.tf
@settings(max_examples=30)
@given(batch=ragged_batches(), n=st.integers(1, 6), use_lengths=st.booleans(), data=st.data())
def test_first_n_matches_tf_scatter_nd(ref, batch, n, use_lengths, data):
    values, row_splits, row_lengths = batch
    part = _partition(row_splits, row_lengths, use_lengths)
    upstream = upstream_like(data.draw, (len(row_lengths), n, values.shape[1]), values.dtype)
    want, want_grad = ref.ref_first_n(values, row_splits, n, upstream)
    got = first_n(values, n, **part)
    assert got.dtype == values.dtype
    np.testing.assert_array_equal(got, want)
    got_grad = first_n_grad(upstream, **part)
    assert got_grad.dtype == values.dtype
    np.testing.assert_array_equal(got_grad, want_grad)


@pytest.mark.tf
@settings(max_examples=30)
@given(batch=ragged_batches(max_rows=9, max_len=9), max_seq_length=st.integers(0, 8))
def test_gen_seq_mask_matches_tf_sequence_mask(ref, batch, max_seq_length):
    _, row_splits, _ = batch
    got = gen_seq_mask(row_splits, max_seq_length)
    want = ref.ref_gen_seq_mask(row_splits, max_seq_length)
    assert got.dtype == row_splits.dtype
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------
# Bit-exact parity with the original kernels' summation order (no TF)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", sorted(REDUCE))
@settings(max_examples=40)
@given(batch=ragged_batches(), data=st.data())
def test_reduce_bit_exact_with_sequential_loop(op, batch, data):
    values, row_splits, row_lengths = batch
    forward, backward, mean = REDUCE[op]
    refs = _naive()
    np.testing.assert_array_equal(forward(values, row_splits=row_splits), refs.naive_reduce(values, row_splits, mean))
    upstream = upstream_like(data.draw, (len(row_lengths), values.shape[1]), values.dtype)
    np.testing.assert_array_equal(
        backward(upstream, row_lengths=row_lengths), refs.naive_reduce_grad(upstream, row_splits, mean)
    )


def _naive():
    """ref_ragged without touching TensorFlow when it is missing."""
    pytest.importorskip("tensorflow")
    return reference_module()


@settings(max_examples=40)
@given(batch=ragged_batches(), n=st.integers(1, 6))
def test_first_n_and_mask_agree(batch, n):
    """The positions ``first_n`` fills are exactly ``gen_seq_mask``'s ones; the rest is zero."""
    values, row_splits, _ = batch
    out = first_n(values, n, row_splits=row_splits)
    mask = gen_seq_mask(row_splits, n).astype(bool)
    np.testing.assert_array_equal(out[~mask], 0)
    rowids = Ragged.from_row_splits(values, row_splits).value_rowids()
    pos = np.arange(len(values)) - row_splits[rowids]
    keep = pos < n
    np.testing.assert_array_equal(out[rowids[keep], pos[keep]], values[keep])


@settings(max_examples=40)
@given(batch=ragged_batches())
def test_grads_are_adjoint_of_forward(batch):
    """<forward(x), g> == <x, grad(g)> for the linear combiners (sum, first_n)."""
    values, row_splits, _ = batch
    values = values.astype(np.float64)
    rng = np.random.default_rng(len(values))
    g = rng.standard_normal((len(row_splits) - 1, values.shape[1]))
    lhs = np.sum(reduce_sum(values, row_splits=row_splits) * g)
    np.testing.assert_allclose(lhs, np.sum(values * reduce_sum_grad(g, row_splits=row_splits)), rtol=1e-9, atol=1e-9)
    g3 = rng.standard_normal((len(row_splits) - 1, 3, values.shape[1]))
    lhs = np.sum(first_n(values, 3, row_splits=row_splits) * g3)
    np.testing.assert_allclose(lhs, np.sum(values * first_n_grad(g3, row_splits=row_splits)), rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------
# Golden cases (SEMANTICS.md G.6)
# ---------------------------------------------------------------------------

SEQ_MASK_GOLDEN = [[1, 1, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]]


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_golden_gen_seq_mask(dtype):
    mask = gen_seq_mask(np.array([0, 5, 7, 9, 13], dtype), 6)
    assert mask.dtype == dtype
    np.testing.assert_array_equal(mask, np.array(SEQ_MASK_GOLDEN, dtype))
    key = Ragged.from_row_splits(np.arange(13), np.array([0, 5, 7, 9, 13], dtype))
    np.testing.assert_array_equal(gen_seq_mask(key, 6), SEQ_MASK_GOLDEN)


def test_golden_reduce_sum_combiner():
    key = Ragged.from_row_lengths(np.array([1, 2, 3]), np.array([1, 2]))
    result = ReduceSum().combine(key, [[1.0], [2.0], [3.0]])
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [[1.0], [5.0]])


def test_golden_first_n_combiner():
    key = Ragged.from_row_lengths(np.array([1, 2, 3, 4, 5, 6]), np.array([1, 2, 3]))
    emb = [[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]]
    np.testing.assert_allclose(FirstN(2).combine(key, emb), [[[1.0], [0.0]], [[2.0], [3.0]], [[4.0], [5.0]]])


def test_golden_first_n_unknown_batch_shape():
    """The original's ``[None, 2, 6]`` static shape: any batch (here 0 and 3) gives ``(B, 2, 6)``."""
    comb = FirstN(2)
    assert comb.max_seq_length == 2
    for lengths in ([], [0, 4, 1]):
        key = Ragged.from_row_lengths(np.zeros(sum(lengths), np.int64), np.array(lengths, np.int64))
        assert comb.combine(key, np.zeros((sum(lengths), 6), np.float32)).shape == (len(lengths), 2, 6)


def test_reduce_mean_empty_rows_are_nan_like_the_original():
    out = reduce_mean(np.ones((2, 3), np.float32), row_lengths=np.array([0, 2, 0]))
    assert np.isnan(out[[0, 2]]).all() and (out[1] == 1).all()
    np.testing.assert_array_equal(reduce_mean_grad(np.full((3, 3), 4.0, np.float32), row_lengths=[0, 2, 0]), 2.0)


def test_reduce_mean_uses_rounded_reciprocal():
    """Multiplying by fl32(1/3) differs from dividing by 3 for some sums; the original multiplies."""
    values = np.array([[1.0], [1.0], [5.0]], np.float32)
    got = reduce_mean(values, row_lengths=[3])
    assert got[0, 0] == np.float32(7.0) * np.float32(1.0 / 3.0)
    assert got[0, 0] != np.float32(7.0) / np.float32(3.0)


def test_reduce_sum_summation_order_is_sequential():
    """(1e8 + 1) + -1e8 = 0 in float32 when added in id order (a tree sum would give 1)."""
    values = np.array([[1e8], [1.0], [-1e8]], np.float32)
    assert reduce_sum(values, row_lengths=[3])[0, 0] == 0.0


def test_special_values_propagate():
    values = np.array([[np.inf], [1.0], [np.nan], [2.0]], np.float32)
    out = reduce_sum(values, row_lengths=[2, 1, 1])
    assert out[0, 0] == np.inf and np.isnan(out[1, 0]) and out[2, 0] == 2.0


# ---------------------------------------------------------------------------
# Combiner classes and the Ragged helper
# ---------------------------------------------------------------------------


def _keys(values, row_splits):
    yield Ragged.from_row_splits(values, row_splits)
    yield (values, row_splits)


@pytest.mark.parametrize(
    "comb, fn, grad_fn, grad_shape",
    [
        (ReduceSum(), reduce_sum, reduce_sum_grad, (4, 2)),
        (ReduceMean(), reduce_mean, reduce_mean_grad, (4, 2)),
        (FirstN(3), lambda e, **k: first_n(e, 3, **k), first_n_grad, (4, 3, 2)),
    ],
)
def test_combiner_classes_match_functions(comb, fn, grad_fn, grad_shape):
    rng = np.random.default_rng(0)
    splits = np.array([0, 2, 2, 7, 8])
    emb = rng.standard_normal((8, 2)).astype(np.float32)
    g = rng.standard_normal(grad_shape).astype(np.float32)
    for key in _keys(np.arange(8), splits):
        np.testing.assert_array_equal(comb.combine(key, emb, name="x"), fn(emb, row_splits=splits))
        np.testing.assert_array_equal(comb.combine_grad(key, g), grad_fn(g, row_splits=splits))
    assert isinstance(comb, R.Combiner) and comb.max_seq_length == (3 if isinstance(comb, FirstN) else 0)


@pytest.mark.tf
def test_combiners_accept_tf_ragged_tensor(ref):
    import tensorflow as tf

    key = tf.RaggedTensor.from_row_lengths([1, 2, 3], [1, 2])
    np.testing.assert_allclose(ReduceSum().combine(key, tf.constant([[1.0], [2.0], [3.0]])), [[1.0], [5.0]])
    np.testing.assert_array_equal(gen_seq_mask(key, 3), [[1, 0, 0], [1, 1, 0]])


def test_combiner_is_abstract_and_first_n_validates():
    with pytest.raises(TypeError):
        R.Combiner(0)
    with pytest.raises(ValueError, match="seq_length must be >= 1, got 0"):
        FirstN(0)
    with pytest.raises(TypeError, match="seq_length must be an integer"):
        FirstN(2.5)
    assert repr(FirstN(4)) == "FirstN(max_seq_length=4)"


def test_ragged_helper():
    key = Ragged.from_row_lengths(np.array([5, 6, 7, 8]), np.array([2, 0, 2], np.int32))
    assert key.nrows() == 3
    assert key.row_splits.dtype == np.int32 and key.row_splits.tolist() == [0, 2, 2, 4]
    assert key.row_lengths().tolist() == [2, 0, 2]
    assert key.value_rowids().tolist() == [0, 0, 2, 2] and key.value_rowids().dtype == np.int32
    assert key.to_list() == [[5, 6], [], [7, 8]]
    assert "nrows=3" in repr(key)
    same = Ragged(key.values, key.row_splits)
    assert same.to_list() == key.to_list()
    empty = Ragged.from_row_splits(np.zeros((0, 4)), [0])
    assert empty.nrows() == 0 and empty.value_rowids().shape == (0,)


@settings(max_examples=30)
@given(batch=ragged_batches())
def test_inputs_not_mutated(batch):
    values, row_splits, row_lengths = batch
    before = (values.copy(), row_splits.copy(), row_lengths.copy())
    reduce_mean(values, row_splits=row_splits)
    first_n(values, 2, row_lengths=row_lengths)
    reduce_sum_grad(reduce_sum(values, row_lengths=row_lengths), row_splits=row_splits)
    gen_seq_mask(row_splits, 3)
    for a, b in zip(before, (values, row_splits, row_lengths)):
        np.testing.assert_array_equal(a, b)


def test_no_recompile_on_second_call():
    values = np.ones((3, 2), np.float32)
    reduce_sum(values, row_splits=np.array([0, 1, 3]))
    before = len(R._reduce_cpu.signatures)
    reduce_mean(values * 2, row_splits=np.array([0, 2, 3]))
    assert len(R._reduce_cpu.signatures) == before


# ---------------------------------------------------------------------------
# merge_tensor_list and shape helpers
# ---------------------------------------------------------------------------

_X3 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
_X2 = np.arange(12, dtype=np.float32).reshape(2, 6)
_LIST = [np.arange(8, dtype=np.float32).reshape(2, 4) + k for k in range(3)]

MERGE_CASES = [
    (x, mt, nf, axis, kl)
    for x in ("x3", "x2", "list", "one_list")
    for mt in ("stack", "concat", None)
    for nf in (None, 1, 3)
    for axis in (0, 1, -1)
    for kl in (False, True)
]


def _merge_input(name):
    return {"x3": _X3, "x2": _X2, "list": list(_LIST), "one_list": [_X3]}[name]


def _assert_same_structure(got, want):
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same_structure(g, w)
    else:
        assert not isinstance(got, list)
        np.testing.assert_array_equal(got, want)
        assert got.shape == want.shape


@pytest.mark.tf
@pytest.mark.parametrize("name, merge_type, num_feature, axis, keep_list", MERGE_CASES)
def test_merge_tensor_list_matches_tf(ref, name, merge_type, num_feature, axis, keep_list):
    kwargs = dict(merge_type=merge_type, num_feature=num_feature, axis=axis, keep_list=keep_list)
    want = ref.ref_merge_tensor_list(_merge_input(name), **kwargs)
    _assert_same_structure(merge_tensor_list(_merge_input(name), **kwargs), want)


def test_merge_tensor_list_branches():
    assert merge_tensor_list(_X3, "stack") is _X3
    assert merge_tensor_list(_X3, "stack", keep_list=True)[0] is _X3
    assert merge_tensor_list(_X3, "concat").shape == (2, 12)
    assert [t.shape for t in merge_tensor_list(_X3, None)] == [(2, 4)] * 3
    assert [t.shape for t in merge_tensor_list(_X3, None, axis=2)] == [(2, 3)] * 4
    assert merge_tensor_list(_X2, "stack", num_feature=3).shape == (2, 3, 2)
    assert merge_tensor_list(_X2, "concat", num_feature=3) is _X2
    assert [t.shape for t in merge_tensor_list(_X2, None, num_feature=2)] == [(2, 3)] * 2
    assert merge_tensor_list(_X2, None) is _X2
    assert merge_tensor_list(_X2, None, keep_list=True)[0] is _X2
    assert merge_tensor_list(_LIST, "concat").shape == (2, 12)
    assert merge_tensor_list(_LIST, "stack", axis=0, keep_list=True)[0].shape == (3, 2, 4)
    listed = merge_tensor_list(_LIST, None)
    assert all(a is b for a, b in zip(listed, _LIST))
    assert merge_tensor_list([], None) == []
    original = [_X3]
    merge_tensor_list(original, "concat", keep_list=True)
    assert original[0] is _X3  # the caller's list is not modified (the original's is)


@pytest.mark.parametrize(
    "args, kwargs, exc, message",
    [
        ((_X3,), {"merge_type": "sum"}, ValueError, "merge_type must be one of 'stack', 'concat', None, got 'sum'"),
        ((np.zeros(3),), {}, ValueError, r"tensor_list\[0\] must be 2-D or 3-D when it is the only tensor"),
        ((np.zeros((1, 2, 3, 4)),), {}, ValueError, "2-D or 3-D"),
        ((_X2,), {"merge_type": "stack", "num_feature": 4}, ValueError, "divisible by num_feature = 4"),
        ((_X3,), {"merge_type": None, "axis": 3}, ValueError, r"axis must be in \[-3, 3\)"),
        (([],), {"merge_type": "stack"}, ValueError, "tensor_list must be non-empty"),
        ((_X2,), {"num_feature": 1.5}, TypeError, "num_feature must be an integer"),
    ],
)
def test_merge_tensor_list_errors(args, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        merge_tensor_list(*args, **kwargs)


def test_types_and_shape_helpers():
    assert (MergeType.CONCAT, MergeType.STACK, MergeType.NONE) == ("concat", "stack", None)
    assert (DCNType.Vector, DCNType.Matrix, DCNType.Mixed) == ("vector", "matrix", "mixed")
    assert check_dim(None) == -1 and check_dim(7) == 7 and check_dim(np.int64(3)) == 3
    assert check_dim(type("Dimension", (), {"value": 5})()) == 5
    with pytest.raises(TypeError, match="dim must be None or an integer, got str"):
        check_dim("3")
    x = np.zeros((2, 3, 4))
    assert [dim_size(x, a) for a in (0, 1, 2, -1)] == [2, 3, 4, 4]
    with pytest.raises(ValueError, match=r"axis must be in \[-3, 3\) for shape \(2, 3, 4\), got 3"):
        dim_size(x, 3)


# ---------------------------------------------------------------------------
# Errors: template "{name} must be {expected}, got {came}"
# ---------------------------------------------------------------------------

_E = np.ones((4, 2), np.float32)

ERROR_CASES = [
    (lambda: reduce_sum(_E), ValueError, "exactly one of row_splits and row_lengths must be given, got neither"),
    (lambda: reduce_sum(_E, [0, 4], [4]), ValueError, "exactly one of row_splits and row_lengths must be given, got both"),
    (lambda: reduce_sum(_E, np.array([], np.int64)), ValueError, r"row_splits must have at least one element"),
    (lambda: reduce_sum(_E, [1, 4]), ValueError, r"row_splits must start at 0, got row_splits\[0\] = 1"),
    (lambda: reduce_sum(_E, [0, 3, 2, 4]), ValueError, r"row_splits must be non-decreasing, got row_splits\[1\] = 3 > row_splits\[2\] = 2"),
    (lambda: reduce_mean(_E, [0, 3]), ValueError, r"row_splits must end at len\(embeddings\) = 4, got row_splits\[-1\] = 3"),
    (lambda: first_n(_E, 2, row_lengths=[5, -1]), ValueError, r"row_lengths must be non-negative, got row_lengths\[1\] = -1"),
    (lambda: first_n(_E, 2, row_lengths=[1, 2]), ValueError, r"row_lengths must sum to len\(embeddings\) = 4, got 3"),
    (lambda: reduce_sum(_E, np.array([0, 4], np.uint64)), TypeError, r"row_splits must be int32 or int64, got uint64"),
    (lambda: reduce_sum(_E, np.array([0.0, 4.0])), TypeError, r"row_splits must be int32 or int64, got float64"),
    (lambda: reduce_sum(_E, np.array([[0, 4]])), ValueError, r"row_splits must be 1-D, got shape \(1, 2\)"),
    (lambda: reduce_sum(np.ones(4, np.float32), [0, 4]), ValueError, r"embeddings must be 2-D, got shape \(4,\)"),
    (lambda: reduce_sum(np.ones((4, 2), np.int64), [0, 4]), TypeError, r"embeddings must be float32 or float64, got int64"),
    (lambda: reduce_sum(np.ones((4, 2), np.float16), [0, 4]), TypeError, r"astype\(np.float32\)"),
    (lambda: reduce_sum_grad(np.ones((3, 2), np.float32), [0, 4]), ValueError, r"grad must have shape \(1, \*\), got shape \(3, 2\)"),
    (lambda: reduce_mean_grad(np.ones((1, 2), np.float32), [0, 5, 4]), ValueError, "row_splits must be non-decreasing"),
    (lambda: first_n_grad(np.ones((1, 2), np.float32), [0, 4]), ValueError, r"grad must be 3-D, got shape \(1, 2\)"),
    (lambda: first_n_grad(np.ones((2, 2, 2), np.float32), [0, 4]), ValueError, r"grad must have shape \(1, \*, \*\)"),
    (lambda: first_n(_E, 0, [0, 4]), ValueError, "n must be >= 1, got 0"),
    (lambda: first_n(_E, 1.5, [0, 4]), TypeError, "n must be an integer, got 1.5"),
    (lambda: gen_seq_mask(np.array([0, 5, 3], np.int32), 4), ValueError, r"splits must be non-decreasing, got splits\[1\] = 5 > splits\[2\] = 3"),
    (lambda: gen_seq_mask(np.array([], np.int32), 4), ValueError, "splits must have at least one element"),
    (lambda: gen_seq_mask(np.array([0, 1], np.int32), -1), ValueError, "max_seq_length must be >= 0, got -1"),
    (lambda: gen_seq_mask(np.array([0, 1], np.int32), 2.5), TypeError, "max_seq_length must be an integer"),
    (lambda: gen_seq_mask(np.array([0, 1], np.uint32), 2), TypeError, "splits must be int32 or int64, got uint32"),
    (lambda: Ragged.from_row_splits(np.arange(3), [0, 2]), ValueError, r"row_splits must end at len\(values\) = 3"),
    (lambda: Ragged.from_row_lengths(np.arange(3), [1, 1]), ValueError, r"row_lengths must sum to len\(values\) = 3, got 2"),
    (lambda: ReduceSum().combine(object(), _E), TypeError, "key must be a Ragged, a \\(values, row_splits\\) pair or a ragged tensor, got object"),
]


@pytest.mark.parametrize("call, exc, message", ERROR_CASES)
def test_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_gen_seq_mask_accepts_offset_splits_like_the_original():
    """Only differences matter (the original op never reads splits[0] on its own)."""
    np.testing.assert_array_equal(gen_seq_mask(np.array([3, 8, 10]), 3), [[1, 1, 1], [1, 1, 0]])
    assert gen_seq_mask(np.array([0], np.int64), 5).shape == (0, 5)
    assert gen_seq_mask(np.array([0, 4], np.int64), 0).shape == (1, 0)


# ---------------------------------------------------------------------------
# Docstrings and the guide
# ---------------------------------------------------------------------------


def test_doctests():
    result = doctest.testmod(R, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0


def _public_callables():
    for name in R.__all__:
        obj = getattr(R, name)
        yield name, obj
        if isinstance(obj, type):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and callable(getattr(obj, attr)):
                    yield f"{name}.{attr}", getattr(obj, attr)


@pytest.mark.parametrize("name, obj", list(_public_callables()))
def test_docstring_parameters_match_signature(name, obj):
    import inspect

    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    target = obj.__init__ if isinstance(obj, type) else obj
    try:
        params = [p for p in inspect.signature(target).parameters if p not in ("self", "cls")]
    except (TypeError, ValueError):
        return
    if isinstance(obj, type) and target is object.__init__:
        params = []
    section = re.search(r"Parameters\n-+\n(.*?)(\n\n[A-Z][a-z]+( [A-Z][a-z]+)?\n-+\n|\Z)", doc, re.S)
    documented = re.findall(r"^(\w+) :", section.group(1), re.M) if section else []
    assert documented == params, f"{name}: documented {documented}, signature {params}"


def test_all_names_documented_in_guide():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "ragged.md").read_text()
    missing = [name for name in R.__all__ if name not in guide]
    assert not missing


def test_guide_examples_run():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "ragged.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert blocks
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/ragged.md", "exec"), namespace)  # noqa: S102 - our own guide


# ---------------------------------------------------------------------------
# The rules compile for a real GPU (PTX, no device needed: they are leaf functions)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("float_name, split_name", [("float32", "int32"), ("float64", "int64")])
def test_rules_compile_to_ptx(float_name, split_name):
    cuda = pytest.importorskip("numba.cuda")
    from numba import types
    from numba.cuda.cudadrv import error as cuda_errors

    missing_toolchain = (cuda_errors.NvvmSupportError, cuda_errors.CudaSupportError, cuda_errors.CCSupportError)

    fl, ix = getattr(types, float_name), getattr(types, split_name)
    i64 = types.int64
    signatures = {
        rules.segment_reduce_row: (fl[:, :], ix, ix, i64, fl[:], i64, i64),
        rules.segment_spread_rows: (fl[:], ix, i64, fl[:, :], ix, ix, i64, i64),
        rules.shifted_copy: (fl[:, :], ix, ix, fl[:, :], i64, i64, i64, i64),
        rules.seq_mask_row: (ix, ix, ix[:], i64, i64),
    }
    for rule, signature in signatures.items():
        try:
            ptx, _ = cuda.compile_ptx(rule, signature, device=True, cc=(8, 0))
        except missing_toolchain as err:  # no NVVM in this environment
            pytest.skip(f"compile_ptx unavailable: {err}")
        assert ".func" in ptx


def test_read_only_and_broadcast_inputs():
    values = np.broadcast_to(np.float32(2.0), (4, 3))  # read-only, zero strides
    splits = np.array([0, 1, 4])
    splits.setflags(write=False)
    np.testing.assert_array_equal(reduce_sum(values, row_splits=splits), [[2.0] * 3, [6.0] * 3])
    np.testing.assert_array_equal(first_n(values, 2, row_splits=splits)[0], [[2.0] * 3, [0.0] * 3])


@pytest.mark.parametrize("min_work", [0, 1 << 62])
def test_parallel_and_single_thread_paths_agree(monkeypatch, min_work):
    """Batches above ``PARALLEL_MIN_WORK`` use all numba threads; below, one. Same numbers."""
    from monolith_np import _config

    monkeypatch.setattr(_config, "PARALLEL_MIN_WORK", min_work)
    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 9, 3000)
    splits = np.concatenate([[0], np.cumsum(lengths)])
    values = rng.standard_normal((int(splits[-1]), 5)).astype(np.float32)
    grad = rng.standard_normal((3000, 5)).astype(np.float32)
    refs = _naive()
    for mean in (False, True):
        forward, backward, _ = REDUCE["mean" if mean else "sum"]
        np.testing.assert_array_equal(forward(values, row_splits=splits), refs.naive_reduce(values, splits, mean))
        np.testing.assert_array_equal(backward(grad, row_splits=splits), refs.naive_reduce_grad(grad, splits, mean))
    mask = gen_seq_mask(splits, 6)
    np.testing.assert_array_equal(mask, np.arange(6) < np.minimum(lengths, 6)[:, None])
    out = first_n(values, 6, row_splits=splits)
    np.testing.assert_array_equal(out[mask == 0], 0)
    np.testing.assert_array_equal(first_n_grad(out, row_splits=splits)[:, 0], np.where(
        np.arange(len(values)) - np.repeat(splits[:-1], lengths) < 6, values[:, 0], 0))
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # the one-thread path restores it
