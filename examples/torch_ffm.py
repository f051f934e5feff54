"""The FFM click demo trained from PyTorch, step for step like ``demo.train.train_step``.

One :class:`monolith_np.torch.HashEmbedding` per slot reads the same tables
that :func:`demo.build_tables` makes (same seeds, same occurrence
filter, same optimizers); torch autograd does the FFM dot products and
:func:`monolith_np.torch.get_sigmoid_loss_and_pred` the loss. The embeddings
run in ``mode="rows"`` so that their gradient rows can be clipped by their
global norm, over all slots, before the tables apply them. One step:

========================================  =============================================
numpy ``train_step``                      here
========================================  =============================================
1. ``insert`` + ``find`` per slot         ``HashEmbedding.forward`` (training mode)
2. ``reduce_sum`` per example             ``combiner="sum"`` with bag offsets
3. ``ffm_forward``                        :func:`ffm_logits` (torch ops)
4. ``get_sigmoid_loss_and_pred_and_grad`` ``mt.get_sigmoid_loss_and_pred`` (autograd op)
5. ``ffm_backward`` + ``reduce_sum_grad`` ``loss.backward()``
6. drop rows of ids without an entry      done by the backward (``pending_gradients``)
7. ``clip_by_global_norm``                :func:`clip_pending` (the same function)
8. ``MultiHashTable.apply_gradients``     ``HashEmbedding.apply_gradients`` per slot
========================================  =============================================

Run it from the repository root: ``python examples/torch_ffm.py --steps 50``
(``--help`` for the options). It reuses the numpy demo's data and tables from
the ``demo`` package beside the library.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the demo package beside the library

import monolith_np.torch as mt  # noqa: E402
from demo import DemoConfig, batch_for_step, build_tables, demo_truth, maintenance  # noqa: E402
from monolith_np.metrics import auc  # noqa: E402
from monolith_np.optim.clip import clip_by_global_norm  # noqa: E402


def ffm_logits(pooled, layout):
    """The FFM's logits from the pooled rows, in torch ops (autograd does the backward).

    Parameters
    ----------
    pooled : list of (B, layout.slot_dim(s)) float32 tensors
        Summed embedding rows of each example, one tensor per slot.
    layout : demo.FFMLayout
        Where the bias and each pair's slice sit in the rows.

    Returns
    -------
    (B,) float32 tensor
        Sum of the bias columns, then of each pair's slice dot product, in
        the order of :func:`demo.ffm_forward`.
    """
    logits = torch.zeros(pooled[0].shape[0])
    for s in layout.bias_slots:
        logits = logits + pooled[s][:, 0]
    for p, (u, v, _) in enumerate(layout.pairs):
        cu, cv = layout.columns(p)
        logits = logits + (pooled[u][:, cu] * pooled[v][:, cv]).sum(dim=1)
    return logits


class TorchFFM(torch.nn.Module):
    """The demo's FFM over the demo's tables: one summing ``HashEmbedding`` per slot.

    Parameters
    ----------
    tables : demo.DemoTables
        From :func:`demo.build_tables` (shared, not copied).
    mode : {"rows", "fused"}, default "rows"
        The embeddings' mode: ``"rows"`` queues the gradient rows (clip, then
        :meth:`apply_gradients`); ``"fused"`` applies them in the backward
        (no clipping).
    """

    def __init__(self, tables, mode="rows"):
        super().__init__()
        self.layout = tables.config.layout
        self.embeddings = torch.nn.ModuleList(
            mt.HashEmbedding(tables.tables[name], combiner="sum", mode=mode) for name in tables.names)

    def set_step(self, step, time):
        """Tell every embedding the global step and the data time (stamped on inserted/updated rows).

        Parameters
        ----------
        step : int
            The global step (learning-rate schedules; used by ``"fused"`` mode).
        time : int
            Seconds (the batch's ``time``).
        """
        for emb in self.embeddings:
            emb.global_step, emb.update_time = step, time

    def forward(self, batch):
        """Logits of a :class:`~demo.ClickBatch` (steps 1–3).

        Parameters
        ----------
        batch : demo.ClickBatch
            The examples.

        Returns
        -------
        (B,) float32 tensor
            :func:`ffm_logits` of the pooled rows.
        """
        pooled = []
        for emb, ids, lengths in zip(self.embeddings, batch.ids, batch.row_lengths):
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            pooled.append(emb(torch.from_numpy(ids), torch.from_numpy(offsets)))
        return ffm_logits(pooled, self.layout)

    def apply_gradients(self, step, time):
        """Apply every slot's queued gradient rows (step 8, ``mode="rows"``).

        Parameters
        ----------
        step : int
            The global step (each table's learning rates at this step).
        time : int
            Seconds stamped on the updated entries.
        """
        for emb in self.embeddings:
            emb.apply_gradients(global_step=step, update_time=time)


def clip_pending(model, clip_norm):
    """Clip the queued gradient rows of all slots by their global norm, in place (step 7).

    Parameters
    ----------
    model : TorchFFM
        In ``"rows"`` mode, after ``loss.backward()``.
    clip_norm : float
        The threshold.

    Returns
    -------
    float
        The global norm before clipping.
    """
    queues = [emb.pending_gradients for emb in model.embeddings]
    grads = [mt.to_array(rows) for q in queues for _, rows in q]
    clipped, norm = clip_by_global_norm(grads, clip_norm)
    it = iter(clipped)
    for q in queues:
        q[:] = [(ids, mt.to_tensor(next(it))) for ids, _ in q]
    return float(norm)


def torch_train_step(model, batch, step, clip_norm):
    """One training step in the order of ``demo.train_step``.

    Parameters
    ----------
    model : TorchFFM
        In ``"rows"`` mode; its tables change in place.
    batch : demo.ClickBatch
        The step's examples.
    step : int
        The global step.
    clip_norm : float
        Global-norm clip of the gradient rows.

    Returns
    -------
    loss : float
        Summed loss before the update.
    pred : (B,) numpy array
        Predicted click probabilities before the update.
    grad_norm : float
        Global norm of the gradient rows before clipping.
    """
    model.set_step(step, batch.time)
    logits = model(batch)                                                  # 1-3
    loss, pred = mt.get_sigmoid_loss_and_pred("ctr", logits, torch.from_numpy(batch.labels),   # 4
                                              batch.batch_size, sample_rate=batch.sample_rate)
    loss.backward()                                                        # 5-6
    norm = clip_pending(model, clip_norm)                                  # 7
    model.apply_gradients(step, batch.time)                                # 8
    return float(loss.detach()), pred.numpy(), norm


def main(argv=None):
    """Train the demo model from torch and print the loss and AUC of every step.

    Parameters
    ----------
    argv : list of str or None, default None
        Command-line arguments (None: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--ids", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = DemoConfig(steps=args.steps, batch_size=args.batch_size, num_ids=args.ids, seed=args.seed)
    tables, truth = build_tables(config), demo_truth(config)
    model = TorchFFM(tables)
    for step in range(config.steps):
        batch = batch_for_step(config, truth, step)
        maintenance(tables, step, batch.time)             # evict expired entries, as the demo's run
        loss, pred, _ = torch_train_step(model, batch, step, config.clip_norm)
        print(f"step {step:4d}  loss/example {loss / batch.batch_size:.4f}  "
              f"auc {auc(batch.labels, pred):.4f}  entries {tables.size}")


if __name__ == "__main__":
    main()
