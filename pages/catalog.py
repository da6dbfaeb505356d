"""Catalog: browse, sort, chart and export the products of the current catalog.

Filtering, sorting and paging run inside LanceDB over the whole catalog (see
core/store/browse.py); only the page on screen and the summary's few columns load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.catalog.images import FAILED, MISSING, OK
from core.catalog.parse import CURRENCY_SIGNS, format_price
from core.memory import release_freed_memory
from core.store.browse import (
    SORT_COLUMNS,
    SUMMARY_COLUMNS,
    CatalogFilter,
    SortOrder,
    catalog_page,
    export_file,
    summary_frame,
)
from pages.common import CHART_CONFIG, category_of, open_page, prices_of, thumbnail

PAGE_SIZE = 50
TOP_CATEGORIES = 15
PAGE_COLUMNS = [
    "product_id", "name", "main_category", "sub_category", "rating", "rating_count",
    "price", "actual_price", "discount_pct", "currency", "image_url",
    "image_path", "image_status",
]  # fmt: skip

lens, catalog = open_page("Catalog")
products = lens.store.products


@st.cache_resource(show_spinner=False, max_entries=4)
def overview(db: str, name: str, version: int) -> pd.DataFrame:
    """The unfiltered summary columns, shared read-only by every session: cache_data
    would hand each rerun its own copy (a million rows: seconds per click)."""
    rows = products.where(name, None, [*SUMMARY_COLUMNS, "currency", "image_status"]).to_pandas()
    release_freed_memory()  # LanceDB's read buffers
    return rows


@dataclass(frozen=True)
class Choices:
    """What the filters offer, worked out once per catalog version, not on every rerun."""

    categories: list[str]
    image_statuses: list[str]
    top_price: float
    currency: str
    unpriced: int


@st.cache_resource(show_spinner=False, max_entries=4)
def choices(db: str, name: str, version: int) -> Choices:
    rows = overview(db, name, version)
    named = pd.concat([rows["sub_category"], rows["main_category"]]).dropna().unique()
    statuses = set(rows["image_status"].dropna().unique())
    prices = rows["price"].dropna()
    currency = rows["currency"].dropna()
    return Choices(
        categories=sorted(set(named) - {""}),
        image_statuses=[s for s in (OK, MISSING, FAILED) if s in statuses],
        top_price=float(math.ceil(prices.max())) if len(prices) else 1.0,
        currency=str(currency.iloc[0]) if len(currency) else "",
        unpriced=len(rows) - len(prices),
    )


version = products.version()
whole = overview(lens.store.location, catalog, version)
offered = choices(lens.store.location, catalog, version)
currency = offered.currency
sign = CURRENCY_SIGNS.get(currency, "")


def one_choice_or_filter(column, label: str, options: list[str], key: str) -> list[str]:
    """A multiselect of `options`; with fewer than two, a line saying what they all are."""
    if len(options) > 1:
        return column.multiselect(label, options, key=key)
    column.caption(f"**{label}:** {options[0] if options else 'none'} (every product)")
    return []


# Widgets are keyed by catalog: a filter set on one catalog does not follow you to the next.
with st.expander("Filters", expanded=True):
    left, middle, right = st.columns(3)
    text = left.text_input("Name contains", max_chars=200, key=f"name-{catalog}")
    # A filter with one choice filters nothing: it is said, not offered.
    categories = one_choice_or_filter(
        middle, "Category", offered.categories, f"categories-{catalog}"
    )
    statuses = one_choice_or_filter(
        right, "Image status", offered.image_statuses, f"status-{catalog}"
    )
    top = offered.top_price
    price_range = left.slider(
        f"Price ({currency})" if currency else "Price", 0.0, max(top, 1.0),
        (0.0, max(top, 1.0)), key=f"price-{catalog}", format=f"{sign}%d",
    )  # fmt: skip
    min_rating = middle.slider("Minimum rating", 0.0, 5.0, 0.0, 0.5, key=f"rating-{catalog}")

full_range = price_range == (0.0, max(top, 1.0))
chosen = CatalogFilter(
    text=text,
    categories=tuple(categories),
    price_range=None if full_range else price_range,
    min_rating=min_rating,
    image_status=tuple(statuses),
)
matching = products.count(catalog, chosen.where())
st.caption(
    f"**{matching:,}** of {len(whole):,} products in **{catalog}** match."
    if matching != len(whole)
    else f"**{len(whole):,}** products in **{catalog}**."
)
unpriced = offered.unpriced
if chosen.price_range is not None and unpriced:
    st.caption(f"{unpriced:,} product(s) without a price are outside any price range.")


def how_it_was_read(record) -> None:
    """The ingest report, when the file needed more than a plain UTF-8 read: rows
    rejected per reason, missing columns, values that could not be read."""
    reading = record.report if record else {}
    rejected, problems = record.rejected if record else 0, reading.get("unreadable_values", 0)
    missing = reading.get("missing_columns") or []
    encoding = str(reading.get("encoding", "utf-8"))
    if not (rejected or problems or not encoding.startswith("utf-8")):
        # Columns a file does not have (the sample has no rating counts) are not a fault.
        if missing:
            columns = " or ".join(f"`{m}`" for m in missing)
            st.caption(f"This file has no {columns} column, so those values are empty.")
        return
    title = (
        f"How the file was read: {rejected:,} row(s) rejected, {problems:,} value(s) "
        f"unreadable" + (f", {len(missing)} column(s) not in the file" if missing else "")
    )
    with st.expander(title):
        st.caption(f"`{record.source}` · read as **{encoding}** · {record.rows_read:,} rows")
        for why, count in (reading.get("rejected_by_reason") or {}).items():
            st.markdown(f"- {count:,} row(s) rejected: {why}")
        if missing:
            st.markdown(f"- Missing column(s), left empty: {', '.join(missing)}")
        if reading.get("ignored_columns"):
            st.markdown(f"- Column(s) not used: {', '.join(reading['ignored_columns'])}")
        if problems:
            by_column = reading.get("unreadable_values_by_column") or {}
            counts = ", ".join(f"{n:,} in {column}" for column, n in by_column.items())
            st.markdown(f"- {problems:,} value(s) could not be read, left empty ({counts}):")
            examples = pd.DataFrame(reading.get("unreadable_value_examples") or [])
            st.dataframe(examples, hide_index=True, width="stretch")


how_it_was_read(lens.store.catalogs.get(catalog))

# Only the open tab is drawn: the charts cost nothing while someone pages through products.
listing, summary = st.tabs(["Products", "Summary charts"], key="catalog-tab", on_change="rerun")


def products_tab() -> None:
    pages = max(1, math.ceil(matching / PAGE_SIZE))
    # Fixed widths in a row that wraps: nothing is cut off on a narrow window.
    controls = st.container(horizontal=True, vertical_alignment="bottom")
    by = controls.selectbox("Sort by", list(SORT_COLUMNS), key=f"sort-{catalog}", width=200)
    descending = controls.segmented_control(
        "Order", ["Ascending", "Descending"], default="Ascending", key=f"order-{catalog}"
    )
    page = controls.number_input(
        f"Page (of {pages:,})", 1, pages, 1, width=130,
        key=f"page-{catalog}-{hash((chosen, by, descending))}",
    )  # fmt: skip
    order = SortOrder(by, ascending=descending != "Descending")
    window = catalog_page(products, catalog, chosen, order, page, PAGE_SIZE, PAGE_COLUMNS)
    rows = window.to_pandas()

    def image_cell(path: str, status: str, url: str) -> str | None:
        """A thumbnail for local images; remote URLs are left to the browser."""
        if status == OK and path:
            return thumbnail(path)
        return url if str(url).startswith("http") else None

    rows["image"] = [
        image_cell(*cells)
        for cells in zip(rows["image_path"], rows["image_status"], rows["image_url"], strict=True)
    ]
    rows["price"] = prices_of(rows, "price", missing="–")
    rows["list price"] = prices_of(rows, "actual_price", missing="–")
    # An empty cell says what it means ("not rated", "–"), never "None".
    rows["rating"] = [f"{r:.1f}★" if pd.notna(r) else "not rated" for r in rows["rating"]]
    rows["rating_count"] = [f"{int(n):,}" if pd.notna(n) else "–" for n in rows["rating_count"]]
    rows["discount_pct"] = [f"{d:.0f}%" if pd.notna(d) else "–" for d in rows["discount_pct"]]
    # What a shopper reads first on the left, so a narrow window still shows it.
    shown = ["image", "name", "price", "rating", "rating_count", "discount_pct", "list price",
             "sub_category", "image_status", "product_id"]  # fmt: skip
    if rows["image"].isna().all():  # no product here has a photo or a photo link to show
        shown.remove("image")
    st.dataframe(
        rows[shown],
        hide_index=True,
        width="stretch",
        row_height=64,
        column_config={
            "image": st.column_config.ImageColumn("Image", width="small"),
            "product_id": st.column_config.NumberColumn("Product ID", format="%d"),
            "name": st.column_config.TextColumn("Name", width="medium"),
            "rating": "Rating",
            "rating_count": "Ratings",
            "price": "Price",
            "list price": "List price",
            "discount_pct": "Discount",
            "sub_category": "Category",
            "image_status": "Image status",
        },
    )  # fmt: skip
    first = (page - 1) * PAGE_SIZE + 1 if matching else 0
    st.caption(
        f"Products {first:,}–{first + len(rows) - 1:,} of {matching:,}, sorted by "
        f"{by.lower()} ({'high to low' if not order.ascending else 'low to high'}) over all "
        "of them. Export takes every matching product, not only this page."
    )
    buttons = st.container(horizontal=True)
    stem = f"{catalog}-products"
    buttons.download_button(
        f"Download {matching:,} as CSV",
        lambda: export_file(products, catalog, chosen, order, "csv"),
        file_name=f"{stem}.csv", mime="text/csv", on_click="ignore",
        icon=":material/download:", disabled=not matching,
    )  # fmt: skip
    buttons.download_button(
        f"Download {matching:,} as Parquet",
        lambda: export_file(products, catalog, chosen, order, "parquet"),
        file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet",
        on_click="ignore", icon=":material/download:", disabled=not matching,
    )  # fmt: skip


def binned_bars(values: np.ndarray, bins: int, height: int):
    """A histogram binned here, so the browser gets `bins` bars, not every product's value
    (a million ratings would be megabytes of chart data)."""
    counts, edges = np.histogram(values, bins=bins) if len(values) else (np.zeros(1), [0, 1])
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    chart = go.Figure(go.Bar(x=centres, y=counts, width=widths,
                             hovertemplate="%{y:,} products<extra></extra>"))  # fmt: skip
    chart.update_layout(height=height, bargap=0.02, showlegend=False, yaxis_title="products",
                        margin={"t": 30})  # fmt: skip
    return chart


def price_histogram(prices: pd.Series, currency: str):
    """Prices on a log axis (₹99 and ₹1,49,900 in one catalog), ticked in the currency."""
    logs = np.log10(prices.to_numpy(dtype=float))
    chart = binned_bars(logs, 40, 420)
    low, high = (logs.min(), logs.max()) if len(logs) else (0.0, 1.0)
    ticks = [m * 10**e for e in range(int(low), int(high) + 2) for m in (1, 2, 5)]
    ticks = [t for t in ticks if 10**low / 2 <= t <= 10**high * 2]
    chart.update_xaxes(
        tickvals=np.log10(ticks), ticktext=[format_price(t, currency) for t in ticks],
        title=f"price ({currency}, log scale)" if currency else "price (log scale)",
    )  # fmt: skip
    return chart


def summary_tab() -> None:
    shown = summary_frame(products, catalog, chosen) if matching != len(whole) else whole
    if shown.empty:
        st.info("No products match the filters.")
    else:
        top_left, top_right = st.columns(2)
        counts = category_of(shown).fillna("(none)").value_counts()
        top_left.markdown("**Products by category**")
        if len(counts) == 1:  # the Kaggle file: every product is in "All Electronics"
            top_left.caption(f"All {len(shown):,} products are in one category: {counts.index[0]}.")
        else:
            if len(counts) > TOP_CATEGORIES:
                tail = counts.iloc[TOP_CATEGORIES:].sum()
                counts = pd.concat([counts.iloc[:TOP_CATEGORIES], pd.Series({"(other)": tail})])
            bars = px.bar(
                x=counts.to_numpy(), y=counts.index, orientation="h",
                labels={"x": "products", "y": ""}, height=420,
            )  # fmt: skip
            bars.update_layout(yaxis={"autorange": "reversed"}, margin={"t": 30})
            top_left.plotly_chart(bars, width="stretch", config=CHART_CONFIG)

        prices = shown["price"].dropna()
        top_right.markdown(f"**Price distribution** ({len(prices):,} with a price)")
        price_chart = price_histogram(prices[prices > 0], currency)
        top_right.plotly_chart(price_chart, width="stretch", config=CHART_CONFIG)

        low_left, low_right = st.columns(2)
        ratings = shown["rating"].dropna()
        rating_chart = binned_bars(ratings.to_numpy(dtype=float), 20, 380)
        rating_chart.update_xaxes(title="rating")
        low_left.markdown(f"**Rating distribution** ({len(ratings):,} rated)")
        low_left.plotly_chart(rating_chart, width="stretch", config=CHART_CONFIG)

        both = shown.dropna(subset=["rating", "discount_pct"])
        scatter = density_heatmap(both["discount_pct"], both["rating"])
        low_right.markdown(
            f"**Discount vs rating** ({len(both):,} products: {relation(both)})"
            if len(both) > 2
            else "**Discount vs rating**"
        )
        low_right.plotly_chart(scatter, width="stretch", config=CHART_CONFIG)


def density_heatmap(discount: pd.Series, rating: pd.Series):
    """Discount against rating as counts in a 20 × 16 grid, binned here."""
    counts, x_edges, y_edges = np.histogram2d(
        discount.to_numpy(dtype=float), rating.to_numpy(dtype=float), bins=(20, 16)
    )
    chart = go.Figure(go.Heatmap(
        z=counts.T, x=(x_edges[:-1] + x_edges[1:]) / 2, y=(y_edges[:-1] + y_edges[1:]) / 2,
        colorscale="Blues", colorbar={"title": "products"},
        hovertemplate="discount %{x:.0f}%, rating %{y:.1f}: %{z:,} products<extra></extra>",
    ))  # fmt: skip
    chart.update_layout(height=380, margin={"t": 30}, xaxis_title="discount (%)",
                        yaxis_title="rating")  # fmt: skip
    return chart


def relation(both: pd.DataFrame) -> str:
    """How discount and rating move together, in words (a rank correlation underneath)."""
    rho = both["discount_pct"].corr(both["rating"], method="spearman")
    if rho != rho:
        return "no variation to compare"
    size = abs(rho)
    strength = ("no clear" if size < 0.1 else "a weak" if size < 0.3
                else "a moderate" if size < 0.5 else "a strong")  # fmt: skip
    if size < 0.1:
        return f"{strength} relation, rank correlation {rho:.2f}"
    direction = "better" if rho > 0 else "worse"
    return (
        f"{strength} tendency: bigger discounts, {direction} ratings (rank correlation {rho:.2f})"
    )


with listing:
    if listing.open:
        products_tab()
with summary:
    if summary.open:
        summary_tab()
