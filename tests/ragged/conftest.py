"""Fixtures for the ragged tests: the TF references (skipped without TensorFlow)."""

from __future__ import annotations

import pytest

from ragged_strategies import reference_module


@pytest.fixture(scope="session")
def ref():
    """The module ``tests/reference/ref_ragged.py`` (needs TensorFlow)."""
    pytest.importorskip("tensorflow")
    return reference_module()
