"""Embedding-table optimizers: goldens (SEMANTICS G.1), TF parity, properties, errors.

The properties every optimizer must have (duplicates, dense == sparse, dump round trips) are
in test_registry_suite.py, parametrised from the registry.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

from monolith_np.optim import optimizers as O  # noqa: E402
from monolith_np.schedules import PolynomialDecay  # noqa: E402



def _steps(opt, dim, grads_per_step, lr, rows=None, params=None, state=None, **kw):
    params = np.zeros((1, dim), np.float32) if params is None else params
    state = opt.init_state(1, dim) if state is None else state
    out = []
    for g in grads_per_step:
        opt.apply_rows(params, np.zeros(1, np.int64), np.asarray([g], np.float32), state, learning_rate=lr, **kw)
        out.append(params[0].copy())
    return out, state


GOLDEN = [
    (O.SgdOptimizer(), 1, [[1]], 0.1, [[-0.1]]),
    (O.AdagradOptimizer(initial_accumulator_value=1), 2, [[1, 2]] * 2, 0.1,
     [[-0.07071067, -0.08944272], None]),
    (O.AdagradOptimizer(initial_accumulator_value=1, weight_decay_factor=0.1), 2, [[1, 2]] * 2, 0.1,
     [[-0.07071067, -0.08944272], [-0.128173, -0.155943]]),
    (O.FtrlOptimizer(), 1, [[10]] * 2, 0.01, [[-0.009995], [-0.0170643]]),
    (O.FtrlOptimizer(), 2, [[10, 1]] * 2, 0.01, [[-0.009995, -0.00953463], [-0.0170643, -0.0164353]]),
    (O.AdadeltaOptimizer(), 2, [[10, 1]] * 2, 0.01, [[-0.0031607, -0.0030151], [-0.0064035, -0.0061047]]),
    (O.AdamOptimizer(), 2, [[10, 1]] * 2, 0.01, [[-0.00990099, -0.00909091], [-0.01983060, -0.01842895]]),
    (O.AmsgradOptimizer(), 2, [[10, 1]] * 2, 0.01, [[-0.00990099, -0.00909091], [-0.01983060, -0.01842895]]),
    (O.MomentumOptimizer(), 2, [[10, 1]] * 2, 0.01, [[-0.1, -0.01], [-0.29, -0.029]]),
    (O.MovingAverageOptimizer(), 2, [[10, 1]] * 2, 0.01, [[1.0, 0.1], [1.9, 0.19]]),
    (O.RmspropOptimizer(), 1, [[10]] * 2, None, [[-0.024025], [-0.042686]]),
    (O.RmspropV2Optimizer(), 2, [[10, 1]] * 2, 0.01, [[-0.0090909, -0.005], [-0.0158549, -0.0092045]]),
    (O.AdaGradWithGroupLassoOptimizer(l2_regularization=1, beta=1, initial_accumulator_value=0), 1,
     [[10]] * 2, 0.01, [[-0.008182], [-0.014125]]),
    (O.AdaGradWithGroupLassoOptimizer(l2_regularization=0.5, beta=1, initial_accumulator_value=0), 2,
     [[10, 1], [1, 5]], 0.01, [[-0.008639, -0.000864], [-0.009096, -0.004778]]),
    (O.AdaGradWithGroupLassoOptimizer(l2_regularization=0, beta=1, initial_accumulator_value=0), 2,
     [[10, 1]], 0.01, [[-0.009091, -0.000909]]),
    (O.AdaGradWithGroupLassoOptimizer(l2_regularization=1000, beta=1, initial_accumulator_value=0), 2,
     [[10, 1]], 0.01, [[0, 0]]),
]


@pytest.mark.parametrize("case", GOLDEN, ids=lambda c: type(c[0]).__name__)
def test_golden_g1(case):
    opt, dim, grads, lr, expected = case
    got, _ = _steps(opt, dim, grads, lr)
    for g, e in zip(got, expected):
        if e is not None:
            np.testing.assert_allclose(g, e, atol=1e-6)


def test_golden_state_values():
    _, state = _steps(O.FtrlOptimizer(), 1, [[10]], 0.01)
    np.testing.assert_allclose(state["norm"][0], [100.1], rtol=1e-6)
    _, state = _steps(O.AdamOptimizer(), 2, [[10, 1]], 0.01)
    np.testing.assert_allclose(state["m"][0], [1, 0.1], atol=1e-4)
    _, state = _steps(O.RmspropV2Optimizer(), 2, [[10, 1]], 0.01)
    np.testing.assert_allclose(state["n"][0], [100, 1], rtol=1e-6)


def test_golden_batch_softmax():
    opt = O.BatchSoftmaxOptimizer()
    params = np.zeros((1, 1), np.float32)
    state = opt.init_state(1, 1)
    opt.apply_rows(params, np.array([0]), np.array([[2.0]], np.float32), state, global_step=1)
    assert params[0, 0] == np.float32(0.1) and state["global_step"][0] == 1
    restored = opt.init_state(1, 1)
    opt.restore_state(restored, opt.dump_state(state))
    p2 = params.copy()
    opt.apply_rows(params, np.array([0]), np.array([[2.0]], np.float32), state, global_step=0)
    opt.apply_rows(p2, np.array([0]), np.array([[2.0]], np.float32), restored, global_step=0)
    np.testing.assert_allclose(params, [[-0.01]], atol=1e-7)
    np.testing.assert_array_equal(params, p2)


def test_golden_group_adagrad_restored():
    opt = O.AdaGradWithGroupLassoOptimizer(l2_regularization=1, beta=1, initial_accumulator_value=0)
    (w1,), state = _steps(opt, 1, [[10]], 0.01)
    restored = opt.init_state(1, 1)
    opt.restore_state(restored, opt.dump_state(state))
    (w2,), _ = _steps(opt, 1, [[10]], 0.01, params=w1[None].copy(), state=restored)
    np.testing.assert_allclose(w2, [-0.014125], atol=1e-6)


# --- TF parity ---------------------------------------------------------------


def _batch(seed=0, num_rows=12, n=30, dim=5):
    rng = np.random.default_rng(seed)
    params = rng.normal(size=(num_rows, dim)).astype(np.float32)
    rows = rng.integers(0, num_rows, n).astype(np.int64)
    grads = rng.normal(size=(n, dim)).astype(np.float32)
    return params, rows, grads


@pytest.mark.tf
def test_tf_adagrad_parity():
    from ref_optim import tf_sparse_apply

    params, rows, grads = _batch()
    opt = O.AdagradOptimizer(learning_rate=0.05, initial_accumulator_value=0.3)
    state = opt.init_state(*params.shape)
    ref, (acc,) = tf_sparse_apply("ResourceSparseApplyAdagradV2", params, rows, grads, [state["norm"]],
                                  lr=np.float32(0.05), epsilon=np.float32(0.0))
    opt.apply_rows(params, rows, grads, state)
    np.testing.assert_allclose(params, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(state["norm"], acc, rtol=1e-6)


@pytest.mark.tf
def test_tf_ftrl_parity():
    from ref_optim import tf_sparse_apply

    params, rows, grads = _batch(1)
    opt = O.FtrlOptimizer(learning_rate=0.05, l1_regularization=0.3, l2_regularization=0.2)
    state = opt.init_state(*params.shape)
    ref, (norm, zero) = tf_sparse_apply("ResourceSparseApplyFtrl", params, rows, grads, [state["norm"], state["zero"]],
                                        lr=np.float32(0.05), l1=np.float32(0.3), l2=np.float32(0.1),
                                        lr_power=np.float32(-0.5))
    opt.apply_rows(params, rows, grads, state)
    np.testing.assert_allclose(params, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state["zero"], zero, rtol=1e-5, atol=1e-6)


@pytest.mark.tf
@pytest.mark.parametrize("nesterov", [False, True])
def test_tf_momentum_parity(nesterov):
    from ref_optim import tf_sparse_apply

    params, rows, grads = _batch(2)
    opt = O.MomentumOptimizer(learning_rate=0.05, momentum=0.8, use_nesterov=nesterov)
    state = opt.init_state(*params.shape)
    state["n"][:] = np.random.default_rng(3).normal(size=params.shape).astype(np.float32) * 0.05
    accum = -state["n"] / np.float32(0.05)
    ref, _ = tf_sparse_apply("ResourceSparseApplyMomentum", params, rows, grads, [accum], lr=np.float32(0.05),
                             momentum=np.float32(0.8), use_nesterov=nesterov)
    opt.apply_rows(params, rows, grads, state)
    np.testing.assert_allclose(params, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.tf
def test_tf_adadelta_parity():
    from ref_optim import tf_sparse_apply

    params, rows, grads = _batch(4)
    opt = O.AdadeltaOptimizer(learning_rate=0.5, averaging_ratio=0.8, epsilon=0.01)
    state = opt.init_state(*params.shape)
    ref, _ = tf_sparse_apply("ResourceSparseApplyAdadelta", params, rows, grads, [state["accum"], state["accum_update"]],
                             lr=np.float32(0.5), rho=np.float32(0.8), epsilon=np.float32(0.01))
    opt.apply_rows(params, rows, grads, state)
    np.testing.assert_allclose(params, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.tf
@pytest.mark.parametrize("nesterov", [False, True])
def test_tf_adam_parity(nesterov):
    from ref_optim import tf_apply_adam

    params, _, _ = _batch(5)
    grads = np.random.default_rng(6).normal(size=params.shape).astype(np.float32)
    opt = O.AdamOptimizer(learning_rate=0.05, beta1=0.8, beta2=0.95, epsilon=1e-3, use_nesterov=nesterov)
    state = opt.init_state(*params.shape)
    ref = tf_apply_adam(params, state["m"], state["v"], grads, 0.05, 0.8, 0.95, 1e-3, 0.8, 0.95, nesterov)
    opt.apply(params, grads, state)
    np.testing.assert_allclose(params, ref[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(state["v"], ref[2], rtol=1e-6)


# --- properties ----------------------------------------------------------------


def test_adam_restore_keeps_both_powers():
    opt = O.AdamOptimizer()
    state = opt.init_state(2, 1)
    state["beta1_power"][:] = [0.5, 0.25]
    state["beta2_power"][:] = [0.75, 0.125]
    fresh = opt.init_state(2, 1)
    opt.restore_state(fresh, opt.dump_state(state, rows=[1, 0]), rows=[1, 0])
    np.testing.assert_array_equal(fresh["beta1_power"], [0.5, 0.25])  # Monolith: beta1 := saved beta2
    np.testing.assert_array_equal(fresh["beta2_power"], [0.75, 0.125])


@settings(max_examples=25)
@given(st.lists(st.integers(0, 7), min_size=0, max_size=40), st.integers(1, 9))
def test_adagrad_matches_sequential_numpy(rows, dim):
    rng = np.random.default_rng(len(rows) * 10 + dim)
    params = rng.normal(size=(8, dim)).astype(np.float32)
    grads = rng.normal(size=(len(rows), dim)).astype(np.float32)
    rows = np.asarray(rows, np.int64)
    opt = O.AdagradOptimizer(learning_rate=0.1, weight_decay_factor=0.1)
    state = opt.init_state(8, dim)
    expected, norm = params.copy(), state["norm"].copy()
    for r in dict.fromkeys(rows.tolist()):
        g = np.zeros(dim, np.float32)
        for i in np.flatnonzero(rows == r):
            g += grads[i]
        u = g + np.float32(0.1) * expected[r]
        norm[r] += u * u
        expected[r] -= np.float32(0.1) / np.sqrt(norm[r]) * u
    opt.apply_rows(params, rows, grads, state)
    np.testing.assert_allclose(params, expected, rtol=1e-6, atol=1e-7)


# --- learning rates ------------------------------------------------------------


def test_learning_rate_forms_and_warmup():
    grads = np.ones((1, 2), np.float32)
    results = []
    for lr in (0.05, np.array([0.05, 9.0], np.float32), PolynomialDecay(0.05, 10, end_learning_rate=0.05)):
        p = np.zeros((1, 2), np.float32)
        O.SgdOptimizer().apply(p, grads, {}, learning_rate=lr, global_step=3)
        results.append(p.copy())
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    opt = O.SgdOptimizer(learning_rate=0.4)
    opt_w = O.AdagradOptimizer(learning_rate=0.4, warmup_steps=4)
    assert opt._learning_rate(None, 7, opt._config()) == np.float32(0.4)
    assert opt_w._learning_rate(None, 0, opt_w._config()) == 0.0
    assert opt_w._learning_rate(None, 1, opt_w._config()) == pytest.approx(0.1, rel=1e-6)
    assert opt_w._learning_rate(None, 9, opt_w._config()) == np.float32(0.4)


# --- stochastic rounding ---------------------------------------------------------


def test_stochastic_rounding_is_unbiased_and_lands_on_fp16():
    opt = O.StochasticRoundingFloat16OptimizerWrapper(O.SgdOptimizer(learning_rate=1.0))
    n, dim = 4000, 8
    value = np.float32(1.0) + np.float32(0.3) * np.float32(2.0**-10)  # 30% of the way up
    params = np.zeros((n, dim), np.float32)
    opt.apply(params, np.full((n, dim), -value, np.float32), {}, global_step=1)
    assert np.all(params.astype(np.float16).astype(np.float32) == params)
    frac_up = np.mean(params > value)
    assert abs(frac_up - 0.3) < 0.02  # Monolith's generator would give ~1.0 (p <= 0.2747)
    again = np.zeros((n, dim), np.float32)
    opt.apply(again, np.full((n, dim), -value, np.float32), {}, global_step=1)
    np.testing.assert_array_equal(params, again)
    assert opt.as_proto().stochastic_rounding_float16


# --- protos -------------------------------------------------------------------------


CONFIGS = [
    ("SgdOptimizer", {}), ("SgdOptimizer", {"learning_rate": 0.3}),
    ("AdagradOptimizer", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "warmup_steps": 3}),
    ("AdadeltaOptimizer", {}), ("AdamOptimizer", {"use_nesterov": True}), ("AmsgradOptimizer", {"beta1": 0.5}),
    ("BatchSoftmaxOptimizer", {"learning_rate": 0.2}), ("MomentumOptimizer", {}), ("MovingAverageOptimizer", {}),
    ("RmspropOptimizer", {}), ("RmspropV2Optimizer", {"momentum": 0.5}),
    ("FTRLWithGroupSparsityOptimizer", {"l1_regularization": 0.1}),
    ("AdaGradWithGroupLassoOptimizer", {"beta": 1.0, "l2_regularization": 0.2}),
    ("DynamicWdAdagradOptimizer", {}), ("FtrlOptimizer", {"l2_regularization": 0.2, "beta": 0.5}),
]


@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_as_proto_matches_original(name, kwargs):
    from ref_optim import original_entry

    entry = original_entry()
    if entry is None:
        pytest.skip("Monolith mirror not available")
    ours, theirs = getattr(O, name)(**kwargs), getattr(entry, name)(**kwargs)
    assert ours.as_proto().SerializeToString() == theirs.as_proto().SerializeToString()
    assert vars(ours) == vars(theirs)
    wrapped = O.StochasticRoundingFloat16OptimizerWrapper(ours).as_proto()
    assert wrapped.SerializeToString() == entry.StochasticRoundingFloat16OptimizerWrapper(theirs).as_proto(
    ).SerializeToString()


# --- errors ---------------------------------------------------------------------------


def test_errors_before_any_row_is_touched():
    opt = O.AdagradOptimizer(learning_rate=0.1)
    params = np.zeros((4, 2), np.float32)
    state = opt.init_state(4, 2)
    good_rows, good_grads = np.array([0, 1]), np.ones((2, 2), np.float32)
    cases = [
        (dict(rows=np.array([0, 4])), ValueError, r"rows must be in \[0, 4\), got 4"),
        (dict(rows=np.array([-1, 0])), ValueError, "rows must be in"),
        (dict(rows=np.array([0.0, 1.0])), TypeError, "rows must be int64 or int32"),
        (dict(grads=np.ones((2, 3), np.float32)), ValueError, "grads must have shape"),
        (dict(grads=np.ones((2, 2))), TypeError, "grads must be float32"),
        (dict(learning_rate=-0.1), ValueError, "learning_rate must be >= 0"),
        (dict(state={"norm": np.ones((3, 2), np.float32)}), ValueError, "state\\['norm'\\] must have shape"),
        (dict(state={}), ValueError, "state must have the key 'norm'"),
        (dict(global_step=-1), ValueError, "global_step must be >= 0"),
    ]
    for overrides, exc, match in cases:
        args = dict(rows=good_rows, grads=good_grads, state=state, learning_rate=None, global_step=0)
        args.update(overrides)
        with pytest.raises(exc, match=match):
            opt.apply_rows(params, args["rows"], args["grads"], args["state"], args["learning_rate"],
                           args["global_step"])
    assert not params.any() and np.all(state["norm"] == np.float32(0.1))
    with pytest.raises(TypeError, match="params must be float32"):
        opt.apply(params.astype(np.float64), good_grads, state)
    with pytest.raises(ValueError, match="dim must be 1"):
        O.BatchSoftmaxOptimizer().init_state(3, 2)
    with pytest.raises(ValueError, match="beta1 must be"):
        O.AdamOptimizer(beta1=1.5)
    with pytest.raises(ValueError, match="dumps must hold adagrad state"):
        opt.restore_state(state, O.SgdOptimizer().dump_state({}, rows=[0]))


def test_constructor_ranges_are_the_originals():
    """Decay rates of 1 are valid where TF and Monolith compute with them (they check no range)."""
    params, rows, grads = _batch(3)
    sgd = params.copy()
    O.SgdOptimizer(learning_rate=0.5).apply_rows(sgd, rows, grads, {})
    adadelta = O.AdadeltaOptimizer(learning_rate=0.5, averaging_ratio=1.0)  # rho = 1: SGD
    state = adadelta.init_state(*params.shape)
    p = params.copy()
    adadelta.apply_rows(p, rows, grads, state)
    np.testing.assert_array_equal(p, sgd)
    assert not state["accum"].any() and not state["accum_update"].any()
    for cls in (O.AdamOptimizer, O.AmsgradOptimizer):  # beta2 = 1: step size sqrt(1 - 1) = 0
        opt = cls(learning_rate=0.5, beta2=1.0)
        p = params.copy()
        opt.apply_rows(p, rows, grads, opt.init_state(*params.shape))
        np.testing.assert_array_equal(p, params)
        with pytest.raises(ValueError, match="beta1 must be"):  # 1 - beta1**t = 0 divides
            cls(beta1=1.0)
    with pytest.raises(ValueError, match="averaging_ratio must be"):
        O.AdadeltaOptimizer(averaging_ratio=1.01)
    with pytest.raises(ValueError, match="beta2 must be"):
        O.AdamOptimizer(beta2=1.01)


def test_int32_rows_and_empty_batch():
    opt = O.SgdOptimizer(learning_rate=1.0)
    params = np.zeros((3, 2), np.float32)
    opt.apply_rows(params, np.array([2, 2], np.int32), np.ones((2, 2), np.float32), {})
    np.testing.assert_array_equal(params[2], [-2, -2])
    opt.apply_rows(params, np.zeros(0, np.int64), np.zeros((0, 2), np.float32), {})


def test_hash_dedup_path(monkeypatch):
    from monolith_np.optim import sparse

    monkeypatch.setattr(sparse, "DENSE_MIN", 0)
    monkeypatch.setattr(sparse, "DENSE_FACTOR", 0)
    params, rows, grads = _batch(11)
    opt = O.AdamOptimizer(learning_rate=0.1)
    s1, s2 = opt.init_state(*params.shape), opt.init_state(*params.shape)
    p1 = params.copy()
    opt.apply_rows(p1, rows, grads, s1)
    monkeypatch.undo()
    opt.apply_rows(params, rows, grads, s2)
    np.testing.assert_array_equal(p1, params)


@pytest.mark.parametrize("hashed", [False, True], ids=["dense_map", "hash_map"])
@pytest.mark.parametrize("opt", [
    O.AdagradOptimizer(learning_rate=0.1, weight_decay_factor=0.01),
    O.AdamOptimizer(learning_rate=0.1, use_nesterov=True, weight_decay_factor=0.01),
    O.StochasticRoundingFloat16OptimizerWrapper(O.AdagradOptimizer(learning_rate=0.1)),
], ids=["adagrad", "adam", "rounding"])
def test_partitioned_dedup_is_bit_identical(monkeypatch, opt, hashed):
    """Several buckets (the multi-thread path) give the same bits as one, duplicates in occurrence order."""
    from monolith_np.optim import sparse

    rng = np.random.default_rng(5)
    params = rng.normal(size=(300, 5)).astype(np.float32)
    rows = rng.zipf(1.3, size=2000) % 300
    grads = rng.normal(size=(rows.size, 5)).astype(np.float32)
    if hashed:
        monkeypatch.setattr(sparse, "DENSE_MIN", 0)
        monkeypatch.setattr(sparse, "DENSE_FACTOR", 0)
    results = []
    for buckets in (1, 7, 64):
        monkeypatch.setattr(sparse, "bucket_count", lambda n, b=buckets: b)
        p, s = params.copy(), opt.init_state(*params.shape)
        opt.apply_rows(p, rows, grads, s, global_step=3)
        results.append((p, s))
    for p, s in results[1:]:
        np.testing.assert_array_equal(p.view(np.uint32), results[0][0].view(np.uint32))
        for k in s:
            np.testing.assert_array_equal(s[k], results[0][1][k])
    order, starts = sparse.partition_rows(rows, 7)
    assert sorted(order.tolist()) == list(range(rows.size))
    for b in range(7):
        part = order[starts[b]:starts[b + 1]]
        assert (np.diff(part) > 0).all()
        assert not np.isin(rows[part], np.delete(rows, part)).any()


@pytest.mark.parametrize("lr", [0.5, np.float32(0.5), np.float64(0.5), np.array(0.5, np.float32), [0.5], np.array([0.5])])
def test_scalar_like_learning_rates_are_equivalent(lr):
    from monolith_np.optim import SgdOptimizer

    params = np.ones((4, 3), np.float32)
    grads = np.ones((2, 3), np.float32)
    opt = SgdOptimizer()
    opt.apply_rows(params, np.array([1, 2]), grads, opt.init_state(4, 3), learning_rate=lr)
    np.testing.assert_array_equal(params, [[1, 1, 1], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [1, 1, 1]])
