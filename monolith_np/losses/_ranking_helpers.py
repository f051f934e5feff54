"""Helpers of the original ``ltr_losses.py`` (sorting, valid-item indices, approximate ranks, batching).

Re-exported by :mod:`monolith_np.losses.ranking`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _random
from .._backend import array_module, asarray
from .._checks import check_array, check_number, check_seed
from .._compile import run_cpu
from .._dispatch import gpu_drivers
from ._ranking_cpu import approx_ranks_cpu

_DTYPES = (np.float32, np.float64)


def label_valid_fn(labels):
    """Return which labels are valid (``>= 0``).

    Parameters
    ----------
    labels : array
        Labels of any shape.

    Returns
    -------
    bool array
        ``labels >= 0``.

    Raises
    ------
    TypeError
        If ``labels`` is not a real (integer or floating-point) array.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import label_valid_fn
    >>> label_valid_fn(np.array([[2.0, 0.0, -1.0]])).tolist()
    [[True, True, False]]
    """
    xp = array_module(labels=labels)
    return check_array("labels", asarray(labels, xp), dtype_kinds="fiu") >= 0


def _argsort_desc(xp, x):
    """Stable descending order (ties by index), like ``tf.nn.top_k``."""
    if xp is np:
        return np.argsort(-x, axis=1, kind="stable")
    return xp.argsort(-x, axis=1)


def sort_by_scores(scores, features_list, topn=None):
    """Sort features of each list by descending score (ties by index, like ``tf.nn.top_k``).

    Parameters
    ----------
    scores : (B, L) array
        Per-item scores.
    features_list : list of (B, L) arrays
        Arrays to reorder.
    topn : int or None, default None
        Keep the first ``min(topn, L)`` items.

    Returns
    -------
    list of (B, min(topn, L)) arrays
        The sorted features.

    Raises
    ------
    TypeError
        If ``scores`` is not a real array.
    ValueError
        If ``scores`` is not 2-D or a feature has another shape.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import sort_by_scores
    >>> scores = np.array([[0.1, 0.9, 0.5]])
    >>> ids, labels = sort_by_scores(scores, [np.array([[1, 2, 3]]), np.array([[0.0, 2.0, 1.0]])])
    >>> ids.tolist(), labels.tolist()
    ([[2, 3, 1]], [[2.0, 1.0, 0.0]])
    >>> sort_by_scores(scores, [np.array([[1, 2, 3]])], topn=2)[0].tolist()
    [[2, 3]]
    """
    xp = array_module(scores=scores)
    scores = check_array("scores", asarray(scores, xp), ndim=2, dtype_kinds="fiu")
    topn = check_number("topn", topn, integer=True, low=0, allow_none=True)
    L = scores.shape[1]
    n = L if topn is None else min(topn, L)
    idx = _argsort_desc(xp, scores)[:, :n]
    out = []
    for k, f in enumerate(features_list):
        f = check_array(f"features_list[{k}]", asarray(f, xp), shape=tuple(scores.shape))
        out.append(xp.take_along_axis(f, idx, axis=1))
    return out


def organize_valid_indices(is_valid, shuffle=True, seed=None):
    """Indices that put the valid items of each list first.

    Parameters
    ----------
    is_valid : (B, L) bool array
        Item validity.
    shuffle : bool, default True
        Shuffle the valid items (counter-based uniforms keyed by ``seed``;
        TF's random stream cannot be reproduced). Without it, the valid items
        keep their order and the invalid ones follow, also in index order
        (they tie, and ties go by index), as in the original.
    seed : int or None, default None
        Seed of the uniforms, ``0 <= seed < 2**64``; None draws one.

    Returns
    -------
    (B, L, 2) int32 array
        ``[b, k] = (b, index of the k-th item)``, for ``gather_nd``-style use.

    Raises
    ------
    ValueError
        If ``is_valid`` is not 2-D.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import organize_valid_indices
    >>> is_valid = np.array([[False, True, False, True]])
    >>> idx = organize_valid_indices(is_valid, shuffle=False)
    >>> idx.shape, idx.dtype
    ((1, 4, 2), dtype('int32'))
    >>> idx[0].tolist()  # (list, item) pairs: the valid items 1 and 3 first
    [[0, 1], [0, 3], [0, 0], [0, 2]]
    >>> shuffled = organize_valid_indices(is_valid, seed=0)[..., 1]
    >>> sorted(shuffled[0, :2].tolist()), sorted(shuffled[0, 2:].tolist())
    ([1, 3], [0, 2])
    """
    xp = array_module(is_valid=is_valid)
    is_valid = check_array("is_valid", asarray(is_valid, xp), ndim=2, dtype_kinds="biu")
    B, L = is_valid.shape
    if shuffle:
        s = check_seed(seed)
        counters = np.arange(B * L, dtype=np.uint64)
        with np.errstate(over="ignore"):
            values = np.asarray(_random.uniform01_float32(s, counters), np.float32).reshape(B, L)
        values = xp.asarray(values)
    else:
        values = xp.broadcast_to(xp.arange(L - 1, -1, -1).astype(np.float32), (B, L))
    rand = xp.where(is_valid.astype(bool), values, np.float32(-1e-6)).astype(np.float32)
    idx = _argsort_desc(xp, rand).astype(np.int32)
    batch = xp.broadcast_to(xp.arange(B, dtype=np.int32)[:, None], (B, L))
    return xp.stack([batch, idx], axis=2)


def shuffle_valid_indices(is_valid, seed=None):
    """Shuffled indices with the valid items first: ``organize_valid_indices(is_valid, True, seed)``.

    Parameters
    ----------
    is_valid : (B, L) bool array
        Item validity.
    seed : int or None, default None
        Seed of the uniforms.

    Returns
    -------
    (B, L, 2) int32 array

    Examples
    --------
    The valid items come first, in an order fixed by ``seed``:

    >>> import numpy as np
    >>> from monolith_np.losses import shuffle_valid_indices
    >>> is_valid = np.array([[True, True, True, False]])
    >>> idx = shuffle_valid_indices(is_valid, seed=0)
    >>> idx[0, :, 1].tolist()
    [2, 1, 0, 3]
    >>> np.array_equal(idx, shuffle_valid_indices(is_valid, seed=0))
    True
    """
    return organize_valid_indices(is_valid, shuffle=True, seed=seed)


def reshape_first_ndims(tensor, first_ndims, new_shape):
    """Reshape the first ``first_ndims`` dimensions of ``tensor`` to ``new_shape``.

    Parameters
    ----------
    tensor : array
        The input.
    first_ndims : int
        How many leading dimensions to replace.
    new_shape : sequence of int
        Their new shape.

    Returns
    -------
    array
        ``tensor.reshape(new_shape + tensor.shape[first_ndims:])``.

    Raises
    ------
    TypeError
        If ``first_ndims`` is not an integer or ``new_shape`` not a sequence of integers.
    ValueError
        If ``tensor`` has fewer than ``first_ndims`` dimensions, or ``new_shape``
        holds another number of elements than those dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import reshape_first_ndims
    >>> reshape_first_ndims(np.zeros((6, 4)), 1, [2, 3]).shape
    (2, 3, 4)
    >>> reshape_first_ndims(np.zeros((2, 3, 4)), 2, [6]).shape
    (6, 4)
    """
    xp = array_module(tensor=tensor)
    tensor = asarray(tensor, xp)
    first_ndims = check_number("first_ndims", first_ndims, integer=True, low=0)
    if tensor.ndim < first_ndims:
        raise ValueError(f"tensor must have at least first_ndims={first_ndims} dimensions, "
                         f"got shape {tuple(tensor.shape)}")
    if not isinstance(new_shape, (tuple, list)):
        raise TypeError(f"new_shape must be a sequence of integers, got {type(new_shape).__name__}")
    new_shape = tuple(check_number(f"new_shape[{i}]", d, integer=True, low=0) for i, d in enumerate(new_shape))
    lead = tuple(tensor.shape[:first_ndims])
    if math.prod(new_shape) != math.prod(lead):
        raise ValueError(f"new_shape must hold the {math.prod(lead)} elements of the first {first_ndims} "
                         f"dimensions {lead}, got {new_shape}")
    return tensor.reshape(new_shape + tuple(tensor.shape[first_ndims:]))


def approx_ranks(logits, alpha=10.):
    """Smooth ranks ``0.5 + sum_j sigmoid(alpha (s_j - s_i))`` of every item (Qin et al.).

    Parameters
    ----------
    logits : (B, L) float32 or float64 array
        Scores.
    alpha : float, default 10.0
        Slope of the sigmoid.

    Returns
    -------
    (B, L) array
        Approximate 1-based ranks. Computed without ``B * L * L`` memory.

    Raises
    ------
    TypeError, ValueError
        If ``logits`` is not a 2-D float array.

    Examples
    --------
    Close scores get close, non-integer ranks; a large ``alpha`` gives the
    exact ranks:

    >>> import numpy as np
    >>> from monolith_np.losses import approx_ranks
    >>> logits = np.array([[1.0, 0.9, -1.0]])
    >>> approx_ranks(logits).round(4).tolist()
    [[1.2689, 1.7311, 3.0]]
    >>> approx_ranks(logits, alpha=1000.0).tolist()
    [[1.0, 2.0, 3.0]]
    """
    xp = array_module(logits=logits)
    logits = xp.ascontiguousarray(check_array("logits", asarray(logits, xp), ndim=2, dtypes=_DTYPES))
    alpha = check_number("alpha", alpha)
    out = xp.zeros(logits.shape, logits.dtype)
    if logits.size:
        args = (xp.zeros_like(logits), logits, logits.dtype.type(alpha), logits.dtype.type(1),
                xp.empty(logits.shape, np.float64), out)
        if xp is np:
            run_cpu(approx_ranks_cpu, logits.size * logits.shape[1], *args)
        else:
            gpu_drivers().ranking.approx_ranks_gpu(*args)
    return out


def get_batch_idx_size(logits, labels, rank_id, name_prefix):
    """Group a flat batch into lists by ``rank_id`` (host, numpy).

    Parameters
    ----------
    logits : (N,) array
        Flat scores.
    labels : (N,) array
        Flat labels.
    rank_id : (N,) array
        List id of each example; lists are numbered by first appearance.
    name_prefix : str
        Ignored (TF op names).

    Returns
    -------
    tuple
        ``(logits_idx, label_idx, mask_idx, unique_idx)``: ``[U, max_count]``
        scattered logits and labels (labels minus ``1e-6``, so empty slots
        are ``-1e-6``, i.e. invalid), an ``[N, N]`` mask with ones at the
        scatter positions, and the index of the first example of each list.

    Examples
    --------
    Two lists, id 7 (examples 0, 2, 3) and id 3 (example 1):

    >>> import numpy as np
    >>> from monolith_np.losses import get_batch_idx_size
    >>> logits = np.array([0.5, 0.1, 0.7, 0.3])
    >>> labels = np.array([2.0, 1.0, 1.0, 3.0])
    >>> rank_id = np.array([7, 3, 7, 7])
    >>> logits_idx, label_idx, mask_idx, unique_idx = get_batch_idx_size(logits, labels, rank_id, "ctr")
    >>> logits_idx.tolist()
    [[0.5, 0.7, 0.3], [0.1, 0.0, 0.0]]
    >>> (label_idx >= 0).tolist()  # the empty slots are invalid (so would a label 0 be)
    [[True, True, True], [True, False, False]]
    >>> mask_idx.shape, unique_idx.tolist()
    ((4, 4), [0, 1])
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    rank_id = np.asarray(rank_id)
    n = logits.shape[0]
    _, first, inverse, counts = np.unique(rank_id, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # unique ids in order of first appearance
    remap = np.empty_like(order)
    remap[order] = np.arange(order.size)
    row = remap[inverse.reshape(-1)]
    counts = counts[order]
    col = np.zeros(n, np.int64)
    seen = np.zeros(order.size, np.int64)
    for k in range(n):
        col[k] = seen[row[k]]
        seen[row[k]] += 1
    shape = (order.size, int(counts.max()) if n else 0)
    logits_idx = np.zeros(shape, logits.dtype)
    logits_idx[row, col] = logits
    label_idx = np.zeros(shape, labels.dtype)
    label_idx[row, col] = labels
    label_idx = label_idx - labels.dtype.type(1e-6) if labels.dtype.kind == "f" else label_idx - 1e-6
    mask_idx = np.zeros((n, n), logits.dtype)
    mask_idx[row, col] = 1
    unique_idx = np.sort(first)
    return logits_idx, label_idx, mask_idx, unique_idx.astype(np.int64)
