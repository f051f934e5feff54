"""Tests of monolith_np.optim.dense: golden numbers, TF parity, in-place semantics, errors."""

from __future__ import annotations

import doctest
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monolith_np import schedules
from monolith_np.optim import dense as D
from monolith_np.optim.dense import AdamomOptimizer, RmspropOptimizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

F32 = np.float32


@pytest.fixture(scope="module")
def ref():
    pytest.importorskip("tensorflow")
    import ref_dense

    return ref_dense


def _one_step(opt, var, grad, **kwargs):
    var = np.array(var, F32)
    state = opt.init_state(var)
    opt.apply(var, np.array(grad, F32), state, **kwargs)
    return var, state


# ---------------------------------------------------------------------------
# Golden numbers (SEMANTICS G.6)
# ---------------------------------------------------------------------------


def test_golden_adamom():
    opt = AdamomOptimizer(learning_rate=0.1, weight_decay=0.01, ada_decay=0.99, mom_decay=0.9)
    var, s = _one_step(opt, [0.1], [0.12])
    np.testing.assert_allclose(s["m"], [0.0121], atol=1e-8)
    np.testing.assert_allclose(s["c"], [1.0], atol=1e-8)
    np.testing.assert_allclose(s["v"], [0.014641], atol=1e-8)
    np.testing.assert_allclose(var, [0.090000336], atol=1e-8)
    assert opt.get_slot_names() == ["m", "v", "c"]


@pytest.mark.parametrize("use_v2, expected", [
    (False, (0.06794526153774846, 0.00484, 0.03205473846225154)),
    (True, (0.06875, 0.0484, 0.03125)),
])
def test_golden_rmsprop(use_v2, expected):
    opt = RmspropOptimizer(learning_rate=0.1, weight_decay=1, beta1=0.9, beta2=0.9, epsilon=0.1, use_v2=use_v2)
    var, s = _one_step(opt, [0.1], [0.12])
    np.testing.assert_allclose([s["m"][0], s["v"][0], var[0]], expected, atol=1e-8)


def test_defaults_match_the_original():
    a = AdamomOptimizer()
    assert (a._learning_rate, a._ada_decay, a._mom_decay, a._epsilon, a._weight_decay, a._name) == (
        5e-6, 0.9999, 0.99, 1e-6, 0.0, "Adamom")
    r = RmspropOptimizer()
    assert (r._learning_rate, r._beta1, r._beta2, r._epsilon, r._weight_decay, r._use_v2, r._name) == (
        5e-6, 0.99, 0.999, 1e-8, 0.0, False, "Rmsprop")
    assert "AdamomOptimizer(learning_rate=5e-06" in repr(a)


# ---------------------------------------------------------------------------
# Parity with the TF transcriptions (hypothesis)
# ---------------------------------------------------------------------------

# Values 0 or of magnitude in [2**-10, 2**10]: no subnormals, which TF flushes to zero.
MAGNITUDES = st.one_of(st.just(0.0), st.floats(2**-10, 2**10, width=32), st.floats(-(2**10), -(2**-10), width=32))
POSITIVE = st.one_of(st.just(0.0), st.floats(2**-10, 2**10, width=32))


@st.composite
def dense_case(draw, n_slots_positive):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    var = draw(hnp.arrays(dtype, shape, elements=MAGNITUDES))
    grad = draw(hnp.arrays(dtype, shape, elements=MAGNITUDES))
    m = draw(hnp.arrays(dtype, shape, elements=MAGNITUDES))
    pos = [draw(hnp.arrays(dtype, shape, elements=POSITIVE)) for _ in range(n_slots_positive)]
    hyper = dict(
        lr=draw(st.floats(0, 1, width=32)),
        decay_a=draw(st.floats(0, 1, width=32)),
        decay_b=draw(st.floats(0, 1, width=32)),
        epsilon=draw(st.sampled_from([1e-8, 1e-6, 0.1])),
        weight_decay=draw(st.sampled_from([0.0, 0.01, 1.0])),
        update_slots=draw(st.booleans()),
        use_v2=draw(st.booleans()),
    )
    return var, grad, m, pos, hyper


def _assert_same(ours, ref):
    """Bit-exact above 1e-30 in magnitude. TF's CPU kernels flush subnormal
    intermediates to zero, and a flushed intermediate, scaled up, can leave a
    result of ~1e-38 where TF has 0. Any 1-ulp difference of a value above
    ~1e-23 exceeds the tolerance, so the check stays bit-exact where it matters."""
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-30)


@settings(max_examples=40)
@given(dense_case(2))
def test_adamom_matches_tf_transcription_bit_exactly(ref, case):
    var, grad, m, (v, c), h = case
    c = np.asarray(c + 1)  # c >= 1 after the first update
    opt = AdamomOptimizer(h["lr"], h["decay_a"], h["decay_b"], h["epsilon"], h["weight_decay"], use_v2=h["use_v2"])
    state = {"m": m.copy(), "v": v.copy(), "c": c.copy()}
    p = var.copy()
    with np.errstate(all="ignore"):
        opt.apply(p, grad, state, update_slots=h["update_slots"])
    t = var.dtype.type
    expected = ref.ref_adamom(var, m, v, c, grad, t(h["lr"]), t(h["decay_a"]), t(h["decay_b"]), t(h["epsilon"]),
                              t(h["weight_decay"]), h["update_slots"], h["use_v2"])
    _assert_same((p, state["m"], state["v"], state["c"]), expected)


@settings(max_examples=40)
@given(dense_case(1))
def test_rmsprop_matches_tf_transcription_bit_exactly(ref, case):
    var, grad, m, (v,), h = case
    opt = RmspropOptimizer(h["lr"], h["decay_a"], h["decay_b"], h["epsilon"], h["weight_decay"], use_v2=h["use_v2"])
    state = {"m": m.copy(), "v": v.copy()}
    p = var.copy()
    with np.errstate(all="ignore"):
        opt.apply(p, grad, state, update_slots=h["update_slots"])
    t = var.dtype.type
    expected = ref.ref_rmsprop(var, m, v, grad, t(h["lr"]), t(h["decay_a"]), t(h["decay_b"]), t(h["epsilon"]),
                               t(h["weight_decay"]), h["update_slots"], h["use_v2"])
    _assert_same((p, state["m"], state["v"]), expected)


def _rmsprop_terms(var, m, v, grad, lr, beta1, beta2, eps, wd):
    """|beta1 * m| + |step| in float64: the scale of m's rounding error."""
    u = wd * var.astype(np.float64) + grad
    v_new = v + (u * u - v) * (1 - beta2)
    return np.abs(beta1 * m) + np.abs(u * lr / np.sqrt(v_new + eps))


@settings(max_examples=40)
@given(dense_case(1), st.integers(1, 3))
def test_rmsprop_v1_matches_tensorflow_apply_rmsprop(ref, case, steps):
    """TF's ResourceApplyRMSProp is Monolith's v1 with weight decay folded into the gradient.

    Both round every operation in float32 in the same order; only the
    reciprocal square root differs (TF's is Eigen's approximation), so the
    results agree to a few float32 ulps of the terms involved.
    """
    var, grad, m, (v,), h = case
    var, grad, m, v = (a.astype(F32) for a in (var, grad, m, v))
    lr, b1, b2, eps, wd = (F32(h[k]) for k in ("lr", "decay_a", "decay_b", "epsilon", "weight_decay"))
    opt = RmspropOptimizer(lr, b1, b2, eps, wd)
    state = {"m": m.copy(), "v": v.copy()}
    p = var.copy()
    tv, tm, tvv = var, m, v
    for _ in range(steps):
        scale = _rmsprop_terms(tv, tm, tvv, grad, lr, b1, b2, eps, wd)
        opt.apply(p, grad, state)
        tv, tm, tvv = ref.ref_tf_apply_rmsprop(tv, tm, tvv, grad, lr, b1, b2, eps, wd)
        np.testing.assert_allclose(state["v"], tvv, rtol=1e-6, atol=1e-30)
        np.testing.assert_allclose(state["m"], tm, rtol=0, atol=1e-6 * scale.max(initial=0) + 1e-30)
        np.testing.assert_allclose(p, tv, rtol=1e-6, atol=1e-6 * scale.max(initial=0) + 1e-30)
        p[...], state["m"][...], state["v"][...] = tv, tm, tvv  # continue from the same point


def test_eigen_rsqrt_differs_by_a_few_ulps_only(ref):
    rng = np.random.default_rng(0)
    var, grad = rng.uniform(-1, 1, (2, 1000)).astype(F32)
    m, v, c = np.zeros_like(var), np.zeros_like(var), np.zeros_like(var)
    opt = AdamomOptimizer(0.1, 0.99, 0.9, 1e-6, 0.01)
    state = {"m": m.copy(), "v": v.copy(), "c": c.copy()}
    p = var.copy()
    opt.apply(p, grad, state)
    eig = ref.ref_adamom(var, m, v, c, grad, 0.1, 0.99, 0.9, 1e-6, 0.01, rsqrt="eigen")
    step = np.abs(var - eig[0])
    np.testing.assert_allclose(p, eig[0], rtol=0, atol=float(4 * np.spacing(np.maximum(np.abs(var), step)).max()))


# ---------------------------------------------------------------------------
# Semantics: update_slots, learning rates, shapes, in place
# ---------------------------------------------------------------------------


def test_adamom_without_slot_update_steps_with_stored_slots():
    opt = AdamomOptimizer(0.1, 0.99, 0.9, 1e-6, 0.0)
    var = np.array([1.0, 2.0], F32)
    state = {"m": np.array([0.5, -0.5], F32), "v": np.array([0.25, 0.25], F32), "c": np.array([1.0, 1.0], F32)}
    before = {k: s.copy() for k, s in state.items()}
    opt.apply(var, np.array([100.0, 100.0], F32), state, update_slots=False)
    for k in state:
        np.testing.assert_array_equal(state[k], before[k])
    expected = np.array([1.0, 2.0], F32) - (before["m"] * F32(0.1)) * (F32(1) / np.sqrt(F32(0.25) + F32(1e-6)))
    np.testing.assert_array_equal(var, expected)


def test_rmsprop_without_slot_update_keeps_slots_but_steps():
    """NOTE 15: the original skips the whole update; monolith_np still steps the variable."""
    opt = RmspropOptimizer(0.1, 0.9, 0.9, 0.1, 0.0)
    var = np.array([0.1], F32)
    state = {"m": np.array([0.2], F32), "v": np.array([0.3], F32)}
    opt.apply(var, np.array([0.12], F32), state, update_slots=False)
    assert state["m"][0] == F32(0.2) and state["v"][0] == F32(0.3)
    step = F32(0.9) * F32(0.2) + (F32(0.12) * F32(0.1)) * (F32(1) / np.sqrt(F32(0.3) + F32(0.1)))
    assert var[0] == F32(0.1) - step


def test_learning_rate_schedule_is_evaluated_at_global_step():
    lr = schedules.PolynomialDecay(initial_learning_rate=0.01, decay_steps=10, end_learning_rate=0.11)
    a, b = AdamomOptimizer(learning_rate=lr), AdamomOptimizer(learning_rate=float(lr(3)))
    v1, _ = _one_step(a, [0.5, 1.0], [0.1, -0.2], global_step=3)
    v2, _ = _one_step(b, [0.5, 1.0], [0.1, -0.2])
    np.testing.assert_array_equal(v1, v2)
    v3, _ = _one_step(AdamomOptimizer(learning_rate=1.0), [0.5, 1.0], [0.1, -0.2], learning_rate=lr, global_step=3)
    np.testing.assert_array_equal(v1, v3)
    v4, _ = _one_step(RmspropOptimizer(learning_rate=lambda step: 0.02 * step), [0.5], [0.1], global_step=2)
    v5, _ = _one_step(RmspropOptimizer(learning_rate=0.04), [0.5], [0.1])
    np.testing.assert_array_equal(v4, v5)


def test_learning_rate_zero_leaves_rmsprop_variable():
    var, state = _one_step(RmspropOptimizer(learning_rate=0.0), [0.5, 1.0], [0.1, -0.2])
    np.testing.assert_array_equal(var, [0.5, 1.0])
    assert state["v"].any() and not state["m"].any()


@pytest.mark.parametrize("opt", [AdamomOptimizer(0.1), RmspropOptimizer(0.1)], ids=["adamom", "rmsprop"])
def test_non_contiguous_and_list_params_update_in_place(opt):
    rng = np.random.default_rng(1)
    base = rng.uniform(-1, 1, (6, 8)).astype(F32)
    grad = rng.uniform(-1, 1, (6, 8)).astype(F32)
    untouched = base[:, 1::2].copy()
    view = base[:, ::2]  # non-contiguous view
    expected = view.copy()
    s1 = opt.init_state(expected)
    opt.apply(expected, np.ascontiguousarray(grad[:, ::2]), s1)
    s2 = opt.init_state(view)
    opt.apply(view, grad[:, ::2], s2)
    np.testing.assert_array_equal(base[:, ::2], expected)
    np.testing.assert_array_equal(base[:, 1::2], untouched)
    params = [np.ones(3, F32), np.full((2, 2), 2.0, F32).T]
    states = opt.init_state(params)
    opt.apply(params, [np.ones(3, F32), np.ones((2, 2), F32)], states)
    one = np.ones(3, F32)
    s = opt.init_state(one)
    opt.apply(one, np.ones(3, F32), s)
    np.testing.assert_array_equal(params[0], one)


def test_zero_size_and_scalar_arrays():
    opt = AdamomOptimizer(0.1)
    empty = np.zeros((0, 3), F32)
    opt.apply(empty, empty.copy(), opt.init_state(empty))
    scalar = np.array(0.5, F32)
    s = opt.init_state(scalar)
    opt.apply(scalar, np.array(0.25, F32), s)
    assert scalar.shape == () and scalar != 0.5 and s["c"] == 1


def test_float64_runs_in_float64():
    opt = RmspropOptimizer(learning_rate=0.1, weight_decay=1, beta1=0.9, beta2=0.9, epsilon=0.1)
    var = np.array([0.1])
    state = opt.init_state(var)
    opt.apply(var, np.array([0.12]), state)
    assert var.dtype == np.float64 and state["m"].dtype == np.float64
    np.testing.assert_allclose([state["m"][0], var[0]], [0.06794526153774846, 0.03205473846225154], rtol=1e-15)


def test_cpu_kernels_vectorise():
    """STYLE pitfall 15: the prange loops must compile to packed SIMD arithmetic.

    Packed ``ps``/``pd`` instructions on any vector register width count (the
    width depends on the CPU: ymm on AVX2, zmm on AVX-512); scalar code would
    use ``ss``/``sd`` only.
    """
    for driver in (D._adamom_cpu, D._rmsprop_cpu):
        asms = [a for a in driver.inspect_asm().values() if a]
        if not asms or not any(re.search(r"[xyz]mm", a) for a in asms):
            pytest.skip("no vector code to inspect (cached kernel or a CPU without SIMD)")
        packed = sum(len(re.findall(r"v(?:mul|add|sub|div|sqrt)p[sd]\s+[^\n]*[xyz]mm", a)) for a in asms)
        assert packed > 0, f"{driver.__name__} did not vectorise"


def test_module_doctests():
    result = doctest.testmod(D, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(learning_rate=-1.0), ValueError, "learning_rate must be >= 0.0, got -1.0"),
    (dict(ada_decay=1.5), ValueError, "ada_decay must be <= 1.0, got 1.5"),
    (dict(mom_decay=-0.1), ValueError, "mom_decay must be >= 0.0"),
    (dict(epsilon=float("nan")), ValueError, "epsilon must not be NaN"),
    (dict(weight_decay="x"), TypeError, "weight_decay must be a real number, got str"),
])
def test_adamom_rejects_bad_hyperparameters(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        AdamomOptimizer(**kwargs)


def test_rmsprop_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="beta2 must be <= 1.0, got 2.0"):
        RmspropOptimizer(beta2=2.0)
    with pytest.raises(ValueError, match="beta1 must be >= 0.0"):
        RmspropOptimizer(beta1=-1)


def test_apply_rejects_bad_inputs():
    opt = AdamomOptimizer(0.1)
    var = np.zeros(3, F32)
    state = opt.init_state(var)
    with pytest.raises(ValueError, match=re.escape("grads must have shape (3), got shape (4,)")):
        opt.apply(var, np.zeros(4, F32), state)
    with pytest.raises(TypeError, match="grads must be float32, got float64"):
        opt.apply(var, np.zeros(3), state)
    with pytest.raises(TypeError, match="params must be float32 or float64, got int64"):
        opt.apply(np.zeros(3, np.int64), np.zeros(3, np.int64), state)
    with pytest.raises(TypeError, match="params must be float32 or float64, got int64"):
        opt.init_state(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=re.escape("state must be a dict with slots ['m', 'v', 'c'], got ['m']")):
        opt.apply(var, var.copy(), {"m": state["m"]})
    with pytest.raises(ValueError, match=re.escape("state['c'] must have shape (3), got shape (2,)")):
        opt.apply(var, var.copy(), dict(state, c=np.zeros(2, F32)))
    with pytest.raises(ValueError, match="learning_rate must be >= 0.0, got -0.5"):
        opt.apply(var, var.copy(), state, learning_rate=-0.5)
    with pytest.raises(ValueError, match="learning_rate must be >= 0.0, got -1.0"):
        opt.apply(var, var.copy(), state, learning_rate=lambda step: -1.0)
    with pytest.raises(ValueError, match="global_step must be >= 0, got -1"):
        opt.apply(var, var.copy(), state, global_step=-1)
    with pytest.raises(ValueError, match="grads must be a list of 1 arrays like params, got 2 items"):
        opt.apply([var], [var, var], [state])
    with pytest.raises(TypeError, match="params must be a writeable array, got a read-only float32 scalar"):
        opt.apply(np.float32(1.0), np.float32(1.0), opt.init_state(np.zeros((), F32)))
    with pytest.raises(TypeError, match="params must be an array, got float"):
        opt.init_state([[1.0]])


def test_a_list_is_validated_before_any_variable_is_written():
    opt = AdamomOptimizer(learning_rate=0.1)
    good, bad = np.ones(3, np.float32), np.ones(2, np.float32)
    state = opt.init_state([good, bad])
    with pytest.raises(ValueError, match="grads must have shape"):
        opt.apply([good, bad], [np.ones(3, np.float32), np.ones(3, np.float32)], state)
    np.testing.assert_array_equal(good, np.ones(3, np.float32))
    assert not state[0]["m"].any()
