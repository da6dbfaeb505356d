"""The bridge from an ImageNet trunk into a sentence space: ConSE plus a learned residual.

ConSE (Norouzi et al., 2014) embeds an image as the probability-weighted mean of the
text embeddings of its top-k ImageNet classes. It needs no training, so it stays general:
any word the text tower knows lands near photos of related ImageNet concepts. A linear
adapter on the pooled trunk features adds what ImageNet's 1000 classes lack (product
names, "router", "power bank"); it starts at zero and is scaled by `residual_scale`
(a fixed WiSE-style blend), so the semantic part is never drowned out.

The head replaces the (empty) head of open_clip's TimmModel: `visual = trunk → head`, and
everything else (encode_image, save/load, fine-tuning) is open_clip's own.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.models.concept_config import ConceptHeadConfig


class ConceptHead(nn.Module):
    def __init__(self, cfg: ConceptHeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.classifier = nn.Linear(cfg.in_features, cfg.concepts)
        # Text-tower embeddings of the concept names: fixed, they define the target space.
        self.register_buffer("concept_embeddings", torch.zeros(cfg.concepts, cfg.embed_dim))
        self.adapter = nn.Linear(cfg.in_features, cfg.embed_dim, bias=False)
        nn.init.zeros_(self.adapter.weight)

    def semantic(self, features: torch.Tensor) -> torch.Tensor:
        """ConSE: unit-length mean of the top-k concept embeddings, weighted by softmax."""
        logits = self.classifier(features) / self.cfg.temperature
        top, index = logits.topk(self.cfg.top_k, dim=-1)
        weights = torch.zeros_like(logits).scatter(-1, index, top.softmax(dim=-1))
        return F.normalize(weights @ self.concept_embeddings, dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.semantic(features) + self.cfg.residual_scale * self.adapter(features)


def attach_concept_head(model: Any, cfg: ConceptHeadConfig) -> ConceptHead:
    """Put a ConceptHead on an open_clip model whose timm tower has no projection."""
    visual = model.visual
    if not hasattr(visual, "trunk"):
        raise ValueError("a concept head needs an open_clip timm vision tower")
    head = ConceptHead(cfg)
    visual.head = head
    return head
