"""Check and time the GPU kernels in one call (run it on a lent GPU machine).

``python3 tools/gpu_check.py --out DIR`` from the repository root:

1. runs the CUDA test lane on the real GPU (``MONOLITH_NP_REAL_GPU=1 pytest
   tests/cuda``), including the many-duplicates stress test of the table;
2. runs the table's insert/lookup/erase under ``compute-sanitizer``
   (memcheck and racecheck) when the tool is on the PATH;
3. times ``EmbeddingHashTable(device="cuda")`` lookups and inserts at dim 16
   for load factors 0.5 and 0.75 and reports billions of ids per second (the
   issue's target: >= 2 B/s lookup on an H100/H200), next to a CuPy gather of
   the same rows with the row numbers known (the floor);

and writes ``gpu_check.json`` (and the pytest/sanitizer logs) into ``DIR``.
``--sim`` (with ``NUMBA_ENABLE_CUDASIM=1``) runs step 3 only, with tiny sizes
under the CUDA simulator, so CI keeps the script itself working.
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
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 1 if status else 0


if __name__ == "__main__":
    raise SystemExit(main())
