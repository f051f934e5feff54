"""The generated value/_grad/_and_grad forms: real functions, proper names, signatures and runnable docs."""

from __future__ import annotations

import doctest
import inspect

import pytest

from monolith_np import losses
from monolith_np.losses import batch_softmax, inbatch_auc, loss_and_pred, ranking
from monolith_np.losses._specs import SPECS

MODULES = {"batch_softmax_loss": "monolith_np.losses.batch_softmax",
           "inbatch_auc_loss": "monolith_np.losses.inbatch_auc",
           "get_sigmoid_loss_and_pred": "monolith_np.losses.loss_and_pred",
           "get_softmax_loss_and_pred": "monolith_np.losses.loss_and_pred"}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_forms_are_named_functions_with_signatures(name):
    spec = SPECS[name]
    module = MODULES.get(name, "monolith_np.losses.ranking")
    value_params = list(inspect.signature(spec.value).parameters)
    for suffix, fn in (("", spec.value), ("_grad", spec.grad), ("_and_grad", spec.and_grad)):
        assert inspect.isfunction(fn)
        assert fn.__name__ == fn.__qualname__ == name + suffix
        assert fn.__module__ == module
        assert getattr(losses, name + suffix) is fn
        assert "Examples" in fn.__doc__ and f"{name}_grad(" in fn.__doc__
    assert list(inspect.signature(spec.grad).parameters) == value_params + ["upstream"]
    assert inspect.signature(spec.grad).parameters["upstream"].default == 1.0
    with_upstream = module != "monolith_np.losses.ranking"
    assert list(inspect.signature(spec.and_grad).parameters) == value_params + ["upstream"] * with_upstream


def test_bad_call_is_a_type_error_naming_the_argument():
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        ranking.softmax_loss_grad([[1.0]], [[0.0]], nope=1)
    with pytest.raises(TypeError, match="missing a required argument: 'logit'"):
        inbatch_auc.inbatch_auc_loss([1.0])


@pytest.mark.parametrize("module", [batch_softmax, inbatch_auc, loss_and_pred, ranking])
def test_module_doctests(module):
    assert doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
