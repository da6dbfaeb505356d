"""The evaluations table: zero-shot evaluations as JSON, keyed by what decides them."""

from __future__ import annotations

import json
from typing import Any

from core.store.database import Database, read_all
from core.store.schema import EVALUATION_KEYS, EVALUATION_SCHEMA, EVALUATIONS
from core.store.sql import sql_str


class Evaluations:
    def __init__(self, database: Database) -> None:
        self.database = database

    def save(self, key: str, evaluation: dict[str, Any]) -> None:
        row = {
            "key": key,
            "model_key": evaluation["model_key"],
            "dataset": evaluation["dataset"],
            "label_set": evaluation["label_set"],
            "created_at": evaluation.get("created_at", ""),
            "payload": json.dumps(evaluation, default=str),
        }
        table = self.database.open_or_create(EVALUATIONS, EVALUATION_SCHEMA)
        self.database.upsert(table, [row], EVALUATION_KEYS)

    def load(self, key: str) -> dict[str, Any] | None:
        table = self.database.open(EVALUATIONS)
        if table is None:
            return None
        rows = read_all(table, f"key = {sql_str(key)}", ["payload"]).to_pylist()
        return json.loads(rows[0]["payload"]) if rows else None
