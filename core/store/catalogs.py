"""The catalogs table: which catalogs exist, where each came from, when it was ingested."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from core.store.database import Database, read_all
from core.store.schema import CATALOG_KEYS, CATALOG_SCHEMA, CATALOGS, validate_catalog_name
from core.store.sql import sql_str


@dataclass(frozen=True)
class CatalogRecord:
    catalog: str
    source: str
    kind: str
    rows_read: int
    rejected: int
    ingested_at: float
    report: dict[str, Any] = field(default_factory=dict)  # how the file was read


class Catalogs:
    def __init__(self, database: Database) -> None:
        self.database = database

    def table(self) -> Any | None:
        table = self.database.open(CATALOGS)
        if table is None:
            return None
        return self.database.add_missing_columns(table, CATALOG_SCHEMA)  # e.g. "report"

    def record(
        self,
        catalog: str,
        source: str,
        kind: str,
        rows: int,
        rejected: int,
        report: dict[str, Any] | None = None,
    ) -> None:
        row = {
            "catalog": validate_catalog_name(catalog),
            "source": source,
            "kind": kind,
            "rows_read": rows,
            "rejected": rejected,
            "ingested_at": time.time(),
            "report": json.dumps(report or {}, ensure_ascii=False),
        }
        table = self.table() or self.database.open_or_create(CATALOGS, CATALOG_SCHEMA)
        self.database.upsert(table, [row], CATALOG_KEYS)

    def names(self) -> list[str]:
        """Catalog names, most recently ingested first."""
        table = self.database.open(CATALOGS)
        if table is None:
            return []
        rows = read_all(table).sort_by([("ingested_at", "descending")])
        return rows.column("catalog").to_pylist()

    def default(self, preferred: str | None = None) -> str | None:
        names = self.names()
        if preferred and preferred in names:
            return preferred
        return names[0] if names else None

    def get(self, catalog: str) -> CatalogRecord | None:
        table = self.table()
        if table is None:
            return None
        rows = read_all(table, f"catalog = {sql_str(catalog)}").to_pylist()
        if not rows:
            return None
        row = rows[0]
        row["report"] = json.loads(row.get("report") or "{}")
        return CatalogRecord(**row)
