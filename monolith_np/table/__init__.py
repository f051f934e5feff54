"""Open-addressing embedding hash tables: any int64 id to a trained embedding row.

:class:`EmbeddingHashTable` keeps an index of ``(id, row)`` slots and a dense
row store (values, optimizer state, last-update times); see ``docs/tables.md``.
"""

from .table import EmbeddingHashTable, TableFullError, slot_of

__all__ = ["EmbeddingHashTable", "TableFullError", "slot_of"]
