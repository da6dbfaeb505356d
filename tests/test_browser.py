from __future__ import annotations

import pytest

from tests.browser import (
    ROOT,
    browser_available,
    chrome,
    compared_label_set,
    exceptions_on_page,
    fix_a_flagged_label,
    narrow_layout_problems,
    page_timings,
    running_app,
    search_and_capture,
    timed_searches,
    upload_and_search,
    visit,
)
from tests.conftest import KAGGLE_CSV, needs_kaggle, needs_pc_parts, store_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="Debian chromium + chromium-driver needed"),
]


def test_pages_render_in_chromium_without_exceptions(app_env, tmp_path):
    import json

    from core.analysis.labels import label_catalog
    from core.analysis.projection import default_maps
    from core.store import Store
    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune
    from tests.test_finetune import OFFICE, office_subset, tiny_vit_parts

    runs = tmp_path / "runs"
    label_catalog(Store(app_env.db_path), "mini")  # rules only: no model needed here
    if OFFICE.is_dir():
        config = TrainConfig(epochs=1, batch_size=8, lr=1e-3)
        fine_tune(tiny_vit_parts(), {"spec": "tiny"}, office_subset(4), config, runs, "tiny-ft")
    env = {**store_env(app_env), "PRODUCTLENS_RUNS_DIR": str(runs)}
    out = ROOT / "screenshots"
    default_maps(Store(app_env.db_path), "mini", app_env.map_cache_dir)  # as `embed` does
    with running_app(env) as url:
        found = search_and_capture(url, out, "speaker wire cable")
        timings = page_timings(url, out, find="cable")  # the small twin of the 9,600 run
        narrow = narrow_layout_problems(url, 800)
    # at 800 px nothing is cut off or pushed past the edge, every expander open
    assert narrow == {"search": [], "Catalog": [], "Embedding map": []}
    chrome, hover, click = found.pop("chrome"), found.pop("hover"), found.pop("click")
    assert click == "Selected products (1)"  # a click in the map's default mode selects
    assert found == {"search": [], "catalog": [], "compare": [], "map": [], "issues": []}
    # the hovered point's photo floats beside Plotly's tooltip for the same product
    assert hover["photo"] == "data:image/jpeg;base64,"
    assert f"product id: {hover['photo_id']}" in hover["tooltip"]
    assert chrome == ["deploy_button=False", "heading_first=True"]  # .streamlit/config.toml
    for name in ("search", "catalog", "compare", "map", "map-hover", "map-find", "catalog-summary",
                 "issues"):  # fmt: skip
        assert (out / f"{name}.png").stat().st_size > 20_000
    # every interaction was seen through (times are recorded, not asserted)
    assert set(timings) == {
        "map_first_open_s", "map_colour_switch_s", "catalog_sort_s",
        "catalog_sort_descending_s", "catalog_filter_s", "map_reopen_s",
    }  # fmt: skip
    (out / "page-timings-mini.json").write_text(json.dumps(timings, indent=2))


def _timings(seconds: list[float]) -> dict:
    warm = sorted(seconds[1:])
    return {
        "first_s": round(seconds[0], 3),
        "warm_s": [round(s, 3) for s in seconds[1:]],
        "warm_median_s": round(warm[len(warm) // 2], 3),
        "warm_max_s": round(warm[-1], 3),
    }


QUESTIONS = [
    "boAt earphones under 1000 rupees",
    "which boAt earphones under 1000 rupees have the best rating?",
    "red sony headphones with a big discount",
    "blue power bank 50000 mAh",
    "WH-1000XM4",
    "wireless mouse under ₹500",
    "samsung smart tv under 30000 rupees",
    "Logitech keyboard",
]


def test_search_results_show_quickly_and_an_image_query_on_a_catalog_without_images_explains(
    shop_catalog, tmp_path
):
    """The short twin of the 9,600-product timing below (times are recorded, not asserted:
    speed goals live in benchmarks)."""
    import json

    from PIL import Image

    env = store_env(shop_catalog)
    out = ROOT / "screenshots"
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), "red").save(photo)
    with running_app(env) as url:
        seconds = timed_searches(url, QUESTIONS[:4], out)
        error = upload_and_search(url, photo, out)
    assert "no product images" in error and "nothing to match a photo against" in error
    (out / "search-timings-shop.json").write_text(json.dumps(_timings(seconds), indent=2))


@pytest.mark.slow
@needs_kaggle
def test_search_on_the_9600_catalog_shows_results_within_a_second_and_a_half(
    tiny_clip_dir, tmp_path
):
    """Ingests and text-embeds the Kaggle file (~5 min on 2 cores), then times searches in
    Chromium; the timings go to bench/results/browser-search.json for the record."""
    import json

    from core.analysis.projection import default_maps
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.settings import Settings
    from core.store import Store

    settings = Settings(
        db_path=tmp_path / "db", clip_model=str(tiny_clip_dir), models_dir=tmp_path / "models"
    )
    store = Store(settings.db_path)
    ingest(store, KAGGLE_CSV, catalog="electronics")
    embed_texts(store, "electronics", load_text_model(settings))
    default_maps(store, "electronics", settings.map_cache_dir)  # what `productlens embed` does
    with running_app(store_env(settings)) as url:
        seconds = timed_searches(url, QUESTIONS, ROOT / "screenshots")
        pages = page_timings(url, ROOT / "screenshots" / "electronics", find="keyboard")
    record = {"catalog": "electronics (9,600 products)", **_timings(seconds)}
    (ROOT / "bench" / "results" / "browser-search.json").write_text(json.dumps(record, indent=2))
    record = {"catalog": "electronics (9,600 products)", "map": "precomputed", **pages}
    (ROOT / "bench" / "results" / "browser-pages.json").write_text(json.dumps(record, indent=2))
    assert len(seconds) == len(QUESTIONS) and len(pages) == 6


@needs_pc_parts
def test_in_chromium_fixes_on_the_sample_and_on_pc_parts_are_stored_and_scored(pc_parts_app):
    import os

    from core.analysis.issue_sources import HUMAN, with_corrections
    from core.analysis.labels import LOCAL_LABELLER, VOCABULARY, vocab_hash
    from core.analysis.model_choices import dataset_choices
    from tests.conftest import label_with_slips

    settings, store, dataset = pc_parts_app
    vocab = vocab_hash(VOCABULARY)
    label_with_slips(store, "mini")  # errors for the page to flag and a person to fix
    labelled = next(c for who, v, c in store.labels.labellers("mini") if who == LOCAL_LABELLER)
    sample = f"{LOCAL_LABELLER}+{HUMAN}"  # the sample's pseudo-labels with the fix
    sources = [
        f"{dataset.name} (photo dataset, {sum(dataset.counts.values()):,} photos)",
        f"mini catalog · labels {LOCAL_LABELLER} ({labelled:,})",
    ]
    env = {**store_env(settings), "PRODUCTLENS_RUNS_DIR": os.environ["PRODUCTLENS_RUNS_DIR"]}
    with running_app(env) as url, chrome() as driver:
        visit(driver, url, "Data issues")
        problems = {source: fix_a_flagged_label(driver, source) for source in sources}
        driver.save_screenshot(str(ROOT / "screenshots" / "issues-fixed.png"))
        fixed = with_corrections(store, dataset)
        choices = {
            c.kwargs.get("labeller", ""): c.label
            for c in dataset_choices(store, [])
            if c.kwargs in ({"dataset": fixed}, {"catalog": "mini", "labeller": sample})
        }
        visit(driver, url, "Model comparison")
        label_sets = [compared_label_set(driver, choice) for choice in choices.values()]
        problems["compare"] = exceptions_on_page(driver)
    assert problems == {sources[0]: [], sources[1]: [], "compare": []}
    assert len(fixed.corrections) == 1 and fixed.label_set == "folders+human (1 fixed)"
    assert len(store.labels.rows("mini", HUMAN, vocab)) == 1  # stored as `human`
    # each comparison scored the fixed labels
    assert label_sets == ["folders+human (1 fixed)", f"{sample}/{vocab}"]
