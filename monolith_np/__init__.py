"""monolith_np: Monolith's recommender-training math over plain arrays.

Learning-rate schedules (:mod:`monolith_np.schedules`), gumbel top-k sampling
(:mod:`monolith_np.sampling`), ragged combiners, sequence masks and tensor-list
merging (:mod:`monolith_np.ragged`), and Monolith-wire-compatible protobuf
configs (:mod:`monolith_np.proto`); embedding-table and dense optimizers and
gradient clipping (:mod:`monolith_np.optim`); initializers, compressors and
entry configs with Monolith's ``entry.py`` names (:mod:`monolith_np.entry`); embedding hash
tables with occurrence filters and checkpoints (:mod:`monolith_np.table`); losses with their
gradients (:mod:`monolith_np.losses`); the AUC metric (:mod:`monolith_np.metrics`) and
Monolith feature ids (:mod:`monolith_np.features`). Every array function takes numpy arrays
(Numba CPU kernels) or CUDA arrays such as CuPy's (numba.cuda kernels compiled
from the same rules) and returns the same kind it was given.

Framework adapters are imported on their own: :mod:`monolith_np.torch`
(autograd losses, ``HashEmbedding``, optimizers, DLPack conversions) and
:mod:`monolith_np.tf` (custom-gradient losses, a Keras ``HashEmbedding``).

Importing this package never imports CuPy, PyTorch, TensorFlow or numba.cuda.
"""

from . import entry, features, losses, metrics, optim, proto, ragged, sampling, schedules, table
from ._backend import array_module, is_cuda_array
from ._threading import get_threads, set_threads
from ._threading import layer as threading_layer
from ._version import __version__
from ._warmup import warmup
from .ragged import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403
from .schedules import *  # noqa: F401,F403

__all__ = [
    "array_module",
    "is_cuda_array",
    "threading_layer",
    "set_threads",
    "get_threads",
    "warmup",
    "entry",
    "features",
    "losses",
    "metrics",
    "optim",
    "proto",
    "ragged",
    "sampling",
    "schedules",
    "table",
    *schedules.__all__,
    *sampling.__all__,
    *ragged.__all__,
]
