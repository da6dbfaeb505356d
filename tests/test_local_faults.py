"""A local store that breaks under a running app (a table's folder deleted, a data file
truncated) and a disk that fills up during ingest and embed: one clear line, and nothing
else in the store lost. The disk is a real full filesystem (a 3 MB tmpfs in a private
mount namespace), not a patched write call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app_session import found_products, one_line_error, open_session, search_for
from tests.browser import running_app
from tests.conftest import ROOT, store_env


def _counts(db: Path) -> dict[str, int]:
    """What the store holds, read by a fresh process's view of it."""
    from core.store import Store

    store = Store(db)
    return {"products": store.products.count("mini"), **store.vectors.counts("mini")}


@pytest.fixture
def app_url(own_sample):
    env = {**store_env(own_sample), "PRODUCTLENS_WARM_UP": "0"}
    with running_app(env, timeout_s=120) as url:
        yield url


def test_a_table_deleted_then_a_file_truncated_under_the_running_app(own_sample, app_url):
    db = Path(own_sample.db_path)
    with open_session(app_url) as session:
        assert found_products(search_for(session, "speaker wire cable"))
        before = _counts(db)
        text_table = next(db.glob("vectors__text__*.lance"))
        shutil.rmtree(text_table)
        message = one_line_error(search_for(session, "usb cable"))
        assert f"`{text_table.stem}`" in message and "missing" in message
        # The rest is intact and the same running app still serves it.
        after = _counts(db)
        assert after == {k: v for k, v in before.items() if not k.startswith("text__")}
        catalog = session.run(page="Catalog")
        assert found_products(catalog) and len(catalog.tables[0]) == before["products"]

        data_files = {
            path: path.read_bytes() for path in (db / "products.lance" / "data").iterdir()
        }
        for data_file in data_files:
            with open(data_file, "r+b") as handle:
                handle.truncate(64)
        message = one_line_error(session.run(page="Catalog"))
        # (Lance's message names no file here, so the line cannot name the table.)
        assert "is damaged or truncated" in message and str(db) in message
        # Nothing else is lost: the image vectors are whole and still read.
        from core.store import Store

        images = {k: v for k, v in after.items() if k.startswith("image__")}
        assert images and {k: Store(db).vectors.counts("mini")[k] for k in images} == images
        # The files restored (from a backup, say): the same server shows the catalog again.
        for data_file, content in data_files.items():
            data_file.write_bytes(content)
        session.run(widgets={"Try again": True})
        catalog = session.run(page="Catalog")
        assert found_products(catalog) and len(catalog.tables[0]) == before["products"]


FULL_DISK_SCENARIO = """
import json, subprocess, sys
from pathlib import Path
from tests.conftest import write_shop_csv

disk, work = Path(sys.argv[1]), Path(sys.argv[2])
def cli(*args):
    done = subprocess.run([sys.executable, "-m", "core.cli", "--db", str(disk / "db"), *args],
                          capture_output=True, text=True)
    return {"code": done.returncode, "err": done.stderr}
small, big = write_shop_csv(work / "small.csv", 1), write_shop_csv(work / "big.csv", 40)
steps = {"small": cli("ingest", str(small), "--catalog", "small", "--quiet")}
steps["ballast"] = subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'ballast'}", "bs=64k"],
                                  capture_output=True).returncode
steps["big"] = cli("ingest", str(big), "--catalog", "big", "--quiet")
steps["embed"] = cli("embed", "--catalog", "small", "--what", "text", "--no-map", "-q")
from core.store import Store
store = Store(disk / "db")
steps["after"] = {"catalogs": store.catalogs.names(), "small": store.products.count("small"),
                  "rows": store.products.where("small", columns=["name"]).num_rows}
(disk / "ballast").unlink()
steps["again"] = cli("embed", "--catalog", "small", "--what", "text", "--no-map", "-q")
steps["vectors"] = Store(disk / "db").vectors.counts("small")
print(json.dumps(steps, default=str))
"""


def test_a_full_disk_during_ingest_and_embed(tmp_path):
    """Inside a private mount namespace, a 3 MB tmpfs is the store's disk: one catalog
    fits, then a ballast file fills the rest; the next ingest and an embed fail with a
    one-line message, the first catalog is whole, and the embed succeeds once space is
    freed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "scenario.py"
    script.write_text(FULL_DISK_SCENARIO)
    mount = f"mount -t tmpfs -o size=3m tmpfs {disk}"
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", mount], capture_output=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a small filesystem here: {probe.stderr.decode()[:200]}")
    command = f'{mount} && exec "{sys.executable}" "{script}" "{disk}" "{tmp_path}"'
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", command], cwd=ROOT, capture_output=True, text=True,
        timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                          "PRODUCTLENS_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    assert steps["small"]["code"] == 0
    for failed in (steps["big"], steps["embed"]):
        assert failed["code"] == 2, failed
        assert failed["err"].startswith("error: No space left on the disk of the store at")
        assert failed["err"].count("\n") == 1  # one line, no traceback
    assert steps["after"] == {"catalogs": ["small"], "small": 23, "rows": 23}
    assert steps["again"]["code"] == 0, steps["again"]
    assert steps["vectors"] == {"text__all-minilm-l6-v2": 23}
