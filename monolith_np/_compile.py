"""The only module that calls numba's decorators.

A rule is a plain Python function (no decorator) over scalars and 1-D views.
``cpu_jit`` compiles it, or a batch driver built on it, for the CPU;
``gpu_device`` compiles the same function as a CUDA device function and
``gpu_kernel`` compiles a CUDA kernel. The GPU helpers import ``numba.cuda``
only when called, so importing :mod:`monolith_np` never touches CUDA.

Leaf helpers that rules call are wrapped with :func:`jitable`, which makes them
callable from both CPU and GPU compiled code.

Caching
-------
numba's own ``cache=True`` checks only the source file of the cached function,
so an edit to a rule in another file would replay stale machine code (STYLE
pitfall 4). Kernels of this package are therefore cached under
``<CACHE_ROOT>/<version>-<digest>/`` where ``digest`` hashes every source file
of the package: any edit, or a new release, starts a fresh cache. If the
directory is not writable the kernels are simply compiled in memory.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from pathlib import Path

import numba
from numba.core.errors import NumbaIRAssumptionWarning
from numba.extending import register_jitable

from . import _config, _threading
from ._version import __version__

_PACKAGE_DIR = Path(__file__).resolve().parent

# IR-level inlining (``jitable(inline=True)``) of rules with branches trips
# numba's internal "variable ... is not in scope" SSA self-check. The compiled
# code is right (every parity test covers it), but a user's first call to a
# ranking loss printed dozens of these warnings, so that one category is muted.
warnings.filterwarnings("ignore", category=NumbaIRAssumptionWarning)


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    """Return a digest of every ``.py`` file of the package (the cache key)."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        h.update(str(path.relative_to(_PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _install_cache_locator() -> bool:
    """Register a numba cache locator for this package's kernels; False if impossible."""
    try:
        from numba.core import caching
    except ImportError:  # pragma: no cover - very old or very new numba
        return False
    base = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if base is None or impl is None or not hasattr(impl, "_locator_classes"):
        return False

    class _ReleaseCacheLocator(base, caching._CacheLocator):
        """Caches package kernels under a directory keyed by release and source digest."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            rel = Path(py_file).resolve().relative_to(_PACKAGE_DIR)
            self._cache_path = os.path.join(
                _config.CACHE_ROOT, f"{__version__}-{package_digest()}", str(rel.parent)
            )

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return package_digest()

        @classmethod
        def from_function(cls, py_func, py_file):
            try:
                Path(py_file).resolve().relative_to(_PACKAGE_DIR)
            except (ValueError, OSError):
                return None
            return super().from_function(py_func, py_file)

    if not any(c.__name__ == "_ReleaseCacheLocator" for c in impl._locator_classes):
        impl._locator_classes.insert(0, _ReleaseCacheLocator)
    return True


_CACHE_ON = _config.CACHE and _install_cache_locator()
_threading.prefer_tbb()


def jitable(fn=None, *, inline=False):
    """Make a leaf helper callable from CPU- and GPU-compiled rules.

    Parameters
    ----------
    fn : callable, optional
        A plain Python function using only scalars and numba-supported
        operations; when omitted a decorator is returned.
    inline : bool, default False
        Inline the helper into its callers at numba IR level
        (``inline="always"``). The optimizer rules and their kernel entries
        use it: LLVM alone does not inline a two-level entry -> rule call
        chain into the driver's row loop, and the out-of-line call (with its
        per-row alias checks) cost 1.5x on dense Adam.

    Returns
    -------
    callable
        ``fn`` itself, registered with numba (it still runs as Python when called
        from Python).
    """

    def register(f):
        return register_jitable(inline="always")(f) if inline else register_jitable(f)

    return register if fn is None else register(fn)


def cpu_jit(fn=None, *, parallel: bool = False):
    """Compile ``fn`` for the CPU with the package's numba options.

    Parameters
    ----------
    fn : callable, optional
        The function; when omitted a decorator is returned.
    parallel : bool, default False
        Enable ``prange`` parallel loops.

    Returns
    -------
    numba.core.registry.CPUDispatcher or ParallelKernel
        The compiled dispatcher (compiled lazily on first call, cached on disk);
        a :class:`ParallelKernel` around it when ``parallel`` is set.

    Notes
    -----
    fastmath is off unless the function's qualified name is listed in
    :data:`monolith_np._config.FASTMATH_KERNELS`; listed kernels get the
    package's single safe flag set :data:`monolith_np._config.FASTMATH`
    (never ``nnan``/``ninf``).
    """

    def compile_(f):
        listed = f"{f.__module__}.{f.__qualname__}" in _config.FASTMATH_KERNELS
        options = dict(
            nogil=True,
            cache=_CACHE_ON,
            error_model="numpy",
            fastmath=set(_config.FASTMATH) if listed else False,
        )
        if parallel:
            return ParallelKernel(f, options)
        return numba.njit(**options)(f)

    return compile_ if fn is None else compile_(fn)


class ParallelKernel:
    """A ``prange`` kernel that runs safely under whichever threading layer numba picked.

    Calls go to the parallel compilation, except where
    :func:`monolith_np._threading.guard` says otherwise: under ``workqueue``
    they hold the process-wide parallel lock, and in a child forked after GNU
    OpenMP was used they go to a serial compilation of the same function
    (made on first use, kept in memory only: numba's cache does not tell a
    serial from a parallel compilation of one function).

    Parameters
    ----------
    fn : callable
        The kernel's Python function.
    options : dict
        numba options shared by both compilations (``parallel`` excluded).

    Examples
    --------
    >>> import numpy as np
    >>> from numba import prange
    >>> def total(x):
    ...     s = 0.0
    ...     for i in prange(x.size):
    ...         s += x[i]
    ...     return s
    >>> kernel = ParallelKernel(total, dict(nogil=True))
    >>> float(kernel(np.arange(4.0)))
    6.0
    """

    def __init__(self, fn, options):
        self.py_func = fn
        self._options = options
        self._parallel = numba.njit(parallel=True, **options)(fn)
        self._serial = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        mode = _threading.guard()
        if mode == "free":
            return self._parallel(*args)
        if mode == "locked":
            with _threading.parallel_lock:
                return self._parallel(*args)
        if self._serial is None:
            self._serial = numba.njit(parallel=False, **{**self._options, "cache": False})(self.py_func)
        return self._serial(*args)

    def __getattr__(self, name):
        # Introspection (signatures, targetoptions, overloads) reads the parallel dispatcher.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._parallel, name)


def _cuda():
    from numba import cuda

    return cuda


def gpu_device(fn):
    """Compile a rule as a CUDA device function (fastmath off, see STYLE E).

    Parameters
    ----------
    fn : callable
        The same plain rule that :func:`cpu_jit` compiles for the CPU.

    Returns
    -------
    numba.cuda dispatcher
        A device function callable from kernels built with :func:`gpu_kernel`.
    """
    return _cuda().jit(device=True, fastmath=False)(fn)


def gpu_kernel(fn):
    """Compile a CUDA kernel (no signature strings: dtypes dispatch lazily).

    Parameters
    ----------
    fn : callable
        The kernel body, written with ``numba.cuda`` intrinsics.

    Returns
    -------
    numba.cuda dispatcher
        A kernel launched as ``kernel[blocks, threads, stream](...)``.
    """
    return _cuda().jit(fastmath=False)(fn)


def run_cpu(driver, work: int, *args):
    """Call a parallel CPU driver, on one thread when the call is small.

    Parameters
    ----------
    driver : numba dispatcher
        A driver compiled with ``cpu_jit(parallel=True)``.
    work : int
        Number of array elements the call touches; below
        ``_config.PARALLEL_MIN_WORK`` (read now) the driver runs on one thread.
    *args
        The driver's arguments.

    Returns
    -------
    object
        Whatever the driver returns.
    """
    if work >= _config.PARALLEL_MIN_WORK:
        return driver(*args)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # thread-local: other Python threads keep their setting
    try:
        return driver(*args)
    finally:
        numba.set_num_threads(threads)
