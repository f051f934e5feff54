"""Multi-segment entries (monolith_np.entry.segments): SEMANTICS A.0 item 2, A.17, E.1, G.2."""

import numpy as np
import pytest

from monolith_np.entry import (
    CombineAsSegment,
    ConstantsInitializer,
    CuckooHashTableConfig,
    FakeQuantizer,
    Fp16Compressor,
    HashNetQuantizer,
    RandomUniformInitializer,
    ZerosInitializer,
)
from monolith_np.optim import (
    AdagradOptimizer,
    FtrlOptimizer,
    MomentumOptimizer,
    MovingAverageOptimizer,
    SgdOptimizer,
    StochasticRoundingFloat16OptimizerWrapper,
)
from monolith_np.entry.segments import (
    SegmentedEntry,
    SliceConfig,
    combine_slices_as_table,
    default_learning_rate_fn,
    learning_rates_at,
    merge_slices,
    optimizer_from_config,
)
from monolith_np.proto import EntryConfig, EntryDump, OptimizerConfig
from monolith_np.schedules import PolynomialDecay

RNG = np.random.default_rng(7)


def _three():
    return [
        (2, RandomUniformInitializer(seed=1), AdagradOptimizer(learning_rate=0.1, initial_accumulator_value=0.5)),
        (3, ZerosInitializer(), SgdOptimizer(learning_rate=0.2)),
        (2, ConstantsInitializer(0.3), FtrlOptimizer(learning_rate=0.05, l1_regularization=0.001)),
    ]


def _seg(dim, opt, init=None, comp=None):
    return CombineAsSegment(dim, init or ZerosInitializer(), opt, comp or Fp16Compressor())


# -- updates ---------------------------------------------------------------------------------------


def test_three_segments_equal_each_optimizer_alone():
    entry = SegmentedEntry(_three())
    assert entry.dim == 7 and entry.dims == (2, 3, 2) and entry.num_segments == 3
    params, state = entry.init_rows(6)
    ref_params = [params[:, s].copy() for s in entry.slices]
    ref_state = [opt.init_state(6, d) for opt, d in zip(entry.optimizers, entry.dims)]
    lrs = np.float32([0.3, 0.07, 0.11])
    for step in range(3):
        rows = np.array([4, 1, 4, 0, 5], np.int64)
        grads = RNG.standard_normal((5, 7)).astype(np.float32)
        entry.apply_rows(params, rows, grads, state, learning_rates=lrs, global_step=step)
        for k, (opt, s) in enumerate(zip(entry.optimizers, entry.slices)):
            opt.apply_rows(ref_params[k], rows, np.ascontiguousarray(grads[:, s]), ref_state[k],
                           learning_rate=float(lrs[k]), global_step=step)
    for k, s in enumerate(entry.slices):
        np.testing.assert_array_equal(params[:, s], ref_params[k])
        for key in state[k]:
            np.testing.assert_array_equal(state[k][key], ref_state[k][key])
    assert not np.array_equal(params[2], params[4])  # updated rows moved


def test_dense_apply_and_default_rates_with_warmup():
    segs = [(2, ZerosInitializer(), AdagradOptimizer(learning_rate=0.4, warmup_steps=10)),
            (1, ZerosInitializer(), SgdOptimizer(learning_rate=0.2))]
    entry = SegmentedEntry(segs)
    params, state = entry.init_rows(3)
    grads = RNG.standard_normal((3, 3)).astype(np.float32)
    entry.apply(params, grads, state, global_step=5)  # defaults: 0.4*5/10 and 0.2
    a = np.zeros((3, 2), np.float32)
    sa = entry.optimizers[0].init_state(3, 2)
    entry.optimizers[0].apply(a, np.ascontiguousarray(grads[:, :2]), sa, learning_rate=0.2)
    np.testing.assert_array_equal(params[:, :2], a)
    np.testing.assert_array_equal(params[:, 2], np.float32(0) - np.float32(0.2) * grads[:, 2])
    fns = entry.learning_rate_fns
    assert isinstance(fns[0], PolynomialDecay)
    np.testing.assert_array_equal(learning_rates_at(fns, 5), np.float32([0.2, 0.2]))


def test_golden_entry_accessor_from_config():
    # G.2: segments (1, zeros, sgd), (2, zeros, sgd); grad [1, 2, 3], lrs [1, 2] -> [-1, -4, -6]
    config = EntryConfig(segments=[_seg(1, SgdOptimizer()), _seg(2, SgdOptimizer())])
    entry = SegmentedEntry(config)
    params, state = entry.init_rows(1)
    entry.apply_rows(params, np.array([0]), np.float32([[1, 2, 3]]), state, learning_rates=np.float32([1, 2]))
    assert params[0].tolist() == [-1.0, -4.0, -6.0]


def test_golden_entry_accessor_save_restore():
    # G.2: d=1 zeros adagrad(init_acc 0.1), grad 1, lr 1 -> -0.95346254; restore; again -> -1.643528
    entry = SegmentedEntry([(1, ZerosInitializer(), AdagradOptimizer(initial_accumulator_value=0.1))])
    params, state = entry.init_rows(1)
    one, lr = np.float32([[1.0]]), np.float32([1.0])
    entry.apply_rows(params, np.array([0]), one, state, learning_rates=lr)
    np.testing.assert_allclose(params[0, 0], -0.95346254, rtol=1e-6)
    dumps = entry.dump(params, state)
    p2, s2 = entry.init_rows(1)
    entry.restore(p2, s2, dumps)
    entry.apply_rows(p2, np.array([0]), one, s2, learning_rates=lr)
    np.testing.assert_allclose(p2[0, 0], -1.643528, rtol=1e-6)


def test_hash_net_and_fake_quant_retrievers():
    segs = [(2, ConstantsInitializer(0.3), SgdOptimizer(), OneBit()),
            (2, ConstantsInitializer(0.3), SgdOptimizer(), FixedR8(0.5)),
            (1, ConstantsInitializer(0.3), SgdOptimizer())]
    entry = SegmentedEntry(segs)
    assert entry.retrievers == ("hash_net", "fake_quant", "raw")
    params, state = entry.init_rows(2)
    q = HashNetQuantizer.from_config(entry.as_proto().segments[0].comp_config.one_bit)
    view = entry.lookup(params, np.array([1]))
    np.testing.assert_array_equal(view[0, :2], q.forward(params[1, :2]))
    np.testing.assert_array_equal(view[0, 2:4], FakeQuantizer(0.5).quantize(params[1, 2:4]))
    assert view[0, 4] == params[1, 4]
    grads = np.ones((1, 5), np.float32)
    before = params[1].copy()
    entry.apply_rows(params, np.array([1]), grads, state, learning_rates=np.float32([1, 1, 1]), global_step=0)
    assert grads.tolist() == [[1.0] * 5]  # caller's gradient untouched
    g0 = q.backward(before[:2], np.ones(2, np.float32), 0)
    np.testing.assert_array_equal(params[1, :2], before[:2] - g0)
    np.testing.assert_array_equal(params[1, 2:], before[2:] - 1)


def OneBit():  # noqa: N802
    from monolith_np.entry import OneBitCompressor

    return OneBitCompressor(step_size=10, amplitude=0.1)


def FixedR8(r):  # noqa: N802
    from monolith_np.entry import FixedR8Compressor

    return FixedR8Compressor(r)


def test_initialize_rows_matches_init_rows():
    entry = SegmentedEntry(EntryConfig(segments=[
        _seg(3, SgdOptimizer(), RandomUniformInitializer()), _seg(2, AdagradOptimizer(), RandomUniformInitializer()),
    ]), seed=11)
    full, state = entry.init_rows(8)
    assert not np.array_equal(full[:, :2], full[:, 3:5])  # per-segment seeds differ
    params = np.zeros_like(full)
    state[1]["norm"][:] = 9
    entry.initialize(params, np.array([6, 2, 3, 4]), state=state)
    np.testing.assert_array_equal(params[[2, 3, 4, 6]], full[[2, 3, 4, 6]])
    assert not params[[0, 1, 5, 7]].any()
    np.testing.assert_allclose(state[1]["norm"][[2, 3, 4, 6]], 0.1)
    assert (state[1]["norm"][[0, 1, 5, 7]] == 9).all()
    entry.initialize(params)
    np.testing.assert_array_equal(params, full)


# -- merging ---------------------------------------------------------------------------------------


def test_merge_identical_segments_and_same_rate():
    a, b = _seg(2, AdagradOptimizer(learning_rate=0.1)), _seg(3, AdagradOptimizer(learning_rate=0.1))
    merged = merge_slices([a, SliceConfig(b, None)])
    assert len(merged) == 1 and merged[0].segment.dim_size == 5 and merged[0].learning_rate_fn == a.opt_config.adagrad.learning_rate
    assert a.dim_size == 2 and b.dim_size == 3  # inputs untouched
    lr = PolynomialDecay(0.0, 100, 0.1)
    merged = merge_slices([(a, lr), (b, PolynomialDecay(0.0, 100, 0.1)), (a, 0.5)])
    assert [m.segment.dim_size for m in merged] == [5, 2] and merged[0].learning_rate_fn is lr


def test_merge_rejects_different_rate_proto_or_non_neighbours():
    a, b = _seg(2, SgdOptimizer(0.1)), _seg(2, SgdOptimizer(0.2))
    assert [m.segment.dim_size for m in merge_slices([(a, 0.1), (a, 0.2)])] == [2, 2]
    assert len(merge_slices([a, b])) == 2
    assert [m.segment.dim_size for m in merge_slices([a, b, a])] == [2, 2, 2]
    explicit = _seg(2, SgdOptimizer(0.01))  # explicit default != unset (byte comparison)
    assert len(merge_slices([(explicit, 0.01), (_seg(2, SgdOptimizer()), 0.01)])) == 2


def test_warmup_rate_function_and_table():
    seg = _seg(4, AdagradOptimizer(learning_rate=0.2, warmup_steps=4))
    fn = default_learning_rate_fn(seg)
    assert str(fn) == str(PolynomialDecay(initial_learning_rate=0.0, decay_steps=4, end_learning_rate=np.float32(0.2).item()))
    inst = combine_slices_as_table([seg, seg, _seg(1, SgdOptimizer(0.5))], CuckooHashTableConfig())
    assert [s.dim_size for s in inst.table_config.entry_config.segments] == [8, 1]
    assert inst.table_config.HasField("cuckoo")
    np.testing.assert_array_equal(inst.call_learning_rate_fns(2), np.float32([0.1, 0.5]))
    entry = SegmentedEntry(inst.table_config.entry_config)
    assert entry.dims == (8, 1)
    with pytest.raises(ValueError, match="learning_rate"):
        default_learning_rate_fn(_seg(1, MovingAverageOptimizer()))


# -- dumps -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_dump_restore_round_trip_bit_exact(order):
    pool = [(2, RandomUniformInitializer(seed=3), MovingAverageOptimizer(0.8)),
            (1, ZerosInitializer(), SgdOptimizer()),
            (3, RandomUniformInitializer(seed=4), FtrlOptimizer(learning_rate=0.05))]
    entry = SegmentedEntry([pool[i] for i in order])
    params, state = entry.init_rows(5)
    for step in range(2):
        grads = RNG.standard_normal((5, 6)).astype(np.float32)
        entry.apply(params, grads, state, learning_rates=np.float32([0.1, 0.2, 0.3]), global_step=step)
    dumps = entry.dump(params, state, rows=[3, 1])
    kinds = {"moving_average": [], "sgd": ["sgd"], "ftrl": ["ftrl"]}
    want = [k for i in order for k in kinds[["moving_average", "sgd", "ftrl"][i]]]
    assert [r.WhichOneof("type") for r in dumps[0].opt.dump] == want
    assert np.array_equal(np.float32(dumps[0].num), params[3])
    wire = [EntryDump.FromString(d.SerializeToString()) for d in dumps]
    p2, s2 = entry.init_rows(5, row_offset=100)
    entry.restore(p2, s2, wire, rows=[3, 1])
    np.testing.assert_array_equal(p2[[3, 1]], params[[3, 1]])
    for a, b in zip(state, s2):
        for key in a:
            np.testing.assert_array_equal(b[key][[3, 1]], a[key][[3, 1]])
    assert [d.SerializeToString() for d in entry.dump(p2, s2, rows=[3, 1])] == [d.SerializeToString() for d in dumps]


def test_restore_rejects_wrong_records_without_writing():
    entry = SegmentedEntry([(1, ZerosInitializer(), MovingAverageOptimizer()),
                            (2, ZerosInitializer(), AdagradOptimizer())])
    params, state = entry.init_rows(2)
    good = entry.dump(params, state, rows=[0])[0]
    bad_count = EntryDump(num=[1, 2, 3])
    bad_count.opt.dump.extend(list(good.opt.dump) * 2)
    bad_kind = EntryDump(num=[1, 2, 3])
    bad_kind.opt.dump.add().sgd.SetInParent()
    for bad in (bad_count, bad_kind):
        with pytest.raises(ValueError, match=r"dumps\[1\]\.opt must hold the records \['adagrad'\]"):
            entry.restore(params, state, [good, bad])
    with pytest.raises(ValueError, match="at most 3 values"):
        entry.restore(params, state, [EntryDump(num=[1, 2, 3, 4], opt=good.opt)])
    assert not params.any() and np.allclose(state[1]["norm"], 0.1)
    partial = EntryDump(num=[5.0], opt=good.opt)  # fewer values: only the leading ones (as Monolith)
    entry.restore(params, state, [partial], rows=[1])
    assert params[1].tolist() == [5.0, 0.0, 0.0]


# -- configs ---------------------------------------------------------------------------------------


def test_entry_config_round_trip():
    config = EntryConfig(segments=[_seg(2, AdagradOptimizer(0.1)), _seg(3, SgdOptimizer())])
    entry = SegmentedEntry(config)
    assert entry.as_proto().SerializeToString() == config.SerializeToString()
    objs = SegmentedEntry([(2, ZerosInitializer(), AdagradOptimizer(0.1), Fp16Compressor()),
                           (3, ZerosInitializer(), SgdOptimizer(), Fp16Compressor())])
    assert objs.as_proto() == config
    no_comp = SegmentedEntry([(2, ZerosInitializer(), SgdOptimizer())]).as_proto()
    assert not no_comp.segments[0].HasField("comp_config")
    assert SegmentedEntry(no_comp).as_proto() == no_comp


@pytest.mark.parametrize("opt", [
    AdagradOptimizer(0.1, warmup_steps=3), SgdOptimizer(), FtrlOptimizer(0.02, beta=1.0),
    MovingAverageOptimizer(0.5), MomentumOptimizer(use_nesterov=True),
    StochasticRoundingFloat16OptimizerWrapper(SgdOptimizer(0.3)),
])
def test_optimizer_from_config_round_trip(opt):
    built = optimizer_from_config(opt.as_proto())
    assert type(built) is type(opt) and built.as_proto().SerializeToString() == opt.as_proto().SerializeToString()


# -- errors ----------------------------------------------------------------------------------------


def test_construction_errors():
    with pytest.raises(ValueError, match="segments must have at least one segment, got none"):
        SegmentedEntry([])
    with pytest.raises(ValueError, match=r"segments\[1\] dim_size must be >= 1, got 0"):
        SegmentedEntry([(1, ZerosInitializer(), SgdOptimizer()), (0, ZerosInitializer(), SgdOptimizer())])
    missing = EntryConfig.Segment(dim_size=2)
    missing.init_config.zeros.SetInParent()
    with pytest.raises(ValueError, match=r"segments\[0\] optimizer must be set"):
        SegmentedEntry(EntryConfig(segments=[missing]))
    with pytest.raises(ValueError, match="entry_type must be TRAINING, got SERVING"):
        SegmentedEntry(EntryConfig(segments=[_seg(1, SgdOptimizer())], entry_type=EntryConfig.SERVING))
    dc = OptimizerConfig()
    dc.dc.SetInParent()
    with pytest.raises(ValueError, match="got dc"):
        SegmentedEntry([(1, ZerosInitializer(), dc)])
    with pytest.raises(TypeError, match=r"segments\[0\] must be an EntryConfig.Segment"):
        SegmentedEntry([(1, ZerosInitializer())])
    with pytest.raises(TypeError, match="initializer must be a Initializer or a InitializerConfig"):
        SegmentedEntry([(1, 3.0, SgdOptimizer())])


def test_update_errors_leave_table_untouched():
    entry = SegmentedEntry(_three())
    params, state = entry.init_rows(3)
    before = params.copy()
    rows, grads = np.array([0, 2]), np.ones((2, 7), np.float32)
    cases = [
        (dict(learning_rates=np.float32([0.1, 0.2])), ValueError, "learning_rates must have 3 values .* got 2"),
        (dict(learning_rates=np.float32([0.1, -0.2, 0.1])), ValueError, r"learning_rates\[1\] must be >= 0.0"),
        (dict(learning_rates=np.int32([1, 1, 1])), TypeError, "learning_rates must be a floating-point"),
        (dict(state=state[:2]), ValueError, "state must have 3 entries"),
        (dict(params=params[:, :6]), ValueError, r"params must have 7 columns .* got shape \(3, 6\)"),
        (dict(rows=np.array([0, 3])), ValueError, r"rows must be in \[0, 3\), got 3"),
        (dict(grads=np.ones((2, 6), np.float32)), ValueError, r"grads must have shape \(2, 7\)"),
        (dict(global_step=-1), ValueError, "global_step must be >= 0"),
    ]
    for extra, exc, msg in cases:
        kw = dict(params=params, rows=rows, grads=grads, state=state, learning_rates=np.float32([1, 1, 1]))
        kw.update(extra)
        with pytest.raises(exc, match=msg):
            entry.apply_rows(**kw)
    np.testing.assert_array_equal(params, before)
    broken = [dict(state[0]), state[1], state[2]]
    broken[0]["norm"] = broken[0]["norm"][:2]
    with pytest.raises(ValueError, match=r"state\[0\]\['norm'\] must have shape \(3, 2\)"):
        entry.apply(params, np.ones((3, 7), np.float32), broken)


def test_explicit_entry_type_kept():
    config = EntryConfig(segments=[_seg(1, SgdOptimizer())], entry_type=EntryConfig.TRAINING)
    assert SegmentedEntry(config).as_proto().SerializeToString() == config.SerializeToString()
