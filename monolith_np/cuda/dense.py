"""GPU drivers for the dense optimizers in :mod:`monolith_np.optim.dense`.

The element rules :func:`~monolith_np._rules.dense.adamom_update` and
:func:`~monolith_np._rules.dense.rmsprop_dense_update` (the functions the CPU
``prange`` loops run) are compiled here as CUDA device functions inside
grid-stride kernels, one thread per element. The drivers take flat arrays and
update them in place, allocating nothing, so under the CUDA simulator they run
on numpy arrays.

On a real GPU, NVVM may contract ``a * b + c`` into fused multiply-adds, so
results can differ from the CPU kernel by an ulp or two; the simulator runs the
rule in Python with numpy scalars and matches the CPU kernel.
"""

from __future__ import annotations

import functools

from numba import cuda

from .._compile import gpu_device, gpu_kernel
from .._rules.dense import adamom_update, rmsprop_dense_update
from ._launch import launch

__all__ = ["adamom_gpu", "rmsprop_gpu"]


@functools.lru_cache(maxsize=None)
def _adamom_kernel():
    """Grid-stride kernel: thread ``i`` applies the Adamom rule to element ``i`` in place."""
    rule = gpu_device(adamom_update)

    def kernel(var, m, v, c, grad, lr, ada_decay, mom_decay, epsilon, weight_decay, update_slots, use_v2):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, var.size, stride):
            var[i], m[i], v[i], c[i] = rule(
                var[i], m[i], v[i], c[i], grad[i], lr, ada_decay, mom_decay, epsilon, weight_decay, update_slots,
                use_v2,
            )

    return gpu_kernel(kernel)


@functools.lru_cache(maxsize=None)
def _rmsprop_kernel():
    """Grid-stride kernel: thread ``i`` applies the Rmsprop rule to element ``i`` in place."""
    rule = gpu_device(rmsprop_dense_update)

    def kernel(var, m, v, grad, lr, beta1, beta2, epsilon, weight_decay, update_slots, use_v2):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, var.size, stride):
            var[i], m[i], v[i] = rule(
                var[i], m[i], v[i], grad[i], lr, beta1, beta2, epsilon, weight_decay, update_slots, use_v2
            )

    return gpu_kernel(kernel)


def adamom_gpu(var, m, v, c, grad, lr, ada_decay, mom_decay, epsilon, weight_decay, update_slots, use_v2):
    """Apply Adamom to every element on the GPU, updating ``var, m, v, c`` in place.

    Parameters
    ----------
    var, m, v, c : (n,) float32 or float64 device arrays
        The variable and its slots, flat and contiguous, written in place.
    grad : (n,) device array of the same dtype
        The gradient.
    lr, ada_decay, mom_decay, epsilon, weight_decay : scalars of the arrays' dtype
        Hyperparameters (validated by the caller).
    update_slots, use_v2 : bool
        The kernel attributes (see :class:`~monolith_np.optim.dense.AdamomOptimizer`).
    """
    launch(_adamom_kernel(), var.size, var, m, v, c, grad, lr, ada_decay, mom_decay, epsilon, weight_decay,
           bool(update_slots), bool(use_v2))


def rmsprop_gpu(var, m, v, grad, lr, beta1, beta2, epsilon, weight_decay, update_slots, use_v2):
    """Apply Rmsprop to every element on the GPU, updating ``var, m, v`` in place.

    Parameters
    ----------
    var, m, v : (n,) float32 or float64 device arrays
        The variable and its slots, flat and contiguous, written in place.
    grad : (n,) device array of the same dtype
        The gradient.
    lr, beta1, beta2, epsilon, weight_decay : scalars of the arrays' dtype
        Hyperparameters (validated by the caller).
    update_slots, use_v2 : bool
        The kernel attributes (see :class:`~monolith_np.optim.dense.RmspropOptimizer`).
    """
    launch(_rmsprop_kernel(), var.size, var, m, v, grad, lr, beta1, beta2, epsilon, weight_decay,
           bool(update_slots), bool(use_v2))
