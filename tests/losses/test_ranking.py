"""Unit tests of monolith_np.losses.ranking: values and gradients against a
compact TF transcription of the original (``tf.GradientTape``), finite
differences (float64), hand-computed cases, reductions and argument errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monolith_np import _random
from monolith_np.losses import ranking as rk

tf = pytest.importorskip("tensorflow")


L1 = tf.compat.v1.losses

def tf__sort(scores, feats):
    _, idx = tf.math.top_k(scores, tf.shape(scores)[1], sorted=True)
    return [tf.gather(f, idx, batch_dims=1) for f in feats]

def tf_inv_max_dcg(labels, gain, disc, topn=None):
    L = labels.shape[1]
    n = L if topn is None else min(topn, L)
    s, = tf__sort(labels, [labels]); s = s[:, :n]
    r = tf.cast(tf.range(n) + 1, labels.dtype)
    d = tf.reduce_sum(gain(s) * disc(r), 1, keepdims=True)
    return tf.where(d > 0, 1. / d, tf.zeros_like(d))

def tf_dcg_pair_weights(sl, topn, gain, disc, normalized, sf):
    valid = sl >= 0
    vp = tf.logical_and(valid[:, :, None], valid[:, None, :])
    sl = tf.where(valid, sl, tf.zeros_like(sl))
    g = gain(sl)
    if normalized:
        g = g * tf_inv_max_dcg(sl, gain, disc, topn)
    pg = (g[:, :, None] - g[:, None, :]) * tf.cast(vp, sl.dtype)
    L = sl.shape[1]; tn = topn or L
    rank = tf.range(L) + 1
    cr = tf.where(rank > tn, tf.ones_like(rank) * (tn + 1), rank)
    rd = tf.cast(tf.abs(cr[:, None] - cr[None, :]), sl.dtype)
    u = tf.where(rd > 0, tf.abs(disc(rd) - disc(rd + 1)), tf.zeros_like(rd))
    rdisc = tf.where(rank > tn, tf.zeros_like(tf.cast(rank, sl.dtype)), disc(tf.cast(rank, sl.dtype)))
    v = tf.abs(rdisc[:, None] - rdisc[None, :])
    w = tf.abs(pg) * ((1. - sf) * u + sf * v)
    if topn is None:
        return w
    m = rank <= topn
    return w * tf.cast(tf.logical_or(m[:, None], m[None, :]), sl.dtype)

def tf_sort_and_norm(labels, logits, weights):
    weights = tf.ones_like(labels) * (1.0 if weights is None else weights)
    scores = tf.where(labels >= 0, logits, -1e-6 * tf.ones_like(logits) + tf.reduce_min(logits, 1, keepdims=True))
    return tf__sort(scores, [labels, logits, weights])

def tf_pairwise(kind, labels, logits, weights=None, lam=None, lambda_scale=True,
                reduction=L1.Reduction.SUM_BY_NONZERO_WEIGHTS):
    sl, sg, sw = tf_sort_and_norm(labels, logits, weights)
    ld = sl[:, :, None] - sl[:, None, :]
    pl = sg[:, :, None] - sg[:, None, :]
    plab = tf.cast(ld > 0, sl.dtype)
    valid = sl >= 0
    vp = tf.cast(tf.logical_and(valid[:, :, None], valid[:, None, :]), sl.dtype)
    pw = plab * vp * sw[:, :, None]
    if lam is not None:
        pw = pw * tf_dcg_pair_weights(sl, *lam)
    else:
        pw = pw * tf.abs(ld)
    pw = tf.stop_gradient(pw)
    if lam is not None and lambda_scale:
        pw = pw * float(sl.shape[1])
    if kind == 0:
        f = tf.nn.relu(1. - pl)
    elif kind == 1:
        f = tf.nn.relu(-pl) + tf.math.log1p(tf.exp(-tf.abs(pl)))
    else:
        f = tf.where(pl > 0, 1. - tf.sigmoid(pl), tf.sigmoid(-pl))
    return L1.compute_weighted_loss(f, weights=pw, reduction=reduction)

def tf_softmax(labels, logits, weights=None, lam=None, reduction=L1.Reduction.SUM_BY_NONZERO_WEIGHTS):
    sl, sg, sw = tf_sort_and_norm(labels, logits, weights)
    valid = sl >= 0
    sl = tf.where(valid, sl, tf.zeros_like(sl))
    sg = tf.where(valid, sg, tf.math.log(tf.constant(1e-10, sl.dtype)) * tf.ones_like(sg))
    if lam is not None:
        topn, gain, disc, normalized, sf = lam
        g = gain(sl)
        if normalized:
            g = g * tf_inv_max_dcg(sl, gain, disc, topn)
        sl = g * disc(tf.cast(tf.range(sl.shape[1]) + 1, sl.dtype))
    sl = sl * sw
    ls = tf.reduce_sum(sl, 1, keepdims=True)
    m = tf.reshape(ls, [-1]) > 0
    ls, sl, sg = [tf.boolean_mask(x, m) for x in [ls, sl, sg]]
    return L1.softmax_cross_entropy(sl / ls, sg, weights=tf.reshape(ls, [-1]), reduction=reduction)

def tf_pointwise(kind, labels, logits, weights=None, reduction=L1.Reduction.SUM_BY_NONZERO_WEIGHTS):
    v = tf.reshape(labels >= 0, [-1])
    weights = tf.ones_like(labels) * (1.0 if weights is None else weights)
    a, b, c = [tf.boolean_mask(tf.reshape(x, [-1]), v) for x in [labels, logits, weights]]
    if kind == "sigmoid":
        return L1.sigmoid_cross_entropy(a, b, weights=c, reduction=reduction)
    return L1.mean_squared_error(a, b, weights=c, reduction=reduction)

def tf_list_mle(labels, logits, weights=None, disc=None, reduction=L1.Reduction.SUM_BY_NONZERO_WEIGHTS, rand=None):
    valid = labels >= 0
    labels = tf.where(valid, labels, tf.zeros_like(labels))
    logits = tf.where(valid, logits, tf.math.log(tf.constant(1e-10, labels.dtype)) * tf.ones_like(logits))
    weights = tf.squeeze(1.0 if weights is None else weights)
    r = tf.where(valid, rand, -1e-6 * tf.ones_like(rand))
    _, idx = tf.math.top_k(r, r.shape[1])
    sl = tf.gather(labels, idx, batch_dims=1); sg = tf.gather(logits, idx, batch_dims=1)
    sl, sg = tf__sort(sl, [sl, sg])
    sg = sg - tf.reduce_max(sg, 1, keepdims=True)
    sums = tf.math.log(tf.cumsum(tf.exp(sg), 1, reverse=True)) - sg
    if disc is not None:
        sums = sums * disc(tf.cast(tf.range(sl.shape[1]) + 1, sl.dtype))
    return L1.compute_weighted_loss(tf.reduce_sum(sums, 1), weights=weights, reduction=reduction)

def tf_approx_ndcg(labels, logits, weights=None, reduction=L1.Reduction.SUM, alpha=10.):
    valid = labels >= 0
    labels = tf.where(valid, labels, tf.zeros_like(labels))
    logits = tf.where(valid, logits, -1e3 * tf.ones_like(logits) + tf.reduce_min(logits, -1, keepdims=True))
    ls = tf.reduce_sum(labels, 1, keepdims=True)
    if weights is None:
        weights = tf.ones_like(ls)
    weights = tf.squeeze(weights)
    m = tf.reshape(ls, [-1]) > 0
    labels, logits, weights = [tf.boolean_mask(x, m) for x in [labels, logits, weights]]
    gains = tf.pow(tf.constant(2., labels.dtype), labels) - 1.
    x = logits[:, :, None]; y = logits[:, None, :]
    ranks = tf.reduce_sum(tf.sigmoid(alpha * (y - x)), -1) + .5
    dcg = tf.reduce_sum(gains / tf.math.log1p(ranks), -1)
    inv = tf_inv_max_dcg(labels, lambda x: tf.pow(tf.constant(2., x.dtype), x) - 1., lambda r: 1. / tf.math.log1p(r))
    cost = -dcg * tf.squeeze(inv, 1)
    return L1.compute_weighted_loss(cost, weights=weights, reduction=reduction)

def tf_value_and_grad(fn, labels, logits, **kw):
    lg = tf.Variable(logits)
    with tf.GradientTape() as t:
        v = fn(tf.constant(labels), lg, **kw)
        s = tf.reduce_sum(v)
    return v.numpy(), t.gradient(s, lg).numpy()


RED = [r for r in rk.Reduction.all() if r != rk.Reduction.NONE]
GAIN = lambda l: tf.pow(tf.constant(2., l.dtype), l) - 1.  # noqa: E731
DISC = lambda r: 1. / tf.math.log1p(r)  # noqa: E731


def _data(B=4, L=6, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    labels = rng.integers(-1, 4, (B, L)).astype(dtype)
    logits = rng.standard_normal((B, L)).astype(dtype)
    weights = rng.uniform(0.0, 2.0, (B, L)).astype(dtype)
    return labels, logits, weights


PAIRWISE = [(0, rk.pairwise_hinge_loss_and_grad), (1, rk.pairwise_logistic_loss_and_grad),
            (2, rk.pairwise_soft_zero_one_loss_and_grad)]


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("kind, fn", PAIRWISE)
@pytest.mark.parametrize("lam", [None, (3, 0.3), (None, 0.0)])
@pytest.mark.parametrize("wshape", ["none", "list", "item"])
def test_pairwise_matches_tf(reduction, kind, fn, lam, wshape):
    labels, logits, w = _data(seed=kind)
    weights = {"none": None, "list": w[:, :1].copy(), "item": w}[wshape]
    lw = None if lam is None else rk.create_ndcg_lambda_weight(topn=lam[0], smooth_fraction=lam[1])
    tl = None if lam is None else (lam[0], GAIN, DISC, True, lam[1])
    v, g = tf_value_and_grad(lambda a, b, **k: tf_pairwise(kind, a, b, **k), labels, logits, weights=weights,
                             lam=tl, reduction=reduction)
    mv, mg = fn(labels, logits, weights=weights, lambda_weight=lw, reduction=reduction)
    np.testing.assert_allclose(mv, v, rtol=1e-6)
    np.testing.assert_allclose(mg, g, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind, fn", PAIRWISE)
def test_pairwise_none_reduction_is_sorted_pair_matrix(kind, fn):
    labels, logits, w = _data(seed=3)
    v = tf_pairwise(kind, tf.constant(labels), tf.constant(logits), weights=w, reduction="none").numpy()
    got, grad = fn(labels, logits, weights=w, reduction=rk.Reduction.NONE)
    assert got.shape == (4, 6, 6)
    np.testing.assert_allclose(got, v, rtol=1e-6, atol=1e-12)
    # all-ones upstream gives the SUM gradient
    np.testing.assert_allclose(grad, fn(labels, logits, weights=w, reduction=rk.Reduction.SUM)[1], rtol=1e-10)


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("lam", [False, True])
def test_softmax_matches_tf(reduction, lam):
    labels, logits, w = _data(seed=5)
    lw = rk.create_ndcg_lambda_weight(topn=2) if lam else None
    v, g = tf_value_and_grad(tf_softmax, labels, logits, weights=w, lam=(2, GAIN, DISC, True, 0.) if lam else None,
                             reduction=reduction)
    mv, mg = rk.softmax_loss_and_grad(labels, logits, weights=w, lambda_weight=lw, reduction=reduction)
    np.testing.assert_allclose(mv, v, rtol=1e-6)
    np.testing.assert_allclose(mg, g, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("kind", ["sigmoid", "mse"])
def test_pointwise_matches_tf(reduction, kind):
    labels, logits, w = _data(seed=6)
    labels = np.where(labels >= 0, labels / 3, labels)
    v, g = tf_value_and_grad(lambda a, b, **k: tf_pointwise(kind, a, b, **k), labels, logits, weights=w,
                             reduction=reduction)
    fn = rk.sigmoid_cross_entropy_loss_and_grad if kind == "sigmoid" else rk.mean_squared_loss_and_grad
    mv, mg = fn(labels, logits, weights=w, reduction=reduction)
    np.testing.assert_allclose(mv, v, rtol=1e-6)
    np.testing.assert_allclose(mg, g, rtol=1e-5, atol=1e-7)


def _uniforms(seed, B, L):
    with np.errstate(over="ignore"):
        return np.asarray(_random.uniform01_float32(np.uint64(seed), np.arange(B * L, dtype=np.uint64)),
                          np.float32).reshape(B, L).astype(np.float64)


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("lam", [False, True])
def test_list_mle_matches_tf_with_same_tie_break(reduction, lam):
    labels, logits, w = _data(seed=7)
    B, L = labels.shape
    lw = rk.create_p_list_mle_lambda_weight(L) if lam else None
    v, g = tf_value_and_grad(tf_list_mle, labels, logits, weights=w[:, :1], reduction=reduction,
                             rand=tf.constant(_uniforms(11, B, L)),
                             disc=(lambda r: 2. ** (L - r) - 1.) if lam else None)
    mv, mg = rk.list_mle_loss_and_grad(labels, logits, weights=w[:, :1], lambda_weight=lw, reduction=reduction,
                                       seed=11)
    np.testing.assert_allclose(mv, v, rtol=1e-6)
    np.testing.assert_allclose(mg, g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", RED + [rk.Reduction.NONE])
def test_approx_ndcg_matches_tf(reduction):
    labels, logits, w = _data(seed=8)
    labels[1] = -1  # an all-invalid list is dropped
    v, g = tf_value_and_grad(tf_approx_ndcg, labels, logits, weights=w[:, :1], reduction=reduction)
    mv, mg = rk.approx_ndcg_loss_and_grad(labels, logits, weights=w[:, :1], reduction=reduction)
    np.testing.assert_allclose(mv, v, rtol=1e-6)
    np.testing.assert_allclose(mg, g, rtol=1e-5, atol=1e-7)


def _fd(f, logits, eps=1e-6):
    g = np.zeros_like(logits)
    for idx in np.ndindex(*logits.shape):
        p, m = logits.copy(), logits.copy()
        p[idx] += eps
        m[idx] -= eps
        g[idx] = (float(f(p)) - float(f(m))) / (2 * eps)
    return g


FD_LOSSES = [
    (rk.pairwise_logistic_loss, rk.pairwise_logistic_loss_grad, {"lambda_weight": rk.create_ndcg_lambda_weight()}),
    (rk.pairwise_soft_zero_one_loss, rk.pairwise_soft_zero_one_loss_grad, {}),
    (rk.softmax_loss, rk.softmax_loss_grad, {}),
    (rk.sigmoid_cross_entropy_loss, rk.sigmoid_cross_entropy_loss_grad, {}),
    (rk.mean_squared_loss, rk.mean_squared_loss_grad, {}),
    (rk.list_mle_loss, rk.list_mle_loss_grad, {"seed": 3}),
    (rk.approx_ndcg_loss, rk.approx_ndcg_loss_grad, {}),
]


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31), B=st.integers(1, 3), L=st.integers(1, 5), k=st.integers(0, len(FD_LOSSES) - 1),
       up=st.floats(-2, 2))
def test_gradients_match_finite_differences(seed, B, L, k, up):
    f, fg, kw = FD_LOSSES[k]
    labels, logits, _ = _data(B, L, seed)
    logits = logits * 2
    if f is rk.sigmoid_cross_entropy_loss:
        labels = np.where(labels >= 0, labels / 3, labels)
    g = fg(labels, logits, upstream=up, **kw)
    num = _fd(lambda x: up * f(labels, x, **kw), logits)
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-6)


def test_hand_computed_pairwise_logistic():
    labels = np.array([[2.0, 0.0, 1.0]])
    logits = np.array([[0.0, 1.0, 0.5]])
    # pairs (0,1) w=2, (0,2) w=1, (2,1) w=1 with diffs -1, -0.5, -0.5
    sp = lambda x: np.log1p(np.exp(-x))  # noqa: E731
    total = 2 * sp(-1.0) + sp(-0.5) + sp(-0.5)
    assert np.isclose(rk.pairwise_logistic_loss(labels, logits, reduction=rk.Reduction.SUM), total)
    assert np.isclose(rk.pairwise_logistic_loss(labels, logits), total / 3)
    assert np.isclose(rk.pairwise_logistic_loss(labels, logits, reduction=rk.Reduction.MEAN), total / 4)
    assert np.isclose(rk.pairwise_logistic_loss(labels, logits, reduction=rk.Reduction.SUM_OVER_BATCH_SIZE),
                      total / 9)


def test_hand_computed_softmax():
    labels = np.array([[1.0, 0.0, -1.0]])
    logits = np.array([[0.0, 0.0, 5.0]])
    # invalid item gets log(1e-10): CE = log(2 + 1e-10) approximately
    assert np.isclose(rk.softmax_loss(labels, logits), np.log(2.0 + np.float32(1e-10)), rtol=1e-7)


def test_edge_cases_finite():
    labels = np.full((2, 3), -1.0)
    logits = np.zeros((2, 3))
    for f in [rk.pairwise_hinge_loss, rk.softmax_loss, rk.sigmoid_cross_entropy_loss, rk.mean_squared_loss,
              rk.approx_ndcg_loss]:
        assert float(f(labels, logits)) == 0.0
    # as the original: invalid items keep a constant logit in ListMLE, so each list costs log(3!)
    assert np.isclose(rk.list_mle_loss(labels, logits), np.log(6.0))
    assert not rk.list_mle_loss_grad(labels, logits).any()
    big = np.array([[300.0, -300.0, 0.0]], np.float32)
    lab = np.array([[0.0, 2.0, 1.0]], np.float32)
    for f in [rk.pairwise_logistic_loss_and_grad, rk.softmax_loss_and_grad, rk.list_mle_loss_and_grad,
              rk.approx_ndcg_loss_and_grad, rk.pairwise_soft_zero_one_loss_and_grad]:
        v, g = f(lab, big)
        assert np.isfinite(v).all() and np.isfinite(g).all() and v.dtype == np.float32 and g.dtype == np.float32
    # ListMLE stays finite where log(cumsum(exp)) underflows in float32
    assert np.isfinite(rk.list_mle_loss(np.array([[1.0, 0.0]], np.float32), np.array([[0.0, -200.0]], np.float32)))


def test_dtypes_and_shapes():
    labels, logits, _ = _data(dtype=np.float32)
    v, g = rk.pairwise_hinge_loss_and_grad(labels, logits)
    assert v.shape == () and v.dtype == np.float32 and g.shape == logits.shape and g.dtype == np.float32
    assert rk.sigmoid_cross_entropy_loss(labels, logits, reduction="none").shape == ((labels >= 0).sum(),)


def test_argument_errors():
    labels, logits, _ = _data()
    with pytest.raises(ValueError, match="reduction"):
        rk.softmax_loss(labels, logits, reduction="bogus")
    with pytest.raises(ValueError, match="labels"):
        rk.softmax_loss(labels[:, :3], logits)
    with pytest.raises(TypeError, match="logits"):
        rk.softmax_loss(labels, logits.astype(np.int64))
    with pytest.raises(ValueError, match="weights"):
        rk.pairwise_hinge_loss(labels, logits, weights=np.ones((4, 2)))
    with pytest.raises(ValueError, match="weights"):
        rk.list_mle_loss(labels, logits, weights=np.ones((4, 6)))
    with pytest.raises(TypeError, match="lambda_weight"):
        rk.pairwise_hinge_loss(labels, logits, lambda_weight=rk.create_p_list_mle_lambda_weight(6))
    with pytest.raises(ValueError, match="smooth_fraction"):
        rk.DCGLambdaWeight(smooth_fraction=1.5)
    with pytest.raises(ValueError, match="upstream"):
        rk.softmax_loss_grad(labels, logits, reduction="none", upstream=np.ones(99))
    with pytest.raises(ValueError, match="seed"):
        rk.list_mle_loss(labels, logits, seed=-1)


def test_make_loss_fn():
    labels, logits, w = _data()
    with pytest.raises(ValueError, match="Invalid reduction"):
        rk.make_loss_fn("softmax_loss", reduction=rk.Reduction.NONE)
    with pytest.raises(ValueError, match="empty"):
        rk.make_loss_fn([])
    with pytest.raises(ValueError, match="same size"):
        rk.make_loss_fn(["softmax_loss"], loss_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="Invalid loss_key"):
        rk.make_loss_fn("nope")(labels, logits, {})
    fn = rk.make_loss_fn([rk.RankingLossKey.SOFTMAX_LOSS, rk.RankingLossKey.PAIRWISE_HINGE_LOSS],
                         loss_weights=[2.0, 0.5], weights_feature_name="w")
    want = 2 * rk.softmax_loss(labels, logits, w) + 0.5 * rk.pairwise_hinge_loss(labels, logits, w)
    np.testing.assert_allclose(fn(labels, logits, {"w": w}), want)
    np.testing.assert_allclose(fn.grad(labels, logits, {"w": w}),
                               2 * rk.softmax_loss_grad(labels, logits, w)
                               + 0.5 * rk.pairwise_hinge_loss_grad(labels, logits, w))


def test_reduction_constants_and_compute_weighted_loss():
    assert rk.Reduction.SUM_OVER_NONZERO_WEIGHTS == rk.Reduction.SUM_BY_NONZERO_WEIGHTS
    for name in ["NONE", "SUM", "SUM_OVER_BATCH_SIZE", "MEAN", "SUM_BY_NONZERO_WEIGHTS"]:
        assert getattr(rk.Reduction, name) == getattr(tf.compat.v1.losses.Reduction, name)
    losses = np.array([[1.0, 2.0], [3.0, 4.0]])
    for w in [0.0, 2.0, np.array([[0.0], [1.0]]), np.array([[1.0, 0.0], [2.0, 0.5]])]:
        for red in rk.Reduction.all():
            want = tf.compat.v1.losses.compute_weighted_loss(losses, weights=w, reduction=red).numpy()
            np.testing.assert_allclose(rk.compute_weighted_loss(losses, w, red), want, rtol=1e-6)


def test_helpers_match_tf():
    labels, logits, _ = _data(seed=9)
    logits[0, 2] = logits[0, 4]
    got = rk.sort_by_scores(logits, [labels, logits], topn=4)
    want = tf__sort(tf.constant(logits), [tf.constant(labels), tf.constant(logits)])
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b.numpy()[:, :4])
    valid = labels >= 0
    idx = rk.organize_valid_indices(valid, shuffle=False)
    r = tf.where(valid, tf.ones_like(logits, tf.float32) * tf.reverse(tf.range(6, dtype=tf.float32), [-1]), -1e-6)
    np.testing.assert_array_equal(idx[..., 1], tf.math.top_k(r, 6).indices.numpy())
    sh = rk.shuffle_valid_indices(valid, seed=4)
    assert all(valid[b, sh[b, :valid[b].sum(), 1]].all() for b in range(4))
    np.testing.assert_array_equal(sh, rk.organize_valid_indices(valid, True, 4))
    x = tf.constant(logits)
    want = tf.reduce_sum(tf.sigmoid(10. * (x[:, None, :] - x[:, :, None])), -1) + .5
    np.testing.assert_allclose(rk.approx_ranks(logits), want.numpy(), rtol=1e-12)
    clean = np.maximum(labels, 0)
    np.testing.assert_allclose(rk.inverse_max_dcg(clean, topn=3),
                               tf_inv_max_dcg(tf.constant(clean), GAIN, DISC, 3).numpy(), rtol=1e-12)
    assert rk.reshape_first_ndims(np.zeros((6, 5, 2)), 1, [2, 3]).shape == (2, 3, 5, 2)


def test_get_batch_idx_size():
    logits = np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
    labels = np.array([1.0, 0.0, 1.0, 1.0, 0.0], np.float32)
    rank_id = np.array([7, 3, 7, 9, 3])
    lg, lb, mask, uniq = rk.get_batch_idx_size(logits, labels, rank_id, "p")
    np.testing.assert_array_equal(lg, [[1, 3], [2, 5], [4, 0]])
    np.testing.assert_allclose(lb, np.array([[1, 1], [0, 0], [1, 0]], np.float32) - np.float32(1e-6))
    assert mask.shape == (5, 5) and mask.sum() == 5
    np.testing.assert_array_equal(uniq, [0, 1, 3])


def test_lambda_weight_methods_match_tf():
    labels = np.array([[2.0, -1.0, 1.0, 0.0, 3.0]])
    lw = rk.create_ndcg_lambda_weight(topn=3, smooth_fraction=0.4)
    np.testing.assert_allclose(lw.pair_weights(labels),
                               tf_dcg_pair_weights(tf.constant(labels), 3, GAIN, DISC, True, 0.4).numpy(), rtol=1e-12)
    p = rk.PrecisionLambdaWeight(topn=2).pair_weights(labels)
    assert p.shape == (1, 5, 5) and p[0, 0, 2] == 0 and p[0, 0, 3] == 1
    np.testing.assert_allclose(rk.create_p_list_mle_lambda_weight(5).individual_weights(labels),
                               [[15, 7, 3, 1, 0]])
