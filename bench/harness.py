"""`python -m bench`: speed, memory, scale and quality, measured side by side in one run.

Every suite writes its rows into one document (bench/results/bench.json) and one
Markdown table per suite (bench/results/bench.md); `--quick` runs write bench-quick.*
so they never replace full results. Ratios are taken between numbers measured in the
same run, because absolute times on a shared machine drift. A suite that fails is
recorded with its error and the others still run.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.context import RESULTS, Context
from bench.encoders import suite_cli, suite_encoders
from bench.load import suite_load, suite_writes_while_reading
from bench.quality import suite_offline_clip, suite_retrieval_quality
from bench.scale import suite_scale
from bench.scale_out import suite_object_storage, suite_ray_embed
from bench.speed import (
    suite_ann,
    suite_chroma,
    suite_embed_images,
    suite_embed_texts,
    suite_ingest,
    suite_memory,
    suite_query,
    suite_umap,
)
from core.settings import Settings

SUITES: dict[str, Callable[[Context], list[dict[str, Any]]]] = {
    "retrieval_quality": suite_retrieval_quality,
    "offline_clip": suite_offline_clip,
    "ingest": suite_ingest,
    "embed_images": suite_embed_images,
    "embed_texts": suite_embed_texts,
    "encoders": suite_encoders,
    "query": suite_query,
    "cli": suite_cli,
    "chroma": suite_chroma,
    "ann": suite_ann,
    "umap": suite_umap,
    "memory": suite_memory,
    "object_storage": suite_object_storage,
    "ray_embed": suite_ray_embed,
    "load": suite_load,
    "writes_while_reading": suite_writes_while_reading,
    "scale": suite_scale,
}


def run_bench(
    settings: Settings, quick: bool = False, only: list[str] | None = None, out_dir: Path = RESULTS
) -> dict[str, Any]:
    unknown = set(only or []) - set(SUITES)
    if unknown:
        raise ValueError(f"unknown suites: {sorted(unknown)}; known: {list(SUITES)}")
    work = Path(tempfile.mkdtemp(prefix="productlens-bench-"))
    ctx = Context(settings, quick, work)
    document: dict[str, Any] = {
        "machine": platform.platform(), "python": platform.python_version(),
        "cpus": _cpus(), "quick": quick, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "clip": settings.clip_model, "suites": {},
    }  # fmt: skip
    total = time.perf_counter()
    try:
        for name, suite in SUITES.items():
            if only and name not in only:
                continue
            ctx.note(f"suite {name}…")
            started = time.perf_counter()
            try:
                rows = suite(ctx)
                error = None
            except Exception as exc:  # one broken suite must not hide the others' numbers
                rows, error = [], f"{type(exc).__name__}: {exc}"
            document["suites"][name] = {
                "seconds": round(time.perf_counter() - started, 1), "rows": rows, "error": error,
            }  # fmt: skip
            ctx.note(f"suite {name}: {document['suites'][name]['seconds']} s {error or ''}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    document["total_seconds"] = round(time.perf_counter() - total, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Quick runs get their own files: they must never replace the full results.
    json_path, md_path = results_paths(out_dir, quick)
    if only and json_path.is_file():
        # A partial re-run updates its suites in the last document of the same kind.
        previous = json.loads(json_path.read_text())
        previous["suites"].update(document["suites"])
        previous.setdefault("reruns", []).append(
            {"suites": list(document["suites"]), "started": document["started"]}
        )
        document = previous
    json_path.write_text(json.dumps(document, indent=2))
    md_path.write_text(markdown(document))
    return document


def results_paths(out_dir: Path, quick: bool) -> tuple[Path, Path]:
    stem = "bench-quick" if quick else "bench"
    return out_dir / f"{stem}.json", out_dir / f"{stem}.md"


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def markdown(document: dict[str, Any]) -> str:
    lines = [
        "# ProductLens benchmarks",
        "",
        f"{document['machine']}, {document['cpus']} CPUs, Python {document['python']}; "
        f"{'quick' if document['quick'] else 'full'} run started {document['started']}, "
        f"{document['total_seconds']} s in all. CLIP: `{document['clip']}`.",
        "Reproduce with `make bench` (or `python -m bench --quick`).",
    ]
    for rerun in document.get("reruns", []):
        lines.append(f"Re-run on {rerun['started']}: {', '.join(rerun['suites'])}.")
    for name, suite in document["suites"].items():
        lines += ["", f"## {name} ({suite['seconds']} s)", ""]
        if suite["error"]:
            lines.append(f"**failed:** {suite['error']}")
            continue
        rows = suite["rows"]
        if not rows:
            continue
        columns = list(dict.fromkeys(k for row in rows for k in row))
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in rows:
            lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import argparse

    from core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument("--only", help=f"comma-separated suites of: {', '.join(SUITES)}")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    try:
        document = run_bench(load_settings(), args.quick, only)
    except ValueError as exc:
        parser.error(str(exc))
    json_path, md_path = results_paths(RESULTS, args.quick)
    print(md_path.read_text())
    print(f"written: {json_path}")
    failed = [name for name, suite in document["suites"].items() if suite["error"]]
    if failed:
        raise SystemExit(f"suites that failed: {', '.join(failed)}")
