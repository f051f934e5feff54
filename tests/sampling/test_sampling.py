"""Tests for monolith_np.sampling and the counter-based RNG in monolith_np._random.

Layers: the RNG rule against a masked Python-int reference (compiled and as
plain Python); parity with TF transcriptions of the original ops
(tests/reference/ref_sampling.py) on hypothesis-drawn inputs; distribution
tests (chi-square, Kolmogorov-Smirnov, Plackett-Luce frequencies) on fixed
seeds, so they are deterministic; determinism, layout, dtype and error tests.
"""

from __future__ import annotations

import doctest
import importlib.util
import inspect
import math
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from monolith_np import _random, sampling
from monolith_np.sampling import EPSILON, continuous_topk, gumbel_keys, sample_subset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from ref_sampling import (  # noqa: E402
    ref_continuous_topk,
    ref_continuous_topk_exact,
    ref_gumbel_keys,
    ref_random_bits64,
    ref_uniform01_float32,
    uniforms_from_gumbel_keys,
)

_NO_TF = importlib.util.find_spec("tensorflow") is None


def needs_tf(test):
    """Mark a test that compares with the TF reference (skipped without TensorFlow)."""
    return pytest.mark.tf(pytest.mark.skipif(_NO_TF, reason="needs TensorFlow")(test))


SEEDS = [0, 1, 12345, 2**63, 2**64 - 1]


def uniforms(seed, size, offset=0):
    """The compiled CPU path's float32 uniforms for counters ``offset .. offset + size - 1``.

    Read back exactly from float64 Gumbel keys of zeros (the public kernel), so
    the test suite compiles (and caches) no kernels of its own.
    """
    keys = gumbel_keys(np.zeros(offset + size), seed)[offset:]
    return uniforms_from_gumbel_keys(keys)


def _plain(fn, *args):
    """Evaluate a rule as plain Python; numpy warns on the (intended) uint64 wrap-around."""
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args)


# ---------------------------------------------------------------------------
# Counter-based RNG.
# ---------------------------------------------------------------------------

COUNTERS = list(range(3000)) + [2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]


@pytest.mark.parametrize("seed", SEEDS)
def test_rng_compiled_matches_masked_python_reference(seed):
    np.testing.assert_array_equal(uniforms(seed, 3000), ref_uniform01_float32(seed, range(3000)))


@pytest.mark.parametrize("seed", [0, 2**64 - 1])
def test_rng_rule_as_plain_python_matches_reference_and_compiled(seed):
    s = np.uint64(seed)
    bits = [int(_plain(_random.random_bits64, s, np.uint64(c))) for c in COUNTERS]
    assert bits == [ref_random_bits64(seed, c) for c in COUNTERS]
    u32 = np.array([_plain(_random.uniform01_float32, s, np.uint64(c)) for c in range(300)])
    assert u32.dtype == np.float32
    np.testing.assert_array_equal(u32, uniforms(seed, 300))


def test_mix64_plain_python_is_a_64_bit_bijection_sample():
    xs = [0, 1, 2, 2**63, 2**64 - 1, 0x0123456789ABCDEF]
    got = [int(_plain(_random.mix64, np.uint64(x))) for x in xs]
    assert len(set(got)) == len(xs) and all(0 <= g < 2**64 for g in got)
    assert got[0] == 0  # the SplitMix64 finalizer fixes 0; random_bits64 salts the seed


def test_uniform_scaling_dtype_and_range():
    s = np.uint64(5)
    for dtype in (np.float32, np.float64):
        lo, hi = dtype(-2.0), dtype(3.0)
        vals = [_plain(_random.uniform, s, np.uint64(c), lo, hi) for c in range(2000)]
        assert all(type(v) is dtype for v in vals)
        assert -2.0 <= min(vals) and max(vals) < 3.0
        expect = ref_uniform01_float32(5, range(2000)).astype(dtype) * (hi - lo) + lo
        np.testing.assert_array_equal(np.array(vals, dtype), expect)


def test_uniforms_range_and_grid():
    u = uniforms(7, 1 << 16)
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    np.testing.assert_array_equal(u * 2**24, np.round(u * 2**24))  # multiples of 2**-24


@pytest.mark.parametrize("seed", [0, 99])
def test_uniforms_chi_square_1d_and_pairs(seed):
    u = uniforms(seed, 1 << 18).astype(np.float64)
    counts = np.bincount((u * 256).astype(int), minlength=256)
    assert stats.chisquare(counts).pvalue > 1e-4
    # Consecutive counters are independent: 16x16 histogram of (u[2i], u[2i+1]).
    cells = (u[0::2] * 16).astype(int) * 16 + (u[1::2] * 16).astype(int)
    assert stats.chisquare(np.bincount(cells, minlength=256)).pvalue > 1e-4


def test_uniform_streams_of_nearby_seeds_are_uncorrelated():
    a, b = uniforms(0, 1 << 16), uniforms(1, 1 << 16)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02
    assert not np.array_equal(a[1:], b[:-1])
    # A shifted window of the same stream is the same numbers (counter = position).
    np.testing.assert_array_equal(uniforms(0, 100, offset=50), a[50:150])


def test_mix64_compiles_to_ptx_without_a_gpu():
    cuda = pytest.importorskip("numba.cuda")
    from numba import types

    try:
        ptx, _ = cuda.compile_ptx(_random.mix64, (types.uint64,), device=True, cc=(8, 0))
    except Exception as err:  # NVVM missing on this machine
        pytest.skip(f"compile_ptx unavailable: {err}")
    assert "mul.lo.s64" in ptx or "mul.lo.u64" in ptx


# ---------------------------------------------------------------------------
# Gumbel keys.
# ---------------------------------------------------------------------------


@st.composite
def float_arrays(draw, max_batch=2, max_n=8, dtype=np.float32):
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=max_batch))
    shape = tuple(batch) + (draw(st.integers(1, max_n)),)
    kind = draw(st.sampled_from(["moderate", "ties", "large"]))
    if kind == "ties":
        elements = st.sampled_from([-1.0, 0.0, 0.5, 2.0])
    elif kind == "large":
        elements = st.sampled_from([-3e4, -1e4, 0.0, 1e4, 1.00001e4, 3e4])
    else:
        elements = st.floats(-30, 30, width=32, allow_subnormal=False)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@needs_tf
@settings(max_examples=25)
@given(w=float_arrays(), seed=st.integers(0, 2**64 - 1))
def test_gumbel_keys_match_tf_given_our_uniforms(w, seed):
    got = gumbel_keys(w, seed)
    assert got.dtype == w.dtype and got.shape == w.shape
    r = ref_uniform01_float32(seed, range(w.size)).reshape(w.shape)
    np.testing.assert_allclose(got, ref_gumbel_keys(w, r), rtol=1e-6, atol=2e-6)


@needs_tf
def test_gumbel_keys_float64_uses_the_same_uniforms():
    w = np.linspace(-3, 3, 50)
    got = gumbel_keys(w, 11)
    assert got.dtype == np.float64
    r = uniforms(11, 50)
    np.testing.assert_allclose(got, ref_gumbel_keys(w, r), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gumbel_keys(w.astype(np.float32), 11), got, rtol=1e-6, atol=2e-6)


def test_gumbel_noise_is_standard_gumbel():
    z = gumbel_keys(np.zeros(1 << 17, np.float32), seed=2024).astype(np.float64)
    assert stats.kstest(z, stats.gumbel_r.cdf).pvalue > 1e-3
    assert abs(z.mean() - np.euler_gamma) < 0.02 and abs(z.var() - np.pi**2 / 6) < 0.05


def test_gumbel_keys_seeds():
    w = np.zeros((4, 5), np.float32)
    np.testing.assert_array_equal(gumbel_keys(w, 3), gumbel_keys(w, 3))
    assert not np.array_equal(gumbel_keys(w, 3), gumbel_keys(w, 4))
    assert not np.array_equal(gumbel_keys(w), gumbel_keys(w))  # fresh seeds
    assert np.array_equal(gumbel_keys(w, np.uint64(2**64 - 1)), gumbel_keys(w, 2**64 - 1))


@needs_tf
def test_gumbel_keys_depend_on_flat_index_only():
    w = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    ref = gumbel_keys(w, 9)
    np.testing.assert_array_equal(gumbel_keys(w.reshape(6, 4), 9), ref.reshape(6, 4))
    np.testing.assert_array_equal(gumbel_keys(w.reshape(-1), 9), ref.reshape(-1))
    # Row r of a batch draws counters r*n .. r*n + n - 1.
    rows = w.reshape(6, 4)
    for r in range(6):
        expect = ref_gumbel_keys(rows[r], uniforms(9, 4, offset=4 * r))
        np.testing.assert_allclose(ref.reshape(6, 4)[r], expect, rtol=1e-6, atol=2e-6)


def test_gumbel_keys_non_contiguous_and_not_mutated():
    base = np.random.default_rng(1).standard_normal((6, 8)).astype(np.float32)
    keep = base.copy()
    for view in (base[:, ::2], base.T, np.asfortranarray(base)):
        np.testing.assert_array_equal(gumbel_keys(view, 5), gumbel_keys(np.ascontiguousarray(view), 5))
    np.testing.assert_array_equal(base, keep)


def test_gumbel_keys_empty_and_lists():
    assert gumbel_keys(np.zeros((0, 3), np.float32), 1).shape == (0, 3)
    out = gumbel_keys([0.0, 1.0], 1)
    assert out.dtype == np.float64 and out.shape == (2,)


# ---------------------------------------------------------------------------
# Continuous top-k.
# ---------------------------------------------------------------------------


def assert_rows_match(got, refs, rtol, atol):
    """Every row of ``got`` is close to the same row of one of ``refs``.

    ``refs`` holds TF in the working precision and a more precise evaluation.
    Where a one-hot is a few ulps below 1, TF's ``1 - onehot`` is mostly
    rounding noise and ours (computed without the cancellation) follows the
    precise one; where a one-hot rounds to exactly 1, both mask it with
    ``EPSILON`` as TF does, which a more precise evaluation may not.
    """
    n = np.shape(got)[-1]
    got = np.asarray(got, np.float64).reshape(-1, n)
    refs = [np.asarray(r, np.float64).reshape(-1, n) for r in refs]
    for r in range(got.shape[0]):
        if not any(np.allclose(got[r], ref[r], rtol=rtol, atol=atol) for ref in refs):
            raise AssertionError(f"row {r}: {got[r]} matches none of {[ref[r] for ref in refs]}")


@needs_tf
@settings(max_examples=40)
@given(w=float_arrays(), k=st.integers(1, 5), t=st.floats(0.05, 5.0), separate=st.booleans())
def test_continuous_topk_matches_tf(w, k, t, separate):
    got = continuous_topk(w, k, t, separate=separate)
    ref = ref_continuous_topk(w, k, t, separate=separate)
    ref64 = ref_continuous_topk(w.astype(np.float64), k, float(np.float32(t)), separate=separate)
    if separate:
        assert isinstance(got, list) and len(got) == k
        got, ref, ref64 = np.stack(got), np.stack(ref), np.stack(ref64)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert_rows_match(got, [ref, ref64], rtol=1e-4, atol=1e-5)


@needs_tf
@settings(max_examples=15)
@given(w=float_arrays(dtype=np.float64), k=st.integers(1, 5), t=st.floats(0.05, 5.0))
def test_continuous_topk_float64_matches_tf(w, k, t):
    got = continuous_topk(w, k, t)
    assert got.dtype == np.float64
    refs = [ref_continuous_topk(w, k, t), ref_continuous_topk_exact(w, k, t)]
    assert_rows_match(got, refs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype, lead, tol", [(np.float32, 17.0, 1e-5), (np.float64, 25.0, 1e-12)])
def test_continuous_topk_leading_element_without_cancellation(dtype, lead, tol):
    # Round 1 gives the leading element a one-hot within a few ulps of 1, so
    # 1 - onehot computed as such has a large relative error; round 2 at t = 1
    # gives that element back about half the mass, and the error would show.
    w = np.array([lead, 0.0, 0.0, 0.0], dtype)
    got = continuous_topk(w, 2, 1.0)
    np.testing.assert_allclose(got, ref_continuous_topk_exact(w, 2, 1.0), rtol=tol, atol=tol)


@needs_tf
@pytest.mark.parametrize("dtype, lead", [(np.float32, 20.0), (np.float64, 40.0)])
def test_continuous_topk_onehot_of_exactly_one_is_masked_like_tf(dtype, lead):
    # exp(-lead) is below the dtype's resolution next to 1: round 1's one-hot
    # rounds to exactly [1, 0] and the mask is EPSILON, so round 2 picks the
    # other element (the exact computation would split round 2 evenly).
    w = np.array([lead, 0.0], dtype)
    got = continuous_topk(w, 2, 1.0)
    np.testing.assert_array_equal(got, ref_continuous_topk(w, 2, 1.0))
    np.testing.assert_array_equal(got, [1.0, 1.0])
    np.testing.assert_allclose(ref_continuous_topk_exact(w, 2, 1.0), [1.5, 0.5], atol=1e-6)


def test_continuous_topk_golden_hard_limit():
    w = np.array([[1.0, 4.0, 2.0, 3.0], [0.0, -1.0, 5.0, 5.5]], np.float32)
    np.testing.assert_allclose(continuous_topk(w, 2, 0.01), [[0, 1, 0, 1], [0, 0, 1, 1]], atol=1e-6)
    np.testing.assert_allclose(continuous_topk(w, 3, 0.01).sum(-1), [3, 3], rtol=1e-6)


@needs_tf
@pytest.mark.parametrize("n, k", [(1, 1), (1, 4), (3, 5)])
def test_continuous_topk_k_may_exceed_row_length(n, k):
    w = np.arange(2 * n, dtype=np.float32).reshape(2, n)
    got = continuous_topk(w, k, 0.3)
    np.testing.assert_allclose(got.sum(-1), [k, k], rtol=1e-5)
    np.testing.assert_allclose(got, ref_continuous_topk(w, k, 0.3), rtol=1e-4, atol=1e-5)
    if n == 1:
        np.testing.assert_array_equal(got, np.full((2, 1), k, np.float32))


def test_continuous_topk_separate_rounds():
    w = np.random.default_rng(2).standard_normal((3, 2, 7)).astype(np.float32)
    rounds = continuous_topk(w, 4, 0.5, separate=True)
    assert len(rounds) == 4 and all(a.shape == w.shape and a.dtype == w.dtype for a in rounds)
    for a in rounds:
        np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(sum(rounds), continuous_topk(w, 4, 0.5), rtol=1e-6, atol=1e-7)


def test_continuous_topk_batched_equals_per_row_and_layouts():
    base = np.random.default_rng(3).standard_normal((5, 12)).astype(np.float32)
    keep = base.copy()
    batched = continuous_topk(base, 3, 0.2)
    for r in range(5):
        np.testing.assert_array_equal(continuous_topk(base[r], 3, 0.2), batched[r])
    np.testing.assert_array_equal(continuous_topk(base.reshape(5, 1, 12), 3, 0.2), batched.reshape(5, 1, 12))
    view = base[:, ::3]
    np.testing.assert_array_equal(continuous_topk(view, 2, 0.2), continuous_topk(view.copy(), 2, 0.2))
    np.testing.assert_array_equal(continuous_topk(base.T, 2, 0.2), continuous_topk(base.T.copy(), 2, 0.2))
    np.testing.assert_array_equal(base, keep)


def test_continuous_topk_float64_close_to_float32():
    w = np.random.default_rng(4).standard_normal((8, 30))
    np.testing.assert_allclose(continuous_topk(w.astype(np.float32), 5, 0.3), continuous_topk(w, 5, 0.3),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(0,), (0, 4), (3, 0), (2, 0, 5)])
def test_continuous_topk_empty(shape):
    w = np.zeros(shape, np.float32)
    assert continuous_topk(w, 2, 0.5).shape == shape
    assert [a.shape for a in continuous_topk(w, 2, 0.5, separate=True)] == [shape, shape]
    if shape[-1]:
        assert sample_subset(w, 2, seed=0).shape == shape
    else:  # no subset of 2 elements out of 0 exists
        with pytest.raises(ValueError, match=r"^k must be <= 0"):
            sample_subset(w, 2, seed=0)


@needs_tf
def test_continuous_topk_non_finite_like_tf():
    inf, nan = np.inf, np.nan
    w = np.array([[-inf, 0.0, 1.0, -inf], [0.0, nan, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0],
                  [0.0, inf, 1.0, 2.0], [-inf, -inf, -inf, -inf], [nan, 0.0, 1.0, 2.0]], np.float32)
    got = continuous_topk(w, 2, 0.5)
    np.testing.assert_allclose(got, ref_continuous_topk(w, 2, 0.5), rtol=1e-5, atol=1e-6)
    assert got[0, 0] == 0.0 and got[0, 3] == 0.0
    assert np.isfinite(got[[0, 2]]).all() and np.isnan(got[[1, 3, 4, 5]]).all()


# ---------------------------------------------------------------------------
# Subset sampling.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sample_subset_is_fused_composition(dtype):
    w = np.random.default_rng(5).standard_normal((4, 3, 9)).astype(dtype)
    got = sample_subset(w, 3, seed=17)
    assert got.dtype == dtype and got.shape == w.shape
    np.testing.assert_array_equal(got, continuous_topk(gumbel_keys(w, 17), 3, 0.1))
    np.testing.assert_array_equal(got, sample_subset(w, 3, 0.1, 17))
    assert not np.array_equal(got, sample_subset(w, 3, seed=18))
    assert not np.array_equal(sample_subset(w, 3), sample_subset(w, 3))


def test_sample_subset_non_contiguous():
    base = np.random.default_rng(6).standard_normal((6, 10)).astype(np.float32)
    view = base[::2, 1::2]
    np.testing.assert_array_equal(sample_subset(view, 2, seed=4), sample_subset(view.copy(), 2, seed=4))


def _top_k_sets(x, k):
    """The k largest entries of each row of a relaxed k-hot, as sorted index tuples."""
    return np.sort(np.argsort(-x, axis=-1, kind="stable")[:, :k], axis=-1)


def test_sample_subset_k1_argmax_follows_softmax():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    draws = 20000
    w = np.broadcast_to(np.log(p).astype(np.float32), (draws, 4))
    picked = np.argmax(sample_subset(w, 1, t=0.01, seed=31), axis=-1)
    counts = np.bincount(picked, minlength=4)
    assert stats.chisquare(counts, p * draws).pvalue > 1e-3


def test_sample_subset_k2_pairs_follow_plackett_luce():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    draws = 20000
    w = np.broadcast_to(np.log(p).astype(np.float32), (draws, 4))
    chosen = _top_k_sets(sample_subset(w, 2, t=0.01, seed=77), 2)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    idx = np.array([pairs.index(tuple(row)) for row in chosen.tolist()])
    counts = np.bincount(idx, minlength=len(pairs))
    # P({i, j}) = p_i p_j / (1 - p_i) + p_j p_i / (1 - p_j): either drawn first.
    expected = np.array([p[i] * p[j] * (1 / (1 - p[i]) + 1 / (1 - p[j])) for i, j in pairs])
    assert math.isclose(expected.sum(), 1.0)
    assert stats.chisquare(counts, expected * counts.sum()).pvalue > 1e-3


def test_sample_subset_small_t_selects_top_k_gumbel_keys():
    w = np.random.default_rng(8).standard_normal((500, 12)).astype(np.float32)
    k, seed = 3, 123
    keys = gumbel_keys(w, seed)
    order = np.sort(keys, axis=-1)[:, ::-1]
    # Away from near-ties among the first k + 1 keys (a near-tie inside the top k
    # splits a round between two elements, and the next round then picks a third).
    clear = (-np.diff(order[:, : k + 1], axis=-1) > 0.1).all(axis=-1)
    hard = np.zeros_like(w, dtype=bool)
    np.put_along_axis(hard, np.argsort(-keys, axis=-1)[:, :k], True, axis=-1)
    got = sample_subset(w, k, t=0.005, seed=seed) > 0.5
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(got[clear], hard[clear])


# ---------------------------------------------------------------------------
# Errors, docs.
# ---------------------------------------------------------------------------

W = np.zeros((2, 3), np.float32)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: gumbel_keys(np.zeros((2, 3), np.int64)), TypeError, r"^w must be float32 or float64, got int64"),
        (lambda: gumbel_keys(np.zeros(3, np.float16)), TypeError, r"^w must be float32 or float64, got float16"),
        (lambda: gumbel_keys(np.float32(1.0)), ValueError, r"^w must have at least 1 dimension"),
        (lambda: gumbel_keys(W, seed=-1), ValueError, r"^seed must be >= 0, got -1"),
        (lambda: gumbel_keys(W, seed=2**64), ValueError, r"^seed must be <= "),
        (lambda: gumbel_keys(W, seed=1.5), TypeError, r"^seed must be an integer"),
        (lambda: gumbel_keys(W, seed="1"), TypeError, r"^seed must be an integer"),
        (lambda: continuous_topk(W, 0, 0.1), ValueError, r"^k must be >= 1, got 0"),
        (lambda: continuous_topk(W, 2.5, 0.1), TypeError, r"^k must be an integer"),
        (lambda: continuous_topk(W, True, 0.1), TypeError, r"^k must be an integer"),
        (lambda: continuous_topk(W, 1, 0.0), ValueError, r"^t must be > 0"),
        (lambda: continuous_topk(W, 1, -1.0), ValueError, r"^t must be > 0"),
        (lambda: continuous_topk(W, 1, float("inf")), ValueError, r"^t must be a finite number > 0, got inf"),
        (lambda: continuous_topk(W, 1, float("nan")), ValueError, r"^t must not be NaN"),
        (lambda: continuous_topk(np.zeros(3, np.int32), 1, 0.1), TypeError, r"^w must be float32 or float64"),
        (lambda: sample_subset(W, -2), ValueError, r"^k must be >= 1, got -2"),
        (lambda: sample_subset(W, 4), ValueError, r"^k must be <= 3, the size of w's last axis"),
        (lambda: continuous_topk(W, 1, 0.1, separate="yes"), TypeError, r"^separate must be a bool, got str"),
        (lambda: sample_subset(W, 1, t=None), TypeError, r"^t must be a real number"),
        (lambda: sample_subset(W, 1, seed=-5), ValueError, r"^seed must be >= 0"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_epsilon_is_float32_tiny():
    assert EPSILON == np.float32(1.17549435e-38) and EPSILON.dtype == np.float32


@pytest.mark.parametrize("module", [sampling, _random])
def test_docstring_parameters_match_signatures(module):
    rules = [sampling.gumbel_key, sampling.continuous_topk_row, sampling.sample_subset_row]
    for obj in [getattr(module, name) for name in module.__all__] + (rules if module is sampling else []):
        if not callable(obj):
            continue
        name = obj.__name__
        doc = inspect.getdoc(obj)
        assert doc and "Parameters\n----------" in doc, name
        section = doc.split("Parameters\n----------\n", 1)[1].split("\n\n", 1)[0]
        documented = []
        for line in section.splitlines():
            if line and not line[0].isspace():  # a parameter line, not a description
                documented += [p.strip() for p in line.split(" :")[0].split(",")]
        assert documented == list(inspect.signature(obj).parameters), name


def test_guide_examples_run():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "sampling.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert len(blocks) >= 3
    assert all(name in guide for name in sampling.__all__)
    for block in blocks:
        exec(compile(block, "docs/sampling.md", "exec"), {})  # noqa: S102 - our own guide


def test_doctests():
    result = doctest.testmod(sampling, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
