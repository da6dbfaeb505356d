"""One vector index of the store as the rest of the code sees it: nearest neighbours with
filters, keyword matches on names, and its rows for an in-memory copy. Which LanceDB
table holds it, how a query is spelled and whether an ANN index answers stay here: no
LanceDB object leaves `store/`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from core.store.database import read_all
from core.store.filters import Filters
from core.store.schema import VectorKey
from core.store.sql import sql_str

FTS_COLUMN = "name"  # the full-text index on names (hybrid search)


class VectorIndex:
    def __init__(self, key: VectorKey, table: Any) -> None:
        self.key = key
        self._table = table

    @property
    def name(self) -> str:
        """The table's name: what caches and health records are keyed by."""
        return self._table.name

    @property
    def version(self) -> int:
        return int(self._table.version)

    def count_rows(self) -> int:
        return self._table.count_rows()

    def nearest(
        self,
        vector: np.ndarray,
        k: int,
        catalog: str | None,
        filters: Filters | None = None,
        exact: bool = False,
    ) -> list[tuple[int, float]]:
        """(product_id, cosine similarity) of the k nearest vectors of `catalog` (None:
        every catalog) that pass `filters` (resolved), best first; through the ANN index
        once there is one, unless `exact`."""
        from core.store.ann import ann_query

        query = ann_query(self._table, vector, k)  # its settings only matter once indexed
        if exact:
            query = query.bypass_vector_index()
        if catalog is not None:
            query = query.where(catalog_where(catalog, filters), prefilter=True)
        rows = query.select(["product_id", "_distance"]).to_arrow().to_pylist()
        return [(r["product_id"], 1.0 - float(r["_distance"])) for r in rows]

    def keyword_matches(
        self, text: str, k: int, catalog: str, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Names matching `text` by full-text search (the index `Vectors.index_names`
        builds), best first."""
        rows = (
            self._table.search(text, query_type="fts", fts_columns=FTS_COLUMN)
            .where(catalog_where(catalog, filters), prefilter=True)
            .select(["product_id", "_score"])
            .limit(k)
            .to_arrow()
            .to_pylist()
        )
        return [(r["product_id"], float(r.get("_score") or 0.0)) for r in rows]

    def build_ann(self) -> float:
        """Build LanceDB's IVF_PQ index now (seconds taken); `ensure_index` decides when."""
        from core.store.ann import build_index

        return build_index(self._table, self._table.schema.field("vector").type.list_size)

    def measure_ann(self, queries: np.ndarray, k: int = 10) -> dict[str, Any]:
        """recall@k of the ANN path against exact search, and its latency."""
        from core.store.ann import measure_recall

        return measure_recall(self._table, queries, k)

    def read(self, catalog: str, columns: list[str]) -> pa.Table:
        """Every row of this catalog, the given columns, as Arrow."""
        return read_all(self._table, f"catalog = {sql_str(catalog)}", columns)


def catalog_where(catalog: str, filters: Filters | None = None) -> str:
    clause = f"catalog = {sql_str(catalog)}"
    extra = filters.where() if filters is not None else None
    return f"{clause} AND {extra}" if extra else clause


def vectors_of(data: pa.Table) -> np.ndarray:
    """The `vector` column of Arrow rows as a float32 matrix (one row per vector), copied
    chunk by chunk into one array: a million vectors cost their own size once more, not
    three times (combining the chunks first would copy them twice)."""
    n = data.num_rows
    if not n:
        return np.zeros((0, 0), dtype=np.float32)
    column = data.column("vector")
    if not isinstance(column.type, pa.FixedSizeListType):  # a list of any length per row
        flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(n, -1).astype(np.float32, copy=False)
    out = np.empty((n, column.type.list_size), dtype=np.float32)
    row = 0
    for chunk in column.chunks:
        flat = chunk.flatten().to_numpy(zero_copy_only=False)
        out[row : row + len(chunk)] = flat.reshape(len(chunk), -1)
        row += len(chunk)
    return out
