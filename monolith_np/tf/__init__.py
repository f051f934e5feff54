"""TensorFlow adapter: DLPack conversions, losses with custom gradients, a hash-table Keras layer.

``import monolith_np`` never imports TensorFlow; ``import monolith_np.tf`` does.

* :func:`to_array` / :func:`to_tensor`: eager tensors <-> numpy (CPU) or CuPy
  (GPU) arrays through DLPack, zero-copy where TensorFlow allows it.
* Every differentiable loss of :mod:`monolith_np.losses` under its own name
  (``pairwise_logistic_loss``, ``batch_softmax_loss``,
  ``get_sigmoid_loss_and_pred``, ...) as a ``tf.custom_gradient`` op whose
  gradient is the library's ``<name>_grad`` kernel.
* :class:`HashEmbedding`: a Keras layer over an
  :class:`~monolith_np.table.EmbeddingHashTable` (dense or ragged ids, sum /
  mean / first-n combiners), trained by its gradient function ("fused") or
  through recorded gradient rows ("rows").

DLPack needs eager tensors: inside ``tf.function`` every numpy call runs in a
``tf.py_function`` node (see docs/tf.md).
"""

from . import losses
from ._convert import to_array, to_tensor
from .embedding import HashEmbedding
from .losses import *  # noqa: F401,F403

__all__ = ["to_array", "to_tensor", "HashEmbedding", *losses.__all__]
