"""The few Streamlit helpers every page shares (settings with secrets, the current catalog)."""

from __future__ import annotations

from core.config import Settings, load_settings
from core.service import Lens, get_lens


def app_settings() -> Settings:
    """Settings from `.streamlit/secrets.toml` overlaid by the environment."""
    import streamlit as st

    try:
        secrets = dict(st.secrets)
    except Exception:  # no secrets.toml is the normal case
        secrets = {}
    return load_settings(secrets=secrets)


def open_page(title: str) -> tuple[Lens, str]:
    """Title the page and return the Lens and current catalog, or stop with a hint."""
    import streamlit as st

    lens = get_lens(app_settings())
    catalog = st.session_state.get("catalog") or lens.store.default_catalog(lens.settings.catalog)
    st.title(title)
    if not catalog:
        st.info("No catalog yet. Ingest one with `productlens ingest data/sample`.")
        st.stop()
    return lens, catalog


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
