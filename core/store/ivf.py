"""An inverted-file index in memory (faiss IVF) for large in-memory catalogs.

From `IVF_MIN_ROWS` vectors an exact matrix product costs more than a query should
(16 ms at 100k × 512 on 2 cores). The index sorts the vectors into √n k-means lists,
stored as 8-bit codes (faiss IVF-SQ8: a quarter of the float32 copy IVF-Flat kept, 1.5 GB
of a million 384-d vectors); a query scans the `NPROBE` nearest lists, and the best
`RERANK`·k candidates are scored exactly against the matrix's own float32 vectors, so
ranks and scores are exact ones. √n lists rather than 4·√n: on the million-product
synthetic catalog, on one core, the build took 13.5 s instead of 98 s and recall@10 rose
from 0.87 to 0.94, for 0.73 ms a query instead of 0.34. It is built in the background from
a matrix's second search: until it is ready, and for every filtered query, search stays
exact.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.memory import release_freed_memory

log = logging.getLogger(__name__)

IVF_MIN_ROWS = 50_000
NPROBE = 16
TRAIN_PER_LIST = 50  # k-means sample: 50 vectors per list is plenty (faiss warns below 39)
ADD_BATCH = 65_536
RERANK = 4  # candidates per result scored exactly: 8-bit codes only shortlist


@dataclass
class IvfIndex:
    index: Any  # faiss.IndexIVFScalarQuantizer (8-bit) over inner products of unit vectors
    ids: np.ndarray  # row → product id
    vectors: np.ndarray  # the matrix's float32 rows (shared, not copied): exact re-scoring
    build_s: float
    lists: int

    def top_k(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        query = np.asarray(query, dtype=np.float32)
        _, rows = self.index.search(query[None], k * RERANK)
        rows = rows[0][rows[0] >= 0]
        scores = self.vectors[rows] @ query
        best = np.argsort(-scores, kind="stable")[:k]
        return [(int(self.ids[rows[b]]), float(scores[b])) for b in best]


def build_ivf(vectors: np.ndarray, ids: np.ndarray, seed: int = 0) -> IvfIndex:
    """IVF-SQ8 over L2-normalised `vectors` (inner product = cosine)."""
    import faiss

    started = time.perf_counter()
    n, dim = vectors.shape
    lists = max(1, int(math.sqrt(n)))
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim), dim, lists, faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )  # fmt: skip
    index.cp.seed = seed
    take = min(n, TRAIN_PER_LIST * lists)
    sample = vectors[np.random.default_rng(seed).choice(n, take, replace=False)]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    del sample
    for start in range(0, n, ADD_BATCH):  # float32 copies of one batch at a time
        index.add(np.ascontiguousarray(vectors[start : start + ADD_BATCH], dtype=np.float32))
    index.nprobe = min(NPROBE, lists)
    return IvfIndex(index, ids, vectors, time.perf_counter() - started, lists)


def build_in_background(matrix: Any) -> threading.Thread | None:
    """Start building `matrix.ivf` when the matrix is large enough; exact until then.
    The thread is kept on the matrix as `matrix.ivf_builder`."""
    if len(matrix.ids) < IVF_MIN_ROWS:
        return None

    def build() -> None:
        import faiss

        # One core: the build takes longer (13.5 s at 1M), but the pages' own runs keep
        # the other one while it lasts.
        faiss.omp_set_num_threads(1)
        try:
            matrix.ivf = build_ivf(matrix.vectors, matrix.ids)
            release_freed_memory()  # the training sample and faiss's build buffers
        except Exception as exc:  # exact search still answers, only slower
            log.warning("in-memory IVF index not built: %s", exc)

    thread = threading.Thread(target=build, name="ivf-build", daemon=True)
    matrix.ivf_builder = thread
    thread.start()
    return thread
