"""Model-comparison parity: HashEmbedding vs the framework's own dense embeddings (issue 6, section 4).

The idea of Monolith's ``model_comp_test.py``: 17 ragged features (batch 455,
1-24 ids per bag, fids below 100000), one zero-initialised table per feature,
dim 15, sum combiner, an MLP (64-32-1, relu) on the 17 pooled embeddings and a
squared-error loss against random 0/1 labels. The model is built twice, with
the same starting dense weights and the same batches:

* on :class:`monolith_np.torch.HashEmbedding` / :class:`monolith_np.tf.HashEmbedding`
  over one :class:`~monolith_np.table.EmbeddingHashTable` per feature (SGD,
  zeros initializer), in ``"fused"`` and ``"rows"`` mode;
* on the framework's dense embeddings: ``torch.nn.EmbeddingBag(mode="sum")``
  trained by ``torch.optim.SGD``, or a ``tf.Variable`` read with
  ``tf.nn.embedding_lookup`` + ``tf.math.segment_sum`` trained by Keras SGD.

Every step the pooled embeddings of the two models must agree; after 50 SGD
steps the table rows must equal the dense rows on every id seen (and the
tables must hold exactly the ids seen), and the two MLPs' weights must agree.
Unlike the original (Adagrad for both), the optimizer is plain SGD, and the
loss is the mean over the batch (the embedding rate is large to make the
tables move far from zero), and the Keras biases start random: with zero
biases and zero embeddings every relu input is exactly 0, relu'(0) = 0 in
TensorFlow, and no gradient would ever reach an embedding (zeros would be
compared with zeros). The tf variant's dense reference runs as a
``tf.function`` for speed; a third tf variant compiles the HashEmbedding
side too (20 steps). The remaining differences are float32 summation
order only (ragged sum vs ``EmbeddingBag``/``segment_sum``, the table's
per-id dedup sum vs the framework's gradient accumulation).
"""

import copy

import numpy as np
import pytest

from monolith_np.entry import ZerosInitializer
from monolith_np.optim import SgdOptimizer
from monolith_np.table import EmbeddingHashTable

NUM_FEATURES = 17
BATCH = 455
DIM = 15
FID_MAX = 100000
MAX_LEN = 24
STEPS = 50
MLP_LR = 0.05
EMB_LR = 20.0          # the batch-mean loss gives per-row gradients of order 1e-3
# float32 tolerances; achieved maxima (printed with -s): pooled 5e-8 abs, tables 1e-8 abs, MLP 5e-6 rel.
POOLED_TOL = dict(rtol=1e-5, atol=1e-6)
TABLE_TOL = dict(rtol=1e-5, atol=1e-7)
MLP_TOL = dict(rtol=5e-5, atol=1e-6)


def _batches(steps, seed=0):
    """``steps`` batches: per feature ``(values int64, row_splits int64)``, and ``(B,)`` float32 labels."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        feats = []
        for _ in range(NUM_FEATURES):
            lengths = rng.integers(1, MAX_LEN + 1, size=BATCH)
            splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            feats.append((rng.integers(0, FID_MAX, size=int(splits[-1]), dtype=np.int64), splits))
        out.append((feats, rng.integers(0, 2, size=BATCH).astype(np.float32)))
    return out


@pytest.fixture(scope="module")
def batches():
    return _batches(STEPS)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Run the table kernels and torch on one thread each (restored afterwards).

    The batches are small (about 5700 ids per feature). On the shared 2-core
    test machine the threaded paths (numba's partition in
    ``apply_gradients``, torch's intra-op pool) oversubscribed the cores and
    made the file several times slower than serial execution. TensorFlow's
    threads are left alone: numba's thread count is per thread, and pinning
    TensorFlow's pools made the ``tf.py_function`` bodies of the
    ``tf.function`` variant run in executor threads still using every core.
    """
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    torch = _maybe_import("torch")
    torch_before = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(1)
    yield
    numba.set_num_threads(before)
    if torch:
        torch.set_num_threads(torch_before)


def _maybe_import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def _tables():
    return [EmbeddingHashTable([(DIM, ZerosInitializer(), SgdOptimizer(learning_rate=EMB_LR))])
            for _ in range(NUM_FEATURES)]


def _seen(batches, steps=STEPS):
    return [np.unique(np.concatenate([b[0][f][0] for b in batches[:steps]])) for f in range(NUM_FEATURES)]


def _max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)))


def _check_tables(tables, dense_rows, seen):
    """Tables hold exactly the seen ids; their rows equal the dense rows there. Returns the max abs diff."""
    worst, scale = 0.0, 0.0
    for f, (table, ids) in enumerate(zip(tables, seen)):
        assert table.size == ids.size, f"feature {f}: table has {table.size} ids, {ids.size} were seen"
        assert table.contains(ids).all()
        got, want = table.lookup(ids), dense_rows[f](ids)
        np.testing.assert_allclose(got, want, err_msg=f"feature {f}", **TABLE_TOL)
        worst = max(worst, float(np.max(np.abs(got - want))))
        scale = max(scale, float(np.max(np.abs(want))))
    # The rows must have moved far from the zeros initializer, or the comparison proves nothing.
    assert scale > 2e-3, scale
    return worst, scale


# -- torch ------------------------------------------------------------------------------------


def _torch_mlp(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(NUM_FEATURES * DIM, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["fused", "rows"])
def test_torch_hash_embedding_matches_embedding_bag(batches, mode):
    torch = pytest.importorskip("torch")
    import monolith_np.torch as mt

    mlp_ref = _torch_mlp(torch)
    mlp = copy.deepcopy(mlp_ref)
    tables = _tables()
    embs = [mt.HashEmbedding(t, combiner="sum", mode=mode) for t in tables]
    bags = [torch.nn.EmbeddingBag(FID_MAX + 1, DIM, mode="sum", sparse=True) for _ in range(NUM_FEATURES)]
    for bag in bags:
        torch.nn.init.zeros_(bag.weight)
    opt_ref = torch.optim.SGD([{"params": mlp_ref.parameters(), "lr": MLP_LR},
                               {"params": [b.weight for b in bags], "lr": EMB_LR}])
    opt = torch.optim.SGD(mlp.parameters(), lr=MLP_LR)

    pooled_worst = 0.0
    for step, (feats, labels) in enumerate(batches):
        y = torch.from_numpy(labels)[:, None]
        pooled, pooled_ref = [], []
        for f, (values, splits) in enumerate(feats):
            v, o = torch.from_numpy(values), torch.from_numpy(splits[:-1])
            embs[f].global_step = step
            pooled.append(embs[f](v, o))
            pooled_ref.append(bags[f](v, o))
        x, x_ref = torch.cat(pooled, 1), torch.cat(pooled_ref, 1)
        torch.testing.assert_close(x, x_ref, **POOLED_TOL, msg=lambda m: f"step {step}: {m}")
        pooled_worst = max(pooled_worst, float((x - x_ref).detach().abs().max()))
        for model, inp, o in ((mlp, x, opt), (mlp_ref, x_ref, opt_ref)):
            o.zero_grad()
            torch.nn.functional.mse_loss(model(inp), y).backward()
            o.step()
        if mode == "rows":
            assert all(e.pending_gradients for e in embs)
            for e in embs:
                e.apply_gradients(global_step=step)
                assert not e.pending_gradients
        else:
            assert not any(e.pending_gradients for e in embs)

    seen = _seen(batches)
    dense = [lambda ids, w=b.weight: w.detach()[torch.from_numpy(ids)].numpy() for b in bags]
    table_worst, scale = _check_tables(tables, dense, seen)
    for p, q in zip(mlp.parameters(), mlp_ref.parameters()):
        torch.testing.assert_close(p, q, **MLP_TOL)
    mlp_rel = max(_max_rel(p.detach(), q.detach()) for p, q in zip(mlp.parameters(), mlp_ref.parameters()))
    print(f"\ntorch {mode}: pooled max|diff| {pooled_worst:.2e}, table max|diff| {table_worst:.2e} "
          f"(rows up to {scale:.3f}), MLP max rel diff {mlp_rel:.2e}")


# -- TensorFlow -------------------------------------------------------------------------------


def _tf_models(tf):
    # Keras' zero biases would leave every relu at exactly 0 on the zero-initialised embeddings
    # (relu'(0) = 0 in TensorFlow): no gradient would ever reach the tables (nor the dense rows).
    bias = tf.keras.initializers.RandomUniform(-0.1, 0.1, seed=1)

    def build():
        model = tf.keras.Sequential([tf.keras.Input((NUM_FEATURES * DIM,)),
                                     tf.keras.layers.Dense(64, activation="relu", bias_initializer=bias),
                                     tf.keras.layers.Dense(32, activation="relu", bias_initializer=bias),
                                     tf.keras.layers.Dense(1, bias_initializer=bias)])
        return model

    tf.keras.utils.set_random_seed(0)
    ref, hashed = build(), build()
    hashed.set_weights(ref.get_weights())
    return hashed, ref


def _tf_run(tf, batches, mode, compiled):
    import monolith_np.tf as mtf

    mlp, mlp_ref = _tf_models(tf)
    tables = _tables()
    embs = [mtf.HashEmbedding(t, combiner="sum", mode=mode) for t in tables]
    dense = [tf.Variable(tf.zeros((FID_MAX + 1, DIM))) for _ in range(NUM_FEATURES)]
    opt = tf.keras.optimizers.SGD(MLP_LR)
    opt_ref = tf.keras.optimizers.SGD(MLP_LR)
    opt_emb = tf.keras.optimizers.SGD(EMB_LR)
    triggers = [e.trigger for e in embs]

    def hash_step(values, splits, labels):
        with tf.GradientTape() as tape:
            x = tf.concat([e(v, training=True, row_splits=s) for e, v, s in zip(embs, values, splits)], 1)
            loss = tf.reduce_mean(tf.square(mlp(x) - labels[:, None]))
        grads = tape.gradient(loss, mlp.trainable_variables + triggers)     # fused: tables updated here
        opt.apply_gradients(zip(grads[:len(mlp.trainable_variables)], mlp.trainable_variables))
        return x

    def dense_step(values, splits, labels):
        with tf.GradientTape() as tape:
            x = tf.concat([tf.math.segment_sum(tf.nn.embedding_lookup(w, v),
                                               tf.RaggedTensor.from_row_splits(v, s).value_rowids())
                           for w, v, s in zip(dense, values, splits)], 1)
            loss = tf.reduce_mean(tf.square(mlp_ref(x) - labels[:, None]))
        grads = tape.gradient(loss, mlp_ref.trainable_variables + dense)  # IndexedSlices for the tables
        opt_ref.apply_gradients(zip(grads[:len(mlp_ref.trainable_variables)], mlp_ref.trainable_variables))
        opt_emb.apply_gradients(zip(grads[len(mlp_ref.trainable_variables):], dense))
        return x

    # The dense reference always runs as a tf.function (eagerly it was most of the file's time).
    spec = [tf.TensorSpec([None], tf.int64)] * NUM_FEATURES
    signature = [spec, spec, tf.TensorSpec([BATCH], tf.float32)]
    dense_step = tf.function(dense_step, input_signature=signature)
    if compiled:
        hash_step = tf.function(hash_step, input_signature=signature)

    pooled_worst = 0.0
    for step, (feats, labels) in enumerate(batches):
        for e in embs:
            e.global_step = step
        values = [tf.constant(v) for v, _ in feats]
        splits = [tf.constant(s) for _, s in feats]
        x = hash_step(values, splits, tf.constant(labels))
        x_ref = dense_step(values, splits, tf.constant(labels))
        np.testing.assert_allclose(x.numpy(), x_ref.numpy(), err_msg=f"step {step}", **POOLED_TOL)
        pooled_worst = max(pooled_worst, float(np.max(np.abs(x.numpy() - x_ref.numpy()))))
        if mode == "rows":
            for e in embs:
                assert e.pending_gradients
                e.apply_gradients(global_step=step)
                assert not e.pending_gradients
        else:
            assert not any(e.pending_gradients for e in embs)
    assert all(float(t.numpy()) == 0.0 for t in triggers)

    seen = _seen(batches, len(batches))
    rows = [lambda ids, w=w: tf.gather(w, ids).numpy() for w in dense]
    table_worst, scale = _check_tables(tables, rows, seen)
    for p, q in zip(mlp.trainable_variables, mlp_ref.trainable_variables):
        np.testing.assert_allclose(p.numpy(), q.numpy(), **MLP_TOL)
    mlp_rel = max(_max_rel(p.numpy(), q.numpy())
                  for p, q in zip(mlp.trainable_variables, mlp_ref.trainable_variables))
    print(f"\ntf {mode} {'tf.function' if compiled else 'eager'}: pooled max|diff| {pooled_worst:.2e}, "
          f"table max|diff| {table_worst:.2e} (rows up to {scale:.3f}), MLP max rel diff {mlp_rel:.2e}")


@pytest.mark.tf
@pytest.mark.parametrize("mode", ["fused", "rows"])
def test_tf_hash_embedding_matches_embedding_lookup(batches, mode):
    tf = pytest.importorskip("tensorflow")
    _tf_run(tf, batches, mode, compiled=False)


@pytest.mark.tf
def test_tf_hash_embedding_matches_embedding_lookup_in_tf_function(batches):
    tf = pytest.importorskip("tensorflow")
    _tf_run(tf, batches[:20], "fused", compiled=True)
