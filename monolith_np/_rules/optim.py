"""Embedding-table optimizer rules: the math once, over one row (1-D views).

Every rule ``<algo>_update(w, g, <state views>..., lr, <hyperparameters>...)``
updates one embedding row ``w`` (a float32 1-D view of length ``dim``) and its
optimizer state in place, given the row's (already summed) gradient ``g``.
Per-element state arrives as 1-D views of length ``dim``; per-row scalar state
(Adam's bias-correction powers, group AdaGrad's accumulator, batch softmax's
last step) as 1-element views, so the rule can write it back. Rules allocate
nothing, read no globals, raise nothing and use only float32 arithmetic except
where the original computes in double (Adam/Amsgrad step size, both
RMSprops). Adam/Amsgrad's final ``sqrt`` and division, double in the
original, are float32 here (within 1e-6 of it, docs/monolith-differences.md).

Below the rules, one *kernel entry* per optimizer (``<algo>_at``) gives every
rule the same signature ``(w, g, S, r, lr, hp, step)``: ``S`` is the tuple of
the table's state arrays (in the order of the optimizer's registry row,
:mod:`monolith_np.optim.registry`), ``r`` the row,
``hp`` a float64 vector of hyperparameters and ``step`` the int64 global step.
:mod:`monolith_np.optim.sparse` compiles one ``prange`` driver per entry for
the CPU and :mod:`monolith_np.cuda.optim` one kernel per entry for the GPU,
both from these functions (STYLE B).

The state layouts, with each array named after its field in the original
``*OptimizerDump`` message, are the registry rows' (``Row.state``).
"""

from __future__ import annotations

import math

import numpy as np

from .._compile import jitable
from .._random import random_bits64, uniform01_float32

__all__ = [
    "sgd_update",
    "adagrad_update",
    "dynamic_wd_adagrad_update",
    "ftrl_update",
    "group_ftrl_update",
    "adadelta_update",
    "adam_update",
    "amsgrad_update",
    "momentum_update",
    "moving_average_update",
    "rmsprop_update",
    "rmsprop_v2_update",
    "group_adagrad_update",
    "batch_softmax_update",
    "dc_gradient",
    "stochastic_round_fp16",
    "stochastic_round_row",
]

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


@jitable(inline=True)
def _sqrt32(x):
    """float32 square root (a double sqrt rounded once is the correctly rounded float sqrt)."""
    return np.float32(math.sqrt(x))


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------


@jitable(inline=True)
def sgd_update(w, g, lr):
    """SGD: ``w -= lr * g``."""
    for i in range(w.size):
        w[i] = w[i] - lr * g[i]


@jitable(inline=True)
def adagrad_update(w, g, norm, lr, weight_decay):
    """AdaGrad with coupled weight decay: ``u = g + wd*w; norm += u^2; w -= lr/sqrt(norm) * u``."""
    for i in range(w.size):
        u = g[i] + weight_decay * w[i]
        n = norm[i] + u * u
        norm[i] = n
        w[i] = w[i] - lr / _sqrt32(n) * u


@jitable(inline=True)
def dynamic_wd_adagrad_update(w, g, norm, lr, weight_decay, decouple):
    """AdaGrad, weight decay coupled (as :func:`adagrad_update`) or decoupled.

    Decoupled: ``norm += g^2; w -= lr/sqrt(norm) * g + lr*wd*w_old``.
    """
    if not decouple:
        adagrad_update(w, g, norm, lr, weight_decay)
        return
    decay = lr * weight_decay
    for i in range(w.size):
        n = norm[i] + g[i] * g[i]
        norm[i] = n
        w[i] = w[i] - (lr / _sqrt32(n) * g[i] + decay * w[i])


@jitable(inline=True)
def _ftrl_accumulate(wi, gi, zero, norm, i, lr):
    """One FTRL accumulator step for element ``i``; returns the new ``norm[i]``."""
    n_old = norm[i]
    n_new = n_old + gi * gi
    sigma = (_sqrt32(n_new) - _sqrt32(n_old)) / lr
    zero[i] = zero[i] + (gi - sigma * wi)
    norm[i] = n_new
    return n_new


@jitable(inline=True)
def ftrl_update(w, g, zero, norm, lr, beta, l1, l2):
    """FTRL-Proximal (McMahan et al. 2013) with textbook ``sign(z)`` l1 shrinkage."""
    for i in range(w.size):
        n = _ftrl_accumulate(w[i], g[i], zero, norm, i, lr)
        z = zero[i]
        if abs(z) > l1:
            s = _ONE if z > _ZERO else -_ONE
            w[i] = lr * (s * l1 - z) / (_sqrt32(n) + beta + l2 * lr)
        else:
            w[i] = _ZERO


@jitable(inline=True)
def group_ftrl_update(w, g, zero, norm, lr, beta, l1, l2):
    """FTRL with group (row) sparsity: the whole row is zeroed when ``||z|| < l1``."""
    for i in range(w.size):
        _ftrl_accumulate(w[i], g[i], zero, norm, i, lr)
    ss = _ZERO
    for i in range(w.size):
        ss = ss + zero[i] * zero[i]
    z_norm = abs(_sqrt32(ss))
    if z_norm < l1:
        for i in range(w.size):
            w[i] = _ZERO
        return
    ratio = (l1 - z_norm) / z_norm
    for i in range(w.size):
        w[i] = lr * zero[i] * ratio / (beta + _sqrt32(norm[i]) + l2 * lr)


@jitable(inline=True)
def adadelta_update(w, g, accum, accum_update, lr, weight_decay, rho, epsilon):
    """Adadelta with a learning rate; ``epsilon`` inside both square roots."""
    one_minus_rho = _ONE - rho
    for i in range(w.size):
        u = g[i] + weight_decay * w[i]
        a = accum[i] * rho + u * u * one_minus_rho
        delta = _sqrt32(accum_update[i] + epsilon) / _sqrt32(a + epsilon) * u
        w[i] = w[i] - delta * lr
        accum_update[i] = accum_update[i] * rho + delta * delta * one_minus_rho
        accum[i] = a


@jitable(inline=True)
def _adam_step_size(lr, beta1_power, beta2_power):
    """``fl(lr * sqrt_double(1 - b2^t) / (1 - b1^t))``, the ``1 - b^t`` in float32."""
    c2 = np.float64(_ONE - beta2_power[0])
    c1 = np.float64(_ONE - beta1_power[0])
    return np.float32(np.float64(lr) * math.sqrt(c2) / c1)


@jitable(inline=True)
def _adam_moments(wi, gi, mi, vi, weight_decay, one_minus_b1, one_minus_b2):
    """Decayed gradient and the new first/second moments of one element."""
    u = gi + weight_decay * wi
    m_new = mi + (u - mi) * one_minus_b1
    v_new = vi + (u * u - vi) * one_minus_b2
    return u, m_new, v_new


@jitable(inline=True)
def _adam_apply(wi, u, m_new, denom_sq, lr_t, beta1, one_minus_b1, epsilon, nesterov):
    """``w - N / (sqrt(denom_sq) + eps)`` in float32 with Adam's (Nesterov) numerator ``N``.

    Monolith does the sqrt, division and subtraction in double; float32 keeps
    the dense loop on packed 8-wide ``vsqrtps``/``vdivps`` (about 1.6x faster
    on 10M parameters) and stays within 1e-6 of it (G.1 goldens, TF parity).
    """
    if nesterov:
        num = (u * one_minus_b1 + beta1 * m_new) * lr_t
    else:
        num = m_new * lr_t
    return wi - num / (_sqrt32(denom_sq) + epsilon)


@jitable(inline=True)
def adam_update(w, g, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, weight_decay, nesterov):
    """Adam with per-row bias-correction powers (TF ``ApplyAdam`` convention)."""
    lr_t = _adam_step_size(lr, beta1_power, beta2_power)
    one_minus_b1 = _ONE - beta1
    one_minus_b2 = _ONE - beta2
    for i in range(w.size):
        u, m_new, v_new = _adam_moments(w[i], g[i], m[i], v[i], weight_decay, one_minus_b1, one_minus_b2)
        w[i] = _adam_apply(w[i], u, m_new, v_new, lr_t, beta1, one_minus_b1, epsilon, nesterov)
        m[i] = m_new
        v[i] = v_new
    beta1_power[0] = beta1_power[0] * beta1
    beta2_power[0] = beta2_power[0] * beta2


@jitable(inline=True)
def amsgrad_update(w, g, m, v, vhat, beta1_power, beta2_power, lr, beta1, beta2, epsilon, weight_decay, nesterov):
    """Amsgrad: Adam with ``vhat = max(vhat, v)`` in the denominator."""
    lr_t = _adam_step_size(lr, beta1_power, beta2_power)
    one_minus_b1 = _ONE - beta1
    one_minus_b2 = _ONE - beta2
    for i in range(w.size):
        u, m_new, v_new = _adam_moments(w[i], g[i], m[i], v[i], weight_decay, one_minus_b1, one_minus_b2)
        vh = vhat[i]
        if v_new > vh:
            vh = v_new
        w[i] = _adam_apply(w[i], u, m_new, vh, lr_t, beta1, one_minus_b1, epsilon, nesterov)
        m[i] = m_new
        v[i] = v_new
        vhat[i] = vh
    beta1_power[0] = beta1_power[0] * beta1
    beta2_power[0] = beta2_power[0] * beta2


@jitable(inline=True)
def momentum_update(w, g, n, lr, weight_decay, mu, nesterov):
    """Momentum (optionally Nesterov) on the velocity ``n``."""
    for i in range(w.size):
        dx = lr * (g[i] + weight_decay * w[i])
        prev = n[i]
        n_new = mu * prev - dx
        n[i] = n_new
        if nesterov:
            w[i] = w[i] + (-mu * prev + (_ONE + mu) * n_new)
        else:
            w[i] = w[i] + n_new


@jitable(inline=True)
def moving_average_update(w, g, mu):
    """Exponential moving average of the pushed values: ``w = mu*w + (1 - mu)*g``."""
    one_minus_mu = _ONE - mu
    for i in range(w.size):
        w[i] = mu * w[i] + one_minus_mu * g[i]


@jitable(inline=True)
def _rmsprop_row(w, g, n, lr, weight_decay, mu, grad_scale):
    """RMSprop in double precision, ``n = mu*n + grad_scale*dx^2`` and a fixed +1 epsilon."""
    lr64 = np.float64(lr)
    mu64 = np.float64(mu)
    wd64 = np.float64(weight_decay)
    scale64 = np.float64(grad_scale)
    for i in range(w.size):
        dx = np.float64(g[i]) + wd64 * np.float64(w[i])
        n_new = np.float32(mu64 * np.float64(n[i]) + scale64 * dx * dx)
        n[i] = n_new
        step = lr64 / np.float64(_sqrt32(n_new) + _ONE)
        w[i] = np.float32(np.float64(w[i]) - step * dx)


@jitable(inline=True)
def rmsprop_update(w, g, n, lr, weight_decay, mu):
    """Monolith's hash-table RMSprop: ``n = mu*n + (1-mu)*dx^2; w -= lr/(sqrt(n)+1) * dx``."""
    _rmsprop_row(w, g, n, lr, weight_decay, mu, np.float64(_ONE) - np.float64(mu))


@jitable(inline=True)
def rmsprop_v2_update(w, g, n, lr, weight_decay, mu):
    """RMSprop v2: as :func:`rmsprop_update` without the ``(1 - mu)`` factor."""
    _rmsprop_row(w, g, n, lr, weight_decay, mu, np.float64(1.0))


@jitable(inline=True)
def group_adagrad_update(w, g, grad_square_sum, lr, beta, l2, weight_decay):
    """AdaGrad with group lasso: a row-wise accumulator of the largest squared gradient."""
    largest = _ZERO
    for i in range(w.size):
        u = g[i] + weight_decay * w[i]
        if u * u > largest:
            largest = u * u
    acc = grad_square_sum[0] + largest
    grad_square_sum[0] = acc
    alpha = lr / (beta + _sqrt32(acc))
    ss = _ZERO
    for i in range(w.size):
        z = g[i] + weight_decay * w[i] - w[i] / alpha
        ss = ss + z * z
    z_norm = _sqrt32(ss)
    if z_norm < l2:
        for i in range(w.size):
            w[i] = _ZERO
        return
    factor = -alpha * (z_norm - l2) / z_norm
    for i in range(w.size):
        w[i] = factor * (g[i] + weight_decay * w[i] - w[i] / alpha)


@jitable(inline=True)
def batch_softmax_update(w, last_step, lr, step):
    """Item step-interval estimate: ``w = (1-lr)*w + lr*(step - last); last = step``."""
    w[0] = (_ONE - lr) * w[0] + lr * np.float32(step - last_step[0])
    last_step[0] = step


@jitable(inline=True)
def dc_gradient(g, w, latest, lambda_, out):
    """Delay-compensated gradient ``out = g + lambda*g*g*(w - latest)`` (left-to-right)."""
    for i in range(g.size):
        out[i] = g[i] + lambda_ * g[i] * g[i] * (w[i] - latest[i])


@jitable(inline=True)
def dc_compensate_at(w, g, S, r, hp, out):
    """Kernel form of :func:`dc_gradient` for row ``r``: ``latest = S[-1][r]``, ``lambda = hp[-1]``.

    The drivers of :class:`~monolith_np.optim.DcOptimizerWrapper` call it
    before the base optimizer's entry: the wrapper appends its ``latest``
    array to the base's state tuple and ``lambda_`` to the base's
    hyperparameters, so the base entry's own indices are unchanged. ``out``
    may be ``g`` itself (each element is read before it is written).
    """
    dc_gradient(g, w, S[-1][r], np.float32(hp[hp.size - 1]), out)


@jitable(inline=True)
def stochastic_round_fp16(v, p):
    """Round float32 ``v`` to one of its float16 neighbours: up with probability ``frac``.

    ``down``/``up`` are the nearest float16 values below/above ``v`` (as
    float32; beyond 65504 ``up`` is infinite). ``up`` is returned when
    ``p < (v - down) / (up - down)``, so for ``p`` uniform in ``[0, 1)`` the
    rounding is unbiased (to within the ``2**-24`` grid of ``p``). Values
    already in float16 (and NaN, infinities) come back unchanged.
    """
    a = abs(v)
    if not a < np.float32(math.inf) or a == _ZERO:
        return v
    mant, expo = math.frexp(a)
    spacing = np.float32(math.ldexp(1.0, max(expo - 11, -24)))
    q = a / spacing
    down = np.float32(math.floor(q)) * spacing
    up = np.float32(math.ceil(q)) * spacing
    if down == up:
        return v
    big = np.float32(65504.0)
    if up > big:
        up = np.float32(math.inf)
    if down > big:
        down = big
    result = down
    if p < (a - down) / (up - down):
        result = up
    if v < _ZERO:
        return -result
    return result


@jitable(inline=True)
def stochastic_round_row(w, seed, step, r):
    """Stochastically round every element of row ``r`` to float16 (counter ``r*dim + i``)."""
    key = random_bits64(np.uint64(seed), np.uint64(step))
    base = np.uint64(r) * np.uint64(w.size)
    for i in range(w.size):
        p = uniform01_float32(key, base + np.uint64(i))
        w[i] = stochastic_round_fp16(w[i], p)


# ---------------------------------------------------------------------------
# Kernel entries: (w, g, S, r, lr, hp, step); S in the registry row's state order
# ---------------------------------------------------------------------------


@jitable(inline=True)
def sgd_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`sgd_update` (no state, no hyperparameters)."""
    sgd_update(w, g, lr)


@jitable(inline=True)
def adagrad_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`adagrad_update` (``hp``: weight_decay)."""
    adagrad_update(w, g, S[0][r], lr, np.float32(hp[0]))


@jitable(inline=True)
def dynamic_wd_adagrad_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`dynamic_wd_adagrad_update` (``hp``: weight_decay, decouple)."""
    dynamic_wd_adagrad_update(w, g, S[0][r], lr, np.float32(hp[0]), hp[1] != 0.0)


@jitable(inline=True)
def ftrl_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`ftrl_update` (``hp``: beta, l1, l2)."""
    ftrl_update(w, g, S[0][r], S[1][r], lr, np.float32(hp[0]), np.float32(hp[1]), np.float32(hp[2]))


@jitable(inline=True)
def group_ftrl_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`group_ftrl_update` (``hp``: beta, l1, l2)."""
    group_ftrl_update(w, g, S[0][r], S[1][r], lr, np.float32(hp[0]), np.float32(hp[1]), np.float32(hp[2]))


@jitable(inline=True)
def adadelta_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`adadelta_update` (``hp``: weight_decay, averaging_ratio, epsilon)."""
    adadelta_update(w, g, S[0][r], S[1][r], lr, np.float32(hp[0]), np.float32(hp[1]), np.float32(hp[2]))


@jitable(inline=True)
def adam_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`adam_update` (``hp``: beta1, beta2, epsilon, weight_decay, nesterov)."""
    adam_update(w, g, S[0][r], S[1][r], S[2][r:r + 1], S[3][r:r + 1], lr, np.float32(hp[0]),
                np.float32(hp[1]), np.float32(hp[2]), np.float32(hp[3]), hp[4] != 0.0)


@jitable(inline=True)
def amsgrad_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`amsgrad_update` (``hp``: beta1, beta2, epsilon, weight_decay, nesterov)."""
    amsgrad_update(w, g, S[0][r], S[1][r], S[2][r], S[3][r:r + 1], S[4][r:r + 1], lr, np.float32(hp[0]),
                   np.float32(hp[1]), np.float32(hp[2]), np.float32(hp[3]), hp[4] != 0.0)


@jitable(inline=True)
def momentum_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`momentum_update` (``hp``: weight_decay, momentum, nesterov)."""
    momentum_update(w, g, S[0][r], lr, np.float32(hp[0]), np.float32(hp[1]), hp[2] != 0.0)


@jitable(inline=True)
def moving_average_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`moving_average_update` (``hp``: momentum; ``lr`` unused)."""
    moving_average_update(w, g, np.float32(hp[0]))


@jitable(inline=True)
def rmsprop_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`rmsprop_update` (``hp``: weight_decay, momentum)."""
    rmsprop_update(w, g, S[0][r], lr, np.float32(hp[0]), np.float32(hp[1]))


@jitable(inline=True)
def rmsprop_v2_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`rmsprop_v2_update` (``hp``: weight_decay, momentum)."""
    rmsprop_v2_update(w, g, S[0][r], lr, np.float32(hp[0]), np.float32(hp[1]))


@jitable(inline=True)
def group_adagrad_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`group_adagrad_update` (``hp``: beta, l2, weight_decay)."""
    group_adagrad_update(w, g, S[0][r:r + 1], lr, np.float32(hp[0]), np.float32(hp[1]), np.float32(hp[2]))


@jitable(inline=True)
def batch_softmax_at(w, g, S, r, lr, hp, step):
    """Entry of :func:`batch_softmax_update` (the gradient is ignored)."""
    batch_softmax_update(w, S[0][r:r + 1], lr, step)
