"""Initializers of monolith_np.entry (SEMANTICS D.7, golden values G.3)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monolith_np.entry import (
    BatchSoftmaxInitializer,
    ConstantsInitializer,
    OnesInitializer,
    RandomUniformInitializer,
    ZerosInitializer,
    initializer_from_config,
)
from monolith_np.proto import InitializerConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from ref_entry import ref_uniform_rows  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


def test_golden_random_uniform_basic():
    """The original's test: d=1000 in [-1, 1] has max > 0.9 and min < 0.9."""
    row = RandomUniformInitializer(-1.0, 1.0, seed=0)(1, 1000)[0]
    assert row.max() > 0.9 and row.min() < 0.9
    assert row.min() >= -1.0 and row.max() <= 1.0


def test_golden_initializer_combination():
    """constants(1, 3) + constants(2, 4) -> [3, 4, 4]: each segment fills its own columns."""
    table = np.empty((1, 3), np.float32)
    ConstantsInitializer(3.0).initialize(table[:, :1])
    ConstantsInitializer(4.0).initialize(table[:, 1:])
    assert table.tolist() == [[3.0, 4.0, 4.0]]


def test_constant_initializers():
    assert np.array_equal(ZerosInitializer()(3, 2), np.zeros((3, 2), np.float32))
    assert np.array_equal(OnesInitializer()(2, 2), np.ones((2, 2), np.float32))
    assert np.array_equal(ConstantsInitializer(0.1)(1, 2), np.full((1, 2), 0.1, np.float32))
    assert np.array_equal(ConstantsInitializer(None)(1, 2), np.zeros((1, 2), np.float32))
    assert np.array_equal(BatchSoftmaxInitializer(2.5)(2, 1), np.full((2, 1), 2.5, np.float32))
    out = ConstantsInitializer(0.1)(1, 1, dtype=np.float64)
    assert out.dtype == np.float64 and out[0, 0] == np.float64(np.float32(0.1))


@given(st.integers(0, 2**64 - 1), st.integers(0, 10**6), st.integers(0, 6), st.integers(0, 5),
       st.sampled_from([(-0.05, 0.05), (-1.0, 1.0), (0.0, 1e-3), (2.0, 2.0), (-3.0, 7.5)]))
def test_random_uniform_matches_reference(seed, row_offset, rows, dim, bounds):
    init = RandomUniformInitializer(*bounds, seed=seed)
    got = init(rows, dim, row_offset=row_offset)
    assert got.shape == (rows, dim) and got.dtype == np.float32
    assert np.array_equal(got, ref_uniform_rows(seed, row_offset, rows, dim, *bounds))
    assert ((got >= np.float32(bounds[0])) & (got <= np.float32(bounds[1]))).all()


def test_random_uniform_batches_equal_one_call():
    init = RandomUniformInitializer(seed=11)
    whole = init(100, 8)
    parts = np.concatenate([init(30, 8), init(50, 8, row_offset=30), init(20, 8, row_offset=80)])
    assert np.array_equal(whole, parts)
    out = np.empty((100, 8), np.float32)
    init.initialize(out[60:], row_offset=60)
    init.initialize(out[:60])
    assert np.array_equal(out, whole)


def test_random_uniform_non_contiguous_block_and_big_call():
    init = RandomUniformInitializer(-1.0, 1.0, seed=5)
    table = np.zeros((300, 10), np.float32)
    init.initialize(table[:, 2:7])  # a column block: counters use its own width (5)
    assert np.array_equal(table[:, 2:7], init(300, 5))
    assert (table[:, :2] == 0).all() and (table[:, 7:] == 0).all()
    big = init(80000, 4)  # above PARALLEL_MIN_WORK: the prange path
    assert np.array_equal(big[:300], init(300, 4))


def test_random_uniform_distribution_chi_square():
    x = RandomUniformInitializer(0.0, 1.0, seed=2024)(2000, 50).ravel()
    counts, _ = np.histogram(x, bins=20, range=(0, 1))
    expected = x.size / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 43.8  # 99.9% quantile of chi-square with 19 degrees of freedom
    assert abs(x.mean() - 0.5) < 0.005


def test_random_uniform_seeds():
    a = RandomUniformInitializer(seed=1)(4, 4)
    assert not np.array_equal(a, RandomUniformInitializer(seed=2)(4, 4))
    fresh = RandomUniformInitializer()
    assert isinstance(fresh.seed, int) and np.array_equal(fresh(3, 3), fresh(3, 3))
    assert RandomUniformInitializer(seed=1).seed == 1
    assert "seed=1" in repr(RandomUniformInitializer(seed=1))


def test_float64_output_uses_the_same_draws():
    init = RandomUniformInitializer(-1.0, 1.0, seed=9)
    a32, a64 = init(5, 5), init(5, 5, dtype=np.float64)
    assert a64.dtype == np.float64
    assert np.array_equal(a64.astype(np.float32), a32)


def test_empty_shapes():
    assert RandomUniformInitializer(seed=0)(0, 4).shape == (0, 4)
    assert ZerosInitializer()(3, 0).shape == (3, 0)


def test_batch_softmax_initializer_rejects_below_one():
    with pytest.raises(ValueError, match=r"^init_step_interval should be >= 1, while got 0.5$"):
        BatchSoftmaxInitializer(0.5)


def test_initializer_errors():
    with pytest.raises(ValueError, match=r"out must be 2-D, got shape \(3,\)"):
        ZerosInitializer().initialize(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="out must be float32 or float64, got int32"):
        ZerosInitializer().initialize(np.zeros((1, 3), np.int32))
    with pytest.raises(ValueError, match="row_offset must be >= 0, got -1"):
        ZerosInitializer().initialize(np.zeros((1, 3), np.float32), row_offset=-1)
    with pytest.raises(ValueError, match="num_rows must be >= 0, got -2"):
        ZerosInitializer()(-2, 3)
    with pytest.raises(ValueError, match=r"maxval must be >= minval \(1.0\), got 0.0"):
        RandomUniformInitializer(1.0, 0.0)
    with pytest.raises(ValueError, match=r"maxval must be >= minval \(0.5\), got 0.05"):
        RandomUniformInitializer(0.5)  # the proto's default maxval is 0.05
    with pytest.raises(ValueError, match="minval must be a finite number, got inf"):
        RandomUniformInitializer(float("inf"), 1.0)
    with pytest.raises(TypeError, match="constant must be a real number, got str"):
        ConstantsInitializer("1")
    with pytest.raises(ValueError, match="constant must fit in float32"):
        ConstantsInitializer(1e39)
    with pytest.raises(ValueError, match=r"seed must be <= 18446744073709551615"):
        RandomUniformInitializer(seed=2**64)


def test_initializer_from_config_round_trips():
    for init in (ZerosInitializer(), OnesInitializer(), ConstantsInitializer(2.0), ConstantsInitializer(None),
                 RandomUniformInitializer(), RandomUniformInitializer(-1.0, 2.0), BatchSoftmaxInitializer(3.0)):
        proto = init.as_proto()
        assert initializer_from_config(proto).as_proto() == proto
    rebuilt = initializer_from_config(RandomUniformInitializer(-1.0, 1.0).as_proto(), seed=4)
    assert np.array_equal(rebuilt(2, 2), RandomUniformInitializer(-1.0, 1.0, seed=4)(2, 2))
    with pytest.raises(ValueError, match="config must set one of"):
        initializer_from_config(InitializerConfig())
    with pytest.raises(TypeError, match="config must be an InitializerConfig, got str"):
        initializer_from_config("zeros")


def test_row_ids_give_each_id_the_values_of_that_table_row():
    init = RandomUniformInitializer(-1.0, 1.0, seed=11)
    ids = np.array([3, 0, 9, 3], np.int64)
    got = init.initialize(np.zeros((4, 5), np.float32), row_ids=ids)
    table = init(10, 5)
    assert np.array_equal(got, table[ids])
    # Negative ids are read as uint64, the same bits as the uint64 id.
    neg = init.initialize(np.zeros((1, 5), np.float32), row_ids=np.array([-2], np.int64))
    assert np.array_equal(neg, init.initialize(np.zeros((1, 5), np.float32),
                                               row_ids=np.array([2**64 - 2], np.uint64)))
    assert np.array_equal(neg, init(1, 5, row_offset=2**64 - 2))


def test_row_ids_must_match_the_rows():
    init = RandomUniformInitializer(seed=1)
    with pytest.raises(ValueError, match="row_ids"):
        init.initialize(np.zeros((2, 3), np.float32), row_ids=np.array([1], np.int64))
    with pytest.raises(TypeError, match="row_ids"):
        init.initialize(np.zeros((2, 3), np.float32), row_ids=np.array([1.0, 2.0]))


def test_distinct_rows_never_share_their_values():
    """Each row draws its own stream: a ``row * dim + column`` counter wrapped modulo 2**64 and repeated rows."""
    init = RandomUniformInitializer(-1.0, 1.0, seed=7)
    for dim in (2, 8, 1024):  # ids 0 and INT64_MIN: 2**63 * even dim = 0 mod 2**64
        rows = init.initialize(np.zeros((2, dim), np.float32), row_ids=np.array([0, -(2**63)], np.int64))
        assert not np.array_equal(rows[0], rows[1])
    slots = np.array([(5 << 48) | 9, (69 << 48) | 9], np.int64)  # slots s and s + 64 at dim 1024
    rows = init.initialize(np.zeros((2, 1024), np.float32), row_ids=slots)
    assert not np.array_equal(rows[0], rows[1])
    ids = np.random.default_rng(0).integers(-(2**63), 2**63 - 1, 200_000, dtype=np.int64)
    ids = np.unique(np.concatenate([ids, np.arange(-1000, 1000) << 52]))
    rows = init.initialize(np.zeros((ids.size, 4), np.float32), row_ids=ids)
    assert np.unique(rows, axis=0).shape[0] == ids.size
