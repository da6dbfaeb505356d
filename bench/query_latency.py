"""Query latency (p50/p95/p99) of text and image queries, including query encoding.

    .venv/bin/python bench/query_latency.py [--db DIR] [--repeats N]

Ingests and embeds the 9,600-row Kaggle catalog (text index) and the shipped sample
(text + image index) into a bench store if needed, then times `core.search.search` end to
end. Writes bench/results/query_latency.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from core.config import PROJECT_ROOT, Settings
from core.embed import embed_images, embed_texts
from core.ingest import ingest
from core.search import search
from core.service import Lens

KAGGLE = PROJECT_ROOT.parent / "shared" / "data" / "amazon_electronics_2023.csv"
SAMPLE = PROJECT_ROOT / "data" / "sample"
QUERIES = [
    "blue power bank 50000 mAh",
    "noise cancelling headphones",
    "Redmi smartphone 8GB RAM",
    "wireless mouse",
    "4K smart TV 55 inch",
    "boAt earbuds with long battery",
    "HDMI cable",
    "gaming keyboard RGB",
    "smartwatch with SpO2",
    "WH-1000XM4",
    "cheap tripod for phone",
    "external hard drive 2TB",
]


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.array(samples)
    return {
        "n": len(samples),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "mean_ms": round(statistics.fmean(samples), 2),
    }


def ensure(lens: Lens, path: Path, catalog: str, images: bool) -> dict[str, float]:
    rates = {}
    report = ingest(lens.store, path, catalog=catalog)
    rates["ingest_rows_per_s"] = round(report.rows_read / report.seconds, 1)
    text = embed_texts(lens.store, catalog, lens.text_model())
    if text.computed:
        rates["text_embed_per_s"] = round(text.rate, 1)
    if images:
        image = embed_images(lens.store, catalog, lens.clip())
        if image.computed:
            rates["image_embed_per_s"] = round(image.rate, 1)
    return rates


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up (model load, caches)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=str(PROJECT_ROOT / "data" / "bench-db"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lens = Lens(Settings(db_path=Path(args.db)))
    setup = {
        "kaggle": ensure(lens, KAGGLE, "kaggle", images=False),
        "sample": ensure(lens, SAMPLE, "sample", images=True),
    }
    results: dict[str, dict] = {}
    for catalog in ("kaggle", "sample"):
        samples: list[float] = []
        for query in QUERIES:
            samples += timed(lambda q=query, c=catalog: search(lens, c, q, k=5), args.repeats)
        results[f"text query ({catalog}, {lens.store.count_products(catalog)} products)"] = (
            percentiles(samples)
        )
    paths = [p["image_path"] for p in lens.store.products_where("sample").to_pylist()[:24]]
    samples = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        samples += timed(lambda im=image: search(lens, "sample", image=im, k=5), args.repeats)
    results["image query (sample, 294 products)"] = percentiles(samples)

    payload = {
        "machine": f"{platform.machine()} {platform.processor() or ''} cores=2".strip(),
        "clip": lens.clip_source.label,
        "text_model": lens.text_source.label,
        "setup": setup,
        "latency": results,
    }
    out = PROJECT_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "query_latency.json").write_text(json.dumps(payload, indent=2))
    lines = ["| query | n | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['n']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |")
    (out / "query_latency.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
