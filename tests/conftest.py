"""Session set-up shared by every test process.

The kernel cache is isolated per run (STYLE pitfall 4): ``MONOLITH_NP_CACHE_DIR``
points at a fresh temporary directory before ``monolith_np`` (and numba) is
imported. Hypothesis uses the ``ci`` profile (fewer examples for ``slow``
tests) when ``CI`` is set, ``dev`` otherwise.
"""

import os
import tempfile

os.environ.setdefault("MONOLITH_NP_CACHE_DIR", tempfile.mkdtemp(prefix="monolith_np_cache_"))
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
