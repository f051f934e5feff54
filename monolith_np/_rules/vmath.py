"""Vectorisable ``exp``, ``log``, ``log1p`` (float32 and float64), and float32 ``log1p`` and ``cos`` on bounded ranges.

numba >= 0.62 has no SVML: ``math.exp`` and ``math.log`` in a compiled loop
are calls into libm, one element at a time, and the loop around them does not
vectorise. The functions here are written so that LLVM can vectorise a loop
that calls them: a range reduction and a polynomial, the exponent handled on
the float's bits, no data-dependent branch (special inputs are fixed by
selects at the end).

- ``exp(x)``: ``x = n ln2 + r`` (Cody-Waite, ``|r| <= ln2 / 2``), ``e^r`` by
  its Taylor polynomial, times ``2^n`` built from bits (two factors, so
  results down to the subnormals round once).
- ``log(x)``: ``x = 2^e m`` with ``m`` in ``[sqrt(2)/2, sqrt(2))``,
  ``log m = 2 atanh(s)``, ``s = (m - 1) / (m + 1)``, by its series in ``s^2``,
  then ``e ln2`` added in two parts.
- ``log1p(x)``: ``log`` of ``u = 1 + x`` plus the rounding error of the
  addition, ``(x - (u - 1)) / u``, carried in the low part; ``x`` itself
  below ``2^-54``.
- ``log1p_unit(x)``, ``0 <= x <= 1`` (softplus's ``log1p(exp(-|v|))``):
  ``2 atanh(s)``, ``s = x / (2 + x) <= 1/3``, by its series with no range
  reduction (float32: about twice :func:`log1p`'s speed, at most 0.502 ulp
  over every float32 in ``[0, 1]``; float64 goes to ``log1p``). NaN outside.
- ``cos_small(x)``, ``|x| <= 65536``: ``x = n pi/2 + r`` with ``pi/2`` in
  four parts, the Taylor polynomials of ``cos r`` and ``sin r``, the quadrant
  by selects (float32; a float64 argument goes to libm).

float32 arguments are computed in float64 with shorter polynomials and
rounded once at the end; there ``1 + x`` is exact (no correction term) and
``s`` comes from a float32 reciprocal refined by one Newton step, which
spares the float64 divisions, the slowest vector instructions here.

Bounds (tests in ``tests/rules/test_vmath.py``): float32 within 1 ulp of the
exact value over every float32 input (measured at most 0.59 ulp), float64
within 2 ulp (measured at most 0.95); zeros, infinities, NaN and the overflow
and underflow edges as numpy's.

The helpers are plain :func:`~monolith_np._compile.jitable` functions, which
LLVM inlines into the caller's loop; inlining them at numba IR level as well
made every compilation that uses them several times slower.

The same Python source runs compiled (numba, CPU and GPU) and as Python (the
CUDA simulator, ``NUMBA_DISABLE_JIT``), with the same bits: the float <-> bits
views are numpy ``view`` in Python and an LLVM bitcast when compiled.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from .._compile import jitable

__all__ = ["exp", "log", "log1p", "log1p_unit", "cos_small", "COS_SMALL_MAX"]

# -- float <-> bits ------------------------------------------------------------------


def f64_bits(x):
    """The bits of float64 ``x`` as an int64."""
    return np.float64(x).view(np.int64)


def f64_from_bits(b):
    """The float64 whose bits are int64 ``b``."""
    return np.int64(b).view(np.float64)


@intrinsic
def _bitcast_f64_i64(typingctx, x):
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _bitcast_i64_f64(typingctx, b):
    if b != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@overload(f64_bits)
def _f64_bits_compiled(x):
    return lambda x: _bitcast_f64_i64(np.float64(x))


@overload(f64_from_bits)
def _f64_from_bits_compiled(b):
    return lambda b: _bitcast_i64_f64(np.int64(b))


def _compiled_by_dtype(public, f32, f64):
    """Register ``public``'s compiled form: ``f32`` for a float32 argument, ``f64`` for any other number."""

    @overload(public)
    def _compiled(x):
        return (lambda x: f32(x)) if x == types.float32 else (lambda x: f64(x))


# -- constants (IEEE binary64 facts) ---------------------------------------------------

_INV_LN2 = 1.4426950408889634
_LN2 = 0.6931471805599453
_LN2_HI = 6.93147180369123816490e-01  # ln2 with 32 trailing zero bits: n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10  # ln2 - _LN2_HI
_SHIFT = 6755399441055744.0  # 1.5 * 2^52: x + _SHIFT rounds x to an integer kept in the low bits
_SHIFT_BITS = 0x4338000000000000  # the bits of _SHIFT
_SQRT2_BITS = 0x3FF6A09E667F3BCD  # the bits of sqrt(2)
_ONE_BITS = 0x3FF0000000000000
_MANT = 0x000FFFFFFFFFFFFF
_TWO54 = 18014398509481984.0
_INF = np.inf

# exp: 1/k! for k = 2..13 (float64) and 2..7 (float32, rounded from float64)
_E2, _E3, _E4, _E5 = 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0
_E6, _E7, _E8, _E9 = 1.0 / 720.0, 1.0 / 5040.0, 1.0 / 40320.0, 1.0 / 362880.0
_E10, _E11, _E12, _E13 = 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0, 1.0 / 6227020800.0

# log: 2 / (2k + 1) for k = 1..10
_L1, _L2, _L3, _L4, _L5 = 2.0 / 3.0, 2.0 / 5.0, 2.0 / 7.0, 2.0 / 9.0, 2.0 / 11.0
_L6, _L7, _L8, _L9, _L10 = 2.0 / 13.0, 2.0 / 15.0, 2.0 / 17.0, 2.0 / 19.0, 2.0 / 21.0


# -- exp ---------------------------------------------------------------------------------


@jitable
def _exp64(x):
    x = np.float64(x)
    xc = x if x < 710.0 else 710.0  # (NaN lands here too; fixed at the end)
    xc = xc if xc > -746.0 else -746.0
    t = xc * _INV_LN2 + _SHIFT
    n = f64_bits(t) - _SHIFT_BITS  # round(x / ln2), from the low bits of t
    k = t - _SHIFT
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    q = _E12 + r * _E13
    q = _E11 + r * q
    q = _E10 + r * q
    q = _E9 + r * q
    q = _E8 + r * q
    q = _E7 + r * q
    q = _E6 + r * q
    q = _E5 + r * q
    q = _E4 + r * q
    q = _E3 + r * q
    q = _E2 + r * q
    p = 1.0 + (r + r * r * q)
    n1 = n >> 1  # 2^n as two normal factors: over/underflow and subnormals round once, in the last product
    n2 = n - n1
    y = (p * f64_from_bits((n1 + 1023) << 52)) * f64_from_bits((n2 + 1023) << 52)
    return y if x == x else x


@jitable
def _exp32(x):
    xd = np.float64(x)
    xc = xd if xd < 89.0 else 89.0
    xc = xc if xc > -104.0 else -104.0
    t = xc * _INV_LN2 + _SHIFT
    n = f64_bits(t) - _SHIFT_BITS
    r = xc - (t - _SHIFT) * _LN2
    q = _E6 + r * _E7
    q = _E5 + r * q
    q = _E4 + r * q
    q = _E3 + r * q
    q = _E2 + r * q
    p = 1.0 + (r + r * r * q)
    y = np.float32(p * f64_from_bits((n + 1023) << 52))
    return y if x == x else np.float32(x)


def exp(x):
    """``e**x``: vectorisable, float32 within 1 ulp and float64 within 2 ulp.

    Parameters
    ----------
    x : float32 or float64 scalar (other numbers are taken as float64)

    Returns
    -------
    Same float type
        Overflow gives inf, underflow 0 (through the subnormals), NaN stays NaN.

    Examples
    --------
    >>> round(float(exp(np.float64(1.0))), 12)  # within 2 ulp of e
    2.718281828459
    >>> exp(np.float32(-200.0)), exp(np.float32(100.0))
    (np.float32(0.0), np.float32(inf))
    """
    return _exp32(x) if isinstance(x, np.float32) else _exp64(x)


_compiled_by_dtype(exp, _exp32, _exp64)


# -- log and log1p ------------------------------------------------------------------------


@jitable
def _log_parts(b):
    """``(e, f)``: the positive normal float64 of bits ``b`` is ``2^e (1 + f)``, ``1 + f`` in [sqrt(2)/2, sqrt(2))."""
    e = (b >> 52) - 1023
    mb = (b & _MANT) | _ONE_BITS  # the mantissa as a float in [1, 2)
    big = mb > _SQRT2_BITS
    m = f64_from_bits(mb - (np.int64(1) << 52) if big else mb)
    return (e + 1 if big else e), m - 1.0


@jitable
def _log_core64(u, c):
    """``log(u) + c`` for finite ``u > 0`` (``c`` a small correction, added in the low part), float64 accuracy."""
    tiny = u < 2.2250738585072014e-308  # subnormal: scale by 2^54 first
    e, f = _log_parts(f64_bits(u * _TWO54 if tiny else u))
    e = e - 54 if tiny else e
    s = f / (2.0 + f)
    z = s * s
    R = z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * (_L5 + z * (_L6 + z * (_L7 + z * (_L8 + z * (
        _L9 + z * _L10)))))))))
    hfsq = 0.5 * f * f
    k = np.float64(e)
    return k * _LN2_HI - ((hfsq - (s * (hfsq + R) + (k * _LN2_LO + c))) - f)


@jitable
def _log_core32(u):
    """``log(u)`` for finite ``u > 0`` in float64, accurate enough to round to float32 within 1 ulp.

    ``u`` is normal in float64 (float32 subnormals are). ``s = f / (2 + f)``
    from a float32 reciprocal and one Newton step (relative error about
    2^-47), which costs about half a float64 division.
    """
    e, f = _log_parts(f64_bits(u))
    d = 2.0 + f
    inv = np.float64(np.float32(1.0) / np.float32(d))
    s0 = f * inv
    s = s0 + (f - s0 * d) * inv
    z = s * s
    R = z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * _L5))))
    hfsq = 0.5 * f * f
    return np.float64(e) * _LN2 - ((hfsq - s * (hfsq + R)) - f)


@jitable
def _log_special(x, y):
    """``y`` where ``x`` is positive and finite; else ``log``'s value at 0, inf, a negative ``x`` or NaN."""
    y = _INF if x == _INF else y
    y = -_INF if x == 0.0 else y
    return y if x >= 0.0 else np.nan  # (NaN >= 0 is false)


@jitable
def _log64(x):
    x = np.float64(x)
    ok = (x > 0.0) & (x < _INF)
    return _log_special(x, _log_core64(x if ok else 1.0, 0.0))


@jitable
def _log32(x):
    xd = np.float64(x)
    ok = (xd > 0.0) & (xd < _INF)
    return np.float32(_log_special(xd, _log_core32(xd if ok else 1.0)))


def log(x):
    """Natural logarithm: vectorisable, float32 within 1 ulp and float64 within 2 ulp.

    Parameters
    ----------
    x : float32 or float64 scalar (other numbers are taken as float64)

    Returns
    -------
    Same float type
        ``-inf`` at 0, NaN below 0 and at NaN, inf at inf.

    Examples
    --------
    >>> float(log(np.float64(np.e)))
    1.0
    >>> log(np.float32(0.0)), log(np.float32(-1.0))
    (np.float32(-inf), np.float32(nan))
    """
    return _log32(x) if isinstance(x, np.float32) else _log64(x)


_compiled_by_dtype(log, _log32, _log64)


@jitable
def _log1p64(x):
    x = np.float64(x)
    u = 1.0 + x
    ok = (u > 0.0) & (u < _INF)
    uu = u if ok else 1.0
    c = (x - (uu - 1.0)) / uu  # the rounding error of 1 + x, relative to u
    y = _log_special(u, _log_core64(uu, c if ok else 0.0))
    return x if abs(x) < 5.551115123125783e-17 else y  # below 2^-54, x itself is log1p(x) rounded (and keeps -0)


@jitable
def _log1p32(x):
    xd = np.float64(x)
    u = 1.0 + xd  # exact for float32 |x| >= 2^-29 (up to 2^53; above, the rounding is far below an ulp)
    ok = (u > 0.0) & (u < _INF)
    y = _log_special(u, _log_core32(u if ok else 1.0))
    small = abs(xd) < 1.862645149230957e-09  # 2^-29: x - x^2/2 is exact to float32
    return np.float32(xd - 0.5 * xd * xd if small else y)


def log1p(x):
    """``log(1 + x)``, accurate for small ``x``: vectorisable, float32 within 1 ulp and float64 within 2 ulp.

    Parameters
    ----------
    x : float32 or float64 scalar (other numbers are taken as float64)

    Returns
    -------
    Same float type
        ``-inf`` at -1, NaN below -1 and at NaN, inf at inf.

    Examples
    --------
    >>> float(log1p(np.float64(1e-20)))
    1e-20
    >>> log1p(np.float32(-1.0))
    np.float32(-inf)
    """
    return _log1p32(x) if isinstance(x, np.float32) else _log1p64(x)


_compiled_by_dtype(log1p, _log1p32, _log1p64)


# -- log1p on [0, 1] (softplus's log1p(exp(-|x|))) ---------------------------------------------


@jitable
def _log1p_unit32(x):
    # log1p(x) = 2 atanh(s), s = x / (2 + x) in [0, 1/3]: the series 2 s (1 + z/3 + ... + z^8/17),
    # z = s^2 <= 1/9, truncates below 3e-10 relative (0.005 of a float32 ulp); no range reduction.
    # (A float32 reciprocal and a Newton step, as in _log_core32, was slower here than the division.)
    xd = np.float64(x)
    inside = (xd >= 0.0) & (xd <= 1.0)  # (false for NaN)
    s = xd / (2.0 + xd)
    z = s * s
    R = z * (_L1 + z * (_L2 + z * (_L3 + z * (_L4 + z * (_L5 + z * (_L6 + z * (_L7 + z * _L8)))))))
    return np.float32(2.0 * s + s * R if inside else np.nan)


@jitable
def _log1p_unit64(x):
    x = np.float64(x)
    return _log1p64(x) if (x >= 0.0) & (x <= 1.0) else np.nan


def log1p_unit(x):
    """``log(1 + x)`` on ``[0, 1]`` (softplus's ``log1p(exp(-|v|))``): float32 within 1 ulp at twice log1p's speed.

    A float32 argument needs no range reduction on this interval: one
    float64 division and a polynomial (the ``atanh`` series), rounded once.
    A float64 argument goes to :func:`log1p`. Outside ``[0, 1]``, and for
    NaN, the result is NaN: never a wrong number.

    Parameters
    ----------
    x : float32 or float64 scalar (other numbers are taken as float64)

    Returns
    -------
    Same float type

    Examples
    --------
    >>> float(log1p_unit(np.float64(1.0))) == float(np.log(2.0))
    True
    >>> log1p_unit(np.float32(0.0)), bool(np.isnan(log1p_unit(2.0)))
    (np.float32(0.0), True)
    """
    return _log1p_unit32(x) if isinstance(x, np.float32) else _log1p_unit64(x)


_compiled_by_dtype(log1p_unit, _log1p_unit32, _log1p_unit64)


# -- cos on a bounded range ------------------------------------------------------------------

#: The largest ``|x|`` :func:`cos_small` evaluates (beyond it: NaN).
COS_SMALL_MAX = 65536.0

_INV_PIO2 = 6.36619772367581382433e-01
# pi/2 in four parts, the first three with 33 significant bits (n * part is exact for n < 2^20)
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624871116645580e-21
_PIO2_3T = 8.47842766036889956997e-32
# cos and sin of |r| <= pi/4 to r^10 and r^11 (Taylor: (-1)^k / (2k)!, (-1)^k / (2k+1)!): truncation
# below 1.2e-10 relative, under 0.002 of a float32 ulp
_C1, _C2, _C3, _C4, _C5 = -1.0 / 2.0, 1.0 / 24.0, -1.0 / 720.0, 1.0 / 40320.0, -1.0 / 3628800.0
_S1, _S2, _S3, _S4, _S5 = -1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0, 1.0 / 362880.0, -1.0 / 39916800.0


@jitable
def _cos_core(x):
    """cos of ``|x| <= COS_SMALL_MAX`` in float64, to about 2^-33 relative (NaN beyond, and for inf and NaN)."""
    inside = abs(x) <= COS_SMALL_MAX  # (false for NaN)
    xc = x if inside else 0.0
    t = xc * _INV_PIO2 + _SHIFT
    n = f64_bits(t) - _SHIFT_BITS  # round(x / (pi/2))
    k = t - _SHIFT
    r = (((xc - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3) - k * _PIO2_3T  # |r| <= pi/4
    z = r * r
    c = 1.0 + z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * _C5))))
    s = r + r * z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * _S5))))
    q = n & 3  # cos(x) = cos(r), -sin(r), -cos(r), sin(r)
    y = c if (q & 1) == 0 else s
    y = -y if (q == 1) | (q == 2) else y
    return y if inside else np.nan


@jitable
def _cos_small32(x):
    return np.float32(_cos_core(np.float64(x)))


@jitable
def _cos_small64(x):
    # libm's: plain float64 arithmetic after the reduction above comes to 2.3 ulp, over the promised 2
    x = np.float64(x)
    return math.cos(x) if abs(x) <= COS_SMALL_MAX else np.nan


def cos_small(x):
    """``cos(x)`` for ``|x| <= COS_SMALL_MAX`` (65536); float32 vectorisable and within 1 ulp.

    A float32 argument is reduced by ``pi/2`` in float64, in four parts
    (exact products for ``|x| / (pi/2) < 2^20``, hence the bounded range),
    then two polynomials and selects, rounded once: the learning-rate
    schedules call it on ``[0, pi]``. A float64 argument goes to libm's
    ``cos`` (a scalar call; this reduction in plain float64 reached 2.3 ulp).
    A larger ``|x|``, an infinity or NaN gives NaN: never a wrong number.

    Parameters
    ----------
    x : float32 or float64 scalar (other numbers are taken as float64)

    Returns
    -------
    Same float type

    Examples
    --------
    >>> float(cos_small(np.float64(np.pi)))
    -1.0
    >>> cos_small(np.float32(0.0)), bool(np.isnan(cos_small(1e6)))
    (np.float32(1.0), True)
    """
    return _cos_small32(x) if isinstance(x, np.float32) else _cos_small64(x)


_compiled_by_dtype(cos_small, _cos_small32, _cos_small64)
