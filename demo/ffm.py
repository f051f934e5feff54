"""The FFM click model of Monolith's ``TestFFMModel``: layout, forward and backward.

Each slot ``s`` has one embedding table whose rows are laid out as

* column 0: the slot's bias, if ``s`` is in ``bias_slots`` (slots 0-3);
* then one ``dim``-wide slice for every pair of ``pairs`` that ``s`` takes
  part in, in pair order (the original adds one feature slice per
  ``add_feature_slice`` call).

An example's ids of slot ``s`` are looked up and summed (``reduce_sum``
combiner) into its pooled row ``P_s[b]``. The logit is

.. math::

    x_b = \\sum_{s \\in \\text{bias slots}} P_s[b, 0]
          + \\sum_{(u, v) \\in \\text{pairs}} \\langle P_u[b, c_{uv}], P_v[b, c_{vu}] \\rangle

where ``c_uv`` are the columns of slot ``u``'s slice for pair ``(u, v)``.
:func:`ffm_forward` computes it from the pooled rows and :func:`ffm_backward`
returns ``d loss / d P_s`` given ``d loss / d x``. Both take numpy or CuPy
arrays (vectorised array code, the same for both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monolith_np import array_module
from monolith_np._checks import check_array, check_number
from .data import BIAS_SLOTS, FFM_PAIRS, NUM_SLOTS

__all__ = ["FFMLayout", "ffm_backward", "ffm_forward"]


@dataclass(frozen=True)
class FFMLayout:
    """Where the bias and each pair's slice sit in every slot's embedding row.

    Parameters
    ----------
    dim : int, default 16
        Width of every pair slice (the original's 16). Overrides the dims of
        ``pairs``.
    num_slots : int, default 6
        Slots (tables).
    pairs : tuple of (int, int, int), default FFM_PAIRS
        ``(user slot, item slot, dim)`` of each dot product.
    bias_slots : tuple of int, default BIAS_SLOTS
        Slots with a bias column.

    Raises
    ------
    ValueError
        If a pair names a slot out of range or pairs a slot with itself.
    """

    dim: int = 16
    num_slots: int = NUM_SLOTS
    pairs: tuple = FFM_PAIRS
    bias_slots: tuple = BIAS_SLOTS

    def __post_init__(self):
        check_number("dim", self.dim, integer=True, low=1)
        for u, v, _ in self.pairs:
            if not (0 <= u < self.num_slots and 0 <= v < self.num_slots) or u == v:
                raise ValueError(f"pairs must pair two different slots in [0, {self.num_slots}), got ({u}, {v})")
        for s in self.bias_slots:
            if not 0 <= s < self.num_slots:
                raise ValueError(f"bias_slots must be in [0, {self.num_slots}), got {s}")

    def has_bias(self, slot):
        """Whether ``slot`` has a bias column (column 0).

        Parameters
        ----------
        slot : int
            The slot.

        Returns
        -------
        bool
        """
        return slot in self.bias_slots

    def pair_slices(self, slot):
        """``(pair index, column slice)`` of every pair slice of ``slot``, in pair order.

        Parameters
        ----------
        slot : int
            The slot.

        Returns
        -------
        list of (int, slice)
        """
        col = 1 if self.has_bias(slot) else 0
        out = []
        for p, (u, v, _) in enumerate(self.pairs):
            if slot in (u, v):
                out.append((p, slice(col, col + self.dim)))
                col += self.dim
        return out

    def slot_dim(self, slot):
        """Floats per row of ``slot``'s table: the bias (if any) plus one ``dim`` slice per pair.

        Parameters
        ----------
        slot : int
            The slot.

        Returns
        -------
        int
        """
        return int(self.has_bias(slot)) + self.dim * len(self.pair_slices(slot))

    def columns(self, pair):
        """Column slices ``(of the user slot, of the item slot)`` of pair ``pair``.

        Parameters
        ----------
        pair : int
            Index into :attr:`pairs`.

        Returns
        -------
        (slice, slice)
        """
        u, v, _ = self.pairs[pair]
        cu = dict(self.pair_slices(u))[pair]
        cv = dict(self.pair_slices(v))[pair]
        return cu, cv


def _check_pooled(pooled, layout):
    if not isinstance(layout, FFMLayout):
        raise TypeError(f"layout must be an FFMLayout, got {type(layout).__name__}")
    pooled = list(pooled)
    if len(pooled) != layout.num_slots:
        raise ValueError(f"pooled must have one array per slot ({layout.num_slots}), got {len(pooled)}")
    n = None
    for s, p in enumerate(pooled):
        check_array(f"pooled[{s}]", p, ndim=2, dtypes=(np.float32, np.float64))
        if p.shape[1] != layout.slot_dim(s):
            raise ValueError(f"pooled[{s}] must have {layout.slot_dim(s)} columns (layout.slot_dim({s})), "
                             f"got shape {tuple(p.shape)}")
        if n is None:
            n = p.shape[0]
        elif p.shape[0] != n:
            raise ValueError(f"pooled[{s}] must have {n} rows like pooled[0], got {p.shape[0]}")
    return pooled


def ffm_forward(pooled, layout):
    """Logits of the FFM from the pooled per-slot embeddings.

    Parameters
    ----------
    pooled : sequence of (B, layout.slot_dim(s)) float arrays
        Summed embedding rows of each example, one array per slot (numpy or
        CuPy, all the same kind and dtype).
    layout : FFMLayout
        The row layout.

    Returns
    -------
    (B,) array
        ``x = sum of the bias columns + sum over pairs of the slice dot
        products``, added in that order (biases by slot, then pairs in pair
        order), in the pooled dtype.

    Raises
    ------
    TypeError, ValueError
        On a wrong number of arrays, wrong widths or row counts.
    """
    pooled = _check_pooled(pooled, layout)
    xp = array_module(*pooled)
    logits = xp.zeros(pooled[0].shape[0], dtype=pooled[0].dtype)
    for s in layout.bias_slots:
        logits += pooled[s][:, 0]
    for p, (u, v, _) in enumerate(layout.pairs):
        cu, cv = layout.columns(p)
        logits += (pooled[u][:, cu] * pooled[v][:, cv]).sum(axis=1)
    return logits


def ffm_backward(grad_logits, pooled, layout):
    """Gradients of the loss with respect to the pooled embeddings, given its gradient at the logits.

    Parameters
    ----------
    grad_logits : (B,) float array
        ``d loss / d x``.
    pooled : sequence of (B, layout.slot_dim(s)) float arrays
        The forward's inputs.
    layout : FFMLayout
        The row layout.

    Returns
    -------
    list of (B, layout.slot_dim(s)) arrays
        ``d loss / d P_s``: ``g`` in the bias column, ``g * P_v[:, c_vu]`` in
        slot ``u``'s slice of pair ``(u, v)`` and ``g * P_u[:, c_uv]`` in slot
        ``v``'s; zeros elsewhere.

    Raises
    ------
    TypeError, ValueError
        On wrong shapes.
    """
    pooled = _check_pooled(pooled, layout)
    xp = array_module(*pooled)
    check_array("grad_logits", grad_logits, shape=(pooled[0].shape[0],), dtype_kinds="f")
    g = grad_logits.astype(pooled[0].dtype, copy=False)[:, None]
    grads = [xp.zeros_like(p) for p in pooled]
    for s in layout.bias_slots:
        grads[s][:, 0] = g[:, 0]
    for p, (u, v, _) in enumerate(layout.pairs):
        cu, cv = layout.columns(p)
        grads[u][:, cu] = g * pooled[v][:, cv]
        grads[v][:, cv] = g * pooled[u][:, cu]
    return grads
