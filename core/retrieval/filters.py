"""What a search may ask for: the cleaned query text and validated filters (price,
rating, popularity, brands, discount, keywords, exclusions, what an accessory fits)
rendered as a LanceDB where-clause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store import sql_in, sql_str

if TYPE_CHECKING:
    from core.catalog.facts import CatalogFacts
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
    excluded_brands: tuple[str, ...] = ()  # neither made by nor naming any of these
    excluded_words: tuple[str, ...] = ()  # the name contains none of these words
    fits: tuple[str, ...] = ()  # an accessory for one of these brands: its name names one
    audience: tuple[str, ...] = ()  # names none, or one that suits these (core.catalog.audience)

    @property
    def needs_resolving(self) -> bool:
        return bool(
            self.brands or self.keywords or self.min_discount is not None
            or self.excluded_brands or self.excluded_words or self.fits or self.audience
        )  # fmt: skip

    def resolve(self, facts: CatalogFacts) -> Filters | None:
        """These filters with brand, discount and keyword conditions as product ids; None
        when no product can pass them."""
        if not self.needs_resolving:
            return self
        if self.min_discount is not None:
            share = _finite(self.min_discount, "discount")
            if not 0 <= share <= 1:
                raise QueryError(f"a discount is a share between 0 and 1, got {share!r}")
        ids = facts.matching(
            self.brands, self.min_discount, self.keywords, self.excluded_brands,
            self.excluded_words, self.fits, self.audience,
        )  # fmt: skip
        if self.product_ids:
            ids = np.intersect1d(ids, np.asarray([int(i) for i in self.product_ids]))
        if len(ids) == 0:
            return None
        return replace(
            self, brands=(), min_discount=None, keywords=(), excluded_brands=(),
            excluded_words=(), fits=(), audience=(), product_ids=tuple(ids.tolist()),
        )  # fmt: skip

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


def clean_query(text: str | None) -> str:
    """Trim, drop control characters, cap the length; empty means no text query."""
    text = "".join(ch for ch in (text or "") if ch >= " " or ch in "\t\n").strip()
    return " ".join(text.split())[:MAX_QUERY_CHARS]
