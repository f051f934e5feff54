"""Embedding hash tables: ``EmbeddingHashTable`` against other int64-keyed hash maps.

The table holds 4,000,000 random 64-bit ids, each with 16 float32 values and
an Adagrad accumulator (16 floats). Queries are batches of 1,000,000 ids,
drawn Zipf(1.1) over a fixed permutation of the table's ids (about 172k
distinct) or uniformly. Groups (suffix: the batch or table size):

* ``table_lookup_zipf-<n>`` / ``table_lookup_uniform-<n>``: values of existing
  ids into a preallocated ``(n, 16)`` array.

  - ``monolith_np``: ``EmbeddingHashTable.lookup(ids, out=out)`` (numba's
    default thread count); ``monolith_np_1thread``: the same on one thread;
  - ``pandas_khash``: ``pandas._libs.hashtable.Int64HashTable.lookup`` (khash,
    built once over the ids) + ``np.take(values, rows, axis=0, out=out)``;
  - ``tf_dense_hash_table``: ``tf.lookup.experimental.DenseHashTable`` (id ->
    16 floats) ``lookup`` in a ``tf.function``;
  - ``numba_typed_dict``: a ``numba.typed.Dict`` id -> row read in a serial
    ``njit`` loop that also copies the row;
  - ``python_dict``: a ``dict`` id -> row, ``map(d.__getitem__, ...)`` + ``np.take``;
  - ``gather_floor``: the copy alone, the row numbers already known
    (``prange`` gather), the least any table can do.

* ``table_insert-<N>``: 4,000,000 new ids in 4 batches of 1,000,000 into an
  empty table made with room for all of them (creation not timed).

  - ``monolith_np`` / ``monolith_np_1thread``: ``EmbeddingHashTable(...,
    capacity=N)`` then ``assign(batch, values)`` per batch (which also runs the
    initializer and sets the optimizer state of each new row);
  - ``tf_dense_hash_table``: ``DenseHashTable(initial_num_buckets >= 2N)``
    ``insert`` per batch;
  - ``pandas_khash``: ``Int64HashTable(size_hint=N)`` ``map_keys_to_values``
    (id -> row) per batch + the batch's values written into a preallocated array.

  Each case's untimed creation time is in ``extra_info["create_s"]`` (TensorFlow
  fills its buckets there; our row store and pandas' array are zero pages
  until the inserts touch them).

* ``table_apply_gradients-<n>``: insert-or-update + dedup + Adagrad for a Zipf
  batch with 16-float gradients against the full table.

  - ``monolith_np``: ``EmbeddingHashTable.apply_gradients``;
  - ``tensorflow``: one ``tf.function``: ``tf.unique`` + ``unsorted_segment_sum``,
    an id -> row ``DenseHashTable`` lookup of the distinct ids, insertion (and
    initialisation) of the missing ones, ``ResourceSparseApplyAdagradV2`` on a
    ``tf.Variable`` and its accumulator.

* ``table_memory-<N>``: not a timing (the timed call is ``memory_bytes()``);
  ``extra_info`` holds the table's bytes per entry at its load factor next to
  the raw 136 bytes (8 key + 64 values + 64 Adagrad state).

Every case checks its result once outside the timed region: lookups and
inserts against the generated values, both ``apply_gradients`` against a
numpy Adagrad step from the same start. TensorFlow's intra-op threads are set to numba's count when
TensorFlow is not yet initialised; they cannot change afterwards, so the peers
always run at the default thread count. With ``--benchmark-disable`` every
case runs once on a 4,000-id table and 1,000-id batches as a smoke test.
"""

from __future__ import annotations

import contextlib
import time

import numba
import numpy as np
import pytest

from monolith_np.entry import RandomUniformInitializer
from monolith_np.optim import AdagradOptimizer
from monolith_np.table import EmbeddingHashTable

DIM = 16
LR = 0.01
INIT_ACC = 0.1
INSERT_BATCHES = 4
#: Keys DenseHashTable reserves (empty and deleted markers); the ids avoid them.
EMPTY_KEY = np.iinfo(np.int64).min
DELETED_KEY = EMPTY_KEY + 1
THREADS = [None, 1]  # None: numba's default thread count


def _sizes(benchmark):
    return (4_000, 1_000) if benchmark.disabled else (4_000_000, 1_000_000)


def _config():
    return [(DIM, RandomUniformInitializer(-0.05, 0.05, seed=1),
             AdagradOptimizer(learning_rate=LR, initial_accumulator_value=INIT_ACC))]


def _new_table(capacity):
    return EmbeddingHashTable(_config(), capacity=capacity)


def _unique_ids(rng, num):
    """``num`` distinct random int64 ids (none of DenseHashTable's reserved keys), in random order."""
    raw = rng.integers(DELETED_KEY + 1, np.iinfo(np.int64).max, size=num + num // 64 + 16, dtype=np.int64,
                       endpoint=True)
    _, first = np.unique(raw, return_index=True)
    return raw[np.sort(first)[:num]]


def _zipf_rows(num_rows, n, seed):
    rng = np.random.default_rng(seed)
    ranks = rng.zipf(1.1, size=4 * n)
    ranks = ranks[ranks <= num_rows][:n] - 1
    perm = np.random.default_rng(0).permutation(num_rows)  # the fixed rank -> id map
    return perm[ranks].astype(np.int64)


class _Data:
    """Ids, values and query batches of one size, with the tables built over them (lazily)."""

    def __init__(self, num_ids, n):
        rng = np.random.default_rng(1)
        self.num_ids, self.n = num_ids, n
        self.ids = _unique_ids(rng, num_ids)
        self.values = rng.uniform(-0.05, 0.05, size=(num_ids, DIM)).astype(np.float32)
        self.rows = {"zipf": _zipf_rows(num_ids, n, seed=2), "uniform": rng.integers(0, num_ids, n)}
        self.queries = {k: self.ids[r] for k, r in self.rows.items()}
        self.grads = rng.normal(scale=0.1, size=(n, DIM)).astype(np.float32)
        self._built = {}

    def get(self, name, build):
        if name not in self._built:
            self._built[name] = build()
        return self._built[name]

    def ours(self):
        """A full table (values = ``self.values``); lookups only, never trained."""
        def build():
            table = _new_table(self.num_ids)
            table.assign(self.ids, self.values)
            return table
        return self.get("ours", build)


@pytest.fixture(scope="module")
def data_cache():
    return {}


def _data(cache, num_ids, n):
    key = (num_ids, n)
    if key not in cache:
        cache.clear()  # one size at a time: the full-size tables take gigabytes
        cache[key] = _Data(num_ids, n)
    return cache[key]


def _tag(benchmark, group, impl):
    benchmark.group = group
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["numba_threads"] = numba.get_num_threads()


def _run(benchmark, fn, rounds=5):
    fn()  # warm-up (JIT, caches, tf.function tracing) outside the timed region
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


@contextlib.contextmanager
def _numba_threads(threads):
    old = numba.get_num_threads()
    numba.set_num_threads(old if threads is None else threads)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _ours_impl(threads):
    if threads is None:
        return "monolith_np"
    if threads >= numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"numba has only {numba.config.NUMBA_NUM_THREADS} thread(s): same as the default case")
    return f"monolith_np_{threads}thread"


def _tf():
    tf = pytest.importorskip("tensorflow")
    with contextlib.suppress(RuntimeError):  # already initialised: keep its thread count
        tf.config.threading.set_intra_op_parallelism_threads(numba.get_num_threads())
    return tf


def _tf_buckets(num_ids):
    """DenseHashTable buckets (a power of two) for ``num_ids`` keys: at least twice as many."""
    return 1 << int(2 * num_ids - 1).bit_length()


# --- compiled peers ----------------------------------------------------------------


@numba.njit(parallel=True, cache=True)
def _gather(values, rows, out):
    for i in numba.prange(rows.size):
        out[i, :] = values[rows[i], :]


@numba.njit(cache=True)
def _build_typed_dict(ids):
    d = numba.typed.Dict.empty(numba.types.int64, numba.types.int64)
    for i in range(ids.size):
        d[ids[i]] = i
    return d


@numba.njit(cache=True)
def _typed_dict_lookup(d, values, ids, out):
    for i in range(ids.size):
        out[i, :] = values[d[ids[i]], :]  # every id is present (an absent one raises KeyError)


# --- lookup -------------------------------------------------------------------------


def _lookup_case(benchmark, data_cache, dist, impl):
    num_ids, n = _sizes(benchmark)
    data = _data(data_cache, num_ids, n)
    _tag(benchmark, f"table_lookup_{dist}-{n}", impl)
    return data, data.queries[dist], data.values[data.rows[dist]], np.empty((n, DIM), np.float32)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dist", ["zipf", "uniform"])
def test_ours_lookup(benchmark, data_cache, dist, threads):
    impl = _ours_impl(threads)
    with _numba_threads(threads):
        data, q, expect, out = _lookup_case(benchmark, data_cache, dist, impl)
        table = data.ours()
        benchmark.extra_info["load_factor"] = table.load_factor
        _run(benchmark, lambda: table.lookup(q, out=out))
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("dist", ["zipf", "uniform"])
def test_gather_floor_lookup(benchmark, data_cache, dist):
    data, _, expect, out = _lookup_case(benchmark, data_cache, dist, "gather_floor")
    rows, values = data.rows[dist], data.values
    _run(benchmark, lambda: _gather(values, rows, out))
    np.testing.assert_array_equal(out, expect)


def _pandas_khash(data):
    hashtable = pytest.importorskip("pandas._libs.hashtable")

    def build():
        ht = hashtable.Int64HashTable(data.num_ids)
        ht.map_locations(data.ids)
        return ht

    return data.get("pandas_khash", build)


@pytest.mark.parametrize("dist", ["zipf", "uniform"])
def test_pandas_khash_lookup(benchmark, data_cache, dist):
    # pd.Index(ids).get_indexer(q) runs the same khash lookup (measured equal within noise).
    data, q, expect, out = _lookup_case(benchmark, data_cache, dist, "pandas_khash")
    ht, values = _pandas_khash(data), data.values

    def lookup():
        np.take(values, ht.lookup(q), axis=0, out=out, mode="clip")  # "raise" buffers `out`

    _run(benchmark, lookup)
    np.testing.assert_array_equal(out, expect)


def _tf_values_table(tf, data):
    def build():
        table = tf.lookup.experimental.DenseHashTable(
            tf.int64, tf.float32, default_value=tf.zeros([DIM], tf.float32), empty_key=EMPTY_KEY,
            deleted_key=DELETED_KEY, initial_num_buckets=_tf_buckets(data.num_ids))
        table.insert(tf.constant(data.ids), tf.constant(data.values))
        return table
    return data.get("tf_values", build)


@pytest.mark.parametrize("dist", ["zipf", "uniform"])
def test_tf_dense_hash_table_lookup(benchmark, data_cache, dist):
    tf = _tf()
    data, q, expect, _ = _lookup_case(benchmark, data_cache, dist, "tf_dense_hash_table")
    table = _tf_values_table(tf, data)
    q_t = tf.constant(q)
    lookup = tf.function(lambda keys: table.lookup(keys))
    _run(benchmark, lambda: lookup(q_t))
    np.testing.assert_array_equal(lookup(q_t).numpy(), expect)


@pytest.mark.parametrize("dist", ["zipf", "uniform"])
def test_numba_typed_dict_lookup(benchmark, data_cache, dist):
    data, q, expect, out = _lookup_case(benchmark, data_cache, dist, "numba_typed_dict")
    d, values = data.get("numba_dict", lambda: _build_typed_dict(data.ids)), data.values
    _run(benchmark, lambda: _typed_dict_lookup(d, values, q, out), rounds=3)
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("dist", ["zipf", "uniform"])
def test_python_dict_lookup(benchmark, data_cache, dist):
    data, q, expect, out = _lookup_case(benchmark, data_cache, dist, "python_dict")
    d = data.get("python_dict", lambda: dict(zip(data.ids.tolist(), range(data.num_ids))))
    values, n = data.values, q.size

    def lookup():
        rows = np.fromiter(map(d.__getitem__, q.tolist()), np.int64, n)
        np.take(values, rows, axis=0, out=out, mode="clip")

    _run(benchmark, lookup, rounds=3)
    np.testing.assert_array_equal(out, expect)


# --- insert -----------------------------------------------------------------------------


def _insert_case(benchmark, data_cache, impl):
    num_ids, n = _sizes(benchmark)
    data = _data(data_cache, num_ids, n)
    _tag(benchmark, f"table_insert-{num_ids}", impl)
    benchmark.extra_info["batches"] = INSERT_BATCHES
    return data, np.array_split(data.ids, INSERT_BATCHES), np.array_split(data.values, INSERT_BATCHES)


def _pedantic(benchmark, fn, setup):
    benchmark.pedantic(fn, setup=setup, rounds=1 if benchmark.disabled else 3, iterations=1, warmup_rounds=0)


def _check_sample(data, got_rows_values):
    """``got_rows_values(ids) -> values``: compare a sample of the table against the data."""
    pick = np.random.default_rng(3).integers(0, data.num_ids, 1000)
    np.testing.assert_array_equal(got_rows_values(data.ids[pick]), data.values[pick])


@pytest.mark.parametrize("threads", THREADS)
def test_ours_insert(benchmark, data_cache, threads):
    impl = _ours_impl(threads)
    with _numba_threads(threads):
        data, id_batches, value_batches = _insert_case(benchmark, data_cache, impl)
        warm = _new_table(2 * id_batches[0].size)  # compile outside the timed region: two full batches,
        for ids, values in zip(id_batches[:2], value_batches[:2]):  # so the 1- and n-thread kernels
            warm.assign(ids, values)                               # (a timed choice per call) are built
        del warm
        made, create_s = [], []

        def setup():
            made.clear()  # free the previous round's table first
            t0 = time.perf_counter()
            made.append(_new_table(data.num_ids))
            create_s.append(time.perf_counter() - t0)
            return (made[0],), {}

        def insert(table):
            for ids, values in zip(id_batches, value_batches):
                table.assign(ids, values)

        _pedantic(benchmark, insert, setup)
    benchmark.extra_info["create_s"] = float(np.mean(create_s))
    table = made[0]
    assert table.size == data.num_ids
    benchmark.extra_info["load_factor"] = table.load_factor
    _check_sample(data, table.lookup)


def test_tf_dense_hash_table_insert(benchmark, data_cache):
    tf = _tf()
    data, id_batches, value_batches = _insert_case(benchmark, data_cache, "tf_dense_hash_table")
    batches = [(tf.constant(i), tf.constant(v)) for i, v in zip(id_batches, value_batches)]
    buckets = _tf_buckets(data.num_ids)
    benchmark.extra_info["buckets"] = buckets
    made, create_s = [], []

    def setup():
        made.clear()  # free the previous round's table first
        t0 = time.perf_counter()
        table = tf.lookup.experimental.DenseHashTable(
            tf.int64, tf.float32, default_value=tf.zeros([DIM], tf.float32), empty_key=EMPTY_KEY,
            deleted_key=DELETED_KEY, initial_num_buckets=buckets, experimental_is_anonymous=True)
        table.size().numpy()  # the buckets exist now
        create_s.append(time.perf_counter() - t0)
        made.append(table)
        return (table,), {}

    def insert(table):
        for ids, values in batches:
            table.insert(ids, values)
        table.size().numpy()  # wait for the ops

    _pedantic(benchmark, insert, setup)
    benchmark.extra_info["create_s"] = float(np.mean(create_s))
    table = made[0]
    assert int(table.size()) == data.num_ids
    _check_sample(data, lambda ids: table.lookup(tf.constant(ids)).numpy())


def test_pandas_khash_insert(benchmark, data_cache):
    hashtable = pytest.importorskip("pandas._libs.hashtable")
    data, id_batches, value_batches = _insert_case(benchmark, data_cache, "pandas_khash")
    offsets = np.cumsum([0] + [b.size for b in id_batches])
    row_batches = [np.arange(lo, hi, dtype=np.int64) for lo, hi in zip(offsets[:-1], offsets[1:])]
    made, create_s = [], []

    def setup():
        made.clear()
        t0 = time.perf_counter()
        made.append((hashtable.Int64HashTable(size_hint=data.num_ids), np.zeros((data.num_ids, DIM), np.float32)))
        create_s.append(time.perf_counter() - t0)
        return made[0], {}

    def insert(ht, store):
        for ids, rows, values in zip(id_batches, row_batches, value_batches):
            ht.map_keys_to_values(ids, rows)
            store[rows[0]:rows[-1] + 1] = values  # new ids: contiguous rows

    _pedantic(benchmark, insert, setup)
    benchmark.extra_info["create_s"] = float(np.mean(create_s))
    ht, store = made[0]
    assert len(ht) == data.num_ids
    _check_sample(data, lambda ids: store[ht.lookup(ids)])


# --- apply_gradients -----------------------------------------------------------------------


def _apply_case(benchmark, data_cache, impl):
    num_ids, n = _sizes(benchmark)
    data = _data(data_cache, num_ids, n)
    _tag(benchmark, f"table_apply_gradients-{n}", impl)
    benchmark.extra_info["distinct_ids"] = int(np.unique(data.rows["zipf"]).size)
    return data, data.queries["zipf"], data.grads


def _reference_step(data):
    """Values of the distinct ids of the Zipf batch after one Adagrad step from the data (numpy)."""
    uniq_rows, inv = np.unique(data.rows["zipf"], return_inverse=True)
    g = np.zeros((uniq_rows.size, DIM), np.float64)
    np.add.at(g, inv, data.grads)
    acc = INIT_ACC + g * g
    return data.ids[uniq_rows], data.values[uniq_rows] - LR * g / np.sqrt(acc)


def test_ours_apply_gradients(benchmark, data_cache):
    data, q, grads = _apply_case(benchmark, data_cache, "monolith_np")
    table = _new_table(data.num_ids)  # its own table: training changes the values
    table.assign(data.ids, data.values)
    table.apply_gradients(q, grads)  # one checked step, also the warm-up
    uniq, expect = _reference_step(data)
    np.testing.assert_allclose(table.lookup(uniq), expect, rtol=1e-5, atol=1e-6)
    benchmark.pedantic(lambda: table.apply_gradients(q, grads), rounds=5, iterations=1, warmup_rounds=0)
    assert table.size == data.num_ids


def test_tf_apply_gradients(benchmark, data_cache):
    tf = _tf()
    data, q, grads = _apply_case(benchmark, data_cache, "tensorflow")
    num_ids, n = data.num_ids, q.size
    id_to_row = tf.lookup.experimental.DenseHashTable(
        tf.int64, tf.int64, default_value=-1, empty_key=EMPTY_KEY, deleted_key=DELETED_KEY,
        initial_num_buckets=_tf_buckets(num_ids + n))
    id_to_row.insert(tf.constant(data.ids), tf.range(num_ids, dtype=tf.int64))
    # Room for a batch of new ids, as our table keeps (its row store doubles).
    var = tf.Variable(np.concatenate([data.values, np.zeros((n, DIM), np.float32)]))
    acc = tf.Variable(tf.fill((num_ids + n, DIM), np.float32(INIT_ACC)))
    size = tf.Variable(np.int64(num_ids))
    lr, eps = np.float32(LR), np.float32(0.0)

    @tf.function
    def step(ids, g):
        uniq, idx = tf.unique(ids)
        grad = tf.math.unsorted_segment_sum(g, idx, tf.shape(uniq)[0])
        rows = id_to_row.lookup(uniq)
        missing = tf.where(rows < 0)
        new_ids = tf.gather_nd(uniq, missing)
        new_rows = size.read_value() + tf.range(tf.size(new_ids, out_type=tf.int64))
        id_to_row.insert(new_ids, new_rows)
        size.assign_add(tf.size(new_ids, out_type=tf.int64))
        var.scatter_update(tf.IndexedSlices(tf.random.uniform((tf.size(new_ids), DIM), -0.05, 0.05), new_rows))
        acc.scatter_update(tf.IndexedSlices(tf.fill((tf.size(new_ids), DIM), np.float32(INIT_ACC)), new_rows))
        rows = tf.tensor_scatter_nd_update(rows, missing, new_rows)
        tf.raw_ops.ResourceSparseApplyAdagradV2(var=var.handle, accum=acc.handle, lr=lr, epsilon=eps, grad=grad,
                                                indices=rows)

    q_t, g_t = tf.constant(q), tf.constant(grads)
    step(q_t, g_t)  # one checked step, also the warm-up (tracing)
    uniq, expect = _reference_step(data)
    got = tf.gather(var, id_to_row.lookup(tf.constant(uniq))).numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)
    benchmark.pedantic(lambda: step(q_t, g_t), rounds=5, iterations=1, warmup_rounds=0)
    assert int(size.numpy()) == num_ids


# --- memory ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", ["bench", "loaded"])
def test_ours_memory(benchmark, data_cache, fill):
    """Bytes per entry of the benchmark's table (load < 0.5) and of one filled to load 0.72 (1.5x the ids)."""
    num_ids, n = _sizes(benchmark)
    data = _data(data_cache, num_ids, n)
    if fill == "bench":
        table = data.ours()
        group = f"table_memory-{num_ids}"
    else:
        loaded = num_ids * 3 // 2
        ids = _unique_ids(np.random.default_rng(7), loaded)
        table = _new_table(loaded)
        for chunk in np.array_split(ids, 6):
            table.assign(chunk, np.zeros((chunk.size, DIM), np.float32))
        group = f"table_memory_loaded-{loaded}"
    _tag(benchmark, group, "monolith_np")
    benchmark.extra_info["timed"] = False  # the time is memory_bytes()'s: not a result
    benchmark.extra_info["size"] = table.size
    benchmark.extra_info["load_factor"] = table.load_factor
    benchmark.extra_info["memory_bytes"] = table.memory_bytes()
    benchmark.extra_info["bytes_per_entry"] = table.memory_bytes() / table.size
    benchmark.extra_info["raw_row_bytes"] = 2 * DIM * 4  # values + Adagrad accumulator
    benchmark.extra_info["raw_key_bytes"] = 8
    if fill == "bench":
        with contextlib.suppress(ImportError):  # khash's index alone (id -> row), for scale
            import pandas._libs.hashtable  # noqa: F401

            benchmark.extra_info["pandas_khash_index_bytes_per_entry"] = _pandas_khash(data).sizeof() / num_ids
    else:
        assert table.load_factor >= 0.5
    benchmark.pedantic(table.memory_bytes, rounds=1, iterations=1, warmup_rounds=0)
    raw = 2 * DIM * 4 + 8
    assert raw <= benchmark.extra_info["bytes_per_entry"] < 4 * raw
