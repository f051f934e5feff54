"""Rules and CPU drivers of the learning-to-rank losses (:mod:`monolith_np.losses.ranking`).

The math is written once, as plain functions over one list (a row of the
``[B, L]`` inputs) and, for the O(L^2) losses, one item ``i`` of that list:

- :func:`item_position` / :func:`item_ideal_gain` -- the per-list
  precomputation: item ``i``'s 0-based position when the list is sorted by
  score (descending, ties by index, as ``tf.nn.top_k``) and its contribution
  to the ideal DCG (position by cleaned label).
- :func:`pair_weight` -- the weight of pair ``(i, j)`` (zero unless
  ``l_i > l_j`` and both labels are valid), with no lambda weight, a DCG,
  precision or identity lambda weight.
- :func:`pairwise_item` -- item ``i``'s share of a pairwise loss (the pairs
  where it is the better item), the number and weight sum of those pairs, and
  its gradient (pairs where it is the better item minus pairs where it is the
  worse one). No atomics are needed: every item writes only its own outputs.
- :func:`softmax_list`, :func:`list_mle_list` -- one list of the O(L) losses.
- :func:`approx_rank_item`, :func:`approx_ndcg_grad_item` -- approx-NDCG.

The CPU drivers below run ``prange`` over lists; :mod:`monolith_np.cuda.ranking`
compiles the same rules as CUDA device functions. Nothing here allocates
``O(B L^2)`` memory: per-item results are ``[B, L]``, and the host sums them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._compile import cpu_jit, jitable
from .._random import uniform01_float32

# Pairwise loss kinds.
HINGE = 0
LOGISTIC = 1
SOFT_ZERO_ONE = 2

# Lambda-weight kinds of the pairwise losses.
LAMBDA_NONE = 0
LAMBDA_DCG = 1
LAMBDA_PRECISION = 2
LAMBDA_IDENTITY = 3


# ---------------------------------------------------------------------------
# Scalar helpers.
# ---------------------------------------------------------------------------


@jitable(inline=True)
def one_like(x):
    """``1`` in the dtype of ``x`` (also for infinite ``x``; numba would promote a literal).

    ``exp(e - e)`` with ``e = exp(-|x|)`` is exactly 1 and typed like ``x``
    in compiled code and under the CUDA simulator alike (a float32 constant
    would not be: numpy demotes a Python float added to it).
    """
    e = math.exp(-abs(x))
    return math.exp(e - e)


@jitable(inline=True)
def sigmoid(x):
    """Logistic function without overflow (``exp`` of ``-|x|`` only)."""
    e = math.exp(-abs(x))
    one = math.exp(e - e)
    if x >= 0:
        return one / (one + e)
    return e / (one + e)


@jitable(inline=True)
def pair_loss(kind, x):
    """The pairwise loss of the logit difference ``x = s_i - s_j`` (``l_i > l_j``)."""
    one = one_like(x)
    zero = one - one
    if kind == HINGE:
        return max(one - x, zero)
    if kind == LOGISTIC:  # log(1 + exp(-x)), stable
        return max(-x, zero) + math.log1p(math.exp(-abs(x)))
    return sigmoid(-x)  # soft zero-one: 1 - sigmoid(x)


@jitable(inline=True)
def pair_loss_grad(kind, x):
    """d pair_loss / d x.

    Hinge: ``-1`` where ``1 - x > 0`` (TF's relu gradient is 0 at 0).
    Logistic: ``-sigmoid(-x)`` (TF's autograd gives 0 at exactly ``x == 0``
    because its ``abs`` gradient is ``sign(0) == 0``; we give the true
    derivative ``-1/2``). Soft zero-one: ``-sigmoid(x) sigmoid(-x)``.
    """
    one = one_like(x)
    zero = one - one
    if kind == HINGE:
        return -one if one - x > zero else zero
    if kind == LOGISTIC:
        return -sigmoid(-x)
    return -sigmoid(x) * sigmoid(-x)


@jitable(inline=True)
def clean_label(v):
    """Invalid (negative) labels count as 0."""
    return v if v >= 0 else v - v


# ---------------------------------------------------------------------------
# Per-list precomputation (rules).
# ---------------------------------------------------------------------------


@jitable(inline=True)
def row_min(x):
    """Minimum of a 1-D row."""
    m = x[0]
    for k in range(1, x.shape[0]):
        if x[k] < m:
            m = x[k]
    return m


@jitable(inline=True)
def item_position(i, labels, logits, pad):
    """0-based position of item ``i`` when the list is sorted by score.

    The score is the logit for valid items and ``pad`` (the row minimum minus
    ``1e-6``) for invalid ones, as the original's ``_sort_and_normalize``;
    ties are broken by index like ``tf.nn.top_k``.
    """
    si = logits[i] if labels[i] >= 0 else pad
    p = 0
    for j in range(logits.shape[0]):
        sj = logits[j] if labels[j] >= 0 else pad
        if sj > si or (sj == si and j < i):
            p += 1
    return p


@jitable(inline=True)
def item_ideal_gain(i, labels, gains, disc, cut):
    """Item ``i``'s term of the ideal DCG: ``gain_i * disc[q_i + 1]`` if ``q_i < cut``.

    ``q_i`` is the item's position when the cleaned labels are sorted in
    descending order (ties by index; tied items have equal gains, so the sum
    does not depend on the tie order).
    """
    ci = clean_label(labels[i])
    q = 0
    for j in range(labels.shape[0]):
        cj = clean_label(labels[j])
        if cj > ci or (cj == ci and j < i):
            q += 1
    if q < cut:
        return gains[i] * disc[q + 1]
    return gains[i] - gains[i]


# ---------------------------------------------------------------------------
# Pairwise losses.
# ---------------------------------------------------------------------------


@jitable(inline=True)
def pair_weight(i, j, labels, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale):
    """Weight of the ordered pair ``(i, j)``; zero unless ``l_i > l_j`` with both valid.

    ``lam`` selects the lambda weight (:data:`LAMBDA_NONE` uses ``l_i - l_j``).
    ``g`` holds the lambda weight's per-item values (the gains of the cleaned
    labels for DCG, the 0/1 positives for precision), ``pos`` the items'
    positions by score, ``disc[k]`` the rank discount of rank ``k``, ``inv``
    the list's inverse ideal DCG. ``topn_or`` is ``topn or L``; ``topn_mask``
    is ``topn`` (``-1`` for None). ``scale`` is ``L`` when the lambda weight is
    scaled up (``lambda_scale``), otherwise 1.
    """
    li = labels[i]
    lj = labels[j]
    zero = li - li
    if not (li > lj and lj >= 0):
        return zero
    wt = w[i]
    if lam == LAMBDA_NONE:
        return wt * (li - lj)
    ri = pos[i] + 1
    rj = pos[j] + 1
    if lam == LAMBDA_DCG:
        gi = g[i]
        gj = g[j]
        if normalized:
            gi = gi * inv
            gj = gj * inv
        ci = topn_or + 1 if ri > topn_or else ri
        cj = topn_or + 1 if rj > topn_or else rj
        rd = abs(ci - cj)
        u = abs(disc[rd] - disc[rd + 1]) if rd > 0 else zero
        di = zero if ri > topn_or else disc[ri]
        dj = zero if rj > topn_or else disc[rj]
        v = abs(di - dj)
        lw = abs(gi - gj) * ((one_like(li) - sf) * u + sf * v)
        if topn_mask >= 0 and not (ri <= topn_mask or rj <= topn_mask):
            lw = zero
    elif lam == LAMBDA_PRECISION:
        lw = abs(g[i] - g[j])
        if (ri <= topn_mask) == (rj <= topn_mask):
            lw = zero
    else:
        lw = one_like(li)
    return wt * lw * scale


@jitable(inline=True)
def pairwise_item(i, kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask,
                  normalized, sf, scale, none_mode, pair_out, pair_up):
    """Item ``i``'s part of a pairwise loss.

    Returns ``(loss, count, wsum, grad)``: the weighted loss of the pairs
    ``(i, j)`` where ``i`` is the better item, how many of them have a nonzero
    weight, their weight sum, and d(sum of all weighted pair losses)/d s_i.
    With ``none_mode`` the unreduced pair losses are written to
    ``pair_out[pos_i, pos_j]`` (sorted order, as the original) and the gradient
    uses the per-pair upstream ``pair_up`` (same layout) instead of 1.
    """
    si = logits[i]
    zero = one_like(si) - one_like(si)
    loss = zero
    wsum = zero
    grad = zero
    count = 0
    for j in range(logits.shape[0]):
        wij = pair_weight(i, j, labels, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale)
        if wij != 0:
            x = si - logits[j]
            v = wij * pair_loss(kind, x)
            d = wij * pair_loss_grad(kind, x)
            if none_mode:
                pair_out[pos[i], pos[j]] = v
                d = d * pair_up[pos[i], pos[j]]
            loss += v
            wsum += wij
            count += 1
            grad += d
        else:
            wji = pair_weight(j, i, labels, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale)
            if wji != 0:
                d = wji * pair_loss_grad(kind, logits[j] - si)
                if none_mode:
                    d = d * pair_up[pos[j], pos[i]]
                grad -= d
    return loss, count, wsum, grad


# ---------------------------------------------------------------------------
# List-wise losses (one list per call).
# ---------------------------------------------------------------------------


@jitable(inline=True)
def softmax_list(labels, logits, w, g, pos, disc, inv, use_lambda, normalized, pad_logit, grad):
    """Softmax cross entropy of one list.

    Targets ``t_i = w_i * c_i`` with ``c_i`` the cleaned label, or with a DCG
    lambda weight ``c_i = g_i * (inv if normalized) * disc[pos_i + 1]``.
    Invalid items take the logit ``pad_logit`` (``log(1e-10)``). Returns
    ``(ce, label_sum)``; when ``label_sum > 0`` ``grad`` receives
    d(ce * label_sum)/d logits (0 on invalid items), otherwise zeros.
    """
    n = logits.shape[0]
    zero = one_like(pad_logit) - one_like(pad_logit)
    ls = zero
    m = pad_logit
    first = True
    for k in range(n):
        if use_lambda:
            gk = g[k] * inv if normalized else g[k]
            t = gk * disc[pos[k] + 1]
        else:
            t = clean_label(labels[k])
        ls += t * w[k]
        z = logits[k] if labels[k] >= 0 else pad_logit
        if first or z > m:
            m = z
            first = False
    if not ls > 0:
        for k in range(n):
            grad[k] = zero
        return zero, ls
    se = zero
    for k in range(n):
        z = logits[k] if labels[k] >= 0 else pad_logit
        se += math.exp(z - m)
    lse = m + math.log(se)
    ce = zero
    for k in range(n):
        if use_lambda:
            gk = g[k] * inv if normalized else g[k]
            t = gk * disc[pos[k] + 1] * w[k]
        else:
            t = clean_label(labels[k]) * w[k]
        z = logits[k] if labels[k] >= 0 else pad_logit
        p = t / ls
        ce += p * (lse - z)
        if labels[k] >= 0:
            grad[k] = ls * math.exp(z - lse) - t
        else:
            grad[k] = zero
    return ce, ls


@jitable(inline=True)
def list_mle_list(labels, logits, seed, offset, use_lambda, disc, pad_logit, order, tmp, grad):
    """Negative log-likelihood (ListMLE) of one list and its gradient.

    The ground-truth permutation sorts by cleaned label (descending); ties are
    broken by a uniform draw ``u`` (counter ``offset + k``; ``-1e-6`` for
    invalid items, so they come last among their label), then by index, like
    the original's shuffle-then-sort. Invalid items keep the logit
    ``pad_logit`` and take part in the sums as in the original. The suffix
    log-sum-exp is accumulated in log space (finite for any logit spread).
    ``order`` (int) and ``tmp`` are length-L scratch; ``grad`` receives
    d nll / d logits (0 on invalid items). Returns the nll.
    """
    n = logits.shape[0]
    neg = np.float32(-1e-6)
    for i in range(n):
        ci = clean_label(labels[i])
        ri = uniform01_float32(seed, offset + np.uint64(i)) if labels[i] >= 0 else neg
        p = 0
        for j in range(n):
            cj = clean_label(labels[j])
            if cj > ci:
                p += 1
            elif cj == ci:
                rj = uniform01_float32(seed, offset + np.uint64(j)) if labels[j] >= 0 else neg
                if rj > ri or (rj == ri and j < i):
                    p += 1
        order[p] = i
    one = one_like(pad_logit)
    zero = one - one
    m = pad_logit
    first = True
    for k in range(n):
        z = logits[k] if labels[k] >= 0 else pad_logit
        if first or z > m:
            m = z
            first = False
    # Backward pass: tmp[k] = log(sum_{q >= k} exp(x_q)), x = z - m.
    nll = zero
    lse = zero
    for k in range(n - 1, -1, -1):
        it = order[k]
        x = (logits[it] if labels[it] >= 0 else pad_logit) - m
        if k == n - 1:
            lse = x
        else:
            hi = max(lse, x)
            lse = hi + math.log1p(math.exp(-abs(lse - x)))
        tmp[k] = lse
        lam = disc[k + 1] if use_lambda else one
        nll += (lse - x) * lam
    # Forward pass: B_k = sum_{q <= k} lam_q exp(lse_k - lse_q).
    acc = zero
    prev = zero
    for k in range(n):
        it = order[k]
        x = (logits[it] if labels[it] >= 0 else pad_logit) - m
        lam = disc[k + 1] if use_lambda else one
        lse = tmp[k]
        acc = (acc * math.exp(lse - prev) if k > 0 else zero) + lam
        prev = lse
        grad[it] = (math.exp(x - lse) * acc - lam) if labels[it] >= 0 else zero
    return nll


@jitable(inline=True)
def approx_score(k, labels, logits, pad):
    """Logit of item ``k`` for approx-NDCG (``pad`` = row min - 1000 when invalid)."""
    return logits[k] if labels[k] >= 0 else pad


@jitable(inline=True)
def approx_rank_item(i, labels, logits, pad, alpha):
    """Smooth rank ``0.5 + sum_j sigmoid(alpha (s_j - s_i))`` of item ``i``."""
    si = approx_score(i, labels, logits, pad)
    one = one_like(si)
    r = one / (one + one)
    for j in range(logits.shape[0]):
        r += sigmoid(alpha * (approx_score(j, labels, logits, pad) - si))
    return r


@jitable(inline=True)
def approx_ndcg_grad_item(k, labels, logits, pad, alpha, a):
    """d cost / d s_k given ``a_j = d cost / d rank_j``; 0 for invalid items."""
    sk = approx_score(k, labels, logits, pad)
    zero = one_like(sk) - one_like(sk)
    if labels[k] < 0:
        return zero
    acc = zero
    for j in range(logits.shape[0]):
        x = alpha * (sk - approx_score(j, labels, logits, pad))
        acc += sigmoid(x) * sigmoid(-x) * (a[j] - a[k])
    return alpha * acc


@jitable(inline=True)
def approx_ndcg_item_terms(r, gain, inv):
    """Item cost term ``-inv g / log1p(r)`` and ``d cost / d r``."""
    lg = math.log1p(r)
    return -inv * gain / lg, inv * gain / (lg * lg * (one_like(r) + r))


# ---------------------------------------------------------------------------
# CPU drivers (prange over lists; validate nothing, allocate nothing).
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def prep_cpu(labels, logits, gains, disc, cut, want_pos, want_ideal, eps, pos, ideal):
    """Positions by score (``pos``) and ideal-DCG terms (``ideal``) of every item."""
    B, L = labels.shape
    for b in prange(B):
        if want_pos:
            pad = row_min(logits[b]) - eps
            for i in range(L):
                pos[b, i] = item_position(i, labels[b], logits[b], pad)
        if want_ideal:
            for i in range(L):
                ideal[b, i] = item_ideal_gain(i, labels[b], gains[b], disc, cut)


@cpu_jit(parallel=True)
def pairwise_cpu(kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf,
                 scale, none_mode, pair_out, pair_up, loss, count, wsum, grad):
    """Per-item pairwise loss, nonzero-pair count, weight sum and raw gradient."""
    B, L = labels.shape
    for b in prange(B):
        po = pair_out[b] if none_mode else pair_out[0]
        pu = pair_up[b] if none_mode else pair_up[0]
        for i in range(L):
            lo, c, ws, gr = pairwise_item(i, kind, labels[b], logits[b], w[b], g[b], pos[b], disc, inv[b],
                                          lam, topn_or, topn_mask, normalized, sf, scale, none_mode, po, pu)
            loss[b, i] = lo
            count[b, i] = c
            wsum[b, i] = ws
            grad[b, i] = gr


@cpu_jit(parallel=True)
def softmax_cpu(labels, logits, w, g, pos, disc, inv, use_lambda, normalized, pad_logit, ce, ls, grad):
    """Softmax cross entropy and label sum of every list, with the raw gradient."""
    for b in prange(labels.shape[0]):
        c, s = softmax_list(labels[b], logits[b], w[b], g[b], pos[b], disc, inv[b], use_lambda, normalized,
                            pad_logit, grad[b])
        ce[b] = c
        ls[b] = s


@cpu_jit(parallel=True)
def list_mle_cpu(labels, logits, seed, use_lambda, disc, pad_logit, order, tmp, nll, grad):
    """ListMLE nll and gradient of every list."""
    B, L = labels.shape
    for b in prange(B):
        nll[b] = list_mle_list(labels[b], logits[b], seed, np.uint64(b) * np.uint64(L), use_lambda, disc,
                               pad_logit, order[b], tmp[b], grad[b])


@cpu_jit(parallel=True)
def approx_ndcg_cpu(labels, logits, gains, inv, alpha, pad_gap, want_grad, cost, a, grad):
    """Per-item approx-NDCG cost terms and (optionally) gradient of every list."""
    B, L = labels.shape
    for b in prange(B):
        pad = row_min(logits[b]) - pad_gap
        for i in range(L):
            r = approx_rank_item(i, labels[b], logits[b], pad, alpha)
            c, d = approx_ndcg_item_terms(r, gains[b, i], inv[b])
            cost[b, i] = c
            a[b, i] = d
        if want_grad:
            for i in range(L):
                grad[b, i] = approx_ndcg_grad_item(i, labels[b], logits[b], pad, alpha, a[b])


@cpu_jit(parallel=True)
def approx_ranks_cpu(zeros, logits, alpha, out):
    """``out[b, i] = 0.5 + sum_j sigmoid(alpha (s_j - s_i))``; ``zeros`` marks every item valid."""
    B, L = logits.shape
    for b in prange(B):
        for i in range(L):
            out[b, i] = approx_rank_item(i, zeros[b], logits[b], logits[b, 0], alpha)
