"""Benchmarks of monolith_np.ragged against numpy, TensorFlow and PyTorch peers.

Workload: 1M ragged ids into 64k rows (random row boundaries, so a few rows are
empty) with ``[1M, 16]`` float32 embeddings; the sequence mask uses the same
64k rows with ``L = 32``. Each group holds our kernel and its peers on the same
data: ``pytest benchmarks/bench_ragged.py --benchmark-only`` for numbers,
``--benchmark-disable`` for a quick smoke run (every implementation once,
result checked).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from monolith_np import _config
from monolith_np import ragged as R

NNZ, ROWS, DIM, SEQ_LEN, FIRST_N = 1_000_000, 65_536, 16, 32, 8
ROUNDS = 10


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, NNZ + 1, ROWS - 1))
    splits = np.concatenate([[0], cuts, [NNZ]]).astype(np.int64)
    values = rng.standard_normal((NNZ, DIM), dtype=np.float32)
    lengths = np.diff(splits)
    return {
        "values": values,
        "splits": splits,
        "lengths": lengths,
        "rowids": np.repeat(np.arange(ROWS, dtype=np.int64), lengths),
        "grad": rng.standard_normal((ROWS, DIM), dtype=np.float32),
    }


# --- numpy peers -------------------------------------------------------------


def _np_reduce(values, splits, mean):
    lengths = np.diff(splits)
    nonempty = lengths > 0
    out = np.zeros((len(lengths), values.shape[1]), values.dtype)
    out[nonempty] = np.add.reduceat(values, splits[:-1][nonempty], axis=0)
    if mean:
        with np.errstate(divide="ignore", invalid="ignore"):
            out *= (1.0 / lengths).astype(values.dtype)[:, None]
    return out


def _np_first_n(values, splits, n):
    lengths = np.diff(splits)
    rowids = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(len(values)) - splits[rowids]
    keep = pos < n
    out = np.zeros((len(lengths), n, values.shape[1]), values.dtype)
    out[rowids[keep], pos[keep]] = values[keep]
    return out


def _np_seq_mask(splits, max_seq_length):
    lengths = np.minimum(np.diff(splits), max_seq_length)
    return (np.arange(max_seq_length) < lengths[:, None]).astype(splits.dtype)


# --- implementations per group: name -> builder(data) -> zero-argument callable ------------


def _tf():
    return pytest.importorskip("tensorflow")


def _torch():
    return pytest.importorskip("torch")


def _tf_inputs(d):
    tf = _tf()
    values = tf.constant(d["values"])
    rowids = tf.constant(d["rowids"])
    ragged = tf.RaggedTensor.from_row_splits(values, tf.constant(d["splits"]), validate=False)
    return tf, values, rowids, ragged


def _torch_inputs(d):
    torch = _torch()
    return torch, torch.from_numpy(d["values"]), torch.from_numpy(d["lengths"]), torch.from_numpy(d["splits"])


def _reduce_impls(mean):
    name = "mean" if mean else "sum"
    ours = R.reduce_mean if mean else R.reduce_sum

    def tf_segment(d):
        tf, values, rowids, _ = _tf_inputs(d)
        fn = tf.math.unsorted_segment_mean if mean else tf.math.unsorted_segment_sum
        return lambda: fn(values, rowids, ROWS)

    def tf_ragged(d):
        tf, _, _, ragged = _tf_inputs(d)
        fn = tf.reduce_mean if mean else tf.reduce_sum
        return lambda: fn(ragged, axis=1)

    def torch_segment_reduce(d):
        torch, values, lengths, _ = _torch_inputs(d)
        return lambda: torch.segment_reduce(values, name, lengths=lengths, axis=0)

    def torch_embedding_bag(d):
        torch, values, _, splits = _torch_inputs(d)
        ids = torch.arange(NNZ)
        return lambda: torch.nn.functional.embedding_bag(ids, values, splits[:-1], mode=name)

    impls = {
        "monolith_np": lambda d: lambda: ours(d["values"], row_splits=d["splits"]),
        "numpy_reduceat": lambda d: lambda: _np_reduce(d["values"], d["splits"], mean),
        "tf_unsorted_segment": tf_segment,
        "tf_ragged": tf_ragged,
        "torch_segment_reduce": torch_segment_reduce,
        "torch_embedding_bag": torch_embedding_bag,
    }
    if not mean:

        def tf_sorted_segment_sum(d):
            tf, values, rowids, _ = _tf_inputs(d)
            return lambda: tf.math.segment_sum(values, rowids)

        def torch_index_add(d):
            torch, values, _, _ = _torch_inputs(d)
            rowids = torch.from_numpy(d["rowids"])
            return lambda: torch.zeros(ROWS, DIM).index_add_(0, rowids, values)

        impls.update(tf_sorted_segment_sum=tf_sorted_segment_sum, torch_index_add=torch_index_add)
    return impls


def _grad_impls():
    def tf_gather(d):
        tf = _tf()
        grad, rowids = tf.constant(d["grad"]), tf.constant(d["rowids"])
        return lambda: tf.gather(grad, rowids)

    def torch_repeat_interleave(d):
        torch, _, lengths, _ = _torch_inputs(d)
        grad = torch.from_numpy(d["grad"])
        return lambda: torch.repeat_interleave(grad, lengths, dim=0, output_size=NNZ)

    return {
        "monolith_np": lambda d: lambda: R.reduce_sum_grad(d["grad"], row_splits=d["splits"]),
        "numpy_repeat": lambda d: lambda: np.repeat(d["grad"], d["lengths"], axis=0),
        "tf_gather": tf_gather,
        "torch_repeat_interleave": torch_repeat_interleave,
    }


def _first_n_impls():
    def tf_scatter_nd(d):
        """The original FirstN: to_sparse, scatter into [B, max(n, longest), D], slice n."""
        tf, values, _, _ = _tf_inputs(d)
        key = tf.RaggedTensor.from_row_splits(tf.constant(d["rowids"]), tf.constant(d["splits"]), validate=False)

        def run():
            sparse = key.to_sparse()
            width = tf.math.reduce_max([tf.constant(FIRST_N, tf.int64), sparse.dense_shape[1]])
            shape = tf.stack([key.nrows(), width, tf.constant(DIM, tf.int64)])
            return tf.slice(tf.scatter_nd(sparse.indices, values, shape), [0, 0, 0], [-1, FIRST_N, -1])

        return run

    def tf_ragged_to_tensor(d):
        _, _, _, ragged = _tf_inputs(d)
        return lambda: ragged.to_tensor(shape=[ROWS, FIRST_N, DIM])

    return {
        "monolith_np": lambda d: lambda: R.first_n(d["values"], FIRST_N, row_splits=d["splits"]),
        "numpy_fancy_index": lambda d: lambda: _np_first_n(d["values"], d["splits"], FIRST_N),
        "tf_scatter_nd": tf_scatter_nd,
        "tf_ragged_to_tensor": tf_ragged_to_tensor,
    }


def _seq_mask_impls():
    def tf_sequence_mask(d):
        tf = _tf()
        splits = tf.constant(d["splits"])

        def run():
            lengths = tf.minimum(splits[1:] - splits[:-1], SEQ_LEN)
            return tf.sequence_mask(lengths, SEQ_LEN, dtype=tf.int64)

        return run

    def torch_compare(d):
        torch, _, _, splits = _torch_inputs(d)
        positions = torch.arange(SEQ_LEN)
        return lambda: (positions < torch.diff(splits).clamp(max=SEQ_LEN)[:, None]).to(torch.int64)

    return {
        "monolith_np": lambda d: lambda: R.gen_seq_mask(d["splits"], SEQ_LEN),
        "numpy_broadcast": lambda d: lambda: _np_seq_mask(d["splits"], SEQ_LEN),
        "tf_sequence_mask": tf_sequence_mask,
        "torch_compare": torch_compare,
    }


GROUPS = {
    "reduce_sum": (_reduce_impls(False), lambda d: _np_reduce(d["values"], d["splits"], False)),
    "reduce_mean": (_reduce_impls(True), lambda d: _np_reduce(d["values"], d["splits"], True)),
    "reduce_sum_grad": (_grad_impls(), lambda d: np.repeat(d["grad"], d["lengths"], axis=0)),
    "first_n": (_first_n_impls(), lambda d: _np_first_n(d["values"], d["splits"], FIRST_N)),
    "gen_seq_mask": (_seq_mask_impls(), lambda d: _np_seq_mask(d["splits"], SEQ_LEN)),
}
CASES = [(group, impl) for group, (impls, _) in GROUPS.items() for impl in impls]


def _as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _check(got, want, lengths):
    got = _as_numpy(got)
    if got.shape[0] < want.shape[0]:  # tf.math.segment_sum drops trailing empty rows
        want, lengths = want[: got.shape[0]], lengths[: got.shape[0]]
    assert got.shape == want.shape
    if got.ndim == 2 and got.shape[0] == len(lengths) and np.issubdtype(got.dtype, np.floating):
        nonempty = lengths > 0  # empty-row means: NaN (ours, numpy, TF, torch) or 0 (EmbeddingBag)
        got, want = got[nonempty], want[nonempty]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("group, impl", CASES)
def test_ragged(benchmark, data, group, impl):
    impls, expected = GROUPS[group]
    fn = impls[impl](data)
    size = f"{NNZ // 1000}k_ids-{ROWS // 1024}k_rows" if group != "gen_seq_mask" else f"{ROWS // 1024}k_rows-L{SEQ_LEN}"
    benchmark.group = f"{group}-{size}"
    benchmark.extra_info.update(
        impl=impl,
        numba_threads=numba.get_num_threads(),
        fastmath=False,
        cache=bool(_config.CACHE),
        items=NNZ if group != "gen_seq_mask" else ROWS * SEQ_LEN,
    )
    result = benchmark.pedantic(fn, warmup_rounds=1 if benchmark.disabled else 8, rounds=ROUNDS, iterations=1)
    _check(result, expected(data), data["lengths"])
