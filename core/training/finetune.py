"""Contrastive CLIP fine-tuning: start a run on pairs or resume one from its saved state;
each run is recorded (and mirrored to MLflow) by core.training.runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from core.models.activation_cache import ActivationCache
from core.models.clip import ClipParts, build_clip
from core.models.sources import CLIP_CONFIG_FILE, ModelSource
from core.progress import Progress
from core.run_ids import RunError, run_dir
from core.training.config import TrainConfig
from core.training.loop import STATE_FILE, Trainer
from core.training.pairs import Pair, Split, split_pairs
from core.training.runs import RunRecord, load_run, new_run_id, read_inputs, save_run, write_inputs
from core.training.session import (
    batches,
    evaluate_split,
    make_optimizer,
    make_scheduler,
    open_session,
)
from core.training.tracking import MlflowTracker

log = logging.getLogger(__name__)
ARCHITECTURE_DIR = "architecture"


def fine_tune(
    parts: ClipParts,
    base: Mapping[str, Any],
    pairs: Sequence[Pair],
    config: TrainConfig,
    runs_dir: Path,
    name: str = "finetune",
    sources: Sequence[str] = (),
    progress: Progress | None = None,
    tracker: MlflowTracker | None = None,
    split: Split | None = None,
    cache: ActivationCache | None = None,
) -> RunRecord:
    """Train `parts.model` in place on `pairs`; the run is recorded under `runs_dir` (and
    in MLflow when a tracker is given). `split`: a given split (a registered dataset's,
    which keeps near-duplicates together), else a class-stratified one by `config.seed`."""
    if len(pairs) < 4:
        raise ValueError(f"need at least 4 training pairs, got {len(pairs)}")
    split = split or split_pairs(pairs, config.seed, config.val_frac, config.test_frac)
    record = RunRecord(
        run_id=new_run_id(name),
        name=name,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        base=dict(base),
        config=asdict(config),
        data={"sources": list(sources), "pairs": len(pairs), "split": split.counts()},
    )
    folder = save_run(runs_dir, record)
    write_inputs(folder, pairs, split)
    _write_architecture(folder, parts)
    initial = None
    if config.wise_alpha is not None:
        initial = {k: v.detach().clone() for k, v in parts.model.state_dict().items()}
    trainer = _trainer(
        parts, pairs, split, config, record, runs_dir, progress, initial, tracker, cache
    )
    session = trainer.session
    record.data["unreadable_images"] = len(session.bank.failed)
    record.data["frozen_parameters"] = len(session.frozen)
    record.data["labels"] = session.labels
    started = time.perf_counter()
    record.before = evaluate_split(session, split.test)
    record.timings["eval_s"] = round(time.perf_counter() - started, 2)
    save_run(runs_dir, record)
    return trainer.run()


def resume(
    runs_dir: Path,
    run_id: str,
    epochs: int | None = None,
    progress: Progress | None = None,
    initial: ClipParts | None = None,
    tracker: MlflowTracker | None = None,
    cache: ActivationCache | None = None,
) -> RunRecord:
    """Continue a run from its last finished epoch (optionally to a new epoch count).

    WiSE-FT needs the starting weights again: pass them as `initial` for such runs.
    """
    import torch

    record = load_run(runs_dir, run_id)
    folder = run_dir(runs_dir, run_id)
    state_path = folder / STATE_FILE
    if not state_path.is_file():
        raise RunError(f"run {run_id!r} has no saved state to resume from")
    config = TrainConfig.from_dict(record.config)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if record.epochs_done >= config.epochs:
        raise RunError(f"run {run_id!r} already has {record.epochs_done} epochs")
    if config.wise_alpha is not None and initial is None:
        raise RunError("resuming a WiSE-FT run needs the starting model (initial=...)")
    parts = build_clip(ModelSource.checkpoint(_architecture_dir(folder, record)))
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    parts.model.load_state_dict(state["model"])
    pairs, split = read_inputs(runs_dir, run_id)
    initial_state = initial.model.state_dict() if initial is not None else None
    record.config, record.status, record.error = asdict(config), "running", None
    trainer = _trainer(
        parts, pairs, split, config, record, runs_dir, progress, initial_state, tracker, cache
    )
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    return trainer.run(start_epoch=int(state["epoch"]))


def _trainer(
    parts: ClipParts,
    pairs: Sequence[Pair],
    split: Split,
    config: TrainConfig,
    record: RunRecord,
    runs_dir: Path,
    progress: Progress | None,
    initial_state: dict[str, Any] | None,
    tracker: MlflowTracker | None = None,
    cache: ActivationCache | None = None,
) -> Trainer:
    """What a new run and a resumed one both set up: the session, optimiser and schedule."""
    started = time.perf_counter()
    session = open_session(parts, pairs, split, config, progress, cache)
    record.timings["load_s"] = round(time.perf_counter() - started, 2)
    optimizer = make_optimizer(parts.model, config)
    steps = len(batches(session.usable(split.train), config.batch_size, 0))
    scheduler = make_scheduler(optimizer, config, steps)
    return Trainer(
        session, record, runs_dir, optimizer, scheduler, progress, initial_state, tracker
    )


def _architecture_dir(folder: Path, record: RunRecord) -> Path:
    path = folder / ARCHITECTURE_DIR
    if not (path / CLIP_CONFIG_FILE).is_file():
        raise RunError(f"run {record.run_id!r} has no saved model architecture")
    return path


def _write_architecture(folder: Path, parts: ClipParts) -> None:
    """Config (and text-tower tokenizer files) without weights: resume rebuilds from it
    and loads state.pt, so a run killed before its first checkpoint can still go on."""
    from core.models.clip import checkpoint_config, copy_text_assets

    path = folder / ARCHITECTURE_DIR
    path.mkdir(parents=True, exist_ok=True)
    config = checkpoint_config(parts.model, parts.model_cfg)
    (path / CLIP_CONFIG_FILE).write_text(json.dumps(config, indent=2))
    copy_text_assets(parts.text_assets, path)
