"""References for :mod:`monolith_np.schedules`, written with TensorFlow.

* ``ref_polynomial_decay``: ``tf.compat.v1.train.polynomial_decay``, which is
  what Monolith's ``PolynomialDecay.__call__`` returns at the global step.
* ``ref_keras``: the ``tf.keras.optimizers.schedules`` class of the same name
  (Keras 3 on the TF backend) with the same keyword arguments.
* ``ref_norm_warmup``: a TF transcription of ``feature_utils._gen_norm_warmup``
  (``tf.cond`` on an int64 global step, float32 division, times the clip norm).
* ``ref_linear_warmup``: the documented warm-up formula in TF float32 ops
  around a Keras schedule.
* ``original_learning_rate_functions``: Monolith's own module, loaded from the
  repository mirror when it is present (tests skip otherwise).

Every reference evaluates one step at a time on a scalar int64 tensor (how the
original reads its global-step variable) unless ``vectorized=True``, and
returns a float32 numpy array shaped like ``steps``. TF flushes subnormal
floats to zero on the CPU, so where a result (or an intermediate) falls below
the smallest normal float32 (~1.2e-38) TF returns 0.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

MIRROR = Path("/work/.mirror/bytedance+monolith/repo")
_ORIGINAL_PATH = "monolith/native_training/learning_rate_functions.py"


def _per_step(fn, steps, vectorized):
    """Evaluate ``fn(int64 tensor)`` over ``steps`` (all at once or step by step)."""
    steps = np.asarray(steps, dtype=np.int64)
    if vectorized:
        return np.asarray(fn(tf.constant(steps)), dtype=np.float32).reshape(steps.shape)
    flat = [np.float32(fn(tf.constant(s, dtype=tf.int64))) for s in steps.reshape(-1)]
    return np.array(flat, dtype=np.float32).reshape(steps.shape)


def ref_polynomial_decay(steps, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                         cycle=False, vectorized=False):
    """``tf.compat.v1.train.polynomial_decay`` at each step (float32 for Python floats)."""

    def fn(step):
        out = tf.compat.v1.train.polynomial_decay(
            learning_rate=initial_learning_rate,
            global_step=step,
            decay_steps=decay_steps,
            end_learning_rate=end_learning_rate,
            power=power,
            cycle=cycle,
        )
        return out() if callable(out) else out  # eager mode returns a closure

    return _per_step(fn, steps, vectorized)


def ref_keras(name, steps, vectorized=False, **kwargs):
    """``tf.keras.optimizers.schedules.<name>(**kwargs)`` at each step."""
    schedule = getattr(tf.keras.optimizers.schedules, name)(**kwargs)
    return _per_step(schedule, steps, vectorized)


def ref_norm_warmup(clip_norm, steps, warmup_steps):
    """TF transcription of Monolith's ``_gen_norm_warmup`` at each step (float32 result)."""

    def fn(step):
        if not warmup_steps:
            return tf.constant(clip_norm, tf.float32)
        scale = tf.cond(
            tf.less(step, warmup_steps),
            lambda: tf.compat.v1.div(tf.cast(step, dtype=tf.float32), float(warmup_steps)),
            lambda: 1.0,
        )
        return scale * clip_norm

    return _per_step(fn, steps, vectorized=False)


def ref_linear_warmup(keras_name, schedule_kwargs, steps, warmup_steps, initial_learning_rate=0.0):
    """The documented linear warm-up in front of ``keras_name(**schedule_kwargs)``, in TF float32 ops."""
    schedule = getattr(tf.keras.optimizers.schedules, keras_name)(**schedule_kwargs)
    target = tf.cast(schedule(tf.constant(warmup_steps, tf.int64)), tf.float32)
    start = tf.constant(initial_learning_rate, tf.float32)

    def fn(step):
        if step < warmup_steps:
            fraction = tf.cast(step, tf.float32) / tf.constant(float(warmup_steps), tf.float32)
            return (target - start) * fraction + start
        return schedule(step)

    return _per_step(fn, steps, vectorized=False)


def original_learning_rate_functions():
    """Import Monolith's ``learning_rate_functions`` from the mirror, or return None if absent."""
    if not MIRROR.exists():
        return None
    try:
        source = subprocess.run(
            ["git", "-C", str(MIRROR), "show", f"HEAD:{_ORIGINAL_PATH}"],
            capture_output=True, check=True, text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp(prefix="monolith_orig_")) / "learning_rate_functions.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("monolith_original_learning_rate_functions", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def ref_original(fn, steps):
    """Evaluate an original Monolith ``LearningRateFunction`` at each step (graph mode, like Monolith)."""
    out = []
    for step in np.asarray(steps, dtype=np.int64).reshape(-1):
        with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
            global_step = tf.compat.v1.train.get_or_create_global_step()
            value = fn()
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(global_step.assign(int(step)))
            out.append(np.float32(sess.run(value)))
    return np.array(out, dtype=np.float32).reshape(np.shape(steps))
