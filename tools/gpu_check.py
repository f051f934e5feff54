"""Check and time the GPU kernels in one call (run it on a lent GPU machine).

``python3 tools/gpu_check.py --out DIR`` from the repository root:

1. runs the CUDA test lane on the real GPU (``MONOLITH_NP_REAL_GPU=1 pytest
   tests/cuda``), including the many-duplicates stress test of the table;
2. runs the table's insert/lookup/erase and an ``EmbeddingCollection``
   forward/backward (the pooling kernels) under ``compute-sanitizer``
   (memcheck and racecheck) when the tool is on the PATH;
3. times ``EmbeddingHashTable(device="cuda")`` lookups and inserts at dim 16
   for load factors 0.5 and 0.75 and reports billions of ids per second (the
   issue's target: >= 2 B/s lookup on an H100/H200), next to a CuPy gather of
   the same rows with the row numbers known (the floor);
4. times an ``EmbeddingCollection`` over two GPU tables (sum, mean and
   first-n features): forward in training and read-only, backward, and the
   bag-pooling kernel alone next to a gather of the same rows (the floor);

and writes ``gpu_check.json`` (and the pytest/sanitizer logs) into ``DIR``.
``--sim`` (with ``NUMBA_ENABLE_CUDASIM=1``) runs steps 3 and 4 only, with tiny
sizes under the CUDA simulator, so CI keeps the script itself working.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIM = 16


def _run(cmd, log, env=None):
    """Run ``cmd``, write its output to ``log``; return the exit status."""
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    return done.returncode


def _stress_script(n):
    """Source of a small table workload for compute-sanitizer."""
    return (
        "import numpy as np\n"
        "from monolith_np.entry import RandomUniformInitializer\n"
        "from monolith_np.optim import AdagradOptimizer\n"
        "from monolith_np.table import EmbeddingHashTable\n"
        f"t = EmbeddingHashTable([({DIM}, RandomUniformInitializer(seed=1), AdagradOptimizer())], device='cuda')\n"
        f"ids = np.random.default_rng(0).integers(0, {n // 8}, {n}).astype(np.int64)\n"
        f"t.apply_gradients(ids, np.ones(({n}, {DIM}), np.float32))\n"
        "t.lookup(ids); t.erase(ids[::3]); t.insert(ids)\n"
        "import cupy\n"
        "from monolith_np.table import EmbeddingCollection\n"
        "c = EmbeddingCollection({'t': t}, {'a': 't', 'b': ('t', 'mean'), 'c': ('t', ('first_n', 3))})\n"
        f"b = {n} // 12\n"
        "lengths = np.random.default_rng(1).integers(0, 9, 3 * b)\n"
        "values = cupy.asarray(ids[np.arange(lengths.sum()) % ids.size])\n"
        "out, batch = c.forward(values, lengths=lengths)\n"
        "c.backward(batch, cupy.ones_like(out)); c.forward(values, lengths=lengths, training=False)\n"
        "cupy.cuda.Stream.null.synchronize()\n"
    )


def _sync(xp):
    if xp is not None and hasattr(xp, "cuda"):
        xp.cuda.Stream.null.synchronize()


def _time(fn, xp, reps):
    fn()
    _sync(xp)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(xp)
        best = min(best, time.perf_counter() - t0)
    return best


def table_throughput(slots, batch, loads, reps):
    """Lookup and insert throughput of a GPU table of ``slots`` index slots at each load factor (ids/s)."""
    import numpy as np

    from monolith_np.entry import RandomUniformInitializer
    from monolith_np.optim import AdagradOptimizer
    from monolith_np.table import EmbeddingHashTable

    results = []
    for load in loads:
        fill = int(load * slots)
        # max_load_factor 0.9: room for load 0.75 in exactly ``slots`` slots, no growth while timing.
        table = EmbeddingHashTable([(DIM, RandomUniformInitializer(seed=1), AdagradOptimizer())],
                                   capacity=fill, max_load_factor=0.9, device="cuda")
        xp = table._xp
        keys = xp.asarray(np.random.default_rng(0).integers(-(2**63), 2**63 - 1, fill, dtype=np.int64))
        t0 = time.perf_counter()
        for k in range(0, fill, batch):
            table.insert(keys[k:k + batch])
        _sync(xp)
        insert_s = time.perf_counter() - t0
        query = keys[xp.asarray(np.random.default_rng(1).integers(0, fill, batch))]
        out = xp.empty((batch, DIM), np.float32)
        lookup_s = _time(lambda: table.lookup(query, out=out), xp, reps)
        rows = table._rows(query)
        floor_s = _time(lambda: table._ops.take(table._values, rows, out), xp, reps)
        results.append({"slots": int(table._slots.shape[0]), "load_factor": table.load_factor,
                        "entries": table.size, "batch": batch, "insert_ids_per_s": fill / insert_s,
                        "lookup_ids_per_s": batch / lookup_s, "gather_floor_ids_per_s": batch / floor_s})
    return results


class _NumpyAsDevice:
    """numpy under another name, for the collection's GPU branch under the simulator."""

    def __getattr__(self, name):
        import numpy as np

        return getattr(np, name)


def _sim_collection():
    """Under the simulator GPU tables keep numpy arrays: let the collection take them for device arrays."""
    import numpy as np

    from monolith_np.table import collection

    collection.get_cupy = _NumpyAsDevice
    collection.is_cuda_array = lambda x: isinstance(x, np.ndarray)


def collection_throughput(bags, mean_len, vocab, reps):
    """Forward/backward throughput of an ``EmbeddingCollection`` over two GPU tables (ids/s).

    Four features (sum and mean over one table, first-n 4 and sum over the
    other), ``bags`` bags each of 0 to ``2 * mean_len`` ids drawn from
    ``vocab`` ids; every id is present when timed (one warm-up step inserts
    them). Also times the pooling kernels alone over the resolved rows (sum
    over feature ``user``, first-n over ``hist``) and the backward plan
    (``grad_sources_gpu`` of ``user``), next to a gather of ``user``'s rows
    into an ``(n, dim)`` array (the floor: sum pooling reads the same rows and
    writes less).
    """
    import numpy as np

    from monolith_np._dispatch import gpu_drivers
    from monolith_np.entry import RandomUniformInitializer
    from monolith_np.optim import AdagradOptimizer, SgdOptimizer
    from monolith_np.table import EmbeddingCollection, EmbeddingHashTable

    tables = {"a": EmbeddingHashTable([(DIM, RandomUniformInitializer(seed=1), AdagradOptimizer())],
                                      capacity=vocab, device="cuda"),
              "b": EmbeddingHashTable([(DIM, RandomUniformInitializer(seed=2), SgdOptimizer(0.1))],
                                      capacity=vocab, device="cuda")}
    features = {"user": "a", "item": ("a", "mean"), "hist": ("b", ("first_n", 4)), "tag": "b"}
    coll = EmbeddingCollection(tables, features)
    xp = tables["a"]._xp
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 2 * mean_len + 1, len(features) * bags)
    n = int(lengths.sum())
    values = xp.asarray(rng.integers(0, vocab, n, dtype=np.int64))
    grad = xp.asarray(rng.standard_normal((bags, coll.output_dim)).astype(np.float32))
    out, batch = coll.forward(values, lengths=lengths)
    coll.backward(batch, grad)
    forward_s = _time(lambda: coll.forward(values, lengths=lengths), xp, reps)
    eval_s = _time(lambda: coll.forward(values, lengths=lengths, training=False), xp, reps)
    out, batch = coll.forward(values, lengths=lengths)
    backward_s = _time(lambda: coll.backward(batch, grad), xp, reps)
    # The kernel alone: feature "user" (the first of table "a"), sum-pooled into its columns.
    feat, splits, shift = batch.features[0]
    rows, table = batch.rows["a"], tables["a"]
    ids = int(lengths[:bags].sum())
    pooling = gpu_drivers().pooling
    pool_s = _time(lambda: pooling.pool_rows_gpu(table._values, rows, splits, shift, 0, out, feat.col), xp, reps)
    hist, hist_splits, hist_shift = batch.features[2]
    first_n_s = _time(lambda: pooling.pool_first_n_gpu(tables["b"]._values, batch.rows["b"], hist_splits, hist_shift,
                                                       hist.n, out, hist.col), xp, reps)
    index, scale = xp.empty(batch.sizes["a"], np.int64), xp.empty(batch.sizes["a"], np.float32)
    sources_s = _time(lambda: pooling.grad_sources_gpu(splits, shift, 0, 1, 0, bags, 1, index, scale), xp, reps)
    first = rows[:ids]
    gathered = xp.empty((ids, DIM), np.float32)
    floor_s = _time(lambda: table._ops.take(table._values, first, gathered), xp, reps)
    return {"features": len(features), "bags": bags, "ids": n, "dim": DIM,
            "forward_ids_per_s": n / forward_s, "forward_eval_ids_per_s": n / eval_s,
            "backward_ids_per_s": n / backward_s, "pool_sum_ids": ids, "pool_sum_ids_per_s": ids / pool_s,
            "gather_floor_ids_per_s": ids / floor_s, "pool_first_n_bags_per_s": bags / first_n_s,
            "grad_sources_ids_per_s": ids / sources_s}


def main(argv=None):
    """Run the checks; return 0 when every step that ran passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu_check_out"))
    parser.add_argument("--sim", action="store_true", help="tiny sizes under the CUDA simulator (CI)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"python": sys.version.split()[0]}
    status = 0
    if args.sim:
        if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
            parser.error("--sim needs NUMBA_ENABLE_CUDASIM=1 in the environment")
        sys.path.insert(0, str(ROOT))
        report["table"] = table_throughput(slots=256, batch=64, loads=(0.5, 0.75), reps=1)
        _sim_collection()
        report["collection"] = collection_throughput(bags=6, mean_len=2, vocab=40, reps=1)
    else:
        env = {"MONOLITH_NP_REAL_GPU": "1", "PYTHONPATH": str(ROOT)}
        rc = _run([sys.executable, "-m", "pytest", "tests/cuda", "-q", "-p", "no:cacheprovider"],
                  out / "pytest_cuda.log", env)
        report["pytest_cuda_rc"] = rc
        status |= rc
        if shutil.which("compute-sanitizer"):
            script = out / "stress.py"
            script.write_text(_stress_script(20_000))
            for tool in ("memcheck", "racecheck"):
                rc = _run(["compute-sanitizer", f"--tool={tool}", "--error-exitcode=9", sys.executable,
                           str(script)], out / f"sanitizer_{tool}.log", env)
                report[f"sanitizer_{tool}_rc"] = rc
                status |= rc
        sys.path.insert(0, str(ROOT))
        report["table"] = table_throughput(slots=1 << 26, batch=8_000_000, loads=(0.5, 0.75), reps=5)
        try:  # a failure here still leaves the table's numbers in the report
            report["collection"] = collection_throughput(bags=1 << 18, mean_len=8, vocab=1 << 22, reps=5)
        except Exception as err:  # noqa: BLE001 - reported, and the exit status says it failed
            report["collection"] = {"error": f"{type(err).__name__}: {err}"}
            status |= 1
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 1 if status else 0


if __name__ == "__main__":
    raise SystemExit(main())
