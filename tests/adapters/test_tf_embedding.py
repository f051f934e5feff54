"""monolith_np.tf.HashEmbedding against a dense tf.Variable reference (eager and tf.function)."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
mtf = pytest.importorskip("monolith_np.tf")

from monolith_np.entry import RandomUniformInitializer  # noqa: E402
from monolith_np.optim import SgdOptimizer  # noqa: E402
from monolith_np.table import EmbeddingHashTable  # noqa: E402

pytestmark = pytest.mark.tf

DIM, LR = 4, 0.1
IDS = np.array([5, -2, 5, 2**40, 7, 5], np.int64)  # duplicates on purpose
SPLITS = np.array([0, 3, 3, 6], np.int64)  # one empty list
COMBINERS = [None, "sum", "mean", ("first_n", 2)]


def make_table():
    return EmbeddingHashTable([(DIM, RandomUniformInitializer(-0.5, 0.5, seed=3), SgdOptimizer(learning_rate=LR))])


def dense_reference(table, ids):
    """A tf.Variable holding the table's rows of the distinct ids, and each id's index in it."""
    uniq, index = np.unique(ids, return_inverse=True)
    table.insert(uniq)
    return tf.Variable(table.lookup(uniq)), uniq, tf.constant(index.reshape(ids.shape), tf.int64)


def reference_forward(var, index, combiner):
    rows = tf.nn.embedding_lookup(var, index)
    if combiner is None:
        return rows
    seg = tf.ragged.row_splits_to_segment_ids(tf.constant(SPLITS))
    if combiner == "sum":
        return tf.math.unsorted_segment_sum(rows, seg, len(SPLITS) - 1)
    if combiner == "mean":  # the library's (and Monolith's) mean of an empty list is NaN, not 0
        count = tf.math.unsorted_segment_sum(tf.ones_like(rows[:, :1]), seg, len(SPLITS) - 1)
        return tf.math.unsorted_segment_sum(rows, seg, len(SPLITS) - 1) / count
    return tf.RaggedTensor.from_row_splits(rows, SPLITS).to_tensor(shape=[len(SPLITS) - 1, combiner[1], DIM])


def upstream(shape):
    return tf.constant(np.random.default_rng(1).normal(size=shape).astype(np.float32))


def layer_call(layer, combiner, training=True):
    if combiner is None:
        return layer(tf.constant(IDS), training=training)
    return layer(tf.RaggedTensor.from_row_splits(tf.constant(IDS), tf.constant(SPLITS)), training=training)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf_function"])
@pytest.mark.parametrize("combiner", COMBINERS, ids=str)
def test_forward_and_gradient_rows_match_the_dense_reference(combiner, graph):
    table = make_table()
    var, uniq, index = dense_reference(table, IDS)
    layer = mtf.HashEmbedding(table, combiner=combiner, mode="rows")
    ref_out = reference_forward(var, index, combiner)
    dy = upstream(ref_out.shape)

    def step():
        with tf.GradientTape() as tape:
            out = layer_call(layer, combiner)
            loss = tf.reduce_sum(out * dy)
        return out, tape.gradient(loss, layer.trainable_variables)

    out, trigger_grad = (tf.function(step) if graph else step)()
    np.testing.assert_allclose(out.numpy(), ref_out.numpy(), rtol=1e-6, atol=1e-7)
    assert float(trigger_grad[0]) == 0.0
    with tf.GradientTape() as tape:
        ref_loss = tf.reduce_sum(reference_forward(var, index, combiner) * dy)
    ref_grad = tf.convert_to_tensor(tape.gradient(ref_loss, var)).numpy()  # IndexedSlices summed per id
    (ids, rows), = layer.pending_gradients
    np.testing.assert_array_equal(ids, IDS)
    got = np.zeros_like(ref_grad)
    np.add.at(got, np.searchsorted(uniq, ids), rows)
    np.testing.assert_allclose(got, ref_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf_function"])
@pytest.mark.parametrize("combiner", [None, "sum"], ids=str)
def test_fused_sgd_over_several_steps_equals_dense_sgd(combiner, graph):
    table = make_table()
    var, uniq, index = dense_reference(table, IDS)
    layer = mtf.HashEmbedding(table, combiner=combiner)
    opt = tf.keras.optimizers.SGD(learning_rate=LR)
    target = upstream(reference_forward(var, index, combiner).shape)

    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((layer_call(layer, combiner) - target) ** 2)
        tape.gradient(loss, layer.trainable_variables)  # runs table.apply_gradients
        return loss

    def ref_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((reference_forward(var, index, combiner) - target) ** 2)
        opt.apply_gradients([(tape.gradient(loss, var), var)])
        return loss

    run = tf.function(step) if graph else step
    for k in range(4):
        layer.global_step = k
        np.testing.assert_allclose(float(run()), float(ref_step()), rtol=1e-5)
    np.testing.assert_allclose(table.lookup(uniq), var.numpy(), rtol=1e-5, atol=1e-6)


def test_rows_mode_apply_gradients_equals_fused():
    fused_table, rows_table = make_table(), make_table()
    fused, rows = mtf.HashEmbedding(fused_table), mtf.HashEmbedding(rows_table, mode="rows")
    for layer in (fused, rows):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(tf.constant(IDS), training=True) ** 2)
        tape.gradient(loss, layer.trainable_variables)
    assert len(rows.pending_gradients) == 1
    assert rows.apply_gradients(global_step=0, update_time=0) == IDS.size
    assert rows.pending_gradients == [] and rows.apply_gradients() == 0
    np.testing.assert_allclose(rows_table.lookup(IDS), fused_table.lookup(IDS), rtol=1e-6)


def test_training_false_inserts_nothing_and_reads_zeros():
    table = make_table()
    table.insert(np.array([5], np.int64))
    layer = mtf.HashEmbedding(table)
    out = layer(tf.constant([[5, 9], [11, 5]], tf.int64), training=False).numpy()
    assert out.shape == (2, 2, DIM) and len(table) == 1
    np.testing.assert_array_equal(out[0, 1], 0)
    np.testing.assert_array_equal(out[0, 0], table.lookup(np.array([5]))[0])
    layer(tf.constant([9, 11], tf.int32), training=True)  # int32 ids accepted
    assert len(table) == 3


def test_values_with_row_splits_and_ragged_output():
    table = make_table()
    layer = mtf.HashEmbedding(table, combiner="sum")
    a = layer(tf.constant(IDS), row_splits=tf.constant(SPLITS), training=True)
    b = layer(tf.RaggedTensor.from_row_splits(tf.constant(IDS), tf.constant(SPLITS)))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    ragged = mtf.HashEmbedding(table)(tf.RaggedTensor.from_row_splits(tf.constant(IDS), tf.constant(SPLITS)))
    assert isinstance(ragged, tf.RaggedTensor)
    np.testing.assert_array_equal(ragged.values.numpy(), table.lookup(IDS))


def test_bad_arguments():
    table = make_table()
    with pytest.raises(TypeError, match="table"):
        mtf.HashEmbedding(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="combiner"):
        mtf.HashEmbedding(table, combiner="max")
    with pytest.raises(ValueError, match="combiner"):
        mtf.HashEmbedding(table, combiner=("first_n", 0))
    with pytest.raises(ValueError, match="mode"):
        mtf.HashEmbedding(table, mode="lazy")
    with pytest.raises(TypeError, match="ids"):
        mtf.HashEmbedding(table)(tf.constant([1.0]))
    with pytest.raises(ValueError, match="ragged"):
        mtf.HashEmbedding(table, combiner="sum")(tf.constant(IDS))
    with pytest.raises(ValueError, match="combiner"):
        mtf.HashEmbedding(table)(tf.constant(IDS), row_splits=tf.constant(SPLITS))


def test_bad_row_splits_insert_nothing():
    table = EmbeddingHashTable([(DIM, RandomUniformInitializer(seed=3), SgdOptimizer(learning_rate=LR))])
    layer = mtf.HashEmbedding(table, combiner="sum")
    ids = tf.constant([1, 2, 3], tf.int64)
    for splits, match in (([0, 2, 1, 3], "row_splits must be non-decreasing"), ([0, 2], "row_splits must end at"),
                          ([1, 3], "row_splits must start at 0")):
        with pytest.raises(ValueError, match=match):
            layer(ids, training=True, row_splits=tf.constant(splits, tf.int64))
    assert len(table) == 0
