"""Occurrence filters: ``should_be_filtered`` on a batch of Zipf ids, ours against peers.

Group ``should_be_filtered-<state>-<n>``: 1,000,000 Zipf(1.1) ids (scrambled to
64-bit patterns, about 350k distinct), one count per occurrence, threshold 5,
processed in order with Monolith's rule (filtered iff the count before the
occurrence is below the threshold). ``state`` is ``cold`` (an empty filter) or
``warm`` (the filter has already seen another batch of the same size). Peers:

* ``monolith_np``: :class:`SlidingHashFilter`, the default filter (capacity
  8M, 7 generations, so nothing is forgotten within the run);
* ``monolith_np_hash_filter``: :class:`HashFilter` (capacity 4M);
* ``numpy``: exact counting semantics with array ops -- a stable argsort groups
  the batch, an exclusive prefix sum gives each occurrence's rank in its group,
  ``searchsorted`` against a running sorted key array gives the earlier
  counts, ``np.insert`` adds the new keys;
* ``python_dict``: the obvious loop over a dict.

With ``--benchmark-disable`` every case runs once on 10,000 ids as a smoke test.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from monolith_np.table.filters import HashFilter, SlidingHashFilter

THRESHOLD = 5


def _zipf_ids(n, seed):
    ranks = np.random.default_rng(seed).zipf(1.1, size=n).astype(np.uint64)
    with np.errstate(over="ignore"):
        return (ranks * np.uint64(0x9E3779B97F4A7C15)).view(np.int64)


class NumpyCountingFilter:
    """Counting filter over a sorted key array (exact, unbounded, no saturation)."""

    def __init__(self):
        self.keys = np.empty(0, dtype=np.int64)
        self.counts = np.empty(0, dtype=np.int64)

    def should_be_filtered(self, ids, counts, thresholds):
        order = np.argsort(ids, kind="stable")
        sorted_ids, sorted_counts = ids[order], counts[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, ids.size]))
        before = np.cumsum(sorted_counts) - sorted_counts
        uniq, totals = sorted_ids[starts], np.add.reduceat(sorted_counts, starts)
        pos = np.searchsorted(self.keys, uniq)
        found = pos < self.keys.size
        found[found] = self.keys[pos[found]] == uniq[found]
        base = np.zeros(uniq.size, dtype=np.int64)
        base[found] = self.counts[pos[found]]
        prev = np.empty(ids.size, dtype=np.int64)
        prev[order] = base[group] + before - before[starts][group]
        self.counts[pos[found]] += totals[found]
        self.keys = np.insert(self.keys, pos[~found], uniq[~found])
        self.counts = np.insert(self.counts, pos[~found], totals[~found])
        return prev < thresholds


class DictCountingFilter:
    """Counting filter as a plain Python dict loop."""

    def __init__(self):
        self.counts = {}

    def should_be_filtered(self, ids, counts, thresholds):
        out = np.empty(len(ids), dtype=bool)
        get = self.counts.get
        for j, (key, count, threshold) in enumerate(zip(ids.tolist(), counts.tolist(), thresholds.tolist())):
            prev = get(key, 0)
            self.counts[key] = prev + count
            out[j] = prev < threshold
        return out


IMPLS = {
    "monolith_np": lambda: SlidingHashFilter(8_000_000, 7),
    "monolith_np_hash_filter": lambda: HashFilter(4_000_000),
    "numpy": NumpyCountingFilter,
    "python_dict": DictCountingFilter,
}


@pytest.fixture(scope="module")
def batches():
    return {}


def _batches(cache, n):
    if n not in cache:
        cache[n] = (_zipf_ids(n, 0), _zipf_ids(n, 1), np.ones(n, dtype=np.int64), np.full(n, THRESHOLD))
    return cache[n]


@pytest.mark.parametrize("state", ["cold", "warm"])
@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_should_be_filtered(benchmark, batches, impl, state):
    n = 10_000 if benchmark.disabled else 1_000_000
    ids, warm_ids, counts, thresholds = _batches(batches, n)
    benchmark.group = f"should_be_filtered-{state}-{n}"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["numba_threads"] = numba.get_num_threads()
    benchmark.extra_info["distinct_ids"] = int(np.unique(ids).size)

    def setup():
        f = IMPLS[impl]()
        if state == "warm":
            f.should_be_filtered(warm_ids, counts, thresholds)
        return (f,), {}

    def run(f):
        return f.should_be_filtered(ids, counts, thresholds)

    benchmark.pedantic(run, setup=setup, rounds=1 if benchmark.disabled else 5, warmup_rounds=1)
    reference = DictCountingFilter()
    if state == "warm":
        reference.should_be_filtered(warm_ids, counts, thresholds)
    expected = reference.should_be_filtered(ids, counts, thresholds)
    fresh = setup()[0][0]
    assert np.array_equal(fresh.should_be_filtered(ids, counts, thresholds), expected)
