"""Optimizers and gradient clipping.

* Embedding-table optimizers with Monolith's ``entry.py`` names
  (:mod:`monolith_np.optim.optimizers`): ``init_state``, dense ``apply``,
  sparse ``apply_rows`` with duplicate-row dedup, ``as_proto`` and state dumps.
  Their per-row rules live in :mod:`monolith_np.optim.rules`, the CPU drivers
  in :mod:`monolith_np.optim.sparse`.
* Dense TF-style optimizers (:mod:`monolith_np.optim.dense`):
  ``AdamomOptimizer`` and the dense ``RmspropOptimizer``. The latter shares
  its name with the table optimizer, as in Monolith, so it is reached as
  ``monolith_np.optim.dense.RmspropOptimizer``; ``monolith_np.optim.RmspropOptimizer``
  is the table one.
* Gradient clipping (:mod:`monolith_np.optim.clip`).
* Multi-segment entries with per-slice learning rates
  (:mod:`monolith_np.optim.segments`): several dim/initializer/optimizer/
  compressor segments side by side in one row, as Monolith's entries.
"""

from . import clip, dense, optimizers, segments
from .clip import *  # noqa: F401,F403
from .dense import AdamomOptimizer
from .optimizers import *  # noqa: F401,F403
from .segments import *  # noqa: F401,F403

__all__ = [
    "clip",
    "dense",
    "optimizers",
    "segments",
    *optimizers.__all__,
    *segments.__all__,
    "AdamomOptimizer",
    *clip.__all__,
]
