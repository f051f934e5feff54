"""``hash_seed``: ids crafted against the default hash neither blow the index up nor lengthen probes.

The crafted ids all have a Fibonacci hash whose top 8 bits are zero, so the
default index puts every one of them in sub-table 0, whatever its size, and
must grow until that one sub-table holds them all.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from monolith_np._random import mix64
from monolith_np.entry import RandomUniformInitializer, ZerosInitializer
from monolith_np.optim import AdagradOptimizer, SgdOptimizer
from monolith_np.table import EmbeddingHashTable

PHI = 0x9E3779B97F4A7C15
N = 200_000


def _crafted(n, seed=0):
    t = np.random.default_rng(seed).integers(0, 2**56, n, dtype=np.uint64)
    return (t * np.uint64(pow(PHI, -1, 2**64))).view(np.int64)  # t * PHI**-1 * PHI = t: top bits zero


def _random(n, seed=1):
    return np.random.default_rng(seed).integers(-2**63, 2**63 - 1, n, dtype=np.int64)


def _longest_probe(table):
    """Longest distance, over every stored key, from its home slot to its slot."""
    slots, log2s = table._slots, table._log2s
    mask = (1 << log2s) - 1
    occupied = np.flatnonzero(slots[:, 1] != -1)
    home = (mix64(slots[occupied, 0].view(np.uint64)) & np.uint64(mask)).astype(np.int64)
    return int(((occupied & mask) - home & mask).max())


def _filled(ids, **kwargs):
    table = EmbeddingHashTable([(16, ZerosInitializer(), AdagradOptimizer())], **kwargs)
    for k in range(0, ids.size, 20_000):
        table.insert(ids[k:k + 20_000])
    return table


def test_the_crafted_ids_do_flood_one_sub_table_of_the_default_hash():
    top = (_crafted(1000).view(np.uint64) * np.uint64(PHI)) >> np.uint64(56)  # bucket_of's top 8 bits
    assert not top.any()


def test_crafted_ids_cost_a_seeded_table_what_random_ids_cost():
    crafted, rand = _filled(_crafted(N), hash_seed=7), _filled(_random(N))
    assert crafted.size == rand.size == N
    # unseeded, the crafted ids took a 2**26-slot index (1066 MiB against 51 MiB for random ids: 21x)
    assert crafted.memory_bytes() <= 1.5 * rand.memory_bytes()
    assert _longest_probe(crafted) < 200
    assert crafted.contains(_crafted(N)).all()


def _unmix(z):
    """Inverse of :func:`mix64` (the SplitMix64 finalizer), to craft ids against a known seed."""
    z = z ^ (z >> np.uint64(31)) ^ (z >> np.uint64(62))
    z = z * np.uint64(pow(0x94D049BB133111EB, -1, 2**64))
    z = z ^ (z >> np.uint64(27)) ^ (z >> np.uint64(54))
    z = z * np.uint64(pow(0xBF58476D1CE4E5B9, -1, 2**64))
    return z ^ (z >> np.uint64(30)) ^ (z >> np.uint64(60))


def test_a_flood_crafted_against_a_known_seed_reseeds_instead_of_growing():
    table = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(1.0))], capacity=50_000, hash_seed=3)
    slots = table._slots.shape[0]
    crafted = _crafted(20_000, seed=5).view(np.uint64)
    assert np.array_equal(mix64(_unmix(crafted)), crafted)
    ids = (_unmix(crafted) ^ np.uint64(3)).view(np.int64)  # their index keys are the crafted ids
    table.insert(ids)
    assert table._slots.shape[0] == slots and table._salt != np.uint64(3)  # reseeded, not grown
    assert table.contains(ids).all() and table.size == ids.size


def test_a_seed_changes_no_result_and_checkpoints_cross_seeds():
    ids = np.concatenate([_random(3000), _crafted(3000), [0, -1, -2**63, 2**63 - 1]]).astype(np.int64)
    grads = np.random.default_rng(2).standard_normal((ids.size, 4)).astype(np.float32)
    tables = [EmbeddingHashTable([(4, RandomUniformInitializer(seed=1), AdagradOptimizer(0.1))], hash_seed=seed)
              for seed in (None, 0, 2**64 - 1)]
    for table in tables:
        table.apply_gradients(ids, grads, dedup=False)
        table.erase(ids[::7])
        table.assign_add(ids[:100], grads[:100])
    want = tables[0].lookup(ids)
    for table in tables[1:]:
        np.testing.assert_array_equal(table.lookup(ids), want)
        assert table.size == tables[0].size
    with tempfile.TemporaryDirectory() as tmp:
        tables[1].save(os.path.join(tmp, "emb"))
        other = EmbeddingHashTable([(4, RandomUniformInitializer(seed=1), AdagradOptimizer(0.1))], hash_seed=99)
        assert other.restore(os.path.join(tmp, "emb")) == tables[1].size
    np.testing.assert_array_equal(other.lookup(ids), want)
    assert sorted(other.export()[0].tolist()) == sorted(tables[0].export()[0].tolist())


def test_without_a_seed_the_index_keys_are_the_ids():
    from monolith_np.table import index as ix
    table = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(1.0))])
    ids = _random(500)
    table.insert(ids)
    rows = np.empty(ids.size, np.int64)
    ix.find_rows(table._slots, table._parts, table._log2s, ids, rows)  # the raw ids, as before hash_seed
    np.testing.assert_array_equal(table.export()[0][rows], ids)


@pytest.mark.parametrize("bad,error", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError), ("7", TypeError)])
def test_a_bad_hash_seed_is_refused(bad, error):
    with pytest.raises(error, match="hash_seed"):
        EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(1.0))], hash_seed=bad)
