"""Tests of :mod:`monolith_np.schedules` (CPU kernel).

Parity: every schedule is compared with its TF reference (``tests/reference/
ref_schedules.py``) on hypothesis-drawn hyperparameters and steps, one step at
a time on a scalar int64 tensor as Monolith evaluates its global step. On this
machine the results are bit-identical where both call the same libm ``powf``/
``logf`` on the same float32 operands; the cosine schedules use the library's
vectorisable ``cos`` (within 1 ulp of libm's ``cosf``, which TF calls), and the
assertion allows 1 ulp. TF's vectorised kernels (Eigen packet
math) differ from TF's own scalar results by 1-2 ulps, so the whole-tensor
comparison uses ``rtol=1e-6``. TF flushes subnormals to zero on the CPU and we
do not, so values below ``TINY`` (far below any learning rate) count as equal.
"""

from __future__ import annotations

import doctest
import inspect
import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monolith_np import schedules as S
from monolith_np._rules import schedules as R
from schedule_cases import (
    EXAMPLE_STEPS,
    EXAMPLES,
    FAMILIES,
    assert_ulp_close,
    marks_of,
    polynomial_kwargs,
    steps_near,
)

ALL_CLASSES = [
    S.PolynomialDecay,
    S.ExponentialDecay,
    S.InverseTimeDecay,
    S.PiecewiseConstantDecay,
    S.CosineDecay,
    S.CosineDecayRestarts,
    S.LinearWarmup,
]


def _reference(ref, ref_name, kwargs, steps, vectorized=False):
    if ref_name == "polynomial_decay":
        return ref.ref_polynomial_decay(steps, vectorized=vectorized, **kwargs)
    return ref.ref_keras(ref_name, steps, vectorized=vectorized, **kwargs)


# ---------------------------------------------------------------------------
# Golden numbers (SEMANTICS G.6 and F.6)
# ---------------------------------------------------------------------------


def test_golden_learning_rate_functions_basic():
    lr = S.PolynomialDecay(initial_learning_rate=0.01, decay_steps=10, end_learning_rate=0.11)
    np.testing.assert_allclose(lr(1), 0.02, atol=1e-6)
    np.testing.assert_allclose(lr(2), 0.03, atol=1e-6)
    lr2 = S.PolynomialDecay(initial_learning_rate=0.01, decay_steps=10, end_learning_rate=0.11)
    assert str(lr) == str(lr2)


def test_golden_dense_optimizer():
    """TF Adagrad (initial accumulator 0.1) with lr = PolynomialDecay(3.0 -> 11.0) at step 0, 3 steps."""
    lr = S.PolynomialDecay(initial_learning_rate=3.0, decay_steps=10, end_learning_rate=11.0)
    rate = lr(0)  # the original's global step never advances
    assert rate == np.float32(3.0)
    variables = [np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0], np.float32)]
    grads = [np.array([0.1, 0.1], np.float32), np.array([0.01, 0.01], np.float32)]
    accums = [np.full(2, 0.1, np.float32) for _ in variables]
    for _ in range(3):
        for var, acc, g in zip(variables, accums, grads):
            acc += g * g
            var -= g * rate / np.sqrt(acc)
    np.testing.assert_allclose(variables[0], [-1.6026098728179932, -0.6026098728179932], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(variables[1], [2.715679168701172, 3.715679168701172], rtol=1e-6, atol=1e-6)


def test_golden_norm_warmup():
    # NOTE 32: the warmed-up clip norm is 0 at step 0.
    assert S.norm_warmup(5.0, 0, 100) == 0.0
    assert S.norm_warmup(5.0, 50, 100) == np.float32(2.5)
    assert S.norm_warmup(5.0, 100, 100) == np.float32(5.0)
    assert S.norm_warmup(5.0, 0, None) == np.float32(5.0)
    assert S.norm_warmup(5.0, 0, 0) == np.float32(5.0)


# ---------------------------------------------------------------------------
# str / repr / equality
# ---------------------------------------------------------------------------


def test_str_format_exact():
    lr = S.PolynomialDecay(0.01, 10, end_learning_rate=0.11)
    assert str(lr) == (
        'LearningRateFunction("PolynomialDecay",Params:cycle=False,decay_steps=10,'
        "end_learning_rate=0.11,initial_learning_rate=0.01,name=None,power=1.0)"
    )
    assert str(S.PolynomialDecay(0.5, 3.0, 0.0, 2, True, "warm")) == (
        'LearningRateFunction("PolynomialDecay",Params:cycle=True,decay_steps=3.0,'
        "end_learning_rate=0.0,initial_learning_rate=0.5,name=warm,power=2)"
    )


@pytest.mark.parametrize("schedule", EXAMPLES, ids=lambda s: type(s).__name__)
def test_instance_dict_holds_only_constructor_arguments(schedule):
    params = [p for p in inspect.signature(type(schedule).__init__).parameters if p != "self"]
    assert sorted(vars(schedule)) == sorted(params)
    schedule(EXAMPLE_STEPS)  # calling caches nothing on the instance
    schedule(3)
    assert sorted(vars(schedule)) == sorted(params)


@pytest.mark.parametrize("schedule", EXAMPLES, ids=lambda s: type(s).__name__)
def test_equality_hash_and_repr_round_trip(schedule):
    twin = eval(repr(schedule), vars(S))  # noqa: S307 - our own repr
    assert twin == schedule and hash(twin) == hash(schedule) and str(twin) == str(schedule)
    assert twin is not schedule
    other = S.PolynomialDecay(0.123, 4)
    assert (other == schedule) is (str(other) == str(schedule))
    assert schedule != "not a schedule"


def test_linear_warmup_str_nests_the_wrapped_schedule():
    inner = S.ExponentialDecay(1.0, 10, 0.5)
    assert str(S.LinearWarmup(inner, 4)) == (
        f'LearningRateFunction("LinearWarmup",Params:initial_learning_rate=0.0,schedule={inner},warmup_steps=4)'
    )


def test_base_class_is_abstract():
    with pytest.raises(TypeError):
        S.LearningRateFunction()


@pytest.mark.tf
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(initial_learning_rate=0.01, decay_steps=10, end_learning_rate=0.11),
        dict(initial_learning_rate=3.0, decay_steps=10, end_learning_rate=11.0),
        dict(initial_learning_rate=0.1, decay_steps=7.5, end_learning_rate=0.0, power=2.0, cycle=True, name="x"),
        dict(initial_learning_rate=1, decay_steps=100, power=0.5),
    ],
)
def test_str_and_values_match_the_original(original, ref, kwargs):
    ours = S.PolynomialDecay(**kwargs)
    theirs = original.PolynomialDecay(**kwargs)
    assert str(ours) == str(theirs)
    steps = np.array([0, 1, 7, 8, 10, 11, 23, 2**31 + 7])
    if isinstance(kwargs["initial_learning_rate"], int):
        return  # TF computes in int32 for an int rate; we document float32
    assert_ulp_close(ours(steps), ref.ref_original(theirs, steps), 0, "original PolynomialDecay")


# ---------------------------------------------------------------------------
# Parity with TF / Keras
# ---------------------------------------------------------------------------


@pytest.mark.tf
@pytest.mark.parametrize("cls, ref_name, kwargs_strategy", FAMILIES, ids=[f[1] for f in FAMILIES])
@settings(max_examples=30)
@given(data=st.data())
def test_matches_tf_step_by_step(ref, cls, ref_name, kwargs_strategy, data):
    kwargs = data.draw(kwargs_strategy, label="kwargs")
    steps = data.draw(steps_near(*marks_of(kwargs)), label="steps")
    with np.errstate(all="ignore"):
        ours = cls(**kwargs)(steps)
        assert ours.dtype == np.float32 and ours.shape == steps.shape
        assert_ulp_close(ours, _reference(ref, ref_name, kwargs, steps), 1, f"{cls.__name__}({kwargs})")
        # the scalar path runs the same compiled rule
        assert_ulp_close(cls(**kwargs)(int(steps[0])), ours[0], 0, "scalar path")


@pytest.mark.tf
@settings(max_examples=15)
@given(kwargs=polynomial_kwargs(), steps=st.lists(st.integers(0, 2**40), min_size=1, max_size=64))
def test_polynomial_decay_matches_vectorised_tf(ref, kwargs, steps):
    steps = np.array(steps, dtype=np.int64)
    with np.errstate(all="ignore"):
        ours = S.PolynomialDecay(**kwargs)(steps)
        expected = ref.ref_polynomial_decay(steps, vectorized=True, **kwargs)
    scale = max(kwargs["initial_learning_rate"], kwargs["end_learning_rate"])
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-7 * scale)


@pytest.mark.tf
@settings(max_examples=20)
@given(
    clip_norm=st.floats(0.0, 100.0),
    warmup_steps=st.one_of(st.none(), st.just(0), st.integers(1, 10**6)),
    data=st.data(),
)
def test_norm_warmup_matches_tf(ref, clip_norm, warmup_steps, data):
    steps = data.draw(steps_near(*([warmup_steps] if warmup_steps else [])))
    expected = ref.ref_norm_warmup(clip_norm, steps, warmup_steps)
    assert_ulp_close(S.norm_warmup(clip_norm, steps, warmup_steps), expected, 1, "norm_warmup")
    assert_ulp_close(S.norm_warmup(clip_norm, int(steps[0]), warmup_steps), expected[0], 1, "norm_warmup scalar")


@pytest.mark.tf
@settings(max_examples=15)
@given(
    warmup_steps=st.integers(0, 10**4),
    start=st.floats(0.0, 1.0),
    inner=st.sampled_from([
        ("ExponentialDecay", dict(initial_learning_rate=0.5, decay_steps=300, decay_rate=0.9)),
        ("CosineDecay", dict(initial_learning_rate=0.5, decay_steps=3000, alpha=0.1)),
    ]),
    data=st.data(),
)
def test_linear_warmup_matches_tf_formula(ref, warmup_steps, start, inner, data):
    name, kwargs = inner
    steps = data.draw(steps_near(warmup_steps))
    ours = S.LinearWarmup(getattr(S, name)(**kwargs), warmup_steps, initial_learning_rate=start)(steps)
    expected = ref.ref_linear_warmup(name, kwargs, steps, warmup_steps, initial_learning_rate=start)
    assert_ulp_close(ours, expected, 1, "LinearWarmup")


# ---------------------------------------------------------------------------
# Semantics that need no TF
# ---------------------------------------------------------------------------


def test_polynomial_warmup_direction_and_cycle():
    up = S.PolynomialDecay(0.0, 4, end_learning_rate=1.0)
    np.testing.assert_array_equal(up(np.arange(7)), np.float32([0, 0.25, 0.5, 0.75, 1, 1, 1]))
    cyc = S.PolynomialDecay(1.0, 4, end_learning_rate=0.0, cycle=True)
    # the cycle length becomes 4 * ceil(step / 4): step 4 ends cycle 1, step 5 is 3/8 of the way down
    np.testing.assert_array_equal(cyc(np.array([0, 4, 5, 8, 9])), np.float32([1, 0, 1 - 5 / 8, 0, 1 - 9 / 12]))


def test_linear_warmup_semantics():
    inner = S.PolynomialDecay(1.0, 100, end_learning_rate=0.0)
    wrapped = S.LinearWarmup(inner, warmup_steps=10, initial_learning_rate=0.1)
    steps = np.arange(0, 120)
    out = wrapped(steps)
    target = inner(10)
    np.testing.assert_allclose(out[:10], 0.1 + (target - 0.1) * np.arange(10) / 10, rtol=1e-6)
    np.testing.assert_array_equal(out[10:], inner(steps[10:]))  # unshifted after the warm-up
    assert wrapped(10) == target  # continuous at the boundary
    np.testing.assert_array_equal(S.LinearWarmup(inner, 0)(steps), inner(steps))


def test_linear_warmup_wraps_a_python_schedule():
    class Halving(S.LearningRateFunction):
        def __init__(self, every):
            self.every = every

        def __call__(self, global_step):
            return 1.0 / 2.0 ** (np.asarray(global_step) // self.every)

    wrapped = S.LinearWarmup(Halving(4), warmup_steps=4)
    np.testing.assert_array_equal(wrapped(np.arange(10)), np.float32([0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5, 0.5,
                                                                       0.25, 0.25]))
    assert wrapped(2) == np.float32(0.25)


def test_piecewise_boundaries_are_inclusive_upper_bounds():
    lr = S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    np.testing.assert_array_equal(lr(np.array([0, 10, 11, 20, 21, 2**40])), np.float32([1, 1, 0.5, 0.5, 0.1, 0.1]))
    # fractional boundaries are truncated like Keras' cast to the step dtype
    frac = S.PiecewiseConstantDecay([-0.5, 1.7], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(frac(np.arange(4)), np.float32([1, 2, 3, 3]))
    np.testing.assert_array_equal(S.PiecewiseConstantDecay([], [0.25])(np.array([0, 2**62])), np.float32([0.25] * 2))
    huge = S.PiecewiseConstantDecay([2**63 + 5.0], [1.0, 2.0])  # beyond int64: never crossed
    assert huge(2**63 - 1) == 1.0


def test_cosine_decay_restarts_periods():
    lr = S.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
    # periods [0, 10), [10, 30), [30, 70): each restart starts at m_mul ** i
    np.testing.assert_allclose(lr(np.array([0, 10, 30, 70])), [1.0, 0.5, 0.25, 0.125], rtol=1e-6)
    np.testing.assert_allclose(lr(np.array([5, 20, 50])), [0.5, 0.25, 0.125], rtol=1e-5)


@pytest.mark.parametrize("schedule", EXAMPLES, ids=lambda s: type(s).__name__)
def test_compiled_kernel_matches_the_python_rule(schedule):
    """The rule run as plain Python (the simulator / NUMBA_DISABLE_JIT path) agrees with the kernel."""
    entry, fparams, iparams, table = schedule._kernel_args()
    inner = schedule.schedule(EXAMPLE_STEPS) if isinstance(schedule, S.LinearWarmup) else None  # the wrapped rate
    inner = np.zeros(EXAMPLE_STEPS.shape, np.float32) if inner is None else inner
    with np.errstate(all="ignore"):
        python = np.array([entry(s, v, fparams, iparams, table) for s, v in zip(EXAMPLE_STEPS, inner)],
                          dtype=np.float32)
    assert_ulp_close(schedule(EXAMPLE_STEPS), python, 1, type(schedule).__name__)


# ---------------------------------------------------------------------------
# Arrays: shapes, dtypes, strides, scalars
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                                   np.uint64])
def test_integer_dtypes_and_shape_preserved(dtype):
    lr = S.CosineDecay(0.5, 100)
    steps = np.arange(24).reshape(2, 3, 4).astype(dtype)
    before = steps.copy()
    out = lr(steps)
    assert out.dtype == np.float32 and out.shape == (2, 3, 4) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, lr(steps.astype(np.int64)))
    np.testing.assert_array_equal(steps, before)  # input untouched


def test_non_contiguous_steps():
    lr = S.PolynomialDecay(0.1, 50, power=2.0)
    base = np.arange(200, dtype=np.int64).reshape(10, 20)
    readonly = base.copy()
    readonly.setflags(write=False)
    for view in (base[:, ::3], base.T, base[::-2, 1::2], base[:, 5], np.broadcast_to(base[0], (3, 20)), readonly):
        np.testing.assert_array_equal(lr(view), lr(np.array(view, order="C")))


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 0, 2)])
@pytest.mark.parametrize("schedule", EXAMPLES[::3], ids=lambda s: type(s).__name__)
def test_empty_steps(schedule, shape):
    out = schedule(np.zeros(shape, dtype=np.int64))
    assert out.shape == shape and out.dtype == np.float32
    assert S.norm_warmup(1.0, np.zeros(shape, np.int32), 3).shape == shape


def test_scalar_kinds():
    lr = S.ExponentialDecay(1.0, 10, 0.5)
    for step in (7, np.int64(7), np.int32(7), np.uint64(7)):
        out = lr(step)
        assert type(out) is np.float32 and out == lr(np.array([7]))[0]
    zero_d = lr(np.array(7))
    assert isinstance(zero_d, np.ndarray) and zero_d.shape == () and zero_d == lr(7)
    np.testing.assert_array_equal(lr([0, 10, 20]), np.float32([1, 0.5, 0.25]))
    assert type(S.norm_warmup(2.0, 3, 4)) is np.float32


def test_huge_steps():
    lr = S.PolynomialDecay(1.0, 2**40, end_learning_rate=0.0)
    assert lr(2**40) == 0.0 and lr(2**63 - 1) == 0.0
    assert lr(np.array([2**62], np.uint64)) == 0.0


needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="inspects compiled dispatchers")


@needs_jit
def test_no_recompilation():
    """One compiled specialisation per schedule serves every integer step dtype and shape."""
    small = EXAMPLE_STEPS[EXAMPLE_STEPS < 2**15]
    for schedule in EXAMPLES:
        schedule(small.astype(np.int32))
        schedule(5)
    S.norm_warmup(1.0, EXAMPLE_STEPS, 5)
    S.norm_warmup(1.0, 5, 5)
    kernels = [k for s in EXAMPLES for k in S.cpu_kernels(s._kernel_args()[0])]
    kernels += S.cpu_kernels(S.norm_warmup_at)
    before = [len(k.signatures) for k in kernels]
    assert min(before) >= 1
    for schedule in EXAMPLES:
        schedule(small.astype(np.uint16)[:, None])
        schedule(small.astype(np.int64)[::2])
        schedule(np.int8(3))
    S.norm_warmup(1.0, small.astype(np.uint8), 5)
    assert [len(k.signatures) for k in kernels] == before


_CACHE_SCRIPT = """
import numpy as np, sys
sys.path.insert(0, {cases!r})
from schedule_cases import EXAMPLES, EXAMPLE_STEPS
from monolith_np import schedules as S
from monolith_np._rules import schedules as R
np.save(sys.argv[1], np.stack([s(EXAMPLE_STEPS) for s in EXAMPLES]))
hits = sum(sum(k.stats.cache_hits.values()) for s in EXAMPLES for k in S.cpu_kernels(s._kernel_args()[0]))
print(hits)
"""


@needs_jit
def test_kernel_cache_round_trip(tmp_path):
    """A second process replays every cached kernel and gets the same numbers (closures keyed apart)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = _CACHE_SCRIPT.format(cases=str(Path(__file__).resolve().parent))
    env = dict(os.environ, MONOLITH_NP_CACHE_DIR=str(tmp_path / "cache"), MONOLITH_NP_CACHE="1")
    runs = []
    for name in ("first", "second"):
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"{name}.npy")], env=env,
                             capture_output=True, text=True, check=True)
        runs.append((int(out.stdout.split()[-1]), np.load(tmp_path / f"{name}.npy")))
    (hits_first, first), (hits_second, second) = runs
    assert hits_first == 0 and hits_second > 0
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, np.stack([s(EXAMPLE_STEPS) for s in EXAMPLES]))


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: S.PolynomialDecay(0.1, 0), ValueError, "decay_steps must be > 0.0, got 0.0"),
        (lambda: S.PolynomialDecay(0.1, -5), ValueError, "decay_steps must be > 0.0, got -5.0"),
        (lambda: S.PolynomialDecay(-0.1, 10), ValueError, "initial_learning_rate must be >= 0.0, got -0.1"),
        (lambda: S.PolynomialDecay(0.1, 10, end_learning_rate=-1), ValueError, "end_learning_rate must be >= 0.0"),
        (lambda: S.PolynomialDecay(0.1, 10, power=-1.0), ValueError, "power must be >= 0.0, got -1.0"),
        (lambda: S.PolynomialDecay(math.nan, 10), ValueError, "initial_learning_rate must not be NaN"),
        (lambda: S.PolynomialDecay("0.1", 10), TypeError, "initial_learning_rate must be a real number, got str"),
        (lambda: S.PolynomialDecay(0.1, 10, name=3), TypeError, "name must be a string or None, got int 3"),
        (lambda: S.ExponentialDecay(0.1, 10, 0.0), ValueError, "decay_rate must be > 0.0, got 0.0"),
        (lambda: S.ExponentialDecay(0.1, 0, 0.5), ValueError, "decay_steps must be > 0.0"),
        (lambda: S.InverseTimeDecay(0.1, 10, -0.5), ValueError, "decay_rate must be >= 0.0, got -0.5"),
        (lambda: S.PiecewiseConstantDecay([10, 10], [1.0, 2.0, 3.0]), ValueError,
         "boundaries must be strictly increasing, got [10, 10]"),
        (lambda: S.PiecewiseConstantDecay([20, 10], [1.0, 2.0, 3.0]), ValueError, "strictly increasing"),
        (lambda: S.PiecewiseConstantDecay([10], [1.0]), ValueError,
         "values must have len(boundaries) + 1 = 2 entries, got 1"),
        (lambda: S.PiecewiseConstantDecay([10], [1.0, -2.0]), ValueError, "values[1] must be >= 0.0, got -2.0"),
        (lambda: S.PiecewiseConstantDecay([math.nan], [1.0, 2.0]), ValueError, "boundaries[0] must not be NaN"),
        (lambda: S.CosineDecay(0.1, 0), ValueError, "decay_steps must be > 0.0"),
        (lambda: S.CosineDecay(0.1, 10, alpha=-0.1), ValueError, "alpha must be >= 0.0, got -0.1"),
        (lambda: S.CosineDecay(0.1, 10, warmup_target=-1.0), ValueError, "warmup_target must be >= 0.0"),
        (lambda: S.CosineDecay(0.1, 10, warmup_target=1.0, warmup_steps=-1), ValueError,
         "warmup_steps must be >= 0.0, got -1.0"),
        (lambda: S.CosineDecayRestarts(0.1, 0), ValueError, "first_decay_steps must be > 0.0"),
        (lambda: S.CosineDecayRestarts(0.1, 10, t_mul=0.0), ValueError, "t_mul must be > 0.0, got 0.0"),
        (lambda: S.CosineDecayRestarts(0.1, 10, m_mul=-1.0), ValueError, "m_mul must be >= 0.0"),
        (lambda: S.LinearWarmup(lambda s: 0.1, 10), TypeError, "schedule must be a LearningRateFunction, got function"),
        (lambda: S.LinearWarmup(S.PolynomialDecay(0.1, 10), -1), ValueError, "warmup_steps must be >= 0, got -1"),
        (lambda: S.LinearWarmup(S.PolynomialDecay(0.1, 10), 2.5), TypeError, "warmup_steps must be an integer"),
        (lambda: S.LinearWarmup(S.PolynomialDecay(0.1, 10), 5, -0.1), ValueError,
         "initial_learning_rate must be >= 0.0"),
        (lambda: S.norm_warmup(-1.0, 3, 10), ValueError, "clip_norm must be >= 0.0, got -1.0"),
        (lambda: S.norm_warmup(1.0, 3, -10), ValueError, "warmup_steps must be >= 0, got -10"),
        (lambda: S.norm_warmup(1.0, 3, 2.5), TypeError, "warmup_steps must be an integer"),
    ],
)
def test_bad_hyperparameters(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message in str(info.value)


@pytest.mark.parametrize(
    "step, error, message",
    [
        (-1, ValueError, "global_step must be >= 0, got -1"),
        (np.array([3, -2, 5]), ValueError, "global_step must be >= 0, got a minimum of -2"),
        (2**63, ValueError, "global_step must be <= 2**63 - 1, got 9223372036854775808"),
        (np.array([2**63], np.uint64), ValueError, "global_step must be <= 2**63 - 1, got a maximum of"),
        (3.0, TypeError, "global_step must be a non-negative integer or integer array, got float 3.0"),
        (np.float32(3), TypeError, "got float32 3.0"),
        (True, TypeError, "global_step must be a non-negative integer or integer array, got bool True"),
        (np.array([1.0, 2.0]), TypeError,
         "global_step must be a signed integer or unsigned integer array, got float64"),
        (np.array([True]), TypeError, "got bool"),
        ("7", TypeError, "global_step must be a signed integer or unsigned integer array"),
    ],
)
@pytest.mark.parametrize("call", [S.PolynomialDecay(0.1, 10), lambda s: S.norm_warmup(1.0, s, 5),
                                  S.LinearWarmup(S.CosineDecay(0.1, 10), 3)], ids=["schedule", "norm", "warmup"])
def test_bad_steps(call, step, error, message):
    with pytest.raises(error) as info:
        call(step)
    assert message in str(info.value)


def test_attributes_are_revalidated_at_call_time():
    lr = S.PolynomialDecay(0.1, 10)
    lr.decay_steps = 0
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        lr(3)


@needs_jit
def test_leaf_rules_compile_to_ptx():
    """Self-contained rules compile for a real GPU (sm_80) with no GPU present (STYLE B, pitfall 3).

    Rules that call other jitable helpers need a driver to compile, so only the
    leaves are covered here; the CUDA-simulator lane runs every kernel.
    """
    try:
        from numba import cuda
        from numba import types as T
    except ImportError:
        pytest.skip("numba-cuda is not installed")
    f32, i64, f64 = T.float32, T.int64, T.float64
    leaves = {
        R._floor32: (f32,), R._ceil32: (f32,), R._log32: (f32,), R._pow32: (f32, f32),  # (_cos32 calls vmath)
        R.piecewise_constant_rule: (i64, T.Array(i64, 1, "C"), T.Array(f32, 1, "C")),
        R.norm_warmup_rule: (i64, f64, i64),
    }
    for rule, sig in leaves.items():
        ptx, restype = cuda.compile_ptx(rule, sig, device=True, cc=(8, 0))
        assert restype == f32 and ".visible .func" in ptx, rule.__name__


def test_docstring_examples():
    result = doctest.testmod(S, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0
