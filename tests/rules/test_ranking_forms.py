"""The whole-list CPU forms of the ranking rules against independent float64 references.

ListMLE's ground-truth order (counting for short lists, sorting for long
ones) against ``np.lexsort``; its linear-space nll and gradient against the
log-space rule and a float64 numpy reference; approx-NDCG's list forms (each
unordered pair once) against sigmoid sums in float64, including padded items
and items far below the top, whose exponentials underflow.
"""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logsumexp

from monolith_np._rules import ranking as R


@numba.njit(error_model="numpy")
def _order(labels, draws):
    n = labels.shape[0]
    order = np.full(n, -1, np.int64)
    R.list_mle_order(labels, draws, order, np.empty(n, np.uint64), np.empty(n, labels.dtype))
    return order


@numba.njit(error_model="numpy")
def _mle_linear(labels, logits, use_lambda, disc, pad_logit, one, order):
    grad = np.full(logits.shape[0], np.nan, logits.dtype)
    ok, nll = R.list_mle_list_linear(labels, logits, use_lambda, disc, pad_logit, one, order,
                                     np.empty((3, logits.shape[0])), grad)
    return ok, nll, grad


@numba.njit(error_model="numpy")
def _mle_log(labels, logits, use_lambda, disc, pad_logit, one, order):
    grad = np.zeros(logits.shape[0], logits.dtype)
    nll = R.list_mle_list(labels, logits, use_lambda, disc, pad_logit, one, order, np.empty(logits.shape[0],
                                                                                             logits.dtype), grad)
    return nll, grad


@numba.njit(error_model="numpy")
def _approx(labels, logits, pad, alpha, one, a):
    n = logits.shape[0]
    shift = R.approx_shift(labels, logits, pad, alpha)
    e = np.empty(n)
    for i in range(n):
        e[i] = R.approx_exp(i, labels, logits, pad, alpha, shift)
    ranks = np.empty(n)
    R.approx_ranks_list(labels, logits, pad, alpha, one, e, np.empty(n), ranks)
    grad = np.full(n, np.nan, logits.dtype)
    R.approx_ndcg_grad_list(labels, logits, pad, alpha, one, a, e, np.empty(n), np.empty(n), grad)
    return ranks, grad


# --- ListMLE ---------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), levels=st.integers(1, 6), draw_levels=st.sampled_from([3, 2 ** 24]),
       invalid=st.floats(0, 0.5), seed=st.integers(0, 2 ** 32 - 1))
def test_list_mle_order_is_label_then_draw_then_index(n, levels, draw_levels, invalid, seed):
    """Both forms (counting up to 128 items, sorting above) give the lexicographic order."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, levels, n).astype(np.float32)
    labels[rng.random(n) < invalid] = -1.0
    draws = (rng.integers(0, draw_levels, n) / np.float32(2 ** 24)).astype(np.float32)  # ties when few levels
    draws[labels < 0] = np.float32(-1e-6)
    clean = np.where(labels >= 0, labels, 0)
    want = np.lexsort((np.arange(n), -draws.astype(np.float64), -clean))
    np.testing.assert_array_equal(_order(labels, draws), want)
    np.testing.assert_array_equal(_order(labels.astype(np.float64), draws), want)


@pytest.mark.parametrize("n", [5, 200])
def test_list_mle_order_puts_nan_labels_last_by_draw(n):
    rng = np.random.default_rng(n)
    labels = rng.integers(0, 3, n).astype(np.float32)
    labels[::3] = np.nan
    draws = rng.random(n).astype(np.float32)
    order = _order(labels, draws)
    nan_first = int((~np.isnan(labels)).sum())
    assert not np.isnan(labels[order[:nan_first]]).any()
    tail = order[nan_first:]
    np.testing.assert_array_equal(tail, np.flatnonzero(np.isnan(labels))[np.argsort(-draws[np.isnan(labels)],
                                                                                    kind="stable")])


def _mle_reference(labels, logits, lam, pad_logit, order):
    """nll and gradient of ListMLE in float64 from suffix log-sum-exps."""
    z = np.where(labels >= 0, logits, pad_logit).astype(np.float64)[order]
    n = z.size
    lse = np.array([logsumexp(z[k:]) for k in range(n)])
    nll = float(np.sum(lam * (lse - z)))
    g = np.zeros(n)
    for k in range(n):  # d/dz_k of sum_q lam_q (lse_q - z_q)
        g[k] = sum(lam[q] * np.exp(z[k] - lse[q]) for q in range(k + 1)) - lam[k]
    grad = np.zeros(n)
    grad[order] = g
    return nll, np.where(labels >= 0, grad, 0.0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), scale=st.sampled_from([0.1, 3.0, 30.0]), use_lambda=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_list_mle_linear_matches_float64_reference(n, scale, use_lambda, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(-1, 4, n).astype(np.float64)
    logits = rng.standard_normal(n) * scale
    disc = rng.random(n + 2)
    order = rng.permutation(n)
    pad = np.log(1e-10)
    ok, nll, grad = _mle_linear(labels, logits, use_lambda, disc, pad, 1.0, order)
    assert ok
    lam = disc[1:n + 1] if use_lambda else np.ones(n)
    want_nll, want_grad = _mle_reference(labels, logits, lam, pad, order)
    np.testing.assert_allclose(nll, want_nll, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-12)
    log_nll, log_grad = _mle_log(labels, logits, use_lambda, disc, pad, 1.0, order)
    np.testing.assert_allclose(nll, log_nll, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, log_grad, rtol=1e-9, atol=1e-12)


def test_list_mle_linear_declines_a_huge_spread_and_leaves_grad_alone():
    labels = np.array([1.0, 0.0, 2.0])
    logits = np.array([0.0, -800.0, -900.0])  # the last suffixes underflow float64
    order = np.array([2, 0, 1])
    ok, nll, grad = _mle_linear(labels, logits, False, np.zeros(5), np.log(1e-10), 1.0, order)
    assert not ok and nll == 0.0 and np.isnan(grad).all()
    log_nll, _ = _mle_log(labels, logits, False, np.zeros(5), np.log(1e-10), 1.0, order)
    np.testing.assert_allclose(log_nll, _mle_reference(labels, logits, np.ones(3), np.log(1e-10), order)[0],
                               rtol=1e-12)


# --- approx-NDCG -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 70), scale=st.sampled_from([0.3, 3.0, 60.0]), alpha=st.sampled_from([10.0, 0.5, -2.0]),
       invalid=st.floats(0, 0.6), seed=st.integers(0, 2 ** 32 - 1))
def test_approx_list_forms_match_sigmoid_sums(n, scale, alpha, invalid, seed):
    """Ranks ``0.5 + sum_j sigmoid(alpha (s_j - s_i))`` and the gradient, with pads and underflowing items."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n).astype(np.float64)
    labels[rng.random(n) < invalid] = -1.0
    logits = rng.standard_normal(n) * scale  # scale 60: e underflows for items far below the top
    pad = logits.min() - 1e3
    a = rng.standard_normal(n)
    ranks, grad = _approx(labels, logits, pad, alpha, 1.0, a)
    s = np.where(labels >= 0, logits, pad)
    sig = expit(alpha * (s[None, :] - s[:, None]))  # [i, j] = sigmoid(alpha (s_j - s_i))
    np.testing.assert_allclose(ranks, 0.5 + sig.sum(axis=1), rtol=1e-12, atol=1e-12)
    w = sig * (1.0 - sig)
    want = alpha * (w * (a[None, :] - a[:, None])).sum(axis=1)
    want[labels < 0] = 0.0
    np.testing.assert_allclose(grad, want, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(want).max()))
