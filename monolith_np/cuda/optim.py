"""GPU drivers for the embedding-table optimizers in :mod:`monolith_np.optim`.

The rules' kernel entries (``adagrad_at``, ...: the plain functions the CPU
drivers inline) are compiled as CUDA device functions, one kernel per entry,
built on first use. ``apply_rows_gpu`` de-duplicates on the device without a
sort:

1. ``first[row] = min(i)`` over the occurrences (``atomic.min`` into an
   ``int64`` map of ``num_rows`` entries);
2. each occurrence counts itself at its row's first occurrence
   (``atomic.add``); an exclusive scan of the counts gives each row's segment
   and the first occurrences, in batch order, are the unique rows;
3. occurrences are scattered into their segment (``atomic.add`` cursors);
4. one thread per unique row sums its segment into a scratch row and runs the
   rule.

Step 3 fills a segment in arrival order, so duplicates are summed in an order
that can differ from the CPU's occurrence order (float32 sums then differ by
rounding; rows without duplicates are bit-identical under the simulator).
The scratch arrays are allocated with the array module of ``params`` (CuPy on
a GPU, numpy under the simulator).

With ``dc`` (:class:`~monolith_np.optim.DcOptimizerWrapper`) each row's
gradient is delay-compensated by the same ``dc_compensate_at`` rule as on the
CPU before the entry runs: in the sparse kernel every row (duplicated or not)
is gathered into its scratch row and compensated there; the dense kernel gets
a ``(num_rows, dim)`` scratch buffer. The caller's gradients are never written.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from .._backend import array_module
from .._compile import gpu_device, gpu_kernel
from .._rules.optim import dc_compensate_at, stochastic_round_row
from ._launch import _as_device, launch

__all__ = ["apply_rows_gpu", "apply_dense_gpu"]


def _first_kernel(rows, first):
    for i in range(cuda.grid(1), rows.size, cuda.gridsize(1)):
        cuda.atomic.min(first, rows[i], i)


def _count_kernel(rows, first, count, is_first):
    for i in range(cuda.grid(1), rows.size, cuda.gridsize(1)):
        f = first[rows[i]]
        cuda.atomic.add(count, f, 1)
        is_first[i] = 1 if f == i else 0


def _fill_kernel(rows, first, offsets, cursor, occ):
    for i in range(cuda.grid(1), rows.size, cuda.gridsize(1)):
        f = first[rows[i]]
        pos = cuda.atomic.add(cursor, f, 1)
        occ[offsets[f] + pos] = i


@functools.lru_cache(maxsize=None)
def _dedup_kernels():
    return gpu_kernel(_first_kernel), gpu_kernel(_count_kernel), gpu_kernel(_fill_kernel)


@functools.lru_cache(maxsize=None)
def _kernels_for(entry, rounding, dc=False):
    """The sparse and dense kernels of one rule entry (one thread per row)."""
    entry_dev = gpu_device(entry)
    round_dev = gpu_device(stochastic_round_row)
    dc_dev = gpu_device(dc_compensate_at)

    def sparse(params, grads, rows, heads, offsets, count, occ, S, lr, hp, step, seed, scratch):
        for u in range(cuda.grid(1), heads.size, cuda.gridsize(1)):
            f = heads[u]
            r = rows[f]
            k = count[f]
            if k == 1 and not dc:
                g = grads[f]
            else:
                g = scratch[u]
                start = offsets[f]
                for d in range(g.size):
                    g[d] = grads[occ[start], d]
                for j in range(start + 1, start + k):
                    for d in range(g.size):
                        g[d] += grads[occ[j], d]
            w = params[r]
            if dc:
                dc_dev(w, g, S, r, hp, g)
            entry_dev(w, g, S, r, lr, hp, step)
            if rounding:
                round_dev(w, seed, step, r)

    def dense(params, grads, S, lr, hp, step, seed, scratch):
        for r in range(cuda.grid(1), params.shape[0], cuda.gridsize(1)):
            w = params[r]
            g = grads[r]
            if dc:
                g = scratch[r]
                dc_dev(w, grads[r], S, r, hp, g)
            entry_dev(w, g, S, r, lr, hp, step)
            if rounding:
                round_dev(w, seed, step, r)

    return gpu_kernel(sparse), gpu_kernel(dense)


def apply_rows_gpu(entry, rounding, params, rows, grads, S, lr, hp, step, seed, dc=False):
    """De-duplicate ``rows`` and apply one rule entry to each distinct row, in place.

    Parameters
    ----------
    entry : callable
        A ``*_at`` kernel entry of :mod:`monolith_np._rules.optim`.
    rounding : bool
        Stochastically round updated rows to float16 values afterwards.
    params : (num_rows, dim) float32 device array
        The table (updated in place).
    rows : (n,) int64 device array
        Validated row ids.
    grads : (n, dim) float32 device array, C-contiguous
        Gradient rows.
    S : tuple of device arrays
        The state arrays in the registry row's order (updated in place).
    lr : numpy.float32
        The learning rate.
    hp : (k,) float64 device array
        The entry's hyperparameters.
    step : int
        Global step.
    seed : int
        Stream seed of the stochastic rounding.
    dc : bool, default False
        Delay-compensate each row's gradient first (``S[-1]`` is ``latest``,
        ``hp[-1]`` is ``lambda_``).
    """
    xp = array_module(params=params)
    n = rows.shape[0]
    num_rows, dim = params.shape
    first_k, count_k, fill_k = _dedup_kernels()
    first = xp.full(num_rows, n, dtype=xp.int64)
    count = xp.zeros(n, dtype=xp.int64)
    is_first = xp.empty(n, dtype=xp.int8)
    launch(first_k, n, rows, first)
    launch(count_k, n, rows, first, count, is_first)
    offsets = xp.cumsum(count) - count
    heads = xp.nonzero(is_first)[0].astype(xp.int64)
    cursor = xp.zeros(n, dtype=xp.int64)
    occ = xp.empty(n, dtype=xp.int64)
    launch(fill_k, n, rows, first, offsets, cursor, occ)
    scratch = xp.empty((heads.shape[0], dim), dtype=xp.float32)
    sparse = _kernels_for(entry, rounding, dc)[0]
    launch(sparse, heads.shape[0], params, grads, rows, heads, offsets, count, occ,
           tuple(_as_device(a) for a in S), np.float32(lr), hp, np.int64(step), np.uint64(seed), scratch)


def apply_dense_gpu(entry, rounding, params, grads, S, lr, hp, step, seed, dc=False):
    """Apply one rule entry to every row of ``params``, in place (one thread per row).

    Parameters
    ----------
    entry, rounding, params, S, lr, hp, step, seed, dc
        As in :func:`apply_rows_gpu`.
    grads : (num_rows, dim) float32 device array
        One gradient row per table row.
    """
    xp = array_module(params=params)
    scratch = xp.empty((params.shape[0] if dc else 0, params.shape[1]), dtype=xp.float32)
    dense = _kernels_for(entry, rounding, dc)[1]
    launch(dense, params.shape[0], params, grads, tuple(_as_device(a) for a in S), np.float32(lr), hp,
           np.int64(step), np.uint64(seed), scratch)
