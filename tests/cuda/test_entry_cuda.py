"""GPU drivers of monolith_np.entry against the CPU path (CUDA simulator or a real GPU).

Initializers, fp16 and fixed_r8 must agree bit for bit; one_bit encode too
(only a sign is kept). HashNet goes through ``tanh``, which the simulator
evaluates in double precision and a GPU with libdevice: within an ulp or two
(and the backward within the error an ulp of ``tanh`` causes).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from numba import cuda

from monolith_np import _config
from monolith_np.cuda import entry as gpu
from monolith_np.entry import (
    ConstantsInitializer,
    FixedR8Compressor,
    Fp16Compressor,
    HashNetQuantizer,
    OneBitCompressor,
    RandomUniformInitializer,
)

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

REAL_GPU = os.environ.get("MONOLITH_NP_REAL_GPU") == "1"


def device(a):
    """Host array -> what the drivers take (numpy under the simulator, device array on a GPU)."""
    return cuda.to_device(a) if REAL_GPU else a


def host(a):
    return a.copy_to_host() if REAL_GPU else a


_NO_IDS = np.empty(0, np.int64)


@pytest.fixture(autouse=True)
def _few_blocks(monkeypatch):
    """Fewer threads than elements, so the grid-stride loops take several turns."""
    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)


def _values(n=61, seed=0):
    x = (np.random.default_rng(seed).standard_normal(n) * 3).astype(np.float32)
    x[:8] = [0.0, -0.0, np.nan, np.inf, -np.inf, 65520.0, 1e-8, 2.0**-25]
    return x


@pytest.mark.parametrize("row_offset", [0, 5, 2**40])
def test_random_uniform_initialize_matches_cpu_bit_for_bit(row_offset):
    init = RandomUniformInitializer(-0.7, 0.3, seed=123)
    want = init(7, 5, row_offset=row_offset)
    out = device(np.zeros((7, 5), np.float32))
    random, seed, low, width = init._rule_args()
    gpu.initialize_gpu(out, random, seed, np.uint64(row_offset), _NO_IDS, np.float64(low), np.float64(width))
    assert np.array_equal(host(out), want)


def test_random_uniform_initialize_by_row_ids_matches_cpu():
    init = RandomUniformInitializer(-1.0, 1.0, seed=5)
    ids = np.array([0, -1, 2**63 - 1, -(2**63), 7], np.int64)
    want = init.initialize(np.zeros((5, 3), np.float32), row_ids=ids)
    out = device(np.zeros((5, 3), np.float32))
    random, seed, low, width = init._rule_args()
    gpu.initialize_gpu(out, random, seed, np.uint64(0), device(ids), np.float64(low), np.float64(width))
    assert np.array_equal(host(out), want)


def test_initialize_column_block_and_constants():
    init = RandomUniformInitializer(seed=9)
    random, seed, low, width = init._rule_args()
    block = device(np.zeros((6, 3), np.float32))  # a column block has its own width for counters
    gpu.initialize_gpu(block, random, seed, np.uint64(0), _NO_IDS, np.float64(low), np.float64(width))
    assert np.array_equal(host(block), init(6, 3))
    c = ConstantsInitializer(0.1)
    out = device(np.zeros((3, 4), np.float32))
    random, seed, low, width = c._rule_args()
    gpu.initialize_gpu(out, random, seed, np.uint64(0), _NO_IDS, np.float64(low), np.float64(width))
    assert np.array_equal(host(out), c(3, 4))


def test_fp16_encode_decode_match_cpu():
    x = _values()
    out = device(np.empty(x.size, np.uint16))
    gpu.fp16_encode_gpu(device(x.view(np.uint32)), out)
    codes = host(out)
    assert np.array_equal(codes, Fp16Compressor().encode(x).view(np.uint16))
    bits = np.arange(0, 2**16, 997, dtype=np.uint32).astype(np.uint16)
    dec = device(np.empty(bits.size, np.uint32))
    gpu.fp16_decode_gpu(device(bits), dec)
    assert np.array_equal(host(dec), Fp16Compressor().decode(bits).view(np.uint32))


def test_fixed_r8_encode_decode_match_cpu():
    comp = FixedR8Compressor(2.0)
    x = _values()
    q = comp.quantizer
    out = device(np.empty(x.size, np.int8))
    gpu.fixed_r8_encode_gpu(device(x), q.step, q._half, out)
    assert np.array_equal(host(out), comp.encode(x))
    levels = np.arange(-128, 128).astype(np.int8)
    dec = device(np.empty(levels.size, np.float32))
    gpu.fixed_r8_decode_gpu(device(levels), q.step, dec)
    assert np.array_equal(host(dec), comp.decode(levels))


def test_one_bit_encode_decode_match_cpu():
    comp = OneBitCompressor(amplitude=0.05)
    x = np.concatenate([_values(), np.float32([1e-45, -1e-45, 1e-40])])
    out = device(np.empty(x.size, np.int8))
    gpu.one_bit_encode_gpu(device(x), np.float32(0.05), np.float32(1.0), out)
    assert np.array_equal(host(out), comp.encode(x))
    codes = np.int8([1, -1, 1, 0, 5])
    dec = device(np.empty(codes.size, np.float32))
    gpu.one_bit_decode_gpu(device(codes), np.float32(0.05), dec)
    assert np.array_equal(host(dec), comp.decode(codes))


def test_hash_net_forward_backward_match_cpu():
    q = HashNetQuantizer(step_size=1000)
    q.backward(np.float32([0.0]), np.float32([0.0]), 1000)  # scale sqrt(6)
    x = np.random.default_rng(1).uniform(-3, 3, 53).astype(np.float32)
    g = np.random.default_rng(2).standard_normal(53).astype(np.float32)
    fwd = device(np.empty_like(x))
    gpu.hash_net_forward_gpu(device(x), q.amplitude, q.scale, fwd)
    want = q.forward(x)
    ulps = np.abs(host(fwd).view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    assert (ulps <= 2).all()
    bwd = device(np.empty_like(g))
    gpu.hash_net_backward_gpu(device(x), device(g), q.amplitude, q.scale, bwd)
    want = q.backward(x, g, 1)
    atol = np.abs(g) * q.amplitude * q.scale * np.float32(2.0**-21)
    assert (np.abs(host(bwd) - want) <= atol + 4 * np.spacing(np.abs(want))).all()


def test_golden_hash_net_on_gpu():
    amp, scale = np.float32(0.1), np.float32(2.4494898)
    out = device(np.empty(1, np.float32))
    gpu.hash_net_backward_gpu(device(np.float32([2.0])), device(np.float32([100.0])), amp, scale, out)
    assert abs(int(host(out).view(np.int32)[0]) - int(np.float32(0.005442613).view(np.int32))) <= 4
