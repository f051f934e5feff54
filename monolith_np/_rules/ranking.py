"""Rules of the learning-to-rank losses (:mod:`monolith_np.losses.ranking`).

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
  :func:`pairwise_list` produces the same per-item results for a whole list,
  visiting each unordered pair once (the CPU drivers' form).
- :func:`softmax_list`, :func:`list_mle_list` -- one list of the O(L) losses
  (:func:`list_mle_position` gives ListMLE's ground-truth permutation).
- :func:`approx_rank_item`, :func:`approx_ndcg_grad_item` -- approx-NDCG
  (sigmoids as ratios of the list's exponentials, :func:`approx_exp`);
  :func:`approx_ranks_list` and :func:`approx_ndcg_grad_list` are their
  whole-list CPU forms (each unordered pair once, SIMD pair loops).

The CPU drivers (:mod:`monolith_np.losses._ranking_cpu`) run ``prange`` over
lists; :mod:`monolith_np.cuda.ranking` compiles the same rules as CUDA device
functions. Nothing here allocates ``O(B L^2)`` memory: per-item results are
``[B, L]``, and the host sums them.
"""

from __future__ import annotations

import math

import numpy as np

from .._compile import jitable
from .._random import uniform01_float32
from . import vmath
from .reduce import as_type_of, lane_sum

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
def sigmoid_pair(x, one):
    """``(sigmoid(x), sigmoid(-x), exp(-|x|))`` from that one ``exp`` (no overflow).

    Branch-free (the sign picks by selects; ``exp`` is :func:`.vmath.exp`),
    so a loop over pairs that calls it runs on SIMD registers. ``one`` is 1
    in the dtype of the computation, passed in by the drivers: a literal
    would be typed float64 by numba, and a float32 constant would be demoted
    by numpy under the CUDA simulator.
    """
    e = vmath.exp(-abs(x))
    r = one / (one + e)
    er = e * r
    return (r if x >= one - one else er), (er if x >= one - one else r), e


@jitable(inline=True)
def pair_loss_and_grad(kind, x, one):
    """The pairwise loss of the logit difference ``x = s_i - s_j`` (``l_i > l_j``) and its derivative.

    Hinge ``max(0, 1 - x)``, derivative ``-1`` where ``1 - x > 0`` (TF's relu
    gradient is 0 at 0). Logistic ``log(1 + exp(-x))`` (computed stably),
    derivative ``-sigmoid(-x)`` (TF's autograd gives 0 at exactly ``x == 0``
    because its ``abs`` gradient is ``sign(0) == 0``; we give the true
    ``-1/2``). Soft zero-one ``1 - sigmoid(x)``, derivative
    ``-sigmoid(x) sigmoid(-x)``. One ``exp`` per pair.
    """
    zero = one - one
    if kind == HINGE:
        return max(one - x, zero), (-one if one - x > zero else zero)
    sp, sn, e = sigmoid_pair(x, one)
    if kind == LOGISTIC:
        return max(-x, zero) + vmath.log1p_unit(e), -sn
    return sn, -sp * sn


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
def pair_weight(i, j, labels, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale, one):
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
        lw = abs(gi - gj) * ((one - sf) * u + sf * v)
        if topn_mask >= 0 and not (ri <= topn_mask or rj <= topn_mask):
            lw = zero
    elif lam == LAMBDA_PRECISION:
        lw = abs(g[i] - g[j])
        if (ri <= topn_mask) == (rj <= topn_mask):
            lw = zero
    else:
        lw = one
    return wt * lw * scale


@jitable(inline=True)
def pairwise_item(i, kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask,
                  normalized, sf, scale, one, none_mode, pair_out, pair_up):
    """Item ``i``'s part of a pairwise loss.

    Returns ``(loss, count, wsum, grad)``: the weighted loss of the pairs
    ``(i, j)`` where ``i`` is the better item, how many of them have a nonzero
    weight, their weight sum, and d(sum of all weighted pair losses)/d s_i.
    With ``none_mode`` the unreduced pair losses are written to
    ``pair_out[pos_i, pos_j]`` (sorted order, as the original) and the gradient
    uses the per-pair upstream ``pair_up`` (same layout) instead of 1.
    """
    si = logits[i]
    zero = one - one
    loss = zero
    wsum = zero
    grad = zero
    count = 0
    for j in range(logits.shape[0]):
        wij = pair_weight(i, j, labels, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale, one)
        if wij != 0:
            f, df = pair_loss_and_grad(kind, si - logits[j], one)
            v = wij * f
            d = wij * df
            if none_mode:
                pair_out[pos[i], pos[j]] = v
                d = d * pair_up[pos[i], pos[j]]
            loss += v
            wsum += wij
            count += 1
            grad += d
        else:
            wji = pair_weight(j, i, labels, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale, one)
            if wji != 0:
                d = wji * pair_loss_and_grad(kind, logits[j] - si, one)[1]
                if none_mode:
                    d = d * pair_up[pos[j], pos[i]]
                grad -= d
    return loss, count, wsum, grad


@jitable(inline=True)
def clear_item_results(zero, loss, count, wsum, grad):
    """Zero a list's per-item pairwise results before its pairs add to them."""
    for i in range(loss.shape[0]):
        loss[i] = zero
        count[i] = 0
        wsum[i] = zero
        grad[i] = zero


@jitable(inline=True)
def pairwise_list(kind, labels, logits, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale, one,
                  none_mode, pair_out, pair_up, loss, count, wsum, grad):
    """A whole list's pairwise loss, each unordered pair visited once.

    Writes the same per-item ``loss``, ``count``, ``wsum`` and ``grad`` as
    :func:`pairwise_item` for every ``i``, bit for bit: pair ``{i, j}`` adds
    its terms to the better item and its gradient to both, and every item still
    receives its pair terms in ascending ``j`` order. Half the work of the
    per-item form (each pair's weight and loss once), for a caller that owns
    the whole list (a CPU thread).
    """
    n = logits.shape[0]
    zero = one - one
    clear_item_results(zero, loss, count, wsum, grad)
    for i in range(n):
        for j in range(i + 1, n):
            hi = i
            lo = j
            wt = pair_weight(i, j, labels, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale, one)
            if wt == 0:
                hi = j
                lo = i
                wt = pair_weight(j, i, labels, w, g, pos, disc, inv, lam, topn_or, topn_mask, normalized, sf, scale,
                                 one)
            if wt != 0:
                f, df = pair_loss_and_grad(kind, logits[hi] - logits[lo], one)
                v = wt * f
                d = wt * df
                if none_mode:
                    pair_out[pos[hi], pos[lo]] = v
                    d = d * pair_up[pos[hi], pos[lo]]
                loss[hi] += v
                count[hi] += 1
                wsum[hi] += wt
                grad[hi] += d
                grad[lo] -= d


@jitable(inline=True)
def plain_pair_terms(kind, li, lj, wi, wj, x, one):
    """The terms of the unordered pair ``{i, j}`` of a pairwise loss without lambda weight.

    ``x = s_i - s_j``. Returns ``(wij, loss_i, d_i, wji, loss_j, d_j)``: the
    pair's weight, weighted loss and weighted loss derivative (with respect
    to the better item's score) when ``i`` is the better item (``l_i > l_j``,
    both valid), then the same when ``j`` is; the side that is not the better
    item gets zeros. Values as :func:`pair_weight` and
    :func:`pair_loss_and_grad`, but both sides share one ``exp`` and one
    ``log1p`` and every choice is a select, so a loop over pairs runs on SIMD
    registers. ``kind`` must be a compile-time constant of the loop.
    """
    zero = one - one
    i_better = (li > lj) & (lj >= zero)
    j_better = (lj > li) & (li >= zero)
    wij = wi * (li - lj) if i_better else zero
    wji = wj * (lj - li) if j_better else zero
    if kind == HINGE:
        f_i = max(one - x, zero)
        f_j = max(one + x, zero)
        df_i = -one if one - x > zero else zero
        df_j = -one if one + x > zero else zero
    else:
        sp, sn, e = sigmoid_pair(x, one)
        if kind == LOGISTIC:
            soft = vmath.log1p_unit(e)
            f_i = max(-x, zero) + soft
            f_j = max(x, zero) + soft
            df_i = -sn
            df_j = -sp
        else:
            f_i = sn
            f_j = sp
            df_i = -sp * sn
            df_j = df_i
    return (wij, wij * f_i if i_better else zero, wij * df_i if i_better else zero,
            wji, wji * f_j if j_better else zero, wji * df_j if j_better else zero)


@jitable(inline=True)
def pairwise_list_plain(kind, labels, logits, w, one, terms, loss, count, wsum, grad):
    """A whole list's pairwise loss without lambda weight, each unordered pair visited once (CPU form).

    Writes the per-item ``loss``, ``count``, ``wsum`` and ``grad`` of
    :func:`pairwise_list` (for ``LAMBDA_NONE`` and no unreduced output), with
    branch-free loops: for each ``i``, the pairs ``{i, j > i}`` update item
    ``j``'s results element-wise and write item ``i``'s terms to the ``(3, n)``
    scratch ``terms``, summed afterwards in eight fixed-order lanes. Results
    do not depend on the thread count; the summation order differs from
    :func:`pairwise_list`'s.
    """
    n = logits.shape[0]
    zero = one - one
    clear_item_results(zero, loss, count, wsum, grad)
    tl = terms[0]
    tw = terms[1]
    tg = terms[2]
    for i in range(n):
        li = labels[i]
        si = logits[i]
        wi = w[i]
        m = n - i - 1
        lab = labels[i + 1:]
        lgt = logits[i + 1:]
        wj = w[i + 1:]
        lo = loss[i + 1:]
        ws = wsum[i + 1:]
        gr = grad[i + 1:]
        co = count[i + 1:]
        c = 0
        for k in range(m):
            wij, fi, di, wji, fj, dj = plain_pair_terms(kind, li, lab[k], wi, wj[k], si - lgt[k], one)
            lo[k] += fj
            ws[k] += wji
            gr[k] += dj - di
            co[k] += 1 if wji != zero else 0
            tl[k] = fi
            tw[k] = wij
            tg[k] = di - dj
            c += 1 if wij != zero else 0
        loss[i] += as_type_of(lane_sum(tl[:m]), one)
        wsum[i] += as_type_of(lane_sum(tw[:m]), one)
        grad[i] += as_type_of(lane_sum(tg[:m]), one)
        count[i] += c


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
    zero = pad_logit - pad_logit
    ls = zero
    m = logits[0] if labels[0] >= 0 else pad_logit
    for k in range(n):
        if use_lambda:
            gk = g[k] * inv if normalized else g[k]
            t = gk * disc[pos[k] + 1]
        else:
            t = clean_label(labels[k])
        ls += t * w[k]
        z = logits[k] if labels[k] >= 0 else pad_logit
        m = z if z > m else m
    if not ls > 0:
        for k in range(n):
            grad[k] = zero
        return zero, ls
    for k in range(n):  # grad holds exp(z - m) until the last loop
        grad[k] = vmath.exp((logits[k] if labels[k] >= 0 else pad_logit) - m)
    se = as_type_of(lane_sum(grad), zero)
    lse = m + vmath.log(se)
    ce = zero
    for k in range(n):
        if use_lambda:
            gk = g[k] * inv if normalized else g[k]
            t = gk * disc[pos[k] + 1] * w[k]
        else:
            t = clean_label(labels[k]) * w[k]
        z = logits[k] if labels[k] >= 0 else pad_logit
        ce += (t / ls) * (lse - z)
        grad[k] = ls * (grad[k] / se) - t if labels[k] >= 0 else zero
    return ce, ls


@jitable(inline=True)
def list_mle_draw(labels, seed, offset, i):
    """Item ``i``'s tie-breaking draw: uniform (counter ``offset + i``), ``-1e-6`` when invalid."""
    return uniform01_float32(seed, offset + np.uint64(i)) if labels[i] >= 0 else np.float32(-1e-6)


@jitable(inline=True)
def list_mle_position(i, labels, draws):
    """Item ``i``'s position in the ground-truth permutation of one list, by counting (O(L)).

    Items are sorted by cleaned label (descending); ties broken by the
    :func:`list_mle_draw` ``draws`` (descending, so invalid items come last
    among their label), then by index, like the original's shuffle-then-sort.
    """
    ci = clean_label(labels[i])
    ri = draws[i]
    p = 0
    for j in range(labels.shape[0]):
        cj = clean_label(labels[j])
        if cj > ci or (cj == ci and (draws[j] > ri or (draws[j] == ri and j < i))):
            p += 1
    return p


@jitable(inline=True)
def draw_key(d):
    """A uint64 that orders float32 draws descending (``-1e-6`` after every draw in ``[0, 1)``)."""
    bits = np.uint64(np.uint32(np.float32(d).view(np.uint32)))
    up = (bits ^ np.uint64(0xFFFFFFFF)) if bits >= np.uint64(0x80000000) else (bits | np.uint64(0x80000000))
    return np.uint64(0xFFFFFFFF) - up


#: Longest list whose ground-truth order :func:`list_mle_order` finds by
#: counting (SIMD, O(L^2)); longer lists are sorted (O(L log L)).
LIST_MLE_COUNT_MAX = 128


@jitable(inline=True)
def list_mle_order(labels, draws, order, keys, clean):
    """The whole permutation of :func:`list_mle_position` into ``order`` (CPU form).

    Each item gets a unique uint64 ``(draw descending, index)`` in ``keys``
    and its cleaned label in ``clean`` (length-L scratch). Lists up to
    :data:`LIST_MLE_COUNT_MAX` items count, for each item, the items before
    it (higher label, or equal label and smaller key) in branch-free loops;
    longer ones take one sort by label (descending) and sort each run of
    equal labels by key. Both give :func:`list_mle_position`'s order; NaN
    labels come last, ordered by key.
    """
    n = labels.shape[0]
    for i in range(n):
        clean[i] = clean_label(labels[i])
        keys[i] = (draw_key(draws[i]) << np.uint64(32)) | np.uint64(i)
    if n <= LIST_MLE_COUNT_MAX:
        for i in range(n):
            ci = clean[i]
            ki = keys[i]
            p = 0
            for j in range(n):
                cj = clean[j]
                earlier = keys[j] < ki
                nan_last = (ci != ci) & ((cj == cj) | earlier)  # a NaN label is after every number
                p += 1 if (cj > ci) | ((cj == ci) & earlier) | nan_last else 0
            order[p] = i
        return
    for i in range(n):
        clean[i] = -clean[i]
    by_label = np.argsort(clean)
    start = 0
    while start < n:
        c = clean[by_label[start]]
        stop = start + 1
        while stop < n:
            d = clean[by_label[stop]]
            if not (d == c or (d != d and c != c)):
                break
            stop += 1
        if stop - start == 1:
            order[start] = by_label[start]
        else:
            run = keys[by_label[start:stop]]
            run.sort()
            for k in range(stop - start):
                order[start + k] = np.int64(run[k] & np.uint64(0xFFFFFFFF))
        start = stop


@jitable(inline=True)
def list_mle_list(labels, logits, use_lambda, disc, pad_logit, one, order, tmp, grad):
    """Negative log-likelihood (ListMLE) of one list in the ground-truth ``order``, and its gradient.

    Invalid items keep the logit ``pad_logit`` and take part in the sums as in
    the original. The suffix log-sum-exp is accumulated in log space (finite
    for any logit spread). ``tmp`` is length-L scratch; ``grad`` receives
    d nll / d logits (0 on invalid items). Returns the nll.
    """
    n = logits.shape[0]
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


#: Smallest suffix sum of exponentials :func:`list_mle_list_linear` accepts
#: (its prefix sums add reciprocals of them; below this a list takes the
#: log-space form).
LIST_MLE_TINY = 1e-280


@jitable(inline=True)
def list_mle_list_linear(labels, logits, use_lambda, disc, pad_logit, one, order, work, grad):
    """:func:`list_mle_list` in linear space (CPU form); ``(ok, nll)``.

    With ``x_k = z_k - max z`` in ground-truth order, ``w_k = exp(x_k)`` and
    the suffix sums ``S_k = sum_{q >= k} w_q`` (rows of the ``(3, L)``
    float64 scratch ``work``), the nll is ``sum_k lam_k (log S_k - x_k)`` and
    the gradient of item ``k`` is ``w_k A_k - lam_k`` with
    ``A_k = sum_{q <= k} lam_q / S_q``. Only the gather, the scatter and the
    two running sums are sequential; ``exp``/``log`` run over contiguous rows
    (:mod:`.vmath`, SIMD). Returns ``ok = False``, with ``grad`` untouched,
    when some ``S_k`` falls below :data:`LIST_MLE_TINY` (a logit spread of
    hundreds): the caller then runs :func:`list_mle_list`.
    """
    n = logits.shape[0]
    zero = one - one
    x = work[0]
    w = work[1]
    s = work[2]
    m = pad_logit
    for k in range(n):
        z = logits[k] if labels[k] >= 0 else pad_logit
        m = z if z > m else m
    for k in range(n):
        it = order[k]
        x[k] = np.float64((logits[it] if labels[it] >= 0 else pad_logit) - m)
    for k in range(n):
        w[k] = vmath.exp(x[k])
    acc = 0.0
    for k in range(n - 1, -1, -1):
        acc += w[k]
        s[k] = acc
    if s[n - 1] < LIST_MLE_TINY:
        return False, zero
    for k in range(n):  # x becomes the nll terms lam_k (log S_k - x_k), s the lam_k / S_k
        lam = np.float64(disc[k + 1] if use_lambda else one)
        sk = s[k]
        x[k] = lam * (vmath.log(sk) - x[k])
        s[k] = lam / sk
    nll = lane_sum(x)
    pre = 0.0
    for k in range(n):
        pre += s[k]
        lam = np.float64(disc[k + 1] if use_lambda else one)
        x[k] = w[k] * pre - lam
    for k in range(n):
        it = order[k]
        grad[it] = as_type_of(x[k], one) if labels[it] >= 0 else zero
    return True, as_type_of(nll, one)


@jitable(inline=True)
def approx_score(k, labels, logits, pad):
    """Logit of item ``k`` for approx-NDCG (``pad`` = row min - 1000 when invalid)."""
    return logits[k] if labels[k] >= 0 else pad


#: Smallest ``exp(alpha (s_i - shift))`` for which an item's sigmoids are taken
#: as ratios of the precomputed exponentials (error below ~1e-13 relative).
APPROX_TINY = 1e-150


@jitable(inline=True)
def approx_shift(labels, logits, pad, alpha):
    """The score that makes every ``alpha (s_k - shift) <= 0``: the top score (the bottom one if ``alpha < 0``)."""
    m = approx_score(0, labels, logits, pad)
    for k in range(1, logits.shape[0]):
        s = approx_score(k, labels, logits, pad)
        if (alpha >= 0 and s > m) or (alpha < 0 and s < m):
            m = s
    return m


@jitable(inline=True)
def approx_exp(k, labels, logits, pad, alpha, shift):
    """``exp(alpha (s_k - shift))`` in float64, in ``[0, 1]``."""
    s = np.float64(approx_score(k, labels, logits, pad))
    return vmath.exp(np.float64(alpha) * (s - np.float64(shift)))


@jitable(inline=True)
def approx_rank_item(i, labels, logits, pad, alpha, one, e):
    """Smooth rank ``0.5 + sum_j sigmoid(alpha (s_j - s_i))`` of item ``i``.

    ``e`` holds :func:`approx_exp` of the list, so that
    ``sigmoid(alpha (s_j - s_i)) = e_j / (e_i + e_j)`` costs a division instead
    of an ``exp``; an item whose ``e_i`` underflows (far below the top) takes
    the ``exp`` per pair instead.
    """
    half = one / (one + one)
    ei = e[i]
    if ei >= APPROX_TINY:
        acc = 0.0
        for j in range(logits.shape[0]):
            acc += e[j] / (ei + e[j])
        return half + acc
    si = approx_score(i, labels, logits, pad)
    r = half
    for j in range(logits.shape[0]):
        r += sigmoid_pair(alpha * (approx_score(j, labels, logits, pad) - si), one)[0]
    return r


@jitable(inline=True)
def approx_ndcg_grad_item(k, labels, logits, pad, alpha, one, a, e):
    """d cost / d s_k given ``a_j = d cost / d rank_j``; 0 for invalid items.

    ``sigmoid(x) sigmoid(-x) = e_k e_j / (e_k + e_j)^2`` from the list's
    :func:`approx_exp` (``e``), with the same fallback as :func:`approx_rank_item`.
    """
    zero = one - one
    if labels[k] < 0:
        return zero
    ek = e[k]
    ak = a[k]
    if ek >= APPROX_TINY:
        acc = 0.0
        for j in range(logits.shape[0]):
            d = ek + e[j]
            acc += (ek * e[j]) / (d * d) * (a[j] - ak)
        return alpha * acc
    sk = approx_score(k, labels, logits, pad)
    acc2 = zero
    for j in range(logits.shape[0]):
        sp, sn, _ = sigmoid_pair(alpha * (sk - approx_score(j, labels, logits, pad)), one)
        acc2 += sp * sn * (a[j] - ak)
    return alpha * acc2


@jitable(inline=True)
def approx_ranks_list(labels, logits, pad, alpha, one, e, t, ranks):
    """Smooth ranks of a whole list, each unordered pair visited once (CPU form of :func:`approx_rank_item`).

    ``e`` holds :func:`approx_exp` of the list; ``t`` and ``ranks`` are
    float64 scratch and result of the list's length. For each ``i`` the
    pairs ``{i, j > i}`` share one reciprocal ``q = 1 / (e_i + e_j)``: item
    ``j`` gains ``e_i q`` element-wise, and item ``i``'s terms ``e_j q`` go to
    ``t`` and are summed in fixed-order lanes, so the pair loop runs on SIMD
    registers. Items whose ``e_i`` underflows take :func:`approx_rank_item`'s
    ``exp`` form afterwards (the ratio of two underflowed exponentials is
    meaningless; a ratio with one of them is exact enough), once for all the
    invalid items, which share the score ``pad``.
    """
    n = logits.shape[0]
    for i in range(n):
        ranks[i] = 1.0  # 0.5 plus the item's own sigmoid(0)
    for i in range(n):
        ei = e[i]
        m = n - i - 1
        ej = e[i + 1:]
        rj = ranks[i + 1:]
        for k in range(m):
            q = 1.0 / (ei + ej[k])
            rj[k] += ei * q
            t[k] = ej[k] * q
        ranks[i] += lane_sum(t[:m])
    pad_rank = -1.0  # invalid items all score ``pad``: their rank is computed once
    for i in range(n):
        if e[i] < APPROX_TINY:
            if labels[i] >= 0:
                ranks[i] = approx_rank_item(i, labels, logits, pad, alpha, one, e)
            else:
                if pad_rank < 0.0:
                    pad_rank = approx_rank_item(i, labels, logits, pad, alpha, one, e)
                ranks[i] = pad_rank


@jitable(inline=True)
def approx_ndcg_grad_list(labels, logits, pad, alpha, one, a, e, t, g, grad):
    """Gradient of a whole list, each unordered pair once (CPU form of :func:`approx_ndcg_grad_item`).

    The pair ``{k, j}`` adds ``c = w (a_j - a_k)`` to item ``k`` and ``-c`` to
    item ``j``, with ``w = (e_k q)(e_j q)`` and ``q = 1 / (e_k + e_j)``
    (:func:`approx_ranks_list`'s layout: element-wise updates of the later
    items, lane sums of the earlier one's terms in ``t``). ``g`` is float64
    scratch; ``grad`` receives ``alpha g`` (0 on invalid items, the ``exp``
    form on items whose ``e_k`` underflows).
    """
    n = logits.shape[0]
    for i in range(n):
        g[i] = 0.0
    for i in range(n):
        ei = e[i]
        ai = a[i]
        m = n - i - 1
        ej = e[i + 1:]
        aj = a[i + 1:]
        gj = g[i + 1:]
        for k in range(m):
            q = 1.0 / (ei + ej[k])
            c = (ei * q) * (ej[k] * q) * (aj[k] - ai)
            gj[k] -= c
            t[k] = c
        g[i] += lane_sum(t[:m])
    for i in range(n):
        if labels[i] < 0:
            grad[i] = one - one
        elif e[i] < APPROX_TINY:
            grad[i] = approx_ndcg_grad_item(i, labels, logits, pad, alpha, one, a, e)
        else:
            grad[i] = alpha * g[i]


@jitable(inline=True)
def approx_ndcg_item_terms(r, gain, inv, one):
    """Item cost term ``-inv g / log1p(r)`` and ``d cost / d r``."""
    lg = vmath.log1p(r)
    return -inv * gain / lg, inv * gain / (lg * lg * (one + r))
