"""Many named embedding tables behind one API: Monolith's multi hash tables.

:class:`MultiHashTable` (``multi_hash_table_ops.py``) and
:class:`MultiTypeHashTable` (``multi_type_hash_table.py``) hold one
:class:`~monolith_np.table.EmbeddingHashTable` per table name (a slot or a
feature) and take per-name dicts of ids, values and gradients, or one flat
id array and one flat float array laid out table by table and shard by shard
(:meth:`~MultiHashTable.fused_lookup`). :class:`MergedMultiTypeHashTable`
lets slots with identical configs share one table named by the MD5 of the
slot names. See ``docs/multi-tables.md``.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from .._checks import check_array, check_number, check_seconds, check_step
from ..entry import HashTableConfigInstance
from ..proto import EmbeddingHashTableConfig, MultiEmbeddingHashTableConfig
from .table import EmbeddingHashTable

__all__ = ["MergedMultiTypeHashTable", "MultiHashTable", "MultiTypeHashTable"]

_UINT64 = 2**64
_INT32_MAX = 2**31 - 1
#: Entries per shard file above which ``saver_parallel=-1`` adds a shard (the original's baseline).
_SHARD_BASELINE = 1_000_000
_MAX_AUTO_SHARDS = 4
_FC_SLOT = re.compile(r"^fc_slot_[0-9]*$")


# -- argument checks ----------------------------------------------------------------


def _check_names(arg, names):
    """``names`` as a list of unique strings that are safe as file names (tables are saved under them)."""
    names = list(names)
    for name in names:
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or os.sep in name or "\0" in name:
            raise ValueError(f"{arg} must be non-empty strings usable as file names (no '/'), got {name!r}")
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{arg} must be unique, got {name!r} twice")
        seen.add(name)
    return names


def _id_array(arg, ids):
    """``ids`` as a contiguous 1-D int64 array (uint64 ids keep their bits), as the tables' ``_impl`` take them."""
    if not hasattr(ids, "dtype"):
        if not isinstance(ids, (list, tuple)):
            raise TypeError(f"{arg} must be a 1-D integer array or a list of ids, got {type(ids).__name__}")
        try:
            ids = np.asarray(ids, np.int64)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"{arg} must be int64 ids, got {ids!r:.80}") from None
    check_array(arg, ids, ndim=1, dtype_kinds="iu")
    ids = np.ascontiguousarray(ids)
    return ids.view(np.int64) if ids.dtype == np.uint64 else ids.astype(np.int64, copy=False)


def _value_array(arg, values, shape):
    """``values`` as a contiguous float32 array of ``shape`` (lists are converted; arrays must be float32)."""
    if not hasattr(values, "dtype"):
        values = np.asarray(values, np.float32)
    return np.ascontiguousarray(check_array(arg, values, dtypes=(np.float32,), shape=shape))


def _check_keys(arg, keys, known):
    for key in keys:
        if key not in known:
            raise ValueError(f"{arg} keys must be table names ({', '.join(map(repr, known))}), got {key!r}")


def _checked_pairs(arg, slot_to_id_and_tensor, dims):
    """Validate ``{name: (ids, (n, dim) floats)}`` against ``dims`` (name to dim) before any write."""
    if not isinstance(slot_to_id_and_tensor, Mapping):
        raise TypeError(f"{arg} must be a dict of name to (ids, values) pairs, "
                        f"got {type(slot_to_id_and_tensor).__name__}")
    _check_keys(arg, slot_to_id_and_tensor, dims)
    out = {}
    for name, pair in slot_to_id_and_tensor.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{arg}[{name!r}] must be an (ids, values) pair, got {type(pair).__name__}")
        ids = _id_array(f"{arg}[{name!r}][0]", pair[0])
        out[name] = (ids, _value_array(f"{arg}[{name!r}][1]", pair[1], (ids.size, dims[name])))
    return out


def _time(arg, value):
    return 0 if value is None else check_seconds(arg, value)


def _table_seed(seed, name):
    """Seed of table ``name``: ``seed`` mixed with the MD5 of the name (independent of the other tables)."""
    if seed is None:
        return None
    return (seed + int.from_bytes(hashlib.md5(name.encode()).digest()[:8], "little")) % _UINT64


def _config_dim(config):
    """Floats per row of a ``HashTableConfigInstance`` (the sum of its segments' ``dim_size``)."""
    return sum(seg.dim_size for seg in config.table_config.entry_config.segments)


# -- the shared implementation -----------------------------------------------------------


class _TableSet:
    """Named tables in a fixed order: the API :class:`MultiHashTable` and :class:`MultiTypeHashTable` share.

    Subclasses set ``_table_names`` (tuple), ``_tables`` (name to table),
    ``_restore_names`` (name to the checkpoint names to try, in order) and
    ``_saver_parallel``.
    """

    @property
    def table_names(self):
        """The table names, in the order of the fused layout."""
        return self._table_names

    def __getitem__(self, name):
        return self._tables[name]

    def __contains__(self, name):
        return name in self._tables

    def __len__(self):
        return len(self._table_names)

    def get_table_dim_sizes(self):
        """Floats per row of each table, in :attr:`table_names` order.

        Returns
        -------
        list of int

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> table.get_table_dim_sizes()
        [2, 3]
        """
        return [self._tables[name].dim for name in self._table_names]

    def _dims(self):
        return {name: self._tables[name].dim for name in self._table_names}

    def lookup(self, slot_to_id):
        """Embeddings of the ids of some tables; absent ids give zeros and are not inserted.

        Parameters
        ----------
        slot_to_id : dict of str to (n,) int64 array, or sequence of arrays
            Ids per table name (any subset of the tables), or one id array per
            table in :attr:`table_names` order.

        Returns
        -------
        dict of str to (n, dim) float32 array, or list of them
            A dict (in the order of ``slot_to_id``) for a dict, a list (in
            table order) for a sequence.

        Raises
        ------
        ValueError
            On an unknown table name or a sequence of the wrong length.
        TypeError
            On ids that are not a 1-D integer array.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> table.assign({"a": (np.array([1, 2]), np.float32([[1, 1], [2, 2]])),
        ...               "b": (np.array([5]), np.float32([[5, 5, 5]]))})
        >>> table.lookup({"b": np.array([5, 6])})
        {'b': array([[5., 5., 5.],
               [0., 0., 0.]], dtype=float32)}
        >>> a, b = table.lookup([np.array([2]), np.array([], np.int64)])  # one array per table, in order
        >>> a, b.shape
        (array([[2., 2.]], dtype=float32), (0, 3))
        """
        if isinstance(slot_to_id, Mapping):
            _check_keys("slot_to_id", slot_to_id, self._table_names)
            ids = {name: _id_array(f"slot_to_id[{name!r}]", i) for name, i in slot_to_id.items()}
            return {name: self._tables[name]._gather_impl(i)[0] for name, i in ids.items()}
        slot_to_id = list(slot_to_id)
        if len(slot_to_id) != len(self._table_names):
            raise ValueError(f"slot_to_id must have one id array per table ({len(self._table_names)}), "
                             f"got {len(slot_to_id)}")
        ids = [_id_array(f"slot_to_id[{k}]", i) for k, i in enumerate(slot_to_id)]
        return [self._tables[name]._gather_impl(i)[0] for name, i in zip(self._table_names, ids)]

    def _update(self, method, arg, slot_to_id_and_tensor, *args):
        """Validate every pair, then call each table's ``_impl`` ``method`` (``*args`` validated by the caller)."""
        pairs = _checked_pairs(arg, slot_to_id_and_tensor, self._dims())
        for name, (ids, tensor) in pairs.items():
            getattr(self._tables[name], method)(ids, tensor, *args)

    def assign(self, slot_to_id_and_value, req_time=None):
        """Set the rows of ids table by table (absent ids are created); optimizer state untouched.

        Parameters
        ----------
        slot_to_id_and_value : dict of str to (ids, values)
            ``ids`` (n,) int64, ``values`` (n, dim) float32 per table name.
        req_time : int, optional
            Seconds stored as each entry's last-update time (default 0).

        Raises
        ------
        ValueError, TypeError
            On an unknown table name or a bad array (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> table.assign({"a": (np.array([1, 2, 1]), np.float32([[1, 1], [2, 2], [3, 3]]))}, req_time=100)
        >>> table.lookup({"a": np.array([1, 2])})["a"]  # a repeated id keeps its last value
        array([[3., 3.],
               [2., 2.]], dtype=float32)
        >>> table["a"].max_update_ts
        100
        """
        self._update("_assign_impl", "slot_to_id_and_value", slot_to_id_and_value, _time("req_time", req_time))

    def assign_add(self, slot_to_id_and_value, req_time=None):
        """Add values to the rows of ids table by table (absent ids are created first).

        Parameters
        ----------
        slot_to_id_and_value : dict of str to (ids, values)
            ``ids`` (n,) int64, ``values`` (n, dim) float32 per table name;
            every occurrence of a repeated id is added.
        req_time : int, optional
            Seconds stored as each entry's last-update time (default 0).

        Raises
        ------
        ValueError, TypeError
            On an unknown table name or a bad array (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> table.assign({"a": (np.array([1, 2]), np.float32([[1, 1], [2, 2]])),
        ...               "b": (np.array([5]), np.float32([[5, 5, 5]]))})
        >>> table.assign_add({"a": (np.array([1, 1, 3]), np.float32([[1, 1], [1, 1], [4, 4]]))})
        >>> table.lookup({"a": np.array([1, 2, 3])})["a"]
        array([[3., 3.],
               [2., 2.],
               [4., 4.]], dtype=float32)
        """
        self._update("_assign_add_impl", "slot_to_id_and_value", slot_to_id_and_value, _time("req_time", req_time))

    def apply_gradients(self, slot_to_id_and_grad, global_step, req_time=None, enable_dedup=False):
        """Optimise the rows of ids table by table with each table's learning rates at ``global_step``.

        Parameters
        ----------
        slot_to_id_and_grad : dict of str to (ids, grads)
            ``ids`` (n,) int64, ``grads`` (n, dim) float32 per table name.
            Absent ids are created, then optimised.
        global_step : int
            Step at which the tables' learning-rate functions are evaluated.
        req_time : int, optional
            Seconds stored as each touched entry's last-update time (default 0).
        enable_dedup : bool, default False
            If false (as the original's multi-table op), the rule runs once
            per occurrence, in order; if true, a repeated id's gradients are
            summed and the rule runs once.

        Raises
        ------
        ValueError, TypeError
            On an unknown table name or a bad array (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> grads = {"a": (np.array([1, 1]), np.float32([[1, 2], [3, 4]])),
        ...          "b": (np.array([5]), np.ones((1, 3), np.float32))}
        >>> table.apply_gradients(grads, global_step=0)  # SGD with rate 1: w -= g, once per occurrence
        >>> emb = table.lookup({"a": np.array([1]), "b": np.array([5])})
        >>> emb["a"], emb["b"]
        (array([[-4., -6.]], dtype=float32), array([[-1., -1., -1.]], dtype=float32))
        """
        global_step = check_step("global_step", global_step)
        update_time = _time("req_time", req_time)
        pairs = _checked_pairs("slot_to_id_and_grad", slot_to_id_and_grad, self._dims())
        rates = {name: self._tables[name]._learning_rates(None, global_step) for name in pairs}
        for name, (ids, grads) in pairs.items():
            self._tables[name]._apply_gradients_impl(ids, grads, rates[name], global_step, update_time,
                                                     bool(enable_dedup))

    # -- fused layout --------------------------------------------------------------------

    def _fused_layout(self, ids, fused_slot_size, num_of_shards):
        """Validated ``(ids, sizes, id_offsets, emb_offsets, embedding_splits)`` of a fused batch."""
        ids = _id_array("ids", ids)
        num_of_shards = check_number("num_of_shards", num_of_shards, integer=True, low=1)
        num_tables = len(self._table_names)
        if not hasattr(fused_slot_size, "dtype"):
            fused_slot_size = np.asarray(fused_slot_size, np.int64)
        check_array("fused_slot_size", fused_slot_size, dtype_kinds="iu", shape=(num_tables * num_of_shards,))
        sizes = np.asarray(fused_slot_size, np.int64)
        if sizes.size and sizes.min() < 0:
            raise ValueError(f"fused_slot_size must be >= 0, got {sizes.min()}")
        if sizes.sum() != ids.size:
            raise ValueError(f"fused_slot_size must sum to len(ids) = {ids.size}, got {sizes.sum()}")
        floats = sizes * np.tile(np.asarray(self.get_table_dim_sizes(), np.int64), num_of_shards)
        if floats.sum() > _INT32_MAX:
            raise ValueError(f"the fused batch must have at most {_INT32_MAX} floats (int32 offsets, as "
                             f"the original), got {floats.sum()}")
        id_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
        emb_offsets = np.concatenate([[0], np.cumsum(floats)]).astype(np.int32)
        splits = floats.reshape(num_of_shards, num_tables).sum(axis=1).astype(np.int32)
        return ids, sizes, id_offsets, emb_offsets, splits

    def _segments(self, sizes):
        """``(k, table)`` of every non-empty (shard, table) segment, shard-major."""
        num_tables = len(self._table_names)
        return [(k, self._tables[self._table_names[k % num_tables]]) for k in np.flatnonzero(sizes).tolist()]

    def fused_lookup(self, ids, fused_slot_size, num_of_shards):
        """Look up one flat batch laid out shard by shard, table by table.

        For ``K`` tables and ``N`` shards, ``fused_slot_size[s * K + t]`` ids
        of table ``t`` for shard ``s`` follow each other in ``ids`` in that
        order (shard-major), and their rows follow each other, flattened, in
        ``embeddings``.

        Parameters
        ----------
        ids : (M,) int64 array
            The ids of every (shard, table) segment, concatenated.
        fused_slot_size : (K * N,) int array
            Ids per segment; sums to ``M``.
        num_of_shards : int
            ``N``, ``>= 1``.

        Returns
        -------
        embeddings : (L,) float32 array
            Every id's row (zeros for absent ids, which are not inserted),
            flattened, in the order of ``ids``; ``L = sum(fused_slot_size[k] * dim(k % K))``.
        embedding_splits : (N,) int32 array
            Floats of each shard.
        id_offsets : (K * N + 1,) int32 array
            Start of each segment in ``ids`` (running sum of ``fused_slot_size``).
        embedding_offsets : (K * N + 1,) int32 array
            Start of each segment in ``embeddings``.
        indices : (M,) int64 array
            ``ids`` itself (the original's CPU op passes its input through).

        Raises
        ------
        ValueError, TypeError
            If ``fused_slot_size`` has the wrong length, negative sizes or a
            sum other than ``len(ids)``.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> table.assign({"a": (np.array([1, 2]), np.float32([[1, 1], [2, 2]])),
        ...               "b": (np.array([5]), np.float32([[5, 5, 5]]))})
        >>> # one shard: two ids of table "a" (dim 2), then one id of table "b" (dim 3)
        >>> embeddings, splits, id_offsets, emb_offsets, indices = table.fused_lookup(np.array([1, 2, 5]), [2, 1], 1)
        >>> embeddings
        array([1., 1., 2., 2., 5., 5., 5.], dtype=float32)
        >>> splits, id_offsets, emb_offsets
        (array([7], dtype=int32), array([0, 2, 3], dtype=int32), array([0, 4, 7], dtype=int32))
        """
        ids, sizes, id_offsets, emb_offsets, splits = self._fused_layout(ids, fused_slot_size, num_of_shards)
        embeddings = np.empty(int(emb_offsets[-1]), np.float32)
        for k, table in self._segments(sizes):
            rows = embeddings[emb_offsets[k]:emb_offsets[k + 1]].reshape(-1, table.dim)
            table._gather_impl(ids[id_offsets[k]:id_offsets[k + 1]], out=rows)
        return embeddings, splits, id_offsets, emb_offsets, ids

    def fused_apply_gradient(self, ids, indices, fused_slot_size, id_grads, id_offsets, grad_offsets,
                             global_step, req_time, num_of_shards, enable_grad_accumulation=False):
        """Optimise one flat batch in the layout of :meth:`fused_lookup`.

        Each non-empty (shard, table) segment is one optimizer call, shards in
        order, with the table's learning rates at ``global_step``.

        Parameters
        ----------
        ids : (M,) int64 array
            As given to :meth:`fused_lookup`.
        indices : (M,) int64 array
            :meth:`fused_lookup`'s ``indices``; only its shape is checked (the
            original's CPU op does not read it).
        fused_slot_size : (K * N,) int array
            As given to :meth:`fused_lookup`.
        id_grads : (L,) float32 array
            Gradients in the layout of :meth:`fused_lookup`'s ``embeddings``.
        id_offsets : (K * N + 1,) int array
            :meth:`fused_lookup`'s ``id_offsets``.
        grad_offsets : (K * N + 1,) int array
            :meth:`fused_lookup`'s ``embedding_offsets``.
        global_step : int
            Step at which the learning-rate functions are evaluated.
        req_time : int or None
            Seconds stored as each touched entry's last-update time (None: 0).
        num_of_shards : int
            ``N``, ``>= 1``.
        enable_grad_accumulation : bool, default False
            If true, a repeated id's gradients inside a segment are summed and
            the rule runs once; if false, once per occurrence. Segments of
            different shards are always separate calls.

        Raises
        ------
        ValueError, TypeError
            If an array's shape or dtype is wrong, or the offsets are not those
            of ``fused_slot_size`` (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> ids, sizes = np.array([1, 2, 5]), [2, 1]  # "a": ids 1 and 2; "b": id 5; one shard
        >>> _, _, id_offsets, emb_offsets, indices = table.fused_lookup(ids, sizes, 1)
        >>> grads = np.float32([1, 2, 3, 4, 5, 6, 7])  # laid out as the looked-up embeddings
        >>> table.fused_apply_gradient(ids, indices, sizes, grads, id_offsets, emb_offsets,
        ...                            global_step=0, req_time=None, num_of_shards=1)
        >>> table.fused_lookup(ids, sizes, 1)[0]  # SGD with rate 1: w -= g
        array([-1., -2., -3., -4., -5., -6., -7.], dtype=float32)
        """
        ids, sizes, want_ids, want_grads, _ = self._fused_layout(ids, fused_slot_size, num_of_shards)
        check_array("indices", _id_array("indices", indices), shape=ids.shape)
        id_grads = _value_array("id_grads", id_grads, (int(want_grads[-1]),))
        for arg, given, want in (("id_offsets", id_offsets, want_ids), ("grad_offsets", grad_offsets, want_grads)):
            given = np.asarray(given)
            if given.shape != want.shape or not np.array_equal(given, want):
                raise ValueError(f"{arg} must be {want.tolist()} (from fused_slot_size), got {given.tolist()}")
        global_step = check_step("global_step", global_step)
        req_time = _time("req_time", req_time)
        segments = self._segments(sizes)
        rates = {id(table): table._learning_rates(None, global_step) for _, table in segments}
        for k, table in segments:
            grads = id_grads[want_grads[k]:want_grads[k + 1]].reshape(-1, table.dim)
            table._apply_gradients_impl(ids[want_ids[k]:want_ids[k + 1]], grads, rates[id(table)], global_step,
                                        req_time, bool(enable_grad_accumulation))

    # -- checkpoints --------------------------------------------------------------------------

    def _num_shards(self):
        if self._saver_parallel > 0:
            return self._saver_parallel
        total = sum(len(self._tables[name]) for name in self._table_names)
        return min(_MAX_AUTO_SHARDS, max(1, total // _SHARD_BASELINE))

    def save(self, path):
        """Save every table under the directory ``path``, as ``path/<table name>``.

        Each table is written by :meth:`EmbeddingHashTable.save` (Monolith
        ``EntryDump`` shard files in a save directory, committed all at once
        by renaming the table's ``-manifest``; expired entries left out).
        Tables are committed one after the other.

        Parameters
        ----------
        path : str or os.PathLike
            Directory (created if missing). Use a fresh one per checkpoint:
            files of tables saved there earlier are not removed.

        Returns
        -------
        dict of str to int
            Entries written per table.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> table.assign({"a": (np.array([1, 2]), np.float32([[1, 1], [2, 2]])),
        ...               "b": (np.array([5]), np.float32([[5, 5, 5]]))})
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     print(table.save(tmp))
        ...     print(sorted(name.split(".save-")[0] for name in os.listdir(tmp)))
        {'a': 2, 'b': 1}
        ['a', 'a-manifest', 'a.lock', 'b', 'b-manifest', 'b.lock']
        """
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        num_shards = self._num_shards()
        return {name: self._tables[name].save(os.path.join(path, name), num_shards=num_shards)
                for name in self._table_names}

    def restore(self, path):
        """Restore the tables found under ``path``; tables without files are left as they are.

        Table ``name`` restores from ``path/name``, else from the first of its
        config's ``extra_restore_names`` that has files. Files of tables this
        object does not have are ignored.

        Parameters
        ----------
        path : str or os.PathLike
            A directory written by :meth:`save`.

        Returns
        -------
        dict of str to int
            Entries restored, for the tables that had files.

        Raises
        ------
        FileNotFoundError
            If ``path`` is not a directory.
        ValueError
            If a table's files are corrupted or hold another entry layout
            (every table is read and validated before any is changed, so
            nothing is restored then).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> table.assign({"a": (np.array([1, 2]), np.float32([[1, 1], [2, 2]])),
        ...               "b": (np.array([5]), np.float32([[5, 5, 5]]))})
        >>> fresh = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = table.save(tmp)
        ...     print(fresh.restore(tmp))
        {'a': 2, 'b': 1}
        >>> fresh.lookup({"a": np.array([2])})["a"]
        array([[2., 2.]], dtype=float32)
        """
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"path must be a directory written by save(), got {path!r}")
        loaded = {}
        for name in self._table_names:  # read and validate every table first ...
            for candidate in self._restore_names[name]:
                base = os.path.join(path, candidate)
                if EmbeddingHashTable.has_checkpoint(base):
                    loaded[name] = self._tables[name].read_checkpoint(base)
                    break
        return {name: self._tables[name].apply_checkpoint(entries)  # ... then change them
                for name, entries in loaded.items()}


# -- public classes ----------------------------------------------------------------------


class MultiHashTable(_TableSet):
    """Named embedding tables with fused lookups and updates (``multi_hash_table_ops.MultiHashTable``).

    Parameters
    ----------
    names : sequence of str
        Table names, in the order of the fused layout (:meth:`from_configs`
        sorts them, as the original). Used as file names by :meth:`save`.
    configs : sequence of HashTableConfigInstance or EmbeddingHashTableConfig
        One config per name. A ``HashTableConfigInstance``'s learning-rate
        functions are the table's rates; a bare proto uses each optimizer's
        own rate.
    saver_parallel : int, default -1
        Shard files per table in :meth:`save`; ``-1``: ``min(4, max(1,
        entries // 1000000))`` over all tables, as the original.
    hash_filter : Filter, optional
        One occurrence filter (:mod:`monolith_np.table.filters`) shared by
        every table, as the original's ``hash_filter``.
    seed : int, optional
        Seed of random-uniform initializers; table ``name`` uses ``seed``
        plus the MD5 of ``name``, so its draws do not depend on the other
        tables. Fresh when ``None``.

    Raises
    ------
    ValueError, TypeError
        On bad names or configs.

    Notes
    -----
    ``table[name]`` is the :class:`EmbeddingHashTable` of ``name``; ``name in
    table`` and ``len(table)`` work as for a dict. Operations change the
    tables in place and return ``None`` (the original returns a new handle).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.proto import EmbeddingHashTableConfig
    >>> from monolith_np.table import MultiHashTable
    >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
    ...     proto = EmbeddingHashTableConfig()
    ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
    ...     proto.entry_config.segments.append(segment)
    ...     return HashTableConfigInstance(proto, [1.0])
    >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
    >>> table.assign({"a": (np.array([1, 2]), np.float32([[1, 1], [2, 2]])),
    ...               "b": (np.array([5]), np.float32([[5, 5, 5]]))})
    >>> table.table_names, len(table), "b" in table
    (('a', 'b'), 2, True)
    >>> table["b"].lookup(np.array([5]))  # each name's EmbeddingHashTable
    array([[5., 5., 5.]], dtype=float32)
    """

    def __init__(self, names, configs, saver_parallel=-1, hash_filter=None, seed=None):
        names = _check_names("names", names)
        configs = list(configs)
        if len(configs) != len(names):
            raise ValueError(f"configs must have one config per name ({len(names)}), got {len(configs)}")
        for name, config in zip(names, configs):
            if not isinstance(config, (HashTableConfigInstance, EmbeddingHashTableConfig)):
                raise TypeError(f"configs[{name!r}] must be a HashTableConfigInstance or EmbeddingHashTableConfig, "
                                f"got {type(config).__name__}")
        saver_parallel = check_number("saver_parallel", saver_parallel, integer=True, low=-1)
        if saver_parallel == 0:
            raise ValueError("saver_parallel must be -1 or >= 1, got 0")
        seed = check_number("seed", seed, integer=True, low=0, high=_UINT64 - 1, allow_none=True)
        self._configs = dict(zip(names, configs))
        self._table_names = tuple(names)
        self._tables = {name: EmbeddingHashTable(config, occurrence_filter=hash_filter,
                                                 seed=_table_seed(seed, name))
                        for name, config in self._configs.items()}
        self._restore_names = {name: [name, *getattr(config, "extra_restore_names", ())]
                               for name, config in self._configs.items()}
        self._saver_parallel = saver_parallel

    @classmethod
    def from_configs(cls, configs, *args, **kwargs):
        """Build from a dict of name to config, tables in sorted name order (as the original).

        Parameters
        ----------
        configs : dict of str to HashTableConfigInstance or EmbeddingHashTableConfig
            The tables.
        *args : tuple
            More positional arguments of :class:`MultiHashTable`.
        **kwargs : dict
            More keyword arguments of :class:`MultiHashTable`.

        Returns
        -------
        MultiHashTable

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable.from_configs({"user": sgd_config(4), "item": sgd_config(2)})
        >>> table.table_names, table.get_table_dim_sizes()
        (('item', 'user'), [2, 4])
        """
        names = sorted(configs)
        return cls(names, [configs[name] for name in names], *args, **kwargs)

    @classmethod
    def from_proto(cls, table_proto, *args, **kwargs):
        """Build from a ``MultiEmbeddingHashTableConfig`` (tables in its order).

        Parameters
        ----------
        table_proto : MultiEmbeddingHashTableConfig
            ``names`` and ``configs`` side by side. Protos carry no
            learning-rate functions, so each optimizer's own rate is used.
        *args : tuple
            More positional arguments of :class:`MultiHashTable`.
        **kwargs : dict
            More keyword arguments of :class:`MultiHashTable`.

        Returns
        -------
        MultiHashTable

        Raises
        ------
        TypeError, ValueError
            On another message type or ``names`` and ``configs`` of different lengths.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> proto = table.to_proto()
        >>> copy = MultiHashTable.from_proto(proto)  # the optimizers' own rates: SGD with 1.0
        >>> copy.table_names, copy.get_table_dim_sizes()
        (('a', 'b'), [2, 3])
        """
        if not isinstance(table_proto, MultiEmbeddingHashTableConfig):
            raise TypeError(f"table_proto must be a MultiEmbeddingHashTableConfig, got {type(table_proto).__name__}")
        if len(table_proto.names) != len(table_proto.configs):
            raise ValueError(f"table_proto.configs must have one config per name ({len(table_proto.names)}), "
                             f"got {len(table_proto.configs)}")
        configs = [EmbeddingHashTableConfig.FromString(c.SerializeToString()) for c in table_proto.configs]
        return cls(list(table_proto.names), configs, *args, **kwargs)

    def to_proto(self):
        """The ``MultiEmbeddingHashTableConfig`` of the tables (names and table configs, in order).

        Returns
        -------
        MultiEmbeddingHashTableConfig
            What the original serializes as the multi table's config; learning-rate
            functions are not part of it.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> proto = table.to_proto()
        >>> list(proto.names), [c.entry_config.segments[0].dim_size for c in proto.configs]
        (['a', 'b'], [2, 3])
        """
        proto = MultiEmbeddingHashTableConfig()
        for name in self._table_names:
            config = self._configs[name]
            proto.names.append(name)
            proto.configs.append(config.table_config if isinstance(config, HashTableConfigInstance) else config)
        return proto

    def reinitialize(self, slot, ids):
        """Reset the rows of ``ids`` in table ``slot`` to their initial values and state.

        Parameters
        ----------
        slot : str
            Table name.
        ids : (n,) int64 array
            Absent ids are created.

        Returns
        -------
        (n,) int32 array
            1 where the id existed, 0 where it was created, -1 everywhere when
            there is no table ``slot`` (nothing is done; as the original).

        Raises
        ------
        TypeError, ValueError
            If ``ids`` is not a 1-D integer array.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiHashTable(["a", "b"], [sgd_config(2), sgd_config(3)])
        >>> table.assign({"a": (np.array([1, 2]), np.float32([[1, 1], [2, 2]])),
        ...               "b": (np.array([5]), np.float32([[5, 5, 5]]))})
        >>> table.reinitialize("a", np.array([1, 3]))
        array([1, 0], dtype=int32)
        >>> table.lookup({"a": np.array([1, 2])})["a"]  # id 1 is back to zeros, id 2 untouched
        array([[0., 0.],
               [2., 2.]], dtype=float32)
        >>> table.reinitialize("missing", np.array([1, 3]))
        array([-1, -1], dtype=int32)
        """
        ids = _id_array("ids", ids)
        if slot not in self._tables:
            return np.full(ids.size, -1, np.int32)
        return self._tables[slot].reinitialize(ids)


class MultiTypeHashTable(_TableSet):
    """One table per slot, built by a factory (``multi_type_hash_table.MultiTypeHashTable``).

    Parameters
    ----------
    slot_to_config : dict of str to HashTableConfigInstance
        The slots (tables, in sorted slot order) and their configs.
    hash_table_factory : callable, optional
        ``hash_table_factory(slot, config)`` returns the slot's table (an
        :class:`EmbeddingHashTable` or an object with its methods); default
        ``EmbeddingHashTable(config)``.

    Raises
    ------
    ValueError
        On slot names that cannot be file names.

    Notes
    -----
    Same operations as :class:`MultiHashTable` except :meth:`reinitialize`,
    which the original does not support. A config's ``extra_restore_names``
    are the checkpoint names :meth:`restore` tries after the slot name.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.proto import EmbeddingHashTableConfig
    >>> from monolith_np.table import MultiTypeHashTable
    >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
    ...     proto = EmbeddingHashTableConfig()
    ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
    ...     proto.entry_config.segments.append(segment)
    ...     return HashTableConfigInstance(proto, [1.0])
    >>> table = MultiTypeHashTable({"b": sgd_config(3), "a": sgd_config(2)})
    >>> table.table_names, table.get_table_dim_sizes()
    (('a', 'b'), [2, 3])
    >>> table.apply_gradients({"a": (np.array([4]), np.float32([[1, 2]]))}, global_step=0)
    >>> table.lookup({"a": np.array([4])})
    {'a': array([[-1., -2.]], dtype=float32)}
    """

    def __init__(self, slot_to_config, hash_table_factory=None):
        names = sorted(_check_names("slot_to_config keys", slot_to_config))
        factory = hash_table_factory or (lambda slot, config: EmbeddingHashTable(config))
        self._slot_to_config = dict(slot_to_config)
        self._table_names = tuple(names)
        self._tables = {name: factory(name, slot_to_config[name]) for name in names}
        self._restore_names = {name: [name, *getattr(slot_to_config[name], "extra_restore_names", ())]
                               for name in names}
        self._saver_parallel = -1

    def reinitialize(self, slot, ids):
        """Not supported, as in the original.

        Parameters
        ----------
        slot : str
            Table name.
        ids : (n,) int64 array
            Ids.

        Raises
        ------
        NotImplementedError
            Always.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> table = MultiTypeHashTable({"b": sgd_config(3), "a": sgd_config(2)})
        >>> table.reinitialize("a", np.array([1]))
        Traceback (most recent call last):
            ...
        NotImplementedError: MultiTypeHashTable does not support reinitialize
        """
        raise NotImplementedError("MultiTypeHashTable does not support reinitialize")


def _merged_name(slots):
    """``(",".join(slots), md5 hex digest of it)``: the original's merged-slot name."""
    concat = ",".join(slots)
    return concat, hashlib.md5(concat.encode()).hexdigest()


class MergedMultiTypeHashTable:
    """Slots with identical configs share one table (``multi_type_hash_table.MergedMultiTypeHashTable``).

    Slots are grouped by ``str(config)``; a group's table is named by the MD5
    hex digest of its sorted slot names joined with ``","``. When renaming
    ``fc_slot_N`` slots to ``slot_N`` changes that name, the old name is
    appended to the merged config's ``extra_restore_names`` (so checkpoints
    written under the old names restore).

    Parameters
    ----------
    slot_to_config : dict of str to HashTableConfigInstance
        The slots and their configs.
    factory : callable, optional
        ``factory(merged_slot_to_config)`` returns the underlying table set
        (default :class:`MultiTypeHashTable`; :meth:`MultiHashTable.from_configs`
        works too).

    Raises
    ------
    TypeError
        If a config is not a ``HashTableConfigInstance``.

    Notes
    -----
    The caller must make sure that ids of merged slots differ: equal ids of
    two merged slots are one entry. The given configs are not modified (the
    merged configs are copies).

    Examples
    --------
    Slots ``s1`` and ``s2`` have the same config and share one table:

    >>> import hashlib
    >>> import numpy as np
    >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.proto import EmbeddingHashTableConfig
    >>> from monolith_np.table import MergedMultiTypeHashTable
    >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
    ...     proto = EmbeddingHashTableConfig()
    ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
    ...     proto.entry_config.segments.append(segment)
    ...     return HashTableConfigInstance(proto, [1.0])
    >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
    >>> len(merged.table), merged.slot_mapping["s1"] == merged.slot_mapping["s2"]
    (2, True)
    >>> merged.slot_mapping["s3"] == hashlib.md5(b"s3").hexdigest()
    True
    >>> merged.assign({"s1": (np.array([1]), np.float32([[1, 1]]))})
    >>> merged.lookup({"s2": np.array([1])})  # id 1 of s2 is the entry of id 1 of s1
    {'s2': array([[1., 1.]], dtype=float32)}
    """

    def __init__(self, slot_to_config, factory=None):
        for slot, config in slot_to_config.items():
            if not isinstance(config, HashTableConfigInstance):
                raise TypeError(f"slot_to_config[{slot!r}] must be a HashTableConfigInstance, "
                                f"got {type(config).__name__}")
        groups = defaultdict(list)
        for slot in sorted(slot_to_config):
            groups[str(slot_to_config[slot])].append(slot)
        self._slot_mapping = {}
        merged_slot_to_config = {}
        for slots in groups.values():
            _, merged_slot = _merged_name(slots)
            _, old_merged_slot = _merged_name([s[3:] if _FC_SLOT.match(s) else s for s in slots])
            config = copy.copy(slot_to_config[slots[0]])
            config.extra_restore_names = list(config.extra_restore_names)
            if old_merged_slot != merged_slot:
                config.extra_restore_names.append(old_merged_slot)
            merged_slot_to_config[merged_slot] = config
            self._slot_mapping.update(dict.fromkeys(slots, merged_slot))
        self._merged_slot_to_config = merged_slot_to_config
        self._slot_dims = {slot: _config_dim(slot_to_config[slot]) for slot in slot_to_config}
        self._table = (factory or MultiTypeHashTable)(merged_slot_to_config)

    @property
    def slot_mapping(self):
        """Dict of slot to the name of its merged table."""
        return self._slot_mapping

    @property
    def table(self):
        """The underlying table set, keyed by merged-slot names."""
        return self._table

    def _merge(self, slot_to_tensor):
        """``({merged slot: concatenation}, {merged slot: [(slot, rows)]})`` in sorted slot order."""
        parts, sizes = defaultdict(list), defaultdict(list)
        for slot in sorted(slot_to_tensor):
            merged = self._slot_mapping[slot]
            parts[merged].append(slot_to_tensor[slot])
            sizes[merged].append((slot, len(slot_to_tensor[slot])))
        return {m: np.concatenate(p) for m, p in parts.items()}, sizes

    def lookup(self, slot_to_id):
        """Embeddings per slot, looked up in the merged tables.

        Parameters
        ----------
        slot_to_id : dict of str to (n,) int64 array
            Ids per slot (any subset of the slots).

        Returns
        -------
        dict of str to (n, dim) float32 array
            In the order of ``slot_to_id``.

        Raises
        ------
        ValueError, TypeError
            On an unknown slot or ids that are not a 1-D integer array.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MergedMultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> merged.assign({"s1": (np.array([1]), np.float32([[1, 1]])), "s3": (np.array([7]), np.float32([[7, 7, 7]]))})
        >>> emb = merged.lookup({"s3": np.array([7, 8]), "s1": np.array([1])})
        >>> emb["s3"]
        array([[7., 7., 7.],
               [0., 0., 0.]], dtype=float32)
        >>> emb["s1"]
        array([[1., 1.]], dtype=float32)
        """
        if not isinstance(slot_to_id, Mapping):
            raise TypeError(f"slot_to_id must be a dict of slot to ids, got {type(slot_to_id).__name__}")
        _check_keys("slot_to_id", slot_to_id, tuple(self._slot_mapping))
        merged_ids, sizes = self._merge({slot: _id_array(f"slot_to_id[{slot!r}]", ids)
                                         for slot, ids in slot_to_id.items()})
        out = {}
        for merged, emb in self._table.lookup(merged_ids).items():
            slots, counts = zip(*sizes[merged])
            out.update(zip(slots, np.split(emb, np.cumsum(counts)[:-1])))
        return {slot: out[slot] for slot in slot_to_id}

    def _update(self, method, arg, slot_to_id_and_tensor, *args, **kwargs):
        pairs = _checked_pairs(arg, slot_to_id_and_tensor, self._slot_dims)
        merged_ids, _ = self._merge({slot: ids for slot, (ids, _) in pairs.items()})
        merged_tensors, _ = self._merge({slot: tensor for slot, (_, tensor) in pairs.items()})
        method({m: (merged_ids[m], merged_tensors[m]) for m in merged_ids}, *args, **kwargs)

    def assign(self, slot_to_id_and_value, *args, **kwargs):
        """Set rows per slot in the merged tables.

        Parameters
        ----------
        slot_to_id_and_value : dict of str to (ids, values)
            ``ids`` (n,) int64 and ``values`` (n, dim) float32 per slot.
        *args : tuple
            Passed to the underlying table set's ``assign`` (e.g. ``req_time``).
        **kwargs : dict
            Passed to it too.

        Raises
        ------
        ValueError, TypeError
            On an unknown slot or a bad array (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MergedMultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> merged.assign({"s1": (np.array([1]), np.float32([[1, 1]])), "s2": (np.array([2]), np.float32([[2, 2]]))})
        >>> merged.lookup({"s1": np.array([1, 2])})["s1"]  # s1 and s2 share a table
        array([[1., 1.],
               [2., 2.]], dtype=float32)
        """
        self._update(self._table.assign, "slot_to_id_and_value", slot_to_id_and_value, *args, **kwargs)

    def assign_add(self, slot_to_id_and_value, *args, **kwargs):
        """Add values to rows per slot in the merged tables.

        Parameters
        ----------
        slot_to_id_and_value : dict of str to (ids, values)
            ``ids`` (n,) int64 and ``values`` (n, dim) float32 per slot.
        *args : tuple
            Passed to the underlying table set's ``assign_add`` (e.g. ``req_time``).
        **kwargs : dict
            Passed to it too.

        Raises
        ------
        ValueError, TypeError
            On an unknown slot or a bad array (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MergedMultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> merged.assign({"s1": (np.array([1]), np.float32([[1, 1]])), "s3": (np.array([7]), np.float32([[7, 7, 7]]))})
        >>> merged.assign_add({"s1": (np.array([1]), np.float32([[1, 2]])),
        ...                    "s3": (np.array([7]), np.ones((1, 3), np.float32))})
        >>> emb = merged.lookup({"s1": np.array([1]), "s3": np.array([7])})
        >>> emb["s1"], emb["s3"]
        (array([[2., 3.]], dtype=float32), array([[8., 8., 8.]], dtype=float32))
        """
        self._update(self._table.assign_add, "slot_to_id_and_value", slot_to_id_and_value, *args, **kwargs)

    def apply_gradients(self, slot_to_id_and_grad, *args, **kwargs):
        """Optimise rows per slot in the merged tables.

        Parameters
        ----------
        slot_to_id_and_grad : dict of str to (ids, grads)
            ``ids`` (n,) int64 and ``grads`` (n, dim) float32 per slot; the
            slots of one merged table form one batch, in sorted slot order.
        *args : tuple
            Passed to the underlying table set's ``apply_gradients``
            (``global_step``, ``req_time``, ...).
        **kwargs : dict
            Passed to it too.

        Raises
        ------
        ValueError, TypeError
            On an unknown slot or a bad array (nothing is written).

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MergedMultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> merged.apply_gradients({"s1": (np.array([1]), np.float32([[1, 2]])),
        ...                         "s2": (np.array([1]), np.float32([[1, 1]]))}, global_step=0)
        >>> merged.lookup({"s1": np.array([1])})["s1"]  # one shared entry, SGD with rate 1 for both gradients
        array([[-2., -3.]], dtype=float32)
        """
        self._update(self._table.apply_gradients, "slot_to_id_and_grad", slot_to_id_and_grad, *args, **kwargs)

    def reinitialize(self, slot, ids):
        """Not supported, as in the original.

        Parameters
        ----------
        slot : str
            Slot name.
        ids : (n,) int64 array
            Ids.

        Raises
        ------
        NotImplementedError
            Always.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MergedMultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> merged.reinitialize("s1", np.array([1]))
        Traceback (most recent call last):
            ...
        NotImplementedError: MergedMultiTypeHashTable does not support reinitialize
        """
        raise NotImplementedError("MergedMultiTypeHashTable does not support reinitialize")

    def get_table_dim_sizes(self):
        """Floats per row of each merged table, in sorted merged-name order.

        Returns
        -------
        list of int

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MergedMultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> merged.get_table_dim_sizes()  # merged names are MD5 digests: this order is theirs
        [2, 3]
        """
        return [_config_dim(self._merged_slot_to_config[m]) for m in sorted(self._merged_slot_to_config)]

    def save(self, path):
        """Save the merged tables under ``path`` (see :meth:`MultiHashTable.save`).

        Parameters
        ----------
        path : str or os.PathLike
            Directory.

        Returns
        -------
        dict of str to int
            Entries written per merged table.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MergedMultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> merged.assign({"s1": (np.array([1]), np.float32([[1, 1]])), "s3": (np.array([7]), np.float32([[7, 7, 7]]))})
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     written = merged.save(tmp)
        >>> sorted(written.values())
        [1, 1]
        >>> written[merged.slot_mapping["s3"]]
        1
        """
        return self._table.save(path)

    def restore(self, path):
        """Restore the merged tables from ``path``, trying each one's ``extra_restore_names`` too.

        Parameters
        ----------
        path : str or os.PathLike
            Directory written by :meth:`save`.

        Returns
        -------
        dict of str to int
            Entries restored per merged table that had files.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from monolith_np.entry import CombineAsSegment, Fp32Compressor, HashTableConfigInstance, ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.proto import EmbeddingHashTableConfig
        >>> from monolith_np.table import MergedMultiTypeHashTable
        >>> def sgd_config(dim):  # one zero-initialised segment, SGD with learning rate 1
        ...     proto = EmbeddingHashTableConfig()
        ...     segment = CombineAsSegment(dim, ZerosInitializer(), SgdOptimizer(1.0), Fp32Compressor())
        ...     proto.entry_config.segments.append(segment)
        ...     return HashTableConfigInstance(proto, [1.0])
        >>> merged = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> merged.assign({"s1": (np.array([1]), np.float32([[1, 1]])), "s3": (np.array([7]), np.float32([[7, 7, 7]]))})
        >>> fresh = MergedMultiTypeHashTable({"s1": sgd_config(2), "s2": sgd_config(2), "s3": sgd_config(3)})
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = merged.save(tmp)
        ...     restored = fresh.restore(tmp)
        >>> sorted(restored.values())
        [1, 1]
        >>> fresh.lookup({"s3": np.array([7])})
        {'s3': array([[7., 7., 7.]], dtype=float32)}
        """
        return self._table.restore(path)
