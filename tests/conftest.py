"""Session set-up shared by every test process.

The kernel cache is isolated per run (STYLE pitfall 4): ``MONOLITH_NP_CACHE_DIR``
(and numba's own ``NUMBA_CACHE_DIR``) point at a fresh temporary directory before ``monolith_np`` (and numba) is
imported. Hypothesis uses the ``ci`` profile (fewer examples for ``slow``
tests) when ``CI`` is set, ``dev`` otherwise.
"""

import os
import tempfile

_CACHE = tempfile.mkdtemp(prefix="monolith_np_cache_")
os.environ.setdefault("MONOLITH_NP_CACHE_DIR", _CACHE)
os.environ.setdefault("NUMBA_CACHE_DIR", _CACHE)  # kernels defined outside the package, e.g. in tests
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
