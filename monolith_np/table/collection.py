"""Many features' embedding bags over hash tables, in one call per step: :class:`EmbeddingCollection`.

The array core of :class:`monolith_np.torch.HashEmbeddingCollection` (numpy
arrays on the CPU, CuPy arrays for ``device="cuda"`` tables). A training step
touches each table's index once:

1. **forward** resolves every id of a table to its row in one pass (the
   present ids are found; only the absent ones go through the insert and the
   occurrence filter), then pools each feature's bags straight from the row
   store into its columns of the ``(B, Σ widths)`` output
   (:mod:`monolith_np.table.pooling`). The resolved rows are kept.
2. **backward** turns the pooled gradient into each id's gradient row *by
   reference* (:class:`~monolith_np.optim.sparse.RowGrads`: which row of the
   stacked pooled gradient, times ``fl(1/count)`` for a mean) and runs the
   table's optimizer once over the kept rows: duplicates summed in occurrence
   order, the rule once per distinct row. No second hash lookup, no
   ``(n, dim)`` gradient copy.

The numbers are those of one :class:`~monolith_np.torch.HashEmbedding` per
feature, bit for bit, when each table serves one feature. Features that
share a table are resolved and updated together: their ids' gradients are
summed before the table's optimizer runs once (as one ``apply_gradients``
over the concatenated ids), not once per feature.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import ragged
from ..ragged import _check_splits, _splits_from_lengths
from .._backend import get_cupy, host_read, is_cuda_array
from .._checks import check_array, check_number, check_seconds, check_step
from .._dispatch import gpu_drivers
from ..optim.sparse import RowGrads
from . import pooling
from .table import EmbeddingHashTable

__all__ = ["EmbeddingCollection", "CollectionBatch", "parse_combiner"]


def parse_combiner(combiner, name="combiner", allow_none=False):
    """``(kind, n)`` of a combiner: kind in {None, "sum", "mean", "first_n"}, ``n`` the first-n width.

    Parameters
    ----------
    combiner : None, "sum", "mean", ("first_n", N) or a ragged ReduceSum/ReduceMean/FirstN
    name : str, default "combiner"
        The argument's name in errors.
    allow_none : bool, default False
        Whether ``None`` (no bags) is accepted.

    Returns
    -------
    (str or None, int or None)

    Raises
    ------
    ValueError
        On anything else.

    Examples
    --------
    >>> parse_combiner("mean"), parse_combiner(("first_n", 3))
    (('mean', None), ('first_n', 3))
    """
    if combiner is None and allow_none:
        return None, None
    if isinstance(combiner, ragged.ReduceSum):
        return "sum", None
    if isinstance(combiner, ragged.ReduceMean):
        return "mean", None
    if isinstance(combiner, ragged.FirstN):
        return "first_n", int(combiner.max_seq_length)
    if isinstance(combiner, str) and combiner in ("sum", "mean"):
        return combiner, None
    if isinstance(combiner, tuple) and len(combiner) == 2 and combiner[0] == "first_n":
        n = check_number(f"{name}[1]", combiner[1], integer=True, low=1)
        return "first_n", int(n)
    allowed = "None, " if allow_none else ""
    raise ValueError(f"{name} must be {allowed}'sum', 'mean', ('first_n', N) or a monolith_np.ragged "
                     f"ReduceSum/ReduceMean/FirstN, got {combiner!r}")


class _Feature:
    """One feature's binding: its table, combiner and place in the output."""

    __slots__ = ("name", "table", "kind", "n", "dim", "col", "width")

    def __init__(self, name, table, kind, n, dim, col):
        self.name, self.table, self.kind, self.n, self.dim, self.col = name, table, kind, n, dim, col
        self.width = dim * (n if kind == "first_n" else 1)


class CollectionBatch:
    """What a forward keeps for its backward (returned by :meth:`EmbeddingCollection.forward`).

    Made by the forward, not by users; the attributes are read-only in spirit.

    Parameters
    ----------
    batch_size : int
        ``B``, the bags per feature.
    collection : EmbeddingCollection
        The collection whose forward made it (its backward refuses others).

    Attributes
    ----------
    batch_size : int
        ``B``, the bags per feature.
    ids, rows, moves : dict of str to array / int
        Per table: its distinct ids in the batch (on a GPU: every
        occurrence, the features bound to it in the collection's order),
        their resolved rows, and the table's row-move count at the lookup.
    groups : dict of str to (starts, order)
        Per table (CPU): the batch's occurrences grouped by distinct id
        (:func:`monolith_np.table.pooling.dedup_ids`).
    sizes : dict of str to int
        Per table: its number of ids in the batch (occurrences).
    features : list of tuple
        Per feature: ``(feature, splits, shift)``: its bag bounds (positions
        in the batch) and where its ids start in its table's ``ids`` minus
        where they start in the batch.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.entry import ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.table import EmbeddingCollection, EmbeddingHashTable
    >>> t = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(1.0))])
    >>> out, batch = EmbeddingCollection({"t": t}, {"a": "t"}).forward(np.array([4, 4, 5]), lengths=np.array([2, 1]))
    >>> batch.batch_size, batch.sizes, batch.ids["t"].tolist()  # 3 ids, 2 distinct
    (2, {'t': 3}, [4, 5])
    """

    __slots__ = ("batch_size", "collection", "ids", "rows", "moves", "groups", "sizes", "features")

    def __init__(self, batch_size, collection):
        self.batch_size, self.collection = batch_size, collection
        self.ids, self.rows, self.moves, self.groups, self.sizes, self.features = {}, {}, {}, {}, {}, []


class EmbeddingCollection:
    """Pooled embeddings of many features, each bound to a hash table, one index pass per table and step.

    Parameters
    ----------
    tables : mapping of str to EmbeddingHashTable
        The tables by name, all on one device. A table may serve several
        features.
    features : mapping of str to str or (str, combiner)
        Feature name → its table's name, or ``(table name, combiner)``.
        The mapping's order is the output's column order.
    combiner : "sum", "mean", ("first_n", N) or a ragged combiner, default "sum"
        The combiner of the features that do not name one: ``"sum"`` and
        ``"mean"`` pool a bag into ``dim`` columns (an empty bag gives zeros
        for a sum and NaN for a mean, as :func:`monolith_np.ragged.reduce_mean`);
        ``("first_n", N)`` keeps the first ``N`` rows, zero-padded, in
        ``N * dim`` columns.

    Raises
    ------
    TypeError
        If a table is not an ``EmbeddingHashTable``.
    ValueError
        On an empty ``features``, an unknown table name or combiner, or
        tables on different devices.

    Notes
    -----
    Input batches are laid out as TorchRec's ``KeyedJaggedTensor``: one
    flat ``values`` array holding the first feature's ids of every example,
    then the second feature's, and so on, with ``lengths`` (``F * B``
    entries, feature-major) or ``offsets`` (``F * B + 1``).

    Examples
    --------
    Two features over one SGD table whose rows start at ones; batch of two
    examples (``lengths`` feature-major: user's bags, then item's):

    >>> import numpy as np
    >>> from monolith_np.entry import OnesInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.table import EmbeddingCollection, EmbeddingHashTable
    >>> table = EmbeddingHashTable([(2, OnesInitializer(), SgdOptimizer(learning_rate=1.0))])
    >>> coll = EmbeddingCollection({"ids": table}, {"user": "ids", "item": ("ids", "mean")})
    >>> values = np.array([7, 8, 9, 5, 5, 6])
    >>> out, batch = coll.forward(values, lengths=np.array([1, 2, 2, 1]))
    >>> out.tolist()  # [user sum | item mean] per example
    [[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 1.0, 1.0]]
    >>> coll.backward(batch, np.ones_like(out))  # SGD: each id minus its summed gradient
    >>> table.lookup(np.array([7, 5, 6])).tolist()
    [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    """

    def __init__(self, tables, features, combiner="sum"):
        if not isinstance(tables, Mapping) or not tables:
            raise ValueError(f"tables must be a non-empty mapping of name to EmbeddingHashTable, got {tables!r}")
        for name, table in tables.items():
            if not isinstance(table, EmbeddingHashTable):
                raise TypeError(f"tables[{name!r}] must be a monolith_np.table.EmbeddingHashTable, "
                                f"got {type(table).__name__}")
        devices = {t.device for t in tables.values()}
        if len(devices) > 1:
            raise ValueError(f"tables must all be on one device, got {sorted(devices)}")
        if not isinstance(features, Mapping) or not features:
            raise ValueError(f"features must be a non-empty mapping of feature name to table name "
                             f"(or (table name, combiner)), got {features!r}")
        default = parse_combiner(combiner)
        self.tables = dict(tables)
        self.device = devices.pop()
        self._features = []
        col = 0
        for fname, spec in features.items():
            tname, kind_n = spec, default
            if isinstance(spec, tuple):
                if len(spec) != 2:
                    raise ValueError(f"features[{fname!r}] must be a table name or (table name, combiner), "
                                     f"got {spec!r}")
                tname, kind_n = spec[0], parse_combiner(spec[1], f"features[{fname!r}][1]")
            if tname not in self.tables:
                raise ValueError(f"features[{fname!r}] names table {tname!r}, which is not one of "
                                 f"{sorted(self.tables)}")
            feat = _Feature(fname, tname, kind_n[0], kind_n[1], self.tables[tname].dim, col)
            self._features.append(feat)
            col += feat.width
        self.output_dim = col
        # Each table's features, in the collection's order (their ids are concatenated in this order).
        self._by_table = {t: [f for f in self._features if f.table == t] for t in self.tables}
        self._by_table = {t: fs for t, fs in self._by_table.items() if fs}

    @property
    def feature_names(self):
        """The features, in output column order."""
        return [f.name for f in self._features]

    def feature_slices(self):
        """Each feature's output columns.

        Returns
        -------
        dict of str to slice

        Examples
        --------
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingCollection, EmbeddingHashTable
        >>> t = EmbeddingHashTable([(4, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> EmbeddingCollection({"t": t}, {"a": "t", "b": ("t", ("first_n", 2))}).feature_slices()
        {'a': slice(0, 4, None), 'b': slice(4, 12, None)}
        """
        return {f.name: slice(f.col, f.col + f.width) for f in self._features}

    # -- input ---------------------------------------------------------------------

    def _splits(self, values, lengths, offsets, keys):
        """Host bag bounds ``(F * B + 1,)`` of the validated batch, and each feature's position in it."""
        if keys is None:
            keys = self.feature_names
        keys = list(keys)
        if len(set(keys)) != len(keys):
            raise ValueError(f"keys must not repeat a feature, got {keys}")
        missing = [f.name for f in self._features if f.name not in keys]
        if missing:
            raise ValueError(f"keys must include every feature of the collection; missing {missing} in {keys}")
        if (lengths is None) == (offsets is None):
            raise ValueError("give exactly one of lengths and offsets")
        n, f = values.shape[0], len(keys)
        if offsets is None:
            check_array("lengths", lengths, ndim=1, dtypes=(np.int64, np.int32))
            host = np.asarray(host_read(lengths), np.int64)
            if host.size % f:
                raise ValueError(f"lengths must have len(keys) * B = {f} * B entries, got {host.size}")
            splits = _splits_from_lengths("lengths", host, np, nvalues=n)
        else:
            check_array("offsets", offsets, ndim=1, dtypes=(np.int64, np.int32))
            host = np.asarray(host_read(offsets), np.int64)
            if (host.size - 1) % f or host.size == 0:
                raise ValueError(f"offsets must have len(keys) * B + 1 = {f} * B + 1 entries, got {host.size}")
            splits = _check_splits("offsets", host, np, nvalues=n)
        return splits, (splits.size - 1) // f, {k: p for p, k in enumerate(keys)}

    def _check_values(self, values):
        if not hasattr(values, "dtype"):
            raise TypeError(f"values must be a 1-D int64 array of ids, got {type(values).__name__}")
        check_array("values", values, ndim=1, dtypes=(np.int64, np.uint64, np.int32))
        if is_cuda_array(values) != (self.device == "cuda"):
            raise TypeError(f"values must be on the tables' device ({self.device!r}), got "
                            f"{'a CUDA' if is_cuda_array(values) else 'a host'} array")
        xp = get_cupy() if self.device == "cuda" else np
        values = xp.ascontiguousarray(values)
        return values.astype(np.int64) if values.dtype == np.int32 else values.view(np.int64)

    # -- forward ---------------------------------------------------------------------

    def forward(self, values, lengths=None, offsets=None, keys=None, training=True, update_time=0):
        """Pool every feature's bags; in training, insert unseen ids first (one index pass per table).

        Parameters
        ----------
        values : (N,) int64 array
            The batch's ids, feature by feature (int32 and uint64 ids are
            accepted; uint64 keep their bits). On the tables' device.
        lengths : (F * B,) int array, optional
            Ids per bag, feature-major (``F`` = ``len(keys)``).
        offsets : (F * B + 1,) int array, optional
            Bag bounds instead of ``lengths`` (starting at 0, ending at ``N``).
        keys : sequence of str, optional
            The features of ``values``, in order (default: the collection's
            features). Extra features are ignored.
        training : bool, default True
            Insert the absent ids (the tables' occurrence filters decide) and
            stamp every touched entry with ``update_time``. ``False``: read
            only, absent ids read zeros.
        update_time : int, default 0
            Seconds.

        Returns
        -------
        out : (B, output_dim) float32 array
            Each feature's pooled bags in its columns (:meth:`feature_slices`).
        batch : CollectionBatch
            For :meth:`backward` or :meth:`gradient_rows`.

        Raises
        ------
        TypeError, ValueError
            On bad input, before any table changes.
        TableFullError
            When a table must grow and may not (earlier tables of the
            collection keep their inserts).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import OnesInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingCollection, EmbeddingHashTable
        >>> t = EmbeddingHashTable([(1, OnesInitializer(), SgdOptimizer(1.0))])
        >>> coll = EmbeddingCollection({"t": t}, {"a": ("t", ("first_n", 2))})
        >>> coll.forward(np.array([4, 5, 6]), offsets=np.array([0, 3, 3]))[0].tolist()
        [[1.0, 1.0], [0.0, 0.0]]
        >>> coll.forward(np.array([9]), lengths=np.array([1]), training=False)[0].tolist()  # 9 is absent
        [[0.0, 0.0]]
        """
        values = self._check_values(values)
        splits, b, position = self._splits(values, lengths, offsets, keys)
        update_time = check_seconds("update_time", update_time)
        xp = np if self.device == "cpu" else get_cupy()
        dev_splits = splits if xp is np else xp.asarray(splits)
        batch = CollectionBatch(b, self)
        out = xp.empty((b, self.output_dim), np.float32)
        for tname, feats in self._by_table.items():
            table = self.tables[tname]
            spans = [(splits[position[f.name] * b], splits[(position[f.name] + 1) * b]) for f in feats]
            ids = (values[spans[0][0]:spans[0][1]] if len(spans) == 1
                   else xp.concatenate([values[lo:hi] for lo, hi in spans]))
            if xp is np:  # distinct ids probed once; the backward sums each id's group
                plan = pooling.dedup_ids(ids)
                urows, moves = table._resolve_rows(ids, update_time, bool(training), plan)
                rows = urows[plan[1]]
                batch.ids[tname], batch.rows[tname], batch.groups[tname] = plan[0], urows, plan[2:]
            else:
                rows, moves = table._resolve_rows(ids, update_time, bool(training))
                batch.ids[tname], batch.rows[tname] = ids, rows
            batch.moves[tname], batch.sizes[tname] = moves, ids.shape[0]
            source, source_rows = table._pool_source(rows)
            start = 0
            for f, (lo, hi) in zip(feats, spans):
                p = position[f.name]
                fsplits = dev_splits[p * b:(p + 1) * b + 1]
                shift = start - int(lo)
                batch.features.append((f, fsplits, shift))
                self._pool(xp, source, source_rows, fsplits, shift, f, out)
                start += int(hi - lo)
        return out, batch

    @staticmethod
    def _pool(xp, source, rows, splits, shift, f, out):
        if xp is np:
            if f.kind == "first_n":
                pooling.pool_first_n_rows(source, rows, splits, shift, f.n, out, f.col)
            else:
                pooling.pool_rows(source, rows, splits, shift, f.kind == "mean", out, f.col)
        elif f.kind == "first_n":
            gpu_drivers().pooling.pool_first_n_gpu(source, rows, splits, shift, f.n, out, f.col)
        else:
            gpu_drivers().pooling.pool_rows_gpu(source, rows, splits, shift, int(f.kind == "mean"), out, f.col)

    # -- backward --------------------------------------------------------------------

    def _check_grad(self, batch, grad):
        if not isinstance(batch, CollectionBatch):
            raise TypeError(f"batch must be the CollectionBatch of forward, got {type(batch).__name__}")
        if batch.collection is not self:
            raise ValueError("batch must come from this collection's forward, got one of another collection")
        if is_cuda_array(grad) != (self.device == "cuda"):
            raise TypeError(f"grad must be on the tables' device ({self.device!r})")
        check_array("grad", grad, dtypes=(np.float32,), shape=(batch.batch_size, self.output_dim))

    def _table_grads(self, batch, grad):
        """Per table ``(name, RowGrads)``: each resolved id's gradient row, by reference into ``grad``."""
        xp = np if self.device == "cpu" else get_cupy()
        b = batch.batch_size
        per_table = {t: [] for t in batch.ids}
        for f, splits, shift in batch.features:
            per_table[f.table].append((f, splits, shift))
        for tname, feats in per_table.items():
            dim = self.tables[tname].dim
            f0 = feats[0][0]
            view = len(feats) == 1 and f0.kind != "first_n"
            if view:  # the feature's columns of grad, no copy: bag b's gradient is row b
                stacked, zero_row = grad[:, f0.col:f0.col + dim], 0  # (no id reads the zero row)
            else:  # the features' gradient rows stacked, and a zero row (first-n ids past n)
                blocks = [grad[:, f.col:f.col + f.width].reshape(-1, dim) for f, _, _ in feats]
                stacked = xp.concatenate(blocks + [xp.zeros((1, dim), np.float32)])
                zero_row = stacked.shape[0] - 1
            m = batch.sizes[tname]
            index = xp.empty(m, np.int64)
            mean = any(f.kind == "mean" for f, _, _ in feats)
            scale = xp.ones(m, np.float32) if mean else xp.empty(0, np.float32)
            first = 0
            for f, splits, shift in feats:
                n = f.n if f.kind == "first_n" else 0
                stride = max(n, 1)
                if xp is np:
                    pooling.grad_sources(splits, shift, first, stride, n, zero_row, f.kind == "mean", index, scale)
                else:
                    gpu_drivers().pooling.grad_sources_gpu(splits, shift, first, stride, n, zero_row,
                                                           int(f.kind == "mean"), index, scale)
                first += b * max(n, 1)
            yield tname, RowGrads(stacked, index, scale, batch.groups.get(tname))

    def backward(self, batch, grad, learning_rate=None, global_step=0):
        """Apply each table's optimizer to its ids' gradients (summed per id), from the pooled gradient.

        Parameters
        ----------
        batch : CollectionBatch
            From :meth:`forward`.
        grad : (B, output_dim) float32 array
            Gradient of the loss with respect to ``forward``'s output.
        learning_rate : None, float, schedule, array or mapping of table name to one, default None
            As ``EmbeddingHashTable.apply_gradients``'s; a mapping gives each
            table its own (tables it leaves out use their configured rates).
        global_step : int, default 0

        Raises
        ------
        TypeError, ValueError
            On bad input, before any table changes.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingCollection, EmbeddingHashTable
        >>> t = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> coll = EmbeddingCollection({"t": t}, {"a": ("t", "mean")})
        >>> out, batch = coll.forward(np.array([3, 3, 4]), lengths=np.array([2, 1]))
        >>> coll.backward(batch, np.float32([[1.0], [4.0]]), learning_rate=0.5)
        >>> t.lookup(np.array([3, 4])).ravel().tolist()  # id 3: two halves of 1; id 4: 4
        [-0.5, -2.0]
        """
        self._check_grad(batch, grad)
        global_step = check_step("global_step", global_step)
        rates = self._rates(learning_rate)
        lrs = {tname: self.tables[tname]._learning_rates(rates.get(tname), global_step)  # all checked before
               for tname in batch.ids}                                                  # any table changes
        for tname, grads in self._table_grads(batch, grad):
            if batch.sizes[tname]:
                self.tables[tname]._apply_resolved(batch.ids[tname], batch.rows[tname], batch.moves[tname], grads,
                                                   lrs[tname], global_step)

    def _rates(self, learning_rate):
        if isinstance(learning_rate, Mapping):
            unknown = sorted(set(learning_rate) - set(self.tables))
            if unknown:
                raise ValueError(f"learning_rate names tables {unknown} that are not in the collection "
                                 f"({sorted(self.tables)})")
            return dict(learning_rate)
        return {t: learning_rate for t in self.tables}

    def gradient_rows(self, batch, grad):
        """Each table's ids with their gradient rows, for clipping before ``apply_gradients``.

        Parameters
        ----------
        batch : CollectionBatch
            From :meth:`forward`.
        grad : (B, output_dim) float32 array

        Returns
        -------
        dict of str to (ids, rows)
            Per table: its ids that have an entry now, ``(k,)`` int64, and
            their gradient rows ``(k, dim)`` float32 (a mean's ``fl(1/count)``
            applied; ids past a first-n width get zero rows), in batch order.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingCollection, EmbeddingHashTable
        >>> t = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> coll = EmbeddingCollection({"t": t}, {"a": "t"})
        >>> out, batch = coll.forward(np.array([3, 4, 3]), lengths=np.array([2, 1]))
        >>> ids, rows = coll.gradient_rows(batch, np.float32([[1.0], [2.0]]))["t"]
        >>> ids.tolist(), rows.ravel().tolist()
        ([3, 4, 3], [1.0, 1.0, 2.0])
        """
        self._check_grad(batch, grad)
        xp = np if self.device == "cpu" else get_cupy()
        out = {}
        for tname, grads in self._table_grads(batch, grad):
            ids = batch.ids[tname]
            if grads.groups is not None:  # back to one id per occurrence, in batch order
                ids, grads = grads.ungroup(ids)
            keep = self.tables[tname].contains(ids)
            rows = grads.expand(xp)
            out[tname] = (xp.ascontiguousarray(ids[keep]), xp.ascontiguousarray(rows[keep]))
        return out

