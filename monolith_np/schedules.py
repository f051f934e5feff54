"""Learning-rate schedules and gradient-norm warm-up, evaluated in float32.

:class:`PolynomialDecay` re-creates Monolith's only learning-rate function
(``monolith/native_training/learning_rate_functions.py``), which evaluates
``tf.compat.v1.train.polynomial_decay`` at the global step. The other schedules
follow ``tf.keras.optimizers.schedules`` (Keras 3) with the same argument
names, and :class:`LinearWarmup` wraps any of them with a linear ramp.
:func:`norm_warmup` is Monolith's gradient-clip-norm warm-up
(``feature_utils._gen_norm_warmup``).

Every schedule is called with the global step: a Python/numpy integer gives a
``numpy.float32`` scalar, an integer array (numpy or CuPy, any shape, any
strides) gives a float32 array of the same shape on the same device.

Write once, compile twice
-------------------------
Each schedule's math is one plain Python rule over float32 scalars, with a
small kernel entry of signature ``(step, inner, fparams, iparams, table)``, in
:mod:`monolith_np._rules.schedules`. :func:`cpu_kernels` compiles an entry and
a ``prange`` loop over it for the CPU; ``monolith_np.cuda.schedules`` compiles
the same entry as a CUDA device function inside a grid-stride kernel. A call
checks the hyperparameters (attributes may change after construction) and
validates and converts the step once (a :class:`LinearWarmup` hands the
validated step to the schedule it wraps), then runs one of the two.
"""

from __future__ import annotations

import abc
import functools
import numbers

import numpy as np
from numba import prange

from ._backend import array_module, asarray
from ._checks import check_array, check_number
from ._compile import cpu_jit
from ._dispatch import gpu_drivers
from ._rules.schedules import (
    cosine_decay_at,
    cosine_decay_restarts_at,
    exponential_decay_at,
    inverse_time_decay_at,
    linear_warmup_at,
    norm_warmup_at,
    piecewise_constant_at,
    polynomial_decay_at,
)

__all__ = [
    "LearningRateFunction",
    "PolynomialDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "PiecewiseConstantDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "LinearWarmup",
    "norm_warmup",
]

_INT64_MAX = int(np.iinfo(np.int64).max)


@functools.lru_cache(maxsize=None)
def cpu_kernels(entry):
    """Compile a kernel entry for the CPU: ``(scalar, batch)``.

    ``scalar(step, inner, fparams, iparams, table)`` is the entry itself
    compiled (the ``<entry>_cpu`` twin); ``batch(steps, fparams, iparams, table,
    out)`` loops ``prange`` over a flat int64 ``steps`` array and writes
    ``out[i] = entry(steps[i], out[i], ...)`` into a flat float32 ``out`` in place
    (``out`` holds the wrapped schedule's values on entry for ``LinearWarmup``).

    One driver per schedule keeps the entry inlined, so each loop vectorises
    (a single driver switching on the schedule per element was 20-40x slower).
    The loop is a closure over ``entry``; numba keys cached closures on their
    cell contents, so the drivers of different entries never share a cache
    entry (checked by ``tests/schedules``' cache round-trip test).

    Parameters
    ----------
    entry : callable
        One of the ``*_at`` kernel entries of :mod:`monolith_np._rules.schedules`.

    Returns
    -------
    tuple of numba dispatchers
        The compiled scalar entry and the parallel batch driver.
    """

    def batch(steps, fparams, iparams, table, out):
        for i in prange(steps.size):
            out[i] = entry(steps[i], out[i], fparams, iparams, table)

    return cpu_jit(entry), cpu_jit(parallel=True)(batch)


# ---------------------------------------------------------------------------
# Host side: step validation and the drivers' entry point
# ---------------------------------------------------------------------------

_STEP_EXPECTED = "a non-negative integer or integer array"


def _as_steps(global_step):
    """Validate ``global_step`` once and convert it for the drivers.

    Returns ``(step, None, None)`` for a scalar (``step`` a Python int) or
    ``(None, xp, steps)`` for an array (``steps`` a C-contiguous int64 array of
    the same shape); :func:`_evaluate` trusts this triple.
    """
    if isinstance(global_step, (bool, np.bool_)):
        raise TypeError(f"global_step must be {_STEP_EXPECTED}, got bool {global_step}")
    if isinstance(global_step, numbers.Integral):
        step = int(global_step)
        if step < 0:
            raise ValueError(f"global_step must be >= 0, got {step}")
        if step > _INT64_MAX:
            raise ValueError(f"global_step must be <= 2**63 - 1, got {step}")
        return step, None, None
    if isinstance(global_step, numbers.Number):
        raise TypeError(
            f"global_step must be {_STEP_EXPECTED}, got {type(global_step).__name__} {global_step} "
            "(convert with int())"
        )
    xp = array_module(global_step=global_step)
    steps = asarray(global_step, xp)
    check_array("global_step", steps, dtype_kinds="iu")
    if steps.size:
        if steps.dtype.kind == "i":
            low = int(steps.min())
            if low < 0:
                raise ValueError(f"global_step must be >= 0, got a minimum of {low}")
        elif steps.dtype.itemsize == 8:
            high = int(steps.max())
            if high > _INT64_MAX:
                raise ValueError(f"global_step must be <= 2**63 - 1, got a maximum of {high}")
    return None, xp, xp.asarray(steps, dtype=xp.int64, order="C")


def _evaluate(entry, fparams, iparams, table, steps, inner=None):
    """Run kernel ``entry`` at the validated ``steps`` of :func:`_as_steps`; ``inner`` feeds LinearWarmup."""
    step, xp, array = steps
    if array is None:
        prev = np.float32(0.0 if inner is None else inner)
        scalar = cpu_kernels(entry)[0]
        return np.float32(scalar(np.int64(step), prev, fparams, iparams, table))
    if inner is None:
        out = xp.empty(array.shape, dtype=xp.float32)
    else:
        out = xp.array(xp.broadcast_to(xp.asarray(inner, dtype=xp.float32), array.shape), order="C")
    flat, out_flat = array.reshape(-1), out.reshape(-1)
    if xp is np:
        cpu_kernels(entry)[1](flat, fparams, iparams, table, out_flat)
    else:
        gpu_drivers().schedules.schedule_gpu(
            entry, flat, xp.asarray(fparams), xp.asarray(iparams), xp.asarray(table), out_flat
        )
    return out


def _kernel_args(entry, fparams, iparams=(0,), table=(0.0,)):
    return (
        entry,
        np.asarray(fparams, dtype=np.float64),
        np.asarray(iparams, dtype=np.int64),
        np.asarray(table, dtype=np.float32),
    )


def _rate(name, value):
    return check_number(name, value, low=0.0, finite=True)


def _steps_count(name, value):
    return check_number(name, value, low=0.0, low_open=True, finite=True)


def _finite(name, value, **bounds):
    """A schedule's other real hyperparameters: finite too (an infinite one makes the rates inf or NaN)."""
    return check_number(name, value, finite=True, **bounds)


def _sequence(name, value):
    """``value`` as a list, or a TypeError naming ``name``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(value).__name__} {value!r}")
    return list(value)


def _check_name(name):
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string or None, got {type(name).__name__} {name!r}")


def _keep_arguments(schedule, arguments):
    """Store a constructor's arguments (and nothing else) as attributes, then validate them.

    ``__str__`` lists ``__dict__``, so it must hold exactly the constructor's
    parameters, as in Monolith.
    """
    for key, value in arguments.items():
        if key != "self":
            setattr(schedule, key, value)
    schedule._kernel_args()


# ---------------------------------------------------------------------------
# Public classes
# ---------------------------------------------------------------------------


class LearningRateFunction(abc.ABC):
    """Base class of learning-rate functions: a callable from global step to rate.

    Subclasses store exactly their constructor arguments as instance attributes;
    :meth:`__str__` lists them, sorted by name, in Monolith's format
    ``LearningRateFunction("<ClassName>",Params:k1=v1,k2=v2)``, which Monolith
    uses to decide whether two embedding slices share a learning rate. Two
    schedules are equal when their classes and strings are equal.

    Notes
    -----
    Monolith's original calls the function with no argument and reads the TF
    global step; here the step is passed explicitly, so schedules are plain
    functions of arrays.

    Examples
    --------
    >>> lr = PolynomialDecay(initial_learning_rate=0.01, decay_steps=10, end_learning_rate=0.11)
    >>> print(lr)
    LearningRateFunction("PolynomialDecay",Params:cycle=False,decay_steps=10,end_learning_rate=0.11,initial_learning_rate=0.01,name=None,power=1.0)
    """

    @abc.abstractmethod
    def __call__(self, global_step):
        """Return the learning rate at ``global_step``.

        Parameters
        ----------
        global_step : int or integer array
            Non-negative step(s).

        Returns
        -------
        numpy.float32 or float32 array
            A scalar for a scalar step, else an array shaped like ``global_step``.
        """

    def __str__(self):
        params = ",".join(f"{key}={self.__dict__[key]}" for key in sorted(self.__dict__))
        return f'LearningRateFunction("{type(self).__name__}",Params:{params})'

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self.__dict__.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        if not isinstance(other, LearningRateFunction):
            return NotImplemented
        return type(self) is type(other) and str(self) == str(other)

    def __hash__(self):
        return hash((type(self).__name__, str(self)))


class _KernelSchedule(LearningRateFunction):
    """A schedule evaluated by a kernel entry; subclasses provide ``_kernel_args``."""

    @abc.abstractmethod
    def _kernel_args(self):
        """Validate the attributes and return ``(entry, fparams, iparams, table)``."""

    def __call__(self, global_step):
        """Return the learning rate at ``global_step``.

        Parameters
        ----------
        global_step : int or integer array
            Non-negative step(s): a Python/numpy integer, or a numpy/CuPy integer
            array of any shape (int64 after conversion).

        Returns
        -------
        numpy.float32 or float32 array
            A ``numpy.float32`` for a scalar step, else a float32 array with the
            shape of ``global_step`` on its device.

        Raises
        ------
        TypeError
            If ``global_step`` is not an integer or integer array.
        ValueError
            If a step is negative (or above ``2**63 - 1``).
        """
        args = self._kernel_args()
        return self._rate_at(args, global_step, _as_steps(global_step))

    def _rate_at(self, args, global_step, steps):
        """The rate for validated kernel ``args`` at the validated ``steps`` of :func:`_as_steps`.

        ``global_step`` is the step as the caller gave it (``LinearWarmup``
        hands it to a user-defined wrapped schedule).
        """
        return _evaluate(*args, steps)


class PolynomialDecay(_KernelSchedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate`` (Monolith, TF v1).

    Monolith's ``learning_rate_functions.PolynomialDecay``: the rate of
    ``tf.compat.v1.train.polynomial_decay`` at the given global step. With
    ``end_learning_rate > initial_learning_rate`` it is a warm-up ramp (Monolith
    uses it that way for embedding warm-up).

    Parameters
    ----------
    initial_learning_rate : float
        Rate at step 0, >= 0.
    decay_steps : float
        Steps to reach ``end_learning_rate`` (usually an int), > 0.
    end_learning_rate : float, default 0.0001
        Rate from ``decay_steps`` on (without ``cycle``), >= 0.
    power : float, default 1.0
        Exponent of the polynomial, >= 0 (1.0 is linear).
    cycle : bool, default False
        Restart the decay every ``decay_steps`` steps, each cycle longer (see Notes).
    name : str, optional
        Kept for compatibility (TF uses it as an op name); not used.

    Raises
    ------
    ValueError
        If ``decay_steps <= 0`` or a rate or ``power`` is negative; if a
        hyperparameter is NaN or infinite.
    TypeError
        If a hyperparameter is not a real number, or ``name`` not a string.

    See Also
    --------
    LinearWarmup, CosineDecay

    Notes
    -----
    With :math:`t` the step, :math:`D` ``decay_steps``, :math:`\\eta_0`, :math:`\\eta_e` the
    initial and end rates and :math:`p` the power:

    .. math::

        \\eta(t) = (\\eta_0 - \\eta_e)\\,\\left(1 - \\frac{t'}{D'}\\right)^{p} + \\eta_e

    where without ``cycle`` :math:`t' = \\min(t, D)`, :math:`D' = D`, and with ``cycle``
    :math:`t' = t`, :math:`D' = D \\lceil t / D \\rceil` (:math:`D' = D` at :math:`t = 0`).
    Everything is float32, as TF computes for Python-float hyperparameters: the
    step and hyperparameters are cast to float32 first. TF would compute in the
    dtype of ``initial_learning_rate`` (int32 for a Python int, float64 for a
    numpy float64); here it is always float32.

    References
    ----------
    ``monolith/native_training/learning_rate_functions.py``;
    ``tf.compat.v1.train.polynomial_decay``.

    Examples
    --------
    >>> import numpy as np
    >>> lr = PolynomialDecay(0.01, decay_steps=10, end_learning_rate=0.11)
    >>> lr(1)  # float32 arithmetic, as in TF
    np.float32(0.020000003)
    >>> print(np.round(lr(np.array([0, 2, 5, 10, 20])), 6))
    [0.01 0.03 0.06 0.11 0.11]
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name=None):
        _keep_arguments(self, locals())

    def _kernel_args(self):
        _check_name(self.name)
        return _kernel_args(polynomial_decay_at, (
            _rate("initial_learning_rate", self.initial_learning_rate),
            _rate("end_learning_rate", self.end_learning_rate),
            _steps_count("decay_steps", self.decay_steps),
            _finite("power", self.power, low=0.0),
            bool(self.cycle),
        ))


class _RateDecay(_KernelSchedule):
    """Shared constructor of the Keras ``(initial_learning_rate, decay_steps, decay_rate, staircase)`` decays."""

    _entry = None
    _zero_rate_allowed = False

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        _keep_arguments(self, locals())

    def _kernel_args(self):
        _check_name(self.name)
        return _kernel_args(self._entry, (
            _rate("initial_learning_rate", self.initial_learning_rate),
            _steps_count("decay_steps", self.decay_steps),
            _finite("decay_rate", self.decay_rate, low=0.0, low_open=not self._zero_rate_allowed),
            bool(self.staircase),
        ))


class ExponentialDecay(_RateDecay):
    """Exponential decay: ``initial_learning_rate * decay_rate ** (step / decay_steps)`` (Keras).

    Same arguments and float32 results as
    ``tf.keras.optimizers.schedules.ExponentialDecay``.

    Parameters
    ----------
    initial_learning_rate : float
        Rate at step 0, >= 0.
    decay_steps : float
        Steps per factor of ``decay_rate``, > 0.
    decay_rate : float
        Factor per ``decay_steps`` steps, > 0 (> 1 grows).
    staircase : bool, default False
        Decay in discrete steps (integer division of the step).
    name : str, optional
        Kept for compatibility with Keras; not used.

    Raises
    ------
    ValueError
        If ``decay_steps <= 0``, ``decay_rate <= 0`` or the rate is negative;
        if a hyperparameter is NaN or infinite.
    TypeError
        If a hyperparameter is not a real number.

    Notes
    -----
    .. math::

        \\eta(t) = \\eta_0\\, r^{q}, \\qquad q = t / D \\;\\; (\\lfloor t / D \\rfloor \\text{ with staircase})

    in float32.

    Examples
    --------
    >>> import numpy as np
    >>> lr = ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5, staircase=True)
    >>> print(lr(np.array([0, 9, 10, 25])))
    [1.   1.   0.5  0.25]
    """

    _entry = staticmethod(exponential_decay_at)
    _zero_rate_allowed = False


class InverseTimeDecay(_RateDecay):
    """Inverse-time decay: ``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (Keras).

    Same arguments and float32 results as
    ``tf.keras.optimizers.schedules.InverseTimeDecay``.

    Parameters
    ----------
    initial_learning_rate : float
        The starting rate (>= 0).
    decay_steps : float
        Step scale of the hyperbola (> 0).
    decay_rate : float
        Added to the denominator per ``decay_steps`` steps (>= 0; 0 keeps the rate constant).
    staircase : bool, default False
        Whether to count whole ``decay_steps`` periods only (``floor``).
    name : str, optional
        Accepted like Keras' op name and otherwise ignored.

    Raises
    ------
    ValueError
        For ``decay_steps <= 0``, a negative rate or ``decay_rate``, or a NaN
        or infinite hyperparameter.
    TypeError
        For a hyperparameter that is not a real number.

    Notes
    -----
    .. math::

        \\eta(t) = \\frac{\\eta_0}{1 + r\\, q}, \\qquad
        q = t / D \\;\\; (\\lfloor t / D \\rfloor \\text{ with staircase})

    in float32.

    Examples
    --------
    >>> import numpy as np
    >>> lr = InverseTimeDecay(1.0, decay_steps=1, decay_rate=1.0)
    >>> print(lr(np.array([0, 1, 3])))
    [1.   0.5  0.25]
    """

    _entry = staticmethod(inverse_time_decay_at)
    _zero_rate_allowed = True


def _boundary_int(b):
    """Keras casts boundaries to the (integer) step dtype: truncate, then clamp to [-1, 2**63 - 1]."""
    if b >= _INT64_MAX:
        return _INT64_MAX
    if b <= -1:
        return -1
    return int(b)


class PiecewiseConstantDecay(_KernelSchedule):
    """Piecewise-constant rate: ``values[i]`` between ``boundaries[i - 1]`` and ``boundaries[i]`` (Keras).

    Same arguments and results as
    ``tf.keras.optimizers.schedules.PiecewiseConstantDecay``.

    Parameters
    ----------
    boundaries : sequence of numbers
        Strictly increasing step boundaries (may be empty: a constant rate).
    values : sequence of floats
        ``len(boundaries) + 1`` rates, each >= 0.
    name : str, optional
        Kept for compatibility with Keras; not used.

    Raises
    ------
    ValueError
        If the lengths do not match, the boundaries are not strictly
        increasing, or a value is negative; if an entry is NaN or infinite.
    TypeError
        If an entry is not a real number.

    Notes
    -----
    .. math::

        \\eta(t) = v_i \\quad\\text{for the first } i \\text{ with } t \\le b_i,
        \\qquad \\eta(t) = v_n \\text{ for } t > b_{n-1}.

    Steps are integers, so, as Keras does when it casts the boundaries to the
    step dtype, a fractional boundary is truncated toward zero. Keras adds
    ``indicator * value`` over all pieces (so an infinite value gives NaN
    elsewhere); here the value is selected (and infinite values are
    refused), and an empty ``boundaries`` is allowed (Keras raises
    ``IndexError``).

    Examples
    --------
    >>> import numpy as np
    >>> lr = PiecewiseConstantDecay(boundaries=[10, 20], values=[1.0, 0.5, 0.1])
    >>> print(lr(np.array([0, 10, 11, 20, 21])))
    [1.  1.  0.5 0.5 0.1]
    """

    def __init__(self, boundaries, values, name=None):
        _keep_arguments(self, locals())

    def _kernel_args(self):
        _check_name(self.name)
        bounds = _sequence("boundaries", self.boundaries)
        for i, b in enumerate(bounds):
            _finite(f"boundaries[{i}]", b)
        vals = [_rate(f"values[{i}]", v) for i, v in enumerate(_sequence("values", self.values))]
        if len(vals) != len(bounds) + 1:
            raise ValueError(
                f"values must have len(boundaries) + 1 = {len(bounds) + 1} entries, got {len(vals)}"
            )
        if any(b1 <= b0 for b0, b1 in zip(bounds, bounds[1:])):
            raise ValueError(f"boundaries must be strictly increasing, got {bounds}")
        if not bounds:  # a constant: every step is <= the largest int64
            return _kernel_args(piecewise_constant_at, (0.0,), (_INT64_MAX,), vals * 2)
        return _kernel_args(piecewise_constant_at, (0.0,), [_boundary_int(b) for b in bounds], vals)


class CosineDecay(_KernelSchedule):
    """Cosine decay to ``alpha * initial_learning_rate``, with optional linear warm-up (Keras 3).

    Same arguments and float32 results as Keras 3's
    ``tf.keras.optimizers.schedules.CosineDecay``: without ``warmup_target`` the
    rate decays from ``initial_learning_rate``; with it, the rate first rises
    linearly from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps`` steps, then decays from ``warmup_target``.

    Parameters
    ----------
    initial_learning_rate : float
        Rate at step 0, >= 0.
    decay_steps : float
        Length of the decay, > 0.
    alpha : float, default 0.0
        Final rate as a fraction of the decay's starting rate, >= 0.
    name : str, optional
        Kept for compatibility with Keras; not used.
    warmup_target : float, optional
        Rate reached at the end of the warm-up, >= 0; ``None`` means no warm-up.
    warmup_steps : float, default 0
        Length of the warm-up, >= 0 (ignored without ``warmup_target``).

    Raises
    ------
    ValueError
        If ``decay_steps <= 0`` or a rate, ``alpha`` or ``warmup_steps`` is
        negative; if a hyperparameter is NaN or infinite.
    TypeError
        If a hyperparameter is not a real number.

    Notes
    -----
    With :math:`W` the warm-up steps and :math:`\\eta_w` the warm-up target
    (:math:`W = 0`, :math:`\\eta_w = \\eta_0` without warm-up) and
    :math:`t' = \\min(t, D + W)`:

    .. math::

        \\eta(t) = \\begin{cases}
            (\\eta_w - \\eta_0)\\, t' / W + \\eta_0 & t' < W \\\\
            \\eta_w \\left((1 - \\alpha)\\, \\tfrac12 \\left(1 + \\cos\\frac{\\pi (t' - W)}{D}\\right) + \\alpha\\right)
            & \\text{otherwise}
        \\end{cases}

    in float32, with :math:`1 - \\alpha` rounded from double as Keras does.

    Examples
    --------
    >>> import numpy as np
    >>> lr = CosineDecay(1.0, decay_steps=4)
    >>> print(np.round(lr(np.array([0, 2, 4, 8])), 6))
    [1.  0.5 0.  0. ]
    >>> print(CosineDecay(0.0, 4, warmup_target=1.0, warmup_steps=2)(np.array([0, 1, 2])))
    [0.  0.5 1. ]
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None,
                 warmup_steps=0):
        _keep_arguments(self, locals())

    def _kernel_args(self):
        _check_name(self.name)
        target = _finite("warmup_target", self.warmup_target, low=0.0, allow_none=True)
        return _kernel_args(cosine_decay_at, (
            _rate("initial_learning_rate", self.initial_learning_rate),
            _steps_count("decay_steps", self.decay_steps),
            _finite("alpha", self.alpha, low=0.0),
            0.0 if target is None else target,
            _finite("warmup_steps", self.warmup_steps, low=0.0),
            target is not None,
        ))


class CosineDecayRestarts(_KernelSchedule):
    """Cosine decay with warm restarts (SGDR, Keras ``CosineDecayRestarts``).

    Each period is a cosine decay from ``m_mul ** i * initial_learning_rate`` to
    ``alpha`` times that; period ``i`` lasts ``first_decay_steps * t_mul ** i``
    steps.

    Parameters
    ----------
    initial_learning_rate : float
        Rate at step 0, >= 0.
    first_decay_steps : float
        Length of the first period, > 0.
    t_mul : float, default 2.0
        Factor on each period's length, > 0.
    m_mul : float, default 1.0
        Factor on each period's starting rate, >= 0.
    alpha : float, default 0.0
        Final rate of each period as a fraction of its starting rate, >= 0.
    name : str, optional
        Kept for compatibility with Keras; not used.

    Raises
    ------
    ValueError
        If ``first_decay_steps <= 0``, ``t_mul <= 0`` or a rate, ``m_mul`` or
        ``alpha`` is negative; if a hyperparameter is NaN or infinite.
    TypeError
        If a hyperparameter is not a real number.

    Notes
    -----
    With :math:`f = t / D_1`, the period index and the fraction inside it are
    :math:`i = \\lfloor f \\rfloor`, :math:`f' = f - i` for :math:`t_{mul} = 1`, else

    .. math::

        i = \\left\\lfloor \\frac{\\log(1 - f (1 - t_{mul}))}{\\log t_{mul}} \\right\\rfloor,\\qquad
        f' = \\frac{f - (1 - t_{mul}^i) / (1 - t_{mul})}{t_{mul}^i}

    and :math:`\\eta = \\eta_0 \\left((1 - \\alpha)\\, \\tfrac12 m_{mul}^i (1 + \\cos \\pi f') + \\alpha\\right)`,
    in float32 like Keras (so a restart can land one step off where float32
    ``log`` rounds across an integer, exactly as in Keras). With ``t_mul < 1``
    the periods shrink and sum to ``first_decay_steps / (1 - t_mul)``; from that
    step on the result is NaN, as in Keras.

    Examples
    --------
    >>> import numpy as np
    >>> lr = CosineDecayRestarts(1.0, first_decay_steps=2, t_mul=1.0, m_mul=0.5)
    >>> print(np.round(lr(np.array([0, 1, 2, 3, 4])), 6))
    [1.   0.5  0.5  0.25 0.25]
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name=None):
        _keep_arguments(self, locals())

    def _kernel_args(self):
        _check_name(self.name)
        return _kernel_args(cosine_decay_restarts_at, (
            _rate("initial_learning_rate", self.initial_learning_rate),
            _steps_count("first_decay_steps", self.first_decay_steps),
            _finite("t_mul", self.t_mul, low=0.0, low_open=True),
            _finite("m_mul", self.m_mul, low=0.0),
            _finite("alpha", self.alpha, low=0.0),
        ))


class LinearWarmup(_KernelSchedule):
    """Linear warm-up in front of another schedule (no TF/Keras equivalent).

    For ``step < warmup_steps`` the rate rises linearly from
    ``initial_learning_rate`` to ``schedule(warmup_steps)``; from ``warmup_steps``
    on it is ``schedule(step)``, unshifted, so the curve is continuous and the
    wrapped schedule keeps its own step count. (optax's ``join_schedules`` and
    Keras' ``CosineDecay(warmup_target=...)`` instead start the second schedule
    at ``step - warmup_steps``; wrap ``PolynomialDecay``/``CosineDecay`` with
    larger ``decay_steps`` to get that.)

    Parameters
    ----------
    schedule : LearningRateFunction
        The schedule after the warm-up (any subclass, including another
        ``LinearWarmup``).
    warmup_steps : int
        Length of the ramp, >= 0 (0 means no warm-up).
    initial_learning_rate : float, default 0.0
        Rate at step 0, >= 0.

    Raises
    ------
    TypeError
        If ``schedule`` is not a :class:`LearningRateFunction` or
        ``warmup_steps`` is not an integer.
    ValueError
        If ``warmup_steps`` or ``initial_learning_rate`` is negative,
        ``warmup_steps`` is above ``2**63 - 1`` or the rate is infinite.

    Notes
    -----
    With :math:`W` the warm-up steps, :math:`\\eta_0` the initial rate and :math:`s` the
    wrapped schedule:

    .. math::

        \\eta(t) = \\begin{cases}
            (s(W) - \\eta_0)\\, t / W + \\eta_0 & t < W \\\\
            s(t) & t \\ge W
        \\end{cases}

    in float32 (the same expression as Keras' cosine warm-up).

    Examples
    --------
    >>> import numpy as np
    >>> lr = LinearWarmup(ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5, staircase=True), warmup_steps=4)
    >>> print(lr(np.array([0, 2, 4, 10])))
    [0.  0.5 1.  0.5]
    """

    def __init__(self, schedule, warmup_steps, initial_learning_rate=0.0):
        _keep_arguments(self, locals())

    def _check(self):
        if not isinstance(self.schedule, LearningRateFunction):
            raise TypeError(
                f"schedule must be a LearningRateFunction, got {type(self.schedule).__name__} {self.schedule!r}"
            )
        steps = check_number("warmup_steps", self.warmup_steps, integer=True, low=0, high=_INT64_MAX)
        return steps, _rate("initial_learning_rate", self.initial_learning_rate)

    def _kernel_args(self):
        steps, start = self._check()
        return _kernel_args(linear_warmup_at, (start, float(self.schedule(steps))), (steps,))

    def _rate_at(self, args, global_step, steps):
        inner = self.schedule
        if isinstance(inner, _KernelSchedule):  # the steps are validated already
            value = inner._rate_at(inner._kernel_args(), global_step, steps)
        else:  # a user-defined schedule: its own public call
            value = inner(global_step)
        return _evaluate(*args, steps, inner=value)


def norm_warmup(clip_norm, global_step, warmup_steps):
    """Warm a gradient-clip norm up linearly from 0 over ``warmup_steps`` steps (Monolith).

    Monolith's ``feature_utils._gen_norm_warmup``, used on the sparse clip norm
    of ``apply_gradients_with_var_optimizer``.

    Parameters
    ----------
    clip_norm : float
        The clip norm after warm-up, >= 0.
    global_step : int or integer array
        Non-negative step(s): a Python/numpy integer, or a numpy/CuPy integer
        array of any shape.
    warmup_steps : int or None
        Warm-up length; ``None`` or 0 (any falsy value) means no warm-up.

    Returns
    -------
    numpy.float32 or float32 array
        The warmed-up clip norm: a scalar for a scalar step, else an array
        shaped like ``global_step``.

    Raises
    ------
    TypeError
        If ``global_step`` or ``warmup_steps`` is not an integer (array), or
        ``clip_norm`` not a real number.
    ValueError
        If ``clip_norm``, ``warmup_steps`` or a step is negative, or
        ``warmup_steps`` is above ``2**63 - 1``.

    Notes
    -----
    .. math::

        c(t) = c \\cdot \\begin{cases} t / W & t < W \\\\ 1 & t \\ge W \\end{cases}

    in float32 (the comparison is on int64 steps). At step 0 the clip norm is
    0, which zeroes every clipped gradient, exactly as in Monolith. Monolith
    returns the Python ``clip_norm`` itself when ``warmup_steps`` is falsy;
    here the result is always float32 (``float32(clip_norm)``) shaped like the
    step.

    References
    ----------
    ``monolith/native_training/feature_utils.py``.

    Examples
    --------
    >>> import numpy as np
    >>> print(norm_warmup(2.0, np.array([0, 1, 4, 9]), warmup_steps=4))
    [0.  0.5 2.  2. ]
    >>> print(norm_warmup(2.0, 1, warmup_steps=None))
    2.0
    """
    clip = check_number("clip_norm", clip_norm, low=0.0)
    steps = 0 if not warmup_steps else check_number("warmup_steps", warmup_steps, integer=True, low=0,
                                                    high=_INT64_MAX)
    return _evaluate(*_kernel_args(norm_warmup_at, (clip,), (steps,)), _as_steps(global_step))
