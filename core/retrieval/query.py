"""Question understanding: the constraints a shopper's words state, as validated filters.

A deterministic parser always runs. It finds price bounds ("under 1k rupees", "between
$20 and $50", "around ₹5,000"), a minimum rating ("4 stars and up"), a discount ("at least
40% off", "big discount"), popularity ("1000+ reviews"), an ordering ("best rated",
"cheapest", "most popular"), the catalog's brands (even mid-question), colours and shape
words, and model numbers that a product's name must contain ("WH-1000XM4"). What remains
is the text that is embedded. Every constraint is a :class:`Constraint` the page shows as
a removable chip; :meth:`Understanding.without` drops the ones a person removed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from core.catalog.audience import asked_audiences, audience_words
from core.catalog.facts import NOISE_CANCELLING
from core.catalog.parse import CURRENCY_SIGNS, format_price
from core.catalog.quantities import asked_quantities, asked_spans
from core.catalog.variants import COLOURS
from core.catalog.words import words
from core.retrieval.spelling import speller_of

if TYPE_CHECKING:
    from core.catalog.facts import CatalogFacts
    from core.store.filters import Filters

RATING, PRICE, DISCOUNT, POPULARITY = "rating", "price", "discount", "popularity"
CHEAPER = "cheaper"  # the chip key of "cheaper than shown"
ORDER_LABELS = {
    RATING: "best rated first",
    PRICE: "cheapest first",
    DISCOUNT: "biggest discount first",
    POPULARITY: "most rated first",
}
BIG_DISCOUNT = 0.4  # "a big discount": 40% off or more
GOOD_RATING = 4.0  # "well rated", "good reviews"
POPULAR_MIN_RATINGS = 100  # "popular": at least this many ratings

SHAPES = frozenset(
    "round square rectangular circular oval slim thin compact small large mini tiny "
    "portable foldable curved flat wide tall matte glossy metallic".split()
)
# Filler that carries no meaning for retrieval once the constraints are taken out.
_FILLER = frozenset(
    "which what whats what's show me find i want need looking for looking some any a an the "
    "is are do does have has with that those these there please can you get give "
    "recommend suggest best good great top one ones options option products product "
    "items item buy to of in on me my price priced cost costs costing rupees rs inr "
    "dollars usd bucks and or also only but instead what about how it them".split()
)
_FOLLOW_UP_ONLY = _FILLER | COLOURS | SHAPES | frozenset("cheaper cheap bigger smaller".split())

_CURRENCY_WORDS = {
    "₹": "INR", "rs": "INR", "rs.": "INR", "inr": "INR", "rupees": "INR", "rupee": "INR",
    "$": "USD", "usd": "USD", "dollars": "USD", "dollar": "USD", "bucks": "USD",
    "€": "EUR", "eur": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP", "pounds": "GBP",
}  # fmt: skip
_MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "lakh": 1e5, "lakhs": 1e5, "lac": 1e5}
_CUR = r"(?:₹|\$|€|£|rs\.?|inr|usd|eur|gbp)"
_CUR_AFTER = r"(?:rupees?|rs\.?|inr|dollars?|usd|bucks|euros?|eur|pounds|gbp)"
# A number followed by a unit is a quantity, not a price: "over 50 inch", "20000 mAh".
_NOT_MONEY = (
    r"(?![\d,.]*\s*(?:inch|inches|\"|mah|gb|tb|mb|watts?|w\b|hz|mp|cm|mm|hours?|hrs?|mins?|"
    r"days?|months?|years?|met(?:er|re)s?|ft|feet|%|stars?|ratings?|reviews?))"
)
_AMOUNT = (
    rf"(?P<{{name}}cur>{_CUR})?\s*(?P<{{name}}num>\d[\d,]*(?:\.\d+)?){_NOT_MONEY}\s*"
    rf"(?P<{{name}}mult>k\b|thousand\b|lakhs?\b|lac\b)?\s*(?P<{{name}}cur2>{_CUR_AFTER}\b)?"
)


def _amount(name: str) -> str:
    return _AMOUNT.replace("{name}", name)


_BETWEEN = re.compile(
    rf"\b(?:between|from)\s+{_amount('a')}\s*(?:and|to|-)\s*{_amount('b')}", re.IGNORECASE
)
_RANGE = re.compile(rf"(?<![\w.]){_amount('a')}\s*(?:-|to)\s*{_amount('b')}", re.IGNORECASE)
_MAX = re.compile(
    r"\b(?:under|below|less than|lower than|cheaper than|up ?to|within|at most|max(?:imum)?"
    rf"|not more than|no more than|upto)\s*(?:of\s+)?{_amount('a')}"
    rf"|<=?\s*{_amount('b')}",
    re.IGNORECASE,
)
_MIN = re.compile(
    r"\b(?:over|above|more than|at least|min(?:imum)?|starting at|from)\s*"
    rf"{_amount('a')}|>=?\s*{_amount('b')}",
    re.IGNORECASE,
)
_AROUND = re.compile(r"\b(?:around|about|approx(?:imately)?|roughly|~)\s*" + _amount("a"), re.I)
_BUDGET = re.compile(r"\b(?:budget|price)\s*(?:of|is|:)?\s*" + _amount("a"), re.IGNORECASE)

_RATING_MIN = re.compile(
    r"\b(?:(?:rated|rating|ratings|stars?)\s*(?:of\s+)?(?:at least|above|over|>=?|of)?\s*"
    r"(?P<a>[1-5](?:\.\d)?)\s*(?:stars?)?(?:\s*(?:\+|and up|& up|or more|or above|and above))?"
    r"|(?:at least|above|over|min(?:imum)?)?\s*(?P<b>[1-5](?:\.\d)?)\s*(?:\+\s*)?stars?"
    r"(?:\s*(?:\+|and up|& up|or more|or above|and above|rating|rated))?"
    r"|(?P<c>[1-5](?:\.\d)?)\s*\+\s*(?:rating|rated))",
    re.IGNORECASE,
)
_RATING_GOOD = re.compile(
    r"\b(?:well|highly|high|good|great)[ -]?(?:rated|ratings?|reviews?|reviewed)\b", re.I
)
_RATING_ORDER = re.compile(
    r"\b(?:best|top|highest|most highly)[ -]?(?:rated|ratings?|reviewed|reviews?)\b"
    r"|\bhave the best rating\b|\bbest rating\b",
    re.IGNORECASE,
)
_DISCOUNT_MIN = re.compile(
    r"\b(?:at least|over|above|more than|min(?:imum)?|>=?)?\s*(?P<a>\d{1,2}(?:\.\d+)?)\s*%"
    r"\s*(?:\+\s*)?(?:off|discount|or more off|or more)?",
    re.IGNORECASE,
)
_DISCOUNT_BIG = re.compile(
    r"\b(?:with\s+(?:a\s+)?)?(?:big|huge|great|large|heavy|deep|good|massive|best|biggest|"
    r"highest|maximum|max)\s+(?:discounts?|deals?|offers?|savings?|price cuts?)\b",
    re.IGNORECASE,
)
_DISCOUNT_ANY = re.compile(
    r"\b(?:with\s+(?:a\s+)?)?(?:discounted|on sale|on offer|any discount|a discount|"
    r"discounts?|deals?)\b",
    re.IGNORECASE,
)
_DISCOUNT_ORDER = re.compile(
    r"\b(?:biggest|highest|best|maximum|max|most)\s+(?:discount|deal|savings?)", re.IGNORECASE
)
_COUNT_MIN = re.compile(
    r"\b(?:at least|over|more than|min(?:imum)?)?\s*(?P<a>\d[\d,]*)\s*(?P<mult>k)?\s*\+?\s*"
    r"(?:or more\s+)?(?:ratings|reviews|reviewers|buyers)\b",
    re.IGNORECASE,
)
_POPULAR = re.compile(
    r"\b(?:most popular|popular|best[ -]?sell(?:ing|ers?)|most reviewed|most ratings|"
    r"most bought|trending)\b",
    re.IGNORECASE,
)
_CHEAPER = re.compile(r"\b(?:cheaper|less expensive|lower[- ]priced)\b(?!\s+than)", re.I)
_CHEAPEST = re.compile(
    r"\b(?:cheapest|lowest price|least expensive|cheaper|cheap|budget|affordable|"
    r"inexpensive)\b",
    re.IGNORECASE,
)
# A model number: letters and digits together ("WH-1000XM4", "M33"), not a quantity with
# a unit ("50000mAh", "8GB", "4K", "1080p").
_MODEL = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{2,}(?![\w-])")
_QUANTITY = re.compile(
    r"^\d+(?:\.\d+)?(?:mah|gb|tb|mb|w|v|hz|khz|mhz|ghz|k|p|mm|cm|m|inch|inches|in|ft|ml|l|kg|"
    r"g|x|pcs|pc|db|mp|th|nd|rd|st|hrs?|h|mins?|s|ch|port|ports|a|amp)$"
)


@dataclass(frozen=True)
class Constraint:
    """One understood constraint, shown as a chip; `key` is what `without` removes."""

    key: str
    label: str
    source: str = "parser"  # or "llm"


@dataclass(frozen=True)
class Understanding:
    question: str
    search_text: str
    subject: str = ""  # the words naming what is wanted ("" for "which is the cheapest?")
    phrase: str = ""  # its leading noun phrase: "a good camera for travel" → "camera"
    corrected: str = ""  # the question as searched, when misspelt words were corrected
    corrections: tuple[tuple[str, str], ...] = ()  # (as typed, as searched)
    min_price: float | None = None
    max_price: float | None = None
    min_rating: float | None = None
    min_rating_count: int | None = None
    min_discount: float | None = None
    brands: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()
    appearance: tuple[str, ...] = ()
    specs: tuple[str, ...] = ()  # quantities a name should state ("8GB", "55 inch")
    keywords: tuple[str, ...] = ()
    excluded_brands: tuple[str, ...] = ()  # "not sony", "without boAt"
    excluded_words: tuple[str, ...] = ()  # colours and kinds: "not wireless", "no mic"
    fits: tuple[str, ...] = ()  # an accessory's brand: "remote for LG", "LG AC remote"
    audience: tuple[str, ...] = ()  # who it is for: "men", "women", "boys", "girls", "kids"
    order_by: str | None = None
    cheaper_than: float | None = None  # "cheaper ones": below every price shown before
    currency: str = ""  # the catalog's currency, for labels
    follow_up_of: str = ""  # the earlier search this one continues ("" for none)
    notes: tuple[str, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()  # (constraint key, "llm") for proposals

    # --- chips -------------------------------------------------------------------------

    def constraints(self) -> list[Constraint]:
        llm = {key for key, source in self.sources if source == "llm"}

        def chip(key: str, label: str) -> Constraint:
            return Constraint(key, label, "llm" if key.split(":", 1)[0] in llm else "parser")

        chips = [chip(f"brand:{b}", f"brand: {b}") for b in self.brands]
        chips += [chip(f"for:{b}", f"for: {b}") for b in self.fits]
        chips += [chip(f"audience:{a}", f"for: {a}") for a in self.audience]
        chips += [chip(f"not:{x}", f"not: {x}") for x in (*self.excluded_brands,
                                                         *self.excluded_words)]  # fmt: skip
        price = self._price_label()
        if price:
            chips.append(chip(PRICE, price))
        if self.cheaper_than is not None:
            shown = format_price(self.cheaper_than, self.currency) or f"{self.cheaper_than:,.0f}"
            chips.append(chip(CHEAPER, f"cheaper than {shown} (the cheapest shown)"))
        if self.min_rating is not None:
            chips.append(chip("min_rating", f"rating ≥ {self.min_rating:g}★"))
        if self.min_discount is not None:
            chips.append(chip("min_discount", f"≥ {self.min_discount:.0%} off"))
        if self.min_rating_count is not None:
            chips.append(chip("min_rating_count", f"≥ {self.min_rating_count:,} ratings"))
        chips += [chip(f"keyword:{k}", f"name has “{k}”") for k in self.keywords]
        chips += [chip(f"colour:{c}", f"colour: {c}") for c in self.colours]
        chips += [chip(f"look:{a}", f"looks: {a}") for a in self.appearance]
        chips += [chip(f"spec:{q}", f"spec: {q}") for q in self.specs]
        if self.order_by:
            chips.append(chip("order", ORDER_LABELS[self.order_by]))
        return chips

    def _price_label(self) -> str:
        def money(value: float) -> str:
            return format_price(value, self.currency) or f"{value:,.0f}"

        if self.min_price is not None and self.max_price is not None:
            return f"{money(self.min_price)} – {money(self.max_price)}"
        if self.max_price is not None:
            return f"≤ {money(self.max_price)}"
        if self.min_price is not None:
            return f"≥ {money(self.min_price)}"
        return ""

    def without(self, keys: set[str] | frozenset[str]) -> Understanding:
        """This understanding minus the chips a person removed."""
        if not keys:
            return self
        drop = set(keys)
        return replace(
            self,
            min_price=None if PRICE in drop else self.min_price,
            max_price=None if PRICE in drop else self.max_price,
            min_rating=None if "min_rating" in drop else self.min_rating,
            min_discount=None if "min_discount" in drop else self.min_discount,
            min_rating_count=None if "min_rating_count" in drop else self.min_rating_count,
            order_by=None if "order" in drop else self.order_by,
            cheaper_than=None if CHEAPER in drop else self.cheaper_than,
            brands=tuple(b for b in self.brands if f"brand:{b}" not in drop),
            colours=tuple(c for c in self.colours if f"colour:{c}" not in drop),
            appearance=tuple(a for a in self.appearance if f"look:{a}" not in drop),
            specs=tuple(q for q in self.specs if f"spec:{q}" not in drop),
            keywords=tuple(k for k in self.keywords if f"keyword:{k}" not in drop),
            excluded_brands=tuple(b for b in self.excluded_brands if f"not:{b}" not in drop),
            excluded_words=tuple(w for w in self.excluded_words if f"not:{w}" not in drop),
            fits=tuple(b for b in self.fits if f"for:{b}" not in drop),
            audience=tuple(a for a in self.audience if f"audience:{a}" not in drop),
        )

    # --- as filters --------------------------------------------------------------------

    @property
    def hard(self) -> bool:
        """Whether anything must hold of every recommended product."""
        return bool(
            self.brands or self.keywords or self.excluded_brands or self.excluded_words
            or self.fits or self.audience
            or any(v is not None for v in (self.min_price, self.max_price, self.min_rating,
                                           self.min_rating_count, self.min_discount,
                                           self.cheaper_than))
        )  # fmt: skip

    def filters(self, base: Filters | None = None) -> Filters:
        """`base` (what the UI set) tightened by what the question states."""
        from core.store.filters import Filters

        base = base or Filters()
        return replace(
            base,
            min_price=_tighter(base.min_price, self.min_price, max),
            max_price=_tighter(base.max_price, self.price_ceiling, min),
            min_rating=_tighter(base.min_rating, self.min_rating, max),
            min_rating_count=_tighter(base.min_rating_count, self.min_rating_count, max),
            min_discount=_tighter(base.min_discount, self.min_discount, max),
            brands=tuple(dict.fromkeys([*base.brands, *self.brands])),
            keywords=tuple(dict.fromkeys([*base.keywords, *self.keywords])),
            excluded_brands=tuple(dict.fromkeys([*base.excluded_brands, *self.excluded_brands])),
            excluded_words=tuple(dict.fromkeys([*base.excluded_words, *self.excluded_words])),
            fits=tuple(dict.fromkeys([*base.fits, *self.fits])),
            audience=tuple(dict.fromkeys([*base.audience, *self.audience])),
        )

    @property
    def price_ceiling(self) -> float | None:
        """The highest price allowed: the stated maximum, or just below every price shown
        before when the shopper asked for cheaper ones."""
        below = None if self.cheaper_than is None else math.nextafter(self.cheaper_than, 0.0)
        return _tighter(self.max_price, below, min)

    def exclusions(self, base: Filters | None = None) -> Filters:
        """`base` with only this question's exclusions: what no relaxation may drop."""
        from core.store.filters import Filters

        base = base or Filters()
        return replace(
            base,
            excluded_brands=tuple(dict.fromkeys([*base.excluded_brands, *self.excluded_brands])),
            excluded_words=tuple(dict.fromkeys([*base.excluded_words, *self.excluded_words])),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "search_text": self.search_text,
            "constraints": [vars(c) for c in self.constraints()],
            "min_price": self.min_price,
            "max_price": self.max_price,
            "min_rating": self.min_rating,
            "min_rating_count": self.min_rating_count,
            "min_discount": self.min_discount,
            "brands": list(self.brands),
            "colours": list(self.colours),
            "appearance": list(self.appearance),
            "specs": list(self.specs),
            "keywords": list(self.keywords),
            "excluded_brands": list(self.excluded_brands),
            "excluded_words": list(self.excluded_words),
            "fits": list(self.fits),
            "audience": list(self.audience),
            "order_by": self.order_by,
            "cheaper_than": self.cheaper_than,
            "follow_up_of": self.follow_up_of,
            "corrected": self.corrected,
            "notes": list(self.notes),
        }


def _tighter(a: float | None, b: float | None, pick) -> Any:
    return b if a is None else a if b is None else pick(a, b)


# --- parsing ----------------------------------------------------------------------------


@dataclass
class _Parse:
    text: str  # the question, with understood spans blanked out as they are consumed
    currency: str
    notes: list[str] = field(default_factory=list)
    found: dict[str, Any] = field(default_factory=dict)

    def take(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        matches = list(pattern.finditer(self.text))
        for match in reversed(matches):
            start, end = match.span()
            self.text = self.text[:start] + " " * (end - start) + self.text[end:]
        return matches


def _number(match: re.Match[str], name: str) -> float | None:
    raw = match.group(f"{name}num")
    if raw is None:
        return None
    try:
        value = float(raw.replace(",", ""))
    except ValueError:
        return None
    mult = (match.group(f"{name}mult") or "").lower()
    return value * _MULTIPLIERS.get(mult, 1.0) if math.isfinite(value) else None


def _currency(match: re.Match[str], *names: str) -> str:
    for name in names:
        for group in (f"{name}cur", f"{name}cur2"):
            raw = (match.group(group) or "").lower()
            if raw:
                return _CURRENCY_WORDS.get(raw, _CURRENCY_WORDS.get(raw.rstrip("."), ""))
    return ""


def _price_ok(parse: _Parse, match: re.Match[str], *names: str) -> bool:
    """A written currency that is not the catalog's is reported, not silently converted."""
    written = _currency(match, *names)
    if written and parse.currency and written != parse.currency:
        sign = CURRENCY_SIGNS.get(parse.currency, parse.currency)
        parse.notes.append(
            f"“{match.group(0).strip()}” is not applied: prices in this catalog are in {sign}"
        )
        return False
    return True


def _parse_prices(parse: _Parse) -> None:
    for match in parse.take(_BETWEEN) + parse.take(_RANGE):
        low, high = _number(match, "a"), _number(match, "b")
        if low is None or high is None or not _price_ok(parse, match, "a", "b"):
            continue
        if _RANGE.fullmatch(match.group(0).strip()) and not _currency(match, "a", "b"):
            continue  # "3-5" alone is not a price
        parse.found["min_price"], parse.found["max_price"] = sorted((low, high))
    for match in parse.take(_AROUND):
        value = _number(match, "a")
        if value is not None and _price_ok(parse, match, "a"):
            parse.found["min_price"], parse.found["max_price"] = value * 0.8, value * 1.2
    for pattern, key in ((_MAX, "max_price"), (_MIN, "min_price"), (_BUDGET, "max_price")):
        for match in parse.take(pattern):
            name = "a" if match.group("anum") else "b"
            value = _number(match, name)
            if value is not None and _price_ok(parse, match, name):
                parse.found[key] = value


def _parse_rating(parse: _Parse) -> None:
    if parse.take(_RATING_ORDER):
        parse.found["order_by"] = RATING
    for match in parse.take(_RATING_MIN):
        value = float(match.group("a") or match.group("b") or match.group("c"))
        parse.found["min_rating"] = max(parse.found.get("min_rating", 0.0), value)
    if parse.take(_RATING_GOOD):
        parse.found.setdefault("min_rating", GOOD_RATING)


def _parse_discount(parse: _Parse) -> None:
    if _DISCOUNT_ORDER.search(parse.text):
        parse.found["order_by"] = parse.found.get("order_by") or DISCOUNT
    for match in parse.take(_DISCOUNT_MIN):
        parse.found["min_discount"] = float(match.group("a")) / 100
    if parse.take(_DISCOUNT_BIG):
        parse.found.setdefault("min_discount", BIG_DISCOUNT)
        parse.found["order_by"] = parse.found.get("order_by") or DISCOUNT
    if parse.take(_DISCOUNT_ANY):
        parse.found.setdefault("min_discount", 0.01)


def _parse_popularity(parse: _Parse) -> None:
    for match in parse.take(_COUNT_MIN):
        value = float(match.group("a").replace(",", "")) * (1e3 if match.group("mult") else 1)
        parse.found["min_rating_count"] = int(value)
    if parse.take(_POPULAR):
        parse.found.setdefault("min_rating_count", POPULAR_MIN_RATINGS)
        parse.found["order_by"] = parse.found.get("order_by") or POPULARITY


def _parse_cheapest(parse: _Parse) -> None:
    if parse.take(_CHEAPEST):
        parse.found["order_by"] = parse.found.get("order_by") or PRICE


def _brands(
    text: str, vocabulary: frozenset[str], facts: CatalogFacts | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(makers, fitted): the brands the question names as who makes the product, and as
    what an accessory is for: "a case for Samsung", or a brand named beside an accessory
    ("LG AC remote") unless the catalog has that accessory made by that brand ("Lenovo
    laptop bag": Lenovo makes laptop bags). The "noise" of noise-cancelling is no brand."""
    tokens = words(NOISE_CANCELLING.sub(" ", text))
    # "earbuds with charging case": an accessory that comes with it is a feature
    accessories = [
        t for i, t in enumerate(tokens)
        if t in ACCESSORY_NOUNS
        and not {"with", "including", "plus"} & set(tokens[max(0, i - 3) : i])
    ]  # fmt: skip
    makers, fitted = [], []
    for i, token in enumerate(tokens):
        if token not in vocabulary:
            continue
        after_for = i > 0 and tokens[i - 1] in {"for", "compatible", "fits", "with"}
        made_here = facts is not None and facts.makes(token, accessories)
        (fitted if after_for or (accessories and not made_here) else makers).append(token)
    return tuple(dict.fromkeys(makers)), tuple(dict.fromkeys(fitted))


# "not sony", "without boAt", "except red or black", "other than wireless", "no mic",
# "non-apple": the words after a negation (and those listed with them) are excluded.
_NEGATION = re.compile(
    r"\b(?P<neg>not|without|except(?:\s+for)?|excluding|other\s+than|but\s+not|no|non)"
    r"[\s-]+(?:(?:from|by|made\s+by|a|an|any|the)\s+)?"
    r"(?P<x>[a-z0-9][\w&'+]*(?:\s*(?:,|/|\bor\b|\bnor\b|\band\b)\s*[a-z0-9][\w&'+]*)*)",
    re.IGNORECASE,
)
# Words that follow a negation without naming anything to exclude ("not too loud").
_NOT_EXCLUDABLE = _FILLER | frozenset(
    "too very so more less much really sure only just even yet over under above below "
    "expensive costly cheap bad working".split()
)
# What a product is for rather than who makes it, when a brand is named beside it:
# "LG AC remote", "samsung phone cover", "canon camera bag".
ACCESSORY_NOUNS = frozenset(
    "remote case cover charger cable adapter adaptor strap protector guard stand mount "
    "holder bag sleeve skin battery batteries cartridge toner ink refill filter stylus dock "
    "replacement earpads cushion tips pouch tempered strings picks capo lock hanger "
    "accessory accessories".split()
)


def _negations(parse: _Parse, brands: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(excluded brands, excluded words) the question states; their spans are blanked so
    neither becomes a wanted brand nor a searched word. "non-" negates only a brand or a
    colour ("non-apple", not "non-stick")."""
    excluded_brands: list[str] = []
    excluded_words: list[str] = []
    for match in list(_NEGATION.finditer(parse.text)):
        listed = re.split(r"\s*(?:,|/|\bor\b|\bnor\b|\band\b)\s*", match.group("x").lower())
        taken = []
        for position, word in enumerate(w for w in listed if w):
            known = word in brands or word in COLOURS
            if (position and not known) or word in _NOT_EXCLUDABLE or word.isdigit():
                break  # only a brand or a colour continues a list ("not red or black")
            if match.group("neg").lower() == "non" and not known:
                break
            (excluded_brands if word in brands else excluded_words).append(word)
            taken.append(word)
        if taken:  # blank the negation and the words it took
            start = match.start()
            end = match.start("x") + _span_of(match.group("x"), taken[-1])
            parse.text = parse.text[:start] + " " * (end - start) + parse.text[end:]
    return tuple(dict.fromkeys(excluded_brands)), tuple(dict.fromkeys(excluded_words))


def _span_of(listed: str, last: str) -> int:
    """Where, in a negation's list, the last word it took ends."""
    found = [m.end() for m in re.finditer(rf"\b{re.escape(last)}\b", listed.lower())]
    return found[0] if found else len(listed)


def _specs(text: str) -> tuple[str, ...]:
    """Quantities and sizes asked for ("8GB", "50000 mAh", "55 inch", "3 kg", "1.5 ton",
    "size 32"), as labels a name is checked against ("8gb", "3kg", "size 32")."""
    return tuple(dict.fromkeys(q.label for q in asked_quantities(text)))


def _model_numbers(text: str) -> tuple[str, ...]:
    found = [m for m in _MODEL.findall(text) if not _QUANTITY.match(m.lower().replace("-", ""))]
    return tuple(dict.fromkeys(found))


def understand(
    question: str,
    facts: CatalogFacts | None = None,
    previous: Understanding | None = None,
    correct: bool = True,
    shown_prices: tuple[float, ...] = (),
) -> Understanding:
    """What `question` asks for. A question that names no product of its own ("under 2k?",
    "in black", "cheaper ones") continues `previous`, visibly: `follow_up_of` says so.
    Misspelt words are corrected from the catalog's own words (`correct=False`: as typed);
    `corrected` says what was searched instead. `shown_prices` are the prices of what the
    previous answer showed: "cheaper ones" then means cheaper than all of them."""
    from core.store.filters import clean_query

    question = clean_query(question)
    if correct and facts is not None:
        searched, corrections = speller_of(facts).correct_text(question)
        if corrections:
            fixed = understand(searched, facts, previous, correct=False,
                               shown_prices=shown_prices)  # fmt: skip
            return replace(fixed, question=question, corrected=searched, corrections=corrections)
    # A brand the catalog only sells accessories for is still a brand asked for.
    vocabulary = facts.vocabulary | facts.fitted if facts is not None else frozenset()
    parse = _Parse(text=question.lower(), currency=facts.currency if facts is not None else "")
    _parse_rating(parse)  # before prices: "4 stars" is not ₹4
    _parse_discount(parse)
    _parse_popularity(parse)
    _parse_prices(parse)
    _parse_cheapest(parse)
    excluded_brands, excluded_words = _negations(parse, vocabulary)
    rest = parse.text
    tokens = words(rest)
    colours = tuple(dict.fromkeys(t for t in tokens if t in COLOURS))
    shapes = tuple(dict.fromkeys(t for t in tokens if t in SHAPES))
    brands, fits = _brands(rest, vocabulary, facts)
    audience = asked_audiences(rest)
    keywords = tuple(
        k for k in _model_numbers(question) if k.lower() in rest and k.lower() not in brands
    )
    kept = " ".join(t for t in _original_words(question, rest) if t.lower() not in _FILLER)
    found = parse.found
    understood = Understanding(
        question=question,
        search_text=kept or question,
        subject=kept,
        phrase=_leading_phrase(_without_quantities(rest)),
        min_price=found.get("min_price"),
        max_price=found.get("max_price"),
        min_rating=found.get("min_rating"),
        min_rating_count=found.get("min_rating_count"),
        min_discount=found.get("min_discount"),
        brands=brands,
        colours=colours,
        appearance=shapes,
        specs=_specs(rest),
        keywords=keywords,
        excluded_brands=excluded_brands,
        excluded_words=excluded_words,
        fits=fits,
        audience=audience,
        order_by=found.get("order_by"),
        currency=parse.currency,
        notes=tuple(parse.notes),
    )
    if previous is not None and _continues(rest, brands + fits):
        merged = _merge(previous, understood, kept)
        prices = [p for p in shown_prices if p is not None and math.isfinite(p)]
        if _CHEAPER.search(question) and prices:
            merged = replace(merged, cheaper_than=min(prices))
        return merged
    return understood


# Words that end the noun phrase naming what is wanted: "camera for travel" → camera.
_PHRASE_ENDS = frozenset("for with to in on under over below above from by at of near".split())


def _leading_phrase(rest: str) -> str:
    """The question's first noun phrase once constraints are taken out: its words up to
    the first preposition, filler skipped ("a good camera for travel" → "camera")."""
    phrase: list[str] = []
    for token in words(rest):
        if token in _PHRASE_ENDS and phrase:
            break
        if token not in _FILLER:
            phrase.append(token)
    return " ".join(phrase)


_AUDIENCE = re.compile(
    r"\b(?:" + "|".join(sorted(audience_words(), key=len, reverse=True)) + r")(?:'?s)?\b"
)


def _without_quantities(rest: str) -> str:
    """`rest` with quantities, sizes and who it is for blanked: not words of the kind."""
    for start, end in asked_spans(rest):
        rest = rest[:start] + " " * (end - start) + rest[end:]
    return _AUDIENCE.sub(lambda m: " " * len(m.group(0)), rest)


def _original_words(question: str, rest: str) -> list[str]:
    """The question's words (original case) at the positions `rest` still holds."""
    kept = []
    for match in re.finditer(r"[\w₹$][\w.+%/-]*[\w+%]|[\w₹$]", question):
        start, end = match.span()
        if rest[start:end].strip():
            kept.append(match.group(0))
    return kept


def _continues(rest: str, brands: tuple[str, ...]) -> bool:
    """Nothing but constraints, colours or filler: a refinement of the previous question."""
    rest = _without_quantities(rest)
    return not [t for t in words(rest) if t not in _FOLLOW_UP_ONLY and t not in brands]


def _merge(previous: Understanding, new: Understanding, extra: str) -> Understanding:
    subject = previous.follow_up_of or previous.search_text
    merged = Understanding(
        question=new.question,
        search_text=f"{previous.search_text} {extra}".strip(),
        subject=f"{previous.subject} {extra}".strip(),
        phrase=previous.phrase,
        brands=tuple(dict.fromkeys([*previous.brands, *new.brands])),
        colours=new.colours or previous.colours,
        appearance=new.appearance or previous.appearance,
        specs=new.specs or previous.specs,
        keywords=previous.keywords,
        excluded_brands=tuple(dict.fromkeys([*previous.excluded_brands, *new.excluded_brands])),
        excluded_words=tuple(dict.fromkeys([*previous.excluded_words, *new.excluded_words])),
        fits=tuple(dict.fromkeys([*previous.fits, *new.fits])),
        audience=new.audience or previous.audience,
        order_by=new.order_by or previous.order_by,
        cheaper_than=previous.cheaper_than,
        currency=new.currency,
        follow_up_of=subject,
        notes=new.notes,
    )
    fields = ("min_price", "max_price", "min_rating", "min_rating_count", "min_discount")
    return replace(
        merged, **{f: getattr(new, f) if getattr(new, f) is not None else getattr(previous, f)
                   for f in fields}
    )  # fmt: skip
