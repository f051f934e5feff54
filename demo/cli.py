"""Command line of the demo: ``python -m demo ffm`` and ``python -m demo tour``.

``ffm`` (what ``make demo`` runs) trains the FFM click-through model of
Monolith's ``TestFFMModel`` on monolith_np (:mod:`demo`, ``docs/demo.md``): per-slot
embedding hash tables with an occurrence filter and expiry, FTRL biases,
Adagrad/SGD vectors under a ``PolynomialDecay`` rate, gradient clipping, the
sigmoid loss with sample-rate correction, and a checkpoint round trip; it
prints a table, writes a plot and exits non-zero when the AUC misses its
threshold.

``tour`` runs a short tour of the library and writes pictures:

1. learning-rate schedules evaluated over a million steps by the compiled
   kernels, printed as a table and plotted to ``schedules.png``;
2. gumbel top-k subset sampling of 5 out of 30 items, thousands of draws at
   once, whose empirical inclusion frequencies are plotted against the item
   weights in ``sampling.png``;
3. ragged embedding combiners and a sequence mask on a small batch;
4. a Monolith-wire-compatible hash-table config built from the protos;
5. an embedding hash table trained online on a synthetic click log (Zipf
   ids, an occurrence filter, Adagrad), checkpointed and restored, with its
   log-loss curve plotted to ``table.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _schedules_part(out: Path) -> None:
    """Evaluate every schedule over a million steps, print a table and plot."""
    from monolith_np import schedules as S

    steps = np.arange(1_000_000, dtype=np.int64)
    scheds = {
        "PolynomialDecay(0.1→0.001, 200k, power=2)": S.PolynomialDecay(0.1, 200_000, 0.001, power=2.0),
        "PolynomialDecay(cycle, 300k)": S.PolynomialDecay(0.1, 300_000, 0.01, cycle=True),
        "ExponentialDecay(0.96 / 50k, staircase)": S.ExponentialDecay(0.1, 50_000, 0.96, staircase=True),
        "CosineDecay(warm-up 50k → 0.1)": S.CosineDecay(0.0, 800_000, alpha=0.05, warmup_target=0.1,
                                                         warmup_steps=50_000),
        "CosineDecayRestarts(100k, t_mul 2)": S.CosineDecayRestarts(0.1, 100_000),
        "PiecewiseConstantDecay": S.PiecewiseConstantDecay([250_000, 600_000], [0.1, 0.05, 0.01]),
        "LinearWarmup(InverseTimeDecay, 20k)": S.LinearWarmup(S.InverseTimeDecay(0.1, 100_000, 0.5), 20_000),
    }
    print("== Learning-rate schedules (1M steps each, compiled CPU kernels) ==")
    probe = [0, 1, 20_000, 100_000, 500_000, 999_999]
    print(f"{'schedule':42s}" + "".join(f"{p:>11d}" for p in probe) + "   Msteps/s")
    curves = {}
    for name, fn in scheds.items():
        fn(steps[:8])  # compile outside the timing
        t0 = time.perf_counter()
        lr = fn(steps)
        dt = time.perf_counter() - t0
        curves[name] = lr
        print(f"{name:42s}" + "".join(f"{lr[p]:11.5f}" for p in probe) + f"   {len(steps) / dt / 1e6:8.1f}")
    print(f"norm_warmup(clip_norm=5, step=250, warmup_steps=1000) = {S.norm_warmup(5.0, 250, 1000)}")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for name, lr in curves.items():
        ax.plot(steps[::500], lr[::500], label=name)
    ax.set_xlabel("global step")
    ax.set_ylabel("learning rate")
    ax.set_title("monolith_np.schedules")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "schedules.png", dpi=110)
    plt.close(fig)


def _sampling_part(out: Path, draws: int) -> None:
    """Draw subsets in one batched call and compare them with hard top-k."""
    from monolith_np.sampling import sample_subset

    print(f"\n== Gumbel top-k: {draws} subsets of k=5 out of 30 items (t=0.05), one batched call ==")
    rng = np.random.default_rng(0)
    weights = np.sort(rng.gamma(0.7, size=30))[::-1].astype(np.float32)
    weights /= weights.sum()
    w = np.broadcast_to(np.log(weights), (draws, 30)).copy()
    sample_subset(w[:2], 5, t=0.05, seed=1)  # compile outside the timing
    t0 = time.perf_counter()
    khot = sample_subset(w, 5, t=0.05, seed=2024)
    dt = time.perf_counter() - t0
    freq = khot.mean(axis=0)
    # Independent check: hard Gumbel top-k (exact Plackett-Luce sampling without
    # replacement) with numpy's own generator; the relaxed sample must agree.
    gumbel = np.log(weights) + rng.gumbel(size=(draws, 30))
    top = np.argpartition(-gumbel, 5, axis=1)[:, :5]
    hard = np.bincount(top.ravel(), minlength=30) / draws
    print(f"{draws} draws in {dt * 1e3:.1f} ms; each relaxed k-hot row sums to {khot.sum(axis=1).mean():.4f}")
    print("item  weight  relaxed-inclusion  hard-top-k (numpy)")
    for i in range(8):
        print(f"{i:4d}  {weights[i]:.4f}  {freq[i]:17.4f}  {hard[i]:18.4f}")
    print(f"max |relaxed - hard| over all items: {np.abs(freq - hard).max():.4f} "
          f"(sampling noise ~{2 * np.sqrt(0.25 / draws):.4f})")

    import matplotlib.pyplot as plt

    fig, ax1 = plt.subplots(figsize=(9, 4.5))
    ax1.bar(np.arange(30) - 0.2, freq, width=0.4, color="tab:blue", label="relaxed sample_subset (k=5)")
    ax1.bar(np.arange(30) + 0.2, hard, width=0.4, color="tab:gray", label="hard Gumbel top-k (numpy)")
    ax1.set_ylim(0, 1.05)
    ax1.set_xlabel("item (sorted by weight)")
    ax1.set_ylabel("P(item in subset)")
    ax2 = ax1.twinx()
    line = ax2.plot(np.arange(30), weights, "o-", color="tab:orange", label="item weight")
    ax2.set_ylabel("weight")
    ax1.set_title("monolith_np.sampling.sample_subset: Gumbel top-k")
    handles = ax1.get_legend_handles_labels()[0] + line
    ax1.legend(handles, [h.get_label() for h in handles], loc="upper center", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sampling.png", dpi=110)
    plt.close(fig)


def _ragged_part() -> None:
    """Print the combiners and the sequence mask on a small batch."""
    from monolith_np import ragged

    print("\n== Ragged combiners over a batch of 3 rows (lengths 1, 2, 3) ==")
    row_lengths = np.array([1, 2, 3], dtype=np.int64)
    emb = np.arange(1, 13, dtype=np.float32).reshape(6, 2)
    print("reduce_sum :", ragged.reduce_sum(emb, row_lengths=row_lengths).tolist())
    print("reduce_mean:", ragged.reduce_mean(emb, row_lengths=row_lengths).tolist())
    print("first_n(2) :", ragged.first_n(emb, 2, row_lengths=row_lengths).tolist())
    print("gen_seq_mask([0,5,7,9,13], 6):")
    print(ragged.gen_seq_mask(np.array([0, 5, 7, 9, 13], dtype=np.int32), 6))


def _config_part() -> None:
    """Build a hash-table config and round-trip it through its wire bytes."""
    from monolith_np import proto

    print("\n== A Monolith-wire-compatible hash-table config ==")
    cfg = proto.EmbeddingHashTableConfig()
    seg = cfg.entry_config.segments.add()
    seg.dim_size = 16
    seg.init_config.random_uniform.minval = -0.01
    seg.init_config.random_uniform.maxval = 0.01
    seg.opt_config.adagrad.learning_rate = 0.05
    seg.comp_config.fp16.SetInParent()
    cfg.cuckoo.SetInParent()
    data = cfg.SerializeToString()
    print(f"EmbeddingHashTableConfig: {len(data)} bytes on the wire; parses back equal: "
          f"{proto.EmbeddingHashTableConfig.FromString(data) == cfg}")


def _table_part(out: Path, steps: int = 150, batch: int = 20_000) -> None:
    """Train per-id bias embeddings on a synthetic click log, checkpoint, restore, plot the loss."""
    from monolith_np import proto
    from monolith_np.table import EmbeddingHashTable
    from monolith_np.table.filters import SlidingHashFilter, SlotOccurrenceThreshold

    print("\n== Embedding hash table: online training on a synthetic click log ==")
    rng = np.random.default_rng(0)
    num_items = 200_000
    keys = rng.integers(-(2**63), 2**63 - 1, num_items, dtype=np.int64)  # any int64 is an id
    true_logit = rng.normal(-1.0, 1.5, num_items)
    cfg = proto.EmbeddingHashTableConfig()
    seg = cfg.entry_config.segments.add()
    seg.dim_size = 1
    seg.init_config.zeros.SetInParent()
    seg.opt_config.adagrad.learning_rate = 0.5
    seg.opt_config.adagrad.initial_accumulator_value = 0.1
    table = EmbeddingHashTable(cfg, occurrence_filter=SlidingHashFilter(1_000_000),
                               occurrence_threshold=SlotOccurrenceThreshold(default_occurrence_threshold=2))
    losses = []
    t0 = time.perf_counter()
    for step in range(steps):
        if step == 1:
            t0 = time.perf_counter()  # step 0 compiles the kernels
        idx = (rng.zipf(1.2, batch) - 1) % num_items
        ids = keys[idx]
        clicks = (rng.random(batch) < 1 / (1 + np.exp(-true_logit[idx]))).astype(np.float32)
        p = 1 / (1 + np.exp(-table.lookup(ids)[:, 0]))
        losses.append(float(-np.mean(clicks * np.log(p + 1e-7) + (1 - clicks) * np.log(1 - p + 1e-7))))
        table.apply_gradients(ids, (p - clicks)[:, None].astype(np.float32), global_step=step, update_time=step)
    dt = time.perf_counter() - t0
    print(f"{steps} steps x {batch} ids: {(steps - 1) * batch / dt / 1e6:.1f} M ids/s after the first step "
          f"(lookup + apply_gradients); log-loss {losses[0]:.4f} -> {np.mean(losses[-10:]):.4f}")
    print(f"entries {table.size} (ids seen fewer than 3 times are kept out by the filter), "
          f"load factor {table.load_factor:.2f}, {table.memory_bytes() / max(table.size, 1):.0f} bytes/entry")
    ckpt = out / "table_ckpt" / "clicks"
    ckpt.parent.mkdir(exist_ok=True)
    table.save(ckpt)  # compiles the checkpoint codec
    EmbeddingHashTable(cfg).restore(ckpt)
    t0 = time.perf_counter()
    saved = table.save(ckpt, num_shards=2)
    t_save = time.perf_counter() - t0
    restored = EmbeddingHashTable(cfg)
    t0 = time.perf_counter()
    restored.restore(ckpt)
    t_restore = time.perf_counter() - t0
    probe = keys[:5000]
    same = np.array_equal(restored.lookup(probe), table.lookup(probe))
    print(f"saved {saved} EntryDump records in {t_save:.2f} s, restored in {t_restore:.2f} s; "
          f"lookups equal after restore: {same}")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(losses)
    ax.set_xlabel("step (20k clicks each)")
    ax.set_ylabel("log-loss")
    ax.set_title("EmbeddingHashTable + Adagrad, Zipf(1.2) ids, occurrence threshold 2")
    fig.tight_layout()
    fig.savefig(out / "table.png", dpi=110)
    plt.close(fig)


def tour(out: str = "demo_output", draws: int = 20_000) -> int:
    """Run the library tour and write its pictures into ``out``.

    Parameters
    ----------
    out : str, default "demo_output"
        Output directory (created if missing).
    draws : int, default 20000
        Number of subsets drawn in the sampling part.

    Returns
    -------
    int
        Process exit code (0 on success).
    """
    import matplotlib

    matplotlib.use("Agg")
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    _schedules_part(path)
    _sampling_part(path, draws)
    _ragged_part()
    _config_part()
    _table_part(path)
    print(f"\nwrote {path / 'schedules.png'}, {path / 'sampling.png'} and {path / 'table.png'}")
    return 0


def ffm(argv: list[str] | None = None) -> int:
    """Run the FFM training demo with command-line options (see ``python -m demo ffm --help``).

    Parameters
    ----------
    argv : list of str, optional
        The options after ``ffm`` (``sys.argv[2:]`` style); empty: defaults.

    Returns
    -------
    int
        Process exit code: 0 when the final AUC reached ``--auc-threshold``
        and the checkpoint replay was identical, 1 otherwise, 2 on bad options.
    """
    return main(["ffm", *(argv or [])])


def _add_demo_options(p: argparse.ArgumentParser) -> None:
    from . import DemoConfig

    d = DemoConfig()
    p.add_argument("--out", default="demo_output", help="output directory (default: demo_output)")
    p.add_argument("--steps", type=int, default=d.steps, help=f"training steps (default {d.steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help=f"examples per step (default {d.batch_size})")
    p.add_argument("--ids", type=int, default=d.num_ids, help=f"ids per slot (default {d.num_ids})")
    p.add_argument("--dim", type=int, default=d.dim, help=f"width of each FFM pair slice (default {d.dim})")
    p.add_argument("--max-ids-per-slot", type=int, default=d.max_ids_per_slot,
                   help=f"each slot of an example has 1..N ids (default {d.max_ids_per_slot})")
    p.add_argument("--optimizer", choices=("adagrad", "sgd"), default=d.optimizer,
                   help=f"rule of the vector segments (default {d.optimizer})")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate,
                   help=f"initial vector learning rate, decayed polynomially (default {d.learning_rate})")
    p.add_argument("--end-learning-rate", type=float, default=d.end_learning_rate,
                   help=f"final vector learning rate (default {d.end_learning_rate})")
    p.add_argument("--clip-norm", type=float, default=d.clip_norm,
                   help=f"global-norm clip of a step's gradients (default {d.clip_norm})")
    p.add_argument("--occurrence-threshold", type=int, default=d.occurrence_threshold,
                   help=f"occurrences before an id gets an entry, 0: no filter (default {d.occurrence_threshold})")
    p.add_argument("--negative-sample-rate", type=float, default=d.negative_sample_rate,
                   help=f"probability of keeping a negative (default {d.negative_sample_rate})")
    p.add_argument("--checkpoint-step", type=int, default=None,
                   help="step of the save/restore/replay check (default steps // 2; negative: none)")
    p.add_argument("--auc-threshold", type=float, default=d.auc_threshold,
                   help=f"final AUC needed for exit code 0 (default {d.auc_threshold})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed of data and tables (default {d.seed})")
    p.add_argument("--device", choices=("cpu", "cuda"), default=d.device,
                   help="where the tables live (cuda: CuPy and a GPU)")
    p.add_argument("--threads", type=int, default=1, help="numba threads (default 1, see docs/demo.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_demo(args, parser) -> int:
    from . import DemoConfig, run_demo

    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.device == "cuda":
        from monolith_np._backend import get_cupy

        try:
            if get_cupy().cuda.runtime.getDeviceCount() < 1:
                raise RuntimeError("no CUDA device")
        except Exception as err:  # noqa: BLE001 - any failure means no usable GPU
            parser.error(f"--device cuda needs CuPy and a CUDA GPU: {err}")
    try:
        config = DemoConfig(
            steps=args.steps, batch_size=args.batch_size, num_ids=args.ids, dim=args.dim,
            max_ids_per_slot=args.max_ids_per_slot, optimizer=args.optimizer, learning_rate=args.learning_rate,
            end_learning_rate=args.end_learning_rate, clip_norm=args.clip_norm,
            occurrence_threshold=args.occurrence_threshold, negative_sample_rate=args.negative_sample_rate,
            checkpoint_step=args.checkpoint_step, auc_threshold=args.auc_threshold, seed=args.seed,
            device=args.device)
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    return run_demo(config, out=args.out, progress=not args.no_progress, threads=args.threads).exit_code


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (``sys.argv[1:]`` when omitted).

    Returns
    -------
    int
        Process exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("ffm", help="train the FFM click model, check a checkpoint, plot (exit 1 if AUC "
                                         "misses the threshold)")
    _add_demo_options(p_demo)
    p_tour = sub.add_parser("tour", help="a short tour of the library, with plots")
    p_tour.add_argument("--out", default="demo_output", help="output directory (default: demo_output)")
    p_tour.add_argument("--draws", type=int, default=20_000, help="subsets drawn in the sampling part")
    args = parser.parse_args(argv)
    if args.command == "ffm":
        return _run_demo(args, p_demo)
    if args.command == "tour":
        if args.draws <= 0:
            p_tour.error(f"--draws must be positive, got {args.draws}")
        return tour(args.out, args.draws)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
