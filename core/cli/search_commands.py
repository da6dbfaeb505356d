"""Search commands: search (top-k from both indexes) and ask (the assistant's answer)."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.registry import CliError, command, resolve_catalog
from core.settings import Settings
from core.store import Store


def _run_turn(args: argparse.Namespace, settings: Settings, store: Store, ask: bool = False):
    """The CLI's chat turn: the same workflow the Search page runs (core.retrieval.turn)."""
    from core.catalog.images import ImageError, load_rgb
    from core.lens import get_lens
    from core.llm import llm_config
    from core.retrieval.turn import TurnRequest, run_turn
    from core.store.filters import Filters

    catalog = resolve_catalog(store, settings, args.catalog)
    image = None
    if args.image:
        try:
            image = load_rgb(args.image)
        except (ImageError, OSError) as exc:
            raise CliError(f"cannot use {args.image} as a query image: {exc}") from exc
    filters = Filters(
        min_price=args.min_price,
        max_price=args.max_price,
        min_rating=args.min_rating,
        min_rating_count=args.min_ratings,
        categories=tuple(args.category),
    )
    request = TurnRequest(
        question=args.query or "", catalog=catalog, k=args.k or settings.top_k,
        filters=filters, hybrid=args.hybrid, literal=args.literal,
    )  # fmt: skip
    return run_turn(get_lens(settings).searcher(catalog), request, llm_config(settings), image, ask)


def _hit_lines(result) -> list[str]:
    from core.catalog.parse import format_price

    lines = []
    if result.understanding is not None:
        u = result.understanding
        chips = ", ".join(c.label for c in u.constraints()) or "no constraints"
        if u.corrected:
            lines.append(
                f'searched for: "{u.corrected}" (typed: "{u.question}"; --literal: as typed)'
            )
        lines.append(f'understood: "{u.search_text}" · {chips}')
        lines += [f"note: {note}" for note in u.notes]
    if result.alternatives:
        lines.append("nothing meets every constraint: these are the nearest alternatives")
    for hit in result.hits:
        price = format_price(hit.price, hit.currency)
        rating = f"{hit.rating:g}" if hit.rating is not None else "-"
        why = ", ".join(
            f"{name} {value:.2f}"
            for name, value in (("text", hit.text_similarity), ("image", hit.image_similarity))
            if value is not None
        )
        extra = f" | breaks {'; '.join(hit.unmet)}" if hit.unmet else ""
        copies = f" | +{len(hit.duplicate_ids)} identical" if hit.duplicate_ids else ""
        copies += f" | also in {hit.also_in()}" if hit.variants else ""
        lines.append(
            f"{hit.source:>6} #{hit.rank} [{hit.product_id}] {hit.name[:70]} | {rating} | "
            f"{price} | {why}{copies}{extra}"
        )
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items())
    return [*lines, *result.notes, timings]


def _search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", nargs="?", default="", help="text query")
    p.add_argument("--image", help="image file to search with")
    p.add_argument("--catalog")
    p.add_argument("--k", type=int, help="results per index (default 5)")
    p.add_argument("--min-price", type=float)
    p.add_argument("--max-price", type=float)
    p.add_argument("--min-rating", type=float)
    p.add_argument("--min-ratings", type=int, help="minimum number of ratings")
    p.add_argument("--category", action="append", default=[], help="repeatable")
    p.add_argument("--hybrid", action="store_true", help="fuse full-text search on names")
    p.add_argument(
        "--literal",
        action="store_true",
        help="search the words as typed: no spelling correction, no constraints read",
    )


@command(
    "search",
    "top-k from the text and image indexes",
    _search_arguments,
)
def _search(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    turn = _run_turn(args, settings, store)
    payload = {"catalog": turn.request.catalog, **turn.result.as_dict()}
    return payload, "\n".join(_hit_lines(turn.result))


def _ask_arguments(p: argparse.ArgumentParser) -> None:
    _search_arguments(p)
    p.add_argument("--llm", help="LiteLLM model string (env PRODUCTLENS_LLM_MODEL)")
    p.add_argument("--api-base", help="OpenAI-compatible base URL (env PRODUCTLENS_LLM_API_BASE)")


@command(
    "ask",
    "search, then answer as a shopping assistant",
    _ask_arguments,
)
def _ask(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    settings = settings.with_overrides(llm_model=args.llm, llm_api_base=args.api_base)
    turn = _run_turn(args, settings, store, ask=True)
    reply, result = turn.answer, turn.result
    assert reply is not None
    payload = {"catalog": turn.request.catalog, **reply.as_dict(), **result.as_dict()}
    lines = [reply.text, ""]
    if reply.grounded_fallback:
        lines.append(f"composed from the search results without a language model: {reply.error}")
    if reply.usage is not None:
        lines.append(f"LLM {reply.model}: {reply.usage.label()}")
    if reply.invalid_ids:
        lines.append(f"warning: the answer cites ids that were not retrieved: {reply.invalid_ids}")
    for pid, broken in reply.breaking.items():
        lines.append(f"warning: the answer cites {pid}, which breaks {'; '.join(broken)}")
    return payload, "\n".join([*lines, *_hit_lines(result)])
