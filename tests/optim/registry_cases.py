"""The optimizer cases of the registry-driven suites, one per registry row (plus decorated ones).

``HYPER`` only adds non-default hyperparameters for some kinds, so a new
optimizer is tested with its defaults without editing this file;
``DECORATED`` adds the decorators around a base. Used by
``tests/optim/test_registry_suite.py`` and ``tests/cuda/test_optim_cuda.py``.
"""

from __future__ import annotations

from monolith_np.optim import optimizers as O
from monolith_np.optim import registry

#: Non-default hyperparameters per kind, so the rules' optional terms run.
HYPER = {
    "sgd": dict(learning_rate=0.1),
    "adagrad": dict(learning_rate=0.1, weight_decay_factor=0.01),
    "ftrl": dict(learning_rate=0.1, l1_regularization=0.01, l2_regularization=0.1),
    "adam": dict(learning_rate=0.1, use_nesterov=True, weight_decay_factor=0.01),
    "amsgrad": dict(learning_rate=0.1),
    "adadelta": dict(weight_decay_factor=0.01),
    "momentum": dict(use_nesterov=True),
    "rmsprop": dict(weight_decay_factor=0.01),
    "group_adagrad": dict(beta=1.0, l2_regularization=0.01),
    "group_ftrl": dict(l1_regularization=0.1),
    "dynamic_wd_adagrad": dict(weight_decay_factor=0.01),
}

#: The decorators around a base, beside every plain row.
DECORATED = {
    "rounding(adagrad)": lambda: O.StochasticRoundingFloat16OptimizerWrapper(O.AdagradOptimizer(learning_rate=0.1)),
    "dc(adagrad)": lambda: O.DcOptimizerWrapper(O.AdagradOptimizer(learning_rate=0.1), lambda_=0.5),
}


def cases():
    """``[(id, optimizer, dim)]``: one per registry row, then the decorated ones."""
    out = []
    for row in registry.rows():
        opt = row.cls(**HYPER.get(row.kind, {}))
        out.append((row.kind, opt, _dim(opt)))
    out += [(name, make(), 5) for name, make in DECORATED.items()]
    return out


def _dim(opt):
    try:
        opt.init_state(1, 5)
    except ValueError:  # e.g. batch_softmax: dim must be 1
        return 1
    return 5
