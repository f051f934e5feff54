"""Tests for monolith_np.losses.loss_and_pred (SEMANTICS.md F.5).

Parity with TF transcriptions of ``LogitCorrection`` and of
``native_model.get_sigmoid_loss_and_pred`` / ``get_softmax_loss_and_pred``
(tests/reference/ref_losses.py), values and ``tf.GradientTape`` gradients;
finite differences in float64; shape validation that replaces the original's
silent broadcasting; argument errors.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np.losses.loss_and_pred import (
    LogitCorrection,
    ModeKeys,
    get_sigmoid_loss_and_pred,
    get_sigmoid_loss_and_pred_and_grad,
    get_sigmoid_loss_and_pred_grad,
    get_softmax_loss_and_pred,
    get_softmax_loss_and_pred_and_grad,
    get_softmax_loss_and_pred_grad,
    log_sigmoid,
    logit_correction,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from ref_losses import (  # noqa: E402
    ref_sigmoid_loss_pred_grad,
    tf_log_sigmoid,
    tf_logit_correction,
    tf_softmax_loss_and_pred,
)

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")

LOGIT = st.one_of(st.floats(-30, 30, width=32, allow_subnormal=False), st.sampled_from([0.0, -100.0, 100.0]))


@st.composite
def sigmoid_cases(draw, dtype=np.float64):
    shape = draw(st.sampled_from([(1,), (6,), (4, 1), (2, 3)]))
    n = math.prod(shape)
    logits = draw(hnp.arrays(dtype, shape, elements=LOGIT))
    label = draw(hnp.arrays(dtype, (n,), elements=st.sampled_from([0.0, 1.0, 0.3])))
    kind = draw(st.sampled_from(["float", "none", "array"]))
    sample_rate = {"float": draw(st.sampled_from([1.0, 0.5, 0.05])), "none": None,
                   "array": draw(hnp.arrays(dtype, (n,), elements=st.floats(0.015625, 1.0, width=32)))}[kind]
    kwargs = dict(
        sample_rate=sample_rate,
        sample_bias=draw(st.booleans()),
        instance_weight=draw(st.none() | hnp.arrays(dtype, (n,), elements=st.floats(0, 3, width=32))),
        mask=draw(st.none() | hnp.arrays(np.bool_, (n,))),
        logit_clip_threshold=draw(st.sampled_from([None, 0.01, 0.3, 0.5, 0.9])),
        predict_before_correction=draw(st.booleans()),
    )
    return logits, label, kwargs


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_sigmoid_matches_tf(dtype, data):
    logits, label, kwargs = data.draw(sigmoid_cases(dtype))
    upstream = data.draw(st.sampled_from([1.0, -2.0]))
    loss, pred, grad = get_sigmoid_loss_and_pred_and_grad("h", logits, label, 0, upstream=upstream, **kwargs)
    ref_loss, ref_pred, ref_grad = ref_sigmoid_loss_pred_grad(logits, label, upstream=upstream, **kwargs)
    assert loss.dtype == pred.dtype == grad.dtype == dtype
    assert grad.shape == logits.shape and pred.shape == (logits.size,)
    tol = _tol(dtype)
    np.testing.assert_allclose(loss, ref_loss, rtol=tol["rtol"], atol=tol["atol"] * max(1.0, abs(ref_loss)))
    np.testing.assert_allclose(pred, ref_pred, **tol)
    np.testing.assert_allclose(grad, ref_grad.reshape(logits.shape), **tol)
    l2, p2 = get_sigmoid_loss_and_pred("h", logits, label, 0, **kwargs)
    np.testing.assert_array_equal(l2, loss)
    np.testing.assert_array_equal(p2, pred)
    np.testing.assert_array_equal(get_sigmoid_loss_and_pred_grad("h", logits, label, 0, upstream=upstream, **kwargs),
                                  grad)


@given(sigmoid_cases().filter(lambda c: c[2]["logit_clip_threshold"] is None))
def test_sigmoid_grad_matches_finite_differences(case):
    logits, label, kwargs = case
    logits = np.clip(logits, -20, 20)
    grad = get_sigmoid_loss_and_pred_grad("h", logits, label, 0, **kwargs)
    h = 1e-6
    fd = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        lp, lm = logits.copy(), logits.copy()
        lp[idx] += h
        lm[idx] -= h
        fd[idx] = (get_sigmoid_loss_and_pred("h", lp, label, 0, **kwargs)[0]
                   - get_sigmoid_loss_and_pred("h", lm, label, 0, **kwargs)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_predict_mode():
    x = np.array([-1000.0, 0.0, 3.0])
    loss, pred = get_sigmoid_loss_and_pred("h", x, None, 3, mode=ModeKeys.PREDICT)
    assert loss is None
    np.testing.assert_allclose(pred, tf.nn.sigmoid(x).numpy(), rtol=1e-15)
    with pytest.raises(ValueError, match="mode must be 'train' or 'eval'"):
        get_sigmoid_loss_and_pred_grad("h", x, None, 3, mode="infer")


def test_mode_keys_are_tf_strings():
    assert (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT) == ("train", "eval", "infer")
    with pytest.raises(ValueError, match="mode must be one of"):
        get_sigmoid_loss_and_pred("h", np.zeros(2), np.zeros(2), 2, mode="predict")


def test_large_input_parallel_path():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_000).astype(np.float32) * 4
    y = (rng.random(100_000) < 0.2).astype(np.float32)
    w = rng.random(100_000).astype(np.float32)
    loss, pred, grad = get_sigmoid_loss_and_pred_and_grad("h", x, y, 0, sample_rate=0.3, instance_weight=w)
    ref_loss, ref_pred, ref_grad = ref_sigmoid_loss_pred_grad(x, y, sample_rate=0.3, instance_weight=w)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(pred, ref_pred, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)


def test_masked_nan_weights_are_dropped():
    x = np.array([1.0, 2.0])
    loss, _, grad = get_sigmoid_loss_and_pred_and_grad("h", x, np.ones(2), 2, instance_weight=np.array([1.0, np.nan]),
                                                       mask=np.array([True, False]))
    assert np.isfinite(loss) and np.isfinite(grad).all() and grad[1] == 0


def test_clip_threshold_half_or_more_pins_every_logit():
    # tau = log((1 - c) / c) <= 0, so clip gives -tau for every logit (as TF's max(min(z, tau), -tau)).
    x = np.array([-5.0, 0.0, 5.0])
    loss, _, grad = get_sigmoid_loss_and_pred_and_grad("h", x, np.ones(3), 3, logit_clip_threshold=0.8)
    tau = math.log(0.2 / 0.8)
    z = -tau
    np.testing.assert_allclose(loss, 3 * (max(z, 0) - z + math.log1p(math.exp(-abs(z)))), rtol=1e-14)
    np.testing.assert_array_equal(grad, np.zeros(3))


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(sample_rate=np.full((4, 1), 0.5)), ValueError, r"sample_rate must be a scalar or have shape \(4,\)"),
        (dict(label=np.zeros(3)), ValueError, "label must have 4 elements"),
        (dict(instance_weight=np.ones(5)), ValueError, "instance_weight must have 4 elements"),
        (dict(mask=np.ones(2, bool)), ValueError, "mask must have 4 elements"),
        (dict(logit_clip_threshold=1.0), ValueError, "logit_clip_threshold must be < 1"),
        (dict(logit_clip_threshold=0.0), ValueError, "logit_clip_threshold must be > 0"),
        (dict(logits=np.zeros(4, np.int32)), TypeError, "logits must be float32 or float64"),
        (dict(label=None), TypeError, "label must be an array"),
    ],
)
def test_sigmoid_argument_errors(kwargs, exc, pattern):
    args = dict(name="h", logits=np.zeros(4), label=np.zeros(4), batch_size=4)
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        get_sigmoid_loss_and_pred(**args)


@pytest.mark.parametrize("rate, exc, pattern", [
    (0.0, ValueError, r"^sample_rate must be > 0.0, got 0.0"),
    (-0.5, ValueError, r"^sample_rate must be > 0.0, got -0.5"),
    (math.inf, ValueError, r"^sample_rate must be finite, got inf"),
    (math.nan, ValueError, r"^sample_rate must not be NaN"),
    (True, TypeError, r"^sample_rate must be a real number, got bool"),
])
def test_scalar_sample_rate_must_be_positive_and_finite(rate, exc, pattern):
    """A documented difference: the original computes ``-log(rate)``, so every loss would be inf or NaN."""
    x, y = np.array([0.3, -0.2]), np.array([1.0, 0.0])
    with pytest.raises(exc, match=pattern):
        get_sigmoid_loss_and_pred("h", x, y, 2, sample_rate=rate)
    with pytest.raises(exc, match=pattern):
        logit_correction(x, rate)


def test_array_sample_rate_entries_are_data():
    """Per-example rates are data: an entry <= 0 gives inf/NaN for that example only, as ``-log`` does."""
    x, y = np.array([0.3, -0.2]), np.array([1.0, 0.0])
    corrected = logit_correction(x, np.array([0.5, 0.0]))
    assert corrected[0] == x[0] - math.log(0.5) and corrected[1] == math.inf
    _, _, grad = get_sigmoid_loss_and_pred_and_grad("h", x, y, 2, sample_rate=np.array([0.5, -1.0]))
    assert np.isfinite(grad[0]) and np.isnan(grad[1])


def test_int_sample_rate_is_a_fill_value():
    x = np.array([0.3, -0.2])
    a = get_sigmoid_loss_and_pred("h", x, np.ones(2), 2, sample_rate=1)[0]
    b = get_sigmoid_loss_and_pred("h", x, np.ones(2), 2, sample_rate=1.0)[0]
    assert a == b


# --- LogitCorrection ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_logit_correction_matches_tf(dtype, data):
    x = data.draw(hnp.arrays(dtype, st.sampled_from([(1,), (5,), (2, 3)]), elements=LOGIT))
    sr = data.draw(st.sampled_from([None, 0.25, "array"]))
    if sr == "array":
        sr = data.draw(hnp.arrays(dtype, x.shape, elements=st.floats(0.015625, 1, width=32)))
    bias = data.draw(st.booleans())
    ours = LogitCorrection(sample_bias=bias)((x, sr))
    ref = tf_logit_correction(tf.constant(x), None if sr is None else tf.constant(np.asarray(sr, dtype)), bias)
    np.testing.assert_allclose(ours, np.asarray(ref), **_tol(dtype))
    np.testing.assert_array_equal(logit_correction(x, sr, bias), ours)
    np.testing.assert_array_equal(LogitCorrection(sample_bias=bias)(x, sr), ours)
    np.testing.assert_allclose(log_sigmoid(x), tf_log_sigmoid(tf.constant(x)).numpy(), **_tol(dtype))


def test_logit_correction_activation_and_config():
    x = np.array([-1.0, 2.0])
    lc = LogitCorrection(activation="relu", sample_bias=False)
    np.testing.assert_allclose(lc((x, 0.5)), np.maximum(x + math.log(2), 0))
    assert lc.get_config() == {"activation": "relu", "sample_bias": False}
    np.testing.assert_allclose(LogitCorrection(activation=np.tanh)((x, None)), np.tanh(x))
    np.testing.assert_allclose(LogitCorrection(activation="sigmoid")((x, None)), 1 / (1 + np.exp(-x)))
    with pytest.raises(ValueError, match="activation must be one of"):
        LogitCorrection(activation="swishy")
    with pytest.raises(ValueError, match="sample_rate must be a scalar or have the logits' shape"):
        logit_correction(np.zeros(3), np.ones((3, 1)))


# --- softmax ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_softmax_matches_tf(dtype, data):
    b, c = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 6))
    logits = data.draw(hnp.arrays(dtype, (b, c), elements=LOGIT))
    idx = data.draw(hnp.arrays(np.int64, (b,), elements=st.integers(0, c - 1)))
    label = np.eye(c, dtype=dtype)[idx]
    up = data.draw(hnp.arrays(dtype, (b,), elements=st.floats(-2, 2, width=32)))
    loss, pred, grad = get_softmax_loss_and_pred_and_grad("s", logits, label, "train", upstream=up)
    x = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(x)
        ref_loss, ref_pred = tf_softmax_loss_and_pred(x, tf.constant(label))
        obj = tf.reduce_sum(ref_loss * up)
    tol = _tol(dtype)
    np.testing.assert_allclose(loss, ref_loss.numpy(), rtol=tol["rtol"], atol=tol["atol"] * 100)
    np.testing.assert_allclose(grad, tape.gradient(obj, x).numpy(), **tol)
    # argmax of the softmax equals argmax of the logits except where the softmax rounds ties
    p = tf.nn.softmax(x).numpy()
    assert (p[np.arange(b), pred] == p.max(axis=1)).all()
    assert pred.dtype == np.int64
    np.testing.assert_array_equal(get_softmax_loss_and_pred("s", logits, label, "eval")[0], loss)
    np.testing.assert_array_equal(get_softmax_loss_and_pred_grad("s", logits, label, "eval", up), grad)


def test_softmax_soft_labels_exact_gradient_and_predict():
    logits = np.array([[0.2, -1.0, 3.0]])
    label = np.array([[0.5, 0.5, 1.0]])  # sums to 2: TF's gradient (softmax - label) is not the loss's
    grad = get_softmax_loss_and_pred_grad("s", logits, label, "train")
    h = 1e-6
    fd = np.array([[(get_softmax_loss_and_pred("s", logits + h * e, label, "train")[0][0]
                     - get_softmax_loss_and_pred("s", logits - h * e, label, "train")[0][0]) / (2 * h)
                    for e in np.eye(3)]])
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    loss, pred = get_softmax_loss_and_pred("s", logits, None, "infer")
    assert loss is None and pred.tolist() == [2]
    with pytest.raises(ValueError, match=r"label must have the logits' shape \(1, 3\)"):
        get_softmax_loss_and_pred("s", logits, np.ones((3,)), "train")
