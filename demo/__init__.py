"""The FFM click-through demo: Monolith's ``TestFFMModel`` trained on monolith_np.

This package lives beside the library, not in it: the wheel does not ship it.
``make demo`` (``python -m demo ffm``) runs :func:`run_demo`; ``python -m demo
tour`` is a short tour of the library with plots. The pieces are
reusable, so other front ends (a PyTorch port, say) can follow the same
steps on the same data:

* :mod:`demo.data` -- the synthetic click log
  (:func:`make_click_truth`, :func:`make_click_batch`, :func:`click_batches`);
* :mod:`demo.ffm` -- the row layout, forward and backward of the
  FFM (:class:`FFMLayout`, :func:`ffm_forward`, :func:`ffm_backward`);
* :mod:`demo.train` -- tables from a config (:func:`build_tables`),
  one training step (:func:`train_step`), eviction, checkpoints;
* :mod:`demo.run` -- the whole run with its report and plot.

See ``docs/demo.md``. Importing this package imports neither matplotlib nor
tqdm (the run does, when it needs them).
"""

from .data import (BIAS_SLOTS, FFM_PAIRS, ITEM_SLOT, NUM_SLOTS, ClickBatch, ClickTruth, click_batches,
                   make_click_batch, make_click_truth)
from .ffm import FFMLayout, ffm_backward, ffm_forward
from .run import DemoResult, run_demo
from .train import (DemoConfig, DemoTables, StepResult, batch_for_step, build_tables, demo_truth, maintenance,
                    restore_checkpoint, save_checkpoint, table_config, table_name, train_step)

__all__ = [
    "BIAS_SLOTS", "FFM_PAIRS", "ITEM_SLOT", "NUM_SLOTS", "ClickBatch", "ClickTruth", "click_batches",
    "make_click_batch", "make_click_truth",
    "FFMLayout", "ffm_backward", "ffm_forward",
    "DemoResult", "run_demo",
    "DemoConfig", "DemoTables", "StepResult", "batch_for_step", "build_tables", "demo_truth", "maintenance",
    "restore_checkpoint", "save_checkpoint", "table_config", "table_name", "train_step",
]
