"""Gradient clipping as Monolith does it: global norm, per-tensor norm, value.

* :func:`global_norm` and :func:`clip_by_global_norm` re-create Monolith's
  ``clip_ops`` (``monolith/native_training/clip_ops.py`` and the
  ``MonolithClipByGlobalNorm`` kernels): the gradients are scaled by
  ``clip_norm / n`` only when ``n > clip_norm``, and returned unchanged
  otherwise.
* :func:`clip_by_norm` and :func:`clip_by_value` follow ``tf.clip_by_norm`` and
  ``tf.clip_by_value`` (same formulas, same order of float32 operations).
* :func:`clip_gradients` is the whole clipping step of Monolith's
  ``feature_utils.apply_gradients_with_var_optimizer``: dense and sparse
  (embedding) gradient lists, the :class:`GradClipType` modes, the sparse
  clip-norm warm-up (:func:`monolith_np.schedules.norm_warmup`), dense
  ``reduce_mean`` and dense L2 weight decay.

The global norm over many arrays is one fused CPU kernel: the arrays are cut
into fixed chunks of ``_CHUNK`` elements, a ``prange`` loop sums the squares of
each chunk in float64 (each chunk a private partial, STYLE B.3), and the
partials are added in chunk order. The result therefore does not depend on the
number of threads. The kernel is listed in ``_config.FASTMATH_KERNELS``: with
the package's safe flag set (``reassoc``) LLVM vectorises the float64 sum,
about 4x faster than the sequential loop. On CUDA arrays the same float64 sum
is written with CuPy calls.
"""

from __future__ import annotations

import enum
import inspect
import numbers
from typing import NamedTuple

import numpy as np
from numba import prange, typed

from .._backend import array_module, asarray
from .._checks import check_array, check_number, check_step
from .._compile import cpu_jit, run_cpu
from ..schedules import norm_warmup

__all__ = [
    "GradClipType",
    "ClippedGradients",
    "global_norm",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "clip_gradients",
]

_FLOAT_DTYPES = (np.float32, np.float64)

#: Elements per chunk of the fused sum-of-squares kernel (fixed, so results do
#: not depend on the thread count).
_CHUNK = 1 << 15


class GradClipType(enum.Enum):
    """How :func:`clip_gradients` clips (Monolith's ``feature_utils.GradClipType``).

    Members and values are the original's: ``ClipByNorm = 1`` (each tensor by
    its own norm), ``ClipByGlobalNorm = 2`` (all tensors by one global norm),
    ``ClipByValue = 3`` (element-wise to ``[-clip_norm, clip_norm]``),
    ``ClipByDenseAndSparse = 4`` (dense and sparse groups by their own global
    norms) and ``NoClip = 5``.

    Parameters
    ----------
    value : int
        Look a member up by its value: ``GradClipType(2)`` is
        ``GradClipType.ClipByGlobalNorm``.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.optim import GradClipType, clip_gradients
    >>> GradClipType(3)
    <GradClipType.ClipByValue: 3>
    >>> out = clip_gradients([np.array([-2.0, 0.5], np.float32)], [], clip_type=GradClipType.ClipByValue, clip_norm=1.0)
    >>> out.dense_grads[0].tolist()
    [-1.0, 0.5]
    """

    ClipByNorm = 1
    ClipByGlobalNorm = 2
    ClipByValue = 3
    ClipByDenseAndSparse = 4
    NoClip = 5


# Calling the class only looks a member up by value; say so to signature-based docs checks.
GradClipType.__signature__ = inspect.Signature([inspect.Parameter("value", inspect.Parameter.POSITIONAL_ONLY)])


class ClippedGradients(NamedTuple):
    """What :func:`clip_gradients` returns: the clipped lists and the norms used.

    Parameters
    ----------
    dense_grads : list of arrays
        The clipped (and, if asked, weight-decayed) dense gradients.
    sparse_grads : list of arrays
        The clipped sparse (embedding) gradients.
    dense_norm : scalar or None
        The global norm the dense gradients were clipped with (None when no
        global norm was computed).
    sparse_norm : scalar or None
        The global norm the sparse gradients were clipped with.

    Examples
    --------
    Dense and sparse gradients clipped by their own global norms (5 and 2) to 1:

    >>> import numpy as np
    >>> from monolith_np.optim import ClippedGradients, GradClipType, clip_gradients
    >>> out = clip_gradients([np.array([3.0, 4.0], np.float32)], [np.array([[0.0, 2.0]], np.float32)],
    ...                      clip_type=GradClipType.ClipByDenseAndSparse, clip_norm=1.0, sparse_clip_norm=1.0)
    >>> isinstance(out, ClippedGradients)
    True
    >>> print(out.dense_norm, out.sparse_norm, out.dense_grads[0], out.sparse_grads[0])
    5.0 2.0 [0.6 0.8] [[0. 1.]]
    """

    dense_grads: list
    sparse_grads: list
    dense_norm: object
    sparse_norm: object


# ---------------------------------------------------------------------------
# Fused sum of squares (CPU)
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _sum_squares_chunks(arrays, chunk_array, chunk_start, chunk_stop, partial):
    """``partial[k] = sum(x**2)`` in float64 over chunk ``k`` (one chunk per prange iteration)."""
    for k in prange(chunk_array.size):
        block = arrays[chunk_array[k]][chunk_start[k]:chunk_stop[k]]
        s = 0.0
        for i in range(block.size):
            x = np.float64(block[i])
            s += x * x
        partial[k] = s


def _chunk_table(sizes):
    """(array index, start, stop) of every ``_CHUNK``-element chunk of arrays of ``sizes``."""
    sizes = np.asarray(sizes, dtype=np.int64)
    counts = -(-sizes // _CHUNK)
    owner = np.repeat(np.arange(sizes.size, dtype=np.int64), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    start = (np.arange(owner.size, dtype=np.int64) - first) * _CHUNK
    stop = np.minimum(start + _CHUNK, sizes[owner])
    return owner, start, stop


def _sum_squares_numpy(arrays):
    """float64 sum of squares of numpy arrays, by the fused chunk kernel (one call per numba array type)."""
    groups = {}
    for a in arrays:
        if a.size:
            flat = a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)
            groups.setdefault((flat.dtype, flat.flags.writeable), []).append(flat)
    total = np.float64(0.0)
    for flats in groups.values():
        owner, start, stop = _chunk_table([f.size for f in flats])
        partial = np.empty(owner.size, dtype=np.float64)
        run_cpu(_sum_squares_chunks, sum(f.size for f in flats), typed.List(flats), owner, start, stop, partial)
        total += partial.sum()
    return total


def _sum_squares(arrays, xp):
    if xp is np:
        return _sum_squares_numpy(arrays)
    total = xp.zeros((), dtype=xp.float64)
    for a in arrays:
        total += xp.sum(xp.square(a, dtype=xp.float64))
    return total


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _check_list(name, t_list, allow_none=True):
    """Validate a list of float arrays; return ``(arrays, xp, norm_dtype)`` (``None`` entries skipped)."""
    if not isinstance(t_list, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of arrays, got {type(t_list).__name__}")
    arrays = []
    named = {}
    for i, t in enumerate(t_list):
        if t is None and allow_none:
            continue
        check_array(f"{name}[{i}]", t, dtypes=_FLOAT_DTYPES)
        arrays.append(t)
        named[f"{name}[{i}]"] = t
    xp = array_module(**named)
    dtype = np.result_type(*[a.dtype for a in arrays]) if arrays else np.dtype(np.float32)
    return [asarray(a, xp) for a in arrays], xp, dtype


def _check_axes(axes, ndim):
    """``axes`` (None, an int or a sequence of ints) checked against ``ndim``, as a tuple or None."""
    if axes is None:
        return None
    items = (axes,) if not isinstance(axes, (list, tuple)) else axes
    out = tuple(check_number(f"axes[{i}]" if items is axes else "axes", a, integer=True, low=-ndim, high=ndim - 1)
                for i, a in enumerate(items))
    if len({a % ndim for a in out}) != len(out):
        raise ValueError(f"axes must not repeat an axis, got {axes!r}")
    return out


def _clip_number(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if hasattr(value, "__cuda_array_interface__") or (hasattr(value, "shape") and not isinstance(value, np.ndarray)):
        value = float(value)  # a 0-d device array: one host sync
    return check_number(name, value, low=0.0)


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def global_norm(t_list):
    """Return the global L2 norm of a list of arrays, ``sqrt(sum_t sum(t**2))``.

    Parameters
    ----------
    t_list : list or tuple of arrays
        float32/float64 numpy or CuPy arrays of any shapes (``None`` entries
        are ignored, as in ``tf.linalg.global_norm``).

    Returns
    -------
    numpy scalar or 0-d CuPy array
        The norm in the list's result dtype (float32 for float32 inputs).
        ``inf`` if any element is infinite (and none is NaN), NaN if any is
        NaN; 0 for an empty list.

    Raises
    ------
    TypeError
        If ``t_list`` is not a list/tuple, an entry is not a float32/float64
        array, or CPU and GPU arrays are mixed.

    Notes
    -----
    The squares are summed in float64 (fixed chunks, see the module notes),
    then the square root is rounded to the result dtype. TensorFlow sums
    float32 half-squares (``tf.nn.l2_loss``), so the two differ by a few ulps;
    for elements above ~1.8e19 TF's float32 squares overflow to an infinite
    norm while this norm stays finite (and exact to float32 precision), and
    for elements below ~1e-19 TF's squares underflow to 0 while these count.
    Monolith's ``_global_norm`` returns ``None`` for an empty list; this
    returns 0.

    Examples
    --------
    >>> import numpy as np
    >>> print(global_norm([np.array([-3.0, 0, 0], np.float32), np.array([0, 0, 4.0, 0], np.float32)]))
    5.0
    """
    arrays, xp, dtype = _check_list("t_list", t_list)
    total = _sum_squares(arrays, xp)
    if xp is np:
        return dtype.type(np.sqrt(total))
    return xp.sqrt(total).astype(dtype)


def clip_by_global_norm(t_list, clip_norm, use_norm=None):
    """Scale a list of arrays by ``clip_norm / n`` when their global norm ``n`` exceeds ``clip_norm``.

    Monolith's ``clip_ops.clip_by_global_norm``: ``n`` is ``use_norm`` or
    :func:`global_norm` of ``t_list``; if ``n > clip_norm`` every array is
    multiplied by ``clip_norm / n`` (one float32 division, one multiply per
    element), otherwise the arrays are returned as they are.

    Parameters
    ----------
    t_list : list or tuple of arrays
        float32/float64 numpy or CuPy arrays (``None`` entries pass through).
    clip_norm : float
        The clipping threshold, >= 0 (0 zeroes every gradient with a non-zero
        norm, which is what the sparse warm-up gives at step 0).
    use_norm : float, optional
        A global norm already computed; NaN and Inf are allowed (see Notes).

    Returns
    -------
    list_clipped : list
        New arrays when clipped; **the input arrays themselves** (not copies)
        when ``n <= clip_norm`` or ``n`` is NaN, as Monolith's kernel forwards
        its inputs. The inputs are never modified.
    global_norm : scalar
        ``n`` (``use_norm`` when given, in the list's dtype); 0 for an empty
        list.

    Raises
    ------
    TypeError
        If ``t_list`` is not a list/tuple or holds non-float arrays.
    ValueError
        If ``clip_norm`` is negative or NaN, or ``use_norm`` is negative.

    Notes
    -----
    .. math::

        t_i \\leftarrow \\begin{cases} t_i \\cdot \\mathrm{fl}(c / n) & n > c \\\\
        t_i & \\text{otherwise} \\end{cases}

    Non-finite norms follow Monolith's kernel, not ``tf.clip_by_global_norm``:

    * ``n = inf``: the scale is ``c / inf = 0``, so finite entries become 0 and
      infinite entries ``inf * 0 = NaN``;
    * ``n = NaN``: ``n > c`` is false, so the arrays pass through unchanged
      (NaNs included).

    TensorFlow returns all-NaN arrays in both cases. For finite ``n``
    TensorFlow's scale is ``c * min(1 / n, 1 / c)`` (two roundings, and a
    factor that may differ from 1 by an ulp when no clipping happens); this
    one rounds once and leaves unclipped arrays bit-identical.

    References
    ----------
    ``monolith/native_training/clip_ops.py`` and
    ``runtime/ops/clip_by_global_norm*.{h,cc}``.

    Examples
    --------
    The original test (``clip_ops_test.py``):

    >>> import numpy as np
    >>> clipped, norm = clip_by_global_norm(
    ...     [np.array([-3.0, 0, 0], np.float32), np.array([4.0, 0, 0], np.float32)], 4.0)
    >>> print(norm, clipped[0], clipped[1])
    5.0 [-2.4  0.   0. ] [3.2 0.  0. ]
    """
    arrays, xp, dtype = _check_list("t_list", t_list)
    clip = _clip_number("clip_norm", clip_norm)
    if not isinstance(t_list, list):
        t_list = list(t_list)
    if not t_list:
        return [], dtype.type(0.0)
    if use_norm is None:
        norm = global_norm(t_list)
    else:
        norm = _use_norm(use_norm, xp, dtype)
    if xp is np:
        clip_t = dtype.type(clip)
        if not norm > clip_t:
            return list(t_list), norm
        scale = clip_t / norm
        with np.errstate(invalid="ignore"):  # inf * 0 = NaN is the documented result
            return [None if t is None else t * t.dtype.type(scale) for t in t_list], norm
    # CuPy: decide on the device, without a host sync (NaN > c is false: scale 1).
    scale = xp.where(norm > clip, xp.asarray(clip, dtype=dtype) / norm, xp.ones((), dtype=dtype))
    return [None if t is None else asarray(t, xp) * scale.astype(t.dtype) for t in t_list], norm


def _use_norm(use_norm, xp, dtype):
    if hasattr(use_norm, "__cuda_array_interface__") and xp is not np:
        return asarray(use_norm, xp).astype(dtype)
    if isinstance(use_norm, np.ndarray) and use_norm.ndim == 0:
        use_norm = use_norm.item()
    if isinstance(use_norm, bool) or not isinstance(use_norm, numbers.Real):
        raise TypeError(f"use_norm must be a real number, got {type(use_norm).__name__} {use_norm!r}")
    if use_norm < 0:
        raise ValueError(f"use_norm must be >= 0 (or NaN/inf), got {use_norm}")
    value = dtype.type(use_norm)
    return value if xp is np else xp.asarray(value)


def clip_by_norm(t, clip_norm, axes=None):
    """Scale ``t`` so that its L2 norm is at most ``clip_norm`` (``tf.clip_by_norm``).

    Parameters
    ----------
    t : float32 or float64 array
        numpy or CuPy, any shape.
    clip_norm : float
        Maximum norm, >= 0.
    axes : int or tuple of int, optional
        Axes over which the norm is taken (each slice clipped separately);
        default all axes.

    Returns
    -------
    array
        ``t * clip_norm / max(||t||, clip_norm)``, a new array of ``t``'s dtype.

    Raises
    ------
    TypeError
        If ``t`` is not a float32/float64 array or an axis not an integer.
    ValueError
        If ``clip_norm`` is negative or NaN, or an axis is out of range or repeated.

    Notes
    -----
    The same float operations as TensorFlow: ``l2sum = sum(t * t)``, the norm
    is ``sqrt(l2sum)`` where ``l2sum > 0`` (else ``l2sum``), and the result is
    ``(t * clip_norm) / max(norm, clip_norm)``. The sum is numpy's (pairwise)
    float sum, TensorFlow's is Eigen's tree, so results agree to a few ulps.
    An infinite element gives NaN (``inf / inf``), as in TensorFlow.

    Examples
    --------
    >>> import numpy as np
    >>> print(clip_by_norm(np.array([3.0, 4.0], np.float32), 1.0))
    [0.6 0.8]
    """
    check_array("t", t, dtypes=_FLOAT_DTYPES)
    clip = t.dtype.type(_clip_number("clip_norm", clip_norm))
    xp = array_module(t=t)
    t = asarray(t, xp)
    axes = _check_axes(axes, t.ndim)
    l2sum = xp.sum(t * t, axis=axes, keepdims=True)
    positive = l2sum > 0
    l2norm = xp.where(positive, xp.sqrt(xp.where(positive, l2sum, xp.ones_like(l2sum))), l2sum)
    with np.errstate(invalid="ignore", over="ignore"):  # inf / inf = NaN, as in TensorFlow
        return (t * clip) / xp.maximum(l2norm, clip)


def clip_by_value(t, clip_value_min, clip_value_max):
    """Clip ``t`` element-wise to ``[clip_value_min, clip_value_max]`` (``tf.clip_by_value``).

    Parameters
    ----------
    t : float32 or float64 array
        numpy or CuPy, any shape.
    clip_value_min : float or array
        Lower bound (a scalar or an array broadcastable to ``t``).
    clip_value_max : float or array
        Upper bound.

    Returns
    -------
    array
        ``maximum(minimum(t, clip_value_max), clip_value_min)`` in ``t``'s
        dtype: TensorFlow's order, so ``clip_value_min`` wins when the bounds
        cross. NaN elements stay NaN.

    Raises
    ------
    TypeError
        If ``t`` is not a float32/float64 array or a bound is not a number.
    ValueError
        If a scalar bound is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> print(clip_by_value(np.array([-3.0, 0.5, 4.0], np.float32), -1.0, 1.0))
    [-1.   0.5  1. ]
    """
    check_array("t", t, dtypes=_FLOAT_DTYPES)
    xp = array_module(t=t, clip_value_min=clip_value_min, clip_value_max=clip_value_max)
    bounds = []
    for name, value in (("clip_value_min", clip_value_min), ("clip_value_max", clip_value_max)):
        if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
            bounds.append(asarray(value, xp).astype(t.dtype, copy=False))
        else:
            bounds.append(t.dtype.type(check_number(name, value)))
    t = asarray(t, xp)
    return xp.maximum(xp.minimum(t, bounds[1]), bounds[0])


def _clip_type(clip_type):
    if isinstance(clip_type, GradClipType):
        return clip_type
    if isinstance(clip_type, numbers.Integral) and not isinstance(clip_type, bool):
        try:
            return GradClipType(int(clip_type))
        except ValueError:
            pass
    raise ValueError(f"clip_type must be a GradClipType (or its value 1-5), got {clip_type!r}")


def clip_gradients(dense_grads, sparse_grads, clip_type=GradClipType.ClipByGlobalNorm, clip_norm=None,
                   global_step=0, dense_weight_decay=0.0, sparse_clip_norm=None, sparse_norm_warmup_steps=None,
                   dense_reduce_mean=False, batch_size=1, dense_vars=None):
    """Run the gradient-clipping step of Monolith's ``apply_gradients_with_var_optimizer``.

    Dense gradients (of dense variables) and sparse gradients (of embedding
    tensors) are clipped together or separately according to ``clip_type``,
    then L2 weight decay is added to the dense gradients. Arguments keep the
    original's names and defaults.

    Parameters
    ----------
    dense_grads : list of arrays
        Gradients of the dense variables (float32/float64, numpy or CuPy).
    sparse_grads : list of arrays
        Gradients of the embedding tensors.
    clip_type : GradClipType or int, default GradClipType.ClipByGlobalNorm
        The clipping mode.
    clip_norm : float, optional
        The clip norm (or value bound for ``ClipByValue``), >= 0. ``None``
        means no clipping, except for ``ClipByDenseAndSparse``, which needs it
        when there are dense gradients.
    global_step : int, default 0
        The step at which the sparse clip-norm warm-up is evaluated.
    dense_weight_decay : float, default 0.0
        L2 factor: after clipping, ``g <- g + dense_weight_decay * var``.
    sparse_clip_norm : float, optional
        ``ClipByGlobalNorm``: the sparse gradients' clip norm (``None`` or 0.0
        means ``clip_norm``, as in the original's ``sparse_clip_norm or
        clip_norm``). ``ClipByDenseAndSparse``: clip the sparse gradients by
        their own global norm to this value (``None``: leave them).
    sparse_norm_warmup_steps : int, optional
        ``ClipByGlobalNorm`` only: warm the sparse clip norm up linearly from 0
        over this many steps (:func:`monolith_np.schedules.norm_warmup`; at
        step 0 it is 0, which zeroes the sparse gradients).
    dense_reduce_mean : bool, default False
        Divide the dense gradients by ``batch_size`` first.
    batch_size : int, default 1
        The divisor of ``dense_reduce_mean``, > 0.
    dense_vars : list of arrays, optional
        The dense variables, needed when ``dense_weight_decay`` is non-zero
        (shapes as ``dense_grads``).

    Returns
    -------
    ClippedGradients
        ``(dense_grads, sparse_grads, dense_norm, sparse_norm)``: new lists;
        arrays that needed no change are the inputs themselves.

    Raises
    ------
    TypeError
        If a list is not a list of float32/float64 arrays.
    ValueError
        If ``clip_type`` is unknown, a norm, ``batch_size`` or
        ``sparse_norm_warmup_steps`` is out of range,
        ``clip_norm`` is missing for ``ClipByDenseAndSparse``, or
        ``dense_vars`` is missing or mis-shaped for weight decay.

    Notes
    -----
    * ``ClipByGlobalNorm`` (``clip_norm`` set): one norm
      ``n = global_norm(dense + sparse)``; dense clipped with
      ``clip_by_global_norm(dense, clip_norm, n)``, sparse with
      ``clip_by_global_norm(sparse, c_s, n)``, where
      ``c_s = sparse_clip_norm or clip_norm``, warmed up when
      ``sparse_norm_warmup_steps`` is not None.
    * ``ClipByDenseAndSparse``: dense by ``global_norm(dense)`` to
      ``clip_norm``; sparse by ``global_norm(sparse)`` to
      ``sparse_clip_norm`` when that is not None (no warm-up).
    * ``ClipByValue`` / ``ClipByNorm`` (``clip_norm`` set): every gradient by
      :func:`clip_by_value` to ``[-clip_norm, clip_norm]`` / :func:`clip_by_norm`.
    * Otherwise nothing is clipped.

    Difference from the original: ``dense_reduce_mean`` divides the dense
    gradients before every mode here. The original divides a copy that only
    ``ClipByGlobalNorm`` (whose norm is still taken over the undivided
    gradients) and ``ClipByDenseAndSparse`` use, so with ``ClipByValue``,
    ``ClipByNorm`` and ``NoClip`` the division was silently lost. The
    GPU-allreduce "deferred clip" of the original (a scale factor passed to
    the allreduce) gives the same numbers as clipping here and is not
    re-created.

    References
    ----------
    ``monolith/native_training/feature_utils.py``.

    Examples
    --------
    ``feature_utils_test``: a dense gradient 1 and three embedding gradients 1
    (global norm 2) clipped to 1 halve every gradient.

    >>> import numpy as np
    >>> out = clip_gradients([np.array(1.0, np.float32)], [np.ones((1, 3), np.float32)], clip_norm=1.0)
    >>> print(out.dense_norm, out.dense_grads[0], out.sparse_grads[0])
    2.0 0.5 [[0.5 0.5 0.5]]
    """
    kind = _clip_type(clip_type)
    for name, t_list in (("dense_grads", dense_grads), ("sparse_grads", sparse_grads)):
        if not isinstance(t_list, (list, tuple)):
            raise TypeError(f"{name} must be a list or tuple of arrays, got {type(t_list).__name__}")
    array_module(**{f"dense_grads[{i}]": g for i, g in enumerate(dense_grads)},
                 **{f"sparse_grads[{i}]": g for i, g in enumerate(sparse_grads)})
    dense, _, _ = _check_list("dense_grads", dense_grads, allow_none=False)
    sparse, _, _ = _check_list("sparse_grads", sparse_grads, allow_none=False)
    clip = _clip_number("clip_norm", clip_norm, allow_none=True)
    sparse_clip = _clip_number("sparse_clip_norm", sparse_clip_norm, allow_none=True)
    step = check_step("global_step", global_step)
    decay = check_number("dense_weight_decay", dense_weight_decay)
    size = check_number("batch_size", batch_size, integer=True, low=1)
    warmup = check_number("sparse_norm_warmup_steps", sparse_norm_warmup_steps, integer=True, low=0,
                          high=2**63 - 1, allow_none=True)
    if dense_reduce_mean:
        dense = [g / g.dtype.type(size) for g in dense]

    dense_norm = sparse_norm = None
    if kind is GradClipType.ClipByGlobalNorm and clip is not None:
        dense_norm = sparse_norm = global_norm(dense + sparse)
        sparse_clip = sparse_clip or clip
        if warmup is not None:
            sparse_clip = norm_warmup(sparse_clip, step, warmup)
        dense = clip_by_global_norm(dense, clip, use_norm=dense_norm)[0]
        sparse = clip_by_global_norm(sparse, sparse_clip, use_norm=sparse_norm)[0]
    elif kind is GradClipType.ClipByDenseAndSparse:
        if dense:
            if clip is None:
                raise ValueError("clip_norm must be set for GradClipType.ClipByDenseAndSparse, got None")
            dense, dense_norm = clip_by_global_norm(dense, clip)
        if sparse_clip is not None and sparse:
            sparse, sparse_norm = clip_by_global_norm(sparse, sparse_clip)
    elif kind is GradClipType.ClipByValue and clip is not None:
        dense = [clip_by_value(g, -clip, clip) for g in dense]
        sparse = [clip_by_value(g, -clip, clip) for g in sparse]
    elif kind is GradClipType.ClipByNorm and clip is not None:
        dense = [clip_by_norm(g, clip) for g in dense]
        sparse = [clip_by_norm(g, clip) for g in sparse]

    if decay and dense:
        if dense_vars is None:
            raise ValueError("dense_vars must be given when dense_weight_decay is non-zero, got None")
        if not isinstance(dense_vars, (list, tuple)) or len(dense_vars) != len(dense):
            raise ValueError(f"dense_vars must be a list of {len(dense)} arrays like dense_grads, got "
                             f"{len(dense_vars) if isinstance(dense_vars, (list, tuple)) else type(dense_vars).__name__}")
        for i, (g, v) in enumerate(zip(dense, dense_vars)):
            check_array(f"dense_vars[{i}]", v, dtypes=_FLOAT_DTYPES, shape=tuple(g.shape))
        dense = [g + v.dtype.type(decay) * v for g, v in zip(dense, dense_vars)]
    return ClippedGradients(list(dense), list(sparse), dense_norm, sparse_norm)
