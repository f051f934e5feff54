"""GPU drivers of :mod:`monolith_np.table.pooling`: bags pooled from the row store, one thread per element.

The rules of :mod:`monolith_np._rules.ragged` (``pool_rows_row``,
``pool_first_n``, ``bag_grad_sources``) are those the CPU drivers of
:mod:`monolith_np.table.pooling` run once per bag; the kernels here call the
pooling rules with a single output element (column window ``[j, j + 1)``, and
for first-n position window ``[k, k + 1)``), so consecutive threads read
consecutive columns of a table row and write consecutive columns of the
output (coalesced), and a bag is spread over ``dim`` (or ``n * dim``)
threads. :func:`grad_sources_gpu` runs one thread per bag (its ids' entries
are a short sequential loop, as on the CPU). Every kernel is a 1-D
grid-stride loop.

Bags are described as on the CPU: the feature's bag ``b`` is
``splits[b]`` to ``splits[b + 1]`` (absolute positions in the batch) and its
ids' resolved rows sit at ``rows[splits[b] + shift]``; a row ``EMPTY`` (-1)
reads as zeros. The drivers take device arrays (``values`` float32, ``rows``
and ``splits`` int64) and their outputs as arguments, write only the output
window they are given and allocate nothing, so under
``NUMBA_ENABLE_CUDASIM=1`` they run on numpy arrays.
"""

from __future__ import annotations

from numba import cuda

from .._compile import gpu_device, gpu_kernel
from .._rules.ragged import bag_grad_sources, pool_first_n, pool_rows_row
from ._launch import launch

__all__ = ["pool_rows_gpu", "pool_first_n_gpu", "grad_sources_gpu"]

pool_rows_row_dev = gpu_device(pool_rows_row)
pool_first_n_dev = gpu_device(pool_first_n)
bag_grad_sources_dev = gpu_device(bag_grad_sources)


def _pool_rows_kernel(values, rows, splits, shift, mean, out, col):
    """Thread ``t`` → element ``(b, j) = divmod(t, dim)`` of the window ``out[:, col:col + dim]``."""
    dim = values.shape[1]
    bags = splits.shape[0] - 1
    for t in range(cuda.grid(1), bags * dim, cuda.gridsize(1)):
        b = t // dim
        j = t - b * dim
        pool_rows_row_dev(values, rows, splits[b] + shift, splits[b + 1] + shift, mean, 1, out[b, col:col + dim],
                          j, j + 1)


def _pool_first_n_kernel(values, rows, splits, shift, n, out, col):
    """Thread ``t`` → element ``(b, k, j)`` of the window ``out[:, col:col + n * dim]`` seen as ``(B, n, dim)``."""
    dim = values.shape[1]
    bags = splits.shape[0] - 1
    for t in range(cuda.grid(1), bags * n * dim, cuda.gridsize(1)):
        slot = t // dim
        j = t - slot * dim
        b = slot // n
        k = slot - b * n
        pool_first_n_dev(values, rows, splits[b] + shift, splits[b + 1] + shift, out[b, col:col + n * dim], n, dim,
                         k, k + 1, j, j + 1)


def _grad_sources_kernel(splits, shift, first_row, row_stride, n, zero_row, mean, index, scale):
    """Thread ``t`` → bag ``b = t``: its ids' gradient rows (and ``fl(1/count)`` for a mean)."""
    for b in range(cuda.grid(1), splits.shape[0] - 1, cuda.gridsize(1)):
        bag_grad_sources_dev(splits[b], splits[b + 1], splits[b] + shift, first_row + b * row_stride, n, zero_row, mean,
                             index, scale)


_pool_rows_kernel_gpu = gpu_kernel(_pool_rows_kernel)
_pool_first_n_kernel_gpu = gpu_kernel(_pool_first_n_kernel)
_grad_sources_kernel_gpu = gpu_kernel(_grad_sources_kernel)


def pool_rows_gpu(values, rows, splits, shift, mean, out, col):
    """The GPU twin of :func:`monolith_np.table.pooling.pool_rows` (same arguments, ``mean`` an int), bit for bit."""
    launch(_pool_rows_kernel_gpu, (splits.shape[0] - 1) * values.shape[1], values, rows, splits, shift, mean, out,
           col)


def pool_first_n_gpu(values, rows, splits, shift, n, out, col):
    """The GPU twin of :func:`monolith_np.table.pooling.pool_first_n_rows` (same arguments), bit for bit."""
    launch(_pool_first_n_kernel_gpu, (splits.shape[0] - 1) * n * values.shape[1], values, rows, splits, shift, n,
           out, col)


def grad_sources_gpu(splits, shift, first_row, row_stride, n, zero_row, mean, index, scale):
    """The GPU twin of :func:`monolith_np.table.pooling.grad_sources` (same arguments, ``mean`` an int), bit for bit."""
    launch(_grad_sources_kernel_gpu, splits.shape[0] - 1, splits, shift, first_row, row_stride, n, zero_row, mean,
           index, scale)
