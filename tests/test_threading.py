"""Every numba threading layer survives concurrent tables, concurrent saves and fork after use.

numba picks one layer per process, so each layer runs in a subprocess of its
own (``NUMBA_THREADING_LAYER``). The worker trains a reference table alone,
then two tables from two threads at once, saves from two threads (to two
paths and to one path), and forks a child that trains a table after the
parent ran parallel regions. Every table must equal the reference bit for
bit, every save must restore, and the child must exit normally. Without the
guards in ``monolith_np._threading`` the workqueue run aborts the process and
the GNU OpenMP child is killed by its runtime.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

WORKER = textwrap.dedent(
    """
    import os, sys, tempfile, threading
    import numba
    import numpy as np
    from monolith_np import _threading
    from monolith_np.entry import RandomUniformInitializer
    from monolith_np.optim import AdagradOptimizer
    from monolith_np.table import EmbeddingHashTable

    DIM, N, ROUNDS = 8, 40_000, 3   # N * DIM is above PARALLEL_MIN_WORK: real parallel regions

    def train():
        table = EmbeddingHashTable([(DIM, RandomUniformInitializer(seed=7), AdagradOptimizer())])
        rng = np.random.default_rng(0)
        for r in range(ROUNDS):
            ids = rng.integers(0, 30_000, N).astype(np.int64)
            table.apply_gradients(ids, rng.standard_normal((N, DIM)).astype(np.float32), update_time=r + 1)
        return table

    def snapshot(table):
        ids, values, state, ts = table.export()
        order = np.argsort(ids)
        return ids[order].tobytes() + values[order].tobytes() + ts[order].tobytes() + b"".join(
            a[order].tobytes() for st in state for _, a in sorted(st.items()))

    def in_threads(fn, n=2):
        out, errors = [None] * n, []
        def run(i):
            try:
                out[i] = fn(i)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return out

    reference = snapshot(train())
    assert all(snapshot(t) == reference for t in in_threads(lambda i: train())), "concurrent tables"

    tmp = tempfile.mkdtemp()
    tables = in_threads(lambda i: train())
    in_threads(lambda i: tables[i].save(os.path.join(tmp, f"t{i}"), num_shards=2))
    in_threads(lambda i: tables[i].save(os.path.join(tmp, "same"), num_shards=2))
    for name in ("t0", "t1", "same"):
        restored = EmbeddingHashTable([(DIM, RandomUniformInitializer(seed=7), AdagradOptimizer())])
        restored.restore(os.path.join(tmp, name))
        assert snapshot(restored) == reference, name

    pid = os.fork()
    if pid == 0:
        os._exit(0 if snapshot(train()) == reference else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"forked child: status {status}"
    print("layer", numba.threading_layer(), _threading.guard())
    """
)


def _run(env_layer):
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if env_layer:
        env["NUMBA_THREADING_LAYER"] = env_layer
    env["NUMBA_NUM_THREADS"] = "2"
    return subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, timeout=600)


def _available(layer):
    probe = "from monolith_np import _threading; import sys; print(_threading.layer())"
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).returncode == 0


@pytest.mark.parametrize("layer", ["tbb", "omp", "workqueue"])
def test_layer_survives_threads_saves_and_fork(layer):
    if not _available(layer):
        pytest.skip(f"numba's {layer} layer cannot load here")
    done = _run(layer)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {"tbb": "free", "omp": "free", "workqueue": "locked"}[layer]
    assert f"layer {layer} {expected}" in done.stdout


def test_default_layer_is_tbb_when_the_wheel_is_installed():
    try:
        metadata.version("tbb")
    except metadata.PackageNotFoundError:
        pytest.skip("the tbb wheel is a dependency on x86-64 Linux only")
    probe = "from monolith_np import _threading; print(_threading.layer())"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "tbb"
