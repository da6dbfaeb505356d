"""Search in memory for catalogs that fit: one matrix product instead of a query plan.

At catalog scale a LanceDB query spends most of its time planning and materialising,
not scoring: a matrix-vector product over the normalised vectors is an order of
magnitude faster and exact. From `core.store.ivf.IVF_MIN_ROWS` rows an in-memory
IVF index (built in the background from a matrix's second search) answers unfiltered
queries. The matrix is loaded once per (table, catalog, table version) and dropped when
the table changes. Filters are applied as NumPy masks that mirror `Filters.where()` (a
test checks both give the same products). Tables above IN_MEMORY_MAX_ROWS stay in
LanceDB and its ANN index.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.memory import release_freed_memory
from core.store.ivf import build_in_background

if TYPE_CHECKING:
    from core.store.vector_index import VectorIndex

IN_MEMORY_MAX_ROWS = 1_000_000  # 1M × 512 float32: 2 GB, twice that with the IVF index
# The product fields VectorMatrix.mask filters on, loaded beside the vectors.
MASK_COLUMNS = ["price", "rating", "rating_count", "main_category", "sub_category"]
_CACHED_MATRICES = 4


@dataclass
class VectorMatrix:
    ids: np.ndarray  # int64
    vectors: np.ndarray  # float32, rows L2-normalised
    price: np.ndarray  # float64, NaN for missing
    rating: np.ndarray
    rating_count: np.ndarray
    main_category: np.ndarray  # object (str)
    sub_category: np.ndarray
    _rows: dict[int, int] | None = field(default=None, repr=False)  # product id → row
    ivf: Any = field(default=None, repr=False)  # an IvfIndex once built (large matrices)
    ivf_builder: Any = field(default=None, repr=False)  # the thread building it

    def mask(self, filters: Any) -> np.ndarray | None:
        """Rows passing `filters` (resolved `Filters`); None when nothing is filtered."""
        return filters.mask(
            {"price": self.price, "rating": self.rating, "rating_count": self.rating_count,
             "sub_category": self.sub_category, "main_category": self.main_category,
             "product_id": self.ids}
        )  # fmt: skip

    def top_k(self, query: np.ndarray, k: int, filters: Any = None) -> list[tuple[int, float]]:
        """(product_id, cosine similarity) of the k best rows, best first."""
        if len(self.ids) == 0:
            return []
        keep = self.mask(filters) if filters is not None else None
        if keep is None and self.ivf is not None:
            return self.ivf.top_k(query, k)
        scores = _matvec(self.vectors, np.asarray(query, dtype=np.float32))
        if keep is not None:
            scores = np.where(keep, scores, -np.inf)
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.lexsort((self.ids[best], -scores[best]))]
        return [(int(self.ids[i]), float(scores[i])) for i in best]

    def neighbours(self, product_id: int, k: int) -> list[tuple[int, float]]:
        """The k products most similar to this one (itself excluded), best first."""
        if self._rows is None:
            self._rows = {int(pid): i for i, pid in enumerate(self.ids)}
        row = self._rows.get(int(product_id))
        if row is None:
            return []
        hits = self.top_k(self.vectors[row], k + 1)
        return [(pid, score) for pid, score in hits if pid != int(product_id)][:k]

    def similarities(self, query: np.ndarray, product_ids: list[int]) -> dict[int, float]:
        """Cosine similarity of `query` to each listed product that has a vector here."""
        if self._rows is None:
            self._rows = {int(pid): i for i, pid in enumerate(self.ids)}
        rows = [(pid, self._rows[pid]) for pid in dict.fromkeys(product_ids) if pid in self._rows]
        if not rows:
            return {}
        picked = self.vectors[[i for _, i in rows]]
        scores = picked @ np.asarray(query, dtype=np.float32)
        return {pid: float(score) for (pid, _), score in zip(rows, scores, strict=True)}


def _matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    # Through torch where it is loaded: OpenBLAS worker threads spin after a large product
    # and then steal the cores torch needs to encode the next query (4x slower encodes).
    # A process that never loaded torch (a CLI search on ONNX encoders) uses NumPy.
    torch = sys.modules.get("torch")
    if torch is None:
        return matrix @ vector
    return (torch.from_numpy(matrix) @ torch.from_numpy(vector)).numpy()


def _as_float(column: Any) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def load_matrix(index: VectorIndex, catalog: str) -> VectorMatrix:
    from core.store.vector_index import vectors_of

    data = index.read(catalog, ["product_id", "vector", *MASK_COLUMNS])
    n = data.num_rows
    vectors = vectors_of(data) if n else np.zeros((0, 1), dtype=np.float32)
    data = data.drop_columns(["vector"])  # Arrow's copy goes before the rest is built
    if n:  # unit length in place: no second matrix
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return VectorMatrix(
        ids=np.asarray(data.column("product_id").to_pylist(), dtype=np.int64),
        vectors=vectors,
        price=_as_float(data.column("price")),
        rating=_as_float(data.column("rating")),
        rating_count=_as_float(data.column("rating_count")),
        main_category=np.asarray(data.column("main_category").to_pylist(), dtype=object),
        sub_category=np.asarray(data.column("sub_category").to_pylist(), dtype=object),
    )


class MatrixCache:
    """A few recently used matrices, keyed by (table, catalog, version)."""

    def __init__(self, size: int = _CACHED_MATRICES) -> None:
        self._items: OrderedDict[tuple[str, str, int], VectorMatrix] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, index: VectorIndex, catalog: str) -> VectorMatrix | None:
        """The matrix for this index version, or None when the index is too big for RAM."""
        key = (index.name, catalog, index.version)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                matrix = self._items[key]
                if matrix.ivf_builder is None:
                    # Built on the second search, not the first: a one-shot process (a
                    # CLI search) never pays for an index it would not use.
                    build_in_background(matrix)
                return matrix
        if index.count_rows() > IN_MEMORY_MAX_ROWS:
            return None
        matrix = load_matrix(index, catalog)
        release_freed_memory()  # the Arrow copy of every vector, freed but kept by malloc
        with self._lock:
            for old in [k for k in self._items if k[:2] == key[:2]]:
                del self._items[old]  # an older version of the same table
            self._items[key] = matrix
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return matrix

    def wait_for_indexes(self, timeout_s: float | None = None) -> None:
        """Until the cached matrices' background IVF builds are done (benchmarks: steady
        state, not queries racing a build)."""
        with self._lock:
            builders = [m.ivf_builder for m in self._items.values() if m.ivf_builder]
        for builder in builders:
            builder.join(timeout_s)


class RecordCache:
    """Product records of recently searched catalogs, keyed by the products table version,
    so turning hits into rows is a dictionary lookup instead of a query."""

    def __init__(self, size: int = 2) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[Any, dict[int, int]]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def lookup(
        self, store: Any, catalog: str, ids: list[int], columns: list[str]
    ) -> dict[int, dict[str, Any]]:
        from core.store.schema import PRODUCTS

        key = (catalog, store.database.version(PRODUCTS))
        with self._lock:
            entry = self._items.get(key)
        if entry is None:
            table = store.products.where(catalog, columns=columns)
            pids = table.column("product_id").to_pylist()
            entry = (table, {pid: i for i, pid in enumerate(pids)})
            with self._lock:
                self._items[key] = entry
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        table, index = entry
        rows = [index[i] for i in ids if i in index]
        return {r["product_id"]: r for r in table.take(rows).to_pylist()} if rows else {}
