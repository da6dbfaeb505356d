"""A chat turn, one workflow for the Search page and the CLI: a question (and perhaps a
photo) with what the person set, read once, searched with the constraints kept, answered.

The page runs it in steps, because it shows the understood constraints (removable chips)
before searching and streams the answer; the CLI runs it whole (`run_turn`). Both read,
search and answer through the same three calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from core.catalog.parse import format_price
from core.retrieval.answer import Answer, answer
from core.retrieval.query import Constraint, Understanding
from core.retrieval.search import SearchResult
from core.retrieval.shopping import retrieve, understand_question
from core.store.filters import Filters, clean_query

if TYPE_CHECKING:
    from PIL import Image

    from core.llm import LLMConfig
    from core.retrieval.searcher import Searcher


SET = "set:"  # chip keys of what the person set in Filters (not read from the question)


@dataclass(frozen=True)
class TurnRequest:
    question: str
    catalog: str
    k: int = 5
    filters: Filters = field(default_factory=Filters)  # what the person set, not the question
    hybrid: bool = False
    previous: Understanding | None = None  # the turn a follow-up ("under ₹2000?") continues
    shown_prices: tuple[float, ...] = ()  # what that turn showed: "cheaper ones" goes below
    alone: bool = False  # searched on its own, not as a follow-up
    as_typed: bool = False  # misspelt words searched as typed, not corrected
    literal: bool = False  # nothing read into it: its words searched as typed (CLI --literal)

    def understand(
        self, searcher: Searcher, config: LLMConfig | None = None
    ) -> Understanding | None:
        """What the question asks for (None for a photo alone); an LLM, when configured,
        may add what the parser left empty."""
        if not clean_query(self.question):
            return None
        understood = understand_question(
            self.question, searcher.facts, None if self.alone else self.previous,
            config, correct=not (self.as_typed or self.literal),
            shown_prices=() if self.alone else self.shown_prices,
        )  # fmt: skip
        if self.literal:
            understood = understood.without({c.key for c in understood.constraints()})
            understood = replace(understood, search_text=understood.question)
        return understood

    def set_constraints(self, currency: str = "") -> list[Constraint]:
        """What the person set in Filters, as chips beside the understood ones; removing
        one searches without it (`filters_without`)."""
        f = self.filters

        def money(value: float) -> str:
            return format_price(value, currency) or f"{value:,.0f}"

        chips = []
        if f.min_price is not None:
            chips.append(Constraint(f"{SET}min_price", f"≥ {money(f.min_price)}", "filters"))
        if f.max_price is not None:
            chips.append(Constraint(f"{SET}max_price", f"≤ {money(f.max_price)}", "filters"))
        if f.min_rating is not None:
            chips.append(Constraint(f"{SET}min_rating", f"rating ≥ {f.min_rating:g}★", "filters"))
        if f.min_rating_count is not None:
            label = f"≥ {f.min_rating_count:,} ratings"
            chips.append(Constraint(f"{SET}min_rating_count", label, "filters"))
        chips += [Constraint(f"{SET}category:{c}", f"category: {c}", "filters")
                  for c in f.categories]  # fmt: skip
        return chips

    def filters_without(self, removed: frozenset[str]) -> Filters:
        """The Filters a person set, minus the chips they removed."""
        if not any(key.startswith(SET) for key in removed):
            return self.filters
        f = self.filters
        bounds = ("min_price", "max_price", "min_rating", "min_rating_count")
        numbers = {name: None for name in bounds if f"{SET}{name}" in removed}
        categories = tuple(c for c in f.categories if f"{SET}category:{c}" not in removed)
        return replace(f, **numbers, categories=categories)

    def search(
        self,
        searcher: Searcher,
        understood: Understanding | None,
        removed: frozenset[str] = frozenset(),
        image: Image.Image | None = None,
    ) -> SearchResult:
        """The products for what was understood, minus the constraints a person removed."""
        active = understood.without(removed) if understood is not None else None
        filters = self.filters_without(removed)
        return retrieve(searcher, active, image, self.k, filters, self.hybrid)


@dataclass(frozen=True)
class Turn:
    request: TurnRequest
    understood: Understanding | None
    result: SearchResult
    answer: Answer | None = None


def run_turn(
    searcher: Searcher,
    request: TurnRequest,
    config: LLMConfig | None = None,
    image: Image.Image | None = None,
    ask: bool = False,
    history: list[dict[str, str]] | None = None,
) -> Turn:
    """The whole turn at once: understood, searched, and (with `ask`) answered, the
    answer's time recorded with the search's."""
    understood = request.understand(searcher, config)
    result = request.search(searcher, understood, image=image)
    reply = None
    if ask:
        started = time.perf_counter()
        reply = answer(request.question, result, config, history)
        llm_ms = (time.perf_counter() - started) * 1000
        result = replace(result, timings_ms={**result.timings_ms, "llm": llm_ms})
    return Turn(request, understood, result, reply)
