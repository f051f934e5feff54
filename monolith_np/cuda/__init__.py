"""GPU drivers and kernels (numba.cuda), imported only when a CUDA array is seen.

Each module here compiles the plain rules of :mod:`monolith_np._rules` with
:func:`monolith_np._compile.gpu_device`, and launches kernels through
:func:`monolith_np.cuda._launch.launch`. Drivers take their outputs (and any
scratch space) as arguments and allocate nothing, so under the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) they run on plain numpy arrays. Modules here
import only the rule layer and the core modules; public modules reach them
through :func:`monolith_np._dispatch.gpu_drivers`.
"""

try:
    from numba import cuda as _cuda  # noqa: F401  (numba-cuda provides this)
except ImportError as err:  # pragma: no cover - exercised only without numba-cuda
    from .._backend import INSTALL_HINT

    raise ImportError(f"monolith_np.cuda needs numba-cuda; {INSTALL_HINT}") from err

from . import dense, entry, losses, optim, pooling, ragged, ranking, sampling, schedules, table  # noqa: E402
from ._launch import require_gpu  # noqa: E402

__all__ = ["dense", "entry", "losses", "optim", "pooling", "ragged", "ranking", "sampling", "schedules", "table",
           "require_gpu"]
