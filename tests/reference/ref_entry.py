"""References for :mod:`monolith_np.entry` (SEMANTICS.md D.2-D.7).

- ``ref_half_bits``: a scalar pure-Python port of half 2.1.0's software
  ``float2half_impl`` (round to nearest even), the conversion Monolith's fp16
  compressor runs (it is built without F16C). numpy's ``astype(float16)`` is
  the vectorised peer (equal except for signaling-NaN payloads);
  ``tf_half_bits`` is TensorFlow's ``tf.cast``.
- ``ref_fixed_r8_encode`` / ``tf_fixed_r8_encode``: the FakeQuantizer in
  vectorised float32 numpy and in TensorFlow ops (NaN -> 0, saturating).
- ``ref_one_minus_square``: ``fmaf(-y, y, 1)`` with exact rational arithmetic.
- ``ref_hash_net_forward`` / ``ref_hash_net_backward``: HashNet in float32 numpy
  (``tanhf`` as float64 ``tanh`` rounded to float32) with the fused ``1 - y*y``.
- ``ref_uniform_rows``: the random-uniform initializer on the reference
  counter-based hash of ``ref_sampling``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from ref_sampling import _MASK, _mix64, ref_uniform01_float32


def _f32_bits(x):
    return int(np.float32(x).view(np.uint32))


def ref_half_bits(x):
    """half 2.1.0 ``float2half_impl<round_to_nearest>`` on one float32, as Python ints."""
    fbits = _f32_bits(x)
    sign = (fbits >> 16) & 0x8000
    fbits &= 0x7FFFFFFF

    def rounded(value, g, s):
        return value + (g & (s | value))

    if fbits >= 0x7F800000:
        return sign | 0x7C00 | ((0x200 | ((fbits >> 13) & 0x3FF)) if fbits > 0x7F800000 else 0)
    if fbits >= 0x47800000:
        return sign | 0x7C00
    if fbits >= 0x38800000:
        return rounded(sign | (((fbits >> 23) - 112) << 10) | ((fbits >> 13) & 0x3FF), (fbits >> 12) & 1,
                       int((fbits & 0xFFF) != 0))
    if fbits >= 0x33000000:
        i = 125 - (fbits >> 23)
        fbits = (fbits & 0x7FFFFF) | 0x800000
        return rounded(sign | (fbits >> (i + 1)), (fbits >> i) & 1, int((fbits & ((1 << i) - 1)) != 0))
    return sign


def tf_half_bits(x):
    """``tf.cast(x, tf.float16)`` as uint16 bit patterns."""
    import tensorflow as tf

    return tf.cast(tf.constant(np.asarray(x, np.float32)), tf.float16).numpy().view(np.uint16)


def ref_fixed_r8_encode(x, r):
    """FakeQuantizer::QuantizeToInteger in vectorised float32 numpy (saturating, NaN -> 0)."""
    x = np.asarray(x, np.float32)
    step = np.float32(r) / np.float32(128)
    half = step / np.float32(2)
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.where(x >= 0, x + half, x - half) / step
        q = np.clip(np.trunc(np.nan_to_num(t, nan=0.0)), -128, 127)
    return q.astype(np.int8)


def tf_fixed_r8_encode(x, r):
    """The same rule in TensorFlow float32 ops."""
    import tensorflow as tf

    x = tf.constant(np.asarray(x, np.float32))
    step = tf.constant(np.float32(r) / np.float32(128))
    half = step / 2.0
    t = tf.where(x >= 0, x + half, x - half) / step
    t = tf.where(tf.math.is_nan(t), tf.zeros_like(t), t)
    q = tf.clip_by_value(tf.where(t >= 0, tf.floor(t), tf.math.ceil(t)), -128.0, 127.0)
    return tf.cast(q, tf.int8).numpy()


def ref_fixed_r8_decode(q, r):
    """IntegerToFloat: ``float32(q) * step``."""
    step = np.float32(r) / np.float32(128)
    return np.asarray(q).astype(np.float32) * step


def ref_one_minus_square(y):
    """``fmaf(-y, y, 1)``: ``1 - y*y`` computed exactly, rounded once to float32 (ties to even)."""
    y = np.float32(y)
    if np.isnan(y):
        return np.float32(np.nan)
    v = 1 - Fraction(float(y)) ** 2
    f = np.float32(float(v))
    best = f
    for g in (np.nextafter(f, np.float32(-np.inf)), np.nextafter(f, np.float32(np.inf))):
        dg, db = abs(Fraction(float(g)) - v), abs(Fraction(float(best)) - v)
        if dg < db or (dg == db and int(g.view(np.uint32)) % 2 == 0):
            best = g
    return np.float32(best)


def _tanhf(x):
    """float32 tanh via float64 (numpy's own SIMD float32 tanh can be an ulp off libm's tanhf)."""
    return np.tanh(np.asarray(x, np.float32).astype(np.float64)).astype(np.float32)


def ref_hash_net_forward(x, amplitude, scale):
    """``amplitude * tanhf(scale * x)`` in float32 numpy."""
    x = np.asarray(x, np.float32)
    return np.float32(amplitude) * _tanhf(np.float32(scale) * x)


def ref_hash_net_backward(num, grad, amplitude, scale):
    """``grad * (amplitude * scale * fmaf(-y, y, 1))`` with ``y = tanhf(scale * num)``, float32."""
    num = np.asarray(num, np.float32)
    grad = np.asarray(grad, np.float32)
    y = _tanhf(np.float32(scale) * num)
    f = np.array([ref_one_minus_square(v) for v in y.ravel()], np.float32).reshape(y.shape)
    return grad * (np.float32(amplitude) * np.float32(scale) * f)


def ref_uniform_rows(seed, row_offset, rows, dim, minval, maxval):
    """Random-uniform rows: ``fl32(r * fl32(maxval - minval) + minval)``, ``r`` from the reference hash.

    Table row ``row`` draws from the stream ``seed ^ mix64(row)``, element ``c`` its draw ``c``.
    """
    lo, hi = np.float32(minval), np.float32(maxval)
    draws = [ref_uniform01_float32(int(seed) ^ _mix64((row_offset + r) & _MASK), range(dim)) for r in range(rows)]
    r = np.asarray(draws, np.float32).reshape(rows, dim).astype(np.float64)
    return (r * np.float64(hi - lo) + np.float64(lo)).astype(np.float32)
