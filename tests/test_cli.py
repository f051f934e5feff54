"""`monolith-np demo` runs end to end and writes its plots."""

import pytest

from monolith_np import cli


def test_demo_writes_plots(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--draws", "400"]) == 0
    for name in ("schedules.png", "sampling.png", "table.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    out = capsys.readouterr().out
    assert "PolynomialDecay" in out and "hard-top-k" in out and "parses back equal: True" in out
    assert "lookups equal after restore: True" in out


def test_demo_rejects_bad_draws(capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(["demo", "--draws", "0"])
    assert err.value.code == 2
    assert "--draws must be positive, got 0" in capsys.readouterr().err
