"""Monolith's dense optimizers and learning-rate schedules for ``torch.optim``.

:class:`Adamom` and :class:`Rmsprop` are ``torch.optim.Optimizer`` subclasses
whose step runs the kernels of :mod:`monolith_np.optim.dense` on zero-copy
array views of each parameter, its gradient and its slots (so a CPU float32
parameter is updated in place, without a copy). :class:`MonolithLR` drives a
param group's ``lr`` from any :mod:`monolith_np.schedules` object.
"""

from __future__ import annotations

import torch

from .._checks import check_number
from ..optim.dense import AdamomOptimizer, RmspropOptimizer
from ._convert import to_array, torch_stream

__all__ = ["Adamom", "Rmsprop", "MonolithLR"]


class _DenseTorchOptimizer(torch.optim.Optimizer):
    """Shared step: one numpy optimizer per param group, slots kept as tensors in ``state``."""

    _numpy_class = None
    _hyper_names = ()

    def __init__(self, params, learning_rate, **hyper):
        if callable(learning_rate):
            raise TypeError("learning_rate must be a number; drive a schedule with "
                            "monolith_np.torch.MonolithLR(optimizer, schedule)")
        learning_rate = check_number("learning_rate", learning_rate, low=0.0)
        self._numpy_class(learning_rate=learning_rate, **hyper)  # validates the hyperparameters
        super().__init__(params, dict(lr=learning_rate, **hyper))

    def _numpy_optimizer(self, group):
        return self._numpy_class(learning_rate=group["lr"], **{k: group[k] for k in self._hyper_names})

    @torch.no_grad()
    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient.

        Parameters
        ----------
        closure : callable or None, default None
            Re-evaluates the model and returns the loss (``torch.optim`` convention).

        Returns
        -------
        object
            The closure's loss, or None.

        Raises
        ------
        TypeError
            On sparse gradients, dtypes other than float32/float64, or a
            gradient whose dtype differs from its parameter's.

        Examples
        --------
        >>> import torch
        >>> from monolith_np.torch import Rmsprop
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
        >>> opt = Rmsprop([w], learning_rate=0.5)
        >>> (w * torch.tensor([2.0, 0.0])).sum().backward()  # gradient 2 for w[0], 0 for w[1]
        >>> opt.step() is None, w[1].item()  # no closure, no loss; a zero gradient moves nothing
        (True, -1.0)
        >>> w[0].item() < 1.0
        True
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            opt = self._numpy_optimizer(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError(f"{type(self).__name__} does not support sparse gradients")
                if p.dtype not in (torch.float32, torch.float64):
                    raise TypeError(f"params must be float32 or float64, got {p.dtype}")
                if p.grad.dtype != p.dtype:
                    raise TypeError(f"grad must have its parameter's dtype {p.dtype}, got {p.grad.dtype}")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    for name in opt.get_slot_names():
                        state[name] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                target = p if p.is_contiguous() else p.contiguous()
                with torch_stream(p.device if p.is_cuda else None):
                    var = to_array(target, "params")
                    slots = {name: to_array(state[name], f"state[{name!r}]") for name in opt.get_slot_names()}
                    opt.apply(var, to_array(p.grad, "grad"), slots, global_step=state["step"])
                if target is not p:
                    p.copy_(target)
                state["step"] += 1
        return loss


class Adamom(_DenseTorchOptimizer):
    """Monolith's Adamom as a ``torch.optim.Optimizer``.

    The same update as :class:`monolith_np.optim.dense.AdamomOptimizer` (whose
    kernel runs on array views of the parameters), with the same
    hyperparameter names and defaults. The param groups store the learning
    rate under torch's key ``"lr"`` (so torch's and :class:`MonolithLR`'s
    schedulers work); the other hyperparameters under their own names.
    ``state[p]`` holds the slots ``m``, ``v``, ``c`` (tensors like ``p``) and
    ``step``.

    Parameters
    ----------
    params : iterable of tensors or dicts
        Parameters or param groups, as for any torch optimizer.
    learning_rate : float, default 5e-6
        Step size >= 0 (a schedule goes through :class:`MonolithLR`).
    ada_decay : float, default 0.9999
        Decay of ``v`` and ``c``, in [0, 1].
    mom_decay : float, default 0.99
        Decay of the momentum ``m``, in [0, 1].
    epsilon : float, default 1e-6
        Added to ``v / c`` inside the square root (v1) or to the root (v2).
    weight_decay : float, default 0.0
        L2 factor folded into the gradient.
    use_v2 : bool, default False
        Epsilon outside the square root.

    Raises
    ------
    TypeError, ValueError
        On a bad hyperparameter (same checks as ``AdamomOptimizer``).

    Examples
    --------
    >>> import torch
    >>> from monolith_np.torch import Adamom
    >>> w = torch.nn.Parameter(torch.tensor([0.1]))
    >>> opt = Adamom([w], learning_rate=0.1, weight_decay=0.01, ada_decay=0.99, mom_decay=0.9)
    >>> w.grad = torch.tensor([0.12])
    >>> opt.step()
    >>> round(w.item(), 6)
    0.09
    """

    _numpy_class = AdamomOptimizer
    _hyper_names = ("ada_decay", "mom_decay", "epsilon", "weight_decay", "use_v2")

    def __init__(self, params, learning_rate=5e-6, ada_decay=0.9999, mom_decay=0.99, epsilon=1e-6,
                 weight_decay=0.0, use_v2=False):
        super().__init__(params, learning_rate, ada_decay=ada_decay, mom_decay=mom_decay, epsilon=epsilon,
                         weight_decay=weight_decay, use_v2=bool(use_v2))


class Rmsprop(_DenseTorchOptimizer):
    """Monolith's dense Rmsprop as a ``torch.optim.Optimizer``.

    The same update as :class:`monolith_np.optim.dense.RmspropOptimizer`,
    with the same hyperparameter names and defaults; the learning rate is the
    param groups' ``"lr"``. ``state[p]`` holds the slots ``m``, ``v`` and
    ``step``.

    Parameters
    ----------
    params : iterable of tensors or dicts
        Parameters or param groups.
    learning_rate : float, default 5e-6
        Step size >= 0 (a schedule goes through :class:`MonolithLR`).
    beta1 : float, default 0.99
        Momentum of the scaled steps, in [0, 1].
    beta2 : float, default 0.999
        Decay of the mean square, in [0, 1].
    epsilon : float, default 1e-8
        Added to ``v`` inside the square root (v1) or to the root (v2).
    weight_decay : float, default 0.0
        L2 factor folded into the gradient.
    use_v2 : bool, default False
        The second form (no ``1 - beta2`` factor, epsilon outside the root).

    Raises
    ------
    TypeError, ValueError
        On a bad hyperparameter (same checks as ``RmspropOptimizer``).

    Examples
    --------
    One step on ``w = 0.1`` with gradient ``0.12``:

    >>> import torch
    >>> from monolith_np.torch import Rmsprop
    >>> w = torch.nn.Parameter(torch.tensor([0.1]))
    >>> opt = Rmsprop([w], learning_rate=0.1, weight_decay=1.0, beta1=0.9, beta2=0.9, epsilon=0.1)
    >>> w.grad = torch.tensor([0.12])
    >>> opt.step()
    >>> round(w.item(), 6), sorted(opt.state[w])
    (0.032055, ['m', 'step', 'v'])
    """

    _numpy_class = RmspropOptimizer
    _hyper_names = ("beta1", "beta2", "epsilon", "weight_decay", "use_v2")

    def __init__(self, params, learning_rate=5e-6, beta1=0.99, beta2=0.999, epsilon=1e-8, weight_decay=0.0,
                 use_v2=False):
        super().__init__(params, learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon,
                         weight_decay=weight_decay, use_v2=bool(use_v2))


class MonolithLR(torch.optim.lr_scheduler.LRScheduler):
    """Set every param group's ``lr`` to ``schedule(global_step)`` (a torch LR scheduler).

    ``schedule`` is any :mod:`monolith_np.schedules` object (``PolynomialDecay``,
    ``CosineDecay``, ``LinearWarmup``, ...) or callable of the global step.
    As with every torch scheduler, construction sets ``lr`` for step 0 and
    each :meth:`step` advances one global step: after ``t`` calls the rate is
    ``schedule(t)``.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Any torch optimizer (not only :class:`Adamom` / :class:`Rmsprop`).
    schedule : LearningRateFunction or callable
        Maps a non-negative int step to a learning rate.
    last_epoch : int, default -1
        The last step taken (torch's convention; -1 starts from scratch).

    Raises
    ------
    TypeError
        If ``schedule`` is not callable.

    Examples
    --------
    A linear decay from 1 to 0 over 4 steps, driving plain SGD:

    >>> import torch
    >>> from monolith_np.schedules import PolynomialDecay
    >>> from monolith_np.torch import MonolithLR
    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> opt = torch.optim.SGD([w], lr=1.0)
    >>> sched = MonolithLR(opt, PolynomialDecay(initial_learning_rate=1.0, decay_steps=4, end_learning_rate=0.0))
    >>> rates = []
    >>> for _ in range(3):
    ...     rates.append(opt.param_groups[0]["lr"])
    ...     opt.step()
    ...     sched.step()
    >>> rates, sched.get_last_lr()
    ([1.0, 0.75, 0.5], [0.25])
    """

    def __init__(self, optimizer, schedule, last_epoch=-1):
        if not callable(schedule):
            raise TypeError(f"schedule must be a monolith_np.schedules object or a callable of the step, "
                            f"got {type(schedule).__name__}")
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def _rate(self, step):
        return float(self.schedule(max(int(step), 0)))

    def get_lr(self):
        """The learning rate of every param group at the current step.

        Returns
        -------
        list of float
            ``schedule(last_epoch)`` for each group.

        Examples
        --------
        >>> import torch
        >>> from monolith_np.torch import MonolithLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = MonolithLR(opt, lambda step: 0.5 ** step)  # any callable of the step
        >>> sched.get_lr()
        [1.0]
        >>> opt.step()
        >>> sched.step()
        >>> sched.get_lr()
        [0.5]
        """
        return [self._rate(self.last_epoch) for _ in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return self.get_lr()
