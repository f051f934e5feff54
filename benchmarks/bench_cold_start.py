"""The first call: a fresh process on a fresh kernel cache, against the same process on a warm cache.

Three workloads, each run as ``python -c`` in a subprocess whose
``MONOLITH_NP_CACHE_DIR`` is a new empty directory (``monolith_np``, cold) or
the directory a previous run filled (``monolith_np_warm``, in the same group):

* ``first_apply_gradients``: import, a new Adagrad table, one
  ``apply_gradients`` of 1,000 ids (issue target: 2 s cold); peer ``torch``:
  a fresh process importing torch and taking one sparse ``nn.Embedding`` +
  Adagrad step on the same ids;
* ``readme_tour``: the README's tour as written (target: 6 s cold);
* ``demo``: ``python -m demo ffm`` with its defaults (target: 60 s cold for
  ``make demo``; one round, it takes about a minute).

The timed region is the whole subprocess (interpreter start and import
included: what a user waits for); ``extra_info["first_call_s"]`` has the
time the subprocess measured around the workload itself. ``pytest
--benchmark-disable`` runs the first two once as a smoke test (the demo, whose
own tests run it, and the tour's warm case only under ``make bench``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FIRST_APPLY = """
import time
t = time.perf_counter()
import numpy as np, monolith_np as mnp
opt = mnp.optim.AdagradOptimizer(learning_rate=0.05)
table = mnp.table.EmbeddingHashTable([(16, mnp.entry.RandomUniformInitializer(-0.05, 0.05, seed=1), opt)])
ids = np.arange({n}, dtype=np.int64) * 7919
table.apply_gradients(ids, np.ones(({n}, 16), np.float32))
print("FIRST_CALL_S", time.perf_counter() - t)
"""


# The peer: the same first step in torch (a sparse nn.Embedding of 1M rows and Adagrad), also a fresh process.
TORCH_FIRST_STEP = """
import time
t = time.perf_counter()
import torch
emb = torch.nn.Embedding(1 << 20, 16, sparse=True)
opt = torch.optim.Adagrad(emb.parameters(), lr=0.05)
emb(torch.arange({n}) * 7919 % (1 << 20)).sum().backward()
opt.step()
print("FIRST_CALL_S", time.perf_counter() - t)
"""


def _tour():
    (code,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[:1]
    return "import time\nt = time.perf_counter()\n" + code + "\nprint('FIRST_CALL_S', time.perf_counter() - t)\n"


def _demo():
    return ("import runpy, sys, time\nt = time.perf_counter()\n"
            "sys.argv = ['demo', 'ffm', '--no-progress', '--out', {out!r}]\n"
            "try:\n    runpy.run_module('demo', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\nprint('FIRST_CALL_S', time.perf_counter() - t)\n")


def _workload(name, impl):
    if impl == "torch":
        return TORCH_FIRST_STEP.format(n=1000)
    if name == "first_apply_gradients":
        return FIRST_APPLY.format(n=1000)
    if name == "readme_tour":
        return _tour()
    return _demo()


def _run(code, cache):
    env = dict(os.environ, MONOLITH_NP_CACHE_DIR=str(cache), NUMBA_CACHE_DIR=str(cache),
               MONOLITH_NP_COMPILE_NOTICE="0", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return float(re.findall(r"FIRST_CALL_S ([0-9.]+)", done.stdout)[-1])


@pytest.mark.parametrize("impl", ["monolith_np", "monolith_np_warm", "torch"])
@pytest.mark.parametrize("name", ["first_apply_gradients", "readme_tour", "demo"])
def test_cold_start(benchmark, name, impl, tmp_path):
    smoke = benchmark.disabled
    if impl == "torch":
        if name != "first_apply_gradients":
            pytest.skip("torch has no counterpart of this workload")
        pytest.importorskip("torch")
    if smoke and (name == "demo" or (name == "readme_tour" and impl == "monolith_np_warm")):
        pytest.skip("kept to `make bench`: each run compiles the demo's kernels (tests/demo runs the demo)")
    benchmark.group = f"cold_start-{name}"
    benchmark.extra_info["impl"] = impl
    out = tmp_path / "demo_output"
    code = _workload(name, impl).replace("{out!r}", repr(str(out)))
    warm_cache = tmp_path / "warm"
    if impl == "monolith_np_warm":
        _run(code, warm_cache)  # fills the cache
    inner = []

    def once():
        cache = warm_cache if impl == "monolith_np_warm" else Path(tempfile.mkdtemp(dir=tmp_path))
        inner.append(_run(code, cache))

    rounds = 1 if smoke or name == "demo" else 3
    start = time.perf_counter()
    benchmark.pedantic(once, rounds=rounds, iterations=1, warmup_rounds=0)
    benchmark.extra_info["first_call_s"] = sorted(inner)[len(inner) // 2]
    benchmark.extra_info["wall_s"] = time.perf_counter() - start
