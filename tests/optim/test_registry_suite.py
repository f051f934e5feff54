"""The cross-cutting optimizer suite, parametrised from the registry (monolith_np.optim.registry).

Every table optimizer gets, with no test edit: a registry row of its own, the
duplicates == pre-summed gradients property (untouched rows and state stay
untouched), dense ``apply`` == sparse ``apply_rows`` over every row, a bit-exact
``dump_state``/``restore_state`` round trip (training continues identically),
and ``optimizer_from_config(opt.as_proto())`` rebuilding it. The cases come
from ``registry_cases.py`` (one per row, plus decorated ones), as do
``tests/cuda/test_optim_cuda.py``'s.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

import monolith_np.optim as optim
from monolith_np.entry import optimizer_from_config
from monolith_np.optim import optimizers as O
from monolith_np.optim import registry
from monolith_np.proto import OptimizerConfig, SingleOptimizerDump

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry_cases import cases  # noqa: E402

CASES = cases()
IDS = [c[0] for c in CASES]


def _batch(dim, seed=0, num_rows=12, n=30):
    rng = np.random.default_rng(seed)
    params = rng.normal(size=(num_rows, dim)).astype(np.float32)
    rows = rng.integers(0, num_rows, n).astype(np.int64)
    grads = rng.normal(size=(n, dim)).astype(np.float32)
    return params, rows, grads


def _copy(state):
    return {k: v.copy() for k, v in state.items()}


def _exported_optimizer_classes():
    wrappers = (O.StochasticRoundingFloat16OptimizerWrapper, O.DcOptimizerWrapper)
    for name in optim.__all__:
        obj = getattr(optim, name)
        if inspect.isclass(obj) and issubclass(obj, O.Optimizer) and obj is not O.Optimizer and obj not in wrappers:
            yield obj


def test_every_exported_optimizer_has_its_own_row():
    classes = list(_exported_optimizer_classes())
    assert len(classes) >= 14
    kinds = {f.name for f in OptimizerConfig.DESCRIPTOR.oneofs_by_name["type"].fields}
    for cls in classes:
        row = cls._row
        assert row is not None and row.cls is cls, f"{cls.__name__} has no registry row of its own"
        assert registry.row_for_kind(row.kind) is row
        assert row.kind in kinds
        if row.state:
            dump_fields = getattr(SingleOptimizerDump(), row.kind).DESCRIPTOR.fields_by_name
            assert [n for n, _ in row.state if n not in dump_fields] == []
    assert {r.cls for r in registry.rows()} == set(classes)


def test_registry_refuses_a_second_row_and_unknown_kinds():
    with pytest.raises(ValueError, match="already has a registry row"):
        registry.register("sgd", None)
    with pytest.raises(ValueError, match="optimizer is not implemented yet"):
        registry.row_for_kind("dc")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_duplicates_equal_presummed_and_untouched_rows(case):
    _, opt, dim = case
    params, rows, grads = _batch(dim, 7, num_rows=40)
    state = opt.init_state(*params.shape)
    uniq, first = np.unique(rows, return_index=True)
    uniq = uniq[np.argsort(first)]
    summed = np.zeros((uniq.size, dim), np.float32)
    for k, r in enumerate(uniq):  # occurrence order, float32
        for i in np.flatnonzero(rows == r):
            summed[k] += grads[i]
    p1, s1 = params.copy(), _copy(state)
    p2, s2 = params.copy(), _copy(state)
    opt.apply_rows(p1, rows, grads, s1, global_step=4)
    opt.apply_rows(p2, uniq, summed, s2, global_step=4)
    np.testing.assert_array_equal(p1, p2)
    untouched = np.setdiff1d(np.arange(params.shape[0]), rows)
    assert untouched.size
    np.testing.assert_array_equal(p1[untouched], params[untouched])
    for k in state:
        np.testing.assert_array_equal(s1[k], s2[k])
        np.testing.assert_array_equal(s1[k][untouched], state[k][untouched])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dense_apply_equals_apply_rows_over_all_rows(case):
    _, opt, dim = case
    params, _, _ = _batch(dim, 8)
    grads = np.random.default_rng(9).normal(size=params.shape).astype(np.float32)
    state = opt.init_state(*params.shape)
    p1, s1, p2, s2 = params.copy(), _copy(state), params.copy(), _copy(state)
    opt.apply(p1, grads, s1, global_step=2)
    opt.apply_rows(p2, np.arange(params.shape[0])[::-1].copy(), grads[::-1].copy(), s2, global_step=2)
    np.testing.assert_array_equal(p1, p2)
    for k in state:
        np.testing.assert_array_equal(s1[k], s2[k])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dump_restore_bit_exact(case):
    _, opt, dim = case
    params, rows, grads = _batch(dim, 10)
    state = opt.init_state(*params.shape)
    opt.apply_rows(params, rows, grads, state, global_step=3)
    dumps = opt.dump_state(state)
    restored = {k: np.zeros_like(v) for k, v in opt.init_state(*params.shape).items()}
    if "latest" in state:  # the dc decorator's snapshot is not part of a dump (as in Monolith)
        restored["latest"][...] = state["latest"]
    opt.restore_state(restored, [type(d).FromString(d.SerializeToString()) for d in dumps])
    for k in state:
        np.testing.assert_array_equal(restored[k].view(np.uint8), state[k].view(np.uint8))
    p1, p2 = params.copy(), params.copy()
    opt.apply_rows(p1, rows, grads, state, global_step=4)
    opt.apply_rows(p2, rows, grads, restored, global_step=4)
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("case", [c for c in CASES if not isinstance(c[1], O.DcOptimizerWrapper)],
                         ids=[c[0] for c in CASES if not isinstance(c[1], O.DcOptimizerWrapper)])
def test_optimizer_from_config_round_trip(case):
    _, opt, _ = case
    built = optimizer_from_config(opt.as_proto())
    assert type(built) is type(opt)
    assert built.as_proto().SerializeToString() == opt.as_proto().SerializeToString()
