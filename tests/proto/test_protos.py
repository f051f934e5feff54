"""Tests for ``monolith_np.proto``: currency, parity with Monolith, wire format.

* Staleness: ``tools/gen_protos.py`` regenerates exactly the committed files.
* Parity: every message, field, oneof, enum and default matches the table in
  ``tests/reference/monolith_proto_fields.py``, transcribed from Monolith's
  own ``.proto`` files (not from ours).
* Wire: hypothesis round-trips, and golden bytes computed here from the
  protobuf encoding rules (tags, varints, little-endian fixed widths), which
  is how Monolith's C++ writes them (proto2: repeated scalars unpacked,
  fields in number order, explicitly set defaults still written).
"""

from __future__ import annotations

import ast
import doctest
import importlib.util
import pickle
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given
from hypothesis import strategies as st

import monolith_np.proto as P
from monolith_np.proto import (
    AdagradOptimizerConfig,
    AdagradOptimizerDump,
    AdamOptimizerConfig,
    AdamOptimizerDump,
    CuckooEmbeddingHashTableConfig,
    DcOptimizerConfig,
    EmbeddingHashTableConfig,
    EntryConfig,
    EntryDump,
    FloatCompressorConfig,
    FtrlOptimizerDump,
    HashFilterSplitDataDump,
    HashFilterSplitMetaDump,
    InitializerConfig,
    MultiEmbeddingHashTableConfig,
    OptimizerConfig,
    OptimizerDump,
    SingleOptimizerDump,
    SlotExpireTimeConfig,
    SlotOccurrenceThresholdConfig,
)

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "monolith_np" / "proto"
GEN_SCRIPT = ROOT / "tools" / "gen_protos.py"
MODULES = (P.float_compressor_pb2, P.initializer_config_pb2, P.optimizer_pb2, P.embedding_hash_table_pb2)


def _load_reference():
    path = ROOT / "tests" / "reference" / "monolith_proto_fields.py"
    spec = importlib.util.spec_from_file_location("_monolith_proto_fields", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _load_reference()

# --------------------------------------------------------------------------
# Staleness and determinism of the generated modules
# --------------------------------------------------------------------------

_VERSION_LINE = re.compile(r"^# Protobuf Python Version: (\S+)$", re.MULTILINE)


def _generate(out: Path) -> dict[str, bytes]:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is needed to regenerate the protos")
    proc = subprocess.run(
        [sys.executable, str(GEN_SCRIPT), "--out", str(out)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, f"tools/gen_protos.py failed:\n{proc.stdout}\n{proc.stderr}"
    return {p.name: p.read_bytes() for p in sorted(out.glob("*_pb2.py*"))}


def _committed() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(PROTO_DIR.glob("*_pb2.py*"))}


def _serialized_descriptor(source: bytes) -> bytes:
    """The ``AddSerializedFile(b'...')`` literal of a generated module."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "AddSerializedFile":
            return ast.literal_eval(node.args[0])
    raise AssertionError("no AddSerializedFile call in generated module")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> dict[str, bytes]:
    return _generate(tmp_path_factory.mktemp("protos"))


def test_generated_file_set_is_current(regenerated):
    assert sorted(regenerated) == sorted(_committed()), (
        "monolith_np/proto/ does not hold exactly the modules protos/ generates; run `make protos`"
    )
    expected = {
        "embedding_hash_table_pb2.py", "float_compressor_pb2.py", "initializer_config_pb2.py", "optimizer_pb2.py",
    }
    assert expected | {n + "i" for n in expected} == set(regenerated)


def test_generated_descriptors_are_current(regenerated):
    """The schemas embedded in the committed modules equal those in protos/.

    This holds whatever grpcio-tools version is installed, so it still
    guards the schema when the byte-level check below has to skip.
    """
    committed = _committed()
    for name, fresh in regenerated.items():
        if name.endswith(".py"):
            assert _serialized_descriptor(fresh) == _serialized_descriptor(committed[name]), (
                f"monolith_np/proto/{name} was built from different .proto files; run `make protos`"
            )


def test_generated_files_are_byte_identical(regenerated):
    committed = _committed()
    fresh_version = _VERSION_LINE.search(regenerated["optimizer_pb2.py"].decode()).group(1)
    committed_version = _VERSION_LINE.search(committed["optimizer_pb2.py"].decode()).group(1)
    if fresh_version != committed_version:
        pytest.skip(
            f"installed grpcio-tools emits protobuf {fresh_version} gencode, the committed files are "
            f"{committed_version}; byte comparison needs the same protoc (descriptors are still compared)"
        )
    stale = [name for name in regenerated if regenerated[name] != committed[name]]
    assert not stale, f"generated files differ from the committed ones: {stale}; run `make protos`"


def test_generation_is_deterministic(regenerated, tmp_path):
    assert _generate(tmp_path) == regenerated


def test_generated_imports_are_package_relative():
    for name, text in _committed().items():
        body = text.decode()
        ast.parse(body, filename=name)
        assert "from monolith." not in body and "import monolith." not in body, name
        if name.endswith(".py"):
            assert "BuildTopDescriptorsAndMessages(DESCRIPTOR, __name__, _globals)" in body, name


def test_message_classes_live_in_their_flat_module():
    assert EntryDump.__module__ == "monolith_np.proto.embedding_hash_table_pb2"
    assert AdamOptimizerConfig.__module__ == "monolith_np.proto.optimizer_pb2"
    msg = EntryDump(id=7, num=[1.0, 2.0])
    assert pickle.loads(pickle.dumps(msg)) == msg


# --------------------------------------------------------------------------
# Parity with Monolith's schema
# --------------------------------------------------------------------------

# Every message the issue lists, plus the nested ones.
LISTED = [
    "OptimizerConfig", "SingleOptimizerDump", "OptimizerDump",
    "AdagradOptimizerConfig", "AdagradOptimizerDump",
    "DynamicWdAdagradOptimizerConfig", "DynamicWdAdagradOptimizerDump",
    "SgdOptimizerConfig", "SgdOptimizerDump",
    "FtrlOptimizerConfig", "FtrlOptimizerDump",
    "GroupFtrlOptimizerConfig", "GroupFtrlOptimizerDump",
    "GroupAdaGradOptimizerConfig", "GroupAdaGradOptimizerDump",
    "AdadeltaOptimizerConfig", "AdadeltaOptimizerDump",
    "AdamOptimizerConfig", "AdamOptimizerDump",
    "AmsgradOptimizerConfig", "AmsgradOptimizerDump",
    "MomentumOptimizerConfig", "MomentumOptimizerDump",
    "MovingAverageOptimizerConfig",
    "BatchSoftmaxOptimizerConfig", "BatchSoftmaxOptimizerDump",
    "RmspropOptimizerConfig", "RmspropOptimizerDump",
    "RmspropV2OptimizerConfig", "RmspropV2OptimizerDump",
    "DcOptimizerConfig",
    "InitializerConfig", "ZerosInitializerConfig", "OnesInitializerConfig",
    "ConstantsInitializerConfig", "RandomUniformInitializerConfig",
    "FloatCompressorConfig",
    "EntryConfig", "EntryDump", "SlotExpireTimeConfig", "CuckooEmbeddingHashTableConfig",
    "EmbeddingHashTableConfig", "MultiEmbeddingHashTableConfig", "SlotOccurrenceThresholdConfig",
    "SlidingHashFilterMetaDump", "HashFilterSplitMetaDump", "HashFilterSplitDataDump",
    "MultiHashTableMetadata",
]
NESTED = [
    "FloatCompressorConfig.Fp32", "FloatCompressorConfig.Fp16", "FloatCompressorConfig.FixedR8",
    "FloatCompressorConfig.OneBit", "EntryConfig.Segment", "SlotExpireTimeConfig.SlotExpireTime",
    "SlotOccurrenceThresholdConfig.SlotOccurrenceThreshold",
]
PKG = "monolith.hash_table"
_LABEL = {1: "optional", 2: "required", 3: "repeated"}
_TYPE = {v: k[len("TYPE_"):].lower() for k, v in descriptor_pb2.FieldDescriptorProto.Type.items()}


def _file_protos() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    out = {}
    for module in MODULES:
        # protoc's exact output, as embedded in the module: the upb runtime's
        # DESCRIPTOR.serialized_pb / CopyToProto re-print float defaults from
        # their float32 value ("0.01" -> "0.00999999978").
        raw = _serialized_descriptor(Path(module.__file__).read_bytes())
        fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
        assert fdp.name == module.DESCRIPTOR.name
        out[fdp.name] = fdp
    return out


def _message_protos() -> dict[str, descriptor_pb2.DescriptorProto]:
    out = {}

    def walk(prefix, msg):
        full = f"{prefix}.{msg.name}"
        out[full] = msg
        for nested in msg.nested_type:
            walk(full, nested)

    for fdp in _file_protos().values():
        for msg in fdp.message_type:
            walk(fdp.package, msg)
    return out


@pytest.mark.parametrize("name", LISTED + NESTED)
def test_listed_message_exists(name):
    desc = descriptor_pool.Default().FindMessageTypeByName(f"{PKG}.{name}")
    assert desc.full_name == f"{PKG}.{name}"
    assert f"{PKG}.{name}" in REF.MESSAGES
    top = name.split(".")[0]
    assert top in P.__all__ and getattr(P, top).DESCRIPTOR.full_name == f"{PKG}.{top}"


def test_message_sets_match_reference():
    assert set(_message_protos()) == set(REF.MESSAGES)
    assert {f"{PKG}.{n}" for n in LISTED + NESTED} == set(REF.MESSAGES)


def test_all_reexports_every_top_level_message():
    tops = {name for module in MODULES for name in module.DESCRIPTOR.message_types_by_name}
    exported = {n for n in P.__all__ if not n.endswith("_pb2")}
    assert exported == tops
    assert len(P.__all__) == len(set(P.__all__))
    for n in P.__all__:
        assert hasattr(P, n), n


@pytest.mark.parametrize("full_name", sorted(REF.MESSAGES))
def test_fields_match_reference(full_name):
    """Names, numbers, labels, types, referenced types, defaults, oneofs, in order."""
    msg = _message_protos()[full_name]
    got = tuple(
        REF.F(
            f.name,
            f.number,
            _LABEL[f.label],
            _TYPE[f.type],
            f.type_name.lstrip(".") or None,
            f.default_value if f.HasField("default_value") else None,
            msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None,
        )
        for f in msg.field
    )
    assert got == REF.MESSAGES[full_name]
    # Monolith sets no options ([packed], [deprecated], ...) and reserves nothing.
    assert not msg.HasField("options") and not any(f.HasField("options") for f in msg.field)
    assert not msg.reserved_range and not msg.reserved_name and not msg.extension_range


def _expected_default(ref_field, field):
    if ref_field.default is None:
        if ref_field.type == "enum":  # proto2: the first declared value
            return field.enum_type.values[0].number
        return {"bool": False, "string": "", "float": 0.0, "double": 0.0}.get(ref_field.type, 0)
    if ref_field.type == "bool":
        return {"true": True, "false": False}[ref_field.default]
    if ref_field.type in ("float", "double"):
        return float(ref_field.default)
    if ref_field.type == "enum":
        return field.enum_type.values_by_name[ref_field.default].number
    if ref_field.type == "string":
        return ref_field.default
    return int(ref_field.default)


@pytest.mark.parametrize("full_name", sorted(REF.MESSAGES))
def test_runtime_descriptors_match_reference(full_name):
    """The same check through the Python descriptor API the runtime uses."""
    desc = descriptor_pool.Default().FindMessageTypeByName(full_name)
    ref = REF.MESSAGES[full_name]
    assert [f.name for f in desc.fields] == [r.name for r in ref]
    for r in ref:
        field = desc.fields_by_name[r.name]
        assert field.number == r.number
        assert field.type == getattr(FieldDescriptor, f"TYPE_{r.type.upper()}")
        assert field.is_repeated == (r.label == "repeated")
        assert not field.is_required
        assert not field.is_packed, "proto2 repeated scalars must stay unpacked, like Monolith's"
        assert (field.containing_oneof.name if field.containing_oneof else None) == r.oneof
        if r.type == "message":
            assert field.message_type.full_name == r.type_name
        if r.type == "enum":
            assert field.enum_type.full_name == r.type_name
        if r.label != "repeated" and r.type != "message":
            assert field.has_default_value == (r.default is not None)
            expected = _expected_default(r, field)
            if r.type == "float":  # upb rounds to float32, the pure-Python runtime keeps the double
                assert np.float32(field.default_value) == np.float32(expected)
            else:
                assert field.default_value == expected
    oneofs = {o.name: [f.name for f in o.fields] for o in desc.oneofs}
    ref_oneofs = {}
    for r in ref:
        if r.oneof:
            ref_oneofs.setdefault(r.oneof, []).append(r.name)
    assert oneofs == ref_oneofs


@pytest.mark.parametrize("full_name", sorted(REF.ENUMS))
def test_enums_match_reference(full_name):
    desc = descriptor_pool.Default().FindEnumTypeByName(full_name)
    assert tuple((v.name, v.number) for v in desc.values) == REF.ENUMS[full_name]


@pytest.mark.parametrize("file_name", sorted(REF.FILES))
def test_files_match_reference(file_name):
    fdp = _file_protos()[file_name]
    ref = REF.FILES[file_name]
    assert fdp.package == ref.package
    assert (fdp.syntax or "proto2") == ref.syntax
    assert tuple(fdp.dependency) == ref.dependencies
    assert tuple(fdp.dependency[i] for i in fdp.public_dependency) == ref.public_dependencies
    assert tuple(m.name for m in fdp.message_type) == ref.messages
    assert not fdp.enum_type and not fdp.extension and not fdp.service


def f32eq(got: float, want: float) -> bool:
    """Equal as float32 (the runtimes differ in how they widen float defaults)."""
    return np.float32(got) == np.float32(want)


def test_proto2_defaults():
    assert f32eq(AdamOptimizerConfig().beta2, 0.99)
    assert f32eq(AdamOptimizerConfig().beta1, 0.9)
    assert f32eq(AdagradOptimizerConfig().learning_rate, 0.001)
    assert f32eq(AdagradOptimizerConfig().initial_accumulator_value, 0.1)
    assert AdagradOptimizerConfig().hessian_compression_times == 1
    assert f32eq(P.SgdOptimizerConfig().learning_rate, 0.01)
    assert P.GroupFtrlOptimizerConfig().beta == 1.0
    assert P.GroupFtrlOptimizerConfig().initial_accumulator_value == 0.0
    assert f32eq(P.BatchSoftmaxOptimizerConfig().learning_rate, 0.1)
    assert f32eq(P.RandomUniformInitializerConfig().minval, -0.05)
    cfg = EmbeddingHashTableConfig()
    assert cfg.initial_capacity == 1
    assert cfg.entry_type == EmbeddingHashTableConfig.PACKED == 1
    assert cfg.feature_evict_every_n_hours == 240
    assert cfg.skip_zero_embedding is False and cfg.enable_feature_eviction is False
    assert cfg.WhichOneof("type") is None
    assert EntryConfig().entry_type == EntryConfig.TRAINING == 1
    assert SlotExpireTimeConfig().default_expire_time == 36500
    assert SlotOccurrenceThresholdConfig().default_occurrence_threshold == 0
    one_bit = FloatCompressorConfig.OneBit()
    assert one_bit.step_size == 200 and one_bit.max_scale == 10000.0
    assert f32eq(one_bit.amplitude, 0.1) and one_bit.init_scale == 1.0
    assert FloatCompressorConfig.FixedR8().r == 1.0
    assert OptimizerConfig().stochastic_rounding_float16 is False
    # proto2: defaults are not "set" and are not serialized.
    assert not cfg.HasField("initial_capacity")
    assert cfg.SerializeToString() == b""


# --------------------------------------------------------------------------
# Wire format: an independent encoder from the protobuf encoding rules
# --------------------------------------------------------------------------

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def varint(n: int) -> bytes:
    """Base-128 varint; negative int32/int64 are encoded as their 64-bit two's complement."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def f32(x: float) -> bytes:
    return struct.pack("<f", x)


def length_delimited(field: int, payload: bytes) -> bytes:
    return tag(field, LEN) + varint(len(payload)) + payload


def encode_single_dump(kind: str, dump) -> bytes:
    if kind == "adagrad":
        body = b"".join(tag(1, I32) + f32(x) for x in dump.norm)
        return length_delimited(1, body)
    if kind == "ftrl":
        body = b"".join(tag(1, I32) + f32(x) for x in dump.zero)
        body += b"".join(tag(2, I32) + f32(x) for x in dump.norm)
        return length_delimited(3, body)
    assert kind == "adam"
    body = b"".join(tag(1, I32) + f32(x) for x in dump.m)
    body += b"".join(tag(2, I32) + f32(x) for x in dump.v)
    if dump.HasField("beta1_power"):
        body += tag(3, I32) + f32(dump.beta1_power)
    if dump.HasField("beta2_power"):
        body += tag(4, I32) + f32(dump.beta2_power)
    return length_delimited(7, body)


def encode_entry_dump(msg: EntryDump) -> bytes:
    out = b""
    if msg.HasField("id"):
        out += tag(1, I64) + struct.pack("<q", msg.id)
    out += b"".join(tag(2, I32) + f32(x) for x in msg.num)
    if msg.HasField("opt"):
        body = b"".join(
            length_delimited(1, encode_single_dump(d.WhichOneof("type"), getattr(d, d.WhichOneof("type"))))
            for d in msg.opt.dump
        )
        out += length_delimited(3, body)
    if msg.HasField("last_update_ts_sec"):
        out += tag(4, VARINT) + varint(msg.last_update_ts_sec)
    return out


def test_independent_encoder_basics():
    assert varint(0) == b"\x00" and varint(1) == b"\x01" and varint(300) == b"\xac\x02"
    assert varint(-1) == b"\xff" * 9 + b"\x01"
    assert tag(1, I64) == b"\x09" and tag(2, I32) == b"\x15" and tag(3, LEN) == b"\x1a"
    assert f32(1.0) == b"\x00\x00\x80\x3f"


GOLDEN = [
    # sfixed64 id = 1: tag 0x09, eight little-endian bytes of two's complement.
    (EntryDump(id=-1), b"\x09" + b"\xff" * 8),
    (EntryDump(id=1), b"\x09\x01" + b"\x00" * 7),
    (EntryDump(id=-(2**63)), b"\x09" + b"\x00" * 7 + b"\x80"),
    # repeated float num = 2, proto2 unpacked: one tag 0x15 per value.
    (EntryDump(num=[1.0, -2.0]), b"\x15\x00\x00\x80\x3f\x15\x00\x00\x00\xc0"),
    # int64 last_update_ts_sec = 4: varint; negative values take ten bytes.
    (EntryDump(last_update_ts_sec=1), b"\x20\x01"),
    (EntryDump(last_update_ts_sec=-1), b"\x20" + b"\xff" * 9 + b"\x01"),
    # float learning_rate = 2: tag 0x15 then float32 LE (0.01f == 0x3c23d70a).
    (AdagradOptimizerConfig(learning_rate=0.01), b"\x15\x0a\xd7\x23\x3c"),
    # An explicitly set default is still written (proto2 presence).
    (AdagradOptimizerConfig(dim_size=8, learning_rate=0.001), b"\x08\x08\x15\x6f\x12\x83\x3a"),
    (EmbeddingHashTableConfig(initial_capacity=1), b"\x10\x01"),
    # Enum entry_type = 6 (RAW = 2); fields are written in number order.
    (
        EmbeddingHashTableConfig(entry_type=EmbeddingHashTableConfig.RAW, initial_capacity=5),
        b"\x10\x05\x30\x02",
    ),
    (EmbeddingHashTableConfig(cuckoo=CuckooEmbeddingHashTableConfig()), b"\x2a\x00"),
    (EntryConfig(entry_type=EntryConfig.SERVING), b"\x10\x02"),
    # bool stochastic_rounding_float16 = 4 outside the oneof.
    (OptimizerConfig(stochastic_rounding_float16=True), b"\x20\x01"),
    # Oneof member sgd = 2, empty message.
    (OptimizerConfig(sgd=P.SgdOptimizerConfig()), b"\x12\x00"),
    (DcOptimizerConfig(lambda_=0.5), b"\x15\x00\x00\x00\x3f"),
    (InitializerConfig(constants=P.ConstantsInitializerConfig(constant=1.0)), b"\x7a\x05\x15\x00\x00\x80\x3f"),
    # double fill_rate = 4: tag 0x21 then float64 LE.
    (HashFilterSplitMetaDump(fill_rate=0.25), b"\x21" + b"\x00" * 6 + b"\xd0\x3f"),
    # repeated uint32 data = 2, unpacked varints.
    (HashFilterSplitDataDump(offset=3, data=[1, 300]), b"\x08\x03\x10\x01\x10\xac\x02"),
    (MultiEmbeddingHashTableConfig(names=["ab"]), b"\x0a\x02ab"),
    (FloatCompressorConfig(one_bit=FloatCompressorConfig.OneBit(step_size=1)), b"\x22\x02\x10\x01"),
    (SlotExpireTimeConfig(default_expire_time=7), b"\x10\x07"),
    # EntryDump.opt = 3 -> OptimizerDump.dump = 1 -> SingleOptimizerDump.adagrad = 1 -> norm = 1.
    (
        EntryDump(opt=OptimizerDump(dump=[SingleOptimizerDump(adagrad=AdagradOptimizerDump(norm=[0.5]))])),
        b"\x1a\x09\x0a\x07\x0a\x05\x0d\x00\x00\x00\x3f",
    ),
    # SingleOptimizerDump.dynamic_wd_adagrad = 4 (OptimizerConfig uses 5 for it).
    (SingleOptimizerDump(dynamic_wd_adagrad=P.DynamicWdAdagradOptimizerDump(last_update_step=2)), b"\x22\x02\x10\x02"),
]


@pytest.mark.parametrize("msg, wire", GOLDEN, ids=[f"{type(m).__name__}-{i}" for i, (m, _) in enumerate(GOLDEN)])
def test_golden_bytes(msg, wire):
    assert msg.SerializeToString() == wire
    assert msg.SerializeToString(deterministic=True) == wire
    assert type(msg).FromString(wire) == msg


def test_golden_segment_config():
    """A whole one-segment entry config, nested three deep."""
    seg = EntryConfig.Segment(dim_size=4)
    seg.init_config.zeros.SetInParent()
    seg.opt_config.adagrad.learning_rate = 0.5
    cfg = EntryConfig(segments=[seg])
    init = length_delimited(1, length_delimited(1, b""))  # init_config{zeros{}}
    opt = length_delimited(2, length_delimited(1, tag(2, I32) + f32(0.5)))  # opt_config{adagrad{lr}}
    dim = tag(7, VARINT) + varint(4)
    assert cfg.SerializeToString() == length_delimited(1, init + opt + dim)


def test_parses_packed_repeated_floats():
    """A parser must also accept the packed form of a repeated scalar."""
    wire = length_delimited(2, f32(1.0) + f32(2.0))
    assert list(EntryDump.FromString(wire).num) == [1.0, 2.0]


def test_unknown_fields_are_kept():
    """Bytes from a newer Monolith with extra fields survive a round trip."""
    wire = b"\x09" + b"\x01" + b"\x00" * 7 + tag(99, VARINT) + varint(5)
    assert EntryDump.FromString(wire).SerializeToString() == wire


# --------------------------------------------------------------------------
# Hypothesis round trips
# --------------------------------------------------------------------------

int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
float32s = st.floats(width=32, allow_nan=False)
float32_lists = st.lists(float32s, max_size=8)


@st.composite
def single_dumps(draw):
    kind = draw(st.sampled_from(["adagrad", "adam", "ftrl"]))
    if kind == "adagrad":
        return SingleOptimizerDump(adagrad=AdagradOptimizerDump(norm=draw(float32_lists)))
    if kind == "ftrl":
        return SingleOptimizerDump(ftrl=FtrlOptimizerDump(zero=draw(float32_lists), norm=draw(float32_lists)))
    n = draw(st.integers(0, 8))
    adam = AdamOptimizerDump(
        m=draw(st.lists(float32s, min_size=n, max_size=n)), v=draw(st.lists(float32s, min_size=n, max_size=n))
    )
    for name in ("beta1_power", "beta2_power"):
        value = draw(st.none() | float32s)
        if value is not None:
            setattr(adam, name, value)
    return SingleOptimizerDump(adam=adam)


@st.composite
def entry_dumps(draw, floats=float32s):
    msg = EntryDump(id=draw(int64s), num=draw(st.lists(floats, max_size=16)))
    if draw(st.booleans()):
        msg.opt.CopyFrom(OptimizerDump(dump=draw(st.lists(single_dumps(), max_size=4))))
    ts = draw(st.none() | int64s)
    if ts is not None:
        msg.last_update_ts_sec = ts
    return msg


@given(entry_dumps())
def test_entry_dump_round_trip(msg):
    wire = msg.SerializeToString()
    back = EntryDump.FromString(wire)
    assert back == msg
    assert back.id == msg.id and -(2**63) <= back.id < 2**63
    assert back.SerializeToString() == wire


@given(entry_dumps())
def test_entry_dump_matches_independent_encoder(msg):
    assert msg.SerializeToString() == encode_entry_dump(msg)


@given(
    st.lists(
        st.floats(width=32, allow_nan=True, allow_infinity=True)
        | st.integers(0, 2**32 - 1).map(lambda bits: struct.unpack("<f", struct.pack("<I", bits))[0]),
        max_size=16,
    )
)
def test_float_bits_survive(values):
    """Every non-NaN float32 bit pattern (-0.0, subnormals, inf) round-trips.

    NaNs stay NaN; whether their payload bits survive is up to the protobuf
    runtime (upb keeps them, the pure-Python one does not), not the schema.
    """
    msg = EntryDump(num=values)
    back = EntryDump.FromString(msg.SerializeToString())
    got = np.asarray(list(back.num), dtype=np.float32)
    want = np.asarray(values, dtype=np.float32)
    nan = np.isnan(want)
    np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))
    assert np.isnan(got[nan]).all()


@given(
    st.builds(
        lambda lr, dim, wd, warm, sr: OptimizerConfig(
            adagrad=AdagradOptimizerConfig(learning_rate=lr, dim_size=dim, weight_decay_factor=wd, warmup_steps=warm),
            stochastic_rounding_float16=sr,
        ),
        float32s,
        st.integers(-(2**31), 2**31 - 1),
        float32s,
        int64s,
        st.booleans(),
    )
)
def test_optimizer_config_round_trip(cfg):
    assert OptimizerConfig.FromString(cfg.SerializeToString()) == cfg


# --------------------------------------------------------------------------
# Docs (import hygiene of monolith_np.proto is checked in tests/test_api.py)
# --------------------------------------------------------------------------


def test_package_docstring_examples():
    result = doctest.testmod(P, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_docs_examples_run():
    """The Python blocks in docs/protos.md stay runnable."""
    text = (ROOT / "docs" / "protos.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/protos.md", "exec"), {})
