"""Gumbel top-k on the CPU: our kernels against their peers.

Two ops, each at two sizes (``<op>-<rows>x<n>-k<k>``, t = 0.1, float32):

* ``continuous_topk`` on fixed keys (deterministic, so every peer's result is
  checked against ours);
* ``sample_subset``: Gumbel noise then the continuous top-k (each peer with its
  own generator; the result is checked for shape and row sums).

Peers in every group:

* ``monolith_np``: the public function (validation, the ``prange`` kernel;
  ``sample_subset`` fuses the noise into the per-row pass);
* ``tensorflow``: the TF transcription of the original
  (``tests/reference/ref_sampling.py``) in graph mode through ``tf.function``,
  with ``tf.random.uniform`` for the noise;
* ``numpy``: the k-round loop as vectorised float32 numpy (stable softmax);
* ``torch``: the same loop in torch float32 ops.

JIT compilation and graph tracing are warmed up outside the timed region (8
untimed rounds: compilation, then the parallel kernels' thread choice) and the
result is checked once after timing.
``pytest --benchmark-disable`` runs every case once as a smoke test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from monolith_np import _config
from monolith_np.sampling import EPSILON, continuous_topk, gumbel_keys, sample_subset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reference"))

T = 0.1
SIZES = {"4096x1000-k50": (4096, 1000, 50), "256x100-k10": (256, 100, 10)}
ROUNDS = {"4096x1000-k50": 3, "256x100-k10": 20}


@pytest.fixture(scope="module", params=list(SIZES))
def case(request):
    """(size name, log-weights, k, Gumbel keys, our continuous top-k of the keys)."""
    rows, n, k = SIZES[request.param]
    w = np.random.default_rng(0).standard_normal((rows, n)).astype(np.float32)
    keys = gumbel_keys(w, seed=0)
    return request.param, w, k, keys, continuous_topk(keys, k, T)


# --- numpy ------------------------------------------------------------------------


def _numpy_topk(w, k, t):
    w = w.copy()
    onehot = np.zeros_like(w)
    total = np.zeros_like(w)
    for _ in range(k):
        w += np.log(np.maximum(np.float32(1) - onehot, EPSILON))
        x = w / np.float32(t)
        x -= x.max(axis=-1, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis=-1, keepdims=True)
        total += x
        onehot = x
    return total


def _numpy(op, w, k):
    if op == "continuous_topk":
        return lambda: _numpy_topk(w, k, T)
    rng = np.random.default_rng(1)

    def sample():
        u = rng.random(w.shape, dtype=np.float32) * np.float32(1 - EPSILON) + EPSILON
        return _numpy_topk(w - np.log(-np.log(u)), k, T)

    return sample


# --- TensorFlow ---------------------------------------------------------------------


def _tensorflow(op, w, k):
    tf = pytest.importorskip("tensorflow")
    from ref_sampling import tf_continuous_topk

    if op == "continuous_topk":
        fn = tf.function(lambda x: tf_continuous_topk(x, k, T))
    else:
        def sample(x):
            u = tf.random.uniform(tf.shape(x), minval=EPSILON, maxval=1.0, dtype=x.dtype)
            return tf_continuous_topk(x - tf.math.log(-tf.math.log(u)), k, T)

        fn = tf.function(sample)
    x = tf.constant(w)
    return lambda: fn(x).numpy()


# --- torch ------------------------------------------------------------------------------


def _torch_topk(torch, w, k, t):
    onehot = torch.zeros_like(w)
    total = torch.zeros_like(w)
    for _ in range(k):
        w = w + torch.log(torch.clamp(1.0 - onehot, min=float(EPSILON)))
        onehot = torch.softmax(w / t, dim=-1)
        total += onehot
    return total


def _torch(op, w, k):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(w)
    if op == "continuous_topk":
        return lambda: _torch_topk(torch, x, k, T).numpy()
    gen = torch.Generator().manual_seed(1)

    def sample():
        u = torch.rand(x.shape, generator=gen, dtype=x.dtype) * (1 - float(EPSILON)) + float(EPSILON)
        return _torch_topk(torch, x - torch.log(-torch.log(u)), k, T).numpy()

    return sample


def _ours(op, w, k):
    if op == "continuous_topk":
        return lambda: continuous_topk(w, k, T)
    return lambda: sample_subset(w, k, T, seed=1)


PEERS = {"monolith_np": _ours, "tensorflow": _tensorflow, "numpy": _numpy, "torch": _torch}


@pytest.mark.parametrize("impl", list(PEERS))
@pytest.mark.parametrize("op", ["continuous_topk", "sample_subset"])
def test_sampling(benchmark, case, op, impl):
    size, w, k, keys, expected = case
    run = PEERS[impl](op, keys if op == "continuous_topk" else w, k)
    benchmark.group = f"{op}-{size}"
    benchmark.extra_info.update(
        impl=impl,
        items=w.size * k,
        numba_threads=numba.get_num_threads(),
        fastmath=False,
        cache=bool(_config.CACHE),
    )
    result = benchmark.pedantic(run, warmup_rounds=1 if benchmark.disabled else 8, rounds=ROUNDS[size], iterations=1)
    assert result.dtype == np.float32 and result.shape == w.shape
    np.testing.assert_allclose(result.sum(axis=-1), k, rtol=1e-4)
    if op == "continuous_topk":
        np.testing.assert_allclose(result, expected, rtol=1e-3, atol=1e-4)
