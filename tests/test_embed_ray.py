"""`productlens embed --engine ray` on a local Ray instance with 2 workers: the same vectors
as the single-process path, and nothing lost or doubled when a worker or the whole job is
killed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, SHOP_ROWS

pytest.importorskip("ray", reason="make installs the scale extra with dev")

TEXT_KEY = "all-minilm-l6-v2"
# 40 copies of 16 listings: three shards of at most 256 (two workers, one does two) whose
# boundaries fall between copies, so each shard's batches hold the same names as the
# single-process run's and the vectors can be compared bit for bit.
LISTINGS = SHOP_ROWS[:16]
COPIES = 40
ROWS = COPIES * len(LISTINGS)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A text catalog of ROWS products, embedded by the single-process path for reference."""
    from core.embed import embed_texts
    from core.models.text import load_text_model
    from tests.conftest import write_shop_csv

    base = tmp_path_factory.mktemp("ray-shop")
    write_shop_csv(base / "shop.csv", copies=COPIES, rows=LISTINGS)
    reference = _ingested(base, "reference")
    embed_texts(_store(reference), "shop", load_text_model(reference))
    return base, _vectors(reference)


def _ingested(base: Path, name: str):
    from core.ingest import ingest
    from core.settings import Settings

    settings = Settings(data_dir=base, db_path=base / name)
    ingest(_store(settings), base / "shop.csv", catalog="shop")
    return settings


def _store(settings):
    from core.store import Store

    return Store(settings.db_path, settings.storage_options)


def _vectors(settings) -> dict[int, np.ndarray]:
    ids, vectors = _store(settings).vectors.load("text", TEXT_KEY, "shop")
    assert len(ids) == len(set(ids)), "duplicate vectors"
    return dict(zip(ids, vectors, strict=True))


def _ray_worker_pids() -> list[int]:
    listing = subprocess.run(["pgrep", "-f", "ShardEncoder"], capture_output=True, text=True)
    return [int(pid) for pid in listing.stdout.split()]


def _kill_one_worker(killed: list[int], deadline_s: float = 240) -> None:
    """SIGKILL the first Ray encoder actor that appears (its shard must be retried)."""
    deadline = time.time() + deadline_s
    while time.time() < deadline and not killed:
        workers = _ray_worker_pids()
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])
        time.sleep(0.1)


def test_a_killed_ray_job_resumes_and_survives_a_killed_worker_with_the_same_vectors(shop):
    """Kill the whole job midway, then a worker of the resumed run: every product ends
    with exactly one vector, bit for bit the single-process one, and the resumed run
    computes only what the killed job had not stored."""
    from core.embed_ray import embed_with_ray

    base, reference = shop
    settings = _ingested(base, "ray")
    env = {**os.environ, "PRODUCTLENS_DATA_DIR": str(base), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "core.cli", "--db", str(settings.db_path), "--quiet",
        "embed", "--catalog", "shop", "--what", "text", "--engine", "ray", "--workers", "2",
        "--no-map",
    ]  # fmt: skip
    job = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.time() + 240
        while time.time() < deadline and job.poll() is None:
            if _store(settings).vectors.counts("shop"):
                break
            time.sleep(0.2)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the driver and the Ray instance it started
        job.wait()
    # Actors the killed driver started can outlive its process group by a moment and
    # store one more shard: what the killed job stored is counted once none is left.
    deadline = time.time() + 30
    while (leftover := _ray_worker_pids()) and time.time() < deadline:
        for pid in leftover:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    stored_before = _store(settings).vectors.counts("shop").get(f"text__{TEXT_KEY}", 0)
    assert 0 < stored_before < ROWS, "the job was not killed midway"

    killed: list[int] = []
    watcher = threading.Thread(target=_kill_one_worker, args=(killed,), daemon=True)
    watcher.start()
    resumed = embed_with_ray(settings, "shop", "text", workers=2)
    watcher.join(timeout=5)
    assert killed, "no worker was killed: the test proved nothing"
    assert resumed.reused == stored_before and resumed.computed == ROWS - stored_before
    assert not resumed.failed
    vectors = _vectors(settings)  # one per product: a retried shard merged, not appended
    assert sorted(vectors) == sorted(reference)
    assert all(np.array_equal(vectors[i], reference[i]) for i in reference)  # bit for bit
    again = embed_with_ray(settings, "shop", "text", workers=2)
    assert again.computed == 0 and again.reused == ROWS
