"""Monolith's embedding-table optimizers (``entry.py``) that also run.

Each class keeps the name, constructor arguments, defaults and instance
attributes of its ``monolith/native_training/entry.py`` counterpart, so
:meth:`as_proto` returns the same ``OptimizerConfig`` bytes. On top of that it
applies its update rule (:mod:`monolith_np._rules.optim`, named by the class's
row in :mod:`monolith_np.optim.registry`) to numpy (CPU, numba ``prange``
drivers) or CuPy (GPU kernels) arrays:

>>> import numpy as np
>>> opt = AdagradOptimizer(learning_rate=0.1, initial_accumulator_value=1.0)
>>> params = np.zeros((4, 2), np.float32)
>>> state = opt.init_state(4, 2)
>>> opt.apply_rows(params, np.array([1, 1]), np.array([[0.5, 1.0], [0.5, 1.0]], np.float32), state)
>>> [round(v, 6) for v in params[1].tolist()], state["norm"][1].tolist()
([-0.070711, -0.089443], [2.0, 5.0])

State is a ``dict`` of arrays named after the fields of the optimizer's
``*OptimizerDump`` message: per-element state has shape ``(num_rows, dim)``,
per-row scalars ``(num_rows,)``. ``dump_state``/``restore_state`` convert to
and from ``OptimizerDump`` messages, one per row, bit for bit.

The two decorators, :class:`StochasticRoundingFloat16OptimizerWrapper` and
:class:`DcOptimizerWrapper`, hold the optimizer they wrap and only add a
flag of the drivers (``rounding``, ``dc``) to its :class:`_Plan`; every
method is the base class's, run on the plan.
"""

from __future__ import annotations

import abc
import numbers
from typing import NamedTuple

import numpy as np

from .._backend import array_module, asarray, host_read
from .._checks import check_array, check_number, check_step, check_writeable
from .._dispatch import gpu_drivers
from .._rules import optim as R
from ..proto import optimizer_pb2
from ..schedules import LearningRateFunction, PolynomialDecay
from .registry import register
from .sparse import RowGrads, cpu_kernels, expand_grads, run_grouped, run_sequential, run_sparse

__all__ = [
    "Optimizer",
    "SgdOptimizer",
    "AdagradOptimizer",
    "AdadeltaOptimizer",
    "AdamOptimizer",
    "AmsgradOptimizer",
    "BatchSoftmaxOptimizer",
    "MomentumOptimizer",
    "MovingAverageOptimizer",
    "RmspropOptimizer",
    "RmspropV2Optimizer",
    "FTRLWithGroupSparsityOptimizer",
    "AdaGradWithGroupLassoOptimizer",
    "DynamicWdAdagradOptimizer",
    "FtrlOptimizer",
    "StochasticRoundingFloat16OptimizerWrapper",
    "DcOptimizerWrapper",
]

_STATE_DTYPES = {"e": np.float32, "p": np.float32, "i": np.int64}
_LATEST = (("latest", "e"),)


def _convert_to_proto(obj, proto):
    """Copy every non-None instance attribute into ``proto`` (entry.py's helper)."""
    proto.SetInParent()
    for key, value in obj.__dict__.items():
        if value is not None:
            setattr(proto, key, value)


def _check_step(global_step):
    if isinstance(global_step, (bool, np.bool_)) or not isinstance(global_step, numbers.Integral):
        raise TypeError(f"global_step must be a non-negative integer, got {type(global_step).__name__} "
                        f"{global_step!r}")
    return check_step("global_step", global_step)


def _check_rows(xp, rows, num_rows):
    """Validate a 1-D int32/int64 row vector against ``[0, num_rows)``; return it as int64.

    One host read of ``(min, max)`` for device arrays.
    """
    check_array("rows", rows, ndim=1, dtypes=(np.int64, np.int32))
    return _rows_in_range(xp, rows, num_rows)


def _rows_in_range(xp, rows, num_rows):
    """Check an integer row vector against ``[0, num_rows)`` (one host read of ``(min, max)`` on a device); int64."""
    if rows.size:
        if xp is np:
            low, high = int(rows.min()), int(rows.max())
        else:
            low, high = (int(v) for v in host_read(xp.stack((rows.min(), rows.max()))))
        if low < 0 or high >= num_rows:
            raise ValueError(f"rows must be in [0, {num_rows}), got {low if low < 0 else high}")
    return rows.astype(xp.int64, copy=False)


class _Plan(NamedTuple):
    """What the drivers run for an optimizer.

    ``base`` is the innermost plain optimizer (its registry row, config,
    hyperparameters, initial state and dumps); ``rounding``/``seed`` the
    stochastic float16 rounding after the rule; ``dc``/``lambda_`` the delay
    compensation before it (state ``latest`` after the base's arrays,
    ``lambda_`` after its hyperparameters).
    """

    base: object
    rounding: bool = False
    seed: int = 0
    dc: bool = False
    lambda_: float = 0.0

    def layout(self):
        """The state arrays in kernel order: the base's row, then ``latest`` with dc."""
        return self.base._row.state + _LATEST if self.dc else self.base._row.state

    def hparams(self, config):
        """The float64 ``hp`` vector of the kernel entry (never empty)."""
        hp = tuple(self.base._hparams(config)) + ((self.lambda_,) if self.dc else ())
        return np.asarray(hp or (0.0,), dtype=np.float64)


class Optimizer(abc.ABC):
    """Base class of the embedding-table optimizers.

    Subclasses store exactly the attributes of their ``entry.py`` counterpart
    (the ``OptimizerConfig`` fields) and carry their registry row
    (:func:`monolith_np.optim.registry.register`: proto kind, rule entry,
    state layout).

    Notes
    -----
    The learning rate of a call (``learning_rate=None``) is the config's
    ``learning_rate`` (the proto default when unset); when the config has
    ``warmup_steps = W > 0`` it is ramped as Monolith's Python side does,
    ``lr * min(t, W) / W`` at global step ``t`` (``PolynomialDecay(0, W,
    lr, power=1)``, so 0 at step 0).

    Examples
    --------
    A concrete optimizer (here plain SGD) used on a small table:

    >>> import numpy as np
    >>> from monolith_np.optim import Optimizer, SgdOptimizer
    >>> opt = SgdOptimizer(learning_rate=1.0)
    >>> isinstance(opt, Optimizer)
    True
    >>> params = np.ones((3, 2), np.float32)
    >>> state = opt.init_state(3, 2)
    >>> opt.apply_rows(params, np.array([2]), np.array([[0.5, 0.25]], np.float32), state)
    >>> params.tolist()
    [[1.0, 1.0], [1.0, 1.0], [0.5, 0.75]]
    """

    _row = None

    # -- config ---------------------------------------------------------------

    def as_proto(self):
        """Return the optimizer's ``monolith.hash_table.OptimizerConfig``.

        Returns
        -------
        monolith_np.proto.OptimizerConfig
            The oneof member named after the optimizer, with every non-None
            attribute set (identical bytes to Monolith's ``as_proto``).

        Examples
        --------
        >>> from monolith_np.optim import FtrlOptimizer
        >>> config = FtrlOptimizer(learning_rate=0.5, l1_regularization=1.0).as_proto()
        >>> config.WhichOneof("type")
        'ftrl'
        >>> print(config)
        ftrl {
          learning_rate: 0.5
          l1_regularization_strength: 1
          warmup_steps: 0
        }
        """
        opt = optimizer_pb2.OptimizerConfig()
        _convert_to_proto(self, getattr(opt, self._row.kind))
        return opt

    def _plan(self):
        """The :class:`_Plan` of a plain optimizer: itself, no decorator flags."""
        return _Plan(self)

    def _config(self):
        """The config message of the plan's base, with proto defaults for unset fields."""
        base = self._plan().base
        return getattr(base.as_proto(), base._row.kind)

    def _hparams(self, config):
        """Float64 hyperparameters of the rule's kernel entry (before the plan's additions)."""
        return ()

    def _initial(self, config):
        """Initial value of each state array, by name."""
        return {}

    def _check_dim(self, dim):
        pass

    def _check_config(self, nonneg=(), unit=(), closed_unit=(), integer=()):
        """Validate constructor arguments (None means "proto default").

        ``unit`` names must lie in ``[0, 1)``, ``closed_unit`` ones in ``[0, 1]``.
        """
        for name in nonneg:  # finite too: an infinite rate, epsilon or decay makes every update inf or NaN
            check_number(name, self.__dict__[name], low=0.0, allow_none=True, finite=True)
        for name in unit:
            check_number(name, self.__dict__[name], low=0.0, high=1.0, high_open=True, allow_none=True)
        for name in closed_unit:
            check_number(name, self.__dict__[name], low=0.0, high=1.0, allow_none=True)
        for name in integer:
            check_number(name, self.__dict__[name], integer=True, low=0, allow_none=True)

    # -- state ----------------------------------------------------------------

    def init_state(self, num_rows, dim, like=None):
        """Allocate and initialise the optimizer state of a table.

        Parameters
        ----------
        num_rows : int
            Number of rows of the table.
        dim : int
            Number of floats per row.
        like : array, optional
            An array whose module (numpy or CuPy) the state is allocated with;
            numpy when omitted.

        Returns
        -------
        dict of str to array
            One array per ``*OptimizerDump`` field: ``(num_rows, dim)``
            float32 per-element state, ``(num_rows,)`` float32 or int64 per-row
            state, filled with the optimizer's initial values.

        Examples
        --------
        >>> from monolith_np.optim import AdamOptimizer
        >>> state = AdamOptimizer(beta1=0.5, beta2=0.75).init_state(3, 2)
        >>> {name: array.shape for name, array in state.items()}
        {'m': (3, 2), 'v': (3, 2), 'beta1_power': (3,), 'beta2_power': (3,)}
        >>> state["beta1_power"].tolist(), state["beta2_power"].tolist()
        ([0.5, 0.5, 0.5], [0.75, 0.75, 0.75])
        """
        num_rows = check_number("num_rows", num_rows, integer=True, low=0)
        dim = check_number("dim", dim, integer=True, low=1)
        plan = self._plan()
        plan.base._check_dim(dim)
        xp = np if like is None else array_module(like=like)
        init = plan.base._initial(plan.base._config())
        state = {}
        for name, kind in plan.layout():
            shape = (num_rows, dim) if kind == "e" else (num_rows,)
            state[name] = xp.full(shape, init.get(name, 0), dtype=_STATE_DTYPES[kind])
        return state

    def _check_state(self, state, num_rows, dim, plan=None):
        """Validate a state dict the call updates (writeable arrays); return its arrays as the kernels' ``S`` tuple."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays (from init_state), got {type(state).__name__}")
        arrays = []
        for name, kind in (plan or self._plan()).layout():
            if name not in state:
                raise ValueError(f"state must have the key {name!r}, got keys {sorted(state)}")
            shape = (num_rows, dim) if kind == "e" else (num_rows,)
            arrays.append(check_writeable(f"state[{name!r}]", check_array(f"state[{name!r}]", state[name],
                                                                          dtypes=(_STATE_DTYPES[kind],), shape=shape)))
        return tuple(arrays)

    def _state_arrays(self, state):
        """The kernels' ``S`` tuple of an already validated state dict (no checks)."""
        return tuple(state[name] for name, _ in self._plan().layout())

    def dump_state(self, state, rows=None):
        """Export rows' state as ``OptimizerDump`` messages.

        Parameters
        ----------
        state : dict of str to array
            The table's state (from :meth:`init_state`).
        rows : sequence of int, optional
            Rows to export; every row when omitted.

        Returns
        -------
        list of monolith_np.proto.OptimizerDump
            One message per row with one ``SingleOptimizerDump`` (none for
            ``MovingAverageOptimizer``, which has no state, as in Monolith).
            Decorators add no record: ``DcOptimizerWrapper``'s ``latest`` is
            not dumped, as in Monolith.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.optim import AdagradOptimizer
        >>> opt = AdagradOptimizer(learning_rate=1.0, initial_accumulator_value=0.0)
        >>> params = np.zeros((2, 2), np.float32)
        >>> state = opt.init_state(2, 2)
        >>> opt.apply_rows(params, np.array([1]), np.array([[3.0, -4.0]], np.float32), state)
        >>> dumps = opt.dump_state(state, rows=[1])
        >>> print(dumps[0])
        dump {
          adagrad {
            norm: 9
            norm: 16
          }
        }
        """
        plan = self._plan()
        base = plan.base
        host = {name: host_read(state[name]) for name, _ in base._row.state}
        layout = plan.layout()
        num_rows = state[layout[0][0]].shape[0] if layout else 0
        rows = range(num_rows) if rows is None else [int(r) for r in rows]
        dumps = []
        for r in rows:
            dump = optimizer_pb2.OptimizerDump()
            base._dump_row(dump, host, r)
            dumps.append(dump)
        return dumps

    def _dump_row(self, dump, state, r):
        record = getattr(dump.dump.add(), self._row.kind)
        record.SetInParent()
        for name, kind in self._row.state:
            if kind == "e":
                getattr(record, name).extend(state[name][r].tolist())
            else:
                setattr(record, name, state[name][r].item())

    def restore_state(self, state, dumps, rows=None):
        """Load ``OptimizerDump`` messages into rows of ``state`` (in place).

        Parameters
        ----------
        state : dict of str to array
            The table's state (numpy arrays). A ``DcOptimizerWrapper``'s
            ``latest`` is left unchanged (it is not part of a dump).
        dumps : sequence of monolith_np.proto.OptimizerDump
            One message per row, as :meth:`dump_state` writes them.
        rows : sequence of int, optional
            Destination rows; ``range(len(dumps))`` when omitted.

        Raises
        ------
        ValueError
            If the numbers of dumps and rows differ or a dump holds another
            optimizer's state or the wrong number of values.

        Examples
        --------
        Move a row's accumulator to another row of a new state:

        >>> from monolith_np.optim import AdagradOptimizer
        >>> opt = AdagradOptimizer(initial_accumulator_value=0.0)
        >>> state = opt.init_state(2, 2)
        >>> state["norm"][1] = [9.0, 16.0]
        >>> dumps = opt.dump_state(state, rows=[1])
        >>> fresh = opt.init_state(3, 2)
        >>> opt.restore_state(fresh, dumps, rows=[0])
        >>> fresh["norm"].tolist()
        [[9.0, 16.0], [0.0, 0.0], [0.0, 0.0]]
        """
        rows = list(range(len(dumps))) if rows is None else [int(r) for r in rows]
        if len(rows) != len(dumps):
            raise ValueError(f"rows must have one entry per dump ({len(dumps)}), got {len(rows)}")
        row = self._plan().base._row
        if not row.state:
            return
        for r, dump in zip(rows, dumps):
            if len(dump.dump) < 1 or dump.dump[0].WhichOneof("type") != row.kind:
                got = dump.dump[0].WhichOneof("type") if len(dump.dump) else "an empty dump"
                raise ValueError(f"dumps must hold {row.kind} state, got {got}")
            record = getattr(dump.dump[0], row.kind)
            for name, kind in row.state:
                if kind == "e":
                    values = np.asarray(getattr(record, name), dtype=np.float32)
                    if values.shape != state[name][r].shape:
                        raise ValueError(f"dump field {name} must have {state[name][r].size} values, "
                                         f"got {values.size}")
                    state[name][r] = values
                else:
                    state[name][r] = getattr(record, name)

    # -- updates --------------------------------------------------------------

    def _default_learning_rate(self, global_step, config):
        """The rate of ``config`` (the plan base's) at ``global_step``, warm-up ramp applied, as float32."""
        if not hasattr(config, "learning_rate"):
            return np.float32(0.0)
        lr = config.learning_rate
        warmup = getattr(config, "warmup_steps", 0)
        if warmup > 0:
            return np.float32(PolynomialDecay(0.0, warmup, end_learning_rate=lr, power=1.0)(global_step))
        return np.float32(lr)

    def _learning_rate(self, learning_rate, global_step, config):
        """Validate and resolve the call's learning rate to a float32 scalar."""
        if learning_rate is None:
            return self._default_learning_rate(global_step, config)
        if isinstance(learning_rate, LearningRateFunction):
            value = float(learning_rate(global_step))
        elif hasattr(learning_rate, "shape") and len(learning_rate.shape) == 0:  # scalars and 0-d arrays
            host = isinstance(learning_rate, (np.ndarray, np.generic))
            value = float(learning_rate if host else host_read(learning_rate))
        elif hasattr(learning_rate, "shape") or isinstance(learning_rate, (list, tuple)):
            arr = learning_rate if hasattr(learning_rate, "shape") else np.asarray(learning_rate, np.float32)
            check_array("learning_rate", arr, ndim=1, dtype_kinds="f")
            if arr.shape[0] < 1:
                raise ValueError(f"learning_rate must have at least one entry, got shape {tuple(arr.shape)}")
            value = float(arr[0] if isinstance(arr, np.ndarray) else host_read(arr[:1])[0])
        else:
            value = learning_rate
        return np.float32(check_number("learning_rate", value, low=0.0, finite=True))

    def _prepare(self, params, grads, state, learning_rate, global_step):
        """The public calls' validation; returns ``(xp, plan, config, S, lr, step)``."""
        xp = array_module(params=params, grads=grads)
        check_writeable("params", check_array("params", params, ndim=2, dtypes=(np.float32,)))
        num_rows, dim = params.shape
        plan = self._plan()
        plan.base._check_dim(dim)
        step = _check_step(global_step)
        config = plan.base._config()
        lr = self._learning_rate(learning_rate, step, config)
        S = self._check_state(state, num_rows, dim, plan)
        return xp, plan, config, S, lr, step

    def apply(self, params, grads, state, learning_rate=None, global_step=0):
        """Update every row of ``params`` (and ``state``) in place.

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table, updated in place.
        grads : (num_rows, dim) float32 array
            One gradient row per table row.
        state : dict of str to array
            The optimizer state (from :meth:`init_state`), updated in place.
        learning_rate : float, LearningRateFunction, 1-D float array or None, default None
            ``None``: the config's rate (with its warm-up ramp); a float; a
            schedule evaluated at ``global_step``; or per-slice rates of which
            the first is used.
        global_step : int, default 0
            The training step (before its increment), read by warm-up,
            schedules and ``BatchSoftmaxOptimizer``.

        Raises
        ------
        TypeError, ValueError
            On wrong dtypes, shapes, state, read-only params or state, or a negative learning rate, before
            anything is written.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.optim import SgdOptimizer
        >>> opt = SgdOptimizer(learning_rate=1.0)
        >>> params = np.ones((2, 2), np.float32)
        >>> grads = np.array([[1.0, 2.0], [0.0, 4.0]], np.float32)
        >>> opt.apply(params, grads, opt.init_state(2, 2), learning_rate=0.5)
        >>> params.tolist()
        [[0.5, 0.0], [1.0, -1.0]]
        """
        xp, plan, config, S, lr, step = self._prepare(params, grads, state, learning_rate, global_step)
        check_array("grads", grads, dtypes=(np.float32,), shape=params.shape)
        self._run_dense(xp, plan, config, params, grads, S, lr, step)

    def _apply_impl(self, params, grads, S, lr, global_step):
        """:meth:`apply` on validated inputs (no checks).

        ``params``/``grads`` are ``(num_rows, dim)`` float32 arrays of one
        module, ``S`` the state tuple (:meth:`_state_arrays`), ``lr`` a
        float32 rate or ``None`` (the config's, with its warm-up) and
        ``global_step`` an int ``>= 0``.
        """
        plan = self._plan()
        config = plan.base._config()
        lr = self._default_learning_rate(global_step, config) if lr is None else lr
        self._run_dense(array_module(params=params), plan, config, params, grads, S, lr, global_step)

    def _run_dense(self, xp, plan, config, params, grads, S, lr, step):
        hp = plan.hparams(config)
        if xp is np:
            dense = cpu_kernels(plan.base._row.entry, plan.rounding, plan.dc)[1]
            dense(params, np.ascontiguousarray(grads), S, lr, hp, step, np.uint64(plan.seed))
        else:
            gpu_drivers().optim.apply_dense_gpu(plan.base._row.entry, plan.rounding, params,
                                                xp.ascontiguousarray(grads), S, lr, xp.asarray(hp), step, plan.seed,
                                                dc=plan.dc)

    def apply_rows(self, params, rows, grads, state, learning_rate=None, global_step=0):
        """Update the rows ``rows`` of ``params`` (and ``state``) in place.

        Duplicate rows are merged first: their gradients are summed in
        occurrence order and the rule runs once per distinct row (Monolith's
        ``enable_dedup`` path).

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table, updated in place.
        rows : (n,) int64 or int32 array
            Row of each gradient, in ``[0, num_rows)``; may repeat.
        grads : (n, dim) float32 array
            Gradient rows.
        state : dict of str to array
            The optimizer state (from :meth:`init_state`), updated in place.
        learning_rate : float, LearningRateFunction, 1-D float array or None, default None
            As in :meth:`apply`.
        global_step : int, default 0
            As in :meth:`apply`.

        Raises
        ------
        TypeError, ValueError
            On wrong dtypes, shapes, out-of-range rows, state or a negative
            learning rate, before any row is touched.

        Examples
        --------
        Row 1 appears twice: its two gradients are summed, then applied once.

        >>> import numpy as np
        >>> from monolith_np.optim import SgdOptimizer
        >>> opt = SgdOptimizer(learning_rate=1.0)
        >>> params = np.zeros((3, 2), np.float32)
        >>> grads = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.5]], np.float32)
        >>> opt.apply_rows(params, np.array([1, 1, 0]), grads, opt.init_state(3, 2))
        >>> params.tolist()
        [[-0.5, -0.5], [-4.0, -6.0], [0.0, 0.0]]
        """
        xp, plan, config, S, lr, step = self._prepare(params, grads, state, learning_rate, global_step)
        rows = asarray(rows, xp)
        check_array("rows", rows, ndim=1, dtypes=(np.int64, np.int32))
        check_array("grads", grads, dtypes=(np.float32,), shape=(rows.shape[0], params.shape[1]))
        rows = _check_rows(xp, rows, params.shape[0])
        if rows.size:
            self._run_rows(xp, plan, config, params, rows, grads, S, lr, step)

    def _apply_rows_impl(self, params, rows, grads, S, lr, global_step, sequential=False):
        """:meth:`apply_rows` on validated inputs (no checks, no device reads).

        ``rows`` is a non-empty int64 array of rows in ``[0, num_rows)`` of
        the module of ``params``; ``grads`` ``(n, dim)`` float32 or a
        :class:`~monolith_np.optim.sparse.RowGrads`; ``S`` the
        state tuple (:meth:`_state_arrays`); ``lr`` a float32 rate resolved
        by the caller, or ``None`` (the config's, with its warm-up), and
        ``global_step`` an int ``>= 0``. ``sequential`` (numpy arrays only):
        no merging, the rule runs once per occurrence, a repeated row's in
        order (a table's ``dedup=False``).
        """
        plan = self._plan()
        config = plan.base._config()
        lr = self._default_learning_rate(global_step, config) if lr is None else lr
        self._run_rows(array_module(params=params), plan, config, params, rows, grads, S, lr, global_step,
                       sequential)

    def _run_rows(self, xp, plan, config, params, rows, grads, S, lr, step, sequential=False):
        hp = plan.hparams(config)
        if sequential:
            driver = cpu_kernels(plan.base._row.entry, plan.rounding, plan.dc)[2]
            run_sequential(driver, params, rows, np.ascontiguousarray(expand_grads(grads, np)), S, lr, hp, step,
                           np.uint64(plan.seed))
        elif xp is np and isinstance(grads, RowGrads) and grads.groups is not None:
            grouped = cpu_kernels(plan.base._row.entry, plan.rounding, plan.dc)[3]
            run_grouped(grouped, params, rows, grads, S, lr, hp, step, np.uint64(plan.seed))
        elif xp is np:
            sparse = cpu_kernels(plan.base._row.entry, plan.rounding, plan.dc)[0]
            run_sparse(sparse, params, rows, grads, S, lr, hp, step, np.uint64(plan.seed))
        else:
            gpu_drivers().optim.apply_rows_gpu(plan.base._row.entry, plan.rounding, params, rows,
                                               xp.ascontiguousarray(expand_grads(grads, xp)), S, lr, xp.asarray(hp),
                                               step, plan.seed, dc=plan.dc)



@register("sgd", R.sgd_at)
class SgdOptimizer(Optimizer):
    r"""Stochastic gradient descent.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.01).

    Notes
    -----
    .. math:: w \leftarrow w - \eta g

    No state (``dump_state`` writes an empty ``sgd {}`` record).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.optim import SgdOptimizer
    >>> opt = SgdOptimizer(learning_rate=1.0)
    >>> params = np.zeros((3, 2), np.float32)
    >>> state = opt.init_state(3, 2)
    >>> opt.apply_rows(params, np.array([0, 2]), np.array([[1.0, 2.0], [-0.5, 0.25]], np.float32), state)
    >>> params.tolist(), state
    ([[-1.0, -2.0], [0.0, 0.0], [0.5, -0.25]], {})
    """

    def __init__(self, learning_rate=None):
        self.learning_rate = learning_rate
        self._check_config(nonneg=("learning_rate",))


@register("adagrad", R.adagrad_at, (("norm", "e"),))
class AdagradOptimizer(Optimizer):
    r"""AdaGrad (Duchi et al. 2011) with coupled weight decay.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.001).
    initial_accumulator_value : float, optional
        Initial ``norm`` (proto default 0.1).
    hessian_compression_times : int, default 1
        Kept for the config; not implemented by Monolith either.
    warmup_steps : int, default 0
        Linear learning-rate ramp length (see :class:`Optimizer`).
    weight_decay_factor : float, default 0.0
        L2 weight decay ``lambda`` added to the gradient.

    Notes
    -----
    .. math::
        u = g + \lambda w,\quad n \leftarrow n + u^2,\quad w \leftarrow w - \frac{\eta}{\sqrt{n}} u

    State ``norm``: ``(num_rows, dim)``. Monolith's AVX path uses the raw
    gradient in the step for full 8-float blocks (docs/monolith-differences.md).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.optim import AdagradOptimizer
    >>> opt = AdagradOptimizer(learning_rate=1.0, initial_accumulator_value=0.0)
    >>> params = np.zeros((2, 2), np.float32)
    >>> state = opt.init_state(2, 2)
    >>> opt.apply_rows(params, np.array([1]), np.array([[3.0, -4.0]], np.float32), state)
    >>> params[1].tolist(), state["norm"][1].tolist()
    ([-1.0, 1.0], [9.0, 16.0])
    """

    def __init__(self, learning_rate=None, initial_accumulator_value=None, hessian_compression_times=1,
                 warmup_steps=0, weight_decay_factor=0.0):
        self.learning_rate = learning_rate
        self.initial_accumulator_value = initial_accumulator_value
        self.hessian_compression_times = hessian_compression_times
        self.weight_decay_factor = weight_decay_factor
        self.warmup_steps = warmup_steps
        self._check_config(nonneg=("learning_rate", "initial_accumulator_value", "weight_decay_factor"),
                           integer=("warmup_steps", "hessian_compression_times"))

    def _hparams(self, config):
        return (config.weight_decay_factor,)

    def _initial(self, config):
        return {"norm": config.initial_accumulator_value}


@register("dynamic_wd_adagrad", R.dynamic_wd_adagrad_at, (("norm", "e"),))
class DynamicWdAdagradOptimizer(AdagradOptimizer):
    r"""AdaGrad with coupled or decoupled weight decay.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.001).
    initial_accumulator_value : float, optional
        Initial ``norm`` (proto default 0.1).
    hessian_compression_times : int, default 1
        Kept for the config (not implemented by Monolith).
    warmup_steps : int, default 0
        Linear learning-rate ramp length.
    weight_decay_factor : float, default 0.0
        Weight decay ``lambda``.
    decouple_weight_decay : bool, default True
        Decoupled decay (AdamW style) instead of adding ``lambda w`` to the gradient.
    enable_dynamic_wd : bool, default True
        Kept for the config; Monolith has no implementation, nor do we.
    flip_direction : bool, default True
        Kept for the config (unimplemented in Monolith).
    dynamic_wd_temperature : float, default 1.0
        Kept for the config (unimplemented in Monolith).

    Notes
    -----
    Coupled: as :class:`AdagradOptimizer`. Decoupled:

    .. math:: n \leftarrow n + g^2,\quad w \leftarrow w - \frac{\eta}{\sqrt{n}} g - \eta\lambda w

    Monolith's factory refuses to build this optimizer; we run the math of its
    helpers (``dynamic_wd_avx_utils.h``).

    Examples
    --------
    Decoupled weight decay: the AdaGrad step minus ``learning_rate * weight_decay_factor * w``.

    >>> import numpy as np
    >>> from monolith_np.optim import DynamicWdAdagradOptimizer
    >>> opt = DynamicWdAdagradOptimizer(learning_rate=1.0, initial_accumulator_value=0.0, weight_decay_factor=0.5)
    >>> params = np.ones((1, 2), np.float32)
    >>> state = opt.init_state(1, 2)
    >>> opt.apply_rows(params, np.array([0]), np.array([[2.0, -2.0]], np.float32), state)
    >>> params.tolist(), state["norm"].tolist()
    ([[-0.5, 1.5]], [[4.0, 4.0]])
    """

    def __init__(self, learning_rate=None, initial_accumulator_value=None, hessian_compression_times=1,
                 warmup_steps=0, weight_decay_factor=0.0, decouple_weight_decay=True, enable_dynamic_wd=True,
                 flip_direction=True, dynamic_wd_temperature=1.0):
        super().__init__(learning_rate, initial_accumulator_value, hessian_compression_times, warmup_steps,
                         weight_decay_factor)
        self.decouple_weight_decay = decouple_weight_decay
        self.enable_dynamic_wd = enable_dynamic_wd
        self.flip_direction = flip_direction
        self.dynamic_wd_temperature = dynamic_wd_temperature

    def _hparams(self, config):
        return (config.weight_decay_factor, float(config.decouple_weight_decay))


@register("ftrl", R.ftrl_at, (("zero", "e"), ("norm", "e")))
class FtrlOptimizer(Optimizer):
    r"""FTRL-Proximal (McMahan et al. 2013).

    Parameters
    ----------
    learning_rate : float, optional
        ``alpha`` (proto default 0.01).
    initial_accumulator_value : float, optional
        Initial ``norm`` (proto default 0.1).
    beta : float, optional
        Added to ``sqrt(norm)`` (proto default 0).
    warmup_steps : int, default 0
        Linear learning-rate ramp length.
    l1_regularization : float, optional
        ``lambda1`` (proto default 0); stored as ``l1_regularization_strength``.
    l2_regularization : float, optional
        ``lambda2`` (proto default 0); stored as ``l2_regularization_strength``.

    Notes
    -----
    .. math::
        n' = n + g^2,\ \sigma = (\sqrt{n'} - \sqrt{n})/\eta,\ z \leftarrow z + g - \sigma w,\
        w = \begin{cases} \eta(\mathrm{sign}(z)\lambda_1 - z) / (\sqrt{n'} + \beta + \lambda_2\eta)
        & |z| > \lambda_1 \\ 0 & \text{otherwise}\end{cases}

    State ``zero``, ``norm``. Monolith multiplies ``lambda1`` by the sign *bit*
    instead of ``sign(z)``; we use the textbook sign (docs/monolith-differences.md).

    Examples
    --------
    The first value's ``|z|`` is below ``l1_regularization``, so it stays 0:

    >>> import numpy as np
    >>> from monolith_np.optim import FtrlOptimizer
    >>> opt = FtrlOptimizer(learning_rate=1.0, initial_accumulator_value=0.0, l1_regularization=0.5)
    >>> params = np.zeros((1, 3), np.float32)
    >>> state = opt.init_state(1, 3)
    >>> opt.apply_rows(params, np.array([0]), np.array([[0.25, 1.0, -4.0]], np.float32), state)
    >>> params.tolist()
    [[0.0, -0.5, 0.875]]
    >>> state["zero"].tolist(), state["norm"].tolist()
    ([[0.25, 1.0, -4.0]], [[0.0625, 1.0, 16.0]])
    """

    def __init__(self, learning_rate=None, initial_accumulator_value=None, beta=None, warmup_steps=0,
                 l1_regularization=None, l2_regularization=None):
        self.learning_rate = learning_rate
        self.initial_accumulator_value = initial_accumulator_value
        self.beta = beta
        self.l1_regularization_strength = l1_regularization
        self.l2_regularization_strength = l2_regularization
        self.warmup_steps = warmup_steps
        self._check_config(nonneg=("learning_rate", "initial_accumulator_value", "beta",
                                   "l1_regularization_strength", "l2_regularization_strength"),
                           integer=("warmup_steps",))

    def _hparams(self, config):
        return (config.beta, config.l1_regularization_strength, config.l2_regularization_strength)

    def _initial(self, config):
        return {"norm": config.initial_accumulator_value}


@register("group_ftrl", R.group_ftrl_at, (("zero", "e"), ("norm", "e")))
class FTRLWithGroupSparsityOptimizer(FtrlOptimizer):
    r"""FTRL with group (row-wise) l1 sparsity.

    Parameters
    ----------
    learning_rate : float, optional
        ``alpha`` (proto default 0.01).
    initial_accumulator_value : float, optional
        Initial ``norm`` (proto default 0.0).
    beta : float, optional
        Added to ``sqrt(norm)`` (proto default 1.0).
    warmup_steps : int, default 0
        Linear learning-rate ramp length.
    l1_regularization : float, optional
        Group-lasso threshold on ``||z||`` (proto default 0).
    l2_regularization : float, optional
        ``lambda2`` (proto default 0).

    Notes
    -----
    Accumulators as :class:`FtrlOptimizer`; then with :math:`Z = \|z\|_2`:
    the row is zero when :math:`Z < \lambda_1`, else
    :math:`w_i = \eta z_i (\lambda_1 - Z)/Z / (\beta + \sqrt{n_i} + \lambda_2\eta)`.
    Monolith's factory refuses to build it; its AVX path flips the sign of the
    l2 term (we use ``+``, docs/monolith-differences.md).

    Examples
    --------
    Row 0 (``||z|| = 5``) shrinks towards 0; row 1 (``||z|| = 0.5 < 1``) becomes all zeros:

    >>> import numpy as np
    >>> from monolith_np.optim import FTRLWithGroupSparsityOptimizer
    >>> opt = FTRLWithGroupSparsityOptimizer(learning_rate=1.0, l1_regularization=1.0)
    >>> params = np.zeros((2, 2), np.float32)
    >>> state = opt.init_state(2, 2)
    >>> grads = np.array([[3.0, -4.0], [0.3, 0.4]], np.float32)
    >>> opt.apply_rows(params, np.array([0, 1]), grads, state)
    >>> print(np.round(params, 4))
    [[-0.6   0.64]
     [ 0.    0.  ]]
    """


@register("adadelta", R.adadelta_at, (("accum", "e"), ("accum_update", "e")))
class AdadeltaOptimizer(Optimizer):
    r"""Adadelta (Zeiler 2012) with a learning rate and weight decay.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.01).
    weight_decay_factor : float, default 0.0
        Weight decay ``lambda``.
    averaging_ratio : float, default 0.9
        ``rho``, in ``[0, 1]``; 1 keeps both accumulators at their initial
        0, so each step is ``w -= eta * u`` (SGD with weight decay), as in TF
        and Monolith.
    epsilon : float, default 0.01
        Added inside both square roots.
    warmup_steps : int, default 0
        Linear learning-rate ramp length.

    Notes
    -----
    .. math::
        u = g + \lambda w,\ a' = \rho a + (1-\rho)u^2,\
        \Delta = \frac{\sqrt{a_u + \epsilon}}{\sqrt{a' + \epsilon}} u,\
        w \leftarrow w - \eta\Delta,\ a_u \leftarrow \rho a_u + (1-\rho)\Delta^2

    State ``accum``, ``accum_update``.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.optim import AdadeltaOptimizer
    >>> opt = AdadeltaOptimizer(learning_rate=1.0)
    >>> params = np.zeros((1, 2), np.float32)
    >>> state = opt.init_state(1, 2)
    >>> opt.apply_rows(params, np.array([0]), np.array([[1.0, -1.0]], np.float32), state)
    >>> print(np.round(params, 4))
    [[-0.3015  0.3015]]
    >>> print(np.round(state["accum"], 4), np.round(state["accum_update"], 4))
    [[0.1 0.1]] [[0.0091 0.0091]]
    """

    def __init__(self, learning_rate=None, weight_decay_factor=0.0, averaging_ratio=0.9, epsilon=0.01,
                 warmup_steps=0):
        self.learning_rate = learning_rate
        self.weight_decay_factor = weight_decay_factor
        self.averaging_ratio = averaging_ratio
        self.epsilon = epsilon
        self.warmup_steps = warmup_steps
        self._check_config(nonneg=("learning_rate", "weight_decay_factor", "epsilon"),
                           closed_unit=("averaging_ratio",), integer=("warmup_steps",))

    def _hparams(self, config):
        return (config.weight_decay_factor, config.averaging_ratio, config.epsilon)


@register("adam", R.adam_at, (("m", "e"), ("v", "e"), ("beta1_power", "p"), ("beta2_power", "p")))
class AdamOptimizer(Optimizer):
    r"""Adam (Kingma & Ba 2015) with per-row bias correction.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.01).
    beta1 : float, default 0.9
        First-moment decay, in ``[0, 1)`` (1 divides by ``1 - beta1**t = 0``).
    beta2 : float, default 0.99
        Second-moment decay, in ``[0, 1]`` (1 makes the step size 0, as in TF
        and Monolith).
    use_beta1_warmup : bool, default False
        Kept for the config; never read by Monolith either.
    weight_decay_factor : float, default 0.0
        Weight decay ``lambda`` added to the gradient.
    use_nesterov : bool, default False
        Nesterov momentum.
    epsilon : float, default 0.01
        Added outside the square root.
    warmup_steps : int, default 0
        Linear learning-rate ramp length.

    Notes
    -----
    .. math::
        \eta_t = \eta\sqrt{1-\beta_2^t}/(1-\beta_1^t),\ m \leftarrow m + (u-m)(1-\beta_1),\
        v \leftarrow v + (u^2-v)(1-\beta_2),\ w \leftarrow w - \eta_t m/(\sqrt{v}+\epsilon)

    with :math:`u = g + \lambda w`; the powers are per row (state
    ``beta1_power``, ``beta2_power``, initialised to ``beta1``, ``beta2``);
    the step size in double as in Monolith, the ``sqrt`` and final division in
    float32 (Monolith: double; within 1e-6, docs/monolith-differences.md).

    Examples
    --------
    With ``epsilon=0`` the first step moves each value by ``learning_rate`` against the gradient's sign:

    >>> import numpy as np
    >>> from monolith_np.optim import AdamOptimizer
    >>> opt = AdamOptimizer(learning_rate=1.0, beta1=0.5, beta2=0.5, epsilon=0.0)
    >>> params = np.zeros((1, 2), np.float32)
    >>> state = opt.init_state(1, 2)
    >>> opt.apply_rows(params, np.array([0]), np.array([[3.0, -4.0]], np.float32), state)
    >>> print(np.round(params, 4))
    [[-1.  1.]]
    >>> state["m"].tolist(), state["v"].tolist(), state["beta1_power"].tolist()
    ([[1.5, -2.0]], [[4.5, 8.0]], [0.25])
    """

    def __init__(self, learning_rate=None, beta1=0.9, beta2=0.99, use_beta1_warmup=False, weight_decay_factor=0.0,
                 use_nesterov=False, epsilon=0.01, warmup_steps=0):
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.use_beta1_warmup = use_beta1_warmup
        self.weight_decay_factor = weight_decay_factor
        self.use_nesterov = use_nesterov
        self.epsilon = epsilon
        self.warmup_steps = warmup_steps
        self._check_config(nonneg=("learning_rate", "weight_decay_factor", "epsilon"), unit=("beta1",),
                           closed_unit=("beta2",), integer=("warmup_steps",))

    def _hparams(self, config):
        return (config.beta1, config.beta2, config.epsilon, config.weight_decay_factor, float(config.use_nesterov))

    def _initial(self, config):
        return {"beta1_power": config.beta1, "beta2_power": config.beta2}


@register("amsgrad", R.amsgrad_at,
          (("m", "e"), ("v", "e"), ("vhat", "e"), ("beta1_power", "p"), ("beta2_power", "p")))
class AmsgradOptimizer(AdamOptimizer):
    r"""Amsgrad (Reddi et al. 2018): Adam with a running maximum of ``v``.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.01).
    beta1 : float, default 0.9
        First-moment decay, in ``[0, 1)`` (1 divides by ``1 - beta1**t = 0``).
    beta2 : float, default 0.99
        Second-moment decay, in ``[0, 1]`` (1 makes the step size 0, as in TF
        and Monolith).
    weight_decay_factor : float, default 0.0
        Weight decay ``lambda``.
    use_nesterov : bool, default False
        Nesterov momentum.
    epsilon : float, default 0.01
        Added outside the square root.
    warmup_steps : int, default 0
        Linear learning-rate ramp length.

    Notes
    -----
    As :class:`AdamOptimizer` with :math:`\hat v \leftarrow \max(\hat v, v)` in
    the denominator. State ``m``, ``v``, ``vhat``, ``beta1_power``, ``beta2_power``.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.optim import AmsgradOptimizer
    >>> opt = AmsgradOptimizer(learning_rate=1.0, beta1=0.5, beta2=0.5, epsilon=0.0)
    >>> params = np.zeros((1, 2), np.float32)
    >>> state = opt.init_state(1, 2)
    >>> rows = np.array([0])
    >>> opt.apply_rows(params, rows, np.array([[4.0, -4.0]], np.float32), state)
    >>> opt.apply_rows(params, rows, np.array([[0.0, 6.0]], np.float32), state)
    >>> state["v"].tolist(), state["vhat"].tolist()
    ([[4.0, 22.0]], [[8.0, 22.0]])
    >>> print(np.round(params, 4))
    [[-1.4082  0.5076]]
    """

    def __init__(self, learning_rate=None, beta1=0.9, beta2=0.99, weight_decay_factor=0.0, use_nesterov=False,
                 epsilon=0.01, warmup_steps=0):
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.weight_decay_factor = weight_decay_factor
        self.use_nesterov = use_nesterov
        self.epsilon = epsilon
        self.warmup_steps = warmup_steps
        self._check_config(nonneg=("learning_rate", "weight_decay_factor", "epsilon"), unit=("beta1",),
                           closed_unit=("beta2",), integer=("warmup_steps",))


@register("momentum", R.momentum_at, (("n", "e"),))
class MomentumOptimizer(Optimizer):
    r"""Momentum SGD (optionally Nesterov) with weight decay.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.01).
    weight_decay_factor : float, default 0.0
        Weight decay ``lambda``.
    use_nesterov : bool, default False
        Nesterov momentum.
    momentum : float, default 0.9
        ``mu``.
    warmup_steps : int, default 0
        Linear learning-rate ramp length.

    Notes
    -----
    .. math::
        n' = \mu n - \eta(g + \lambda w),\quad
        w \leftarrow w + n' \ \text{(plain)},\quad w \leftarrow w - \mu n + (1+\mu)n' \ \text{(Nesterov)}

    State ``n``.

    Examples
    --------
    Two equal steps: the second moves ``1 + momentum`` times as far as the first.

    >>> import numpy as np
    >>> from monolith_np.optim import MomentumOptimizer
    >>> opt = MomentumOptimizer(learning_rate=1.0, momentum=0.5)
    >>> params = np.zeros((1, 2), np.float32)
    >>> state = opt.init_state(1, 2)
    >>> grads = np.array([[1.0, 2.0]], np.float32)
    >>> opt.apply_rows(params, np.array([0]), grads, state)
    >>> opt.apply_rows(params, np.array([0]), grads, state)
    >>> params.tolist(), state["n"].tolist()
    ([[-2.5, -5.0]], [[-1.5, -3.0]])
    """

    def __init__(self, learning_rate=None, weight_decay_factor=0.0, use_nesterov=False, momentum=0.9,
                 warmup_steps=0):
        self.learning_rate = learning_rate
        self.weight_decay_factor = weight_decay_factor
        self.use_nesterov = use_nesterov
        self.momentum = momentum
        self.warmup_steps = warmup_steps
        self._check_config(nonneg=("learning_rate", "weight_decay_factor", "momentum"), integer=("warmup_steps",))

    def _hparams(self, config):
        return (config.weight_decay_factor, config.momentum, float(config.use_nesterov))


@register("moving_average", R.moving_average_at)
class MovingAverageOptimizer(Optimizer):
    r"""Exponential moving average of the pushed values (no learning rate).

    Parameters
    ----------
    momentum : float, default 0.9
        ``mu``.

    Notes
    -----
    .. math:: w \leftarrow \mu w + (1 - \mu) g

    The "gradient" is the new observation. No state, no dump record; the
    learning rate and global step are ignored.

    Examples
    --------
    The pushed rows are observations, not gradients:

    >>> import numpy as np
    >>> from monolith_np.optim import MovingAverageOptimizer
    >>> opt = MovingAverageOptimizer(momentum=0.5)
    >>> params = np.zeros((1, 2), np.float32)
    >>> state = opt.init_state(1, 2)
    >>> for _ in range(2):
    ...     opt.apply_rows(params, np.array([0]), np.array([[2.0, 4.0]], np.float32), state)
    >>> params.tolist()
    [[1.5, 3.0]]
    """

    def __init__(self, momentum=0.9):
        self.momentum = momentum
        self._check_config(nonneg=("momentum",))

    def _hparams(self, config):
        return (config.momentum,)

    def _dump_row(self, dump, state, r):
        pass


@register("rmsprop", R.rmsprop_at, (("n", "e"),))
class RmspropOptimizer(Optimizer):
    r"""Monolith's hash-table RMSprop (double precision, fixed +1 epsilon).

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.01).
    weight_decay_factor : float, default 0.0
        Weight decay ``lambda``.
    momentum : float, default 0.9
        Decay ``mu`` of the mean square.

    Notes
    -----
    .. math::
        u = g + \lambda w,\quad n \leftarrow \mu n + (1-\mu)u^2,\quad
        w \leftarrow w - \frac{\eta}{\sqrt{n} + 1} u

    State ``n``. Monolith always uses the config's rate here; we use the call's
    (the config's by default).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.optim import RmspropOptimizer
    >>> opt = RmspropOptimizer(learning_rate=1.0, momentum=0.75)
    >>> params = np.zeros((1, 2), np.float32)
    >>> state = opt.init_state(1, 2)
    >>> opt.apply_rows(params, np.array([0]), np.array([[2.0, -6.0]], np.float32), state)
    >>> params.tolist(), state["n"].tolist()
    ([[-1.0, 1.5]], [[1.0, 9.0]])
    """

    def __init__(self, learning_rate=None, weight_decay_factor=0.0, momentum=0.9):
        self.learning_rate = learning_rate
        self.weight_decay_factor = weight_decay_factor
        self.momentum = momentum
        self._check_config(nonneg=("learning_rate", "weight_decay_factor", "momentum"))

    def _hparams(self, config):
        return (config.weight_decay_factor, config.momentum)


@register("rmspropv2", R.rmsprop_v2_at, (("n", "e"),))
class RmspropV2Optimizer(RmspropOptimizer):
    r"""RMSprop v2: :class:`RmspropOptimizer` without the ``(1 - mu)`` factor.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.01).
    weight_decay_factor : float, default 0.0
        Weight decay ``lambda``.
    momentum : float, default 0.9
        Decay ``mu`` of the accumulator.

    Notes
    -----
    .. math:: n \leftarrow \mu n + u^2,\quad w \leftarrow w - \frac{\eta}{\sqrt{n} + 1} u

    State ``n``.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.optim import RmspropV2Optimizer
    >>> opt = RmspropV2Optimizer(learning_rate=1.0, momentum=0.5)
    >>> params = np.zeros((1, 2), np.float32)
    >>> state = opt.init_state(1, 2)
    >>> opt.apply_rows(params, np.array([0]), np.array([[1.0, -3.0]], np.float32), state)
    >>> params.tolist(), state["n"].tolist()
    ([[-0.5, 0.75]], [[1.0, 9.0]])
    """


@register("group_adagrad", R.group_adagrad_at, (("grad_square_sum", "p"),))
class AdaGradWithGroupLassoOptimizer(Optimizer):
    r"""AdaGrad with group lasso: one accumulator per row.

    Parameters
    ----------
    learning_rate : float, optional
        Step size (proto default 0.01).
    beta : float, optional
        Added to ``sqrt(G)`` (proto default 0).
    initial_accumulator_value : float, optional
        Initial ``grad_square_sum`` (proto default 0.1).
    l2_regularization : float, optional
        Group-lasso threshold (proto default 0); stored as ``l2_regularization_strength``.
    weight_decay_factor : float, default 0.0
        Weight decay ``lambda``.
    warmup_steps : int, default 0
        Linear learning-rate ramp length.

    Notes
    -----
    .. math::
        u = g + \lambda w,\ G \leftarrow G + \max_i u_i^2,\ \alpha = \eta/(\beta + \sqrt{G}),\
        z = u - w/\alpha,\ w = \begin{cases}0 & \|z\| < \ell \\
        -\alpha(\|z\| - \ell) z/\|z\| & \text{otherwise}\end{cases}

    State ``grad_square_sum``: ``(num_rows,)``.

    Examples
    --------
    Row 0 (``||z|| = 5``) shrinks towards 0; row 1 (``||z|| = 0.5 < 1``) becomes all zeros:

    >>> import numpy as np
    >>> from monolith_np.optim import AdaGradWithGroupLassoOptimizer
    >>> opt = AdaGradWithGroupLassoOptimizer(learning_rate=1.0, initial_accumulator_value=0.0, l2_regularization=1.0)
    >>> params = np.zeros((2, 2), np.float32)
    >>> state = opt.init_state(2, 2)
    >>> opt.apply_rows(params, np.array([0, 1]), np.array([[3.0, -4.0], [0.0, 0.5]], np.float32), state)
    >>> print(np.round(params, 4))
    [[-0.6  0.8]
     [ 0.   0. ]]
    >>> state["grad_square_sum"].tolist()
    [16.0, 0.25]
    """

    def __init__(self, learning_rate=None, beta=None, initial_accumulator_value=None, l2_regularization=None,
                 weight_decay_factor=0.0, warmup_steps=0):
        self.learning_rate = learning_rate
        self.beta = beta
        self.initial_accumulator_value = initial_accumulator_value
        self.l2_regularization_strength = l2_regularization
        self.weight_decay_factor = weight_decay_factor
        self.warmup_steps = warmup_steps
        self._check_config(nonneg=("learning_rate", "beta", "initial_accumulator_value",
                                   "l2_regularization_strength", "weight_decay_factor"), integer=("warmup_steps",))

    def _hparams(self, config):
        return (config.beta, config.l2_regularization_strength, config.weight_decay_factor)

    def _initial(self, config):
        return {"grad_square_sum": config.initial_accumulator_value}


@register("batch_softmax", R.batch_softmax_at, (("global_step", "i"),))
class BatchSoftmaxOptimizer(Optimizer):
    r"""Step-interval estimator for batch softmax (Yi et al. 2019); ``dim`` must be 1.

    Parameters
    ----------
    learning_rate : float, optional
        Smoothing ``alpha`` (proto default 0.1).

    Notes
    -----
    .. math:: w \leftarrow (1 - \alpha) w + \alpha (t - A),\quad A \leftarrow t

    at global step ``t``; the gradient is ignored. State ``global_step`` (int64
    per row, initially 0).

    Examples
    --------
    Row 0 is seen at steps 4 and 6, row 1 only at step 6:

    >>> import numpy as np
    >>> from monolith_np.optim import BatchSoftmaxOptimizer
    >>> opt = BatchSoftmaxOptimizer(learning_rate=0.5)
    >>> params = np.zeros((2, 1), np.float32)
    >>> state = opt.init_state(2, 1)
    >>> opt.apply_rows(params, np.array([0]), np.zeros((1, 1), np.float32), state, global_step=4)
    >>> opt.apply_rows(params, np.array([0, 1]), np.zeros((2, 1), np.float32), state, global_step=6)
    >>> params.ravel().tolist(), state["global_step"].tolist()
    ([2.0, 3.0], [6, 6])
    """

    def __init__(self, learning_rate=None):
        self.learning_rate = learning_rate
        self._check_config(nonneg=("learning_rate",))

    def _check_dim(self, dim):
        if dim != 1:
            raise ValueError(f"dim must be 1 for BatchSoftmaxOptimizer, got {dim}")


class StochasticRoundingFloat16OptimizerWrapper(Optimizer):
    r"""Round the rows an optimizer updated to float16 values, stochastically.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer (any table optimizer, also a decorator, as in
        Monolith's ``entry.py``); its state, dumps and config are used.

    Notes
    -----
    After the wrapped rule updates a row, every value :math:`v` becomes its
    float16 neighbour above with probability :math:`(v - d)/(u - d)` and the
    one below otherwise (:math:`d \le v \le u`), which is unbiased. The
    uniforms come from :mod:`monolith_np._random` with the stream keyed by
    ``(seed, global_step)`` and counter ``row * dim + i``; the seed is the
    ``seed`` attribute (0; set it to vary streams). Monolith's generator is
    biased towards ``+inf`` and its decorator drops ``global_step``
    (docs/monolith-differences.md).

    The wrapper only sets the drivers' ``rounding`` flag on the wrapped
    optimizer's plan, so wrapping twice rounds once (the config has one
    ``stochastic_rounding_float16`` flag) and wrapping a
    :class:`DcOptimizerWrapper` equals the other nesting order.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.optim import SgdOptimizer, StochasticRoundingFloat16OptimizerWrapper
    >>> opt = StochasticRoundingFloat16OptimizerWrapper(SgdOptimizer(learning_rate=1.0))
    >>> params = np.zeros((1, 3), np.float32)
    >>> state = opt.init_state(1, 3)
    >>> opt.apply_rows(params, np.array([0]), np.full((1, 3), -1 / 3, np.float32), state)
    >>> bool(np.all(params == params.astype(np.float16)))
    True
    >>> params.tolist()  # each value is one of the two float16 neighbours of 1/3
    [[0.33349609375, 0.33349609375, 0.333251953125]]
    """

    seed = 0

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a table optimizer, got {type(optimizer).__name__}")
        self._optimizer = optimizer

    def _plan(self):
        return self._optimizer._plan()._replace(rounding=True, seed=int(self.seed))

    def as_proto(self):
        """Return the wrapped optimizer's config with ``stochastic_rounding_float16`` set.

        Returns
        -------
        monolith_np.proto.OptimizerConfig
            As Monolith's wrapper returns it.

        Examples
        --------
        >>> from monolith_np.optim import SgdOptimizer, StochasticRoundingFloat16OptimizerWrapper
        >>> print(StochasticRoundingFloat16OptimizerWrapper(SgdOptimizer(learning_rate=0.5)).as_proto())
        sgd {
          learning_rate: 0.5
        }
        stochastic_rounding_float16: true
        """
        proto = self._optimizer.as_proto()
        proto.stochastic_rounding_float16 = True
        return proto


class DcOptimizerWrapper(Optimizer):
    r"""Delay-compensated gradients (DC-ASGD, Zheng et al. 2017) in front of an optimizer.

    Monolith's ``dc_optimizer.cc`` decorator (``NewDcOptimizer(config,
    base)``), which has no Python class in the original (``entry.py``: "TODO:
    put DcOptimizer into entry.py"); the name is this library's.

    Parameters
    ----------
    optimizer : Optimizer
        The base optimizer (any table optimizer, also a
        :class:`StochasticRoundingFloat16OptimizerWrapper`; not one that is
        already delay-compensated). Its state, dumps, learning rate and
        hyperparameters are used.
    lambda_ : float, default 0.0
        The compensation strength :math:`\lambda` (``DcOptimizerConfig.lambda_``).

    Notes
    -----
    Before the base rule updates a row :math:`w` with the (duplicate-summed)
    gradient :math:`g`, the gradient becomes

    .. math:: g'_i = g_i + \lambda\, g_i\, g_i\, (w_i - \ell_i)

    (float32, left-to-right products), where :math:`\ell` is the row's value
    when the gradient was computed (Monolith's ``latest_value`` argument of
    ``OptimizeWithLatestValue``). Here it is the state array ``latest``
    (``(num_rows, dim)`` float32, initially 0), which the caller records at
    lookup time with :meth:`snapshot` (or ``state["latest"][rows] =
    params[rows]``); the update reads it and never writes it. With
    :math:`\lambda = 0` the result equals the base optimizer's bit for bit.

    ``dump_state``/``restore_state`` are the base's: Monolith's decorator
    adds no dump record and keeps no ``latest`` in the row's state, so
    ``latest`` is neither dumped nor restored (take a new snapshot after a
    restore). ``global_step`` reaches the base optimizer (Monolith's plain
    ``Optimize`` drops it, docs/monolith-differences.md). :meth:`as_proto`
    gives ``OptimizerConfig`` with only the ``dc`` member set: the config's
    oneof cannot hold the base as well (``optimizer.as_proto()`` is the
    base's), and, as in Monolith's factory,
    :func:`~monolith_np.entry.optimizer_from_config` cannot build it.

    Examples
    --------
    The gradient ``[1, 2]`` is computed at the snapshot ``[1, 1]``; the row has since moved to
    ``[2, 2]``, so it becomes ``g + g * g * (w - latest) = [2, 6]`` before the SGD step:

    >>> import numpy as np
    >>> from monolith_np.optim import DcOptimizerWrapper, SgdOptimizer
    >>> opt = DcOptimizerWrapper(SgdOptimizer(learning_rate=1.0), lambda_=1.0)
    >>> params = np.ones((2, 2), np.float32)
    >>> state = opt.init_state(2, 2)
    >>> opt.snapshot(params, state)
    >>> params[0] = 2.0
    >>> opt.apply_rows(params, np.array([0]), np.array([[1.0, 2.0]], np.float32), state)
    >>> params.tolist()
    [[0.0, -4.0], [1.0, 1.0]]
    """

    def __init__(self, optimizer, lambda_=0.0):
        if not isinstance(optimizer, Optimizer) or optimizer._plan().dc:
            raise TypeError(f"optimizer must be a table optimizer other than DcOptimizerWrapper, "
                            f"got {type(optimizer).__name__}")
        self._optimizer = optimizer
        self.lambda_ = check_number("lambda_", lambda_, low=0.0, high=float(np.finfo(np.float32).max))

    @property
    def optimizer(self):
        """The base optimizer."""
        return self._optimizer

    def _plan(self):
        return self._optimizer._plan()._replace(dc=True, lambda_=float(np.float32(self.lambda_)))

    def as_proto(self):
        """Return the decorator's ``OptimizerConfig``: the ``dc`` member with ``lambda_``.

        Returns
        -------
        monolith_np.proto.OptimizerConfig
            ``dc { lambda_ }`` (plus ``stochastic_rounding_float16`` when the
            base is rounded); the base's config is ``self.optimizer.as_proto()``.

        Examples
        --------
        >>> from monolith_np.optim import DcOptimizerWrapper, SgdOptimizer
        >>> opt = DcOptimizerWrapper(SgdOptimizer(learning_rate=0.5), lambda_=0.25)
        >>> print(opt.as_proto())
        dc {
          lambda_: 0.25
        }
        >>> opt.optimizer.as_proto().WhichOneof("type")
        'sgd'
        """
        proto = optimizer_pb2.OptimizerConfig()
        proto.dc.lambda_ = self.lambda_
        if self._optimizer.as_proto().stochastic_rounding_float16:
            proto.stochastic_rounding_float16 = True
        return proto

    def snapshot(self, params, state, rows=None):
        """Record rows' current values as their ``latest`` (the values their gradients will be computed at).

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table.
        state : dict of str to array
            The wrapper's state (from :meth:`init_state`); ``state["latest"]``
            is written.
        rows : (n,) int array, optional
            Rows to record; every row when omitted.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.optim import AdagradOptimizer, DcOptimizerWrapper
        >>> opt = DcOptimizerWrapper(AdagradOptimizer(), lambda_=0.5)
        >>> params = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
        >>> state = opt.init_state(2, 2)
        >>> sorted(state)
        ['latest', 'norm']
        >>> opt.snapshot(params, state, rows=np.array([1]))
        >>> state["latest"].tolist()
        [[0.0, 0.0], [3.0, 4.0]]
        """
        xp = array_module(params=params)
        check_array("params", params, ndim=2, dtypes=(np.float32,))
        latest = self._check_state(state, *params.shape)[-1]
        if rows is None:
            latest[...] = params
            return
        rows = _check_rows(xp, asarray(rows, xp), params.shape[0])
        if rows.size:
            latest[rows] = params[rows]
