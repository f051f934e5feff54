"""Sparse embedding-table optimizer updates: our drivers against their peers.

Group ``adagrad_rows-<size>``: a 4,000,000 x 16 float32 table (+ state) and a
batch of 1,000,000 Zipf(1.1) row ids (about 172k distinct) with 16-float
gradients, updated by

* ``monolith_np``: ``AdagradOptimizer.apply_rows`` (bucketed parallel dedup, one
  ``prange`` pass over buckets);
* ``torch_handwritten``: ``torch.unique(return_inverse)`` + ``index_add_`` +
  ``index_select``/``index_copy_``;
* ``torch_optim``: ``torch.optim.Adagrad`` on ``nn.Embedding(sparse=True)``
  (the gradient is given as a sparse tensor);
* ``tensorflow``: ``tf.unique`` + ``unsorted_segment_sum`` +
  ``ResourceSparseApplyAdagradV2`` in a ``tf.function``;
* ``numpy``: ``np.unique`` + ``np.add.at``-free segment sum (sorted ``reduceat``).

``adam_rows`` and ``ftrl_rows`` time ours against the hand-written torch peer;
``adam_dense-10M`` times ``AdamOptimizer.apply`` over 10M parameters against
``torch.optim.Adam(fused=True)``. With ``--benchmark-disable`` every case runs
once on small sizes as a smoke test.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from monolith_np.optim.optimizers import AdagradOptimizer, AdamOptimizer, FtrlOptimizer

DIM = 16
LR = 0.05


def _sizes(benchmark):
    return (4_000, 1_000) if benchmark.disabled else (4_000_000, 1_000_000)


def _zipf_rows(num_rows, n, seed=0):
    rng = np.random.default_rng(seed)
    ranks = rng.zipf(1.1, size=4 * n)
    ranks = ranks[ranks <= num_rows][:n] - 1
    perm = rng.permutation(num_rows)
    return perm[ranks].astype(np.int64)


@pytest.fixture(scope="module")
def data_cache():
    return {}


def _data(cache, num_rows, n):
    key = (num_rows, n)
    if key not in cache:
        rng = np.random.default_rng(1)
        cache[key] = (rng.normal(size=(num_rows, DIM)).astype(np.float32), _zipf_rows(num_rows, n),
                      rng.normal(size=(n, DIM)).astype(np.float32))
    return cache[key]


def _tag(benchmark, group, impl):
    benchmark.group = group
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["numba_threads"] = numba.get_num_threads()


def _run(benchmark, fn, rounds=5):
    fn()  # warm-up (JIT, caches) outside the timed region
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


# --- sparse ---------------------------------------------------------------------


OURS = {"adagrad": lambda: AdagradOptimizer(learning_rate=LR, initial_accumulator_value=0.1),
        "adam": lambda: AdamOptimizer(learning_rate=LR), "ftrl": lambda: FtrlOptimizer(learning_rate=LR)}


@pytest.mark.parametrize("algo", ["adagrad", "adam", "ftrl"])
def test_ours_rows(benchmark, data_cache, algo):
    num_rows, n = _sizes(benchmark)
    params, rows, grads = _data(data_cache, num_rows, n)
    _tag(benchmark, f"{algo}_rows-{n}", "monolith_np")
    opt = OURS[algo]()
    table, state = params.copy(), opt.init_state(num_rows, DIM)
    _run(benchmark, lambda: opt.apply_rows(table, rows, grads, state))
    assert np.isfinite(table[rows[:100]]).all()


def _torch_step(torch, algo, table, slots, rows_t, grads_t):
    uniq, inv = torch.unique(rows_t, return_inverse=True)
    g = torch.zeros((uniq.numel(), DIM), dtype=torch.float32).index_add_(0, inv, grads_t)
    w = table.index_select(0, uniq)
    if algo == "adagrad":
        acc = slots[0].index_select(0, uniq).addcmul_(g, g)
        slots[0].index_copy_(0, uniq, acc)
        w.addcdiv_(g, acc.sqrt(), value=-LR)
    elif algo == "adam":
        m = slots[0].index_select(0, uniq).lerp_(g, 0.1)
        v = slots[1].index_select(0, uniq).lerp_(g * g, 0.01)
        b1 = slots[2].index_select(0, uniq)
        b2 = slots[3].index_select(0, uniq)
        lr_t = (LR * (1 - b2).sqrt() / (1 - b1)).unsqueeze(1)
        w.sub_(lr_t * m / (v.sqrt() + 0.01))
        slots[0].index_copy_(0, uniq, m)
        slots[1].index_copy_(0, uniq, v)
        slots[2].index_copy_(0, uniq, b1 * 0.9)
        slots[3].index_copy_(0, uniq, b2 * 0.99)
    else:
        n_old = slots[1].index_select(0, uniq)
        n_new = n_old + g * g
        z = slots[0].index_select(0, uniq) + g - (n_new.sqrt() - n_old.sqrt()) / LR * w
        w = torch.where(z.abs() > 0, -LR * z / n_new.sqrt(), torch.zeros_like(z))
        slots[0].index_copy_(0, uniq, z)
        slots[1].index_copy_(0, uniq, n_new)
    table.index_copy_(0, uniq, w)


@pytest.mark.parametrize("algo", ["adagrad", "adam", "ftrl"])
def test_torch_handwritten_rows(benchmark, data_cache, algo):
    torch = pytest.importorskip("torch")
    num_rows, n = _sizes(benchmark)
    params, rows, grads = _data(data_cache, num_rows, n)
    _tag(benchmark, f"{algo}_rows-{n}", "torch_handwritten")
    torch.set_num_threads(numba.get_num_threads())
    table = torch.from_numpy(params.copy())
    k = {"adagrad": 1, "adam": 4, "ftrl": 2}[algo]
    slots = [torch.full((num_rows, DIM), 0.1) for _ in range(min(k, 2))]
    if algo == "adam":
        slots = [torch.zeros(num_rows, DIM), torch.zeros(num_rows, DIM), torch.full((num_rows,), 0.9),
                 torch.full((num_rows,), 0.99)]
    rows_t, grads_t = torch.from_numpy(rows), torch.from_numpy(grads)
    _run(benchmark, lambda: _torch_step(torch, algo, table, slots, rows_t, grads_t))


def test_torch_optim_adagrad_rows(benchmark, data_cache):
    torch = pytest.importorskip("torch")
    num_rows, n = _sizes(benchmark)
    params, rows, grads = _data(data_cache, num_rows, n)
    _tag(benchmark, f"adagrad_rows-{n}", "torch_optim_sparse")
    emb = torch.nn.Embedding(num_rows, DIM, sparse=True)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(params))
    opt = torch.optim.Adagrad(emb.parameters(), lr=LR, initial_accumulator_value=0.1)
    grad = torch.sparse_coo_tensor(torch.from_numpy(rows)[None], torch.from_numpy(grads), (num_rows, DIM), check_invariants=False)

    def step():
        emb.weight.grad = grad
        opt.step()

    _run(benchmark, step)


def test_tensorflow_adagrad_rows(benchmark, data_cache):
    tf = pytest.importorskip("tensorflow")
    num_rows, n = _sizes(benchmark)
    params, rows, grads = _data(data_cache, num_rows, n)
    _tag(benchmark, f"adagrad_rows-{n}", "tensorflow")
    var, acc = tf.Variable(params), tf.Variable(tf.fill((num_rows, DIM), 0.1))
    rows_t, grads_t = tf.constant(rows), tf.constant(grads)

    @tf.function
    def step():
        uniq, idx = tf.unique(rows_t)
        g = tf.math.unsorted_segment_sum(grads_t, idx, tf.shape(uniq)[0])
        tf.raw_ops.ResourceSparseApplyAdagradV2(var=var.handle, accum=acc.handle, lr=np.float32(LR),
                                                epsilon=np.float32(0.0), grad=g, indices=uniq)

    _run(benchmark, step)


def test_numpy_adagrad_rows(benchmark, data_cache):
    num_rows, n = _sizes(benchmark)
    params, rows, grads = _data(data_cache, num_rows, n)
    _tag(benchmark, f"adagrad_rows-{n}", "numpy")
    table, acc = params.copy(), np.full((num_rows, DIM), 0.1, np.float32)

    def step():
        uniq, inv = np.unique(rows, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        starts = np.searchsorted(inv[order], np.arange(uniq.size))
        g = np.add.reduceat(grads[order], starts, axis=0)
        a = acc[uniq] + g * g
        acc[uniq] = a
        table[uniq] -= np.float32(LR) / np.sqrt(a) * g

    _run(benchmark, step, rounds=3)


# --- dense Adam -------------------------------------------------------------------


def _dense_size(benchmark):
    return 10_000 if benchmark.disabled else 10_000_000


def test_ours_adam_dense(benchmark):
    size = _dense_size(benchmark)
    _tag(benchmark, f"adam_dense-{size}", "monolith_np")
    rng = np.random.default_rng(2)
    params = rng.normal(size=(size // DIM, DIM)).astype(np.float32)
    grads = rng.normal(size=params.shape).astype(np.float32)
    opt = AdamOptimizer(learning_rate=LR)
    state = opt.init_state(*params.shape)
    _run(benchmark, lambda: opt.apply(params, grads, state))


def test_torch_fused_adam_dense(benchmark):
    torch = pytest.importorskip("torch")
    size = _dense_size(benchmark)
    _tag(benchmark, f"adam_dense-{size}", "torch_adam_fused")
    torch.set_num_threads(numba.get_num_threads())
    p = torch.nn.Parameter(torch.randn(size))
    p.grad = torch.randn(size)
    opt = torch.optim.Adam([p], lr=LR, fused=True)
    _run(benchmark, opt.step)
