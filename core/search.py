"""Retrieval: text → text index, text → image index (CLIP text tower), image → image index.

Filters become a where-clause on the vector query itself (LanceDB prefilter), built only
from validated numbers and escaped strings. Hybrid mode fuses a full-text search on product
names with the vector hits by reciprocal rank fusion, so exact model numbers are found.
Brand, discount and keyword filters are resolved to product ids from the catalog's facts
first. Identical listings collapse into one hit that lists their ids, and every hit says
why it matched: its text and image similarity (measured whichever index found it) and
the query words its name contains.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store import sql_in, sql_str

if TYPE_CHECKING:
    from PIL import Image

    from core.catalog_facts import CatalogFacts
    from core.query import Understanding
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
    # Conditions on the whole product record, turned into product ids by `resolve`:
    brands: tuple[str, ...] = ()  # made by one of these (see catalog_facts.product_brand)
    min_discount: float | None = None  # share off the actual price, 0..1
    keywords: tuple[str, ...] = ()  # the name contains each (letters and digits only)

    @property
    def needs_resolving(self) -> bool:
        return bool(self.brands or self.keywords or self.min_discount is not None)

    def resolve(self, facts: CatalogFacts) -> Filters | None:
        """These filters with brand, discount and keyword conditions as product ids; None
        when no product can pass them."""
        if not self.needs_resolving:
            return self
        if self.min_discount is not None:
            share = _finite(self.min_discount, "discount")
            if not 0 <= share <= 1:
                raise QueryError(f"a discount is a share between 0 and 1, got {share!r}")
        ids = facts.matching(self.brands, self.min_discount, self.keywords)
        if self.product_ids:
            ids = np.intersect1d(ids, np.asarray([int(i) for i in self.product_ids]))
        if len(ids) == 0:
            return None
        return replace(
            self, brands=(), min_discount=None, keywords=(), product_ids=tuple(ids.tolist())
        )

    def where(self) -> str | None:
        """A SQL where-clause; values are checked numbers or quote-escaped strings only."""
        if self.needs_resolving:
            raise QueryError("brand, discount and keyword filters must be resolved first")
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
    # Why this result: each part on its own scale (cosines are -1..1; None = not measured).
    text_similarity: float | None = None
    image_similarity: float | None = None
    keywords_matched: list[str] = field(default_factory=list)
    duplicate_ids: list[int] = field(default_factory=list)  # identical listings elsewhere
    unmet: list[str] = field(default_factory=list)  # constraints this product breaks
    alternative: bool = False  # shown because nothing met the constraints

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
    understanding: Understanding | None = None
    catalog_has_images: bool = True
    alternatives: bool = False  # the hits are the nearest products, not ones that qualify

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
            "understood": self.understanding.as_dict() if self.understanding else None,
            "alternatives": self.alternatives,
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


def collapse_copies(
    ranked: list[tuple[int, float]], facts: CatalogFacts, k: int
) -> list[tuple[int, float]]:
    """The first k distinct listings: identical copies (same name and price) of a better
    ranked product are dropped here and listed on its hit instead."""
    seen: set[int] = set()
    kept = []
    for product_id, score in ranked:
        group = facts.group_of(product_id)
        if group not in seen:
            seen.add(group)
            kept.append((product_id, score))
            if len(kept) == k:
                break
    return kept


HIT_COLUMNS = [
    n for n in Hit.__dataclass_fields__
    if n not in ("source", "rank", "score", "text_similarity", "image_similarity",
                 "keywords_matched", "duplicate_ids", "unmet", "alternative")
]  # fmt: skip


def _hits(lens: Lens, catalog: str, source: str, ranked: list[tuple[int, float]]) -> list[Hit]:
    records = lens.records.lookup(lens.store, catalog, [pid for pid, _ in ranked], HIT_COLUMNS)
    hits = []
    for rank, (product_id, score) in enumerate(ranked, start=1):
        record = records.get(product_id, {})
        fields = {name: record.get(name) for name in HIT_COLUMNS if name in record}
        fields.pop("product_id", None)
        hits.append(Hit(source=source, rank=rank, product_id=product_id, score=score, **fields))
    return hits


# Words too common to say anything about why a product matched.
_STOPWORDS = frozenset("a an and the for with of in on to or by is it my me under over".split())


def _explain(lens: Lens, result: SearchResult, facts: CatalogFacts, vectors: dict) -> None:
    """Fill each hit's text and image similarity (both measured for every hit, whichever
    index found it), the query words its name contains, and its identical listings."""
    from core.catalog_facts import words

    ids = [h.product_id for h in result.hits]
    similarity: dict[str, dict[int, float]] = {}
    for kind, (table, vector, catalog) in vectors.items():
        matrix = lens.matrices.get(table.name, table, catalog)
        similarity[kind] = matrix.similarities(vector, ids) if matrix is not None else {}
    asked = [w for w in dict.fromkeys(words(result.query)) if w not in _STOPWORDS]
    for hit in result.hits:
        hit.text_similarity = similarity.get(TEXT, {}).get(hit.product_id)
        hit.image_similarity = similarity.get(IMAGE, {}).get(hit.product_id)
        if hit.source == TEXT and hit.text_similarity is None:
            hit.text_similarity = hit.score
        if hit.source == IMAGE and hit.image_similarity is None:
            hit.image_similarity = hit.score
        named = set(words(hit.name))
        hit.keywords_matched = [w for w in asked if w in named]
        hit.duplicate_ids = [i for i in facts.copies(hit.product_id) if i != hit.product_id]


def _search_images(
    lens: Lens,
    catalog: str,
    key: str,
    vector: np.ndarray,
    k: int,
    filters: Filters,
    where: str,
    result: SearchResult,
    facts: CatalogFacts,
) -> Any:
    table = lens.store.open_vectors("image", key)
    if table is None:
        result.notes.append("no image index yet: run `productlens embed`")
        return None
    ranked = _ranked(lens, table, vector, _overfetch(k), catalog, filters, where)
    result.image_hits = _hits(lens, catalog, IMAGE, collapse_copies(ranked, facts, k))
    return table


def _overfetch(k: int) -> int:
    return min(3 * k + 10, 300)  # room for identical listings to collapse


def no_images_note(facts: CatalogFacts) -> str:
    return (
        f"This catalog has no product images (0 of {len(facts):,} products), so only text "
        "search runs and appearance is judged from product names."
    )


def search(
    lens: Lens,
    catalog: str,
    query: str | None = None,
    image: Image.Image | None = None,
    k: int = 5,
    filters: Filters | None = None,
    hybrid: bool = False,
) -> SearchResult:
    """Top-k distinct listings from the text and image indexes for a text query, an image,
    or both, each with why it matched."""
    text = clean_query(query)
    if not text and image is None:
        raise QueryError("type a question or upload an image")
    k = max(1, min(int(k), 100))
    facts = lens.facts(catalog)
    if image is not None and not facts.has_images:
        raise QueryError(
            f"This catalog has no product images (0 of {len(facts):,} products have one), so "
            "there is nothing to match a photo against. Search by text, or ingest the "
            "catalog with `--download-images` where its image URLs can be fetched."
        )
    resolved = (filters or Filters()).resolve(facts)
    result = SearchResult(query=text, has_image=image is not None)
    result.catalog_has_images = facts.has_images
    if resolved is None:
        return result  # no product passes the filters: nothing to rank
    filters = resolved
    where = _catalog_where(catalog, filters)
    timings = result.timings_ms
    vectors: dict[str, tuple[Any, np.ndarray, str]] = {}

    started = time.perf_counter()
    clip = lens.clip() if facts.has_images else None
    text_model = lens.text_model() if text else None
    timings["load_models"] = (time.perf_counter() - started) * 1000

    if text and text_model is not None:
        started = time.perf_counter()
        text_vector = text_model.encode([text])[0]
        clip_text_vector = clip.encode_texts([text])[0] if clip is not None else None
        timings["embed_text"] = (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        text_table = lens.store.open_vectors("text", text_model.source.key)
        if text_table is None:
            result.notes.append("no text index yet: run `productlens embed`")
        else:
            vectors[TEXT] = (text_table, text_vector, catalog)
            ranked = _ranked(lens, text_table, text_vector, _overfetch(k), catalog, filters, where)
            source = TEXT
            if hybrid:
                keyword = _fts_search(text_table, text, _overfetch(k), where)
                ranked = rrf_fuse(ranked, keyword)
                source = HYBRID
            result.text_hits = _hits(lens, catalog, source, collapse_copies(ranked, facts, k))
        if image is None and clip is not None:
            table = _search_images(
                lens, catalog, clip.source.key, clip_text_vector, k, filters, where, result, facts
            )
            if table is not None:
                vectors[IMAGE] = (table, clip_text_vector, catalog)
        timings["search"] = (time.perf_counter() - started) * 1000

    if image is not None and clip is not None:
        started = time.perf_counter()
        image_vector = clip.encode_images(clip.preprocess(image.convert("RGB"))[None])[0]
        timings["embed_image"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        table = _search_images(
            lens, catalog, clip.source.key, image_vector, k, filters, where, result, facts
        )
        if table is not None:
            vectors[IMAGE] = (table, image_vector, catalog)
        timings["search"] = timings.get("search", 0.0) + (time.perf_counter() - started) * 1000
    if not facts.has_images:
        result.notes.append(no_images_note(facts))
    _explain(lens, result, facts, vectors)
    return result
