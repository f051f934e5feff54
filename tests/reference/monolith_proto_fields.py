"""Monolith's hash-table proto schemas, transcribed as plain Python data.

This table is the *independent* reference for ``tests/proto/test_protos.py``:
it was transcribed from ByteDance Monolith's own ``.proto`` files at commit
``135c491a52b151772b976af989d8bc938c44d210`` (the commit the spec pins) by
compiling *those* files (not ours) with protoc and writing out what their
descriptors say. The test then compares the descriptors of
``monolith_np.proto`` against it, so a typo in ``protos/`` cannot hide behind
the same typo in the reference.

Layout
------
``MESSAGES``
    Full message name -> fields in declaration order, each an ``F``:
    ``(name, number, label, type, type_name, default, oneof)``.

    * ``label`` is ``"optional"`` / ``"repeated"`` (proto2; none is required).
    * ``type`` is the lower-case protobuf scalar type, or ``"message"`` /
      ``"enum"`` with the referenced full name in ``type_name``.
    * ``default`` is the explicit ``[default = ...]`` as protoc normalises it
      into ``FieldDescriptorProto.default_value`` (``0.`` becomes ``"0"``,
      ``1.0`` becomes ``"1"``), or ``None`` when the field declares none.
    * ``oneof`` is the name of the containing oneof, or ``None``.

``ENUMS``
    Full enum name -> ``(value name, number)`` pairs.

``FILES``
    Descriptor file name -> package, syntax, imports (all ``import public``
    in Monolith) and the top-level messages it defines, in order.
"""

from typing import NamedTuple


class F(NamedTuple):
    """One field of a message."""

    name: str
    number: int
    label: str
    type: str
    type_name: str | None
    default: str | None
    oneof: str | None


class File(NamedTuple):
    """One ``.proto`` file."""

    package: str
    syntax: str
    dependencies: tuple[str, ...]
    public_dependencies: tuple[str, ...]
    messages: tuple[str, ...]


MESSAGES = {
    "monolith.hash_table.FloatCompressorConfig": (
        F("fp32", 1, "optional", "message", "monolith.hash_table.FloatCompressorConfig.Fp32", None, "type"),
        F("fp16", 2, "optional", "message", "monolith.hash_table.FloatCompressorConfig.Fp16", None, "type"),
        F("fixed_r8", 3, "optional", "message", "monolith.hash_table.FloatCompressorConfig.FixedR8", None, "type"),
        F("one_bit", 4, "optional", "message", "monolith.hash_table.FloatCompressorConfig.OneBit", None, "type"),
    ),
    "monolith.hash_table.FloatCompressorConfig.Fp32": (
        F("dim_size", 1, "optional", "int32", None, None, None),
    ),
    "monolith.hash_table.FloatCompressorConfig.Fp16": (
        F("dim_size", 1, "optional", "int32", None, None, None),
    ),
    "monolith.hash_table.FloatCompressorConfig.FixedR8": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("r", 2, "optional", "float", None, "1", None),
    ),
    "monolith.hash_table.FloatCompressorConfig.OneBit": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("step_size", 2, "optional", "int64", None, "200", None),
        F("init_scale", 3, "optional", "float", None, "1", None),
        F("max_scale", 4, "optional", "float", None, "10000", None),
        F("amplitude", 5, "optional", "float", None, "0.1", None),
    ),
    "monolith.hash_table.ZerosInitializerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
    ),
    "monolith.hash_table.OnesInitializerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
    ),
    "monolith.hash_table.ConstantsInitializerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("constant", 2, "optional", "float", None, None, None),
    ),
    "monolith.hash_table.RandomUniformInitializerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("minval", 2, "optional", "float", None, "-0.05", None),
        F("maxval", 3, "optional", "float", None, "0.05", None),
    ),
    "monolith.hash_table.InitializerConfig": (
        F("zeros", 1, "optional", "message", "monolith.hash_table.ZerosInitializerConfig", None, "type"),
        F("random_uniform", 2, "optional", "message", "monolith.hash_table.RandomUniformInitializerConfig", None, "type"),
        F("ones", 3, "optional", "message", "monolith.hash_table.OnesInitializerConfig", None, "type"),
        F("constants", 15, "optional", "message", "monolith.hash_table.ConstantsInitializerConfig", None, "type"),
    ),
    "monolith.hash_table.AdagradOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.001", None),
        F("initial_accumulator_value", 3, "optional", "float", None, "0.1", None),
        F("hessian_compression_times", 4, "optional", "int32", None, "1", None),
        F("weight_decay_factor", 5, "optional", "float", None, "0", None),
        F("warmup_steps", 6, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.AdagradOptimizerDump": (
        F("norm", 1, "repeated", "float", None, None, None),
    ),
    "monolith.hash_table.DynamicWdAdagradOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.001", None),
        F("initial_accumulator_value", 3, "optional", "float", None, "0.1", None),
        F("hessian_compression_times", 4, "optional", "int32", None, "1", None),
        F("weight_decay_factor", 5, "optional", "float", None, "0", None),
        F("warmup_steps", 6, "optional", "int64", None, "0", None),
        F("decouple_weight_decay", 7, "optional", "bool", None, "false", None),
        F("enable_dynamic_wd", 8, "optional", "bool", None, "false", None),
        F("dynamic_wd_temperature", 9, "optional", "float", None, "1", None),
        F("flip_direction", 10, "optional", "bool", None, "false", None),
    ),
    "monolith.hash_table.DynamicWdAdagradOptimizerDump": (
        F("norm", 1, "repeated", "float", None, None, None),
        F("last_update_step", 2, "optional", "int64", None, None, None),
    ),
    "monolith.hash_table.SgdOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("warmup_steps", 6, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.SgdOptimizerDump": (),
    "monolith.hash_table.FtrlOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("beta", 3, "optional", "float", None, "0", None),
        F("initial_accumulator_value", 4, "optional", "float", None, "0.1", None),
        F("l1_regularization_strength", 5, "optional", "float", None, "0", None),
        F("l2_regularization_strength", 6, "optional", "float", None, "0", None),
        F("warmup_steps", 7, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.FtrlOptimizerDump": (
        F("zero", 1, "repeated", "float", None, None, None),
        F("norm", 2, "repeated", "float", None, None, None),
    ),
    "monolith.hash_table.GroupFtrlOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("beta", 3, "optional", "float", None, "1", None),
        F("initial_accumulator_value", 4, "optional", "float", None, "0", None),
        F("l1_regularization_strength", 5, "optional", "float", None, "0", None),
        F("l2_regularization_strength", 6, "optional", "float", None, "0", None),
        F("warmup_steps", 7, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.GroupFtrlOptimizerDump": (
        F("zero", 1, "repeated", "float", None, None, None),
        F("norm", 2, "repeated", "float", None, None, None),
    ),
    "monolith.hash_table.GroupAdaGradOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("beta", 3, "optional", "float", None, "0", None),
        F("initial_accumulator_value", 4, "optional", "float", None, "0.1", None),
        F("l2_regularization_strength", 5, "optional", "float", None, "0", None),
        F("weight_decay_factor", 6, "optional", "float", None, "0", None),
        F("warmup_steps", 7, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.GroupAdaGradOptimizerDump": (
        F("grad_square_sum", 1, "optional", "float", None, None, None),
    ),
    "monolith.hash_table.AdadeltaOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("weight_decay_factor", 3, "optional", "float", None, "0", None),
        F("averaging_ratio", 4, "optional", "float", None, "0.9", None),
        F("epsilon", 5, "optional", "float", None, "0.01", None),
        F("warmup_steps", 7, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.AdadeltaOptimizerDump": (
        F("accum", 1, "repeated", "float", None, None, None),
        F("accum_update", 2, "repeated", "float", None, None, None),
    ),
    "monolith.hash_table.AdamOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("beta1", 3, "optional", "float", None, "0.9", None),
        F("beta2", 4, "optional", "float", None, "0.99", None),
        F("use_beta1_warmup", 5, "optional", "bool", None, "false", None),
        F("weight_decay_factor", 6, "optional", "float", None, "0", None),
        F("use_nesterov", 7, "optional", "bool", None, "false", None),
        F("epsilon", 8, "optional", "float", None, "0.01", None),
        F("warmup_steps", 9, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.AdamOptimizerDump": (
        F("m", 1, "repeated", "float", None, None, None),
        F("v", 2, "repeated", "float", None, None, None),
        F("beta1_power", 3, "optional", "float", None, None, None),
        F("beta2_power", 4, "optional", "float", None, None, None),
    ),
    "monolith.hash_table.AmsgradOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("beta1", 3, "optional", "float", None, "0.9", None),
        F("beta2", 4, "optional", "float", None, "0.99", None),
        F("weight_decay_factor", 6, "optional", "float", None, "0", None),
        F("use_nesterov", 7, "optional", "bool", None, "false", None),
        F("epsilon", 8, "optional", "float", None, "0.01", None),
        F("warmup_steps", 9, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.AmsgradOptimizerDump": (
        F("m", 1, "repeated", "float", None, None, None),
        F("v", 2, "repeated", "float", None, None, None),
        F("vhat", 3, "repeated", "float", None, None, None),
        F("beta1_power", 4, "optional", "float", None, None, None),
        F("beta2_power", 5, "optional", "float", None, None, None),
    ),
    "monolith.hash_table.MomentumOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("weight_decay_factor", 3, "optional", "float", None, "0", None),
        F("use_nesterov", 4, "optional", "bool", None, "false", None),
        F("momentum", 5, "optional", "float", None, "0.9", None),
        F("warmup_steps", 6, "optional", "int64", None, "0", None),
    ),
    "monolith.hash_table.MomentumOptimizerDump": (
        F("n", 1, "repeated", "float", None, None, None),
    ),
    "monolith.hash_table.MovingAverageOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("momentum", 2, "optional", "float", None, "0.9", None),
    ),
    "monolith.hash_table.BatchSoftmaxOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.1", None),
    ),
    "monolith.hash_table.BatchSoftmaxOptimizerDump": (
        F("global_step", 1, "optional", "int64", None, None, None),
    ),
    "monolith.hash_table.RmspropOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("weight_decay_factor", 3, "optional", "float", None, "0", None),
        F("momentum", 4, "optional", "float", None, "0.9", None),
    ),
    "monolith.hash_table.RmspropOptimizerDump": (
        F("n", 1, "repeated", "float", None, None, None),
    ),
    "monolith.hash_table.RmspropV2OptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("learning_rate", 2, "optional", "float", None, "0.01", None),
        F("weight_decay_factor", 3, "optional", "float", None, "0", None),
        F("momentum", 4, "optional", "float", None, "0.9", None),
    ),
    "monolith.hash_table.RmspropV2OptimizerDump": (
        F("n", 1, "repeated", "float", None, None, None),
    ),
    "monolith.hash_table.DcOptimizerConfig": (
        F("dim_size", 1, "optional", "int32", None, None, None),
        F("lambda_", 2, "optional", "float", None, "0", None),
    ),
    "monolith.hash_table.OptimizerConfig": (
        F("adagrad", 1, "optional", "message", "monolith.hash_table.AdagradOptimizerConfig", None, "type"),
        F("sgd", 2, "optional", "message", "monolith.hash_table.SgdOptimizerConfig", None, "type"),
        F("ftrl", 3, "optional", "message", "monolith.hash_table.FtrlOptimizerConfig", None, "type"),
        F("dynamic_wd_adagrad", 5, "optional", "message", "monolith.hash_table.DynamicWdAdagradOptimizerConfig", None, "type"),
        F("adadelta", 6, "optional", "message", "monolith.hash_table.AdadeltaOptimizerConfig", None, "type"),
        F("adam", 7, "optional", "message", "monolith.hash_table.AdamOptimizerConfig", None, "type"),
        F("amsgrad", 8, "optional", "message", "monolith.hash_table.AmsgradOptimizerConfig", None, "type"),
        F("momentum", 9, "optional", "message", "monolith.hash_table.MomentumOptimizerConfig", None, "type"),
        F("moving_average", 10, "optional", "message", "monolith.hash_table.MovingAverageOptimizerConfig", None, "type"),
        F("rmsprop", 11, "optional", "message", "monolith.hash_table.RmspropOptimizerConfig", None, "type"),
        F("rmspropv2", 12, "optional", "message", "monolith.hash_table.RmspropV2OptimizerConfig", None, "type"),
        F("dc", 13, "optional", "message", "monolith.hash_table.DcOptimizerConfig", None, "type"),
        F("group_ftrl", 14, "optional", "message", "monolith.hash_table.GroupFtrlOptimizerConfig", None, "type"),
        F("batch_softmax", 15, "optional", "message", "monolith.hash_table.BatchSoftmaxOptimizerConfig", None, "type"),
        F("group_adagrad", 16, "optional", "message", "monolith.hash_table.GroupAdaGradOptimizerConfig", None, "type"),
        F("stochastic_rounding_float16", 4, "optional", "bool", None, None, None),
    ),
    "monolith.hash_table.SingleOptimizerDump": (
        F("adagrad", 1, "optional", "message", "monolith.hash_table.AdagradOptimizerDump", None, "type"),
        F("sgd", 2, "optional", "message", "monolith.hash_table.SgdOptimizerDump", None, "type"),
        F("ftrl", 3, "optional", "message", "monolith.hash_table.FtrlOptimizerDump", None, "type"),
        F("dynamic_wd_adagrad", 4, "optional", "message", "monolith.hash_table.DynamicWdAdagradOptimizerDump", None, "type"),
        F("adadelta", 6, "optional", "message", "monolith.hash_table.AdadeltaOptimizerDump", None, "type"),
        F("adam", 7, "optional", "message", "monolith.hash_table.AdamOptimizerDump", None, "type"),
        F("amsgrad", 8, "optional", "message", "monolith.hash_table.AmsgradOptimizerDump", None, "type"),
        F("momentum", 9, "optional", "message", "monolith.hash_table.MomentumOptimizerDump", None, "type"),
        F("rmsprop", 11, "optional", "message", "monolith.hash_table.RmspropOptimizerDump", None, "type"),
        F("rmspropv2", 12, "optional", "message", "monolith.hash_table.RmspropV2OptimizerDump", None, "type"),
        F("group_ftrl", 13, "optional", "message", "monolith.hash_table.GroupFtrlOptimizerDump", None, "type"),
        F("batch_softmax", 14, "optional", "message", "monolith.hash_table.BatchSoftmaxOptimizerDump", None, "type"),
        F("group_adagrad", 15, "optional", "message", "monolith.hash_table.GroupAdaGradOptimizerDump", None, "type"),
    ),
    "monolith.hash_table.OptimizerDump": (
        F("dump", 1, "repeated", "message", "monolith.hash_table.SingleOptimizerDump", None, None),
    ),
    "monolith.hash_table.EntryConfig": (
        F("segments", 1, "repeated", "message", "monolith.hash_table.EntryConfig.Segment", None, None),
        F("entry_type", 2, "optional", "enum", "monolith.hash_table.EntryConfig.EntryType", "TRAINING", None),
    ),
    "monolith.hash_table.EntryConfig.Segment": (
        F("init_config", 1, "optional", "message", "monolith.hash_table.InitializerConfig", None, None),
        F("opt_config", 2, "optional", "message", "monolith.hash_table.OptimizerConfig", None, None),
        F("comp_config", 3, "optional", "message", "monolith.hash_table.FloatCompressorConfig", None, None),
        F("dim_size", 7, "optional", "int32", None, None, None),
    ),
    "monolith.hash_table.EntryDump": (
        F("id", 1, "optional", "sfixed64", None, None, None),
        F("num", 2, "repeated", "float", None, None, None),
        F("opt", 3, "optional", "message", "monolith.hash_table.OptimizerDump", None, None),
        F("last_update_ts_sec", 4, "optional", "int64", None, None, None),
    ),
    "monolith.hash_table.SlotExpireTimeConfig": (
        F("slot_expire_times", 1, "repeated", "message", "monolith.hash_table.SlotExpireTimeConfig.SlotExpireTime", None, None),
        F("default_expire_time", 2, "optional", "uint32", None, "36500", None),
    ),
    "monolith.hash_table.SlotExpireTimeConfig.SlotExpireTime": (
        F("slot", 1, "optional", "uint32", None, None, None),
        F("expire_time", 2, "optional", "uint32", None, None, None),
    ),
    "monolith.hash_table.CuckooEmbeddingHashTableConfig": (),
    "monolith.hash_table.EmbeddingHashTableConfig": (
        F("entry_config", 1, "optional", "message", "monolith.hash_table.EntryConfig", None, None),
        F("entry_type", 6, "optional", "enum", "monolith.hash_table.EmbeddingHashTableConfig.EntryType", "PACKED", None),
        F("initial_capacity", 2, "optional", "uint64", None, "1", None),
        F("slot_expire_time_config", 3, "optional", "message", "monolith.hash_table.SlotExpireTimeConfig", None, None),
        F("cuckoo", 5, "optional", "message", "monolith.hash_table.CuckooEmbeddingHashTableConfig", None, "type"),
        F("enable_feature_eviction", 7, "optional", "bool", None, None, None),
        F("feature_evict_every_n_hours", 8, "optional", "int32", None, "240", None),
        F("skip_zero_embedding", 10, "optional", "bool", None, "false", None),
    ),
    "monolith.hash_table.MultiEmbeddingHashTableConfig": (
        F("names", 1, "repeated", "string", None, None, None),
        F("configs", 2, "repeated", "message", "monolith.hash_table.EmbeddingHashTableConfig", None, None),
    ),
    "monolith.hash_table.SlotOccurrenceThresholdConfig": (
        F("slot_occurrence_thresholds", 1, "repeated", "message", "monolith.hash_table.SlotOccurrenceThresholdConfig.SlotOccurrenceThreshold", None, None),
        F("default_occurrence_threshold", 2, "optional", "uint32", None, "0", None),
    ),
    "monolith.hash_table.SlotOccurrenceThresholdConfig.SlotOccurrenceThreshold": (
        F("slot", 1, "optional", "uint32", None, None, None),
        F("occurrence_threshold", 2, "optional", "uint32", None, None, None),
    ),
    "monolith.hash_table.SlidingHashFilterMetaDump": (
        F("split_num", 1, "optional", "uint32", None, "0", None),
        F("max_forward_step", 2, "optional", "uint32", None, "0", None),
        F("max_backward_step", 3, "optional", "uint32", None, "0", None),
        F("max_step", 4, "optional", "uint32", None, "0", None),
        F("head", 5, "optional", "uint32", None, "0", None),
        F("head_increment", 6, "optional", "uint32", None, "0", None),
        F("failure_count", 7, "optional", "uint64", None, "0", None),
    ),
    "monolith.hash_table.HashFilterSplitMetaDump": (
        F("failure_count", 1, "optional", "uint64", None, "0", None),
        F("total_size", 2, "optional", "uint64", None, "0", None),
        F("num_elements", 3, "optional", "uint64", None, "0", None),
        F("fill_rate", 4, "optional", "double", None, "0", None),
        F("sliding_hash_filter_meta", 5, "optional", "message", "monolith.hash_table.SlidingHashFilterMetaDump", None, None),
    ),
    "monolith.hash_table.HashFilterSplitDataDump": (
        F("offset", 1, "optional", "uint32", None, None, None),
        F("data", 2, "repeated", "uint32", None, None, None),
    ),
    "monolith.hash_table.MultiHashTableMetadata": (
        F("table_name", 1, "optional", "string", None, None, None),
        F("num_entries", 2, "optional", "uint64", None, None, None),
    ),
}

ENUMS = {
    "monolith.hash_table.EntryConfig.EntryType": (("UNKNOWN", 0), ("TRAINING", 1), ("SERVING", 2)),
    "monolith.hash_table.EmbeddingHashTableConfig.EntryType": (("PACKED", 1), ("RAW", 2)),
}

FILES = {
    "monolith/native_training/runtime/hash_table/compressor/float_compressor.proto": File(
        package="monolith.hash_table",
        syntax="proto2",
        dependencies=(),
        public_dependencies=(),
        messages=(
            "FloatCompressorConfig",
        ),
    ),
    "monolith/native_training/runtime/hash_table/initializer/initializer_config.proto": File(
        package="monolith.hash_table",
        syntax="proto2",
        dependencies=(),
        public_dependencies=(),
        messages=(
            "ZerosInitializerConfig",
            "OnesInitializerConfig",
            "ConstantsInitializerConfig",
            "RandomUniformInitializerConfig",
            "InitializerConfig",
        ),
    ),
    "monolith/native_training/runtime/hash_table/optimizer/optimizer.proto": File(
        package="monolith.hash_table",
        syntax="proto2",
        dependencies=(),
        public_dependencies=(),
        messages=(
            "AdagradOptimizerConfig",
            "AdagradOptimizerDump",
            "DynamicWdAdagradOptimizerConfig",
            "DynamicWdAdagradOptimizerDump",
            "SgdOptimizerConfig",
            "SgdOptimizerDump",
            "FtrlOptimizerConfig",
            "FtrlOptimizerDump",
            "GroupFtrlOptimizerConfig",
            "GroupFtrlOptimizerDump",
            "GroupAdaGradOptimizerConfig",
            "GroupAdaGradOptimizerDump",
            "AdadeltaOptimizerConfig",
            "AdadeltaOptimizerDump",
            "AdamOptimizerConfig",
            "AdamOptimizerDump",
            "AmsgradOptimizerConfig",
            "AmsgradOptimizerDump",
            "MomentumOptimizerConfig",
            "MomentumOptimizerDump",
            "MovingAverageOptimizerConfig",
            "BatchSoftmaxOptimizerConfig",
            "BatchSoftmaxOptimizerDump",
            "RmspropOptimizerConfig",
            "RmspropOptimizerDump",
            "RmspropV2OptimizerConfig",
            "RmspropV2OptimizerDump",
            "DcOptimizerConfig",
            "OptimizerConfig",
            "SingleOptimizerDump",
            "OptimizerDump",
        ),
    ),
    "monolith/native_training/runtime/hash_table/embedding_hash_table.proto": File(
        package="monolith.hash_table",
        syntax="proto2",
        dependencies=(
            "monolith/native_training/runtime/hash_table/compressor/float_compressor.proto",
            "monolith/native_training/runtime/hash_table/initializer/initializer_config.proto",
            "monolith/native_training/runtime/hash_table/optimizer/optimizer.proto",
        ),
        public_dependencies=(
            "monolith/native_training/runtime/hash_table/compressor/float_compressor.proto",
            "monolith/native_training/runtime/hash_table/initializer/initializer_config.proto",
            "monolith/native_training/runtime/hash_table/optimizer/optimizer.proto",
        ),
        messages=(
            "EntryConfig",
            "EntryDump",
            "SlotExpireTimeConfig",
            "CuckooEmbeddingHashTableConfig",
            "EmbeddingHashTableConfig",
            "MultiEmbeddingHashTableConfig",
            "SlotOccurrenceThresholdConfig",
            "SlidingHashFilterMetaDump",
            "HashFilterSplitMetaDump",
            "HashFilterSplitDataDump",
            "MultiHashTableMetadata",
        ),
    ),
}

