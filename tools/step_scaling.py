"""How the collection's training step grows with the batch size and the number of features.

Measures ``EmbeddingCollection`` forward + backward (gradient ones, Adagrad)
on the workload of ``benchmarks/bench_peers.py`` (bags of 1-8 Zipf(1.1) ids
over 1,000,000-entry tables of width 16, every id present), and FBGEMM's TBE
``EXACT_ADAGRAD`` on the same rows when ``fbgemm_gpu`` is importable (run it
with ``.venv-peers/bin/python``). Two sweeps: batch 256 ... 16,384 at 6
features, and 1 ... 12 features at batch 4,096. Each point is the median of
``--rounds`` steps cycling over 4 batches, after one untimed pass. Writes a
PNG (``--out``, default ``docs/step_scaling.png``) and prints a Markdown table.

Usage: ``python tools/step_scaling.py [--threads N] [--rounds R] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

ROWS, DIM = 1_000_000, 16
BATCHES = [256, 1024, 4096, 16384]
FEATURES = [1, 2, 4, 6, 8, 12]


def _mix(x, f):
    return ((x.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(f)).view(np.int64)


def _batches(rng, b, f, count=4):
    out = []
    for _ in range(count):
        lengths = rng.integers(1, 9, f * b)
        rows = (rng.zipf(1.1, int(lengths.sum())) - 1) % ROWS
        out.append((rows, lengths))
    return out


class Ours:
    name = "monolith_np EmbeddingCollection"

    def __init__(self, features):
        from monolith_np.entry import RandomUniformInitializer
        from monolith_np.optim import AdagradOptimizer
        from monolith_np.table import EmbeddingCollection, EmbeddingHashTable

        tables = {}
        for f in range(features):
            t = EmbeddingHashTable([(DIM, RandomUniformInitializer(-0.05, 0.05, seed=f),
                                     AdagradOptimizer(0.01, initial_accumulator_value=0.1))], capacity=ROWS)
            t.insert(_mix(np.arange(ROWS), f))
            tables[f"t{f}"] = t
        self.coll = EmbeddingCollection(tables, {f"f{f}": f"t{f}" for f in range(features)})
        self.features = features

    def prepare(self, rows, lengths, b):
        splits = np.concatenate(([0], np.cumsum(lengths)))
        values = np.concatenate([_mix(rows[splits[f * b]:splits[(f + 1) * b]], f) for f in range(self.features)])
        return values, lengths

    def step(self, batch):
        out, kept = self.coll.forward(batch[0], lengths=batch[1])
        self.coll.backward(kept, np.ones_like(out))


class Fbgemm:
    name = "FBGEMM TBE EXACT_ADAGRAD"

    def __init__(self, features):
        import torch
        from fbgemm_gpu.split_embedding_configs import EmbOptimType
        from fbgemm_gpu.split_table_batched_embeddings_ops_common import EmbeddingLocation
        from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
            ComputeDevice, SplitTableBatchedEmbeddingBagsCodegen)

        self.torch = torch
        self.tbe = SplitTableBatchedEmbeddingBagsCodegen(
            [(ROWS, DIM, EmbeddingLocation.HOST, ComputeDevice.CPU)] * features,
            optimizer=EmbOptimType.EXACT_ADAGRAD, learning_rate=0.01, eps=1e-10)

    def prepare(self, rows, lengths, b):
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        return self.torch.from_numpy(rows.astype(np.int64)), self.torch.from_numpy(offsets.astype(np.int64))

    def step(self, batch):
        self.tbe(batch[0], batch[1]).sum().backward()


def _time(impl, batches, rounds):
    for batch in batches:
        impl.step(batch)
    times = []
    for r in range(rounds):
        start = time.perf_counter()
        impl.step(batches[r % len(batches)])
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", default="docs/step_scaling.png")
    args = parser.parse_args(argv)
    impls = [Ours]
    try:
        import fbgemm_gpu  # noqa: F401

        impls.append(Fbgemm)
    except ImportError:
        pass
    if args.threads:
        numba.set_num_threads(args.threads)
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    rng = np.random.default_rng(0)
    results = {impl.name: {"batch": [], "features": []} for impl in impls}
    for impl_cls in impls:
        for f in FEATURES:  # one set of f tables at a time (each 1M-entry table takes ~200 MB)
            impl = impl_cls(f)
            batches = [impl.prepare(r, l, 4096) for r, l in _batches(rng, 4096, f)]
            results[impl.name]["features"].append((f, _time(impl, batches, args.rounds)))
            if f == 6:
                for b in BATCHES:
                    batches = [impl.prepare(r, l, b) for r, l in _batches(rng, b, 6)]
                    results[impl.name]["batch"].append((b, _time(impl, batches, args.rounds)))
            del impl
    print("| implementation | sweep | point | median step (ms) |\n|---|---|---|---|")
    for name, sweeps in results.items():
        for sweep, points in sweeps.items():
            for x, ms in points:
                print(f"| {name} | {sweep} | {x} | {ms:.2f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, sweeps in results.items():
        for ax, sweep in zip(axes, ("batch", "features")):
            xs, ys = zip(*sweeps[sweep])
            ax.plot(xs, ys, marker="o", label=name)
    axes[0].set(xscale="log", yscale="log", xlabel="batch size (6 features)", ylabel="median step (ms)")
    axes[1].set(xlabel="features (batch 4096)", ylabel="median step (ms)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend()
    threads = args.threads or numba.get_num_threads()
    fig.suptitle(f"Embedding training step (bags of 1-8 Zipf ids, dim 16, Adagrad), {threads} thread(s)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
