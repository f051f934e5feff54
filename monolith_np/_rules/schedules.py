"""Learning-rate schedule rules: float32 formulas over scalars and their kernel entries.

Each schedule's math is one plain Python rule (``polynomial_decay_rule``,
``exponential_decay_rule``, ...), written in float32 the way TensorFlow
evaluates it: hyperparameters are cast to float32 first, every literal is a
float32, and the CPU compiles without fused multiply-add. A small kernel entry
per schedule (``polynomial_decay_at``, ...) gives every rule the same signature
``(step, inner, fparams, iparams, table)``: a float64 vector ``fparams`` (cast
to float32 inside the rules, as TF casts Python floats), an int64 vector
``iparams`` (integer thresholds, piecewise boundaries) and a float32 ``table``
(piecewise values); ``inner`` is the wrapped schedule's value (``LinearWarmup``
only).

:func:`monolith_np.schedules.cpu_kernels` compiles an entry and a ``prange``
loop over it for the CPU; :mod:`monolith_np.cuda.schedules` compiles the same
entry as a CUDA device function inside a grid-stride kernel. The entries are
small, so the compiled loops inline them. The classes named below are those of
:mod:`monolith_np.schedules`.
"""

from __future__ import annotations

import math

import numpy as np

from .._compile import jitable
from . import vmath

__all__ = [
    "polynomial_decay_rule",
    "exponential_decay_rule",
    "inverse_time_decay_rule",
    "piecewise_constant_rule",
    "cosine_decay_rule",
    "cosine_decay_restarts_rule",
    "linear_warmup_rule",
    "norm_warmup_rule",
    "polynomial_decay_at",
    "exponential_decay_at",
    "inverse_time_decay_at",
    "piecewise_constant_at",
    "cosine_decay_at",
    "cosine_decay_restarts_at",
    "linear_warmup_at",
    "norm_warmup_at",
]

# ---------------------------------------------------------------------------
# Rules: plain Python over scalars, float32 arithmetic, compiled for CPU and GPU
# ---------------------------------------------------------------------------


@jitable
def _floor32(x):
    """float32 floor (float32 values of magnitude >= 2**23 are already integers)."""
    if abs(x) < np.float32(8388608.0):
        return np.float32(math.floor(x))
    return x


@jitable
def _ceil32(x):
    """float32 ceil (float32 values of magnitude >= 2**23 are already integers)."""
    if abs(x) < np.float32(8388608.0):
        return np.float32(math.ceil(x))
    return x


@jitable(inline=True)
def _cos32(x):
    """float32 cos of ``pi * fraction`` (the schedules' ``fraction`` is in ``[0, 1]``; NaN stays NaN).

    :func:`~monolith_np._rules.vmath.cos_small`: vectorisable, within 1 ulp
    (libm's ``cosf`` is within about 0.5, so a value can differ from it in
    the last bit; the schedules are tested against TF to 1 ulp).
    """
    return vmath.cos_small(x)


@jitable
def _log32(x):
    """float32 log; -inf at 0 and NaN below (as C does; Python's math.log would raise)."""
    if x > np.float32(0.0):
        return np.float32(math.log(x))
    if x == np.float32(0.0):
        return np.float32(-math.inf)
    return np.float32(math.nan)


@jitable
def _pow32(x, y):
    """float32 ``x ** y``; ``y == 1`` returns ``x`` (what powf returns) without the call."""
    if y == np.float32(1.0):
        return x
    return x**y


@jitable(inline=True)
def _cosine_decayed(fraction, decay_from, one_minus_alpha, alpha):
    """Keras' ``decay_from * ((1 - alpha) * 0.5 * (1 + cos(pi * fraction)) + alpha)``."""
    cosine = np.float32(0.5) * (np.float32(1.0) + _cos32(np.float32(math.pi) * fraction))
    return decay_from * (one_minus_alpha * cosine + alpha)


@jitable(inline=True)
def _ramp(step, steps, start, target):
    """Linear ramp from ``start`` (step 0) towards ``target`` (step ``steps``), float32."""
    return (target - start) * (np.float32(step) / steps) + start


@jitable
def polynomial_decay_rule(step, lr0, end, decay_steps, power, cycle):
    """``tf.compat.v1.train.polynomial_decay`` at one step, in float32 (see PolynomialDecay)."""
    lr0 = np.float32(lr0)
    end = np.float32(end)
    power = np.float32(power)
    t = np.float32(step)
    ds = np.float32(decay_steps)
    if cycle:
        if step != 0:  # TF's multiplier is 1 at step 0, else ceil(t / ds)
            ds = ds * _ceil32(t / ds)
    elif t > ds:
        t = ds
    return (lr0 - end) * _pow32(np.float32(1.0) - t / ds, power) + end


@jitable
def exponential_decay_rule(step, lr0, decay_steps, decay_rate, staircase):
    """Keras ``ExponentialDecay`` at one step, in float32."""
    p = np.float32(step) / np.float32(decay_steps)
    if staircase:
        p = _floor32(p)
    return np.float32(lr0) * _pow32(np.float32(decay_rate), p)


@jitable
def inverse_time_decay_rule(step, lr0, decay_steps, decay_rate, staircase):
    """Keras ``InverseTimeDecay`` at one step, in float32."""
    p = np.float32(step) / np.float32(decay_steps)
    if staircase:
        p = _floor32(p)
    return np.float32(lr0) / (np.float32(1.0) + np.float32(decay_rate) * p)


@jitable
def piecewise_constant_rule(step, boundaries, values):
    """``values[i]`` for the first ``i`` with ``step <= boundaries[i]``, else ``values[-1]``.

    For increasing boundaries that index is the number of boundaries below
    ``step``: a branch-free count that vectorises (4x faster than a binary
    search for a handful of boundaries, and ahead of numpy's ``searchsorted``
    up to a few hundred).
    """
    index = 0
    for j in range(boundaries.size):
        index += step > boundaries[j]
    return values[index]


@jitable(inline=True)
def cosine_decay_rule(step, lr0, decay_steps, alpha, warmup_target, warmup_steps, warmup):
    """Keras 3 ``CosineDecay`` (optionally with linear warm-up) at one step, in float32."""
    lr0 = np.float32(lr0)
    ds = np.float32(decay_steps)
    # Keras computes ``(1 - alpha)`` on the Python float, then casts.
    one_minus_alpha = np.float32(1.0 - alpha)
    alpha32 = np.float32(alpha)
    t = np.float32(step)
    # one formula for both forms, choices by selects (a batch of steps then vectorises):
    # without warm-up ws is 0 (t - 0 is t, exactly) and the ramp is never chosen
    target = np.float32(warmup_target)
    ws = np.float32(warmup_steps) if warmup else np.float32(0.0)
    end = ds + ws
    t_end = end if t > end else t
    decayed = _cosine_decayed((t_end - ws) / ds, target if warmup else lr0, one_minus_alpha, alpha32)
    ramp = _ramp(t, ws if ws > np.float32(1.0) else np.float32(1.0), lr0, target)  # (only chosen when t < ws)
    return ramp if (t < ws) & warmup else decayed


@jitable
def cosine_decay_restarts_rule(step, lr0, first_decay_steps, t_mul, m_mul, alpha):
    """Keras ``CosineDecayRestarts`` (SGDR) at one step, in float32."""
    one = np.float32(1.0)
    t_mul = np.float32(t_mul)
    alpha = np.float32(alpha)
    fraction = np.float32(step) / np.float32(first_decay_steps)
    if t_mul == one:
        restart = _floor32(fraction)
        fraction = fraction - restart
    else:
        ratio = _log32(one - fraction * (one - t_mul)) / _log32(t_mul)
        restart = _floor32(ratio)
        period = _pow32(t_mul, restart)
        fraction = (fraction - (one - period) / (one - t_mul)) / period
    m_fac = _pow32(np.float32(m_mul), restart)
    cosine = np.float32(0.5) * m_fac * (one + _cos32(np.float32(math.pi) * fraction))
    return np.float32(lr0) * ((one - alpha) * cosine + alpha)


@jitable
def linear_warmup_rule(step, inner, warmup_steps, initial_learning_rate, target):
    """Ramp from ``initial_learning_rate`` to ``target`` before ``warmup_steps``, else ``inner``."""
    if step < warmup_steps:
        return _ramp(step, np.float32(warmup_steps), np.float32(initial_learning_rate), np.float32(target))
    return inner


@jitable
def norm_warmup_rule(step, clip_norm, warmup_steps):
    """``clip_norm * (step / warmup_steps if step < warmup_steps else 1)``, in float32."""
    if step < warmup_steps:
        return np.float32(step) / np.float32(warmup_steps) * np.float32(clip_norm)
    return np.float32(clip_norm)


# ---------------------------------------------------------------------------
# Kernel entries: every schedule behind one signature, so one loop template serves all
# ---------------------------------------------------------------------------
# ``<schedule>_at(step, inner, fparams, iparams, table)`` unpacks that schedule's
# hyperparameters and calls its rule.


@jitable
def polynomial_decay_at(step, inner, fparams, iparams, table):
    """Kernel entry of :class:`PolynomialDecay` (``fparams``: lr0, end, decay_steps, power, cycle)."""
    return polynomial_decay_rule(step, fparams[0], fparams[1], fparams[2], fparams[3], fparams[4] != 0.0)


@jitable
def exponential_decay_at(step, inner, fparams, iparams, table):
    """Kernel entry of :class:`ExponentialDecay` (``fparams``: lr0, decay_steps, decay_rate, staircase)."""
    return exponential_decay_rule(step, fparams[0], fparams[1], fparams[2], fparams[3] != 0.0)


@jitable
def inverse_time_decay_at(step, inner, fparams, iparams, table):
    """Kernel entry of :class:`InverseTimeDecay` (``fparams``: lr0, decay_steps, decay_rate, staircase)."""
    return inverse_time_decay_rule(step, fparams[0], fparams[1], fparams[2], fparams[3] != 0.0)


@jitable
def piecewise_constant_at(step, inner, fparams, iparams, table):
    """Kernel entry of :class:`PiecewiseConstantDecay` (``iparams``: boundaries, ``table``: values)."""
    return piecewise_constant_rule(step, iparams, table)


@jitable(inline=True)
def cosine_decay_at(step, inner, fparams, iparams, table):
    """Kernel entry of :class:`CosineDecay` (``fparams``: lr0, decay_steps, alpha, target, warm-up steps, on)."""
    return cosine_decay_rule(step, fparams[0], fparams[1], fparams[2], fparams[3], fparams[4], fparams[5] != 0.0)


@jitable
def cosine_decay_restarts_at(step, inner, fparams, iparams, table):
    """Kernel entry of :class:`CosineDecayRestarts` (``fparams``: lr0, first_decay_steps, t_mul, m_mul, alpha)."""
    return cosine_decay_restarts_rule(step, fparams[0], fparams[1], fparams[2], fparams[3], fparams[4])


@jitable
def linear_warmup_at(step, inner, fparams, iparams, table):
    """Kernel entry of :class:`LinearWarmup` (``fparams``: start, target; ``iparams``: warm-up steps)."""
    return linear_warmup_rule(step, inner, iparams[0], fparams[0], fparams[1])


@jitable
def norm_warmup_at(step, inner, fparams, iparams, table):
    """Kernel entry of :func:`norm_warmup` (``fparams``: clip norm; ``iparams``: warm-up steps)."""
    return norm_warmup_rule(step, fparams[0], iparams[0])

