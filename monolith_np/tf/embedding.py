"""A Keras layer looking ids up in an :class:`~monolith_np.table.EmbeddingHashTable`."""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

from .. import ragged as _ragged
from .._checks import check_choice
from ..table import EmbeddingHashTable
from ._convert import _eager_or_py_function, to_array, to_tensor

__all__ = ["HashEmbedding"]

_ID_DTYPES = (tf.int64, tf.int32, tf.uint64)


def _check_combiner(combiner):
    if combiner is None or combiner in ("sum", "mean"):
        return combiner
    if (isinstance(combiner, tuple) and len(combiner) == 2 and combiner[0] == "first_n"
            and isinstance(combiner[1], numbers.Integral) and not isinstance(combiner[1], bool)
            and combiner[1] > 0):
        return ("first_n", int(combiner[1]))
    raise ValueError(f"combiner must be None, 'sum', 'mean' or ('first_n', N) with N a positive int, "
                     f"got {combiner!r}")


class HashEmbedding(tf.keras.layers.Layer):
    """Keras layer that looks ids up in an embedding hash table and trains it.

    Parameters
    ----------
    table : EmbeddingHashTable
        The table holding the rows (and their optimizer state).
    combiner : {None, "sum", "mean"} or ("first_n", N), default None
        Without a combiner, one row per id. For ragged ids (a
        ``tf.RaggedTensor`` or ``call(values, row_splits=...)``), ``"sum"`` /
        ``"mean"`` give one ``(dim,)`` row per list and ``("first_n", N)``
        the first ``N`` rows of each list, zero-padded (the
        :mod:`monolith_np.ragged` kernels).
    mode : {"fused", "rows"}, default "fused"
        In ``"fused"`` mode the gradient function calls
        ``table.apply_gradients`` (using :attr:`global_step` and
        :attr:`update_time`); in ``"rows"`` mode it appends
        ``(ids, grad_rows)`` (numpy) to :attr:`pending_gradients`, and
        :meth:`apply_gradients` applies them later.
    learning_rate : float, sequence, schedule or None, default None
        Passed to ``table.apply_gradients`` (None: the table's own rates).
    **kwargs : dict
        Keras ``Layer`` arguments (``name``, ...).

    Raises
    ------
    TypeError
        If ``table`` is not an :class:`EmbeddingHashTable`.
    ValueError
        For an unknown ``combiner`` or ``mode``.

    Notes
    -----
    The layer has no dense weights. It owns one scalar variable,
    ``trigger`` (always 0, gradient always 0, never read by the output), so
    that ``tape.gradient(loss, model.trainable_variables)`` reaches the
    lookup's gradient function: ids are integers and carry no gradient.
    The gradient with respect to the ids is None.

    Examples
    --------
    Two bags of ids, summed; asking the tape for the layer's gradient runs
    one SGD step on the table (``"fused"`` mode).

    >>> import numpy as np, tensorflow as tf
    >>> from monolith_np.table import EmbeddingHashTable
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.entry import ZerosInitializer
    >>> from monolith_np.tf import HashEmbedding
    >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(learning_rate=1.0))])
    >>> layer = HashEmbedding(table, combiner="sum")
    >>> with tf.GradientTape() as tape:
    ...     out = layer(tf.ragged.constant([[7, 8, 7], [8]], dtype=tf.int64), training=True)
    ...     loss = tf.reduce_sum(out)
    >>> out.shape
    TensorShape([2, 2])
    >>> _ = tape.gradient(loss, layer.trainable_variables)
    >>> table.lookup(np.array([7, 8])).tolist()  # each id occurs twice: gradient 2
    [[-2.0, -2.0], [-2.0, -2.0]]
    """

    def __init__(self, table, combiner=None, mode="fused", learning_rate=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(table, EmbeddingHashTable):
            raise TypeError(f"table must be an EmbeddingHashTable, got {type(table).__name__}")
        self.table = table
        self.combiner = _check_combiner(combiner)
        self.mode = check_choice("mode", mode, ("fused", "rows"))
        self.learning_rate = learning_rate
        #: Step and time passed to ``table.apply_gradients`` in fused mode (plain ints).
        self.global_step = 0
        self.update_time = 0
        self._pending = []
        self.trigger = self.add_weight(name="trigger", shape=(), initializer="zeros", trainable=True,
                                       dtype="float32")

    @property
    def pending_gradients(self):
        """``(ids, grad_rows)`` numpy pairs recorded by the gradient function in ``"rows"`` mode."""
        return self._pending

    @property
    def dim(self):
        """Width of the table's rows."""
        return self.table.dim

    def apply_gradients(self, global_step=0, update_time=0):
        """Apply and clear :attr:`pending_gradients` (``"rows"`` mode).

        Parameters
        ----------
        global_step : int, default 0
        update_time : int, default 0
            Passed to ``table.apply_gradients`` (with ``dedup=True``: the
            rows of a repeated id are summed and the optimizer runs once).

        Returns
        -------
        int
            Gradient rows applied.

        Examples
        --------
        >>> import numpy as np, tensorflow as tf
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.tf import HashEmbedding
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(learning_rate=1.0))])
        >>> layer = HashEmbedding(table, mode="rows")
        >>> with tf.GradientTape() as tape:
        ...     loss = tf.reduce_sum(layer(tf.constant([5, 6, 5], tf.int64), training=True))
        >>> _ = tape.gradient(loss, layer.trainable_variables)  # queues the rows, the table is unchanged
        >>> layer.pending_gradients[0][0].tolist(), table.lookup(np.array([5])).tolist()
        ([5, 6, 5], [[0.0, 0.0]])
        >>> layer.apply_gradients()  # id 5's two rows are summed: one SGD step each
        3
        >>> table.lookup(np.array([5, 6])).tolist(), layer.pending_gradients
        ([[-2.0, -2.0], [-1.0, -1.0]], [])
        """
        if not self._pending:
            return 0
        ids = np.concatenate([i for i, _ in self._pending])
        grads = np.ascontiguousarray(np.concatenate([g for _, g in self._pending]), np.float32)
        self.table.apply_gradients(ids, grads, learning_rate=self.learning_rate, global_step=global_step,
                                   update_time=update_time, dedup=True)
        self._pending.clear()
        return int(ids.size)

    # -- forward and backward ---------------------------------------------------

    def _inputs(self, ids, row_splits):
        ragged_out = False
        if isinstance(ids, tf.RaggedTensor):
            if row_splits is not None:
                raise ValueError("row_splits must be None when ids is a tf.RaggedTensor, got a tensor")
            if ids.ragged_rank != 1 or ids.shape.rank != 2:
                raise ValueError(f"ids must be a 2-D RaggedTensor (ragged_rank 1), got rank {ids.shape.rank} "
                                 f"with ragged_rank {ids.ragged_rank}")
            ids, row_splits = ids.values, ids.row_splits
            ragged_out = self.combiner is None
        ids = tf.convert_to_tensor(ids)
        if ids.dtype not in _ID_DTYPES:
            raise TypeError(f"ids must be int64, uint64 or int32, got {ids.dtype.name}")
        if ids.dtype == tf.int32:
            ids = tf.cast(ids, tf.int64)
        if row_splits is not None:
            row_splits = tf.cast(tf.convert_to_tensor(row_splits), tf.int64)
            if ids.shape.rank != 1 or row_splits.shape.rank != 1:
                raise ValueError(f"ids and row_splits must be 1-D with row_splits, got ranks "
                                 f"{ids.shape.rank} and {row_splits.shape.rank}")
            if self.combiner is None and not ragged_out:
                raise ValueError("combiner must be 'sum', 'mean' or ('first_n', N) with row_splits, got None")
        elif self.combiner is not None:
            raise ValueError(f"ids must be ragged (a tf.RaggedTensor or row_splits) with combiner "
                             f"{self.combiner!r}, got a dense tensor")
        return ids, row_splits, ragged_out

    def _out_shape(self, ids, row_splits):
        dim = self.dim
        if row_splits is None or self.combiner is None:
            return ids.shape.concatenate([dim])
        batch = row_splits.shape[0] - 1 if row_splits.shape[0] is not None else None
        if self.combiner in ("sum", "mean"):
            return tf.TensorShape([batch, dim])
        return tf.TensorShape([batch, self.combiner[1], dim])

    def _forward(self, ids, splits, training):
        ids = np.ascontiguousarray(to_array(ids))
        flat = ids.reshape(-1)
        if splits is not None:  # checked before the insert: a bad batch must not create entries
            splits = _ragged._check_splits("row_splits", to_array(splits), np, nvalues=flat.size, values_name="ids")
        if training:
            self.table.insert(flat, update_time=self.update_time)
        emb = self.table.lookup(flat)
        if splits is None or self.combiner is None:
            return to_tensor(emb.reshape(ids.shape + (self.dim,)))
        if self.combiner == "sum":
            return to_tensor(_ragged.reduce_sum(emb, row_splits=splits))
        if self.combiner == "mean":
            return to_tensor(_ragged.reduce_mean(emb, row_splits=splits))
        return to_tensor(_ragged.first_n(emb, self.combiner[1], row_splits=splits))

    def _backward(self, ids, splits, dy):
        flat = np.array(to_array(ids)).reshape(-1)
        dy = to_array(dy)
        if splits is None or self.combiner is None:
            rows = dy.reshape(flat.size, self.dim)
        else:
            splits = to_array(splits)
            if self.combiner == "sum":
                rows = _ragged.reduce_sum_grad(dy, row_splits=splits)
            elif self.combiner == "mean":
                rows = _ragged.reduce_mean_grad(dy, row_splits=splits)
            else:
                rows = _ragged.first_n_grad(dy, row_splits=splits)
        rows = np.array(rows, np.float32, order="C")  # own the memory: dy's buffer belongs to TF
        if self.mode == "rows":
            self._pending.append((flat, rows))
        else:
            self.table.apply_gradients(flat, rows, learning_rate=self.learning_rate,
                                       global_step=self.global_step, update_time=self.update_time, dedup=True)
        return to_tensor(np.zeros((), np.float32))

    def call(self, ids, training=None, row_splits=None):
        """Look ``ids`` up (inserting unseen ones first when training).

        Parameters
        ----------
        ids : tf.Tensor or tf.RaggedTensor
            int64 (uint64, int32 accepted) ids of any shape, a 2-D ragged
            tensor, or the flat values of a ragged batch given ``row_splits``.
        training : bool, optional
            When true, ``table.insert`` the ids first (an occurrence filter
            may keep some out); otherwise lookups only, absent ids read zeros.
        row_splits : tf.Tensor, optional
            ``(B + 1,)`` row splits of the flat ``ids``.

        Returns
        -------
        tf.Tensor or tf.RaggedTensor
            ``ids.shape + (dim,)`` float32 with no combiner (a RaggedTensor
            ``(B, None, dim)`` for a RaggedTensor input), ``(B, dim)`` for
            "sum" / "mean", ``(B, N, dim)`` for ``("first_n", N)``.

        Examples
        --------
        A table whose new rows start at ones: without a combiner each id gets
        its row; with ``"sum"`` each list gets the sum of its rows.

        >>> import tensorflow as tf
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.entry import OnesInitializer
        >>> from monolith_np.tf import HashEmbedding
        >>> table = EmbeddingHashTable([(2, OnesInitializer(), SgdOptimizer(learning_rate=1.0))])
        >>> HashEmbedding(table)(tf.constant([[1, 2, 3]], tf.int64), training=True).shape
        TensorShape([1, 3, 2])
        >>> bags = HashEmbedding(table, combiner="sum")
        >>> splits = tf.constant([0, 1, 3], tf.int64)  # lists [7] and [8, 9]
        >>> bags(tf.constant([7, 8, 9], tf.int64), training=True, row_splits=splits).numpy().tolist()
        [[1.0, 1.0], [2.0, 2.0]]

        Without ``training`` nothing is inserted: the unseen id 42 reads zeros.

        >>> bags(tf.ragged.constant([[42, 7]], dtype=tf.int64)).numpy().tolist()
        [[1.0, 1.0]]
        """
        ids, splits, ragged_out = self._inputs(ids, row_splits)
        static_training = tf.get_static_value(training) if tf.is_tensor(training) else training
        training = bool(static_training)
        shape = self._out_shape(ids, splits)
        use_splits = splits is not None and self.combiner is not None
        inputs = [ids] + ([splits] if use_splits else [])

        @tf.custom_gradient
        def lookup(trigger, *id_inputs):
            out = _eager_or_py_function(
                lambda i, *s: self._forward(i, s[0] if s else None, training), list(id_inputs), tf.float32)
            if not tf.executing_eagerly():
                out.set_shape(shape)

            def grad(dy):
                g = _eager_or_py_function(
                    lambda i, *rest: self._backward(i, rest[0] if len(rest) == 2 else None, rest[-1]),
                    list(id_inputs) + [tf.cast(dy, tf.float32)], tf.float32)
                if not tf.executing_eagerly():
                    g.set_shape([])
                return [g] + [None] * len(id_inputs)

            return out, grad

        out = lookup(tf.convert_to_tensor(self.trigger), *inputs)
        if ragged_out:
            return tf.RaggedTensor.from_row_splits(out, splits, validate=False)
        return out
