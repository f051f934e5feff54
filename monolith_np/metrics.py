"""Evaluation metrics over plain arrays.

:func:`auc` is the area under the ROC curve of a batch of binary labels and
scores, the metric Monolith's click models report. It runs on the host
(CUDA inputs are copied back once).
"""

from __future__ import annotations

import numpy as np

from ._backend import to_numpy
from ._checks import check_array

__all__ = ["auc"]


def auc(labels, scores):
    """Area under the ROC curve: the probability that a random positive outscores a random negative.

    Computed from ranks (Mann-Whitney U): with ``r`` the average ranks of the
    scores (ties share their mean rank, :func:`scipy.stats.rankdata`), ``P``
    positives and ``N`` negatives,
    ``AUC = (sum of r over the positives - P (P + 1) / 2) / (P N)``; a tied
    positive-negative pair counts one half. ``O(n log n)``.

    Parameters
    ----------
    labels : (n,) array
        1 (or True) for positives, 0 for negatives; any other value is an error.
    scores : (n,) float array
        Higher means more likely positive (logits or probabilities).

    Returns
    -------
    float
        The AUC in ``[0, 1]``; NaN when there is no positive or no negative.

    Raises
    ------
    ValueError, TypeError
        On shapes that differ, non-binary labels or non-finite scores.

    Examples
    --------
    >>> from monolith_np.metrics import auc
    >>> auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    0.75
    >>> auc([1, 0], [0.5, 0.5])  # a tie counts one half
    0.5
    """
    labels = np.asarray(to_numpy(labels))
    scores = np.asarray(to_numpy(scores))
    check_array("labels", labels, ndim=1, dtype_kinds="biuf")
    check_array("scores", scores, shape=labels.shape, dtype_kinds="iuf")
    positive = labels == 1
    if not np.all(positive | (labels == 0)):
        raise ValueError(f"labels must be 0 or 1, got {np.unique(labels[~(positive | (labels == 0))])[:5].tolist()}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite, got NaN or Inf")
    num_pos = int(positive.sum())
    num_neg = labels.size - num_pos
    if num_pos == 0 or num_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[positive].sum() - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg))
