"""Regenerate the Python protobuf modules in ``monolith_np/proto/``.

The schemas live under ``protos/`` at the same relative paths as in ByteDance
Monolith (``monolith/native_training/runtime/hash_table/...``), so the
descriptors' file names, and therefore the descriptor pool entries, match the
original. This script compiles them with ``grpc_tools.protoc`` (``python_out``
and ``pyi_out``) and writes the generated modules *flat* into one package
directory, rewriting protoc's absolute cross-file imports into
package-relative ones::

    from monolith.native_training.runtime.hash_table.optimizer import optimizer_pb2 as X
        -> from . import optimizer_pb2 as X
    from monolith.native_training.runtime.hash_table.optimizer.optimizer_pb2 import *
        -> from .optimizer_pb2 import *

The module name protoc hard-codes for ``BuildTopDescriptorsAndMessages`` is
replaced by ``__name__`` so that message classes report the module they really
live in (``pickle`` and ``repr`` rely on that), wherever the output goes.

Output is deterministic: the same inputs and the same ``grpcio-tools`` give
byte-identical files. ``make protos`` runs this script; a test
(``tests/proto/test_protos.py``) checks that the committed files are current.

Usage
-----
::

    python tools/gen_protos.py [--out DIR]

``DIR`` defaults to ``monolith_np/proto``. Only ``*_pb2.py`` / ``*_pb2.pyi``
files are written (stale ones that no schema produces are removed); the
hand-written ``__init__.py`` is left alone.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
DEFAULT_OUT = ROOT / "monolith_np" / "proto"

# ``from a.b.c import name_pb2 as alias``  (a sibling generated module)
_IMPORT_MODULE = re.compile(
    r"^from ((?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*) import ([A-Za-z0-9_]+_pb2)( as [A-Za-z0-9_]+)?$",
    re.MULTILINE,
)
# ``from a.b.c.name_pb2 import *`` / ``import Name as Name``  (``import public``)
_IMPORT_FROM = re.compile(
    r"^from ((?:[A-Za-z_][A-Za-z0-9_]*\.)*)([A-Za-z0-9_]+_pb2) import ",
    re.MULTILINE,
)
_BUILD_TOP = re.compile(r"(_builder\.BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'[A-Za-z0-9_.]+'(, _globals\))")


def proto_files(proto_root: Path = PROTO_ROOT) -> list[str]:
    """Return the ``.proto`` files under ``proto_root``, relative and sorted.

    Parameters
    ----------
    proto_root : Path
        The include root (``-I``) of the schemas.

    Returns
    -------
    list of str
        POSIX paths relative to ``proto_root``, in sorted order so that
        protoc sees the same command line on every run.
    """
    files = sorted(p.relative_to(proto_root).as_posix() for p in proto_root.rglob("*.proto"))
    if not files:
        raise FileNotFoundError(f"no .proto files under {proto_root}")
    return files


def rewrite(text: str, local_modules: set[str]) -> str:
    """Turn protoc's absolute imports of sibling modules into relative ones.

    Parameters
    ----------
    text : str
        A generated ``*_pb2.py`` or ``*_pb2.pyi`` file.
    local_modules : set of str
        Basenames (``"optimizer_pb2"``) of the modules generated in this run;
        imports of anything else (``google.protobuf``) are left untouched.

    Returns
    -------
    str
        The rewritten source.
    """

    def module_import(m: re.Match) -> str:
        if m.group(2) not in local_modules:
            return m.group(0)
        return f"from . import {m.group(2)}{m.group(3) or ''}"

    def from_import(m: re.Match) -> str:
        if m.group(2) not in local_modules:
            return m.group(0)
        return f"from .{m.group(2)} import "

    text = _IMPORT_MODULE.sub(module_import, text)
    text = _IMPORT_FROM.sub(from_import, text)
    text = _BUILD_TOP.sub(r"\1__name__\2", text)
    return text


def generate(out: Path, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Compile every schema and write the flat, rewritten modules to ``out``.

    Parameters
    ----------
    out : Path
        Destination package directory; created if missing.
    proto_root : Path
        The include root holding ``monolith/...``.

    Returns
    -------
    list of Path
        The files written, sorted.

    Raises
    ------
    RuntimeError
        If protoc fails or two schemas would produce the same flat name.
    """
    from grpc_tools import protoc  # imported here: only needed when generating

    files = proto_files(proto_root)
    with tempfile.TemporaryDirectory(prefix="gen_protos_") as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            *files,
        ]
        rc = protoc.main(args)
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit status {rc}: {' '.join(args)}")
        generated = sorted(p for p in Path(tmp).rglob("*") if p.is_file())
        names = [p.name for p in generated]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise RuntimeError(f"flattening would overwrite {duplicates}; rename a .proto file")
        local = {p.stem for p in generated}
        out.mkdir(parents=True, exist_ok=True)
        for stale in sorted(out.glob("*_pb2.py*")):
            if stale.name not in names:
                stale.unlink()
        written = []
        for src in generated:
            text = rewrite(src.read_text(encoding="utf-8"), local)
            dst = out / src.name
            data = text.encode("utf-8")
            if not dst.is_file() or dst.read_bytes() != data:
                dst.write_bytes(data)
            written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in generate(args.out.resolve()):
        try:
            shown = path.relative_to(ROOT)
        except ValueError:
            shown = path
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
