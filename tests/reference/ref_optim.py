"""References for :mod:`monolith_np.optim`.

* ``tf_sparse_apply``: TensorFlow's ``ResourceSparseApply*`` raw ops on a
  variable (the rule TF runs on embedding rows, duplicates summed first with
  ``tf.unique`` + ``unsorted_segment_sum``).
* ``original_entry``: Monolith's own ``entry.py`` loaded from the repository
  mirror, with its two Monolith imports (``monolith_export`` and the
  generated ``embedding_hash_table_pb2``) pointed at stand-ins (our
  wire-identical protos); tests skip when the mirror is absent.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import tensorflow as tf

MIRROR = Path("/work/.mirror/bytedance+monolith/repo")


def tf_sparse_apply(op, params, rows, grads, slots, **kwargs):
    """Run ``tf.raw_ops.<op>`` on a copy of ``params``; return (params, slots) as numpy.

    ``slots`` are the op's accumulator variables in its argument order
    (``accum``, ``linear``, ``m``, ``v``...), given as numpy arrays.
    """
    var = tf.Variable(params)
    slot_vars = [tf.Variable(s) for s in slots]
    uniq, idx = tf.unique(tf.constant(rows, tf.int64))
    summed = tf.math.unsorted_segment_sum(tf.constant(grads), idx, tf.shape(uniq)[0])
    names = {
        "ResourceSparseApplyAdagradV2": ("var", "accum"),
        "ResourceSparseApplyFtrl": ("var", "accum", "linear"),
        "ResourceSparseApplyMomentum": ("var", "accum"),
        "ResourceSparseApplyAdadelta": ("var", "accum", "accum_update"),
    }[op]
    args = dict(zip(names, [var.handle] + [s.handle for s in slot_vars]))
    getattr(tf.raw_ops, op)(**args, grad=summed, indices=uniq, **kwargs)
    return var.numpy(), [s.numpy() for s in slot_vars]


def tf_apply_adam(params, m, v, grads, lr, beta1, beta2, epsilon, beta1_power, beta2_power, use_nesterov=False):
    """``tf.raw_ops.ResourceApplyAdam`` on every row (scalar powers)."""
    var, mv, vv = tf.Variable(params), tf.Variable(m), tf.Variable(v)
    tf.raw_ops.ResourceApplyAdam(var=var.handle, m=mv.handle, v=vv.handle, beta1_power=np.float32(beta1_power),
                                 beta2_power=np.float32(beta2_power), lr=np.float32(lr), beta1=np.float32(beta1),
                                 beta2=np.float32(beta2), epsilon=np.float32(epsilon), grad=tf.constant(grads),
                                 use_nesterov=use_nesterov)
    return var.numpy(), mv.numpy(), vv.numpy()


def original_entry():
    """Monolith's ``entry.py`` as a module, or None when the mirror is absent."""
    try:
        source = subprocess.run(["git", "-C", str(MIRROR), "show", "HEAD:monolith/native_training/entry.py"],
                                capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    from monolith_np.proto import embedding_hash_table_pb2

    stubs = {
        "monolith": types.ModuleType("monolith"),
        "monolith.native_training": types.ModuleType("monolith.native_training"),
        "monolith.native_training.monolith_export": types.ModuleType("monolith.native_training.monolith_export"),
        "monolith.native_training.runtime": types.ModuleType("monolith.native_training.runtime"),
        "monolith.native_training.runtime.hash_table": types.ModuleType("monolith.native_training.runtime.hash_table"),
    }
    stubs["monolith.native_training.monolith_export"].monolith_export = lambda obj: obj
    stubs["monolith.native_training.runtime.hash_table"].embedding_hash_table_pb2 = embedding_hash_table_pb2
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        module = types.ModuleType("monolith_original_entry")
        exec(compile(source, "entry.py", "exec"), module.__dict__)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return module
