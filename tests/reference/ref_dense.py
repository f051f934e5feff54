"""References for :mod:`monolith_np.optim.dense`, written with TensorFlow.

* ``ref_adamom`` / ``ref_rmsprop``: TF transcriptions of Monolith's
  ``ResourceApplyAdamom`` / ``ResourceApplyRmsprop`` kernels
  (``optimizers/cc/kernels/training_ops.cc``): the same element-wise
  expressions, in the same order, as eager TF ops in the arrays' dtype.
  ``rsqrt="eigen"`` uses ``tf.math.rsqrt`` (Eigen's reciprocal square root,
  what the original kernel runs: a hardware approximation refined by a Newton
  step); ``rsqrt="exact"`` uses ``1 / tf.sqrt`` (correctly rounded, what
  monolith_np computes).
* ``ref_tf_apply_rmsprop``: TensorFlow's own ``ResourceApplyRMSProp`` raw op,
  which is Monolith's Rmsprop v1 with ``weight_decay = 0`` (``rho = beta2``,
  ``momentum = beta1``); weight decay is folded into the gradient first.

Every function takes numpy arrays and returns new numpy arrays
``(var, m, v[, c])``. TF flushes subnormal floats to zero on the CPU.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _rsqrt(x, mode):
    if mode == "eigen":
        return tf.math.rsqrt(x)
    return tf.constant(1.0, x.dtype) / tf.sqrt(x)


def ref_adamom(var, m, v, c, grad, lr, ada_decay, mom_decay, epsilon, weight_decay, update_slots=True,
               use_v2=False, rsqrt="exact"):
    """One ``ResourceApplyAdamom`` step in TF ops; returns ``(var, m, v, c)``."""
    dtype = tf.as_dtype(var.dtype)
    var, m, v, c, grad = (tf.constant(a) for a in (var, m, v, c, grad))
    lr, ada, mom, eps, wd = (tf.constant(x, dtype) for x in (lr, ada_decay, mom_decay, epsilon, weight_decay))
    one = tf.constant(1.0, dtype)
    u = wd * var + grad
    if update_slots:
        m = mom * m + (one - mom) * u
        v = ada * v + u * u
        c = ada * c + one
    if use_v2:
        var = var - m * lr / (tf.sqrt(v / c) + eps)
    else:
        var = var - (m * lr) * _rsqrt(v / c + eps, rsqrt)
    return tuple(t.numpy() for t in (var, m, v, c))


def ref_rmsprop(var, m, v, grad, lr, beta1, beta2, epsilon, weight_decay, update_slots=True, use_v2=False,
                rsqrt="exact", original_update_slots=False):
    """One ``ResourceApplyRmsprop`` step in TF ops; returns ``(var, m, v)``.

    With ``update_slots=False`` the slots keep their values and the variable
    steps by the momentum computed from them (monolith_np's convention);
    ``original_update_slots=True`` instead returns the inputs unchanged, as
    the original kernel does.
    """
    if not update_slots and original_update_slots:
        return var.copy(), m.copy(), v.copy()
    dtype = tf.as_dtype(var.dtype)
    var, m, v, grad = (tf.constant(a) for a in (var, m, v, grad))
    lr, b1, b2, eps, wd = (tf.constant(x, dtype) for x in (lr, beta1, beta2, epsilon, weight_decay))
    one = tf.constant(1.0, dtype)
    u = wd * var + grad
    if use_v2:
        v_new = b2 * v + u * u if update_slots else v
        step = b1 * m + (u * lr) / (tf.sqrt(v_new) + eps)
    else:
        v_new = v + (u * u - v) * (one - b2) if update_slots else v
        step = b1 * m + (u * lr) * _rsqrt(v_new + eps, rsqrt)
    if update_slots:
        return (var - step).numpy(), step.numpy(), v_new.numpy()
    return (var - step).numpy(), m.numpy(), v.numpy()


def ref_tf_apply_rmsprop(var, m, v, grad, lr, beta1, beta2, epsilon, weight_decay=0.0):
    """TensorFlow's ``ResourceApplyRMSProp`` (weight decay folded into the gradient); returns ``(var, m, v)``."""
    dtype = tf.as_dtype(var.dtype)
    u = tf.constant(weight_decay, dtype) * tf.constant(var) + tf.constant(grad)
    var_t, ms_t, mom_t = tf.Variable(var), tf.Variable(v), tf.Variable(m)
    tf.raw_ops.ResourceApplyRMSProp(
        var=var_t.handle, ms=ms_t.handle, mom=mom_t.handle, lr=tf.constant(lr, dtype),
        rho=tf.constant(beta2, dtype), momentum=tf.constant(beta1, dtype), epsilon=tf.constant(epsilon, dtype),
        grad=u,
    )
    return var_t.numpy(), mom_t.numpy(), ms_t.numpy()


def np_float(x, dtype=np.float32):
    """Helper for tests: ``x`` as an array of ``dtype``."""
    return np.asarray(x, dtype=dtype)
