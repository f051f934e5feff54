"""``tools/gpu_check.py --sim`` runs end to end (the one-call GPU check must not rot between GPU sessions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1", reason="the --sim mode needs the simulator")
def test_gpu_check_sim_mode_writes_its_report(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--sim", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [round(r["load_factor"], 2) for r in report["table"]] == [0.5, 0.75]
    assert all(r["lookup_ids_per_s"] > 0 and r["insert_ids_per_s"] > 0 for r in report["table"])
