"""The one line a first call prints while the package's kernels compile for more than a second.

numba compiles a kernel on its first call with new argument types and keeps
the machine code in the on-disk cache (:mod:`monolith_np._compile`); until
then a call can wait seconds with nothing to say why. A listener on numba's
``numba:compile`` event starts a timer when a compilation of one of this
package's functions begins (nested compilations of its callees count as the
same wait) and cancels it when that compilation ends; a timer that fires
prints one line to stderr, once per process.
"""

from __future__ import annotations

import sys
import threading

from numba.core import event

from . import _config

__all__ = ["install", "MESSAGE"]

MESSAGE = ("monolith_np: compiling kernels for first use (once per machine and release; cached in {cache}; "
           "`monolith-np warmup` compiles them ahead) ...")

_lock = threading.Lock()
_installed = False
_depth = 0
_timer = None
_said = False


def _ours(ev):
    dispatcher = (ev.data or {}).get("dispatcher")
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    return module == "monolith_np" or module.startswith("monolith_np.")


def _say():
    global _said
    with _lock:
        if _said or _depth == 0:
            return
        _said = True
    print(MESSAGE.format(cache=_config.CACHE_ROOT), file=sys.stderr, flush=True)


class _Listener(event.Listener):
    def on_start(self, ev):
        global _depth, _timer
        if not _ours(ev):
            return
        with _lock:
            _depth += 1
            if _depth == 1 and not _said:
                _timer = threading.Timer(_config.COMPILE_NOTICE_SECONDS, _say)
                _timer.daemon = True
                _timer.start()

    def on_end(self, ev):
        global _depth, _timer
        if not _ours(ev):
            return
        with _lock:
            _depth -= 1
            if _depth == 0 and _timer is not None:
                _timer.cancel()
                _timer = None


_LISTENER = _Listener()


def install():
    """Start listening for compilations (idempotent; nothing when ``_config.COMPILE_NOTICE`` is off).

    Returns
    -------
    bool
        Whether the listener is installed.

    Examples
    --------
    >>> install() in (True, False)
    True
    """
    global _installed
    if not _config.COMPILE_NOTICE:
        return False
    with _lock:
        if not _installed:
            event.register("numba:compile", _LISTENER)
            _installed = True
    return True
