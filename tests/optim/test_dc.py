"""The dc (delay-compensated) decorator, ``DcOptimizerWrapper`` (SEMANTICS A.13, goldens G.1)."""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np.optim import optimizers as O
from monolith_np.entry.segments import optimizer_from_config

F = np.float32


def _dc_ref(g, w, latest, lam):
    """A.13 in float32, left-to-right: ``g + lam*g*g*(w - latest)``."""
    return g + F(lam) * g * g * (w - latest)


def _dedup(rows, grads):
    """Distinct rows in first-occurrence order and their gradients summed in occurrence order."""
    uniq, summed = [], {}
    for r, g in zip(rows.tolist(), grads):
        if r in summed:
            summed[r] = summed[r] + g
        else:
            uniq.append(r)
            summed[r] = g.copy()
    return np.asarray(uniq, np.int64), np.stack([summed[r] for r in uniq])


def _copy(state):
    return {k: v.copy() for k, v in state.items()}


# --- goldens (SEMANTICS G.1, dc_optimizer_test.cc) ---------------------------------


@pytest.mark.parametrize("dim, grad, step1, accum1, step2", [
    (1, [10.0], [-0.0031603], [8.1], [-0.0065548]),
    (2, [10.0, 1.0], [-0.0031603, -0.00301233], [8.1, 0.09801], [-0.0065548, -0.00611400]),
], ids=["Basic", "ListUpdate"])
def test_golden_dc(dim, grad, step1, accum1, step2):
    opt = O.DcOptimizerWrapper(O.AdadeltaOptimizer(), lambda_=0.1)
    params = np.zeros((1, dim), np.float32)
    state = opt.init_state(1, dim)
    state["latest"][0] = 0.1
    g = np.asarray([grad], np.float32)
    opt.apply_rows(params, np.zeros(1, np.int64), g, state, learning_rate=0.01)
    np.testing.assert_allclose(params[0], step1, atol=1e-6)
    dump = opt.dump_state(state)[0]
    np.testing.assert_allclose(dump.dump[0].adadelta.accum, accum1, atol=1e-4)
    # the original restores the dump into a second entry, then steps the first one with latest = 0
    restored = opt.init_state(1, dim)
    opt.restore_state(restored, [dump])
    state["latest"][0] = 0.0
    opt.apply_rows(params, np.zeros(1, np.int64), g, state, learning_rate=0.01)
    np.testing.assert_allclose(params[0], step2, atol=1e-6)
    params2 = params.copy()
    # stepping from the restored state instead gives the same values
    p_restored = np.full((1, dim), np.asarray(step1, np.float32))
    opt.apply_rows(p_restored, np.zeros(1, np.int64), g, restored, learning_rate=0.01)
    np.testing.assert_allclose(p_restored, params2, atol=1e-6)


# --- numpy reference of A.13 ---------------------------------------------------


def test_apply_rows_matches_numpy_reference_with_duplicates():
    rng = np.random.default_rng(0)
    lr, lam = F(0.05), 0.3
    opt = O.DcOptimizerWrapper(O.SgdOptimizer(), lambda_=lam)
    params = rng.normal(size=(7, 4)).astype(np.float32)
    state = opt.init_state(7, 4)
    w = params.copy()
    latest = np.zeros_like(w)
    for step in range(5):
        rows = rng.integers(0, 7, 12).astype(np.int64)
        grads = rng.normal(size=(12, 4)).astype(np.float32)
        if step % 2 == 0:  # snapshot some rows "at lookup" (then an update moves them)
            opt.snapshot(params, state, rows[:4])
            latest[rows[:4]] = w[rows[:4]]
            opt.apply_rows(params, rows[4:6], grads[4:6], state, learning_rate=lr)
            uniq, summed = _dedup(rows[4:6], grads[4:6])
            w[uniq] = w[uniq] - lr * _dc_ref(summed, w[uniq], latest[uniq], lam)
        opt.apply_rows(params, rows, grads, state, learning_rate=lr, global_step=step)
        uniq, summed = _dedup(rows, grads)
        w[uniq] = w[uniq] - lr * _dc_ref(summed, w[uniq], latest[uniq], lam)
        np.testing.assert_array_equal(params, w)
        np.testing.assert_array_equal(state["latest"], latest)


def test_apply_rows_compensates_the_summed_gradient_before_the_base_rule():
    rng = np.random.default_rng(1)
    base = O.AdagradOptimizer(learning_rate=0.1, weight_decay_factor=0.01)
    opt = O.DcOptimizerWrapper(base, lambda_=0.5)
    params = rng.normal(size=(6, 5)).astype(np.float32)
    state = opt.init_state(6, 5)
    state["latest"][:] = rng.normal(size=(6, 5)).astype(np.float32)
    p_ref, s_ref = params.copy(), {"norm": state["norm"].copy()}
    for step in range(4):
        rows = rng.integers(0, 6, 10).astype(np.int64)
        grads = rng.normal(size=(10, 5)).astype(np.float32)
        opt.apply_rows(params, rows, grads, state, global_step=step)
        uniq, summed = _dedup(rows, grads)
        base.apply_rows(p_ref, uniq, _dc_ref(summed, p_ref[uniq], state["latest"][uniq], 0.5), s_ref,
                        global_step=step)
        np.testing.assert_array_equal(params, p_ref)
        np.testing.assert_array_equal(state["norm"], s_ref["norm"])


@pytest.mark.parametrize("rows", [5, 700])
def test_dense_apply_matches_numpy_reference(rows):
    rng = np.random.default_rng(2)
    base = O.AdamOptimizer(learning_rate=0.1)
    opt = O.DcOptimizerWrapper(base, lambda_=0.2)
    params = rng.normal(size=(rows, 3)).astype(np.float32)
    state = opt.init_state(rows, 3)
    p_ref = params.copy()
    s_ref = {k: v.copy() for k, v in state.items() if k != "latest"}
    for step in range(3):
        opt.snapshot(params, state)
        params += F(0.01)  # the table moved since the lookup
        p_ref += F(0.01)
        grads = rng.normal(size=params.shape).astype(np.float32)
        before = grads.copy()
        opt.apply(params, grads, state, global_step=step)
        np.testing.assert_array_equal(grads, before)  # the caller's gradients are not written
        base.apply(p_ref, _dc_ref(grads, p_ref, state["latest"], 0.2), s_ref, global_step=step)
        np.testing.assert_array_equal(params, p_ref)


def test_apply_rows_leaves_callers_gradients_alone():
    opt = O.DcOptimizerWrapper(O.SgdOptimizer(learning_rate=0.1), lambda_=1.0)
    params = np.ones((3, 2), np.float32)
    grads = np.full((4, 2), 2.0, np.float32)
    opt.apply_rows(params, np.array([0, 0, 1, 2]), grads, opt.init_state(3, 2))
    np.testing.assert_array_equal(grads, 2.0)


@pytest.mark.parametrize("base", [O.AdagradOptimizer(learning_rate=0.1), O.FtrlOptimizer(l1_regularization=0.01),
                                  O.AdaGradWithGroupLassoOptimizer(beta=1.0, l2_regularization=0.01),
                                  O.StochasticRoundingFloat16OptimizerWrapper(O.MomentumOptimizer())],
                         ids=lambda o: type(o).__name__)
def test_lambda_zero_equals_the_base_optimizer(base):
    rng = np.random.default_rng(3)
    opt = O.DcOptimizerWrapper(base)
    params = rng.normal(size=(9, 4)).astype(np.float32)
    state = opt.init_state(9, 4)
    state["latest"][:] = rng.normal(size=(9, 4)).astype(np.float32)
    p_ref, s_ref = params.copy(), base.init_state(9, 4)
    for step in range(3):
        rows = rng.integers(0, 9, 15).astype(np.int64)
        grads = rng.normal(size=(15, 4)).astype(np.float32)
        opt.apply_rows(params, rows, grads, state, global_step=step)
        base.apply_rows(p_ref, rows, grads, s_ref, global_step=step)
        dense = rng.normal(size=(9, 4)).astype(np.float32)
        opt.apply(params, dense, state, global_step=step)
        base.apply(p_ref, dense, s_ref, global_step=step)
    np.testing.assert_array_equal(params, p_ref)
    for k in s_ref:
        np.testing.assert_array_equal(state[k], s_ref[k])


def test_wrapping_stochastic_rounding_rounds_after_the_compensated_rule():
    sr = O.StochasticRoundingFloat16OptimizerWrapper(O.SgdOptimizer(learning_rate=0.1))
    opt = O.DcOptimizerWrapper(sr, lambda_=0.5)
    rng = np.random.default_rng(4)
    params = rng.normal(size=(4, 8)).astype(np.float32)
    state = opt.init_state(4, 8)
    rows = np.array([0, 2, 2, 3])
    grads = rng.normal(size=(4, 8)).astype(np.float32)
    p_ref = params.copy()
    opt.apply_rows(params, rows, grads, state, global_step=7)
    uniq, summed = _dedup(rows, grads)
    sr.apply_rows(p_ref, uniq, _dc_ref(summed, p_ref[uniq], 0.0, 0.5), {}, global_step=7)
    np.testing.assert_array_equal(params, p_ref)
    assert np.array_equal(params[uniq].astype(np.float16).astype(np.float32), params[uniq])


def test_rounding_wraps_any_optimizer_as_in_the_original():
    """Monolith's wrapper wraps any optimizer: around a dc wrapper it equals the other nesting, twice rounds once."""
    base = O.AdagradOptimizer(learning_rate=0.1)
    outer = O.StochasticRoundingFloat16OptimizerWrapper(O.DcOptimizerWrapper(base, lambda_=0.5))
    inner = O.DcOptimizerWrapper(O.StochasticRoundingFloat16OptimizerWrapper(base), lambda_=0.5)
    twice = O.StochasticRoundingFloat16OptimizerWrapper(O.StochasticRoundingFloat16OptimizerWrapper(base))
    assert outer.as_proto().SerializeToString() == inner.as_proto().SerializeToString()
    assert outer.as_proto().stochastic_rounding_float16 and outer.as_proto().WhichOneof("type") == "dc"
    assert twice.as_proto() == O.StochasticRoundingFloat16OptimizerWrapper(base).as_proto()
    rng = np.random.default_rng(8)
    params = rng.normal(size=(5, 8)).astype(np.float32)
    rows = np.array([0, 3, 3, 4])
    grads = rng.normal(size=(4, 8)).astype(np.float32)
    latest = rng.normal(size=params.shape).astype(np.float32)
    results = []
    for opt in (outer, inner):
        p, state = params.copy(), opt.init_state(*params.shape)
        state["latest"][...] = latest
        opt.apply_rows(p, rows, grads, state, global_step=2)
        opt.apply(p, np.ones_like(p), state, global_step=3)
        results.append((p, state))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for k in results[0][1]:
        np.testing.assert_array_equal(results[0][1][k], results[1][1][k])
    p1, p2 = params.copy(), params.copy()
    twice.apply_rows(p1, rows, grads, twice.init_state(*params.shape), global_step=2)
    O.StochasticRoundingFloat16OptimizerWrapper(base).apply_rows(p2, rows, grads, base.init_state(*params.shape),
                                                                 global_step=2)
    np.testing.assert_array_equal(p1, p2)


def test_global_step_reaches_the_base_optimizer():
    opt = O.DcOptimizerWrapper(O.BatchSoftmaxOptimizer(), lambda_=0.1)
    params = np.zeros((1, 1), np.float32)
    state = opt.init_state(1, 1)
    opt.apply_rows(params, np.zeros(1, np.int64), np.zeros((1, 1), np.float32), state, learning_rate=0.5,
                   global_step=6)
    assert state["global_step"][0] == 6 and params[0, 0] == 3.0  # Monolith's decorator passes step 0


# --- state, dumps, config ------------------------------------------------------


def test_state_and_dump_restore_round_trip():
    base = O.AdamOptimizer(learning_rate=0.1)
    opt = O.DcOptimizerWrapper(base, lambda_=0.3)
    rng = np.random.default_rng(5)
    state = opt.init_state(5, 3)
    assert set(state) == {"m", "v", "beta1_power", "beta2_power", "latest"}
    assert state["latest"].shape == (5, 3) and state["latest"].dtype == np.float32 and not state["latest"].any()
    params = rng.normal(size=(5, 3)).astype(np.float32)
    opt.snapshot(params, state, np.array([1, 3]))
    opt.apply_rows(params, np.array([0, 1, 3, 1]), rng.normal(size=(4, 3)).astype(np.float32), state)
    dumps = opt.dump_state(state)
    base_state = {k: v for k, v in state.items() if k != "latest"}
    assert [d.SerializeToString() for d in dumps] == [d.SerializeToString() for d in base.dump_state(base_state)]
    assert [rec.WhichOneof("type") for rec in dumps[0].dump] == ["adam"]  # no dc record, as in Monolith
    fresh = opt.init_state(5, 3)
    fresh["latest"][:] = 7.0
    opt.restore_state(fresh, dumps)
    for k in base_state:
        np.testing.assert_array_equal(fresh[k], state[k])
    np.testing.assert_array_equal(fresh["latest"], 7.0)  # not part of a dump: left alone
    # sgd has no state of its own: the dumps still have one (empty sgd) record per row
    sgd = O.DcOptimizerWrapper(O.SgdOptimizer())
    assert [d.dump[0].WhichOneof("type") for d in sgd.dump_state(sgd.init_state(2, 2))] == ["sgd", "sgd"]


def test_snapshot():
    opt = O.DcOptimizerWrapper(O.SgdOptimizer())
    params = np.arange(8, dtype=np.float32).reshape(4, 2)
    state = opt.init_state(4, 2)
    opt.snapshot(params, state, np.array([2], np.int32))
    np.testing.assert_array_equal(state["latest"], [[0, 0], [0, 0], [4, 5], [0, 0]])
    opt.snapshot(params, state)
    np.testing.assert_array_equal(state["latest"], params)


def test_as_proto_is_the_dc_member():
    opt = O.DcOptimizerWrapper(O.AdagradOptimizer(learning_rate=0.1), lambda_=0.25)
    proto = opt.as_proto()
    assert proto.WhichOneof("type") == "dc" and proto.dc.lambda_ == 0.25
    assert not proto.dc.HasField("dim_size") and not proto.stochastic_rounding_float16
    assert opt.optimizer.as_proto().WhichOneof("type") == "adagrad"
    assert O.DcOptimizerWrapper(O.SgdOptimizer()).as_proto().dc.HasField("lambda_")
    rounded = O.DcOptimizerWrapper(O.StochasticRoundingFloat16OptimizerWrapper(O.SgdOptimizer()), lambda_=0.5)
    assert rounded.as_proto().stochastic_rounding_float16
    with pytest.raises(ValueError, match="not implemented yet"):  # as Monolith's factory
        optimizer_from_config(proto)


def test_learning_rate_is_the_base_configs():
    opt = O.DcOptimizerWrapper(O.SgdOptimizer(learning_rate=0.4))
    params = np.zeros((1, 1), np.float32)
    opt.apply(params, np.ones((1, 1), np.float32), opt.init_state(1, 1))
    assert params[0, 0] == F(-0.4)


# --- errors --------------------------------------------------------------------


def test_errors():
    with pytest.raises(TypeError, match="optimizer must be a table optimizer"):
        O.DcOptimizerWrapper(object())
    with pytest.raises(TypeError, match="other than DcOptimizerWrapper"):
        O.DcOptimizerWrapper(O.DcOptimizerWrapper(O.SgdOptimizer()))
    with pytest.raises(TypeError, match="other than DcOptimizerWrapper"):
        O.DcOptimizerWrapper(O.StochasticRoundingFloat16OptimizerWrapper(O.DcOptimizerWrapper(O.SgdOptimizer())))
    with pytest.raises(ValueError, match="lambda_ must be"):
        O.DcOptimizerWrapper(O.SgdOptimizer(), lambda_=-0.1)
    with pytest.raises(ValueError, match="lambda_ must not be NaN"):
        O.DcOptimizerWrapper(O.SgdOptimizer(), lambda_=float("nan"))
    with pytest.raises(ValueError, match="lambda_ must be"):
        O.DcOptimizerWrapper(O.SgdOptimizer(), lambda_=1e39)
    with pytest.raises(TypeError, match="lambda_ must be a real number"):
        O.DcOptimizerWrapper(O.SgdOptimizer(), lambda_="0.1")
    opt = O.DcOptimizerWrapper(O.AdagradOptimizer(), lambda_=0.1)
    params = np.zeros((3, 2), np.float32)
    state = opt.init_state(3, 2)
    with pytest.raises(ValueError, match="'latest'"):
        opt.apply(params, params, {k: v for k, v in state.items() if k != "latest"})
    with pytest.raises(ValueError, match="rows must be in"):
        opt.snapshot(params, state, np.array([3]))
    with pytest.raises(ValueError, match="state\\['latest'\\]"):
        opt.snapshot(params, {**state, "latest": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match="dim must be 1"):
        O.DcOptimizerWrapper(O.BatchSoftmaxOptimizer()).init_state(2, 2)
