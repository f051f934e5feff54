"""Config side of monolith_np.entry: as_proto bytes, segments, table configs (entry.py, SEMANTICS A.0, A.17).

Expected messages are built the way the original's code builds them: its
``_convert_to_proto`` marks the chosen oneof member present and sets every
non-None instance attribute of the wrapper object (re-implemented below as
``original_convert``), so each test lists the original's instance attributes.
A few golden byte strings are written out by hand from the wire format.
"""

from __future__ import annotations

import numpy as np
import pytest

from monolith_np.entry import (
    BatchSoftmaxInitializer,
    CombineAsSegment,
    ConstantsInitializer,
    CuckooHashTableConfig,
    FixedR8Compressor,
    Fp16Compressor,
    Fp32Compressor,
    HashTableConfigInstance,
    OneBitCompressor,
    RandomUniformInitializer,
    ZerosInitializer,
    with_dim_sizes,
)
from monolith_np.proto import (
    EmbeddingHashTableConfig,
    EntryConfig,
    FloatCompressorConfig,
    InitializerConfig,
    OptimizerConfig,
)
from monolith_np.schedules import PolynomialDecay


def original_convert(message, attrs):
    """The original's ``_convert_to_proto(obj, proto)`` with ``obj.__dict__ == attrs``."""
    message.SetInParent()
    for k, v in attrs.items():
        if v is not None:
            setattr(message, k, v)


def built(proto_type, member, attrs):
    msg = proto_type()
    original_convert(getattr(msg, member), attrs)
    return msg


class StandInOptimizer:
    """What an optimizer config class looks like to CombineAsSegment."""

    def __init__(self, learning_rate=None):
        self.learning_rate = learning_rate

    def as_proto(self):
        opt = OptimizerConfig()
        original_convert(opt.sgd, {"learning_rate": self.learning_rate})
        return opt


CASES = [
    (ZerosInitializer(), built(InitializerConfig, "zeros", {})),
    (ConstantsInitializer(0.25), built(InitializerConfig, "constants", {"constant": 0.25})),
    (ConstantsInitializer(None), built(InitializerConfig, "constants", {"constant": None})),
    (RandomUniformInitializer(), built(InitializerConfig, "random_uniform", {"minval": None, "maxval": None})),
    (RandomUniformInitializer(-0.5, 0.5, seed=3),
     built(InitializerConfig, "random_uniform", {"minval": -0.5, "maxval": 0.5})),
    (BatchSoftmaxInitializer(1.0), built(InitializerConfig, "constants", {"constant": 1.0})),
    (Fp32Compressor(), built(FloatCompressorConfig, "fp32", {})),
    (Fp16Compressor(), built(FloatCompressorConfig, "fp16", {})),
    (FixedR8Compressor(), built(FloatCompressorConfig, "fixed_r8", {"r": 1.0})),
    (FixedR8Compressor(fixed_range=3.0), built(FloatCompressorConfig, "fixed_r8", {"r": 3.0})),
    (OneBitCompressor(), built(FloatCompressorConfig, "one_bit", {"step_size": 200, "amplitude": 0.05})),
    (OneBitCompressor(10, 0.5), built(FloatCompressorConfig, "one_bit", {"step_size": 10, "amplitude": 0.5})),
]


@pytest.mark.parametrize("obj, want", CASES, ids=[type(o).__name__ for o, _ in CASES])
def test_as_proto_is_byte_identical_to_the_original(obj, want):
    got = obj.as_proto()
    assert type(got) is type(want)
    assert got.SerializeToString() == want.SerializeToString()
    assert got == want
    assert obj.as_proto() is not got  # a fresh message every call


def test_golden_bytes():
    assert ZerosInitializer().as_proto().SerializeToString() == b"\x0a\x00"
    assert RandomUniformInitializer(-0.5, 0.5).as_proto().SerializeToString() == (
        b"\x12\x0a\x15\x00\x00\x00\xbf\x1d\x00\x00\x00\x3f")
    assert BatchSoftmaxInitializer(1.0).as_proto().SerializeToString() == b"\x7a\x05\x15\x00\x00\x80\x3f"
    assert Fp32Compressor().as_proto().SerializeToString() == b"\x0a\x00"
    assert Fp16Compressor().as_proto().SerializeToString() == b"\x12\x00"
    assert FixedR8Compressor().as_proto().SerializeToString() == b"\x1a\x05\x15\x00\x00\x80\x3f"
    assert OneBitCompressor().as_proto().SerializeToString() == b"\x22\x08\x10\xc8\x01\x2d\xcd\xcc\x4c\x3d"
    assert CuckooHashTableConfig().as_proto().SerializeToString() == b"\x10\x01\x2a\x00"
    assert CuckooHashTableConfig(8, 24).as_proto().SerializeToString() == b"\x10\x08\x2a\x00\x38\x01\x40\x18"


def test_golden_combine_as_segment_bytes():
    opt = OptimizerConfig()
    opt.sgd.SetInParent()
    seg = CombineAsSegment(5, ZerosInitializer(), opt, Fp16Compressor())
    assert seg.SerializeToString() == b"\x0a\x02\x0a\x00\x12\x02\x12\x00\x1a\x02\x12\x00\x38\x05"


def test_combine_as_segment_like_the_original():
    """Wrappers or raw protos; dim_size only on the segment, configs copied (entry_test.test_combine)."""
    init, comp = RandomUniformInitializer(-1.0, 1.0), FixedR8Compressor(2.0)
    for opt in (StandInOptimizer(0.1), StandInOptimizer(0.1).as_proto()):
        for i, c in ((init, comp), (init.as_proto(), comp.as_proto())):
            seg = CombineAsSegment(5, i, opt, c)
            want = EntryConfig.Segment()
            want.dim_size = 5
            want.init_config.CopyFrom(init.as_proto())
            want.opt_config.CopyFrom(StandInOptimizer(0.1).as_proto())
            want.comp_config.CopyFrom(comp.as_proto())
            assert seg.SerializeToString() == want.SerializeToString()
            assert not seg.init_config.random_uniform.HasField("dim_size")
    raw = InitializerConfig()
    raw.zeros.SetInParent()
    seg = CombineAsSegment(3, raw, StandInOptimizer(), Fp16Compressor())
    raw.ones.SetInParent()
    assert seg.init_config.WhichOneof("type") == "zeros"  # a copy, not a reference


def test_combine_as_segment_errors():
    with pytest.raises(TypeError, match="optimizer must be an object with as_proto\\(\\) or a OptimizerConfig, got"):
        CombineAsSegment(2, ZerosInitializer(), InitializerConfig(), Fp16Compressor())
    with pytest.raises(TypeError, match="initializer must be an object with as_proto\\(\\) or a InitializerConfig"):
        CombineAsSegment(2, 0.0, StandInOptimizer(), Fp16Compressor())
    with pytest.raises(ValueError, match="dim_size must be >= 0, got -1"):
        CombineAsSegment(-1, ZerosInitializer(), StandInOptimizer(), Fp16Compressor())


def test_with_dim_sizes_writes_the_segment_dim_into_each_config():
    seg = CombineAsSegment(7, RandomUniformInitializer(), StandInOptimizer(0.5), OneBitCompressor())
    out = with_dim_sizes(seg)
    assert out.init_config.random_uniform.dim_size == 7
    assert out.opt_config.sgd.dim_size == 7
    assert out.comp_config.one_bit.dim_size == 7
    assert not seg.init_config.random_uniform.HasField("dim_size")  # input untouched
    seg = EntryConfig.Segment(dim_size=2)
    seg.init_config.zeros.SetInParent()
    assert with_dim_sizes(seg).init_config.zeros.dim_size == 2 and not with_dim_sizes(seg).HasField("comp_config")
    seg.opt_config.SetInParent()
    with pytest.raises(ValueError, match="segment.opt_config must set a type, got an empty OptimizerConfig"):
        with_dim_sizes(seg)
    with pytest.raises(TypeError, match="segment must be an EntryConfig.Segment, got InitializerConfig"):
        with_dim_sizes(InitializerConfig())


def test_cuckoo_mutate_table_like_the_original():
    cfg = EmbeddingHashTableConfig()
    CuckooHashTableConfig().mutate_table(cfg)
    assert cfg.initial_capacity == 1 and cfg.HasField("cuckoo") and not cfg.HasField("enable_feature_eviction")
    cfg = EmbeddingHashTableConfig()
    CuckooHashTableConfig(initial_capacity=100, feature_evict_every_n_hours=5).mutate_table(cfg)
    assert (cfg.initial_capacity, cfg.enable_feature_eviction, cfg.feature_evict_every_n_hours) == (100, True, 5)


# --- HashTableConfigInstance ---------------------------------------------------------------------


def _default_learning_rate_fn():
    return PolynomialDecay(initial_learning_rate=0.01, decay_steps=20, end_learning_rate=0.05)


def test_hash_table_config_instance_str_like_the_original():
    """entry_test.test_hashtable_config_entrance, plus the exact format."""
    c1 = HashTableConfigInstance(EmbeddingHashTableConfig(), [0.1])
    c2 = HashTableConfigInstance(EmbeddingHashTableConfig(), [0.1])
    c3 = HashTableConfigInstance(EmbeddingHashTableConfig(), [_default_learning_rate_fn()])
    c4 = HashTableConfigInstance(EmbeddingHashTableConfig(), [_default_learning_rate_fn()])
    assert str(c1) == str(c2) and str(c3) == str(c4) and str(c1) != str(c3)
    assert str(c1) == "TableConfigPB: b'', LearningRateFns: [0.1]"
    cfg = CuckooHashTableConfig().as_proto()
    fn = _default_learning_rate_fn()
    inst = HashTableConfigInstance(cfg, [0.1, fn])
    assert str(inst) == "TableConfigPB: %s, LearningRateFns: [0.1, %s]" % (cfg.SerializeToString(), str(fn))
    assert str(inst) == (
        "TableConfigPB: b'\\x10\\x01*\\x00', LearningRateFns: [0.1, LearningRateFunction(\"PolynomialDecay\","
        "Params:cycle=False,decay_steps=20,end_learning_rate=0.05,initial_learning_rate=0.01,name=None,power=1.0)]")


def test_hash_table_config_instance_properties():
    cfg = EmbeddingHashTableConfig()
    names = ["a"]
    inst = HashTableConfigInstance(cfg, [0.1], extra_restore_names=names)
    assert inst.table_config is cfg and inst.learning_rate_fns == [0.1]
    assert inst.extra_restore_names == ["a"] and inst.extra_restore_names is not names
    assert HashTableConfigInstance(cfg, [0.1]).extra_restore_names == []
    assert inst.learning_rate_tensor is None
    inst.set_learning_rate_tensor(np.float32([0.1]))
    assert inst.learning_rate_tensor.tolist() == [np.float32(0.1)]


def test_call_learning_rate_fns():
    fn = _default_learning_rate_fn()
    inst = HashTableConfigInstance(EmbeddingHashTableConfig(), [0.1, fn, lambda: 0.5, np.float64(2.0), 3])
    got = inst.call_learning_rate_fns(global_step=10)
    assert got.dtype == np.float32 and got.shape == (5,)
    assert got.tolist() == [np.float32(0.1), fn(10), 0.5, 2.0, 3.0]
    assert inst.call_learning_rate_fns(0)[1] == fn(0)
    fewer = inst.call_learning_rate_fns_fewer_ops(10)
    assert fewer[0] == 0.1 and fewer[3] is inst.learning_rate_fns[3] and fewer[1] == fn(10)


@pytest.mark.tf
def test_call_learning_rate_fns_parity_with_tf_stack():
    tf = pytest.importorskip("tensorflow")
    fns = [0.1, 1e-3, lambda: tf.constant(0.25)]
    want = tf.stack([tf.cast(0.1, tf.float32), tf.cast(1e-3, tf.float32), tf.constant(0.25)]).numpy()
    got = HashTableConfigInstance(EmbeddingHashTableConfig(), [0.1, 1e-3, lambda: 0.25]).call_learning_rate_fns(0)
    assert np.array_equal(got, want) and len(fns) == got.size


def test_call_learning_rate_fns_empty_raises_like_the_original():
    inst = HashTableConfigInstance(EmbeddingHashTableConfig(), [])
    with pytest.raises(Exception, match=r"^Learning_rate_fns must be not empty\.$"):
        inst.call_learning_rate_fns(0)
    with pytest.raises(ValueError, match=r"^Learning_rate_fns must be not empty\.$"):
        inst.call_learning_rate_fns_fewer_ops(0)
    with pytest.raises(ValueError, match=r"learning_rate_fns must each give a scalar, got shape \(2,\)"):
        HashTableConfigInstance(EmbeddingHashTableConfig(), [lambda: [1.0, 2.0]]).call_learning_rate_fns(0)
