"""The CUDA lane: GPU drivers under the simulator (or a real GPU when asked).

``make test`` runs this directory in its own pytest process with
``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported. On a lent GPU the
same files run with ``MONOLITH_NP_REAL_GPU=1`` instead.
"""

import os
import warnings

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and os.environ.get("MONOLITH_NP_REAL_GPU") != "1":
    raise RuntimeError(
        "tests/cuda must run with NUMBA_ENABLE_CUDASIM=1 (set before numba is imported) "
        "or MONOLITH_NP_REAL_GPU=1 on a machine with a GPU; use `make test`"
    )


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch):
    """Use tiny blocks so the simulator runs several of them."""
    from monolith_np import _config

    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        monkeypatch.setattr(_config, "THREADS_PER_BLOCK", 8)
    from numba.core.errors import NumbaPerformanceWarning

    warnings.simplefilter("ignore", NumbaPerformanceWarning)
