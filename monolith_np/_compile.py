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

import contextlib
import functools
import hashlib
import inspect
import os
import threading
import time
import types as pytypes
import warnings
import weakref
from pathlib import Path

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import NumbaIRAssumptionWarning
from numba.extending import intrinsic, register_jitable

from . import _compile_notice, _config, _threading
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
_compile_notice.install()
_threading.prefer_tbb()


_gpu_compiling = threading.local()


@contextlib.contextmanager
def gpu_compilation():
    """Mark the calling thread as (possibly) compiling CUDA code: :func:`jitable` helpers are not inlined there.

    The GPU launchers (:mod:`monolith_np.cuda._launch`) wrap every launch
    in it, since numba.cuda compiles a kernel at its first launch.
    numba-cuda (0.30) fails an internal IR assertion on the IR-level
    inlining of rules with branches; a device-function call gives the same
    numbers.

    Examples
    --------
    >>> with gpu_compilation():
    ...     _inline_on_cpu(None, None, None)
    False
    >>> _inline_on_cpu(None, None, None)
    True
    """
    before = getattr(_gpu_compiling, "active", False)
    _gpu_compiling.active = True
    try:
        yield
    finally:
        _gpu_compiling.active = before


def _inline_on_cpu(expr, caller_info, callee_info):
    """numba's inlining cost model for :func:`jitable` ``inline=True``: inline unless compiling for the GPU."""
    return not getattr(_gpu_compiling, "active", False)


def jitable(fn=None, *, inline=False):
    """Make a leaf helper callable from CPU- and GPU-compiled rules.

    Parameters
    ----------
    fn : callable, optional
        A plain Python function using only scalars and numba-supported
        operations; when omitted a decorator is returned.
    inline : bool, default False
        Inline the helper into its CPU callers at numba IR level. The
        optimizer rules and their kernel entries use it: LLVM alone does not
        inline a two-level entry -> rule call chain into the driver's row
        loop, and the out-of-line call (with its per-row alias checks) cost
        1.5x on dense Adam. GPU compilations call it as a device function
        instead (:func:`gpu_compilation`).

    Returns
    -------
    callable
        ``fn`` itself, registered with numba (it still runs as Python when called
        from Python).
    """

    def register(f):
        return register_jitable(inline=_inline_on_cpu)(f) if inline else register_jitable(f)

    return register if fn is None else register(fn)


@intrinsic
def prefetch(typingctx, arrays, row):
    """Ask the CPU to start loading row ``row`` of an array (or of every array of a tuple) into its caches.

    For CPU drivers whose loop reads rows of a large table in an order only
    the data knows (gathers, sparse optimizer updates, hash probes): issued a
    few iterations ahead, the misses overlap instead of being waited for one
    after another (LLVM's ``llvm.prefetch``: a hint, never a fault, no
    effect on results). ``row`` is an index along the first axis; it is not
    bounds-checked (a hint to a bad address is dropped by the CPU). CPU code
    only: it has no GPU lowering, so rules never call it.

    Parameters
    ----------
    arrays : array or tuple of arrays
    row : int

    Examples
    --------
    >>> import numba, numpy as np
    >>> @numba.njit
    ... def total(values, rows):
    ...     s = 0.0
    ...     for i in range(rows.size):
    ...         if i + 4 < rows.size:
    ...             prefetch(values, rows[i + 4])
    ...         s += values[rows[i], 0]
    ...     return s
    >>> float(total(np.arange(10.0).reshape(5, 2), np.array([4, 0, 2])))
    12.0
    """
    members = arrays.types if isinstance(arrays, types.BaseTuple) else (arrays,)
    if not all(isinstance(a, types.Array) and a.ndim >= 1 for a in members) or not isinstance(row, types.Integer):
        return None
    sig = types.void(arrays, row)

    def codegen(context, builder, signature, args):
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        if isinstance(arrays, types.BaseTuple):
            values = cgutils.unpack_tuple(builder, args[0], len(members))
        else:
            values = [args[0]]
        r = context.cast(builder, args[1], signature.args[1], types.intp)
        for aty, val in zip(members, values):
            ary = context.make_array(aty)(context, builder, val)
            stride = cgutils.unpack_tuple(builder, ary.strides)[0]
            addr = builder.add(builder.ptrtoint(ary.data, cgutils.intp_t), builder.mul(r, stride))
            # read, keep in all cache levels, data cache
            builder.call(fn, [builder.inttoptr(addr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def cpu_jit(fn=None, *, parallel: bool = False, work: str | None = None):
    """Compile ``fn`` for the CPU with the package's numba options.

    Parameters
    ----------
    fn : callable, optional
        The function; when omitted a decorator is returned.
    parallel : bool, default False
        Enable ``prange`` parallel loops.
    work : str, optional
        With ``parallel``: the parameter whose ``size`` measures a call's
        work; calls then pick their thread count themselves
        (:meth:`ParallelKernel.run`). Without it, callers go through
        :func:`run_cpu` (or the kernel uses every thread).

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
            return ParallelKernel(f, options, work)
        return numba.njit(**options)(f)

    return compile_ if fn is None else compile_(fn)


def _serial_twin(fn):
    """A copy of ``fn`` named ``<qualname>__serial`` (numba's cache tells compilations apart by name only)."""
    twin = pytypes.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    twin.__qualname__ = f"{fn.__qualname__}__serial"
    twin.__module__, twin.__kwdefaults__, twin.__doc__ = fn.__module__, fn.__kwdefaults__, fn.__doc__
    return twin


#: Every :class:`ParallelKernel` made so far (:func:`monolith_np.warmup` compiles their parallel forms).
KERNELS = weakref.WeakSet()

#: Timed calls of each thread count (the best one kept) before a kernel's size class picks its count.
_TIMING_SAMPLES = 3


def thread_count():
    """The threads a parallel kernel may use now: numba's count, at most :func:`monolith_np.set_threads`'s limit.

    Examples
    --------
    >>> thread_count() >= 1
    True
    """
    threads = numba.get_num_threads()
    return _config.THREADS if 0 < _config.THREADS < threads else threads


class ParallelKernel:
    """A ``prange`` kernel that runs safely under whichever threading layer numba picked, on as many threads as pay.

    A kernel has two compilations of the same function: the parallel one,
    and a serial one (no parallel region at all, cached under the name
    ``<qualname>__serial`` since numba's cache tells compilations apart by
    name only), each compiled on first use. Parallel calls go to the first,
    except where :func:`monolith_np._threading.guard` says otherwise: under
    ``workqueue`` they hold the process-wide parallel lock, and in a child
    forked after GNU OpenMP was used they go to the serial compilation.
    Small calls go to the serial compilation too: they neither open a
    parallel region nor change numba's thread count. Large calls on one
    thread run the parallel compilation with numba's thread count set to 1
    (a region that costs about 3 us): numba compiles a ``prange`` body as its
    own function, which LLVM optimises better in some kernels (the pairwise
    ranking driver ran 5x faster that way than its serial compilation).

    **Thread count.** :meth:`run` (and a direct call of a kernel compiled
    with ``work=``) runs a call of fewer than ``_config.PARALLEL_MIN_WORK``
    elements on one thread (the serial compilation). Above it, the kernel
    times itself: per size class (a power of two of the work) it keeps a
    running mean of the time per element on one thread and on all threads
    allowed (calls that compiled or loaded code are not counted; the first
    ``_TIMING_SAMPLES`` calls alternate between the two and keep the best
    time of each), runs the faster, and times the slower again after ``_config.PARALLEL_REPROBE``
    calls (an interval that doubles, up to 1024, while the choice holds).
    Opening a parallel region means waking the other cores, which on a
    virtual machine, or a machine whose cores are busy with other
    processes, can cost more than the work: such calls then stay on one
    thread. The results do not depend on the thread count. The threads
    allowed are numba's (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``),
    at most :func:`monolith_np.set_threads`'s limit.

    Parameters
    ----------
    fn : callable
        The kernel's Python function.
    options : dict
        numba options shared by both compilations (``parallel`` excluded).
    work : str, optional
        The parameter whose ``size`` is a call's work (see above).

    Examples
    --------
    >>> import numpy as np
    >>> from numba import prange
    >>> def total(x):
    ...     s = 0.0
    ...     for i in prange(x.size):
    ...         s += x[i]
    ...     return s
    >>> kernel = ParallelKernel(total, dict(nogil=True), work="x")
    >>> float(kernel(np.arange(4.0)))  # 4 elements: one thread
    6.0
    """

    def __init__(self, fn, options, work=None):
        self.py_func = fn
        self._options = options
        self._parallel = numba.njit(parallel=True, **options)(fn)
        # The one-thread form: the same code compiled without parallel loops, under its own name so
        # that numba's cache keeps it apart from the parallel compilation (compiled on first use).
        self._serial = numba.njit(parallel=False, **options)(_serial_twin(fn))
        self._work_arg = None if work is None else list(inspect.signature(fn).parameters).index(work)
        KERNELS.add(self)
        # size class -> [seconds per element on 1 thread, on all allowed, calls to the next re-timing,
        # the re-timing interval, timed calls on 1 thread, on all allowed]
        self._timings = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        if self._work_arg is not None:
            return self.run(args[self._work_arg].size, *args)
        if 0 < _config.THREADS < numba.get_num_threads():
            return self._on_threads(_config.THREADS, args)
        return self._call(args)

    def _call(self, args):
        mode = _threading.guard()
        if mode == "free":
            return self._parallel(*args)
        if mode == "locked":
            with _threading.parallel_lock:
                return self._parallel(*args)
        return self._serial(*args)

    def _on_threads(self, count, args):
        threads = numba.get_num_threads()
        numba.set_num_threads(count)  # thread-local: other Python threads keep their setting
        try:
            return self._call(args)
        finally:
            numba.set_num_threads(threads)

    def run(self, work, *args):
        """Call the kernel on one thread or on all, whichever pays for a call of ``work`` elements.

        Parameters
        ----------
        work : int
            Array elements the call touches.
        *args
            The kernel's arguments.

        Returns
        -------
        object
            Whatever the kernel returns.
        """
        work = int(work)
        if work < _config.PARALLEL_MIN_WORK:
            return self._serial(*args)
        threads = thread_count()
        one = functools.partial(self._on_threads, 1)
        if threads == 1:
            return one(args)
        call = self._call if threads == numba.get_num_threads() else functools.partial(self._on_threads, threads)
        reprobe = _config.PARALLEL_REPROBE
        t = self._timings.setdefault(work.bit_length(), [0.0, 0.0, reprobe, reprobe, 0, 0])
        warming = min(t[4], t[5]) < _TIMING_SAMPLES
        if warming:  # alternate until each count has its first samples
            parallel, probe = t[5] <= t[4], False
        else:
            parallel = t[1] <= t[0]
            t[2] -= 1
            probe = t[2] <= 0
            parallel ^= probe
        compiled = len(self._parallel.overloads)
        start = time.perf_counter()
        result = (call if parallel else one)(args)
        per = (time.perf_counter() - start) / work
        if len(self._parallel.overloads) != compiled:  # this call compiled (or loaded) code: its time says nothing
            return result
        k = int(parallel)
        # the best of the first samples (a first parallel region, or a core still busy with another pool's
        # spinning threads, can cost several times the work), then a running mean that follows the load
        t[k] = per if not t[4 + k] else (min(t[k], per) if warming else 0.5 * t[k] + 0.5 * per)
        t[4 + k] += 1
        if probe:
            held = (t[1] <= t[0]) != parallel  # the probed count is still the slower one
            t[3] = min(2 * t[3], 1024) if held else _config.PARALLEL_REPROBE
            t[2] = t[3]
        return result

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
    """Call a parallel CPU driver on one thread or on all, whichever pays (:meth:`ParallelKernel.run`).

    Parameters
    ----------
    driver : ParallelKernel
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
    return driver.run(work, *args)
