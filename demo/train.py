"""Training the FFM click model on monolith_np: tables, one step, checkpoints.

:func:`build_tables` makes one embedding hash table per slot (bias segment
with FTRL, vector segment with Adagrad or SGD under a ``PolynomialDecay``
rate) behind a :class:`~monolith_np.table.MultiHashTable`, with a shared
occurrence filter and a per-slot expiry. :func:`train_step` runs one step in
this order (``docs/demo.md`` spells it out for ports to other frameworks):

1. per slot: ``insert(ids, update_time=batch.time)`` (the occurrence filter
   counts each distinct new id once with its number of occurrences; admitted
   ids get their random initial rows), then ``find(ids)`` (rows, and a mask
   of the ids that have an entry; the others read zeros);
2. ``reduce_sum`` of each example's rows into pooled ``(B, slot_dim)`` rows;
3. :func:`~demo.ffm.ffm_forward` to the logits;
4. ``get_sigmoid_loss_and_pred_and_grad`` with ``sample_rate`` (summed
   sigmoid cross-entropy of the corrected logits ``x - log(rate)``; the
   prediction ``sigmoid(x)`` is the unbiased click probability);
5. :func:`~demo.ffm.ffm_backward` to the pooled rows, then
   ``reduce_sum_grad`` to one gradient row per id occurrence;
6. drop the rows of ids without an entry (filtered out: no update);
7. ``clip_by_global_norm`` over the remaining rows of all slots;
8. ``MultiHashTable.apply_gradients(..., global_step=step,
   req_time=batch.time, enable_dedup=True)``: repeated ids' rows are summed
   and each segment's rule runs once per id at its scheduled rate.

Between steps, :func:`maintenance` evicts expired entries every
``evict_every`` steps.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from monolith_np._backend import to_numpy
from monolith_np._checks import check_choice, check_number
from monolith_np.entry import (CombineAsSegment, Fp32Compressor, HashTableConfigInstance, RandomUniformInitializer,
                     ZerosInitializer)
from monolith_np.losses import get_sigmoid_loss_and_pred_and_grad
from monolith_np.optim import AdagradOptimizer, FtrlOptimizer, SgdOptimizer
from monolith_np.optim.clip import clip_by_global_norm
from monolith_np.proto import EmbeddingHashTableConfig
from monolith_np.ragged import reduce_sum, reduce_sum_grad
from monolith_np.schedules import PolynomialDecay
from monolith_np.table import EmbeddingHashTable
from monolith_np.table.filters import SlidingHashFilter, SlotOccurrenceThreshold
from monolith_np.table.multi import MultiHashTable, MultiTypeHashTable
from .data import ITEM_SLOT, ClickBatch, make_click_batch, make_click_truth
from .ffm import FFMLayout, ffm_backward, ffm_forward

__all__ = [
    "DemoConfig",
    "DemoTables",
    "StepResult",
    "batch_for_step",
    "demo_truth",
    "build_tables",
    "maintenance",
    "restore_checkpoint",
    "save_checkpoint",
    "table_config",
    "table_name",
    "train_step",
]

_UINT64 = 1 << 64


@dataclass(frozen=True)
class DemoConfig:
    """Every knob of the FFM demo (the defaults are what ``make demo`` runs).

    Parameters
    ----------
    steps : int, default 200
        Training steps (one batch each).
    batch_size : int, default 4096
        Examples per batch (after negative down-sampling).
    num_ids : int, default 100000
        Ids per slot in the synthetic log.
    dim : int, default 16
        Width of each FFM pair slice (the original's 16).
    max_ids_per_slot : int, default 5
        Each slot of an example has 1 to this many ids (the original: 5).
    optimizer : {"adagrad", "sgd"}, default "adagrad"
        Rule of the vector segments.
    learning_rate : float, default 0.05
        Initial rate of the vector segments; a ``PolynomialDecay`` to
        ``end_learning_rate`` over ``steps`` steps.
    end_learning_rate : float, default 0.01
        Final rate of the vector segments.
    bias_learning_rate : float, default 0.1
        FTRL rate of the bias segments (constant, the original's 0.1).
    init_range : float, default 0.05
        Vector rows start uniform in ``[-init_range, init_range]``.
    clip_norm : float, default 100.0
        Global-norm clip of the embedding gradients of a step.
    occurrence_threshold : int, default 2
        An id gets an entry in the first batch that finds it seen at least
        this many times in earlier batches (``SlidingHashFilter``); until
        then it reads zeros and gets no update. 0 turns the filter off.
    negative_sample_rate : float, default 0.25
        Probability of keeping a negative (the loss corrects for it).
    seconds_per_step : int, default 600
        Data time between batches.
    item_expire_days : int, default 1
        Expiry of the item slot's ids (others: 36500 days).
    evict_every : int, default 36
        Steps between evictions of expired entries (0: never).
    checkpoint_step : int or None, default None
        Step before which the tables are saved and restored into fresh ones
        (None: ``steps // 2``; negative: no check).
    check_steps : int, default 2
        Steps replayed on the restored tables and compared bit for bit.
    auc_threshold : float, default 0.7
        Final AUC needed for exit code 0.
    seed : int, default 0
        Seed of the data, the hidden model and the table initializers.
    signal : float, default 1.0
        Scale of the hidden model (0: labels are noise).
    device : {"cpu", "cuda"}, default "cpu"
        Where the tables live (``"cuda"`` needs CuPy and a GPU).
    """

    steps: int = 200
    batch_size: int = 4096
    num_ids: int = 100_000
    dim: int = 16
    max_ids_per_slot: int = 5
    optimizer: str = "adagrad"
    learning_rate: float = 0.05
    end_learning_rate: float = 0.01
    bias_learning_rate: float = 0.1
    init_range: float = 0.05
    clip_norm: float = 100.0
    occurrence_threshold: int = 2
    negative_sample_rate: float = 0.25
    seconds_per_step: int = 600
    item_expire_days: int = 1
    evict_every: int = 36
    checkpoint_step: int | None = None
    check_steps: int = 2
    auc_threshold: float = 0.7
    seed: int = 0
    signal: float = 1.0
    device: str = "cpu"
    layout: FFMLayout = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        check_number("steps", self.steps, integer=True, low=1)
        check_number("batch_size", self.batch_size, integer=True, low=1)
        check_number("num_ids", self.num_ids, integer=True, low=2, high=1 << 40)
        check_number("dim", self.dim, integer=True, low=1)
        check_number("max_ids_per_slot", self.max_ids_per_slot, integer=True, low=1)
        check_choice("optimizer", self.optimizer, ("adagrad", "sgd"))
        for name in ("learning_rate", "end_learning_rate", "bias_learning_rate", "init_range", "clip_norm"):
            check_number(name, getattr(self, name), low=0.0)
        check_number("occurrence_threshold", self.occurrence_threshold, integer=True, low=0)
        check_number("negative_sample_rate", self.negative_sample_rate, low=0.0, high=1.0, low_open=True)
        check_number("seconds_per_step", self.seconds_per_step, integer=True, low=0)
        check_number("item_expire_days", self.item_expire_days, integer=True, low=0, high=2**32 - 1)
        check_number("evict_every", self.evict_every, integer=True, low=0)
        check_number("checkpoint_step", self.checkpoint_step, integer=True, allow_none=True)
        check_number("check_steps", self.check_steps, integer=True, low=1)
        check_number("auc_threshold", self.auc_threshold)
        check_number("seed", self.seed, integer=True, low=0, high=2**63 - 1)
        check_number("signal", self.signal, low=0.0)
        check_choice("device", self.device, ("cpu", "cuda"))
        object.__setattr__(self, "layout", FFMLayout(dim=self.dim))

    @property
    def effective_checkpoint_step(self):
        """The step of the checkpoint check, or None when there is none."""
        step = self.steps // 2 if self.checkpoint_step is None else self.checkpoint_step
        return step if 0 < step < self.steps else None


def table_name(slot):
    """Name of slot ``slot``'s table (and its checkpoint directory): ``"slot_<slot>"``.

    Parameters
    ----------
    slot : int
        The slot.

    Returns
    -------
    str
    """
    return f"slot_{slot}"


def table_config(slot, config):
    """The table config of one slot: bias segment (FTRL) and vector segment (Adagrad/SGD), with expiry.

    Parameters
    ----------
    slot : int
        The slot.
    config : DemoConfig
        The demo's settings.

    Returns
    -------
    HashTableConfigInstance
        Segments ``[bias (1 float, zeros, FTRL)]`` (slots with a bias) then
        ``vector (dim * pairs floats, random uniform, Adagrad or SGD)``, fp32;
        learning-rate functions ``[bias_learning_rate]`` then a
        ``PolynomialDecay(learning_rate, steps, end_learning_rate)``; the item
        slot's ids expire after ``item_expire_days`` days.
    """
    layout = config.layout
    proto = EmbeddingHashTableConfig()
    proto.cuckoo.SetInParent()
    fns = []
    if layout.has_bias(slot):
        ftrl = FtrlOptimizer(learning_rate=config.bias_learning_rate, initial_accumulator_value=1e-6, beta=1.0)
        proto.entry_config.segments.append(CombineAsSegment(1, ZerosInitializer(), ftrl, Fp32Compressor()))
        fns.append(float(config.bias_learning_rate))
    if config.optimizer == "adagrad":
        opt = AdagradOptimizer(learning_rate=config.learning_rate, initial_accumulator_value=0.1)
    else:
        opt = SgdOptimizer(learning_rate=config.learning_rate)
    width = layout.slot_dim(slot) - int(layout.has_bias(slot))
    init = RandomUniformInitializer(-config.init_range, config.init_range)
    proto.entry_config.segments.append(CombineAsSegment(width, init, opt, Fp32Compressor()))
    fns.append(PolynomialDecay(config.learning_rate, config.steps, config.end_learning_rate))
    expire = proto.slot_expire_time_config.slot_expire_times.add()
    expire.slot = ITEM_SLOT
    expire.expire_time = config.item_expire_days
    return HashTableConfigInstance(proto, fns)


class DemoTables(NamedTuple):
    """The model's state: the per-slot tables and their shared occurrence filter.

    Parameters
    ----------
    tables : MultiHashTable or MultiTypeHashTable
        One table per slot, named by :func:`table_name`.
    hash_filter : SlidingHashFilter or None
        The occurrence filter (None when ``occurrence_threshold`` is 0).
    config : DemoConfig
        The settings they were built from.
    """

    tables: object
    hash_filter: object
    config: DemoConfig

    @property
    def names(self):
        """Table names in slot order."""
        return [table_name(s) for s in range(self.config.layout.num_slots)]

    @property
    def size(self):
        """Entries over all tables."""
        return sum(self.tables[n].size for n in self.names)


def _table_seed(seed, name):
    """The seed ``MultiHashTable`` gives table ``name``: ``seed`` plus the MD5 of the name."""
    return (seed + int.from_bytes(hashlib.md5(name.encode()).digest()[:8], "little")) % _UINT64


def build_tables(config):
    """Fresh tables and occurrence filter for ``config`` (deterministic: seeded by ``config.seed``).

    Parameters
    ----------
    config : DemoConfig
        The settings.

    Returns
    -------
    DemoTables

    Notes
    -----
    On the CPU the tables are a :class:`~monolith_np.table.MultiHashTable`.
    ``MultiHashTable`` has no ``device`` argument, so for ``device="cuda"`` a
    :class:`~monolith_np.table.MultiTypeHashTable` builds the same tables
    (same per-table seeds) on the GPU.
    """
    if not isinstance(config, DemoConfig):
        raise TypeError(f"config must be a DemoConfig, got {type(config).__name__}")
    names = [table_name(s) for s in range(config.layout.num_slots)]
    configs = [table_config(s, config) for s in range(config.layout.num_slots)]
    hash_filter = None
    if config.occurrence_threshold > 0:
        hash_filter = SlidingHashFilter(
            capacity=max(300, 2 * config.layout.num_slots * config.num_ids), split_num=7,
            config=SlotOccurrenceThreshold(default_occurrence_threshold=config.occurrence_threshold))
    if config.device == "cpu":
        tables = MultiHashTable(names, configs, hash_filter=hash_filter, seed=config.seed)
    else:
        def factory(name, cfg):
            return EmbeddingHashTable(cfg, occurrence_filter=hash_filter, seed=_table_seed(config.seed, name),
                                      device="cuda")

        tables = MultiTypeHashTable(dict(zip(names, configs)), hash_table_factory=factory)
    return DemoTables(tables, hash_filter, config)


class StepResult(NamedTuple):
    """What one :func:`train_step` returns.

    Parameters
    ----------
    loss : float
        Summed sigmoid cross-entropy of the batch (before the update).
    pred : (B,) float32 numpy array
        Predicted click probabilities ``sigmoid(logits)`` (before the update).
    logits : (B,) float32 numpy array
        The model's logits (uncorrected).
    grad_norm : float
        Global norm of the gradient rows before clipping.
    learning_rate : float
        Rate of the vector segments at this step.
    num_ids : int
        Ids looked up (with repeats).
    num_updated : int
        Id occurrences that had an entry and were updated.
    """

    loss: float
    pred: np.ndarray
    logits: np.ndarray
    grad_norm: float
    learning_rate: float
    num_ids: int
    num_updated: int


def train_step(tables, batch, step):
    """One training step: lookup (+ insert) → forward → loss → backward → clip → ``apply_gradients``.

    Parameters
    ----------
    tables : DemoTables
        The model, changed in place.
    batch : ClickBatch
        The step's examples.
    step : int
        The global step (learning-rate schedule), ``>= 0``.

    Returns
    -------
    StepResult

    Raises
    ------
    TypeError, ValueError
        On a batch of the wrong shape.
    """
    if not isinstance(tables, DemoTables):
        raise TypeError(f"tables must be DemoTables, got {type(tables).__name__}")
    if not isinstance(batch, ClickBatch):
        raise TypeError(f"batch must be a ClickBatch, got {type(batch).__name__}")
    step = check_number("step", step, integer=True, low=0)
    config, multi, layout = tables.config, tables.tables, tables.config.layout
    if len(batch.ids) != layout.num_slots:
        raise ValueError(f"batch.ids must have one array per slot ({layout.num_slots}), got {len(batch.ids)}")
    names = tables.names
    pooled, found, lengths = [], [], []
    for s, name in enumerate(names):
        table = multi[name]
        table.insert(batch.ids[s], update_time=batch.time)             # 1. filter + create
        rows, hit = table.find(batch.ids[s])                             # 1. rows (zeros if absent)
        xp = np if isinstance(rows, np.ndarray) else _cupy()
        rl = xp.asarray(batch.row_lengths[s])
        pooled.append(reduce_sum(rows, row_lengths=rl))                 # 2. pool per example
        found.append(hit)
        lengths.append(rl)
    logits = ffm_forward(pooled, layout)                                 # 3.
    labels = xp.asarray(batch.labels)
    loss, pred, grad_logits = get_sigmoid_loss_and_pred_and_grad(      # 4.
        "ctr", logits, labels, batch.batch_size, sample_rate=batch.sample_rate)
    grad_pooled = ffm_backward(grad_logits, pooled, layout)              # 5.
    ids, grads = [], []
    for s in range(layout.num_slots):
        rows_grad = reduce_sum_grad(grad_pooled[s], row_lengths=lengths[s])
        hit = found[s]
        ids.append(batch.ids[s][to_numpy(hit)])                          # 6. filtered ids: no update
        grads.append(xp.ascontiguousarray(rows_grad[hit]))
    clipped, norm = clip_by_global_norm(grads, config.clip_norm)        # 7.
    multi.apply_gradients({name: (i, g) for name, i, g in zip(names, ids, clipped)},   # 8.
                          global_step=step, req_time=batch.time, enable_dedup=True)
    lr = PolynomialDecay(config.learning_rate, config.steps, config.end_learning_rate)(step)
    return StepResult(loss=float(loss), pred=to_numpy(pred), logits=to_numpy(logits), grad_norm=float(norm),
                      learning_rate=float(lr), num_ids=batch.num_ids, num_updated=int(sum(i.size for i in ids)))


def _cupy():
    from monolith_np._backend import get_cupy

    return get_cupy()


def maintenance(tables, step, now):
    """Evict expired entries every ``config.evict_every`` steps (before step ``step`` runs).

    Parameters
    ----------
    tables : DemoTables
        The model.
    step : int
        The step about to run.
    now : int
        Data time in seconds (the batch's ``time``).

    Returns
    -------
    int
        Entries evicted (0 when this is not an eviction step).
    """
    every = tables.config.evict_every
    if every <= 0 or step == 0 or step % every:
        return 0
    return sum(tables.tables[name].evict(now) for name in tables.names)


def save_checkpoint(tables, path):
    """Save the tables (Monolith ``EntryDump`` files) and the filter state under the directory ``path``.

    Expired entries are evicted first (each table against its own latest
    update time), so what is saved is exactly what is in memory.

    Parameters
    ----------
    tables : DemoTables
        The model.
    path : str or os.PathLike
        A fresh directory (created).

    Returns
    -------
    dict of str to int
        Entries written per table.
    """
    path = os.fspath(path)
    for name in tables.names:
        table = tables.tables[name]
        table.evict(table.max_update_ts)
    written = tables.tables.save(os.path.join(path, "tables"))
    if tables.hash_filter is not None:
        np.savez(os.path.join(path, "hash_filter.npz"), **tables.hash_filter.state_dict())
    return written


def restore_checkpoint(tables, path):
    """Restore :func:`save_checkpoint`'s files into (fresh) tables.

    Parameters
    ----------
    tables : DemoTables
        Built by :func:`build_tables` with the same config; changed in place.
    path : str or os.PathLike
        The directory given to :func:`save_checkpoint`.

    Returns
    -------
    dict of str to int
        Entries restored per table.
    """
    path = os.fspath(path)
    restored = tables.tables.restore(os.path.join(path, "tables"))
    if tables.hash_filter is not None:
        with np.load(os.path.join(path, "hash_filter.npz")) as data:
            state = {k: (data[k].item() if data[k].ndim == 0 else data[k]) for k in data.files}
        tables.hash_filter.load_state_dict(state)
    return restored


def batch_for_step(config, truth, step):
    """Batch ``step`` of the demo's click log (a pure function of the config, the truth and the step).

    Parameters
    ----------
    config : DemoConfig
        The settings.
    truth : ClickTruth
        The hidden model (``make_click_truth(config.num_ids, seed=config.seed,
        signal=config.signal)``).
    step : int
        The step.

    Returns
    -------
    ClickBatch
    """
    return make_click_batch(truth, step, config.batch_size, seed=config.seed,
                            max_ids_per_slot=config.max_ids_per_slot,
                            negative_sample_rate=config.negative_sample_rate,
                            seconds_per_step=config.seconds_per_step)


def demo_truth(config):
    """The hidden click model of ``config`` (see :func:`batch_for_step`).

    Parameters
    ----------
    config : DemoConfig
        Its ``num_ids``, ``seed`` and ``signal`` define the model.

    Returns
    -------
    ClickTruth
    """
    return make_click_truth(config.num_ids, seed=config.seed, signal=config.signal)
