"""Optimizers and gradient clipping.

* Embedding-table optimizers with Monolith's ``entry.py`` names
  (:mod:`monolith_np.optim.optimizers`): ``init_state``, dense ``apply``,
  sparse ``apply_rows`` with duplicate-row dedup, ``as_proto`` and state dumps.
  Their per-row rules live in :mod:`monolith_np._rules.optim`, the CPU drivers
  in :mod:`monolith_np.optim.sparse`, and :mod:`monolith_np.optim.registry`
  has one row per optimizer (class, rule entry, state layout, proto kind).
* Dense TF-style optimizers (:mod:`monolith_np.optim.dense`):
  ``AdamomOptimizer`` and the dense ``RmspropOptimizer``. The latter shares
  its name with the table optimizer, as in Monolith, so it is reached as
  ``monolith_np.optim.dense.RmspropOptimizer``; ``monolith_np.optim.RmspropOptimizer``
  is the table one.
* Gradient clipping (:mod:`monolith_np.optim.clip`).

Multi-segment entries (``SegmentedEntry`` and its helpers) moved to
:mod:`monolith_np.entry.segments`; ``monolith_np.optim.SegmentedEntry`` and
the other old names still resolve, with a ``DeprecationWarning``.
"""

import importlib
import warnings

from . import clip, dense, optimizers, registry
from .clip import *  # noqa: F401,F403
from .dense import AdamomOptimizer
from .optimizers import *  # noqa: F401,F403

__all__ = [
    "clip",
    "dense",
    "optimizers",
    *optimizers.__all__,
    "AdamomOptimizer",
    *clip.__all__,
]

#: Names that moved out of this package: name -> new location.
_MOVED = {
    "segments": "monolith_np.entry.segments",
    "SegmentedEntry": "monolith_np.entry.SegmentedEntry",
    "SliceConfig": "monolith_np.entry.SliceConfig",
    "optimizer_from_config": "monolith_np.entry.optimizer_from_config",
    "default_learning_rate_fn": "monolith_np.entry.default_learning_rate_fn",
    "merge_slices": "monolith_np.entry.merge_slices",
    "combine_slices_as_table": "monolith_np.entry.combine_slices_as_table",
    "learning_rates_at": "monolith_np.entry.learning_rates_at",
}


def __getattr__(name):
    """Resolve a name that moved to :mod:`monolith_np.entry`, with a ``DeprecationWarning``."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    new = _MOVED[name]
    warnings.warn(f"monolith_np.optim.{name} moved to {new}; import it from there", DeprecationWarning,
                  stacklevel=2)
    if name == "segments":
        return importlib.import_module(new)
    module, attr = new.rsplit(".", 1)
    return getattr(importlib.import_module(module), attr)
