"""Dense optimizers and global-norm clipping: our CPU kernels against their peers.

Groups (peers share a group, same data, same run):

* ``adamom-10M``: ``AdamomOptimizer.apply`` (``monolith_np``) against the same
  math as torch in-place tensor ops (``torch``) and as a ``tf.function`` over
  ``tf.Variable`` s (``tensorflow``; Monolith's own kernel is a custom op that
  is not available here).
* ``rmsprop-10M``: ``RmspropOptimizer.apply`` against the same math in torch
  (``torch``), ``torch.optim.RMSprop`` with momentum (``torch_optim_rmsprop``,
  comparable cost, slightly different formula: epsilon outside the root, lr
  applied after the momentum) and TensorFlow's ``ResourceApplyRMSProp`` raw
  op (``tensorflow_raw_rmsprop``: exactly Monolith's v1 with weight_decay 0).
* ``clip_by_global_norm-10M-50``: 50 float32 arrays totalling 10M elements,
  clipped (the norm exceeds the clip norm) by ``clip_by_global_norm``
  against ``tf.clip_by_global_norm`` (both return new arrays) and
  ``torch.nn.utils.clip_grad_norm_`` (in place).

Every call is warmed up outside the timed region and checked once after
timing. With ``--benchmark-disable`` (the smoke run of ``make test``) sizes
drop to 100k elements.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from monolith_np import _config
from monolith_np.optim.clip import clip_by_global_norm, global_norm
from monolith_np.optim.dense import AdamomOptimizer, RmspropOptimizer

LR, ADA, MOM, EPS_A, WD = 0.01, 0.99, 0.9, 1e-6, 0.0
BETA1, BETA2, EPS_R = 0.9, 0.99, 1e-6
N_ARRAYS = 50


def _size(benchmark):
    return 100_000 if benchmark.disabled else 10_000_000


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)


def _info(benchmark, impl, items, group):
    benchmark.group = group
    benchmark.extra_info.update(impl=impl, items=items, numba_threads=numba.get_num_threads(),
                                fastmath=False, cache=bool(_config.CACHE))


# --- optimizers ---------------------------------------------------------------


def _ours(opt, var, grad):
    state = opt.init_state(var)
    return lambda: opt.apply(var, grad, state), lambda: var


def _torch_adamom(var, grad):
    torch = pytest.importorskip("torch")
    w, g = torch.from_numpy(var), torch.from_numpy(grad)
    m, v, c = torch.zeros_like(w), torch.zeros_like(w), torch.zeros_like(w)

    def step():
        with torch.no_grad():
            u = g + WD * w if WD else g
            m.mul_(MOM).add_(u, alpha=1 - MOM)
            v.mul_(ADA).addcmul_(u, u)
            c.mul_(ADA).add_(1.0)
            w.sub_((m * LR) * torch.rsqrt(v / c + EPS_A))

    return step, lambda: w.numpy()


def _tf_adamom(var, grad):
    tf = pytest.importorskip("tensorflow")
    w = tf.Variable(var)
    m, v, c = (tf.Variable(tf.zeros_like(var)) for _ in range(3))
    g = tf.constant(grad)

    @tf.function
    def step():
        u = WD * w + g
        m.assign(MOM * m + (1 - MOM) * u)
        v.assign(ADA * v + u * u)
        c.assign(ADA * c + 1.0)
        w.assign_sub((m * LR) * tf.math.rsqrt(v / c + EPS_A))

    return step, lambda: w.numpy()


def _torch_rmsprop(var, grad):
    torch = pytest.importorskip("torch")
    w, g = torch.from_numpy(var), torch.from_numpy(grad)
    m, v = torch.zeros_like(w), torch.zeros_like(w)

    def step():
        with torch.no_grad():
            v.add_((g * g - v) * (1 - BETA2))
            m.mul_(BETA1).add_((g * LR) * torch.rsqrt(v + EPS_R))
            w.sub_(m)

    return step, lambda: w.numpy()


def _torch_optim_rmsprop(var, grad):
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.from_numpy(var))
    w.grad = torch.from_numpy(grad)
    opt = torch.optim.RMSprop([w], lr=LR, alpha=BETA2, eps=EPS_R, momentum=BETA1)
    return opt.step, None


def _tf_raw_rmsprop(var, grad):
    tf = pytest.importorskip("tensorflow")
    w, ms, mom = tf.Variable(var), tf.Variable(tf.zeros_like(var)), tf.Variable(tf.zeros_like(var))
    g = tf.constant(grad)
    lr, rho, momentum, eps = (tf.constant(x, tf.float32) for x in (LR, BETA2, BETA1, EPS_R))

    def step():
        tf.raw_ops.ResourceApplyRMSProp(var=w.handle, ms=ms.handle, mom=mom.handle, lr=lr, rho=rho,
                                        momentum=momentum, epsilon=eps, grad=g)

    return step, lambda: w.numpy()


OPTIMIZERS = {
    "adamom": {
        "monolith_np": lambda var, grad: _ours(AdamomOptimizer(LR, ADA, MOM, EPS_A, WD), var, grad),
        "torch": _torch_adamom,
        "tensorflow": _tf_adamom,
    },
    "rmsprop": {
        "monolith_np": lambda var, grad: _ours(RmspropOptimizer(LR, BETA1, BETA2, EPS_R, 0.0), var, grad),
        "torch": _torch_rmsprop,
        "torch_optim_rmsprop": _torch_optim_rmsprop,
        "tensorflow_raw_rmsprop": _tf_raw_rmsprop,
    },
}


@pytest.mark.parametrize("op, impl", [(op, impl) for op, impls in OPTIMIZERS.items() for impl in impls])
def test_dense_optimizer(benchmark, op, impl):
    n = _size(benchmark)
    var, grad = _data(n)
    step, result = OPTIMIZERS[op][impl](var.copy(), grad)
    _info(benchmark, impl, n, f"{op}-{n // 1_000_000}M" if n >= 1_000_000 else f"{op}-{n // 1000}k")
    benchmark.pedantic(step, warmup_rounds=1, rounds=10, iterations=1)
    if result is not None:  # after the same number of steps, every exact peer agrees with us
        ours_step, ours = OPTIMIZERS[op]["monolith_np"](var.copy(), grad)
        rounds = 1 if benchmark.disabled else 11
        for _ in range(rounds):
            ours_step()
        np.testing.assert_allclose(result(), ours(), rtol=1e-4, atol=1e-5)


# --- clipping -------------------------------------------------------------------


def _arrays(n):
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, n), N_ARRAYS - 1, replace=False))
    return [a.reshape(-1) for a in np.split(rng.standard_normal(n, dtype=np.float32), cuts)]


def _clip_ours(arrays, clip):
    return lambda: clip_by_global_norm(arrays, clip)[0]


def _clip_tf(arrays, clip):
    tf = pytest.importorskip("tensorflow")
    tensors = [tf.constant(a) for a in arrays]
    return lambda: [t.numpy() for t in tf.clip_by_global_norm(tensors, clip)[0]]


def _clip_torch(arrays, clip):
    torch = pytest.importorskip("torch")
    params = []
    for a in arrays:
        p = torch.nn.Parameter(torch.empty(a.shape))
        p.grad = torch.from_numpy(a.copy())
        params.append(p)

    def run():
        torch.nn.utils.clip_grad_norm_(params, clip)  # in place; repeated calls stay at the clip norm
        return [p.grad.numpy() for p in params]

    return run


CLIPPERS = {"monolith_np": _clip_ours, "tensorflow": _clip_tf, "torch": _clip_torch}


@pytest.mark.parametrize("impl", list(CLIPPERS))
def test_clip_by_global_norm(benchmark, impl):
    n = _size(benchmark)
    arrays = _arrays(n)
    clip = float(global_norm(arrays)) / 2
    run = CLIPPERS[impl](arrays, clip)
    size = f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"
    _info(benchmark, impl, n, f"clip_by_global_norm-{size}-{N_ARRAYS}")
    result = benchmark.pedantic(run, warmup_rounds=1, rounds=10, iterations=1)
    expected = [a * np.float32(0.5) for a in arrays]
    for got, want in zip(result, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
