"""GPU drivers and kernels (numba.cuda), imported only when a CUDA array is seen.

Each module here compiles the same plain rules the CPU drivers use, with
:func:`monolith_np._compile.gpu_device`, and launches kernels through
:func:`monolith_np.cuda._launch.launch`. Drivers take their outputs (and any
scratch space) as arguments and allocate nothing, so under the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) they run on plain numpy arrays.
"""

try:
    from numba import cuda as _cuda  # noqa: F401  (numba-cuda provides this)
except ImportError as err:  # pragma: no cover - exercised only without numba-cuda
    from .._backend import INSTALL_HINT

    raise ImportError(f"monolith_np.cuda needs numba-cuda; {INSTALL_HINT}") from err
