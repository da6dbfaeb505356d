"""Listings that are one product to a shopper: the same name but for colour, size or pack.

A catalog lists "boAt Stone 620 Bluetooth Speaker (Black)", "(Blue)", "(Red)" and
"(Green)" as four products; a top 5 showing all four shows one product. Names are reduced
to a variant key (colour words, a bracketed colour or size, pack counts and clothing sizes
dropped), and listings sharing a key form one product when their prices are within
`PRICE_RATIO` of each other (a "Pro" at twice the price is another product even when its
name reduces to the same words).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from core.catalog.words import compact, words

COLOURS = frozenset(
    "black white red blue green yellow pink purple violet orange grey gray silver gold golden "
    "brown beige navy teal maroon transparent rose cyan magenta olive khaki cream ivory "
    "charcoal turquoise mint lavender peach coral mustard indigo aqua wine burgundy "
    "multicolor multicolour multi-color multi-colour".split()
)
# Listings whose prices differ by more than this factor are different products.
PRICE_RATIO = 1.5
MAX_VARIANT_WORDS = 6  # a bracket that names a variant is short
CUT_NAME_KEY = 80  # letters and digits of a cut-off name that decide its product
_BRACKET = re.compile(r"\(([^)]*)\)")
_CUT_BRACKET = re.compile(r"\([^)]*(?:\.\.\.|…)\s*$")
_PACK = re.compile(
    r"\b(?:pack\s+of\s+\d+|set\s+of\s+\d+|\d+\s*-?\s*(?:pack|pcs|pieces|piece|pc)s?)\b", re.I
)
# A clothing size: alone in brackets ("(XL)"), or spelled out anywhere ("Size 8").
_SIZE = re.compile(r"\b(?:size\s*[\w.-]+|free\s+size|x{0,3}[sml]|x{1,3}l)\b", re.I)
_SIZE_NAMED = re.compile(r"\b(?:size\s*[\w.-]+|free\s+size)\b", re.I)


def describes_variant(text: str) -> bool:
    """A bracketed part that only tells a variant apart: a short one naming a colour, a
    size or a pack ("Raging Black", "Thunder Black, 4GB RAM, 64GB Storage", "Pack of 2").
    A long one holds more ("JBL Fuze Pint, Wireless … Speaker, Black"): a model name."""
    if len(words(text)) > MAX_VARIANT_WORDS:
        return False
    return bool(COLOURS & set(words(text)) or _PACK.search(text) or _SIZE.fullmatch(text.strip()))


def variant_key(name: str) -> str:
    """The name without what tells its variants apart (words singular: "Mode", "Modes")."""
    text = _BRACKET.sub(lambda m: " " if describes_variant(m.group(1)) else m.group(0), name)
    cut = _CUT_BRACKET.search(text)  # "…Mode(Bl...": a cut-off name's short last bracket
    if cut and len(words(cut.group(0))) <= 2:
        text = text[: cut.start()]
    text = _SIZE_NAMED.sub(" ", _PACK.sub(" ", text))
    kept = [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words(text)]
    key = compact(" ".join(w for w in kept if w not in COLOURS))
    if name.rstrip().endswith(("...", "…")):
        # A cut-off name's tail is wherever the catalog cut it ("… 550 NITS & 70%..." vs
        # "… 550 NITS & 7..."): listings agreeing on a long head are one product.
        key = key[:CUT_NAME_KEY]
    return key


def variant_label(name: str) -> str:
    """What sets a listing apart from its variants, for "also in …": its bracketed colour,
    size or pack, else its colour words ("" when the name states none)."""
    cut = _CUT_BRACKET.search(name)
    if cut and len(words(cut.group(0))) <= 2:
        return cut.group(0).strip("( .…") + "…"
    for inside in reversed(_BRACKET.findall(name)):
        if describes_variant(inside):
            return inside.strip()
    colours = [w for w in words(name) if w in COLOURS]
    return " ".join(dict.fromkeys(colours)).title()


def variant_groups(names: Sequence[str], prices: Sequence[float]) -> list[int]:
    """A group number per listing: one number per product, however many listings."""
    by_key: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        by_key.setdefault(variant_key(name) or f"#{index}", []).append(index)
    group = [0] * len(names)
    number = 0
    for members in by_key.values():
        # Within a key, listings chain into one product while each price stays within
        # PRICE_RATIO of the cheapest so far (unpriced listings join the dearest).
        priced = sorted(members, key=lambda i: _price(prices[i]))
        floor = None
        for index in priced:
            price = _price(prices[index])
            if floor is not None and math.isfinite(price) and price > floor * PRICE_RATIO:
                number += 1
                floor = None
            if floor is None and math.isfinite(price):
                floor = price
            group[index] = number
        number += 1
    return group


def _price(value: float | None) -> float:
    return float("inf") if value is None or value != value else float(value)
