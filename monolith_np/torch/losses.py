"""Every differentiable loss of :mod:`monolith_np.losses` as a torch autograd op.

One generic :class:`torch.autograd.Function`, driven by the table
``monolith_np.losses._specs.SPECS``, wraps them all: its forward calls the
loss's ``value`` on zero-copy array views of the tensors, its backward calls
the loss's ``grad`` with the upstream gradient and routes the result to the
tensors named in the spec's ``wrt``. Each loss is exposed under its original
name with the numpy function's signature (argument names, order, defaults).
"""

from __future__ import annotations

import inspect
import re

import torch

from .._checks import check_seed
from ..losses._specs import SPECS
from ._convert import _as_array_arg, _as_tensor_out, _device_of, to_array, torch_stream

__all__ = sorted(SPECS)


class _SpecLoss(torch.autograd.Function):
    """Forward ``spec.value``, backward ``spec.grad`` for the tensors in ``spec.wrt``.

    ``apply(spec, arguments, *wrt_tensors)``: ``arguments`` holds every other
    argument (tensors already viewed as arrays, non-tensors as given).
    """

    @staticmethod
    def forward(ctx, spec, arguments, *wrt_tensors):
        device = _device_of(*wrt_tensors)
        call = dict(arguments)
        for name, t in zip(spec.wrt, wrt_tensors):
            call[name] = to_array(t, name)
        with torch_stream(device):
            out = spec.value(**call)
        ctx.spec, ctx.arguments, ctx.device = spec, arguments, device
        ctx.save_for_backward(*wrt_tensors)
        if spec.n_outputs == 1:
            return _as_tensor_out(out, "loss")
        loss, *rest = out
        rest = tuple(_as_tensor_out(r, "pred") for r in rest)
        for r in rest:
            if isinstance(r, torch.Tensor):
                ctx.mark_non_differentiable(r)
        return (_as_tensor_out(loss, "loss"), *rest)

    @staticmethod
    def backward(ctx, grad_loss, *unused):
        spec = ctx.spec
        if grad_loss is None:  # only non-differentiable outputs were used
            return (None, None) + (None,) * len(spec.wrt)
        call = dict(ctx.arguments)
        for name, t in zip(spec.wrt, ctx.saved_tensors):
            call[name] = to_array(t, name)
        upstream = to_array(grad_loss, "upstream")
        if upstream.ndim == 0:
            upstream = float(upstream)
        with torch_stream(ctx.device):
            grads = spec.grad(**call, upstream=upstream)
        if len(spec.wrt) == 1:
            grads = (grads,)
        out = []
        for need, g, t in zip(ctx.needs_input_grad[2:], grads, ctx.saved_tensors):
            out.append(_as_tensor_out(g, "grad").view(t.shape) if need else None)
        return (None, None, *out)


def _call(spec, args, kwargs):
    bound = spec.bind(args, kwargs)
    arguments = {}
    wrt_tensors = []
    for name, value in bound.arguments.items():
        if name in spec.wrt:
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor (the loss is differentiated with respect "
                                f"to it), got {type(value).__name__}")
            wrt_tensors.append(value)
        else:
            # Non-wrt tensors (labels, weights, ...) are constants: viewed as arrays.
            arguments[name] = _as_array_arg(value, name)
    if "seed" in arguments and arguments["seed"] is None:
        # Forward and backward must draw the same shuffles.
        arguments["seed"] = int(check_seed(None))
    return _SpecLoss.apply(spec, arguments, *wrt_tensors)


_SECTION = re.compile(r"\n    ([A-Z][A-Za-z ]+)\n    -{3,}\n")

#: The ranking losses' example: one list of four items, ``{extra}`` holds extra arguments.
_RANKING_EXAMPLE = """\
>>> import torch
>>> from monolith_np.torch import {name}
>>> labels = torch.tensor([[2.0, 1.0, 0.0, -1.0]])  # the last item is invalid
>>> logits = torch.tensor([[0.2, 0.9, -0.4, 1.5]], requires_grad=True)
>>> loss = {name}(labels, logits{extra})
>>> round(loss.item(), 4)
{loss}
>>> loss.backward()
>>> logits.grad
{grad}"""

#: ``(extra arguments, loss, gradient)`` of each ranking loss on the example list.
_RANKING_RESULTS = {
    "approx_ndcg_loss": ("", "-0.7963", "tensor([[-0.0035, -0.0004,  0.0039,  0.0000]])"),
    "list_mle_loss": (", seed=0", "1.5115", "tensor([[-0.7193,  0.3511,  0.3682,  0.0000]])"),
    "mean_squared_loss": ("", "1.1367", "tensor([[-1.2000, -0.0667, -0.2667,  0.0000]])"),
    "pairwise_hinge_loss": ("", "0.8333", "tensor([[-1.0000,  0.3333,  0.6667,  0.0000]])"),
    "pairwise_logistic_loss": ("", "0.7397", "tensor([[-0.4590,  0.1513,  0.3076,  0.0000]])"),
    "pairwise_soft_zero_one_loss": ("", "0.5303", "tensor([[-0.2264,  0.0178,  0.2086,  0.0000]])"),
    "sigmoid_cross_entropy_loss": ("", "0.4174", "tensor([[-0.4834, -0.0964,  0.1338,  0.0000]])"),
    "softmax_loss": ("", "3.1114", "tensor([[-1.1579,  0.6958,  0.4621,  0.0000]])"),
}

#: The Examples section of each loss, by name.
_EXAMPLES = {
    name: _RANKING_EXAMPLE.format(name=name, extra=extra, loss=loss, grad=grad)
    for name, (extra, loss, grad) in _RANKING_RESULTS.items()
}
_EXAMPLES["batch_softmax_loss"] = """\
>>> import torch
>>> from monolith_np.torch import batch_softmax_loss
>>> query = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
>>> item = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
>>> loss = batch_softmax_loss(query, item, torch.ones(2), torch.ones(2))
>>> round(loss.item(), 5)  # 2 * log(1 + e^-1)
0.62652
>>> loss.backward()
>>> query.grad
tensor([[0.0000, 0.2689],
        [0.2689, 0.0000]])"""
_EXAMPLES["inbatch_auc_loss"] = """\
>>> import torch
>>> from monolith_np.torch import inbatch_auc_loss
>>> label = torch.tensor([1.0, 0.0])
>>> logit = torch.zeros(2, requires_grad=True)
>>> loss = inbatch_auc_loss(label, logit)
>>> round(loss.item(), 6)  # log(sigmoid(0))
-0.693147
>>> loss.backward()
>>> logit.grad
tensor([ 0.5000, -0.5000])"""
_EXAMPLES["get_sigmoid_loss_and_pred"] = """\
>>> import torch
>>> from monolith_np.torch import get_sigmoid_loss_and_pred
>>> logits = torch.zeros(2, requires_grad=True)
>>> loss, pred = get_sigmoid_loss_and_pred("ctr", logits, torch.tensor([0.0, 1.0]), 2)
>>> round(loss.item(), 6), pred.tolist(), pred.requires_grad
(1.386294, [0.5, 0.5], False)
>>> loss.backward()
>>> logits.grad
tensor([ 0.5000, -0.5000])"""
_EXAMPLES["get_softmax_loss_and_pred"] = """\
>>> import torch
>>> from monolith_np.torch import get_softmax_loss_and_pred
>>> logits = torch.zeros(1, 2, requires_grad=True)
>>> loss, pred = get_softmax_loss_and_pred("cls", logits, torch.tensor([[1.0, 0.0]]), "train")
>>> loss.shape, round(loss.item(), 6), pred.tolist()  # one loss per row; pred is the argmax class
(torch.Size([1]), 0.693147, [0])
>>> loss.sum().backward()
>>> logits.grad
tensor([[-0.5000,  0.5000]])"""


def _adapt_doc(name, spec):
    """The numpy function's docstring, reworded for tensors, with this module's example (``_EXAMPLES``)."""
    doc = inspect.getdoc(spec.value) or ""
    doc = "\n".join("    " + line if line else "" for line in doc.splitlines())
    parts = _SECTION.split("\n" + doc.split("\n", 1)[1] if "\n" in doc else "")
    summary = doc.splitlines()[0].strip() if doc else name
    sections = {}
    body = parts[0]
    for title, text in zip(parts[1::2], parts[2::2]):
        sections[title] = text
    wrt = ", ".join(f"``{w}``" for w in spec.wrt)
    extra = (f"    The torch version of :func:`monolith_np.losses.{name}`: array arguments are torch\n"
             f"    tensors (CPU or CUDA, viewed without copying through DLPack; other tensors are\n"
             f"    constants), the results are tensors on the same device, and the loss is\n"
             f"    differentiable with respect to {wrt} through the library's own gradient\n"
             f"    (``{spec.grad.__name__}``).")
    if spec.n_outputs == 2:
        extra += "\n    The prediction carries no gradient."
    keep = ["Parameters", "Returns", "Raises", "See Also", "Notes", "References"]
    body = "\n".join(body.strip("\n").splitlines())
    out = f"    {summary}\n\n" + (f"{body}\n\n" if body.strip() else "") + f"{extra}\n"
    for title in keep:
        if title in sections:
            text = sections[title].rstrip()
            if title == "See Also":
                text = f"    monolith_np.losses.{name}, monolith_np.losses.{spec.grad.__name__}"
            out += f"\n    {title}\n    {'-' * len(title)}\n{text}\n"
    if name in _EXAMPLES:
        examples = "\n".join("    " + line if line else "" for line in _EXAMPLES[name].splitlines())
        out += f"\n    Examples\n    --------\n{examples}\n"
    return inspect.cleandoc(out)


def _make(name, spec):
    def loss(*args, **kwargs):
        return _call(spec, args, kwargs)

    loss.__name__ = loss.__qualname__ = name
    loss.__module__ = __name__
    loss.__signature__ = inspect.signature(spec.value)
    loss.__doc__ = _adapt_doc(name, spec)
    loss.__wrapped_spec__ = spec
    return loss


for _name, _spec in SPECS.items():
    globals()[_name] = _make(_name, _spec)
del _name, _spec
