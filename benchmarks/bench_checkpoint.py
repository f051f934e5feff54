"""Table checkpoints: ``EmbeddingHashTable.save`` / ``restore`` against saving the same tensors with torch or numpy.

The table holds 1,000,000 random 64-bit ids, each with 16 float32 values, an
Adagrad accumulator (16 floats) and a uint32 timestamp. Every case writes to
and reads from pytest's ``tmp_path`` (one file system for all of them); the
files a case reads were just written, so reads come from the page cache for
every implementation alike. Groups (suffix: the number of entries):

* ``checkpoint_save-<N>``: the whole table to disk, durable when the call returns.

  - ``monolith_np``: ``table.save(path)`` (one shard): Monolith ``EntryDump``
    records in a TFRecord file (a CRC-32C per record), its SHA-256 in a
    manifest, every file and directory ``fsync``-ed, committed by an atomic
    rename, the previous save removed;
  - ``torch_save``: ``torch.save`` of a dict of the four tensors (ids, values,
    accumulator, timestamps; already torch tensors, as a torch user keeps
    them) into an open file, then ``flush`` + ``os.fsync``, over the same file
    each round;
  - ``numpy_savez``: ``np.savez`` of the same four arrays, then ``fsync``.

* ``checkpoint_restore-<N>``: the checkpoint back into memory.

  - ``monolith_np``: ``table.restore(path)`` into an empty table made in the
    untimed setup: every CRC and the SHA-256 checked, the records decoded,
    every id inserted into the hash index and its row, state and timestamp
    set. ``extra_info["read_checkpoint_s"]`` is one untimed
    ``read_checkpoint`` (read + checks + decode, no table change), to tell the
    file part from the index part;
  - ``torch_load``: ``torch.load`` (``weights_only=True``) of the dict: the
    tensors only, no id -> row index;
  - ``numpy_load``: ``np.load`` of the ``.npz`` with every array read.

numba's and torch's thread counts are both numba's (set ``NUMBA_NUM_THREADS``
to compare 1 and 2 threads). Every case checks its result once outside the
timed region. With ``--benchmark-disable`` every case runs once on 2,000
entries as a smoke test.
"""

from __future__ import annotations

import os
import time

import numba
import numpy as np
import pytest

from monolith_np.entry import ZerosInitializer
from monolith_np.optim import AdagradOptimizer
from monolith_np.table import EmbeddingHashTable
from monolith_np.table.checkpoint import DecodedEntries

DIM = 16
T0 = 1_700_000_000  # timestamps within one day of it: nothing expires (30 days by default)


def _num(benchmark):
    return 2_000 if benchmark.disabled else 1_000_000


def _rounds(benchmark):
    return 1 if benchmark.disabled else 5


def _new_table():
    return EmbeddingHashTable([(DIM, ZerosInitializer(), AdagradOptimizer(initial_accumulator_value=0.1))])


class _Data:
    """The table's content as arrays, and a table holding it (built once per size)."""

    def __init__(self, num):
        rng = np.random.default_rng(1)
        ids = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=num + num // 64 + 16,
                           dtype=np.int64)
        _, first = np.unique(ids, return_index=True)
        self.ids = ids[np.sort(first)[:num]]
        self.values = rng.uniform(-0.05, 0.05, size=(num, DIM)).astype(np.float32)
        self.norm = rng.uniform(0.1, 2.0, size=(num, DIM)).astype(np.float32)
        self.ts = (T0 + rng.integers(0, 86400, size=num)).astype(np.uint32)
        self.table = _new_table()
        self.table.apply_checkpoint(DecodedEntries(self.ids, self.values, [{"norm": self.norm}], self.ts,
                                                   np.full(num, DIM, np.int64)))

    def arrays(self):
        return {"ids": self.ids, "values": self.values, "norm": self.norm, "ts": self.ts}


@pytest.fixture(scope="module")
def data_cache():
    return {}


def _case(benchmark, data_cache, op, impl):
    num = _num(benchmark)
    if num not in data_cache:
        data_cache.clear()
        data_cache[num] = _Data(num)
    benchmark.group = f"checkpoint_{op}-{num}"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["numba_threads"] = numba.get_num_threads()
    return data_cache[num]


def _same_content(table, data):
    """``table`` holds exactly ``data`` (values, accumulator and timestamps bit for bit)."""
    ids, values, state, ts = table.export()
    order = np.argsort(ids)
    want = np.argsort(data.ids)
    np.testing.assert_array_equal(ids[order], data.ids[want])
    np.testing.assert_array_equal(values[order], data.values[want])
    np.testing.assert_array_equal(state[0]["norm"][order], data.norm[want])
    np.testing.assert_array_equal(ts[order], data.ts[want])


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(numba.get_num_threads())
    return torch


def _durable(write, name):
    """Open ``name`` for writing, ``write(file)``, then flush and ``fsync`` it."""
    with open(name, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _check_arrays(got, data):
    for key, want in data.arrays().items():
        np.testing.assert_array_equal(np.asarray(got[key]), want)


# --- save --------------------------------------------------------------------------------------


def test_ours_save(benchmark, data_cache, tmp_path):
    data = _case(benchmark, data_cache, "save", "monolith_np")
    path = str(tmp_path / "emb")
    data.table.save(path)  # warm-up: compilation, and a previous save to replace, as in every round
    benchmark.pedantic(lambda: data.table.save(path), rounds=_rounds(benchmark), iterations=1, warmup_rounds=0)
    benchmark.extra_info["file_bytes"] = sum(f.stat().st_size for f in tmp_path.rglob("emb-0*"))
    restored = _new_table()
    restored.restore(path)
    _same_content(restored, data)


def test_torch_save(benchmark, data_cache, tmp_path):
    torch = _torch()
    data = _case(benchmark, data_cache, "save", "torch_save")
    tensors = {k: torch.from_numpy(a) for k, a in data.arrays().items()}
    name = tmp_path / "emb.pt"

    def save():
        _durable(lambda f: torch.save(tensors, f), name)

    save()
    benchmark.pedantic(save, rounds=_rounds(benchmark), iterations=1, warmup_rounds=0)
    benchmark.extra_info["file_bytes"] = name.stat().st_size
    _check_arrays(torch.load(name, weights_only=True), data)


def test_numpy_savez_save(benchmark, data_cache, tmp_path):
    data = _case(benchmark, data_cache, "save", "numpy_savez")
    name = tmp_path / "emb.npz"

    def save():
        _durable(lambda f: np.savez(f, **data.arrays()), name)

    save()
    benchmark.pedantic(save, rounds=_rounds(benchmark), iterations=1, warmup_rounds=0)
    benchmark.extra_info["file_bytes"] = name.stat().st_size
    with np.load(name) as got:
        _check_arrays(got, data)


# --- restore -----------------------------------------------------------------------------------


def test_ours_restore(benchmark, data_cache, tmp_path):
    data = _case(benchmark, data_cache, "restore", "monolith_np")
    path = str(tmp_path / "emb")
    data.table.save(path)
    _new_table().restore(path)  # warm-up (compilation)
    t0 = time.perf_counter()
    _new_table().read_checkpoint(path)
    benchmark.extra_info["read_checkpoint_s"] = time.perf_counter() - t0
    made = []

    def setup():
        made.clear()  # free the previous round's table first
        made.append(_new_table())
        return (made[0],), {}

    benchmark.pedantic(lambda table: table.restore(path), setup=setup, rounds=_rounds(benchmark), iterations=1,
                       warmup_rounds=0)
    _same_content(made[0], data)


def test_torch_load(benchmark, data_cache, tmp_path):
    torch = _torch()
    data = _case(benchmark, data_cache, "restore", "torch_load")
    name = tmp_path / "emb.pt"
    tensors = {k: torch.from_numpy(a) for k, a in data.arrays().items()}
    _durable(lambda f: torch.save(tensors, f), name)
    got = []

    def load():
        got[:] = [torch.load(name, weights_only=True)]

    load()
    benchmark.pedantic(load, rounds=_rounds(benchmark), iterations=1, warmup_rounds=0)
    _check_arrays(got[0], data)


def test_numpy_load(benchmark, data_cache, tmp_path):
    data = _case(benchmark, data_cache, "restore", "numpy_load")
    name = tmp_path / "emb.npz"
    _durable(lambda f: np.savez(f, **data.arrays()), name)
    got = []

    def load():
        with np.load(name) as npz:
            got[:] = [{k: npz[k] for k in npz.files}]

    load()
    benchmark.pedantic(load, rounds=_rounds(benchmark), iterations=1, warmup_rounds=0)
    _check_arrays(got[0], data)
