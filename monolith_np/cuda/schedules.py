"""GPU driver for the learning-rate schedules of :mod:`monolith_np.schedules`.

Each schedule's kernel entry in :mod:`monolith_np._rules.schedules`
(``polynomial_decay_at``, ...: the plain rule the CPU loop runs, behind one
signature) is compiled here as a CUDA device function inside a grid-stride
kernel, one kernel per entry, built on first use. The driver takes its output
as an argument and allocates nothing, so under the CUDA simulator it runs on
numpy arrays.

On a real GPU, NVVM contracts ``a * b + c`` into fused multiply-adds and CUDA's
``powf``/``cosf``/``logf`` differ from the host libm, so results may differ
from the CPU kernel (and TF) by an ulp or two; the simulator runs the rule in
Python and agrees with the CPU kernel to within an ulp.
"""

from __future__ import annotations

import functools

from numba import cuda

from .._compile import gpu_device, gpu_kernel
from ._launch import launch

__all__ = ["schedule_gpu"]


@functools.lru_cache(maxsize=None)
def _kernel_for(entry):
    """The grid-stride kernel of one entry: one thread per step, ``out`` written in place."""
    entry_dev = gpu_device(entry)

    def kernel(steps, fparams, iparams, table, out):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, steps.size, stride):
            out[i] = entry_dev(steps[i], out[i], fparams, iparams, table)

    return gpu_kernel(kernel)


def schedule_gpu(entry, steps, fparams, iparams, table, out):
    """Evaluate a schedule's kernel entry at every step on the GPU, writing ``out`` in place.

    Parameters
    ----------
    entry : callable
        A kernel entry of :mod:`monolith_np._rules.schedules` (``polynomial_decay_at`` ...).
    steps : (n,) int64 device array
        Non-negative global steps (validated by the caller).
    fparams : (k,) float64 device array
        Real hyperparameters.
    iparams : (m,) int64 device array
        Integer thresholds (piecewise boundaries, warm-up steps).
    table : (m + 1,) float32 device array
        Piecewise-constant values.
    out : (n,) float32 device array
        Output; for ``LinearWarmup`` it holds the wrapped schedule's values on entry.
    """
    launch(_kernel_for(entry), steps.size, steps, fparams, iparams, table, out)
