"""Bad inputs to the optimizers, clipping, initializers, compressors, quantizers and configs.

See ``bad_input_harness``. Every table optimizer of the registry (and the two
wrappers) is driven through ``apply`` and ``apply_rows``; ``params`` and
``state`` are written by a good call, so read-only ``params`` must be refused.
"""

import math

import numpy as np
import pytest
from bad_input_harness import EITHER, ERROR, WORKS, Arg, Target, bad_int, bad_real, cases, run_case

from monolith_np import entry as E
from monolith_np import optim as O
from monolith_np import schedules as S
from monolith_np.optim import registry
from monolith_np.proto import OptimizerConfig

_RNG = np.random.default_rng(1)
_STEP = [(-1, ERROR), (2**63, ERROR), (True, ERROR), (1.5, ERROR), ("3", ERROR), (None, ERROR)]
_LR = [(-0.1, ERROR), (math.nan, ERROR), (math.inf, ERROR), ("0.1", ERROR), (True, ERROR)]


def _f32(*shape):
    return _RNG.standard_normal(shape).astype(np.float32)


_A, _B, _T, _X4 = _f32(3), _f32(2, 2), _f32(3, 2), _f32(4)


def _optimizers():
    """``(id, make optimizer, dim)``: every registry row with defaults, and the two wrappers."""
    out = [(row.kind, row.cls, 1 if row.kind == "batch_softmax" else 3) for row in registry.rows()]
    out.append(("rounding", lambda: O.StochasticRoundingFloat16OptimizerWrapper(O.AdagradOptimizer()), 3))
    out.append(("dc", lambda: O.DcOptimizerWrapper(O.AdagradOptimizer(), lambda_=0.5), 3))
    return out


def _table_targets(kind, make_opt, dim):
    opt = make_opt()
    params, grads, rows_grads = _f32(4, dim), _f32(4, dim), _f32(3, dim)

    def fresh_state():
        return opt.init_state(4, dim)

    scalars = dict(learning_rate=_LR, global_step=_STEP)
    apply = Target(f"{kind}.apply", opt.apply,
                   lambda: dict(params=params.copy(), grads=grads.copy(), state=fresh_state(), learning_rate=0.1,
                                global_step=3),
                   dict(params=Arg("f", ndim=(2,), group="b", written=True, also=("state",)),
                        grads=Arg("f", group="b", also=("state",))),
                   scalars, writes=("state",))
    apply_rows = Target(f"{kind}.apply_rows", opt.apply_rows,
                        lambda: dict(params=params.copy(), rows=np.array([2, 0, 2], np.int64), grads=rows_grads.copy(),
                                     state=fresh_state(), learning_rate=0.1, global_step=3),
                        dict(params=Arg("f", ndim=(2,), written=True, also=("grads", "rows", "state")),
                             rows=Arg("iu", ndim=(1,), group="r"), grads=Arg("f", group="r", also=("params",))),
                        {**scalars, "state": [(None, ERROR)] + ([({}, ERROR)] if fresh_state() else [])},
                        writes=("state",))
    return [apply, apply_rows]


def _dense_targets(cls):
    opt = cls(learning_rate=0.1)
    params, grads = _f32(5), _f32(5)
    return [Target(f"{cls.__name__}.apply-dense", opt.apply,
                   lambda: dict(params=params.copy(), grads=grads.copy(), state=opt.init_state(params.copy()),
                                global_step=3),
                   dict(params=Arg("f", group="b", written=True, also=("state",)), grads=Arg("f", group="b")),
                   dict(learning_rate=_LR, global_step=_STEP), writes=("state",)),
            Target(f"{cls.__name__}-dense-init", cls, lambda: dict(learning_rate=0.1), {},
                   dict(learning_rate=_LR, epsilon=bad_real(low=0.0)))]


def _clip_list(fn, **fixed):
    """``fn([a, b], ...)`` with the two tensors as separate arguments."""
    return lambda a, b, **kw: fn([a, b], **fixed, **kw)


_CLIP_ARRAYS = dict(a=Arg("f"), b=Arg("f"))
_CLIP_LIST_ARRAYS = dict(a=Arg("f", optional=True), b=Arg("f", optional=True))  # None entries are skipped, as TF
_CONFIG = OptimizerConfig()
_CONFIG.sgd.learning_rate = 0.1

TARGETS = [t for kind, make, dim in _optimizers() for t in _table_targets(kind, make, dim)]
TARGETS += [
    Target("AdamOptimizer-init", O.AdamOptimizer, lambda: dict(learning_rate=0.1), {},
           dict(learning_rate=_LR, beta1=bad_real(low=0.0, none_ok=True) + [(1.0, ERROR)],
                beta2=bad_real(low=0.0, none_ok=True), epsilon=bad_real(low=0.0, none_ok=True),
                warmup_steps=bad_int(0), weight_decay_factor=bad_real(low=0.0, none_ok=True))),
    Target("FtrlOptimizer-init", O.FtrlOptimizer, lambda: dict(learning_rate=0.1), {},
           dict(l1_regularization=bad_real(low=0.0, none_ok=True), l2_regularization=bad_real(low=0.0, none_ok=True),
                initial_accumulator_value=bad_real(low=0.0, none_ok=True), beta=bad_real(low=0.0, none_ok=True))),
    Target("MomentumOptimizer-init", O.MomentumOptimizer, lambda: dict(learning_rate=0.1), {},
           dict(momentum=bad_real(low=0.0, none_ok=True))),
    Target("DcOptimizerWrapper-init", O.DcOptimizerWrapper, lambda: dict(optimizer=O.SgdOptimizer(), lambda_=0.5),
           {}, dict(lambda_=bad_real(low=0.0), optimizer=[(None, ERROR), ("sgd", ERROR)])),
    Target("StochasticRoundingFloat16OptimizerWrapper-init", O.StochasticRoundingFloat16OptimizerWrapper,
           lambda: dict(optimizer=O.SgdOptimizer()), {}, dict(optimizer=[(None, ERROR), (O.AdamomOptimizer(), ERROR)])),
    *_dense_targets(O.AdamomOptimizer),
    *_dense_targets(O.dense.RmspropOptimizer),
    Target("global_norm", _clip_list(O.global_norm), lambda: dict(a=_A.copy(), b=_B.copy()), _CLIP_LIST_ARRAYS),
    Target("clip_by_global_norm", _clip_list(O.clip_by_global_norm), lambda: dict(a=_A.copy(), b=_B.copy(),
                                                                                  clip_norm=1.0),
           _CLIP_LIST_ARRAYS, dict(clip_norm=bad_real(low=0.0, inf=EITHER), use_norm=[("1", ERROR), (-1.0, ERROR)])),
    Target("clip_by_norm", O.clip_by_norm, lambda: dict(t=_T.copy(), clip_norm=1.0, axes=(1,)), dict(t=Arg("f")),
           dict(clip_norm=bad_real(low=0.0, inf=EITHER), axes=[((2,), ERROR), (("a",), ERROR), ((-3,), ERROR)])),
    Target("clip_by_value", O.clip_by_value, lambda: dict(t=_T.copy(), clip_value_min=-0.5, clip_value_max=0.5),
           dict(t=Arg("f")), dict(clip_value_min=[(math.nan, ERROR), ("0", ERROR), (None, ERROR)],
                                  clip_value_max=[(math.nan, ERROR), ("0", ERROR), (None, ERROR)])),
    Target("clip_gradients", lambda a, b, **kw: O.clip_gradients([a], [b], **kw),
           lambda: dict(a=_A.copy(), b=_T.T.copy(), clip_norm=1.0, global_step=5, sparse_clip_norm=2.0),
           _CLIP_ARRAYS, dict(clip_norm=bad_real(low=0.0, none_ok=True, inf=EITHER), global_step=_STEP,
                              clip_type=[(7, ERROR), ("global", ERROR)], batch_size=bad_int(1),
                              sparse_norm_warmup_steps=bad_int(0)[:1] + [(1.5, ERROR)],
                              dense_weight_decay=bad_real(low=0.0))),
    # Entry: initializers, compressors, quantizers, configs.
    Target("RandomUniformInitializer.initialize", E.RandomUniformInitializer(-1.0, 1.0, seed=3).initialize,
           lambda: dict(out=np.zeros((4, 2), np.float32), row_offset=2, row_ids=np.array([3, 0, 9, 1], np.int64)),
           dict(out=Arg("f", ndim=(2,), group="b", written=True), row_ids=Arg("iu", ndim=(1,), group="b",
                                                                              optional=True)),
           dict(row_offset=bad_int(0))),
    Target("ConstantsInitializer.__call__", E.ConstantsInitializer(0.5), lambda: dict(num_rows=3, dim=2), {},
           dict(num_rows=bad_int(0), dim=bad_int(0), row_offset=bad_int(0))),
    Target("RandomUniformInitializer-init", E.RandomUniformInitializer, lambda: dict(minval=-1.0, maxval=1.0, seed=3),
           {}, dict(minval=bad_real(none_ok=True) + [(2.0, ERROR)], maxval=bad_real(none_ok=True) + [(-2.0, ERROR)],
                    seed=[(-1, ERROR), (2**64, ERROR), ("3", ERROR)])),
    Target("ConstantsInitializer-init", E.ConstantsInitializer, lambda: dict(constant=0.5), {},
           dict(constant=bad_real(none_ok=True))),
    Target("BatchSoftmaxInitializer-init", E.BatchSoftmaxInitializer, lambda: dict(init_step_interval=4.0), {},
           dict(init_step_interval=bad_real(low=0.0, low_open=True))),
    *[Target(f"{type(c).__name__}.encode", c.encode, lambda: dict(x=_T.copy()), dict(x=Arg("f")))
      for c in (E.Fp32Compressor(), E.Fp16Compressor(), E.FixedR8Compressor(2.0), E.OneBitCompressor())],
    Target("FixedR8Compressor.decode", E.FixedR8Compressor(2.0).decode,
           lambda: dict(codes=np.array([[3, -128], [127, 0]], np.int8)), dict(codes=Arg("i"))),
    Target("Fp16Compressor.decode", E.Fp16Compressor().decode,
           lambda: dict(codes=np.array([0x3C00, 0xC000], np.uint16)), dict(codes=Arg("fiu"))),
    Target("FixedR8Compressor-init", E.FixedR8Compressor, lambda: dict(fixed_range=1.0), {},
           dict(fixed_range=bad_real(low=0.0, low_open=True, none_ok=True))),
    Target("OneBitCompressor-init", E.OneBitCompressor, lambda: dict(step_size=200, amplitude=0.05), {},
           dict(step_size=bad_int(1), amplitude=bad_real(low=0.0, none_ok=True))),
    Target("FakeQuantizer.quantize", E.FakeQuantizer(2.0).quantize, lambda: dict(x=_X4.copy()), dict(x=Arg("f"))),
    Target("FakeQuantizer.integer_to_float", E.FakeQuantizer(2.0).integer_to_float,
           lambda: dict(q=np.array([32, -16, 127], np.int8)), dict(q=Arg("i"))),
    Target("FakeQuantizer-init", E.FakeQuantizer, lambda: dict(r=2.0), {}, dict(r=bad_real(low=0.0, low_open=True))),
    Target("HashNetQuantizer.forward", E.HashNetQuantizer(amplitude=1.0).forward, lambda: dict(x=_B.copy()),
           dict(x=Arg("f"))),
    Target("HashNetQuantizer.backward", lambda **kw: E.HashNetQuantizer(step_size=100).backward(**kw),
           lambda: dict(num=_A.copy(), grad=_A[::-1].copy(), global_step=50),
           dict(num=Arg("f", group="b"), grad=Arg("f", group="b")), dict(global_step=_STEP[1:])),
    Target("HashNetQuantizer-init", E.HashNetQuantizer, lambda: dict(step_size=200), {},
           dict(step_size=bad_int(1), init_scale=bad_real(low=0.0), max_scale=bad_real(low=0.0),
                amplitude=bad_real(low=0.0))),
    Target("CombineAsSegment", E.CombineAsSegment,
           lambda: dict(dim_size=4, initializer=E.ZerosInitializer(), optimizer=_CONFIG,
                        compressor=E.Fp16Compressor()), {},
           dict(dim_size=bad_int(0), initializer=[(None, ERROR), ("zeros", ERROR)],
                optimizer=[(None, ERROR), ("sgd", ERROR)], compressor=[(None, ERROR), (3, ERROR)])),
    Target("CuckooHashTableConfig", E.CuckooHashTableConfig, lambda: dict(initial_capacity=16), {},
           dict(initial_capacity=bad_int(0, huge=ERROR),
                # <= 0 means "no eviction", as in the original
                feature_evict_every_n_hours=[(-1, WORKS)] + bad_int(0, huge=ERROR)[1:])),
    Target("learning_rates_at", E.learning_rates_at,
           lambda: dict(learning_rate_fns=[0.1, S.PolynomialDecay(0.1, 10)], global_step=3), {},
           dict(global_step=_STEP, learning_rate_fns=[(None, ERROR), ([0.1, "x"], ERROR), ([-1.0], ERROR)])),
]

#: Cases that still fail, with why (left for a follow-up; each is a strict xfail).
KNOWN_OPEN = {
    "OneBitCompressor-init-amplitude-5--1.0": "a negative amplitude is accepted (not decided against the original)",
    "HashNetQuantizer-init-init_scale-5--1.0": "a negative init_scale is accepted (not decided against the original)",
    "HashNetQuantizer-init-max_scale-5--1.0": "a negative max_scale is accepted (not decided against the original)",
    "HashNetQuantizer-init-amplitude-5--1.0": "a negative amplitude is accepted (not decided against the original)",
}

CASES = cases(TARGETS, KNOWN_OPEN)


@pytest.mark.parametrize("target, name, change, want", CASES)
def test_bad_input(target, name, change, want):
    run_case(target, name, change, want)
