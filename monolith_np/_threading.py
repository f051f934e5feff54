"""Which numba threading layer runs the parallel kernels, and how each is kept safe.

numba runs ``prange`` loops on one of three layers, picked once per process at
the first parallel call: Intel TBB, OpenMP, or numba's own ``workqueue``. They
do not survive the same things:

=============  ====================  ===========================================
layer          two threads at once   parallel call in a child forked after use
=============  ====================  ===========================================
``tbb``        safe                  safe
``omp`` (GNU)  safe                  the OpenMP runtime kills the child
``omp`` other  safe                  safe
``workqueue``  aborts the process    safe
=============  ====================  ===========================================

This module makes every row safe, so no layer can crash a training job:

* **TBB is preferred.** It is a dependency of the package on x86-64, but pip
  installs ``libtbb`` under ``<prefix>/lib``, a folder numba's TBB pool does
  not search, so numba would silently fall back to OpenMP. :func:`prefer_tbb`
  loads the library first; a layer chosen with ``NUMBA_THREADING_LAYER`` is
  still the one numba uses.
* **Under workqueue** parallel kernels take one process-wide lock: one parallel
  region at a time, other threads wait for it instead of aborting the process.
* **Under GNU OpenMP**, a child forked after the parent ran a parallel region
  runs kernels through a serial compilation of the same function (compiled on
  its first use in the child) instead of being killed.

:func:`guard` tells a parallel kernel which of these applies; the decision is
made at the first parallel call, when numba has picked its layer.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
import threading

import numba

from . import _config

#: The layers under which calls run as they are, from any thread or child.
_FREE_LAYERS = frozenset({"tbb"})

#: The lock every parallel kernel holds under the ``workqueue`` layer.
parallel_lock = threading.Lock()
_state_lock = threading.Lock()
_mode = None  # None: not decided yet; then "free", "locked" or "serial" (see guard)


def prefer_tbb() -> bool:
    """Make numba's TBB layer loadable when the ``tbb`` wheel is installed.

    Returns
    -------
    bool
        True when TBB is now available to numba, False when it is not (no
        ``tbb`` wheel, an incompatible version, another platform); numba then
        picks another layer and :func:`guard` keeps it safe. A layer chosen
        through ``NUMBA_THREADING_LAYER`` is still honoured: this only makes
        TBB loadable.

    Examples
    --------
    >>> prefer_tbb() in (True, False)
    True
    """
    if _tbb_loads():
        return True
    for lib in ("libtbb.so.12", "libtbb.12.dylib"):
        path = os.path.join(sys.prefix, "lib", lib)
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                return False
            return _tbb_loads()
    return False


def _tbb_loads() -> bool:
    try:
        importlib.import_module("numba.np.ufunc.tbbpool")
    except ImportError:
        return False
    return True


def layer() -> str:
    """Return the threading layer numba runs parallel kernels on, choosing it if needed.

    Public as ``monolith_np.threading_layer``; ``docs/threading.md`` says what
    each layer survives and how monolith_np keeps it safe.

    Returns
    -------
    str
        ``"tbb"``, ``"omp"`` or ``"workqueue"``.

    Examples
    --------
    >>> layer() in ("tbb", "omp", "workqueue")
    True
    """
    from numba.np.ufunc import parallel

    parallel._launch_threads()
    return numba.threading_layer()


def _in_forked_child():
    global _mode
    _mode = "serial"


def _decide() -> str:
    global _mode
    with _state_lock:
        if _mode is None:
            name = layer()
            if name in _FREE_LAYERS:
                _mode = "free"
            elif name == "workqueue":
                _mode = "locked"
            else:
                from numba.np.ufunc import omppool

                if getattr(omppool, "openmp_vendor", "GNU") == "GNU":
                    os.register_at_fork(after_in_child=_in_forked_child)
                _mode = "free"
    return _mode


def guard() -> str:
    """Return how a parallel kernel must run now in this process.

    Returns
    -------
    str
        ``"free"``: call the parallel kernel directly; ``"locked"``: call it
        holding :data:`parallel_lock` (workqueue layer); ``"serial"``: call its
        serial compilation (a child forked after GNU OpenMP was used).

    Examples
    --------
    >>> guard() in ("free", "locked", "serial")
    True
    """
    return _mode or _decide()


def set_threads(threads):
    """Limit the threads every parallel CPU kernel of monolith_np may use (process-wide).

    Parameters
    ----------
    threads : int
        At most this many threads (``1``: every kernel runs on the calling
        thread); ``0`` lifts the limit (numba's thread count,
        ``NUMBA_NUM_THREADS``). The environment variable
        ``MONOLITH_NP_THREADS`` sets it at import.

    Returns
    -------
    int
        The previous limit.

    Raises
    ------
    ValueError
        If ``threads`` is not an integer ``>= 0``.

    Examples
    --------
    >>> import monolith_np
    >>> previous = monolith_np.set_threads(1)
    >>> monolith_np.get_threads()
    1
    >>> _ = monolith_np.set_threads(previous)
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an integer >= 0 (0: numba's thread count), got {threads!r}")
    previous, _config.THREADS = _config.THREADS, threads
    return previous


def get_threads():
    """The threads a parallel CPU kernel of monolith_np may use now.

    Returns
    -------
    int
        :func:`set_threads`'s limit, or numba's thread count of the calling
        thread when that is smaller or no limit is set.

    Examples
    --------
    >>> import monolith_np
    >>> monolith_np.get_threads() >= 1
    True
    """
    return min(_config.THREADS or numba.get_num_threads(), numba.get_num_threads())
