"""Retrieval: text → text index, text → image index (CLIP text tower), image → image index.

Filters become a where-clause on the vector query itself (LanceDB prefilter), built only
from validated numbers and escaped strings. Hybrid mode fuses a full-text search on product
names with the vector hits by reciprocal rank fusion, so exact model numbers are found.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store import sql_in, sql_str

if TYPE_CHECKING:
    from PIL import Image

    from core.service import Lens

TEXT, IMAGE, HYBRID = "text", "image", "hybrid"
RRF_K = 60
MAX_QUERY_CHARS = 1000


class QueryError(ValueError):
    """A query or filter that cannot be run, with a message for people."""


@dataclass(frozen=True)
class Filters:
    min_price: float | None = None
    max_price: float | None = None
    min_rating: float | None = None
    min_rating_count: int | None = None
    categories: tuple[str, ...] = ()
    product_ids: tuple[int, ...] = ()  # e.g. a selection on the embedding map

    def where(self) -> str | None:
        """A SQL where-clause; values are checked numbers or quote-escaped strings only."""
        parts = []
        for column, op, value in (
            ("price", ">=", self.min_price),
            ("price", "<=", self.max_price),
            ("rating", ">=", self.min_rating),
            ("rating_count", ">=", self.min_rating_count),
        ):
            if value is None:
                continue
            number = _finite(value, column)
            if column == "rating_count":  # an integer column: a float literal is refused
                parts.append(f"{column} {op} {math.ceil(number)}")
                continue
            parts.append(f"{column} {op} {number!r}")
        if self.categories:
            for name in self.categories:
                if not isinstance(name, str) or any(ord(ch) < 32 for ch in name):
                    raise QueryError(f"invalid category {name!r}")
            listed = ", ".join(sql_str(c) for c in self.categories)
            parts.append(f"(sub_category IN ({listed}) OR main_category IN ({listed}))")
        if self.product_ids:
            try:
                ids = sorted({int(i) for i in self.product_ids})
            except (TypeError, ValueError) as exc:
                raise QueryError(f"product ids must be integers: {exc}") from exc
            parts.append(f"product_id IN ({sql_in(ids)})")
        return " AND ".join(parts) or None


def _finite(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"{what} filter must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise QueryError(f"{what} filter must be finite, got {value!r}")
    return number


@dataclass
class Hit:
    source: str
    rank: int
    product_id: int
    score: float
    name: str = ""
    rating: float | None = None
    rating_count: int | None = None
    price: float | None = None
    discount_price: float | None = None
    actual_price: float | None = None
    currency: str = ""
    main_category: str = ""
    sub_category: str = ""
    image_path: str = ""
    image_url: str = ""
    image_status: str = ""
    link: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    query: str
    has_image: bool
    text_hits: list[Hit] = field(default_factory=list)
    image_hits: list[Hit] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def hits(self) -> list[Hit]:
        return [*self.text_hits, *self.image_hits]

    @property
    def product_ids(self) -> set[int]:
        return {h.product_id for h in self.hits}

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "image_query": self.has_image,
            "text_results": [h.as_dict() for h in self.text_hits],
            "image_results": [h.as_dict() for h in self.image_hits],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "notes": self.notes,
        }


MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def query_image(upload: Any) -> Image.Image:
    """An uploaded file (name, size, getvalue()) as an RGB image, or a QueryError."""
    from core.images import ImageError, load_rgb

    size = int(getattr(upload, "size", 0) or 0)
    if size > MAX_UPLOAD_BYTES:
        raise QueryError(f"the image is {size / 1e6:.1f} MB; the limit is 10 MB")
    try:
        return load_rgb(upload.getvalue())
    except ImageError as exc:
        raise QueryError(
            f"{getattr(upload, 'name', 'the upload')} is not a usable image: {exc}"
        ) from exc


def clean_query(text: str | None) -> str:
    """Trim, drop control characters, cap the length; empty means no text query."""
    text = "".join(ch for ch in (text or "") if ch >= " " or ch in "\t\n").strip()
    return " ".join(text.split())[:MAX_QUERY_CHARS]


def _ranked(
    lens: Lens,
    table: Any,
    vector: np.ndarray,
    k: int,
    catalog: str,
    filters: Filters,
    where: str,
) -> list[tuple[int, float]]:
    """Exact in-memory search when the table fits in RAM, else LanceDB (ANN if indexed)."""
    matrix = lens.matrices.get(table.name, table, catalog)
    if matrix is not None:
        return matrix.top_k(vector, k, filters)
    return _vector_search(table, vector, k, where)


def _vector_search(
    table: Any, vector: np.ndarray, k: int, where: str | None
) -> list[tuple[int, float]]:
    from core.ann import ann_query

    query = ann_query(table, vector, k)  # the ANN settings only matter once indexed
    if where:
        query = query.where(where, prefilter=True)
    rows = query.select(["product_id", "_distance"]).to_arrow().to_pylist()
    return [(r["product_id"], 1.0 - float(r["_distance"])) for r in rows]


def _catalog_where(catalog: str, filters: Filters) -> str:
    clause = f"catalog = {sql_str(catalog)}"
    extra = filters.where()
    return f"{clause} AND {extra}" if extra else clause


def _fts_search(table: Any, query: str, k: int, where: str) -> list[tuple[int, float]]:
    def run() -> list[dict[str, Any]]:
        return (
            table.search(query, query_type="fts", fts_columns="name")
            .where(where, prefilter=True)
            .select(["product_id", "_score"])
            .limit(k)
            .to_arrow()
            .to_pylist()
        )

    try:
        rows = run()
    except Exception:
        # No (or an outdated) full-text index: build it once, then ask again.
        table.create_fts_index("name", replace=True)
        rows = run()
    return [(r["product_id"], float(r.get("_score") or 0.0)) for r in rows]


def rrf_fuse(*rankings: list[tuple[int, float]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each list adds 1/(k + rank) for every product it holds."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (product_id, _) in enumerate(ranking, start=1):
            scores[product_id] = scores.get(product_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


HIT_COLUMNS = [n for n in Hit.__dataclass_fields__ if n not in ("source", "rank", "score")]


def _hits(lens: Lens, catalog: str, source: str, ranked: list[tuple[int, float]]) -> list[Hit]:
    records = lens.records.lookup(lens.store, catalog, [pid for pid, _ in ranked], HIT_COLUMNS)
    hits = []
    for rank, (product_id, score) in enumerate(ranked, start=1):
        record = records.get(product_id, {})
        fields = {name: record.get(name) for name in Hit.__dataclass_fields__ if name in record}
        fields.pop("product_id", None)
        hits.append(Hit(source=source, rank=rank, product_id=product_id, score=score, **fields))
    return hits


def _search_images(
    lens: Lens,
    catalog: str,
    key: str,
    vector: np.ndarray,
    k: int,
    filters: Filters,
    where: str,
    result: SearchResult,
) -> None:
    table = lens.store.open_vectors("image", key)
    if table is None:
        result.notes.append("no image index yet: run `productlens embed`")
        return
    ranked = _ranked(lens, table, vector, k, catalog, filters, where)
    result.image_hits = _hits(lens, catalog, IMAGE, ranked)


def search(
    lens: Lens,
    catalog: str,
    query: str | None = None,
    image: Image.Image | None = None,
    k: int = 5,
    filters: Filters | None = None,
    hybrid: bool = False,
) -> SearchResult:
    """Top-k from the text and image indexes for a text query, an image, or both."""
    text = clean_query(query)
    if not text and image is None:
        raise QueryError("type a question or upload an image")
    k = max(1, min(int(k), 100))
    filters = filters or Filters()
    where = _catalog_where(catalog, filters)
    result = SearchResult(query=text, has_image=image is not None)
    timings = result.timings_ms

    started = time.perf_counter()
    clip = lens.clip()
    text_model = lens.text_model() if text else None
    timings["load_models"] = (time.perf_counter() - started) * 1000

    if text and text_model is not None:
        started = time.perf_counter()
        text_vector = text_model.encode([text])[0]
        clip_text_vector = clip.encode_texts([text])[0]
        timings["embed_text"] = (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        text_table = lens.store.open_vectors("text", text_model.source.key)
        if text_table is None:
            result.notes.append("no text index yet: run `productlens embed`")
        else:
            ranked = _ranked(lens, text_table, text_vector, k, catalog, filters, where)
            source = TEXT
            if hybrid:
                keyword = _fts_search(text_table, text, k, where)
                ranked = rrf_fuse(ranked, keyword)[:k]
                source = HYBRID
            result.text_hits = _hits(lens, catalog, source, ranked)
        if image is None:
            _search_images(
                lens, catalog, clip.source.key, clip_text_vector, k, filters, where, result
            )
        timings["search"] = (time.perf_counter() - started) * 1000

    if image is not None:
        started = time.perf_counter()
        image_vector = clip.encode_images(clip.preprocess(image.convert("RGB"))[None])[0]
        timings["embed_image"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        _search_images(lens, catalog, clip.source.key, image_vector, k, filters, where, result)
        timings["search"] = timings.get("search", 0.0) + (time.perf_counter() - started) * 1000
    return result
