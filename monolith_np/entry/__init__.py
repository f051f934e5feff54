"""Entry components: initializers, float compressors, quantizers and table configs.

The names mirror Monolith's ``monolith/native_training/entry.py`` so its users
find them: every class has the original's constructor arguments and defaults
and an ``as_proto()`` that returns the same Monolith-wire-compatible message,
byte for byte. On top of the configs, each component also *runs*:

* initializers fill embedding rows (:meth:`Initializer.initialize`, or call
  one to get new rows), on the CPU (numba ``prange``) or the GPU (numba.cuda);
* compressors encode float32 arrays to their compact form and decode them back
  (:meth:`Compressor.encode` / :meth:`Compressor.decode`);
* :class:`FakeQuantizer` and :class:`HashNetQuantizer` are the quantizers
  behind fixed_r8 and one_bit, used by training-time retrievers (forward, and
  HashNet's backward with its scale schedule).

Every formula lives once in :mod:`monolith_np._rules.entry`; the CPU drivers
(:mod:`monolith_np.entry._cpu`) and the GPU kernels in
:mod:`monolith_np.cuda.entry` compile the same functions. numpy inputs run on
the CPU and CUDA arrays (CuPy, ``__cuda_array_interface__``) on the GPU; the
output lives where the input does.

The package is split by concern: :mod:`~monolith_np.entry.initializers`,
:mod:`~monolith_np.entry.quantizers`, :mod:`~monolith_np.entry.compressors`,
:mod:`~monolith_np.entry.config` (segment and table configs) and
:mod:`~monolith_np.entry.segments` (:class:`SegmentedEntry`, the runnable
multi-segment entry that :func:`CombineAsSegment` segments describe); every
name is exported here. The optimizer classes of the original's ``entry.py``
live in :mod:`monolith_np.optim` and are re-exported here too, as the
original has them; :func:`CombineAsSegment` accepts them, any object with
``as_proto()``, or raw protos.

References
----------
Monolith: ``monolith/native_training/entry.py`` and
``runtime/hash_table/{initializer,compressor,retriever}``.
"""

from ..optim import optimizers as _optimizers
from ..optim.optimizers import *  # noqa: F401,F403  (entry.py's optimizer classes live here too)
from . import compressors, config, initializers, quantizers, segments
from .compressors import *  # noqa: F401,F403
from .config import *  # noqa: F401,F403
from .initializers import *  # noqa: F401,F403
from .quantizers import *  # noqa: F401,F403
from .segments import *  # noqa: F401,F403

__all__ = [
    *initializers.__all__,
    *compressors.__all__,
    *quantizers.__all__,
    *config.__all__,
    *segments.__all__,
    *_optimizers.__all__,
]
