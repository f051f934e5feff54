"""PyTorch adapter: zero-copy tensors, autograd losses, hash embeddings, dense optimizers.

* :func:`to_array` / :func:`to_tensor` — DLPack views between torch tensors
  and numpy (CPU) or CuPy (CUDA) arrays; :func:`torch_stream` runs library
  calls on torch's current CUDA stream.
* Every differentiable loss of :mod:`monolith_np.losses` under its own name
  (``pairwise_logistic_loss``, ``batch_softmax_loss``,
  ``get_sigmoid_loss_and_pred``, ...), a ``torch.autograd.Function`` whose
  backward is the library's gradient.
* :class:`HashEmbedding` — an ``nn.Module`` over an
  :class:`~monolith_np.table.EmbeddingHashTable`, with the optimizer applied
  in the backward (``mode="fused"``) or the gradient rows queued
  (``mode="rows"``); :class:`HashEmbeddingCollection` — many features over
  many tables in one call (input in ``KeyedJaggedTensor`` layout, or one),
  one index pass and one optimizer call per table and step.
* :class:`Adamom`, :class:`Rmsprop` (``torch.optim.Optimizer``) and
  :class:`MonolithLR` (a ``torch.optim.lr_scheduler.LRScheduler`` over any
  :mod:`monolith_np.schedules` object).

Importing :mod:`monolith_np` does not import this module (nor torch); import
it explicitly: ``import monolith_np.torch as mt``. See ``docs/torch.md``.
"""

from . import losses
from ._convert import to_array, to_tensor, torch_stream
from .collection import HashEmbeddingCollection
from .embedding import HashEmbedding
from .losses import *  # noqa: F401,F403
from .optim import Adamom, MonolithLR, Rmsprop

__all__ = [
    "to_array",
    "to_tensor",
    "torch_stream",
    "HashEmbedding",
    "HashEmbeddingCollection",
    "Adamom",
    "Rmsprop",
    "MonolithLR",
    *losses.__all__,
]
