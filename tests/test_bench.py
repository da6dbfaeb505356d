"""The benchmark command runs and writes its tables (timings themselves are not asserted)."""

from __future__ import annotations

import json

import pytest

from bench.harness import markdown, run_bench
from core.latency import percentiles


def test_percentiles_pick_order_statistics():
    samples = [float(i) for i in range(1, 101)]
    p = percentiles(samples)
    assert p["n"] == 100 and p["p50_ms"] in (50.0, 51.0) and p["p99_ms"] == 99.0


def test_quick_bench_writes_json_and_markdown(tmp_path, settings_for):
    document = run_bench(settings_for(), quick=True, only=["ingest", "umap"], out_dir=tmp_path)
    assert set(document["suites"]) == {"ingest", "umap"}
    assert all(s["error"] is None for s in document["suites"].values())
    umap = document["suites"]["umap"]["rows"][0]
    assert umap["points"] == 2_000 and umap["cached_ms"] < umap["cold_s"] * 1000
    assert json.loads((tmp_path / "bench-quick.json").read_text())["quick"] is True
    assert not (tmp_path / "bench.json").exists()  # quick runs never replace full results
    text = (tmp_path / "bench-quick.md").read_text()
    assert "## ingest" in text and "| points | cold_s | cached_ms |" in text


def test_a_failing_suite_is_reported_not_fatal():
    document = {
        "machine": "m", "cpus": 2, "python": "3", "quick": True, "started": "t",
        "total_seconds": 1, "clip": "c",
        "suites": {"x": {"seconds": 1, "rows": [], "error": "Boom: no"}},
    }  # fmt: skip
    assert "**failed:** Boom: no" in markdown(document)
    with pytest.raises(ValueError, match="unknown suites"):
        run_bench(None, only=["nope"])  # type: ignore[arg-type]
