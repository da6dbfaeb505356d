"""Example questions in a catalog's own terms, for the search box's placeholder and the
questions offered beside it: its most rated brands, a kind of product each sells, a round
price in its currency ("e.g. Logitech mouse under $50 with the best rating" on the sample,
"boAt earphone under ₹1,000 …" on the Indian electronics file)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from core.catalog.facts import CatalogFacts, own_words
from core.catalog.parse import format_price
from core.catalog.synonyms import kind_forms


def example_question(facts: CatalogFacts) -> str:
    """The search box's placeholder: "e.g. Logitech mouse under $50 with the best rating"."""
    questions = example_questions(facts, 1)
    return f"e.g. {questions[0]}" if questions else "e.g. wireless headphones with the best rating"


def example_questions(facts: CatalogFacts, count: int = 3) -> list[str]:
    """Questions a shopper could ask of this catalog, one per most rated brand, each
    asking something else (a budget and the best rating; a rating floor; the cheapest)."""
    pairs = _brands_and_kinds(facts, count)
    price = _round_up(float(np.nanmedian(facts.price))) if np.isfinite(facts.price).any() else 0
    under = f" under {format_price(price, facts.currency)}" if price else ""
    shapes = (
        lambda brand, kind: f"{brand} {kind}{under} with the best rating",
        lambda brand, kind: f"{kind} by {brand} rated 4 stars and up",
        lambda brand, kind: f"cheapest {brand} {kind}",
    )
    return [" ".join(shape(b, k).split()) for shape, (b, k) in zip(shapes, pairs, strict=False)]


def _brands_and_kinds(facts: CatalogFacts, count: int) -> list[tuple[str, str]]:
    """The `count` most rated brands whose names name a kind of product (a word the catalog
    has other words for), as their names write them, each with the kind it names most."""
    rated: Counter[str] = Counter()
    for brand, ratings in zip(facts.brands.tolist(), np.nan_to_num(facts.rating_count).tolist(),
                              strict=True):  # fmt: skip
        if brand:
            rated[brand] += ratings + 1
    pairs = []
    for brand, _ in rated.most_common(count * 5):  # a brand whose names name no kind is skipped
        names = [n for n, b in zip(facts.names, facts.brands.tolist(), strict=True) if b == brand]
        shown = next((w for w in names[0].split() if w.lower().strip("'") == brand), brand)
        words = Counter(w for n in names for w in set(own_words(n)) if w.isalpha() and w != brand)
        kinds = [w for w, _ in words.most_common() if len(kind_forms(w)) > 1]
        if kinds:
            pairs.append((shown, kinds[0]))
        if len(pairs) == count:
            break
    return pairs


def _round_up(value: float) -> float:
    """The next round price above twice the median: 25 → 50, 559 → 2,000."""
    target = max(value * 2, 1.0)
    scale = 10 ** math.floor(math.log10(target))
    return next(step * scale for step in (1, 2, 5, 10) if step * scale >= target)
