"""The catalogs table: which catalogs exist, where each came from, when it was ingested."""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.store.database import Database, read_all
from core.store.schema import CATALOG_SCHEMA, CATALOGS, validate_catalog_name
from core.store.sql import sql_str


@dataclass(frozen=True)
class CatalogRecord:
    catalog: str
    source: str
    kind: str
    rows_read: int
    rejected: int
    ingested_at: float


class Catalogs:
    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, catalog: str, source: str, kind: str, rows: int, rejected: int) -> None:
        row = {
            "catalog": validate_catalog_name(catalog),
            "source": source,
            "kind": kind,
            "rows_read": rows,
            "rejected": rejected,
            "ingested_at": time.time(),
        }
        table = self.database.open_or_create(CATALOGS, CATALOG_SCHEMA)
        self.database.upsert(table, [row], ["catalog"])

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
        table = self.database.open(CATALOGS)
        if table is None:
            return None
        rows = read_all(table, f"catalog = {sql_str(catalog)}").to_pylist()
        return CatalogRecord(**rows[0]) if rows else None
