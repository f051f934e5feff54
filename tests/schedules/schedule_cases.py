"""Shared by the schedule tests (CPU lane and CUDA-simulator lane).

* ``reference_module()`` imports ``tests/reference/ref_schedules.py`` (TF);
* ``assert_ulp_close`` compares float32 arrays in units in the last place;
* hypothesis strategies that draw each schedule's hyperparameters (as the
  keyword arguments shared by our class and its TF/Keras counterpart) and
  steps that include 0, the decay boundaries and huge steps up to ``2**40``;
* ``EXAMPLES``: fixed instances of every schedule for table-driven tests.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from monolith_np import schedules as S

_REFERENCE_DIR = str(Path(__file__).resolve().parents[1] / "reference")

BIG = 2**40


def reference_module():
    """Import ``tests/reference/ref_schedules.py`` (it imports TensorFlow)."""
    if _REFERENCE_DIR not in sys.path:
        sys.path.insert(0, _REFERENCE_DIR)
    return importlib.import_module("ref_schedules")


def ulp_distance(a, b):
    """Distance in float32 ulps (0 where both are NaN; huge where only one is)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    # map the sign-magnitude float order onto a monotone integer line
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    dist = np.abs(ia - ib)
    both_nan = np.isnan(a) & np.isnan(b)
    one_nan = np.isnan(a) ^ np.isnan(b)
    return np.where(both_nan, 0, np.where(one_nan, 2**40, dist))


#: TF runs its CPU kernels with denormals flushed to zero; results this small
#: (or computed through a subnormal intermediate) may be 0 in TF and not here.
TINY = 1e-30


def assert_ulp_close(actual, desired, max_ulp=1, context=""):
    """Assert float32 arrays agree to within ``max_ulp`` ulps (NaN matches NaN, values below TINY match)."""
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    dist = ulp_distance(actual, desired)
    with np.errstate(invalid="ignore"):
        dist = np.where(np.maximum(np.abs(actual), np.abs(desired)) < TINY, 0, dist)
    if dist.size and dist.max() > max_ulp:
        i = np.unravel_index(int(np.argmax(dist)), dist.shape)
        raise AssertionError(
            f"{context}: {int(dist.max())} ulps apart at {i}: got {actual[i]!r}, expected {desired[i]!r}"
        )


#: Smallest normal float32.
_F32_TINY = float(np.finfo(np.float32).tiny)
rates = st.floats(0.0, 10.0, allow_subnormal=False)
positive_rates = st.floats(1e-6, 10.0)
integral_steps = st.integers(1, 2**20)
real_steps = st.floats(0.5, 1e5)


@st.composite
def steps_near(draw, *marks, max_size=6):
    """A 1-D int64 array of steps: 0, the marks and their neighbours, random and huge steps."""
    specials = [0, 1, BIG, BIG + 3, 2**31 + 7]
    for m in marks:
        m = int(m)
        specials += [max(m - 1, 0), m, m + 1, 2 * m, 3 * m + 1]
    steps = draw(
        st.lists(st.one_of(st.sampled_from(specials), st.integers(0, 10**6), st.integers(0, BIG)),
                 min_size=1, max_size=max_size)
    )
    return np.array(steps, dtype=np.int64)


@st.composite
def polynomial_kwargs(draw):
    return dict(
        initial_learning_rate=draw(rates),
        decay_steps=draw(st.one_of(integral_steps, real_steps)),
        end_learning_rate=draw(st.one_of(st.just(0.0001), rates)),  # may exceed the initial rate
        # no float32-subnormal power: TF's CPU kernels flush it to 0 (x**0 = 1), we keep it (0**tiny = 0)
        power=draw(st.one_of(st.just(1.0), st.floats(0.0, 4.0).filter(lambda p: p == 0.0 or p >= _F32_TINY))),
        cycle=draw(st.booleans()),
    )


@st.composite
def rate_decay_kwargs(draw, decay_rates):
    """ExponentialDecay / InverseTimeDecay arguments."""
    return dict(
        initial_learning_rate=draw(rates),
        decay_steps=draw(st.one_of(integral_steps, real_steps)),
        decay_rate=draw(decay_rates),
        staircase=draw(st.booleans()),
    )


@st.composite
def piecewise_kwargs(draw):
    bounds = draw(st.lists(st.one_of(st.integers(0, 10**6), st.integers(0, 2**41)), min_size=1, max_size=5,
                           unique=True))
    bounds = sorted(bounds)
    values = draw(st.lists(rates, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return dict(boundaries=bounds, values=values)


@st.composite
def cosine_kwargs(draw):
    kwargs = dict(
        initial_learning_rate=draw(rates),
        decay_steps=draw(st.one_of(integral_steps, real_steps)),
        alpha=draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0))),
    )
    if draw(st.booleans()):
        kwargs["warmup_target"] = draw(rates)
        kwargs["warmup_steps"] = draw(st.one_of(st.integers(0, 10**4), st.floats(0.0, 1e4)))
    return kwargs


@st.composite
def cosine_restarts_kwargs(draw):
    return dict(
        initial_learning_rate=draw(rates),
        first_decay_steps=draw(st.one_of(st.integers(1, 10**4), st.floats(0.5, 1e4))),
        t_mul=draw(st.one_of(st.just(1.0), st.just(2.0), st.floats(0.3, 4.0))),
        m_mul=draw(st.one_of(st.just(1.0), st.floats(0.0, 1.5))),
        alpha=draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0))),
    )


def marks_of(kwargs):
    """Steps worth hitting exactly for these hyperparameters."""
    marks = [kwargs.get(k) for k in ("decay_steps", "first_decay_steps", "warmup_steps")]
    marks += list(kwargs.get("boundaries", []))
    return [m for m in marks if m is not None and m < 2**42]


#: (our class, Keras/TF reference name, kwargs strategy)
FAMILIES = [
    (S.PolynomialDecay, "polynomial_decay", polynomial_kwargs()),
    (S.ExponentialDecay, "ExponentialDecay", rate_decay_kwargs(st.floats(0.01, 1.5))),
    (S.InverseTimeDecay, "InverseTimeDecay", rate_decay_kwargs(st.floats(0.0, 5.0))),
    (S.PiecewiseConstantDecay, "PiecewiseConstantDecay", piecewise_kwargs()),
    (S.CosineDecay, "CosineDecay", cosine_kwargs()),
    (S.CosineDecayRestarts, "CosineDecayRestarts", cosine_restarts_kwargs()),
]

#: Fixed instances of every schedule (and a steps array that exercises them).
EXAMPLES = [
    S.PolynomialDecay(0.01, 10, end_learning_rate=0.11),
    S.PolynomialDecay(0.1, 7, end_learning_rate=0.001, power=0.5, cycle=True),
    S.PolynomialDecay(0.3, 7.5, end_learning_rate=0.0, power=2.3),
    S.ExponentialDecay(0.1, 7, decay_rate=0.93),
    S.ExponentialDecay(0.1, 7, decay_rate=0.93, staircase=True),
    S.InverseTimeDecay(0.1, 7, decay_rate=0.3, staircase=True),
    S.PiecewiseConstantDecay([3, 10, 2**31 + 7], [0.1, 0.05, 0.01, 0.3]),
    S.PiecewiseConstantDecay([], [0.25]),
    S.CosineDecay(0.1, 13, alpha=0.1),
    S.CosineDecay(0.1, 13, alpha=0.1, warmup_target=0.5, warmup_steps=5),
    S.CosineDecayRestarts(0.1, 3, alpha=0.1),
    S.CosineDecayRestarts(0.1, 3, t_mul=1.0, m_mul=0.7, alpha=0.1),
    S.CosineDecayRestarts(0.1, 3, t_mul=3.0, m_mul=0.7),
    S.CosineDecayRestarts(0.1, 3, t_mul=0.5),  # periods sum to 6 steps: NaN from step 6 on, as in Keras
    S.LinearWarmup(S.CosineDecay(0.5, 100), warmup_steps=8, initial_learning_rate=0.01),
    S.LinearWarmup(S.LinearWarmup(S.ExponentialDecay(1.0, 10, 0.5), 20), warmup_steps=5),
]

EXAMPLE_STEPS = np.array(
    [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 13, 14, 15, 19, 20, 21, 39, 99, 1000, 2**24 + 1, 2**31 + 7, 2**31 + 8,
     BIG, BIG + 3],
    dtype=np.int64,
)
