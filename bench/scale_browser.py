"""What a person sees of a large catalog, in headless Chromium: the app served on a scale
store (`bench.scale` builds one; `python -m bench.scale_browser DB CATALOG` times an
existing one), every page opened, and the server's memory read at the end.

Timed from inside the page (tests/browser.py): page load in a new browser, a warm search
(median of 7 after a first one), the map's first open, colour switch and zoom into a box,
the Catalog's sort, next page and filter; then a click on the map at a product's stored
coordinates must open that product.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.scale import SEARCHES


def memory_mb(pid: int) -> dict[str, int]:
    """The process's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: int(status[field].split()[0]) // 1024
            for key, field in (("rss_mb", "VmRSS"), ("peak_rss_mb", "VmHWM"))}  # fmt: skip


def stored_map(catalog: str) -> dict[int, tuple[float, float]]:
    """product id → its place on the default text map, read from the map cache (the
    store and cache of this process's settings: set them as the app's)."""
    from core.analysis.projection import MapParams, catalog_projection
    from core.models.sources import resolve_text_model
    from core.settings import load_settings
    from core.store import Store

    settings = load_settings()
    key = resolve_text_model(settings).key
    made = catalog_projection(Store(settings.db_path), catalog, "text", key,
                              settings.map_cache_dir, MapParams())  # fmt: skip
    if not made.cached:
        raise RuntimeError("the default map was not computed by `embed`")
    return dict(zip(made.ids, map(tuple, np.asarray(made.coords, dtype=float)), strict=True))


def browser_timings(env: dict[str, str], catalog: str, out_dir: Path) -> dict[str, Any]:
    from tests.browser import _open as open_page
    from tests.browser import (
        chrome,
        click_stored_point,
        open_map,
        page_load_seconds,
        page_timings,
        running_server,
        settle,
        timed_searches,
    )

    row: dict[str, Any] = {}
    stored = stored_map(catalog)
    with running_server(env, timeout_s=180) as (url, server):
        started = time.perf_counter()
        loads = page_load_seconds(url, runs=4)  # the first on a server that has not run yet
        row["page_load_first_s"], row["page_load_s"] = loads[0], statistics.median(loads[1:])
        searches = timed_searches(url, [SEARCHES[0], *SEARCHES])
        row["first_search_s"] = searches[0]
        row["warm_search_median_s"] = round(statistics.median(searches[1:]), 3)
        row["warm_search_max_s"] = max(searches[1:])
        row["warm_searches_s"] = dict(zip(SEARCHES, searches[1:], strict=True))
        row.update(page_timings(url, out_dir, find="cable"))
        driver = chrome(height=1500)
        try:  # a click at a product's stored place opens that product
            open_map(driver, url)
            product_id, caption = click_stored_point(driver, stored)
            row["click_opens_product"] = caption.startswith(f"Product {product_id} ·")
            driver.save_screenshot(str(out_dir / "map-clicked.png"))
            for page in ("Data issues", "comparison"):  # every page visited
                open_page(driver, page)
                settle(driver, 300)
            driver.save_screenshot(str(out_dir / "last-page.png"))
        finally:
            driver.quit()
        row["browser_s"] = round(time.perf_counter() - started, 1)
        row.update({f"app_{k}": v for k, v in memory_mb(server.pid).items()})
    return row


if __name__ == "__main__":  # python -m bench.scale_browser DB CATALOG [OUT_DIR]
    import os

    db, name = sys.argv[1], sys.argv[2]
    out = Path(sys.argv[3] if len(sys.argv) > 3 else f"/tmp/scale-browser-{name}")
    out.mkdir(parents=True, exist_ok=True)
    environment = {"PRODUCTLENS_DB": db, "PRODUCTLENS_CATALOG": name,  # bench.scale's layout
                   "PRODUCTLENS_IMAGE_CACHE": str(Path(db).parent / "images")}  # fmt: skip
    os.environ.update(environment)  # the map cache and the rest: this environment's
    print(json.dumps(browser_timings(environment, name, out), indent=2))
