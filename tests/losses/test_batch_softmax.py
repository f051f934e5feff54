"""Tests for monolith_np.losses.batch_softmax (SEMANTICS.md F.1, G.6).

Parity with the TF transcription of the original (tests/reference/ref_losses.py)
for the value and, through ``tf.GradientTape``, the gradients; finite
differences in float64; the golden value of the original test; stability where
the original overflows; argument errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np.losses.batch_softmax import (
    batch_softmax_loss,
    batch_softmax_loss_and_grad,
    batch_softmax_loss_grad,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from ref_losses import ref_batch_softmax_loss_and_grad  # noqa: E402

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")


@st.composite
def cases(draw, dtype=np.float64, lo=-3.0, hi=3.0):
    b = draw(st.integers(1, 7))
    k = draw(st.integers(1, 5))
    el = st.floats(lo, hi, width=32, allow_subnormal=False)
    q = draw(hnp.arrays(dtype, (b, k), elements=el))
    it = draw(hnp.arrays(dtype, (b, k), elements=el))
    iv = draw(hnp.arrays(dtype, (b,), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, 7.0, 100.0])))
    r = draw(hnp.arrays(dtype, (b,), elements=st.floats(0, 2, width=32)))
    normalize = draw(st.booleans())
    temperature = draw(st.sampled_from([1.0, 0.5, 0.1, 3.0]))
    return q, it, iv, r, normalize, temperature


def test_golden_original_test():
    np.random.seed(87654321)
    q = np.random.random([4, 3]).astype(np.float32)
    it = np.random.random([4, 3]).astype(np.float32)
    iv = np.array([np.random.randint(1, 10) for _ in range(4)], dtype=np.float32)
    np.testing.assert_array_equal(iv, [9, 9, 1, 7])
    loss = batch_softmax_loss(q, it, iv, np.ones(4, np.float32))
    assert loss.dtype == np.float32 and loss.shape == ()
    np.testing.assert_allclose(loss, 6.5931373, rtol=1e-6)


def _max_similarity(q, it, normalize, t):
    """Largest tempered similarity: the original's ``(sum of exp)^2`` in its gradient overflows near 354."""
    q, it = q.astype(np.float64), it.astype(np.float64)
    if normalize:
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-6)
        it = it / np.maximum(np.linalg.norm(it, axis=1, keepdims=True), 1e-6)
    return float(np.abs(q @ it.T).max(initial=0)) / t


@given(cases())
def test_value_and_grads_match_tf_float64(case):
    q, it, iv, r, normalize, t = case
    assume(_max_similarity(q, it, normalize, t) < 300)
    loss, (dq, di) = batch_softmax_loss_and_grad(q, it, iv, r, normalize, t)
    ref_loss, ref_dq, ref_di = ref_batch_softmax_loss_and_grad(q, it, iv, r, normalize, t)
    assume(np.isfinite(ref_loss) and np.isfinite(ref_dq).all() and np.isfinite(ref_di).all())
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dq, ref_dq, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(di, ref_di, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(batch_softmax_loss(q, it, iv, r, normalize, t), loss, rtol=1e-13, atol=1e-13)


@given(cases(dtype=np.float32))
def test_value_and_grads_match_tf_float32(case):
    q, it, iv, r, normalize, t = case
    loss, (dq, di) = batch_softmax_loss_and_grad(q, it, iv, r, normalize, t)
    assert loss.dtype == dq.dtype == di.dtype == np.float32
    # The yardstick is the original evaluated in float64 on the same inputs: in
    # float32 it overflows (exp without max subtraction), and its gradient's
    # (sum of exp)^2 overflows to a silent 0 from similarities near 44 on.
    assume(_max_similarity(q, it, normalize, t) < 300)
    ref_loss, ref_dq, ref_di = ref_batch_softmax_loss_and_grad(
        *(x.astype(np.float64) for x in (q, it, iv, r)), normalize, t)
    assume(np.isfinite(ref_loss) and np.isfinite(ref_dq).all() and np.isfinite(ref_di).all())
    # A clipped (near-zero) norm multiplies float32 rounding noise by up to 1e6 in both.
    assume(not normalize or min((q * q).sum(1).min(), (it * it).sum(1).min()) > 1e-3)
    scale = max(1.0, float(np.abs(ref_dq).max(initial=0)), float(np.abs(ref_di).max(initial=0)))
    np.testing.assert_allclose(loss, ref_loss, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(dq, ref_dq, rtol=1e-3, atol=2e-4 * scale)
    np.testing.assert_allclose(di, ref_di, rtol=1e-3, atol=2e-4 * scale)


@given(cases(lo=-2.0, hi=2.0), st.floats(-3, 3))
def test_grad_matches_finite_differences(case, upstream):
    q, it, iv, r, normalize, t = case
    if normalize:  # keep away from the norm clip, where the function has a kink
        q = q + np.sign(q + 0.5) * 0.5
        it = it + np.sign(it + 0.5) * 0.5
    dq, di = batch_softmax_loss_grad(q, it, iv, r, normalize, t, upstream=upstream)
    h = 1e-6
    for x, dx, which in ((q, dq, 0), (it, di, 1)):
        fd = np.empty_like(x)
        for idx in np.ndindex(x.shape):
            xp_, xm = x.copy(), x.copy()
            xp_[idx] += h
            xm[idx] -= h
            args_p = (xp_, it) if which == 0 else (q, xp_)
            args_m = (xm, it) if which == 0 else (q, xm)
            fd[idx] = (batch_softmax_loss(*args_p, iv, r, normalize, t)
                       - batch_softmax_loss(*args_m, iv, r, normalize, t)) / (2 * h) * upstream
        np.testing.assert_allclose(dx, fd, rtol=1e-5, atol=1e-5)


def test_stable_where_original_overflows():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((6, 4)) * 30
    it = rng.standard_normal((6, 4)) * 30
    iv = np.array([1.0, 2.0, 1e30, 5.0, 1.0, 3.0])
    r = np.ones(6)
    ref = ref_batch_softmax_loss_and_grad(q, it, iv, r, False, 0.05)[0]
    assert not np.isfinite(ref)  # the original overflows
    loss, (dq, di) = batch_softmax_loss_and_grad(q, it, iv, r, False, 0.05)
    assert np.isfinite(loss) and np.isfinite(dq).all() and np.isfinite(di).all()
    # Shifting every logit by a constant does not change the loss: compare to a scaled-down exact value.
    s = q @ it.T / 0.05 + np.log(np.maximum(iv, 1))[None, :]
    m = s.max(axis=1, keepdims=True)
    exact = np.sum(m[:, 0] + np.log(np.exp(s - m).sum(axis=1)) - np.diag(s))
    np.testing.assert_allclose(loss, exact, rtol=1e-12)


def test_nan_propagates():
    q = np.array([[np.nan, 1.0], [0.0, 1.0]])
    assert np.isnan(batch_softmax_loss(q, np.ones((2, 2)), np.ones(2), np.ones(2)))


def test_upstream_scales_gradient_and_loss_is_unscaled():
    rng = np.random.default_rng(1)
    q, it = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    iv, r = np.arange(5.0), rng.random(5)
    l1, (dq1, di1) = batch_softmax_loss_and_grad(q, it, iv, r)
    l2, (dq2, di2) = batch_softmax_loss_and_grad(q, it, iv, r, upstream=-2.5)
    assert l1 == l2
    np.testing.assert_allclose(dq2, -2.5 * dq1, rtol=1e-12)
    np.testing.assert_allclose(di2, -2.5 * di1, rtol=1e-12)


def test_scalar_r_and_inputs_not_mutated():
    rng = np.random.default_rng(2)
    q, it = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    iv = np.array([0.0, 3.0, 1.0, 2.0])
    copies = [a.copy() for a in (q, it, iv)]
    a = batch_softmax_loss(q, it, iv, 0.5)
    b = batch_softmax_loss(q, it, iv, np.full(4, 0.5))
    assert a == b
    for x, c in zip((q, it, iv), copies):
        np.testing.assert_array_equal(x, c)


def test_large_batch_parallel_path_matches_tf():
    rng = np.random.default_rng(3)
    q, it = rng.standard_normal((300, 8)), rng.standard_normal((300, 8))
    iv, r = rng.integers(0, 50, 300).astype(np.float64), rng.random(300)
    loss, (dq, di) = batch_softmax_loss_and_grad(q, it, iv, r, True, 0.2)
    ref_loss, ref_dq, ref_di = ref_batch_softmax_loss_and_grad(q, it, iv, r, True, 0.2)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10)
    np.testing.assert_allclose(dq, ref_dq, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(di, ref_di, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("t", [0.0, -1.0])
def test_temperature_must_be_positive(t):
    x = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"^temperature should be positive"):
        batch_softmax_loss(x, x, np.ones(2), np.ones(2), temperature=t)


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(item=np.ones((3, 2), np.float32)), ValueError, r"item must have shape \(2, 2\)"),
        (dict(item=np.ones((2, 2), np.float64)), TypeError, "item must be float32"),
        (dict(query=np.ones((2, 2), np.int64), item=np.ones((2, 2), np.int64)), TypeError, "query must be"),
        (dict(query=np.ones(2, np.float32)), ValueError, "query must be 2-D"),
        (dict(item_step_interval=np.ones((2, 1))), ValueError, r"item_step_interval must have shape \(2,\)"),
        (dict(r=np.ones((2, 1))), ValueError, r"r must have shape \(2,\)"),
        (dict(normalize="yes"), TypeError, "normalize must be a bool"),
        (dict(temperature="1"), TypeError, "temperature must be a real number"),
    ],
)
def test_argument_errors(kwargs, exc, pattern):
    args = dict(query=np.ones((2, 2), np.float32), item=np.ones((2, 2), np.float32),
                item_step_interval=np.ones(2), r=np.ones(2))
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        batch_softmax_loss(**args)
