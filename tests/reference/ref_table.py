"""References for :mod:`monolith_np.table`: dense embedding matrices with rows created on first use.

The original's ``model_comp_test`` idea: train the same ids with Monolith's
hash table and with a plain framework embedding matrix and compare lookups.

* :class:`TfDenseEmbedding`: a dense matrix updated with TensorFlow's sparse
  rules on de-duplicated rows (``tf.unique`` + ``unsorted_segment_sum``):
  ``ResourceSparseApplyAdagradV2`` / ``ResourceSparseApplyFtrl`` through
  :func:`ref_optim.tf_sparse_apply`, and for SGD a scatter-sub of
  ``lr * summed_grad`` into a ``tf.Variable``.
* :class:`TorchDenseEmbedding`: ``torch.nn.Embedding(sparse=True)`` with
  ``torch.optim.SGD`` or ``torch.optim.Adagrad`` on its sparse gradients.

Both map an id to a matrix row the first time a gradient names it, filling
the row with ``init_rows(ids)`` (the values a table entry of that id starts
from); lookups of ids never trained give zeros and create nothing, as the
table's do.
"""

from __future__ import annotations

import numpy as np

from ref_optim import tf_sparse_apply


class _RowMap:
    """id -> dense row, rows handed out in first-use order."""

    def __init__(self, capacity, dim, init_rows):
        self.row_of = {}
        self.capacity = capacity
        self.dim = dim
        self.init_rows = init_rows

    def rows(self, ids, create):
        """Rows of ``ids``; new ids get the next rows (``create``) or -1; returns (rows, new_ids, new_rows)."""
        rows = np.empty(len(ids), np.int64)
        new_ids, new_rows = [], []
        for i, key in enumerate(np.asarray(ids, np.int64).tolist()):
            r = self.row_of.get(key)
            if r is None and create:
                r = len(self.row_of)
                if r >= self.capacity:
                    raise ValueError(f"more than {self.capacity} distinct ids")
                self.row_of[key] = r
                new_ids.append(key)
                new_rows.append(r)
            rows[i] = -1 if r is None else r
        return rows, np.array(new_ids, np.int64), np.array(new_rows, np.int64)


class TfDenseEmbedding:
    """A dense ``(capacity, dim)`` float32 matrix trained with TensorFlow's sparse rules.

    Parameters
    ----------
    kind : {"sgd", "adagrad", "ftrl"}
    dim, capacity : int
    init_rows : callable
        ``init_rows(ids) -> (n, dim) float32``: the initial row of each new id.
    lr : float
    initial_accumulator_value : float
        Adagrad / FTRL accumulator start.
    l1, l2 : float
        FTRL regularisation in TensorFlow's convention (TF ``l2`` is half of
        Monolith's ``l2_regularization``).
    """

    def __init__(self, kind, dim, capacity, init_rows, lr, initial_accumulator_value=0.1, l1=0.0, l2=0.0):
        self.kind, self.lr = kind, np.float32(lr)
        self.l1, self.l2 = np.float32(l1), np.float32(l2)
        self.map = _RowMap(capacity, dim, init_rows)
        self.params = np.zeros((capacity, dim), np.float32)
        acc = np.full((capacity, dim), initial_accumulator_value, np.float32)
        self.slots = {"sgd": [], "adagrad": [acc], "ftrl": [acc, np.zeros((capacity, dim), np.float32)]}[kind]

    def lookup(self, ids):
        rows, _, _ = self.map.rows(ids, create=False)
        out = np.zeros((len(ids), self.params.shape[1]), np.float32)
        out[rows >= 0] = self.params[rows[rows >= 0]]
        return out

    def apply_gradients(self, ids, grads):
        import tensorflow as tf

        rows, new_ids, new_rows = self.map.rows(ids, create=True)
        if new_ids.size:
            self.params[new_rows] = self.map.init_rows(new_ids)
        if self.kind == "sgd":
            var = tf.Variable(self.params)
            uniq, idx = tf.unique(tf.constant(rows, tf.int64))
            summed = tf.math.unsorted_segment_sum(tf.constant(grads, tf.float32), idx, tf.shape(uniq)[0])
            var.scatter_sub(tf.IndexedSlices(self.lr * summed, uniq))
            self.params = var.numpy()
        elif self.kind == "adagrad":
            self.params, self.slots = tf_sparse_apply("ResourceSparseApplyAdagradV2", self.params, rows, grads,
                                                      self.slots, lr=self.lr, epsilon=np.float32(0.0))
        else:
            self.params, self.slots = tf_sparse_apply("ResourceSparseApplyFtrl", self.params, rows, grads,
                                                      self.slots, lr=self.lr, l1=self.l1, l2=self.l2,
                                                      lr_power=np.float32(-0.5))


class TorchDenseEmbedding:
    """``torch.nn.Embedding(sparse=True)`` trained with ``torch.optim.SGD`` or ``Adagrad`` (eps 0).

    Parameters are those of :class:`TfDenseEmbedding` (``kind`` "sgd" or "adagrad").
    """

    def __init__(self, kind, dim, capacity, init_rows, lr, initial_accumulator_value=0.1):
        import torch

        self.map = _RowMap(capacity, dim, init_rows)
        self.emb = torch.nn.Embedding(capacity, dim, sparse=True)
        with torch.no_grad():
            self.emb.weight.zero_()
        if kind == "sgd":
            self.opt = torch.optim.SGD(self.emb.parameters(), lr=lr)
        else:
            self.opt = torch.optim.Adagrad(self.emb.parameters(), lr=lr, eps=0.0,
                                           initial_accumulator_value=initial_accumulator_value)

    def lookup(self, ids):
        rows, _, _ = self.map.rows(ids, create=False)
        weight = self.emb.weight.detach().numpy()
        out = np.zeros((len(ids), weight.shape[1]), np.float32)
        out[rows >= 0] = weight[rows[rows >= 0]]
        return out

    def apply_gradients(self, ids, grads):
        import torch

        rows, new_ids, new_rows = self.map.rows(ids, create=True)
        if new_ids.size:
            with torch.no_grad():
                self.emb.weight[torch.from_numpy(new_rows)] = torch.from_numpy(self.map.init_rows(new_ids))
        self.opt.zero_grad()
        out = self.emb(torch.from_numpy(rows))
        # d(sum(out * grads))/d(out) = grads: the sparse gradient holds one row per occurrence.
        (out * torch.from_numpy(np.ascontiguousarray(grads))).sum().backward()
        self.opt.step()
