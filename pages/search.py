"""Search & Chat: text or image queries over both indexes, and a grounded answer."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core.catalog import format_price
from core.models import ModelUnavailable
from core.rag import (
    Answer,
    brands_from_names,
    for_display,
    llm_config,
    retrieval_query,
    stream_answer,
)
from core.search import Filters, QueryError, query_image, search
from core.ui import open_page

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp"]

lens, catalog = open_page("Search & Chat")


@st.cache_data(max_entries=8)
def catalog_facts(db: str, name: str, version: int) -> tuple[set[str], list[str], float]:
    frame = lens.catalog_frame(name)
    categories = sorted(set(frame["sub_category"].dropna()) - {""})
    top = float(frame["price"].max()) if frame["price"].notna().any() else 0.0
    return brands_from_names(frame["name"].tolist()), categories, top


brands, categories, top_price = catalog_facts(str(lens.store.path), catalog, lens.table_version())
chat: list[dict[str, str]] = st.session_state.setdefault("chat", [])

with st.form("query"):
    question = st.text_input(
        "Ask or search", placeholder="e.g. blue power bank 50000 mAh", max_chars=1000
    )
    upload = st.file_uploader("…or search with an image", type=UPLOAD_TYPES)
    left, middle, right = st.columns(3)
    k = left.slider("Results per index (k)", 1, 20, lens.settings.top_k)
    hybrid = middle.toggle("Hybrid (keywords + vectors)", help="finds exact model numbers")
    ask_llm = right.toggle("Write an answer", value=True)
    with st.expander("Filters"):
        a, b, c = st.columns(3)
        price = a.slider("Price", 0.0, max(top_price, 1.0), (0.0, max(top_price, 1.0)))
        min_rating = b.slider("Minimum rating", 0.0, 5.0, 0.0, 0.5)
        min_count = c.number_input("Minimum number of ratings", 0, 10_000_000, 0, step=10)
        chosen = st.multiselect("Category", categories)
    submitted = st.form_submit_button("Search", type="primary")

if st.button("Clear chat", disabled=not chat):
    chat.clear()
    st.rerun()

for turn in chat:
    with st.chat_message(turn["role"]):
        st.markdown(for_display(turn["content"]))


def read_upload() -> object | None:
    return query_image(upload) if upload is not None else None


def results_table(result) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Source": hit.source,
                "Product ID": hit.product_id,
                "Name": hit.name,
                "Rating": hit.rating,
                "Price": format_price(hit.price, hit.currency),
                "Score": round(hit.score, 4),
            }
            for hit in result.hits
        ],
        columns=["Source", "Product ID", "Name", "Rating", "Price", "Score"],
    )


map_selection = st.session_state.get("map_selection") or []
if map_selection:
    note, clear = st.columns([5, 1])
    note.info(f"Searching within {len(map_selection)} product(s) selected on the embedding map.")
    if clear.button("Clear selection"):
        st.session_state["map_selection"] = []
        st.rerun()

if submitted:
    filters = Filters(
        min_price=price[0] if price[0] > 0 else None,
        max_price=price[1] if price[1] < max(top_price, 1.0) else None,
        min_rating=min_rating or None,
        min_rating_count=int(min_count) or None,
        categories=tuple(chosen),
        product_ids=tuple(map_selection),
    )
    history = list(chat)
    try:
        image = read_upload()
        query = retrieval_query(question, history) if question.strip() else ""
        with st.spinner("Searching…"):
            result = search(lens, catalog, query, image, k, filters, hybrid)
    except (QueryError, ModelUnavailable) as exc:
        st.error(str(exc))
        st.stop()

    for note in result.notes:
        st.warning(note)
    st.subheader("Results")
    st.dataframe(results_table(result), hide_index=True, width="stretch")

    if result.image_hits:
        st.subheader("Image matches")
        columns = st.columns(min(len(result.image_hits), 5))
        for index, hit in enumerate(result.image_hits):
            with columns[index % len(columns)]:
                if hit.image_status == "ok" and hit.image_path:
                    st.image(hit.image_path, width="stretch")
                st.caption(f"#{hit.product_id} · {hit.name[:60]}")

    answer: Answer | None = None
    if ask_llm and result.query:
        final: list[Answer] = []

        def chunks():
            for item in stream_answer(
                result.query, result, llm_config(lens.settings), history, brands
            ):
                if isinstance(item, Answer):
                    final.append(item)
                else:
                    yield for_display(item)

        started = time.perf_counter()
        with st.chat_message("user"):
            st.markdown(for_display(question))
        with st.chat_message("assistant"):
            st.write_stream(chunks())
            answer = final[-1]
            if answer.grounded_fallback:
                st.caption(f"Grounded answer composed from the results ({answer.error}).")
            if answer.invalid_ids:
                st.warning(
                    f"The answer cites product ids that were not retrieved: {answer.invalid_ids}"
                )
        result.timings_ms["llm"] = (time.perf_counter() - started) * 1000
        chat += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]

    st.caption(" · ".join(f"{name} {ms:.0f} ms" for name, ms in result.timings_ms.items()))
