"""Embedding map: UMAP of the image or text embedding space, linked to the products."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.analysis.labels import ANALYSIS_CLASSES, VOCABULARY, stored_labels
from core.analysis.model_choices import clip_spec_for_key
from core.analysis.projection import (
    MapParams,
    catalog_projection,
    modality_gap,
    modality_projection,
)
from core.catalog.parse import format_price
from pages.common import open_page, plotly_selected_ids, thumbnail

lens, catalog = open_page("Embedding map")
settings = lens.settings
store = lens.store
CACHE = settings.image_cache_dir.parent / "projections"
MAX_LISTED = 200


@st.cache_data(show_spinner=False, max_entries=4)
def products(db: str, name: str, version: int) -> pd.DataFrame:
    return lens.catalog_frame(name).set_index("product_id", drop=False)


tables = store.vectors.counts(catalog)  # "image__key" / "text__key" → rows
if not tables:
    st.info("No embeddings for this catalog yet: run `productlens embed`.")
    st.stop()

frame = products(str(store.path), catalog, lens.store.products.version())
labellers = [lab for lab, _, _ in store.labels.labellers(catalog)]

with st.expander("Map settings", expanded=True):
    c1, c2, c3 = st.columns(3)
    table = c1.selectbox(
        "Embedding", list(tables), format_func=lambda t: f"{t.replace('__', ': ')} ({tables[t]:,})"
    )
    kind, model_key = table.split("__", 1)
    colour_options = ["sub-category", "price band", "rating"]
    colour_options += [f"label: {lab}" for lab in labellers]
    if kind == "image":
        colour_options.append("predicted class")
    c4, c5, c6 = st.columns(3)
    n_neighbors = c4.slider("UMAP neighbours", 5, 100, 15)
    min_dist = c5.slider("UMAP min distance", 0.0, 0.99, 0.1, 0.01)
    three_d = c6.toggle("3-D")
    gap = kind == "image" and c6.toggle(
        "Images + names (modality gap)",
        help="Maps product photos and product names together; points are coloured by "
        "which of the two they are, so 'Colour by' does not apply.",
    )
    colour_by = c2.selectbox("Colour by", colour_options, disabled=gap)
    same_kind = [t for t in tables if t.startswith(kind + "__") and t != table]
    other = c3.selectbox(
        "Side by side with",
        ["(none)", *same_kind],
        disabled=not same_kind,
        help=None if same_kind else (
            f"Another {kind} index of this catalog would appear here: embed it with a second "
            "model (e.g. a fine-tuned run) to compare the two maps."
        ),
    )  # fmt: skip
    if not same_kind:
        c3.caption(f"No other {kind} index of this catalog to set beside it.")
    if gap:
        c2.caption("Coloured by photo vs name while the modality-gap view is on.")

params = MapParams(n_components=3 if three_d else 2, n_neighbors=n_neighbors, min_dist=min_dist)


def progress_bar():
    bar = st.progress(0.0)

    def update(done: int, total: int, phase: str, note: str = "") -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=phase)

    return bar, update


def load_clip_for(key: str):
    from core.models.clip import load_clip

    spec = clip_spec_for_key(settings, key)
    return load_clip(settings.with_overrides(clip_model=spec)) if spec else None


def colours(ids: list[int], key: str) -> pd.Series:
    rows = frame.reindex(ids)
    if colour_by == "sub-category":
        values = rows["sub_category"].where(rows["sub_category"] != "", rows["main_category"])
        return values.fillna("(none)").astype(str)
    if colour_by == "price band":
        return price_bands(rows["price"], rows["currency"])
    if colour_by == "rating":
        return rows["rating"]
    if colour_by.startswith("label: "):
        truth = stored_labels(store, catalog, colour_by.removeprefix("label: "), VOCABULARY)
        return pd.Series([truth.get(i) or "(none)" for i in ids], index=rows.index)
    return pd.Series(predicted_classes(ids, key), index=rows.index)


NO_PRICE = "(no price)"


def price_bands(price: pd.Series, currency: pd.Series) -> pd.Series:
    """Quartile bands named in the catalog's currency ("$12 – $25"), as an ordered
    categorical so the legend reads from cheap to dear."""
    if price.notna().sum() < 4:
        return pd.Series(pd.Categorical([NO_PRICE] * len(price)), index=price.index)
    codes, edges = pd.qcut(price, 4, labels=False, retbins=True, duplicates="drop")
    unit = currency.dropna().iloc[0] if currency.notna().any() else ""
    names = [
        f"{format_price(low, unit)} – {format_price(high, unit)}" for low, high in pairwise(edges)
    ]
    bands = codes.map(dict(enumerate(names))).fillna(NO_PRICE)
    return pd.Series(pd.Categorical(bands, [*names, NO_PRICE], ordered=True), index=price.index)


def palette(classes: int) -> list[str]:
    """Plotly's ten colours while they suffice; 26 distinct ones past that, so 22
    categories do not share colours."""
    return px.colors.qualitative.Plotly if classes <= 10 else px.colors.qualitative.Alphabet


def map_title(table: str) -> str:
    """'image__run-…' → 'Image index · run-…': which index a map shows, in words."""
    kind, _, key = table.partition("__")
    return f"{kind.capitalize()} index · {key}" if key else table


def predicted_classes(ids: list[int], key: str) -> list[str]:
    from core.models.zeroshot import classify

    clip = load_clip_for(key)
    if clip is None:
        return ["(model not found)"] * len(ids)
    got, vectors = store.vectors.load("image", key, catalog, ids)
    classes = list(ANALYSIS_CLASSES)
    labels, _ = classify(clip.model, clip.tokenizer, vectors, classes)
    by_id = dict(zip(got, labels, strict=True))
    return [by_id.get(i, "(no vector)") for i in ids]


def figure(projection, key: str, selected: list[int], title: str, modality: int = 0):
    ids = projection.ids
    rows = frame.reindex(ids)
    colour = colours(ids, key)
    data = pd.DataFrame(
        {
            "x": projection.coords[:, 0],
            "y": projection.coords[:, 1],
            "product_id": ids,
            "name": rows["name"].fillna("").str.slice(0, 90).to_numpy(),
            "price": [
                format_price(p, c) for p, c in zip(rows["price"], rows["currency"], strict=True)
            ],
            "colour": colour.to_numpy(),
        }
    )
    legend = colour_by
    if modality:
        data["colour"] = ["image"] * modality + ["name (text)"] * (len(ids) - modality)
        legend = "shown as"
    orders = {}
    if isinstance(colour.dtype, pd.CategoricalDtype) and not modality:
        orders = {"colour": [str(c) for c in colour.cat.categories]}
        data["colour"] = data["colour"].astype(str)
    axes = {"x": "x", "y": "y"}
    # Hover: what the point is and the value it is coloured by, not its UMAP coordinates.
    common = dict(
        color="colour", hover_name="name", custom_data=["product_id"], title=map_title(title),
        hover_data={"price": True, "product_id": True, "colour": True, "x": False, "y": False},
        labels={"colour": legend, "product_id": "product id"}, category_orders=orders,
        color_discrete_sequence=palette(data["colour"].nunique()), height=560,
    )  # fmt: skip
    if params.n_components == 3:
        data["z"] = projection.coords[:, 2]
        common["hover_data"]["z"] = False
        fig = px.scatter_3d(data, **axes, z="z", **common)
        fig.update_traces(marker={"size": 3})
    else:
        fig = px.scatter(data, **axes, render_mode="webgl", **common)
        fig.update_traces(marker={"size": 6, "opacity": 0.8})
    if selected and params.n_components == 2:
        mask = np.isin(np.asarray(ids), selected)
        fig.add_trace(
            go.Scattergl(
                x=projection.coords[mask, 0], y=projection.coords[mask, 1], mode="markers",
                marker={"size": 12, "color": "rgba(0,0,0,0)", "line": {"width": 2}},
                name="selected", hoverinfo="skip",
            )
        )  # fmt: skip
    fig.update_layout(legend={"itemsizing": "constant"}, margin={"t": 40}, dragmode="lasso")
    return fig


selected: list[int] = st.session_state.get("map_selected", [])
bar, update = progress_bar()
try:
    with st.spinner("Computing the map (cached after the first time)…"):
        if gap:
            clip = load_clip_for(model_key)
            if clip is None:
                st.error(f"the CLIP model for {model_key} is not among the known models")
                st.stop()
            left_map, images = modality_projection(store, catalog, clip, CACHE, params, update)
        else:
            left_map = catalog_projection(
                store, catalog, kind, model_key, CACHE, params, None, update
            )
            images = 0
        right_map = None
        if other != "(none)":
            other_key = other.split("__", 1)[1]
            right_map = catalog_projection(
                store,
                catalog,
                kind,
                other_key,
                CACHE,
                params,
                left_map if not gap else None,
                update,
            )
except ValueError as exc:
    st.error(str(exc))
    st.stop()
bar.empty()

st.caption(
    f"{len(left_map.ids):,} points · UMAP {left_map.seconds:.1f} s"
    f"{' (from cache)' if left_map.cached else ''} · neighbours {n_neighbors}, "
    f"min distance {min_dist}"
    + (f" · mean image↔name distance {modality_gap(left_map, images):.2f}" if gap else "")
)
selection_modes = ("points", "box", "lasso")
if right_map is None:
    event = st.plotly_chart(
        figure(left_map, model_key, selected, table, images), key="map_left",
        on_select="rerun", selection_mode=selection_modes, width="stretch",
    )  # fmt: skip
    picked = plotly_selected_ids(event)
else:
    col_l, col_r = st.columns(2)
    with col_l:
        event_l = st.plotly_chart(
            figure(left_map, model_key, selected, table, images), key="map_left",
            on_select="rerun", selection_mode=selection_modes, width="stretch",
        )  # fmt: skip
    with col_r:
        event_r = st.plotly_chart(
            figure(right_map, other.split("__", 1)[1], selected, other), key="map_right",
            on_select="rerun", selection_mode=selection_modes, width="stretch",
        )  # fmt: skip
    picked = plotly_selected_ids(event_l) or plotly_selected_ids(event_r)
    st.caption("The right map starts from the left one's layout and is rotated onto it.")

name_filter = st.text_input("…or select by name (contains)", max_chars=200)
if name_filter.strip():
    mask = frame["name"].str.contains(name_filter.strip(), case=False, regex=False, na=False)
    picked = [int(i) for i in frame.index[mask] if i in set(left_map.ids)]
if picked != selected and (picked or name_filter.strip()):
    st.session_state["map_selected"] = picked
    st.rerun()

st.subheader(f"Selected products ({len(selected)})")
if not selected:
    st.caption("Lasso or box-select points on the map (or filter by name) to list them here.")
    st.stop()
rows = frame.reindex(selected[:MAX_LISTED]).dropna(subset=["name"])
listing = pd.DataFrame(
    {
        "image": [thumbnail(p) if p else None for p in rows["image_path"]],
        "product_id": rows["product_id"].astype(int),
        "name": rows["name"],
        "price": [format_price(p, c) for p, c in zip(rows["price"], rows["currency"], strict=True)],
        "rating": rows["rating"],
    }
)
st.dataframe(
    listing, hide_index=True, width="stretch",
    column_config={"image": st.column_config.ImageColumn(width="small")},
)  # fmt: skip
if len(selected) > MAX_LISTED:
    st.caption(f"Showing the first {MAX_LISTED}.")
left, right = st.columns(2)
if left.button("Ask about these in Search & Chat", type="primary"):
    st.session_state["map_selection"] = list(selected)
    st.switch_page("pages/search.py")
if right.button("Clear selection"):
    st.session_state["map_selected"] = []
    for chart in ("map_left", "map_right"):  # forget the charts' own selections too
        st.session_state.pop(chart, None)
    st.rerun()
