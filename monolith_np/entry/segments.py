"""Multi-segment embedding entries updated with one learning rate per segment.

Monolith builds an embedding row from *segments* (``EntryConfig.Segment``):
each a run of ``dim_size`` floats with its own initializer, optimizer and
serving compressor. The row's values of all segments are stored side by side
(segment order), the optimizer states after them, and the combined optimizer
hands segment ``k`` its own columns and ``learning_rates[k]``.
Feature slices that differ only in ``dim_size`` and share a
learning-rate function are merged into one segment first, as the original does.

:class:`SegmentedEntry` is that combination over a ``(num_rows, dim)`` table:
each segment's optimizer updates the column block ``params[:, a:b]`` in place
(the optimizers accept strided views), with its own state dict.

>>> import numpy as np
>>> from monolith_np.entry import ZerosInitializer
>>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
>>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer()),
...                         (2, ZerosInitializer(), AdagradOptimizer(initial_accumulator_value=1.0))])
>>> params, state = entry.init_rows(3)
>>> entry.apply_rows(params, np.array([1]), np.ones((1, 3), np.float32), state,
...                  learning_rates=np.float32([1.0, 0.5]))
>>> [round(float(v), 6) for v in params[1]]
[-1.0, -0.353553, -0.353553]
"""

from __future__ import annotations

import copy
import numbers
from typing import NamedTuple

import numpy as np

from .._backend import array_module, asarray, host_read
from .._checks import check_array, check_number, check_step
from ..optim import optimizers as _opt
from ..optim.registry import row_for_kind
from ..optim.sparse import RowGrads
from ..proto import EmbeddingHashTableConfig, EntryConfig, EntryDump, OptimizerDump
from ..proto import FloatCompressorConfig, InitializerConfig, OptimizerConfig
from ..schedules import LearningRateFunction, PolynomialDecay
from .compressors import Compressor, compressor_from_config
from .config import HashTableConfigInstance
from .initializers import Initializer, initializer_from_config
from .quantizers import FakeQuantizer, HashNetQuantizer

__all__ = [
    "SegmentedEntry",
    "SliceConfig",
    "optimizer_from_config",
    "default_learning_rate_fn",
    "merge_slices",
    "combine_slices_as_table",
    "learning_rates_at",
]

_UINT64 = 1 << 64


def optimizer_from_config(config):
    """Build the runnable optimizer of an ``OptimizerConfig`` (the C++ factory's job).

    Parameters
    ----------
    config : OptimizerConfig
        A message with one optimizer chosen; ``stochastic_rounding_float16``
        wraps the result in
        :class:`~monolith_np.optim.StochasticRoundingFloat16OptimizerWrapper`.

    Returns
    -------
    Optimizer
        Its attributes are the config's set fields (unset ones ``None``, so
        proto defaults apply); ``as_proto()`` equals ``config`` without
        ``dim_size``.

    Raises
    ------
    TypeError
        If ``config`` is not an ``OptimizerConfig``.
    ValueError
        If no optimizer is chosen or it is one Monolith cannot build either
        (``dc``; the original: "optimizer is not implemented yet").

    Examples
    --------
    >>> from monolith_np.proto import OptimizerConfig
    >>> c = OptimizerConfig()
    >>> c.adagrad.learning_rate = 0.05
    >>> optimizer_from_config(c).as_proto() == c
    True
    """
    if not isinstance(config, OptimizerConfig):
        raise TypeError(f"config must be an OptimizerConfig, got {type(config).__name__}")
    row = row_for_kind(config.WhichOneof("type"))
    member = getattr(config, row.kind)
    opt = row.cls()
    for name in list(vars(opt)):
        if name.startswith("_"):
            continue
        setattr(opt, name, getattr(member, name) if member.HasField(name) else None)
    if config.stochastic_rounding_float16:
        opt = _opt.StochasticRoundingFloat16OptimizerWrapper(opt)
    return opt


class SliceConfig(NamedTuple):
    """One feature slice of a table: its segment and learning-rate function (Monolith's ``SliceConfig``).

    Parameters
    ----------
    segment : EntryConfig.Segment
        The slice's segment (``dim_size`` on the segment).
    learning_rate_fn : float, LearningRateFunction, callable or None
        Its learning rate; ``None`` derives it from the optimizer config
        (:func:`default_learning_rate_fn`).

    Examples
    --------
    >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, SliceConfig, ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> seg = CombineAsSegment(2, ZerosInitializer(), SgdOptimizer(learning_rate=0.5), Fp32Compressor())
    >>> s = SliceConfig(seg, 0.1)
    >>> s.segment.dim_size, s.learning_rate_fn
    (2, 0.1)
    >>> SliceConfig(seg).learning_rate_fn is None
    True
    """

    segment: EntryConfig.Segment
    learning_rate_fn: object = None


def default_learning_rate_fn(segment):
    """The learning-rate function Monolith derives from a segment's optimizer config (A.0 item 1).

    Parameters
    ----------
    segment : EntryConfig.Segment or OptimizerConfig
        The segment (its ``opt_config`` is read) or the optimizer config itself.

    Returns
    -------
    float or PolynomialDecay
        ``PolynomialDecay(initial_learning_rate=0.0, decay_steps=W,
        end_learning_rate=lr)`` when the config has ``warmup_steps = W > 0``,
        else ``lr``, the config's ``learning_rate`` (its proto default when
        unset, as a Python float of the float32 field).

    Raises
    ------
    TypeError
        If ``segment`` is neither message type.
    ValueError
        If no optimizer is chosen, or it has no ``learning_rate``
        (``moving_average``, ``dc``; the original raises ``AttributeError``):
        pass an explicit ``learning_rate_fn`` then.

    Examples
    --------
    Without warm-up the rate is the config's; with ``warmup_steps`` it ramps up linearly from 0:

    >>> from monolith_np.entry import default_learning_rate_fn
    >>> from monolith_np.proto import OptimizerConfig
    >>> config = OptimizerConfig()
    >>> config.adagrad.learning_rate = 0.5
    >>> default_learning_rate_fn(config)
    0.5
    >>> config.adagrad.warmup_steps = 10
    >>> fn = default_learning_rate_fn(config)
    >>> type(fn).__name__, float(fn(5)), float(fn(20))
    ('PolynomialDecay', 0.25, 0.5)
    """
    if isinstance(segment, EntryConfig.Segment):
        config = segment.opt_config
    elif isinstance(segment, OptimizerConfig):
        config = segment
    else:
        raise TypeError(f"segment must be an EntryConfig.Segment or an OptimizerConfig, got {type(segment).__name__}")
    kind = config.WhichOneof("type")
    if kind is None:
        raise ValueError("segment.opt_config must choose an optimizer, got none")
    member = getattr(config, kind)
    if not hasattr(member, "learning_rate"):
        raise ValueError(f"segment.opt_config must have a learning_rate to derive a learning-rate function, "
                         f"got {kind} (give learning_rate_fn explicitly)")
    if getattr(member, "warmup_steps", 0) > 0:
        return PolynomialDecay(initial_learning_rate=0.0, decay_steps=member.warmup_steps,
                               end_learning_rate=member.learning_rate)
    return member.learning_rate


def _as_slice(i, item):
    if isinstance(item, EntryConfig.Segment):
        item = (item, None)
    if not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[0], EntryConfig.Segment):
        raise TypeError(f"slices[{i}] must be an EntryConfig.Segment or a (segment, learning_rate_fn) pair, "
                        f"got {type(item).__name__}")
    segment, fn = item
    if fn is None:
        fn = default_learning_rate_fn(segment)
    return SliceConfig(copy.deepcopy(segment), fn)


def merge_slices(slices):
    """Merge consecutive slices that differ only in ``dim_size`` (Monolith's ``_merge_slices``, A.0 item 2).

    Parameters
    ----------
    slices : sequence of EntryConfig.Segment or (segment, learning_rate_fn) pairs
        Feature slices in table order; a missing or ``None`` function is
        derived from the optimizer config (:func:`default_learning_rate_fn`),
        as ``add_feature_slice`` does.

    Returns
    -------
    list of SliceConfig
        The merged slices, each with a copy of the segment. A slice joins the
        previous merged one when their segments serialise to the same bytes
        with ``dim_size`` cleared and ``str()`` of their learning-rate
        functions are equal; the dims are then added and the first slice's
        function is kept. The inputs are not modified.

    Raises
    ------
    TypeError
        If an item is not a segment or a pair.
    ValueError
        If a function must be derived from a config without ``learning_rate``.

    Notes
    -----
    Byte equality is the original's test, so a field set explicitly to its
    default value does not match an unset one, and ``0.1`` (float) does not
    match ``PolynomialDecay(...)``. Only neighbours merge: ``A, B, A`` stays three segments.

    Examples
    --------
    >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, OnesInitializer, ZerosInitializer
    >>> from monolith_np.entry import merge_slices
    >>> from monolith_np.optim import SgdOptimizer
    >>> sgd, fp32 = SgdOptimizer(learning_rate=0.5), Fp32Compressor()
    >>> a = CombineAsSegment(2, ZerosInitializer(), sgd, fp32)
    >>> b = CombineAsSegment(3, ZerosInitializer(), sgd, fp32)
    >>> c = CombineAsSegment(1, OnesInitializer(), sgd, fp32)
    >>> merged = merge_slices([a, b, c])
    >>> [(s.segment.dim_size, s.learning_rate_fn) for s in merged]
    [(5, 0.5), (1, 0.5)]

    A different learning-rate function keeps slices apart:

    >>> [(s.segment.dim_size, s.learning_rate_fn) for s in merge_slices([a, (b, 0.25), c])]
    [(2, 0.5), (3, 0.25), (1, 0.5)]
    """
    merged = []
    for i, item in enumerate(slices):
        s = _as_slice(i, item)
        if merged:
            last = merged[-1]
            a, b = copy.deepcopy(last.segment), copy.deepcopy(s.segment)
            a.ClearField("dim_size")
            b.ClearField("dim_size")
            if a.SerializeToString() == b.SerializeToString() and str(last.learning_rate_fn) == str(s.learning_rate_fn):
                last.segment.dim_size = last.segment.dim_size + s.segment.dim_size
                continue
        merged.append(s)
    return merged


def combine_slices_as_table(slices, hashtable_config=None):
    """Merge slices and build the table's config and learning-rate functions (``_combine_slices_as_table``).

    Parameters
    ----------
    slices : sequence of EntryConfig.Segment or (segment, learning_rate_fn) pairs
        As for :func:`merge_slices`.
    hashtable_config : HashTableConfig, optional
        Writes the table implementation's settings (e.g.
        :class:`~monolith_np.entry.CuckooHashTableConfig`); none when omitted.

    Returns
    -------
    HashTableConfigInstance
        ``table_config.entry_config`` holds the merged segments (TRAINING) and
        ``learning_rate_fns`` one function per merged segment;
        ``call_learning_rate_fns(step)`` gives the ``learning_rates`` vector.

    Examples
    --------
    >>> from monolith_np.entry import CombineAsSegment, CuckooHashTableConfig, Fp32Compressor, ZerosInitializer
    >>> from monolith_np.entry import combine_slices_as_table
    >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
    >>> a = CombineAsSegment(2, ZerosInitializer(), SgdOptimizer(learning_rate=0.5), Fp32Compressor())
    >>> b = CombineAsSegment(3, ZerosInitializer(), AdagradOptimizer(learning_rate=0.25), Fp32Compressor())
    >>> inst = combine_slices_as_table([a, a, b], CuckooHashTableConfig(initial_capacity=16))
    >>> [seg.dim_size for seg in inst.table_config.entry_config.segments]
    [4, 3]
    >>> inst.table_config.initial_capacity, inst.call_learning_rate_fns(global_step=0)
    (16, array([0.5 , 0.25], dtype=float32))
    """
    merged = merge_slices(slices)
    table_config = EmbeddingHashTableConfig()
    for s in merged:
        table_config.entry_config.segments.append(s.segment)
    if hashtable_config is not None:
        hashtable_config.mutate_table(table_config)
    return HashTableConfigInstance(table_config, [s.learning_rate_fn for s in merged])


def learning_rates_at(learning_rate_fns, global_step):
    """Evaluate per-segment learning-rate functions into the float32 ``learning_rates`` vector (A.0 item 3).

    Parameters
    ----------
    learning_rate_fns : sequence
        One per segment: a number, a ``LearningRateFunction`` (called with
        ``global_step``) or another callable (called with no argument).
    global_step : int
        The step, ``>= 0``.

    Returns
    -------
    float32 numpy array of shape (len(learning_rate_fns),)
        The ``learning_rates`` argument of :meth:`SegmentedEntry.apply_rows`:
        entry ``k`` is segment ``k``'s rate.

    Raises
    ------
    TypeError
        If ``learning_rate_fns`` is not a list or tuple, or an entry is
        neither a number nor a callable.
    ValueError
        If there is no function, the step is negative, or a rate is negative,
        NaN or infinite.

    Examples
    --------
    >>> learning_rates_at([0.1, PolynomialDecay(0.0, 10, 0.5)], global_step=5)
    array([0.1 , 0.25], dtype=float32)
    """
    check_step("global_step", global_step)
    return _rates_at(learning_rate_fns, global_step, "learning_rate_fns")


def _rates_at(fns, global_step, name):
    """:func:`learning_rates_at` with errors naming ``name`` (the caller's argument)."""
    if not isinstance(fns, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple (one per segment), got {type(fns).__name__}")
    for k, fn in enumerate(fns):
        if not (callable(fn) or isinstance(fn, numbers.Real)) or isinstance(fn, (bool, np.bool_)):
            raise TypeError(f"{name}[{k}] must be a number, a LearningRateFunction or a callable, "
                            f"got {type(fn).__name__} {fn!r:.40}")
    rates = HashTableConfigInstance(EmbeddingHashTableConfig(), list(fns)).call_learning_rate_fns(global_step)
    for k, v in enumerate(rates.tolist()):
        check_number(f"{name}[{k}]", v, low=0.0, finite=True)
    return rates


# ---------------------------------------------------------------------------
# The entry
# ---------------------------------------------------------------------------


class _Segment:
    """One built segment: its proto, column range and runnable components."""

    def __init__(self, proto, start, initializer, optimizer, compressor):
        self.proto = proto
        self.dim = proto.dim_size
        self.start = start
        self.stop = start + self.dim
        self.initializer = initializer
        self.optimizer = optimizer
        self.compressor = compressor
        fresh = optimizer.init_state(1, self.dim)
        self.state_spec = {name: (arr.dtype, arr.shape[1:]) for name, arr in fresh.items()}
        self.record_kinds = [rec.WhichOneof("type") for rec in optimizer.dump_state(fresh, [0])[0].dump]
        comp = proto.comp_config if proto.HasField("comp_config") else None
        kind = comp.WhichOneof("type") if comp is not None else None
        if kind == "fixed_r8":
            self.retriever, self.quantizer = "fake_quant", FakeQuantizer(comp.fixed_r8.r)
        elif kind == "one_bit":
            self.retriever, self.quantizer = "hash_net", HashNetQuantizer.from_config(comp.one_bit)
        else:
            self.retriever, self.quantizer = "raw", None


def _component(name, value, base, proto_type, from_config, optional=False):
    """``(object, proto)`` of a segment component given as an object or a message."""
    if value is None:
        if optional:
            return None, None
        raise ValueError(f"{name} must be set (a TRAINING entry needs an initializer and an optimizer "
                         f"per segment), got None")
    if isinstance(value, base):
        return value, value.as_proto()
    if hasattr(value, "as_proto"):
        value = value.as_proto()
    if not isinstance(value, proto_type):
        raise TypeError(f"{name} must be a {base.__name__} or a {proto_type.__name__}, got {type(value).__name__}")
    if value.WhichOneof("type") is None:
        if optional:
            return None, None
        raise ValueError(f"{name} must choose a type, got an empty {proto_type.__name__}")
    return from_config(value), copy.deepcopy(value)


def _segment_seed(seed, k):
    return None if seed is None else (seed + k) % _UINT64


class SegmentedEntry:
    """A multi-segment training entry: per-segment initializers, optimizers and learning rates.

    Parameters
    ----------
    segments : EntryConfig or sequence
        An ``EntryConfig`` (TRAINING) or a non-empty sequence whose items are
        ``EntryConfig.Segment`` messages (e.g. from
        :func:`~monolith_np.entry.CombineAsSegment`) or tuples
        ``(dim_size, initializer, optimizer[, compressor])`` whose components
        are runnable objects (used as given) or config messages.
    seed : int, optional
        Seed of random-uniform initializers built from messages; segment
        ``k`` uses ``seed + k`` (so equal segments draw different values).
        ``None`` draws fresh seeds.

    Attributes
    ----------
    dim : int
        Floats per row, the sum of the segment dims.
    dims : tuple of int
        Each segment's ``dim_size``.
    slices : tuple of slice
        Each segment's columns of the row, in order.
    initializers, optimizers, compressors : tuple
        Each segment's runnable component (compressor ``None`` when unset).
    retrievers : tuple of str
        Each segment's training-time lookup: ``"fake_quant"`` (``fixed_r8``),
        ``"hash_net"`` (``one_bit``) or ``"raw"``.
    learning_rate_fns : list
        Each segment's default learning-rate function
        (:func:`default_learning_rate_fn`; ``None`` for optimizers without
        a learning rate).

    Raises
    ------
    TypeError
        If a segment or component has the wrong type.
    ValueError
        If there is no segment, a dim is below 1, a segment misses its
        initializer or optimizer, the entry is not TRAINING, or an optimizer
        cannot be built or refuses the dim (``BatchSoftmaxOptimizer``).

    Notes
    -----
    Row layout and update are those of Monolith's ``EntryAccessor`` with the
    combined optimizer: the values of all segments side by
    side in one ``(num_rows, dim)`` table, segment ``k`` updated by its own
    optimizer on ``params[:, slices[k]]`` with ``learning_rates[k]``; its
    state is ``state[k]``, the dict its optimizer's ``init_state`` makes.
    Dumps hold the whole row in ``num`` and the segments' records
    concatenated in ``opt`` (none for moving_average, an empty ``sgd {}``
    for sgd). See ``docs/segments.md``.

    Examples
    --------
    A 1-float SGD segment next to a 2-float Adagrad segment; Adagrad's
    accumulator starts at 3, so a unit gradient moves its values by
    ``1 / sqrt(3 + 1) = 0.5``:

    >>> import numpy as np
    >>> from monolith_np.entry import OnesInitializer, SegmentedEntry, ZerosInitializer
    >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
    >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
    ...                         (2, OnesInitializer(), AdagradOptimizer(learning_rate=1.0,
    ...                                                                 initial_accumulator_value=3.0))])
    >>> entry.dim, entry.slices
    (3, (slice(0, 1, None), slice(1, 3, None)))
    >>> params, state = entry.init_rows(2)
    >>> params
    array([[0., 1., 1.],
           [0., 1., 1.]], dtype=float32)
    >>> entry.apply_rows(params, np.array([1]), np.ones((1, 3), np.float32), state)
    >>> params
    array([[ 0. ,  1. ,  1. ],
           [-1. ,  0.5,  0.5]], dtype=float32)
    """

    def __init__(self, segments, seed=None):
        if seed is not None:
            seed = check_number("seed", seed, integer=True, low=0, high=_UINT64 - 1)
        self._explicit_type = False
        if isinstance(segments, EntryConfig):
            self._explicit_type = segments.HasField("entry_type")
            if segments.entry_type != EntryConfig.TRAINING:
                name = EntryConfig.EntryType.Name(segments.entry_type)
                raise ValueError(f"segments.entry_type must be TRAINING, got {name}")
            segments = list(segments.segments)
        elif isinstance(segments, (str, bytes)) or not hasattr(segments, "__iter__"):
            raise TypeError(f"segments must be an EntryConfig or a sequence of segments, got {type(segments).__name__}")
        segments = list(segments)
        if not segments:
            raise ValueError("segments must have at least one segment, got none")
        built, start = [], 0
        for k, item in enumerate(segments):
            seg = self._build(k, item, start, seed)
            built.append(seg)
            start = seg.stop
        self._segments = tuple(built)

    @staticmethod
    def _build(k, item, start, seed):
        name = f"segments[{k}]"
        if isinstance(item, EntryConfig.Segment):
            dim = item.dim_size
            init_value = item.init_config if item.HasField("init_config") else None
            opt_value = item.opt_config if item.HasField("opt_config") else None
            comp_value = item.comp_config if item.HasField("comp_config") else None
        elif isinstance(item, tuple) and len(item) in (3, 4):
            dim, init_value, opt_value = item[:3]
            comp_value = item[3] if len(item) == 4 else None
        else:
            raise TypeError(f"{name} must be an EntryConfig.Segment or a (dim_size, initializer, optimizer"
                            f"[, compressor]) tuple, got {type(item).__name__}")
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"{name} dim_size must be an integer, got {type(dim).__name__} {dim!r}")
        if dim < 1:
            raise ValueError(f"{name} dim_size must be >= 1, got {dim}")
        init, init_proto = _component(f"{name} initializer", init_value, Initializer, InitializerConfig,
                                      lambda c: initializer_from_config(c, seed=_segment_seed(seed, k)))
        opt, opt_proto = _component(f"{name} optimizer", opt_value, _opt.Optimizer, OptimizerConfig,
                                    optimizer_from_config)
        comp, comp_proto = _component(f"{name} compressor", comp_value, Compressor, FloatCompressorConfig,
                                      compressor_from_config, optional=True)
        if isinstance(item, EntryConfig.Segment):
            proto = copy.deepcopy(item)
        else:
            proto = EntryConfig.Segment(dim_size=int(dim))
            proto.init_config.CopyFrom(init_proto)
            proto.opt_config.CopyFrom(opt_proto)
            if comp_proto is not None:
                proto.comp_config.CopyFrom(comp_proto)
        try:
            return _Segment(proto, start, init, opt, comp)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    # -- description ----------------------------------------------------------

    @property
    def num_segments(self):
        """Number of segments (= length of ``learning_rates``)."""
        return len(self._segments)

    @property
    def dim(self):
        """Floats per row, the sum of the segment dims."""
        return self._segments[-1].stop

    @property
    def dims(self):
        """Each segment's ``dim_size``."""
        return tuple(s.dim for s in self._segments)

    @property
    def slices(self):
        """Each segment's columns of a row, as ``slice`` objects."""
        return tuple(slice(s.start, s.stop) for s in self._segments)

    @property
    def initializers(self):
        """Each segment's initializer."""
        return tuple(s.initializer for s in self._segments)

    @property
    def optimizers(self):
        """Each segment's optimizer."""
        return tuple(s.optimizer for s in self._segments)

    @property
    def compressors(self):
        """Each segment's compressor (``None`` when the segment sets none)."""
        return tuple(s.compressor for s in self._segments)

    @property
    def retrievers(self):
        """Each segment's training-time retriever: ``"raw"``, ``"fake_quant"`` or ``"hash_net"``."""
        return tuple(s.retriever for s in self._segments)

    @property
    def learning_rate_fns(self):
        """Each segment's default learning-rate function (``None`` without a ``learning_rate`` field)."""
        fns = []
        for s in self._segments:
            try:
                fns.append(default_learning_rate_fn(s.proto))
            except ValueError:
                fns.append(None)
        return fns

    def as_proto(self):
        """Return the entry's ``EntryConfig``.

        Returns
        -------
        EntryConfig
            TRAINING (``entry_type`` set only when the given config set it),
            with one segment per segment (the given messages, or
            what ``CombineAsSegment`` builds from the given objects; a segment
            without compressor has no ``comp_config``).

        Examples
        --------
        >>> from monolith_np.entry import FixedR8Compressor, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> entry = SegmentedEntry([(2, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
        ...                         (2, ZerosInitializer(), SgdOptimizer(learning_rate=1.0), FixedR8Compressor())])
        >>> config = entry.as_proto()
        >>> [(seg.dim_size, seg.HasField("comp_config")) for seg in config.segments]
        [(2, False), (2, True)]
        >>> SegmentedEntry(config).as_proto() == config
        True
        """
        config = EntryConfig()
        if self._explicit_type:
            config.entry_type = EntryConfig.TRAINING
        for s in self._segments:
            config.segments.append(s.proto)
        return config

    def __repr__(self):
        parts = ", ".join(f"{s.dim}:{type(s.optimizer).__name__}" for s in self._segments)
        return f"SegmentedEntry([{parts}])"

    # -- state ----------------------------------------------------------------

    def init_state(self, num_rows, like=None):
        """Allocate every segment's optimizer state.

        Parameters
        ----------
        num_rows : int
            Rows of the table.
        like : array, optional
            Allocate with this array's module (numpy or CuPy).

        Returns
        -------
        list of dict
            ``state[k]`` = ``optimizers[k].init_state(num_rows, dims[k])``.

        Examples
        --------
        SGD keeps no state; Adagrad keeps one accumulator per value:

        >>> import numpy as np
        >>> from monolith_np.entry import OnesInitializer, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
        >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
        ...                         (2, OnesInitializer(), AdagradOptimizer(learning_rate=1.0,
        ...                                                                 initial_accumulator_value=3.0))])
        >>> entry.init_state(2)
        [{}, {'norm': array([[3., 3.],
                             [3., 3.]], dtype=float32)}]
        """
        return [s.optimizer.init_state(num_rows, s.dim, like=like) for s in self._segments]

    def init_rows(self, num_rows, row_offset=0, like=None):
        """Make ``num_rows`` initialised rows and their fresh optimizer state.

        Parameters
        ----------
        num_rows : int
            Rows to make, ``>= 0``.
        row_offset : int, default 0
            Table row of the first one (random initializers draw per table row).
        like : array, optional
            Allocate with this array's module (numpy or CuPy).

        Returns
        -------
        params : (num_rows, dim) float32 array
            Segment ``k``'s columns filled by ``initializers[k]``.
        state : list of dict
            As :meth:`init_state`.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import OnesInitializer, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
        >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
        ...                         (2, OnesInitializer(), AdagradOptimizer(learning_rate=1.0,
        ...                                                                 initial_accumulator_value=3.0))])
        >>> params, state = entry.init_rows(2)
        >>> params
        array([[0., 1., 1.],
               [0., 1., 1.]], dtype=float32)
        >>> state[1]["norm"].shape
        (2, 2)
        """
        num_rows = check_number("num_rows", num_rows, integer=True, low=0)
        row_offset = check_number("row_offset", row_offset, integer=True, low=0, high=_UINT64 - 1)
        xp = np if like is None else array_module(like=like)
        params = xp.empty((num_rows, self.dim), dtype=np.float32)
        for s in self._segments:
            s.initializer.initialize(params[:, s.start:s.stop], row_offset=row_offset)
        return params, self.init_state(num_rows, like=like)

    def initialize(self, params, rows=None, state=None):
        """Re-initialise rows of a table in place (values and, if given, optimizer state).

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table.
        rows : (n,) integer array, optional
            Rows to initialise; every row when omitted. Row ``r`` gets the
            values ``init_rows`` gives table row ``r``.
        state : list of dict, optional
            When given, the rows' optimizer state is reset to its initial value.

        Raises
        ------
        TypeError, ValueError
            On a wrong table, rows out of range or wrong state, before any write.

        Examples
        --------
        Reset row 0 of a trained table, values and optimizer state:

        >>> import numpy as np
        >>> from monolith_np.entry import OnesInitializer, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
        >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
        ...                         (2, OnesInitializer(), AdagradOptimizer(learning_rate=1.0,
        ...                                                                 initial_accumulator_value=3.0))])
        >>> params, state = entry.init_rows(2)
        >>> entry.apply(params, np.ones((2, 3), np.float32), state)
        >>> entry.initialize(params, rows=np.array([0]), state=state)
        >>> params
        array([[ 0. ,  1. ,  1. ],
               [-1. ,  0.5,  0.5]], dtype=float32)
        >>> state[1]["norm"]
        array([[3., 3.],
               [4., 4.]], dtype=float32)
        """
        xp = self._check_params(params)
        num_rows = params.shape[0]
        rows = self._check_rows(xp, rows, num_rows)
        if state is not None:
            self._check_state(state, num_rows)
        if rows is None:
            for s in self._segments:
                s.initializer.initialize(params[:, s.start:s.stop], row_offset=0)
            runs = [(0, num_rows)]
        else:
            host = host_read(rows)
            if host.size == 0:
                return
            cut = np.flatnonzero(np.diff(host) != 1) + 1
            starts = np.concatenate(([0], cut))
            stops = np.concatenate((cut, [host.size]))
            block = xp.empty((host.size, self.dim), dtype=np.float32)
            for s in self._segments:
                for a, b in zip(starts.tolist(), stops.tolist()):
                    s.initializer.initialize(block[a:b, s.start:s.stop], row_offset=int(host[a]))
            params[rows] = block
            runs = None
        if state is not None:
            for s, st in zip(self._segments, state):
                fresh = s.optimizer.init_state(1, s.dim, like=params)
                for key, arr in st.items():
                    if runs is None:
                        arr[rows] = fresh[key][0]
                    else:
                        arr[...] = fresh[key][0]

    # -- validation -----------------------------------------------------------

    def _check_params(self, params, name="params"):
        xp = array_module(**{name: params})
        check_array(name, params, ndim=2, dtypes=(np.float32,))
        if params.shape[1] != self.dim:
            raise ValueError(f"{name} must have {self.dim} columns (the sum of the segment dims "
                             f"{list(self.dims)}), got shape {tuple(params.shape)}")
        return xp

    @staticmethod
    def _check_rows(xp, rows, num_rows):
        if rows is None:
            return None
        rows = asarray(rows, xp)
        check_array("rows", rows, ndim=1, dtype_kinds="iu")
        return _opt._rows_in_range(xp, rows, num_rows)

    def _check_state(self, state, num_rows):
        if not isinstance(state, (list, tuple)):
            raise TypeError(f"state must be a list of dicts (from init_state), got {type(state).__name__}")
        if len(state) != self.num_segments:
            raise ValueError(f"state must have {self.num_segments} entries (one per segment), got {len(state)}")
        for k, (s, st) in enumerate(zip(self._segments, state)):
            if not isinstance(st, dict):
                raise TypeError(f"state[{k}] must be a dict (from init_state), got {type(st).__name__}")
            if set(st) != set(s.state_spec):
                raise ValueError(f"state[{k}] must have the keys {sorted(s.state_spec)}, got {sorted(st)}")
            for key, (dtype, tail) in s.state_spec.items():
                check_array(f"state[{k}][{key!r}]", st[key], dtypes=(dtype,), shape=(num_rows, *tail))

    def _check_learning_rates(self, learning_rates, global_step):
        """The public methods' ``learning_rates`` (``None`` or one rate per segment), resolved."""
        if not (learning_rates is None or isinstance(learning_rates, (list, tuple)) or hasattr(learning_rates, "shape")):
            raise TypeError(f"learning_rates must be an array, got {type(learning_rates).__name__}")
        return self._resolve_learning_rates(learning_rates, global_step)

    def _resolve_learning_rates(self, learning_rate, global_step, learning_rate_fns=None, name="learning_rates"):
        """Validate and resolve a learning-rate argument, once, into what :meth:`_apply_rows_impl` takes.

        Parameters
        ----------
        learning_rate : None, number, LearningRateFunction, callable or 1-D float array
            ``None``: ``learning_rate_fns`` at ``global_step``, or each
            segment's own default when there are none; a number: every
            segment's rate; a schedule (called with ``global_step``) or
            another callable (called with no argument): evaluated once, for
            every segment; an array (numpy, CuPy or a list) of one rate per
            segment (a device array costs one counted host read).
        global_step : int
            The validated step.
        learning_rate_fns : sequence, optional
            The table's per-segment learning-rate functions.
        name : str, default "learning_rates"
            The argument's name in error messages.

        Returns
        -------
        None or (num_segments,) float32 numpy array
            ``None`` means "each segment's default rate"; otherwise every
            entry is ``>= 0``.

        Raises
        ------
        TypeError, ValueError
            On a wrong type, shape or dtype, or a negative or NaN rate.
        """
        if learning_rate is None:
            if learning_rate_fns is None:
                return None
            rates = _rates_at(learning_rate_fns, global_step, "learning_rate_fns")
        elif isinstance(learning_rate, LearningRateFunction) or callable(learning_rate):
            rates = np.repeat(_rates_at([learning_rate], global_step, name), self.num_segments)
        elif isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, (bool, np.bool_)):
            rates = np.full(self.num_segments, learning_rate, np.float32)
        else:
            if isinstance(learning_rate, (list, tuple)):
                learning_rate = np.asarray(learning_rate, dtype=np.float32)
            check_array(name, learning_rate, ndim=1, dtype_kinds="f")
            host = learning_rate if isinstance(learning_rate, np.ndarray) else host_read(learning_rate)
            rates = host.astype(np.float32, copy=False)
        if rates.shape != (self.num_segments,):
            raise ValueError(f"{name} must have {self.num_segments} values (one per segment), "
                             f"got {rates.shape[0]}")
        for k, v in enumerate(rates.tolist()):
            check_number(f"{name}[{k}]", v, low=0.0, finite=True)
        return rates

    # -- lookup and updates ---------------------------------------------------

    def lookup(self, params, rows=None):
        """What a training lookup returns: each segment's retriever view of the stored values.

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table.
        rows : (n,) integer array, optional
            Rows to look up; every row when omitted.

        Returns
        -------
        (n, dim) float32 array
            Raw values, except ``fixed_r8`` segments (fake-quantized) and
            ``one_bit`` segments (HashNet ``amplitude * tanh(scale * w)``).

        Examples
        --------
        The second segment stores fixed_r8 values, so its lookup is rounded to multiples of ``1/128``:

        >>> import numpy as np
        >>> from monolith_np.entry import FixedR8Compressor, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer()),
        ...                         (2, ZerosInitializer(), SgdOptimizer(), FixedR8Compressor(1.0))])
        >>> params = np.full((2, 3), 0.3, np.float32)
        >>> entry.lookup(params, np.array([1]))
        array([[0.3     , 0.296875, 0.296875]], dtype=float32)
        """
        xp = self._check_params(params)
        rows = self._check_rows(xp, rows, params.shape[0])
        return self._lookup_impl(xp, params[rows] if rows is not None else params.copy())

    def _lookup_impl(self, xp, out):
        """:meth:`lookup` on validated rows already gathered into ``out``: the retriever views, in place.

        Parameters
        ----------
        xp : module
            The array module of ``out``.
        out : (n, dim) float32 C-contiguous array
            Stored values of the looked-up rows; overwritten with their views.

        Returns
        -------
        (n, dim) float32 array
            ``out``.
        """
        for s in self._segments:
            if s.quantizer is not None:
                block = xp.ascontiguousarray(out[:, s.start:s.stop])
                q = s.quantizer.quantize(block) if s.retriever == "fake_quant" else s.quantizer.forward(block)
                out[:, s.start:s.stop] = q
        return out

    def _backward(self, xp, params, rows, grads, step):
        """Retriever backward: HashNet segments scale their gradient columns (a new array)."""
        if not any(s.retriever == "hash_net" for s in self._segments):
            return grads
        grads = grads.copy()
        for s in self._segments:
            if s.retriever == "hash_net":
                num = params[:, s.start:s.stop] if rows is None else params[rows, s.start:s.stop]
                grads[:, s.start:s.stop] = s.quantizer.backward(
                    xp.ascontiguousarray(num), xp.ascontiguousarray(grads[:, s.start:s.stop]), step)
        return grads

    def apply_rows(self, params, rows, grads, state, learning_rates=None, global_step=0):
        """Update rows of the table: segment ``k`` by its optimizer with ``learning_rates[k]``.

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table, updated in place.
        rows : (n,) int64 or int32 array
            Row of each gradient; may repeat (duplicates are summed per
            segment, in occurrence order).
        grads : (n, dim) float32 array
            Gradient rows (not modified).
        state : list of dict
            From :meth:`init_state`, updated in place.
        learning_rates : (num_segments,) float array or None, default None
            One rate per segment, cast to float32 (Monolith's per-table
            ``learning_rates`` vector, :func:`learning_rates_at`); ``None``:
            each segment's own default (config rate with its warm-up ramp).
        global_step : int, default 0
            The step before its increment.

        Raises
        ------
        TypeError, ValueError
            On wrong shapes or dtypes, rows out of range, wrong state, a
            wrong number of or negative learning rates, before any write.

        Notes
        -----
        ``one_bit`` segments first pass their gradient columns through the
        HashNet backward (with the stored values), as Monolith's entry does.

        Examples
        --------
        Row 1 gets a unit gradient; the SGD segment uses rate 2, the Adagrad one rate 1:

        >>> import numpy as np
        >>> from monolith_np.entry import OnesInitializer, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
        >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
        ...                         (2, OnesInitializer(), AdagradOptimizer(learning_rate=1.0,
        ...                                                                 initial_accumulator_value=3.0))])
        >>> params, state = entry.init_rows(3)
        >>> entry.apply_rows(params, np.array([1]), np.ones((1, 3), np.float32), state,
        ...                  learning_rates=np.float32([2.0, 1.0]))
        >>> params
        array([[ 0. ,  1. ,  1. ],
               [-2. ,  0.5,  0.5],
               [ 0. ,  1. ,  1. ]], dtype=float32)
        """
        xp = self._check_params(params)
        rows = asarray(rows, xp)
        check_array("rows", rows, ndim=1, dtypes=(np.int64, np.int32))
        check_array("grads", grads, dtypes=(np.float32,), shape=(rows.shape[0], self.dim))
        rows = self._check_rows(xp, rows, params.shape[0])
        self._check_state(state, params.shape[0])
        step = check_step("global_step", global_step)
        lrs = self._check_learning_rates(learning_rates, step)
        self._apply_rows_impl(params, rows, grads, state, lrs, step)

    def _apply_rows_impl(self, params, rows, grads, state, learning_rates, global_step, sequential=False):
        """:meth:`apply_rows` on validated inputs: no checks, no device reads.

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table (its module decides CPU or GPU).
        rows : (n,) int64 array
            Rows in ``[0, num_rows)``, same module.
        grads : (n, dim) float32 array or RowGrads
            Gradient rows (not modified), or a
            :class:`~monolith_np.optim.sparse.RowGrads` standing for them.
        state : list of dict
            Validated per-segment state (as :meth:`init_state` makes it).
        learning_rates : (num_segments,) float32 numpy array or None
            From :meth:`_resolve_learning_rates`; ``None``: each segment's
            default rate.
        global_step : int
            The validated step.
        sequential : bool, default False
            Run each segment's rule once per occurrence, a repeated row's in
            order, instead of once per summed row (numpy arrays and no
            HashNet segment only: :attr:`_sequential_ok`).
        """
        if rows.shape[0] == 0:
            return
        xp = array_module(params=params)
        if isinstance(grads, RowGrads) and not self._sequential_ok:
            grads = grads.expand(xp)  # the HashNet backward rewrites real rows
        grads = self._backward(xp, params, rows, grads, global_step)
        for k, (s, st) in enumerate(zip(self._segments, state)):
            opt = s.optimizer
            lr = None if learning_rates is None else learning_rates[k]
            cols = grads.columns(s.start, s.stop) if isinstance(grads, RowGrads) else grads[:, s.start:s.stop]
            opt._apply_rows_impl(params[:, s.start:s.stop], rows, cols, opt._state_arrays(st), lr, global_step,
                                 sequential)

    @property
    def _sequential_ok(self):
        """Whether :meth:`_apply_rows_impl` may run ``sequential`` (no HashNet backward, which reads the rows)."""
        return not any(s.retriever == "hash_net" for s in self._segments)

    def apply(self, params, grads, state, learning_rates=None, global_step=0):
        """Update every row of the table (dense gradients).

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table, updated in place.
        grads : (num_rows, dim) float32 array
            One gradient row per table row (not modified).
        state : list of dict
            From :meth:`init_state`, updated in place.
        learning_rates : (num_segments,) float array or None, default None
            As in :meth:`apply_rows`.
        global_step : int, default 0
            As in :meth:`apply_rows`.

        Raises
        ------
        TypeError, ValueError
            As :meth:`apply_rows`, before any write.

        Examples
        --------
        Every row gets its gradient row (zero gradients change nothing for SGD):

        >>> import numpy as np
        >>> from monolith_np.entry import OnesInitializer, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
        >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
        ...                         (2, OnesInitializer(), AdagradOptimizer(learning_rate=1.0,
        ...                                                                 initial_accumulator_value=3.0))])
        >>> params, state = entry.init_rows(2)
        >>> grads = np.float32([[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
        >>> entry.apply(params, grads, state, learning_rates=[0.5, 1.0])
        >>> params
        array([[-0.5,  0.5,  0.5],
               [ 0. ,  0.5,  0.5]], dtype=float32)
        """
        xp = self._check_params(params)
        check_array("grads", grads, dtypes=(np.float32,), shape=tuple(params.shape))
        self._check_state(state, params.shape[0])
        step = check_step("global_step", global_step)
        lrs = self._check_learning_rates(learning_rates, step)
        grads = self._backward(xp, params, None, grads, step)
        for k, (s, st) in enumerate(zip(self._segments, state)):
            opt = s.optimizer
            lr = None if lrs is None else lrs[k]
            opt._apply_impl(params[:, s.start:s.stop], grads[:, s.start:s.stop], opt._state_arrays(st), lr, step)

    # -- dumps ----------------------------------------------------------------

    def dump(self, params, state, rows=None):
        """Export rows as ``EntryDump`` messages (Monolith's ``EntryAccessor::Save``).

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table.
        state : list of dict
            Its optimizer state.
        rows : sequence of int, optional
            Rows to export; every row when omitted.

        Returns
        -------
        list of EntryDump
            Per row: ``num`` = the stored values of all segments (full
            precision, not the retriever view), ``opt`` = the segments'
            ``SingleOptimizerDump`` records concatenated in segment order.
            ``id`` and ``last_update_ts_sec`` are left to the table.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import OnesInitializer, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
        >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
        ...                         (2, OnesInitializer(), AdagradOptimizer(learning_rate=1.0,
        ...                                                                 initial_accumulator_value=3.0))])
        >>> params, state = entry.init_rows(2)
        >>> entry.apply_rows(params, np.array([1]), np.ones((1, 3), np.float32), state)
        >>> dumps = entry.dump(params, state, rows=[1])
        >>> list(dumps[0].num)
        [-1.0, 0.5, 0.5]
        >>> print(dumps[0].opt, end="")
        dump {
          sgd {
          }
        }
        dump {
          adagrad {
            norm: 4
            norm: 4
          }
        }
        """
        self._check_params(params)
        num_rows = params.shape[0]
        self._check_state(state, num_rows)
        host_rows = None if rows is None else self._check_rows(np, np.asarray(rows, dtype=np.int64), num_rows)
        host = host_read(params)
        order = range(num_rows) if host_rows is None else host_rows.tolist()
        seg_dumps = [s.optimizer.dump_state(st, order) for s, st in zip(self._segments, state)]
        out = []
        for i, r in enumerate(order):
            d = EntryDump()
            d.num.extend(host[r].tolist())
            d.opt.SetInParent()
            for per_seg in seg_dumps:
                d.opt.dump.extend(per_seg[i].dump)
            out.append(d)
        return out

    def restore(self, params, state, dumps, rows=None):
        """Load ``EntryDump`` messages into rows (Monolith's ``EntryAccessor::Restore``).

        Parameters
        ----------
        params : (num_rows, dim) float32 array
            The table, written in place.
        state : list of dict
            Its optimizer state (numpy or CuPy), written in place.
        dumps : sequence of EntryDump
            One per row, as :meth:`dump` writes them.
        rows : sequence of int, optional
            Destination rows; ``range(len(dumps))`` when omitted.

        Raises
        ------
        ValueError
            If rows and dumps differ in number, a dump has more than ``dim``
            values, the wrong number of optimizer records (the sum over
            segments of what each writes for a fresh row) or records of the
            wrong optimizer. Nothing is written then.

        Notes
        -----
        The ``opt`` records are split in segment order by the number each
        segment's optimizer writes for a fresh row (0 for moving_average, 1
        otherwise), as Monolith's combined ``Restore`` does. As in Monolith,
        a dump with fewer than ``dim`` values overwrites only the leading ones.

        Examples
        --------
        Copy trained row 1 of one table into row 0 of a fresh one:

        >>> import numpy as np
        >>> from monolith_np.entry import OnesInitializer, SegmentedEntry, ZerosInitializer
        >>> from monolith_np.optim import AdagradOptimizer, SgdOptimizer
        >>> entry = SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer(learning_rate=1.0)),
        ...                         (2, OnesInitializer(), AdagradOptimizer(learning_rate=1.0,
        ...                                                                 initial_accumulator_value=3.0))])
        >>> params, state = entry.init_rows(2)
        >>> entry.apply_rows(params, np.array([1]), np.ones((1, 3), np.float32), state)
        >>> dumps = entry.dump(params, state, rows=[1])
        >>> new_params, new_state = entry.init_rows(2)
        >>> entry.restore(new_params, new_state, dumps, rows=[0])
        >>> new_params
        array([[-1. ,  0.5,  0.5],
               [ 0. ,  1. ,  1. ]], dtype=float32)
        >>> new_state[1]["norm"]
        array([[4., 4.],
               [3., 3.]], dtype=float32)
        """
        xp = self._check_params(params)
        num_rows = params.shape[0]
        self._check_state(state, num_rows)
        dumps = list(dumps)
        rows = list(range(len(dumps))) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1).tolist()
        if len(rows) != len(dumps):
            raise ValueError(f"rows must have one entry per dump ({len(dumps)}), got {len(rows)}")
        if rows:
            self._check_rows(np, np.asarray(rows, dtype=np.int64), num_rows)
        kinds = [kind for s in self._segments for kind in s.record_kinds]
        for i, d in enumerate(dumps):
            if not isinstance(d, EntryDump):
                raise TypeError(f"dumps[{i}] must be an EntryDump, got {type(d).__name__}")
            if len(d.num) > self.dim:
                raise ValueError(f"dumps[{i}].num must have at most {self.dim} values, got {len(d.num)}")
            got = [rec.WhichOneof("type") for rec in d.opt.dump]
            if got != kinds:
                raise ValueError(f"dumps[{i}].opt must hold the records {kinds}, got {got}")
        scratch = []
        offset = 0
        for s in self._segments:
            n = len(s.record_kinds)
            per_row = []
            for d in dumps:
                od = OptimizerDump()
                od.dump.extend(d.opt.dump[offset:offset + n])
                per_row.append(od)
            offset += n
            tmp = s.optimizer.init_state(len(dumps), s.dim)
            s.optimizer.restore_state(tmp, per_row)
            scratch.append(tmp)
        # Everything is validated: write.
        for i, (r, d) in enumerate(zip(rows, dumps)):
            if len(d.num):
                params[r, :len(d.num)] = xp.asarray(np.asarray(d.num, dtype=np.float32))
        if rows:
            idx = xp.asarray(np.asarray(rows, dtype=np.int64))
            for st, tmp in zip(state, scratch):
                for key, arr in tmp.items():
                    st[key][idx] = xp.asarray(arr)
