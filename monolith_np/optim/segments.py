"""Deprecated alias of :mod:`monolith_np.entry.segments` (multi-segment entries moved there).

Importing it warns with a ``DeprecationWarning``; every name of the new
module's ``__all__`` is re-exported unchanged.
"""

import warnings

from ..entry.segments import *  # noqa: F401,F403
from ..entry.segments import __all__  # noqa: F401

warnings.warn("monolith_np.optim.segments moved to monolith_np.entry.segments; import it from there",
              DeprecationWarning, stacklevel=2)
