"""An example question in a catalog's own terms, for the search box's placeholder: its
most rated brand, a kind of product that brand sells, a round price in its currency
("e.g. Logitech mouse under $50 with the best rating" on the sample, "boAt earphone under
₹1,000 …" on the Indian electronics file)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from core.catalog.facts import CatalogFacts, own_words
from core.catalog.parse import format_price
from core.catalog.synonyms import kind_forms


def example_question(facts: CatalogFacts) -> str:
    rated = Counter()
    for brand, count in zip(facts.brands.tolist(), np.nan_to_num(facts.rating_count).tolist(),
                            strict=True):  # fmt: skip
        if brand:
            rated[brand] += count + 1
    if not rated:
        return "e.g. wireless headphones with the best rating"
    brand = rated.most_common(1)[0][0]
    names = [n for n, b in zip(facts.names, facts.brands.tolist(), strict=True) if b == brand]
    shown = next((w for w in names[0].split() if w.lower().strip("'") == brand), brand)
    words = Counter(w for n in names for w in set(own_words(n)) if w.isalpha() and w != brand)
    kinds = [w for w, _ in words.most_common() if len(kind_forms(w)) > 1]
    kind = kinds[0] if kinds else ""
    price = _round_up(float(np.nanmedian(facts.price))) if np.isfinite(facts.price).any() else 0
    under = f" under {format_price(price, facts.currency)}" if price else ""
    return f"e.g. {' '.join(p for p in (shown, kind) if p)}{under} with the best rating"


def _round_up(value: float) -> float:
    """The next round price above twice the median: 25 → 50, 559 → 2,000."""
    target = max(value * 2, 1.0)
    scale = 10 ** math.floor(math.log10(target))
    return next(step * scale for step in (1, 2, 5, 10) if step * scale >= target)
