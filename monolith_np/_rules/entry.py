"""Entry-component rules: initializers, compressors and quantizers.

Every formula of :mod:`monolith_np.entry` is written once here as a plain
Python function over scalars. The CPU drivers
(:mod:`monolith_np.entry._cpu`) compile them with
:func:`monolith_np._compile.cpu_jit` inside ``prange`` loops;
:mod:`monolith_np.cuda.entry` compiles the very same functions as CUDA device
functions inside grid-stride kernels. Drivers validate nothing and allocate
nothing: :mod:`monolith_np.entry` checks the arguments and passes outputs in.

Bit-exactness across targets
----------------------------
* fp16 conversion works on the raw bit patterns with integer arithmetic only
  (the drivers receive ``float32`` arrays viewed as ``uint32``), so the CPU, the
  GPU and plain Python produce identical bits.
* fixed_r8 is float32 addition, division and truncation: no multiply-add that a
  GPU compiler could contract, so also identical.
* Random-uniform initialisation draws ``r`` (a multiple of ``2**-24``) from
  :func:`monolith_np._random.uniform` with bounds ``(0, width)`` in float64,
  where the product ``r * width`` of two 24-bit significands is exact; adding
  ``minval`` then rounds once in float64 whether or not the compiler fuses the
  multiply-add, and the store rounds to float32. CPU and GPU agree bit for bit.
* HashNet's fused ``1 - y*y`` is computed exactly in float64 (see
  :func:`one_minus_square_fused`).
* one_bit / HashNet go through ``tanhf``, which differs by an ulp or two
  between libm, CUDA's libdevice and the simulator (which uses Python's double
  ``math.tanh``); encode only looks at the sign and is exact everywhere.
"""

from __future__ import annotations

import math

import numpy as np
from .._compile import jitable
from .._random import as_uint64, mix64, uniform

# ---------------------------------------------------------------------------
# Initializers
# ---------------------------------------------------------------------------


@jitable
def init_value(random, seed, counter, low, width):
    """Initial value of one element.

    Parameters
    ----------
    random : bool
        False: the constant ``low``. True: a uniform draw in ``[low, low + width]``.
    seed, counter : np.uint64
        Stream seed and the element's counter (its flat index in the table).
    low, width : float64
        ``minval`` (or the constant) and ``maxval - minval`` (computed in float32).

    Returns
    -------
    float64
        ``low`` or ``r * width + low`` with ``r`` the 24-bit uniform of
        ``(seed, counter)``; the caller's store rounds it to the table dtype.
    """
    if random:
        return uniform(seed, counter, 0.0, width) + low
    return low


@jitable
def init_row_seed(seed, row_offset, row_ids, r):
    """Stream seed of row ``r``: ``seed ^ mix64(row)``; its elements are that stream's draws 0, 1, ...

    ``row`` is ``row_offset + r`` when ``row_ids`` is empty (consecutive table
    rows), else ``row_ids[r]`` (an int64 id read as uint64), so an
    embedding-table entry draws the same values whatever its storage row.
    ``mix64`` is a bijection, so two rows never share a stream (a counter
    ``row * dim + column`` would wrap modulo 2**64 and give, e.g., ids 0 and
    ``-2**63`` the same values at any even ``dim``).
    """
    if row_ids.size:
        return seed ^ mix64(as_uint64(row_ids[r]))
    return seed ^ mix64(row_offset + np.uint64(r))


# ---------------------------------------------------------------------------
# fp16: half 2.1.0's software float<->half conversion, on bits
# ---------------------------------------------------------------------------


@jitable
def fp32_to_fp16_bits(bits):
    """Convert float32 bits to IEEE binary16 bits, rounding to nearest even.

    Parameters
    ----------
    bits : unsigned integer
        The float32 bit pattern.

    Returns
    -------
    int64
        The binary16 bit pattern (0..0xFFFF): overflow (``|x| >= 65520``) gives
        infinity, values below ``2**-25`` in magnitude give a signed zero,
        subnormals are rounded to nearest even, NaN keeps its top 10 payload
        bits and gets the quiet bit set (as half 2.1.0's ``float2half_impl``).
    """
    # Every case is computed and the right one selected (no branch), so a loop over an array vectorises.
    f = np.int64(bits)
    sign = (f >> 16) & 0x8000
    f = f & 0x7FFFFFFF
    # normal half
    value = sign | (((f >> 23) - 112) << 10) | ((f >> 13) & 0x3FF)
    sticky = np.int64((f & 0xFFF) != 0)
    normal = value + (((f >> 12) & 1) & (sticky | value))  # the carry may round up to inf
    # subnormal half (or rounds up to the smallest normal); the shift is clamped to where it is used
    i = min(max(125 - (f >> 23), np.int64(1)), np.int64(24))
    m = (f & 0x7FFFFF) | 0x800000
    value = sign | (m >> (i + 1))
    sticky = np.int64((m & ((np.int64(1) << i) - 1)) != 0)
    subnormal = value + (((m >> i) & 1) & (sticky | value))
    nan = sign | 0x7C00 | 0x200 | ((f >> 13) & 0x3FF)
    out = sign  # underflow to a signed zero
    out = subnormal if f >= 0x33000000 else out
    out = normal if f >= 0x38800000 else out
    out = sign | 0x7C00 if f >= 0x47800000 else out  # |x| >= 65536: overflow; and inf
    return nan if f > 0x7F800000 else out


@jitable
def fp16_to_fp32_bits(bits):
    """Convert binary16 bits to float32 bits exactly.

    Parameters
    ----------
    bits : unsigned integer
        The binary16 bit pattern.

    Returns
    -------
    int64
        The float32 bit pattern; NaN payloads are kept as they are (like half
        2.1.0's table conversion and numpy).
    """
    h = np.int64(bits) & 0xFFFF
    sign = (h & 0x8000) << 16
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0x1F:
        return sign | 0x7F800000 | (m << 13)
    if e != 0:
        return sign | ((e + 112) << 23) | (m << 13)
    if m == 0:
        return sign
    e = np.int64(113)  # subnormal: normalise
    while (m & 0x400) == 0:
        m = m << 1
        e -= 1
    return sign | (e << 23) | ((m & 0x3FF) << 13)


# ---------------------------------------------------------------------------
# fixed_r8: FakeQuantizer, "qat8"
# ---------------------------------------------------------------------------


@jitable
def fixed_r8_encode(x, step, half_step):
    """Quantise one float32 to an int8 level of a fixed range.

    Parameters
    ----------
    x : float32
        The value.
    step, half_step : float32
        ``r / 128`` and ``step / 2``, computed in float32.

    Returns
    -------
    int64
        ``trunc((x +- half_step) / step)`` (sign of ``x``; ``-0.0`` counts as
        non-negative) clamped to ``[-128, 127]``; NaN gives 0, and infinities or
        huge values saturate (the original's float-to-int conversion is
        undefined there).
    """
    if x != x:
        return 0
    if x >= np.float32(0.0):
        x = x + half_step
    else:
        x = x - half_step
    t = x / step
    if t >= np.float32(127.0):
        return 127
    if t <= np.float32(-128.0):
        return -128
    return int(t)


@jitable
def fixed_r8_decode(q, step):
    """``float32(q) * step`` (the original's ``IntegerToFloat``)."""
    return np.float32(q) * step


# ---------------------------------------------------------------------------
# one_bit and HashNet
# ---------------------------------------------------------------------------


@jitable
def tanh32(x):
    """float32 ``tanh`` (rounded to float32 also when run as plain Python)."""
    return np.float32(math.tanh(x))


@jitable
def one_minus_square_fused(y):
    """``1 - y*y`` rounded once to float32, as ``fmaf(-y, y, 1)`` computes it.

    The original's compiler contracts ``1.f - y * y`` into one fused
    multiply-add. numba
    has no float32 ``fma``, so the value is formed in float64: ``y*y`` is exact
    there (two 24-bit significands) and ``1 - y*y`` is rounded to float64, then
    to float32. Rounding twice could differ from rounding once only if the
    float64 result fell exactly halfway between two float32 values without
    being exact; ``tests/entry/test_compressors.py`` checks every float32 ``y``
    where that is possible (``2**-13 <= |y| < 2**-2``) and finds none, so this
    equals ``fmaf`` for every float32 input. A GPU compiler fusing the float64
    multiply-add changes nothing either (the product is exact).

    Parameters
    ----------
    y : float32
        A value with ``|y| <= 1`` (a ``tanh``), or NaN.

    Returns
    -------
    float32
        The correctly rounded ``1 - y*y``.
    """
    yd = np.float64(y)
    return np.float32(1.0 - yd * yd)


@jitable
def hash_net_forward(x, amplitude, scale):
    """HashNet forward ``amplitude * tanh(scale * x)`` in float32."""
    return amplitude * tanh32(scale * x)


@jitable
def hash_net_backward(num, grad, amplitude, scale):
    """HashNet backward: ``grad * (amplitude * scale * (1 - y*y))``, ``y = tanh(scale * num)``.

    Parameters
    ----------
    num : float32
        The stored (full-precision) value.
    grad : float32
        The incoming gradient.
    amplitude, scale : float32
        The quantizer's amplitude and current scale.

    Returns
    -------
    float32
        The transformed gradient, with ``1 - y*y`` fused as in the original.
    """
    y = tanh32(scale * num)
    return grad * (amplitude * scale * one_minus_square_fused(y))


@jitable
def one_bit_encode(x, amplitude, scale):
    """``1`` if ``amplitude * tanh(scale * x) > 0`` (float32) else ``-1``."""
    if hash_net_forward(x, amplitude, scale) > np.float32(0.0):
        return 1
    return -1


@jitable
def one_bit_decode(q, amplitude):
    """``float32(q) * amplitude``."""
    return np.float32(q) * amplitude


