"""Counter-based random numbers, written once as rules (STYLE E).

A draw is a pure function of ``(seed, counter)``: no generator state, so a CPU
thread, a CUDA thread and plain Python all compute the same bits for the same
element, in any order. The counter is the element's flat (C-order) index in
the output, which makes a batched call and the same data split into pieces
agree as long as each piece is given its offset.

The hash is SplitMix64 (Steele, Lea & Flood 2014) used as a counter-based
generator: the seed is first scrambled by the SplitMix64 finalizer into a
stream key, then element ``c`` is ``mix64(key + c * GOLDEN)``, i.e. the
``c``-th output of a SplitMix64 stream started at ``key``. All integer
arithmetic is in ``np.uint64`` with every literal wrapped in ``np.uint64``:
numba turns uint64/int64 mixtures into float64 (STYLE pitfall 7). Under plain
Python the multiplications wrap with a numpy ``RuntimeWarning`` ("overflow
encountered"), which is harmless here; tests compare against a reference that
masks Python ints to 64 bits.

Floats come from the top bits: ``uniform01_float32`` uses 24 bits, so its
values are exact multiples of ``2**-24`` in ``[0, 1)`` and the conversion is
exact on every target.
"""

from __future__ import annotations

import numpy as np

from ._compile import jitable

__all__ = [
    "as_uint64",
    "mix64",
    "random_bits64",
    "uniform01_float32",
    "uniform",
]


@jitable
def as_uint64(x):
    """The bits of an int64 read as a uint64 (two's complement), in compiled code and in plain Python.

    Parameters
    ----------
    x : int64
        Any value, negative ones included.

    Returns
    -------
    np.uint64
        ``x mod 2**64``.
    """
    if x >= 0:
        return np.uint64(x)
    return np.uint64(x + np.int64(0x7FFFFFFFFFFFFFFF) + np.int64(1)) + np.uint64(0x8000000000000000)


@jitable
def mix64(x):
    """Scramble a uint64 with the SplitMix64 finalizer (a bijection on 64 bits).

    Parameters
    ----------
    x : np.uint64
        The value to scramble.

    Returns
    -------
    np.uint64
        ``x`` with every output bit depending on every input bit.
    """
    z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@jitable
def random_bits64(seed, counter):
    """Return 64 random bits for element ``counter`` of stream ``seed``.

    Parameters
    ----------
    seed : np.uint64
        The stream's seed.
    counter : np.uint64
        The element's position (its flat index in the output).

    Returns
    -------
    np.uint64
        ``mix64(mix64(seed ^ SALT) + counter * GOLDEN)``.
    """
    key = mix64(seed ^ np.uint64(0x6A09E667F3BCC909))
    return mix64(key + counter * np.uint64(0x9E3779B97F4A7C15))


@jitable
def uniform01_float32(seed, counter):
    """Return a float32 uniform in ``[0, 1)`` from the top 24 random bits.

    Parameters
    ----------
    seed, counter : np.uint64
        The stream's seed and the element's position, as in :func:`random_bits64`.

    Returns
    -------
    np.float32
        ``(bits >> 40) * 2**-24``: one of the ``2**24`` equally likely values
        ``j / 2**24``, computed exactly on every target.
    """
    bits = random_bits64(seed, counter) >> np.uint64(40)
    return np.float32(bits) * np.float32(5.9604644775390625e-08)


@jitable
def uniform(seed, counter, minval, maxval):
    """Return a uniform in ``[minval, maxval)`` the way TF's ``random_uniform`` does.

    Parameters
    ----------
    seed, counter : np.uint64
        As in :func:`random_bits64`.
    minval, maxval : float32 or float64 scalar
        The bounds; their dtype is the result's dtype.

    Returns
    -------
    float32 or float64 scalar
        ``r * (maxval - minval) + minval`` with ``r = uniform01_float32(seed,
        counter)``, like TF, which scales a ``[0, 1)`` draw the same way.
        (A GPU compiler may fuse the multiply-add; where ``maxval - minval`` is
        not exactly 1 the last bit can then differ from the CPU.)
    """
    r = uniform01_float32(seed, counter)
    return r * (maxval - minval) + minval

