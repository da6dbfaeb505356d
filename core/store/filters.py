"""What a search may ask for: the cleaned query text and validated filters (price,
rating, popularity, brands, discount, keywords, exclusions, what an accessory fits).

One definition of what passes: a condition on a product's columns (`COLUMN_CONDITIONS`,
categories, ids) compiles from the same table to a LanceDB where-clause (`where`), a NumPy
mask over in-memory columns (`mask`) and the list of what one product breaks (`breaks`);
a condition on a product's name or brand is decided by `CatalogFacts.condition` and turned
into product ids (`resolve`). A missing value fails a numeric condition, as NULL does in
SQL, everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from core.store.sql import sql_in, sql_str

if TYPE_CHECKING:
    from core.catalog.facts import CatalogFacts
MAX_QUERY_CHARS = 1000
# (Filters field, product column, operator): the numeric conditions, defined once.
COLUMN_CONDITIONS = (
    ("min_price", "price", ">="),
    ("max_price", "price", "<="),
    ("min_rating", "rating", ">="),
    ("min_rating_count", "rating_count", ">="),
)
# Filters fields decided from a product's name and brand (CatalogFacts.condition).
NAME_CONDITIONS = ("brands", "min_discount", "keywords", "excluded_brands", "excluded_words",
                   "fits", "audience")  # fmt: skip


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
        return bool(self.name_conditions())

    def name_conditions(self) -> dict[str, Any]:
        """The conditions on names and brands this asks for (field → value)."""
        stated = {field: getattr(self, field) for field in NAME_CONDITIONS}
        return {f: v for f, v in stated.items() if v is not None and v != ()}

    def resolve(self, facts: CatalogFacts) -> Filters | None:
        """These filters with brand, discount and keyword conditions as product ids; None
        when no product can pass them."""
        if not self.needs_resolving:
            return self
        if self.min_discount is not None:
            share = _finite(self.min_discount, "discount")
            if not 0 <= share <= 1:
                raise QueryError(f"a discount is a share between 0 and 1, got {share!r}")
        ids = facts.matching(**self.name_conditions())
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
        for _, column, op, bound in self._bounds():
            parts.append(f"{column} {op} {bound!r}")
        if self.categories:
            listed = ", ".join(sql_str(c) for c in self._categories())
            parts.append(f"(sub_category IN ({listed}) OR main_category IN ({listed}))")
        if self.product_ids:
            parts.append(f"product_id IN ({sql_in(self._ids())})")
        return " AND ".join(parts) or None

    def mask(self, columns: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Which rows of `columns` (equal-length arrays: price, rating, rating_count,
        sub_category, main_category, product_id) pass, as `where` passes them in SQL;
        None when nothing is filtered."""
        if self.needs_resolving:
            raise QueryError("brand, discount and keyword filters must be resolved first")
        keep: np.ndarray | None = None

        def narrow(passing: np.ndarray) -> None:
            nonlocal keep
            keep = passing if keep is None else keep & passing

        with np.errstate(invalid="ignore"):
            for _, column, op, bound in self._bounds():
                values = np.asarray(columns[column], dtype=np.float64)
                narrow(values >= bound if op == ">=" else values <= bound)
        if self.categories:
            wanted = list(self._categories())
            narrow(np.isin(columns["sub_category"], wanted)
                   | np.isin(columns["main_category"], wanted))  # fmt: skip
        if self.product_ids:
            narrow(np.isin(columns["product_id"], np.asarray(self._ids(), dtype=np.int64)))
        return keep

    def breaks(self, record: Mapping[str, Any]) -> list[str]:
        """The fields of these filters on a product's columns that `record` breaks, in
        the order `where` states them (a missing value breaks a numeric condition)."""
        broken = []
        for field, column, op, bound in self._bounds():
            value = record.get(column)
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            if missing or not (value >= bound if op == ">=" else value <= bound):
                broken.append(field)
        categories = set(self._categories())
        if (
            categories
            and not {record.get("sub_category"), record.get("main_category")} & categories
        ):
            broken.append("categories")
        if self.product_ids and record.get("product_id") not in set(self._ids()):
            broken.append("product_ids")
        return broken

    def _bounds(self) -> list[tuple[str, str, str, float | int]]:
        """(field, column, operator, checked bound) of each numeric condition set."""
        bounds = []
        for field, column, op in COLUMN_CONDITIONS:
            value = getattr(self, field)
            if value is None:
                continue
            number = _finite(value, column)
            # rating_count is an integer column: a float literal is refused there
            bounds.append((field, column, op, math.ceil(number) if column == "rating_count"
                           else number))  # fmt: skip
        return bounds

    def _categories(self) -> tuple[str, ...]:
        for name in self.categories:
            if not isinstance(name, str) or any(ord(ch) < 32 for ch in name):
                raise QueryError(f"invalid category {name!r}")
        return self.categories

    def _ids(self) -> list[int]:
        try:
            return sorted({int(i) for i in self.product_ids})
        except (TypeError, ValueError) as exc:
            raise QueryError(f"product ids must be integers: {exc}") from exc


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
