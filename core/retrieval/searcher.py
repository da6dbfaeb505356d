"""What retrieval needs of the world for one catalog, and nothing more: its facts, its
product records, its two vector indexes and the three query encoders.

Retrieval takes a `Searcher`, never the app's object graph, so it can be built from
anything that encodes and ranks (a test builds one from two small matrices). The app's
searcher comes from `core.lens.Lens.searcher`, which loads each encoder on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from core.catalog.facts import CatalogFacts
    from core.store.filters import Filters


class Ranks(Protocol):
    """A catalog's vectors of one kind (`core.store.catalog_index.CatalogIndex`)."""

    def top_k(self, vector: np.ndarray, k: int, filters: Filters) -> list[tuple[int, float]]: ...

    def similarities(self, vector: np.ndarray, product_ids: list[int]) -> dict[int, float]: ...

    def keyword_matches(self, text: str, k: int, filters: Filters) -> list[tuple[int, float]]: ...


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class ClipTextEncoder(Protocol):
    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


class ImageEncoder(Protocol):
    def encode_image(self, image: Image.Image) -> np.ndarray: ...


# Product ids and columns → {product_id: {column: value}} for the ids the catalog has.
Records = Callable[[list[int], list[str]], dict[int, dict[str, Any]]]


@dataclass(frozen=True)
class Searcher:
    catalog: str
    facts: CatalogFacts
    records: Records
    text_index: Ranks | None  # Sentence-BERT vectors of names, ratings and prices
    image_index: Ranks | None  # CLIP vectors of product photos
    # Each loads its model on first call: a text question never loads the image tower.
    text_encoder: Callable[[], TextEncoder]
    clip_text_encoder: Callable[[], ClipTextEncoder]
    image_encoder: Callable[[], ImageEncoder]
