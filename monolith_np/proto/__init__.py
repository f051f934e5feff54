"""Monolith-wire-compatible protobuf messages for hash-table configs and dumps.

The ``*_pb2`` modules here are generated from ``protos/`` by
``tools/gen_protos.py`` (``make protos``; never edit them by hand). Their
schemas have the same message names, field names, numbers, types, labels,
oneofs, enums and defaults as ByteDance Monolith's, and the same descriptor
file names and package (``monolith.hash_table``), so bytes written here parse
in Monolith and the other way round.

Modules
-------
optimizer_pb2
    ``OptimizerConfig`` (a oneof over every ``*OptimizerConfig``), the
    per-algorithm ``*OptimizerDump`` state, ``SingleOptimizerDump`` and
    ``OptimizerDump``.
initializer_config_pb2
    ``InitializerConfig`` (zeros, ones, constants, random uniform).
float_compressor_pb2
    ``FloatCompressorConfig`` with nested ``Fp32``, ``Fp16``, ``FixedR8`` and
    ``OneBit``.
embedding_hash_table_pb2
    ``EntryConfig``, ``EntryDump``, ``EmbeddingHashTableConfig`` and the
    occurrence-filter / expiry / multi-table messages. Like Monolith's file it
    re-exports the three modules above (``import public``).

Every top-level message class is re-exported here, so
``from monolith_np.proto import EntryConfig, AdagradOptimizerConfig`` works.
Nested types are reached through their parents, as in any protobuf code:
``EntryConfig.Segment``, ``EntryConfig.TRAINING``,
``EmbeddingHashTableConfig.PACKED``, ``FloatCompressorConfig.OneBit``.

Notes
-----
Importing this package loads only ``google.protobuf`` (no TensorFlow).
The descriptors are registered in protobuf's default pool under Monolith's own
file names, so this package cannot be imported in the same process as
Monolith's generated ``*_pb2`` modules: the second registration of a file name
fails. Exchange bytes instead (``SerializeToString`` / ``ParseFromString``).

Examples
--------
>>> from monolith_np.proto import EntryConfig, OptimizerConfig
>>> seg = EntryConfig.Segment(dim_size=8)
>>> seg.opt_config.adagrad.learning_rate = 0.05
>>> seg.init_config.zeros.SetInParent()
>>> cfg = EntryConfig(segments=[seg])
>>> EntryConfig.FromString(cfg.SerializeToString()) == cfg
True
>>> cfg.entry_type == EntryConfig.TRAINING
True
"""

from . import embedding_hash_table_pb2, float_compressor_pb2, initializer_config_pb2, optimizer_pb2
from .embedding_hash_table_pb2 import (
    CuckooEmbeddingHashTableConfig,
    EmbeddingHashTableConfig,
    EntryConfig,
    EntryDump,
    HashFilterSplitDataDump,
    HashFilterSplitMetaDump,
    MultiEmbeddingHashTableConfig,
    MultiHashTableMetadata,
    SlidingHashFilterMetaDump,
    SlotExpireTimeConfig,
    SlotOccurrenceThresholdConfig,
)
from .float_compressor_pb2 import FloatCompressorConfig
from .initializer_config_pb2 import (
    ConstantsInitializerConfig,
    InitializerConfig,
    OnesInitializerConfig,
    RandomUniformInitializerConfig,
    ZerosInitializerConfig,
)
from .optimizer_pb2 import (
    AdadeltaOptimizerConfig,
    AdadeltaOptimizerDump,
    AdagradOptimizerConfig,
    AdagradOptimizerDump,
    AdamOptimizerConfig,
    AdamOptimizerDump,
    AmsgradOptimizerConfig,
    AmsgradOptimizerDump,
    BatchSoftmaxOptimizerConfig,
    BatchSoftmaxOptimizerDump,
    DcOptimizerConfig,
    DynamicWdAdagradOptimizerConfig,
    DynamicWdAdagradOptimizerDump,
    FtrlOptimizerConfig,
    FtrlOptimizerDump,
    GroupAdaGradOptimizerConfig,
    GroupAdaGradOptimizerDump,
    GroupFtrlOptimizerConfig,
    GroupFtrlOptimizerDump,
    MomentumOptimizerConfig,
    MomentumOptimizerDump,
    MovingAverageOptimizerConfig,
    OptimizerConfig,
    OptimizerDump,
    RmspropOptimizerConfig,
    RmspropOptimizerDump,
    RmspropV2OptimizerConfig,
    RmspropV2OptimizerDump,
    SgdOptimizerConfig,
    SgdOptimizerDump,
    SingleOptimizerDump,
)

__all__ = [
    # modules
    "embedding_hash_table_pb2",
    "float_compressor_pb2",
    "initializer_config_pb2",
    "optimizer_pb2",
    # embedding_hash_table.proto
    "CuckooEmbeddingHashTableConfig",
    "EmbeddingHashTableConfig",
    "EntryConfig",
    "EntryDump",
    "HashFilterSplitDataDump",
    "HashFilterSplitMetaDump",
    "MultiEmbeddingHashTableConfig",
    "MultiHashTableMetadata",
    "SlidingHashFilterMetaDump",
    "SlotExpireTimeConfig",
    "SlotOccurrenceThresholdConfig",
    # float_compressor.proto
    "FloatCompressorConfig",
    # initializer_config.proto
    "ConstantsInitializerConfig",
    "InitializerConfig",
    "OnesInitializerConfig",
    "RandomUniformInitializerConfig",
    "ZerosInitializerConfig",
    # optimizer.proto: envelopes
    "OptimizerConfig",
    "OptimizerDump",
    "SingleOptimizerDump",
    # optimizer.proto: per-algorithm configs
    "AdadeltaOptimizerConfig",
    "AdagradOptimizerConfig",
    "AdamOptimizerConfig",
    "AmsgradOptimizerConfig",
    "BatchSoftmaxOptimizerConfig",
    "DcOptimizerConfig",
    "DynamicWdAdagradOptimizerConfig",
    "FtrlOptimizerConfig",
    "GroupAdaGradOptimizerConfig",
    "GroupFtrlOptimizerConfig",
    "MomentumOptimizerConfig",
    "MovingAverageOptimizerConfig",
    "RmspropOptimizerConfig",
    "RmspropV2OptimizerConfig",
    "SgdOptimizerConfig",
    # optimizer.proto: per-algorithm state
    "AdadeltaOptimizerDump",
    "AdagradOptimizerDump",
    "AdamOptimizerDump",
    "AmsgradOptimizerDump",
    "BatchSoftmaxOptimizerDump",
    "DynamicWdAdagradOptimizerDump",
    "FtrlOptimizerDump",
    "GroupAdaGradOptimizerDump",
    "GroupFtrlOptimizerDump",
    "MomentumOptimizerDump",
    "RmspropOptimizerDump",
    "RmspropV2OptimizerDump",
    "SgdOptimizerDump",
]
