"""The run registry: one folder per fine-tuning run under `runs_dir`.

    runs_dir/<run_id>/run.json      config, data summary, per-epoch history, metrics, timings
    runs_dir/<run_id>/pairs.jsonl   the training pairs (what resume and audits need)
    runs_dir/<run_id>/split.json    train / val / test keys, fixed by the seed
    runs_dir/<run_id>/state.pt      raw weights + optimizer state after the last epoch
    runs_dir/<run_id>/checkpoint/   the model to use (open_clip local-dir format)

Files are plain JSON so a run can be read without torch; run.json is replaced atomically
after every epoch, so a killed run leaves a readable record with status "running".
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.files import write_json_atomic
from core.run_ids import RunError, run_dir
from core.training.pairs import Pair, Split, read_split, write_split

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


@dataclass
class RunRecord:
    run_id: str
    name: str
    created_at: str
    base: dict[str, Any]  # spec, key and status of the model training started from
    config: dict[str, Any]
    data: dict[str, Any]  # sources and pair/split counts
    status: str = "running"  # running | done | failed
    epochs_done: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)  # test-split metrics at the start
    after: dict[str, Any] = field(default_factory=dict)  # test-split metrics at the end
    timings: dict[str, float] = field(default_factory=dict)
    checkpoint: str | None = None
    error: str | None = None
    tracking: dict[str, Any] | None = None  # the MLflow run (uri, ids, UI link), if tracked

    @property
    def clip_spec(self) -> str:
        return f"run:{self.run_id}"

    def summary(self) -> dict[str, Any]:
        """The lightweight view `productlens runs` lists."""
        acc_before = (self.before.get("classification") or {}).get("accuracy")
        acc_after = (self.after.get("classification") or {}).get("accuracy")
        return {
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at,
            "base": self.base.get("key"),
            "epochs": f"{self.epochs_done}/{self.config.get('epochs')}",
            "batch_size": self.config.get("batch_size"),
            "lr": self.config.get("lr"),
            "freeze_vision": self.config.get("freeze_vision"),
            "accuracy_before": acc_before,
            "accuracy_after": acc_after,
            "images_per_s": self.timings.get("train_images_per_s"),
            "checkpoint": self.checkpoint,
            "mlflow": (self.tracking or {}).get("url") or (self.tracking or {}).get("run_id"),
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_run_id(name: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    return f"{stamp}-{slug}-{uuid.uuid4().hex[:6]}"


def save_run(runs_dir: Path, record: RunRecord) -> Path:
    folder = run_dir(runs_dir, record.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RUN_FILE, record.as_dict())
    return folder


def load_run(runs_dir: Path, run_id: str) -> RunRecord:
    path = run_dir(runs_dir, run_id) / RUN_FILE
    if not path.is_file():
        raise RunError(f"no run {run_id!r} in {runs_dir}")
    try:
        return RunRecord(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise RunError(f"run {run_id!r} has an unreadable record: {exc}") from exc


def list_runs(runs_dir: Path) -> list[RunRecord]:
    """All readable runs, newest first; unreadable folders are skipped with a warning."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    records = []
    for folder in runs_dir.iterdir():
        if (folder / RUN_FILE).is_file():
            try:
                records.append(load_run(runs_dir, folder.name))
            except RunError as exc:
                log.warning("%s", exc)
    return sorted(records, key=lambda r: (r.created_at, r.run_id), reverse=True)


def write_inputs(folder: Path, pairs: Sequence[Pair], split: Split) -> None:
    """The run's pairs and split, so it can be resumed and audited for what it trained on."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "pairs.jsonl", "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")
    write_split(folder, split)


def read_inputs(runs_dir: Path, run_id: str) -> tuple[list[Pair], Split]:
    folder = run_dir(runs_dir, run_id)
    with open(folder / "pairs.jsonl", encoding="utf-8") as handle:
        pairs = [Pair(**json.loads(line)) for line in handle if line.strip()]
    split = read_split(folder)
    if split is None:
        raise RunError(f"run {run_id!r} has no readable split")
    return pairs, split
