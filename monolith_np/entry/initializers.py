"""Embedding initializers (Monolith's ``entry.py`` names) that also fill rows.

Each keeps the original's constructor and ``as_proto()`` bytes; ``initialize``
(or calling the initializer) fills rows on the CPU (:mod:`monolith_np.entry._cpu`)
or the GPU (``monolith_np.cuda.entry``) from :func:`monolith_np._rules.entry.init_value`.
"""

from __future__ import annotations

import abc

import numpy as np

from .._backend import array_module, asarray
from .._checks import check_array, check_number, check_writeable
from .._compile import run_cpu
from .._dispatch import gpu_drivers
from ..proto import InitializerConfig
from . import _cpu
from ._common import _UINT64_MAX, _fill, _finite, _float32_finite

__all__ = [
    "Initializer",
    "ZerosInitializer",
    "OnesInitializer",
    "ConstantsInitializer",
    "RandomUniformInitializer",
    "BatchSoftmaxInitializer",
    "initializer_from_config",
]


class Initializer(abc.ABC):
    """Base class of embedding initializers: a proto config that can also fill rows.

    Subclasses give :meth:`as_proto` (an ``InitializerConfig``) and the rule's
    arguments; :meth:`initialize` and :meth:`__call__` run the rule on the CPU
    or the GPU.

    Notes
    -----
    Row ``r`` of a ``(rows, dim)`` block is row ``row_offset + r`` of the
    table (or ``row_ids[r]``). Random initializers give each table row its
    own stream of a counter-based generator, keyed by the seed and the row
    (``seed ^ mix64(row)``, ``mix64`` a bijection), and element ``c`` is
    that stream's draw ``c``: two rows never share their values' stream, and
    a table initialised in several calls (each with its ``row_offset``)
    equals one initialised at once, on any device.

    Examples
    --------
    Call an initializer for new rows, or fill an existing block in place:

    >>> import numpy as np
    >>> from monolith_np.entry import ConstantsInitializer, OnesInitializer
    >>> OnesInitializer()(2, 3)
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
    >>> table = np.zeros((2, 4), np.float32)
    >>> _ = ConstantsInitializer(0.5).initialize(table[:, 2:])
    >>> table
    array([[0. , 0. , 0.5, 0.5],
           [0. , 0. , 0.5, 0.5]], dtype=float32)
    """

    #: The ``InitializerConfig`` oneof member of this initializer.
    _proto_kind = ""

    def _proto_fields(self):
        """The member's fields, by name (None: left unset)."""
        return {}

    def as_proto(self) -> InitializerConfig:
        """Return the ``InitializerConfig`` the original's ``as_proto`` builds.

        Returns
        -------
        InitializerConfig
            A fresh message (``dim_size`` unset; see :func:`with_dim_sizes`).

        Examples
        --------
        >>> from monolith_np.entry import ConstantsInitializer
        >>> config = ConstantsInitializer(0.5).as_proto()
        >>> config.WhichOneof("type"), config.constants.constant
        ('constants', 0.5)
        """
        init = InitializerConfig()
        _fill(getattr(init, self._proto_kind), **self._proto_fields())
        return init

    @abc.abstractmethod
    def _rule_args(self):
        """``(random, seed, low, width)`` for :func:`monolith_np._rules.entry.init_value`."""

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
            If ``out`` is not a writeable float32/float64 array or ``row_offset`` not an integer.
        ValueError
            If ``out`` is not 2-D, ``row_offset`` is out of range or
            ``row_ids`` does not have one id per row.

        Examples
        --------
        Random rows depend only on their table row (or id), so filling a
        table in parts gives the same values as filling it at once:

        >>> import numpy as np
        >>> from monolith_np.entry import RandomUniformInitializer
        >>> init = RandomUniformInitializer(-1.0, 1.0, seed=3)
        >>> whole = init.initialize(np.empty((4, 2), np.float32))
        >>> part = init.initialize(np.empty((2, 2), np.float32), row_offset=2)
        >>> bool(np.array_equal(whole[2:], part))
        True
        >>> by_id = init.initialize(np.empty((2, 2), np.float32), row_ids=np.array([3, 0]))
        >>> bool(np.array_equal(by_id, whole[[3, 0]]))
        True
        """
        xp = array_module(out=out, row_ids=row_ids)
        out = asarray(out, xp)
        check_writeable("out", check_array("out", out, ndim=2, dtypes=(np.float32, np.float64)))
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
            run_cpu(_cpu.initialize_cpu, out.size, out, random, seed, row_offset, row_ids, low, width)
        else:
            gpu_drivers().entry.initialize_gpu(out, random, seed, row_offset, row_ids, low, width)
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
        num_rows = check_number("num_rows", num_rows, integer=True, low=0, high=2**63 - 1)
        dim = check_number("dim", dim, integer=True, low=0, high=2**63 - 1)
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

    _proto_kind = "zeros"


class OnesInitializer(_ConstantInit):
    """Initialise every value to 1 (``InitializerConfig.ones``).

    Not in the original's ``entry.py`` (its proto and C++ factory have it);
    here so that every ``InitializerConfig`` maps to a class, see
    :func:`initializer_from_config`.

    Examples
    --------
    >>> from monolith_np.entry import OnesInitializer
    >>> OnesInitializer()(2, 2)
    array([[1., 1.],
           [1., 1.]], dtype=float32)
    >>> OnesInitializer().as_proto().WhichOneof("type")
    'ones'
    """

    _value = 1.0
    _proto_kind = "ones"


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

    _proto_kind = "constants"

    def _proto_fields(self):
        return {"constant": self.constant}


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

    Examples
    --------
    It writes ``init_step_interval`` into every value, as a ``constants`` config:

    >>> from monolith_np.entry import BatchSoftmaxInitializer
    >>> init = BatchSoftmaxInitializer(4.0)
    >>> init(1, 2)
    array([[4., 4.]], dtype=float32)
    >>> init.as_proto().constants.constant
    4.0
    """

    def __init__(self, init_step_interval: float):
        init_step_interval = _finite("init_step_interval", init_step_interval)
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
    depend on the order rows are created in: its values
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

    _proto_kind = "random_uniform"

    def _proto_fields(self):
        return {"minval": self.minval, "maxval": self.maxval}

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

    Examples
    --------
    >>> from monolith_np.entry import initializer_from_config
    >>> from monolith_np.proto import InitializerConfig
    >>> config = InitializerConfig()
    >>> config.constants.constant = 2.0
    >>> init = initializer_from_config(config)
    >>> init
    ConstantsInitializer(constant=2.0)
    >>> init(1, 3)
    array([[2., 2., 2.]], dtype=float32)
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
