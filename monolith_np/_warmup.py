"""Compile the kernels a workload will use ahead of its first call, into the on-disk kernel cache.

numba compiles each kernel on its first call with new argument types, and a
first call can wait seconds for it; the machine code then stays in the
package's cache (``MONOLITH_NP_CACHE_DIR``, keyed by release and source
digest), so later processes load it in milliseconds. :func:`warmup` (and the
``monolith-np warmup`` command) runs a small representative workload per
feature, each feature in a process of its own, several at a time, and then
compiles the parallel form of every kernel the workload touched for the same
argument types (calls large enough to use threads run that form). Run it once
per machine and release, e.g. in a container build.

``python -m monolith_np._warmup FEATURE`` runs one feature's workload in the
current process (what each worker process does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["FEATURES", "warmup"]


def _tables():
    from .entry import RandomUniformInitializer
    from .optim import AdagradOptimizer, AdamOptimizer, FtrlOptimizer, SgdOptimizer
    from .table import EmbeddingHashTable

    ids = np.arange(64, dtype=np.int64) * 7919
    grads = np.ones((64, 16), np.float32)
    for opt in (SgdOptimizer(0.1), AdagradOptimizer(0.05), AdamOptimizer(0.01), FtrlOptimizer(0.05)):
        table = EmbeddingHashTable([(16, RandomUniformInitializer(-0.05, 0.05, seed=1), opt)])
        table.apply_gradients(ids, grads)
        table.lookup(ids)
        table.contains(ids)
        table.insert(ids + 1)
        table.erase(ids[:8])


def _collection():
    from .entry import RandomUniformInitializer
    from .optim import AdagradOptimizer
    from .table import EmbeddingCollection, EmbeddingHashTable

    table = EmbeddingHashTable([(16, RandomUniformInitializer(-0.05, 0.05, seed=1), AdagradOptimizer(0.05))])
    coll = EmbeddingCollection({"ids": table}, {"user": "ids", "item": ("ids", "mean")})
    out, batch = coll.forward(np.arange(12, dtype=np.int64), lengths=np.array([1, 2, 3, 2, 2, 2]))
    coll.backward(batch, np.ones_like(out))


def _optim():
    from .optim import AdagradOptimizer, AdamOptimizer, FtrlOptimizer, SgdOptimizer

    rows = np.array([3, 7, 3, 1], np.int64)
    for opt in (SgdOptimizer(0.1), AdagradOptimizer(0.05), AdamOptimizer(0.01), FtrlOptimizer(0.05)):
        table = np.zeros((16, 8), np.float32)
        opt.apply_rows(table, rows, np.ones((4, 8), np.float32), opt.init_state(16, 8))


def _losses():
    from .losses import batch_softmax_loss_and_grad, get_sigmoid_loss_and_pred, get_sigmoid_loss_and_pred_and_grad
    from .losses import inbatch_auc_loss_and_grad

    rng = np.random.default_rng(0)
    x = rng.standard_normal(64).astype(np.float32)
    y = (x > 0).astype(np.float32)
    get_sigmoid_loss_and_pred("head", x, y, 64, sample_rate=0.5)
    get_sigmoid_loss_and_pred_and_grad("head", x, y, 64, sample_rate=0.5)
    q = rng.standard_normal((8, 4)).astype(np.float32)
    batch_softmax_loss_and_grad(q, q[::-1].copy(), np.ones(8, np.float32), 1.0)
    inbatch_auc_loss_and_grad(y, x)


def _ranking():
    from .losses import ranking

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (4, 8)).astype(np.float32)
    logits = rng.standard_normal((4, 8)).astype(np.float32)
    for name in ("pairwise_logistic_loss", "pairwise_hinge_loss", "softmax_loss", "list_mle_loss"):
        getattr(ranking, f"{name}_and_grad")(labels, logits)


def _schedules():
    from . import schedules

    steps = np.arange(16)
    for schedule in (schedules.PolynomialDecay(0.01, decay_steps=10, end_learning_rate=0.1),
                     schedules.ExponentialDecay(0.1, 100, 0.96), schedules.CosineDecay(0.1, 1000)):
        schedule(3)
        schedule(steps)


def _ragged():
    from . import ragged

    emb = np.ones((6, 16), np.float32)
    lengths = np.array([1, 2, 3])
    for combine in (ragged.reduce_sum, ragged.reduce_mean):
        combine(emb, row_lengths=lengths)
    ragged.reduce_sum_grad(np.ones((3, 16), np.float32), row_lengths=lengths)
    ragged.reduce_mean_grad(np.ones((3, 16), np.float32), row_lengths=lengths)


def _sampling():
    from . import sampling

    w = np.log(np.random.default_rng(0).dirichlet(np.ones(30), size=4)).astype(np.float32)
    sampling.sample_subset(w, k=5, t=0.1, seed=7)
    sampling.gumbel_keys(w, seed=7)


#: The features :func:`warmup` knows, each with the workload that touches its kernels.
FEATURES = {
    "tables": _tables,
    "collection": _collection,
    "optim": _optim,
    "losses": _losses,
    "ranking": _ranking,
    "schedules": _schedules,
    "ragged": _ragged,
    "sampling": _sampling,
}


def _compile_parallel_forms():
    """Compile every touched :class:`~monolith_np._compile.ParallelKernel`'s parallel form for its argument types."""
    from ._compile import KERNELS

    for kernel in list(KERNELS):
        for signature in kernel._serial.signatures:
            if signature not in kernel._parallel.signatures:
                kernel._parallel.compile(signature)


def _run_feature(name):
    """Run feature ``name``'s workload in this process, then compile the parallel forms it touched."""
    FEATURES[name]()
    _compile_parallel_forms()


def _check_features(features):
    if features is None:
        return list(FEATURES)
    if isinstance(features, str):
        features = [features]
    features = list(features)
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise ValueError(f"features must be names out of {', '.join(FEATURES)}, got {features!r}")
    return features


def warmup(features=None, processes=None):
    """Compile the kernels of ``features`` into the kernel cache, one process per feature, several at a time.

    Parameters
    ----------
    features : str or iterable of str, optional
        Names out of :data:`FEATURES` (``"tables"``, ``"collection"``,
        ``"optim"``, ``"losses"``, ``"ranking"``, ``"schedules"``,
        ``"ragged"``, ``"sampling"``); all of them by default.
    processes : int, optional
        Worker processes at a time (default: the CPU count).

    Returns
    -------
    dict
        Seconds each feature's process took, by feature.

    Raises
    ------
    ValueError
        If a feature name is unknown or ``processes`` is not a positive integer.
    RuntimeError
        If a worker process fails (its stderr's end is in the message).

    Examples
    --------
    >>> from monolith_np import warmup
    >>> sorted(warmup("schedules"))
    ['schedules']
    """
    features = _check_features(features)
    if processes is None:
        processes = os.cpu_count() or 1
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a positive integer, got {processes!r}")

    def one(name):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "monolith_np._warmup", name], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"warming up {name!r} failed (exit {done.returncode}): {done.stderr[-2000:]}")
        return time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=min(processes, len(features))) as pool:
        seconds = list(pool.map(one, features))
    return dict(zip(features, seconds))


if __name__ == "__main__":
    for feature in sys.argv[1:]:
        _run_feature(_check_features(feature)[0])
