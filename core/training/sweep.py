"""Sweeps: the cross product of hyper-parameter axes, one run per config from a fresh
copy of the base model.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from core.models.activation_cache import ActivationCache
from core.models.clip import ClipParts
from core.progress import Progress
from core.run_ids import RunError
from core.training.config import TrainConfig
from core.training.finetune import fine_tune
from core.training.pairs import Pair, Split
from core.training.runs import RunRecord
from core.training.tracking import MlflowTracker

log = logging.getLogger(__name__)

# --- sweeps ----------------------------------------------------------------------------

SWEEP_AXES = ("epochs", "batch_size", "freeze_vision", "lr", "cached_views")


def sweep_configs(base: TrainConfig, grid: Mapping[str, Sequence[Any]]) -> list[TrainConfig]:
    """The cross product of `grid` (axes of TrainConfig) applied to `base`."""
    unknown = set(grid) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise ValueError(f"unknown sweep axes: {sorted(unknown)}")
    axes = [a for a in grid if grid[a]]
    combos = itertools.product(*(list(grid[a]) for a in axes))
    return [replace(base, **dict(zip(axes, combo, strict=True))) for combo in combos]


def run_sweep(
    make_parts: Callable[[], ClipParts],
    base: Mapping[str, Any],
    pairs: Sequence[Pair],
    configs: Sequence[TrainConfig],
    runs_dir: Path,
    name: str = "sweep",
    sources: Sequence[str] = (),
    progress: Progress | None = None,
    tracker: MlflowTracker | None = None,
    split: Split | None = None,
    cache: ActivationCache | None = None,
) -> tuple[list[RunRecord], list[tuple[str, str]]]:
    """One run per config, each from a fresh copy of the base model.

    A config that cannot train (e.g. more frozen blocks than the model has) is reported
    and the sweep goes on; a single run re-raises so the caller sees why.
    """
    records, failures = [], []
    # In MLflow a sweep is a parent run with one child per configuration.
    grouped = tracker.sweep(name, len(configs)) if tracker and len(configs) > 1 else nullcontext()
    with grouped:
        for i, config in enumerate(configs, 1):
            label = name if len(configs) == 1 else f"{name}-{i}"
            try:
                records.append(
                    fine_tune(
                        make_parts(), base, pairs, config, runs_dir, label, sources, progress,
                        tracker, split, cache,
                    )
                )  # fmt: skip
            except (ValueError, RunError) as exc:
                if len(configs) == 1:
                    raise
                log.warning("sweep run %s failed: %s", label, exc)
                failures.append((label, str(exc)))
    return records, failures


def copy_parts(parts: ClipParts) -> ClipParts:
    return replace(parts, model=copy.deepcopy(parts.model))
