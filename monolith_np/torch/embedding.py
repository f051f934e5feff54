"""``HashEmbedding``: a torch module over an :class:`~monolith_np.table.EmbeddingHashTable`.

The table is not a tensor, so autograd cannot see it. The module owns a
zero-size leaf parameter (``grad_anchor``) that every lookup passes to its
autograd function: because one input requires grad, autograd records the
lookup and calls its backward, which then sends the per-id gradient rows to
the table (``mode="fused"``, the optimizer applied inside the backward as in
FBGEMM's TBE) or queues them in ``pending_gradients`` (``mode="rows"``).
Nothing of the table's size is ever materialised as a tensor.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import ragged
from .._checks import check_choice
from ..table import EmbeddingHashTable
from ..table.collection import parse_combiner
from ._convert import _device_of, to_array, to_tensor, torch_stream

__all__ = ["HashEmbedding"]

_ID_DTYPES = (torch.int64, torch.int32, torch.uint64)
_OFFSET_DTYPES = (torch.int64, torch.int32)


class _HashLookup(torch.autograd.Function):
    """Forward: (insert,) look up and combine. Backward: combine-gradient, then table or queue."""

    @staticmethod
    def forward(ctx, module, anchor, ids, splits, out_shape):
        device = _device_of(ids)
        flat = to_array(ids.reshape(-1), "ids")
        table = module.table
        with torch_stream(device):
            if module.training:
                table.insert(flat, update_time=module.update_time)
            rows = table.lookup(flat)
            kind, n = module._combiner
            if kind == "sum":
                out = ragged.reduce_sum(rows, row_splits=splits)
            elif kind == "mean":
                out = ragged.reduce_mean(rows, row_splits=splits)
            elif kind == "first_n":
                out = ragged.first_n(rows, n, row_splits=splits)
            else:
                out = rows
        ctx.module, ctx.splits, ctx.device = module, splits, device
        ctx.save_for_backward(ids)
        return to_tensor(out, "output").view(out_shape)

    @staticmethod
    def backward(ctx, grad_out):
        module = ctx.module
        (ids,) = ctx.saved_tensors
        flat = to_array(ids.reshape(-1), "ids")
        kind, _ = module._combiner
        dim = module.table.dim
        with torch_stream(ctx.device):
            g = to_array(grad_out.to(torch.float32), "grad")
            if kind == "sum":
                rows = ragged.reduce_sum_grad(g, row_splits=ctx.splits)
            elif kind == "mean":
                rows = ragged.reduce_mean_grad(g, row_splits=ctx.splits)
            elif kind == "first_n":
                rows = ragged.first_n_grad(g, row_splits=ctx.splits)
            else:
                rows = g.reshape(-1, dim)
            module._route(flat, rows)
        return None, None, None, None, None


class HashEmbedding(torch.nn.Module):
    """Embedding lookups in an :class:`~monolith_np.table.EmbeddingHashTable`, trained from torch.

    ``forward(ids)`` returns one row per id, ``ids.shape + (dim,)``;
    ``forward(values, offsets)`` combines ragged bags like
    :class:`torch.nn.EmbeddingBag`. In training mode (``module.train()``)
    unseen ids are inserted into the table before the lookup (so the table's
    occurrence filter decides which ids get an entry, as Monolith's training
    lookups do); in eval mode the table is only read and absent ids give
    zero rows.

    Parameters
    ----------
    table : EmbeddingHashTable
        The table; its ``dim`` is the embedding width, its optimizer is the
        one the gradients run through. A ``device="cuda"`` table takes CUDA
        id tensors and returns CUDA tensors.
    combiner : None, "sum", "mean", ("first_n", N) or a ragged Combiner, default None
        How the ids of a bag are combined: ``"sum"`` / ``"mean"`` give
        ``(B, dim)`` (:func:`monolith_np.ragged.reduce_sum` /
        :func:`~monolith_np.ragged.reduce_mean`, whose empty bags are zero /
        NaN as in Monolith, where ``EmbeddingBag`` gives zeros for both),
        ``("first_n", N)`` gives ``(B, N, dim)`` (the first ``N`` ids of each
        bag, zero-padded: :func:`~monolith_np.ragged.first_n`). Instances of
        ``ReduceSum``, ``ReduceMean`` and ``FirstN`` are accepted too.
        ``None``: no bags, one row per id.
    mode : {"fused", "rows"}, default "fused"
        ``"fused"``: the backward calls ``table.apply_gradients`` itself
        (optimizer in backward; ``global_step`` and ``update_time`` are read
        from the module's attributes of the same names). ``"rows"``: the
        backward appends ``(ids, grad_rows)`` tensors to
        :attr:`pending_gradients`, applied by :meth:`apply_gradients`.
    learning_rate : float, array, LearningRateFunction or None, default None
        Passed to ``table.apply_gradients`` (``None``: the table's configured
        rates).
    include_last_offset : bool, default False
        Same as in :class:`torch.nn.EmbeddingBag`: ``offsets`` has ``B + 1``
        entries, the last one being ``len(values)``.

    Raises
    ------
    TypeError
        If ``table`` is not an ``EmbeddingHashTable``.
    ValueError
        On an unknown ``combiner`` or ``mode``.

    Notes
    -----
    Gradients only reach ids that have an entry: an id kept out by the
    occurrence filter (or absent in eval mode) reads zeros and its gradient
    rows are dropped, so the filter is consulted once per occurrence, at the
    lookup. The attributes ``global_step`` and ``update_time`` (plain ints,
    default 0) are set by the training loop; ``update_time`` stamps inserted
    and updated entries.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from monolith_np.table import EmbeddingHashTable
    >>> from monolith_np.optim import SgdOptimizer
    >>> from monolith_np.entry import ZerosInitializer
    >>> from monolith_np.torch import HashEmbedding
    >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(learning_rate=1.0))])
    >>> emb = HashEmbedding(table, combiner="sum")
    >>> out = emb(torch.tensor([7, 8, 7]), torch.tensor([0, 2]))
    >>> out.sum().backward()          # fused: one SGD step on ids 7 and 8
    >>> table.lookup(np.array([7, 8])).tolist()
    [[-2.0, -2.0], [-1.0, -1.0]]
    """

    def __init__(self, table, combiner=None, mode="fused", learning_rate=None, include_last_offset=False):
        super().__init__()
        if not isinstance(table, EmbeddingHashTable):
            raise TypeError(f"table must be a monolith_np.table.EmbeddingHashTable, got {type(table).__name__}")
        self.table = table
        self._combiner = parse_combiner(combiner, allow_none=True)
        self.combiner = combiner
        self.mode = check_choice("mode", mode, ("fused", "rows"))
        self.learning_rate = learning_rate
        self.include_last_offset = bool(include_last_offset)
        self.global_step = 0
        self.update_time = 0
        self.pending_gradients = []
        # Zero-size leaf that makes autograd record lookups (see the module notes).
        self.grad_anchor = torch.nn.Parameter(torch.zeros(0))

    @property
    def dim(self):
        """The embedding width (the table's ``dim``)."""
        return self.table.dim

    def extra_repr(self):
        """The settings shown in the module's ``repr``: width, combiner and mode.

        Returns
        -------
        str
            ``"dim=..., combiner=..., mode=..."``.

        Examples
        --------
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.torch import HashEmbedding
        >>> table = EmbeddingHashTable([(4, ZerosInitializer(), SgdOptimizer(learning_rate=1.0))])
        >>> emb = HashEmbedding(table, combiner="mean")
        >>> emb.extra_repr()
        "dim=4, combiner='mean', mode='fused'"
        >>> emb
        HashEmbedding(dim=4, combiner='mean', mode='fused')
        """
        return f"dim={self.dim}, combiner={self.combiner!r}, mode={self.mode!r}"

    def _check_ids(self, ids, name):
        if not isinstance(ids, torch.Tensor):
            raise TypeError(f"{name} must be an int64 torch.Tensor of ids, got {type(ids).__name__}")
        if ids.dtype not in _ID_DTYPES:
            raise TypeError(f"{name} must be an int64 (or int32/uint64) tensor of ids, got dtype {ids.dtype}; "
                            f"use {name}.long()")
        want = "cuda" if self.table.device == "cuda" else "cpu"
        if ids.device.type != want:
            raise TypeError(f"{name} must be on {want} (the table's device is {self.table.device!r}), "
                            f"got a tensor on {ids.device}")
        return ids

    def _splits(self, values, offsets):
        """Row splits (host or device array) of the bags described by ``offsets``."""
        if not isinstance(offsets, torch.Tensor):
            raise TypeError(f"offsets must be an int64 torch.Tensor, got {type(offsets).__name__}")
        if offsets.dtype not in _OFFSET_DTYPES:
            raise TypeError(f"offsets must be an int64 or int32 tensor, got dtype {offsets.dtype}")
        if offsets.dim() != 1:
            raise ValueError(f"offsets must be 1-D (the start of each bag), got shape {tuple(offsets.shape)}")
        if values.dim() != 1:
            raise ValueError(f"values must be 1-D when offsets are given, got shape {tuple(values.shape)}")
        n = values.shape[0]
        host = offsets.detach().to("cpu", torch.int64)
        if self.include_last_offset:
            if host.numel() < 1 or int(host[-1]) != n:
                raise ValueError(f"offsets must end with len(values) = {n} when include_last_offset=True, "
                                 f"got {host.tolist()[-1:] or 'an empty tensor'}")
            splits = host
        else:
            splits = torch.cat([host, torch.tensor([n], dtype=torch.int64)])
        if int(splits[0]) != 0:
            got = int(splits[0]) if host.numel() else f"an empty tensor for {n} values"
            raise ValueError(f"offsets must start at 0 (the first bag's start), got {got}")
        bad = torch.nonzero(splits[1:] < splits[:-1])
        if bad.numel():
            i = int(bad[0, 0])
            raise ValueError(f"offsets must be non-decreasing and at most len(values) = {n}, got "
                             f"{int(splits[i])} followed by {int(splits[i + 1])} at position {i}")
        splits = splits.numpy()
        if self.table.device == "cuda":
            from .._backend import get_cupy

            splits = get_cupy().asarray(splits)
        return splits

    def forward(self, ids, offsets=None):
        """Look up (and, in training, insert) ``ids``; combine bags when a combiner is set.

        Parameters
        ----------
        ids : int64 tensor
            Without a combiner: any shape, the result is ``ids.shape + (dim,)``.
            With a combiner: 1-D ragged values with ``offsets``, or 2-D
            ``(B, N)`` (``B`` bags of ``N`` ids each, as ``EmbeddingBag``).
            int32 and uint64 ids are accepted (uint64 keep their bits).
        offsets : 1-D int64 tensor or None, default None
            Start of each bag in ``ids`` (``B`` entries starting at 0, or
            ``B + 1`` with ``include_last_offset``); needs a combiner.

        Returns
        -------
        float32 tensor
            ``ids.shape + (dim,)``, ``(B, dim)`` for sum/mean, ``(B, N, dim)``
            for first_n; on the table's device.

        Raises
        ------
        TypeError
            On non-integer ids or offsets, or ids on another device than the table.
        ValueError
            On offsets without a combiner, bad offsets, or ids of the wrong rank.

        Examples
        --------
        A table whose new rows start at ones: without a combiner each id gets
        its row; with ``"sum"`` each bag gets the sum of its rows.

        >>> import torch
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.entry import OnesInitializer
        >>> from monolith_np.torch import HashEmbedding
        >>> table = EmbeddingHashTable([(2, OnesInitializer(), SgdOptimizer(learning_rate=1.0))])
        >>> HashEmbedding(table)(torch.tensor([[1, 2, 3]])).shape
        torch.Size([1, 3, 2])
        >>> bags = HashEmbedding(table, combiner="sum")
        >>> bags(torch.tensor([7, 8, 9]), torch.tensor([0, 1])).tolist()  # bags [7] and [8, 9]
        [[1.0, 1.0], [2.0, 2.0]]

        In eval mode nothing is inserted: the unseen id 42 reads zeros.

        >>> bags.eval()(torch.tensor([[42, 7]])).tolist()  # one bag of two ids, as a 2-D tensor
        [[1.0, 1.0]]
        """
        ids = self._check_ids(ids, "ids")
        kind, n = self._combiner
        dim = self.table.dim
        if kind is None:
            if offsets is not None:
                raise ValueError("offsets need a combiner (sum, mean or first_n), got combiner=None")
            splits, shape = None, tuple(ids.shape) + (dim,)
        else:
            if offsets is None:
                if ids.dim() != 2:
                    raise ValueError(f"ids must be 2-D (B, N) bags when no offsets are given, got shape "
                                     f"{tuple(ids.shape)}")
                b, width = ids.shape
                offsets = torch.arange(b + int(self.include_last_offset), dtype=torch.int64) * width
                ids = ids.reshape(-1)
            splits = self._splits(ids, offsets)
            b = splits.shape[0] - 1
            shape = (b, dim) if kind in ("sum", "mean") else (b, n, dim)
        return _HashLookup.apply(self, self.grad_anchor, ids, splits, shape)

    def _route(self, flat_ids, rows):
        """Send the per-id gradient rows to the table (fused) or the queue (rows)."""
        keep = self.table.contains(flat_ids)
        if not bool(keep.all()):
            flat_ids, rows = flat_ids[keep], rows[keep]
        if self.mode == "fused":
            self.table.apply_gradients(flat_ids, rows, learning_rate=self.learning_rate,
                                       global_step=self.global_step, update_time=self.update_time, dedup=True)
        else:
            self.pending_gradients.append((to_tensor(flat_ids.view(np.int64), "ids"), to_tensor(rows, "grad_rows")))

    def apply_gradients(self, global_step=0, update_time=0):
        """Apply and clear :attr:`pending_gradients` (``mode="rows"``).

        All queued ``(ids, grad_rows)`` pairs are concatenated and applied in
        one ``table.apply_gradients(..., dedup=True)``: the rows of a
        repeated id are summed and its optimizer runs once.

        Parameters
        ----------
        global_step : int, default 0
            Passed to the table (learning-rate schedules, step-dependent optimizers).
        update_time : int, default 0
            Seconds; stamped on every updated entry.

        Returns
        -------
        int
            The number of gradient rows applied.

        Raises
        ------
        TypeError, ValueError
            If a queued pair was replaced by tensors of the wrong dtype or shape.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from monolith_np.table import EmbeddingHashTable
        >>> from monolith_np.optim import SgdOptimizer
        >>> from monolith_np.entry import ZerosInitializer
        >>> from monolith_np.torch import HashEmbedding
        >>> table = EmbeddingHashTable([(2, ZerosInitializer(), SgdOptimizer(learning_rate=1.0))])
        >>> emb = HashEmbedding(table, mode="rows")
        >>> emb(torch.tensor([5, 6, 5])).sum().backward()  # queues the rows, the table is unchanged
        >>> emb.pending_gradients[0][0].tolist(), table.lookup(np.array([5])).tolist()
        ([5, 6, 5], [[0.0, 0.0]])
        >>> emb.apply_gradients()  # id 5's two rows are summed: one SGD step each
        3
        >>> table.lookup(np.array([5, 6])).tolist(), emb.pending_gradients
        ([[-2.0, -2.0], [-1.0, -1.0]], [])
        """
        if not self.pending_gradients:
            return 0
        ids = torch.cat([i.reshape(-1) for i, _ in self.pending_gradients])
        rows = torch.cat([g.reshape(-1, self.table.dim) for _, g in self.pending_gradients])
        device = _device_of(ids, rows)
        with torch_stream(device):
            self.table.apply_gradients(to_array(ids, "ids"), to_array(rows, "grad_rows"),
                                       learning_rate=self.learning_rate, global_step=global_step,
                                       update_time=update_time, dedup=True)
        self.pending_gradients.clear()
        return int(ids.numel())
