"""What a catalog knows about itself, for understanding questions about it.

Computed once per products-table version (a few milliseconds per thousand products):
the brand vocabulary and each product's brand, discount shares, the dominant currency,
how many products have a usable image, and groups of identical listings (the Kaggle file
repeats ~800 listings under different row numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from core.catalog.words import compact, words

# Words after these name what a product fits ("battery for Sony"), not who made it.
_COMPATIBILITY = frozenset({"for", "compatible", "fits", "replacement", "with", "like"})
# Lead words that are never brands however often they lead (packaging, condition).
_NOT_BRANDS = frozenset(
    "the a an new pack set combo original genuine renewed refurbished premium latest "
    "universal replacement compatible".split()
)
_COUNTS = frozenset("pack pcs pc pieces piece of x set".split())
BRAND_MIN_COUNT = 2
# A brand leads at least this share of the names it appears in. "Sony" leads half of the
# sample's Sony names (the rest are accessories "for Sony"); "HDMI" or "wireless" lead
# some names but sit mid-name in most.
BRAND_LEAD_SHARE = 0.4
MAX_REMEMBERED_CONDITIONS = 256


# "Noise" is a brand; "noise cancelling" is not a mention of it.
NOISE_CANCELLING = re.compile(r"\bnoise[ -]?(?:cancel|isolat|reduc)", re.IGNORECASE)


def own_words(name: str) -> list[str]:
    """The words of a name before any "for …/compatible with …" clause."""
    tokens = words(NOISE_CANCELLING.sub(" ", name or ""))
    for i, token in enumerate(tokens):
        if token in _COMPATIBILITY:
            return tokens[:i]
    return tokens


def brand_vocabulary(names: list[str]) -> frozenset[str]:
    """Words that recur at the start of product names more than they appear elsewhere in
    them (mentions in a "for …" clause, as in "case for Redmi Note 10", do not count)."""
    leading: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    for name in names:
        tokens = own_words(name)
        for token in set(tokens):
            anywhere[token] = anywhere.get(token, 0) + 1
        if tokens and len(tokens[0]) > 1 and not tokens[0][0].isdigit():
            leading[tokens[0]] = leading.get(tokens[0], 0) + 1
    return frozenset(
        word
        for word, count in leading.items()
        if count >= BRAND_MIN_COUNT
        and count / anywhere[word] >= BRAND_LEAD_SHARE
        and word not in _NOT_BRANDS
    )


def fitted_brands(names: list[str], vocabulary: frozenset[str]) -> frozenset[str]:
    """Makers the catalog names only as what its products fit: words never among a name's
    own words that stand next to a known brand in "for …" clauses at least twice ("bag
    for Nikon Canon Sony"). Asking for one must find that nothing here is made by it."""
    own: set[str] = set()
    beside: dict[str, int] = {}
    for name in names:
        mine = own_words(name)
        own.update(mine)
        clause = re.findall(r"[A-Za-z][A-Za-z'+&-]*", NOISE_CANCELLING.sub(" ", name))[len(mine) :]
        if name.rstrip().endswith(("...", "…")):
            clause = clause[:-1]  # the last word of a cut-off name may be cut off too
        lowered = [t.lower() for t in clause]
        for i, token in enumerate(clause):
            if token.isupper() or len(token) < 3 or not token.isalpha():
                continue  # acronyms ("DSLR") and fragments are not makers' names
            if {lowered[j] for j in (i - 1, i + 1) if 0 <= j < len(clause)} & vocabulary:
                beside[lowered[i]] = beside.get(lowered[i], 0) + 1
    return frozenset(
        word for word, count in beside.items()
        if count >= BRAND_MIN_COUNT and word not in own and word not in vocabulary
        and word not in _COMPATIBILITY and not (word.endswith("s") and word[:-1] in own)
    )  # fmt: skip


def product_brand(name: str, vocabulary: frozenset[str]) -> str:
    """The brand a name is led by (after packaging words and counts: "Original", "2 Pack");
    "" when it is not led by one. A brand named further on is what the product is for:
    "TA Technology Ahead LG AC Remote Control" is a remote for LG, not made by LG."""
    for token in own_words(name):
        if token in vocabulary:
            return token
        if token not in _NOT_BRANDS and token not in _COUNTS and not token.isdigit():
            return ""
    return ""


def name_words(name: str) -> frozenset[str]:
    """A name's words, singular and plural alike ("speakers" also counts as "speaker")."""
    found = set(words(NOISE_CANCELLING.sub(" noise-cancelling ", name or "")))
    return frozenset(found | {w[:-1] for w in found if len(w) > 3 and w.endswith("s")})


def listing_key(name: str, price: float | None) -> str:
    """Identical listings share a normalised name and a price."""
    shown = "" if price is None or price != price else f"{price:.2f}"
    return f"{compact(name)}|{shown}"


@dataclass(eq=False)  # compared and hashed by identity: one per table version
class CatalogFacts:
    ids: np.ndarray  # int64, in table order
    names: list[str]
    compact_names: list[str]
    brands: np.ndarray  # object: each product's brand or ""
    price: np.ndarray  # float64, NaN when missing
    rating: np.ndarray
    rating_count: np.ndarray
    discount: np.ndarray  # share off the actual price, 0..1 (NaN when unknown)
    group: np.ndarray  # int: products with the same group are identical listings
    currency: str  # the catalog's dominant currency code ("" when unpriced)
    images_ok: int
    vocabulary: frozenset[str]  # brands that make products here
    fitted: frozenset[str] = frozenset()  # brands named only as what products fit
    variant: np.ndarray | None = None  # int: one number per product however many listings

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_images(self) -> bool:
        return self.images_ok > 0

    def position(self, product_id: int) -> int | None:
        at = int(np.searchsorted(self.ids, product_id, sorter=self._order))
        if at == len(self.ids):
            return None
        row = int(self._order[at]) if self._order is not None else at
        return row if self.ids[row] == product_id else None

    def __post_init__(self) -> None:
        # Lookups by id through the sorted ids, and members of shared groups only: not
        # dicts with an entry for every product (a million of each at 1M).
        ascending = len(self.ids) < 2 or bool(np.all(self.ids[1:] > self.ids[:-1]))
        self._order = None if ascending else np.argsort(self.ids, kind="stable")
        if self.variant is None:  # identical listings are variants of one another
            self.variant = self.group
        self._members = _members(self.ids, self.group)
        self._variants = _members(self.ids, self.variant)
        self._conditions: dict[tuple[str, Any], np.ndarray] = {}

    @cached_property
    def word_rows(self) -> dict[str, np.ndarray]:
        """Each word of the names (`name_words`) → the rows naming it, ascending: made once
        per table version. An inverted index, not a word set per name: a million names'
        sets held gigabytes and were scanned whole for every brand or word asked about."""
        rows: dict[str, list[int]] = {}
        for row, name in enumerate(self.names):
            for word in name_words(name):
                rows.setdefault(word, []).append(row)
        return {word: np.asarray(found, dtype=np.int32) for word, found in rows.items()}

    def _rows_naming(self, wanted: Iterable[str]) -> np.ndarray:
        found = [self.word_rows[w] for w in wanted if w in self.word_rows]
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int32)

    def _naming(self, word: str) -> np.ndarray:
        """Which names contain `word` (or its singular) as a word."""
        return self.naming_any((word,))

    def naming_any(self, candidates: Iterable[str]) -> np.ndarray:
        """Which names contain one of `candidates` (or its singular) as a word."""
        wanted = set()
        for word in candidates:
            wanted |= {word, word[:-1]} if len(word) > 3 and word.endswith("s") else {word}
        mask = np.zeros(len(self.ids), dtype=bool)
        mask[self._rows_naming(wanted)] = True
        return mask

    def copies(self, product_id: int) -> list[int]:
        """All ids of the identical listings this product belongs to (itself included)."""
        at = self.position(product_id)
        if at is None:
            return [int(product_id)]
        return self._members.get(int(self.group[at]), [int(product_id)])

    def group_of(self, product_id: int) -> int:
        at = self.position(product_id)
        return -1 - int(product_id) if at is None else int(self.group[at])

    def product_of(self, product_id: int) -> int:
        """The product a listing is a variant of (see core.catalog.variants)."""
        at = self.position(product_id)
        return -1 - int(product_id) if at is None else int(self.variant[at])

    def variants(self, product_id: int) -> list[int]:
        """The other listings of this product in another colour, size or pack (identical
        copies of it not included)."""
        at = self.position(product_id)
        if at is None:
            return []
        copies = set(self.copies(product_id))
        listings = self._variants.get(int(self.variant[at]), [int(product_id)])
        return [i for i in listings if i not in copies]

    def makes(self, brand: str, kinds: list[str]) -> bool:
        """Whether some product here made by `brand` names every one of `kinds` (by any
        word for the same kind: a "laptop bag" by the maker of a "Laptop Backpack")."""
        from core.catalog.synonyms import kind_forms

        if not kinds:
            return False
        made = np.flatnonzero(self.brands == brand)
        for forms in map(kind_forms, kinds):
            made = np.intersect1d(made, self._rows_naming(forms), assume_unique=True)
        return len(made) > 0

    def condition(self, field: str, value: Any) -> np.ndarray:
        """Which products pass one condition on names and brands (a `Filters` field):
        made by one of `brands`; at least `min_discount` off; naming every one of
        `keywords` (letters and digits only); made by none of `excluded_brands` and naming
        none of them; naming none of `excluded_words`; naming one of `fits` (what an
        accessory is for); suiting `audience` (who it is for). Remembered per value."""
        key = (field, value if not isinstance(value, list) else tuple(value))
        cached = self._conditions.get(key)
        if cached is None:
            if len(self._conditions) >= MAX_REMEMBERED_CONDITIONS:  # a long-lived server
                self._conditions.clear()
            cached = self._conditions[key] = self._condition(field, value)
        return cached

    def _condition(self, field: str, value: Any) -> np.ndarray:
        n = len(self.ids)
        if field == "brands":
            return np.isin(self.brands, list(value))
        if field == "excluded_brands":
            keep = ~np.isin(self.brands, list(value))
            for word in value:
                keep &= ~self._naming(word)
            return keep
        if field == "excluded_words":
            return np.logical_and.reduce([~self._naming(w) for w in value] or [np.ones(n, bool)])
        if field == "fits":
            return self.naming_any(value) if value else np.ones(n, bool)
        if field == "audience":
            from core.catalog.audience import suits

            return np.fromiter((suits(name, tuple(value)) for name in self.names), bool, n)
        if field == "min_discount":
            with np.errstate(invalid="ignore"):
                return self.discount >= float(value) - 1e-9
        if field == "keywords":
            needles = [compact(k) for k in value]
            return np.fromiter((all(k in name for k in needles) for name in self.compact_names),
                               bool, n)  # fmt: skip
        raise ValueError(f"not a condition on names and brands: {field!r}")

    def matching(self, **conditions: Any) -> np.ndarray:
        """Ids of the products passing every condition (see `condition`)."""
        keep = np.ones(len(self.ids), dtype=bool)
        for field, value in conditions.items():
            keep &= self.condition(field, value)
        return self.ids[keep]

    def breaks(self, product_id: int, **conditions: Any) -> list[str]:
        """The conditions (see `condition`) this product fails, in the order given."""
        at = self.position(product_id)
        return [f for f, v in conditions.items() if at is None or not self.condition(f, v)[at]]


def _members(ids: np.ndarray, groups: np.ndarray) -> dict[int, list[int]]:
    """The product ids of each group with more than one, in table order (a group of one
    is its product alone, and not stored)."""
    values, counts = np.unique(groups, return_counts=True)
    shared = np.isin(groups, values[counts > 1])
    members: dict[int, list[int]] = {}
    for pid, group in zip(ids[shared].tolist(), groups[shared].tolist(), strict=True):
        members.setdefault(group, []).append(pid)
    return members


def _floats(frame: Any, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)


def build_facts(frame: Any) -> CatalogFacts:
    """Facts from a products frame (product_id, name, price, discount_price, actual_price,
    rating, rating_count, currency, image_status)."""
    from core.catalog.variants import variant_groups

    names = [str(n or "") for n in frame["name"].tolist()]
    vocabulary = brand_vocabulary(names)
    price = _floats(frame, "price")
    actual = _floats(frame, "actual_price")
    discounted = _floats(frame, "discount_price")
    with np.errstate(invalid="ignore", divide="ignore"):
        discount = np.where(actual > 0, np.clip(1.0 - discounted / actual, 0.0, 1.0), np.nan)
    keys = [listing_key(n, p) for n, p in zip(names, price.tolist(), strict=True)]
    first: dict[str, int] = {}
    group = np.asarray([first.setdefault(key, len(first)) for key in keys], dtype=np.int64)
    currencies = frame["currency"].fillna("")
    currencies = currencies[currencies != ""]
    return CatalogFacts(
        ids=frame["product_id"].to_numpy(dtype=np.int64),
        names=names,
        compact_names=[compact(n) for n in names],
        brands=np.asarray([product_brand(n, vocabulary) for n in names], dtype=object),
        price=price,
        rating=_floats(frame, "rating"),
        rating_count=_floats(frame, "rating_count"),
        discount=discount,
        group=group,
        currency=str(currencies.mode().iloc[0]) if len(currencies) else "",
        images_ok=int((frame["image_status"] == "ok").sum()),
        vocabulary=vocabulary,
        fitted=fitted_brands(names, vocabulary),
        variant=np.asarray(variant_groups(names, price.tolist()), dtype=np.int64),
    )
