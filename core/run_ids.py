"""What a fine-tuning run is called and where its folder is: the one rule both the run
registry and model resolution (`run:ID`) follow.
"""

from __future__ import annotations

import re
from pathlib import Path

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


class RunError(RuntimeError):
    pass


def run_dir(runs_dir: Path, run_id: str) -> Path:
    if not RUN_ID_RE.match(run_id) or ".." in run_id:
        raise RunError(f"not a run id: {run_id!r}")
    return Path(runs_dir) / run_id


def latest_named(runs_dir: Path, name: str, has: str = "checkpoint") -> str | None:
    """The newest run called `name` (ids are "YYYYMMDD-HHMMSS-<name>-<hex>") whose folder
    holds `has`: what `run:pc-parts` means when no run has that exact id."""
    pattern = re.compile(rf"^\d{{8}}-\d{{6}}-{re.escape(name)}-[0-9a-f]{{6}}$")
    folders = Path(runs_dir).iterdir() if Path(runs_dir).is_dir() else ()
    ids = sorted(f.name for f in folders if pattern.match(f.name) and (f / has).exists())
    return ids[-1] if ids else None
