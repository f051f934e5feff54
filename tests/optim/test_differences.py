"""Inputs on which we deliberately differ from Monolith (docs/monolith-differences.md)."""

from __future__ import annotations

import numpy as np

from monolith_np.optim import optimizers as O


def _one_step(opt, w, g, lr=0.1, step=0, state=None):
    params = np.asarray([w], np.float32)
    state = opt.init_state(1, params.shape[1]) if state is None else state
    opt.apply_rows(params, np.zeros(1, np.int64), np.asarray([g], np.float32), state, learning_rate=lr,
                   global_step=step)
    return params[0], state


def test_ftrl_l1_uses_sign_not_sign_bit():
    opt = O.FtrlOptimizer(l1_regularization=0.5, initial_accumulator_value=1.0)
    w, _ = _one_step(opt, [0.0, 0.0], [2.0, -2.0])  # z = +2 and -2
    denom = np.sqrt(np.float32(5.0))
    np.testing.assert_allclose(w, [0.1 * (0.5 - 2.0) / denom, 0.1 * (-0.5 + 2.0) / denom], rtol=1e-6)
    # Monolith (sign bit): z=+2 -> -0.1*2/denom (no shrinkage); z=-2 -> 0.1*(0.5+2)/denom (grows)
    assert abs(w[0]) < 0.1 * 2.0 / denom and abs(w[1]) < 0.1 * 2.5 / denom


def test_adagrad_weight_decay_same_for_every_position():
    opt = O.AdagradOptimizer(weight_decay_factor=0.5, initial_accumulator_value=1.0)
    w, _ = _one_step(opt, [1.0] * 9, [1.0] * 9)
    u = np.float32(1.5)
    np.testing.assert_allclose(w, 1 - np.float32(0.1) / np.sqrt(1 + u * u) * u, rtol=1e-6)
    assert np.all(w == w[0])  # Monolith's AVX blocks (i < 8) would step with g=1, the tail with u=1.5


def test_group_ftrl_l2_has_one_sign():
    opt = O.FTRLWithGroupSparsityOptimizer(l2_regularization=2.0, beta=1.0, initial_accumulator_value=0.0)
    w, state = _one_step(opt, [0.0] * 9, [1.0] * 9)
    z, n = state["zero"][0], state["norm"][0]
    Z = np.sqrt(np.sum(z * z))
    np.testing.assert_allclose(w, 0.1 * z * (-Z) / Z / (1.0 + np.sqrt(n) + 2.0 * 0.1), rtol=1e-6)


def test_wrappers_keep_global_step():
    opt = O.StochasticRoundingFloat16OptimizerWrapper(O.BatchSoftmaxOptimizer())
    w, state = _one_step(opt, [0.0], [0.0], lr=0.5, step=6)
    assert state["global_step"][0] == 6 and w[0] == 3.0  # Monolith's wrapper passes step 0


def test_rmsprop_uses_the_calls_learning_rate():
    opt = O.RmspropOptimizer(learning_rate=0.01)
    w_default, _ = _one_step(opt, [0.0], [10.0], lr=None)
    w_call, _ = _one_step(opt, [0.0], [10.0], lr=0.02)
    np.testing.assert_allclose(w_default, [-0.024025], atol=1e-6)
    np.testing.assert_allclose(w_call, 2 * w_default, rtol=1e-6)


def test_warmup_steps_ramp_the_learning_rate():
    opt = O.SgdOptimizer(learning_rate=0.4)
    sgd_w = O.MomentumOptimizer(learning_rate=0.4, momentum=0.0, warmup_steps=4)
    w0, _ = _one_step(sgd_w, [0.0], [1.0], lr=None, step=0)
    w2, _ = _one_step(sgd_w, [0.0], [1.0], lr=None, step=2)
    assert w0[0] == 0.0 and abs(w2[0] + 0.2) < 1e-7
    assert _one_step(opt, [0.0], [1.0], lr=None, step=0)[0][0] == np.float32(-0.4)


def test_adam_float32_division_within_1e6_of_double():
    """Adam's last step in float32 stays within 1e-6 of Monolith's double sqrt/division (A.7)."""
    rng = np.random.default_rng(3)
    params = rng.normal(scale=0.5, size=(64, 9)).astype(np.float32)
    opt = O.AdamOptimizer(learning_rate=0.05, weight_decay_factor=0.01)
    state = opt.init_state(*params.shape)
    w, m, v = params.copy(), np.zeros_like(params), np.zeros_like(params)
    b1p = np.full(64, 0.9, np.float32)
    b2p = np.full(64, 0.99, np.float32)
    one = np.float32(1)
    for step in range(5):
        g = rng.normal(size=params.shape).astype(np.float32)
        opt.apply(params, g, state, global_step=step)
        lr_t = (0.05 * np.sqrt((one - b2p).astype(np.float64)) / (one - b1p)).astype(np.float32)[:, None]
        u = g + np.float32(0.01) * w
        m = m + (u - m) * (one - np.float32(0.9))
        v = v + (u * u - v) * (one - np.float32(0.99))
        w = (w.astype(np.float64) - (m * lr_t).astype(np.float64) / (np.sqrt(v.astype(np.float64)) + np.float32(0.01)))
        w = w.astype(np.float32)
        b1p, b2p = b1p * np.float32(0.9), b2p * np.float32(0.99)
        np.testing.assert_allclose(params, w, rtol=0, atol=1e-6)
