"""What one fine-tuning run is told: the hyper-parameters, validated on construction."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from core.models.zeroshot import DEFAULT_TEMPLATES

# --- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    batch_size: int = 32
    lr: float = 5e-6
    weight_decay: float = 0.1
    optimizer: str = "adamw"  # adam | adamw
    schedule: str = "cosine"  # cosine (with warm-up) | constant
    warmup_frac: float = 0.05
    freeze_vision: int = 0  # first N vision blocks (and the stem before them) stay fixed
    freeze_text: bool = False  # the whole text tower stays fixed
    seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.2
    augment: str = "light"  # none | light | strong
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    wise_alpha: float | None = None  # WiSE-FT: (1-α)·zero-shot + α·fine-tuned weights
    image_cache_side: int = 0  # images are kept decoded at this size; 0 → 1.15 × input
    eval_batch_size: int = 128
    # Views per training photo computed once through the frozen vision blocks (the first
    # is the evaluation view, the others augmented); steps then run only the unfrozen
    # rest. 0: the whole tower runs every step, on fresh augmentations.
    cached_views: int = 0
    words: dict[str, list[str]] = field(default_factory=dict)  # phrases per class (datasets)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be ≥ 1 and batch_size ≥ 2")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if self.optimizer not in ("adam", "adamw") or self.schedule not in ("cosine", "constant"):
            raise ValueError("optimizer is adam|adamw, schedule is cosine|constant")
        if self.augment not in ("none", "light", "strong"):
            raise ValueError("augment is none|light|strong")
        if self.wise_alpha is not None and not 0.0 <= self.wise_alpha <= 1.0:
            raise ValueError("wise_alpha must be within [0, 1]")
        if self.freeze_vision < 0:
            raise ValueError("freeze_vision must be ≥ 0")
        if self.cached_views < 0:
            raise ValueError("cached_views must be ≥ 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "templates" in values:
            values["templates"] = tuple(values["templates"])
        return cls(**values)
