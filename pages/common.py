"""The few Streamlit helpers the pages share: settings with secrets, the current catalog,
thumbnails, and the ids a plotly selection picked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import streamlit as st

from core.catalog.images import thumbnail_data_uri
from core.catalog.parse import format_price
from core.lens import Lens, get_lens
from core.settings import Settings, load_settings
from core.store import StoreError
from core.store.faults import store_fault

# Plotly's toolbar without its logo; every chart in the app uses this.
CHART_CONFIG = {"displaylogo": False}


def app_settings() -> Settings:
    """Settings from `.streamlit/secrets.toml` overlaid by the environment."""
    try:
        secrets = dict(st.secrets)
    except Exception:  # no secrets.toml is the normal case
        secrets = {}
    return load_settings(secrets=secrets)


@contextmanager
def store_faults_shown(lens: Lens) -> Iterator[None]:
    """A storage failure anywhere in this run ends it with one line on the page instead of
    a traceback. Nothing is remembered: the person's next action reads the store afresh,
    so the app works again as soon as the store does, without a restart."""
    try:
        yield
    except (StoreError, OSError, RuntimeError) as exc:
        fault = store_fault(exc, lens.store.database.location)
        if fault is None and not isinstance(exc, StoreError):
            raise  # not a storage failure: a bug stays visible
        lens.store.database.forget()
        st.error(fault.message if fault else str(exc), icon=":material/cloud_off:")
        st.button("Try again", icon=":material/refresh:", key="store-fault-retry")  # reruns


def open_page(title: str, needs_catalog: bool = True) -> tuple[Lens, str]:
    """Title the page and return the Lens and current catalog (empty when there is none
    and the page can do without), or stop with a hint."""
    lens = get_lens(app_settings())
    catalog = st.session_state.get("catalog") or lens.store.catalogs.default(lens.settings.catalog)
    st.title(title)
    if not catalog and not needs_catalog:
        return lens, ""
    if not catalog:
        st.info("No catalog yet. Ingest one with `productlens ingest data/sample`.")
        st.stop()
    return lens, catalog


def category_of(frame: pd.DataFrame) -> pd.Series:
    """Each product's category as people read it: the sub-category, else the main one."""
    return frame["sub_category"].where(frame["sub_category"] != "", frame["main_category"])


def prices_of(frame: pd.DataFrame, column: str = "price", missing: str = "") -> list[str]:
    """A price column in each product's own currency ("₹10,999"); `missing` where none."""
    return [
        format_price(value, currency) or missing
        for value, currency in zip(frame[column], frame["currency"], strict=True)
    ]


@st.cache_data(max_entries=5000, show_spinner=False)
def thumbnail(path: str) -> str | None:
    """A small inline (data-URI) thumbnail of a local image; None when it cannot be read,
    which a table shows as an empty cell."""
    try:
        return thumbnail_data_uri(path)
    except Exception:
        return None


def plotly_selected_ids(event: object) -> list[int]:
    """Product ids (customdata[0]) of the points in a Streamlit plotly selection event."""
    selection = getattr(event, "selection", None)
    if selection is None and isinstance(event, dict):
        selection = event.get("selection")
    points = (selection or {}).get("points", []) if isinstance(selection, dict) else getattr(
        selection, "points", []
    )  # fmt: skip
    ids = []
    for point in points or []:
        data = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(data, list | tuple) and data:
            data = data[0]
        try:
            ids.append(int(data))
        except (TypeError, ValueError):
            continue
    return list(dict.fromkeys(ids))
