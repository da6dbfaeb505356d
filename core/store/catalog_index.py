"""One catalog's vectors of one kind and model, as retrieval asks of them: the top k for a
query vector under filters, similarities for given products, and keyword matches on names.

Behind it sit the in-memory matrix (and its IVF index) when the catalog fits in RAM, else
LanceDB's vector search (ANN once indexed); which one answers is decided here, not by
the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.store.filters import Filters
from core.store.schema import VectorKey
from core.store.vector_cache import MatrixCache, VectorMatrix
from core.store.vector_index import VectorIndex


@dataclass(frozen=True)
class CatalogIndex:
    index: VectorIndex
    catalog: str
    matrices: MatrixCache

    @property
    def key(self) -> VectorKey:
        return self.index.key

    def matrix(self) -> VectorMatrix | None:
        """The in-memory copy of this version (None when too big for RAM)."""
        return self.matrices.get(self.index, self.catalog)

    def top_k(self, vector: np.ndarray, k: int, filters: Filters) -> list[tuple[int, float]]:
        """(product_id, cosine) of the k nearest products passing `filters` (resolved),
        best first: exact in memory when the catalog fits, else the store's search."""
        matrix = self.matrix()
        if matrix is not None:
            return matrix.top_k(vector, k, filters)
        return self.index.nearest(vector, k, self.catalog, filters)

    def similarities(self, vector: np.ndarray, product_ids: list[int]) -> dict[int, float]:
        """Cosine of `vector` to each listed product (empty when not held in memory: the
        store has no cheap lookup by id for a vector index)."""
        matrix = self.matrix()
        return matrix.similarities(vector, product_ids) if matrix is not None else {}

    def keyword_matches(self, text: str, k: int, filters: Filters) -> list[tuple[int, float]]:
        return self.index.keyword_matches(text, k, self.catalog, filters)
