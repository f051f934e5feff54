"""Settings read by the compile helpers and the GPU launchers.

Everything here is read on the host at call time (never inside a kernel), so
tests may patch ``THREADS_PER_BLOCK`` to a small value to make the CUDA
simulator run several blocks.
"""

from __future__ import annotations

import os

#: The one fastmath flag set (STYLE E): no ``nnan``/``ninf``, so NaN and Inf
#: checks keep working. Kernels start with fastmath off; a kernel opts in only
#: after its parity tests pass with it on.
FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

#: CPU kernels compiled with :data:`FASTMATH`, by qualified name. A kernel is
#: listed here only after its parity tests pass with the flags on; the
#: reason is written next to it. No other place turns fastmath on.
FASTMATH_KERNELS = frozenset(
    {
        # Float64 sum of squares per chunk: ``reassoc`` lets LLVM vectorise
        # it (about 4x on one core); chunks stay fixed, so results remain
        # independent of the thread count; NaN/Inf handling is unaffected.
        "monolith_np.optim.clip._sum_squares_chunks",
    }
)

#: Threads per CUDA block for 1-D launches.
THREADS_PER_BLOCK = 256

#: Upper bound on the number of blocks of a grid-stride launch.
MAX_BLOCKS = 65535

#: Whether compiled CPU kernels are cached on disk (``MONOLITH_NP_CACHE=0`` turns it off).
CACHE = os.environ.get("MONOLITH_NP_CACHE", "1") not in ("0", "false", "False", "")

#: Root of the on-disk kernel cache; a sub-directory per release and source hash is used.
CACHE_ROOT = os.environ.get(
    "MONOLITH_NP_CACHE_DIR",
    os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "monolith_np"),
)

#: Most threads a parallel CPU kernel uses (0: numba's thread count); set by
#: ``MONOLITH_NP_THREADS`` or :func:`monolith_np.set_threads`.
THREADS = 0
if os.environ.get("MONOLITH_NP_THREADS", "").strip():
    try:
        THREADS = int(os.environ["MONOLITH_NP_THREADS"])
    except ValueError:
        THREADS = -1
    if THREADS < 0:
        raise ValueError(f"MONOLITH_NP_THREADS must be an integer >= 0 (0: numba's thread count), "
                         f"got {os.environ['MONOLITH_NP_THREADS']!r}")

#: CPU calls that touch fewer array elements than this run their parallel driver
#: on one thread: opening a parallel region costs tens of microseconds on an idle
#: machine (milliseconds on an oversubscribed one), more than such calls take
#: (a call of 2**18 elements, e.g. 16,384 rows of 16 floats, takes about 0.1-0.3 ms).
PARALLEL_MIN_WORK = 1 << 18

#: A parallel kernel above ``PARALLEL_MIN_WORK`` runs on the thread count it has
#: timed faster for calls of that size, and times the other one again after this
#: many calls, an interval that doubles while the choice holds (``monolith_np._compile.ParallelKernel``).
PARALLEL_REPROBE = 32

#: A call whose kernels compile (or load) for longer than this many seconds
#: prints one line to stderr, once per process, saying why it waits
#: (``MONOLITH_NP_COMPILE_NOTICE=0`` turns it off).
COMPILE_NOTICE_SECONDS = 1.0
COMPILE_NOTICE = os.environ.get("MONOLITH_NP_COMPILE_NOTICE", "1") not in ("0", "false", "False", "")
