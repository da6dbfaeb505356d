"""Embedding map at catalog scale: UMAP cold vs cached, and the cost of drawing the map.

    .venv/bin/python bench/umap_map.py [--db DIR] [--catalog NAME]

Uses the catalog's stored MiniLM text vectors (run `productlens ingest` + `embed --what
text` on the 9,600-row CSV first; the default store has them after that). Measures, in
one run: UMAP cold (numba compile excluded by a warm-up on 500 points), the cached
reopen, building the WebGL Plotly figure, and the size of what goes to the browser.
Writes bench/results/umap_map.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly.express as px

from core.config import PROJECT_ROOT, Settings
from core.projection import MapParams, cached_projection, catalog_projection
from core.store import Store

RESULTS = PROJECT_ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=str(Settings().db_path))
    parser.add_argument("--catalog", default="amazon_electronics_2023")
    parser.add_argument("--model", default="all-minilm-l6-v2")
    args = parser.parse_args()
    store = Store(args.db)
    ids, vectors = store.load_vectors("text", args.model, args.catalog)
    if not ids:
        raise SystemExit(f"no text vectors for {args.catalog}: run productlens embed first")
    params = MapParams()
    with tempfile.TemporaryDirectory() as cache:
        warm = vectors[:500]
        cached_projection(Path(cache), {"warm": 1}, lambda: (ids[:500], warm), params)
        started = time.perf_counter()
        cold = catalog_projection(store, args.catalog, "text", args.model, Path(cache), params)
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        hot = catalog_projection(store, args.catalog, "text", args.model, Path(cache), params)
        cached_s = time.perf_counter() - started
        assert hot.cached and not cold.cached
    started = time.perf_counter()
    fig = px.scatter(
        x=cold.coords[:, 0], y=cold.coords[:, 1], render_mode="webgl",
        hover_name=[str(i) for i in cold.ids], custom_data=[np.asarray(cold.ids)],
    )  # fmt: skip
    payload = fig.to_json()
    figure_s = time.perf_counter() - started
    result = {
        "machine": platform.platform(),
        "points": len(ids),
        "dims": int(vectors.shape[1]),
        "umap_cold_s": round(cold_s, 2),
        "umap_cached_ms": round(cached_s * 1000, 1),
        "speedup_cached": round(cold_s / max(cached_s, 1e-9), 1),
        "figure_build_ms": round(figure_s * 1000, 1),
        "figure_json_kb": round(len(payload) / 1024, 1),
        "trace_type": fig.data[0].type,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "umap_map.json").write_text(json.dumps(result, indent=2))
    rows = "\n".join(f"| {k} | {v} |" for k, v in result.items())
    (RESULTS / "umap_map.md").write_text(
        f"# Embedding map at scale\n\n| what | value |\n|---|---|\n{rows}\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
