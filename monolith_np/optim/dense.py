"""Dense optimizers over whole arrays: Monolith's Adamom and Rmsprop.

Monolith trains its dense (non-embedding) variables with two custom TF
optimizers, ``monolith/native_training/optimizers/{adamom,rmsprop}.py``, whose
kernels (``ResourceApplyAdamom`` / ``ResourceApplyRmsprop`` in
``optimizers/cc/kernels/training_ops.cc``) are element-wise float32 Eigen
expressions. :class:`AdamomOptimizer` and :class:`RmspropOptimizer` keep the
original class names, constructor arguments and defaults, and apply the same
update in place to numpy (CPU) or CuPy (GPU) arrays of any shape.

The element rules live in :mod:`monolith_np._rules.dense` (its notes explain
why they are scalar functions that return their results); the ``prange``
loops below run them on the CPU and :mod:`monolith_np.cuda.dense` compiles
them for the GPU.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._backend import array_module
from .._checks import check_array, check_number, check_step
from .._compile import cpu_jit, run_cpu
from .._dispatch import gpu_drivers
from .._rules.dense import adamom_update, rmsprop_dense_update

__all__ = ["AdamomOptimizer", "RmspropOptimizer"]

_FLOAT_DTYPES = (np.float32, np.float64)


adamom_update_cpu = cpu_jit(adamom_update)
rmsprop_dense_update_cpu = cpu_jit(rmsprop_dense_update)


# ---------------------------------------------------------------------------
# CPU drivers: prange over elements (validate nothing)
# ---------------------------------------------------------------------------


@cpu_jit(parallel=True)
def _adamom_cpu(var, m, v, c, grad, lr, ada_decay, mom_decay, epsilon, weight_decay, update_slots, use_v2):
    """Apply :func:`adamom_update` to every element of the flat arrays, in place."""
    for i in prange(var.size):
        var[i], m[i], v[i], c[i] = adamom_update_cpu(
            var[i], m[i], v[i], c[i], grad[i], lr, ada_decay, mom_decay, epsilon, weight_decay, update_slots, use_v2
        )


@cpu_jit(parallel=True)
def _rmsprop_cpu(var, m, v, grad, lr, beta1, beta2, epsilon, weight_decay, update_slots, use_v2):
    """Apply :func:`rmsprop_dense_update` to every element of the flat arrays, in place."""
    for i in prange(var.size):
        var[i], m[i], v[i] = rmsprop_dense_update_cpu(
            var[i], m[i], v[i], grad[i], lr, beta1, beta2, epsilon, weight_decay, update_slots, use_v2
        )


# ---------------------------------------------------------------------------
# Public optimizers
# ---------------------------------------------------------------------------


def _check_learning_rate(learning_rate):
    """Accept a non-negative number or a callable (a schedule); return it."""
    if callable(learning_rate):
        return learning_rate
    return check_number("learning_rate", learning_rate, low=0.0, finite=True)


def _check_decay(name, value):
    return check_number(name, value, low=0.0, high=1.0)


class _DenseOptimizer:
    """Shared machinery: slots, validation, learning rates, CPU/GPU dispatch."""

    _slot_names: tuple = ()

    def _hyper(self, dtype):
        """The rule's hyperparameters after ``lr``, cast to ``dtype``."""
        raise NotImplementedError

    def _run(self, xp, flat, lr, update_slots):
        """Run the CPU or GPU driver over flat arrays ``(var, *slots, grad)``."""
        raise NotImplementedError

    def get_slot_names(self):
        """Return the names of the optimizer's slots, in order.

        Returns
        -------
        list of str
            ``["m", "v", "c"]`` (Adamom) or ``["m", "v"]`` (Rmsprop), like
            ``tf.compat.v1.train.Optimizer.get_slot_names``.
        """
        return list(self._slot_names)

    def init_state(self, params):
        """Create the zero-initialized slots for ``params``.

        Parameters
        ----------
        params : float32 or float64 array, or a list/tuple of them
            The variables (numpy or CuPy arrays of any shape).

        Returns
        -------
        dict or list of dict
            For one array, ``{slot_name: zeros_like(params)}`` (C-contiguous,
            same dtype and device); for a list, one such dict per array.

        Raises
        ------
        TypeError
            If a variable is not a float32/float64 array.
        """
        if isinstance(params, (list, tuple)):
            return [self.init_state(p) for p in params]
        check_array("params", params, dtypes=_FLOAT_DTYPES)
        xp = array_module(params=params)
        return {name: xp.zeros(params.shape, dtype=params.dtype) for name in self._slot_names}

    def _learning_rate_at(self, learning_rate, global_step):
        if learning_rate is None:
            learning_rate = self._learning_rate
        else:
            learning_rate = _check_learning_rate(learning_rate)
        if callable(learning_rate):
            learning_rate = learning_rate(global_step)
            if hasattr(learning_rate, "shape") and learning_rate.shape != ():
                raise ValueError(f"learning_rate must be a scalar, got shape {tuple(learning_rate.shape)}")
            return check_number("learning_rate", float(learning_rate), low=0.0, finite=True)
        return learning_rate

    def apply(self, params, grads, state, learning_rate=None, global_step=0, update_slots=True):
        """Apply one update to ``params`` and its slots, in place.

        Parameters
        ----------
        params : float32 or float64 array, or a list/tuple of them
            The variables, any shape, numpy or CuPy; updated in place
            (non-contiguous views are updated through a contiguous copy).
        grads : array or list/tuple of arrays
            Gradients, same shapes, dtypes and devices as ``params``.
        state : dict or list of dict
            The slots from :meth:`init_state`, updated in place.
        learning_rate : float or callable, optional
            Overrides the constructor's learning rate for this call. A
            callable (e.g. a :class:`monolith_np.schedules.LearningRateFunction`)
            is evaluated at ``global_step``. Must be >= 0.
        global_step : int, default 0
            The step at which a learning-rate schedule is evaluated.
        update_slots : bool, default True
            When False the slots keep their values and the variable steps with
            the stored slots (the op attribute of the original kernels; see
            the class notes for how Rmsprop differs from the original).

        Raises
        ------
        TypeError
            If an array is not float32/float64, dtypes differ, CPU and GPU
            arrays are mixed, or a hyperparameter is not a number.
        ValueError
            If shapes differ, slots are missing, the learning rate is negative
            or ``global_step`` is negative.
        """
        global_step = check_step("global_step", global_step)
        lr = self._learning_rate_at(learning_rate, global_step)
        if isinstance(params, (list, tuple)):
            if not isinstance(grads, (list, tuple)) or len(grads) != len(params):
                raise ValueError(f"grads must be a list of {len(params)} arrays like params, got {_count(grads)}")
            if not isinstance(state, (list, tuple)) or len(state) != len(params):
                raise ValueError(f"state must be a list of {len(params)} slot dicts like params, got {_count(state)}")
            checked = [self._check_one(p, g, s) for p, g, s in zip(params, grads, state)]
        else:
            checked = [self._check_one(params, grads, state)]
        for xp, var, grad, slots in checked:  # every variable validated before any is written
            self._apply_impl(xp, var, grad, slots, lr, bool(update_slots))

    def _check_one(self, var, grad, slots):
        """Validate one variable, its gradient and slots; return ``(xp, var, grad, slot arrays)``."""
        check_array("params", var, dtypes=_FLOAT_DTYPES)
        check_array("grads", grad, dtypes=(var.dtype,), shape=tuple(var.shape))
        if not isinstance(slots, dict) or any(k not in slots for k in self._slot_names):
            keys = sorted(slots) if isinstance(slots, dict) else type(slots).__name__
            raise ValueError(f"state must be a dict with slots {list(self._slot_names)}, got {keys}")
        for name in self._slot_names:
            check_array(f"state[{name!r}]", slots[name], dtypes=(var.dtype,), shape=tuple(var.shape))
        xp = array_module(params=var, grads=grad, **{f"state[{k!r}]": slots[k] for k in self._slot_names})
        arrays = [slots[k] for k in self._slot_names]
        for name, a in zip(("params",) + tuple(f"state[{k!r}]" for k in self._slot_names), [var] + arrays):
            if xp is np and not (isinstance(a, np.ndarray) and a.flags.writeable):
                raise TypeError(f"{name} must be a writeable array, got a read-only {a.dtype} "
                                f"{'array' if isinstance(a, np.ndarray) else 'scalar'}")
        return xp, var, grad, arrays

    def _apply_impl(self, xp, var, grad, slots, lr, update_slots):
        """Update one validated variable and its slot arrays (in ``_slot_names`` order) in place."""
        written = [var] + slots
        flat = [a.reshape(-1) if a.flags.c_contiguous else xp.ascontiguousarray(a).reshape(-1) for a in written]
        flat.append(xp.ascontiguousarray(grad).reshape(-1))
        if var.size:
            self._run(xp, flat, var.dtype.type(lr), update_slots)
        for a, f in zip(written, flat):
            if not a.flags.c_contiguous:
                a[...] = f.reshape(a.shape)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, '_' + k)!r}" for k in self._arg_names)
        return f"{type(self).__name__}({args})"


def _count(x):
    return f"{len(x)} items" if isinstance(x, (list, tuple)) else type(x).__name__


class AdamomOptimizer(_DenseOptimizer):
    """Monolith's Adamom: momentum over a bias-corrected RMS-normalized gradient.

    Re-creates ``monolith.native_training.optimizers.adamom.AdamomOptimizer``
    and its ``ResourceApplyAdamom`` kernel, element-wise over whole arrays.
    Slots ``m`` (momentum), ``v`` (decayed sum of squares) and ``c`` (decayed
    count, the bias correction) start at zero.

    Parameters
    ----------
    learning_rate : float or callable, default 5e-6
        Step size >= 0, or a schedule (a
        :class:`monolith_np.schedules.LearningRateFunction` or any callable of
        the global step) evaluated at ``global_step`` in :meth:`apply`.
    ada_decay : float, default 0.9999
        Decay of ``v`` and ``c``, in [0, 1].
    mom_decay : float, default 0.99
        Decay of the momentum ``m``, in [0, 1].
    epsilon : float, default 1e-6
        Added to ``v / c`` inside the square root (v1) or to the root (v2), >= 0.
    weight_decay : float, default 0.0
        L2 factor folded into the gradient, ``u = weight_decay * var + grad``, >= 0.
    use_locking : bool, default False
        Accepted for compatibility and ignored (updates are not shared between
        threads here).
    name : str, default "Adamom"
        The optimizer's name.
    use_v2 : bool, default False
        The kernel's ``use_v2`` attribute, which the original Python wrapper
        never sets: epsilon outside the square root.

    Notes
    -----
    With :math:`u = \\lambda w + g` (:math:`\\lambda` = ``weight_decay``):

    .. math::

        m &\\leftarrow \\mu m + (1 - \\mu) u, \\qquad
        v \\leftarrow \\alpha v + u^2, \\qquad
        c \\leftarrow \\alpha c + 1, \\\\
        w &\\leftarrow w - \\frac{m\\,\\eta}{\\sqrt{v / c + \\epsilon}}
        \\quad\\text{(v2: } w - \\frac{m\\,\\eta}{\\sqrt{v / c} + \\epsilon}\\text{)}

    with :math:`\\mu` = ``mom_decay``, :math:`\\alpha` = ``ada_decay``,
    evaluated in the arrays' dtype in this order. ``c`` is
    :math:`\\sum_k \\alpha^k`, so :math:`v / c` is a bias-corrected mean square.

    Differences from the original: the reciprocal square root is
    ``1 / sqrt(x)`` correctly rounded, where Eigen's (and ``tf.math.rsqrt``'s)
    is a hardware approximation refined by a Newton step (a few ulps); float64
    arrays are accepted (the original registers float32 only); the original
    registers a CPU kernel only. ``update_slots=False`` behaves as in the
    original: slots unchanged, the variable still steps with the stored slots.

    References
    ----------
    ``monolith/native_training/optimizers/adamom.py`` and
    ``optimizers/cc/kernels/training_ops.cc`` (``ApplyAdamom``).

    Examples
    --------
    The original test (``adamom_test.py``): one step on ``var = 0.1`` with the
    gradient of ``0.12 * var``.

    >>> import numpy as np
    >>> opt = AdamomOptimizer(learning_rate=0.1, weight_decay=0.01, ada_decay=0.99, mom_decay=0.9)
    >>> var = np.array([0.1], np.float32)
    >>> state = opt.init_state(var)
    >>> opt.apply(var, np.array([0.12], np.float32), state)
    >>> print(state["m"], state["v"], state["c"], var)
    [0.0121] [0.014641] [1.] [0.09000034]
    """

    _slot_names = ("m", "v", "c")
    _arg_names = ("learning_rate", "ada_decay", "mom_decay", "epsilon", "weight_decay", "use_locking", "name",
                  "use_v2")

    def __init__(self, learning_rate=5e-6, ada_decay: float = 0.9999, mom_decay: float = 0.99,
                 epsilon: float = 1e-6, weight_decay: float = 0.0, use_locking: bool = False, name="Adamom", *,
                 use_v2: bool = False):
        self._learning_rate = _check_learning_rate(learning_rate)
        self._ada_decay = _check_decay("ada_decay", ada_decay)
        self._mom_decay = _check_decay("mom_decay", mom_decay)
        self._epsilon = check_number("epsilon", epsilon, low=0.0, finite=True)
        self._weight_decay = check_number("weight_decay", weight_decay, low=0.0, finite=True)
        self._use_locking = bool(use_locking)
        self._name = name
        self._use_v2 = bool(use_v2)

    def _hyper(self, dtype):
        t = np.dtype(dtype).type
        return t(self._ada_decay), t(self._mom_decay), t(self._epsilon), t(self._weight_decay)

    def _run(self, xp, flat, lr, update_slots):
        var, m, v, c, grad = flat
        hyper = self._hyper(var.dtype)
        if xp is np:
            run_cpu(_adamom_cpu, var.size, var, m, v, c, grad, lr, *hyper, update_slots, self._use_v2)
        else:
            gpu_drivers().dense.adamom_gpu(var, m, v, c, grad, lr, *hyper, update_slots, self._use_v2)


class RmspropOptimizer(_DenseOptimizer):
    """Monolith's Rmsprop: heavy-ball momentum over RMS-normalized steps.

    Re-creates ``monolith.native_training.optimizers.rmsprop.RmspropOptimizer``
    and its ``ResourceApplyRmsprop`` kernel (v1 and ``use_v2``), element-wise
    over whole arrays. Slots ``m`` (momentum of scaled steps) and ``v`` (mean
    square) start at zero.

    Parameters
    ----------
    learning_rate : float or callable, default 5e-6
        Step size >= 0, or a schedule evaluated at ``global_step`` in
        :meth:`apply`.
    beta1 : float, default 0.99
        Momentum of the scaled steps, in [0, 1].
    beta2 : float, default 0.999
        Decay of the mean square ``v``, in [0, 1].
    epsilon : float, default 1e-8
        Added to ``v`` inside the square root (v1) or to the root (v2), >= 0.
    weight_decay : float, default 0.0
        L2 factor folded into the gradient, ``u = weight_decay * var + grad``, >= 0.
    use_locking : bool, default False
        Accepted for compatibility and ignored.
    use_v2 : bool, default False
        Use the second form: ``v = beta2 * v + u**2`` (no ``1 - beta2``
        factor) and epsilon outside the square root.
    name : str, default "Rmsprop"
        The optimizer's name.

    Notes
    -----
    With :math:`u = \\lambda w + g`, v1:

    .. math::

        v &\\leftarrow v + (u^2 - v)(1 - \\beta_2), \\qquad
        m \\leftarrow \\beta_1 m + \\frac{u\\,\\eta}{\\sqrt{v + \\epsilon}}, \\qquad
        w \\leftarrow w - m

    and v2: :math:`v \\leftarrow \\beta_2 v + u^2`,
    :math:`m \\leftarrow \\beta_1 m + u\\,\\eta / (\\sqrt{v} + \\epsilon)`,
    :math:`w \\leftarrow w - m`. With ``weight_decay = 0`` v1 is exactly
    TensorFlow's ``ApplyRMSProp`` (``rho = beta2``, ``momentum = beta1``).

    Differences from the original: ``update_slots=False`` here keeps the
    slots and still steps the variable by ``beta1 * m + u * lr / sqrt(v + eps)``
    computed from the stored slots (the same convention as Adamom and as TF's
    ``update_slots`` attributes), where the original kernel skips the whole
    update, variable included. The reciprocal square root
    is correctly rounded (Eigen's is approximate, a few ulps); float64 arrays
    are accepted.

    References
    ----------
    ``monolith/native_training/optimizers/rmsprop.py`` and
    ``optimizers/cc/kernels/training_ops.cc`` (``ApplyRmsprop``,
    ``ApplyRmspropV2``).

    Examples
    --------
    The original test (``rmsprop_test.py``):

    >>> import numpy as np
    >>> opt = RmspropOptimizer(learning_rate=0.1, weight_decay=1, beta1=0.9, beta2=0.9, epsilon=0.1)
    >>> var = np.array([0.1], np.float32)
    >>> state = opt.init_state(var)
    >>> opt.apply(var, np.array([0.12], np.float32), state)
    >>> print(state["m"], state["v"], var)
    [0.06794526] [0.00484] [0.03205474]
    """

    _slot_names = ("m", "v")
    _arg_names = ("learning_rate", "beta1", "beta2", "epsilon", "weight_decay", "use_locking", "use_v2", "name")

    def __init__(self, learning_rate=5e-6, beta1: float = 0.99, beta2: float = 0.999, epsilon: float = 1e-8,
                 weight_decay: float = 0.0, use_locking: bool = False, use_v2: bool = False, name="Rmsprop"):
        self._learning_rate = _check_learning_rate(learning_rate)
        self._beta1 = _check_decay("beta1", beta1)
        self._beta2 = _check_decay("beta2", beta2)
        self._epsilon = check_number("epsilon", epsilon, low=0.0, finite=True)
        self._weight_decay = check_number("weight_decay", weight_decay, low=0.0, finite=True)
        self._use_locking = bool(use_locking)
        self._use_v2 = bool(use_v2)
        self._name = name

    def _hyper(self, dtype):
        t = np.dtype(dtype).type
        return t(self._beta1), t(self._beta2), t(self._epsilon), t(self._weight_decay)

    def _run(self, xp, flat, lr, update_slots):
        var, m, v, grad = flat
        hyper = self._hyper(var.dtype)
        if xp is np:
            run_cpu(_rmsprop_cpu, var.size, var, m, v, grad, lr, *hyper, update_slots, self._use_v2)
        else:
            gpu_drivers().dense.rmsprop_gpu(var, m, v, grad, lr, *hyper, update_slots, self._use_v2)
