"""Fixtures for the schedule tests: the TF references (skipped without TensorFlow)."""

from __future__ import annotations

import pytest

from schedule_cases import reference_module


@pytest.fixture(scope="session")
def ref():
    """The module ``tests/reference/ref_schedules.py`` (needs TensorFlow)."""
    pytest.importorskip("tensorflow")
    return reference_module()


@pytest.fixture(scope="session")
def original(ref):
    """Monolith's own ``learning_rate_functions`` module, from the repository mirror."""
    module = ref.original_learning_rate_functions()
    if module is None:
        pytest.skip("the Monolith mirror is not available")
    return module
