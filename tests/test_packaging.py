"""`pip install .` builds a wheel that ships the typed package, protos and GPU modules, and not the demo."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contents(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("monolith_np-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "monolith_np/__init__.py",
        "monolith_np/py.typed",
        "monolith_np/proto/embedding_hash_table_pb2.py",
        "monolith_np/cuda/_launch.py",
    ):
        assert expected in names, f"{expected} missing from the wheel"
    assert not any(n.startswith(("tests/", "benchmarks/", "demo/", "examples/")) for n in names)
    assert not any("/demo/" in n or n.endswith("cli.py") for n in names)
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    for extra in ("cuda", "torch", "tf", "test", "bench", "docs"):
        assert f"Provides-Extra: {extra}" in text
