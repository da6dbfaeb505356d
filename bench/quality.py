"""Quality suites: the offline CLIP's held-out zero-shot accuracy, and the retrieval
quality of Search & Chat on the labelled query set against the pre-#14 code.
"""

from __future__ import annotations

from typing import Any

from bench.context import CHECKOUT, KAGGLE_CSV, MIXED_CSV, SAMPLE, Context
from core.settings import Settings


def suite_offline_clip(ctx: Context) -> list[dict[str, Any]]:
    """Build the offline CLIP from scratch (forced) and report its held-out figures,
    next to ConSE alone (the same model with the adapter switched off)."""
    from dataclasses import replace

    from core.offline_clip.recipe import ensure_offline_clip

    settings = replace(ctx.settings, models_dir=ctx.work / "models", runs_dir=ctx.work / "runs")
    meta = ensure_offline_clip(settings, force=True).meta
    timings = meta["timings"]
    rows = []
    for variant, held in (
        ("shipped", meta["held_out"]),
        ("ConSE only", meta["held_out_semantic_only"]),
    ):
        row: dict[str, Any] = {"model": variant}
        for name in ("office_zero_shot", "sample_zero_shot"):
            report = held.get(name)
            if report:
                low, high = report["ci"]
                row[name] = f"{report['accuracy']:.3f} ({low:.3f}–{high:.3f}) n={report['n']}"
        for k, value in (held.get("sample_name_to_image") or {}).items():
            row[f"sample {k}"] = f"{value['value']:.3f} ({value['ci'][0]:.2f}–{value['ci'][1]:.2f})"
        rows.append(row)
    rows[0].update(
        build_s=timings["total_s"], features_images_per_s=timings["images_per_s"],
        adapter_train_s=timings["train_s"],
    )  # fmt: skip
    return rows


BENCH_DB = CHECKOUT / "data" / "bench-db"  # kept between runs: the 9,600 texts embed once


def _quality_store(ctx: Context) -> Settings:
    """A store with the Kaggle file as "electronics", the all-category file as "mixed" and
    the sample as "sample", embedded
    with the configured models (ingest and embed only do what is missing)."""
    from core.embed import embed_images, embed_texts
    from core.ingest import ingest
    from core.models.clip import load_clip
    from core.models.text import load_text_model
    from core.store import Store

    settings = ctx.settings.with_overrides(db_path=BENCH_DB, catalog=None)
    store = Store(settings.db_path)
    sources = {"sample": SAMPLE}
    if KAGGLE_CSV.exists() and not ctx.quick:
        sources["electronics"] = KAGGLE_CSV
    if MIXED_CSV.exists() and not ctx.quick:
        sources["mixed"] = MIXED_CSV
    for catalog, source in sources.items():
        ingest(store, source, catalog=catalog)
        embed_texts(store, catalog, load_text_model(settings))
        embed_images(store, catalog, load_clip(settings))
    return settings


def suite_retrieval_quality(ctx: Context) -> list[dict[str, Any]]:
    """The labelled query set through the code before question understanding and through
    this build, on the same store and models; development and held-out questions apart."""
    from bench.query_set import (
        BASELINE_COMMIT,
        BEFORE_29_COMMIT,
        Scores,
        baseline_outcomes,
        before_29_outcomes,
        current_outcomes,
        load_query_set,
        score,
        twin_agreement,
    )
    from core.lens import Lens

    settings = _quality_store(ctx)
    lens = Lens(settings)
    catalogs = set(lens.store.catalogs.names())
    queries = [q for q in load_query_set() if q.catalog in catalogs]
    systems = {
        f"before #14 ({BASELINE_COMMIT})": baseline_outcomes(settings, queries, ctx.work),
        f"before #29 ({BEFORE_29_COMMIT})": before_29_outcomes(settings, queries, ctx.work),
        "this build": current_outcomes(lens, queries),
    }
    scored = {system: score(queries, lens.facts, outcomes) for system, outcomes in systems.items()}
    rows = []
    for subset, chosen in _parts(queries):
        ids = {q.id for q in chosen}
        for system, scores in scored.items():
            part = Scores([r for r in scores.per_query if r["id"] in ids])
            row = {"set": subset, "code": system, **part.summary()}
            if any(q.twin_of for q in chosen):  # a twin's partner may sit in another part
                row.update(twin_agreement(chosen, scores))
            rows.append(row)
    return rows


def _parts(queries: list[Any]) -> list[tuple[str, list[Any]]]:
    """Every part the figures are reported for: development and held-out questions, each
    catalog, each kind of question, the misspelt twins."""
    parts = [
        ("development", [q for q in queries if not q.held_out]),
        ("held-out", [q for q in queries if q.held_out]),
        ("all", list(queries)),
    ]
    for catalog in sorted({q.catalog for q in queries}):
        parts.append((f"catalog {catalog}", [q for q in queries if q.catalog == catalog]))
    for failure in sorted({q.failure for q in queries if q.failure and q.failure != "typo"}):
        parts.append((f"kind {failure}", [q for q in queries if q.failure == failure]))
    parts.append(("misspelt twins", [q for q in queries if q.twin_of]))
    return [(name, chosen) for name, chosen in parts if chosen]
