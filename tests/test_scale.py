"""The scale path's short twin (`python -m bench --only scale` runs it at 100k and 1M): a
synthetic catalog of 20k products from real rows, ingested, its vectors written through
the store so `embed` reuses them all, a map fitted on a sample with the rest placed, and
the Catalog's sort and a search on it."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from bench.scale_catalog import catalog_name, load_into, real_rows, recipe, write_csv
from tests.conftest import KAGGLE_CSV, needs_kaggle

PRODUCTS = 20_000


@pytest.fixture(scope="module")
def scale_store(tmp_path_factory):
    from core.store import Store

    folder = tmp_path_factory.mktemp("scale")
    rows = real_rows((KAGGLE_CSV,))[:400]
    catalog = catalog_name(PRODUCTS)
    path = write_csv(PRODUCTS, folder / f"{catalog}.csv", seed=3, rows=rows)
    store = Store(folder / "db")
    done = load_into(store, catalog, path, PRODUCTS, 3, rows=rows)
    return store, catalog, path, rows, done


@needs_kaggle
def test_the_synthetic_catalog_is_made_of_real_rows_and_says_so(scale_store):
    _, catalog, path, rows, done = scale_store
    assert catalog == "synthetic-20k"
    assert done["ingested"] == PRODUCTS and done["vectors"] == PRODUCTS
    plan = recipe(rows, PRODUCTS, 3)
    made = list(csv.DictReader(path.open(encoding="utf-8")))
    assert len(made) == PRODUCTS
    for i in (0, 1, 7_777, PRODUCTS - 1):
        head = rows[plan.head[i]]["name"].split()
        assert made[i]["name"].split()[: (len(head) + 1) // 2] == head[: (len(head) + 1) // 2]
        assert made[i]["link"] == f"https://example.invalid/synthetic/{i}"
        assert made[i]["ratings"] == rows[plan.rated[i]]["ratings"]
    # seeded: the same seed makes the same file
    again = write_csv(PRODUCTS, path.with_name("again.csv"), seed=3, rows=rows)
    assert again.read_bytes() == path.read_bytes()


@needs_kaggle
def test_embed_reuses_every_written_vector_and_the_map_places_the_rest(
    scale_store, monkeypatch, tmp_path
):
    from core.analysis import projection
    from core.embed import embed_texts
    from core.models.text import load_text_model
    from core.settings import Settings

    store, catalog, *_ = scale_store
    report = embed_texts(store, catalog, load_text_model(Settings()))
    assert (report.computed, report.reused) == (0, PRODUCTS)

    monkeypatch.setattr(projection, "FIT_SAMPLE_ABOVE", 5_000)
    monkeypatch.setattr(projection, "FIT_SAMPLE", 2_000)
    key = load_text_model(Settings()).source.key
    made = projection.catalog_projection(store, catalog, "text", key, tmp_path)
    assert len(made.ids) == PRODUCTS and np.isfinite(made.coords).all()
    # A placed point lies nearer its most similar sampled point than most sampled points.
    ids, vectors = store.vectors.load("text", key, catalog)
    where = {pid: i for i, pid in enumerate(made.ids)}
    coords = made.coords[[where[pid] for pid in ids]]
    rng = np.random.default_rng(0)
    sample = np.sort(np.random.default_rng(projection.MapParams().seed).choice(
        PRODUCTS, 2_000, replace=False))  # fmt: skip
    placed = rng.choice(np.setdiff1d(np.arange(PRODUCTS), sample), 300, replace=False)
    nearest = sample[np.argmax(vectors[placed] @ vectors[sample].T, axis=1)]
    to_nearest = np.linalg.norm(coords[placed] - coords[nearest], axis=1)
    to_sample = np.linalg.norm(coords[placed][:, None] - coords[sample][None], axis=2)
    beaten = (to_sample < to_nearest[:, None]).mean(axis=1)
    assert np.median(beaten) < 0.05, np.median(beaten)


@needs_kaggle
def test_the_catalog_sorts_all_products_and_search_answers(scale_store, monkeypatch):
    from core.lens import get_lens
    from core.retrieval.search import search
    from core.store.browse import CatalogFilter, SortOrder, catalog_page

    store, catalog, *_ = scale_store
    page = catalog_page(store.products, catalog, CatalogFilter(), SortOrder("Price", False), 1, 50)
    every = store.products.where(catalog, columns=["price"]).column("price").to_numpy(
        zero_copy_only=False)  # fmt: skip
    top = np.sort(every[~np.isnan(every)])[::-1][:50]
    assert np.allclose(page.column("price").to_numpy(zero_copy_only=False), top)

    monkeypatch.setenv("PRODUCTLENS_DB", str(store.location))
    found = search(get_lens().searcher(catalog), "usb c charging cable", k=5)
    assert len(found.hits) == 5


@needs_kaggle
def test_a_large_catalogs_facts_are_kept_on_disk_per_version(scale_store, monkeypatch, tmp_path):
    from core.catalog import facts_store
    from core.catalog.facts import build_facts
    from core.catalog.facts_store import stored_facts
    from core.lens import get_lens

    store, catalog, *_ = scale_store
    monkeypatch.setattr(facts_store, "STORED_FROM", 10_000)
    monkeypatch.setenv("PRODUCTLENS_DB", str(store.location))
    frame = get_lens().catalog_frame(catalog)
    builds: list[int] = []

    def build():
        builds.append(1)
        return build_facts(frame)

    version = store.products.version()
    first = stored_facts(tmp_path, store.location, catalog, version, PRODUCTS, build)
    again = stored_facts(tmp_path, store.location, catalog, version, PRODUCTS, build)
    assert len(builds) == 1  # the second came from the file
    assert np.array_equal(again.ids, first.ids) and again.vocabulary == first.vocabulary
    assert again.variants(int(first.ids[0])) == first.variants(int(first.ids[0]))
    stored_facts(tmp_path, store.location, catalog, version + 1, PRODUCTS, build)
    assert len(builds) == 2 and len(list(tmp_path.glob("*.pickle"))) == 1  # older one gone
    (next(tmp_path.glob("*.pickle"))).write_bytes(b"damaged")
    stored_facts(tmp_path, store.location, catalog, version + 1, PRODUCTS, build)
    assert len(builds) == 3  # a damaged file is rebuilt, not trusted
    stored_facts(tmp_path / "small", store.location, catalog, version, 1_000, build)
    assert len(builds) == 4 and not (tmp_path / "small").exists()  # small: memory only


@needs_kaggle
def test_a_map_past_its_marker_budget_shows_every_point_as_a_picture(
    scale_store, monkeypatch, tmp_path
):
    import json

    from streamlit.testing.v1 import AppTest

    from core.analysis import projection
    from core.models.text import load_text_model
    from core.settings import Settings
    from tests.conftest import ROOT

    store, catalog, *_ = scale_store
    for name, value in {
        "PRODUCTLENS_DB": str(store.location),
        "PRODUCTLENS_CATALOG": catalog,
        "PRODUCTLENS_IMAGE_CACHE": str(tmp_path / "images"),
        "PRODUCTLENS_MAP_MARKERS": "3000",
        "PRODUCTLENS_WARM_UP": "0",
    }.items():
        monkeypatch.setenv(name, value)  # fmt: skip
    monkeypatch.setattr(projection, "FIT_SAMPLE_ABOVE", 5_000)
    monkeypatch.setattr(projection, "FIT_SAMPLE", 2_000)
    key = load_text_model(Settings()).source.key
    projection.default_maps(store, catalog, tmp_path / "projections")  # as embed does

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/embedding_map.py").run()
    assert not at.exception, at.exception
    assert any("20,000 points (every point drawn as a picture; 3,000 of them" in c.value
               for c in at.caption)  # fmt: skip
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert spec["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    markers = sum(len(trace.get("hovertext", [])) for trace in spec["data"])
    assert 2_000 < markers <= 3_000  # the sample, not all 20,000
    assert key in at.selectbox[0].value.model_key


def _click_at_a_stored_point(store, catalog: str, tmp_path, markers: int) -> None:
    """The map of a large catalog in Chromium: computed as `embed` does (a fitted sample,
    the rest placed), drawn as a picture under `markers` markers; a click where a drawn
    product's *stored* coordinates fall opens that product's card."""
    from core.analysis import projection
    from tests.browser import (
        _text_on_page,
        chrome,
        click_stored_point,
        open_map,
        running_app,
        zoom_into_a_box,
    )

    env = {
        "PRODUCTLENS_DB": str(store.location),
        "PRODUCTLENS_CATALOG": catalog,
        "PRODUCTLENS_IMAGE_CACHE": str(tmp_path / "images"),
        "PRODUCTLENS_MAP_MARKERS": str(markers),
        "PRODUCTLENS_WARM_UP": "0",
    }  # fmt: skip
    (made,) = projection.default_maps(store, catalog, tmp_path / "projections")  # as embed
    stored = dict(zip(made.ids, map(tuple, np.asarray(made.coords, dtype=float)), strict=True))
    with running_app(env, timeout_s=180) as url:
        driver = chrome(height=1500)
        try:
            open_map(driver, url, timeout_s=300)
            product_id, caption = click_stored_point(driver, stored)
            driver.save_screenshot(str(tmp_path / "clicked.png"))
            zoom_into_a_box(driver)  # waits for the zoomed map; one run, not two
            zoomed = driver.execute_script(f"return {_text_on_page('zoomed into a box')}")
            offered = [b.text for b in driver.find_elements("tag name", "button")]
        finally:
            driver.quit()
    assert caption.startswith(f"Product {product_id} ·"), caption
    assert zoomed and "Whole map" in offered and "Zoom into the box" not in offered


@needs_kaggle
@pytest.mark.browser
def test_in_chromium_a_click_at_a_stored_point_of_a_large_map_opens_that_product(
    scale_store, monkeypatch, tmp_path
):
    from tests.browser import browser_available

    if not browser_available():
        pytest.skip("Debian chromium + chromium-driver needed")
    from core.analysis import projection

    store, catalog, *_ = scale_store
    monkeypatch.setattr(projection, "FIT_SAMPLE_ABOVE", 5_000)  # the short twin: a small fit
    monkeypatch.setattr(projection, "FIT_SAMPLE", 2_000)
    _click_at_a_stored_point(store, catalog, tmp_path, markers=3_000)


@needs_kaggle
@pytest.mark.slow
@pytest.mark.browser
def test_in_chromium_a_click_on_the_million_product_map_opens_that_product(tmp_path):
    """The twin above at a million products, with the app's own marker budget."""
    from core.settings import Settings
    from core.store import Store
    from tests.browser import browser_available

    if not browser_available():
        pytest.skip("Debian chromium + chromium-driver needed")
    products, catalog = 1_000_000, catalog_name(1_000_000)
    path = write_csv(products, tmp_path / f"{catalog}.csv", seed=0)
    store = Store(tmp_path / "db")
    load_into(store, catalog, path, products, 0)
    _click_at_a_stored_point(store, catalog, tmp_path, markers=Settings().map_markers)
