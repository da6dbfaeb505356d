"""kill -9 in the middle of ingest and embedding, and two ingests at once, on a real store.

The processes are the real `productlens` command; the kill is a real SIGKILL sent while
an ingest's one commit is being written, or once an embedding run has committed some
(not all) of its batches.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import KAGGLE_CSV

pytestmark = pytest.mark.skipif(not KAGGLE_CSV.is_file(), reason="needs the Kaggle CSV")


def big_csv(path: Path, rows: int) -> Path:
    """`rows` Kaggle rows (the real file, repeated with numbered names)."""
    with open(KAGGLE_CSV, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        source = list(reader)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(rows):
            row = list(source[i % len(source)])
            row[0] = f"{row[0]} #{i}"
            writer.writerow(row)
    return path


def cli(*args: str, db: Path) -> subprocess.Popen:
    env = {**os.environ, "PRODUCTLENS_DB": str(db), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", *args, "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def versions(db: Path, table: str) -> int:
    folder = db / f"{table}.lance" / "_versions"
    return len(list(folder.glob("*.manifest"))) if folder.is_dir() else 0


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    """SIGKILL `proc` as soon as `ready()` holds (it must still be running then)."""
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never {what}")
        time.sleep(0.005)
    if proc.poll() is not None:
        pytest.fail(f"the process finished before it could be killed: {proc.stderr.read()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def kill_after_commits(proc: subprocess.Popen, db: Path, table: str, commits: int) -> None:
    kill_when(proc, lambda: versions(db, table) >= commits, f"{commits} commits of {table}")


def product_ids(db: Path, catalog: str) -> list[int]:
    from core.store import Store

    table = Store(db).products.where(catalog, columns=["product_id"])
    return table.column("product_id").to_pylist()


def kill_while_writing(proc: subprocess.Popen, db: Path, table: str) -> None:
    """SIGKILL once the writer has written data files of `table` but not yet committed
    them (the table's versions unchanged since its creation)."""
    data = db / f"{table}.lance" / "data"
    kill_when(proc, lambda: data.is_dir() and any(data.iterdir()), f"a data file of {table}")


def test_kill_9_during_ingest_leaves_nothing_half_then_rerun_leaves_every_row_once(tmp_path):
    """An ingest is one commit: killed while writing, the catalog is as it was (here:
    absent), never half there; the next run stores every row once."""
    from core.catalog.parse import read_catalog
    from core.store import Store

    rows = 40_000
    source = big_csv(tmp_path / "big.csv", rows)
    db = tmp_path / "db"
    proc = cli("ingest", str(source), "--catalog", "big", db=db)
    kill_while_writing(proc, db, "products")
    assert versions(db, "products") <= 1  # the table's creation at most: nothing committed
    assert product_ids(db, "big") == []
    assert Store(db).catalogs.names() == []

    rerun = cli("ingest", str(source), "--catalog", "big", db=db)
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read()
    ids = product_ids(db, "big")
    assert len(ids) == rows and sorted(ids) == list(range(rows))
    expected = read_catalog(source).products[31_337]
    stored = Store(db).products.get("big", 31_337)
    assert stored["name"] == expected.name and stored["actual_price"] == expected.actual_price
    assert Store(db).catalogs.names() == ["big"]


def test_kill_9_during_embedding_then_rerun_finishes_the_rest(tmp_path):
    from core.ingest import ingest
    from core.store import Store

    rows = 1_500
    source = big_csv(tmp_path / "small.csv", rows)
    db = tmp_path / "db"
    ingest(Store(db), source, catalog="small")
    table = "vectors__text__all-minilm-l6-v2"
    proc = cli("embed", "--what", "text", "--catalog", "small", db=db)
    kill_after_commits(proc, db, table, 2)
    done = Store(db).vectors.hashes("text", "all-minilm-l6-v2", "small")
    assert 0 < len(done) < rows

    rerun = cli("embed", "--what", "text", "--catalog", "small", "--json", db=db)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    import json

    report = json.loads(out)["reports"][0]
    assert report["reused"] >= len(done) and report["computed"] == rows - report["reused"]
    ids, vectors = Store(db).vectors.load("text", "all-minilm-l6-v2", "small")
    assert sorted(ids) == list(range(rows)) and vectors.shape == (rows, 384)


def test_two_ingests_at_once_do_not_corrupt_the_store(tmp_path):
    rows = 12_000
    first = big_csv(tmp_path / "a.csv", rows)
    db = tmp_path / "db"
    procs = [
        cli("ingest", str(first), "--catalog", "alpha", db=db),
        cli("ingest", str(first), "--catalog", "beta", db=db),
        cli("ingest", str(first), "--catalog", "alpha", db=db),  # the same catalog twice
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    for catalog in ("alpha", "beta"):
        ids = product_ids(db, catalog)
        assert len(ids) == rows and len(set(ids)) == rows
