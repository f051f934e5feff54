"""GPU drivers of :mod:`monolith_np.entry`: the rules of :mod:`monolith_np._rules.entry` compiled for CUDA.

One thread per element (grid-stride loops). Drivers validate nothing and
allocate nothing: the caller passes the outputs (so under
``NUMBA_ENABLE_CUDASIM=1`` they also run on numpy arrays). Scalars must already
have the dtypes the CPU drivers get (float32 hyperparameters, ``np.uint64``
seeds and offsets, float64 initializer bounds), as :mod:`monolith_np.entry`
prepares them.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .._compile import gpu_device, gpu_kernel
from .._rules import entry as rules
from ._launch import launch

__all__ = [
    "initialize_gpu",
    "fp16_encode_gpu",
    "fp16_decode_gpu",
    "fixed_r8_encode_gpu",
    "fixed_r8_decode_gpu",
    "one_bit_encode_gpu",
    "one_bit_decode_gpu",
    "hash_net_forward_gpu",
    "hash_net_backward_gpu",
]

init_value_dev = gpu_device(rules.init_value)
init_row_seed_dev = gpu_device(rules.init_row_seed)
fp32_to_fp16_bits_dev = gpu_device(rules.fp32_to_fp16_bits)
fp16_to_fp32_bits_dev = gpu_device(rules.fp16_to_fp32_bits)
fixed_r8_encode_dev = gpu_device(rules.fixed_r8_encode)
fixed_r8_decode_dev = gpu_device(rules.fixed_r8_decode)
one_bit_encode_dev = gpu_device(rules.one_bit_encode)
one_bit_decode_dev = gpu_device(rules.one_bit_decode)
hash_net_forward_dev = gpu_device(rules.hash_net_forward)
hash_net_backward_dev = gpu_device(rules.hash_net_backward)


@gpu_kernel
def _initialize_kernel(out, random, seed, row_offset, row_ids, low, width):
    """One thread per element of ``out`` (rows, dim); row streams as ``init_row_seed``."""
    dim = out.shape[1]
    n = out.shape[0] * dim
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        r = i // dim
        c = i - r * dim
        row_seed = init_row_seed_dev(seed, row_offset, row_ids, r)
        out[r, c] = init_value_dev(random, row_seed, np.uint64(c), low, width)


@gpu_kernel
def _fp16_encode_kernel(bits, out):
    """``out[i] = fp32_to_fp16_bits(bits[i])``."""
    for i in range(cuda.grid(1), bits.shape[0], cuda.gridsize(1)):
        out[i] = fp32_to_fp16_bits_dev(bits[i])


@gpu_kernel
def _fp16_decode_kernel(bits, out):
    """``out[i] = fp16_to_fp32_bits(bits[i])``."""
    for i in range(cuda.grid(1), bits.shape[0], cuda.gridsize(1)):
        out[i] = fp16_to_fp32_bits_dev(bits[i])


@gpu_kernel
def _fixed_r8_encode_kernel(x, step, half_step, out):
    """``out[i] = fixed_r8_encode(x[i], step, half_step)``."""
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = fixed_r8_encode_dev(x[i], step, half_step)


@gpu_kernel
def _fixed_r8_decode_kernel(q, step, out):
    """``out[i] = fixed_r8_decode(q[i], step)``."""
    for i in range(cuda.grid(1), q.shape[0], cuda.gridsize(1)):
        out[i] = fixed_r8_decode_dev(q[i], step)


@gpu_kernel
def _one_bit_encode_kernel(x, amplitude, scale, out):
    """``out[i] = one_bit_encode(x[i], amplitude, scale)``."""
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = one_bit_encode_dev(x[i], amplitude, scale)


@gpu_kernel
def _one_bit_decode_kernel(q, amplitude, out):
    """``out[i] = one_bit_decode(q[i], amplitude)``."""
    for i in range(cuda.grid(1), q.shape[0], cuda.gridsize(1)):
        out[i] = one_bit_decode_dev(q[i], amplitude)


@gpu_kernel
def _hash_net_forward_kernel(x, amplitude, scale, out):
    """``out[i] = hash_net_forward(x[i], amplitude, scale)``."""
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = hash_net_forward_dev(x[i], amplitude, scale)


@gpu_kernel
def _hash_net_backward_kernel(num, grad, amplitude, scale, out):
    """``out[i] = hash_net_backward(num[i], grad[i], amplitude, scale)`` (``out`` may be ``grad``)."""
    for i in range(cuda.grid(1), num.shape[0], cuda.gridsize(1)):
        out[i] = hash_net_backward_dev(num[i], grad[i], amplitude, scale)


def initialize_gpu(out, random, seed, row_offset, row_ids, low, width):
    """Fill a (rows, dim) device array with an initializer's values.

    Parameters
    ----------
    out : (rows, dim) float32 or float64 device array
        Written in place (any strides).
    random : bool
        Uniform draws (True) or the constant ``low`` (False).
    seed, row_offset : np.uint64
        Stream seed and the table row of ``out[0]``.
    row_ids : (rows,) int64 device array
        Table row (id) of each row of ``out``; empty to use ``row_offset``.
    low, width : float64
        ``minval`` (or the constant) and ``maxval - minval``.
    """
    launch(_initialize_kernel, out.shape[0] * out.shape[1], out, random, seed, row_offset, row_ids, low, width)


def fp16_encode_gpu(bits, out):
    """fp16-encode a flat array of float32 bit patterns.

    Parameters
    ----------
    bits : (n,) uint32 device array
        float32 values viewed as ``uint32``.
    out : (n,) uint16 device array
        Binary16 bit patterns, written in place.
    """
    launch(_fp16_encode_kernel, bits.shape[0], bits, out)


def fp16_decode_gpu(bits, out):
    """Decode a flat array of binary16 bit patterns.

    Parameters
    ----------
    bits : (n,) uint16 device array
        Binary16 bit patterns.
    out : (n,) uint32 device array
        float32 bit patterns (a float32 array viewed as ``uint32``), written in place.
    """
    launch(_fp16_decode_kernel, bits.shape[0], bits, out)


def fixed_r8_encode_gpu(x, step, half_step, out):
    """fixed_r8-encode a flat float32 array.

    Parameters
    ----------
    x : (n,) float32 device array
        Values.
    step, half_step : np.float32
        ``r / 128`` and ``step / 2``.
    out : (n,) int8 device array
        Levels, written in place.
    """
    launch(_fixed_r8_encode_kernel, x.shape[0], x, step, half_step, out)


def fixed_r8_decode_gpu(q, step, out):
    """Decode a flat int8 array of fixed_r8 levels.

    Parameters
    ----------
    q : (n,) int8 device array
        Levels.
    step : np.float32
        ``r / 128``.
    out : (n,) float32 device array
        Written in place.
    """
    launch(_fixed_r8_decode_kernel, q.shape[0], q, step, out)


def one_bit_encode_gpu(x, amplitude, scale, out):
    """one_bit-encode a flat float32 array.

    Parameters
    ----------
    x : (n,) float32 device array
        Values.
    amplitude, scale : np.float32
        The quantizer's amplitude and scale.
    out : (n,) int8 device array
        ``+1``/``-1``, written in place.
    """
    launch(_one_bit_encode_kernel, x.shape[0], x, amplitude, scale, out)


def one_bit_decode_gpu(q, amplitude, out):
    """Decode a flat int8 array of one-bit codes.

    Parameters
    ----------
    q : (n,) int8 device array
        Codes.
    amplitude : np.float32
        The compressor's amplitude.
    out : (n,) float32 device array
        Written in place.
    """
    launch(_one_bit_decode_kernel, q.shape[0], q, amplitude, out)


def hash_net_forward_gpu(x, amplitude, scale, out):
    """HashNet forward of a flat float32 array.

    Parameters
    ----------
    x : (n,) float32 device array
        Stored values.
    amplitude, scale : np.float32
        The quantizer's amplitude and current scale.
    out : (n,) float32 device array
        Written in place.
    """
    launch(_hash_net_forward_kernel, x.shape[0], x, amplitude, scale, out)


def hash_net_backward_gpu(num, grad, amplitude, scale, out):
    """HashNet backward of flat float32 arrays.

    Parameters
    ----------
    num : (n,) float32 device array
        Stored values.
    grad : (n,) float32 device array
        Incoming gradients.
    amplitude, scale : np.float32
        The quantizer's amplitude and (already updated) scale.
    out : (n,) float32 device array
        Transformed gradients, written in place (may be ``grad``).
    """
    launch(_hash_net_backward_kernel, num.shape[0], num, grad, amplitude, scale, out)
