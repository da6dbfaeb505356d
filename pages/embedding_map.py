"""Embedding map: UMAP of the image or text embedding space, linked to the products.

The page opens on the default map computed when the vectors were embedded
(`productlens embed`), so the first visit reads a file. UMAP settings apply only when
"Apply" is pressed: a map not computed before takes about a minute for 10k points.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.clusters import map_regions
from core.analysis.labels import ANALYSIS_CLASSES, VOCABULARY, stored_labels
from core.analysis.model_choices import clip_spec_for_key
from core.analysis.projection import (
    MapParams,
    catalog_projection,
    is_cached,
    modality_gap,
    modality_projection,
)
from core.catalog.images import OK
from core.catalog.parse import format_price
from core.memory import release_freed_memory
from core.store.schema import VectorKey
from pages.common import (
    CHART_CONFIG,
    category_of,
    open_page,
    plotly_selected_ids,
    prices_of,
    thumbnail,
)
from pages.map_density import (
    Extent,
    density_image,
    drawn_rows,
    is_large,
    large_selection,
    png_data_uri,
    subset,
)
from pages.map_figure import (
    RINGS_UP_TO,
    MapPoints,
    colour_of,
    loading_figure,
    map_figure,
    map_title,
    price_bands,
)
from pages.map_hover import HoverPhotos, show_hover_photos

MAX_LISTED = 200
NEIGHBOURS = 8
DEFAULT = MapParams()


lens, catalog = open_page("Embedding map")
settings = lens.settings
# Points drawn as WebGL markers, each with its hover. A larger 2-D map is drawn as a
# picture of every point (pages/map_density.py) under a seeded sample of this many markers
# (plus every found or selected one); box and lasso select among all points, and a box
# can be zoomed into (the picture and the sample are redrawn for it).
MAX_DRAWN = settings.map_markers
store = lens.store
CACHE = settings.map_cache_dir


# What the map shows of every point: read whole on a first open.
MAP_COLUMNS = ["product_id", "name", "main_category", "sub_category", "rating", "price",
               "currency"]  # fmt: skip
# What hover photos, the product card and the lists show: read by id, or in the background
# (at a million products these four columns took 1.2-1.9 s of the first open).
PHOTO_COLUMNS = ["product_id", "image_status", "image_path", "image_url", "link"]


@st.cache_resource(show_spinner=False, max_entries=4)
def products(db: str, name: str, version: int) -> pd.DataFrame:
    """The catalog's products by id, shared read-only by every session (no per-run copy),
    in stored order (rows are looked up by id). What a point's hover shows is formatted
    per figure for the drawn points only: at a million products, formatting every price
    took longer than drawing the map."""
    rows = lens.catalog_frame(name, MAP_COLUMNS, in_id_order=False)
    release_freed_memory()  # LanceDB's read buffers
    return rows.set_index("product_id", drop=False)


COLOUR_COLUMNS = ["main_category", "sub_category", "price", "currency", "rating"]


@st.cache_resource(show_spinner=False, max_entries=4)
def in_map_order(db: str, name: str, version: int, map_key: str, _ids: list[int]):
    """What the points are coloured by, in one map's point order, made once per map (a
    few short columns): reindexing a million rows took 0.6 s of each colour switch."""
    return products(db, name, version)[COLOUR_COLUMNS].reindex(_ids)


@st.cache_resource(show_spinner=False, max_entries=4)
def hover_photos(db: str, name: str, version: int) -> HoverPhotos:
    """Thumbnails for the map's hover, made in the background once per catalog version
    (the photo columns are read there too)."""

    def photos() -> tuple[list[tuple[int, str]], str]:
        # Only the rows with a photo, and one web URL: most of a million rows have neither.
        with_photo = f"image_status = '{OK}' AND image_path IS NOT NULL AND image_path != ''"
        local = store.products.where(name, with_photo, ["product_id", "image_path"])
        web = store.products.first(name, "image_url LIKE 'http%'", ["image_url"])
        pairs = zip(local["product_id"].to_pylist(), local["image_path"].to_pylist(), strict=True)
        return list(pairs), web["image_url"] if web else ""

    return HoverPhotos(read=photos)


def photo_rows(ids: list[int]) -> pd.DataFrame:
    """PHOTO_COLUMNS of the products `ids`, in that order (a missing one: a row of NaN)."""
    clause = f"product_id IN ({', '.join(str(int(i)) for i in ids)})" if ids else "false"
    rows = store.products.where(catalog, clause, PHOTO_COLUMNS).to_pandas()
    return rows.set_index("product_id", drop=False).reindex(ids)


tables = store.vectors.indexes(catalog)  # VectorKey → rows
if not tables:
    st.info("No embeddings for this catalog yet: run `productlens embed`.")
    st.stop()

version = lens.store.products.version()
frame = products(store.location, catalog, version)
photos = hover_photos(store.location, catalog, version)  # made in the background
labellers = [lab for lab, _, _ in store.labels.labellers(catalog)]
# The UMAP settings in force. The form below changes them only when Apply is pressed, so
# nudging a slider never starts a minute of UMAP by accident.
applied_key = f"map-applied-{catalog}"
applied: dict = st.session_state.setdefault(
    applied_key,
    {"n_neighbors": DEFAULT.n_neighbors, "min_dist": DEFAULT.min_dist, "3d": False, "gap": False},
)

# What to draw and how to colour it stay in view; the rest folds away so the map itself
# starts above the fold.
c1, c2 = st.columns(2)
table = c1.selectbox(
    "Embedding", list(tables), format_func=lambda t: f"{map_title(t)} ({tables[t]:,})"
)
kind, model_key = table.kind, table.model_key
gap = kind == "image" and applied["gap"]
# A catalog with one category (the 9,600 Kaggle file) is coloured by map region first.
colour_options = ["sub-category", "map region", "price band", "rating"]
if category_of(frame).nunique() < 2:
    colour_options[:2] = ["map region", "sub-category"]
colour_options += [f"label: {lab}" for lab in labellers]
colour_options += [f"issues: {lab}" for lab in labellers if lab != "human"]
if kind == "image":
    colour_options.append("predicted class")
colour_by = c2.selectbox("Colour by", colour_options, disabled=gap)
if gap:
    c2.caption("Coloured by photo vs name while the modality-gap view is on.")
with st.expander("More map settings: side by side, region labels, UMAP"):
    c3 = st.container()
    same_kind = [t for t in tables if t.kind == kind and t != table]
    other = c3.selectbox(
        "Side by side with",
        ["(none)", *same_kind],
        format_func=lambda t: t if t == "(none)" else map_title(t),
        disabled=not same_kind,
        help=None if same_kind else (
            f"Another {kind} index of this catalog would appear here: embed it with a second "
            "model (e.g. a fine-tuned run) to compare the two maps."
        ),
    )  # fmt: skip
    if not same_kind:
        c3.caption(f"No other {kind} index of this catalog to set beside it.")
    show_clusters = c3.toggle(
        "Region labels",
        value=True,
        help="Names regions of the map (k-means on the map) by the words their product "
        "names share more than the rest of the catalog does.",
    )
    with st.form(f"umap-{catalog}", border=False):
        c4, c5 = st.columns(2)
        n_neighbors = c4.slider("UMAP neighbours", 5, 100, applied["n_neighbors"])
        min_dist = c5.slider("UMAP min distance", 0.0, 0.99, applied["min_dist"], 0.01)
        toggles = st.container(horizontal=True, gap="medium")  # wraps on a narrow window
        three_d = toggles.toggle("3-D", value=applied["3d"])
        wants_gap = toggles.toggle(
            "Images + names (modality gap)",
            value=applied["gap"],
            disabled=kind != "image",
            help="Maps product photos and product names together; points are coloured by "
            "which of the two they are, so 'Colour by' does not apply.",
        )
        if st.form_submit_button("Apply map settings"):
            st.session_state[applied_key] = {
                "n_neighbors": n_neighbors, "min_dist": min_dist, "3d": three_d, "gap": wants_gap
            }  # fmt: skip
            st.rerun()  # redraw the controls above (Colour by) for the new settings
    params = MapParams(
        n_components=3 if applied["3d"] else 2,
        n_neighbors=applied["n_neighbors"],
        min_dist=applied["min_dist"],
    )
    st.caption(
        "Settings apply when you press Apply. A map computed before opens at once; a new "
        f"one runs UMAP over {tables[table]:,} points"
        + (" (about a minute at this size)." if tables[table] > 3000 else " (a few seconds).")
    )


def load_clip_for(key: str):
    from core.models.clip import load_clip

    spec = clip_spec_for_key(settings, key)
    return load_clip(settings.with_overrides(clip_model=spec)) if spec else None


@st.cache_data(show_spinner="Classifying the images…", max_entries=4)
def predicted_classes(key: str, catalog: str, fingerprint: str | None) -> dict[int, str]:
    """Zero-shot class of every image vector (cached per vector set: a colour switch back
    to it is instant)."""
    from core.models.zeroshot import classify

    clip = load_clip_for(key)
    if clip is None:
        return {}
    got, vectors = store.vectors.load("image", key, catalog)
    labels, _ = classify(clip.model, clip.tokenizer, vectors, list(ANALYSIS_CLASSES))
    return dict(zip(got, labels, strict=True))


def rows_of(columns: list[str], ids: list[int]) -> pd.DataFrame:
    """`columns` of the products `ids`, in that order."""
    return frame[columns].reindex(ids)


COLOURS_FROM_COLUMNS = ("sub-category", "price band", "rating")


def colour_from_columns(rows: pd.DataFrame, colour: str) -> pd.Series:
    """A colour read off the catalog's own columns (one of COLOURS_FROM_COLUMNS)."""
    if colour == "sub-category":
        return category_of(rows).fillna("(none)").astype(str)
    if colour == "price band":
        return price_bands(rows["price"], rows["currency"])
    return rows["rating"]


@st.cache_resource(show_spinner=False, max_entries=8)
def map_colour(db: str, name: str, version: int, map_key: str, colour: str, _ids: list[int]):
    """A colour from the columns in one map's point order, made once per map and colour
    (a switch back to it is free)."""
    return colour_from_columns(in_map_order(db, name, version, map_key, _ids), colour)


def colour_and_picture(coords: np.ndarray, values: pd.Series, extent: Extent):
    """A large map's colour as a category (one legend order for the picture and the sampled
    markers) and its picture of every point in `extent`, as a PNG data URI (made here, once,
    not by plotly on every run)."""
    if not pd.api.types.is_numeric_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    return values, png_data_uri(density_image(coords, values, colour_of(values), extent))


@st.cache_resource(show_spinner=False, max_entries=8)
def map_picture(map_key: str, colour: str, extent: Extent, version: int, _coords, _values):
    """`colour_and_picture`, made once per map, colour and view."""
    return colour_and_picture(_coords, _values, extent)


@st.cache_resource(show_spinner=False, max_entries=8)
def id_array(map_key: str, _ids: list[int]) -> np.ndarray:
    return np.asarray(_ids, dtype=np.int64)


@st.cache_resource(show_spinner=False, max_entries=8)
def whole_extent(map_key: str, _coords: np.ndarray) -> Extent:
    return Extent.around(_coords)


def colours(ids: list[int], key: str, map_key: str | None, regions=None) -> pd.Series:
    """What each of a map's points is coloured by (`map_key`: its cache key, if any)."""
    if map_key and colour_by in COLOURS_FROM_COLUMNS:
        return map_colour(store.location, catalog, version, map_key, colour_by, ids)
    rows = (in_map_order(store.location, catalog, version, map_key, ids) if map_key
            else rows_of(COLOUR_COLUMNS, ids))  # fmt: skip
    if colour_by in COLOURS_FROM_COLUMNS:
        return colour_from_columns(rows, colour_by)
    if colour_by == "map region":
        named = regions.point_labels() if regions is not None else ["(one region)"] * len(ids)
        return pd.Series(named, index=rows.index)
    if colour_by.startswith("label: "):
        truth = stored_labels(store, catalog, colour_by.removeprefix("label: "), VOCABULARY)
        return pd.Series([truth.get(i) or "(none)" for i in ids], index=rows.index)
    if colour_by.startswith("issues: "):
        kinds = issue_kinds(colour_by.removeprefix("issues: "))
        return pd.Series([kinds.get(i, "no issue found") for i in ids], index=rows.index)
    fingerprint = store.vectors.fingerprint("image", key, catalog)
    by_id = predicted_classes(key, catalog, fingerprint)
    if not by_id:
        return pd.Series(["(model not found)"] * len(ids), index=rows.index)
    return pd.Series([by_id.get(i, "(no vector)") for i in ids], index=rows.index)


def issue_kinds(labeller: str) -> dict[int, str]:
    """Each product's data issue under `labeller`'s labels (the Data issues page's,
    stored): a likely label error first, then a near-duplicate, then an outlier."""
    from core.analysis.issue_sources import catalog_issues, catalog_vector_keys
    from core.analysis.labels import vocab_hash

    keys = catalog_vector_keys(store, catalog, lens.text_source.key, lens.clip_source.key)
    issues, _ = catalog_issues(
        store, catalog, labeller, vocab_hash(VOCABULARY), keys,
        lambda texts: lens.text_model().encode(texts),  # loads only to compute
    )  # fmt: skip
    kinds = {int(o.key): "outlier" for o in issues.outliers}
    for pair in issues.duplicates:
        kinds[int(pair.first)] = kinds[int(pair.second)] = "near-duplicate"
    kinds |= {int(i.key): "likely label error" for i in issues.label_issues}
    return kinds


@st.cache_data(show_spinner=False, max_entries=8)
def regions_of(map_key: str, _coords: np.ndarray, _names: list[str]):
    """The map's named regions, computed once per map (keyed by the map's cache key)."""
    return map_regions(_coords, _names)


shown_colour = pd.Series(dtype=str)  # product id → the value it is coloured by, on the left map
drawn: list[tuple[int, str]] = []  # (id, image URL) of every map's markers: their web photos


SIDE_BY_SIDE_PX = 240  # a half-page map to place labels for: ~220 px of plot at 800 px


def figure(
    projection,
    key: str,
    highlighted: list[int],
    index: VectorKey,
    modality: int = 0,
    width_px: int = 1000,
):
    global shown_colour
    ids = projection.ids
    regions = projection.regions
    if regions is None and not modality and (show_clusters or colour_by == "map region"):
        names = frame["name"].reindex(ids).fillna("").tolist()
        regions = regions_of(projection.meta.get("key", index.label), projection.coords, names)
        projection = replace(projection, regions=regions)
    map_key = projection.meta.get("key")  # its cache file's: which points, in which order
    colour, legend = colours(ids, key, map_key, regions), colour_by
    if modality:
        colour = pd.Series(["image"] * modality + ["name (text)"] * (len(ids) - modality))
        legend = "shown as"
    elif index == table:  # the left map's values, for the product card
        shown_colour = colour  # indexed by product id
    background, highlighted_count = None, None
    if is_large(projection, MAX_DRAWN, modality):
        if map_key:  # a million ids as one array, not converted from a list three times a run
            projection = replace(projection, ids=id_array(map_key, projection.ids))
        if map_key and colour_by in COLOURS_FROM_COLUMNS:  # the same map, colour and view
            extent = zoom or whole_extent(map_key, projection.coords)
            colour, picture = map_picture(map_key, colour_by, extent, version,
                                          projection.coords, colour)  # fmt: skip
        else:
            extent = zoom or Extent.around(projection.coords)
            colour, picture = colour_and_picture(projection.coords, colour, extent)
        background = (picture, extent)
        if highlighted:  # the legend counts them all, though only a sample is drawn
            highlighted_count = int(np.isin(np.asarray(projection.ids), highlighted).sum())
        rows = drawn_rows(projection, extent, highlighted, MAX_DRAWN, RINGS_UP_TO)
        projection, colour = subset(projection, rows), colour.iloc[rows]
        ids, regions = projection.ids, projection.regions
    rows = rows_of(["name", "price", "currency"], ids)
    if photos.online:  # web photos for the markers drawn, while their host answers
        drawn.extend(zip(ids, photo_rows(ids)["image_url"].fillna(""), strict=True))
    points = MapPoints(
        coords=projection.coords,
        product_ids=ids,
        names=rows["name"].fillna("").str.slice(0, 90).to_numpy(dtype=str),
        prices=np.asarray(prices_of(rows), dtype=str),
        colour=colour,
        legend=legend,
    )
    ringed = np.isin(np.asarray(ids), highlighted) if highlighted else None
    shown_regions = regions if show_clusters and not modality else None
    return map_figure(points, map_title(index), ringed, shown_regions, width_px=width_px,
                      background=background, highlighted_count=highlighted_count)  # fmt: skip


def progress_bar():
    bar = st.progress(0.0)

    def update(done: int, total: int, phase: str, note: str = "") -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=phase)

    return bar, update


ready = gap or is_cached(store, catalog, kind, model_key, CACHE, params)
bar, update = progress_bar()
try:
    with st.spinner(
        "Reading the map…"
        if ready
        else f"Running UMAP over {tables[table]:,} points (kept on disk for next time)…"
    ):
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
            right_map = catalog_projection(
                store, catalog, kind, other.model_key, CACHE, params,
                left_map if not gap else None, update,
            )  # fmt: skip
except ValueError as exc:
    st.error(str(exc))
    st.stop()
bar.empty()

# Find on the map: the matching products are ringed on the map and listed below it.
find = st.text_input(
    "Find on the map (name contains)", max_chars=200, key=f"map-find-{catalog}",
    placeholder="e.g. keyboard", help="Rings the matching products on the map and lists them.",
)  # fmt: skip
found: list[int] = []
if find.strip():
    mask = frame["name"].str.contains(find.strip(), case=False, regex=False, na=False)
    matches = frame.index[mask].to_numpy()
    found = matches[np.isin(matches, np.asarray(left_map.ids))].astype(int).tolist()
# A new search, or a new click/lasso, replaces the selection; neither is re-applied on
# later reruns (a chart keeps reporting its last selection until it changes).
last_find_key = f"map-find-last-{catalog}"
new_find = find.strip() != st.session_state.get(last_find_key, "")
st.session_state[last_find_key] = find.strip()

zoom_key, box_key = f"map-zoom-{catalog}-{table.label}", f"map-box-{catalog}-{table.label}"
zoom: Extent | None = st.session_state.get(zoom_key)
sampled = (
    f" (every point drawn as a picture; {MAX_DRAWN:,} of them, and the products found or "
    "selected, as markers to hover and click; a box or lasso selects among all points"
    + ("; zoomed into a box" if zoom else "") + ")"
    if is_large(left_map, MAX_DRAWN, images) else ""
)  # fmt: skip
fitted = (
    f" (fitted on {int(left_map.meta['fitted_on']):,} of them, the rest placed by their "
    "nearest)" if left_map.meta.get("fitted_on") else ""
)  # fmt: skip
st.caption(
    f"{len(left_map.ids):,} points{sampled} · UMAP {left_map.seconds:.1f} s{fitted}"
    f"{' (computed earlier, read from disk)' if left_map.cached else ''} · neighbours "
    f"{params.n_neighbors}, min distance {params.min_dist}"
    + (f" · {len(found):,} match “{find.strip()}”" if find.strip() else "")
    + (f" · mean image↔name distance {modality_gap(left_map, images):.2f}" if gap else "")
    + " · hover a point for its photo and name; click it for its nearest neighbours; "
    "lasso or box-select (toolbar) to list several."
)
selected: list[int] = st.session_state.get("map_selected", [])
highlighted = found if find.strip() else selected
selection_modes = ("points", "box", "lasso")
chart = dict(on_select="rerun", selection_mode=selection_modes, width="stretch")
chart_slot = st.empty()
if not st.session_state.get("map-library-started"):
    # A session's first map: its frame at once, so the browser fetches and starts the chart
    # library (4.7 MB of JavaScript, ~1.8 s on 2 cores) while the figure is being built.
    chart_slot.plotly_chart(loading_figure(), config=CHART_CONFIG)
    st.session_state["map-library-started"] = True
with chart_slot.container():
    if right_map is None:
        event = st.plotly_chart(
            figure(left_map, model_key, highlighted, table, images), key="map_left",
            config=CHART_CONFIG, **chart,
        )  # fmt: skip
        picked = plotly_selected_ids(event)
        if is_large(left_map, MAX_DRAWN, images):
            inside, box = large_selection(event, left_map)
            if inside or picked:  # a new selection: the chart forgets it once redrawn
                st.session_state[box_key] = box
            picked = inside or picked
    else:
        col_l, col_r = st.columns(2)
        with col_l:
            event_l = st.plotly_chart(
                figure(left_map, model_key, highlighted, table, images, width_px=SIDE_BY_SIDE_PX),
                key="map_left",
                config=CHART_CONFIG, **chart,
            )  # fmt: skip
        with col_r:
            event_r = st.plotly_chart(
                figure(right_map, other.model_key, highlighted, other, width_px=SIDE_BY_SIDE_PX),
                key="map_right",
                config=CHART_CONFIG, **chart,
            )  # fmt: skip
        picked = plotly_selected_ids(event_l) or plotly_selected_ids(event_r)
        st.caption("The right map starts from the left one's layout and is rotated onto it.")
show_hover_photos(photos.snapshot(drawn))  # thumbnails so far: the rest join on a later rerun
if is_large(left_map, MAX_DRAWN, images) and (st.session_state.get(box_key) or zoom):
    # Callbacks, not a button's True then st.rerun(): the zoom is set before the next run
    # starts, so a zoom costs one run of the page instead of two.
    zooming = st.container(horizontal=True)
    if st.session_state.get(box_key):
        zooming.button("Zoom into the box", on_click=lambda: st.session_state.update(
            {zoom_key: st.session_state.pop(box_key, None)}))  # fmt: skip
    if zoom:
        zooming.button("Whole map", on_click=lambda: st.session_state.pop(zoom_key, None))

new_pick = None
if picked != st.session_state.get("map-event-last", []):
    st.session_state["map-event-last"] = picked
    new_pick = picked or None
if new_find and find.strip():
    new_pick = found
if new_pick is not None and new_pick != selected:
    st.session_state["map_selected"] = new_pick
    st.rerun()


def product_card(product_id: int) -> None:
    """One product: its photo and facts, and its nearest neighbours in this index."""
    row = pd.concat([frame.loc[product_id], photo_rows([product_id]).iloc[0].drop("product_id")])
    photo, facts = st.columns([1, 3])
    if row["image_status"] == OK and row["image_path"]:
        photo.image(row["image_path"], width=180)
        if photo.button("Find products that look like this", key=f"look-like-{product_id}"):
            st.session_state["photo_query"] = {
                "image": Path(row["image_path"]).read_bytes(),
                "name": Path(row["image_path"]).name,
            }
            st.switch_page("pages/search.py")
    else:
        photo.caption("No photo on this machine.")
    facts.markdown(f"**{row['name']}**")
    rating = f"rated {row['rating']:.1f}" if pd.notna(row["rating"]) else "not rated"
    value = shown_colour.get(product_id)
    facts.caption(
        f"Product {product_id} · {format_price(row['price'], row['currency']) or 'no price'} · "
        f"{rating}" + (f" · {colour_by}: {value}" if value is not None else "")
    )
    if row["link"]:
        facts.markdown(f"[Open the listing]({row['link']})")
    index = store.vectors.index(kind, model_key)
    matrix = lens.matrices.get(index, catalog) if index is not None else None
    nearest = matrix.neighbours(product_id, NEIGHBOURS) if matrix is not None else []
    facts.markdown(f"**Nearest neighbours** in the {kind} index (cosine similarity)")
    near = frame.reindex([pid for pid, _ in nearest])
    near_photos = photo_rows([pid for pid, _ in nearest])["image_path"]
    facts.dataframe(
        pd.DataFrame(
            {
                "image": [thumbnail(p) if isinstance(p, str) and p else None
                          for p in near_photos],
                "product_id": near["product_id"].astype(int),
                "name": near["name"],
                "price": prices_of(near, missing="no price"),
                "similarity": [score for _, score in nearest],
            }
        ),
        hide_index=True, width="stretch",
        column_config={
            "image": st.column_config.ImageColumn("Image", width="small"),
            "product_id": st.column_config.NumberColumn("Product ID", format="%d"),
            "name": st.column_config.TextColumn("Name", width="medium"),
            "price": "Price",
            "similarity": st.column_config.ProgressColumn(
                "Similarity", min_value=0.0, max_value=1.0, format="%.2f"
            ),
        },
    )  # fmt: skip


st.subheader(f"Selected products ({len(selected)})")
if not selected:
    st.caption("Click a point, lasso or box-select points, or find by name to list them here.")
    st.stop()
if len(selected) == 1:
    product_card(selected[0])
else:
    rows = frame.reindex(selected[:MAX_LISTED]).dropna(subset=["name"])
    listed_photos = photo_rows(rows.index.tolist())["image_path"]
    listing = pd.DataFrame(
        {
            "image": [thumbnail(p) if isinstance(p, str) and p else None for p in listed_photos],
            "product_id": rows["product_id"].astype(int),
            "name": rows["name"],
            "price": prices_of(rows, missing="no price"),
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
    for chart_key in ("map_left", "map_right", "map-event-last", f"map-find-{catalog}", box_key):
        st.session_state.pop(chart_key, None)  # forget searches and the charts' selections
    st.rerun()
