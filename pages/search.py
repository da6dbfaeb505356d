"""Search & Chat: a question or an image over both indexes, what was understood, an answer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import streamlit as st

from core.catalog.example import example_question, example_questions
from core.catalog.parse import CURRENCY_SIGNS, format_price
from core.llm import llm_config
from core.models.sources import ModelUnavailable
from core.retrieval.answer import Answer, for_display, stream_answer, with_product_links
from core.retrieval.query import Understanding
from core.retrieval.search import SearchResult, no_images_note, query_image
from core.retrieval.turn import TurnRequest
from core.store.filters import Filters, QueryError, clean_query
from pages.common import open_page

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp"]


@dataclass
class PageTurn:
    """The current turn: the workflow's request (core.retrieval.turn) and what this page
    keeps of it between reruns."""

    id: int
    request: TurnRequest
    image: bytes | None
    image_name: str
    ask: bool  # write an answer
    chat_start: int  # this turn's question and answer are appended to the chat after it
    understood: Understanding | None = None
    read: bool = False  # `understood` is computed (once: an LLM may be asked)
    answers: dict = field(default_factory=dict)  # (alone, as typed, removed) → its answer
    shown: tuple[float, ...] = ()  # prices shown: "cheaper ones" next turn goes below

    def redo(self, **changes: bool) -> None:
        """Search this turn again as a person asked: alone, or as typed."""
        self.request = replace(self.request, **changes)
        self.understood, self.read, self.answers = None, False, {}


lens, catalog = open_page("Search & Chat")
try:
    searcher = lens.searcher(catalog)
except ModelUnavailable as exc:
    st.error(str(exc))
    st.stop()
facts = searcher.facts


@st.cache_data(max_entries=8)
def catalog_categories(db: str, name: str, version: int) -> list[str]:
    import pyarrow.compute as pc

    column = lens.store.products.where(name, columns=["sub_category"]).column("sub_category")
    return sorted(set(pc.unique(column).to_pylist()) - {"", None})


def price_step(currency: str) -> float:
    """A step a person would type in: ₹100, $5."""
    return 100.0 if currency in ("INR", "JPY") else 5.0


categories = catalog_categories(lens.store.location, catalog, lens.store.products.version())


@st.cache_data(max_entries=8)
def placeholder(db: str, name: str, version: int) -> str:
    """An example question in this catalog's terms and currency."""
    return example_question(lens.facts(name))


@st.cache_data(max_entries=8)
def examples(db: str, name: str, version: int) -> list[str]:
    return example_questions(lens.facts(name))


def ask_example() -> None:
    """A clicked example becomes the question, and is searched (before the rerun, so the
    box shows it)."""
    chosen = st.session_state.get("example")
    if chosen:
        st.session_state["question"] = chosen
        st.session_state["ask_example"] = True
    st.session_state["example"] = None


sign = CURRENCY_SIGNS.get(facts.currency, facts.currency)
chat: list[dict[str, str]] = st.session_state.setdefault("chat", [])

with st.form("query"):
    question = st.text_input(
        "Ask or search",
        placeholder=placeholder(lens.store.location, catalog, lens.store.products.version()),
        max_chars=1000,
        key="question",
    )
    upload = st.file_uploader(
        "…or search with an image",
        type=UPLOAD_TYPES,
        help=None if facts.has_images else "This catalog has no product images to match.",
    )
    # A row that wraps rather than cuts labels off on a narrow window.
    options = st.container(horizontal=True, gap="medium", vertical_alignment="bottom")
    k = options.slider("Results per index (k)", 1, 20, lens.settings.top_k, width=180)
    hybrid = options.toggle(
        "Hybrid search", help="Keywords and vectors together: finds exact model numbers."
    )
    ask_llm = options.toggle("Write an answer", value=True)
    with st.expander("Filters"):
        a, b, c, d = st.columns(4)
        step = price_step(facts.currency)
        label = f" ({sign})" if sign else ""
        min_price = a.number_input(f"Min price{label}", 0.0, None, None, step, format="%.0f")
        max_price = b.number_input(f"Max price{label}", 0.0, None, None, step, format="%.0f")
        min_rating = c.number_input("Min rating (★)", 0.0, 5.0, None, 0.5, format="%.1f")
        min_count = d.number_input("Min number of ratings", 0, 10_000_000, None, step=100)
        chosen = st.multiselect("Category", categories)
    submitted = st.form_submit_button("Search", type="primary")
    submitted = st.session_state.pop("ask_example", False) or submitted
if not facts.has_images:
    st.info(no_images_note(facts))

if st.button("Clear chat", help="forget the conversation and the current results"):
    chat.clear()
    st.session_state.pop("turn", None)
    st.session_state.pop("question", None)  # a cleared chat starts from an empty box
    st.rerun()

map_selection = st.session_state.get("map_selection") or []
if map_selection:
    note, clear = st.columns([5, 1])
    note.info(f"Searching within {len(map_selection)} product(s) selected on the embedding map.")
    if clear.button("Clear selection"):
        st.session_state["map_selection"] = []
        st.rerun()

if submitted:
    if not clean_query(question) and upload is None:
        st.error("Type a question or upload an image.")
        st.stop()
    previous: PageTurn | None = st.session_state.get("turn")
    request = TurnRequest(
        question=question, catalog=catalog, k=k, hybrid=hybrid,
        filters=Filters(
            min_price=min_price,
            max_price=max_price,
            min_rating=min_rating or None,
            min_rating_count=int(min_count) if min_count else None,
            categories=tuple(chosen),
            product_ids=tuple(map_selection),
        ),
        # A question that names no product of its own continues this one (shown below).
        previous=previous.understood if previous else None,
        shown_prices=previous.shown if previous else (),
    )  # fmt: skip
    st.session_state["turn"] = PageTurn(
        id=previous.id + 1 if previous else 1, request=request,
        image=upload.getvalue() if upload is not None else None,
        image_name=getattr(upload, "name", ""), ask=ask_llm, chat_start=len(chat),
    )  # fmt: skip

photo_query = st.session_state.pop("photo_query", None)  # "look like this" on the map
if photo_query is not None:
    previous = st.session_state.get("turn")
    st.session_state["turn"] = PageTurn(
        id=previous.id + 1 if previous else 1,
        request=TurnRequest(question="", catalog=catalog, k=lens.settings.top_k),
        image=photo_query["image"], image_name=photo_query["name"], ask=True,
        chat_start=len(chat),
    )  # fmt: skip

turn: PageTurn | None = st.session_state.get("turn")
if turn is None:  # nothing asked yet: a few questions to start from
    st.pills(
        "Try", examples(lens.store.location, catalog, lens.store.products.version()),
        key="example", on_change=ask_example,
    )  # fmt: skip
history = chat[: turn.chat_start] if turn else list(chat)


def show_history() -> None:
    """Earlier questions and answers, below the current results and only on request (a
    long conversation would otherwise be re-sent and re-drawn on every search)."""
    if not history:
        return
    label = f"Show the earlier {len(history) // 2} question(s) of this conversation"
    if st.toggle(label, key="show_history"):
        for message in history:
            with st.chat_message(message["role"]):
                st.markdown(for_display(message["content"]))


if turn is None:
    show_history()
    st.stop()


class _Upload:
    """The stored upload, shaped like Streamlit's UploadedFile for `query_image`."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.name, self.size = data, name, len(data)

    def getvalue(self) -> bytes:
        return self.data


def understood_now(turn: PageTurn) -> Understanding | None:
    """The question's understanding, computed once per turn (an LLM may be asked)."""
    if not turn.read:
        turn.understood = turn.request.understand(searcher, llm_config(lens.settings))
        turn.read = True
    return turn.understood


def show_understanding(understood: Understanding | None) -> frozenset[str]:
    """Chips for what was understood and what was set in Filters; the keys of the ones a
    person removed."""
    chips = turn.request.set_constraints(facts.currency)
    if understood is None:  # a photo alone: only what was set in Filters
        return removable_chips("Searching with", chips) if chips else frozenset()
    if understood.follow_up_of:
        note, undo = st.columns([4, 2])
        note.info(
            f'Follow-up: "{turn.request.question}" continues "{understood.follow_up_of}", so '
            f'this searches "{understood.search_text}" with the constraints below.'
        )
        if undo.button(f'Search "{turn.request.question[:40]}" alone'):
            turn.redo(alone=True)
            st.rerun()
    if understood.corrected:
        note, undo = st.columns([4, 2])
        fixes = ", ".join(f"“{typed}” → “{fixed}”" for typed, fixed in understood.corrections)
        note.info(f'Searched for "{understood.corrected}" ({fixes}).')
        if undo.button(f'Search "{turn.request.question[:40]}" as typed'):
            turn.redo(as_typed=True)
            st.rerun()
    for message in understood.notes:
        st.warning(message)
    chips = [*understood.constraints(), *chips]
    if not chips:
        st.caption(f'Searching for "{understood.search_text}" (no constraints understood).')
        return frozenset()
    return removable_chips(f'Understood — searching "{understood.search_text}" with', chips)


CHIP_SOURCES = {"llm": " · LLM", "filters": " · Filters"}


def removable_chips(title: str, chips: list) -> frozenset[str]:
    """Chips a person can click away; the keys of the ones removed."""
    labels = {c.key: c.label + CHIP_SOURCES.get(c.source, "") for c in chips}
    kept = st.pills(
        title,
        options=list(labels),
        format_func=labels.__getitem__,
        selection_mode="multi",
        default=list(labels),
        key=f"chips-{turn.id}-{turn.request.alone}-{turn.request.as_typed}",
        help="Click a constraint to drop it; click again to restore it.",
    )
    return frozenset(labels) - set(kept or [])


def _similarity(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def constraints_cell(hit) -> str:
    if hit.unmet:
        return "breaks " + "; ".join(hit.unmet)
    # "all met" alone would read as a recommendation for a DVD player among headphones
    return "all met, but not the kind asked for" if hit.other_kind else "all met"


def results_table(result: SearchResult) -> pd.DataFrame:
    """One row per product, however many indexes found it ("text #1 · image #3"), the
    columns a shopper reads first on the left."""
    found: dict[int, list[str]] = {}
    first: dict[int, Any] = {}
    for hit in result.hits:
        found.setdefault(hit.product_id, []).append(f"{hit.source} #{hit.rank}")
        first.setdefault(hit.product_id, hit)
    rows = []
    for pid, hit in first.items():
        rows.append(
            {
                "ID": pid,
                "Name": hit.name,
                "Price": format_price(hit.price, hit.currency) or "no price",
                "Rating": f"{hit.rating:.1f}★" if hit.rating is not None else "not rated",
                "Constraints": constraints_cell(hit),
                "Found by": " · ".join(found[pid]),
                "Text similarity": _similarity(hit.text_similarity),
                "Image similarity": _similarity(hit.image_similarity),
                "Name has": ", ".join(hit.keywords_matched) or "–",
                "Identical listings": len(hit.duplicate_ids),
                "Also in": hit.also_in(),
            }
        )
    frame = pd.DataFrame(rows)
    if frame["Image similarity"].isna().all():  # no image index to measure against
        frame = frame.drop(columns="Image similarity")
    if not frame["Also in"].any():
        frame = frame.drop(columns="Also in")
    return frame


def why_lines(result: SearchResult) -> list[str]:
    lines = []
    for hit in result.hits:
        parts = [
            f"text similarity {hit.text_similarity:.3f}" if hit.text_similarity is not None
            else "no text vector",
            f"image similarity {hit.image_similarity:.3f}" if hit.image_similarity is not None
            else "no image similarity",
            f"name has {', '.join(hit.keywords_matched)}" if hit.keywords_matched
            else "no query word in the name",
            f"breaks {'; '.join(hit.unmet)}" if hit.unmet else "meets every stated constraint",
        ]  # fmt: skip
        if hit.duplicate_ids:
            parts.append("identical listings: " + ", ".join(f"#{i}" for i in hit.duplicate_ids))
        if hit.variants:
            parts.append(f"also in {hit.also_in()}")
        if hit.other_kind:
            parts.append("its name does not name the kind asked for: shown, not recommended")
        lines.append(f"- **#{hit.product_id}** ({hit.source} #{hit.rank}): " + " · ".join(parts))
    return lines


try:
    understood = understood_now(turn)
    removed = show_understanding(understood)
    image = query_image(_Upload(turn.image, turn.image_name)) if turn.image else None
    if image is not None:
        st.image(turn.image, caption=f"Your photo: {turn.image_name}", width=160)
    with st.spinner("Searching…"):
        result = turn.request.search(searcher, understood, removed, image)
except (QueryError, ModelUnavailable) as exc:
    st.error(str(exc))
    st.stop()

turn.shown = tuple(h.price for h in result.hits if h.price is not None)
for note in result.notes:
    if note != no_images_note(facts):  # said once, above
        st.warning(note)
if result.alternatives:
    st.warning(
        "Nothing in the catalog meets every constraint: these are the nearest products, "
        "each with what it breaks."
    )
st.subheader("Results")
if not result.hits:
    st.info("No product matches. Remove a constraint above or loosen the filters.")
else:
    st.dataframe(results_table(result), hide_index=True, width="stretch")
    with st.expander("Why these results"):
        st.markdown("\n".join(why_lines(result)))

if result.image_hits:
    st.subheader("Image matches")
    columns = st.columns(min(len(result.image_hits), 5))
    for index, hit in enumerate(result.image_hits):
        with columns[index % len(columns)]:
            if hit.image_status == "ok" and hit.image_path:
                st.image(hit.image_path, width="stretch")
            st.caption(f"#{hit.product_id} · {hit.name[:60]}")

if turn.ask and (result.query or result.has_image):
    key = (turn.request.alone, turn.request.as_typed, removed)
    shown_question = turn.request.question or f"(a photo: {turn.image_name})"
    with st.chat_message("user"):
        if turn.image:
            st.image(turn.image, width=96)
        if turn.request.question:
            st.markdown(for_display(turn.request.question))
    with st.chat_message("assistant"):
        answer: Answer | None = turn.answers.get(key)
        if answer is None:
            final: list[Answer] = []

            def chunks():
                config = llm_config(lens.settings)
                for item in stream_answer(turn.request.question, result, config, history):
                    if isinstance(item, Answer):
                        final.append(item)
                    else:
                        yield for_display(item)

            started = time.perf_counter()
            shown = st.empty()
            if llm_config(lens.settings) is None:  # composed at once: no typewriter effect
                text = "".join(chunks())
            else:
                with shown:
                    text = st.write_stream(chunks())
            # once whole, the cited ids become links to the listings
            shown.markdown(with_product_links(str(text), result))
            llm_ms = (time.perf_counter() - started) * 1000
            result = replace(result, timings_ms={**result.timings_ms, "llm": llm_ms})
            answer = final[-1]
            turn.answers = {key: answer}
            del chat[turn.chat_start :]  # a re-answer of this turn replaces the last
            chat.extend(
                [
                    {"role": "user", "content": shown_question},
                    {"role": "assistant", "content": answer.text},
                ]
            )
        else:
            st.markdown(with_product_links(for_display(answer.text), result))
        if answer.grounded_fallback:
            st.caption(f"Grounded answer composed from the results ({answer.error}).")
        elif answer.usage is not None:
            st.caption(f"{answer.model}: {answer.usage.label()}")
        if answer.invalid_ids:
            st.warning(f"The answer cites ids that were not retrieved: {answer.invalid_ids}")
        for pid, broken in answer.breaking.items():
            st.warning(f"The answer cites #{pid}, which breaks {'; '.join(broken)}.")

# Where the time went is for whoever tunes the app, behind a click; people see the total.
total_s = sum(result.timings_ms.values()) / 1000
with st.expander(f"Answered in {total_s:.1f} s"):
    st.caption(" · ".join(f"{name} {ms:.0f} ms" for name, ms in result.timings_ms.items()))
show_history()
