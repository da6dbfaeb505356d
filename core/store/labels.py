"""The labels table: pseudo-labels per (catalog, product, labeller, class vocabulary)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from core.store.database import Database, read_all
from core.store.schema import LABEL_KEYS, LABEL_SCHEMA, LABELS
from core.store.sql import sql_str


class Labels:
    def __init__(self, database: Database) -> None:
        self.database = database

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            table = self.database.open_or_create(LABELS, LABEL_SCHEMA)
            self.database.upsert(table, rows, LABEL_KEYS)

    def _rows(self, clause: str) -> list[dict[str, Any]]:
        table = self.database.open(LABELS)
        return read_all(table, clause).to_pylist() if table is not None else []

    def rows(self, catalog: str, labeller: str, vocab: str) -> list[dict[str, Any]]:
        return self._rows(
            f"catalog = {sql_str(catalog)} AND labeller = {sql_str(labeller)} "
            f"AND vocab = {sql_str(vocab)}"
        )

    def cached(self, labeller: str, vocab: str) -> dict[str, str]:
        """name_hash → label, over every catalog: the same name is never asked twice."""
        rows = self._rows(
            f"labeller = {sql_str(labeller)} AND vocab = {sql_str(vocab)} AND label IS NOT NULL"
        )
        return {r["name_hash"]: r["label"] for r in rows if r["name_hash"]}

    def labellers(self, catalog: str) -> list[tuple[str, str, int]]:
        """(labeller, vocab, count) for the label sets stored for a catalog."""
        counts = Counter(
            (r["labeller"], r["vocab"]) for r in self._rows(f"catalog = {sql_str(catalog)}")
        )
        return [(labeller, vocab, n) for (labeller, vocab), n in sorted(counts.items())]
