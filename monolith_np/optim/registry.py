"""The table-optimizer registry: one row per optimizer (proto kind, class, rule entry, state layout).

Adding an optimizer
-------------------
1. ``monolith_np/_rules/optim.py``: the rule ``<algo>_update`` over one row and
   its kernel entry ``<algo>_at(w, g, S, r, lr, hp, step)``.
2. ``protos/monolith/hash_table/optimizer.proto`` (and the generated
   ``monolith_np/proto/optimizer_pb2.py``): the ``*OptimizerConfig`` message,
   its member of the ``OptimizerConfig`` oneof and its ``*OptimizerDump``
   (the original's, when Monolith has the optimizer).
3. ``monolith_np/optim/optimizers.py``: the class (constructor = the config's
   fields, ``_hparams``, ``_initial``), its registry row as the decorator
   ``@register(kind, entry, state)`` on it, and its name in ``__all__``.
4. ``docs/optimizers.md``: its row in the rules table (``tests/test_api.py``
   wants every public name in a guide), and ``python tools/gen_api_docs.py``.

About 5 lines of rule, 3 of entry, 25-40 of class with its docstring and 1
of registry row, in 4 files plus the generated proto and API docs. Nothing else: :func:`~monolith_np.entry.optimizer_from_config`, state dumps
and restores, the CPU and GPU drivers and the cross-cutting test suites
(``tests/optim/test_registry_suite.py``, ``tests/cuda/test_optim_cuda.py``)
read the row. A test fails when a class exported by :mod:`monolith_np.optim`
has no row of its own.

The rows are written next to their classes (the decorator), so this module
imports nothing from :mod:`monolith_np.optim.optimizers` and the classes need
no lookup to find their rule.

>>> from monolith_np.optim import AdagradOptimizer
>>> row = row_for_kind("adagrad")
>>> row.cls is AdagradOptimizer, row.state
(True, (('norm', 'e'),))
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Row", "register", "rows", "row_for_kind"]


class Row(NamedTuple):
    """One table optimizer.

    Parameters
    ----------
    kind : str
        Its ``OptimizerConfig`` oneof member (and ``SingleOptimizerDump``
        member), e.g. ``"adagrad"``.
    cls : type
        The :class:`~monolith_np.optim.Optimizer` subclass.
    entry : callable
        Its kernel entry in :mod:`monolith_np._rules.optim` (``adagrad_at``, ...),
        compiled by the CPU and GPU drivers.
    state : tuple of (str, str)
        The state arrays in kernel order, each ``(name, kind)``: the field of
        the ``*OptimizerDump`` message and ``"e"`` (per element, float32,
        ``(num_rows, dim)``), ``"p"`` (per row, float32, ``(num_rows,)``) or
        ``"i"`` (per row, int64).
    """

    kind: str
    cls: type
    entry: object
    state: tuple


_ROWS = {}


def register(kind, entry, state=()):
    """Class decorator that adds the optimizer's row to the registry.

    Parameters
    ----------
    kind : str
        The ``OptimizerConfig`` oneof member.
    entry : callable
        The rule's kernel entry.
    state : tuple of (str, str), default ()
        The state layout (see :class:`Row`).

    Returns
    -------
    callable
        The decorator; it stores the row as the class's ``_row`` and returns
        the class.

    Raises
    ------
    ValueError
        If ``kind`` already has a row.
    """
    if kind in _ROWS:
        raise ValueError(f"kind {kind!r} already has a registry row ({_ROWS[kind].cls.__name__})")

    def decorate(cls):
        row = Row(kind, cls, entry, tuple(state))
        _ROWS[kind] = row
        cls._row = row
        return cls

    return decorate


def rows():
    """Every registered row, in registration order.

    Returns
    -------
    tuple of Row
    """
    return tuple(_ROWS.values())


def row_for_kind(kind):
    """The row of an ``OptimizerConfig`` oneof member.

    Parameters
    ----------
    kind : str or None
        The member name (``config.WhichOneof("type")``).

    Returns
    -------
    Row

    Raises
    ------
    ValueError
        If no optimizer of this library has that kind (``dc``, an unset
        oneof), with Monolith's "optimizer is not implemented yet".
    """
    if kind not in _ROWS:
        raise ValueError(f"config must choose an optimizer this library builds ({', '.join(sorted(_ROWS))}), "
                         f"got {kind or 'none'} (optimizer is not implemented yet)")
    return _ROWS[kind]
