"""The FFM click demo trained from PyTorch, step for step like ``demo.train.train_step``.

One :class:`monolith_np.torch.HashEmbeddingCollection` pools every slot
(one feature per slot, each over its table) from the same tables that
:func:`demo.build_tables` makes (same seeds, same occurrence filter, same
optimizers); torch autograd does the FFM dot products and
:func:`monolith_np.torch.get_sigmoid_loss_and_pred` the loss. The collection
runs in ``mode="rows"`` so that the gradient rows can be clipped by their
global norm, over all slots, before the tables apply them. One step:

========================================  =============================================
numpy ``train_step``                      here
========================================  =============================================
1. ``insert`` + ``find`` per slot         ``HashEmbeddingCollection.forward`` (training)
2. ``reduce_sum`` per example             ``combiner="sum"``, bag ``lengths`` per slot
3. ``ffm_forward``                        :func:`ffm_logits` (torch ops)
4. ``get_sigmoid_loss_and_pred_and_grad`` ``mt.get_sigmoid_loss_and_pred`` (autograd op)
5. ``ffm_backward`` + ``reduce_sum_grad`` ``loss.backward()``
6. drop rows of ids without an entry      done by the backward (``pending_gradients``)
7. ``clip_by_global_norm``                :func:`clip_pending` (the same function)
8. ``MultiHashTable.apply_gradients``     ``HashEmbeddingCollection.apply_gradients``
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
    """The demo's FFM over the demo's tables: one ``HashEmbeddingCollection``, a summed feature per slot.

    Parameters
    ----------
    tables : demo.DemoTables
        From :func:`demo.build_tables` (shared, not copied).
    mode : {"rows", "fused"}, default "rows"
        The collection's mode: ``"rows"`` queues the gradient rows (clip,
        then :meth:`apply_gradients`); ``"fused"`` applies them in the
        backward (no clipping).
    """

    def __init__(self, tables, mode="rows"):
        super().__init__()
        self.layout = tables.config.layout
        self.names = list(tables.names)
        self.embeddings = mt.HashEmbeddingCollection({name: tables.tables[name] for name in self.names},
                                                     {name: name for name in self.names}, combiner="sum",
                                                     mode=mode, output="dict")

    def set_step(self, step, time):
        """Tell the embeddings the global step and the data time (stamped on inserted/updated rows).

        Parameters
        ----------
        step : int
            The global step (learning-rate schedules; used by ``"fused"`` mode).
        time : int
            Seconds (the batch's ``time``).
        """
        self.embeddings.global_step, self.embeddings.update_time = step, time

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
        values = torch.from_numpy(np.concatenate(batch.ids))  # the slots one after another
        lengths = torch.from_numpy(np.concatenate(batch.row_lengths).astype(np.int64))
        pooled = self.embeddings(values, lengths=lengths)
        return ffm_logits([pooled[name] for name in self.names], self.layout)

    def apply_gradients(self, step, time):
        """Apply every slot's queued gradient rows (step 8, ``mode="rows"``).

        Parameters
        ----------
        step : int
            The global step (each table's learning rates at this step).
        time : int
            Seconds stamped on the updated entries.
        """
        self.embeddings.apply_gradients(global_step=step, update_time=time)


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
    queue = model.embeddings.pending_gradients  # (table, ids, rows), the slots in order
    clipped, norm = clip_by_global_norm([mt.to_array(rows) for _, _, rows in queue], clip_norm)
    queue[:] = [(name, ids, mt.to_tensor(rows)) for (name, ids, _), rows in zip(queue, clipped)]
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
