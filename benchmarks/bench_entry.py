"""Entry components on the CPU: our kernels against their peers.

Groups (``<op>-<size>``, float32):

* ``fp16_encode-16M`` / ``fp16_decode-16M``: :class:`Fp16Compressor` against
  numpy's ``astype(float16)`` / ``astype(float32)`` and torch's ``.half()`` /
  ``.float()`` (all bit-identical on these inputs, checked after timing);
* ``fixed_r8_encode-16M``: :class:`FixedR8Compressor` against the rule in
  vectorised numpy and in torch ops (checked equal);
* ``random_uniform_init-4Mx16``: :class:`RandomUniformInitializer` against
  numpy ``Generator.uniform`` and ``torch.rand`` (each with its own generator;
  checked for shape and bounds).

JIT compilation and the parallel kernels' thread choice are warmed up outside
the timed region (8 untimed rounds).
``pytest --benchmark-disable`` runs every case once on small arrays as a smoke
test.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import pytest

from monolith_np import _config
from monolith_np.entry import FixedR8Compressor, Fp16Compressor, RandomUniformInitializer

N_BIG, N_SMALL = 1 << 24, 1 << 12
ROWS_BIG, ROWS_SMALL, DIM = 1 << 22, 256, 16
R = 1.0
LO, HI = -0.05, 0.05


@functools.lru_cache(maxsize=None)
def _values(n):
    return (np.random.default_rng(0).standard_normal(n) * 0.5).astype(np.float32)


def _fixed_r8_numpy(x):
    step = np.float32(R) / np.float32(128)
    half = step / np.float32(2)
    with np.errstate(invalid="ignore"):
        t = np.where(x >= 0, x + half, x - half) / step
        return np.clip(np.trunc(np.nan_to_num(t)), -128, 127).astype(np.int8)


def _fixed_r8_torch(torch, x):
    step = torch.tensor(np.float32(R) / np.float32(128))
    t = torch.where(x >= 0, x + step / 2, x - step / 2) / step
    return torch.clamp(torch.trunc(torch.nan_to_num(t)), -128, 127).to(torch.int8)


def _peer(op, impl, x, rows):
    """Return (callable, expected-check) for one implementation of one op."""
    if impl == "monolith_np":
        if op == "fp16_encode":
            return lambda: Fp16Compressor().encode(x)
        if op == "fp16_decode":
            h = x.astype(np.float16)
            return lambda: Fp16Compressor().decode(h)
        if op == "fixed_r8_encode":
            return lambda: FixedR8Compressor(R).encode(x)
        init = RandomUniformInitializer(LO, HI, seed=0)
        return lambda: init(rows, DIM)
    if impl == "numpy":
        if op == "fp16_encode":
            return lambda: x.astype(np.float16)
        if op == "fp16_decode":
            h = x.astype(np.float16)
            return lambda: h.astype(np.float32)
        if op == "fixed_r8_encode":
            return lambda: _fixed_r8_numpy(x)
        rng = np.random.default_rng(0)
        return lambda: rng.uniform(LO, HI, (rows, DIM)).astype(np.float32)
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(x)
    if op == "fp16_encode":
        return lambda: t.half().numpy()
    if op == "fp16_decode":
        th = t.half()
        return lambda: th.float().numpy()
    if op == "fixed_r8_encode":
        return lambda: _fixed_r8_torch(torch, t).numpy()
    gen = torch.Generator().manual_seed(0)
    return lambda: (torch.rand((rows, DIM), generator=gen) * (HI - LO) + LO).numpy()


OPS = ["fp16_encode", "fp16_decode", "fixed_r8_encode", "random_uniform_init"]


@pytest.mark.parametrize("impl", ["monolith_np", "numpy", "torch"])
@pytest.mark.parametrize("op", OPS)
def test_entry(benchmark, op, impl):
    small = benchmark.disabled
    n = N_SMALL if small else N_BIG
    rows = ROWS_SMALL if small else ROWS_BIG
    x = _values(n)
    run = _peer(op, impl, x, rows)
    size = f"{rows // (1 << 20)}Mx{DIM}" if op == "random_uniform_init" else f"{n // (1 << 20)}M"
    if small:
        size = f"{rows}x{DIM}" if op == "random_uniform_init" else str(n)
    items = rows * DIM if op == "random_uniform_init" else n
    benchmark.group = f"{op}-{size}"
    benchmark.extra_info.update(
        impl=impl, items=items, numba_threads=numba.get_num_threads(), fastmath=False, cache=bool(_config.CACHE)
    )
    result = benchmark.pedantic(run, warmup_rounds=1 if benchmark.disabled else 8, rounds=5, iterations=1)
    if op == "fp16_encode":
        assert np.array_equal(np.asarray(result).view(np.uint16), x.astype(np.float16).view(np.uint16))
    elif op == "fp16_decode":
        assert np.array_equal(result, x.astype(np.float16).astype(np.float32))
    elif op == "fixed_r8_encode":
        assert np.array_equal(result, _fixed_r8_numpy(x))
    else:
        assert result.shape == (rows, DIM) and result.dtype == np.float32
        assert result.min() >= np.float32(LO) and result.max() <= np.float32(HI)
