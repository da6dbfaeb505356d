"""The training loop: epochs of contrastive steps, a validation entry and a resumable
state per epoch, then the held-out test evaluation and the checkpoint.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.models.clip import save_clip
from core.progress import Progress
from core.run_ids import run_dir
from core.training.freezing import hold_frozen_norms
from core.training.runs import RunRecord, save_run
from core.training.session import Session, batches, contrastive_loss, evaluate_split, wise_merge
from core.training.tracking import MlflowTracker

log = logging.getLogger(__name__)
STATE_FILE = "state.pt"


@dataclass
class Trainer:
    """One run in progress: its session, its record, and the optimisation state."""

    session: Session
    record: RunRecord
    runs_dir: Path
    optimizer: Any
    scheduler: Any
    progress: Progress | None = None
    initial_state: dict[str, Any] | None = None  # the starting weights, for WiSE-FT
    tracker: MlflowTracker | None = None

    @property
    def folder(self) -> Path:
        return run_dir(self.runs_dir, self.record.run_id)

    def run(self, start_epoch: int = 0) -> RunRecord:
        """Train from `start_epoch` to the configured epochs, then test and checkpoint.
        The record is saved whatever happens; a failure is recorded, then re-raised."""
        tracker = self.tracker
        if tracker is not None and not (self.record.tracking or {}).get("run_id"):
            tracker.start(self.record)
        try:
            for epoch in range(start_epoch + 1, self.session.config.epochs + 1):
                entry = self._epoch(epoch)
                self.record.history.append(entry)
                self.record.epochs_done = epoch
                self._save_state(epoch)
                save_run(self.runs_dir, self.record)
                if tracker is not None:
                    tracker.epoch(self.record, entry)
                log.info("epoch %d: %s", epoch, entry)
            self._finish()
        except BaseException as exc:
            self.record.status, self.record.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            save_run(self.runs_dir, self.record)
            if tracker is not None:
                tracker.finish(self.record, self.folder)
                save_run(self.runs_dir, self.record)
        return self.record

    def _epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training split, then the validation figures for the history."""
        session, cfg = self.session, self.session.config
        session.model.train()
        hold_frozen_norms(session.model, session.frozen)
        steps = batches(
            session.usable(session.split.train), cfg.batch_size, cfg.seed * 1000 + epoch
        )
        started, losses = time.perf_counter(), []
        for step, keys in enumerate(steps, 1):
            losses.append(self._step(keys))
            if self.progress:
                self.progress(
                    step, len(steps), f"epoch {epoch}/{cfg.epochs}", f"loss {losses[-1]:.3f}"
                )
        seconds = time.perf_counter() - started
        images = sum(map(len, steps))
        timings = self.record.timings
        timings["train_s"] = round(timings.get("train_s", 0.0) + seconds, 2)
        timings["train_images"] = int(timings.get("train_images", 0)) + images
        val = evaluate_split(session, session.split.val)
        classification = val.get("classification") or {}
        return {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)) if losses else None,
            "val_loss": val.get("loss"),
            "val_accuracy": classification.get("accuracy"),
            "val_per_class": {
                c["label"]: c["accuracy"] for c in classification.get("per_class", [])
            },
            "val_recall@1": (val.get("retrieval") or {}).get("recall@1"),
            "seconds": round(seconds, 2),
            "images_per_s": round(images / seconds, 1) if seconds else None,
            "lr": self.scheduler.get_last_lr()[0],
        }

    def _step(self, keys: list[str]) -> float:
        session = self.session
        texts = [session.pairs[k].text for k in keys]
        loss = contrastive_loss(
            session.image_features(keys, train=True),
            session.text_features(texts, train=True),
            texts,
            session.scale(),
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.item())

    def _save_state(self, epoch: int) -> None:
        """What `resume` needs to continue after this epoch."""
        import torch

        state = {
            "epoch": epoch,
            "model": self.session.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }
        torch.save(state, self.folder / STATE_FILE)

    def _finish(self) -> None:
        """WiSE-FT merge (if asked), the held-out test evaluation, and the checkpoint."""
        session, record = self.session, self.record
        if session.config.wise_alpha is not None and self.initial_state is not None:
            wise_merge(session.model, self.initial_state, session.config.wise_alpha)
        started = time.perf_counter()
        record.after = evaluate_split(session, session.split.test)
        eval_s = record.timings.get("eval_s", 0.0) + time.perf_counter() - started
        record.timings["eval_s"] = round(eval_s, 2)
        train_s = record.timings.get("train_s", 0.0)
        images = record.timings.get("train_images", 0)
        record.timings["train_images_per_s"] = round(images / train_s, 1) if train_s else 0.0
        checkpoint = save_clip(
            session.model,
            session.parts.model_cfg,
            self.folder / "checkpoint",
            key=f"run-{record.run_id}".lower()[:80],
            extra={"run_id": record.run_id, "base": record.base, "config": record.config},
            text_assets=session.parts.text_assets,
        )
        record.checkpoint = str(checkpoint)
        record.status = "done"
