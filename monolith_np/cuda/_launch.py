"""Launch helpers shared by every GPU driver."""

from __future__ import annotations

import numpy as np
from numba import config as numba_config
from numba import cuda

from .. import _config
from .._backend import INSTALL_HINT
from .._compile import gpu_compilation


def require_gpu() -> None:
    """Raise a clear error when no CUDA device (or simulator) is usable.

    Raises
    ------
    RuntimeError
        If numba cannot see a CUDA GPU; the message says how to get one working.
    """
    if not cuda.is_available():
        raise RuntimeError(f"a CUDA array was given but numba finds no usable CUDA GPU or driver; {INSTALL_HINT}")


def grid_for(n: int) -> tuple[int, int]:
    """Return ``(blocks, threads)`` for a 1-D grid-stride launch over ``n`` items.

    Parameters
    ----------
    n : int
        Number of work items.

    Returns
    -------
    tuple of int
        Blocks and threads per block (``_config.THREADS_PER_BLOCK``, read now).
    """
    threads = int(_config.THREADS_PER_BLOCK)
    blocks = max(1, min(int(_config.MAX_BLOCKS), -(-int(n) // threads)))
    return blocks, threads


def _as_device(a):
    if isinstance(a, np.ndarray) or np.isscalar(a) or not hasattr(a, "__cuda_array_interface__"):
        return a
    # Skip numba's per-argument stream synchronisation (STYLE pitfall 9): the
    # launch below is ordered on the producer's (CuPy's current) stream instead.
    return cuda.as_cuda_array(a, sync=False)


def _stream_for(args):
    if numba_config.ENABLE_CUDASIM:
        return 0
    for a in args:
        if type(a).__module__.startswith("cupy") and hasattr(a, "__cuda_array_interface__"):
            import cupy

            return cuda.external_stream(cupy.cuda.get_current_stream().ptr)
    return 0


def launch(kernel, n: int, *args) -> None:
    """Launch a 1-D grid-stride ``kernel`` over ``n`` items.

    Parameters
    ----------
    kernel : numba.cuda dispatcher
        A kernel compiled with :func:`monolith_np._compile.gpu_kernel`.
    n : int
        Number of work items (threads needed); nothing is launched when 0.
    *args
        Kernel arguments: CuPy/CUDA arrays (viewed without a stream sync),
        numpy arrays (simulator or host round-trip) and scalars.
    """
    require_gpu()
    if n <= 0:
        return
    blocks, threads = grid_for(n)
    stream = _stream_for(args)
    with gpu_compilation():  # the first launch compiles: no IR-level inlining of the rules there
        kernel[blocks, threads, stream](*[_as_device(a) for a in args])


def launch_lists(kernel, lists: int, length: int, *args) -> None:
    """Launch ``kernel`` with one block per list (grid-stride over lists).

    The block's threads stride over the list's ``length`` items, so a kernel
    may synchronise its block between phases of one list.

    Parameters
    ----------
    kernel : numba.cuda dispatcher
        A kernel compiled with :func:`monolith_np._compile.gpu_kernel`.
    lists : int
        Number of lists (blocks needed); nothing is launched when 0.
    length : int
        Items per list: the block size is the smallest power of two (at least
        32, a warp) covering it, capped at ``_config.THREADS_PER_BLOCK``.
    *args
        Kernel arguments, as for :func:`launch`.
    """
    require_gpu()
    if lists <= 0 or length <= 0:
        return
    threads = 32
    while threads < length:
        threads *= 2
    threads = max(1, min(threads, int(_config.THREADS_PER_BLOCK)))
    blocks = max(1, min(int(_config.MAX_BLOCKS), int(lists)))
    stream = _stream_for(args)
    with gpu_compilation():  # the first launch compiles: no IR-level inlining of the rules there
        kernel[blocks, threads, stream](*[_as_device(a) for a in args])
