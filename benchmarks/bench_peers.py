"""One embedding training step (issue 14): monolith_np against FBGEMM, TorchRec and torch's ``EmbeddingBag``.

The step: a batch of ``BATCH`` = 4096 examples with ``FEATURES`` = 6 sparse
features, one table per feature, each example holding a bag of 1-8 ids per
feature (lengths uniform on 1..8, so about 4.5 ids per bag and 110,000 ids
per step). A feature's ids are rows of a 1,000,000-row table drawn
Zipf(1.1) (the rank -> row map a fixed random permutation; draws past the
last rank are redrawn). Embeddings are 16 float32 wide, pooled by sum into
a ``(B, 6 * 16)`` output; loss = the sum of the pooled output (so the
gradient of every pooled value is one and each row's gradient is its
occurrence count); Adagrad with learning rate 0.01 and accumulators that
start at 0.1. One timed call is forward + backward + the optimizer's update
of one batch; the calls cycle through ``NUM_BATCHES`` = 8 batches made once
per module (fixed seed) and converted to each case's input types before any
timing. Group ``train_step-<BATCH>x<FEATURES>``:

* ``monolith_np``: :class:`monolith_np.table.EmbeddingCollection`
  over 6 ``EmbeddingHashTable([(16, RandomUniformInitializer(-0.05, 0.05),
  AdagradOptimizer(0.01, initial_accumulator_value=0.1))])`` (no occurrence
  filter: every id is trained), fed the KJT layout: one flat int64 ``values``
  of raw 64-bit ids (each row number mixed through a multiplicative 64-bit
  hash, ``(row + 1) * 0x9E3779B97F4A7C15`` xor a per-feature constant, so the
  ids are not dense) and feature-major ``lengths``. Step: ``out, batch =
  forward(values, lengths=lengths)``, ``backward(batch, np.ones_like(out))``.
  The tables are made with room for every id of the 8 batches and all of
  them are inserted before the first step (``table.insert``), so the timed
  steps never insert or grow (checked: capacity and size do not change).
* ``monolith_np_torch_collection``: the same through torch:
  :class:`monolith_np.torch.HashEmbeddingCollection` over the same kind of
  tables (``mode="fused"``), input the flat ids and lengths as tensors; step:
  ``emb(values, lengths=lengths).sum().backward()``.
* ``monolith_np_per_feature``: the per-feature torch path, one
  :class:`monolith_np.torch.HashEmbedding(table, combiner="sum",
  mode="fused")` per feature over the same kind of table (Adagrad inside the
  backward); step: the 6 modules' outputs concatenated, ``.sum()``,
  ``.backward()``. Per feature its forward inserts (no-op: prefilled) and
  looks up the ids, ``ragged.reduce_sum``; its backward
  ``ragged.reduce_sum_grad``, ``table.contains`` and ``table.apply_gradients``
  (dedup).
* ``fbgemm_tbe``: FBGEMM's ``SplitTableBatchedEmbeddingBagsCodegen`` (CPU
  build ``fbgemm-gpu-cpu``) with 6 tables of ``(1_000_000, 16)``,
  ``EmbeddingLocation.HOST``, ``ComputeDevice.CPU``,
  ``OptimType.EXACT_ADAGRAD``, ``PoolingMode.SUM``, ``eps`` = 1e-10, default
  bounds check (``WARNING``); input the dense row numbers (not hashed) as
  int64 ``indices`` and ``offsets`` (``F * B + 1``). Step: ``tbe(indices,
  offsets).sum().backward()`` (the update runs inside the backward).
  FBGEMM's accumulators start at 0; they are set to 0.1 through
  ``split_optimizer_states()`` before training, and the weights to
  uniform(-0.05, 0.05) (``init_embedding_weights_uniform``).
* ``torchrec_fused_ebc``: TorchRec's ``FusedEmbeddingBagCollection`` with 6
  ``EmbeddingBagConfig(num_embeddings=1_000_000, embedding_dim=16)``,
  ``optimizer_type=torch.optim.Adagrad`` (FBGEMM's ``EXACT_ADAGRAD`` on the
  host), ``optimizer_kwargs={"lr": 0.01, "eps": 1e-10}``, weights set to
  uniform(-0.05, 0.05), input
  ``KeyedJaggedTensor.from_lengths_sync(keys, rows, lengths)`` (made before
  timing). Step: forward, ``.values().sum()``, backward. Its accumulators are
  set to 0.1 as FBGEMM's (the module's kwargs cannot).
* ``torch_embeddingbag_adagrad``: 6 ``torch.nn.EmbeddingBag(1_000_000, 16,
  mode="sum", sparse=True)`` (weights uniform(-0.05, 0.05)) and
  ``torch.optim.Adagrad(lr=0.01, initial_accumulator_value=0.1, eps=1e-10)``;
  step: ``zero_grad``, the 6 bags' outputs concatenated, ``.sum()``,
  ``.backward()``, ``step()``.

Our tables hold only the ids seen (capacity for the 8 batches' distinct ids);
the peers' tables are dense ``1_000_000 x 16`` arrays (plus the same-sized
accumulators). Ours has no epsilon in Adagrad's denominator; the peers' 1e-10
is negligible next to ``sqrt(0.1)``.

Before timing every case runs one checked step on the first batch from a
known state: for a sample of each feature's rows (the most frequent ones,
random ones, and rows of the other batches that batch 0 does not touch) the
change of the embedding must be ``-0.01 * c / sqrt(0.1 + c**2)`` in every
column, ``c`` the row's count in the feature's bags (0: unchanged). Then one
untimed pass over all batches (JIT, caches), then the timed steps.

Threads: ``BENCH_THREADS=n`` sets ``numba.set_num_threads(n)``,
``monolith_np.set_threads(n)`` (where the library has it) and
``torch.set_num_threads(n)`` at import (unset: all left as they are);
numba's count also caps monolith_np's kernels, which may pick fewer threads
per call (a timed choice for small work). ``extra_info`` records
``numba_threads``, ``torch_threads`` and ``monolith_np_threads``
(``monolith_np.get_threads()``, where the library has it), the ids and
distinct ids per step and ``ids_per_s`` (ids / median). Each case skips via
``importorskip`` when its library is missing (``fbgemm_gpu`` and
``torchrec`` live in ``.venv-peers``, see the Makefile's ``bench-peers``).
With ``--benchmark-disable`` every case runs its checked step, one pass and
one call on 2 batches of 64 examples x 2 features over 1,000 rows as a smoke
test.
"""

from __future__ import annotations

import itertools
import os

import numba
import numpy as np
import pytest

import monolith_np
from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer
from monolith_np.table import EmbeddingCollection, EmbeddingHashTable

try:
    import torch
except ImportError:  # the torch cases skip
    torch = None

BATCH = 4096
FEATURES = 6
NUM_ROWS = 1_000_000
NUM_BATCHES = 8
#: ``(batch, features, rows, batches)`` of the ``--benchmark-disable`` smoke run.
SMOKE = (64, 2, 1_000, 2)
DIM = 16
MAX_LEN = 8
ZIPF_A = 1.1
LR = 0.01
INIT_ACC = 0.1
EPS = 1e-10  # the peers' Adagrad epsilon (torch's default); ours has none
INIT_RANGE = 0.05
SEED = 14
_GOLDEN = 0x9E3779B97F4A7C15
_FEATURE_SALT = 0xBF58476D1CE4E5B9
IMPLS = ["monolith_np", "monolith_np_torch_collection", "monolith_np_per_feature", "fbgemm_tbe",
         "torchrec_fused_ebc", "torch_embeddingbag_adagrad"]

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:fbgemm_gpu.*")]

_THREADS = os.environ.get("BENCH_THREADS")
if _THREADS:
    numba.set_num_threads(int(_THREADS))
    if hasattr(monolith_np, "set_threads"):  # the library's own cap, where it has one
        monolith_np.set_threads(int(_THREADS))
    if torch is not None:
        torch.set_num_threads(int(_THREADS))


# --- data ---------------------------------------------------------------------------


def _hash_ids(rows, feature):
    """Raw 64-bit ids of a feature's rows: ``(row + 1) * golden`` xor a feature salt (a bijection, mod 2**64)."""
    salt = np.uint64((feature * _FEATURE_SALT) & (2**64 - 1))
    return (((rows.astype(np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN)) ^ salt).view(np.int64)


def _zipf_rows(rng, perm, n):
    """``n`` rows: Zipf(ZIPF_A) ranks (those past the table redrawn) through the rank -> row permutation."""
    parts, have = [], 0
    while have < n:
        r = rng.zipf(ZIPF_A, size=2 * (n - have) + 16)
        r = r[r <= perm.size]
        parts.append(r)
        have += r.size
    return perm[np.concatenate(parts)[:n] - 1]


class _Batch:
    """One batch, feature-major (KJT layout): ``rows`` (dense, for the peers), ``ids`` (hashed, for ours)."""

    def __init__(self, rng, perm, b, f):
        self.lengths = rng.integers(1, MAX_LEN + 1, size=f * b).astype(np.int64)
        per_feature = self.lengths.reshape(f, b).sum(axis=1)
        self.feature_rows = [_zipf_rows(rng, perm, int(n)) for n in per_feature]
        self.feature_ids = [_hash_ids(r, j) for j, r in enumerate(self.feature_rows)]
        self.rows = np.concatenate(self.feature_rows)
        self.ids = np.concatenate(self.feature_ids)
        self.offsets = np.concatenate(([0], np.cumsum(self.lengths))).astype(np.int64)
        # Per feature: its bags' starts within the feature's own ids (EmbeddingBag / HashEmbedding offsets).
        self.feature_offsets = [np.concatenate(([0], np.cumsum(ln)[:-1])).astype(np.int64)
                                for ln in self.lengths.reshape(f, b)]


class _Data:
    def __init__(self, disabled):
        self.b, self.f, self.num_rows, n = SMOKE if disabled else (BATCH, FEATURES, NUM_ROWS, NUM_BATCHES)
        rng = np.random.default_rng(SEED)
        perm = np.random.default_rng(SEED + 1).permutation(self.num_rows)
        self.batches = [_Batch(rng, perm, self.b, self.f) for _ in range(n)]
        self.keys = [f"f{j}" for j in range(self.f)]
        # Every row a feature sees in the batches (ours is prefilled with them).
        self.distinct_rows = [np.unique(np.concatenate([bt.feature_rows[j] for bt in self.batches]))
                              for j in range(self.f)]
        self.sample = [self._sample(j, np.random.default_rng(SEED + 2 + j)) for j in range(self.f)]

    def _sample(self, j, rng):
        """``(rows, counts in batch 0)`` of feature ``j``: top rows, random touched ones, untouched ones."""
        rows, counts = np.unique(self.batches[0].feature_rows[j], return_counts=True)
        top = np.argsort(-counts, kind="stable")[:8]
        rand = rng.choice(rows.size, size=min(24, rows.size), replace=False)
        pick = np.unique(np.concatenate([top, rand]))
        untouched = np.setdiff1d(self.distinct_rows[j], rows)
        untouched = rng.choice(untouched, size=min(16, untouched.size), replace=False)
        return (np.concatenate([rows[pick], untouched]),
                np.concatenate([counts[pick], np.zeros(untouched.size, np.int64)]))

    def tables(self):
        """Our 6 tables, each with room for (and prefilled with) every id its feature sees."""
        out = {}
        for j in range(self.f):
            config = [(DIM, RandomUniformInitializer(-INIT_RANGE, INIT_RANGE, seed=1 + j),
                       AdagradOptimizer(learning_rate=LR, initial_accumulator_value=INIT_ACC))]
            ids = _hash_ids(self.distinct_rows[j], j)
            table = EmbeddingHashTable(config, capacity=ids.size)  # no occurrence filter
            table.insert(ids)
            out[f"t{j}"] = table
        return out


@pytest.fixture(scope="module")
def data_cache():
    return {}


def _data(cache, disabled):
    if disabled not in cache:
        cache[disabled] = _Data(disabled)
    return cache[disabled]


# --- the run -------------------------------------------------------------------------------


class _Case:
    """``step(x)`` trains on one prepared input; ``read(j, rows)`` gives feature ``j``'s embeddings of ``rows``."""

    def __init__(self, inputs, step, read, check_after=None):
        self.inputs, self.step, self.read, self.check_after = inputs, step, read, check_after


def _check_first_step(data, case, impl):
    before = [case.read(j, rows) for j, (rows, _) in enumerate(data.sample)]
    case.step(case.inputs[0])
    for j, (rows, counts) in enumerate(data.sample):
        c = counts.astype(np.float64)
        expect = np.repeat((-LR * c / np.sqrt(INIT_ACC + c * c))[:, None], DIM, axis=1)
        got = case.read(j, rows).astype(np.float64) - before[j]
        np.testing.assert_allclose(got, expect, rtol=1e-3, atol=2e-6,
                                   err_msg=f"{impl}: feature {j}: the first step's update is wrong")


def _run(benchmark, data, impl, case):
    b, f = data.b, data.f
    benchmark.group = f"train_step-{b}x{f}"
    ids = np.mean([bt.rows.size for bt in data.batches])
    distinct = np.mean([sum(np.unique(r).size for r in bt.feature_rows) for bt in data.batches])
    benchmark.extra_info.update(
        impl=impl, numba_threads=numba.get_num_threads(),
        monolith_np_threads=_get_threads() if _get_threads is not None else None,
        torch_threads=torch.get_num_threads() if torch is not None else None,
        batch=b, features=f, num_rows=data.num_rows, dim=DIM, batches=len(data.batches),
        ids_per_step=float(ids), distinct_ids_per_step=float(distinct))
    _check_first_step(data, case, impl)
    for x in case.inputs:  # warm-up pass, untimed
        case.step(x)
    cycle = itertools.cycle(case.inputs)
    benchmark(lambda: case.step(next(cycle)))
    if case.check_after is not None:
        case.check_after()
    if benchmark.stats is not None:
        benchmark.extra_info["ids_per_s"] = ids / benchmark.stats.stats.median


_get_threads = getattr(monolith_np, "get_threads", None)  # the library's own cap, where it has one


def _torch():
    return pytest.importorskip("torch")


# --- monolith_np ------------------------------------------------------------------------------


def _ours_collection(data):
    tables = data.tables()
    coll = EmbeddingCollection(tables, {k: f"t{j}" for j, k in enumerate(data.keys)})
    sizes = {t: (tab.size, tab.capacity) for t, tab in tables.items()}

    def step(x):
        values, lengths = x
        out, batch = coll.forward(values, lengths=lengths)
        coll.backward(batch, np.ones_like(out))

    def read(j, rows):
        return tables[f"t{j}"].lookup(_hash_ids(rows, j))

    def check_after():
        now = {t: (tab.size, tab.capacity) for t, tab in tables.items()}
        assert now == sizes, f"the tables changed size or grew while timed: {sizes} -> {now}"

    return _Case([(bt.ids, bt.lengths) for bt in data.batches], step, read, check_after)


def _ours_torch_collection(data):
    _torch()
    import monolith_np.torch as mt

    tables = data.tables()
    emb = mt.HashEmbeddingCollection(tables, {k: f"t{j}" for j, k in enumerate(data.keys)})
    inputs = [(torch.from_numpy(bt.ids), torch.from_numpy(bt.lengths)) for bt in data.batches]

    def step(x):
        emb(x[0], lengths=x[1]).sum().backward()

    def read(j, rows):
        return tables[f"t{j}"].lookup(_hash_ids(rows, j))

    sizes = [t.size for t in tables.values()]
    return _Case(inputs, step, read, lambda: _assert_sizes(tables, sizes))


def _ours_per_feature(data):
    _torch()
    import monolith_np.torch as mt

    tables = data.tables()
    embs = [mt.HashEmbedding(tables[f"t{j}"], combiner="sum", mode="fused") for j in range(data.f)]
    inputs = [[(torch.from_numpy(bt.feature_ids[j]), torch.from_numpy(bt.feature_offsets[j]))
               for j in range(data.f)] for bt in data.batches]

    def step(x):
        torch.cat([emb(v, o) for emb, (v, o) in zip(embs, x)], dim=1).sum().backward()

    def read(j, rows):
        return tables[f"t{j}"].lookup(_hash_ids(rows, j))

    sizes = [t.size for t in tables.values()]
    return _Case(inputs, step, read, lambda: _assert_sizes(tables, sizes))


def _assert_sizes(tables, sizes):
    now = [t.size for t in tables.values()]
    assert now == sizes, f"the tables changed size while timed: {sizes} -> {now}"


# --- peers -----------------------------------------------------------------------------------


def _fbgemm(data):
    _torch()
    pytest.importorskip("fbgemm_gpu")
    from fbgemm_gpu.split_embedding_configs import EmbOptimType as OptimType
    from fbgemm_gpu.split_table_batched_embeddings_ops_common import EmbeddingLocation, PoolingMode
    from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
        ComputeDevice, SplitTableBatchedEmbeddingBagsCodegen)

    tbe = SplitTableBatchedEmbeddingBagsCodegen(
        [(data.num_rows, DIM, EmbeddingLocation.HOST, ComputeDevice.CPU) for _ in range(data.f)],
        optimizer=OptimType.EXACT_ADAGRAD, learning_rate=LR, eps=EPS, pooling_mode=PoolingMode.SUM,
        device="cpu")
    tbe.init_embedding_weights_uniform(-INIT_RANGE, INIT_RANGE)
    _fill_states(tbe.split_optimizer_states())
    weights = tbe.split_embedding_weights()
    inputs = [(torch.from_numpy(bt.rows), torch.from_numpy(bt.offsets)) for bt in data.batches]

    def step(x):
        tbe(*x).sum().backward()

    def read(j, rows):
        return weights[j][torch.from_numpy(rows)].numpy().copy()

    return _Case(inputs, step, read)


def _fill_states(states):
    """Set every Adagrad accumulator (FBGEMM's momentum1 views, any nesting) to INIT_ACC."""
    if isinstance(states, torch.Tensor):
        states.fill_(INIT_ACC)
    else:
        for s in states:
            _fill_states(s)


def _torchrec(data):
    _torch()
    pytest.importorskip("fbgemm_gpu")
    pytest.importorskip("torchrec")
    from torchrec.modules.embedding_configs import EmbeddingBagConfig
    from torchrec.modules.fused_embedding_modules import FusedEmbeddingBagCollection
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    configs = [EmbeddingBagConfig(num_embeddings=data.num_rows, embedding_dim=DIM, name=f"t{j}",
                                  feature_names=[k]) for j, k in enumerate(data.keys)]
    ebc = FusedEmbeddingBagCollection(tables=configs, optimizer_type=torch.optim.Adagrad,
                                      optimizer_kwargs={"lr": LR, "eps": EPS}, device=torch.device("cpu"))
    with torch.no_grad():
        for j in range(data.f):
            ebc.embedding_bags[f"t{j}"].weight.uniform_(-INIT_RANGE, INIT_RANGE)
    for lookup in ebc._emb_modules:  # the accumulators: no constructor argument sets them
        _fill_states(lookup._emb_module.split_optimizer_states())
    inputs = [KeyedJaggedTensor.from_lengths_sync(data.keys, torch.from_numpy(bt.rows),
                                                  torch.from_numpy(bt.lengths)) for bt in data.batches]

    def step(x):
        ebc(x).values().sum().backward()

    def read(j, rows):
        return ebc.embedding_bags[f"t{j}"].weight.detach()[torch.from_numpy(rows)].numpy().copy()

    return _Case(inputs, step, read)


def _torch_embeddingbag(data):
    _torch()
    gen = torch.Generator().manual_seed(SEED)
    bags = torch.nn.ModuleList(torch.nn.EmbeddingBag(data.num_rows, DIM, mode="sum", sparse=True)
                               for _ in range(data.f))
    with torch.no_grad():
        for bag in bags:
            bag.weight.uniform_(-INIT_RANGE, INIT_RANGE, generator=gen)
    opt = torch.optim.Adagrad(bags.parameters(), lr=LR, initial_accumulator_value=INIT_ACC, eps=EPS)
    inputs = [[(torch.from_numpy(bt.feature_rows[j]), torch.from_numpy(bt.feature_offsets[j]))
               for j in range(data.f)] for bt in data.batches]

    def step(x):
        opt.zero_grad()
        torch.cat([bag(r, o) for bag, (r, o) in zip(bags, x)], dim=1).sum().backward()
        opt.step()

    def read(j, rows):
        return bags[j].weight.detach()[torch.from_numpy(rows)].numpy().copy()

    return _Case(inputs, step, read)


_BUILDERS = {
    "monolith_np": _ours_collection,
    "monolith_np_torch_collection": _ours_torch_collection,
    "monolith_np_per_feature": _ours_per_feature,
    "fbgemm_tbe": _fbgemm,
    "torchrec_fused_ebc": _torchrec,
    "torch_embeddingbag_adagrad": _torch_embeddingbag,
}


@pytest.mark.parametrize("impl", IMPLS)
def test_train_step(benchmark, data_cache, impl):
    data = _data(data_cache, benchmark.disabled)
    case = _BUILDERS[impl](data)
    _run(benchmark, data, impl, case)
