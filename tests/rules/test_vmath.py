"""Accuracy and special values of the vectorisable ``exp``/``log``/``log1p`` (``monolith_np._rules.vmath``).

The bounds the module promises, checked against references that are
more accurate than the functions tested:

- float32: at most 1 ulp from the exact value, using libm's float64
  result as the reference (its error is about 2^-29 of a float32 ulp). CI
  runs a dense sample of the float32 bit patterns (every 251st pattern,
  17.1M inputs per function). ``MONOLITH_NP_VMATH_EXHAUSTIVE=1`` sweeps all
  2^32 (a few minutes per function).
- float64: at most 2 ulp over 10^7 samples per function (random bit
  patterns over all finite values, the working range, subnormals, and the
  overflow and underflow edges), against numpy's ``longdouble`` result (64-bit
  mantissa: 2^-11 of a float64 ulp).
- Zeros, infinities, NaN and the edges give numpy's values; the Python
  definitions (the CUDA simulator and ``NUMBA_DISABLE_JIT`` run them) give
  the same bits as the compiled ones.
"""

import math
import os
import re

import numba
import numpy as np
import pytest
from numba import prange

from monolith_np._rules import vmath

FUNCS = {"exp": (vmath.exp, np.exp), "log": (vmath.log, np.log), "log1p": (vmath.log1p, np.log1p)}

EXHAUSTIVE = os.environ.get("MONOLITH_NP_VMATH_EXHAUSTIVE") == "1"


def _kernels(f, ref):
    """``(apply, sweep)``: ``f`` over an array, and the worst float32 ulp error over a strided bit-pattern range."""

    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])

    @numba.njit(error_model="numpy", parallel=True)
    def sweep(start, stop, step, parts):
        worst = np.zeros(parts, np.float64)
        at = np.zeros(parts, np.int64)
        count = (stop - start + step - 1) // step
        for p in prange(parts):
            for j in range(p * count // parts, (p + 1) * count // parts):
                bits = np.uint32(start + j * step)
                x = np.array([bits], np.uint32).view(np.float32)[0]
                want = ref(np.float64(x))
                got = np.float64(f(x))
                if not (want - want == 0.0):  # inf or NaN: checked apart (numpy's specials)
                    continue
                if abs(want) >= 3.4028234663852886e38:  # overflows float32: the result must be inf
                    err = 0.0 if abs(got) == np.inf and (got > 0) == (want > 0) else np.inf
                else:
                    a = max(abs(want), 1.1754943508222875e-38)  # float32's ulp at the reference (subnormal floor)
                    e = math.floor(math.log2(a))
                    ulp = 2.0 ** (max(e, -126) - 23)
                    err = abs(got - want) / ulp
                if err > worst[p]:
                    worst[p] = err
                    at[p] = bits
        k = np.argmax(worst)
        return worst[k], at[k]

    return apply, sweep


_KERNELS = {}


def kernels(name):
    """The :func:`_kernels` of ``vmath.<name>`` against ``math.<name>`` (``cos_small``: ``math.cos``, ``log1p_unit``:
    ``math.log1p``)."""
    if name not in _KERNELS:
        ref = {"cos_small": "cos", "log1p_unit": "log1p"}.get(name, name)
        _KERNELS[name] = _kernels(getattr(vmath, name), getattr(math, ref))
    return _KERNELS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FUNCS))
def test_float32_within_one_ulp(name):
    _, sweep = kernels(name)
    step = 1 if EXHAUSTIVE else 251
    worst, at = sweep(0, 1 << 32, step, 64)
    x = np.array([at], np.uint32).view(np.float32)[0]
    assert worst <= 1.0, f"{name}({x!r}) is {worst:.3f} ulp off"


def _float64_samples(name, n, seed=0):
    """``n`` float64 inputs: random finite bit patterns, the working range, subnormals, the edges."""
    rng = np.random.default_rng(seed)
    q = n // 4 + 1
    bits = rng.integers(0, 0x7FF0000000000000, q, dtype=np.int64).view(np.float64)
    bits = bits * np.where(rng.random(q) < 0.5, -1.0, 1.0)
    sub = rng.integers(1, 1 << 52, q, dtype=np.int64).view(np.float64) * np.where(rng.random(q) < 0.5, -1.0, 1.0)
    if name == "exp":
        work = rng.uniform(-745.2, 709.8, q)
        near = rng.uniform(-1.0, 1.0, q) * 10.0 ** rng.uniform(-20, 0, q)
        edges = np.concatenate([np.linspace(709.0, 709.79, 1000), np.linspace(-708.5, -745.2, 100_000)])
    elif name == "log":
        work = np.exp(rng.uniform(-745, 709, q))
        near = 1.0 + rng.uniform(-0.3, 0.42, q) * 10.0 ** rng.uniform(-16, 0, q)
        edges = np.array([np.finfo(np.float64).max, np.finfo(np.float64).tiny, 5e-324, 1.0, 2.0, 0.5])
    else:
        work = np.expm1(rng.uniform(-40, 709, q))
        near = rng.uniform(-1.0, 1.0, q) * 10.0 ** rng.uniform(-320, 0, q)
        edges = np.concatenate([-1.0 + np.finfo(np.float64).eps * np.arange(1, 1000), np.array([-0.5, 1e-300])])
    out = np.concatenate([bits, sub, work, near, edges])
    return out[np.isfinite(out)]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FUNCS))
def test_float64_within_two_ulp(name):
    _, ref = FUNCS[name]
    apply, _ = kernels(name)
    x = _float64_samples(name, 10_000_000)
    got = np.empty_like(x)
    apply(x, got)
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.longdouble))
    finite = np.isfinite(want) & (np.abs(want) <= np.finfo(np.float64).max)
    # beyond float64's range the result must be inf (exp) with the right sign
    assert np.all(np.isinf(got[~finite & ~np.isnan(want)]))
    a = np.maximum(np.abs(want[finite]), np.finfo(np.float64).smallest_subnormal)
    ulp = np.ldexp(np.longdouble(1), np.maximum(np.frexp(a.astype(np.float64))[1] - 1, -1022) - 52)
    err = np.abs(got[finite].astype(np.longdouble) - want[finite]) / ulp
    k = int(np.argmax(err))
    assert float(err[k]) <= 2.0, f"{name}({x[finite][k]!r}) is {float(err[k]):.3f} ulp off"
    assert x.size >= 10_000_000


SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 2.0, 0.5, 1e-45, -1e-45, 1e-310, -1e-310,
            88.72, 88.73, -87.3, -103.9, -104.0, 709.78, 709.79, -745.1, -745.2, 3.4e38, -3.4e38, 1.7e308,
            -1.7e308, 5e-324, -5e-324]


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_as_numpy(name, dtype):
    _, ref = FUNCS[name]
    apply, _ = kernels(name)
    with np.errstate(all="ignore"):
        x = np.array(SPECIALS, dtype=dtype)
        want = ref(x)
    got = np.empty_like(x)
    apply(x, got)
    same_class = (np.isnan(got) == np.isnan(want)) & (np.isinf(got) == np.isinf(want)) & ((got == 0) == (want == 0))
    assert np.all(same_class), list(zip(x[~same_class], got[~same_class], want[~same_class]))
    special = np.isinf(want) | (want == 0)
    np.testing.assert_array_equal(got[special], want[special])
    assert np.all(np.signbit(got[special]) == np.signbit(want[special]))


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_definition_matches_compiled_bits(name, dtype):
    f, _ = FUNCS[name]
    apply, _ = kernels(name)
    rng = np.random.default_rng(3)
    with np.errstate(all="ignore"):
        x = np.concatenate([np.array(SPECIALS), rng.standard_normal(400) * 30, np.exp(rng.uniform(-700, 700, 400)),
                            rng.integers(0, 0x7FF0000000000000, 400, dtype=np.int64).view(np.float64)]).astype(dtype)
        if name == "exp":
            x = x[np.abs(x) < 1000]
    got = np.empty_like(x)
    apply(x, got)
    with np.errstate(all="ignore"):
        python = np.array([f(v) for v in x], dtype=dtype)
    assert python.dtype == dtype
    np.testing.assert_array_equal(python.view(f"u{np.dtype(dtype).itemsize}"), got.view(f"u{np.dtype(dtype).itemsize}"))


@pytest.mark.parametrize("name", list(FUNCS))
def test_result_type_follows_the_argument(name):
    f, _ = FUNCS[name]

    @numba.njit
    def both(a, b):
        return f(a), f(b)

    both(np.float32(0.5), 0.5)
    assert str(both.nopython_signatures[0].return_type) == "Tuple(float32, float64)"
    assert isinstance(f(np.float32(0.5)), np.float32) and isinstance(f(0.5), np.float64)


def test_loops_over_the_functions_vectorise():
    """A loop over each function compiles to packed (SIMD) arithmetic: no scalar libm call per element."""
    cases = [(name, dtype) for name in FUNCS for dtype in (np.float32, np.float64)] + [("cos_small", np.float32),
                                                                                        ("log1p_unit", np.float32)]
    for name, dtype in cases:
        apply, _ = kernels(name)
        x = np.ones(4, dtype)
        apply(x, x.copy())
        sig = next(s for s in apply.signatures if s[0].dtype == numba.from_dtype(dtype))
        assert len(re.findall(r"\bv(?:mul|add|sub)p[sd]\b", apply.inspect_asm(sig))) >= 10, (name, dtype)


# -- cos_small: float32 and float64 on |x| <= COS_SMALL_MAX, NaN beyond ---------------------------------


@pytest.mark.slow
def test_cos_small_float32_within_one_ulp():
    top = int(np.array([vmath.COS_SMALL_MAX], np.float32).view(np.uint32)[0]) + 1  # bit patterns of [0, max]
    step = 1 if EXHAUSTIVE else 61
    _, sweep = kernels("cos_small")
    worst, at = sweep(0, top, step, 64)  # cos is even: the negative patterns are the same values
    x = np.array([at], np.uint32).view(np.float32)[0]
    assert worst <= 1.0, f"cos_small({x!r}) is {worst:.3f} ulp off"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cos_small_outside_its_range_is_nan_and_python_matches_compiled(dtype):
    x = np.array([0.0, -0.0, 1.0, -3.0, np.pi, 65536.0, -65536.0, 65537.0, 1e6, np.inf, -np.inf, np.nan], dtype)
    got = np.empty_like(x)
    kernels("cos_small")[0](x, got)
    inside = np.abs(x) <= vmath.COS_SMALL_MAX
    assert np.all(np.isnan(got[~inside])) and not np.any(np.isnan(got[inside]))
    np.testing.assert_allclose(got[inside], np.cos(x[inside].astype(np.float64)), rtol=2e-7 if dtype == np.float32
                               else 0)  # float64: libm's cos
    python = np.array([vmath.cos_small(v) for v in x], dtype)
    np.testing.assert_array_equal(python.view(f"u{x.itemsize}"), got.view(f"u{x.itemsize}"))


# -- log1p_unit: log1p on [0, 1] (float32: its own series; float64: log1p), NaN beyond ----------------------


@pytest.mark.slow
def test_log1p_unit_float32_within_one_ulp():
    top = int(np.array([1.0], np.float32).view(np.uint32)[0]) + 1  # the bit patterns of [0, 1]
    step = 1 if EXHAUSTIVE else 61
    _, sweep = kernels("log1p_unit")
    worst, at = sweep(0, top, step, 64)
    x = np.array([at], np.uint32).view(np.float32)[0]
    assert worst <= 1.0, f"log1p_unit({x!r}) is {worst:.3f} ulp off"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_unit_is_log1p_inside_nan_outside_and_python_matches_compiled(dtype):
    rng = np.random.default_rng(5)
    x = np.concatenate([[0.0, -0.0, 1.0, 1e-45, 1e-30, 0.5, np.nextafter(1.0, 2.0), -1e-30, -0.5, 2.0, np.inf,
                         -np.inf, np.nan], rng.random(500), np.exp(rng.uniform(-100, 0, 500))]).astype(dtype)
    got = np.empty_like(x)
    kernels("log1p_unit")[0](x, got)
    inside = (x >= 0) & (x <= 1)
    assert np.all(np.isnan(got[~inside])) and not np.any(np.isnan(got[inside]))
    want = np.log1p(x[inside].astype(np.float64))
    if dtype == np.float64:
        np.testing.assert_array_equal(got[inside], [vmath.log1p(v) for v in x[inside]])  # the general function
    else:
        np.testing.assert_allclose(got[inside], want, rtol=1.2e-7, atol=0)
    assert np.all(np.signbit(got[x == 0]) == np.signbit(x[x == 0]))  # log1p(-0) is -0
    python = np.array([vmath.log1p_unit(v) for v in x], dtype)
    np.testing.assert_array_equal(python.view(f"u{x.itemsize}"), got.view(f"u{x.itemsize}"))
