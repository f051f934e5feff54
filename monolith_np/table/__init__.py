"""Open-addressing embedding hash tables: any int64 id to a trained embedding row.

:class:`EmbeddingHashTable` keeps an index of ``(id, row)`` slots and a dense
row store (values, optimizer state, last-update times); see ``docs/tables.md``.
Many tables behind one fused API (:class:`MultiHashTable`,
:class:`MultiTypeHashTable`, :class:`MergedMultiTypeHashTable`) are in
:mod:`monolith_np.table.multi` (``docs/multi-tables.md``), occurrence filters in
:mod:`monolith_np.table.filters` and the checkpoint format in
:mod:`monolith_np.table.checkpoint`. :class:`EmbeddingCollection` pools many
features' bags over tables in one call per step (:mod:`monolith_np.table.collection`).
"""

from .collection import CollectionBatch, EmbeddingCollection
from .multi import MergedMultiTypeHashTable, MultiHashTable, MultiTypeHashTable
from .table import EmbeddingHashTable, TableFullError, slot_of

__all__ = ["EmbeddingHashTable", "TableFullError", "slot_of", "MultiHashTable", "MultiTypeHashTable",
           "MergedMultiTypeHashTable", "EmbeddingCollection", "CollectionBatch"]
