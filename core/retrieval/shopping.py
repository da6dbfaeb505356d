"""A question in, products that honour it out: understanding → filters → search → order.

The constraints a question states are hard filters on retrieval, so every product found
satisfies them. When nothing in the catalog does, the nearest products are retrieved
without them (the brand is the last thing dropped) and marked as alternatives, each with
the constraints it breaks. An ordering ("best rated", "cheapest") reorders the products
that match the words about as well as the best one, never a weak match above a strong one.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.catalog.audience import audiences_named, names_audience
from core.catalog.facts import name_words
from core.catalog.parse import format_price
from core.catalog.quantities import spec_stated
from core.catalog.synonyms import kind_forms, singular
from core.catalog.words import words
from core.retrieval.query import (
    ACCESSORY_NOUNS,
    CHEAPER,
    COLOURS,
    DISCOUNT,
    POPULARITY,
    PRICE,
    RATING,
    Understanding,
    understand,
)
from core.retrieval.search import Hit, SearchResult, search
from core.retrieval.spelling import speller_of
from core.store.filters import Filters

if TYPE_CHECKING:
    from PIL import Image

    from core.catalog.facts import CatalogFacts
    from core.llm import LLMConfig
    from core.retrieval.searcher import Searcher

# Products within this text similarity of the best match count as matching the words
# equally well, so an ordering may reorder them (MiniLM cosines; see the query-set bench).
RELEVANCE_BAND = 0.08
# Below this MiniLM cosine the best text match is not a match. On the query set, real
# matches score ≥ 0.45 and questions about absent products ≤ 0.35.
WEAK_MATCH = 0.35
POOL = 30  # candidates retrieved when an ordering or a look preference will reorder them


def retrieve(
    searcher: Searcher,
    understanding: Understanding | None,
    image: Image.Image | None = None,
    k: int = 5,
    base: Filters | None = None,
    hybrid: bool = False,
) -> SearchResult:
    """Search with the question's constraints; fall back to marked alternatives."""
    base = base or Filters()
    text = understanding.search_text if understanding else ""
    facts = searcher.facts
    kind = subject_kind(understanding, facts) if understanding else ()
    reorders = bool(
        understanding
        and (
            understanding.order_by
            or _looks(understanding)
            or understanding.specs
            or kind
            or understanding.audience
        )
    )
    pool = max(k, POOL) if reorders else k
    filters = understanding.filters(base) if understanding else base
    result = search(searcher, text, image, pool, filters, hybrid)
    if understanding is not None and image is None:
        result = _add_focused(searcher, result, understanding, kind, pool, filters, k)
    named = bool(understanding and understanding.keywords and result.hits)  # exact model no.
    if (
        understanding is not None
        and understanding.hard
        and not named
        and not _matches_words(result, kind)
    ):
        # Nothing that meets the constraints matches the words ("sony headphones ≤ $50"
        # finds only a Sony DVD player; "logitech mouse ≤ ₹1000" only a keyboard): show
        # what does match them, as alternatives.
        for relaxed in _relaxations(understanding, base):
            nearest = search(searcher, text, image, pool, relaxed, hybrid)
            if _matches_words(nearest, kind) or (nearest.hits and not result.hits):
                result = replace(nearest, alternatives=True)
                break
    if understanding is None:
        return result
    # Over a chosen set ("which of these is the cheapest?") or with nothing named but an
    # ordering, every result is relevant: the ordering is strict over all of them.
    strict = bool(base.product_ids) or not understanding.subject
    text_hits = _order(_kind_first(result.text_hits, kind), understanding, k, strict, kind)
    kind_named = bool(kind) and any(_names(h.name, kind) for h in text_hits)

    def judged(hit: Hit) -> Hit:
        return replace(
            hit,
            unmet=unmet(hit, understanding, facts),
            alternative=result.alternatives,
            # strings beside an acoustic guitar are shown, never recommended as one
            other_kind=kind_named and hit.source != "image" and not _names(hit.name, kind),
        )

    return replace(
        result,
        understanding=understanding,
        text_hits=[judged(h) for h in text_hits],
        image_hits=[judged(h) for h in result.image_hits[:k]],
    )


def _add_focused(
    searcher: Searcher,
    result: SearchResult,
    understanding: Understanding,
    kind: tuple[str, ...],
    pool: int,
    filters: Filters,
    k: int,
) -> SearchResult:
    """When fewer than k of the nearest products name the kind asked for and state the
    quantities asked for, search again among those that do and add them: "trolley bag
    rated 4★ and up" finds the 65 cm Safari trolley that ranks below thirty other bags."""
    specs = understanding.specs
    if not kind and not specs:
        return result
    if sum(_fits_focus(h.name, kind, specs) for h in result.text_hits) >= k:
        return result
    facts = searcher.facts
    # Only names with a word for the kind can name it: a cheap first cut over the catalog's
    # word sets before the full check (90 ms over 9,600 names without it).
    rows = np.flatnonzero(facts.naming_any(kind_forms(kind[-1]))) if kind else range(len(facts))
    ids = [int(facts.ids[at]) for at in rows if _fits_focus(facts.names[at], kind, specs)]
    if filters.product_ids:
        ids = sorted(set(ids) & {int(i) for i in filters.product_ids})
    if not ids:
        return result
    focused = search(searcher, understanding.search_text, None, pool,
                     replace(filters, product_ids=tuple(ids)))  # fmt: skip
    hits = list(result.text_hits)
    seen = {facts.product_of(h.product_id) for h in hits}
    for hit in focused.text_hits:
        if facts.product_of(hit.product_id) not in seen:
            seen.add(facts.product_of(hit.product_id))
            hits.append(hit)
    hits.sort(key=lambda h: -(h.text_similarity or h.score))
    return replace(result, text_hits=hits)


def _fits_focus(name: str, kind: tuple[str, ...], specs: tuple[str, ...]) -> bool:
    return (not kind or _names(name, kind)) and all(spec_stated(name, s) for s in specs)


def best_text_similarity(result: SearchResult) -> float | None:
    scores = [h.text_similarity for h in result.text_hits if h.text_similarity is not None]
    return max(scores, default=None)


def _matches_words(result: SearchResult, kind: tuple[str, ...] = ()) -> bool:
    """Some hit matches the question's words: a text similarity of at least WEAK_MATCH, or
    an image query (whose hits have no text to compare); and, when the question names a
    kind of product the catalog has words for, some text hit's name names it."""
    best = best_text_similarity(result)
    similar = bool(result.hits) and (best is None or best >= WEAK_MATCH or result.has_image)
    if not similar or not kind or result.has_image:
        return similar
    return any(_names(h.name, kind[-1:]) for h in result.text_hits)


def subject_kind(understanding: Understanding, facts: CatalogFacts) -> tuple[str, ...]:
    """The product kind the question names: its leading noun phrase ("LG split AC under
    ₹40k" → split, ac; "a good camera for travel" → camera), without brands,
    colours, shapes and quantities, and only words product names here use. The last word
    is the head ("ac", "camera"), which a matching product's name must name."""
    from core.retrieval.query import SHAPES

    phrase = words(understanding.phrase)
    brands = {*understanding.brands, *understanding.fits}
    counts = speller_of(facts).counts
    return tuple(
        w for w in phrase
        if w not in brands and w not in COLOURS and w not in SHAPES
        and w.replace("-", "").isalpha()
        and any(counts.get(form, 0) or counts.get(f"{form}s", 0) for form in kind_forms(w))
    )  # fmt: skip


def _kind_first(hits: list[Hit], kind: tuple[str, ...]) -> list[Hit]:
    """Hits whose names name the whole kind asked for ("trolley bag") before the others,
    each group in its own order: a duffel bag that is closer in meaning does not hide
    the trolley bags."""
    if not kind:
        return hits
    return sorted(hits, key=lambda hit: not _names(hit.name, kind))


def _names(name: str, kind: tuple[str, ...]) -> bool:
    """Whether a product name names every word of `kind` (singular or plural), the head
    word (the last) by any word for the same kind ("earbuds" for "earphones"), and never
    as what an accessory is for: "Acoustic Guitar Strings" and "Guitar Stand …, Acoustic
    Guitar Wall Mount" name a string set and a stand, not an acoustic guitar."""
    named = name_words(name)
    *modifiers, head = kind
    if not all(w in named or singular(w) in named for w in modifiers):
        return False
    forms = kind_forms(head)
    tokens = [singular(t) for t in words(name)]
    heads = [i for i, token in enumerate(tokens) if token in forms]
    return bool(heads) and not any(
        i + 1 < len(tokens) and tokens[i + 1] in _ACCESSORIES_OF and tokens[i + 1] not in kind
        for i in heads
    )


_ACCESSORIES_OF = frozenset(singular(w) for w in ACCESSORY_NOUNS)


def _relaxations(understanding: Understanding, base: Filters) -> list[Filters]:
    """Keep the brand (it comes first in precedence) if that alone finds something. An
    exclusion is never relaxed: a shopper who said "not Sony" is never shown Sony."""
    kept = understanding.exclusions(base)
    tries = []
    if understanding.brands or understanding.fits:
        tries.append(
            replace(
                kept,
                brands=tuple(dict.fromkeys([*base.brands, *understanding.brands])),
                fits=tuple(dict.fromkeys([*base.fits, *understanding.fits])),
            )
        )
    tries.append(kept)
    return tries


def _looks(understanding: Understanding) -> tuple[str, ...]:
    return (*understanding.colours, *understanding.appearance)


_ORDER_KEYS = {
    RATING: lambda h: (-(h.rating or 0.0), -(h.rating_count or 0)),
    PRICE: lambda h: h.price if h.price is not None else float("inf"),
    DISCOUNT: lambda h: -discount_share(h),
    POPULARITY: lambda h: -(h.rating_count or 0),
}


def _order(
    hits: list[Hit],
    understanding: Understanding,
    k: int,
    strict: bool = False,
    kind: tuple[str, ...] = (),
) -> list[Hit]:
    """Within the relevance band (all hits when `strict`, and every hit naming the kind
    and stating the quantities asked for): names naming the kind first, then names stating
    more of the asked quantities, then names saying who they are for, then the asked look
    (appearance comes before discount and rating in precedence), then the asked
    ordering."""
    if not hits:
        return hits
    looks = set(_looks(understanding))
    specs = understanding.specs
    audience = understanding.audience
    order = _ORDER_KEYS.get(understanding.order_by or "")
    if not looks and not specs and not audience and order is None:
        return _renumber(hits[:k])
    best = max((h.text_similarity or h.score) for h in hits)

    def relevant(hit: Hit) -> bool:
        # As relevant as the best match, or (when the question names a kind) naming it
        # and matching the words at all: "cheapest measuring tape" orders every tape.
        similarity = hit.text_similarity or hit.score
        if strict or similarity >= best - RELEVANCE_BAND:
            return True
        return (
            bool(kind or specs) and similarity >= WEAK_MATCH and _fits_focus(hit.name, kind, specs)
        )

    band = [h for h in hits if relevant(h)]
    rest = [h for h in hits if h not in band]

    def key(hit: Hit) -> tuple:
        specs_missing = sum(not spec_stated(hit.name, spec) for spec in specs)
        unnamed = bool(audience) and not names_audience(hit.name, audience)
        look_missing = bool(looks) and not looks & set(words(hit.name))
        other_kind = bool(kind) and not _names(hit.name, kind)
        return (other_kind, specs_missing, unnamed, look_missing, order(hit) if order else 0)

    return _renumber((sorted(band, key=key) + rest)[:k])


def _renumber(hits: list[Hit]) -> list[Hit]:
    return [replace(hit, rank=rank) for rank, hit in enumerate(hits, start=1)]


def discount_share(hit: Hit) -> float:
    if hit.discount_price is None or not hit.actual_price:
        return 0.0
    return max(0.0, 1.0 - hit.discount_price / hit.actual_price)


def unmet(hit: Hit, understanding: Understanding, facts: CatalogFacts) -> list[str]:
    """The stated constraints this product breaks, each as "chip label (its value)".
    Whether it breaks one is decided where the search filters by it (`Filters.breaks`,
    `CatalogFacts.breaks`), so what is filtered and what is reported cannot drift apart."""
    chips = {c.key: c.label for c in understanding.constraints()}
    filters = understanding.filters()
    record = {"price": hit.price, "rating": hit.rating, "rating_count": hit.rating_count}
    columns = set(filters.breaks(record))
    names = set(facts.breaks(hit.product_id, **filters.name_conditions()))
    broken = []
    price = format_price(hit.price, hit.currency) or "no price"
    stated = understanding.without({CHEAPER}).filters()
    if set(stated.breaks(record)) & {"min_price", "max_price"}:
        broken.append(f"{chips[PRICE]} ({price})")
    elif "max_price" in columns:  # within the stated range, not below what was shown
        broken.append(f"{chips[CHEAPER]} ({price})")
    if "min_rating" in columns:
        broken.append(f"{chips['min_rating']} (rated {hit.rating if hit.rating else 'never'})")
    if "min_rating_count" in columns:
        broken.append(f"{chips['min_rating_count']} ({hit.rating_count or 0:,})")
    if "min_discount" in names:
        broken.append(f"{chips['min_discount']} ({discount_share(hit):.0%} off)")
    if "brands" in names:
        at = facts.position(hit.product_id)
        brand = facts.brands[at] if at is not None else ""
        broken.append(f"{', '.join(chips[f'brand:{b}'] for b in understanding.brands)}"
                      f" (by {brand or 'another maker'})")  # fmt: skip
    for keyword in understanding.keywords if "keywords" in names else ():
        if facts.breaks(hit.product_id, keywords=(keyword,)):
            broken.append(chips[f"keyword:{keyword}"])
    for field in ("excluded_brands", "excluded_words"):
        for word in getattr(understanding, field) if field in names else ():
            if facts.breaks(hit.product_id, **{field: (word,)}):
                broken.append(chips[f"not:{word}"])
    if "fits" in names:
        broken.append(", ".join(chips[f"for:{b}"] for b in understanding.fits))
    if "audience" in names:
        chip_labels = ", ".join(chips[f"audience:{a}"] for a in understanding.audience)
        broken.append(f"{chip_labels} (for {', '.join(sorted(audiences_named(hit.name)))})")
    for spec in understanding.specs:  # a quantity is checked against the name, never claimed
        if not spec_stated(hit.name, spec):
            broken.append(f"{chips[f'spec:{spec}']} (not in its name)")
    return broken


# --- an LLM's reading of the question ----------------------------------------------------

PROPOSAL_PROMPT = """Extract the shopping constraints a question states. Reply with one JSON
object and nothing else, using only these keys (omit what the question does not state):
min_price, max_price (numbers in the catalog's currency, {currency}), min_rating (1-5),
min_rating_count (integer), min_discount (share 0-1, "40% off" is 0.4), brands (list of
lower-case brand names), colours (list), excluded_brands and excluded_colours (lists: what
the question says "not", "without", "except" or "other than" to), order_by (one of
"rating", "price", "discount", "popularity")."""


class Proposal(BaseModel):
    """What an LLM may propose; validated like the parser's output."""

    model_config = ConfigDict(extra="ignore")
    min_price: float | None = Field(None, ge=0)
    max_price: float | None = Field(None, ge=0)
    min_rating: float | None = Field(None, ge=0, le=5)
    min_rating_count: int | None = Field(None, ge=0)
    min_discount: float | None = Field(None, ge=0, le=1)
    brands: list[str] = Field(default_factory=list, max_length=5)
    colours: list[str] = Field(default_factory=list, max_length=5)
    excluded_brands: list[str] = Field(default_factory=list, max_length=5)
    excluded_colours: list[str] = Field(default_factory=list, max_length=5)
    order_by: Literal["rating", "price", "discount", "popularity"] | None = None

    def merge_into(self, understood: Understanding, facts: CatalogFacts) -> Understanding:
        """Fill only what the parser left empty; brands must be the catalog's own."""
        changes: dict[str, Any] = {}
        for name in _NUMERIC:
            value = getattr(self, name)
            if value is not None and getattr(understood, name) is None:
                changes[name] = value
        # Lists are validated alike (exclusions too): the catalog's brands, known colours.
        for proposed, field, allowed in (
            ("brands", "brands", facts.vocabulary),
            ("colours", "colours", COLOURS),
            ("excluded_brands", "excluded_brands", facts.vocabulary),
            ("excluded_colours", "excluded_words", COLOURS),
        ):
            values = [v.lower() for v in getattr(self, proposed) if v.lower() in allowed]
            if values and not getattr(understood, field):
                changes[field] = tuple(dict.fromkeys(values))
        # A brand the shopper excluded is never also a brand asked for.
        if changes.get("brands") and set(changes["brands"]) & {
            *understood.excluded_brands,
            *changes.get("excluded_brands", ()),
        }:
            changes.pop("brands")
        if not changes:
            return understood
        sources = tuple((_CHIP_OF.get(name, name), "llm") for name in changes)
        return replace(understood, **changes, sources=understood.sources + sources)


_NUMERIC = ("min_price", "max_price", "min_rating", "min_rating_count", "min_discount", "order_by")
# Proposal field → the chip key prefix it shows under.
_CHIP_OF = {"min_price": PRICE, "max_price": PRICE, "order_by": "order", "brands": "brand",
            "colours": "colour", "excluded_brands": "not", "excluded_words": "not"}  # fmt: skip


def propose_with_llm(
    question: str, understood: Understanding, config: LLMConfig, facts: CatalogFacts
) -> Understanding:
    """`understood` plus what an LLM reads in the question (JSON mode), validated against
    the same types; a failed call or an invalid reply leaves it unchanged."""
    from core.llm import complete

    prompt = PROPOSAL_PROMPT.format(currency=facts.currency or "unknown")
    messages = [{"role": "system", "content": prompt}, {"role": "user", "content": question}]
    try:
        reply = complete(config, messages, temperature=0.0,
                         response_format={"type": "json_object"})  # fmt: skip
        proposal = Proposal.model_validate(json.loads(_json_part(reply)))
    except Exception:  # the proposal is optional: the parser's reading stands
        return understood
    return proposal.merge_into(understood, facts)


def _json_part(reply: str) -> str:
    start, end = reply.find("{"), reply.rfind("}")
    return reply[start : end + 1] if start >= 0 and end > start else reply


def understand_question(
    question: str,
    facts: CatalogFacts,
    previous: Understanding | None = None,
    config: LLMConfig | None = None,
    correct: bool = True,
    shown_prices: tuple[float, ...] = (),
) -> Understanding:
    """The deterministic reading, refined by the LLM's when one is configured
    (`correct=False`: misspelt words searched as typed; `shown_prices`: what the previous
    answer showed, for "cheaper ones")."""
    understood = understand(question, facts, previous, correct, shown_prices)
    if config is not None and config.model:
        understood = propose_with_llm(question, understood, config, facts)
    return understood
