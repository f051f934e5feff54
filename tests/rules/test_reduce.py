"""The fixed-order reductions of ``monolith_np._rules.reduce``: their order is part of their contract."""

import numba
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from monolith_np._rules.reduce import as_type_of, lane_max, lane_sum

_sum = numba.njit(error_model="numpy")(lambda a: lane_sum(a))
_max = numba.njit(error_model="numpy")(lambda a: lane_max(a))


def _lanes_reference(a):
    """Eight running sums (lane k: a[k], a[k+8], ... in order), added pairwise, then the tail in order."""
    a = np.asarray(a, dtype=np.float64)
    m = a.size - a.size % 8
    lanes = np.zeros(8)
    for row in a[:m].reshape(-1, 8):
        lanes = lanes + row  # element-wise: each lane's running sum, in order
    total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
    for v in a[m:]:
        total += v
    return total


finite = st.floats(-1e300, 1e300, width=64)


@given(arrays(np.float64, st.integers(0, 100), elements=finite))
def test_lane_sum_has_its_documented_order(a):
    want = _lanes_reference(a)
    assert _sum(a) == want or (np.isnan(want) and np.isnan(_sum(a)))
    assert lane_sum(a) == _sum(a) or np.isnan(want)  # the Python definition is the same sum


@given(arrays(np.float32, st.integers(0, 100), elements=st.floats(-(2.0 ** 100), 2.0 ** 100, width=32)))
def test_lane_sum_of_float32_adds_in_float64(a):
    assert _sum(a) == _lanes_reference(a.astype(np.float64))


def test_lane_sum_is_closer_than_a_running_sum():
    a = np.full(1 << 20, 0.1)
    running = 0.0
    for v in a[:4096]:
        running += v
    assert abs(_sum(a[:4096]) - 409.6) <= abs(running - 409.6)
    assert abs(_sum(a) - 0.1 * (1 << 20)) < 1e-6


@given(arrays(np.float64, st.integers(1, 100), elements=st.floats(allow_nan=False, width=64)))
def test_lane_max_is_the_maximum(a):
    assert _max(a) == a.max()
    assert lane_max(a) == a.max()


@given(arrays(np.float32, st.integers(1, 40), elements=st.floats(allow_nan=False, width=32)))
def test_lane_max_keeps_the_dtype(a):
    got = _max(a)
    assert got == a.max() and np.float32(got) == got


_cast = numba.njit(error_model="numpy")(lambda v, like: as_type_of(v, like))


@given(st.floats(allow_nan=False, width=64), st.sampled_from([np.float32, np.float64]))
def test_as_type_of_rounds_to_the_like_dtype(v, dtype):
    like = dtype(1.0)
    with np.errstate(over="ignore"):
        want = dtype(v)
    assert type(as_type_of(v, like)) is dtype and as_type_of(v, like) == want
    assert _cast(v, like) == want  # numba boxes either float type as a Python float


def test_as_type_of_takes_integer_counts():
    assert _cast(3, np.float32(0.0)) == 3.0
    assert _cast(2**53 + 1, np.float64(0.0)) == 2.0**53
    assert _cast(2**24 + 1, np.float32(0.0)) == 2.0**24
