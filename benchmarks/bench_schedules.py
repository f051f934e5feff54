"""Learning-rate schedules over 1M int64 steps: our CPU kernel against its peers.

Each group (``<schedule>-1M``) times the same steps with

* ``monolith_np``: the public schedule call (validation, the ``prange`` kernel);
* ``monolith_np_1thread``: the same with one numba thread (on a shared machine
  a second thread often waits a scheduler time slice for a busy core);
* ``numpy``: the schedule as a vectorised float32 numpy expression;
* ``tensorflow``: ``tf.compat.v1.train.polynomial_decay`` or the Keras schedule
  called on a tensor of steps;
* ``torch``: the same expression in torch float32 ops (polynomial and cosine).

JIT compilation and the parallel kernels' thread choice are warmed up outside
the timed region (8 untimed rounds) and the result is checked once after timing. ``pytest --benchmark-disable``
runs every case once as a smoke test.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from monolith_np import _config
from monolith_np import schedules as S

N = 1_000_000
DECAY_STEPS = 100_000
POLY = dict(initial_learning_rate=0.1, decay_steps=DECAY_STEPS, end_learning_rate=0.001, power=1.0)
COSINE = dict(initial_learning_rate=0.1, decay_steps=DECAY_STEPS, alpha=0.05)
PIECEWISE = dict(boundaries=[20_000, 50_000, 90_000, 150_000], values=[0.1, 0.05, 0.01, 0.005, 0.001])

OURS = {
    "polynomial_decay": S.PolynomialDecay(**POLY),
    "cosine_decay": S.CosineDecay(**COSINE),
    "piecewise_constant": S.PiecewiseConstantDecay(**PIECEWISE),
}


@pytest.fixture(scope="module")
def steps():
    return np.random.default_rng(0).integers(0, 2 * DECAY_STEPS, N, dtype=np.int64)


# --- numpy ------------------------------------------------------------------


def _numpy(op, steps):
    f32 = np.float32
    if op == "polynomial_decay":
        lr0, end, ds, power = (f32(POLY[k]) for k in ("initial_learning_rate", "end_learning_rate",
                                                      "decay_steps", "power"))
        return lambda: (lr0 - end) * (f32(1) - np.minimum(steps.astype(f32), ds) / ds) ** power + end
    if op == "cosine_decay":
        lr0, ds, alpha = (f32(COSINE[k]) for k in ("initial_learning_rate", "decay_steps", "alpha"))
        one_minus_alpha, pi = f32(1.0 - COSINE["alpha"]), f32(math.pi)

        def cosine():
            fraction = np.minimum(steps.astype(f32), ds) / ds
            return lr0 * (one_minus_alpha * (f32(0.5) * (f32(1) + np.cos(pi * fraction))) + alpha)

        return cosine
    bounds = np.asarray(PIECEWISE["boundaries"], np.int64)
    values = np.asarray(PIECEWISE["values"], np.float32)
    return lambda: values[np.searchsorted(bounds, steps, side="left")]


# --- TensorFlow ---------------------------------------------------------------


def _tensorflow(op, steps):
    tf = pytest.importorskip("tensorflow")
    t = tf.constant(steps)
    if op == "polynomial_decay":
        def poly():
            return tf.compat.v1.train.polynomial_decay(
                POLY["initial_learning_rate"], t, POLY["decay_steps"], POLY["end_learning_rate"], POLY["power"]
            )().numpy()

        return poly
    name = "CosineDecay" if op == "cosine_decay" else "PiecewiseConstantDecay"
    schedule = getattr(tf.keras.optimizers.schedules, name)(**(COSINE if op == "cosine_decay" else PIECEWISE))
    return lambda: schedule(t).numpy()


# --- torch ----------------------------------------------------------------------


def _torch(op, steps):
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(steps)
    if op == "polynomial_decay":
        lr0, end, ds, power = (POLY[k] for k in ("initial_learning_rate", "end_learning_rate", "decay_steps", "power"))
        return lambda: ((lr0 - end) * (1 - torch.clamp(t.to(torch.float32), max=ds) / ds) ** power + end).numpy()
    if op == "cosine_decay":
        lr0, ds, alpha = (COSINE[k] for k in ("initial_learning_rate", "decay_steps", "alpha"))
        return lambda: (
            lr0 * ((1 - alpha) * 0.5 * (1 + torch.cos(math.pi * torch.clamp(t.to(torch.float32), max=ds) / ds))
                   + alpha)
        ).numpy()
    pytest.skip("no natural torch peer for piecewise-constant decay")


PEERS = {
    "monolith_np": lambda op, steps: (lambda: OURS[op](steps)),
    "monolith_np_1thread": lambda op, steps: (lambda: OURS[op](steps)),
    "numpy": _numpy,
    "tensorflow": _tensorflow,
    "torch": _torch,
}


@pytest.mark.parametrize("impl", list(PEERS))
@pytest.mark.parametrize("op", list(OURS))
def test_schedule(benchmark, steps, op, impl):
    run = PEERS[impl](op, steps)
    benchmark.group = f"{op}-1M"
    threads = numba.get_num_threads()
    if impl == "monolith_np_1thread":
        numba.set_num_threads(1)
    try:
        benchmark.extra_info.update(
            impl=impl,
            items=N,
            numba_threads=numba.get_num_threads(),
            fastmath=False,
            cache=bool(_config.CACHE),
        )
        result = benchmark.pedantic(run, warmup_rounds=1 if benchmark.disabled else 8, rounds=15, iterations=1)
    finally:
        numba.set_num_threads(threads)
    expected = OURS[op](steps)
    assert np.asarray(result).dtype == np.float32 and np.shape(result) == steps.shape
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-7)
