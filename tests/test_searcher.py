"""Retrieval used on its own: a `Searcher` made of a real MiniLM and an in-memory matrix,
with no Lens, no store and no settings behind it."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest

from core.catalog.facts import build_facts
from core.models.sources import packaged_minilm_path
from core.retrieval.query import understand
from core.retrieval.search import search
from core.retrieval.searcher import Searcher
from core.retrieval.shopping import retrieve
from core.store.filters import Filters
from core.store.vector_cache import VectorMatrix

PRODUCTS = [
    (1, "Sony WH-CH520 Wireless Headphones, Blue", 4499.0, 4.2),
    (2, "boAt Rockerz 450 Bluetooth Headphones", 1499.0, 4.1),
    (3, "Logitech M235 Wireless Mouse", 699.0, 4.4),
    (4, "Amazon Basics USB-C to USB-A Cable", 299.0, None),
]


class MatrixRanks:
    """A `Ranks` over an in-memory matrix (no full-text index: no keyword matches)."""

    def __init__(self, matrix: VectorMatrix) -> None:
        self.matrix = matrix

    def top_k(self, vector, k, filters):
        return self.matrix.top_k(vector, k, filters)

    def similarities(self, vector, product_ids):
        return self.matrix.similarities(vector, product_ids)

    def keyword_matches(self, text, k, filters):
        return []


@pytest.fixture(scope="module")
def searcher() -> Searcher:
    path = packaged_minilm_path()
    if path is None:
        pytest.skip("the packaged MiniLM is not installed")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")

    class Encoder:
        def encode(self, texts: list[str]) -> np.ndarray:
            return model.encode(texts, normalize_embeddings=True)

    frame = pd.DataFrame(
        [{"product_id": pid, "name": name, "price": price, "actual_price": price,
          "discount_price": None, "rating": rating, "rating_count": 10, "currency": "INR",
          "image_status": "missing"} for pid, name, price, rating in PRODUCTS]
    )  # fmt: skip
    n = len(PRODUCTS)
    matrix = VectorMatrix(
        ids=np.arange(1, n + 1, dtype=np.int64),
        vectors=Encoder().encode([p[1] for p in PRODUCTS]).astype(np.float32),
        price=frame["price"].to_numpy(dtype=np.float64),
        rating=frame["rating"].to_numpy(dtype=np.float64),
        rating_count=np.full(n, 10.0),
        main_category=np.full(n, "electronics", dtype=object),
        sub_category=np.full(n, "audio", dtype=object),
    )
    records = frame.set_index("product_id", drop=False).to_dict("index")

    def unavailable():
        raise AssertionError("a text catalog without photos never loads CLIP")

    return Searcher(
        catalog="tiny",
        facts=build_facts(frame),
        records=lambda ids, columns: {i: records[i] for i in ids if i in records},
        text_index=MatrixRanks(matrix),
        image_index=None,
        text_encoder=Encoder,
        clip_text_encoder=unavailable,
        image_encoder=unavailable,
    )


def test_search_runs_on_a_searcher_built_without_the_app(searcher):
    result = search(searcher, "wireless mouse", k=2)
    top = result.text_hits[0]
    assert top.product_id == 3 and top.name.startswith("Logitech")
    assert top.text_similarity == pytest.approx(top.score) and "mouse" in top.keywords_matched
    cheap = search(searcher, "headphones", k=5, filters=Filters(max_price=2000))
    assert {h.product_id for h in cheap.text_hits} <= {2, 3, 4}  # the Sony costs ₹4,499
    assert any("no product images" in note for note in cheap.notes)


def test_results_are_built_once_and_cannot_be_changed_downstream(searcher):
    result = retrieve(searcher, understand("headphones under ₹1000", searcher.facts), k=2)
    assert result.alternatives  # both headphones cost more: shown as alternatives
    assert sorted(h.unmet[0] for h in result.text_hits) == [
        "≤ ₹1,000 (₹1,499)",
        "≤ ₹1,000 (₹4,499)",
    ]
    assert [h.rank for h in result.text_hits] == [1, 2]
    with pytest.raises(FrozenInstanceError):
        result.text_hits[0].rank = 5  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        result.alternatives = False  # type: ignore[misc]
