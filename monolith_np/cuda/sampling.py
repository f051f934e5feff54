"""GPU drivers for Gumbel top-k: the rules of :mod:`monolith_np._rules.sampling`, compiled for CUDA.

Drivers validate nothing and allocate nothing: the caller passes outputs and
scratch (so under ``NUMBA_ENABLE_CUDASIM=1`` they also run on numpy arrays).
Scalars must already be in the compute dtype (``t``, ``eps``) or ``np.uint64``
(``seed``), as :mod:`monolith_np.sampling` prepares them.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .._compile import gpu_device, gpu_kernel
from .._rules.sampling import continuous_topk_row, gumbel_key, sample_subset_row
from ._launch import launch

__all__ = ["gumbel_keys_gpu", "relaxed_topk_gpu"]

gumbel_key_dev = gpu_device(gumbel_key)
continuous_topk_row_dev = gpu_device(continuous_topk_row)
sample_subset_row_dev = gpu_device(sample_subset_row)


@gpu_kernel
def _gumbel_keys_kernel(w, seed, eps, out):
    """One thread per element (grid-stride): ``out[i] = gumbel_key(w[i], seed, i, eps)``."""
    for i in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
        out[i] = gumbel_key_dev(w[i], seed, np.uint64(i), eps)


@gpu_kernel
def _continuous_topk_kernel(w, k, t, eps, out, scratch):
    """One thread per row (grid-stride); row ``r`` writes ``out[r]`` and uses ``scratch[:, :, r]``."""
    for r in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
        continuous_topk_row_dev(w[r], k, t, eps, out[r], scratch[:, :, r])


@gpu_kernel
def _sample_subset_kernel(w, seed, k, t, eps, out, scratch):
    """As :func:`_continuous_topk_kernel`, with the Gumbel keys drawn in the same pass."""
    n = np.uint64(w.shape[1])
    for r in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
        sample_subset_row_dev(w[r], seed, np.uint64(r) * n, k, t, eps, out[r], scratch[:, :, r])


def gumbel_keys_gpu(w, seed, eps, out):
    """Gumbel keys of a flat array on the GPU.

    Parameters
    ----------
    w : (size,) float32 or float64 device array
        Contiguous log-weights; element ``i`` uses counter ``i``.
    seed : np.uint64
        The stream's seed.
    eps : float scalar
        ``EPSILON`` in the dtype of ``w``.
    out : (size,) device array like ``w``
        Written in place.
    """
    launch(_gumbel_keys_kernel, w.shape[0], w, seed, eps, out)


def relaxed_topk_gpu(w, k, t, eps, out, scratch, seed=None):
    """Relaxed top-k of every row on the GPU, one thread per row.

    Parameters
    ----------
    w : (rows, n) float32 or float64 device array
        C-contiguous keys (``seed=None``) or log-weights, ``n >= 1``.
    k : int
        Number of rounds, ``>= 1``.
    t : float scalar
        Temperature in the dtype of ``w``.
    eps : float scalar
        ``EPSILON`` in the dtype of ``w``.
    out : (rows, m, n) device array like ``w``
        Overwritten: ``m == 1`` receives the sum of the rounds, ``m == k`` each round.
    scratch : (3, n, rows) device array like ``w``
        Running keys, cached exponentials and masks; rows are the fastest axis so that
        the threads of a warp touch neighbouring addresses.
    seed : np.uint64 or None, default None
        ``None``: continuous top-k of ``w``. Otherwise Gumbel keys are drawn in
        the same pass (subset sampling), element ``(r, j)`` with counter
        ``r * n + j``.
    """
    if seed is None:
        launch(_continuous_topk_kernel, w.shape[0], w, k, t, eps, out, scratch)
    else:
        launch(_sample_subset_kernel, w.shape[0], w, seed, k, t, eps, out, scratch)
