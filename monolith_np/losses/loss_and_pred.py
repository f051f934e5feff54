"""Logit correction and the sigmoid/softmax "loss and prediction" heads of Monolith.

Re-creates ``monolith/native_training/layers/logit_correction.py``
(``LogitCorrection``, its ``safe_log_sigmoid``) and
``native_model.get_sigmoid_loss_and_pred`` / ``get_softmax_loss_and_pred``.

The sigmoid head is one element-wise rule,
:func:`monolith_np._rules.losses.sigmoid_loss_pred_elem`:
logit correction, prediction, clipping, sigmoid cross-entropy and its
gradient for one example, sharing one ``exp`` between the loss, the
prediction and the gradient where the formulas allow. The CPU runs it in a
single ``prange`` pass (:func:`_sigmoid_driver`, one compilation per
configuration, loss sums per fixed chunk so results do not depend on the
thread count);
:mod:`monolith_np.cuda.losses` compiles the same rule for the GPU. The
softmax head is vectorised ``xp`` code.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np
from numba import prange

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._compile import cpu_jit, run_cpu
from .._dispatch import gpu_drivers
from .._rules.losses import sigmoid_loss_pred_elem
from .._rules.reduce import lane_sum
from ._forms import GRAD, VALUE, loss_forms

__all__ = [
    "ModeKeys",
    "log_sigmoid",
    "LogitCorrection",
    "logit_correction",
    "get_sigmoid_loss_and_pred",
    "get_sigmoid_loss_and_pred_grad",
    "get_sigmoid_loss_and_pred_and_grad",
    "get_softmax_loss_and_pred",
    "get_softmax_loss_and_pred_grad",
    "get_softmax_loss_and_pred_and_grad",
]

_DTYPES = (np.float32, np.float64)

#: Elements per loss partial sum on the CPU (fixed, so sums do not depend on threads).
_CHUNK = 16384


class ModeKeys:
    """Run modes, the strings of ``tf.estimator.ModeKeys``.

    Attributes
    ----------
    TRAIN : str
        ``"train"``.
    EVAL : str
        ``"eval"``.
    PREDICT : str
        ``"infer"``: no loss is computed.

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np.losses import ModeKeys, get_softmax_loss_and_pred
    >>> ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT
    ('train', 'eval', 'infer')
    >>> loss, pred = get_softmax_loss_and_pred("cls", np.array([[0.0, 2.0]]), np.array([[1.0, 0.0]]),
    ...                                        ModeKeys.PREDICT)
    >>> loss, pred.tolist()
    (None, [1])
    """

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


_MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)


# ---------------------------------------------------------------------------
# CPU driver: validates nothing, allocates nothing.
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _sigmoid_driver(sample_bias, want_grad, single_exp):
    """The CPU driver of the sigmoid head with and without the sample-bias correction and the gradient.

    The three choices (``single_exp`` as in the rule: the prediction's logit
    is the loss's, so one ``exp`` serves both) are fixed in the closure
    (numba keys cached closures on their cell contents), so they are decided
    at compile time: eight compilations per dtype at most, each compiled on
    first use. Every other
    choice is a select inside the rule, so the element loop is branch-free
    and, with the rule's vectorisable ``exp``/``log1p``, compiles to SIMD code
    (a driver deciding the two flags per element ran 2.5-3.5x slower).

    ``driver(x, y, y0, nlsr, nl0, w, w0, keep, k0, sy, ss, sw, sk, clip, tau, before, g, zero, one, pred,
    grad, partial)`` loops ``prange`` over fixed chunks of ``_CHUNK`` examples.
    Each per-example input comes as an ``n``-element array, its broadcast
    value and a flag: ``y[i]`` is used where ``sy`` is 1, ``y0`` where it is
    0 (then ``y`` is any array of at least ``n`` elements, read and ignored: a
    load that always happens lets the loop vectorise). Same for ``nlsr``,
    ``w`` and ``keep`` (uint8, nonzero keeps the example). Writes ``pred``
    (n,), ``grad`` (n,) with ``want_grad``, and ``partial[c]`` (float64),
    chunk ``c``'s loss sum (its terms summed by
    :func:`~monolith_np._rules.reduce.lane_sum`, so results do not depend on
    the thread count).
    """

    def driver(x, y, y0, nlsr, nl0, w, w0, keep, k0, sy, ss, sw, sk, clip, tau, before, g, zero, one, pred, grad,
               partial):
        n = x.shape[0]
        chunks = partial.shape[0]
        for c in prange(chunks):
            lo, hi = c * n // chunks, (c + 1) * n // chunks
            # the chunk's views, indexed from 0 (an index numba need not wrap): their loads and stores vectorise
            xc, yc, nc, wc, kc, pc = x[lo:hi], y[lo:hi], nlsr[lo:hi], w[lo:hi], keep[lo:hi], pred[lo:hi]
            gc = grad[lo:hi] if want_grad else grad
            terms = np.empty(hi - lo, dtype=np.float64)
            for i in range(hi - lo):
                yv, nv, wv, kv = yc[i], nc[i], wc[i], kc[i]
                kept = (kv if sk else k0) != 0
                wi = (wv if sw else w0) if kept else zero
                loss, p, d = sigmoid_loss_pred_elem(xc[i], yv if sy else y0, nv if ss else nl0, wi, sample_bias,
                                                    clip, tau, before, single_exp, g, zero, one)
                pc[i] = p
                terms[i] = loss if kept else 0.0
                if want_grad:
                    gc[i] = d if kept else zero
            partial[c] = lane_sum(terms)

    driver.__qualname__ = "_sigmoid_driver.driver"
    return cpu_jit(parallel=True)(driver)


def _per_example(a, n, dummy):
    """``(array, broadcast value, flag)`` of a per-example input of 1 or ``n`` elements (see :func:`_sigmoid_driver`)."""
    return (a, a[0], 1) if a.shape[0] == n else (dummy, a[0], 0)


# ---------------------------------------------------------------------------
# log_sigmoid and LogitCorrection.
# ---------------------------------------------------------------------------


def log_sigmoid(x):
    """Numerically stable ``log(sigmoid(x))`` (``LogitCorrection.safe_log_sigmoid``).

    Parameters
    ----------
    x : float array
        Logits (numpy or CUDA array).

    Returns
    -------
    array
        ``-(max(x, 0) - x + log1p(exp(-|x|)))``, same shape, dtype and device.

    Raises
    ------
    TypeError
        If ``x`` is not a floating-point array.

    Examples
    --------
    >>> import numpy as np
    >>> log_sigmoid(np.array([0.0, -1000.0])).tolist()
    [-0.6931471805599453, -1000.0]
    """
    xp = array_module(x=x)
    x = asarray(x, xp)
    check_array("x", x, dtype_kinds="f")
    return _log_sigmoid(xp, x)


def _log_sigmoid(xp, x):
    """:func:`log_sigmoid` of a checked float array."""
    zero = x.dtype.type(0)
    return -(xp.maximum(x, zero) - x + xp.log1p(xp.exp(-xp.abs(x))))


_ACTIVATIONS = {
    "linear": lambda xp, x: x,
    "sigmoid": lambda xp, x: xp.where(x >= 0, 1 / (1 + xp.exp(-xp.abs(x))),
                                      xp.exp(-xp.abs(x)) / (1 + xp.exp(-xp.abs(x)))).astype(x.dtype),
    "relu": lambda xp, x: xp.maximum(x, x.dtype.type(0)),
    "tanh": lambda xp, x: xp.tanh(x),
    "softplus": lambda xp, x: (xp.maximum(x, x.dtype.type(0)) + xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype),
    "exponential": lambda xp, x: xp.exp(x),
}


def _check_rate_number(name, sample_rate):
    """A scalar sample rate: finite and ``> 0`` (``-log(rate)`` is the correction; other rates have no meaning)."""
    return check_number(name, sample_rate, low=0.0, low_open=True, finite=True)


def _check_sample_rate(xp, logits, sample_rate, name="sample_rate"):
    """Return ``sample_rate`` as an array broadcastable to ``logits`` without growing it."""
    if isinstance(sample_rate, numbers.Real):
        sample_rate = _check_rate_number(name, sample_rate)
    sr = asarray(sample_rate, xp)
    check_array(name, sr, dtype_kinds="fiu")
    try:
        shape = np.broadcast_shapes(tuple(logits.shape), tuple(sr.shape))
    except ValueError:
        shape = None
    if shape != tuple(logits.shape):
        raise ValueError(f"{name} must be a scalar or have the logits' shape {tuple(logits.shape)}, "
                         f"got shape {tuple(sr.shape)} (the original would silently broadcast to {shape})")
    return sr.astype(logits.dtype, copy=False)


class LogitCorrection:
    """Correct logits for negative down-sampling and sample bias (Monolith's Keras layer).

    Called on ``(logits, sample_rate)``; see :func:`logit_correction` for the
    rule. A plain callable here (no Keras), with the original's constructor
    arguments and static methods.

    Parameters
    ----------
    activation : None, str or callable, default None
        Applied to the corrected logits: ``None``/``"linear"``, ``"sigmoid"``,
        ``"relu"``, ``"tanh"``, ``"softplus"``, ``"exponential"``, or a
        callable taking and returning an array.
    sample_bias : bool, default False
        Also correct the sample bias (fast emit): use ``log_sigmoid(logits)``.

    Raises
    ------
    ValueError
        If ``activation`` is an unknown name.
    TypeError
        If ``activation`` is neither None, a string nor callable.

    Examples
    --------
    >>> import numpy as np
    >>> LogitCorrection()((np.array([0.0, 1.0]), np.array([0.5, 0.5]))).round(4).tolist()
    [0.6931, 1.6931]
    """

    def __init__(self, activation=None, sample_bias=False):
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))} or a "
                                 f"callable, got {activation!r}")
        elif activation is not None and not callable(activation):
            raise TypeError(f"activation must be None, a name or a callable, got {type(activation).__name__}")
        self.activation = activation
        self.sample_bias = bool(sample_bias)

    def __call__(self, inputs, sample_rate=None):
        """Apply the correction (and the activation).

        Parameters
        ----------
        inputs : tuple or float array
            ``(logits, sample_rate)`` as the Keras layer takes them, or the
            logits alone (then ``sample_rate`` is the second argument).
        sample_rate : float or array, optional
            Used when ``inputs`` is not a tuple.

        Returns
        -------
        array
            The corrected logits, shape of the logits.
        """
        if isinstance(inputs, (tuple, list)):
            if len(inputs) != 2:
                raise ValueError(f"inputs must be (logits, sample_rate), got {len(inputs)} items")
            logits, sample_rate = inputs
        else:
            logits = inputs
        out = self.get_sample_logits(logits, sample_rate, self.sample_bias)
        act = self.activation
        if act is None:
            return out
        if isinstance(act, str):
            return _ACTIVATIONS[act](array_module(out), out)
        return act(out)

    @staticmethod
    def safe_log_sigmoid(logits):
        """Stable ``log(sigmoid(logits))``; see :func:`log_sigmoid`.

        Parameters
        ----------
        logits : float array
            Logits.

        Returns
        -------
        array
            ``log(sigmoid(logits))``.
        """
        return log_sigmoid(logits)

    @staticmethod
    def get_sample_logits(logits, sample_rate, sample_bias):
        """The correction without the activation; see :func:`logit_correction`.

        Parameters
        ----------
        logits : float array
            Logits.
        sample_rate : None, float or array
            Negative sampling rate.
        sample_bias : bool
            Use ``log_sigmoid(logits)``.

        Returns
        -------
        array
            The corrected logits.
        """
        xp = array_module(logits=logits, sample_rate=sample_rate)
        logits = asarray(logits, xp)
        check_array("logits", logits, dtypes=_DTYPES)
        if sample_rate is None:
            return _log_sigmoid(xp, logits) if sample_bias else logits
        sr = _check_sample_rate(xp, logits, sample_rate)
        base = _log_sigmoid(xp, logits) if sample_bias else logits
        return (base - xp.log(sr)).astype(logits.dtype, copy=False)

    def get_config(self):
        """Return the constructor arguments (as the Keras layer's ``get_config``).

        Returns
        -------
        dict
            ``{"activation": ..., "sample_bias": ...}``.

        Examples
        --------
        >>> from monolith_np.losses import LogitCorrection
        >>> LogitCorrection(activation="sigmoid", sample_bias=True).get_config()
        {'activation': 'sigmoid', 'sample_bias': True}
        """
        return {"activation": self.activation, "sample_bias": self.sample_bias}


def logit_correction(logits, sample_rate=None, sample_bias=False, activation=None):
    """Function form of :class:`LogitCorrection`.

    Parameters
    ----------
    logits : float32 or float64 array
        Logits, any shape.
    sample_rate : None, float or array, default None
        Sampling rate of the examples: a scalar or an array of the logits'
        shape (a shape that would broadcast the logits larger is an error).
        A scalar must be finite and ``> 0``; an array's entries are data
        (``<= 0`` gives ``inf``/NaN there, as ``-log`` in the original).
    sample_bias : bool, default False
        Use ``log_sigmoid(logits)`` in place of the logits.
    activation : None, str or callable, default None
        As in :class:`LogitCorrection`.

    Returns
    -------
    array
        ``base - log(sample_rate)`` (``base = log_sigmoid(logits)`` with
        ``sample_bias``, else ``logits``); ``base`` alone when
        ``sample_rate`` is None; then the activation.

    Raises
    ------
    TypeError, ValueError
        On bad dtypes, shapes or activation names, or a scalar
        ``sample_rate`` that is not finite and ``> 0``.

    Examples
    --------
    >>> import numpy as np
    >>> logit_correction(np.array([1.0]), 0.1).round(4).tolist()
    [3.3026]
    """
    return LogitCorrection(activation=activation, sample_bias=sample_bias)((logits, sample_rate))


# ---------------------------------------------------------------------------
# get_sigmoid_loss_and_pred.
# ---------------------------------------------------------------------------


def _flat_like(xp, name, value, n, dtype, kinds="fiub"):
    a = asarray(value, xp)
    check_array(name, a, dtype_kinds=kinds)
    if a.size != n:
        raise ValueError(f"{name} must have {n} elements (one per logit), got shape {tuple(a.shape)}")
    return xp.ascontiguousarray(a.reshape(-1)).astype(dtype, copy=False)


def _check_mode(mode, want):
    """Return whether ``mode`` is PREDICT (checked, and never with a gradient)."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
    predict = mode == ModeKeys.PREDICT
    if predict and want != VALUE:
        raise ValueError(f"mode must be 'train' or 'eval' to differentiate the loss, got {mode!r}")
    return predict


def _sigmoid_run(name, logits, label, batch_size, sample_rate=1.0, sample_bias=False, mode=ModeKeys.TRAIN,
                 instance_weight=None, mask=None, logit_clip_threshold=None, predict_before_correction=True, *,
                 want, upstream):
    """Validate the public arguments of the sigmoid head, then :func:`_sigmoid_head`."""
    predict = _check_mode(mode, want)
    xp = array_module(logits=logits, label=label, sample_rate=sample_rate, instance_weight=instance_weight,
                      mask=mask)
    logits = asarray(logits, xp)
    check_array("logits", logits, dtypes=_DTYPES)
    dtype = logits.dtype
    n = logits.size
    one = xp.ones((1,), dtype=dtype)
    zero = xp.zeros((1,), dtype=dtype)
    keep = xp.ones((1,), dtype=np.uint8)
    if predict:
        y, nlsr, w, sb, clip, tau, before = zero, zero, one, False, False, 0.0, True
    else:
        if label is None:
            raise TypeError("label must be an array, got None")
        y = _flat_like(xp, "label", label, n, dtype)
        if sample_rate is None:
            nlsr = zero
        elif isinstance(sample_rate, numbers.Real):
            nlsr = xp.full((1,), -math.log(_check_rate_number("sample_rate", sample_rate)), dtype=dtype)
        else:
            sr = asarray(sample_rate, xp)
            check_array("sample_rate", sr, dtype_kinds="fiu")
            if sr.ndim == 0:
                nlsr = -xp.log(sr.astype(dtype).reshape(1))
            elif sr.shape != (n,):
                raise ValueError(f"sample_rate must be a scalar or have shape ({n},) (one rate per logit), got "
                                 f"shape {tuple(sr.shape)}; the original silently broadcasts e.g. ({n}, 1) "
                                 f"against the logits to ({n}, {n})")
            else:
                nlsr = xp.ascontiguousarray(-xp.log(sr.astype(dtype, copy=False)))
        w = one if instance_weight is None else _flat_like(xp, "instance_weight", instance_weight, n, dtype)
        if mask is not None:
            keep = _flat_like(xp, "mask", mask, n, np.uint8, kinds="biu")
        sb = bool(sample_bias)
        clip = logit_clip_threshold is not None
        tau = 0.0
        if clip:
            c = check_number("logit_clip_threshold", logit_clip_threshold, low=0.0, high=1.0, low_open=True,
                             high_open=True)
            tau = math.log((1.0 - c) / c)
        before = bool(predict_before_correction)
    g = dtype.type(check_number("upstream", upstream)) if want != VALUE else dtype.type(0)
    loss, pred, grad = _sigmoid_head(xp, logits, y, nlsr, w, keep, sb, clip, dtype.type(tau), before, g,
                                     want != VALUE)
    return (None if predict or want == GRAD else loss), pred, grad


def _sigmoid_head(xp, logits, y, nlsr, w, keep, sample_bias, clip, tau, before, g, want_grad):
    """One fused pass over the examples: ``(loss, pred, grad or None)``; inputs already checked."""
    dtype = logits.dtype
    x = xp.ascontiguousarray(logits.reshape(-1))
    n = x.shape[0]
    pred = xp.empty((n,), dtype=dtype)
    grad = xp.empty((n if want_grad else 0,), dtype=dtype)
    zero, one = dtype.type(0), dtype.type(1)
    if xp is np:
        partial = np.zeros((-(-n // _CHUNK),), dtype=np.float64)
        if n:
            ya, y0, sy = _per_example(y, n, x)
            na, n0, ss = _per_example(nlsr, n, x)
            wa, w0, sw = _per_example(w, n, x)
            ka, k0, sk = _per_example(keep, n, x.view(np.uint8))
            single = not clip and (not before or (not sample_bias and not ss and n0 == 0))
            driver = _sigmoid_driver(bool(sample_bias), bool(want_grad), bool(single))
            run_cpu(driver, n, x, ya, y0, na, n0, wa, w0, ka, k0, sy, ss, sw, sk, bool(clip), tau, bool(before), g,
                    zero, one, pred, grad, partial)
    else:
        partial = xp.zeros((n,), dtype=np.float64)
        if n:
            gpu_drivers().losses.sigmoid_loss_pred_gpu(x, y, nlsr, w, keep, sample_bias, clip, tau, before, g,
                                                       zero, one, pred, grad, partial)
    loss = xp.asarray(partial.sum(), dtype=dtype)
    return loss, pred, (grad.reshape(logits.shape) if want_grad else None)


_SIGMOID_DOC = """Sigmoid cross-entropy loss and prediction of a binary head, with logit correction.

    The logits are corrected for negative down-sampling (and optionally the
    sample bias) before the loss; the prediction uses the uncorrected logits
    by default, so it estimates the unbiased probability.

    Parameters
    ----------
    name : str
        Name of the head (kept for the original's signature; unused).
    logits : float32 or float64 array
        Unbiased logits, any shape (flattened to ``(B,)``). numpy arrays run
        on the CPU, CUDA arrays on the GPU.
    label : real array or None
        Labels, ``B`` elements (ignored, may be None, in PREDICT mode).
    batch_size : int
        Ignored, as in the original (the batch size is the logits' size).
    sample_rate : float, array or None, default 1.0
        Negative sampling rate: a scalar (finite and ``> 0``, filled to
        ``(B,)``), ``None`` (ones) or a ``(B,)`` array (its entries are data:
        ``<= 0`` gives ``inf``/NaN there, as in the original). A ``(B, 1)`` array is
        an error here (the original broadcasts it to ``(B, B)``).
    sample_bias : bool, default False
        Correct with ``log_sigmoid(logits)`` (fast emit).
    mode : str, default ModeKeys.TRAIN
        ``"train"``, ``"eval"`` or ``"infer"`` (PREDICT: no loss, so no
        gradient either).
    instance_weight : real array or None, default None
        Per-example weights, ``B`` elements.
    mask : bool array or None, default None
        Examples to keep, ``B`` elements; the others leave the loss.
    logit_clip_threshold : float or None, default None
        ``c`` in ``(0, 1)``: the corrected logit is clipped to
        ``[-tau, tau]``, ``tau = log((1 - c) / c)``. For ``c >= 0.5``,
        ``tau <= 0`` and every logit becomes ``-tau`` (as in the original).
    predict_before_correction : bool, default True
        Predict ``sigmoid(logits)``; otherwise ``sigmoid`` of the corrected
        (unclipped) logits.

    Returns
    -------
    loss : 0-d array or None
        ``sum_i m_i w_i l_i`` (a **sum**), dtype of the logits; None in PREDICT mode.
    pred : (B,) array
        Predicted probabilities.

    Raises
    ------
    TypeError, ValueError
        On bad dtypes, element counts or shapes, an unknown mode, a scalar
        ``sample_rate`` that is not finite and ``> 0``, or a
        ``logit_clip_threshold`` outside ``(0, 1)``; the gradient forms also
        in PREDICT mode (there is no loss).

    See Also
    --------
    get_sigmoid_loss_and_pred_grad, get_sigmoid_loss_and_pred_and_grad, LogitCorrection

    Notes
    -----
    .. math::

        z_i = b(x_i) - \\log s_i, \\quad b(x) = x \\text{ or } \\log\\sigma(x), \\qquad
        l_i = \\max(z_i, 0) - z_i y_i + \\log(1 + e^{-|z_i|})

    with :math:`z` clipped when ``logit_clip_threshold`` is set. One fused
    pass per example on the CPU (``prange``) and GPU. A Python ``int``
    sample rate is used like a float (the original passes it unchanged to
    ``tf.log``, which rejects it).

    The gradient is
    :math:`\\partial l_i / \\partial x_i = m_i w_i (\\sigma(z_i) - y_i)\\, b'(x_i)`
    with :math:`b' = 1` or :math:`\\sigma(-x_i)` (``sample_bias``), and 0
    where clipping is active (TF's ``clip_by_value`` passes the gradient at
    the bounds themselves).

    Examples
    --------
    >>> import numpy as np
    >>> loss, pred = get_sigmoid_loss_and_pred("ctr", np.zeros(2), np.array([0.0, 1.0]), 2)
    >>> round(float(loss), 6), pred.tolist()
    (1.386294, [0.5, 0.5])
    >>> get_sigmoid_loss_and_pred_grad("ctr", np.zeros(2), np.array([0.0, 1.0]), 2).tolist()
    [0.5, -0.5]
    >>> loss, pred, grad = get_sigmoid_loss_and_pred_and_grad("ctr", np.zeros(1), np.ones(1), 1)
    >>> grad.tolist()
    [-0.5]
    """

_SIGMOID = loss_forms(
    _sigmoid_run, _SIGMOID_DOC, name="get_sigmoid_loss_and_pred", module=__name__, wrt=("logits",), n_outputs=2,
    grad_returns="array\n    ``d loss / d logits`` times ``upstream``, shape of ``logits``.")
get_sigmoid_loss_and_pred, get_sigmoid_loss_and_pred_grad, get_sigmoid_loss_and_pred_and_grad = _SIGMOID.forms


# ---------------------------------------------------------------------------
# get_softmax_loss_and_pred (vectorised xp code).
# ---------------------------------------------------------------------------


def _softmax_run(name, logits, label, mode, *, want, upstream):
    """Validate the public arguments of the softmax head, then :func:`_softmax_head`."""
    predict = _check_mode(mode, want)
    xp = array_module(logits=logits, label=label)
    logits = asarray(logits, xp)
    check_array("logits", logits, ndim=2, dtypes=_DTYPES)
    dtype = logits.dtype
    if not predict:
        if label is None:
            raise TypeError("label must be an array, got None")
        label = asarray(label, xp)
        check_array("label", label, dtype_kinds="fiub")
        if label.shape != logits.shape:
            raise ValueError(f"label must have the logits' shape {tuple(logits.shape)} (one distribution per "
                             f"row), got shape {tuple(label.shape)}")
        label = label.astype(dtype, copy=False)
    up = None
    if want != VALUE:
        if hasattr(upstream, "shape"):
            up = asarray(upstream, xp)
        else:
            up = xp.asarray(check_number("upstream", upstream), dtype=dtype)
        check_array("upstream", up, dtype_kinds="fiu")
        if up.shape not in ((), (logits.shape[0],)):
            raise ValueError(f"upstream must be a scalar or have shape ({logits.shape[0]},), "
                             f"got shape {tuple(up.shape)}")
        up = up.astype(dtype, copy=False).reshape(-1, 1) if up.ndim else up.astype(dtype)
    return _softmax_head(xp, logits, None if predict else label, up)


def _softmax_head(xp, logits, label, up):
    """``(loss, pred, grad)``: loss None without ``label`` (PREDICT), grad None without ``up``; inputs checked."""
    dtype = logits.dtype
    shifted = logits - logits.max(axis=1, keepdims=True) if logits.shape[1] else logits
    e = xp.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    pred = xp.argmax(logits, axis=1) if logits.shape[1] else xp.zeros((logits.shape[0],), np.int64)
    if label is None:
        return None, pred, None
    log_p = shifted - xp.log(total)
    loss = -(label * log_p).sum(axis=1)
    if up is None:
        return loss, pred, None
    grad = (e / total * label.sum(axis=1, keepdims=True) - label) * up
    return loss, pred, grad.astype(dtype, copy=False)


_SOFTMAX_DOC = """Softmax cross-entropy loss and arg-max prediction of a multi-class head.

    Parameters
    ----------
    name : str
        Name of the head (kept for the original's signature; unused).
    logits : (B, C) float32 or float64 array
        Class logits.
    label : (B, C) real array or None
        Target distributions (one-hot or soft labels); ignored (may be None)
        in PREDICT mode.
    mode : str
        ``"train"``, ``"eval"`` or ``"infer"`` (PREDICT: no loss, so no
        gradient either).

    Returns
    -------
    loss : (B,) array or None
        Per-example ``-sum_c label * log_softmax(logits)`` (not reduced, as
        the original); None in PREDICT mode.
    pred : (B,) int64 array
        ``argmax`` over classes (of the softmax, i.e. of the logits).

    Raises
    ------
    TypeError, ValueError
        On bad dtypes, shapes or an unknown mode; the gradient forms also in
        PREDICT mode.

    See Also
    --------
    get_softmax_loss_and_pred_grad, get_softmax_loss_and_pred_and_grad

    Notes
    -----
    The gradient is ``upstream_b (softmax(logits_b) * sum(label_b) - label_b)``,
    the exact gradient of the returned loss. TF's registered gradient of
    ``softmax_cross_entropy_with_logits`` is ``softmax - label``, which is
    the same only when each label row sums to 1.

    Examples
    --------
    >>> import numpy as np
    >>> loss, pred = get_softmax_loss_and_pred("cls", np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), "train")
    >>> loss.round(6).tolist(), pred.tolist()
    ([0.693147], [0])
    >>> get_softmax_loss_and_pred_grad("cls", np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), "train").tolist()
    [[-0.5, 0.5]]
    >>> loss, pred, grad = get_softmax_loss_and_pred_and_grad("c", np.zeros((1, 2)), np.eye(2)[:1], "eval")
    >>> grad.tolist()
    [[-0.5, 0.5]]
    """

_SOFTMAX = loss_forms(
    _softmax_run, _SOFTMAX_DOC, name="get_softmax_loss_and_pred", module=__name__, wrt=("logits",), n_outputs=2,
    grad_returns="(B, C) array\n    ``upstream_b (softmax(logits_b) * sum(label_b) - label_b)``.",
    upstream_doc="float or (B,) array, default 1.0\n    Gradient of the objective with respect to each example's loss.")
get_softmax_loss_and_pred, get_softmax_loss_and_pred_grad, get_softmax_loss_and_pred_and_grad = _SOFTMAX.forms
