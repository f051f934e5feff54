"""Segment and table configs with Monolith's ``entry.py`` names.

:func:`CombineAsSegment` builds an ``EntryConfig.Segment`` from an
initializer, an optimizer and a compressor (objects with ``as_proto()`` or raw
protos); :class:`HashTableConfig` / :class:`CuckooHashTableConfig` write a
table implementation's settings and :class:`HashTableConfigInstance` pairs a
table config with its per-segment learning-rate functions.
"""

from __future__ import annotations

import abc
import copy

import numpy as np

from .._checks import check_number
from ..proto import EmbeddingHashTableConfig, EntryConfig, FloatCompressorConfig, InitializerConfig, OptimizerConfig
from ..schedules import LearningRateFunction
from ._common import _INT32_MAX, _UINT64_MAX

__all__ = [
    "CombineAsSegment",
    "with_dim_sizes",
    "HashTableConfig",
    "CuckooHashTableConfig",
    "HashTableConfigInstance",
]


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
    >>> from monolith_np.entry import CombineAsSegment, Fp16Compressor, ZerosInitializer
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
    ``entry_accessor.cc``) before it instantiates the
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

    Examples
    --------
    >>> from monolith_np.entry import CombineAsSegment, Fp16Compressor, ZerosInitializer, with_dim_sizes
    >>> from monolith_np.optim import SgdOptimizer
    >>> seg = CombineAsSegment(3, ZerosInitializer(), SgdOptimizer(learning_rate=1.0), Fp16Compressor())
    >>> seg.init_config.zeros.dim_size  # not written by CombineAsSegment
    0
    >>> full = with_dim_sizes(seg)
    >>> full.init_config.zeros.dim_size, full.opt_config.sgd.dim_size, full.comp_config.fp16.dim_size
    (3, 3, 3)
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
    """Base class of hash-table implementation configs: they edit an ``EmbeddingHashTableConfig``.

    Examples
    --------
    :class:`CuckooHashTableConfig` is the implementation:

    >>> from monolith_np.entry import CuckooHashTableConfig, HashTableConfig
    >>> config = CuckooHashTableConfig(initial_capacity=16)
    >>> isinstance(config, HashTableConfig)
    True
    >>> proto = config.as_proto()
    >>> proto.WhichOneof("type"), proto.initial_capacity
    ('cuckoo', 16)
    """

    @abc.abstractmethod
    def mutate_table(self, table_config):
        """Write this implementation's settings into ``table_config`` in place.

        Parameters
        ----------
        table_config : EmbeddingHashTableConfig
            The message to edit.

        Examples
        --------
        On the concrete :class:`CuckooHashTableConfig`:

        >>> from monolith_np.entry import CuckooHashTableConfig
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> table_config = EmbeddingHashTableConfig()
        >>> CuckooHashTableConfig(initial_capacity=8).mutate_table(table_config)
        >>> table_config.WhichOneof("type"), table_config.initial_capacity
        ('cuckoo', 8)
        """

    def as_proto(self):
        """Return a fresh ``EmbeddingHashTableConfig`` with only this config's settings.

        Returns
        -------
        EmbeddingHashTableConfig
            ``mutate_table`` applied to an empty message (not in the original).

        Examples
        --------
        >>> from monolith_np.entry import CuckooHashTableConfig
        >>> print(CuckooHashTableConfig(initial_capacity=4).as_proto(), end="")
        initial_capacity: 4
        cuckoo {
        }
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

    Examples
    --------
    >>> from monolith_np.entry import CuckooHashTableConfig
    >>> config = CuckooHashTableConfig(initial_capacity=16, feature_evict_every_n_hours=24)
    >>> print(config.as_proto(), end="")
    initial_capacity: 16
    cuckoo {
    }
    enable_feature_eviction: true
    feature_evict_every_n_hours: 24
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

        Examples
        --------
        Settings already in the message are kept:

        >>> from monolith_np.entry import CuckooHashTableConfig
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> table_config = EmbeddingHashTableConfig()
        >>> _ = table_config.entry_config.segments.add(dim_size=2)
        >>> CuckooHashTableConfig(initial_capacity=8, feature_evict_every_n_hours=1).mutate_table(table_config)
        >>> print(table_config, end="")
        entry_config {
          segments {
            dim_size: 2
          }
        }
        initial_capacity: 8
        cuckoo {
        }
        enable_feature_eviction: true
        feature_evict_every_n_hours: 1
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

        Examples
        --------
        >>> from monolith_np.entry import HashTableConfigInstance
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> inst = HashTableConfigInstance(EmbeddingHashTableConfig(), [0.5, 0.25])
        >>> inst.learning_rate_tensor is None
        True
        >>> inst.set_learning_rate_tensor(inst.call_learning_rate_fns(global_step=0))
        >>> inst.learning_rate_tensor
        array([0.5 , 0.25], dtype=float32)
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

        Examples
        --------
        A number is a constant rate; a schedule is evaluated at the step:

        >>> from monolith_np.entry import HashTableConfigInstance
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.schedules import PolynomialDecay
        >>> inst = HashTableConfigInstance(EmbeddingHashTableConfig(), [0.5, PolynomialDecay(0.0, 10, 1.0)])
        >>> inst.call_learning_rate_fns(global_step=5)
        array([0.5, 0.5], dtype=float32)
        >>> inst.call_learning_rate_fns(global_step=20)
        array([0.5, 1. ], dtype=float32)
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

        Examples
        --------
        >>> from monolith_np.entry import HashTableConfigInstance
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.schedules import PolynomialDecay
        >>> inst = HashTableConfigInstance(EmbeddingHashTableConfig(), [0.1, PolynomialDecay(0.0, 10, 1.0)])
        >>> rates = inst.call_learning_rate_fns_fewer_ops(global_step=5)
        >>> rates[0], float(rates[1])  # the number comes back as given, not cast to float32
        (0.1, 0.5)
        """
        return self._values(global_step, cast=False)
