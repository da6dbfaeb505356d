"""ProductLens entry point: routes the pages and draws the shared sidebar."""

from __future__ import annotations

import streamlit as st

from core.analysis.projection import compile_kernels
from core.lens import Lens, get_lens
from core.memory import release_freed_memory
from core.models.sources import ModelUnavailable
from core.store.schema import VectorKey
from pages.common import app_settings, store_faults_shown

st.set_page_config(page_title="ProductLens", page_icon=":material/search:", layout="wide")
# On a narrow window a 220 px sidebar instead of 300 (at 800 px the page keeps 580).
# set_page_config(initial_sidebar_state=<width>) is sent but not applied by this
# Streamlit's front end (measured: still 300 px), so a style does it.
st.html(
    "<style>@media (max-width: 1000px) { section[data-testid='stSidebar'] "
    "{ width: 220px !important; min-width: 220px !important; } }</style>"
)

PAGES = [
    st.Page("pages/search.py", title="Search & Chat", icon=":material/search:", default=True),
    st.Page("pages/catalog.py", title="Catalog", icon=":material/inventory_2:"),
    st.Page("pages/compare.py", title="Model comparison", icon=":material/compare:"),
    st.Page("pages/embedding_map.py", title="Embedding map", icon=":material/scatter_plot:"),
    st.Page("pages/data_issues.py", title="Data issues", icon=":material/rule:"),
]

# What a model's status means to someone choosing whether to trust image results.
_PLAIN_STATUS = {
    "pretrained": ":green[pretrained model]",
    "local": ":blue[model on this machine]",
    "offline-fallback": ":orange[offline model] (the pretrained one is out of reach)",
    "untrained": ":red[untrained model]: results are noise",
}


def sidebar(lens: Lens) -> None:
    store = lens.store
    with st.sidebar:
        st.header("ProductLens")
        for page in PAGES:  # below the heading, not above it
            st.page_link(page)
        st.divider()
        catalogs = store.catalogs.names()  # after the links: they stay when the store fails
        if not catalogs:
            st.warning("No catalog yet. Run `productlens ingest data/sample`.")
            return
        default = store.catalogs.default(lens.settings.catalog)
        current = st.session_state.get("catalog")
        index = catalogs.index(current) if current in catalogs else catalogs.index(default)
        st.selectbox("Catalog", catalogs, index=index, key="catalog")
        st.metric("Products", f"{store.products.count(st.session_state['catalog']):,}")
        sources = []
        for role, resolver in (("Image search", "clip_source"), ("Text search", "text_source")):
            try:
                source = getattr(lens, resolver)
            except ModelUnavailable as exc:
                st.error(f"{role}: no model ({exc})")
                continue
            st.caption(f"**{role}:** {_PLAIN_STATUS.get(source.status, source.status)}")
            sources.append((role, source))
        with st.expander("Model details"):
            for role, source in sources:
                st.caption(f"**{role}:** `{source.key}` ({source.status}): {source.detail}")
            index_badges(store)


def index_badges(store) -> None:
    """Measured recall next to latency for every table searched through an ANN index."""
    for table, health in sorted(store.index_health.all().items()):
        recall = health.get("recall@10")
        if recall is None:
            continue
        colour = "green" if recall >= 0.95 else "orange" if recall >= 0.9 else "red"
        st.caption(
            f"**ANN index** `{VectorKey.parse(table)}`: :{colour}[recall@10 "
            f"{recall:.3f}] · p50 {health.get('p50_ms', 0):.0f} ms · {health.get('rows', 0):,} rows"
        )


page = st.navigation(PAGES, position="hidden")
lens = get_lens(app_settings())
with store_faults_shown(lens):  # the store may be remote, and down: one line, no traceback
    sidebar(lens)
    # The encoders load in the background while the person reads the page (a page may
    # stop its script early, so this starts first, after a short delay).
    # Then the open catalog's search facts and UMAP's kernels (for a first new map).
    lens.warm_up(compile_kernels, catalog=st.session_state.get("catalog"))
    try:
        page.run()
    finally:  # a run's freed buffers (figures, Arrow reads) back to the OS: ~5 ms at 1M
        release_freed_memory()
