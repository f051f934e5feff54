"""Bad inputs to sampling, schedules, features and metrics (see ``bad_input_harness``)."""

import math

import numpy as np
import pytest
from bad_input_harness import EITHER, ERROR, Arg, Target, bad_int, bad_real, cases, run_case

from monolith_np import features, metrics, sampling
from monolith_np import schedules as S

_W = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]], np.float32))
_STEPS = np.array([0, 3, 7, 12, 40], np.int64)
_STEP = [(-1, ERROR), (2**63, ERROR), (True, ERROR), (1.5, ERROR), ("3", ERROR), (None, ERROR)]
_SEED = [(-1, ERROR), (2**64, ERROR), (1.5, ERROR), ("3", ERROR), (True, ERROR)]
_K = [(0, ERROR), (-1, ERROR), (5, ERROR), (True, ERROR), (2.5, ERROR), ("2", ERROR), (None, ERROR)]
_T = [(0.0, ERROR), (-0.1, ERROR), (math.inf, ERROR), (math.nan, ERROR), (None, ERROR), ("0.1", ERROR)]


def _schedule(name, cls, kwargs, scalars):
    """Targets for a schedule: its constructor's hyperparameters and its call on a step array."""
    sched = cls(**kwargs)
    return [Target(f"{name}-init", cls, lambda: dict(kwargs), {}, scalars),
            Target(f"{name}-call", sched, lambda: dict(global_step=_STEPS.copy()), dict(global_step=Arg("iu")),
                   dict(global_step=_STEP))]


_LR = bad_real(low=0.0)
_DECAY_STEPS = bad_real(low=0.0, low_open=True)

TARGETS = [
    Target("gumbel_keys", sampling.gumbel_keys, lambda: dict(w=_W.copy(), seed=3), dict(w=Arg("f")),
           dict(seed=_SEED)),
    Target("continuous_topk", sampling.continuous_topk, lambda: dict(w=_W.copy(), k=2, t=0.5),
           dict(w=Arg("f")), dict(k=_K[:2] + _K[3:], t=_T, separate=[("yes", ERROR)])),
    Target("sample_subset", sampling.sample_subset, lambda: dict(w=_W.copy(), k=2, t=0.5, seed=3),
           dict(w=Arg("f")), dict(k=_K, t=_T, seed=_SEED)),
    *_schedule("PolynomialDecay", S.PolynomialDecay, dict(initial_learning_rate=0.1, decay_steps=10),
               dict(initial_learning_rate=_LR, decay_steps=_DECAY_STEPS, power=bad_real(low=0.0),
                    end_learning_rate=_LR)),
    *_schedule("ExponentialDecay", S.ExponentialDecay, dict(initial_learning_rate=0.1, decay_steps=10,
                                                            decay_rate=0.5),
               dict(initial_learning_rate=_LR, decay_steps=_DECAY_STEPS, decay_rate=bad_real(low=0.0))),
    *_schedule("InverseTimeDecay", S.InverseTimeDecay, dict(initial_learning_rate=0.1, decay_steps=10,
                                                            decay_rate=0.5),
               dict(initial_learning_rate=_LR, decay_steps=_DECAY_STEPS, decay_rate=bad_real(low=0.0))),
    *_schedule("PiecewiseConstantDecay", S.PiecewiseConstantDecay, dict(boundaries=[5, 10], values=[0.3, 0.2, 0.1]),
               dict(boundaries=[([10, 5], ERROR), ([5], ERROR), (None, ERROR), ([5, math.nan], ERROR)],
                    values=[([0.3, 0.2], ERROR), (None, ERROR), ([0.3, "a", 0.1], ERROR)])),
    *_schedule("CosineDecay", S.CosineDecay, dict(initial_learning_rate=0.1, decay_steps=10),
               dict(initial_learning_rate=_LR, decay_steps=_DECAY_STEPS, alpha=bad_real(low=0.0),
                    warmup_steps=bad_real(low=0.0))),
    *_schedule("CosineDecayRestarts", S.CosineDecayRestarts, dict(initial_learning_rate=0.1, first_decay_steps=10),
               dict(initial_learning_rate=_LR, first_decay_steps=_DECAY_STEPS,
                    t_mul=bad_real(low=0.0, low_open=True), m_mul=bad_real(low=0.0), alpha=bad_real(low=0.0))),
    *_schedule("LinearWarmup", S.LinearWarmup, dict(schedule=S.PolynomialDecay(0.1, 10), warmup_steps=4),
               dict(schedule=[(None, ERROR), ("lr", ERROR)], warmup_steps=bad_int(0),
                    initial_learning_rate=bad_real(low=0.0))),
    Target("norm_warmup", S.norm_warmup, lambda: dict(clip_norm=2.0, global_step=_STEPS.copy(), warmup_steps=4),
           dict(global_step=Arg("iu")), dict(clip_norm=bad_real(low=0.0, inf=EITHER), warmup_steps=bad_int(0))),
    Target("to_fid", features.to_fid, lambda: dict(slot=3, local_ids=np.array([0, 7, 1 << 50], np.int64)),
           dict(local_ids=Arg("iu")), dict(slot=bad_int(0, high=(1 << 15) - 1, huge=ERROR) + [(None, ERROR)])),
    Target("slot_of", features.slot_of, lambda: dict(ids=np.array([(5 << 48) | 9, 12, -1], np.int64)),
           dict(ids=Arg("iu"))),
    Target("auc", metrics.auc, lambda: dict(labels=np.array([1, 0, 1, 0], np.int64),
                                            scores=np.array([0.9, 0.8, 0.7, 0.1], np.float32)),
           dict(labels=Arg("biuf", ndim=(1,), group="b"), scores=Arg("iuf", ndim=(1,), group="b", nan=ERROR))),
]

CASES = cases(TARGETS)


@pytest.mark.parametrize("target, name, change, want", CASES)
def test_bad_input(target, name, change, want):
    run_case(target, name, change, want)
