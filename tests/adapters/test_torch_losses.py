"""monolith_np.torch losses: autograd ops equal to the numpy path, gradcheck, training, errors."""

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import monolith_np.losses as nl  # noqa: E402
import monolith_np.torch as mt  # noqa: E402
from monolith_np.losses._specs import SPECS  # noqa: E402
from monolith_np.losses.ranking import Reduction  # noqa: E402

pytestmark = pytest.mark.torch

RANKING = ["pairwise_hinge_loss", "pairwise_logistic_loss", "pairwise_soft_zero_one_loss", "softmax_loss",
           "sigmoid_cross_entropy_loss", "mean_squared_loss", "list_mle_loss", "approx_ndcg_loss"]


# Kernels whose first (numba) compile takes ~10 s each: their float64 cases are `slow`.
HEAVY = {"pairwise_hinge_loss", "pairwise_logistic_loss", "pairwise_soft_zero_one_loss", "list_mle_loss",
         "approx_ndcg_loss"}


def _cases(dtype):
    return [pytest.param(n, dtype, marks=[pytest.mark.slow] if n in HEAVY else []) for n in RANKING]


def _seed_kw(name):
    return {"seed": 5} if name == "list_mle_loss" else {}


def _ranking_data(dtype, b=3, length=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, (b, length)).astype(np.float32)
    labels[0, -1] = -1.0  # an invalid item
    logits = rng.normal(size=(b, length)).astype(dtype)
    return labels, logits


def test_every_spec_is_exposed_with_the_numpy_signature():
    assert sorted(SPECS) == sorted(mt.losses.__all__)
    for name, spec in SPECS.items():
        fn = getattr(mt, name)
        assert inspect.signature(fn) == inspect.signature(spec.value), name
        assert f"monolith_np.losses.{name}" in fn.__doc__


# float64 shares the kernels compiled for gradcheck (each dtype costs a compile);
# float32 (the default) once here; the numpy tests cover each kernel in float32.
@pytest.mark.parametrize("name, dtype", _cases(np.float64) + [("mean_squared_loss", np.float32)])
@pytest.mark.parametrize("reduction", [Reduction.SUM_BY_NONZERO_WEIGHTS, Reduction.NONE])
def test_ranking_equal_numpy_exactly(name, dtype, reduction):
    labels, logits = _ranking_data(dtype)
    kw = dict(reduction=reduction, **_seed_kw(name))
    x = torch.tensor(logits, requires_grad=True)
    loss = getattr(mt, name)(torch.tensor(labels), x, **kw)
    ref = getattr(nl, name)(labels, logits, **kw)
    assert loss.dtype == x.dtype
    np.testing.assert_array_equal(loss.detach().numpy(), ref)
    up = np.random.default_rng(1).normal(size=ref.shape).astype(dtype)
    loss.backward(torch.tensor(up))
    ref_grad = getattr(nl, name + "_grad")(labels, logits, upstream=up if up.ndim else float(up), **kw)
    np.testing.assert_array_equal(x.grad.numpy(), ref_grad)


@pytest.mark.parametrize("name, dtype", _cases(np.float64))
@pytest.mark.parametrize("reduction", [Reduction.MEAN, Reduction.NONE])
def test_ranking_gradcheck_float64(name, dtype, reduction):
    labels, logits = _ranking_data(np.float64, b=2, length=3, seed=2)
    lab = torch.tensor(labels)
    fn = getattr(mt, name)
    assert torch.autograd.gradcheck(lambda x: fn(lab, x, reduction=reduction, **_seed_kw(name)),
                                    (torch.tensor(logits, requires_grad=True),))


@pytest.mark.slow
def test_ranking_with_weights_and_lambda_weight_gradcheck():
    labels, logits = _ranking_data(np.float64, b=2, length=4, seed=3)
    w = torch.tensor([[2.0], [0.5]], dtype=torch.float64)
    lw = nl.create_ndcg_lambda_weight(topn=3)
    assert torch.autograd.gradcheck(
        lambda x: mt.pairwise_logistic_loss(torch.tensor(labels), x, weights=w, lambda_weight=lw),
        (torch.tensor(logits, requires_grad=True),))


def test_batch_softmax_equal_numpy_and_gradcheck():
    rng = np.random.default_rng(0)
    q, it = rng.normal(size=(2, 4, 3)).astype(np.float32)
    interval = np.array([1.0, 3.0, 0.0, 7.0], np.float32)
    r = np.array([1.0, 0.5, 2.0, 1.0], np.float32)
    tq, ti = torch.tensor(q, requires_grad=True), torch.tensor(it, requires_grad=True)
    loss = mt.batch_softmax_loss(tq, ti, torch.tensor(interval), torch.tensor(r), temperature=0.5)
    np.testing.assert_array_equal(loss.detach().numpy(), nl.batch_softmax_loss(q, it, interval, r, temperature=0.5))
    (3.0 * loss).backward()
    dq, di = nl.batch_softmax_loss_grad(q, it, interval, r, temperature=0.5, upstream=3.0)
    np.testing.assert_array_equal(tq.grad.numpy(), dq)
    np.testing.assert_array_equal(ti.grad.numpy(), di)
    q64 = torch.tensor(q, dtype=torch.float64, requires_grad=True)
    i64 = torch.tensor(it, dtype=torch.float64, requires_grad=True)
    for normalize in (True, False):
        assert torch.autograd.gradcheck(
            lambda a, b: mt.batch_softmax_loss(a, b, interval, 2.0, normalize=normalize, temperature=0.7), (q64, i64))


def test_batch_softmax_gradient_to_one_input_only():
    q = torch.randn(3, 2, requires_grad=True)
    it = torch.randn(3, 2)
    mt.batch_softmax_loss(q, it, torch.ones(3), 1.0).backward()
    assert q.grad is not None and it.grad is None


def test_inbatch_auc_equal_numpy_and_gradcheck():
    label = np.array([1, 0, 1, 0, 0, 1], np.float32)
    logit = np.random.default_rng(4).normal(size=6).astype(np.float32)
    x = torch.tensor(logit, requires_grad=True)
    loss = mt.inbatch_auc_loss(torch.tensor(label), x, neg_weight=0.5)
    np.testing.assert_array_equal(loss.detach().numpy(), nl.inbatch_auc_loss(label, logit, neg_weight=0.5))
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), nl.inbatch_auc_loss_grad(label, logit, neg_weight=0.5))
    # neg_weight scales only the negatives' gradient (as the original op does), so the
    # analytic gradient is the true one only for neg_weight = 1.
    assert torch.autograd.gradcheck(lambda a: mt.inbatch_auc_loss(torch.tensor(label), a, 1.0),
                                    (torch.tensor(logit, dtype=torch.float64, requires_grad=True),))


def test_sigmoid_loss_and_pred():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=5).astype(np.float32)
    label = np.array([0, 1, 1, 0, 1], np.float32)
    kw = dict(sample_rate=0.5, instance_weight=np.arange(1, 6, dtype=np.float32), logit_clip_threshold=0.01)
    x = torch.tensor(logits, requires_grad=True)
    loss, pred = mt.get_sigmoid_loss_and_pred("ctr", x, torch.tensor(label), 5, **kw)
    ref_loss, ref_pred = nl.get_sigmoid_loss_and_pred("ctr", logits, label, 5, **kw)
    np.testing.assert_array_equal(loss.detach().numpy(), ref_loss)
    np.testing.assert_array_equal(pred.numpy(), ref_pred)
    assert loss.requires_grad and not pred.requires_grad
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), nl.get_sigmoid_loss_and_pred_grad("ctr", logits, label, 5, **kw))
    x64 = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a: mt.get_sigmoid_loss_and_pred("ctr", a, label, 5, sample_bias=True, sample_rate=0.3)[0], (x64,))


def test_sigmoid_predict_mode_has_no_loss():
    x = torch.randn(3, requires_grad=True)
    loss, pred = mt.get_sigmoid_loss_and_pred("ctr", x, None, 3, mode="infer")
    assert loss is None and pred.shape == (3,)


def test_softmax_loss_and_pred_unreduced_with_tensor_upstream():
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(4, 3))
    label = np.eye(3)[[0, 2, 1, 1]]
    x = torch.tensor(logits, requires_grad=True)
    loss, pred = mt.get_softmax_loss_and_pred("cls", x, torch.tensor(label), "train")
    assert loss.shape == (4,) and pred.dtype == torch.int64 and not pred.requires_grad
    up = rng.normal(size=4)
    loss.backward(torch.tensor(up))
    np.testing.assert_array_equal(x.grad.numpy(),
                                  nl.get_softmax_loss_and_pred_grad("cls", logits, label, "train", upstream=up))
    assert torch.autograd.gradcheck(lambda a: mt.get_softmax_loss_and_pred("cls", a, label, "train")[0],
                                    (torch.tensor(logits, requires_grad=True),))


@pytest.mark.slow
def test_unreduced_loss_with_expanded_upstream():
    labels, logits = _ranking_data(np.float32)
    x = torch.tensor(logits, requires_grad=True)
    loss = mt.pairwise_hinge_loss(torch.tensor(labels), x, reduction=Reduction.NONE)
    loss.sum().backward()  # upstream is an expanded (stride-0) tensor of ones
    ref = nl.pairwise_hinge_loss_grad(labels, logits, reduction=Reduction.NONE, upstream=np.ones(loss.shape, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), ref)


@pytest.mark.slow
def test_list_mle_without_seed_is_consistent_between_forward_and_backward():
    labels, logits = _ranking_data(np.float64, b=1, length=5, seed=7)
    labels[:] = np.arange(5)  # no ties: the shuffle does not matter for the value...
    x = torch.tensor(logits, requires_grad=True)
    loss = mt.list_mle_loss(torch.tensor(labels), x)
    loss.backward()
    # ...so the gradient must equal the seeded one.
    np.testing.assert_allclose(x.grad.numpy(), nl.list_mle_loss_grad(labels, logits, seed=1), rtol=1e-12)


def test_training_loop_smoke():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.randn(64, 5)
    y = (x[:, 0] > 0).float()
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss, _ = mt.get_sigmoid_loss_and_pred("ctr", model(x).reshape(-1), y, 64)
        loss = loss / 64
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_errors_propagate_as_library_errors():
    x = torch.randn(2, 3, dtype=torch.float16, requires_grad=True)
    with pytest.raises(TypeError, match="logits"):
        mt.softmax_loss(torch.ones(2, 3), x)
    with pytest.raises(ValueError, match="labels must have the shape"):
        mt.softmax_loss(torch.ones(2, 4), torch.randn(2, 3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        mt.mean_squared_loss(torch.ones(2, 3), torch.randn(2, 3), reduction="avg")
    with pytest.raises(ValueError, match="temperature should be positive"):
        mt.batch_softmax_loss(torch.randn(2, 2), torch.randn(2, 2), torch.ones(2), 1.0, temperature=0.0)
    with pytest.raises(TypeError, match="logits must be a torch.Tensor"):
        mt.softmax_loss(torch.ones(2, 3), np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="missing a required argument"):
        mt.batch_softmax_loss(torch.randn(2, 2))
