"""Speed, memory and scale suites: ingest, embedding, query latency in memory and through
LanceDB's ANN index, ChromaDB side by side, UMAP, and the app's resident memory.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.context import CHECKOUT, KAGGLE_CSV, SAMPLE, Context
from core.catalog.parse import folder_subset
from core.latency import percentiles

TEXT_QUERIES = [
    "blue power bank 50000 mAh", "noise cancelling headphones", "Redmi smartphone 8GB RAM",
    "wireless mouse", "4K smart TV 55 inch", "boAt earbuds with long battery", "HDMI cable",
    "gaming keyboard RGB", "smartwatch with SpO2", "WH-1000XM4", "router", "usb c charger",
]  # fmt: skip


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


# --- suites ------------------------------------------------------------------------------


def suite_ingest(ctx: Context) -> list[dict[str, Any]]:
    from core.ingest import ingest
    from core.store import Store

    rows = []
    store = Store(ctx.work / "ingest-db")
    for label, path, name in (("Kaggle CSV", KAGGLE_CSV, "kaggle"), ("sample folder", SAMPLE, "s")):
        if not Path(path).exists():
            continue
        started = time.perf_counter()
        report = ingest(store, path, catalog=name)
        seconds = time.perf_counter() - started
        rows.append(
            {"input": label, "rows": report.ingested, "seconds": round(seconds, 2),
             "rows_per_s": _rate(report.ingested, seconds),
             "images_checked": sum(report.images.values()) if name == "s" else 0}
        )  # fmt: skip
    return rows


def _clip_models(ctx: Context) -> list[Any]:
    """The configured CLIP, plus ViT-B/32 (what a networked install runs; its speed does
    not depend on its weights) when the configured one is something else."""
    from core.models.clip import load_clip

    models = [load_clip(ctx.settings)]
    if models[0].source.key not in ("vit-b-32-random", "vit-b-32-openai"):
        models.append(load_clip(ctx.settings.with_overrides(clip_model="ViT-B-32")))
    return models


def suite_embed_images(ctx: Context) -> list[dict[str, Any]]:
    """Full pipeline vs bare batched forward vs one image at a time, alternated twice and
    the best of each kept, so machine noise does not decide the ratio."""
    import torch

    from core.catalog.images import load_rgb
    from core.embed import embed_images
    from core.ingest import ingest
    from core.store import Store

    rows = []
    folder = ctx.work / "images"
    folder_subset(SAMPLE, folder, 96 if ctx.quick else 294)
    paths = [str(p) for p in sorted((folder / "images").iterdir())]
    for clip in _clip_models(ctx):
        clip.encode_images(torch.stack([clip.preprocess(load_rgb(paths[0]))]))  # warm-up
        full, bare, naive, computed = 0.0, 0.0, 0.0, 0
        for rep in range(2):
            store = Store(ctx.work / f"embed-{clip.source.key}-{rep}")
            ingest(store, folder, catalog="b")
            started = time.perf_counter()
            computed = embed_images(store, "b", clip).computed
            full = max(full, computed / (time.perf_counter() - started))
            tensors = [clip.preprocess(load_rgb(p)) for p in paths]
            started = time.perf_counter()
            batch = clip.image_batch
            for i in range(0, len(tensors), batch):
                clip.encode_images(torch.stack(tensors[i : i + batch]))
            bare = max(bare, len(tensors) / (time.perf_counter() - started))
            sample = paths[:48]
            started = time.perf_counter()
            for p in sample:  # the seed's loop: one image at a time, file to vector
                clip.encode_images(clip.preprocess(load_rgb(p))[None])
            naive = max(naive, len(sample) / (time.perf_counter() - started))
        rows.append(
            {"model": f"{clip.source.key} ({clip.source.status})", "images": computed,
             "full_pipeline_per_s": round(full, 1), "bare_forward_per_s": round(bare, 1),
             "naive_loop_per_s": round(naive, 1), "full_vs_bare": round(full / bare, 2),
             "full_vs_naive": round(full / naive, 2)}
        )  # fmt: skip
    return rows


def suite_embed_texts(ctx: Context) -> list[dict[str, Any]]:
    from core.catalog.parse import read_catalog, text_document
    from core.embed import TEXT_BATCH, embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.store import Store

    model = load_text_model(ctx.settings)
    source = SAMPLE if ctx.quick or not KAGGLE_CSV.exists() else KAGGLE_CSV
    store = Store(ctx.work / "text-db")
    ingest(store, source, catalog="t")
    started = time.perf_counter()
    report = embed_texts(store, "t", model)
    full = report.computed / (time.perf_counter() - started)
    products = read_catalog(source).products
    docs = [text_document(p) for p in products]
    started = time.perf_counter()
    model.encode(docs, batch_size=TEXT_BATCH)
    bare = len(docs) / (time.perf_counter() - started)
    started = time.perf_counter()
    for doc in docs[:200]:
        model.encode([doc])
    naive = min(200, len(docs)) / (time.perf_counter() - started)
    _, vectors = store.vectors.load("text", model.source.key, "t")
    ctx.shared["text_vectors"] = vectors
    ctx.shared["text_names"] = [p.name for p in products]
    return [
        {"model": model.source.key, "texts": report.computed, "full_pipeline_per_s": round(full, 1),
         "bare_encode_per_s": round(bare, 1), "naive_loop_per_s": round(naive, 1),
         "full_vs_bare": round(full / bare, 2), "full_vs_naive": round(full / naive, 2)}
    ]  # fmt: skip


def clustered(n: int, dim: int, seed: int, clusters: int = 2000) -> np.ndarray:
    """Unit vectors around random centres: embedding data is clustered, not uniform."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        block = centres[rng.integers(0, clusters, size)]
        block += 0.6 * rng.normal(size=(size, dim)).astype(np.float32)
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _synthetic_store(ctx: Context, n: int, clip: Any, text_dim: int) -> tuple[Any, str]:
    """A store with n products: real MiniLM vectors where we have them, noise beyond."""
    from core.catalog.parse import Product
    from core.store import Store

    store = Store(ctx.work / f"query-{n}")
    names = ctx.shared.get("text_names") or [f"product {i}" for i in range(1000)]
    products = [
        Product(i, f"{names[i % len(names)]} #{i}", main_category="bench",
                actual_price=float(i % 500), currency="₹", rating=3 + (i % 20) / 10,
                image_status="ok")
        for i in range(n)
    ]  # fmt: skip
    store.products.upsert("bench", products)
    store.catalogs.record("bench", "synthetic", "bench", n, 0)
    real = ctx.shared.get("text_vectors")
    text = clustered(n, text_dim, 1)
    if real is not None and len(real):
        text[: min(n, len(real))] = real[: min(n, len(real))]
    image = clustered(n, clip.dim, 2)
    for kind, key, vectors in (
        ("text", "all-minilm-l6-v2", text),
        ("image", clip.source.key, image),
    ):
        rows = [
            {"catalog": "bench", "product_id": i, "vector": vectors[i].tolist(),
             "name": products[i].name, "main_category": "bench", "sub_category": "",
             "price": products[i].actual_price, "rating": products[i].rating, "rating_count": 0,
             "source_hash": "", "meta_hash": ""}
            for i in range(n)
        ]  # fmt: skip
        store.vectors.upsert(kind, key, vectors.shape[1], rows)
        assert store.vectors.table_name(kind, key) in store.database.table_names()
    return store, "bench"


def suite_query(ctx: Context) -> list[dict[str, Any]]:
    """Query latency with encoding, PyTorch and ONNX Runtime encoders on the same store."""
    from PIL import Image

    from core.lens import Lens
    from core.retrieval.search import search

    rows = []
    image = Image.open(next((SAMPLE / "images").iterdir())).convert("RGB")
    repeats = 3 if ctx.quick else 5
    for n in (10_000,) if ctx.quick else (10_000, 100_000):
        settings = ctx.settings.with_overrides(db_path=ctx.work / f"query-{n}")
        lenses = {r: Lens(settings.with_overrides(encoder=r)) for r in ("torch", "onnx")}
        torch_lens = lenses["torch"]
        _synthetic_store(ctx, n, torch_lens.clip(), torch_lens.text_model().dim)
        text_p50 = {}
        for runtime, lens in lenses.items():
            for _ in range(2):  # loads the models and matrices; the second starts the IVF build
                search(lens.searcher("bench"), "warm up")
            lens.matrices.wait_for_indexes()  # steady state: not racing the IVF build
            text_ms = []
            for _ in range(repeats):
                for q in TEXT_QUERIES:
                    started = time.perf_counter()
                    search(lens.searcher("bench"), q)
                    text_ms.append((time.perf_counter() - started) * 1000)
            latency = percentiles(text_ms)
            text_p50[runtime] = latency["p50_ms"]
            rows.append(
                {"products": n, "query": f"text (MiniLM + CLIP text, {runtime} encoders)",
                 **latency, "p50_vs_torch": round(latency["p50_ms"] / text_p50["torch"], 2)}
            )  # fmt: skip
        search(torch_lens.searcher("bench"), None, image)
        image_ms = []
        for _ in range(repeats * len(TEXT_QUERIES)):
            started = time.perf_counter()
            search(torch_lens.searcher("bench"), None, image)
            image_ms.append((time.perf_counter() - started) * 1000)
        rows.append({"products": n, "query": "image (CLIP image tower)", **percentiles(image_ms)})
    return rows


def suite_ann(ctx: Context) -> list[dict[str, Any]]:
    from core.store import Store

    n, dim = (100_000 if ctx.quick else 1_000_000), 512
    ctx.note(f"ANN: writing {n:,} vectors")
    vectors = clustered(n, dim, 3)
    store = Store(ctx.work / "ann-db")
    started = time.perf_counter()
    _append_vectors(store, "ann", vectors)
    write_s = time.perf_counter() - started
    index = store.vectors.index("image", "ann")
    assert index is not None
    ctx.note("ANN: building IVF_PQ")
    build_s = index.build_ann()
    # Queries look like catalog items (stored vectors plus noise), as real ones do.
    rng = np.random.default_rng(4)
    queries = vectors[rng.choice(n, 50, replace=False)] + 0.05 * rng.normal(size=(50, dim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    health = index.measure_ann(queries)
    exact_ms = []
    for q in queries[:10]:
        started = time.perf_counter()
        index.nearest(q, 10, None, exact=True)
        exact_ms.append((time.perf_counter() - started) * 1000)
    del vectors
    return [
        {"vectors": n, "dim": dim, "write_s": round(write_s, 1), "index": "IVF_PQ",
         "build_s": round(build_s, 1), **health,
         "exact_p50_ms": round(statistics.median(exact_ms), 1)}
    ]  # fmt: skip


def _item_like_queries(vectors: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Stored vectors plus a little noise: queries land near products, as real ones do
    (random directions in 512-d have no meaningful nearest neighbours)."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.choice(len(vectors), count, replace=False)]
    queries = picked + 0.05 * rng.normal(size=picked.shape).astype(np.float32)
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def _recall(found: list[list[int]], truth: list[list[int]]) -> float:
    return round(
        float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])),
        3,
    )


def _chroma(path: Path, vectors: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    import chromadb

    collection = chromadb.PersistentClient(path=str(path)).create_collection(
        "bench", metadata={"hnsw:space": "cosine"}
    )
    started = time.perf_counter()
    for s in range(0, len(vectors), 5_000):
        block = vectors[s : s + 5_000]
        collection.add(ids=[str(i) for i in range(s, s + len(block))], embeddings=block)
    build_s = time.perf_counter() - started

    def query(q: np.ndarray) -> list[int]:
        return [int(i) for i in collection.query(query_embeddings=[q], n_results=10)["ids"][0]]

    latency = _time_queries(query, queries)
    return {"build_s": build_s, "latency": latency, "found": [query(q) for q in queries]}


def _append_vectors(store: Any, catalog: str, vectors: np.ndarray) -> None:
    """Vectors as catalog `catalog`'s products 0…n-1 in the image index "<catalog>", in
    blocks of 100k (a bulk load: nothing to merge with)."""
    import pyarrow as pa

    for s in range(0, len(vectors), 100_000):
        block = vectors[s : s + 100_000]
        store.vectors.append("image", catalog, vectors.shape[1], pa.table({
            "catalog": pa.array([catalog] * len(block)),
            "product_id": pa.array(np.arange(s, s + len(block))),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(block.ravel()), block.shape[1]),
        }))  # fmt: skip


def _productlens(path: Path, vectors: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    """LanceDB ingest, then ProductLens's in-memory path (IVF from IVF_MIN_ROWS rows)."""
    from core.store import Store
    from core.store.ivf import build_in_background
    from core.store.vector_cache import load_matrix

    store = Store(path)
    started = time.perf_counter()
    _append_vectors(store, "b", vectors)
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    matrix = load_matrix(store.vectors.index("image", "b"), "b")  # type: ignore[arg-type]
    load_s = time.perf_counter() - started
    builder = build_in_background(matrix)
    if builder is not None:
        builder.join()

    def query(q: np.ndarray) -> list[int]:
        return [pid for pid, _ in matrix.top_k(q, 10)]

    return {
        "ingest_s": ingest_s, "load_s": load_s,
        "index": "IVF-SQ8 (faiss)" if matrix.ivf is not None else "exact",
        "build_s": matrix.ivf.build_s if matrix.ivf is not None else 0.0,
        "latency": _time_queries(query, queries), "found": [query(q) for q in queries],
    }  # fmt: skip


def suite_chroma(ctx: Context) -> list[dict[str, Any]]:
    try:
        import chromadb  # noqa: F401
    except ImportError:
        return [{"skipped": "chromadb is not installed (pip install -e '.[bench]')"}]
    rows = []
    for n in (10_000,) if ctx.quick else (10_000, 100_000, 1_000_000):
        ctx.note(f"chroma: {n:,} vectors")
        vectors = clustered(n, 512, 5)
        queries = _item_like_queries(vectors, 50, 6)
        truth = [np.argsort(-(vectors @ q), kind="stable")[:10].tolist() for q in queries]
        chroma = _chroma(ctx.work / f"chroma-{n}", vectors, queries)
        ours = _productlens(ctx.work / f"lance-{n}", vectors, queries)
        rows.append(
            {"vectors": n, "chroma_build_s": round(chroma["build_s"], 1),
             "chroma_p50_ms": chroma["latency"]["p50_ms"],
             "chroma_recall@10": _recall(chroma["found"], truth),
             "productlens_index": ours["index"],
             "productlens_build_s": round(ours["ingest_s"] + ours["build_s"], 1),
             "productlens_load_s": round(ours["load_s"], 1),
             "productlens_p50_ms": ours["latency"]["p50_ms"],
             "productlens_recall@10": _recall(ours["found"], truth),
             "productlens_vs_chroma_p50": round(
                 ours["latency"]["p50_ms"] / max(chroma["latency"]["p50_ms"], 1e-3), 2)}
        )  # fmt: skip
        del vectors
    return rows


def _time_queries(run: Callable[[np.ndarray], Any], queries: np.ndarray) -> dict[str, float]:
    run(queries[0])
    samples = []
    for q in queries:
        started = time.perf_counter()
        run(q)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def suite_umap(ctx: Context) -> list[dict[str, Any]]:
    from core.analysis.projection import MapParams, cached_projection

    vectors = ctx.shared.get("text_vectors")
    if vectors is None or len(vectors) < 2_000:  # the quick run embeds only the sample
        vectors = clustered(2_000 if ctx.quick else 10_000, 384, 7)
    ids = list(range(len(vectors)))
    cache = ctx.work / "umap"
    cached_projection(cache, {"warm": 1}, lambda: (ids[:300], vectors[:300]), MapParams())
    started = time.perf_counter()
    cold = cached_projection(cache, {"n": len(ids)}, lambda: (ids, vectors), MapParams())
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    hot = cached_projection(cache, {"n": len(ids)}, lambda: (ids, vectors), MapParams())
    hot_ms = (time.perf_counter() - started) * 1000
    assert hot.cached and not cold.cached
    return [{"points": len(ids), "cold_s": round(cold_s, 1), "cached_ms": round(hot_ms, 1)}]


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec,
# so it would report the bench process's own peak.
MEMORY_PROBE = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=600)
at.run()
at.text_input[0].input("wireless mouse").run()
assert not at.exception, at.exception
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


def suite_memory(ctx: Context) -> list[dict[str, Any]]:
    import os

    db = ctx.work / "query-10000"
    if not db.exists():
        return [{"skipped": "needs the query suite's 10k store"}]
    env = {
        **os.environ,
        "PRODUCTLENS_DB": str(db),
        "PRODUCTLENS_CATALOG": "bench",
        "PRODUCTLENS_CLIP": ctx.settings.clip_model,
        "PRODUCTLENS_MODELS_DIR": str(ctx.settings.models_dir),
    }
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(CHECKOUT / "streamlit_app.py")],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if out.returncode != 0:
        return [{"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}]
    peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    return [{"process": "app (AppTest: both models loaded, one search on 10k products)",
             "peak_rss_mb": round(peak)}]  # fmt: skip
