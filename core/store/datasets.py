"""The datasets table: registered labelled photo folders (core.datasets), as JSON by name."""

from __future__ import annotations

import json
from typing import Any

from core.store.database import Database, read_all
from core.store.schema import DATASET_KEYS, DATASET_SCHEMA, DATASETS
from core.store.sql import sql_str


class Datasets:
    def __init__(self, database: Database) -> None:
        self.database = database

    def save(self, record: dict[str, Any]) -> None:
        row = {
            "name": record["name"],
            "root": record["root"],
            "fingerprint": record["fingerprint"],
            "registered_at": record["registered_at"],
            "payload": json.dumps(record),
        }
        table = self.database.open_or_create(DATASETS, DATASET_SCHEMA)
        self.database.upsert(table, [row], DATASET_KEYS)

    def load(self, name: str) -> dict[str, Any] | None:
        table = self.database.open(DATASETS)
        if table is None:
            return None
        rows = read_all(table, f"name = {sql_str(name)}", ["payload"]).to_pylist()
        return json.loads(rows[0]["payload"]) if rows else None

    def names(self) -> list[str]:
        table = self.database.open(DATASETS)
        if table is None:
            return []
        return sorted(read_all(table, columns=["name"]).column("name").to_pylist())
