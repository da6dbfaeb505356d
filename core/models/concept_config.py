"""What a checkpoint says about its concept head, torch-free: reading a config, or naming
the offline recipe, imports no training framework."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CONCEPT_HEAD_KEY = "concept_head"  # open_clip_config.json entry of a core.models.concept_head head


@dataclass(frozen=True)
class ConceptHeadConfig:
    """What a checkpoint says about its core.models.concept_head head (torch-free, so reading
    a config, or naming the offline recipe, imports no training framework)."""

    in_features: int = 1280
    concepts: int = 1000
    embed_dim: int = 384
    top_k: int = 10
    temperature: float = 1.0
    residual_scale: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
