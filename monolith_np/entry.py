"""Entry components: initializers, float compressors, quantizers and table configs.

The names mirror Monolith's ``monolith/native_training/entry.py`` so its users
find them: every class has the original's constructor arguments and defaults
and an ``as_proto()`` that returns the same Monolith-wire-compatible message,
byte for byte. On top of the configs, each component also *runs*:

* initializers fill embedding rows (:meth:`Initializer.initialize`, or call
  one to get new rows), on the CPU (numba ``prange``) or the GPU (numba.cuda);
* compressors encode float32 arrays to their compact form and decode them back
  (:meth:`Compressor.encode` / :meth:`Compressor.decode`);
* :class:`FakeQuantizer` and :class:`HashNetQuantizer` are the quantizers
  behind fixed_r8 and one_bit, used by training-time retrievers (forward, and
  HashNet's backward with its scale schedule).

Every formula lives once in :mod:`monolith_np._entry_rules`; the GPU kernels in
:mod:`monolith_np.cuda.entry` compile the same functions. numpy inputs run on
the CPU and CUDA arrays (CuPy, ``__cuda_array_interface__``) on the GPU; the
output lives where the input does.

The optimizer configs of the original's ``entry.py`` live in
:mod:`monolith_np.optim`; :func:`CombineAsSegment` accepts them, any object
with ``as_proto()``, or raw protos.

References
----------
Monolith: ``monolith/native_training/entry.py`` and
``runtime/hash_table/{initializer,compressor,retriever}``; SEMANTICS.md D, A.0, A.17.
"""

from __future__ import annotations

import abc
import copy
import math
import numbers
from fractions import Fraction

import numpy as np

from . import _entry_rules as rules
from ._backend import array_module, asarray
from ._checks import check_array, check_number
from ._compile import run_cpu
from .proto import (
    EmbeddingHashTableConfig,
    EntryConfig,
    FloatCompressorConfig,
    InitializerConfig,
    OptimizerConfig,
)
from .optim import optimizers as _optimizers
from .optim.optimizers import *  # noqa: F401,F403  (entry.py's optimizer classes live here too)
from .schedules import LearningRateFunction

__all__ = [
    "Initializer",
    "ZerosInitializer",
    "OnesInitializer",
    "ConstantsInitializer",
    "RandomUniformInitializer",
    "BatchSoftmaxInitializer",
    "initializer_from_config",
    "Compressor",
    "Fp32Compressor",
    "Fp16Compressor",
    "FixedR8Compressor",
    "OneBitCompressor",
    "compressor_from_config",
    "FakeQuantizer",
    "HashNetQuantizer",
    "CombineAsSegment",
    "with_dim_sizes",
    "HashTableConfig",
    "CuckooHashTableConfig",
    "HashTableConfigInstance",
    *_optimizers.__all__,
]

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


def _gpu():
    from .cuda import entry

    return entry


def _finite(name, value, allow_none=False):
    value = check_number(name, value, allow_none=allow_none)
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def _float32_finite(name, value):
    """``value`` as float32; raise if the conversion overflows."""
    v = np.float32(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must fit in float32 (|value| <= 3.4028235e38), got {value}")
    return v


def _fill(message, **fields):
    """Mark ``message`` present and set every field whose value is not None (the original's ``_convert_to_proto``)."""
    message.SetInParent()
    for key, value in fields.items():
        if value is not None:
            setattr(message, key, value)


def _float_input(name, x):
    """Validate a float32 array argument; return ``(xp, x)``."""
    xp = array_module(**{name: x})
    x = asarray(x, xp)
    check_array(name, x, dtypes=(np.float32,))
    return xp, x


def _flat(xp, x):
    return xp.ascontiguousarray(x).reshape(-1)


def _elementwise(xp, x, out_dtype, op, *scalars, view_in=None, view_out=None):
    """Run the element-wise driver pair ``<op>_cpu`` / ``<op>_gpu`` over ``x``; return an array shaped like it.

    ``view_in`` / ``view_out`` reinterpret the flat input / output (same item
    size) for drivers that work on bit patterns.
    """
    flat = _flat(xp, x)
    out = xp.empty(flat.shape, dtype=out_dtype)
    if flat.size:
        src = flat if view_in is None else flat.view(view_in)
        dst = out if view_out is None else out.view(view_out)
        if xp is np:
            run_cpu(getattr(rules, f"{op}_cpu"), flat.size, src, *scalars, dst)
        else:
            getattr(_gpu(), f"{op}_gpu")(src, *scalars, dst)
    return out.reshape(x.shape)


# ---------------------------------------------------------------------------
# Initializers
# ---------------------------------------------------------------------------


class Initializer(abc.ABC):
    """Base class of embedding initializers: a proto config that can also fill rows.

    Subclasses give :meth:`as_proto` (an ``InitializerConfig``) and the rule's
    arguments; :meth:`initialize` and :meth:`__call__` run the rule on the CPU
    or the GPU.

    Notes
    -----
    Element ``(r, c)`` of a ``(rows, dim)`` block is element number
    ``(row_offset + r) * dim + c`` of the table, its *counter*. Random
    initializers draw from a counter-based generator, so a table initialised
    in several calls (each with its ``row_offset``) equals one initialised at
    once, on any device.
    """

    @abc.abstractmethod
    def as_proto(self) -> InitializerConfig:
        """Return the ``InitializerConfig`` the original's ``as_proto`` builds.

        Returns
        -------
        InitializerConfig
            A fresh message (``dim_size`` unset; see :func:`with_dim_sizes`).
        """

    @abc.abstractmethod
    def _rule_args(self):
        """``(random, seed, low, width)`` for :func:`monolith_np._entry_rules.init_value`."""

    def initialize(self, out, row_offset=0, row_ids=None):
        """Fill ``out`` in place with initial embedding values.

        Parameters
        ----------
        out : (rows, dim) float32 or float64 array
            numpy (CPU) or CUDA array, any strides; overwritten. A column block
            of a wider table (``table[:, a:b]``) is fine.
        row_offset : int, default 0
            Table row of ``out[0]``: row ``r`` of ``out`` is initialised as table
            row ``row_offset + r``, ``0 <= row_offset < 2**64``.
        row_ids : (rows,) int64 or uint64 array, optional
            Instead of ``row_offset``: row ``r`` of ``out`` is initialised as
            table row ``row_ids[r]`` (read as uint64). Embedding hash tables
            pass their ids, so an entry's initial values depend on its id
            alone, never on where or when it was stored.

        Returns
        -------
        array
            ``out``.

        Raises
        ------
        TypeError
            If ``out`` is not a float32/float64 array or ``row_offset`` not an integer.
        ValueError
            If ``out`` is not 2-D, ``row_offset`` is out of range or
            ``row_ids`` does not have one id per row.
        """
        xp = array_module(out=out)
        out = asarray(out, xp)
        check_array("out", out, ndim=2, dtypes=(np.float32, np.float64))
        row_offset = np.uint64(check_number("row_offset", row_offset, integer=True, low=0, high=_UINT64_MAX))
        random, seed, low, width = self._rule_args()
        if out.dtype == np.float32:
            low, width = np.float32(low), np.float32(width)
        low, width = np.float64(low), np.float64(width)
        if row_ids is None:
            row_ids = xp.empty(0, np.int64)
        else:
            row_ids = asarray(row_ids, xp)
            check_array("row_ids", row_ids, dtypes=(np.int64, np.uint64), shape=(out.shape[0],))
            row_ids = xp.ascontiguousarray(row_ids).view(np.int64)
        if out.size == 0:
            return out
        if xp is np:
            run_cpu(rules.initialize_cpu, out.size, out, random, seed, row_offset, row_ids, low, width)
        else:
            _gpu().initialize_gpu(out, random, seed, row_offset, row_ids, low, width)
        return out

    def __call__(self, num_rows, dim, row_offset=0, dtype=np.float32, like=None):
        """Return ``num_rows`` new rows of ``dim`` initial values.

        Parameters
        ----------
        num_rows : int
            Number of rows, ``>= 0``.
        dim : int
            Values per row (the segment's ``dim_size``), ``>= 0``.
        row_offset : int, default 0
            Table row of the first new row (see :meth:`initialize`).
        dtype : numpy dtype, default numpy.float32
            ``float32`` (the original's type) or ``float64``.
        like : array, optional
            Allocate with this array's module (numpy or CuPy); numpy by default.

        Returns
        -------
        (num_rows, dim) array
            The rows, on the device of ``like``.
        """
        num_rows = check_number("num_rows", num_rows, integer=True, low=0)
        dim = check_number("dim", dim, integer=True, low=0)
        xp = np if like is None else array_module(like=like)
        return self.initialize(xp.empty((num_rows, dim), dtype=dtype), row_offset)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class _ConstantInit(Initializer):
    """An initializer filling a constant: ``value`` is the float32 it writes."""

    _value = 0.0

    def _rule_args(self):
        return False, np.uint64(0), np.float32(self._value), np.float32(0.0)


class ZerosInitializer(_ConstantInit):
    """Initialise every value to 0 (``InitializerConfig.zeros``).

    Examples
    --------
    >>> ZerosInitializer()(2, 3)
    array([[0., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    """

    def as_proto(self):
        """Return ``InitializerConfig(zeros={})``.

        Returns
        -------
        InitializerConfig
            The message.
        """
        init = InitializerConfig()
        _fill(init.zeros)
        return init


class OnesInitializer(_ConstantInit):
    """Initialise every value to 1 (``InitializerConfig.ones``).

    Not in the original's ``entry.py`` (its proto and C++ factory have it);
    here so that every ``InitializerConfig`` maps to a class, see
    :func:`initializer_from_config`.
    """

    _value = 1.0

    def as_proto(self):
        """Return ``InitializerConfig(ones={})``.

        Returns
        -------
        InitializerConfig
            The message.
        """
        init = InitializerConfig()
        _fill(init.ones)
        return init


class ConstantsInitializer(_ConstantInit):
    """Initialise every value to a constant (``InitializerConfig.constants``).

    Parameters
    ----------
    constant : float or None
        The value, stored as float32. ``None`` leaves the proto field unset,
        which means 0.

    Raises
    ------
    TypeError
        If ``constant`` is not a real number.
    ValueError
        If ``constant`` is NaN, infinite or outside float32's range.

    Examples
    --------
    >>> ConstantsInitializer(0.5)(1, 2)
    array([[0.5, 0.5]], dtype=float32)
    """

    def __init__(self, constant: float):
        self.constant = _finite("constant", constant, allow_none=True)
        if self.constant is not None:
            _float32_finite("constant", self.constant)

    @property
    def _value(self):
        return 0.0 if self.constant is None else self.constant

    def as_proto(self):
        """Return ``InitializerConfig(constants={constant})``.

        Returns
        -------
        InitializerConfig
            The message.
        """
        init = InitializerConfig()
        _fill(init.constants, constant=self.constant)
        return init


class BatchSoftmaxInitializer(ConstantsInitializer):
    """The batch-softmax optimizer's initial step interval, as a constants initializer.

    Parameters
    ----------
    init_step_interval : float
        Initial estimate of the steps between two occurrences of an item,
        ``>= 1``.

    Raises
    ------
    ValueError
        If ``init_step_interval < 1`` (the original's message).
    """

    def __init__(self, init_step_interval: float):
        if init_step_interval < 1:
            raise ValueError("init_step_interval should be >= 1, while got {}".format(init_step_interval))
        super().__init__(init_step_interval)


class RandomUniformInitializer(Initializer):
    """Initialise values uniformly at random in ``[minval, maxval]``.

    Parameters
    ----------
    minval : float or None, default None
        Lower bound; ``None`` leaves the proto field unset, which means -0.05.
    maxval : float or None, default None
        Upper bound; ``None`` means the proto default 0.05.
    seed : int or None, default None
        Seed of the counter-based generator, ``0 <= seed < 2**64`` (not in the
        original, which has no seed). ``None`` draws one from the operating
        system at construction; it is kept in :attr:`seed`, so one object
        always gives the same rows. Give each random segment its own seed.

    Raises
    ------
    TypeError
        If a bound is not a real number or ``seed`` not an integer.
    ValueError
        If a bound is NaN, infinite or beyond float32, the effective
        ``minval > maxval``, or ``seed`` is out of range.

    Notes
    -----
    .. math:: x = \\mathrm{fl}_{32}\\big(r \\cdot w + \\mathit{minval}\\big), \\qquad
              w = \\mathrm{fl}_{32}(\\mathit{maxval} - \\mathit{minval})

    with ``r`` one of the ``2**24`` values ``j / 2**24`` drawn from
    :func:`monolith_np._random.uniform` at the element's counter (see
    :class:`Initializer`); the product is exact and the sum is rounded once in
    float64, then to float32, so CPU and GPU agree bit for bit.

    The original draws from one ``std::mt19937`` per thread with the fixed seed
    5489, shared by every random initializer on that thread, so its values
    depend on the order rows are created in (SEMANTICS D.7 NOTE): its values
    cannot be reproduced, only their distribution.

    Examples
    --------
    >>> init = RandomUniformInitializer(-1.0, 1.0, seed=7)
    >>> rows = init(4, 3)
    >>> bool(np.array_equal(rows[2:], init(2, 3, row_offset=2)))
    True
    >>> bool(((rows >= -1) & (rows <= 1)).all())
    True
    """

    def __init__(self, minval=None, maxval=None, *, seed=None):
        self.minval = _finite("minval", minval, allow_none=True)
        self.maxval = _finite("maxval", maxval, allow_none=True)
        lo = np.float32(-0.05) if self.minval is None else _float32_finite("minval", self.minval)
        hi = np.float32(0.05) if self.maxval is None else _float32_finite("maxval", self.maxval)
        if lo > hi:
            raise ValueError(f"maxval must be >= minval ({float(lo)}), got {float(hi)}")
        if not np.isfinite(hi - lo):
            raise ValueError(f"maxval - minval must fit in float32, got {float(hi)} - {float(lo)}")
        seed = check_number("seed", seed, integer=True, low=0, high=_UINT64_MAX, allow_none=True)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
        self._seed = seed
        self._lo, self._width = lo, hi - lo

    @property
    def seed(self) -> int:
        """The generator's seed (drawn at construction when none was given)."""
        return self._seed

    def _rule_args(self):
        return True, np.uint64(self._seed), self._lo, self._width

    def as_proto(self):
        """Return ``InitializerConfig(random_uniform={minval, maxval})`` (the seed is not part of it).

        Returns
        -------
        InitializerConfig
            The message; unset bounds keep the proto defaults (-0.05, 0.05).
        """
        init = InitializerConfig()
        _fill(init.random_uniform, minval=self.minval, maxval=self.maxval)
        return init

    def __repr__(self):
        return f"RandomUniformInitializer(minval={self.minval!r}, maxval={self.maxval!r}, seed={self._seed!r})"


def initializer_from_config(config, seed=None):
    """Build the runnable initializer of an ``InitializerConfig`` (the C++ factory's job).

    Parameters
    ----------
    config : InitializerConfig
        A message with one of ``zeros``, ``ones``, ``constants``, ``random_uniform`` set.
    seed : int or None, default None
        Seed for ``random_uniform`` (see :class:`RandomUniformInitializer`).

    Returns
    -------
    Initializer
        Its ``as_proto()`` equals ``config`` without ``dim_size``.

    Raises
    ------
    TypeError
        If ``config`` is not an ``InitializerConfig``.
    ValueError
        If no initializer is set (the original: "Unsupported initializer").
    """
    if not isinstance(config, InitializerConfig):
        raise TypeError(f"config must be an InitializerConfig, got {type(config).__name__}")
    kind = config.WhichOneof("type")
    if kind == "zeros":
        return ZerosInitializer()
    if kind == "ones":
        return OnesInitializer()
    if kind == "constants":
        c = config.constants
        return ConstantsInitializer(c.constant if c.HasField("constant") else None)
    if kind == "random_uniform":
        c = config.random_uniform
        return RandomUniformInitializer(
            c.minval if c.HasField("minval") else None, c.maxval if c.HasField("maxval") else None, seed=seed
        )
    raise ValueError(f"config must set one of zeros, ones, constants, random_uniform, got {config!r}")


# ---------------------------------------------------------------------------
# Quantizers
# ---------------------------------------------------------------------------


class FakeQuantizer:
    """Fixed-range int8 quantisation ("qat8"), the math of :class:`FixedR8Compressor`.

    Parameters
    ----------
    r : float
        The range, ``> 0``: levels are ``k * r / 128`` for ``k`` in ``[-128, 127]``.

    Raises
    ------
    ValueError
        If ``r`` is not a finite number ``> 0`` (the original accepts any float;
        ``r <= 0`` divides by zero or flips the rounding).

    Notes
    -----
    With ``step = fl(r / 128)`` and ``half = step / 2`` (float32):

    .. math:: q = \\mathrm{clamp}\\Big(\\mathrm{trunc}\\big(\\mathrm{fl}((x \\pm \\mathit{half}) / \\mathit{step})\\big),
              -128, 127\\Big), \\qquad \\hat{x} = \\mathrm{fl}(q \\cdot \\mathit{step})

    i.e. round half away from zero; NaN gives 0. Infinities and huge values
    saturate (undefined behaviour in the original, SEMANTICS D.3 NOTE). The
    representable range is ``[-r, r * 127/128]``.

    Examples
    --------
    >>> k = np.float32(5 / 128)
    >>> FakeQuantizer(5.0).quantize(np.array([1.4, 1.6, -1.4, -1.6], np.float32) * k) / k
    array([ 1.,  2., -1., -2.], dtype=float32)
    """

    def __init__(self, r):
        r = _finite("r", r)
        if r <= 0:
            raise ValueError(f"r must be > 0, got {r}")
        self.r = r
        self._step = np.float32(_float32_finite("r", r) / np.float32(128))
        self._half = self._step / np.float32(2)

    @property
    def step(self) -> np.float32:
        """The quantisation step ``r / 128`` (float32)."""
        return self._step

    def quantize_to_integer(self, x):
        """Quantise float32 values to int8 levels.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        int8 array
            Same shape and device.
        """
        xp, x = _float_input("x", x)
        return _elementwise(xp, x, np.int8, "fixed_r8_encode", self._step, self._half)

    def integer_to_float(self, q):
        """Map int8 levels back to float32 values ``q * step``.

        Parameters
        ----------
        q : int8 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.
        """
        xp = array_module(q=q)
        q = asarray(q, xp)
        check_array("q", q, dtypes=(np.int8,))
        return _elementwise(xp, q, np.float32, "fixed_r8_decode", self._step)

    def quantize(self, x):
        """Quantise and map back: what the fake-quant retriever returns.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            ``integer_to_float(quantize_to_integer(x))``.
        """
        return self.integer_to_float(self.quantize_to_integer(x))

    def __repr__(self):
        return f"FakeQuantizer(r={self.r!r})"


def _round_to_float32(v: Fraction) -> np.float32:
    """Round an exact rational to the nearest float32, ties to even."""
    f = np.float32(float(v))
    best = f
    for g in (np.nextafter(f, np.float32(-np.inf)), np.nextafter(f, np.float32(np.inf))):
        if not np.isfinite(g):
            continue
        dg, db = abs(Fraction(float(g)) - v), abs(Fraction(float(best)) - v)
        if dg < db or (dg == db and (int(g.view(np.uint32)) & 1) == 0):
            best = g
    return np.float32(best)


def _fmaf(a, b, c) -> np.float32:
    """float32 fused multiply-add ``a * b + c`` rounded once (host side)."""
    return _round_to_float32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


class HashNetQuantizer:
    """HashNet's smooth sign: ``amplitude * tanh(scale * x)`` with a growing scale.

    The quantizer behind :class:`OneBitCompressor` and the HashNet retriever
    (a training entry whose segment compresses with one_bit looks up
    :meth:`forward` of the stored values and passes gradients through
    :meth:`backward`).

    Parameters
    ----------
    step_size : int, default 200
        The scale is recomputed when ``global_step`` is a multiple of it, ``>= 1``.
    init_scale : float, default 1.0
        Scale at step 0.
    max_scale : float, default 10000.0
        Upper bound of the scale.
    amplitude : float, default 0.1
        Output amplitude (the proto's default; :class:`OneBitCompressor`
        defaults to 0.05).

    Raises
    ------
    TypeError, ValueError
        If a hyperparameter is not a finite number, or ``step_size < 1``
        (the original divides by it).

    Notes
    -----
    .. math::

        F(x) = a \\tanh(s x), \\qquad
        s \\leftarrow \\min\\big(s_0 \\, \\mathrm{fma}(\\gamma, t, 1)^{1/2}, s_{\\max}\\big)
        \\text{ when } t \\bmod \\mathit{step\\_size} = 0, \\qquad
        \\frac{\\partial}{\\partial x}: \\; g \\leftarrow g \\cdot \\big(a s \\,
        \\mathrm{fma}(-y, y, 1)\\big), \\; y = \\tanh(s x)

    with :math:`\\gamma = 0.005`, all in float32 and ``1 - y*y`` (and
    ``1 + gamma*t``) rounded once, as the original's compiler fuses them
    (SEMANTICS §0, D.5). The scale is state of this object, shared by every
    element it processes, as in the original.

    Examples
    --------
    >>> q = HashNetQuantizer(step_size=1000)
    >>> q.forward(np.array([1.0, 2.0], np.float32))
    array([0.07615942, 0.09640276], dtype=float32)
    >>> q.backward(np.float32([2.0]), np.float32([100.0]), global_step=1000)
    array([0.00544261], dtype=float32)
    >>> q.scale
    np.float32(2.4494898)
    """

    GAMMA = np.float32(0.005)
    POWER = np.float32(0.5)

    def __init__(self, step_size=200, init_scale=1.0, max_scale=10000.0, amplitude=0.1):
        self.step_size = check_number("step_size", step_size, integer=True, low=1, high=_INT64_MAX)
        self.init_scale = _float32_finite("init_scale", _finite("init_scale", init_scale))
        self.max_scale = _float32_finite("max_scale", _finite("max_scale", max_scale))
        self.amplitude = _float32_finite("amplitude", _finite("amplitude", amplitude))
        self._scale = self.init_scale

    @classmethod
    def from_config(cls, config):
        """Build from a ``FloatCompressorConfig.OneBit`` message (unset fields take proto defaults).

        Parameters
        ----------
        config : FloatCompressorConfig.OneBit
            The message.

        Returns
        -------
        HashNetQuantizer
            The quantizer.
        """
        return cls(config.step_size, config.init_scale, config.max_scale, config.amplitude)

    @property
    def scale(self) -> np.float32:
        """The current scale (float32)."""
        return self._scale

    def scale_at(self, global_step):
        """The scale the schedule gives at ``global_step`` (no state change).

        Parameters
        ----------
        global_step : int
            The step.

        Returns
        -------
        numpy.float32
            ``min(init_scale * fma(0.005, float32(global_step), 1) ** 0.5, max_scale)``.
        """
        base = _fmaf(self.GAMMA, np.float32(global_step), np.float32(1.0))
        with np.errstate(invalid="ignore"):
            s = self.init_scale * np.power(base, self.POWER)
        return s if s < self.max_scale else self.max_scale  # std::min(scale, max): NaN stays

    def forward(self, x):
        """``amplitude * tanh(scale * x)`` element-wise (float32).

        Parameters
        ----------
        x : float32 array
            Stored values, any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.
        """
        xp, x = _float_input("x", x)
        return _elementwise(xp, x, np.float32, "hash_net_forward", self.amplitude, self._scale)

    def backward(self, num, grad, global_step):
        """Transform gradients, updating the scale first when ``global_step`` is a multiple of ``step_size``.

        Parameters
        ----------
        num : float32 array
            Stored values the forward pass saw.
        grad : float32 array
            Gradients of the forward's output, same shape and device as ``num``.
            Not modified (the original overwrites it in place).
        global_step : int
            The step (non-negative in practice; C's ``%`` sign rule is used).

        Returns
        -------
        float32 array
            ``grad * amplitude * scale * (1 - tanh(scale * num)**2)``.

        Raises
        ------
        TypeError, ValueError
            If the arrays are not float32 or their shapes differ.
        """
        xp = array_module(num=num, grad=grad)
        num, grad = asarray(num, xp), asarray(grad, xp)
        check_array("num", num, dtypes=(np.float32,))
        check_array("grad", grad, dtypes=(np.float32,), shape=tuple(num.shape))
        step = check_number("global_step", global_step, integer=True, low=-_INT64_MAX - 1, high=_INT64_MAX)
        if abs(step) % self.step_size == 0:
            self._scale = self.scale_at(step)
        fn, fg = _flat(xp, num), _flat(xp, grad)
        out = xp.empty_like(fg)
        if fn.size:
            if xp is np:
                run_cpu(rules.hash_net_backward_cpu, fn.size, fn, fg, self.amplitude, self._scale, out)
            else:
                _gpu().hash_net_backward_gpu(fn, fg, self.amplitude, self._scale, out)
        return out.reshape(num.shape)

    def __repr__(self):
        return (
            f"HashNetQuantizer(step_size={self.step_size}, init_scale={float(self.init_scale)}, "
            f"max_scale={float(self.max_scale)}, amplitude={float(self.amplitude)})"
        )


# ---------------------------------------------------------------------------
# Compressors
# ---------------------------------------------------------------------------


class Compressor(abc.ABC):
    """Base class of float compressors: a proto config that can also encode and decode.

    Compressors are what SERVING entries store (SEMANTICS D.1); all work
    element-wise on float32 arrays of any shape, numpy or CUDA.
    """

    #: Bytes per encoded value.
    bytes_per_value = 4

    @abc.abstractmethod
    def as_proto(self) -> FloatCompressorConfig:
        """Return the ``FloatCompressorConfig`` the original's ``as_proto`` builds.

        Returns
        -------
        FloatCompressorConfig
            A fresh message (``dim_size`` unset; see :func:`with_dim_sizes`).
        """

    @abc.abstractmethod
    def encode(self, x):
        """Encode float32 values.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        array
            The codes, same shape and device.
        """

    @abc.abstractmethod
    def decode(self, codes):
        """Decode codes back to float32.

        Parameters
        ----------
        codes : array
            Codes as returned by :meth:`encode` (any shape).

        Returns
        -------
        float32 array
            Same shape and device.
        """

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Fp32Compressor(Compressor):
    """No compression: values are stored as float32 (``FloatCompressorConfig.fp32``).

    Examples
    --------
    >>> Fp32Compressor().decode(Fp32Compressor().encode(np.float32([0.1, 1e4])))
    array([1.e-01, 1.e+04], dtype=float32)
    """

    bytes_per_value = 4

    def as_proto(self):
        """Return ``FloatCompressorConfig(fp32={})``.

        Returns
        -------
        FloatCompressorConfig
            The message.
        """
        comp = FloatCompressorConfig()
        _fill(comp.fp32)
        return comp

    def encode(self, x):
        """Copy float32 values.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            A copy.
        """
        xp, x = _float_input("x", x)
        return x.copy()

    def decode(self, codes):
        """Copy float32 codes.

        Parameters
        ----------
        codes : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            A copy.
        """
        xp, codes = _float_input("codes", codes)
        return codes.copy()


class Fp16Compressor(Compressor):
    """Store values as IEEE half precision (``FloatCompressorConfig.fp16``).

    Notes
    -----
    Encoding rounds to nearest, ties to even, like half 2.1.0 (which the
    original uses, without F16C): ``|x| >= 65520`` becomes infinity, values
    below ``2**-25`` in magnitude a signed zero, subnormals are kept, NaN stays
    NaN with its quiet bit set and its top 10 payload bits kept. This is
    bit-identical to ``x.astype(numpy.float16)`` (and torch's ``.half()``)
    except for signaling-NaN payloads, which numpy keeps signaling. Decoding is
    exact. The codes are returned as a ``float16`` array whose bits are the
    original's stored 16-bit patterns (``.view(numpy.int16)``).

    Examples
    --------
    >>> c = Fp16Compressor()
    >>> c.decode(c.encode(np.float32([0.5, 65519.0, 65520.0]))).tolist()
    [0.5, 65504.0, inf]
    """

    bytes_per_value = 2

    def as_proto(self):
        """Return ``FloatCompressorConfig(fp16={})``.

        Returns
        -------
        FloatCompressorConfig
            The message.
        """
        comp = FloatCompressorConfig()
        _fill(comp.fp16)
        return comp

    def encode(self, x):
        """Round float32 values to half precision.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float16 array
            Same shape and device.
        """
        xp, x = _float_input("x", x)
        return _elementwise(xp, x, np.uint16, "fp16_encode", view_in=np.uint32).view(np.float16)

    def decode(self, codes):
        """Widen half-precision codes to float32 (exact).

        Parameters
        ----------
        codes : float16, int16 or uint16 array
            Half-precision values or their bit patterns; any shape, numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.
        """
        xp = array_module(codes=codes)
        codes = asarray(codes, xp)
        check_array("codes", codes, dtypes=(np.float16, np.int16, np.uint16))
        return _elementwise(xp, codes, np.float32, "fp16_decode", view_in=np.uint16, view_out=np.uint32)


class FixedR8Compressor(Compressor):
    """Store values as int8 levels of a fixed range (``FloatCompressorConfig.fixed_r8``).

    Parameters
    ----------
    fixed_range : float or None, default 1.0
        The range ``r > 0`` (proto field ``r``); ``None`` leaves the field unset,
        which means 1.0. See :class:`FakeQuantizer` for the rounding rule.

    Raises
    ------
    ValueError
        If ``fixed_range`` is not a finite number ``> 0``.

    Examples
    --------
    >>> c = FixedR8Compressor(5.0)
    >>> c.encode(np.float32([100.0, 0.0, 3.5]))
    array([127,   0,  90], dtype=int8)
    >>> c.decode(c.encode(np.float32([100.0, 0.0, 3.5])))
    array([4.9609375, 0.       , 3.515625 ], dtype=float32)
    """

    bytes_per_value = 1

    def __init__(self, fixed_range=1.0):
        self.r = fixed_range
        self._quantizer = FakeQuantizer(1.0 if fixed_range is None else fixed_range)

    @property
    def quantizer(self) -> FakeQuantizer:
        """The :class:`FakeQuantizer` doing the work."""
        return self._quantizer

    def as_proto(self):
        """Return ``FloatCompressorConfig(fixed_r8={r})``.

        Returns
        -------
        FloatCompressorConfig
            The message.
        """
        comp = FloatCompressorConfig()
        _fill(comp.fixed_r8, r=self.r)
        return comp

    def encode(self, x):
        """Quantise float32 values to int8 levels (:meth:`FakeQuantizer.quantize_to_integer`).

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        int8 array
            Same shape and device.
        """
        return self._quantizer.quantize_to_integer(x)

    def decode(self, codes):
        """Levels back to float32 (:meth:`FakeQuantizer.integer_to_float`).

        Parameters
        ----------
        codes : int8 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.
        """
        return self._quantizer.integer_to_float(codes)


class OneBitCompressor(Compressor):
    """Store the sign of HashNet's output as ``+1``/``-1`` (``FloatCompressorConfig.one_bit``).

    Parameters
    ----------
    step_size : int, default 200
        The HashNet scale schedule's step size (always written to the proto), ``>= 1``.
    amplitude : float or None, default 0.05
        Decoded magnitude. Note that the proto's own default is 0.1 (SEMANTICS
        D.1 NOTE); ``None`` leaves the field unset, which means 0.1.

    Raises
    ------
    ValueError
        If ``step_size < 1`` or ``amplitude`` is not finite.

    Notes
    -----
    Encoding gives ``+1`` where ``amplitude * tanh(init_scale * x) > 0`` in
    float32, else ``-1`` (so 0 and -0 give -1); the compressor's quantizer
    never sees a backward pass, so its scale stays ``init_scale`` (1.0).
    Decoding gives ``q * amplitude``. One int8 per value, as the original
    ("for testing stage").

    Examples
    --------
    >>> c = OneBitCompressor(step_size=5, amplitude=1.0)
    >>> c.encode(np.float32([100.0, 1e-5, 0.0, -1e-5]))
    array([ 1,  1, -1, -1], dtype=int8)
    """

    bytes_per_value = 1

    def __init__(self, step_size: int = 200, amplitude: float = 0.05):
        super().__init__()
        self.step_size = check_number("step_size", step_size, integer=True, low=1, high=_INT64_MAX)
        self.amplitude = _finite("amplitude", amplitude, allow_none=True)
        amp = 0.1 if self.amplitude is None else self.amplitude
        self._quantizer = HashNetQuantizer(step_size=self.step_size, amplitude=amp)

    @property
    def quantizer(self) -> HashNetQuantizer:
        """A fresh :class:`HashNetQuantizer` with this compressor's settings (what the HashNet retriever uses)."""
        return HashNetQuantizer.from_config(self.as_proto().one_bit)

    def as_proto(self):
        """Return ``FloatCompressorConfig(one_bit={step_size, amplitude})``.

        Returns
        -------
        FloatCompressorConfig
            The message.
        """
        comp = FloatCompressorConfig()
        comp.one_bit.step_size = self.step_size
        _fill(comp.one_bit, step_size=self.step_size, amplitude=self.amplitude)
        return comp

    def encode(self, x):
        """Encode float32 values as ``+1``/``-1``.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        int8 array
            Same shape and device.
        """
        xp, x = _float_input("x", x)
        q = self._quantizer
        return _elementwise(xp, x, np.int8, "one_bit_encode", q.amplitude, q.init_scale)

    def decode(self, codes):
        """``codes * amplitude`` as float32.

        Parameters
        ----------
        codes : int8 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.
        """
        xp = array_module(codes=codes)
        codes = asarray(codes, xp)
        check_array("codes", codes, dtypes=(np.int8,))
        return _elementwise(xp, codes, np.float32, "one_bit_decode", self._quantizer.amplitude)


def compressor_from_config(config):
    """Build the runnable compressor of a ``FloatCompressorConfig`` (the C++ factory's job).

    Parameters
    ----------
    config : FloatCompressorConfig
        A message with one of ``fp32``, ``fp16``, ``fixed_r8``, ``one_bit`` set.

    Returns
    -------
    Compressor
        The compressor. For ``one_bit``, ``init_scale``/``max_scale`` are read
        by :class:`HashNetQuantizer` (``OneBitCompressor.quantizer``) only.

    Raises
    ------
    TypeError
        If ``config`` is not a ``FloatCompressorConfig``.
    ValueError
        If no compressor is set (the original: "Unknown tpye of float compressor").
    """
    if not isinstance(config, FloatCompressorConfig):
        raise TypeError(f"config must be a FloatCompressorConfig, got {type(config).__name__}")
    kind = config.WhichOneof("type")
    if kind == "fp32":
        return Fp32Compressor()
    if kind == "fp16":
        return Fp16Compressor()
    if kind == "fixed_r8":
        return FixedR8Compressor(config.fixed_r8.r if config.fixed_r8.HasField("r") else None)
    if kind == "one_bit":
        c = config.one_bit
        return OneBitCompressor(c.step_size, c.amplitude if c.HasField("amplitude") else None)
    raise ValueError(f"config must set one of fp32, fp16, fixed_r8, one_bit, got {config!r}")


# ---------------------------------------------------------------------------
# Segments and table configs
# ---------------------------------------------------------------------------


def _as_config(name, value, proto_type):
    if hasattr(value, "as_proto"):
        value = value.as_proto()
    if not isinstance(value, proto_type):
        raise TypeError(
            f"{name} must be an object with as_proto() or a {proto_type.__name__}, got {type(value).__name__}"
        )
    return value


def CombineAsSegment(dim_size, initializer, optimizer, compressor):  # noqa: N802 - the original's name
    """Build one ``EntryConfig.Segment`` from its dimension and three component configs.

    Parameters
    ----------
    dim_size : int
        Values in the segment, ``0 <= dim_size < 2**31``.
    initializer : Initializer or InitializerConfig
        Anything with ``as_proto()`` returning an ``InitializerConfig``, or the message.
    optimizer : optimizer config or OptimizerConfig
        Anything with ``as_proto()`` returning an ``OptimizerConfig``, or the message.
    compressor : Compressor or FloatCompressorConfig
        Anything with ``as_proto()`` returning a ``FloatCompressorConfig``, or the message.

    Returns
    -------
    EntryConfig.Segment
        ``dim_size`` set on the segment and copies of the three configs, byte
        for byte what the original builds. Like the original, ``dim_size`` is
        not written into the component configs: the table does that when it
        builds the entry (:func:`with_dim_sizes`).

    Raises
    ------
    TypeError
        If a component is neither a config object nor the right message type.
    ValueError
        If ``dim_size`` is out of range.

    Examples
    --------
    >>> from monolith_np.proto import OptimizerConfig
    >>> opt = OptimizerConfig()
    >>> opt.sgd.learning_rate = 0.1
    >>> seg = CombineAsSegment(4, ZerosInitializer(), opt, Fp16Compressor())
    >>> seg.dim_size, seg.init_config.WhichOneof("type"), seg.comp_config.WhichOneof("type")
    (4, 'zeros', 'fp16')
    """
    dim_size = check_number("dim_size", dim_size, integer=True, low=0, high=_INT32_MAX)
    init = _as_config("initializer", initializer, InitializerConfig)
    opt = _as_config("optimizer", optimizer, OptimizerConfig)
    comp = _as_config("compressor", compressor, FloatCompressorConfig)
    segment = EntryConfig.Segment()
    segment.dim_size = dim_size
    segment.init_config.CopyFrom(init)
    segment.opt_config.CopyFrom(opt)
    segment.comp_config.CopyFrom(comp)
    return segment


def with_dim_sizes(segment):
    """Copy a segment with its ``dim_size`` written into each component config.

    This is what Monolith's C++ entry builder does (``WriteDimSize`` in
    ``entry_accessor.cc``, SEMANTICS A.17) before it instantiates the
    initializer, optimizer and compressor of a segment: the segment's
    ``dim_size`` overrides the one inside the chosen member of each set config.

    Parameters
    ----------
    segment : EntryConfig.Segment
        The segment (not modified).

    Returns
    -------
    EntryConfig.Segment
        A copy with ``dim_size`` written into ``init_config``, ``opt_config``
        and ``comp_config`` (those that are set).

    Raises
    ------
    TypeError
        If ``segment`` is not an ``EntryConfig.Segment``.
    ValueError
        If a set config has no member chosen (the original: "must be set type").
    """
    if not isinstance(segment, EntryConfig.Segment):
        raise TypeError(f"segment must be an EntryConfig.Segment, got {type(segment).__name__}")
    out = copy.deepcopy(segment)
    for field in ("init_config", "opt_config", "comp_config"):
        if not out.HasField(field):
            continue
        conf = getattr(out, field)
        kind = conf.WhichOneof("type")
        if kind is None:
            raise ValueError(f"segment.{field} must set a type, got an empty {type(conf).__name__}")
        getattr(conf, kind).dim_size = out.dim_size
    return out


class HashTableConfig(abc.ABC):
    """Base class of hash-table implementation configs: they edit an ``EmbeddingHashTableConfig``."""

    @abc.abstractmethod
    def mutate_table(self, table_config):
        """Write this implementation's settings into ``table_config`` in place.

        Parameters
        ----------
        table_config : EmbeddingHashTableConfig
            The message to edit.
        """

    def as_proto(self):
        """Return a fresh ``EmbeddingHashTableConfig`` with only this config's settings.

        Returns
        -------
        EmbeddingHashTableConfig
            ``mutate_table`` applied to an empty message (not in the original).
        """
        config = EmbeddingHashTableConfig()
        self.mutate_table(config)
        return config


class CuckooHashTableConfig(HashTableConfig):
    """Configure the cuckoo hash table (``EmbeddingHashTableConfig.cuckoo``).

    Parameters
    ----------
    initial_capacity : int, default 1
        Initial number of slots, ``>= 0``.
    feature_evict_every_n_hours : int, default 0
        When ``> 0``, turn on feature eviction with this period.
    """

    def __init__(self, initial_capacity=1, feature_evict_every_n_hours=0):
        self._initial_capacity = check_number("initial_capacity", initial_capacity, integer=True, low=0,
                                              high=_UINT64_MAX)
        self._feature_evict_every_n_hours = check_number(
            "feature_evict_every_n_hours", feature_evict_every_n_hours, integer=True, high=_INT32_MAX
        )

    def mutate_table(self, table_config):
        """Set ``initial_capacity``, select ``cuckoo`` and, if asked, feature eviction.

        Parameters
        ----------
        table_config : EmbeddingHashTableConfig
            The message to edit in place.
        """
        table_config.initial_capacity = self._initial_capacity
        table_config.cuckoo.SetInParent()
        if self._feature_evict_every_n_hours > 0:
            table_config.enable_feature_eviction = True
            table_config.feature_evict_every_n_hours = self._feature_evict_every_n_hours

    def __repr__(self):
        return (
            f"CuckooHashTableConfig(initial_capacity={self._initial_capacity}, "
            f"feature_evict_every_n_hours={self._feature_evict_every_n_hours})"
        )


_EMPTY_FNS = "Learning_rate_fns must be not empty."


class HashTableConfigInstance:
    """A table's config together with one learning rate per (merged) segment.

    Parameters
    ----------
    table_config : EmbeddingHashTableConfig
        The table's config (kept by reference, as the original).
    learning_rate_fns : list
        One entry per segment, in segment order: a number, a
        :class:`~monolith_np.schedules.LearningRateFunction` (called with the
        global step) or any other callable (called with no argument, as the
        original calls it).
    extra_restore_names : list of str, optional
        Extra checkpoint names to restore from (a shallow copy is kept).

    Notes
    -----
    ``str()`` is the original's: ``"TableConfigPB: <serialized bytes>,
    LearningRateFns: [<str(fn)>, ...]"``; Monolith compares these strings to
    decide whether two features can share a table.

    Examples
    --------
    >>> from monolith_np.proto import EmbeddingHashTableConfig
    >>> from monolith_np.schedules import PolynomialDecay
    >>> inst = HashTableConfigInstance(EmbeddingHashTableConfig(), [0.1, PolynomialDecay(0.0, 10, 0.5)])
    >>> inst.call_learning_rate_fns(global_step=5)
    array([0.1 , 0.25], dtype=float32)
    """

    def __init__(self, table_config, learning_rate_fns, extra_restore_names=None):
        self._table_config = table_config
        self.extra_restore_names = copy.copy(extra_restore_names) or []
        self._learning_rate_fns = learning_rate_fns
        self._learning_rate_tensor = None

    def __str__(self):
        return "TableConfigPB: %s, LearningRateFns: [%s]" % (
            self._table_config.SerializeToString(),
            ", ".join([str(fn) for fn in self._learning_rate_fns]),
        )

    @property
    def table_config(self):
        """The table's ``EmbeddingHashTableConfig``."""
        return self._table_config

    @property
    def learning_rate_fns(self):
        """The learning-rate functions, one per segment."""
        return self._learning_rate_fns

    @property
    def learning_rate_tensor(self):
        """The array last given to :meth:`set_learning_rate_tensor` (None before)."""
        return self._learning_rate_tensor

    def set_learning_rate_tensor(self, learning_rate_tensor):
        """Remember the learning rates computed for the current step.

        Parameters
        ----------
        learning_rate_tensor : array
            Typically the result of :meth:`call_learning_rate_fns`.
        """
        self._learning_rate_tensor = learning_rate_tensor

    def _values(self, global_step, cast):
        if len(self._learning_rate_fns) == 0:
            raise ValueError(_EMPTY_FNS)
        values = []
        for fn in self._learning_rate_fns:
            if isinstance(fn, LearningRateFunction):
                values.append(fn(global_step))
            elif callable(fn):
                values.append(fn())
            else:
                values.append(np.float32(fn) if cast else fn)
        return values

    def call_learning_rate_fns(self, global_step):
        """Evaluate every learning-rate function at ``global_step``.

        Parameters
        ----------
        global_step : int
            The step (the original reads TF's global step instead).

        Returns
        -------
        (len(learning_rate_fns),) float32 numpy array
            One rate per segment, in order.

        Raises
        ------
        ValueError
            If ``learning_rate_fns`` is empty, with the original's message
            "Learning_rate_fns must be not empty." (the original raises a bare
            ``Exception``; ``ValueError`` is one). Also if a function returns
            something that is not a scalar.
        """
        values = self._values(global_step, cast=True)
        out = np.asarray([np.asarray(v, dtype=np.float32) for v in values], dtype=np.float32)
        if out.ndim != 1:
            raise ValueError(f"learning_rate_fns must each give a scalar, got shape {out.shape[1:]}")
        return out

    def call_learning_rate_fns_fewer_ops(self, global_step):
        """Evaluate every learning-rate function, returning a list (numbers are returned as given).

        Parameters
        ----------
        global_step : int
            The step.

        Returns
        -------
        list
            One value per segment.

        Raises
        ------
        ValueError
            If ``learning_rate_fns`` is empty (the original's message).
        """
        return self._values(global_step, cast=False)
