"""Bad inputs to occurrence filters and multi-table sets: a named error, and nothing changed.

Each case calls one public method of a live filter or table set with one bad
argument and checks that the error is a TypeError or ValueError naming that
argument, and that the filter's ``state_dict`` (or every table of the set)
is byte-for-byte as before. Views and read-only arrays must work.
"""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np.entry import HashTableConfigInstance
from monolith_np.proto import EmbeddingHashTableConfig
from monolith_np.table.filters import HashFilter, ProbabilisticFilter, SlidingHashFilter, SlotOccurrenceThreshold
from monolith_np.table.multi import MergedMultiTypeHashTable, MultiHashTable, MultiTypeHashTable


class _FakeDevice:
    """An object that claims to live on a CUDA device."""

    __cuda_array_interface__ = {"shape": (2,), "typestr": "<i8", "data": (0, False), "version": 3}


BAD_IDS = {  # ids that no call may take: (value, error)
    "float": (np.array([1.0, 2.0]), TypeError),
    "bool": (np.array([True, False]), TypeError),
    "object": (np.array([1, "a"], dtype=object), TypeError),
    "2-D": (np.zeros((2, 2), np.int64), ValueError),
    "0-d": (np.int64(3), (TypeError, ValueError)),
    "None": (None, TypeError),
    "device": (_FakeDevice(), (TypeError, ValueError)),
}

# -- filters ----------------------------------------------------------------------------------------

FILTERS = {
    "hash": lambda: HashFilter(64),
    "sliding": lambda: SlidingHashFilter(300, 5),
    "probabilistic": lambda: ProbabilisticFilter(seed=3),
}
IDS = np.array([5, 6, 7], np.int64)
ONES = np.ones(3, np.int64)


def _filter(kind):
    f = FILTERS[kind]()
    f.should_be_filtered(IDS, ONES, thresholds=2)
    return f


def _state(f):
    return {k: (v.tobytes() if isinstance(v, np.ndarray) else v) for k, v in f.state_dict().items()}


FILTER_CALLS = {  # name: (call with one bad value, the argument it names)
    "should_be_filtered-ids": (lambda f, x: f.should_be_filtered(x, ONES[:2], thresholds=2), "ids"),
    "get-ids": (lambda f, x: f.get(x), "ids"),
}
BAD_COUNTS = {
    "float": (np.ones(3), TypeError),
    "negative": (np.array([1, -1, 1], np.int64), ValueError),
    "short": (np.ones(2, np.int64), ValueError),
    "2-D": (np.ones((3, 1), np.int64), ValueError),
}
BAD_THRESHOLDS = {
    "too-big": (2**32, ValueError),  # a threshold <= 0 is meaningful: nothing is filtered
    "float": (1.5, TypeError),
    "array-short": (np.ones(2, np.int64), ValueError),
}
BAD_IN_TABLE = {
    "int": (np.ones(3, np.int64), TypeError),
    "short": (np.ones(2, bool), ValueError),
}

FILTER_CASES = (
    [(f"{k}-{c}-{m}", k, FILTER_CALLS[c][0], BAD_IDS[m][0], BAD_IDS[m][1], FILTER_CALLS[c][1])
     for k in FILTERS for c in FILTER_CALLS for m in BAD_IDS]
    + [(f"{k}-counts-{m}", k, lambda f, x: f.should_be_filtered(IDS, x, thresholds=2), v, e, "counts")
       for k in FILTERS for m, (v, e) in BAD_COUNTS.items()]
    + [(f"{k}-thresholds-{m}", k, lambda f, x: f.should_be_filtered(IDS, ONES, thresholds=x), v, e, "thresholds")
       for k in FILTERS for m, (v, e) in BAD_THRESHOLDS.items()]
    + [(f"{k}-in_table-{m}", k, lambda f, x: f.should_be_filtered(IDS, ONES, thresholds=2, in_table=x), v, e,
        "in_table") for k in FILTERS for m, (v, e) in BAD_IN_TABLE.items()]
    + [(f"{k}-load_state_dict-{m}", k, lambda f, x: f.load_state_dict(x), v, e, "state")
       for k in FILTERS for m, (v, e) in {"None": (None, TypeError), "empty": ({}, (TypeError, ValueError))}.items()]
)


@pytest.mark.parametrize("kind, call, value, error, argument",
                         [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_a_bad_filter_input_names_itself_and_changes_nothing(kind, call, value, error, argument):
    f = _filter(kind)
    before = _state(f)
    with pytest.raises(error) as info:
        call(f, value)
    assert argument in str(info.value), str(info.value)
    assert _state(f) == before


@pytest.mark.parametrize("kind", sorted(FILTERS))
def test_filters_take_views_and_read_only_arrays(kind):
    ids = np.array([5, 0, 6, 0, 7, 0], np.int64)[::2]
    ids.setflags(write=False)
    counts = ONES.copy()
    counts.setflags(write=False)
    a, b = _filter(kind), _filter(kind)
    got = a.should_be_filtered(ids, counts, thresholds=2)
    np.testing.assert_array_equal(got, b.should_be_filtered(IDS.copy(), ONES.copy(), thresholds=2))
    assert _state(a) == _state(b)


def test_a_threshold_config_of_bad_bytes_is_named():
    with pytest.raises(ValueError, match="config must be a serialized SlotOccurrenceThresholdConfig"):
        SlotOccurrenceThreshold.from_config(b"\xff\xff\xff")


# -- multi-table sets -------------------------------------------------------------------------------


def _config(dim):
    proto = EmbeddingHashTableConfig()
    proto.cuckoo.SetInParent()
    seg = proto.entry_config.segments.add(dim_size=dim)
    seg.opt_config.sgd.SetInParent()
    seg.init_config.zeros.SetInParent()
    seg.comp_config.fp32.SetInParent()
    return HashTableConfigInstance(proto, [1.0])


SETS = {
    "multi": lambda: MultiHashTable.from_configs({"a": _config(1), "b": _config(2)}),
    "multi-type": lambda: MultiTypeHashTable({"a": _config(1), "b": _config(2)}),
    "merged": lambda: MergedMultiTypeHashTable({"a": _config(1), "b": _config(2)}, MultiTypeHashTable),
}


def _set(kind):
    tables = SETS[kind]()
    tables.assign_add({"a": (np.array([1], np.int64), np.ones((1, 1), np.float32)),
                       "b": (np.array([2, 3], np.int64), np.ones((2, 2), np.float32))})
    return tables


def _set_state(tables):
    out = {}
    for name, ids in (("a", np.array([1, 9], np.int64)), ("b", np.array([2, 3, 9], np.int64))):
        out[name] = tables.lookup({name: ids})[name].tobytes()
    return out


ROW_A = np.ones((1, 1), np.float32)
SET_CALLS = {  # name: (call with the value, argument named)
    "lookup-ids": (lambda t, x: t.lookup({"a": x}), "a"),
    "assign-ids": (lambda t, x: t.assign({"a": (x, ROW_A)}), "a"),
    "assign_add-ids": (lambda t, x: t.assign_add({"a": (x, ROW_A)}), "a"),
    "apply_gradients-ids": (lambda t, x: t.apply_gradients({"a": (x, ROW_A)}, global_step=1), "a"),
}
REINIT = ("multi",)  # MultiTypeHashTable has no reinitialize (as the original)
BAD_ROWS = {
    "wrong-dim": (np.ones((1, 2), np.float32), ValueError),
    "wrong-count": (np.ones((2, 1), np.float32), ValueError),
    "1-D": (np.ones(1, np.float32), ValueError),
    "complex": (np.ones((1, 1), np.complex64), TypeError),
    "str": (np.array([["x"]]), TypeError),
}
ROW_CALLS = {
    "assign": lambda t, v: t.assign({"a": (np.array([5], np.int64), v)}),
    "apply_gradients": lambda t, v: t.apply_gradients({"a": (np.array([5], np.int64), v)}, global_step=1),
}
BAD_SCALARS = {
    "apply_gradients-global_step-huge": (lambda t: t.apply_gradients(
        {"a": (np.array([5], np.int64), ROW_A)}, global_step=2**63), ValueError, "global_step"),
    "apply_gradients-req_time-ms": (lambda t: t.apply_gradients(
        {"a": (np.array([5], np.int64), ROW_A)}, global_step=1, req_time=2**40), ValueError, "req_time"),
    "assign-req_time-negative": (lambda t: t.assign(
        {"a": (np.array([5], np.int64), ROW_A)}, req_time=-1), ValueError, "req_time"),
    "assign-unknown-table": (lambda t: t.assign(
        {"zzz": (np.array([5], np.int64), ROW_A)}), (KeyError, ValueError), "zzz"),
    "assign-not-a-pair": (lambda t: t.assign({"a": np.array([5], np.int64)}), (TypeError, ValueError), "a"),
    "assign-second-bad": (lambda t: t.assign({"a": (np.array([5], np.int64), ROW_A),
                                              "b": (np.array([6], np.int64), ROW_A)}), ValueError, "b"),
}

SET_CASES = (
    [(f"{k}-{c}-{m}", k, (lambda c, v: lambda t: SET_CALLS[c][0](t, v))(c, BAD_IDS[m][0]), BAD_IDS[m][1],
      SET_CALLS[c][1]) for k in SETS for c in SET_CALLS for m in BAD_IDS]
    + [(f"{k}-reinitialize-ids-{m}", k, (lambda v: lambda t: t.reinitialize("a", v))(v), e, "ids")
       for k in REINIT for m, (v, e) in BAD_IDS.items()]
    + [(f"{k}-{c}-rows-{m}", k, (lambda c, v: lambda t: ROW_CALLS[c](t, v))(c, v), e, "a")
       for k in SETS for m, (v, e) in BAD_ROWS.items() for c in ROW_CALLS]
    + [(f"{k}-{m}", k, call, e, arg) for k in SETS for m, (call, e, arg) in BAD_SCALARS.items()]
)


@pytest.mark.parametrize("kind, call, error, argument", [c[1:] for c in SET_CASES], ids=[c[0] for c in SET_CASES])
def test_a_bad_table_set_input_names_itself_and_changes_nothing(kind, call, error, argument):
    tables = _set(kind)
    before = _set_state(tables)
    with pytest.raises(error) as info:
        call(tables)
    assert argument in str(info.value), str(info.value)
    assert _set_state(tables) == before


def test_the_case_counts():
    """The counts the closing note of issue 13 reports (so a change to the tables shows here)."""
    assert len(FILTER_CASES) == 3 * (2 * 7 + 4 + 3 + 2 + 2)
    assert len(SET_CASES) == 3 * (4 * 7 + 5 * 2 + 6) + 7
