"""Tests for monolith_np.losses.inbatch_auc (SEMANTICS.md C.1, G.6).

The original is a C++ op that TF cannot differentiate, so the value is compared
with a TF-ops transcription and the op's loop in float64, and the gradient with
a direct float64 transcription of the grad op (tests/reference/ref_losses.py);
finite differences check the gradient where it is the loss's gradient
(``neg_weight == 1`` and no cut-off active).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np.losses.inbatch_auc import (
    inbatch_auc_loss,
    inbatch_auc_loss_and_grad,
    inbatch_auc_loss_grad,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from ref_losses import ref_inbatch_auc_loss, ref_inbatch_auc_loss_grad, tf_inbatch_auc_loss  # noqa: E402

LABELS = st.sampled_from([1.0, 0.0, 2.0, -1.0, -10000.0, -20000.0, -9999.0, np.nan])


@st.composite
def cases(draw, dtype=np.float64, lo=-120.0, hi=120.0):
    shape = draw(st.sampled_from([(0,), (1,), (5,), (17,), (3, 4), (2, 1, 3)]))
    label = draw(hnp.arrays(np.float64, shape, elements=LABELS))
    el = st.one_of(st.floats(lo, hi, width=32, allow_subnormal=False), st.sampled_from([0.0, 44.0, -43.5, 88.0]))
    logit = draw(hnp.arrays(dtype, shape, elements=el))
    neg_weight = draw(st.sampled_from([1.0, 0.5, 0.01]))
    upstream = draw(st.sampled_from([1.0, 2.0, -0.5, 0.0]))
    return label, logit, neg_weight, upstream


def test_golden_original_test():
    label = [1, 0, 0, 1]
    logit = np.array([0.5, -0.2, -0.4, 0.8], dtype=np.float32)
    loss = inbatch_auc_loss(np.array(label), logit)
    assert loss.dtype == np.float32 and loss.shape == ()
    assert abs(float(loss) - (-1.3208841)) < 1e-6
    grad = inbatch_auc_loss_grad(np.array(label), logit, neg_weight=1.0, upstream=2)
    np.testing.assert_allclose(grad, [1.2417255, -1.2015073, -1.0410514, 1.0008333], rtol=1e-6)


@given(cases())
def test_float64_matches_op_transcription(case):
    label, logit, neg_weight, upstream = case
    loss, grad = inbatch_auc_loss_and_grad(label, logit, neg_weight, upstream)
    assert grad.shape == logit.shape and grad.dtype == logit.dtype
    np.testing.assert_allclose(loss, ref_inbatch_auc_loss(label, logit), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, ref_inbatch_auc_loss_grad(label, logit, neg_weight, upstream),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(inbatch_auc_loss(label, logit, neg_weight), loss)
    np.testing.assert_array_equal(inbatch_auc_loss_grad(label, logit, neg_weight, upstream), grad)


@pytest.mark.tf
@given(cases(dtype=np.float32))
def test_float32_matches_tf_and_grad_op(case):
    tf = pytest.importorskip("tensorflow")
    label, logit, neg_weight, upstream = case
    loss, grad = inbatch_auc_loss_and_grad(label, logit, neg_weight, upstream)
    assert loss.dtype == grad.dtype == np.float32
    ref = tf_inbatch_auc_loss(tf.constant(label.astype(np.float32)), tf.constant(logit)).numpy()
    np.testing.assert_allclose(loss, ref, rtol=1e-6, atol=1e-6)
    ref_g = ref_inbatch_auc_loss_grad(label, logit, neg_weight, upstream)
    np.testing.assert_allclose(grad, ref_g, rtol=1e-6, atol=1e-6)


@given(cases(lo=-5.0, hi=5.0).filter(lambda c: not np.isin(c[1], [44.0, -43.5, 88.0]).any()))
def test_grad_is_gradient_of_loss_with_unit_neg_weight(case):
    label, logit, _, upstream = case
    grad = inbatch_auc_loss_grad(label, logit, 1.0, upstream)
    h = 1e-6
    fd = np.zeros_like(logit)
    for idx in np.ndindex(logit.shape):
        lp, lm = logit.copy(), logit.copy()
        lp[idx] += h
        lm[idx] -= h
        fd[idx] = (inbatch_auc_loss(label, lp) - inbatch_auc_loss(label, lm)) / (2 * h) * upstream
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)


def test_cut_offs():
    label = np.array([1.0, 0.0])
    for d, want_loss, want_g in [(-87.0, -87.0, 1.0), (-100.0, -100.0, 1.0), (88.0, 0.0, 0.0), (200.0, 0.0, 0.0)]:
        loss, grad = inbatch_auc_loss_and_grad(label, np.array([d, 0.0]))
        assert float(loss) == want_loss
        np.testing.assert_array_equal(grad, [want_g, -want_g])


def test_no_pairs_gives_zero():
    for label in ([1.0, 1.0], [0.0, -1.0], [-10000.0, 1.0], []):
        logit = np.arange(len(label), dtype=np.float32)
        loss, grad = inbatch_auc_loss_and_grad(np.array(label), logit)
        assert float(loss) == 0.0
        np.testing.assert_array_equal(grad, np.zeros_like(logit))


def test_parallel_path_matches_reference():
    rng = np.random.default_rng(0)
    label = (rng.random(700) < 0.3).astype(np.float32)
    logit = rng.standard_normal(700).astype(np.float32) * 3
    loss, grad = inbatch_auc_loss_and_grad(label, logit, 0.7, 1.5)
    np.testing.assert_allclose(loss, ref_inbatch_auc_loss(label, logit), rtol=1e-6)
    np.testing.assert_allclose(grad, ref_inbatch_auc_loss_grad(label, logit, 0.7, 1.5), rtol=1e-5, atol=1e-6)


def test_int_and_bool_labels():
    logit = np.array([0.5, -0.2, -0.4, 0.8])
    a = inbatch_auc_loss(np.array([1, 0, 0, 1]), logit)
    b = inbatch_auc_loss(np.array([True, False, False, True]), logit)
    assert a == b


@pytest.mark.parametrize("neg_weight", [0.0, -1.0, 1.5, float("nan")])
def test_neg_weight_range(neg_weight):
    for fn in (inbatch_auc_loss, inbatch_auc_loss_grad):
        with pytest.raises(ValueError, match="neg_weight must"):
            fn(np.ones(2), np.ones(2), neg_weight)


def test_argument_errors():
    with pytest.raises(ValueError, match=r"label must have as many elements as logit \(3\)"):
        inbatch_auc_loss(np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="logit must be float32 or float64"):
        inbatch_auc_loss(np.ones(2), np.ones(2, np.int64))
    with pytest.raises(TypeError, match="label must be"):
        inbatch_auc_loss(np.array(["a", "b"]), np.ones(2))
    with pytest.raises(TypeError, match="upstream must be a real number"):
        inbatch_auc_loss_grad(np.ones(2), np.ones(2), upstream="x")
