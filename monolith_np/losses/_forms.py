"""The three public forms of a differentiable loss, made from one run function and one docstring.

Every differentiable loss ``f`` of :mod:`monolith_np.losses` is published as
``f(...)`` (the value), ``f_grad(..., upstream=1.0)`` (the gradient) and
``f_and_grad(...)`` (both from one pass). They differ only in what they ask of
one private *run* function and what they hand back, so :func:`loss_forms`
makes all three from it:

- the **run** function ``run(<the loss's parameters>, *, want, upstream)``
  validates its arguments (it is the public boundary) and returns
  ``(*outputs, grad)``, ``grad`` None when ``want == VALUE``. Its
  positional parameters, with their defaults, are the loss's signature;
- the **docstring** is the value's; the gradient's and the pair's are
  derived from it: a generated summary, the same parameters plus
  ``upstream``, generated Returns and See Also, and the value's Raises,
  Notes, References and Examples (which show all three forms).

The result is a :class:`LossSpec`, which the framework adapters
(``monolith_np.torch``, ``monolith_np.tf``) also read through
:data:`monolith_np.losses._specs.SPECS`.
"""

from __future__ import annotations

import inspect
import re
from typing import Callable, NamedTuple

__all__ = ["VALUE", "GRAD", "BOTH", "LossSpec", "loss_forms"]

#: What a run function is asked for.
VALUE, GRAD, BOTH = "value", "grad", "both"

_UPSTREAM_DOC = "float, default 1.0\n    Gradient of the final objective with respect to the loss."

_SECTION = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}\n", re.M)


class LossSpec(NamedTuple):
    """One differentiable loss: its three public forms and what the adapters need.

    ``value(*args, **kwargs)`` returns the loss (or ``(loss, pred)`` when
    ``n_outputs == 2``; the prediction gets no gradient),
    ``grad(*args, upstream=g, **kwargs)`` the gradient with respect to the
    arguments named in ``wrt`` (one array, or a tuple in ``wrt`` order when
    there are several) and ``and_grad`` both.
    """

    name: str
    value: Callable
    grad: Callable
    and_grad: Callable
    wrt: tuple
    n_outputs: int = 1

    @property
    def forms(self):
        """``(value, grad, and_grad)``, to unpack into the exporting module's names."""
        return self.value, self.grad, self.and_grad

    def bind(self, args, kwargs):
        """The call's arguments by name, defaults filled in (``inspect.BoundArguments``)."""
        bound = inspect.signature(self.value).bind(*args, **kwargs)
        bound.apply_defaults()
        return bound


def _sections(doc):
    """``(head, {title: body})`` of a cleaned numpy-style docstring, sections in order."""
    parts = _SECTION.split(doc)
    return parts[0].strip("\n"), {t: b.strip("\n") for t, b in zip(parts[1::2], parts[2::2])}


def _render(head, sections):
    return "\n\n".join([head] + [f"{t}\n{'-' * len(t)}\n{b}" for t, b in sections.items() if b]) + "\n"


def _entries(returns):
    """``[(name, type)]`` of a Returns section; an unnamed single entry is called ``loss``."""
    out = []
    for line in returns.splitlines():
        if line and not line.startswith(" "):
            name, _, kind = line.partition(" : ")
            out.append((name, kind) if kind else ("loss", name))
    return out


def _derived_docs(name, doc, wrt, grad_returns, upstream_doc, and_grad_upstream):
    """The ``_grad`` and ``_and_grad`` docstrings from the value's."""
    head, sec = _sections(inspect.cleandoc(doc))
    wrt_words = " and ".join(f"``{w}``" for w in wrt)
    upstream = f"upstream : {upstream_doc}"
    common = {"Raises": f"TypeError, ValueError\n    Same as :func:`{name}`.", "Notes": sec.get("Notes", ""),
              "References": sec.get("References", ""), "Examples": sec.get("Examples", "")}
    grad = {
        "Parameters": f"{sec['Parameters']}\n{upstream}",
        "Returns": grad_returns,
        **common,
        "See Also": f"{name} : The loss.\n{name}_and_grad : The loss and this gradient from one pass.",
    }
    scale = " (not scaled by ``upstream``)" if and_grad_upstream else ""
    ones = "" if and_grad_upstream else " with ``upstream = 1``"
    returns = [f"{n} : {k}\n    Same as :func:`{name}`{scale if i == 0 else ''}."
               for i, (n, k) in enumerate(_entries(sec["Returns"]))]
    returns.append(f"grad : {grad_returns.splitlines()[0]}\n    Same as :func:`{name}_grad`{ones}.")
    both = {
        "Parameters": sec["Parameters"] + (f"\n{upstream}" if and_grad_upstream else ""),
        "Returns": "\n".join(returns),
        **common,
        "See Also": f"{name}, {name}_grad",
    }
    order = ("Parameters", "Returns", "Raises", "See Also", "Notes", "References", "Examples")
    grad_head = f"Gradient of :func:`{name}` with respect to {wrt_words}."
    both_head = f":func:`{name}` and its gradient with respect to {wrt_words} from one pass."
    return (_render(grad_head, {t: grad[t] for t in order}), _render(both_head, {t: both[t] for t in order}))


def _form(run, want, signature, pick, name, module, doc):
    """One public function: bind the call to ``signature``, run, and ``pick`` from the result."""

    def form(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        upstream = arguments.pop("upstream", 1.0)
        return pick(run(*arguments.values(), want=want, upstream=upstream))

    form.__name__ = form.__qualname__ = name
    form.__module__ = module
    form.__doc__ = doc
    form.__signature__ = signature
    return form


def loss_forms(run, doc, *, name, module, wrt, grad_returns, n_outputs=1, upstream_doc=_UPSTREAM_DOC,
               and_grad_upstream=True):
    """Make the value, ``_grad`` and ``_and_grad`` functions of one loss.

    Parameters
    ----------
    run : callable
        ``run(*arguments, want, upstream)``: validates, computes and returns
        ``(*outputs, grad)`` (``grad`` None for ``want == VALUE``). Its
        positional-or-keyword parameters form the loss's signature.
    doc : str
        The value's numpy-style docstring (with Parameters and Returns
        sections; its Examples show all three forms).
    name : str
        The value's public name.
    module : str
        The module that exports the functions (their ``__module__``).
    wrt : tuple of str
        The differentiated arguments.
    grad_returns : str
        The body of the gradient's Returns section (type line, indented text).
    n_outputs : int, default 1
        How many outputs the value returns (2: a loss and a prediction).
    upstream_doc : str, optional
        The type and description of ``upstream`` (after ``upstream : ``).
    and_grad_upstream : bool, default True
        Whether ``_and_grad`` takes ``upstream`` too.

    Returns
    -------
    LossSpec
    """
    params = [p for p in inspect.signature(run).parameters.values()
              if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    value_sig = inspect.Signature(params)
    grad_sig = inspect.Signature(params + [inspect.Parameter("upstream", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                             default=1.0)])
    grad_doc, both_doc = _derived_docs(name, doc, wrt, grad_returns, upstream_doc, and_grad_upstream)
    first = (lambda res: res[0]) if n_outputs == 1 else (lambda res: res[:n_outputs])
    value = _form(run, VALUE, value_sig, first, name, module, doc)
    grad = _form(run, GRAD, grad_sig, lambda res: res[-1], f"{name}_grad", module, grad_doc)
    both = _form(run, BOTH, grad_sig if and_grad_upstream else value_sig, tuple, f"{name}_and_grad", module,
                 both_doc)
    return LossSpec(name, value, grad, both, tuple(wrt), n_outputs)
