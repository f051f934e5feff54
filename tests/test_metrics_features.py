"""monolith_np.metrics.auc against a brute-force pair count, and monolith_np.features against Python ints."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monolith_np.features import slot_of, to_fid
from monolith_np.metrics import auc


# -- AUC ------------------------------------------------------------------------------------


def _auc_pairs(labels, scores):
    """Brute force: fraction of (positive, negative) pairs ordered right, ties one half."""
    pos = [s for y, s in zip(labels, scores) if y == 1]
    neg = [s for y, s in zip(labels, scores) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-3, 3)), min_size=2, max_size=40))
def test_auc_matches_pair_count(rows):
    labels = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows], np.float64) / 2  # small integer range: many ties
    if labels.min() == labels.max():
        assert np.isnan(auc(labels, scores))
    else:
        assert auc(labels, scores) == pytest.approx(_auc_pairs(labels, scores), abs=1e-12)


def test_auc_known_values_and_errors():
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert auc([0, 1], [0.5, 0.5]) == 0.5
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="scores must have shape"):
        auc([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="scores must be finite"):
        auc([0, 1], [0.1, np.nan])


def test_auc_reads_bool_labels_and_integer_scores():
    assert auc(np.array([True, False, True]), np.array([3, 1, 2])) == 1.0


# -- feature ids ------------------------------------------------------------------------------


@given(st.integers(0, (1 << 15) - 1), st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=20))
def test_to_fid_and_slot_of_match_python_ints(slot, local):
    fids = to_fid(slot, np.array(local, np.int64))
    expected = [((slot << 48) | (v & ((1 << 48) - 1))) for v in local]
    assert fids.dtype == np.int64 and fids.tolist() == expected
    assert slot_of(fids).tolist() == [slot] * len(local)


def test_slot_of_negative_ids_keeps_15_bits():
    ids = np.array([-1, np.iinfo(np.int64).min], np.int64)
    assert slot_of(ids).tolist() == [0x7FFF, 0]


@pytest.mark.parametrize("slot", [-1, 1 << 15, 2.5])
def test_to_fid_rejects_bad_slots(slot):
    with pytest.raises((ValueError, TypeError), match="slot must be"):
        to_fid(slot, [1])


def test_table_slot_of_is_the_feature_helper():
    from monolith_np import table

    ids = to_fid(9, np.arange(4))
    np.testing.assert_array_equal(table.slot_of(ids), slot_of(ids))
