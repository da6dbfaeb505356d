"""UMAP maps of the embedding space, cached on disk so reopening a map is instant.

A map is keyed by (catalog, vector kind, model key, a fingerprint of the catalog's
vectors, UMAP parameters): re-embedding this catalog changes the key, embedding another
catalog into the same table does not. Two models are
put on comparable maps by initialising the second from the first's coordinates and
then rotating it onto the first (orthogonal Procrustes), so the same product sits in a
comparable place on both.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.analysis.clusters import ClusterLabel, Regions, map_regions
from core.files import atomic_path
from core.progress import Progress

CACHE_FORMAT = 2  # 2: maps keep their named regions; older files are recomputed
PCA_ABOVE = 5_000  # points; above this, PCA to `pca_dims` first (UMAP's kNN is the cost)
# Above this many points UMAP is fitted on a seeded sample of FIT_SAMPLE, and every other
# point is placed at the similarity-weighted mean of its PLACE_NEIGHBOURS nearest sampled
# points (UMAP's own transform starts there, then optimises for minutes at 1M points).
FIT_SAMPLE_ABOVE = 50_000
FIT_SAMPLE = 25_000
PLACE_NEIGHBOURS = 10
PLACE_BLOCK = 20_000  # points placed per block: memory stays at one block's neighbours


@dataclass(frozen=True)
class MapParams:
    n_components: int = 2
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    seed: int = 42
    pca_dims: int = 50

    def __post_init__(self) -> None:
        if self.n_components not in (2, 3):
            raise ValueError("maps are 2-D or 3-D")
        if not 2 <= self.n_neighbors <= 200 or not 0.0 <= self.min_dist <= 1.0:
            raise ValueError("n_neighbors is 2–200 and min_dist 0–1")


@dataclass
class Projection:
    ids: list[int]
    coords: np.ndarray
    params: MapParams
    seconds: float = 0.0  # time to compute (the original computation, when cached)
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    regions: Regions | None = None  # named regions of a 2-D map, computed with it


def _reduce(vectors: np.ndarray, params: MapParams) -> np.ndarray:
    if len(vectors) <= PCA_ABOVE or vectors.shape[1] <= params.pca_dims:
        return vectors
    from sklearn.decomposition import PCA

    return PCA(params.pca_dims, random_state=params.seed).fit_transform(vectors)


def _unit_rows(points: np.ndarray) -> np.ndarray:
    from core.analysis.data_issues import unit

    return unit(np.ascontiguousarray(points, dtype=np.float32))  # faiss wants C-order float32


def _fit_sample_and_place(
    vectors: np.ndarray, params: MapParams, init: np.ndarray | None
) -> np.ndarray:
    """A large map: PCA and UMAP fitted on a seeded sample; the rest placed by their
    nearest sampled points (cosine, in the PCA space UMAP saw)."""
    import faiss
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(params.seed)
    sample = np.sort(rng.choice(len(vectors), FIT_SAMPLE, replace=False))
    pca = PCA(min(params.pca_dims, vectors.shape[1]), random_state=params.seed)
    fitted = pca.fit_transform(vectors[sample]).astype(np.float32)
    coords = np.empty((len(vectors), params.n_components), dtype=np.float32)
    coords[sample] = umap_coords(fitted, params, None if init is None else init[sample])
    index = faiss.IndexFlatIP(fitted.shape[1])
    index.add(_unit_rows(fitted))
    rest = np.setdiff1d(np.arange(len(vectors)), sample, assume_unique=True)
    sampled = coords[sample]
    for start in range(0, len(rest), PLACE_BLOCK):
        rows = rest[start : start + PLACE_BLOCK]
        similarity, nearest = index.search(
            _unit_rows(pca.transform(vectors[rows])), PLACE_NEIGHBOURS
        )
        weights = np.maximum(similarity, 1e-6) ** 4  # the closest neighbours decide
        weights /= weights.sum(axis=1, keepdims=True)
        coords[rows] = np.einsum("nk,nkc->nc", weights, sampled[nearest])
    return coords


def umap_coords(
    vectors: np.ndarray, params: MapParams, init: np.ndarray | None = None
) -> np.ndarray:
    """UMAP of `vectors` (rows); `init` pins the starting layout (used for alignment)."""
    import umap

    from core.analysis.umap_kernels import cache_kernels

    cache_kernels()  # compiled once per machine, not once per process

    n = len(vectors)
    if n > FIT_SAMPLE_ABOVE:
        return _fit_sample_and_place(vectors, params, init)
    if n < 4:  # UMAP needs a neighbourhood; a handful of points is drawn as is
        out = np.zeros((n, params.n_components), dtype=np.float32)
        out[:, 0] = np.arange(n)
        return out
    reducer = umap.UMAP(
        n_components=params.n_components,
        n_neighbors=min(params.n_neighbors, n - 1),
        min_dist=params.min_dist,
        metric=params.metric,
        random_state=params.seed,
        init=init
        if init is not None
        else ("spectral" if n > params.n_components + 1 else "random"),
        n_jobs=1,  # random_state makes UMAP single-threaded anyway; say so explicitly
    )
    return reducer.fit_transform(_reduce(vectors, params)).astype(np.float32)


def procrustes_onto(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Rotate/reflect, scale and shift `moving` to best match `reference` (same rows)."""
    from scipy.linalg import orthogonal_procrustes

    ref_centre, mov_centre = reference.mean(axis=0), moving.mean(axis=0)
    ref, mov = reference - ref_centre, moving - mov_centre
    rotation, _ = orthogonal_procrustes(mov, ref)
    aligned = mov @ rotation
    scale = np.linalg.norm(ref) / max(np.linalg.norm(aligned), 1e-12)
    return (aligned * scale + ref_centre).astype(np.float32)


def cache_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _load(path: Path, params: MapParams) -> Projection | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            regions = None
            if "region_of" in data:
                labels = [ClusterLabel(**label) for label in json.loads(str(data["regions"]))]
                regions = Regions(data["region_of"], labels)
            return Projection(
                data["ids"].tolist(), data["coords"], params, meta["seconds"], True, meta, regions
            )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged cache file is recomputed, not trusted


def _save(path: Path, projection: Projection) -> None:
    meta = {**projection.meta, "seconds": projection.seconds, "params": asdict(projection.params)}
    arrays = {"ids": np.asarray(projection.ids), "coords": projection.coords}
    if projection.regions is not None:
        arrays["region_of"] = np.asarray(projection.regions.assignment)
        arrays["regions"] = np.asarray(json.dumps([asdict(r) for r in projection.regions.labels]))
    with atomic_path(path) as tmp:
        np.savez(tmp, meta=json.dumps(meta), **arrays)


def _cache_path(
    cache_dir: Path, key_parts: dict[str, Any], params: MapParams, init_from: Projection | None
) -> tuple[str, Path]:
    parts = {**key_parts, "params": asdict(params), "format": CACHE_FORMAT}
    if init_from is not None:
        parts["aligned_to"] = init_from.meta.get("key")
    key = cache_key(parts)
    return key, Path(cache_dir) / f"{key}.npz"


def cached_projection(
    cache_dir: Path,
    key_parts: dict[str, Any],
    load_vectors: Callable[[], tuple[list[int], np.ndarray]],
    params: MapParams,
    init_from: Projection | None = None,
    progress: Progress | None = None,
    names: Callable[[list[int]], list[str]] | None = None,
) -> Projection:
    """The map for `key_parts`, from the cache or computed (and then cached). With `names`
    (product names by id), a 2-D map's regions are named and kept with it, so opening
    the map never waits for the clustering."""
    key, path = _cache_path(cache_dir, key_parts, params, init_from)
    if (hit := _load(path, params)) is not None:
        return hit
    if progress:
        progress(0, 2, "load vectors")
    ids, vectors = load_vectors()
    if progress:
        progress(1, 2, f"UMAP of {len(ids):,} points")
    started = time.perf_counter()
    init = None
    if init_from is not None:
        where = {pid: i for i, pid in enumerate(init_from.ids)}
        if all(pid in where for pid in ids):
            init = init_from.coords[[where[pid] for pid in ids]]
    coords = umap_coords(vectors, params, init)
    if init is not None:
        coords = procrustes_onto(init, coords)
    projection = Projection(ids, coords, params, time.perf_counter() - started, False)
    projection.meta = {"key": key, **{k: str(v) for k, v in key_parts.items()}}
    if len(ids) > FIT_SAMPLE_ABOVE:
        projection.meta["fitted_on"] = FIT_SAMPLE
    if names is not None and params.n_components == 2:
        projection.regions = map_regions(coords, names(ids))
    _save(path, projection)
    if progress:
        progress(2, 2, "done")
    return projection


def _stored_vectors_key(store: Any, catalog: str, kind: str, model_key: str) -> dict:
    """What a map of stored vectors depends on: which vectors this catalog has."""
    fingerprint = store.vectors.fingerprint(kind, model_key, catalog)
    if fingerprint is None:
        raise ValueError(f"no {kind} vectors for model {model_key}: run `productlens embed`")
    return {"catalog": catalog, "kind": kind, "model": model_key, "vectors": fingerprint}


def catalog_projection(
    store: Any,
    catalog: str,
    kind: str,
    model_key: str,
    cache_dir: Path,
    params: MapParams = MapParams(),
    init_from: Projection | None = None,
    progress: Progress | None = None,
) -> Projection:
    """UMAP of a catalog's stored image or text vectors for one model."""
    key_parts = _stored_vectors_key(store, catalog, kind, model_key)

    def names(ids: list[int]) -> list[str]:
        rows = store.products.where(catalog, columns=["product_id", "name"]).to_pylist()
        by_id = {row["product_id"]: row["name"] or "" for row in rows}
        return [by_id.get(pid, "") for pid in ids]

    def vectors() -> tuple[list[int], np.ndarray]:
        return store.vectors.load(kind, model_key, catalog)

    return cached_projection(cache_dir, key_parts, vectors, params, init_from, progress, names)


def is_cached(
    store: Any, catalog: str, kind: str, model_key: str, cache_dir: Path, params: MapParams
) -> bool:
    """Whether this map opens from the cache (instantly) rather than by running UMAP."""
    key_parts = _stored_vectors_key(store, catalog, kind, model_key)
    return _cache_path(cache_dir, key_parts, params, None)[1].is_file()


def default_maps(
    store: Any, catalog: str, cache_dir: Path, progress: Progress | None = None
) -> list[Projection]:
    """The map the Embedding map page opens with, for every index of the catalog.

    Run after embedding, so the first visit to the page reads a file instead of running
    UMAP (a minute for 10k points on two cores)."""
    maps = []
    for key in store.vectors.indexes(catalog):
        maps.append(
            catalog_projection(
                store, catalog, key.kind, key.model_key, cache_dir, MapParams(), None, progress
            )
        )
    return maps


def modality_projection(
    store: Any,
    catalog: str,
    clip: Any,
    cache_dir: Path,
    params: MapParams = MapParams(),
    progress: Progress | None = None,
) -> tuple[Projection, int]:
    """One map of a product's CLIP image vector and CLIP text vector of its name.

    Returns the projection (ids repeat: first the images, then the texts) and the count
    of images, so callers can split the two halves. The gap between them is CLIP's
    modality gap.
    """
    key = clip.source.key
    key_parts = {**_stored_vectors_key(store, catalog, "image", key), "kind": "image+name"}

    def vectors() -> tuple[list[int], np.ndarray]:
        ids, images = store.vectors.load("image", key, catalog)
        names = store.products.get_many(catalog, ids)
        texts = [names[pid]["name"] for pid in ids]
        text_vecs = np.concatenate(
            [clip.encode_texts(texts[i : i + 64]) for i in range(0, len(texts), 64)]
        ) if texts else np.zeros((0, images.shape[1]), dtype=np.float32)  # fmt: skip
        return ids + ids, np.concatenate([images, text_vecs])

    projection = cached_projection(cache_dir, key_parts, vectors, params, None, progress)
    return projection, len(projection.ids) // 2


def modality_gap(projection: Projection, images: int) -> float:
    """Mean distance between a product's image point and its name point on the map."""
    coords = projection.coords
    if images == 0:
        return 0.0
    return float(np.linalg.norm(coords[:images] - coords[images:], axis=1).mean())


def compile_kernels() -> float:
    """Compile (or load from the disk cache) every UMAP kernel a default map uses; seconds
    taken (`make data` runs this in the background: `python -m core.analysis.projection`)."""
    started = time.perf_counter()
    points = np.random.default_rng(0).normal(size=(64, 32)).astype(np.float32)
    umap_coords(points, MapParams())
    return time.perf_counter() - started


if __name__ == "__main__":
    from core.analysis import projection, umap_kernels  # the imported modules, not __main__

    seconds = projection.compile_kernels()
    print(f"UMAP kernels ready in {seconds:.1f} s "
          f"({umap_kernels.cache_hits()} loaded from the cache)")  # fmt: skip
