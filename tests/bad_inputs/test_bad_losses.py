"""Bad inputs to every public loss, gradient and ranking helper (see ``bad_input_harness``)."""

import inspect
import math

import numpy as np
import pytest
from bad_input_harness import EITHER, ERROR, Arg, Target, bad_real, cases, run_case

from monolith_np import losses as L

_RNG = np.random.default_rng(0)
_X4 = _RNG.standard_normal(4).astype(np.float32)
_Y4 = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
_LOGITS = _RNG.standard_normal((3, 4)).astype(np.float32)
_LABELS = np.array([[2.0, 1.0, 0.0, -1.0], [0.0, 1.0, 1.0, 0.0], [3.0, 0.0, 1.0, 2.0]], np.float32)
_Q = _RNG.standard_normal((3, 2)).astype(np.float32)
_I = _RNG.standard_normal((3, 2)).astype(np.float32)

_UPSTREAM = [(math.nan, ERROR), ("1", ERROR), (None, ERROR), (True, ERROR)]
_MODE = [("predict", ERROR), (None, ERROR), (0, ERROR)]
_SAMPLE_RATE = [(0.0, ERROR), (-0.5, ERROR), (math.nan, ERROR), (math.inf, ERROR), (True, ERROR), ("0.5", ERROR)]


def _forms(name, make, arrays, scalars, grad_scalars=None):
    """Targets for the value, ``_grad`` and ``_and_grad`` forms of one loss."""
    value, grad, both = (getattr(L, name + s) for s in ("", "_grad", "_and_grad"))
    g = {**scalars, **(grad_scalars if grad_scalars is not None else {"upstream": _UPSTREAM})}
    return [Target(name, value, make, arrays, scalars), Target(name + "_grad", grad, make, arrays, g),
            Target(name + "_and_grad", both, make, arrays, g if "upstream" in _params(both) else scalars)]


def _params(fn):
    return inspect.signature(fn).parameters


def _sigmoid_make():
    return dict(name="ctr", logits=_X4.copy(), label=_Y4.copy(), batch_size=4,
                sample_rate=np.full(4, 0.5, np.float32), instance_weight=np.ones(4, np.float32),
                mask=np.array([1, 1, 0, 1], bool))


def _softmax_make():
    return dict(name="cls", logits=_LOGITS.copy(), label=np.eye(4, dtype=np.float32)[:3].copy(), mode="train")


def _batch_softmax_make():
    return dict(query=_Q.copy(), item=_I.copy(), item_step_interval=np.array([1.0, 3.0, 2.0], np.float32),
                r=np.array([1.0, 0.5, 2.0], np.float32))


def _auc_make():
    return dict(label=_Y4.copy(), logit=_X4.copy())


def _ranking_make(**extra):
    return lambda: dict(labels=_LABELS.copy(), logits=_LOGITS.copy(), weights=np.ones((3, 1), np.float32), **extra)


_SIGMOID_ARRAYS = dict(logits=Arg("f", group="b"), label=Arg("fiub", group="b"),
                       sample_rate=Arg("fiu", group="b", optional=True), instance_weight=Arg("fiub", group="b",
                                                                                             optional=True),
                       mask=Arg("biu", group="b", optional=True))
_RANKING_ARRAYS = dict(labels=Arg("fiu", ndim=(2,), group="b"), logits=Arg("f", ndim=(2,), group="b"),
                       weights=Arg("fiu", group="b", optional=True))
_REDUCTION = [("mean", ERROR), (None, ERROR), (3, ERROR)]

TARGETS = [
    Target("log_sigmoid", L.log_sigmoid, lambda: dict(x=_X4.copy()), dict(x=Arg("f"))),
    Target("logit_correction", L.logit_correction,
           lambda: dict(logits=_X4.copy(), sample_rate=np.full(4, 0.25, np.float32)),
           dict(logits=Arg("f", group="b"), sample_rate=Arg("fiu", group="b", optional=True)),
           dict(sample_rate=_SAMPLE_RATE, activation=[("nope", ERROR), (3, ERROR)])),
    *_forms("get_sigmoid_loss_and_pred", _sigmoid_make, _SIGMOID_ARRAYS,
            dict(sample_rate=_SAMPLE_RATE, mode=_MODE,
                 logit_clip_threshold=[(0.0, ERROR), (1.0, ERROR), (math.nan, ERROR), ("x", ERROR)])),
    *_forms("get_softmax_loss_and_pred", _softmax_make,
            dict(logits=Arg("f", ndim=(2,), group="b"), label=Arg("fiub", ndim=(2,), group="b")),
            dict(mode=_MODE)),
    *_forms("batch_softmax_loss", _batch_softmax_make,
            dict(query=Arg("f", ndim=(2,), group="b"), item=Arg("f", ndim=(2,), group="b"),
                 item_step_interval=Arg("fiub", ndim=(1,), group="b"), r=Arg("fiub", group="b")),
            dict(temperature=[(0.0, ERROR), (-1.0, ERROR), (math.nan, ERROR), ("1", ERROR), (None, ERROR)],
                 normalize=[(1, ERROR), ("yes", ERROR)])),
    *_forms("inbatch_auc_loss", _auc_make, dict(label=Arg("fiub", group="b"), logit=Arg("f", group="b")),
            dict(neg_weight=[(0.0, ERROR), (1.5, ERROR), (math.nan, ERROR), ("1", ERROR), (None, ERROR)])),
    Target("compute_weighted_loss", L.compute_weighted_loss,
           lambda: dict(losses=_LOGITS.copy(), weights=np.ones((3, 1), np.float32)),
           dict(losses=Arg("f", group="b"), weights=Arg("fiu", group="b")),
           dict(reduction=_REDUCTION)),
    Target("label_valid_fn", L.label_valid_fn, lambda: dict(labels=_LABELS.copy()), dict(labels=Arg("fiu"))),
    Target("sort_by_scores", L.sort_by_scores,
           lambda: dict(scores=_LOGITS.copy(), features_list=[_LABELS.copy()], topn=2),
           dict(scores=Arg("fiu", ndim=(2,), also=("features_list",))),
           dict(topn=[(-1, ERROR), (1.5, ERROR), ("2", ERROR)])),
    Target("organize_valid_indices", L.organize_valid_indices,
           lambda: dict(is_valid=_LABELS >= 0, shuffle=True, seed=3), dict(is_valid=Arg("biu", ndim=(2,))),
           dict(seed=[(-1, ERROR), (2**64, ERROR), (1.5, ERROR), ("3", ERROR)])),
    Target("shuffle_valid_indices", L.shuffle_valid_indices, lambda: dict(is_valid=_LABELS >= 0, seed=3),
           dict(is_valid=Arg("biu", ndim=(2,))), dict(seed=[(-1, ERROR), (2**64, ERROR), ("3", ERROR)])),
    Target("reshape_first_ndims", L.reshape_first_ndims,
           lambda: dict(tensor=_LOGITS.copy(), first_ndims=2, new_shape=(12,)),
           dict(tensor=Arg("fiubcOU", also=("new_shape",))),
           dict(first_ndims=[(-1, ERROR), (3, ERROR), (1.5, ERROR), ("2", ERROR)],
                new_shape=[((5,), ERROR), (None, ERROR)])),
    Target("approx_ranks", L.approx_ranks, lambda: dict(logits=_LOGITS.copy()), dict(logits=Arg("f", ndim=(2,))),
           dict(alpha=bad_real(inf=EITHER))),
    Target("inverse_max_dcg", L.inverse_max_dcg, lambda: dict(labels=_LABELS.clip(0, None)),
           dict(labels=Arg("f", ndim=(2,))), dict(topn=[(-1, ERROR), (1.5, ERROR), ("2", ERROR)])),
    Target("create_ndcg_lambda_weight", L.create_ndcg_lambda_weight, lambda: dict(topn=2, smooth_fraction=0.5), {},
           dict(topn=[(-1, ERROR), (1.5, ERROR)], smooth_fraction=[(-0.1, ERROR), (1.5, ERROR), (math.nan, ERROR)])),
    Target("create_p_list_mle_lambda_weight", L.create_p_list_mle_lambda_weight, lambda: dict(list_size=4), {},
           dict(list_size=[(-1, ERROR), (1.5, ERROR), (None, ERROR), ("4", ERROR)])),
    Target("PrecisionLambdaWeight", L.PrecisionLambdaWeight, lambda: dict(topn=2), {},
           dict(topn=[(-1, ERROR), (None, ERROR), (1.5, ERROR)])),
]
for _name in ("pairwise_hinge_loss", "pairwise_logistic_loss", "pairwise_soft_zero_one_loss", "softmax_loss",
              "sigmoid_cross_entropy_loss", "mean_squared_loss", "list_mle_loss", "approx_ndcg_loss"):
    _extra = dict(seed=1) if _name == "list_mle_loss" else {}
    TARGETS += _forms(_name, _ranking_make(**_extra), _RANKING_ARRAYS, dict(reduction=_REDUCTION))

CASES = cases(TARGETS)


@pytest.mark.parametrize("target, name, change, want", CASES)
def test_bad_input(target, name, change, want):
    run_case(target, name, change, want)
