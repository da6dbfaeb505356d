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
