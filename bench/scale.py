"""The `scale` suite: the dashboard's work at 100k and 1M products (20k with --quick), on
the synthetic catalog `bench.scale_catalog` regenerates from a seed.

Per size: writing the CSV; `productlens ingest` and `productlens embed --what text`
(ANN index and default map) as subprocesses, with each one's wall time and peak RSS
(VmHWM, printed by the process itself); the vectors written through the store; then, in
this process on the finished store, what the pages ask of it: the Catalog's sort, filter
and next page, its summary columns, and a warm search (median of 7); then the app itself
in headless Chromium (bench.scale_browser): page load, search, map, Catalog, a click at a
stored point, and the app's memory with every page visited.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.context import CHECKOUT, Context
from bench.scale_catalog import catalog_name, load_into, write_csv

# Runs a module's main in a fresh interpreter, then prints that process's peak RSS.
PEAK_PROBE = """
import json, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_module(sys.argv[0], run_name="__main__")
except SystemExit as exit:
    if exit.code not in (None, 0):
        raise
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""
SCALE_ENV = ("PRODUCTLENS_DB", "PRODUCTLENS_CATALOG", "PRODUCTLENS_IMAGE_CACHE")
SEARCHES = ("wireless bluetooth headphones under ₹2,000", "samsung phone cover",
            "usb c cable rated 4 stars and up", "cheapest hdmi cable", "gaming mouse",
            "laptop bag for women", "led bulb pack of 4")  # fmt: skip


def measured_run(module: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Wall seconds and peak RSS of `python -m module args` (its output's last line)."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, module, *args], env=env, cwd=CHECKOUT,
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    return {"s": round(seconds, 1), "peak_rss_mb": round(peak), "output": out.stdout}


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 3)


def page_timings(store: Any, catalog: str) -> dict[str, Any]:
    """What the Catalog page asks of the store, timed in this process."""
    from core.store.browse import (
        SUMMARY_COLUMNS,
        CatalogFilter,
        SortOrder,
        catalog_page,
        summary_frame,
    )

    products = store.products
    everything, by_price = CatalogFilter(), SortOrder("Price", False)
    filtered = CatalogFilter(text="cable", min_rating=4.0)
    return {
        "first_page_s": _timed(lambda: catalog_page(products, catalog, everything,
                                                    SortOrder(), 1, 50)),
        "sort_by_price_s": _timed(lambda: catalog_page(products, catalog, everything,
                                                       by_price, 1, 50)),
        "filter_s": _timed(lambda: catalog_page(products, catalog, filtered, by_price, 1, 50)),
        "next_page_s": _timed(lambda: catalog_page(products, catalog, filtered, by_price, 2, 50)),
        "count_filtered_s": _timed(lambda: products.count(catalog, filtered.where())),
        f"summary_{len(SUMMARY_COLUMNS)}_columns_s": _timed(
            lambda: summary_frame(products, catalog, everything)),
    }  # fmt: skip


def search_timings(catalog: str) -> dict[str, Any]:
    """A warm search (the searcher's models and vectors loaded by a first one)."""
    from core.lens import get_lens
    from core.retrieval.search import search

    searcher = get_lens().searcher(catalog)
    first = _timed(lambda: search(searcher, SEARCHES[0]))
    warm = [_timed(lambda q=q: search(searcher, q)) for q in SEARCHES]
    return {"first_search_s": first, "warm_search_median_s": round(statistics.median(warm), 3),
            "warm_search_max_s": max(warm)}  # fmt: skip


def one_size(ctx: Context, products: int) -> dict[str, Any]:
    catalog = catalog_name(products)
    folder = ctx.work / catalog
    csv_path, db = folder / f"{catalog}.csv", folder / "db"
    started = time.perf_counter()
    write_csv(products, csv_path)
    row: dict[str, Any] = {"products": products, "csv_s": round(time.perf_counter() - started, 1)}
    env = {**os.environ, "PRODUCTLENS_DB": str(db), "PRODUCTLENS_CATALOG": catalog,
           "PRODUCTLENS_IMAGE_CACHE": str(folder / "images")}  # fmt: skip
    ctx.note(f"scale: ingest {products:,}")
    ingest = measured_run("core.cli", ["ingest", str(csv_path), "--catalog", catalog, "-q"], env)
    row.update(ingest_s=ingest["s"], ingest_peak_rss_mb=ingest["peak_rss_mb"])
    from core.store import Store

    ctx.note(f"scale: vectors {products:,}")
    row["vectors_s"] = load_into(Store(db), catalog, csv_path, products, 0)["vectors_s"]
    ctx.note(f"scale: embed (index, map) {products:,}")
    embed = measured_run("core.cli", ["embed", "--catalog", catalog, "--what", "text"], env)
    row.update(embed_s=embed["s"], embed_peak_rss_mb=embed["peak_rss_mb"])
    row["embed_says"] = [line for line in embed["output"].splitlines() if "map" in line][:2]
    os.environ.update({k: env[k] for k in SCALE_ENV})  # the Lens reads its settings here
    row.update(page_timings(Store(db), catalog))
    row.update(search_timings(catalog))
    row.update(in_browser(env, catalog, folder / "browser", ctx))
    return row


def in_browser(env: dict[str, str], catalog: str, out_dir: Path, ctx: Context) -> dict[str, Any]:
    """The same store as a person sees it, in headless Chromium (bench.scale_browser)."""
    from tests.browser import browser_available

    if not browser_available():
        ctx.note("scale: no Chromium here, no browser timings")
        return {}
    from bench.scale_browser import browser_timings

    ctx.note(f"scale: browser on {catalog}")
    out_dir.mkdir(parents=True, exist_ok=True)
    return {f"browser_{k}": v for k, v in browser_timings(env, catalog, out_dir).items()}


def suite_scale(ctx: Context) -> list[dict[str, Any]]:
    sizes = (20_000,) if ctx.quick else (100_000, 1_000_000)
    keep = {k: os.environ.get(k) for k in SCALE_ENV}
    try:
        return [one_size(ctx, n) for n in sizes]
    finally:
        for key, value in keep.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


if __name__ == "__main__":
    import tempfile

    from core.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="productlens-scale-"))
    quick = "--quick" in sys.argv
    print(json.dumps(suite_scale(Context(Settings(), quick, work)), indent=2))
