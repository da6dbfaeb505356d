"""Zero-shot classification with a CLIP model: class prompts → text features → argmax."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_TEMPLATES: tuple[str, ...] = ("a photo of {label}",)
# A small ensemble in the spirit of CLIP's prompt engineering, for catalog photos.
PRODUCT_TEMPLATES: tuple[str, ...] = (
    "a photo of {label}",
    "a photo of a {label}",
    "a product photo of a {label}",
    "an online shop picture of a {label}",
)


def prompts_for(label: str, templates: Sequence[str]) -> list[str]:
    return [t.format(label=label) for t in templates]


def class_text_features(
    model: Any, tokenizer: Any, labels: Sequence[str], templates: Sequence[str]
) -> np.ndarray:
    """One unit vector per class: the normalised mean of its prompt embeddings."""
    import torch

    with torch.inference_mode():
        rows = []
        for label in labels:
            feats = model.encode_text(tokenizer(prompts_for(label, templates))).float()
            feats = torch.nn.functional.normalize(feats, dim=-1).mean(dim=0)
            rows.append(torch.nn.functional.normalize(feats, dim=-1))
        return torch.stack(rows).cpu().numpy().astype(np.float32)


def classify(
    model: Any,
    tokenizer: Any,
    image_features: np.ndarray,
    labels: Sequence[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
) -> tuple[list[str], np.ndarray]:
    """Zero-shot: each image's class among `labels` (prompted by `templates`) and the
    image × class similarities."""
    return predict(image_features, class_text_features(model, tokenizer, labels, templates), labels)


def predict(
    image_features: np.ndarray, class_features: np.ndarray, labels: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """Predicted label per image and the full similarity matrix (images × classes)."""
    sims = np.asarray(image_features, dtype=np.float32) @ class_features.T
    return [labels[i] for i in sims.argmax(axis=1)], sims
