"""The demo run: train, check the checkpoint round trip, report, plot.

:func:`run_demo` trains :mod:`demo.train`'s FFM for
``config.steps`` steps with a progress bar, saves and restores the tables
half-way and replays the next steps on the restored copy (the losses must be
bit-identical), then prints a table, writes ``metrics.csv``,
``metrics.json`` and ``ffm_training.png`` into the output directory, and
returns exit code 0 only when the final AUC reaches the threshold and the
checkpoint check passed.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from monolith_np._checks import check_number
from monolith_np.metrics import auc
from .train import (DemoConfig, batch_for_step, build_tables, demo_truth, maintenance, restore_checkpoint,
                    save_checkpoint, train_step)

__all__ = ["DemoResult", "run_demo"]


class DemoResult(NamedTuple):
    """Outcome of :func:`run_demo`.

    Parameters
    ----------
    exit_code : int
        0 when the final AUC reached the threshold and the checkpoint check
        passed (or did not run), 1 otherwise.
    final_auc : float
        AUC of the predictions of the last tenth of the steps (each made
        before training on its batch: progressive validation).
    oracle_auc : float
        AUC of the hidden model's logits on the same examples (the ceiling).
    checkpoint_identical : bool or None
        Whether the restored tables replayed the next steps bit for bit
        (None when no check ran).
    metrics : list of dict
        Per-step metrics (``step, loss, auc, examples_per_s, ids_per_s,
        entries, learning_rate, grad_norm, evicted``).
    """

    exit_code: int
    final_auc: float
    oracle_auc: float
    checkpoint_identical: object
    metrics: list


def _checkpoint_check(tables, config, truth, step, out, say):
    """Save, restore into fresh tables, replay ``check_steps`` steps on both; returns (identical, results)."""
    path = Path(out) / "checkpoint"
    if path.exists():
        shutil.rmtree(path)
    t0 = time.perf_counter()
    written = save_checkpoint(tables, path)
    t_save = time.perf_counter() - t0
    fresh = build_tables(config)
    t0 = time.perf_counter()
    restore_checkpoint(fresh, path)
    t_restore = time.perf_counter() - t0
    shutil.rmtree(path)
    results, identical = [], True
    losses = []
    for k in range(step, min(step + config.check_steps, config.steps)):
        batch = batch_for_step(config, truth, k)
        evicted = maintenance(tables, k, batch.time)
        maintenance(fresh, k, batch.time)
        a = train_step(tables, batch, k)
        b = train_step(fresh, batch, k)
        same = (np.float32(a.loss).tobytes() == np.float32(b.loss).tobytes()
                and np.array_equal(a.pred.view(np.uint32), b.pred.view(np.uint32)))
        identical &= same
        losses.append((k, a.loss, b.loss, same))
        results.append((batch, a, evicted))
    say(f"checkpoint at step {step}: saved {sum(written.values())} entries in {t_save:.2f} s, "
        f"restored into fresh tables in {t_restore:.2f} s")
    for k, la, lb, same in losses:
        say(f"  step {k}: loss continuing {la!r} vs restored {lb!r} -> {'identical' if same else 'DIFFERENT'}")
    return identical, results


def _window_rows(metrics, preds, labels, oracle, rows=10):
    """Summary rows over about ``rows`` equal windows of steps."""
    n = len(metrics)
    size = max(1, math.ceil(n / rows))
    out = []
    for lo in range(0, n, size):
        hi = min(n, lo + size)
        win = metrics[lo:hi]
        y = np.concatenate(labels[lo:hi])
        timed = [m for m in win if m["seconds"] > 0]
        t = sum(m["seconds"] for m in timed)
        out.append({
            "step": win[-1]["step"],
            "loss": float(np.mean([m["loss"] for m in win])),
            "auc": auc(y, np.concatenate(preds[lo:hi])),
            "oracle_auc": auc(y, np.concatenate(oracle[lo:hi])),
            "examples_per_s": sum(m["examples"] for m in timed) / t if t > 0 else float("nan"),
            "ids_per_s": sum(m["ids"] for m in timed) / t if t > 0 else float("nan"),
            "entries": win[-1]["entries"],
        })
    return out


def _plot(metrics, path, config):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([m["step"] for m in metrics])

    def smooth(values, k=max(1, len(metrics) // 30)):
        v = np.asarray(values, float)
        return np.convolve(v, np.ones(k) / k, mode="valid"), steps[k - 1:]

    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    loss = [m["loss"] for m in metrics]
    axes[0].plot(steps, loss, color="tab:blue", alpha=0.3, label="batch")
    s, x = smooth(loss)
    axes[0].plot(x, s, color="tab:blue", label="moving average")
    axes[0].set_ylabel("log-loss per example")
    axes[0].legend(fontsize=8)
    a = [m["auc"] for m in metrics]
    axes[1].plot(steps, a, color="tab:green", alpha=0.3, label="batch AUC (before its update)")
    s, x = smooth(a)
    axes[1].plot(x, s, color="tab:green", label="moving average")
    axes[1].plot(steps, [m["oracle_auc"] for m in metrics], color="gray", lw=0.8, label="hidden model (ceiling)")
    axes[1].axhline(config.auc_threshold, color="tab:red", ls="--", lw=0.8, label="threshold")
    axes[1].set_ylabel("AUC")
    axes[1].legend(fontsize=8, loc="lower right")
    axes[2].plot(steps, [m["ids_per_s"] / 1e6 for m in metrics], color="tab:purple")
    axes[2].set_ylabel("M ids/s (train_step)")
    axes[2].set_xlabel("step")
    fig.suptitle(f"monolith_np FFM demo: {config.batch_size} examples/step, {config.num_ids} ids/slot, "
                 f"dim {config.dim}, {config.optimizer}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_demo(config=None, out="demo_output", progress=True, file=None, threads=1):
    """Train the FFM demo, check the checkpoint round trip, print and write the report.

    Parameters
    ----------
    config : DemoConfig, optional
        The settings (default ``DemoConfig()``).
    out : str or os.PathLike, default "demo_output"
        Output directory (created): ``ffm_training.png``, ``metrics.csv``,
        ``metrics.json``; the checkpoint is written to ``out/checkpoint`` and
        removed.
    progress : bool, default True
        Show a tqdm progress bar (on stderr).
    file : file-like, optional
        Where the report is printed (default ``sys.stdout``).
    threads : int or None, default 1
        Numba threads during the run (restored afterwards); ``None`` leaves
        numba's setting. One thread is the default: a step's kernels work on
        a few thousand rows per table, too little to gain from threads, and on
        a busy 2-core machine waiting for a second thread costs far more
        (measured: 46 ms vs 240 ms per step).

    Returns
    -------
    DemoResult
    """
    config = DemoConfig() if config is None else config
    if not isinstance(config, DemoConfig):
        raise TypeError(f"config must be a DemoConfig, got {type(config).__name__}")
    file = sys.stdout if file is None else file
    check_number("threads", threads, integer=True, low=1, allow_none=True)

    def say(text=""):
        print(text, file=file, flush=True)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    previous = _set_threads(threads)
    try:
        return _run(config, out, progress, say)
    finally:
        _set_threads(previous)


def _run(config, out, progress, say):
    layout = config.layout
    say(f"== FFM click model (Monolith's TestFFMModel) on monolith_np, device {config.device} ==")
    say(f"{layout.num_slots} slots, pairs {[(u, v) for u, v, _ in layout.pairs]} (dim {config.dim}), "
        f"biases on slots {list(layout.bias_slots)} (FTRL), vectors: {config.optimizer} with "
        f"PolynomialDecay({config.learning_rate} -> {config.end_learning_rate}, {config.steps} steps)")
    say(f"{config.steps} steps x {config.batch_size} examples, {config.num_ids} ids per slot, 1-"
        f"{config.max_ids_per_slot} ids per slot and example, negatives kept at rate "
        f"{config.negative_sample_rate}, occurrence threshold {config.occurrence_threshold}, item ids expire "
        f"after {config.item_expire_days} day(s)")
    truth = demo_truth(config)
    tables = build_tables(config)
    check_at = config.effective_checkpoint_step
    identical = None
    metrics, preds, labels, oracle = [], [], [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, desc="training", unit="step", file=sys.stderr, leave=True)
    t_start = time.perf_counter()
    pending = []
    step = 0
    while step < config.steps:
        if step == check_at:
            identical, results = _checkpoint_check(tables, config, truth, step, out,
                                                   bar.write if bar is not None else say)
            pending = [(batch, res, ev, float("nan")) for batch, res, ev in results]
        else:
            batch = batch_for_step(config, truth, step)
            evicted = maintenance(tables, step, batch.time)
            t0 = time.perf_counter()
            res = train_step(tables, batch, step)
            pending = [(batch, res, evicted, time.perf_counter() - t0)]
        for batch, res, evicted, seconds in pending:
            preds.append(res.pred)
            labels.append(batch.labels)
            oracle.append(batch.true_logits)
            metrics.append({
                "step": step, "loss": res.loss / batch.batch_size, "auc": auc(batch.labels, res.pred),
                "oracle_auc": auc(batch.labels, batch.true_logits), "examples": batch.batch_size,
                "ids": res.num_ids, "seconds": seconds,
                "examples_per_s": batch.batch_size / seconds if seconds > 0 else float("nan"),
                "ids_per_s": res.num_ids / seconds if seconds > 0 else float("nan"),
                "entries": tables.size, "learning_rate": res.learning_rate, "grad_norm": res.grad_norm,
                "evicted": evicted,
            })
            step += 1
            if bar is not None:
                recent = slice(max(0, len(preds) - 20), None)
                timed = [m for m in metrics[-20:] if m["seconds"] > 0]
                speed = sum(m["ids"] for m in timed) / max(sum(m["seconds"] for m in timed), 1e-9)
                bar.set_postfix(loss=f"{np.mean([m['loss'] for m in metrics[-20:]]):.4f}",
                                auc=f"{auc(np.concatenate(labels[recent]), np.concatenate(preds[recent])):.4f}",
                                ids_s=f"{speed / 1e6:.2f}M", refresh=False)
                bar.update(1)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t_start
    # The checkpoint steps ran twice (continuing + restored): leave them out of the speeds.
    # Steps 0 and 1 compile (or load) the kernels: step 0 admits no id yet, step 1 is the first update.
    warmup = metrics[:2]
    compile_s = sum(m["seconds"] for m in warmup)
    for m in warmup:
        m["seconds"] = float("nan")
    for m in metrics:
        if not m["seconds"] > 0:
            m["seconds"] = 0.0
            m["examples_per_s"] = m["ids_per_s"] = float("nan")
    timed = [m for m in metrics if m["seconds"] > 0]
    k = max(1, config.steps // 10)
    final_auc = auc(np.concatenate(labels[-k:]), np.concatenate(preds[-k:]))
    oracle_auc = auc(np.concatenate(labels[-k:]), np.concatenate(oracle[-k:]))

    say()
    say(f"{'step':>6} {'loss':>8} {'AUC':>7} {'oracle':>7} {'examples/s':>11} {'ids/s':>11} {'entries':>9}")
    for row in _window_rows([m for m in metrics], preds, labels, oracle):
        say(f"{row['step']:6d} {row['loss']:8.4f} {row['auc']:7.4f} {row['oracle_auc']:7.4f} "
            f"{row['examples_per_s']:11,.0f} {row['ids_per_s']:11,.0f} {row['entries']:9,d}")
    total_ids = sum(m["ids"] for m in timed)
    total_s = sum(m["seconds"] for m in timed)
    say(f"(loss: log-loss per example on the down-sampled batch before its update; AUC: of those predictions "
        f"per window of steps; speeds: train_step only, steps 0-1 and the checkpoint replay left out)")
    say(f"train_step: {total_ids / max(total_s, 1e-9):,.0f} ids/s over {len(timed)} steps (steps 0-1, which "
        f"compile or load the kernels, took {compile_s:.1f} s); whole run "
        f"{wall:.1f} s (data generation, metrics and the checkpoint check included)")
    evicted = sum(m["evicted"] for m in metrics)
    say(f"entries: {tables.size:,d} over {layout.num_slots} tables, {evicted:,d} expired item ids evicted")

    passed_auc = bool(final_auc >= config.auc_threshold)
    exit_code = 0 if passed_auc and identical is not False else 1
    say(f"final AUC (last {k} steps, progressive) {final_auc:.4f} vs threshold {config.auc_threshold}: "
        f"{'PASS' if passed_auc else 'FAIL'}; hidden-model AUC on the same examples {oracle_auc:.4f}")
    if identical is not None:
        say(f"checkpoint save -> restore -> replay: {'identical losses' if identical else 'LOSSES DIFFER'}")

    fields = ["step", "loss", "auc", "oracle_auc", "examples_per_s", "ids_per_s", "entries", "learning_rate",
              "grad_norm", "evicted", "seconds"]
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(metrics)
    summary = {
        "config": {k: v for k, v in vars(config).items() if k != "layout"},
        "final_auc": final_auc, "oracle_auc": oracle_auc, "auc_threshold": config.auc_threshold,
        "checkpoint_identical": identical, "exit_code": exit_code, "wall_seconds": wall,
        "ids_per_s": total_ids / max(total_s, 1e-9), "entries": tables.size,
    }
    with open(out / "metrics.json", "w") as f:
        json.dump({"summary": summary, "steps": metrics}, f, indent=1, default=float)
    _plot(metrics, out / "ffm_training.png", config)
    say(f"wrote {out / 'ffm_training.png'}, {out / 'metrics.csv'} and {out / 'metrics.json'}")
    return DemoResult(exit_code, final_auc, oracle_auc, identical, metrics)


def _set_threads(threads):
    """Set numba's thread count (``None``: leave it); returns the previous count or None."""
    if threads is None:
        return None
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    return previous

