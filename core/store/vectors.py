"""The vector tables: one per (text|image, model), each row with the product fields that
filters need, and the hashes that tell a stale vector from a current one.

A text table also carries the full-text index on names (hybrid search), built by the
writer (`index_names`), never by a query."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from core.store.database import Database, read_all
from core.store.schema import VECTOR_KEYS, VECTOR_PREFIX, VectorKey, vector_schema
from core.store.sql import sql_in, sql_str
from core.store.vector_index import FTS_COLUMN, VectorIndex, vectors_of


def _digest_of_listing(rows: pa.Table) -> str | None:
    """sha256 of the "product_id:source_hash" lines in product order, made in Arrow: a
    Python loop over a million rows took 2 s of a map's first open."""
    if rows.num_rows == 0:
        return None
    import pyarrow.compute as pc

    rows = rows.sort_by("product_id")
    lines = pc.binary_join_element_wise(
        pc.cast(rows["product_id"], pa.string()),
        pc.fill_null(rows["source_hash"], "None"), ":",
    ).combine_chunks()  # fmt: skip
    listing = pc.binary_join(pa.LargeListArray.from_arrays([0, len(lines)], lines), "\n")
    return hashlib.sha256(listing[0].as_buffer()).hexdigest()[:20]


class Vectors:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._fingerprints: dict[tuple[str, str, str, int], str | None] = {}

    def table_names(self) -> list[str]:
        return [n for n in self.database.table_names() if n.startswith(VECTOR_PREFIX)]

    def table_name(self, kind: str, model_key: str) -> str:
        """The table holding (kind, model_key): its own name, or the name a store written
        before dots were kept in names gave it."""
        key = VectorKey(kind, model_key)
        names = self.table_names() if key.table != key.legacy_table else []
        if names and key.table not in names and key.legacy_table in names:
            return key.legacy_table
        return key.table

    def open(self, kind: str, model_key: str) -> Any | None:
        """The raw table (inside `store/` only: others hold a `VectorIndex`)."""
        return self.database.open(self.table_name(kind, model_key))

    def index(self, kind: str, model_key: str) -> VectorIndex | None:
        """The (kind, model) index, or None when nothing has been embedded with it."""
        table = self.open(kind, model_key)
        return None if table is None else VectorIndex(VectorKey(kind, model_key), table)

    def indexes(self, catalog: str) -> dict[VectorKey, int]:
        """Each vector index holding vectors of this catalog → how many."""
        counts = {}
        for name in self.table_names():
            n = self.database.open(name).count_rows(f"catalog = {sql_str(catalog)}")
            if n:
                counts[VectorKey.parse(name)] = n
        return counts

    def counts(self, catalog: str) -> dict[str, int]:
        """`kind__model_key` → vectors stored for this catalog (for JSON and people)."""
        return {key.label: n for key, n in self.indexes(catalog).items()}

    def hashes(self, kind: str, model_key: str, catalog: str) -> dict[int, tuple[str, str]]:
        """product_id → (source_hash, meta_hash) of the stored vectors."""
        table = self.open(kind, model_key)
        if table is None:
            return {}
        columns = ["product_id", "source_hash", "meta_hash"]
        rows = read_all(table, f"catalog = {sql_str(catalog)}", columns).to_pylist()
        return {r["product_id"]: (r["source_hash"], r["meta_hash"]) for r in rows}

    def fingerprint(self, kind: str, model_key: str, catalog: str) -> str | None:
        """Changes when this catalog's vectors change, and only then (unlike the table's
        version, which any catalog's write moves); None when there are none. Remembered
        per table version: a page asks on every rerun."""
        table = self.open(kind, model_key)
        if table is None:
            return None
        memo_key = (kind, model_key, catalog, int(table.version))
        if memo_key not in self._fingerprints:
            columns = ["product_id", "source_hash"]
            rows = read_all(table, f"catalog = {sql_str(catalog)}", columns)
            self._fingerprints[memo_key] = _digest_of_listing(rows)
        return self._fingerprints[memo_key]

    def upsert(self, kind: str, model_key: str, dim: int, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        name = self.table_name(kind, model_key)
        table = self.database.open_or_create(name, vector_schema(dim))
        self.database.upsert(table, rows, VECTOR_KEYS, phase="vectors")

    def append(self, kind: str, model_key: str, dim: int, rows: pa.Table) -> None:
        """Add rows without merging (a bulk load of vectors known to be new: benchmarks);
        columns the schema has and `rows` lacks are left empty."""
        schema = vector_schema(dim)
        table = self.database.open_or_create(self.table_name(kind, model_key), schema)
        arrays = [rows.column(f.name) if f.name in rows.column_names
                  else pa.nulls(rows.num_rows, f.type) for f in schema]  # fmt: skip
        with self.database.write(table):
            table.add(pa.Table.from_arrays(arrays, schema=schema))

    def delete_catalog(self, kind: str, model_key: str, catalog: str) -> None:
        """Drop one catalog's vectors from a (kind, model) table (before a bulk reload)."""
        table = self.open(kind, model_key)
        if table is not None:
            with self.database.write(table):
                table.delete(f"catalog = {sql_str(catalog)}")

    def index_names(self, kind: str, model_key: str, changed: bool) -> None:
        """(Re)build the full-text index on names after a write, or when it is missing."""
        table = self.open(kind, model_key)
        if table is None:
            return
        indexed = any(
            FTS_COLUMN in index.columns and "fts" in str(index.index_type).lower()
            for index in table.list_indices()
        )
        if changed or not indexed:
            with self.database.write(table):
                table.create_fts_index(FTS_COLUMN, replace=True)

    def load(
        self, kind: str, model_key: str, catalog: str, product_ids: Iterable[int] | None = None
    ) -> tuple[list[int], np.ndarray]:
        table = self.open(kind, model_key)
        if table is None:
            return [], np.zeros((0, 0), dtype=np.float32)
        clause = f"catalog = {sql_str(catalog)}"
        if product_ids is not None:
            clause += f" AND product_id IN ({sql_in(product_ids)})"
        data = read_all(table, clause, ["product_id", "vector"])
        return data.column("product_id").to_pylist(), vectors_of(data)
