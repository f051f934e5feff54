"""`python -m demo tour` writes its plots; `python -m demo ffm` trains the FFM and sets its exit code."""

import json

import pytest

from demo import cli


def test_tour_writes_plots(tmp_path, capsys):
    assert cli.main(["tour", "--out", str(tmp_path), "--draws", "400"]) == 0
    for name in ("schedules.png", "sampling.png", "table.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    out = capsys.readouterr().out
    assert "PolynomialDecay" in out and "hard-top-k" in out and "parses back equal: True" in out
    assert "lookups equal after restore: True" in out


def test_tour_rejects_bad_draws(capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(["tour", "--draws", "0"])
    assert err.value.code == 2
    assert "--draws must be positive, got 0" in capsys.readouterr().err


SMALL = ["--steps", "8", "--batch-size", "256", "--ids", "300", "--dim", "4", "--no-progress"]


def test_demo_small_run_writes_report(tmp_path, capsys):
    code = cli.main(["ffm", "--out", str(tmp_path), *SMALL, "--auc-threshold", "0.0"])
    assert code == 0
    png = (tmp_path / "ffm_training.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert summary["exit_code"] == 0 and summary["checkpoint_identical"] is True
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 8 + 1
    assert not (tmp_path / "checkpoint").exists()  # cleaned up
    out = capsys.readouterr().out
    assert "identical losses" in out and "final AUC" in out and "ids/s" in out


def test_demo_exit_code_when_auc_misses(tmp_path, capsys):
    assert cli.main(["ffm", "--out", str(tmp_path), *SMALL, "--auc-threshold", "1.01"]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "steps must be >= 1, got 0"),
    (["--negative-sample-rate", "0"], "negative_sample_rate"),
    (["--threads", "0"], "--threads must be >= 1, got 0"),
])
def test_demo_rejects_bad_options(args, message, capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(["ffm", *args])
    assert err.value.code == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_demo_runs_from_the_repository_root():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "demo", "--help"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ffm" in out.stdout and "tour" in out.stdout
