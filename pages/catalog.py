"""Catalog: browse and filter the products of the current catalog."""

from __future__ import annotations

import math

import streamlit as st

from core.catalog.browse import filter_catalog
from core.catalog.parse import format_price
from pages.common import open_page, thumbnail

PAGE_SIZE = 50

lens, catalog = open_page("Catalog")


@st.cache_data(show_spinner="Loading catalog…", max_entries=4)
def load_frame(db: str, name: str, version: int):
    return lens.catalog_frame(name)


frame = load_frame(str(lens.store.path), catalog, lens.store.products.version())
st.caption(f"{len(frame):,} products in **{catalog}**")

with st.expander("Filters", expanded=True):
    left, middle, right = st.columns(3)
    # Keyed by catalog: a filter typed for one catalog does not follow you to the next.
    text = left.text_input("Name contains", max_chars=200, key=f"name-contains-{catalog}")
    categories = middle.multiselect(
        "Category",
        sorted(set(frame["sub_category"].dropna()) | set(frame["main_category"].dropna())),
    )
    statuses = right.multiselect("Image status", ["ok", "missing", "failed"])
    prices = frame["price"].dropna()
    top = float(math.ceil(prices.max())) if len(prices) else 1.0
    price_range = left.slider("Price", 0.0, max(top, 1.0), (0.0, max(top, 1.0)))
    min_rating = middle.slider("Minimum rating", 0.0, 5.0, 0.0, 0.5)

shown = filter_catalog(frame, text, categories, price_range, min_rating, statuses)
pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
page = 1
if pages > 1:
    page_column, _ = st.columns([1, 5])
    page = page_column.number_input(f"Page (of {pages:,})", 1, pages, 1)
window = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].copy()


def image_cell(path: str, status: str, url: str) -> str | None:
    """A thumbnail for local images; remote URLs are left to the browser."""
    if status == "ok" and path:
        return thumbnail(path)
    return url if str(url).startswith("http") else None


window["image"] = [
    image_cell(*cells)
    for cells in zip(window["image_path"], window["image_status"], window["image_url"], strict=True)
]
window["sale price"] = [
    format_price(v, c) for v, c in zip(window["discount_price"], window["currency"], strict=True)
]
sale, full = window["discount_price"], window["actual_price"]
window["discount"] = (100 * (1 - sale / full)).round().where((full > 0) & (sale <= full))
window["list price"] = [
    format_price(v, c) for v, c in zip(window["actual_price"], window["currency"], strict=True)
]

st.dataframe(
    window[
        [
            "image",
            "product_id",
            "name",
            "rating",
            "rating_count",
            "sale price",
            "list price",
            "discount",
            "sub_category",
            "image_status",
        ]
    ],
    hide_index=True,
    width="stretch",
    row_height=64,
    column_config={
        "image": st.column_config.ImageColumn("Image", width="small"),
        "product_id": st.column_config.NumberColumn("Product ID", format="%d"),
        "name": st.column_config.TextColumn("Name", width="large"),
        "rating": st.column_config.NumberColumn("Rating", format="%.1f"),
        "rating_count": st.column_config.NumberColumn("Ratings", format="localized"),
        "sale price": "Sale price",
        "list price": "List price",
        "discount": st.column_config.NumberColumn("Discount", format="%d%%"),
        "sub_category": "Category",
        "image_status": "Image status",
    },
)
st.caption(f"Showing {len(window)} of {len(shown):,} matching products.")
