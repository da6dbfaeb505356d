"""Many people at once on one app server: p50/p95 per action against the number of
concurrent sessions, with every error and any leak of one session's chat, filter or
catalog into another's (tests/many_sessions.py says what each session does and checks).

The server runs the 9,600-product catalog (`data/bench-db`, built here when missing) with
the sample beside it, which every fourth session switches to. Sessions are Streamlit's
own websocket protocol, not browsers: sixteen browsers would measure Chromium on two
cores, not the app.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

from bench.context import KAGGLE_CSV, SAMPLE, Context
from bench.quality import BENCH_DB

SESSIONS = (1, 4, 8, 16)
ROUNDS = 2  # questions per session at each size


def load_store(ctx: Context) -> dict[str, str]:
    """The app's environment on a store with "electronics" (the 9,600 catalog; the sample
    stands in on a quick run) and "sample", their texts embedded."""
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.store import Store

    settings = ctx.settings.with_overrides(db_path=BENCH_DB, catalog=None)
    store = Store(settings.db_path)
    main = "electronics" if KAGGLE_CSV.exists() and not ctx.quick else "sample"
    sources = {"sample": SAMPLE, **({"electronics": KAGGLE_CSV} if main != "sample" else {})}
    for catalog, source in sources.items():
        if catalog not in store.catalogs.names():
            ingest(store, source, catalog=catalog)
        embed_texts(store, catalog, load_text_model(settings))
    return {
        "PRODUCTLENS_DATA_DIR": str(settings.data_dir), "PRODUCTLENS_DB": str(BENCH_DB),
        "PRODUCTLENS_CATALOG": main, "HF_HUB_OFFLINE": "1",
    }  # fmt: skip


def suite_load(ctx: Context) -> list[dict[str, Any]]:
    from tests.browser import running_app
    from tests.many_sessions import run_sessions, summary

    env = load_store(ctx)
    other = "sample" if env["PRODUCTLENS_CATALOG"] != "sample" else None
    rows: list[dict[str, Any]] = []
    with running_app(env, timeout_s=180) as url:
        run_sessions(url, 1, 1)  # warm: models loaded, caches filled, as a team's server is
        for sessions in SESSIONS[:2] if ctx.quick else SESSIONS:
            logs = run_sessions(url, sessions, ROUNDS, other_catalog=other)
            rows += summary(logs, sessions)
            for log in logs:
                for problem in log.errors + log.leaks + log.inconsistent:
                    ctx.note(f"N={sessions}: {problem[:300]}")
    return rows


def first_rows(source: Path, target: Path, rows: int) -> Path:
    """The header and the first `rows` rows of a CSV, quoting kept."""
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        kept = [next(reader), *itertools.islice(reader, rows)]
    with open(target, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(kept)
    return target


def suite_writes_while_reading(ctx: Context) -> list[dict[str, Any]]:
    """Four sessions search and browse "electronics" while it grows from half the Kaggle
    file to all of it: a full ingest, then the text embedding, each by the CLI in its own
    process. Every count a session was shown must be the old or the new one, never one
    between; after the embedding, a product of the second half is found by its name."""
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.store import Store
    from tests.app_session import open_session, search_for
    from tests.browser import running_app
    from tests.many_sessions import (
        first_seen,
        ingest_then_embed,
        run_sessions,
        sessions_during_writes,
        summary,
        torn_reads,
    )  # fmt: skip

    total = 2000 if ctx.quick else 9600
    half = first_rows(KAGGLE_CSV, ctx.work / "half.csv", total // 2)
    full = first_rows(KAGGLE_CSV, ctx.work / "full.csv", total)
    settings = ctx.settings.with_overrides(db_path=ctx.work / "writes-db", catalog=None)
    store = Store(settings.db_path)
    ingest(store, half, catalog="electronics")
    embed_texts(store, "electronics", load_text_model(settings))
    env = {"PRODUCTLENS_DATA_DIR": str(settings.data_dir), "PRODUCTLENS_DB": str(settings.db_path),
           "PRODUCTLENS_CATALOG": "electronics", "HF_HUB_OFFLINE": "1"}  # fmt: skip
    commands = ingest_then_embed(full, "electronics")
    with running_app(env, timeout_s=180) as url:
        run_sessions(url, 1, 1)  # warm, as a team's server is: no model load in the timings
        logs, writes = sessions_during_writes(url, 4, commands, env)
        newcomer = Store(settings.db_path).products.get("electronics", total - 1) or {}
        with open_session(url) as session:  # a product of the second half, by its name
            found = search_for(session, newcomer.get("name", ""))
    torn = torn_reads(logs, total // 2, total)
    shown_at = first_seen(logs, total)
    found_ids = {row.get("ID") for table in found.tables for row in table}
    for problem in [*torn, *writes.failures, *(p for log in logs for p in log.errors)]:
        ctx.note(f"writes while reading: {problem[:300]}")
    return [
        {**row, "during": "ingest + embed"} for row in summary(logs, len(logs))
    ] + [{
        "products_before": total // 2, "products_after": total,
        "torn_reads": len(torn), "write_failures": len(writes.failures),
        "new_count_shown_s_after_ingest": round(shown_at - writes.finished["ingest"], 2)
        if shown_at and "ingest" in writes.finished else None,
        "newest_product_found_by_name": total - 1 in found_ids,
    }]  # fmt: skip
