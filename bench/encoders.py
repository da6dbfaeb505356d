"""Encoder runtimes side by side: PyTorch against ONNX Runtime (fp32 and int8) on the
catalog's documents, and a cold CLI search against a bare `import lancedb`.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.context import CHECKOUT, KAGGLE_CSV, SAMPLE, Context
from bench.query_set import load_query_set

RUNTIMES = ("torch", "onnx", "onnx-int8")
CLI_QUERY = "wireless mouse"


def _catalog_slice(ctx: Context, rows: int) -> Path:
    """The first `rows` data rows of the Kaggle file (the sample folder without it)."""
    if not KAGGLE_CSV.exists():
        return SAMPLE
    target = ctx.work / f"catalog-{rows}.csv"
    with (
        open(KAGGLE_CSV, newline="", encoding="utf-8") as src,
        open(target, "w", newline="", encoding="utf-8") as out,
    ):
        reader, writer = csv.reader(src), csv.writer(out)
        for i, row in enumerate(reader):
            if i > rows:
                break
            writer.writerow(row)
    return target


def _top5(queries: np.ndarray, docs: np.ndarray) -> list[set[int]]:
    scores = queries @ docs.T
    return [set(np.argsort(-row, kind="stable")[:5].tolist()) for row in scores]


def suite_encoders(ctx: Context) -> list[dict[str, Any]]:
    """Per runtime: bare batched encode, the full `embed_texts` pipeline into a store,
    and agreement with PyTorch (cosine per document, top-5 per query-set question)."""
    from core.catalog.parse import read_catalog, text_document
    from core.embed import TEXT_BATCH, embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.store import Store

    source = _catalog_slice(ctx, 600 if ctx.quick else 3000)
    docs = [text_document(p) for p in read_catalog(source).products]
    questions = [q.question for q in load_query_set()]
    rows, reference = [], {}
    for runtime in RUNTIMES:
        model = load_text_model(ctx.settings.with_overrides(encoder=runtime))
        if runtime != "torch" and model.runtime == "torch":
            rows.append({"runtime": runtime, "skipped": "no ONNX export could be made"})
            continue
        model.encode(docs[:TEXT_BATCH])  # warm-up
        store = Store(ctx.work / f"encoders-{runtime}")
        ingest(store, source, catalog="e")
        started = time.perf_counter()
        report = embed_texts(store, "e", model)
        full = report.computed / (time.perf_counter() - started)
        started = time.perf_counter()
        model.encode(docs, batch_size=TEXT_BATCH)
        bare = len(docs) / (time.perf_counter() - started)
        ids, vectors = store.vectors.load("text", model.source.key, "e")
        vectors = vectors[np.argsort(ids)]
        query_vectors = model.encode(questions)
        single = []
        for question in questions:
            started = time.perf_counter()
            model.encode([question])
            single.append((time.perf_counter() - started) * 1000)
        row = {"runtime": model.runtime, "texts": report.computed,
               "bare_per_s": round(bare, 1), "full_pipeline_per_s": round(full, 1),
               "full_vs_bare": round(full / bare, 2),
               "query_encode_p50_ms": round(statistics.median(single), 2)}  # fmt: skip
        if runtime == "torch":
            reference = {
                "vectors": vectors, "top5": _top5(query_vectors, vectors),
                "full": full, "bare": bare, "query": statistics.median(single),
            }  # fmt: skip
        else:
            cosine = np.sum(vectors * reference["vectors"], axis=1)
            top5 = _top5(query_vectors, vectors)
            same = [a == b for a, b in zip(top5, reference["top5"], strict=True)]
            overlap = [len(a & b) / 5 for a, b in zip(top5, reference["top5"], strict=True)]
            row.update(
                full_vs_torch_full=round(full / reference["full"], 2),
                bare_vs_torch_bare=round(bare / reference["bare"], 2),
                query_vs_torch=round(statistics.median(single) / reference["query"], 2),
                cosine_min=round(float(cosine.min()), 4),
                cosine_mean=round(float(cosine.mean()), 4),
                questions=len(questions),
                same_top5=round(float(np.mean(same)), 3),
                top5_overlap=round(float(np.mean(overlap)), 3),
            )
        rows.append(row)
    return rows


# Runs a command and reports its wall time and peak RSS. A child forked from the bench
# process itself would count the bench's gigabytes in its peak (Linux keeps the pre-exec
# high-water mark), so the measured process is forked from this small launcher.
LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - started
print(f"{os.waitstatus_to_exitcode(status)} {seconds} {usage.ru_maxrss}", file=sys.stderr)
"""


def _timed_process(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one whole process."""
    result = subprocess.run([sys.executable, "-c", LAUNCHER, *command], env=env, cwd=CHECKOUT,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    code, seconds, peak_kb = result.stderr.strip().splitlines()[-1].split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-500:]}")
    return float(seconds), int(peak_kb) / 1024, result.stdout


def suite_cli(ctx: Context) -> list[dict[str, Any]]:
    """`productlens search` cold, as whole processes taking turns with a bare
    `import lancedb`, on the sample catalog (text and image index)."""
    from core.embed import embed_images, embed_texts
    from core.ingest import ingest
    from core.models.clip import load_clip
    from core.models.text import load_text_model
    from core.store import Store

    db = ctx.work / "cli-db"
    store = Store(db)
    ingest(store, SAMPLE, catalog="s")
    embed_texts(store, "s", load_text_model(ctx.settings))
    embed_images(store, "s", load_clip(ctx.settings))
    python = sys.executable
    cli = [python, "-m", "core.cli", "--db", str(db), "--json"]
    commands = {
        "import lancedb": [python, "-c", "import lancedb"],
        "search (ONNX encoders)": [*cli, "search", CLI_QUERY, "--catalog", "s"],
        "search (--encoder torch)": [
            *cli,
            "--encoder",
            "torch",
            "search",
            CLI_QUERY,
            "--catalog",
            "s",
        ],
        "stats": [*cli, "stats"],
    }
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    _timed_process(commands["search (ONNX encoders)"], env)  # exports made once, not timed
    samples: dict[str, list[tuple[float, float, str]]] = {name: [] for name in commands}
    for _ in range(3 if ctx.quick else 5):
        for name, command in commands.items():  # taking turns: drift hits all alike
            samples[name].append(_timed_process(command, env))
    base = statistics.median(s for s, _, _ in samples["import lancedb"])
    rows = []
    for name, runs in samples.items():
        wall = statistics.median(s for s, _, _ in runs)
        loads = [json.loads(out).get("timings_ms", {}).get("load_models") for _, _, out in runs
                 if name.startswith("search")]  # fmt: skip
        rows.append(
            {"process": name, "runs": len(runs), "wall_p50_s": round(wall, 2),
             "vs_import_lancedb": round(wall / base, 2),
             "peak_rss_mb": round(max(r for _, r, _ in runs)),
             "load_models_p50_ms": round(statistics.median(loads)) if loads else None}
        )  # fmt: skip
    return rows
