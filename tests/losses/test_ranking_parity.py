"""Parity of :mod:`monolith_np.losses.ranking` with the TF reference of Monolith's ``ltr_losses.py``.

The reference (``tests/reference/ref_ranking.py``) is an independent TF2
transcription of the original; gradients come from ``tf.GradientTape`` on it.
Inputs are drawn by hypothesis: graded labels with ties and invalid (< 0)
entries, all-invalid lists, B = 1, L = 1, tied and extreme logits, weights
``None`` / scalar / [B, 1] / [B, L] (zeros included, for the nonzero-weight
reduction), every reduction, float32 (rtol ~1e-5) and float64 (rtol ~1e-9).

ListMLE: the original shuffles the valid items with TF's RNG before sorting
them by label, so the order among tied labels is random; ListMLE inputs are
drawn with pairwise distinct valid labels in each list, where every shuffle
gives the same loss (see ref_ranking's module docstring).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

pytestmark = pytest.mark.tf

tf = pytest.importorskip("tensorflow")  # the reference needs TensorFlow
import ref_ranking as R  # noqa: E402

from monolith_np.losses import ranking  # noqa: E402

DTYPES = [np.float32, np.float64]
REDUCTIONS = [
    R.Reduction.SUM,
    R.Reduction.SUM_BY_NONZERO_WEIGHTS,
    R.Reduction.MEAN,
    R.Reduction.SUM_OVER_BATCH_SIZE,
]
ALL_REDUCTIONS = REDUCTIONS + [R.Reduction.NONE]
PAIRWISE = ["pairwise_hinge_loss", "pairwise_logistic_loss", "pairwise_soft_zero_one_loss"]


def need(*names):
    """The public objects ``names`` of :mod:`monolith_np.losses.ranking` (a missing one fails the test)."""
    missing = [n for n in names if not hasattr(ranking, n)]
    assert not missing, f"monolith_np.losses.ranking lacks {missing}"
    return [getattr(ranking, n) for n in names]


def rtol(dtype):
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-9


def assert_close(got, want, dtype, what=""):
    """``assert_allclose`` with an absolute floor relative to the largest reference magnitude."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != reference {want.shape}"
    tol = rtol(dtype)
    atol = tol * max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=tol, atol=atol, err_msg=what)


# --- strategies ---------------------------------------------------------------------------------

LABEL_VALUES = [-1.0, 0.0, 0.0, 0.5, 1.0, 2.0, 3.0]
TIED_LOGITS = [-1.0, -0.5, 0.0, 0.5, 1.0]
WEIGHT_VALUES = [0.0, 0.5, 1.0, 2.0]


@st.composite
def shapes(draw, max_b=4, max_l=6):
    return draw(st.integers(1, max_b)), draw(st.integers(1, max_l))


@st.composite
def label_arrays(draw, b, l, distinct=False):
    """[B, L] labels: graded with ties and invalid entries, or (``distinct``) pairwise distinct valid labels."""
    if draw(st.integers(0, 9)) == 0:  # a batch of all-invalid lists
        return np.full((b, l), -1.0)
    if not distinct:
        flat = draw(st.lists(st.sampled_from(LABEL_VALUES), min_size=b * l, max_size=b * l))
        labels = np.array(flat).reshape(b, l)
        rows = draw(st.lists(st.booleans(), min_size=b, max_size=b))
        labels[np.array(rows) & (draw(st.integers(0, 3)) == 0)] = -1.0  # some all-invalid lists
        return labels
    rows = []
    for _ in range(b):
        perm = np.array(draw(st.permutations(range(l))), dtype=np.float64)
        perm = perm * draw(st.sampled_from([1.0, 0.5, 0.25]))
        invalid = np.array(draw(st.lists(st.booleans(), min_size=l, max_size=l)))
        rows.append(np.where(invalid & (draw(st.integers(0, 2)) == 0), -1.0 - perm, perm))
    return np.stack(rows)


@st.composite
def logit_arrays(draw, b, l, extreme=True):
    mode = draw(st.sampled_from(["normal", "normal", "ties", "extreme"] if extreme else ["normal", "ties"]))
    n = b * l
    if mode == "ties":
        flat = draw(st.lists(st.sampled_from(TIED_LOGITS), min_size=n, max_size=n))
    else:
        bound = 60.0 if mode == "extreme" else 4.0
        # no subnormals: TF's CPU kernels flush them to zero (a tie where numpy sees an order)
        flat = draw(st.lists(st.floats(-bound, bound, width=32, allow_subnormal=False), min_size=n, max_size=n))
    return np.array(flat, dtype=np.float64).reshape(b, l)


@st.composite
def weight_arrays(draw, b, l, kinds=("none", "scalar", "list", "item")):
    kind = draw(st.sampled_from(kinds))
    values = st.sampled_from(WEIGHT_VALUES)
    if kind == "none":
        return None
    if kind == "scalar":
        return np.float64(draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])))
    shape = (b, 1) if kind == "list" else (b, l)
    return np.array(draw(st.lists(values, min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]))).reshape(shape)


@st.composite
def loss_case(draw, distinct=False, weight_kinds=("none", "scalar", "list", "item"), reductions=ALL_REDUCTIONS,
              extreme=True, max_l=6):
    b, l = draw(shapes(max_l=max_l))
    dtype = draw(st.sampled_from(DTYPES))
    labels = draw(label_arrays(b, l, distinct)).astype(dtype)
    logits = draw(logit_arrays(b, l, extreme)).astype(dtype)
    weights = draw(weight_arrays(b, l, weight_kinds))
    if weights is not None:
        weights = np.asarray(weights, dtype=dtype)
    return dict(labels=labels, logits=logits, weights=weights, reduction=draw(st.sampled_from(reductions)))


# Lambda weights, built the same way on both sides: (factory name, args).
LAMBDAS = [
    None,
    ("create_ndcg_lambda_weight", dict()),
    ("create_ndcg_lambda_weight", dict(topn=2)),
    ("create_ndcg_lambda_weight", dict(topn=3, smooth_fraction=0.5)),
    ("create_reciprocal_rank_lambda_weight", dict(smooth_fraction=1.0)),
    ("create_reciprocal_rank_lambda_weight", dict(topn=1, smooth_fraction=0.25)),
    ("DCGLambdaWeight", dict()),
    ("DCGLambdaWeight", dict(topn=2, normalized=True, smooth_fraction=0.5)),
    ("PrecisionLambdaWeight", dict(topn=2)),
    ("PrecisionLambdaWeight", dict(topn=1)),
]


def make_lambda(spec):
    """(ours, reference) lambda weights for ``spec``."""
    if spec is None:
        return None, None
    name, kwargs = spec
    (ours,) = need(name)
    return ours(**kwargs), getattr(R, name)(**kwargs)


def ours_fns(name):
    return need(name, name + "_grad", name + "_and_grad")


def check_loss(name, case, ours_kwargs=None, ref_kwargs=None, grad=True):
    """Compare loss values and gradients of ``name`` with the reference on ``case``."""
    fn, fn_grad, fn_and_grad = ours_fns(name)
    labels, logits, weights, reduction = case["labels"], case["logits"], case["weights"], case["reduction"]
    dtype = logits.dtype
    ours_kwargs = dict(ours_kwargs or {})
    ref_kwargs = dict(ref_kwargs or {})
    want = R.LOSSES[name](labels, logits, weights=weights, reduction=reduction, **ref_kwargs).numpy()
    # an unreduced loss takes a per-element upstream gradient
    upstream = 1.0
    if reduction == R.Reduction.NONE:
        upstream = np.random.default_rng(want.size).uniform(-2.0, 2.0, size=want.shape).astype(dtype)
    _, want_grad = R.loss_and_grad(name, labels, logits, upstream=upstream, weights=weights, reduction=reduction,
                                   **ref_kwargs)
    what = f"{name} reduction={reduction} weights={None if weights is None else np.shape(weights)} dtype={dtype.name}"
    got = fn(labels, logits, weights=weights, reduction=reduction, **ours_kwargs)
    assert np.asarray(got).dtype == dtype, f"{what}: result dtype {np.asarray(got).dtype}"
    assert_close(got, want, dtype, what + " value")
    if not grad:
        return
    g = fn_grad(labels, logits, weights=weights, reduction=reduction, upstream=upstream, **ours_kwargs)
    assert np.asarray(g).dtype == dtype and np.shape(g) == logits.shape, what
    assert_close(g, want_grad, dtype, what + " grad")
    if reduction != R.Reduction.NONE:
        v2, g2 = fn_and_grad(labels, logits, weights=weights, reduction=reduction, **ours_kwargs)
        assert_close(v2, want, dtype, what + " _and_grad value")
        assert_close(g2, want_grad, dtype, what + " _and_grad grad")


# --- constants and helpers ------------------------------------------------------------------


def test_reduction_and_keys_match_original():
    (reduction, keys) = need("Reduction", "RankingLossKey")
    tf_red = tf.compat.v1.losses.Reduction
    for attr in ["NONE", "SUM", "SUM_OVER_BATCH_SIZE", "MEAN", "SUM_BY_NONZERO_WEIGHTS", "SUM_OVER_NONZERO_WEIGHTS"]:
        assert getattr(reduction, attr) == getattr(tf_red, attr), attr
    assert set(reduction.all()) == set(tf_red.all())
    for attr, value in vars(R.RankingLossKey).items():
        if attr.isupper():
            assert getattr(keys, attr) == value, attr


@given(shapes())
def test_label_valid_fn(shape):
    (fn,) = need("label_valid_fn")
    labels = np.random.default_rng(sum(shape)).choice([-2.0, -1e-7, 0.0, 0.5, 1.0], size=shape)
    np.testing.assert_array_equal(fn(labels), R.label_valid_fn(labels).numpy())


@given(shapes(max_l=8), st.data())
def test_sort_by_scores(shape, data):
    (fn,) = need("sort_by_scores")
    b, l = shape
    scores = data.draw(logit_arrays(b, l))
    feats = [np.arange(b * l, dtype=np.float64).reshape(b, l), data.draw(logit_arrays(b, l))]
    topn = data.draw(st.one_of(st.none(), st.integers(1, l + 2)))
    got = fn(scores, feats, topn=topn)
    want = R.sort_by_scores(scores, feats, topn=topn)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w.numpy())


@given(shapes(max_l=8), st.data())
def test_organize_valid_indices_without_shuffle(shape, data):
    (fn,) = need("organize_valid_indices")
    valid = np.array(data.draw(st.lists(st.booleans(), min_size=shape[0] * shape[1], max_size=shape[0] * shape[1])))
    valid = valid.reshape(shape)
    got = np.asarray(fn(valid, shuffle=False))
    np.testing.assert_array_equal(got, R.organize_valid_indices(valid, shuffle=False).numpy())


@given(shapes(max_l=8), st.data())
def test_shuffle_valid_indices_puts_valid_first(shape, data):
    """The shuffle is random in both; only its structure can be compared."""
    (fn,) = need("shuffle_valid_indices")
    b, l = shape
    valid = np.array(data.draw(st.lists(st.booleans(), min_size=b * l, max_size=b * l))).reshape(shape)
    got = np.asarray(fn(valid, seed=data.draw(st.integers(0, 2**31 - 1))))
    assert got.shape == (b, l, 2)
    np.testing.assert_array_equal(got[..., 0], np.repeat(np.arange(b)[:, None], l, 1))
    for row in range(b):
        perm = got[row, :, 1]
        assert sorted(perm.tolist()) == list(range(l))
        n = int(valid[row].sum())
        assert valid[row, perm[:n]].all() and not valid[row, perm[n:]].any()


def test_reshape_first_ndims():
    (fn,) = need("reshape_first_ndims")
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for first, new in [(2, [6]), (1, [2, 1]), (3, [24]), (4, [120])]:
        np.testing.assert_array_equal(fn(x, first, new), R.reshape_first_ndims(x, first, new).numpy())


@given(st.sampled_from(DTYPES), st.data())
def test_approx_ranks(dtype, data):
    (fn,) = need("approx_ranks")
    b, l = data.draw(shapes(max_l=8))
    logits = data.draw(logit_arrays(b, l)).astype(dtype)
    alpha = data.draw(st.sampled_from([10.0, 1.0, 0.5, 25.0]))
    got = fn(logits, alpha=alpha)
    assert np.asarray(got).dtype == dtype
    assert_close(got, R.approx_ranks(logits, alpha=alpha).numpy(), dtype, "approx_ranks")


GAINS = {"default": None, "identity": lambda label: label, "square": lambda label: label * label + 0.5 * label}
DISCOUNTS = {"default": None, "reciprocal": lambda rank: 1.0 / rank, "linear": lambda rank: 10.0 - rank}


@given(st.sampled_from(DTYPES), st.sampled_from(sorted(GAINS)), st.sampled_from(sorted(DISCOUNTS)), st.data())
def test_inverse_max_dcg(dtype, gain, discount, data):
    (fn,) = need("inverse_max_dcg")
    b, l = data.draw(shapes(max_l=8))
    labels = np.abs(data.draw(label_arrays(b, l))).astype(dtype)  # the original feeds it cleaned labels
    topn = data.draw(st.one_of(st.none(), st.integers(1, l + 1)))
    kwargs = {"topn": topn}
    if GAINS[gain] is not None:
        kwargs["gain_fn"] = GAINS[gain]
    if DISCOUNTS[discount] is not None:
        kwargs["rank_discount_fn"] = DISCOUNTS[discount]
    got = fn(labels, **kwargs)
    want = R.inverse_max_dcg(labels, **kwargs).numpy()
    assert np.asarray(got).dtype == dtype
    assert_close(got, want, dtype, f"inverse_max_dcg {kwargs}")


@given(st.data())
def test_get_batch_idx_size(data):
    (fn,) = need("get_batch_idx_size")
    n = data.draw(st.integers(1, 12))
    rank_id = np.array(data.draw(st.lists(st.sampled_from([3, 7, 11, 42, -5]), min_size=n, max_size=n)), np.int64)
    logits = np.arange(1, n + 1, dtype=np.float32) / 4
    labels = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0]), min_size=n, max_size=n)), np.float32)
    got = fn(logits, labels, rank_id, "p_")
    want = R.get_batch_idx_size(logits, labels, rank_id, "p_")
    assert len(got) == 4
    for name, g, w in zip(["logits_idx", "label_idx", "mask_idx", "unique_idx"], got, want):
        g, w = np.asarray(g), w.numpy()
        assert g.shape == w.shape, name
        np.testing.assert_array_equal(g, w, err_msg=name)


# --- lambda weights ------------------------------------------------------------------------------------


@given(st.sampled_from(LAMBDAS[1:]), st.sampled_from(DTYPES), st.data())
def test_lambda_pair_and_individual_weights(spec, dtype, data):
    ours, ref = make_lambda(spec)
    b, l = data.draw(shapes(max_l=7))
    sorted_labels = data.draw(label_arrays(b, l)).astype(dtype)
    assert_close(ours.pair_weights(sorted_labels), ref.pair_weights(sorted_labels).numpy(), dtype, f"{spec} pair")
    assert_close(ours.individual_weights(sorted_labels), np.asarray(ref.individual_weights(sorted_labels)), dtype,
                 f"{spec} individual")


@given(st.sampled_from(DTYPES), st.data())
def test_custom_dcg_lambda_weight(dtype, data):
    (cls,) = need("DCGLambdaWeight")
    gain = data.draw(st.sampled_from(sorted(GAINS)))
    discount = data.draw(st.sampled_from(sorted(DISCOUNTS)))
    kwargs = dict(topn=data.draw(st.one_of(st.none(), st.integers(1, 4))), normalized=data.draw(st.booleans()),
                  smooth_fraction=data.draw(st.sampled_from([0.0, 0.3, 1.0])))
    if GAINS[gain] is not None:
        kwargs["gain_fn"] = GAINS[gain]
    if DISCOUNTS[discount] is not None:
        kwargs["rank_discount_fn"] = DISCOUNTS[discount]
    ours, ref = cls(**kwargs), R.DCGLambdaWeight(**kwargs)
    b, l = data.draw(shapes(max_l=6))
    labels = data.draw(label_arrays(b, l)).astype(dtype)
    assert_close(ours.pair_weights(labels), ref.pair_weights(labels).numpy(), dtype, f"pair {kwargs}")
    assert_close(ours.individual_weights(labels), ref.individual_weights(labels).numpy(), dtype, f"ind {kwargs}")


@given(st.integers(1, 8), st.sampled_from(DTYPES))
def test_p_list_mle_lambda_weight(l, dtype):
    (factory,) = need("create_p_list_mle_lambda_weight")
    labels = np.linspace(-1, 3, 2 * l).reshape(2, l).astype(dtype)
    for list_size in (l, l + 2):
        ours, ref = factory(list_size), R.create_p_list_mle_lambda_weight(list_size)
        assert_close(ours.individual_weights(labels), ref.individual_weights(labels).numpy(), dtype, "pListMLE")
        np.testing.assert_array_equal(ours.pair_weights(labels), labels)


# --- losses ----------------------------------------------------------------------------------------


@pytest.mark.slow
@given(name=st.sampled_from(PAIRWISE), case=loss_case(), spec=st.sampled_from(LAMBDAS), scale=st.booleans())
def test_pairwise_losses(name, case, spec, scale):
    """Values and gradients; the logistic gradient is compared with its exact value at tied logits."""
    ours_lw, ref_lw = make_lambda(spec)
    kw_o, kw_r = dict(lambda_weight=ours_lw), dict(lambda_weight=ref_lw)
    if name != "pairwise_soft_zero_one_loss":
        kw_o["lambda_scale"] = kw_r["lambda_scale"] = scale
    if name == "pairwise_logistic_loss":
        kw_r["smooth_at_ties"] = True
    check_loss(name, case, kw_o, kw_r)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pairwise_logistic_gradient_at_tied_logits(dtype):
    """A deliberate difference: the original's gradient vanishes at tied logits, ours is the derivative.

    ``relu(-x) + log1p(exp(-|x|))`` is smooth at ``x = 0`` with derivative -1/2,
    but TF differentiates it to 0 there (``relu'(0) = sign(0) = 0``), so with
    tied scores (e.g. a freshly initialised model) the original gets no
    gradient from those pairs. The values agree.
    """
    _, _, fn_and_grad = ours_fns("pairwise_logistic_loss")
    labels = np.array([[0.0, 0.5, 2.0]], dtype)
    logits = np.zeros((1, 3), dtype)
    loss, grad = fn_and_grad(labels, logits, reduction=R.Reduction.SUM)
    want_loss, tf_grad = R.loss_and_grad("pairwise_logistic_loss", labels, logits, reduction=R.Reduction.SUM)
    # pairs (1,0) w 0.5, (2,0) w 2, (2,1) w 1.5; d/ds_better = -w/2, d/ds_worse = +w/2
    exact = np.array([[(0.5 + 2.0) / 2, (-0.5 + 1.5) / 2, -(2.0 + 1.5) / 2]], dtype)
    assert_close(loss, want_loss, dtype)
    np.testing.assert_array_equal(tf_grad, np.zeros_like(exact))
    assert_close(grad, exact, dtype)


@given(case=loss_case(), spec=st.sampled_from(LAMBDAS))
def test_softmax_loss(case, spec):
    ours_lw, ref_lw = make_lambda(spec)  # precision weights are ignored by the softmax loss, as in the original
    check_loss("softmax_loss", case, dict(lambda_weight=ours_lw), dict(lambda_weight=ref_lw))


@given(name=st.sampled_from(["sigmoid_cross_entropy_loss", "mean_squared_loss"]), case=loss_case())
def test_pointwise_losses(name, case):
    check_loss(name, case)


@given(case=loss_case(distinct=True, weight_kinds=("none", "scalar", "list")), pl=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_list_mle_loss(case, pl, seed):
    """Distinct valid labels: the original's random shuffle cannot change the loss.

    Lists whose logits spread by more than float32's exp range are left to
    :func:`test_list_mle_loss_wide_logits` (the original overflows there).
    """
    logits = case["logits"]
    effective = np.where(case["labels"] >= 0, logits, np.log(1e-10))
    assume(logits.dtype == np.float64 or np.ptp(effective, axis=1).max() < 80)
    kw_o, kw_r = {"seed": seed}, {}
    if pl:
        l = case["labels"].shape[1]
        (factory,) = need("create_p_list_mle_lambda_weight")
        kw_o["lambda_weight"], kw_r["lambda_weight"] = factory(l), R.create_p_list_mle_lambda_weight(l)
    check_loss("list_mle_loss", case, kw_o, kw_r)


def test_list_mle_loss_wide_logits():
    """A deliberate difference: the original's ``log(cumsum(exp(s - max)))`` underflows to ``log(0) = -inf``
    once a list's logits spread by more than ~87 in float32; ours accumulates in log space and stays finite,
    equal to the float64 value."""
    fn, fn_grad, _ = ours_fns("list_mle_loss")
    labels = np.array([[2.0, 1.0, 0.0]])
    logits = np.array([[50.0, 0.0, -60.0]])
    assert np.isneginf(R.list_mle_loss(labels.astype(np.float32), logits.astype(np.float32)).numpy())
    want64, grad64 = R.loss_and_grad("list_mle_loss", labels, logits)
    got = fn(labels.astype(np.float32), logits.astype(np.float32))
    assert np.isfinite(got)
    assert_close(got, want64, np.float32)
    assert_close(fn_grad(labels.astype(np.float32), logits.astype(np.float32)), grad64, np.float32)


@given(case=loss_case(weight_kinds=("none", "scalar", "list")), alpha=st.sampled_from([None, 1.0, 5.0]))
def test_approx_ndcg_loss(case, alpha):
    """Scalar weights and B = 1 included: the original raises there (see ref_ranking), we do not."""
    kw = {} if alpha is None else {"alpha": alpha}
    check_loss("approx_ndcg_loss", case, kw, kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_invalid_items_tie_with_the_lowest_logit_in_float32(dtype):
    """Invalid items sort at ``min(s) - 1e-6``, which rounds to ``min(s)`` in float32 for |min(s)| >= 32:
    the invalid item at index 0 then ties with the valid item at index 1 and comes first (``top_k`` ties),
    moving that item to rank 3. Rank-dependent (lambda) weights see it; float64 keeps rank 2."""
    labels = np.array([[-1.0, 1.0, 0.0]], dtype)
    logits = np.array([[5.0, -40.0, 3.0]], dtype)
    for name in ["pairwise_logistic_loss", "softmax_loss"]:
        _, _, fn_and_grad = ours_fns(name)
        ours = fn_and_grad(labels, logits, lambda_weight=ranking.create_ndcg_lambda_weight())
        want = R.loss_and_grad(name, labels, logits, lambda_weight=R.create_ndcg_lambda_weight())
        assert_close(ours[0], want[0], dtype, name)
        assert_close(ours[1], want[1], dtype, name)


@given(st.sampled_from(DTYPES), st.sampled_from(ALL_REDUCTIONS), st.data())
def test_compute_weighted_loss(dtype, reduction, data):
    """Against ``tf.compat.v1.losses.compute_weighted_loss`` (through the reference's float64 replica)."""
    (fn,) = need("compute_weighted_loss")
    b, l = data.draw(shapes())
    losses = data.draw(logit_arrays(b, l, extreme=False)).astype(dtype)
    kind = data.draw(st.sampled_from(["scalar", "row", "col", "full"]))
    wshape = {"scalar": (), "row": (b, 1), "col": (1, l), "full": (b, l)}[kind]
    weights = np.array(data.draw(st.lists(st.sampled_from(WEIGHT_VALUES), min_size=int(np.prod(wshape)),
                                          max_size=int(np.prod(wshape))))).reshape(wshape).astype(dtype)
    got = fn(losses, weights=weights, reduction=reduction)
    assert_close(got, R.compute_weighted_loss(losses, weights=weights, reduction=reduction).numpy(), dtype,
                 f"compute_weighted_loss {reduction} {wshape}")


@pytest.mark.parametrize("name", ["approx_ndcg_loss", "list_mle_loss"])
def test_defaults_match_original(name):
    """Default reduction: SUM for approx-NDCG, SUM_BY_NONZERO_WEIGHTS for the others."""
    fn, _, _ = ours_fns(name)
    labels = np.array([[2.0, 0.0, 1.0, -1.0], [0.0, 3.0, 1.0, 2.0]])
    logits = np.array([[0.3, -1.0, 2.0, 0.5], [1.0, 0.1, -0.4, 0.9]])
    np.testing.assert_allclose(fn(labels, logits), R.LOSSES[name](labels, logits).numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["approx_ndcg_loss", "list_mle_loss"])
def test_item_weights_rejected_by_listwise_losses(name):
    """The original cannot broadcast [B, L] weights onto per-list costs; both sides raise ValueError."""
    fn, _, _ = ours_fns(name)
    labels = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0]])
    weights = np.ones((2, 3))
    with pytest.raises(ValueError):
        R.LOSSES[name](labels, labels, weights=weights)
    with pytest.raises(ValueError, match="weights"):
        fn(labels, labels, weights=weights)


@pytest.mark.parametrize("name", sorted(R.LOSSES))
def test_upstream_scales_gradient(name):
    _, fn_grad, fn_and_grad = ours_fns(name)
    labels = np.array([[2.0, 0.0, 1.0, -1.0], [0.0, 3.0, 1.0, 2.0]])
    logits = np.array([[0.3, -1.0, 2.0, 0.5], [1.0, 0.1, -0.4, 0.9]])
    _, g = fn_and_grad(labels, logits)
    np.testing.assert_allclose(fn_grad(labels, logits, upstream=2.5), 2.5 * g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fn_grad(labels, logits), g, rtol=1e-12, atol=1e-15)


SMOOTH = ["pairwise_logistic_loss", "pairwise_soft_zero_one_loss", "softmax_loss", "sigmoid_cross_entropy_loss",
          "mean_squared_loss", "list_mle_loss", "approx_ndcg_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SMOOTH)
@given(data=st.data())
def test_gradient_matches_finite_differences(name, data):
    """float64 central differences of our own loss (distinct logits, so no sort order changes)."""
    fn, fn_grad, _ = ours_fns(name)
    b, l = data.draw(shapes(max_b=3, max_l=5))
    labels = data.draw(label_arrays(b, l, distinct=name == "list_mle_loss"))
    logits = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=b * l, max_size=b * l, unique=True))).reshape(b, l)
    gaps = np.diff(np.sort(logits.ravel()))
    assume(gaps.size == 0 or gaps.min() > 1e-3)
    g = fn_grad(labels, logits)
    h = 1e-6
    fd = np.zeros_like(logits)
    for idx in np.ndindex(*logits.shape):
        up, dn = logits.copy(), logits.copy()
        up[idx] += h
        dn[idx] -= h
        fd[idx] = (float(fn(labels, up)) - float(fn(labels, dn))) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))


# --- make_loss_fn ------------------------------------------------------------------------------------


MAKE_KEYS = [
    ["softmax_loss"],
    ["pairwise_logistic_loss", "softmax_loss"],
    ["sigmoid_cross_entropy_loss", "mean_squared_loss", "pairwise_hinge_loss"],
    ["approx_ndcg_loss"],
    ["pairwise_soft_zero_one_loss", "list_mle_loss"],
]


@given(case=loss_case(weight_kinds=("none", "list"), reductions=REDUCTIONS), keys=st.sampled_from(MAKE_KEYS),
       weighted=st.booleans(), spec=st.sampled_from([None, ("create_ndcg_lambda_weight", dict(topn=2))]))
def test_make_loss_fn(case, keys, weighted, spec):
    (make,) = need("make_loss_fn")
    if "list_mle_loss" in keys:  # distinct labels (the shuffle) keep the comparison deterministic
        b, l = case["labels"].shape
        case["labels"] = np.tile(np.arange(l, dtype=case["labels"].dtype), (b, 1))
    if "approx_ndcg_loss" in keys:
        case["labels"] = np.abs(case["labels"])
    ours_lw, ref_lw = make_lambda(spec)
    loss_weights = [0.5, 2.0, 1.5][: len(keys)] if weighted else None
    name = "w" if case["weights"] is not None else None
    features = {"w": case["weights"]} if name else {}
    kwargs = dict(loss_weights=loss_weights, weights_feature_name=name, reduction=case["reduction"], seed=3)
    if keys == ["approx_ndcg_loss"]:
        kwargs["extra_args"] = {"alpha": 4.0}
    ours = make(keys, lambda_weight=ours_lw, **kwargs)
    ref = R.make_loss_fn(keys, lambda_weight=ref_lw, **kwargs)
    dtype = case["logits"].dtype
    got = ours(case["labels"], case["logits"], features)
    want = ref(case["labels"], case["logits"], features).numpy()
    assert_close(got, want, dtype, f"make_loss_fn {keys}")


def test_make_loss_fn_errors():
    (make,) = need("make_loss_fn")
    for bad in ["none", "sum", None]:
        with pytest.raises(ValueError):
            R.make_loss_fn("softmax_loss", reduction=bad)
        with pytest.raises(ValueError, match="reduction"):
            make("softmax_loss", reduction=bad)
    for keys in [None, [], ""]:
        with pytest.raises(ValueError):
            make(keys)
    with pytest.raises(ValueError):
        make(["softmax_loss", "list_mle_loss"], loss_weights=[1.0])
    fn = make(["softmax_loss", "no_such_loss"])
    with pytest.raises(ValueError, match="no_such_loss"):
        fn(np.ones((1, 2)), np.ones((1, 2)), {})
