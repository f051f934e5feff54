"""Cross-cutting checks of the public API (STYLE G and H).

* every name in ``monolith_np.__all__`` exists and has a numpy-style docstring;
* the ``Parameters`` section names exactly the signature's parameters;
* every public name is mentioned somewhere in ``docs/``;
* ``import monolith_np`` imports no cupy, torch, tensorflow or numba.cuda;
* no ``fastmath=`` outside ``_compile.py`` and no ``assert`` in library code.
"""

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import monolith_np

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "monolith_np"
sys.path.insert(0, str(ROOT / "tools"))
from gen_api_docs import PUBLIC_MODULES, public_items  # noqa: E402

PUBLIC = public_items()


def _public_callables():
    for name, obj in PUBLIC:
        if inspect.isfunction(obj) or inspect.isclass(obj):
            yield name, obj


def _documented_parameters(doc):
    """Names listed in the numpydoc ``Parameters`` section of ``doc``."""
    match = re.search(r"\n\s*Parameters\n\s*-{3,}\n(.*?)(\n\s*\n\s*[A-Z][A-Za-z ]+\n\s*-{3,}|\Z)", doc, re.S)
    if not match:
        return None
    names = []
    for line in match.group(1).splitlines():
        m = re.match(r"^\s{0,8}(\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s*:", line)
        if m and not line.startswith(" " * 9):
            names += [n.strip().lstrip("*") for n in m.group(1).split(",")]
    return names


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_names_exist(module_name):
    import importlib

    module = importlib.import_module(module_name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"names in {module_name}.__all__ that do not exist: {missing}"


@pytest.mark.parametrize("name, obj", list(_public_callables()))
def test_public_callables_have_docstrings(name, obj):
    doc = inspect.getdoc(obj)
    assert doc and len(doc.splitlines()[0]) > 10, f"{name} needs a one-line summary"


@pytest.mark.parametrize("name, obj", list(_public_callables()))
def test_parameters_section_matches_signature(name, obj):
    target = obj.__init__ if inspect.isclass(obj) and "__init__" in vars(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        pytest.skip(f"{name} has no inspectable signature")
    params = [p for p in sig.parameters if p not in ("self", "cls")]
    doc = inspect.getdoc(obj) or ""
    if inspect.isclass(obj) and "Parameters" not in doc:
        doc = inspect.getdoc(target) or ""
    documented = _documented_parameters(doc)
    if not params:
        return
    assert documented is not None, f"{name} has parameters {params} but no Parameters section"
    assert documented == params, f"{name}: docstring lists {documented}, signature has {params}"


def test_every_public_name_is_in_a_guide():
    guides = [p for p in (ROOT / "docs").rglob("*.md") if p.name != "api.md"]
    text = "\n".join(p.read_text() for p in guides)
    short = sorted({q.rsplit(".", 1)[1] for q, _ in PUBLIC})
    missing = [n for n in short if not re.search(rf"\b{re.escape(n)}\b", text)]
    assert not missing, f"public names not mentioned in any guide in docs/: {missing}"


def test_api_reference_is_current():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_api_docs.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_import_is_light():
    code = (
        "import sys, monolith_np, monolith_np.proto\n"
        "frameworks = {'cupy', 'torch', 'tensorflow', 'keras', 'jax'}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in frameworks or m == 'numba.cuda')\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import monolith_np pulled in: {out.stdout.strip()}"


def _library_sources():
    return [p for p in PACKAGE.rglob("*.py") if "proto" not in p.relative_to(PACKAGE).parts]


def test_fastmath_only_in_compile_module():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _library_sources()
        if p.name != "_compile.py" and re.search(r"\bfastmath\s*=\s*[^`\s]", p.read_text())
    ]
    assert not offenders, f"fastmath= outside _compile.py: {offenders}"


def test_no_assert_in_library_code():
    offenders = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in _library_sources()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.match(r"\s*assert\s", line)
    ]
    assert not offenders, f"assert used for validation: {offenders}"


def test_numba_decorators_only_in_compile_module():
    pattern = re.compile(r"@(numba\.)?(njit|jit|cuda\.jit|vectorize|guvectorize)\b|numba\.njit\(|cuda\.jit\(")
    offenders = [
        str(p.relative_to(ROOT))
        for p in _library_sources()
        if p.name != "_compile.py" and pattern.search(p.read_text())
    ]
    assert not offenders, f"numba decorators outside _compile.py: {offenders}"


@pytest.mark.parametrize("module", ["monolith_np._backend", "monolith_np._checks", "monolith_np._compile"])
def test_foundation_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
