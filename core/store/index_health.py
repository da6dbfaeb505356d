"""The index_health table: each ANN-indexed vector table's measured recall and latency,
kept in the store itself so every reader of the store (on any backend) sees it."""

from __future__ import annotations

import json
from typing import Any

from core.store.database import Database, read_all
from core.store.schema import INDEX_HEALTH, INDEX_HEALTH_KEYS, INDEX_HEALTH_SCHEMA


class IndexHealth:
    def __init__(self, database: Database) -> None:
        self.database = database

    def all(self) -> dict[str, dict[str, Any]]:
        """Vector table name → its last measured health."""
        table = self.database.open(INDEX_HEALTH)
        if table is None:
            return {}
        return {r["table_name"]: json.loads(r["health"]) for r in read_all(table).to_pylist()}

    def get(self, table_name: str) -> dict[str, Any] | None:
        return self.all().get(table_name)

    def put(self, table_name: str, health: dict[str, Any]) -> None:
        table = self.database.open_or_create(INDEX_HEALTH, INDEX_HEALTH_SCHEMA)
        row = {"table_name": table_name, "health": json.dumps(health)}
        self.database.upsert(table, [row], INDEX_HEALTH_KEYS)
