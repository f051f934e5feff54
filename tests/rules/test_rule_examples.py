"""The ``Examples`` of the rule layer run (it is not public, so ``tests/test_examples.py`` does not collect it)."""

import doctest
import importlib
import pkgutil

import pytest

import monolith_np._rules as rules

MODULES = sorted(f"{rules.__name__}.{m.name}" for m in pkgutil.iter_modules(rules.__path__))


@pytest.mark.parametrize("module_name", MODULES)
def test_rule_examples_run(module_name):
    result = doctest.testmod(importlib.import_module(module_name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
