"""monolith_np.torch optimizers and MonolithLR against the numpy optimizers and schedules."""

import copy
import doctest

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import monolith_np.torch as mt  # noqa: E402
from monolith_np import schedules  # noqa: E402
from monolith_np.optim.dense import AdamomOptimizer, RmspropOptimizer  # noqa: E402
from monolith_np.torch import optim as optim_mod  # noqa: E402

pytestmark = pytest.mark.torch

CASES = [
    (mt.Adamom, AdamomOptimizer, dict(learning_rate=0.1, ada_decay=0.99, mom_decay=0.9, weight_decay=0.01)),
    (mt.Adamom, AdamomOptimizer, dict(learning_rate=0.05, use_v2=True, epsilon=1e-4)),
    (mt.Rmsprop, RmspropOptimizer, dict(learning_rate=0.1, beta1=0.9, beta2=0.9, epsilon=0.1, weight_decay=1.0)),
    (mt.Rmsprop, RmspropOptimizer, dict(learning_rate=0.01, use_v2=True)),
]


@pytest.mark.parametrize("torch_cls, np_cls, hyper", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_n_steps_equal_numpy(torch_cls, np_cls, hyper, dtype):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 5))
    grads = rng.normal(size=(6, 3, 5))
    p = torch.nn.Parameter(torch.tensor(w0, dtype=dtype))
    opt = torch_cls([p], **hyper)
    ref_opt = np_cls(**hyper)
    ref = w0.astype(p.detach().numpy().dtype)
    state = ref_opt.init_state(ref)
    for step, g in enumerate(grads):
        p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        ref_opt.apply(ref, g.astype(ref.dtype), state, global_step=step)
        np.testing.assert_array_equal(p.detach().numpy(), ref)
    for name in ref_opt.get_slot_names():
        np.testing.assert_array_equal(opt.state[p][name].numpy(), state[name])
    assert opt.state[p]["step"] == len(grads)


def test_update_is_in_place_without_copies():
    p = torch.nn.Parameter(torch.ones(4))
    ptr = p.data_ptr()
    opt = mt.Adamom([p], learning_rate=0.1)
    p.grad = torch.ones(4)
    opt.step()
    assert p.data_ptr() == ptr and p.detach().lt(1).all()


def test_non_contiguous_parameter_and_groups_and_closure():
    base = torch.zeros(4, 3)
    p = torch.nn.Parameter(base.T)          # non-contiguous view
    q = torch.nn.Parameter(torch.zeros(2))
    opt = mt.Rmsprop([{"params": [p]}, {"params": [q], "learning_rate": 0.0, "lr": 0.0}], learning_rate=0.1)
    p.grad = torch.ones_like(p)
    q.grad = torch.ones(2)
    assert opt.step(closure=lambda: 7.0) == 7.0
    assert p.detach().lt(0).all() and q.detach().eq(0).all()
    assert p.grad is not None and opt.param_groups[1]["beta1"] == 0.99


def test_params_without_grad_are_skipped():
    p = torch.nn.Parameter(torch.ones(2))
    opt = mt.Adamom([p])
    opt.step()
    assert p.detach().eq(1).all() and not opt.state[p]


def test_state_dict_round_trip():
    p = torch.nn.Parameter(torch.ones(3))
    opt = mt.Adamom([p], learning_rate=0.1)
    p.grad = torch.ones(3)
    opt.step()
    p2 = torch.nn.Parameter(p.detach().clone())
    opt2 = mt.Adamom([p2], learning_rate=0.1)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as if loaded from disk (no aliasing)
    p.grad = p2.grad = torch.full((3,), 0.5)
    opt.step()
    opt2.step()
    torch.testing.assert_close(p, p2, rtol=0, atol=0)


def test_errors():
    p = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="learning_rate"):
        mt.Adamom([p], learning_rate=-1.0)
    with pytest.raises(ValueError, match="ada_decay"):
        mt.Adamom([p], ada_decay=1.5)
    with pytest.raises(TypeError, match="MonolithLR"):
        mt.Rmsprop([p], learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5))
    h = torch.nn.Parameter(torch.ones(2, dtype=torch.float16))
    h.grad = torch.ones(2, dtype=torch.float16)
    with pytest.raises(TypeError, match="float32 or float64"):
        mt.Adamom([h]).step()
    with pytest.raises(TypeError, match="schedule must be"):
        mt.MonolithLR(mt.Adamom([p]), 0.1)


@pytest.mark.parametrize("schedule", [
    schedules.PolynomialDecay(initial_learning_rate=0.1, decay_steps=5, end_learning_rate=0.01),
    schedules.ExponentialDecay(0.1, 3, 0.5, staircase=True),
    schedules.CosineDecay(0.2, 8, alpha=0.1),
])
def test_monolith_lr_follows_the_schedule(schedule):
    p = torch.nn.Parameter(torch.ones(2))
    opt = mt.Adamom([p], learning_rate=1.0)
    sched = mt.MonolithLR(opt, schedule)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
    np.testing.assert_array_equal(np.float32(seen), [schedule(t) for t in range(10)])
    assert sched.get_last_lr() == [float(schedule(10))]


def test_monolith_lr_drives_a_torch_optimizer_and_matches_numpy_schedule_steps():
    schedule = schedules.PolynomialDecay(initial_learning_rate=0.1, decay_steps=4, end_learning_rate=0.0)
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([p], lr=0.0)
    sched = mt.MonolithLR(opt, schedule)
    ref = 1.0
    for t in range(6):
        p.grad = torch.tensor([1.0])
        opt.step()
        sched.step()
        ref -= float(schedule(t))
    assert abs(p.item() - ref) < 1e-6


def test_module_doctests():
    assert doctest.testmod(optim_mod, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
