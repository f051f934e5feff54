"""``HashEmbeddingCollection``: many features' embedding bags over hash tables, one autograd node per step.

The torch face of :class:`monolith_np.table.EmbeddingCollection`: the batch
comes in TorchRec's ``KeyedJaggedTensor`` layout (one flat ``values``
tensor, ``lengths`` or ``offsets`` feature-major, the feature names), or as
a ``KeyedJaggedTensor`` itself (read through its ``keys()``, ``values()``
and ``lengths()`` methods, so torchrec is never imported). One autograd
function covers every feature: its forward resolves each table's ids once
and pools every bag; its backward applies each table's optimizer once
(``mode="fused"``) or queues each table's gradient rows
(``mode="rows"``). As in :class:`~monolith_np.torch.HashEmbedding`, a
zero-size parameter makes autograd record the call.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .._checks import check_choice, check_seconds, check_step
from ..table import EmbeddingCollection
from ._convert import _device_of, to_array, to_tensor, torch_stream

__all__ = ["HashEmbeddingCollection"]

_ID_DTYPES = (torch.int64, torch.int32, torch.uint64)
_SPLIT_DTYPES = (torch.int64, torch.int32)


class _CollectionLookup(torch.autograd.Function):
    """Forward: the collection's forward (insert, pool). Backward: its backward, or the rows queued."""

    @staticmethod
    def forward(ctx, module, anchor, values, lengths, offsets, keys):
        device = _device_of(values)
        splits = {"lengths": None if lengths is None else to_array(lengths, "lengths"),
                  "offsets": None if offsets is None else to_array(offsets, "offsets")}
        with torch_stream(device):
            out, batch = module.collection.forward(to_array(values, "values"), keys=keys,
                                                   training=module.training, update_time=module.update_time,
                                                   **splits)
        ctx.module, ctx.batch, ctx.device = module, batch, device
        if module.output == "tensor":
            return to_tensor(out, "output")
        # One output per feature (its own array): autograd then hands each feature's gradient back as
        # it is, instead of summing full-width zero-padded gradients of views of one output.
        return tuple(to_tensor(out[:, f.col:f.col + f.width].copy(), "output") for f in module.collection._features)

    @staticmethod
    def backward(ctx, *grads):
        module, batch = ctx.module, ctx.batch
        ctx.batch = None  # the kept rows are released once used
        with torch_stream(ctx.device):
            if len(grads) == 1:
                grad = to_array(grads[0].to(torch.float32).contiguous(), "grad")
            else:
                grad = _stack_feature_grads(module, batch.batch_size, grads)
            if module.mode == "fused":
                module.collection.backward(batch, grad, learning_rate=module.learning_rate,
                                           global_step=module.global_step)
            else:
                for tname, (ids, rows) in module.collection.gradient_rows(batch, grad).items():
                    module.pending_gradients.append((tname, to_tensor(ids, "ids"), to_tensor(rows, "grad_rows")))
        return None, None, None, None, None, None


def _stack_feature_grads(module, batch_size, grads):
    """The ``(B, output_dim)`` gradient from per-feature gradients (``None``: the feature was not used)."""
    feats = module.collection._features
    like = next(g for g in grads if g is not None)  # autograd calls backward only when one is used
    full = torch.empty((batch_size, module.output_dim), dtype=torch.float32, device=like.device)
    for f, g in zip(feats, grads):
        full[:, f.col:f.col + f.width] = 0 if g is None else g.reshape(batch_size, f.width)
    return to_array(full, "grad")


class HashEmbeddingCollection(torch.nn.Module):
    """Pooled embeddings of many features over :class:`~monolith_np.table.EmbeddingHashTable` s, trained from torch.

    One call pools every feature of a batch: each table's ids are resolved
    once (in training, unseen ids inserted first, the tables' occurrence
    filters deciding) and each bag is pooled straight from the table; the
    backward sums each id's gradient and runs each table's optimizer once.
    Results equal one :class:`~monolith_np.torch.HashEmbedding` per feature
    (features bound to one table are updated by one optimizer call over all
    their ids).

    Parameters
    ----------
    tables : mapping of str to EmbeddingHashTable
        The tables by name, all on one device; several features may share one.
    features : mapping of str to str or (str, combiner)
        Feature name → its table's name, or ``(table name, combiner)``. The
        mapping's order is the output's column order.
    combiner : "sum", "mean", ("first_n", N) or a ragged combiner, default "sum"
        The combiner of the features that do not name one. ``"mean"`` of an
        empty bag is NaN (as Monolith; ``EmbeddingBag`` gives zeros);
        ``("first_n", N)`` keeps the first ``N`` rows, zero-padded.
    mode : {"fused", "rows"}, default "fused"
        ``"fused"``: the backward applies each table's optimizer
        (``global_step`` read from the module's attribute). ``"rows"``: the
        backward appends ``(table name, ids, grad_rows)`` to
        :attr:`pending_gradients` (clip them, then :meth:`apply_gradients`).
    learning_rate : None, float, schedule, array or mapping of table name to one, default None
        The rate given to each table's ``apply_gradients`` (``None``: its
        configured rates); a mapping gives tables their own.
    output : {"tensor", "dict"}, default "tensor"
        ``"tensor"``: one ``(B, output_dim)`` tensor, the features' columns
        side by side (:meth:`feature_slices`). ``"dict"``: feature name →
        its own ``(B, dim)`` (sum, mean) or ``(B, N, dim)`` (first-n) tensor
        (each feature's gradient then reaches the backward without padding).

    Raises
    ------
    TypeError, ValueError
        On bad tables, features, combiners, ``mode`` or ``output``.

    Notes
    -----
    The attributes ``global_step`` and ``update_time`` (ints, default 0) are
    set by the training loop; ``update_time`` stamps every entry the forward
    touches. In eval mode (``module.eval()``) nothing is inserted and absent
    ids read zeros. Gradients reach only ids that have an entry.

    Examples
    --------
    Two features sharing an SGD table whose rows start at ones; a batch of
    two examples in ``KeyedJaggedTensor`` layout (``lengths`` feature-major):

    >>> import numpy as np, torch
    >>> from monolith_np.entry import OnesInitializer
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.table import EmbeddingHashTable
    >>> from monolith_np.torch import HashEmbeddingCollection
    >>> table = EmbeddingHashTable([(2, OnesInitializer(), SgdOptimizer(learning_rate=0.5))])
    >>> emb = HashEmbeddingCollection({"ids": table}, {"user": "ids", "item": ("ids", "mean")})
    >>> out = emb(torch.tensor([7, 8, 9, 5, 5, 6]), lengths=torch.tensor([1, 2, 2, 1]))
    >>> out.tolist()  # [user sum | item mean] per example
    [[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 1.0, 1.0]]
    >>> out.sum().backward()  # fused: SGD on every id, its gradients summed
    >>> table.lookup(np.array([7, 5, 6])).tolist()
    [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]
    """

    def __init__(self, tables, features, combiner="sum", mode="fused", learning_rate=None, output="tensor"):
        super().__init__()
        self.collection = EmbeddingCollection(tables, features, combiner=combiner)
        self.mode = check_choice("mode", mode, ("fused", "rows"))
        self.output = check_choice("output", output, ("tensor", "dict"))
        if isinstance(learning_rate, Mapping):
            self.collection._rates(learning_rate)  # names checked now
        self.learning_rate = learning_rate
        self.global_step = 0
        self.update_time = 0
        self.pending_gradients = []
        # Zero-size leaf that makes autograd record the call (see HashEmbedding).
        self.grad_anchor = torch.nn.Parameter(torch.zeros(0))

    @property
    def tables(self):
        """The tables by name."""
        return self.collection.tables

    @property
    def feature_names(self):
        """The features, in output column order."""
        return self.collection.feature_names

    @property
    def output_dim(self):
        """Columns of the ``"tensor"`` output: the sum of the features' widths."""
        return self.collection.output_dim

    def feature_slices(self):
        """Each feature's columns of the ``"tensor"`` output.

        Returns
        -------
        dict of str to slice

        Examples
        --------
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.torch import HashEmbeddingCollection
        >>> t = EmbeddingHashTable([(4, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> HashEmbeddingCollection({"t": t}, {"a": "t", "b": "t"}).feature_slices()
        {'a': slice(0, 4, None), 'b': slice(4, 8, None)}
        """
        return self.collection.feature_slices()

    def extra_repr(self):
        """The features with their tables and combiners, and the mode.

        Returns
        -------
        str

        Examples
        --------
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.torch import HashEmbeddingCollection
        >>> t = EmbeddingHashTable([(4, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> HashEmbeddingCollection({"t": t}, {"a": "t", "b": ("t", "mean")})
        HashEmbeddingCollection(features={a: t/sum, b: t/mean}, output_dim=8, mode='fused')
        """
        feats = ", ".join(f"{f.name}: {f.table}/{f.kind}" + (f"[{f.n}]" if f.n else "")
                          for f in self.collection._features)
        return f"features={{{feats}}}, output_dim={self.output_dim}, mode={self.mode!r}"

    def _check_tensor(self, name, x, dtypes, hint):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype not in dtypes:
            raise TypeError(f"{name} must be a tensor of dtype {' or '.join(map(str, dtypes))}, got {x.dtype}{hint}")
        want = "cuda" if self.collection.device == "cuda" else "cpu"
        if x.device.type != want:
            raise TypeError(f"{name} must be on {want} (the tables' device), got a tensor on {x.device}")
        return x

    def forward(self, values, lengths=None, offsets=None, keys=None):
        """Pool every feature's bags (in training, inserting unseen ids first).

        Parameters
        ----------
        values : int64 tensor or KeyedJaggedTensor
            ``(N,)`` ids, feature by feature (int32 and uint64 accepted), on
            the tables' device; or a torchrec ``KeyedJaggedTensor`` (its
            keys, values and lengths are used; weighted ones are refused).
        lengths : (F * B,) int tensor, optional
            Ids per bag, feature-major.
        offsets : (F * B + 1,) int tensor, optional
            Bag bounds instead of ``lengths``.
        keys : sequence of str, optional
            The features of ``values``, in order (default: the module's
            features); features the module does not have are skipped.

        Returns
        -------
        float32 tensor or dict of str to tensor
            ``(B, output_dim)``, or per feature ``(B, dim)`` / ``(B, N, dim)``
            with ``output="dict"``.

        Raises
        ------
        TypeError, ValueError
            On bad input, before any table changes.

        Examples
        --------
        >>> import torch
        >>> from monolith_np.entry import OnesInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.torch import HashEmbeddingCollection
        >>> t = EmbeddingHashTable([(1, OnesInitializer(), SgdOptimizer(1.0))])
        >>> emb = HashEmbeddingCollection({"t": t}, {"a": ("t", ("first_n", 2))}, output="dict")
        >>> emb(torch.tensor([4, 5, 6]), offsets=torch.tensor([0, 3, 3]))["a"].tolist()
        [[[1.0], [1.0]], [[0.0], [0.0]]]
        """
        if callable(getattr(values, "values", None)) and callable(getattr(values, "lengths", None)):
            values, lengths, offsets, keys = self._unpack_kjt(values, lengths, offsets, keys)
        self._check_tensor("values", values, _ID_DTYPES, "; use values.long()")
        if values.dim() != 1:
            raise ValueError(f"values must be 1-D (the flat ids of every feature), got shape {tuple(values.shape)}")
        for name, x in (("lengths", lengths), ("offsets", offsets)):
            if x is not None:
                self._check_tensor(name, x, _SPLIT_DTYPES, "")
        out = _CollectionLookup.apply(self, self.grad_anchor, values, lengths, offsets,
                                      None if keys is None else list(keys))
        if self.output == "tensor":
            return out
        return {f.name: block.view(block.shape[0], f.n, f.dim) if f.kind == "first_n" else block
                for f, block in zip(self.collection._features, out)}

    @staticmethod
    def _unpack_kjt(kjt, lengths, offsets, keys):
        if lengths is not None or offsets is not None or keys is not None:
            raise ValueError("a KeyedJaggedTensor carries its own lengths, offsets and keys; pass it alone")
        weights = getattr(kjt, "weights_or_none", lambda: None)()
        if weights is not None:
            raise ValueError("weighted KeyedJaggedTensors are not supported (the combiners are unweighted)")
        return kjt.values(), kjt.lengths(), None, list(kjt.keys())

    def apply_gradients(self, global_step=None, update_time=None):
        """Apply and clear :attr:`pending_gradients` (``mode="rows"``): one optimizer call per table.

        Parameters
        ----------
        global_step : int, optional
            Default: the module's ``global_step``.
        update_time : int, optional
            Seconds stamped on every updated entry; default: the module's ``update_time``.

        Returns
        -------
        int
            The number of gradient rows applied.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.torch import HashEmbeddingCollection
        >>> t = EmbeddingHashTable([(1, ZerosInitializer(), SgdOptimizer(1.0))])
        >>> emb = HashEmbeddingCollection({"t": t}, {"a": "t"}, mode="rows")
        >>> emb(torch.tensor([3, 4, 3]), lengths=torch.tensor([2, 1])).sum().backward()
        >>> [(name, ids.tolist(), rows.ravel().tolist()) for name, ids, rows in emb.pending_gradients]
        [('t', [3, 4, 3], [1.0, 1.0, 1.0])]
        >>> emb.apply_gradients(), t.lookup(np.array([3, 4])).ravel().tolist()
        (3, [-2.0, -1.0])
        """
        global_step = check_step("global_step", self.global_step if global_step is None else global_step)
        update_time = check_seconds("update_time", self.update_time if update_time is None else update_time)
        per_table = {}
        for tname, ids, rows in self.pending_gradients:
            per_table.setdefault(tname, []).append((ids, rows))
        rates = self.collection._rates(self.learning_rate)
        batches = []  # every table's rows and rates checked before any table changes
        for tname, items in per_table.items():
            table = self.tables[tname]
            ids = torch.cat([i.reshape(-1) for i, _ in items])
            rows = torch.cat([g.reshape(-1, table.dim) for _, g in items])
            device = _device_of(ids, rows)
            with torch_stream(device):
                checked = table._check_batch("grad_rows", to_array(ids, "ids"), to_array(rows, "grad_rows"))
            batches.append((table, device, checked, table._learning_rates(rates.get(tname), global_step)))
        applied = 0
        for table, device, (ids, rows), lrs in batches:
            with torch_stream(device):
                table._apply_gradients_impl(ids, rows, lrs, global_step, update_time, True)
            applied += int(ids.shape[0])
        self.pending_gradients.clear()
        return applied
