from __future__ import annotations

import json
import os
import subprocess
import sys

from core.cli.app import main
from tests.conftest import KAGGLE_CSV, ROOT, needs_kaggle, write_sample_subset


def run(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json", "--quiet"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@needs_kaggle
def test_ingest_show_stats_embed(capsys, tmp_path, tiny_clip_dir):
    db = str(tmp_path / "db")
    code, report = run(capsys, "--db", db, "ingest", str(KAGGLE_CSV))
    assert code == 0 and report["ingested"] == 9600 and report["rejected"] == 0
    assert report["images"] == {"ok": 0, "missing": 9600, "failed": 0}

    code, product = run(capsys, "--db", db, "show", "0")
    assert (product["discount_price"], product["actual_price"]) == (10999, 18999)
    assert (product["rating"], product["rating_count"]) == (4.0, 965)

    folder = write_sample_subset(tmp_path / "mini", 8)
    run(capsys, "--db", db, "ingest", str(folder), "--catalog", "mini")
    code, embedded = run(
        capsys, "--db", db, "--clip", str(tiny_clip_dir), "embed", "--catalog", "mini"
    )
    assert code == 0
    assert [r["computed"] for r in embedded["reports"]] == [8, 8]
    assert "text encoder: onnx-fp32" in embedded["notes"]
    # the tiny CLIP's text tower is open_clip's own: it stays on PyTorch, and says so
    assert "CLIP text tower for queries: torch" in embedded["notes"]

    code, stats = run(capsys, "--db", db, "stats")
    by_name = {c["catalog"]: c for c in stats["catalogs"]}
    assert by_name["amazon_electronics_2023"]["products"] == 9600
    assert by_name["mini"]["embeddings"] == {
        "text__all-minilm-l6-v2": 8,
        "image__tiny-clip": 8,
    }


def test_errors_are_one_line_and_exit_2(capsys, tmp_path):
    code = main(["--db", str(tmp_path / "db"), "show", "1"])
    assert code == 2
    assert "no catalog yet" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, payload = run(capsys, "--db", str(tmp_path / "db"), "ingest", str(empty))
    assert code == 2 and "empty" in payload["error"]
    code, payload = run(
        capsys, "--db", str(tmp_path / "db"), "ingest", str(empty), "--catalog", "Bad Name"
    )
    assert code == 2 and "invalid catalog name" in payload["error"]


def test_console_script_and_env_db(tmp_path):
    folder = write_sample_subset(tmp_path / "mini", 3)
    env = {**os.environ, "PRODUCTLENS_DB": str(tmp_path / "envdb")}
    exe = os.path.join(os.path.dirname(sys.executable), "productlens")
    result = subprocess.run(
        [exe, "ingest", str(folder), "--json", "-q"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["products_in_catalog"] == 3
    assert (tmp_path / "envdb").is_dir()


@needs_kaggle
def test_read_commands_default_to_the_most_recently_ingested_catalog(capsys, tmp_path):
    db = str(tmp_path / "db")
    run(capsys, "--db", db, "ingest", str(write_sample_subset(tmp_path / "sample", 2)))
    run(capsys, "--db", db, "ingest", str(KAGGLE_CSV))
    _, product = run(capsys, "--db", db, "show", "0")
    assert product["catalog"] == "amazon_electronics_2023"
    _, product = run(capsys, "--db", db, "show", "0", "--catalog", "sample")
    assert product["catalog"] == "sample"


def test_search_and_ask_print_what_they_understood(capsys, shop_catalog):
    common = ["--db", str(shop_catalog.db_path), "--clip", shop_catalog.clip_model]
    code, payload = run(capsys, *common, "ask", "boAt earphones under 1k", "--catalog", "shop")
    assert code == 0
    understood = payload["understood"]
    assert understood["brands"] == ["boat"] and understood["max_price"] == 1000
    assert [c["label"] for c in understood["constraints"]] == ["brand: boat", "≤ ₹1,000"]
    assert payload["recommended_ids"] and not payload["cited_but_breaking"]
    assert all(r["price"] <= 1000 for r in payload["text_results"])
    code, literal = run(capsys, *common, "search", "boAt earphones under 1k", "--literal",
                        "--catalog", "shop")  # fmt: skip
    assert literal["understood"]["constraints"] == []
    assert literal["understood"]["search_text"] == "boAt earphones under 1k"
    main([*common, "search", "boAt earphones under 1k", "--catalog", "shop", "--quiet"])
    text = capsys.readouterr().out
    assert text.startswith('understood: "boAt earphones" · brand: boat, ≤ ₹1,000')
