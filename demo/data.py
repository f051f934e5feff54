"""Synthetic click logs drawn from a hidden field-aware factorization machine.

The demo needs data with a real, learnable signal, so :func:`make_click_truth`
draws a hidden FFM of the same shape as the trained model (per-id biases and
per-id latent vectors over the same slot pairs, a smaller latent dimension)
and :func:`make_click_batch` samples examples from it:

* every example has 1 to ``max_ids_per_slot`` ids in each of the 6 slots
  (ragged, as the original ``generate_ffm_example``), drawn from a Zipf-like
  popularity law over ``num_ids`` ids per slot, so a few ids are frequent and
  most are rare (what the occurrence filter is for);
* the ids of the item slot drift with time: ``item_drift`` new ids become
  popular per step and old ones fade, so per-slot expiry has work to do;
* the label is a Bernoulli draw of ``sigmoid(true logit)``; negatives are
  then kept with probability ``negative_sample_rate`` (negative
  down-sampling), so the training model must correct its logits by
  ``-log(rate)`` to estimate the unbiased click probability.

Ids are Monolith feature ids: ``(slot << 48) | local_id``, so
:func:`monolith_np.table.slot_of` finds their slot (per-slot expiry and
occurrence thresholds key on it).

Every batch is a pure function of ``(truth, seed, step)``: step ``k`` can be
regenerated alone (the checkpoint replay and a PyTorch port rely on this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np

from monolith_np._checks import check_number
from monolith_np.features import to_fid

__all__ = [
    "BIAS_SLOTS",
    "FFM_PAIRS",
    "ITEM_SLOT",
    "NUM_SLOTS",
    "ClickBatch",
    "ClickTruth",
    "click_batches",
    "make_click_batch",
    "make_click_truth",
]

#: Slots of the model (``_NUM_SLOTS`` of Monolith's ``TestFFMModel``).
NUM_SLOTS = 6
#: ``(user slot, item slot, dim)`` of each FFM dot product, as ``_FFM_SLOT`` of the original.
FFM_PAIRS = ((0, 3, 16), (0, 4, 16), (1, 5, 16), (2, 3, 16), (2, 5, 16))
#: Slots with a bias (the original: ``has_bias = i <= NUM_SLOTS // 2``).
BIAS_SLOTS = tuple(i for i in range(NUM_SLOTS) if i <= NUM_SLOTS // 2)
#: The slot whose ids drift with time (and expire after ``item_expire_days``).
ITEM_SLOT = 5

def _slot_slices(slot):
    """Pair indices that ``slot`` takes part in, in ``FFM_PAIRS`` order."""
    return [p for p, (u, v, _) in enumerate(FFM_PAIRS) if slot in (u, v)]


@dataclass(frozen=True)
class ClickTruth:
    """The hidden model that generates the clicks (drawn by :func:`make_click_truth`).

    Parameters
    ----------
    num_ids : int
        Ids per slot.
    bias : tuple of (num_ids,) float64 arrays
        True bias of every id, one array per slot (zeros for slots without bias).
    vectors : tuple of (num_ids, n_pairs(slot), truth_dim) float64 arrays
        True latent vectors, one per (id, pair the slot takes part in).
    base_logit : float
        Added to every true logit (sets the raw click-through rate).
    zipf_exponent : float
        Popularity of rank ``r`` falls like ``(r + 1) ** -zipf_exponent`` (continuous power law).
    item_drift : int
        Item-slot ids by which popularity shifts per step.
    """

    num_ids: int
    bias: tuple
    vectors: tuple
    base_logit: float
    zipf_exponent: float
    item_drift: int

    def logits(self, local_ids, row_lengths):
        """True logits of examples given by their local ids per slot.

        Parameters
        ----------
        local_ids : sequence of (nnz_s,) int64 arrays
            Local ids (without the slot bits), one ragged array per slot.
        row_lengths : sequence of (B,) int64 arrays
            Ids per example, one array per slot.

        Returns
        -------
        (B,) float64 array
        """
        n = len(row_lengths[0])
        out = np.full(n, self.base_logit)
        pooled = []
        for s in range(NUM_SLOTS):
            starts = np.concatenate([[0], np.cumsum(row_lengths[s])[:-1]])  # every row has >= 1 id
            out += np.add.reduceat(self.bias[s][local_ids[s]], starts)
            pooled.append(np.add.reduceat(self.vectors[s][local_ids[s]], starts, axis=0))
        for p, (u, v, _) in enumerate(FFM_PAIRS):
            pu, pv = _slot_slices(u).index(p), _slot_slices(v).index(p)
            out += np.einsum("bk,bk->b", pooled[u][:, pu], pooled[v][:, pv])
        return out


def make_click_truth(num_ids, seed=0, truth_dim=4, zipf_exponent=1.05, item_drift=20, signal=1.0,
                     base_logit=-2.5):
    """Draw the hidden FFM that generates clicks.

    Parameters
    ----------
    num_ids : int
        Ids per slot (vocabulary), ``>= 2``.
    seed : int, default 0
        Seed of every draw.
    truth_dim : int, default 4
        Latent dimension of the true vectors.
    zipf_exponent : float, default 1.05
        Popularity of rank ``r`` falls like ``(r + 1) ** -zipf_exponent``.
    item_drift : int, default 20
        Item-slot ids by which popularity shifts per step.
    signal : float, default 1.0
        Scale of the true biases and vectors (0: labels are pure noise).
    base_logit : float, default -2.5
        Offset of every true logit (about a 10% raw click-through rate).

    Returns
    -------
    ClickTruth

    Raises
    ------
    ValueError, TypeError
        On out-of-range arguments.
    """
    num_ids = check_number("num_ids", num_ids, integer=True, low=2, high=1 << 40)
    seed = check_number("seed", seed, integer=True, low=0)
    truth_dim = check_number("truth_dim", truth_dim, integer=True, low=1)
    zipf_exponent = check_number("zipf_exponent", zipf_exponent, low=0.0)
    item_drift = check_number("item_drift", item_drift, integer=True, low=0)
    signal = check_number("signal", signal, low=0.0)
    base_logit = check_number("base_logit", base_logit)
    rng = np.random.default_rng([seed, 0x7EA7])
    bias, vectors = [], []
    for s in range(NUM_SLOTS):
        scale = signal if s in BIAS_SLOTS else 0.0
        bias.append(rng.normal(0.0, 0.5 * scale, num_ids) if scale else np.zeros(num_ids))
        # Pooled vectors sum ~3 ids, so the dot products of two pooled vectors
        # have a spread of about 3 * truth_dim * std**2.
        std = signal * 0.45 / np.sqrt(truth_dim)
        vectors.append(rng.normal(0.0, std, (num_ids, len(_slot_slices(s)), truth_dim)))
    return ClickTruth(num_ids, tuple(bias), tuple(vectors), float(base_logit), float(zipf_exponent),
                      int(item_drift))


def _zipf_ranks(rng, n, num_ids, exponent):
    """``n`` popularity ranks in ``[0, num_ids)``: ``floor(x) - 1`` with ``x`` of density ``~ x**-exponent`` on ``[1, num_ids + 1)``."""
    u = rng.random(n)
    top = num_ids + 1.0
    if abs(exponent - 1.0) < 1e-9:
        x = top ** u
    else:
        e = 1.0 - exponent
        x = (1.0 + u * (top ** e - 1.0)) ** (1.0 / e)
    return np.minimum(x.astype(np.int64) - 1, num_ids - 1)


class ClickBatch(NamedTuple):
    """One training batch (after negative down-sampling).

    Parameters
    ----------
    ids : tuple of (nnz_s,) int64 arrays
        Feature ids ``(slot << 48) | local_id`` of each slot, ragged: the ids
        of example ``b`` follow those of example ``b - 1``.
    row_lengths : tuple of (B,) int64 arrays
        Ids per example, one array per slot (each ``>= 1``).
    labels : (B,) float32 array
        Clicks (1.0) and non-clicks (0.0).
    sample_rate : float
        Probability with which a negative was kept (positives: all kept).
    time : int
        Data time of the batch in seconds (``step * seconds_per_step``).
    true_logits : (B,) float64 array
        Logits of the hidden model (unbiased; for the oracle AUC).
    """

    ids: tuple
    row_lengths: tuple
    labels: np.ndarray
    sample_rate: float
    time: int
    true_logits: np.ndarray

    @property
    def batch_size(self):
        """Examples in the batch."""
        return int(self.labels.shape[0])

    @property
    def num_ids(self):
        """Ids in the batch over all slots (with repeats)."""
        return int(sum(i.size for i in self.ids))


def _draw_raw(truth, rng, n, max_ids_per_slot, step):
    """``n`` raw examples: per-slot lengths, local ids, true logits and labels."""
    lengths, local = [], []
    for s in range(NUM_SLOTS):
        ln = rng.integers(1, max_ids_per_slot + 1, n)
        rank = _zipf_ranks(rng, int(ln.sum()), truth.num_ids, truth.zipf_exponent)
        if s == ITEM_SLOT:
            rank = (rank + step * truth.item_drift) % truth.num_ids
        lengths.append(ln)
        local.append(rank.astype(np.int64))
    logits = truth.logits(local, lengths)
    labels = rng.random(n) < 1.0 / (1.0 + np.exp(-logits))
    return lengths, local, logits, labels


def make_click_batch(truth, step, batch_size, seed=0, max_ids_per_slot=5, negative_sample_rate=0.25,
                     seconds_per_step=600):
    """Batch ``step`` of the click log: ``batch_size`` examples after negative down-sampling.

    Raw examples are drawn from ``truth``; every positive is kept and each
    negative with probability ``negative_sample_rate``, until ``batch_size``
    examples are kept (in draw order).

    Parameters
    ----------
    truth : ClickTruth
        The hidden model (:func:`make_click_truth`).
    step : int
        Step of the batch, ``>= 0``; with ``seed`` it fixes every draw.
    batch_size : int
        Examples, ``>= 1``.
    seed : int, default 0
        Seed of the log (independent of the truth's seed).
    max_ids_per_slot : int, default 5
        Each slot of each example has 1 to this many ids.
    negative_sample_rate : float, default 0.25
        Probability of keeping a negative, in ``(0, 1]``.
    seconds_per_step : int, default 600
        Data time between batches (the batch's ``time`` is ``step *
        seconds_per_step``).

    Returns
    -------
    ClickBatch

    Raises
    ------
    ValueError, TypeError
        On out-of-range arguments.
    """
    if not isinstance(truth, ClickTruth):
        raise TypeError(f"truth must be a ClickTruth, got {type(truth).__name__}")
    step = check_number("step", step, integer=True, low=0)
    batch_size = check_number("batch_size", batch_size, integer=True, low=1)
    seed = check_number("seed", seed, integer=True, low=0)
    max_ids_per_slot = check_number("max_ids_per_slot", max_ids_per_slot, integer=True, low=1)
    rate = check_number("negative_sample_rate", negative_sample_rate, low=0.0, high=1.0, low_open=True)
    seconds_per_step = check_number("seconds_per_step", seconds_per_step, integer=True, low=0)
    rng = np.random.default_rng([seed, step, 0xC11C])
    parts = []
    kept = 0
    while kept < batch_size:
        n = 64 + int(1.15 * (batch_size - kept) / min(1.0, rate + 0.1))
        lengths, local, logits, labels = _draw_raw(truth, rng, n, max_ids_per_slot, step)
        keep = labels | (rng.random(n) < rate)
        parts.append((lengths, local, logits, labels, keep))
        kept += int(keep.sum())
    ids, row_lengths = [[] for _ in range(NUM_SLOTS)], [[] for _ in range(NUM_SLOTS)]
    all_logits, all_labels = [], []
    need = batch_size
    for lengths, local, logits, labels, keep in parts:
        rows = np.flatnonzero(keep)[:need]
        need -= rows.size
        take = np.zeros(keep.size, bool)
        take[rows] = True
        for s in range(NUM_SLOTS):
            ids[s].append(to_fid(s, local[s][np.repeat(take, lengths[s])]))
            row_lengths[s].append(lengths[s][take])
        all_logits.append(logits[take])
        all_labels.append(labels[take])
        if need == 0:
            break
    return ClickBatch(
        ids=tuple(np.concatenate(i) for i in ids),
        row_lengths=tuple(np.concatenate(r).astype(np.int64) for r in row_lengths),
        labels=np.concatenate(all_labels).astype(np.float32),
        sample_rate=float(rate),
        time=int(step * seconds_per_step),
        true_logits=np.concatenate(all_logits),
    )


def click_batches(truth, num_steps, batch_size, seed=0, start_step=0, **kwargs) -> Iterator[ClickBatch]:
    """Yield batches ``start_step, ..., num_steps - 1`` of :func:`make_click_batch`.

    Parameters
    ----------
    truth : ClickTruth
        The hidden model.
    num_steps : int
        One past the last step.
    batch_size : int
        Examples per batch.
    seed : int, default 0
        Seed of the log.
    start_step : int, default 0
        First step.
    **kwargs : dict
        More keyword arguments of :func:`make_click_batch`.

    Yields
    ------
    ClickBatch
    """
    for step in range(start_step, num_steps):
        yield make_click_batch(truth, step, batch_size, seed=seed, **kwargs)
