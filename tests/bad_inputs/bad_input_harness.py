"""Systematic bad inputs for the public functions: targets, mutations and the checks.

A :class:`Target` is one public callable with good arguments (a factory, so
every case gets fresh arrays) and a description of each array argument.
:func:`cases` applies every mutation to each array argument in turn, plus
each target's bad scalars, and returns ``pytest.param`` objects with ids, so
``pytest --collect-only -q tests/bad_inputs | grep -c ::`` counts the cases.

Each case has an expectation:

- ``"error"``: a ``TypeError`` or ``ValueError`` (never a numba error) whose
  message names the argument;
- ``"same"``: the call works and returns what the good call returned (and
  leaves written arrays as the good call left them): strided, Fortran-order
  and read-only inputs;
- ``"works"``: the call works (None for an optional argument);
- ``"either"``: works, or fails as for ``"error"`` (0-d, extra dimension,
  empty, NaN/inf data, which the targets propagate unless refusing them is
  documented).

Whatever the outcome, no input array the target does not document as
written changes (their bytes are compared), and on failure no array changes.

Cases that run a kernel on a new layout or rank (every expectation but
``"error"``) make numba compile a new specialisation, which is most of the
suite's time. ``make test`` therefore runs them for every fourth target
only (every ``"error"`` case, read-only arrays that a call writes included,
runs for every target); ``MONOLITH_NP_BAD_INPUTS=full`` runs all 5011.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable

import numpy as np
import pytest

ERROR, SAME, EITHER, WORKS = "error", "same", "either", "works"
FULL = os.environ.get("MONOLITH_NP_BAD_INPUTS") == "full"


class FakeCudaArray:
    """Claims to live on a CUDA device (``__cuda_array_interface__``) and is never read."""

    def __init__(self, like):
        self.shape, self.dtype = like.shape, like.dtype
        self.ndim, self.size = like.ndim, like.size
        self.__cuda_array_interface__ = {"shape": like.shape, "typestr": like.dtype.str, "data": (0, False),
                                         "version": 3}


@dataclasses.dataclass
class Arg:
    """An array argument: its allowed dtype kinds and ranks, how it relates to the others."""

    kinds: str = "f"
    ndim: tuple | None = None  # allowed ranks; None: any rank (0-d and an extra axis may work)
    group: str | None = None  # arguments of one group must agree on axis 0
    optional: bool = False  # None is a valid value
    written: bool = False  # updated in place (read-only must be refused, changes are expected)
    nan: str = EITHER  # NaN/inf entries: EITHER (propagated or refused) or ERROR
    also: tuple = ()  # other arguments an error about this one may name instead (a shape clash)


@dataclasses.dataclass
class Target:
    """One public callable: ``call(**make())`` is a good call."""

    name: str
    call: Callable
    make: Callable
    arrays: dict
    scalars: dict = dataclasses.field(default_factory=dict)  # name -> [(value, expectation)]
    empty: str = EITHER
    writes: tuple = ()  # other arguments (e.g. an optimizer's state dict) that a good call updates in place


def bad_int(low, *, high=None, huge=EITHER):
    """Bad values for an integer parameter whose smallest valid value is ``low``."""
    values = [(low - 1, ERROR), (True, ERROR), (2.5, ERROR), ("3", ERROR), (1 + 1j, ERROR), (2**70, huge)]
    if high is not None:
        values.append((high + 1, ERROR))
    return values


def bad_real(*, low=None, low_open=False, none_ok=False, inf=ERROR):
    """Bad values for a real parameter (``low``: its smallest valid value, excluded when ``low_open``)."""
    values = [(math.nan, ERROR), (math.inf, inf), (True, ERROR), ("0.5", ERROR), (1j, ERROR)]
    if low is not None:
        values.append((low if low_open else low - 1.0, ERROR))
    if not none_ok:
        values.append((None, ERROR))
    return values


# ---------------------------------------------------------------------------
# Mutations of one array argument.
# ---------------------------------------------------------------------------

_BAD_KINDS = {"c": np.complex128, "O": object, "U": str, "b": np.bool_, "i": np.int64}


def _strided(a):
    """Same values, every other element of a twice-as-long last axis (not contiguous)."""
    return np.repeat(a, 2, axis=-1)[..., ::2]


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _with(a, value):
    a = a.copy()
    a.reshape(-1)[0] = value
    return a


def _shorter(a):
    return a[:-1] if a.shape[0] > 1 else np.concatenate([a, a])


def _empty(a):
    return a[:0]


def _mutations(target, name, arg, good):
    """``[(mutation id, {arg: new value}, expectation)]`` for one array argument."""
    a = good[name]
    out = []
    for kind, dtype in _BAD_KINDS.items():
        if kind not in arg.kinds and a.size:
            bad = a.astype(str) if kind == "U" else a.astype(dtype)
            out.append((f"dtype-{kind}", {name: bad}, ERROR))
    out.append(("none", {name: None}, WORKS if arg.optional else ERROR))
    for rank_id, bad in (("rank0", a.reshape(-1)[:1].reshape(()) if a.size else a.sum()), ("extra-dim", a[None])):
        fixed = arg.ndim is not None and bad.ndim not in arg.ndim
        if bad.ndim != a.ndim:
            out.append((rank_id, {name: bad}, ERROR if fixed else EITHER))
    if arg.group is not None and a.ndim:
        out.append(("mismatched", {name: _shorter(a)}, ERROR))
    if a.ndim and a.size:
        out.append(("strided", {name: _strided(a)}, SAME))
    if a.ndim >= 2 and a.size:
        out.append(("fortran", {name: np.asfortranarray(a)}, SAME))
    out.append(("read-only", {name: _read_only(a)}, ERROR if arg.written else SAME))
    if a.dtype.kind == "f" and a.size:
        out.append(("nan", {name: _with(a, np.nan)}, arg.nan))
        out.append(("inf", {name: _with(a, np.inf)}, arg.nan))
    if len(target.arrays) > 1:
        out.append(("cuda", {name: FakeCudaArray(a)}, ERROR))
    return out


def _empty_cases(target, good):
    """One case per group (all members emptied together) and per ungrouped array of rank >= 1."""
    out = []
    groups = {}
    for name, arg in target.arrays.items():
        a = good[name]
        if a is None or not getattr(a, "ndim", 0):
            continue
        groups.setdefault(arg.group or name, []).append(name)
    for gid, names in groups.items():
        out.append((f"{gid}-empty", {n: _empty(good[n]) for n in names}, target.empty, names[0]))
    return out


def cases(targets, known_open=None):
    """Every case of ``targets`` as ``pytest.param(target, arg, change, expectation, id=...)``.

    ``known_open`` maps case ids to the reason they still fail; those cases
    are strict xfails, so fixing one fails the suite until it leaves the map.
    """
    out = []
    for index, target in enumerate(targets):
        good = target.make()
        sampled = FULL or index % 4 == 0
        for name, arg in target.arrays.items():
            if good[name] is None:
                continue
            for mid, change, want in _mutations(target, name, arg, good):
                if sampled or want == ERROR:
                    out.append((target, name, change, want, f"{target.name}-{name}-{mid}"))
        for cid, change, want, name in _empty_cases(target, good):
            out.append((target, name, change, want, f"{target.name}-{cid}"))
        for name, values in target.scalars.items():
            for i, (value, want) in enumerate(values):
                out.append((target, name, {name: value}, want, f"{target.name}-{name}-{i}-{value!r}"))
    known_open = {k: v for k, v in (known_open or {}).items() if FULL or k in {c[-1] for c in out}}
    unknown = set(known_open) - {c[-1] for c in out}
    assert not unknown, f"known_open names cases that do not exist: {sorted(unknown)}"
    return [pytest.param(*c[:-1], id=c[-1], marks=[pytest.mark.xfail(strict=True, reason=known_open[c[-1]])]
                         if c[-1] in known_open else []) for c in out]


# ---------------------------------------------------------------------------
# Running one case.
# ---------------------------------------------------------------------------


def _arrays_in(value, path="", out=None):
    """``{path: numpy array}`` for every numpy array inside ``value`` (dicts, lists, tuples)."""
    out = {} if out is None else out
    if isinstance(value, np.ndarray):
        out[path] = value
    elif isinstance(value, dict):
        for k, v in value.items():
            _arrays_in(v, f"{path}[{k!r}]", out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _arrays_in(v, f"{path}[{i}]", out)
    return out


def _snapshot(kwargs):
    arrays = _arrays_in(kwargs)
    return {p: (a.dtype, a.shape, a.tobytes()) for p, a in arrays.items()}, arrays


def same(a, b):
    """Equal results: arrays bit for bit (NaN equal to NaN), containers item by item."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or isinstance(a, np.generic):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    slots = getattr(type(a), "__slots__", None)
    if slots is not None or (hasattr(a, "__dict__") and not callable(a)):
        fields = vars(a) if hasattr(a, "__dict__") else {s: getattr(a, s) for s in slots}
        other = vars(b) if hasattr(b, "__dict__") else {s: getattr(b, s, None) for s in slots}
        return type(a) is type(b) and same(fields, other)
    return a == b


def _names(target, name):
    """The names an error about ``name`` may give: its own, or (a shape clash) another of its group's."""
    arg = target.arrays.get(name)
    if arg is None:
        return {name}
    group = {n for n, a in target.arrays.items() if arg.group is not None and a.group == arg.group}
    return {name, *arg.also} | group


def _clear_error(err, names):
    """Fail unless ``err`` is a plain TypeError/ValueError that names one of ``names``."""
    kind = type(err)
    assert not kind.__module__.startswith("numba"), f"numba error escaped: {kind.__name__}: {err}"
    assert isinstance(err, (TypeError, ValueError)), f"unclear error type {kind.__name__}: {err}"
    assert any(n in str(err) for n in names), f"{kind.__name__} does not name {sorted(names)}: {err}"


def _written(target):
    return {n for n, a in target.arrays.items() if a.written} | set(target.writes)


def _unchanged(before, arrays, skip):
    changed = [p for p, a in arrays.items()
               if not any(p.startswith(f"[{s!r}]") for s in skip) and before[p] != (a.dtype, a.shape, a.tobytes())]
    assert not changed, f"inputs changed: {changed}"


def run_case(target, name, change, want):
    """Run one case and check its expectation (see the module docstring)."""
    kwargs = {**target.make(), **change}
    before, arrays = _snapshot(kwargs)
    try:
        result = target.call(**kwargs)
    except Exception as err:  # noqa: BLE001 - the check is what kind it is
        _unchanged(before, arrays, ())
        if want in (SAME, WORKS):
            raise AssertionError(f"expected the call to work, got {type(err).__name__}: {err}") from err
        _clear_error(err, _names(target, name))
        return "error"
    _unchanged(before, arrays, _written(target))
    assert want != ERROR, f"expected a TypeError/ValueError naming {name!r}, got a result"
    if want == SAME:
        good = target.make()
        expected = target.call(**good)
        assert same(result, expected), f"result differs from the contiguous/writable call: {result} vs {expected}"
        for w in _written(target):
            assert same(_arrays_in(kwargs[w]), _arrays_in(good[w])), f"{w} was written differently"
    return "ok"
