"""Occurrence filters (monolith_np.table.filters) against SEMANTICS E.3 / G.4 / G.5 and dict models."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monolith_np import proto
from monolith_np._rules import filters as RF
from monolith_np.table import filters as F

I64 = np.iinfo(np.int64)
ONE = np.ones(1, dtype=np.int64)


def _ids(*values):
    return np.array(values, dtype=np.int64)


def _ones(n):
    return np.ones(n, dtype=np.int64)


def _config_bytes(default=0, **per_slot):
    config = proto.SlotOccurrenceThresholdConfig(default_occurrence_threshold=default)
    for slot, threshold in per_slot.items():
        config.slot_occurrence_thresholds.add(slot=int(slot[1:]), occurrence_threshold=threshold)
    return config.SerializeToString()


def _counting_filters():
    return [F.HashFilter(1000), F.SlidingHashFilter(100_000, 7)]


# --- thresholds -----------------------------------------------------------------


def test_slot_thresholds_from_every_config_form():
    ids = np.array([5, (1 << 48) | 5, (2 << 48) | 9, -1, I64.min], dtype=np.int64)
    expected = [2, 7, 2, 2, 2]  # slot(-1) = 0x7FFF, slot(INT64_MIN) = 0x8000 & 0x7FFF = 0
    raw = _config_bytes(2, s1=7)
    for config in (raw, proto.SlotOccurrenceThresholdConfig.FromString(raw), F.SlotOccurrenceThreshold({1: 7}, 2)):
        assert F.SlotOccurrenceThreshold.from_config(config).thresholds(ids).tolist() == expected
    assert F.SlotOccurrenceThreshold.from_config({0x7FFF: 4}).thresholds(ids).tolist() == [0, 0, 0, 4, 0]
    assert F.SlotOccurrenceThreshold.from_config(None).thresholds(ids).tolist() == [0] * 5
    assert F.SlotOccurrenceThreshold.from_config(b"").thresholds(ids).tolist() == [0] * 5
    assert F.SlotOccurrenceThreshold.from_config(raw).thresholds(ids.view(np.uint64)).tolist() == expected
    assert F.SlotOccurrenceThreshold.from_config(raw).to_config().SerializeToString() == raw


def test_uint32_thresholds_are_kept_whole():
    # Monolith stores thresholds as int: 2**31 would wrap negative and disable filtering.
    t = F.SlotOccurrenceThreshold.from_config(_config_bytes(2**31))
    assert t.thresholds(_ids(1)).tolist() == [2**31]
    assert F.HashFilter(10, config=t).should_be_filtered(_ids(1), ONE).tolist() == [True]


@pytest.mark.parametrize("args, error, match", [
    (({F.MAX_SLOT_NUMBER: 1},), ValueError, "slot must be <= 32767"),
    (({-1: 1},), ValueError, "slot must be >= 0"),
    (({1: 2**32},), ValueError, "occurrence_threshold of slot 1 must be <= 4294967295"),
    (({}, -1), ValueError, "default_occurrence_threshold must be >= 0"),
    (({1: 1.5},), TypeError, "must be an integer"),
])
def test_slot_threshold_errors(args, error, match):
    with pytest.raises(error, match=match):
        F.SlotOccurrenceThreshold(*args)


def test_config_of_wrong_type():
    with pytest.raises(TypeError, match="config must be bytes, a SlotOccurrenceThresholdConfig, a dict or None, "
                                        "got list"):
        F.HashFilter(10, config=[1])


# --- golden: counting filters (G.5, rewritten where our counts do not saturate) --------------


@pytest.mark.parametrize("capacity", [1, 3, 100])
def test_golden_hash_filter_simple_no_saturation(capacity):
    f = F.HashFilter(capacity)
    for i in range(1000):  # Monolith: returns i up to 15, then 15 forever
        assert f.add(_ids(1), ONE).tolist() == [i]
        assert f.get(_ids(1)).tolist() == [i + 1]


def test_golden_hash_filter_count():
    f = F.HashFilter(100)
    fids = np.random.default_rng(0).integers(I64.min, I64.max, size=11, dtype=np.int64)
    f.add(fids, np.full(11, 2))
    assert f.size == 11 and f.get(fids).tolist() == [2] * 11
    g = F.HashFilter(100)
    for count in (1, 20, 1):
        g.add(_ids(42), np.array([count]))
    assert g.size == 1 and g.get(_ids(42)).tolist() == [22]


@pytest.mark.parametrize("make", [lambda: F.HashFilter(1_000_000, 10), lambda: F.SlidingHashFilter(1_000_000, 10)])
def test_golden_skip_zero_threshold_features(make):
    f = make()
    for i in range(5):
        assert f.should_be_filtered(_ids(i), ONE, thresholds=0).tolist() == [False]
        assert f.should_be_filtered(_ids(i * 2), ONE, thresholds=1).tolist() == [True]
    assert f.size == 5  # only the threshold-1 ids (0, 2, 4, 6, 8) were counted
    assert f.get(_ids(1, 3)).tolist() == [0, 0]


@pytest.mark.parametrize("make", [lambda: F.HashFilter(10_000), lambda: F.SlidingHashFilter(10_000, 5)])
@pytest.mark.parametrize("threshold", [1, 3, 15, 16, 1000])
def test_golden_admitted_at_threshold_plus_one_occurrence(make, threshold):
    # Monolith's 4-bit counts saturate at 15: thresholds >= 16 never admit there.
    one_batch, one_by_one = make(), make()
    n = threshold + 3
    batch = one_batch.should_be_filtered(np.full(n, 77, dtype=np.int64), _ones(n), thresholds=threshold)
    single = [one_by_one.should_be_filtered(_ids(77), ONE, thresholds=threshold)[0] for _ in range(n)]
    expected = [True] * threshold + [False] * 3
    assert batch.tolist() == expected and single == expected


def test_golden_sliding_simple_no_saturation():
    f = F.SlidingHashFilter(1_000_000, 10)
    for i in range(100):  # Monolith: 15 from the 16th add on
        assert f.add(_ids(1), ONE).tolist() == [i]


def test_counts_saturate_at_max_count():
    for f in _counting_filters():
        assert f.add(_ids(3, 3, 3), np.array([2**32 - 2, 5, 2**40], dtype=np.int64)).tolist() == [
            0, 2**32 - 2, 2**32 - 1]
        assert f.get(_ids(3)).tolist() == [F.MAX_COUNT]
        assert f.should_be_filtered(_ids(3), ONE, thresholds=F.MAX_COUNT).tolist() == [False]


def test_ids_sharing_a_monolith_signature_keep_separate_counts():
    # ((fid >> 17) | (fid << 15)) & 0xFFF is 0 for 1, 2 and 3: Monolith may merge them.
    for f in (*_counting_filters(), F.HashFilter(3, fill_rate=1.0)):
        f.add(_ids(1, 1, 1, 2), _ones(4))
        assert f.get(_ids(1, 2, 3)).tolist() == [3, 1, 0]


def test_in_table_ids_are_neither_filtered_nor_counted():
    for f in _counting_filters():
        out = f.should_be_filtered(_ids(1, 2, 1), _ones(3), thresholds=5, in_table=np.array([True, False, False]))
        assert out.tolist() == [False, True, True]
        assert f.get(_ids(1, 2)).tolist() == [1, 1]


def test_hash_filter_full_reports_failures_and_admits():
    f = F.HashFilter(4)
    assert f.should_be_filtered(_ids(1, 2, 3, 4), _ones(4), thresholds=1).all()
    assert f.should_be_filtered(_ids(5, 6), _ones(2), thresholds=1).tolist() == [False, False]
    assert f.failure_count == 2 and f.size == 4 and f.get(_ids(5)).tolist() == [0]
    assert f.add(_ids(1), ONE).tolist() == [1]  # stored ids are still counted
    f.clear()
    assert f.size == 0 and f.failure_count == 0 and f.get(_ids(1)).tolist() == [0]


# --- golden: sliding semantics ---------------------------------------------------


def _fresh(start, n):
    return np.arange(start, start + n, dtype=np.int64)


def test_golden_sliding_forgets_after_s_minus_one_advances():
    # S = 5 -> 4 generations of split_capacity 75; the head advances at 74 ids.
    f = F.SlidingHashFilter(300, 5)
    assert f.split_capacity == 75
    f.add(_ids(-7), ONE)
    f.add(_fresh(1000, 73 + 2 * 74 + 73), _ones(73 + 2 * 74 + 73))
    assert f.head == 3 and f.get(_ids(-7)).tolist() == [1]  # still in the oldest generation
    f.add(_fresh(5000, 1), ONE)  # fourth advance clears the generation holding -7
    assert f.head == 0 and f.get(_ids(-7)).tolist() == [0]
    assert f.add(_ids(-7), ONE).tolist() == [0]


def test_sliding_id_seen_every_generation_keeps_its_count():
    f = F.SlidingHashFilter(300, 5)
    for generation in range(20):
        assert f.add(_ids(-7), ONE).tolist() == [generation]
        f.add(_fresh(1000 * (generation + 1), 74), _ones(74))
    assert f.get(_ids(-7)).tolist() == [20]


def test_sliding_filter_never_fails_and_stays_bounded():
    f = F.SlidingHashFilter(300, 7)
    ids = np.random.default_rng(1).integers(I64.min, I64.max, size=10_000, dtype=np.int64)
    f.add(ids, _ones(ids.size))
    assert f.failure_count == 0 and f.size <= f.capacity
    assert f._keys.shape == (6, 60)  # S - 1 generations of 1.2 * 50 cells


def test_sliding_split_num_below_five_uses_five():
    f = F.SlidingHashFilter(300, 2)
    assert f.split_num == 2 and f.split_capacity == 75 and f._keys.shape[0] == 4


# --- golden: where the filter acts (G.4 hash_table_ops_test, hash_filter_ops_test) ----------


def test_golden_gradients_with_hash_filter_without_dedup():
    """threshold 3, ids [0, 0, 1], sgd lr 0.1, gradient -1, four runs, no dedup.

    Without dedup the membership test is done for all occurrences before any of
    them is optimized (SEMANTICS E.2), then each admitted occurrence takes one
    sgd step of +0.1.
    """
    f = F.create_hash_filter(100, 7, _config_bytes(3))
    ids = _ids(0, 0, 1)
    table = {}
    expected = [[0.0, 0.0], [0.1, 0.0], [0.3, 0.0], [0.5, 0.1]]
    admitted = [[False, False, False], [False, True, False], [True, True, False], [True, True, True]]
    for run in range(4):
        in_table = np.array([i in table for i in ids.tolist()])
        keep = ~f.should_be_filtered(ids, _ones(3), in_table=in_table)
        assert keep.tolist() == admitted[run]
        for i in ids[keep].tolist():
            table[i] = table.get(i, 0.0) + 0.1
        np.testing.assert_allclose([table.get(0, 0.0), table.get(1, 0.0)], expected[run], atol=1e-12)


def test_golden_intercept_gradient_counts_every_occurrence():
    # hash_filter_ops_test.test_hash_filter_basic: no table, count 1 per occurrence.
    f = F.create_hash_filter(100, 7, _config_bytes(3))
    ids = _ids(1, 3 << 17, 1)
    masks = [[0, 0, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1]]
    for mask in masks:
        assert (~f.should_be_filtered(ids, _ones(3))).astype(int).tolist() == mask


# --- probabilistic and dummy -----------------------------------------------------


def _admitted(f, count, n=10_000, threshold=7):
    out = f.should_be_filtered(np.arange(n, dtype=np.int64), np.full(n, count), threshold,
                               in_table=np.zeros(n, dtype=bool))
    return int((~out).sum())


def test_golden_probabilistic_unequal():
    f = F.ProbabilisticFilter(seed=123)
    n = 10_000
    assert abs(_admitted(f, 1) - n / 7) <= n * 0.01
    assert abs(_admitted(f, 2) - 2 * n / 7) <= n * 0.01
    assert _admitted(f, 7) == n and _admitted(f, 9) == n
    assert not f.should_be_filtered(_ids(1, 2), _ones(2), 7).any()  # no table: never filtered


def test_golden_probabilistic_equal():
    f = F.ProbabilisticFilter(equal_probability=True, seed=5)
    n, p = 10_000, 1 - 0.05 ** (1 / 7)
    assert abs(_admitted(f, 1) - n * p) <= n * 0.05
    assert abs(_admitted(f, 2) - n * (1 - (1 - p) ** 2)) <= n * 0.05 * 2
    assert abs(_admitted(f, 7) - n * 0.95) <= n * 0.01


@pytest.mark.parametrize("equal", [False, True])
def test_probabilistic_rates_within_four_sigma(equal):
    f = F.ProbabilisticFilter(equal_probability=equal, seed=99)
    n = 40_000
    for count in (1, 2, 3):
        ratio = count / 7
        p = 1 - 0.05**ratio if equal else ratio
        assert abs(_admitted(f, count, n) / n - p) <= 4 * np.sqrt(p * (1 - p) / n)


def test_probabilistic_is_deterministic_and_split_invariant():
    ids, counts = np.arange(1000, dtype=np.int64), np.full(1000, 2)
    thresholds = np.full(1000, 5)
    in_table = np.zeros(1000, dtype=bool)
    in_table[::7] = True
    whole = F.ProbabilisticFilter(seed=11).should_be_filtered(ids, counts, thresholds, in_table)
    g = F.ProbabilisticFilter(seed=11)
    parts = [g.should_be_filtered(ids[s], counts[s], thresholds[s], in_table[s])
             for s in (slice(0, 300), slice(300, 1000))]
    assert np.array_equal(whole, np.concatenate(parts))
    assert not whole[in_table].any()
    other = F.ProbabilisticFilter(seed=12).should_be_filtered(ids, counts, thresholds, in_table)
    assert not np.array_equal(whole, other)


def test_probabilistic_nonpositive_threshold_never_filters():
    f = F.ProbabilisticFilter(seed=0)
    out = f.should_be_filtered(_ids(1, 2), np.array([0, 1]), np.array([0, -3]), in_table=np.zeros(2, bool))
    assert out.tolist() == [False, False]


def test_dummy_and_count_free_filters():
    for f in (F.DummyFilter(), F.ProbabilisticFilter(seed=0)):
        f.clear()
        assert f.get(_ids(1, 2)).tolist() == [0, 0] and f.size == 0 and f.failure_count == 0
    assert not F.DummyFilter().should_be_filtered(_ids(1, 1), _ones(2), 5, np.zeros(2, bool)).any()


# --- factories -------------------------------------------------------------------


def test_factories_mirror_hash_filter_ops():
    filters = F.create_hash_filters(2, True, _config_bytes(4), filter_capacity=1000, filter_split_num=6)
    assert [type(f) for f in filters] == [F.SlidingHashFilter] * 2
    assert [f.name for f in filters] == ["MonolithHashFilter_0", "MonolithHashFilter_1"]
    assert filters[0].capacity == 1000 and filters[0].split_num == 6
    assert filters[0].occurrence_threshold.thresholds(_ids(9)).tolist() == [4]
    (prob,) = F.create_hash_filters(0, True, filter_equal_probability=True,
                                    filter_type=F.FilterType.PROBABILISTIC_FILTER)
    assert isinstance(prob, F.ProbabilisticFilter) and prob.equal_probability and prob.name.endswith("Filter")
    assert all(isinstance(f, F.DummyFilter) for f in F.create_hash_filters(3, False))
    assert isinstance(F.create_hash_filters(1, True, filter_type=F.FilterType.NO_FILTER)[0], F.DummyFilter)
    assert F.create_dummy_hash_filter().name == "DummyHashFilter0"
    with pytest.raises(ValueError, match="filter_type must be one of"):
        F.create_hash_filters(1, True, filter_type="bloom")


def test_default_sliding_filter_uses_monolith_defaults():
    f = F.SlidingHashFilter()
    assert (f.capacity, f.split_num) == (F.HASH_FILTER_CAPACITY, F.HASH_FILTER_SPLIT_NUM) == (300_000_000, 7)
    assert f.split_capacity == 50_000_000


# --- save / restore --------------------------------------------------------------


def _exercised(make):
    f = make()
    rng = np.random.default_rng(3)
    ids = rng.integers(-500, 500, size=2000, dtype=np.int64)
    f.should_be_filtered(ids, rng.integers(0, 3, size=2000), 2, in_table=rng.random(2000) < 0.2)
    return f


def _assert_states_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


MAKERS = {
    "hash": lambda: F.HashFilter(700),
    "sliding": lambda: F.SlidingHashFilter(600, 5),
    "probabilistic": lambda: F.ProbabilisticFilter(seed=8),
    "dummy": F.DummyFilter,
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_state_dict_round_trip_is_bit_exact(kind):
    source = _exercised(MAKERS[kind])
    state = source.state_dict()
    target = MAKERS[kind]() if kind != "probabilistic" else F.ProbabilisticFilter(seed=1)
    target.load_state_dict(state)
    _assert_states_equal(target.state_dict(), state)
    ids = np.arange(-600, 600, dtype=np.int64)
    in_table = np.zeros(ids.size, dtype=bool)
    args = (ids, _ones(ids.size), 2, in_table)
    assert np.array_equal(source.should_be_filtered(*args), target.should_be_filtered(*args))
    _assert_states_equal(target.state_dict(), source.state_dict())
    if "counts" in state:  # saved arrays are copies, loaded ones are copied in
        state["counts"][...] = 9
        assert not (source.state_dict()["counts"] == 9).all() and not (target.state_dict()["counts"] == 9).all()


def test_sliding_state_has_advanced_head():
    state = _exercised(MAKERS["sliding"]).state_dict()
    assert state["head"] != 0 and state["keys"].dtype == np.int64


def _corrupt(state, **changes):
    return dict(state, **changes)


def test_load_state_dict_rejects_mismatches():
    f = _exercised(MAKERS["sliding"])
    state = f.state_dict()
    used = state["used"].copy()
    used[0, :] = ~used[0, :]
    cases = [
        (_corrupt(state, kind="hash_filter"), "state\\['kind'\\] must be 'sliding_hash_filter'"),
        (_corrupt(state, version=99), "state\\['version'\\] must be 1"),
        (_corrupt(state, capacity=900), "state\\['capacity'\\] must be 600"),
        (_corrupt(state, split_num=7), "state\\['split_num'\\] must be 5"),
        (_corrupt(state, counts=state["counts"].astype(np.int64)), "state\\['counts'\\] must be a uint32 array"),
        (_corrupt(state, keys=state["keys"][:, :-1]), "state\\['keys'\\] must be a int64 array of shape"),
        (_corrupt(state, used=used), "state\\['elements'\\] must equal the occupied cells"),
        (_corrupt(state, head=4), "state\\['head'\\] must be <= 3"),
        (_corrupt(state, failure_count=-1), "state\\['failure_count'\\] must be >= 0"),
        ({k: v for k, v in state.items() if k != "elements"}, "state must have key 'elements'"),
    ]
    before = f.state_dict()
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            f.load_state_dict(bad)
        _assert_states_equal(f.state_dict(), before)  # a rejected state changes nothing
    with pytest.raises(ValueError, match="state\\['draws'\\] must be >= 0"):
        F.ProbabilisticFilter(seed=1).load_state_dict({"kind": "probabilistic_filter", "version": 1, "seed": 3,
                                                       "draws": -1})
    p = F.ProbabilisticFilter(seed=1)
    with pytest.raises(TypeError, match="state\\['seed'\\] must be an integer, got NoneType"):
        p.load_state_dict({"kind": "probabilistic_filter", "version": 1, "draws": 2})  # no fresh seed instead
    with pytest.raises(ValueError, match="state\\['draws'\\] must be >= 0"):
        p.load_state_dict({"kind": "probabilistic_filter", "version": 1, "seed": 9, "draws": -1})
    assert p.seed == 1  # a refused state changes nothing


# --- argument checks -------------------------------------------------------------


@pytest.mark.parametrize("call, error, match", [
    (lambda f: f.should_be_filtered(np.zeros((2, 1), np.int64), _ones(2)), ValueError, "ids must be 1-D"),
    (lambda f: f.should_be_filtered(np.zeros(2, np.float64), _ones(2)), TypeError, "ids must be int64 or uint64"),
    (lambda f: f.should_be_filtered([1, 2], _ones(2)), TypeError, "ids must be a numpy array"),
    (lambda f: f.should_be_filtered(_ids(1), np.array([-1])), ValueError, "counts must be >= 0, got -1"),
    (lambda f: f.should_be_filtered(_ids(1), _ones(2)), ValueError, "counts must have shape \\(1\\)"),
    (lambda f: f.should_be_filtered(_ids(1), np.ones(1)), TypeError, "counts must be a signed integer or"),
    (lambda f: f.should_be_filtered(_ids(1), ONE, np.array([2**32])), ValueError, "thresholds must be <= 4294967295"),
    (lambda f: f.should_be_filtered(_ids(1), ONE, 2.5), TypeError, "thresholds must be an integer"),
    (lambda f: f.should_be_filtered(_ids(1), ONE, 1, np.ones(1, np.int8)), TypeError, "in_table must be bool"),
    (lambda f: f.get(np.zeros(1, np.int32)), TypeError, "ids must be int64 or uint64"),
    (lambda f: f.add(_ids(1), np.array([-2])), ValueError, "counts must be >= 0, got -2"),
])
def test_argument_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(F.HashFilter(10))


@pytest.mark.parametrize("make, match", [
    (lambda: F.HashFilter(0), "capacity must be >= 1"),
    (lambda: F.HashFilter(10, fill_rate=0.5), "fill_rate must be >= 1.0"),
    (lambda: F.SlidingHashFilter(300, 0), "split_num must be >= 1"),
    (lambda: F.SlidingHashFilter(300, 200), "capacity must be >= 398 for split_num=200, got 300"),
    (lambda: F.ProbabilisticFilter(seed=-1), "seed must be >= 0"),
    (lambda: F.ProbabilisticFilter(equal_probability="yes"), "equal_probability must be one of"),
])
def test_constructor_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_empty_batch_and_uint64_ids():
    for f in _counting_filters():
        assert f.should_be_filtered(np.zeros(0, np.int64), _ones(0), np.zeros(0, np.int64)).shape == (0,)
        f.add(np.array([2**64 - 1], dtype=np.uint64), ONE)
        assert f.get(_ids(-1)).tolist() == [1]


# --- property tests against dict models ------------------------------------------


def _colliding(size, count=4):
    """Ids whose first probed cell is the same in a table of ``size`` cells."""
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore")
        homes = {}
        for candidate in range(1, 10_000):
            homes.setdefault(int(RF.home_of(np.uint64(candidate), np.uint64(size))), []).append(candidate)
    return next(ids for ids in homes.values() if len(ids) >= count)[:count]


HASH_CAPACITY = 40
SLIDING = dict(capacity=300, split_num=5)  # 4 generations of 75 ids, 90 cells
SPECIAL = [0, -1, 1, 2, I64.min, I64.max, I64.min + 1, 1 << 48, (0x7FFF << 48) | 3]
POOL = SPECIAL + _colliding(int(HASH_CAPACITY * 1.5)) + _colliding(90) + list(range(100, 130))


def _sat(value):
    return min(value, F.MAX_COUNT)


class HashModel:
    def __init__(self, capacity):
        self.capacity, self.counts, self.failures = capacity, {}, 0

    def add(self, key, count):
        if key in self.counts:
            old = self.counts[key]
            self.counts[key] = _sat(old + count)
            return old
        if len(self.counts) >= self.capacity:
            self.failures += 1
            return F.MAX_COUNT
        self.counts[key] = _sat(count)
        return 0

    def get(self, key):
        return self.counts.get(key, 0)


class SlidingModel:
    def __init__(self, generations, advance):
        self.gens, self.head, self.advance = [{} for _ in range(generations)], 0, advance

    def _older(self, key):
        for back in range(1, len(self.gens)):
            gen = self.gens[(self.head - back) % len(self.gens)]
            if key in gen:
                return gen[key]
        return 0

    def add(self, key, count):
        head = self.gens[self.head]
        if key in head:
            old = head[key]
            head[key] = _sat(old + count)
            return old
        old = self._older(key)
        head[key] = _sat(old + count)
        if len(head) >= self.advance:
            self.head = (self.head + 1) % len(self.gens)
            self.gens[self.head] = {}
        return old

    def get(self, key):
        return self.gens[self.head].get(key, self._older(key))


rows = st.lists(st.tuples(st.sampled_from(POOL) | st.integers(I64.min, I64.max),
                          st.sampled_from([0, 1, 1, 1, 2, 3, 2**31, 2**33]),
                          st.sampled_from([-1, 0, 1, 2, 3, 5, 16, F.MAX_COUNT]),
                          st.booleans()),
                max_size=60)
# (rows, whether in_table is given, number of fresh ids spliced in, where): the
# fresh ids make the sliding filter advance and wrap, and the hash filter fill up.
batches = st.lists(st.tuples(rows, st.booleans(), st.integers(0, 200), st.integers(0, 60)), max_size=8)


def _with_fresh(batches_):
    for b, (rows_, with_table, fresh, at) in enumerate(batches_):
        new = [(10**6 * (b + 1) + k, 1, 2, False) for k in range(fresh)]
        yield rows_[:at] + new + rows_[at:], with_table


def _check_against_model(f, model, batches_):
    for rows_, with_table in _with_fresh(batches_):
        ids = np.array([r[0] for r in rows_], dtype=np.int64)
        counts = np.array([r[1] for r in rows_], dtype=np.int64)
        thresholds = np.array([r[2] for r in rows_], dtype=np.int64)
        in_table = np.array([r[3] for r in rows_], dtype=bool) if with_table else None
        expected = []
        for key, count, threshold, member in rows_:
            skip = threshold <= 0 or (with_table and member)
            expected.append(not skip and model.add(key, count) < threshold)
        assert f.should_be_filtered(ids, counts, thresholds, in_table).tolist() == expected
        assert f.get(np.array(POOL, dtype=np.int64)).tolist() == [model.get(k) for k in POOL]
    return f


@given(batches)
def test_hash_filter_matches_dict_model(batches_):
    model = HashModel(HASH_CAPACITY)
    f = _check_against_model(F.HashFilter(HASH_CAPACITY), model, batches_)
    assert f.failure_count == model.failures and f.size == len(model.counts)


@given(batches)
def test_sliding_filter_matches_generation_model(batches_):
    model = SlidingModel(4, 74)
    f = _check_against_model(F.SlidingHashFilter(**SLIDING), model, batches_)
    assert f.head == model.head and f.size == sum(map(len, model.gens)) and f.failure_count == 0
