"""The one door from a public module to the GPU drivers.

Public functions pick their driver from the array module of their inputs:
numpy runs the CPU driver in the public module itself, anything else goes
through :func:`gpu_drivers`, which imports :mod:`monolith_np.cuda` (and so
numba.cuda) on first use and checks that a GPU or the CUDA simulator is
usable. Callers name the driver as a plain attribute, never by a string::

    if xp is np:
        _reduce_cpu(values, splits, mean, out)
    else:
        gpu_drivers().ragged.reduce_gpu(values, splits, mean, out)

This keeps ``import monolith_np`` free of numba.cuda and gives the layering
test one place where public code may reach ``cuda/``.
"""

from __future__ import annotations

import functools

__all__ = ["gpu_drivers"]


@functools.cache
def gpu_drivers():
    """Return the :mod:`monolith_np.cuda` package with every driver module loaded.

    Returns
    -------
    module
        ``monolith_np.cuda``; its attributes ``dense``, ``entry``, ``losses``,
        ``optim``, ``pooling``, ``ragged``, ``ranking``, ``sampling``,
        ``schedules`` and ``table`` are the driver modules.

    Raises
    ------
    ImportError
        If numba-cuda is not installed (the message names the extra to install).
    RuntimeError
        If numba sees no usable CUDA GPU (nor the simulator).

    Examples
    --------
    >>> import os
    >>> from monolith_np._dispatch import gpu_drivers
    >>> if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":  # doctest: +SKIP
    ...     gpu_drivers().ragged.reduce_gpu  # doctest: +SKIP
    """
    from . import cuda

    cuda.require_gpu()
    return cuda
