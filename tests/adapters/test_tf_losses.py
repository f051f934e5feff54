"""monolith_np.tf losses: values, tape gradients, finite differences, tf.function, training."""

import inspect

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
mtf = pytest.importorskip("monolith_np.tf")

from monolith_np import losses as nl  # noqa: E402
from monolith_np.losses._specs import SPECS  # noqa: E402

pytestmark = pytest.mark.tf

# Each of these compiles its own Numba kernels (10-25 s per loss and dtype on a
# 2-core machine, the cache being fresh per run): slow tier. The fast tier still
# covers every kind of spec: two wrt arguments, (loss, pred) pairs, ranking losses.
HEAVY = {"pairwise_hinge_loss", "pairwise_logistic_loss", "pairwise_soft_zero_one_loss", "softmax_loss",
         "list_mle_loss", "approx_ndcg_loss"}
NAMES = [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in sorted(SPECS)]


def make_case(name, dtype=np.float32, seed=0):
    """``(args, kwargs)`` for loss ``name``; the differentiable arguments are numpy arrays."""
    rng = np.random.default_rng(seed)
    if name == "batch_softmax_loss":
        q, it = rng.normal(size=(5, 3)).astype(dtype), rng.normal(size=(5, 3)).astype(dtype)
        return (q, it, rng.integers(0, 6, 5).astype(dtype), rng.random(5).astype(dtype)), {}
    if name == "inbatch_auc_loss":
        return (np.array([1, 0, 1, 0, 0, 1], dtype), rng.normal(size=6).astype(dtype)), {}
    if name == "get_sigmoid_loss_and_pred":
        return ("s", rng.normal(size=6).astype(dtype), (rng.random(6) < 0.5).astype(dtype), 6), {}
    if name == "get_softmax_loss_and_pred":
        return ("s", rng.normal(size=(4, 3)).astype(dtype), np.eye(3, dtype=dtype)[[0, 2, 1, 2]], "train"), {}
    labels = rng.integers(0, 3, (3, 5)).astype(dtype)
    labels[0, 4] = -1  # a padded item
    kwargs = {"seed": 1} if name == "list_mle_loss" else {}
    return (labels, rng.normal(size=(3, 5)).astype(dtype)), kwargs


def wrt_positions(name, args):
    params = list(inspect.signature(SPECS[name].value).parameters)
    return [params.index(w) for w in SPECS[name].wrt]


def tape_value_and_grads(name, args, kwargs, upstream=1.0):
    pos = wrt_positions(name, args)
    targs = [tf.constant(a) if i in pos else a for i, a in enumerate(args)]
    with tf.GradientTape() as tape:
        for i in pos:
            tape.watch(targs[i])
        out = getattr(mtf, name)(*targs, **kwargs)
        loss = out[0] if SPECS[name].n_outputs == 2 else out
        scaled = tf.reduce_sum(loss * upstream)
    return out, tape.gradient(scaled, [targs[i] for i in pos])


def as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


@pytest.mark.parametrize("name", NAMES)
def test_value_and_gradient_equal_the_numpy_path(name):
    args, kwargs = make_case(name)
    spec = SPECS[name]
    out, grads = tape_value_and_grads(name, args, kwargs, upstream=2.0)
    expected = spec.value(*args, **kwargs)
    if spec.n_outputs == 2:
        np.testing.assert_allclose(out[0].numpy(), expected[0], rtol=1e-6)
        np.testing.assert_array_equal(out[1].numpy(), expected[1])
    else:
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    ref = as_tuple(spec.grad(*args, upstream=2.0, **kwargs))
    assert len(grads) == len(ref)
    for g, r in zip(grads, ref):
        assert g.dtype == tf.float32 and g.shape == r.shape
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_agrees_with_finite_differences_in_float64(name):
    args, kwargs = make_case(name, np.float64, seed=3)
    pos = wrt_positions(name, args)
    fn = getattr(mtf, name)

    def f(*xs):
        call = list(args)
        for i, x in zip(pos, xs):
            call[i] = x
        out = fn(*call, **kwargs)
        return out[0] if SPECS[name].n_outputs == 2 else out

    theoretical, numerical = tf.test.compute_gradient(f, [tf.constant(args[i]) for i in pos], delta=1e-6)
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_inside_tf_function_equals_eager_with_static_shapes(name):
    args, kwargs = make_case(name)
    pos = wrt_positions(name, args)
    spec = SPECS[name]
    shapes = {}

    @tf.function
    def step(*xs):
        call = list(args)
        for i, x in zip(pos, xs):
            call[i] = x
        with tf.GradientTape() as tape:
            tape.watch(list(xs))
            out = getattr(mtf, name)(*call, **kwargs)
            loss = out[0] if spec.n_outputs == 2 else out
        grads = tape.gradient(loss, list(xs))
        shapes["loss"], shapes["grads"] = loss.shape, [g.shape for g in grads]
        return loss, grads

    xs = [tf.constant(args[i]) for i in pos]
    loss, grads = step(*xs)
    eager_out, eager_grads = tape_value_and_grads(name, args, kwargs)
    eager_loss = eager_out[0] if spec.n_outputs == 2 else eager_out
    np.testing.assert_allclose(loss.numpy(), eager_loss.numpy(), rtol=1e-6)
    for g, e, x in zip(grads, eager_grads, xs):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-6, atol=1e-7)
    assert [s.as_list() for s in shapes["grads"]] == [list(x.shape) for x in xs]
    assert shapes["loss"].as_list() == list(eager_loss.shape)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_same_signature_as_the_numpy_loss(name):
    assert inspect.signature(getattr(mtf, name)) == inspect.signature(getattr(nl, name))
    assert getattr(mtf, name).__name__ == name


def test_reduction_none_takes_an_upstream_array():
    args, _ = make_case("sigmoid_cross_entropy_loss")
    n = SPECS["sigmoid_cross_entropy_loss"].value(*args, reduction="none").size  # valid items only
    up = np.arange(1.0, n + 1.0, dtype=np.float32)
    out, (g,) = tape_value_and_grads("sigmoid_cross_entropy_loss", args, {"reduction": "none"}, upstream=up)
    assert out.shape == (n,)
    ref = SPECS["sigmoid_cross_entropy_loss"].grad(*args, reduction="none", upstream=up)
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-6)


def test_prediction_has_no_gradient_and_infer_mode_has_no_loss():
    args, _ = make_case("get_sigmoid_loss_and_pred")
    logits = tf.constant(args[1])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss, pred = mtf.get_sigmoid_loss_and_pred("s", logits, args[2], 6)
        total = tf.reduce_sum(pred)
    assert tape.gradient(total, logits) is None
    loss_i, pred_i = mtf.get_sigmoid_loss_and_pred("s", logits, args[2], 6, mode="infer")
    assert loss_i is None
    np.testing.assert_allclose(pred_i.numpy(), pred.numpy())


def test_tf_variable_and_keras_optimizer_training_smoke():
    args, _ = make_case("sigmoid_cross_entropy_loss")
    labels = tf.constant((args[0] > 0).astype(np.float32))
    logits = tf.Variable(np.zeros_like(args[1]))
    opt = tf.keras.optimizers.SGD(learning_rate=20.0)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = mtf.sigmoid_cross_entropy_loss(labels, logits)
        opt.apply_gradients([(tape.gradient(loss, logits), logits)])
        return loss

    losses = [float(step()) for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0]
    # positives were pushed up and negatives down (the padded item has label -1 -> 0 here)
    s, lab = logits.numpy(), labels.numpy()
    assert (s[lab > 0] > 0).all() and (s[lab == 0] < 0).all()


def test_bad_input_errors_name_the_argument():
    args, _ = make_case("sigmoid_cross_entropy_loss")
    with pytest.raises(TypeError, match="logits"):
        mtf.sigmoid_cross_entropy_loss(args[0], tf.constant([[1, 2, 3, 4, 5]] * 3))
    with pytest.raises(ValueError):
        mtf.sigmoid_cross_entropy_loss(args[0], tf.constant(args[1][:, :4]))

    @tf.function
    def graph(x):
        return mtf.sigmoid_cross_entropy_loss(args[0], x)

    with pytest.raises(tf.errors.InvalidArgumentError, match="logits|labels"):
        graph(tf.constant(args[1][:, :4]))
