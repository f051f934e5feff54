"""CPU drivers of :mod:`monolith_np.entry`: the rules of :mod:`monolith_np._rules.entry` in ``prange`` loops.

Each driver runs one rule over flat arrays (``initialize_cpu`` over the rows of
a 2-D block), writing into the output array its caller allocated; drivers
validate nothing (the public classes do). :mod:`monolith_np.cuda.entry` compiles
the same rules for the GPU.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._compile import cpu_jit
from .._rules.entry import (
    fixed_r8_decode,
    fixed_r8_encode,
    fp16_to_fp32_bits,
    fp32_to_fp16_bits,
    hash_net_backward,
    hash_net_forward,
    init_row_seed,
    init_value,
    one_bit_decode,
    one_bit_encode,
)


@cpu_jit(parallel=True, work="out")
def initialize_cpu(out, random, seed, row_offset, row_ids, low, width):
    """Fill ``out`` (rows, dim) in place, one ``prange`` iteration per row.

    Element ``(r, c)`` is draw ``c`` of the stream ``init_row_seed(seed, row_offset, row_ids, r)``.
    """
    rows = out.shape[0]
    for r in prange(rows):
        row_seed = init_row_seed(seed, row_offset, row_ids, r)
        for c in range(out.shape[1]):
            out[r, c] = init_value(random, row_seed, np.uint64(c), low, width)


@cpu_jit(parallel=True, work="out")
def fp16_encode_cpu(bits, out):
    """``out[i] = fp32_to_fp16_bits(bits[i])`` over flat uint32 -> uint16 arrays."""
    for i in prange(bits.shape[0]):
        out[i] = fp32_to_fp16_bits(bits[i])


@cpu_jit(parallel=True, work="out")
def fp16_decode_cpu(bits, out):
    """``out[i] = fp16_to_fp32_bits(bits[i])`` over flat uint16 -> uint32 arrays."""
    for i in prange(bits.shape[0]):
        out[i] = fp16_to_fp32_bits(bits[i])


@cpu_jit(parallel=True, work="out")
def fixed_r8_encode_cpu(x, step, half_step, out):
    """``out[i] = fixed_r8_encode(x[i], ...)`` over flat float32 -> int8 arrays."""
    for i in prange(x.shape[0]):
        out[i] = fixed_r8_encode(x[i], step, half_step)


@cpu_jit(parallel=True, work="out")
def fixed_r8_decode_cpu(q, step, out):
    """``out[i] = fixed_r8_decode(q[i], step)`` over flat int8 -> float32 arrays."""
    for i in prange(q.shape[0]):
        out[i] = fixed_r8_decode(q[i], step)


@cpu_jit(parallel=True, work="out")
def one_bit_encode_cpu(x, amplitude, scale, out):
    """``out[i] = one_bit_encode(x[i], ...)`` over flat float32 -> int8 arrays."""
    for i in prange(x.shape[0]):
        out[i] = one_bit_encode(x[i], amplitude, scale)


@cpu_jit(parallel=True, work="out")
def one_bit_decode_cpu(q, amplitude, out):
    """``out[i] = one_bit_decode(q[i], amplitude)`` over flat int8 -> float32 arrays."""
    for i in prange(q.shape[0]):
        out[i] = one_bit_decode(q[i], amplitude)


@cpu_jit(parallel=True, work="out")
def hash_net_forward_cpu(x, amplitude, scale, out):
    """``out[i] = hash_net_forward(x[i], ...)`` over flat float32 arrays."""
    for i in prange(x.shape[0]):
        out[i] = hash_net_forward(x[i], amplitude, scale)


@cpu_jit(parallel=True, work="out")
def hash_net_backward_cpu(num, grad, amplitude, scale, out):
    """``out[i] = hash_net_backward(num[i], grad[i], ...)`` over flat float32 arrays (``out`` may be ``grad``)."""
    for i in prange(num.shape[0]):
        out[i] = hash_net_backward(num[i], grad[i], amplitude, scale)
