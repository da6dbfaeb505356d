"""Scaling-out suites: the store on S3 (a real S3-compatible server, moto, on 127.0.0.1)
against a local folder, and text embedding on Ray Data with 1 and 2 workers against the
single-process path, each pair measured side by side in one run.

The S3 server is the tests' (`tests/object_storage.py`): the benchmarks run from a
checkout, and one server helper is better than two.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.context import KAGGLE_CSV, Context
from bench.speed import TEXT_QUERIES, _rate


def _catalog(ctx: Context) -> Path:
    """The 9,600-product catalog (its first 1,280 rows in a quick run)."""
    if not ctx.quick:
        return KAGGLE_CSV
    lines = KAGGLE_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    path = ctx.work / "catalog-1280.csv"
    path.write_text("".join(lines[:1281]), encoding="utf-8")
    return path


def _ingest_embed_search(ctx: Context, settings: Any) -> dict[str, Any]:
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.lens import Lens
    from core.retrieval.search import search
    from core.store import Store

    store = Store(settings.db_path, settings.storage_options)
    started = time.perf_counter()
    report = ingest(store, _catalog(ctx), catalog="bench", image_cache_dir=ctx.work / "img")
    ingest_s = time.perf_counter() - started
    lens = Lens(settings)
    text_model = lens.text_model()
    started = time.perf_counter()
    embedded = embed_texts(store, "bench", text_model)
    embed_s = time.perf_counter() - started
    started = time.perf_counter()
    search(lens.searcher("bench"), "warm up")  # reads the vectors from the store into memory
    first_ms = (time.perf_counter() - started) * 1000
    warm_ms = []
    for query in TEXT_QUERIES:
        started = time.perf_counter()
        search(lens.searcher("bench"), query)
        warm_ms.append((time.perf_counter() - started) * 1000)
    return {
        "products": report.ingested, "ingest_s": round(ingest_s, 1),
        "embed_s": round(embed_s, 1), "embed_per_s": _rate(embedded.computed, embed_s),
        "first_search_ms": round(first_ms), "search_p50_ms": round(statistics.median(warm_ms), 1),
    }  # fmt: skip


def suite_object_storage(ctx: Context) -> list[dict[str, Any]]:
    from core.store_location import StorageOptions
    from tests.object_storage import s3_server

    rows = []
    with s3_server(ctx.work) as s3:
        stores = {
            "local folder": ctx.settings.with_overrides(db_path=ctx.work / "local-db"),
            "s3:// (moto on 127.0.0.1)": ctx.settings.with_overrides(
                db_path=s3.uri("bench"), storage_options=StorageOptions.of(s3.options)
            ),
        }
        for label, settings in stores.items():
            ctx.note(f"object storage: {label}")
            rows.append({"store": label, **_ingest_embed_search(ctx, settings)})
    local = rows[0]
    for row in rows:
        for measure in ("ingest_s", "embed_s", "first_search_ms", "search_p50_ms"):
            row[f"{measure}_vs_local"] = round(row[measure] / max(local[measure], 1e-9), 2)
    return rows


def suite_ray_embed(ctx: Context) -> list[dict[str, Any]]:
    from core.embed import embed_texts
    from core.embed_ray import embed_with_ray
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.store import Store

    engines = {
        "single process": None,
        "Ray Data, 1 worker": 1,
        "Ray Data, 2 workers": 2,
    }
    rows = []
    for label, workers in engines.items():
        settings = ctx.settings.with_overrides(db_path=ctx.work / f"ray-{workers or 0}")
        store = Store(settings.db_path)
        ingest(store, _catalog(ctx), catalog="bench", image_cache_dir=ctx.work / "img")
        ctx.note(f"embedding: {label}")
        started = time.perf_counter()
        if workers is None:
            report = embed_texts(store, "bench", load_text_model(settings))
        else:
            report = embed_with_ray(settings, "bench", "text", workers=workers)
        seconds = time.perf_counter() - started
        rows.append(
            {"engine": label, "texts": report.computed, "seconds": round(seconds, 1),
             "texts_per_s": _rate(report.computed, seconds)}
        )  # fmt: skip
        if workers is not None:
            import ray

            ray.shutdown()  # the next engine starts a Ray instance of its own size
    for row in rows:
        row["vs_single_process"] = round(row["texts_per_s"] / max(rows[0]["texts_per_s"], 1e-9), 2)
    return rows
