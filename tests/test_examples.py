"""Every public function, class and method carries a runnable ``Examples`` section, and every example runs.

The examples are doctests: this module runs them for every module that
defines a public name (``tools/gen_api_docs.PUBLIC_MODULES``), so an example
that drifts from the code fails here. Examples of the torch and TensorFlow
adapters run when those frameworks are installed (the ``test`` extra installs
both).
"""

import doctest
import importlib
import inspect
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from gen_api_docs import public_items  # noqa: E402

#: Adapter packages and the framework each needs.
_NEEDS = {"monolith_np.torch": "torch", "monolith_np.tf": "tensorflow"}


def _documented():
    """``[(qualified name, object)]``: each public function and class, and each public method of a class."""
    out = []
    for name, obj in public_items():
        if inspect.isfunction(obj) or inspect.isclass(obj):
            out.append((name, obj))
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                # torch.optim patches ``step`` of a class when it is first instantiated (a hook wrapper
                # with its own qualname): only what the class body defines counts
                if not attr.startswith("_") and inspect.isfunction(member) and \
                        member.__qualname__ == f"{obj.__qualname__}.{attr}":
                    out.append((f"{name}.{attr}", member))
    return out


def _defining_modules():
    names = set()
    for _, obj in _documented():
        module = inspect.getmodule(inspect.unwrap(obj))
        if module is not None and module.__name__.startswith("monolith_np"):
            names.add(module.__name__)
    return sorted(names)


def _skip_without_framework(module_name):
    for prefix, framework in _NEEDS.items():
        if module_name == prefix or module_name.startswith(prefix + "."):
            pytest.importorskip(framework)


@pytest.mark.parametrize("module_name", _defining_modules())
def test_examples_run(module_name):
    _skip_without_framework(module_name)
    module = importlib.import_module(module_name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(module, optionflags=flags, verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {module_name} failed (see above)"


def test_every_public_callable_has_an_example():
    missing = [name for name, obj in _documented() if ">>>" not in (inspect.getdoc(obj) or "")]
    assert not missing, f"{len(missing)} public callables have no runnable example: {missing}"
