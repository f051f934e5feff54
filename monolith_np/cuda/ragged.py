"""GPU drivers for :mod:`monolith_np.ragged`: the same rules, one thread per output element.

The rules of :mod:`monolith_np._rules.ragged` (``segment_reduce_row``,
``segment_spread_rows``, ``shifted_copy``, ``seq_mask_row``) fill a window of
their output (a column range of one row, or a row range times a column range).
The CPU drivers call them once per ragged row with the whole window; the
kernels here call them with a single element (``[i, i + 1)`` × ``[j, j + 1)``),
so consecutive threads touch consecutive columns (coalesced loads and stores)
and long rows are spread over ``D`` threads. Every kernel is a 1-D grid-stride
loop. The drivers take validated device arrays (``row_splits`` int32/int64,
embeddings and gradients float32/float64) and their outputs as arguments, fully
overwrite the outputs and allocate nothing, so under ``NUMBA_ENABLE_CUDASIM=1``
they run on numpy arrays.
"""

from __future__ import annotations

from numba import cuda

from .._compile import gpu_device, gpu_kernel
from .._rules.ragged import row_of, segment_reduce_row, segment_spread_rows, seq_mask_row, shifted_copy
from ._launch import launch

__all__ = ["reduce_gpu", "reduce_grad_gpu", "first_n_gpu", "first_n_grad_gpu", "seq_mask_gpu"]

segment_reduce_row_dev = gpu_device(segment_reduce_row)
segment_spread_rows_dev = gpu_device(segment_spread_rows)
shifted_copy_dev = gpu_device(shifted_copy)
seq_mask_row_dev = gpu_device(seq_mask_row)


def _reduce_kernel(values, row_splits, mean, out):
    """Thread ``t`` → output element ``(b, j) = divmod(t, D)`` of ``out[B, D]``."""
    width = out.shape[1]
    for t in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        b = t // width
        j = t - b * width
        segment_reduce_row_dev(values, row_splits[b], row_splits[b + 1], mean, out[b], j, j + 1)


def _reduce_grad_kernel(grad, row_splits, mean, out):
    """Thread ``t`` → element ``(i, j)`` of ``out[nnz, D]``; the row ``b`` of id ``i`` by binary search."""
    width = out.shape[1]
    for t in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        i = t // width
        j = t - i * width
        b = row_of(row_splits, i)
        segment_spread_rows_dev(grad[b], row_splits[b + 1] - row_splits[b], mean, out, i, i + 1, j, j + 1)


def _first_n_kernel(values, row_splits, out):
    """Thread ``t`` → element ``(b, k, j)`` of ``out[B, n, D]``."""
    n = out.shape[1]
    width = out.shape[2]
    for t in range(cuda.grid(1), out.shape[0] * n * width, cuda.gridsize(1)):
        row = t // width
        j = t - row * width
        b = row // n
        k = row - b * n
        shifted_copy_dev(values, row_splits[b + 1], row_splits[b], out[b], k, k + 1, j, j + 1)


def _first_n_grad_kernel(grad, row_splits, out):
    """Thread ``t`` → element ``(i, j)`` of ``out[nnz, D]``; id ``i`` sits at position ``k`` of row ``b``."""
    width = out.shape[1]
    for t in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        i = t // width
        j = t - i * width
        b = row_of(row_splits, i)
        shifted_copy_dev(grad[b], grad.shape[1], -row_splits[b], out, i, i + 1, j, j + 1)


def _seq_mask_kernel(row_splits, out):
    """Thread ``t`` → element ``(b, j)`` of the ``out[B, L]`` mask."""
    width = out.shape[1]
    for t in range(cuda.grid(1), out.shape[0] * width, cuda.gridsize(1)):
        b = t // width
        j = t - b * width
        seq_mask_row_dev(row_splits[b], row_splits[b + 1], out[b], j, j + 1)


_reduce_kernel_gpu = gpu_kernel(_reduce_kernel)
_reduce_grad_kernel_gpu = gpu_kernel(_reduce_grad_kernel)
_first_n_kernel_gpu = gpu_kernel(_first_n_kernel)
_first_n_grad_kernel_gpu = gpu_kernel(_first_n_grad_kernel)
_seq_mask_kernel_gpu = gpu_kernel(_seq_mask_kernel)


def reduce_gpu(values, row_splits, mean, out):
    """Segment sum (``mean=0``) or mean (``mean=1``) of ``values[nnz, D]`` into ``out[B, D]`` (overwritten)."""
    launch(_reduce_kernel_gpu, out.shape[0] * out.shape[1], values, row_splits, mean, out)


def reduce_grad_gpu(grad, row_splits, mean, out):
    """Gradient of :func:`reduce_gpu`: id row ``i`` of row ``b`` of ``out[nnz, D]`` gets ``grad[b]``
    (times ``fl(1/count_b)`` when ``mean=1``)."""
    launch(_reduce_grad_kernel_gpu, out.shape[0] * out.shape[1], grad, row_splits, mean, out)


def first_n_gpu(values, row_splits, out):
    """First ``n = out.shape[1]`` embeddings of each row of ``values`` into ``out[B, n, D]``, zero-padded."""
    launch(_first_n_kernel_gpu, out.shape[0] * out.shape[1] * out.shape[2], values, row_splits, out)


def first_n_grad_gpu(grad, row_splits, out):
    """Gradient of :func:`first_n_gpu`: id ``i`` at position ``k`` of row ``b`` gets ``grad[b, k]``,
    or 0 when ``k >= n``, in ``out[nnz, D]``."""
    launch(_first_n_grad_kernel_gpu, out.shape[0] * out.shape[1], grad, row_splits, out)


def seq_mask_gpu(row_splits, out):
    """Sequence mask ``out[b, j] = j < min(len_b, L)`` into ``out[B, L]`` (dtype of ``row_splits``)."""
    launch(_seq_mask_kernel_gpu, out.shape[0] * out.shape[1], row_splits, out)
