"""Gumbel top-k: Gumbel keys, the continuous (relaxed) top-k and subset sampling.

Re-creates ``monolith/native_training/layers/utils.py`` (``EPSILON``,
``gumbel_keys``, ``continuous_topk``, ``sample_subset``),
which follows Xie & Ermon (2019). The math is written once, as rules over
scalars and 1-D row views in :mod:`monolith_np._rules.sampling`:

- ``gumbel_key`` -- one element's key ``w - log(-log(u))``;
- ``continuous_topk_row`` / ``sample_subset_row`` -- one row's relaxed
  k-hot, keeping the running keys in caller-provided scratch.

The CPU drivers below compile them with :func:`monolith_np._compile.cpu_jit`
(``prange`` over elements or over chunks of rows); :mod:`monolith_np.cuda.sampling`
compiles the same rules for the GPU. The public functions validate their
arguments once, allocate outputs and scratch, and pick the CPU driver or (for
CUDA arrays) the GPU driver. Randomness comes from the counter-based hash in
:mod:`monolith_np._random`, with the element's flat index as counter, so CPU
and GPU draw the same uniforms bit for bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from ._backend import array_module, asarray
from ._checks import check_array, check_number, check_seed
from ._compile import cpu_jit
from ._dispatch import gpu_drivers
from ._rules.sampling import continuous_topk_row, gumbel_key, sample_subset_row

__all__ = ["EPSILON", "gumbel_keys", "continuous_topk", "sample_subset"]

#: Smallest positive normal float32 (``np.finfo(np.float32).tiny``): the lower
#: bound of the uniforms behind the Gumbel noise and the floor of the k-hot mask.
EPSILON = np.finfo(np.float32).tiny

_DTYPES = (np.float32, np.float64)


# ---------------------------------------------------------------------------
# CPU drivers: validate nothing, allocate nothing.
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _gumbel_keys_cpu(w, seed, eps, out):
    """Fill ``out[i] = gumbel_key(w[i], seed, i, eps)`` over flat arrays, in parallel."""
    for i in prange(w.shape[0]):
        out[i] = gumbel_key(w[i], seed, np.uint64(i), eps)


@cpu_jit(parallel=True)
def _continuous_topk_cpu(w, k, t, eps, out, scratch):
    """Relaxed top-k of every row of ``w`` (rows, n) into ``out`` (rows, m, n).

    ``scratch`` is ``(chunks, 3, n)``: the rows are cut into ``chunks``
    contiguous ranges, one ``prange`` iteration (and one scratch slab) each.
    """
    rows = w.shape[0]
    chunks = scratch.shape[0]
    for c in prange(chunks):
        for r in range(c * rows // chunks, (c + 1) * rows // chunks):
            continuous_topk_row(w[r], k, t, eps, out[r], scratch[c])


@cpu_jit(parallel=True)
def _sample_subset_cpu(w, seed, k, t, eps, out, scratch):
    """Fused Gumbel keys + relaxed top-k of every row; layout as :func:`_continuous_topk_cpu`."""
    rows = w.shape[0]
    n = np.uint64(w.shape[1])
    chunks = scratch.shape[0]
    for c in prange(chunks):
        for r in range(c * rows // chunks, (c + 1) * rows // chunks):
            sample_subset_row(w[r], seed, np.uint64(r) * n, k, t, eps, out[r], scratch[c])


# ---------------------------------------------------------------------------
# Public functions.
# ---------------------------------------------------------------------------


def _check_w(w):
    xp = array_module(w=w)
    w = asarray(w, xp)
    check_array("w", w, min_ndim=1, dtypes=_DTYPES)
    return xp, w


def _check_k_t(k, t):
    k = check_number("k", k, integer=True, low=1)
    t = check_number("t", t, low=0.0, low_open=True)
    if not math.isfinite(t):
        raise ValueError(f"t must be a finite number > 0, got {t}")
    return k, t


def _relaxed_topk_batch(xp, w, k, t, separate, seed):
    """Shared impl of continuous_topk (seed None) and sample_subset; trusts its validated arguments."""
    shape = w.shape
    rows, n = math.prod(shape[:-1]), shape[-1]
    w2 = xp.ascontiguousarray(w).reshape(rows, n)
    dtype = w2.dtype.type
    out = xp.empty((rows, k if separate else 1, n), dtype=w2.dtype)
    if out.size:
        t_, eps = dtype(t), dtype(EPSILON)
        if xp is np:
            scratch = np.empty((min(rows, numba.get_num_threads()), 3, n), dtype=w2.dtype)
            if seed is None:
                _continuous_topk_cpu(w2, k, t_, eps, out, scratch)
            else:
                _sample_subset_cpu(w2, seed, k, t_, eps, out, scratch)
        else:
            scratch = xp.empty((3, n, rows), dtype=w2.dtype)
            gpu_drivers().sampling.relaxed_topk_gpu(w2, k, t_, eps, out, scratch, seed)
    if separate:
        return [xp.ascontiguousarray(out[:, i]).reshape(shape) for i in range(k)]
    return out[:, 0].reshape(shape)


def gumbel_keys(w, seed=None):
    """Add standard Gumbel noise to log-weights.

    Perturbing log-weights with independent Gumbel(0, 1) noise turns "take the
    top k" into sampling k elements without replacement with probabilities
    proportional to ``exp(w)`` (the Gumbel-top-k trick). Works on any batch
    shape: every element gets its own noise.

    Parameters
    ----------
    w : (..., n) float32 or float64 array
        Log-weights (unnormalised log-probabilities), rank >= 1. numpy arrays
        run on the CPU, CUDA arrays (CuPy, ``__cuda_array_interface__``) on the
        GPU. Not modified.
    seed : int or None, default None
        Seed of the counter-based generator, ``0 <= seed < 2**64``. The same
        seed gives the same keys on the CPU and on the GPU. ``None`` draws a
        fresh seed from the operating system, so calls differ.

    Returns
    -------
    (..., n) array
        ``w - log(-log(u))``, same shape, dtype and device as ``w``.

    Raises
    ------
    TypeError
        If ``w`` is not a float32/float64 array or ``seed`` is not an integer.
    ValueError
        If ``w`` is 0-d or ``seed`` is outside ``[0, 2**64)``.

    See Also
    --------
    sample_subset : Gumbel keys followed by :func:`continuous_topk`.

    Notes
    -----
    .. math::

        g_i = w_i - \\log(-\\log u_i), \\qquad
        u_i = r_i (1 - \\epsilon) + \\epsilon, \\quad r_i \\sim U[0, 1)

    with :math:`\\epsilon` = :data:`EPSILON`, as TF1's
    ``tf.random_uniform(minval=EPSILON, maxval=1.0)`` in float32. Here
    :math:`r_i` is a 24-bit uniform drawn from a counter-based hash of
    ``(seed, i)``, :math:`i` being the element's flat (C-order) index, so the
    keys do not depend on memory layout or on how the work is split. float64
    inputs use the same uniforms and compute the logarithms in float64.

    The original draws from TF1's stateful generator and takes no seed; its
    streams cannot be reproduced, only their distribution.

    References
    ----------
    .. [1] S. M. Xie and S. Ermon, "Reparameterizable Subset Sampling via
       Continuous Relaxations", IJCAI 2019, arXiv:1901.10517 (Gumbel keys,
       after weighted reservoir sampling).
    .. [2] Monolith, ``monolith/native_training/layers/utils.py``.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.log(np.array([0.1, 0.2, 0.7], dtype=np.float32))
    >>> keys = gumbel_keys(w, seed=7)
    >>> keys.shape, keys.dtype
    ((3,), dtype('float32'))
    >>> bool(np.array_equal(keys, gumbel_keys(w, seed=7)))
    True
    """
    xp, w = _check_w(w)
    seed = check_seed(seed)
    flat = xp.ascontiguousarray(w).reshape(-1)
    out = xp.empty_like(flat)
    eps = flat.dtype.type(EPSILON)
    if xp is np:
        _gumbel_keys_cpu(flat, seed, eps, out)
    elif flat.size:
        gpu_drivers().sampling.gumbel_keys_gpu(flat, seed, eps, out)
    return out.reshape(w.shape)


def continuous_topk(w, k, t, separate=False):
    """Relaxed top-k: a differentiable k-hot vector from k tempered softmaxes.

    Each of k rounds takes a softmax of the keys at temperature ``t`` and then
    pushes the keys of what it selected towards minus infinity, so the next
    round picks among the rest. As ``t -> 0`` the sum of the rounds tends to the
    exact k-hot indicator of the k largest keys along the last axis.

    Parameters
    ----------
    w : (..., n) float32 or float64 array
        Keys, rank >= 1; the top-k runs along the last axis and the leading
        axes are a batch. Computed in the dtype of ``w``, on its device. Not
        modified.
    k : int
        Number of rounds (elements to select), ``>= 1``. ``k > n`` is allowed
        and computed as the original does (every round still sums to 1).
    t : float
        Softmax temperature, finite and ``> 0``. Smaller is closer to a hard
        top-k.
    separate : bool, default False
        Return the k one-hots instead of their sum.

    Returns
    -------
    (..., n) array or list of k (..., n) arrays
        The relaxed k-hot (sum of the rounds; each row sums to ``k``), or with
        ``separate=True`` the rounds' one-hots (each row sums to 1), as views
        of one ``(k, ...)`` buffer. Same dtype and device as ``w``.

    Raises
    ------
    TypeError
        If ``w`` is not a float32/float64 array, ``k`` is not an integer or
        ``separate`` not a bool.
    ValueError
        If ``w`` is 0-d, ``k < 1``, or ``t`` is not finite and positive.

    See Also
    --------
    sample_subset : The same applied to Gumbel keys.

    Notes
    -----
    With :math:`a^{(0)} = 0` and :math:`w^{(0)} = w`, for
    :math:`j = 1, \\dots, k`:

    .. math::

        w^{(j)} = w^{(j-1)} + \\log \\max(1 - a^{(j-1)}, \\epsilon), \\qquad
        a^{(j)} = \\operatorname{softmax}(w^{(j)} / t)

    and the result is :math:`\\sum_j a^{(j)}`. The keys are updated
    cumulatively, exactly as in the original; :math:`\\epsilon` is
    :data:`EPSILON`. The softmax subtracts the row maximum before ``exp`` and
    multiplies by the reciprocal of the sum, as TF's does.

    References
    ----------
    .. [1] Xie and Ermon (2019), the continuous relaxation of top-k (see
       :func:`gumbel_keys`); Monolith's ``continuous_topk`` in
       ``monolith/native_training/layers/utils.py``.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[1.0, 4.0, 2.0, 3.0]], dtype=np.float32)
    >>> continuous_topk(w, k=2, t=0.1).round(3)
    array([[0., 1., 0., 1.]], dtype=float32)
    >>> [a.round(3) for a in continuous_topk(w[0], k=2, t=0.1, separate=True)]
    [array([0., 1., 0., 0.], dtype=float32), array([0., 0., 0., 1.], dtype=float32)]
    """
    xp, w = _check_w(w)
    k, t = _check_k_t(k, t)
    if not isinstance(separate, (bool, np.bool_)):
        raise TypeError(f"separate must be a bool, got {type(separate).__name__} {separate!r}")
    return _relaxed_topk_batch(xp, w, k, t, bool(separate), None)


def sample_subset(w, k, t=0.1, seed=None):
    """Sample a relaxed k-subset: Gumbel keys, then the continuous top-k.

    The reparameterizable subset sampler of Xie & Ermon (2019): the result is a
    differentiable relaxation of a k-hot vector drawn without replacement with
    probabilities proportional to ``exp(w)`` along the last axis.

    Parameters
    ----------
    w : (..., n) float32 or float64 array
        Log-weights, rank >= 1; leading axes are a batch. Not modified.
    k : int
        Subset size, ``1 <= k <= n``. (:func:`continuous_topk` allows
        ``k > n``; a subset of more than ``n`` elements does not exist.)
    t : float, default 0.1
        Softmax temperature, finite and ``> 0``.
    seed : int or None, default None
        Seed for the Gumbel noise, ``0 <= seed < 2**64``; ``None`` draws a fresh
        one. Same seed, same result on CPU and GPU.

    Returns
    -------
    (..., n) array
        The relaxed k-hot vector, same dtype and device as ``w``; equal to
        ``continuous_topk(gumbel_keys(w, seed), k, t)``.

    Raises
    ------
    TypeError
        If ``w`` is not a float32/float64 array, or ``k``/``seed`` are not integers.
    ValueError
        If ``w`` is 0-d, ``k < 1`` or ``k > n``, ``t`` is not finite and
        positive, or ``seed`` is out of range.

    See Also
    --------
    gumbel_keys, continuous_topk

    Notes
    -----
    Computed in one pass per row: the Gumbel keys
    :math:`g = w - \\log(-\\log u)` are written straight into the running keys
    of the continuous top-k, so no intermediate array is made.

    References
    ----------
    .. [1] Xie and Ermon (2019), the relaxed subset sampler (see
       :func:`gumbel_keys`); Monolith's ``sample_subset`` in ``layers/utils.py``.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.log(np.array([[0.05, 0.05, 0.45, 0.45]], dtype=np.float32))
    >>> s = sample_subset(w, k=2, t=0.01, seed=3)
    >>> round(float(s.sum()), 4), bool(((s < 1e-3) | (s > 1 - 1e-3)).all())
    (2.0, True)
    >>> bool(np.array_equal(s, continuous_topk(gumbel_keys(w, seed=3), 2, 0.01)))
    True
    """
    xp, w = _check_w(w)
    k, t = _check_k_t(k, t)
    if k > w.shape[-1]:
        raise ValueError(f"k must be <= {w.shape[-1]}, the size of w's last axis (a subset of k distinct "
                         f"elements), got {k}")
    seed = check_seed(seed)
    return _relaxed_topk_batch(xp, w, k, t, False, seed)
