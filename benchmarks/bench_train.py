"""Training throughput of the FFM demo model: monolith_np tables from torch against torch's own sparse embeddings.

The model is the demo's (``docs/demo.md``): 6 slots, each example's ids of a
slot summed into a pooled row (bias column for slots 0-3, one 16-wide slice
per FFM pair), logits = biases + 5 pair dot products, summed sigmoid
cross-entropy with the negative-sampling correction ``x - log(rate)``. Data:
8 batches of 4096 examples of the demo's click log (``batch_for_step``, 100,000
ids per slot, 1-5 ids per slot and example), made and converted to tensors
before the timed region. One timed call trains on all 8 batches (forward,
loss, backward, update); ``extra_info["examples_per_s"]`` is ``8 * 4096 /
mean``. Group ``train_ffm-<batch>x<batches>``:

* ``monolith_np``: ``examples/torch_ffm.py``'s ``TorchFFM`` with
  ``HashEmbeddingCollection(mode="fused")`` over ``build_tables`` (the demo's tables:
  FTRL bias segment, Adagrad vector segment under a ``PolynomialDecay`` rate;
  unseen ids inserted on lookup, the optimizer applied inside the backward),
  loss ``mt.get_sigmoid_loss_and_pred``. The occurrence filter is off
  (``occurrence_threshold=0``) so every id is trained, as in the peers; no
  global-norm clip (a fused backward cannot clip across slots; the peers do
  not clip either).
* ``torch_sparse_adam``: per slot ``torch.nn.EmbeddingBag(num_ids, slot_dim,
  mode="sum", sparse=True)`` over the ids pre-hashed to ``[0, num_ids)`` (the
  local id of each fid), the same FFM in torch ops, loss
  ``binary_cross_entropy_with_logits(x - log(rate), reduction="sum")``,
  ``torch.optim.SparseAdam``.
* ``torch_adagrad``: the same with ``torch.optim.Adagrad`` (sparse gradients,
  initial accumulator 0.1), the rule of the demo's vector segments.

The hash tables start empty and grow as the ids arrive (about 20% of the
100,000 ids per slot are seen in the first 8 batches; the warm-up pass runs
the same 8 batches first, so timed rounds mostly update existing entries);
the peers' tables are dense ``num_ids x slot_dim`` from the start. Every case
checks outside the timed region that its loss is finite and falls over the
warm-up pass. ``extra_info`` records torch's and numba's thread counts. With
``--benchmark-disable`` every case runs once on 2 batches of 64 examples over
500 ids as a smoke test.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numba
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import monolith_np.torch as mt  # noqa: E402
from demo import DemoConfig, batch_for_step, build_tables, demo_truth  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "torch_ffm_example", Path(__file__).resolve().parents[1] / "examples" / "torch_ffm.py")
ex = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ex)

LOCAL_MASK = (1 << 48) - 1
LR = 0.05
INIT_ACC = 0.1
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
IMPLS = ["monolith_np", "torch_sparse_adam", "torch_adagrad"]


def _sizes(disabled):
    """``(batch_size, batches, num_ids)``."""
    return (64, 2, 500) if disabled else (4096, 8, 100_000)


def _data(disabled):
    batch_size, batches, num_ids = _sizes(disabled)
    config = DemoConfig(steps=1000, batch_size=batch_size, num_ids=num_ids, occurrence_threshold=0)
    truth = demo_truth(config)
    return config, [batch_for_step(config, truth, step) for step in range(batches)]


class _TorchPeer(torch.nn.Module):
    """The demo's FFM over dense ``EmbeddingBag`` tables indexed by local ids."""

    def __init__(self, config):
        super().__init__()
        self.layout = config.layout
        gen = torch.Generator().manual_seed(config.seed)
        self.bags = torch.nn.ModuleList()
        for s in range(self.layout.num_slots):
            bag = torch.nn.EmbeddingBag(config.num_ids, self.layout.slot_dim(s), mode="sum", sparse=True)
            with torch.no_grad():
                bag.weight.uniform_(-config.init_range, config.init_range, generator=gen)
                if self.layout.has_bias(s):
                    bag.weight[:, 0] = 0.0
            self.bags.append(bag)

    def forward(self, inputs):
        pooled = [bag(ids, offsets) for bag, (ids, offsets) in zip(self.bags, inputs)]
        return ex.ffm_logits(pooled, self.layout)


def _peer_inputs(batch):
    """Per slot ``(local ids, offsets)`` tensors, and the labels."""
    inputs = []
    for ids, lengths in zip(batch.ids, batch.row_lengths):
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        inputs.append((torch.from_numpy(ids & LOCAL_MASK), torch.from_numpy(offsets)))
    return inputs, torch.from_numpy(batch.labels)


def _make_ours(config, batches):
    tables = build_tables(config)
    model = ex.TorchFFM(tables, mode="fused")
    labels = [torch.from_numpy(b.labels) for b in batches]
    step = [0]

    def train():
        losses = []
        for batch, y in zip(batches, labels):
            model.set_step(step[0], batch.time)
            logits = model(batch)
            loss, _ = mt.get_sigmoid_loss_and_pred("ctr", logits, y, batch.batch_size,
                                                   sample_rate=batch.sample_rate)
            loss.backward()                 # the tables' optimizers run here
            losses.append(float(loss.detach()))
            step[0] += 1
        return losses

    return train


def _make_peer(config, batches, impl):
    model = _TorchPeer(config)
    if impl == "torch_sparse_adam":
        opt = torch.optim.SparseAdam(model.parameters(), lr=LR)
    else:
        opt = torch.optim.Adagrad(model.parameters(), lr=LR, initial_accumulator_value=INIT_ACC)
    data = [_peer_inputs(b) for b in batches]
    shifts = [math.log(b.sample_rate) for b in batches]

    def train():
        losses = []
        for (inputs, y), shift in zip(data, shifts):
            opt.zero_grad()
            logits = model(inputs)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits - shift, y, reduction="sum")
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    return train


@pytest.mark.parametrize("impl", IMPLS)
def test_train_throughput(benchmark, impl):
    config, batches = _data(benchmark.disabled)
    batch_size, n_batches, _ = _sizes(benchmark.disabled)
    benchmark.group = f"train_ffm-{batch_size}x{n_batches}"
    benchmark.extra_info.update(impl=impl, numba_threads=numba.get_num_threads(),
                                torch_threads=torch.get_num_threads(), examples=batch_size * n_batches)
    train = _make_ours(config, batches) if impl == "monolith_np" else _make_peer(config, batches, impl)
    first = train()  # warm-up (JIT, first inserts), checked
    assert all(math.isfinite(v) for v in first)
    if not benchmark.disabled:
        assert first[-1] < first[0], f"{impl}: the loss did not fall over the warm-up pass: {first}"
    benchmark.pedantic(train, rounds=3, iterations=1, warmup_rounds=0)
    if benchmark.stats is not None:
        benchmark.extra_info["examples_per_s"] = batch_size * n_batches / benchmark.stats.stats.mean
