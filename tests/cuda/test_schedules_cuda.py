"""The schedule kernel (``monolith_np.cuda.schedules``) against the CPU kernel.

Under ``NUMBA_ENABLE_CUDASIM=1`` the driver runs on numpy arrays and the rule
runs as Python with numpy float32 scalars; it must agree with the compiled CPU
kernel to within 1 ulp (libm ``powf``/``cosf`` against numpy's). On a real GPU
(``MONOLITH_NP_REAL_GPU=1``) NVVM fuses multiply-adds and CUDA's math library
differs, so 4 ulps are allowed there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "schedules"))

from schedule_cases import EXAMPLE_STEPS, EXAMPLES, assert_ulp_close, polynomial_kwargs, steps_near  # noqa: E402

from monolith_np import _config  # noqa: E402
from monolith_np import schedules as S  # noqa: E402
from monolith_np.cuda.schedules import schedule_gpu  # noqa: E402

MAX_ULP = 1 if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else 4


def _on_gpu(schedule, steps):
    """Run the GPU driver directly (numpy arrays under the simulator)."""
    entry, fparams, iparams, table = schedule._kernel_args()
    flat = np.ascontiguousarray(steps, dtype=np.int64).reshape(-1)
    inner = schedule.schedule(steps) if isinstance(schedule, S.LinearWarmup) else None  # the wrapped rate
    out = np.zeros(flat.size, np.float32) if inner is None else np.array(inner, np.float32).reshape(-1)
    with np.errstate(all="ignore"):
        schedule_gpu(entry, flat, fparams, iparams, table, out)
    return out.reshape(np.shape(steps))


@pytest.mark.parametrize("schedule", EXAMPLES, ids=lambda s: type(s).__name__)
def test_gpu_kernel_matches_cpu(schedule):
    assert_ulp_close(_on_gpu(schedule, EXAMPLE_STEPS), schedule(EXAMPLE_STEPS), MAX_ULP, type(schedule).__name__)


def test_grid_stride_loop_covers_every_step(monkeypatch):
    monkeypatch.setattr(_config, "MAX_BLOCKS", 2)  # 16 threads for 61 steps
    schedule = S.PiecewiseConstantDecay([10, 30], [1.0, 2.0, 3.0])
    steps = np.arange(61, dtype=np.int64)
    np.testing.assert_array_equal(_on_gpu(schedule, steps), schedule(steps))


def test_norm_warmup_kernel():
    entry, fparams, iparams, table = S._kernel_args(S.norm_warmup_at, (3.5,), (7,))
    out = np.empty(EXAMPLE_STEPS.size, np.float32)
    schedule_gpu(entry, EXAMPLE_STEPS, fparams, iparams, table, out)
    assert_ulp_close(out, S.norm_warmup(3.5, EXAMPLE_STEPS, 7), MAX_ULP, "norm_warmup")


def test_empty_launch_is_a_no_op():
    out = np.empty(0, np.float32)
    entry, fparams, iparams, table = S.PolynomialDecay(0.1, 10)._kernel_args()
    schedule_gpu(entry, np.empty(0, np.int64), fparams, iparams, table, out)
    assert out.size == 0


@settings(max_examples=10)
@given(kwargs=polynomial_kwargs(), data=st.data())
def test_polynomial_decay_random(kwargs, data):
    schedule = S.PolynomialDecay(**kwargs)
    steps = data.draw(steps_near(kwargs["decay_steps"] if kwargs["decay_steps"] < 2**40 else 1, max_size=12))
    with np.errstate(all="ignore"):
        expected = schedule(steps)
    assert_ulp_close(_on_gpu(schedule, steps), expected, MAX_ULP, f"PolynomialDecay({kwargs})")


def test_public_call_dispatches_cupy_arrays():
    """With CuPy on a real GPU, calling a schedule on a CuPy array runs the kernel and returns CuPy."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("CuPy arrays need a real GPU")
    cupy = pytest.importorskip("cupy")
    steps = EXAMPLE_STEPS.reshape(5, 5)
    for schedule in EXAMPLES:
        out = schedule(cupy.asarray(steps)[:, ::2])
        assert isinstance(out, cupy.ndarray) and out.dtype == np.float32 and out.shape == (5, 3)
        assert_ulp_close(out.get(), schedule(steps[:, ::2]), MAX_ULP, type(schedule).__name__)


class _NumpyAsDevice:
    """numpy under another name: the public call takes its GPU branch, which the simulator runs on numpy."""

    def __getattr__(self, name):
        return getattr(np, name)


def test_public_call_reaches_the_gpu_driver(monkeypatch):
    """Under the simulator: every schedule and norm_warmup call ``gpu_drivers().schedules``, once per call
    (a LinearWarmup once for itself and once for its wrapped schedule), with the CPU's results."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        pytest.skip("feeds numpy arrays to the GPU branch (simulator only)")
    from monolith_np.cuda import schedules as gpu

    steps = EXAMPLE_STEPS.reshape(5, 5)[:, ::2]
    with np.errstate(all="ignore"):
        cpu = [schedule(steps) for schedule in EXAMPLES] + [S.norm_warmup(2.0, steps, 7)]
        called = []
        monkeypatch.setattr(gpu, "schedule_gpu", lambda *args: (called.append(args[0]), schedule_gpu(*args))[1])
        monkeypatch.setattr(S, "array_module", lambda *arrays, **named: _NumpyAsDevice())
        got = [schedule(steps) for schedule in EXAMPLES] + [S.norm_warmup(2.0, steps, 7)]

    def launches(schedule):  # one per schedule, wrapped ones included
        return 1 + (launches(schedule.schedule) if isinstance(schedule, S.LinearWarmup) else 0)

    assert len(called) == sum(launches(schedule) for schedule in EXAMPLES) + 1
    for name, g, want in zip([type(s).__name__ for s in EXAMPLES] + ["norm_warmup"], got, cpu):
        assert g.shape == want.shape == (5, 3) and g.dtype == np.float32
        assert_ulp_close(g, want, MAX_ULP, name)
