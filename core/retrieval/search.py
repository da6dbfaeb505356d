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

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store.filters import Filters, QueryError, clean_query

if TYPE_CHECKING:
    from PIL import Image

    from core.catalog.facts import CatalogFacts
    from core.retrieval.query import Understanding
    from core.retrieval.searcher import Ranks, Searcher

TEXT, IMAGE, HYBRID = "text", "image", "hybrid"
RRF_K = 60


@dataclass(frozen=True)
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
    # The same product in another colour, size or pack: [{"product_id", "label"}, ...]
    variants: list[dict[str, Any]] = field(default_factory=list)
    unmet: list[str] = field(default_factory=list)  # constraints this product breaks
    alternative: bool = False  # shown because nothing met the constraints
    other_kind: bool = False  # its name does not name the kind asked for, others' do

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def also_in(self) -> str:
        """Its variants for people: "Blue, Red, Green" (an id when a name states none)."""
        labels = [v["label"] or f"#{v['product_id']}" for v in self.variants]
        return ", ".join(dict.fromkeys(labels))


@dataclass(frozen=True)
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
    from core.catalog.images import ImageError, load_rgb

    size = int(getattr(upload, "size", 0) or 0)
    if size > MAX_UPLOAD_BYTES:
        raise QueryError(f"the image is {size / 1e6:.1f} MB; the limit is 10 MB")
    try:
        return load_rgb(upload.getvalue())
    except ImageError as exc:
        raise QueryError(
            f"{getattr(upload, 'name', 'the upload')} is not a usable image: {exc}"
        ) from exc


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
    """The first k distinct products: identical copies (same name and price) and variants
    (another colour, size or pack) of a better ranked listing are dropped here and listed
    on its hit instead."""
    seen: set[int] = set()
    kept = []
    for product_id, score in ranked:
        group = facts.product_of(product_id)
        if group not in seen:
            seen.add(group)
            kept.append((product_id, score))
            if len(kept) == k:
                break
    return kept


HIT_COLUMNS = [
    n for n in Hit.__dataclass_fields__
    if n not in ("source", "rank", "score", "text_similarity", "image_similarity",
                 "keywords_matched", "duplicate_ids", "variants", "unmet", "alternative",
                 "other_kind")
]  # fmt: skip

# Words too common to say anything about why a product matched.
_STOPWORDS = frozenset("a an and the for with of in on to or by is it my me under over".split())


def _hits(
    searcher: Searcher,
    query: str,
    found: dict[str, list[tuple[int, float]]],
    vectors: dict[str, tuple[Ranks, np.ndarray]],
) -> dict[str, list[Hit]]:
    """Each source's ranked products as hits, complete with why they matched: their text
    and image similarity (both measured for every hit, whichever index found it), the
    query words their names contain, their identical listings and variants."""
    from core.catalog.variants import variant_label
    from core.catalog.words import words

    facts = searcher.facts
    ids = list(dict.fromkeys(pid for ranked in found.values() for pid, _ in ranked))
    records = searcher.records(ids, HIT_COLUMNS) if ids else {}
    similarity = {kind: ranks.similarities(v, ids) for kind, (ranks, v) in vectors.items()}
    asked = [w for w in dict.fromkeys(words(query)) if w not in _STOPWORDS]

    def hit(source: str, rank: int, product_id: int, score: float) -> Hit:
        record = records.get(product_id, {})
        fields = {name: record.get(name) for name in HIT_COLUMNS if name in record}
        fields.pop("product_id", None)
        text = similarity.get(TEXT, {}).get(product_id)
        image = similarity.get(IMAGE, {}).get(product_id)
        named = set(words(fields.get("name") or ""))
        return Hit(
            source=source, rank=rank, product_id=product_id, score=score, **fields,
            # The index that found it measured it even when no matrix is held in memory.
            text_similarity=score if text is None and source == TEXT else text,
            image_similarity=score if image is None and source == IMAGE else image,
            keywords_matched=[w for w in asked if w in named],
            duplicate_ids=[i for i in facts.copies(product_id) if i != product_id],
            variants=[
                {"product_id": i, "label": variant_label(facts.names[facts.position(i)])}
                for i in facts.variants(product_id)
            ],
        )  # fmt: skip

    return {
        source: [hit(source, rank, pid, score) for rank, (pid, score) in enumerate(ranked, 1)]
        for source, ranked in found.items()
    }


def _overfetch(k: int) -> int:
    return min(3 * k + 10, 300)  # room for identical listings to collapse


def no_images_note(facts: CatalogFacts) -> str:
    return (
        f"This catalog has no product images (0 of {len(facts):,} products), so only text "
        "search runs and appearance is judged from product names."
    )


def _checked(query: str | None, image: Image.Image | None, facts: CatalogFacts) -> str:
    """The cleaned question, or a QueryError saying why there is nothing to search."""
    text = clean_query(query)
    if not text and image is None:
        raise QueryError("type a question or upload an image")
    if image is not None and not facts.has_images:
        raise QueryError(
            f"This catalog has no product images (0 of {len(facts):,} products have one), so "
            "there is nothing to match a photo against. Search by text, or ingest the "
            "catalog with `--download-images` where its image URLs can be fetched."
        )
    return text


def search(
    searcher: Searcher,
    query: str | None = None,
    image: Image.Image | None = None,
    k: int = 5,
    filters: Filters | None = None,
    hybrid: bool = False,
) -> SearchResult:
    """Top-k distinct listings from the text and image indexes for a text query, an image,
    or both, each with why it matched."""
    text = _checked(query, image, searcher.facts)
    k = max(1, min(int(k), 100))
    facts = searcher.facts
    resolved = (filters or Filters()).resolve(facts)
    if resolved is None:  # no product passes the filters: nothing to rank
        return SearchResult(text, image is not None, catalog_has_images=facts.has_images)
    filters = resolved
    timings: dict[str, float] = {}
    notes: list[str] = []
    found: dict[str, list[tuple[int, float]]] = {}
    vectors: dict[str, tuple[Ranks, np.ndarray]] = {}

    def search_images(vector: np.ndarray) -> None:
        index = searcher.image_index
        if index is None:
            notes.append("no image index yet: run `productlens embed`")
            return
        vectors[IMAGE] = (index, vector)
        found[IMAGE] = collapse_copies(index.top_k(vector, _overfetch(k), filters), facts, k)

    started = time.perf_counter()
    # A text query needs CLIP's text tower only (ONNX, no torch); a photo, the image tower.
    clip_text = (
        searcher.clip_text_encoder() if facts.has_images and text and image is None else None
    )
    image_encoder = searcher.image_encoder() if facts.has_images and image is not None else None
    text_encoder = searcher.text_encoder() if text else None
    timings["load_models"] = (time.perf_counter() - started) * 1000

    if text and text_encoder is not None:
        started = time.perf_counter()
        text_vector = text_encoder.encode([text])[0]
        clip_text_vector = clip_text.encode_texts([text])[0] if clip_text is not None else None
        timings["embed_text"] = (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        index = searcher.text_index
        if index is None:
            notes.append("no text index yet: run `productlens embed`")
        else:
            vectors[TEXT] = (index, text_vector)
            ranked = index.top_k(text_vector, _overfetch(k), filters)
            source = TEXT
            if hybrid:
                ranked = rrf_fuse(ranked, index.keyword_matches(text, _overfetch(k), filters))
                source = HYBRID
            found[source] = collapse_copies(ranked, facts, k)
        if clip_text_vector is not None:
            search_images(clip_text_vector)
        timings["search"] = (time.perf_counter() - started) * 1000

    if image is not None and image_encoder is not None:
        started = time.perf_counter()
        image_vector = image_encoder.encode_image(image)
        timings["embed_image"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        search_images(image_vector)
        timings["search"] = timings.get("search", 0.0) + (time.perf_counter() - started) * 1000
    if not facts.has_images:
        notes.append(no_images_note(facts))
    hits = _hits(searcher, text, found, vectors)
    return SearchResult(
        query=text,
        has_image=image is not None,
        text_hits=hits.get(TEXT, hits.get(HYBRID, [])),
        image_hits=hits.get(IMAGE, []),
        timings_ms=timings,
        notes=notes,
        catalog_has_images=facts.has_images,
    )
