"""The losses of :mod:`monolith_np.losses` as TensorFlow ops with custom gradients.

One generic wrapper, driven by :data:`monolith_np.losses._specs.SPECS`, turns
every differentiable loss into a ``tf.custom_gradient`` function with the same
name, argument names and defaults: the forward runs ``spec.value`` and the
gradient runs ``spec.grad(..., upstream=dy)`` for the arguments in
``spec.wrt`` (the others get no gradient). Tensors cross with DLPack
(:func:`monolith_np.tf.to_array` / :func:`monolith_np.tf.to_tensor`); inside
``tf.function`` both directions run as ``tf.py_function`` nodes and the static
shapes are restored on their outputs.
"""

from __future__ import annotations

import inspect

import numpy as np
import tensorflow as tf

from .._backend import is_cuda_array
from ..losses._specs import SPECS
from ._convert import _eager_or_py_function, to_array, to_tensor

__all__ = sorted(SPECS)

#: Losses whose second output (the prediction) is not in the loss dtype.
_PRED_DTYPES = {"get_softmax_loss_and_pred": tf.int64}
_FLOATS = (tf.float32, tf.float64)


def _is_tensor(value):
    return isinstance(value, (tf.Tensor, tf.Variable, np.ndarray)) or tf.is_tensor(value) or (
        is_cuda_array(value) and not np.isscalar(value))


def _as_tensor(name, value):
    try:
        if isinstance(value, np.ndarray) or is_cuda_array(value):
            return to_tensor(value) if tf.executing_eagerly() else tf.convert_to_tensor(value)
        return tf.convert_to_tensor(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a tensor or array, got {type(value).__name__}: {err}") from None


def _output_shapes(name, arguments, tensors):
    """Static shapes of the forward's outputs (unknown ones as ``None``)."""
    if name == "get_softmax_loss_and_pred":
        batch = tensors["logits"].shape[:1]
        return [batch, batch]
    if name == "get_sigmoid_loss_and_pred":
        n = tensors["logits"].shape.num_elements()
        return [tf.TensorShape([]), tf.TensorShape([n])]
    if arguments.get("reduction", "weighted_sum") == "none":
        return [None]
    return [tf.TensorShape([])]


def _make(name):
    spec = SPECS[name]
    sig = inspect.signature(spec.value)

    def loss(*args, **kwargs):
        bound = spec.bind(args, kwargs)
        arguments = dict(bound.arguments)
        tensor_names = [n for n, v in arguments.items()
                        if v is not None and (n in spec.wrt or _is_tensor(v))]
        tensors = {n: _as_tensor(n, arguments[n]) for n in tensor_names}
        for n in spec.wrt:
            if n not in tensors:
                raise TypeError(f"{n} must be a float tensor, got None")
            if tensors[n].dtype not in _FLOATS:
                raise TypeError(f"{n} must be a float32 or float64 tensor, "
                                f"got {tensors[n].dtype.name}")
        static = {n: v for n, v in arguments.items() if n not in tensors}
        wrt_pos = [tensor_names.index(n) for n in spec.wrt]
        loss_dtype = tensors[spec.wrt[0]].dtype
        touts = [loss_dtype] + ([_PRED_DTYPES.get(name, loss_dtype)] if spec.n_outputs == 2 else [])
        shapes = _output_shapes(name, arguments, tensors)

        def numpy_args(ts):
            kw = dict(static)
            kw.update({n: to_array(t) for n, t in zip(tensor_names, ts)})
            return kw

        if spec.n_outputs == 2 and arguments.get("mode") == "infer":  # no loss in PREDICT mode
            def predict(*ts):
                return to_tensor(np.asarray(spec.value(**numpy_args(ts))[1], touts[1].as_numpy_dtype))

            pred = _eager_or_py_function(predict, list(tensors.values()), touts[1])
            if not tf.executing_eagerly():
                pred.set_shape(shapes[1])
            return None, pred

        def forward(*ts):
            out = spec.value(**numpy_args(ts))
            out = out if spec.n_outputs == 2 else (out,)
            return [to_tensor(np.asarray(o, t.as_numpy_dtype)) for o, t in zip(out, touts)]

        def backward(*ts_and_dy):
            *ts, dy = ts_and_dy
            grads = spec.grad(**numpy_args(ts), upstream=to_array(dy))
            grads = grads if len(spec.wrt) > 1 else (grads,)
            return [to_tensor(np.asarray(g, ts[i].dtype.as_numpy_dtype)) for g, i in zip(grads, wrt_pos)]

        @tf.custom_gradient
        def op(*ts):
            outs = list(_eager_or_py_function(forward, list(ts), touts))
            if not tf.executing_eagerly():
                for o, s in zip(outs, shapes):
                    if s is not None:
                        o.set_shape(s)

            def grad(*dys):
                result = [None] * len(ts)
                if dys[0] is None:
                    return result
                gs = _eager_or_py_function(backward, list(ts) + [tf.cast(dys[0], loss_dtype)],
                                           [ts[i].dtype for i in wrt_pos])
                for i, g in zip(wrt_pos, gs):
                    if not tf.executing_eagerly():
                        g.set_shape(ts[i].shape)
                    result[i] = g
                return result

            return (outs[0], outs[1]) if spec.n_outputs == 2 else outs[0], grad

        out = op(*tensors.values())
        if spec.n_outputs == 2:
            return out[0], tf.stop_gradient(out[1])
        return out

    loss.__name__ = loss.__qualname__ = name
    loss.__module__ = __name__
    loss.__signature__ = sig
    loss.__doc__ = _docstring(name, spec, sig)
    return loss


#: The ranking losses' example: one list of four items, ``{extra}`` holds extra arguments.
_RANKING_EXAMPLE = """\
>>> import tensorflow as tf
>>> from monolith_np.tf import {name}
>>> labels = tf.constant([[2.0, 1.0, 0.0, -1.0]])  # the last item is invalid
>>> logits = tf.Variable([[0.2, 0.9, -0.4, 1.5]])
>>> with tf.GradientTape() as tape:
...     loss = {name}(labels, logits{extra})
>>> round(float(loss), 4)
{loss}
>>> tape.gradient(loss, logits).numpy().round(4)
{grad}"""

#: ``(extra arguments, loss, gradient)`` of each ranking loss on the example list.
_RANKING_RESULTS = {
    "approx_ndcg_loss": ("", "-0.7963", "array([[-0.0035, -0.0004,  0.0039,  0.    ]], dtype=float32)"),
    "list_mle_loss": (", seed=0", "1.5115", "array([[-0.7193,  0.3511,  0.3682,  0.    ]], dtype=float32)"),
    "mean_squared_loss": ("", "1.1367", "array([[-1.2   , -0.0667, -0.2667,  0.    ]], dtype=float32)"),
    "pairwise_hinge_loss": ("", "0.8333", "array([[-1.    ,  0.3333,  0.6667,  0.    ]], dtype=float32)"),
    "pairwise_logistic_loss": ("", "0.7397", "array([[-0.459 ,  0.1513,  0.3076,  0.    ]], dtype=float32)"),
    "pairwise_soft_zero_one_loss": ("", "0.5303", "array([[-0.2264,  0.0178,  0.2086,  0.    ]], dtype=float32)"),
    "sigmoid_cross_entropy_loss": ("", "0.4174", "array([[-0.4834, -0.0964,  0.1338,  0.    ]], dtype=float32)"),
    "softmax_loss": ("", "3.1114", "array([[-1.1579,  0.6958,  0.4621,  0.    ]], dtype=float32)"),
}

#: The Examples section of each loss, by name.
_EXAMPLES = {
    name: _RANKING_EXAMPLE.format(name=name, extra=extra, loss=loss, grad=grad)
    for name, (extra, loss, grad) in _RANKING_RESULTS.items()
}
_EXAMPLES["batch_softmax_loss"] = """\
>>> import tensorflow as tf
>>> from monolith_np.tf import batch_softmax_loss
>>> query = tf.Variable([[1.0, 0.0], [0.0, 1.0]])
>>> item = tf.Variable([[1.0, 0.0], [0.0, 1.0]])
>>> with tf.GradientTape() as tape:
...     loss = batch_softmax_loss(query, item, tf.ones(2), tf.ones(2))
>>> round(float(loss), 5)  # 2 * log(1 + e^-1)
0.62652
>>> d_query, d_item = tape.gradient(loss, [query, item])
>>> d_query.numpy().round(4)
array([[0.    , 0.2689],
       [0.2689, 0.    ]], dtype=float32)"""
_EXAMPLES["inbatch_auc_loss"] = """\
>>> import tensorflow as tf
>>> from monolith_np.tf import inbatch_auc_loss
>>> logit = tf.Variable([0.0, 0.0])
>>> with tf.GradientTape() as tape:
...     loss = inbatch_auc_loss(tf.constant([1.0, 0.0]), logit)
>>> round(float(loss), 6)  # log(sigmoid(0))
-0.693147
>>> tape.gradient(loss, logit).numpy()
array([ 0.5, -0.5], dtype=float32)"""
_EXAMPLES["get_sigmoid_loss_and_pred"] = """\
>>> import tensorflow as tf
>>> from monolith_np.tf import get_sigmoid_loss_and_pred
>>> logits = tf.Variable([0.0, 0.0])
>>> with tf.GradientTape() as tape:
...     loss, pred = get_sigmoid_loss_and_pred("ctr", logits, tf.constant([0.0, 1.0]), 2)
>>> round(float(loss), 6), pred.numpy().tolist()
(1.386294, [0.5, 0.5])
>>> tape.gradient(loss, logits).numpy()
array([ 0.5, -0.5], dtype=float32)
>>> get_sigmoid_loss_and_pred("ctr", logits, tf.constant([0.0, 1.0]), 2, mode="infer")[0] is None
True"""
_EXAMPLES["get_softmax_loss_and_pred"] = """\
>>> import tensorflow as tf
>>> from monolith_np.tf import get_softmax_loss_and_pred
>>> logits = tf.Variable([[0.0, 0.0]])
>>> with tf.GradientTape() as tape:
...     loss, pred = get_softmax_loss_and_pred("cls", logits, tf.constant([[1.0, 0.0]]), "train")
>>> loss.numpy().round(6), pred  # one loss per row; pred is the argmax class
(array([0.693147], dtype=float32), <tf.Tensor: shape=(1,), dtype=int64, numpy=array([0])>)
>>> tape.gradient(loss, logits).numpy()
array([[-0.5,  0.5]], dtype=float32)"""


def _docstring(name, spec, sig):
    params = []
    for p, param in sig.parameters.items():
        if p in spec.wrt:
            what = "tf.Tensor or array"
            note = "Differentiable: the gradient is the library's own."
        else:
            what = "tensor, array or Python value"
            if param.default is not inspect.Parameter.empty:
                what += f", default {param.default!r}"
            note = "No gradient."
        params.append(f"{p} : {what}\n    Same meaning as in :func:`monolith_np.losses.{name}`. {note}")
    if spec.n_outputs == 2:
        returns = ("loss : tf.Tensor or None\n    Differentiable with respect to "
                   + ", ".join(spec.wrt) + " (None in ``\"infer\"`` mode).\n"
                   "pred : tf.Tensor\n    The prediction, with no gradient (``tf.stop_gradient``).")
    else:
        returns = "tf.Tensor\n    The loss, differentiable with respect to " + ", ".join(spec.wrt) + "."
    return (
        f"TensorFlow op for :func:`monolith_np.losses.{name}`, with its gradient kernel.\n\n"
        "Works eagerly and inside ``tf.function`` (where the numpy calls run in\n"
        "``tf.py_function`` nodes). Tensor arguments cross with DLPack; the others\n"
        "are passed through unchanged.\n\n"
        "Parameters\n----------\n" + "\n".join(params) + "\n\n"
        "Returns\n-------\n" + returns + "\n\n"
        "Raises\n------\nTypeError, ValueError\n"
        "    Same as the numpy function (inside ``tf.function``, at run time as\n"
        "    ``tf.errors.InvalidArgumentError`` carrying the same message).\n"
        + (f"\nExamples\n--------\n{_EXAMPLES[name]}\n" if name in _EXAMPLES else "")
    )


for _name in SPECS:
    globals()[_name] = _make(_name)
del _name
