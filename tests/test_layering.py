"""The package's layers, checked over every import statement (lazy ones included).

``docs/design.md`` ("Layers") states the rule this test enforces:

* **core** (``_version``, ``_config``, ``_backend``, ``_checks``, ``_compile``,
  ``_random``, ``proto``) imports only core;
* **rules** (``_rules/``) import only core and other rules;
* **GPU drivers** (``cuda/``) import only rules, core and ``cuda/``;
* **public modules** reach ``cuda/`` only through ``_dispatch``;
* and there is no import cycle anywhere in the package.

An import of ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``, so it
counts as an import of those packages too (that is how a package ``__init__``
that re-exports a sibling closes a cycle). Imports inside a module-level
``__getattr__`` are deprecation aliases resolved on attribute access, never at
import time; they are not dependencies and must warn (checked separately).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import monolith_np

ROOT = pathlib.Path(monolith_np.__file__).parent
PKG = ROOT.name
CORE = {f"{PKG}.{m}" for m in ("_version", "_config", "_backend", "_checks", "_compile", "_compile_notice", "_random",
                                "_threading")}


def _modules():
    mods = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _owner(name):
    """The module ``name`` denotes (a module, or the package/module that defines the imported name)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else None


def _alias_nodes(tree):
    """Nodes inside a module-level ``__getattr__`` (deprecation aliases)."""
    skip = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _targets(module, path, node):
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = module.split(".")
        if path.name != "__init__.py":
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module
    out = []
    for alias in node.names:
        full = f"{prefix}.{alias.name}"
        out.append(full if full in MODULES else prefix)
    return out


def _graph():
    """``{module: {imported module: line}}``, implicit package ``__init__`` runs included."""
    edges = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _alias_nodes(tree)
        out = {}
        for node in ast.walk(tree):
            if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _targets(module, path, node):
                target = _owner(name)
                if target is None or not target.startswith(PKG):
                    continue
                chain = target.split(".")
                for i in range(2, len(chain) + 1):
                    dep = ".".join(chain[:i])
                    if dep in MODULES and dep != module and not module.startswith(dep + "."):
                        out.setdefault(dep, node.lineno)
        edges[module] = out
    return edges


EDGES = _graph()


def _layer(module):
    if module in CORE or module == f"{PKG}.proto" or module.startswith(f"{PKG}.proto."):
        return "core"
    if module == f"{PKG}._rules" or module.startswith(f"{PKG}._rules."):
        return "rules"
    if module == f"{PKG}.cuda" or module.startswith(f"{PKG}.cuda."):
        return "cuda"
    if module == f"{PKG}._dispatch":
        return "dispatch"
    return "public"


ALLOWED = {
    "core": {"core"},
    "rules": {"core", "rules"},
    "cuda": {"core", "rules", "cuda"},
    "dispatch": {"core", "cuda"},
    "public": {"core", "rules", "dispatch", "public"},
}


def _cycles():
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in EDGES[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(EDGES):
        if v not in index:
            visit(v)
    return comps


def upward_imports():
    """``(importer, imported, line)`` for every import that breaks the layer rule."""
    bad = []
    for module, deps in sorted(EDGES.items()):
        layer = _layer(module)
        for dep, line in sorted(deps.items()):
            if _layer(dep) not in ALLOWED[layer]:
                bad.append((module, dep, line))
    return bad


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "import cycles inside the package:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_upward_imports():
    bad = upward_imports()
    assert not bad, "imports that break the layers:\n" + "\n".join(f"{a} imports {b} (line {n})" for a, b, n in bad)


def test_rule_layer_and_cuda_are_nonempty():
    # the checks above would pass vacuously if the layers were renamed away
    assert any(_layer(m) == "rules" for m in MODULES) and any(_layer(m) == "cuda" for m in MODULES)


@pytest.mark.parametrize("module", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_aliases_warn(module, recwarn):
    """Every name a package's ``__getattr__`` resolves is a deprecated alias that says where it moved."""
    import importlib
    import warnings

    tree = ast.parse(MODULES[module].read_text())
    if not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body):
        return
    mod = importlib.import_module(module)
    names = getattr(mod, "_MOVED", None)
    assert names, f"{module}.__getattr__ must resolve the names listed in its _MOVED mapping"
    for name in names:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            getattr(mod, name)
        assert any(issubclass(w.category, DeprecationWarning) for w in caught), f"{module}.{name} must warn"
