"""Zero-shot classification with a CLIP model: class prompts → text features → argmax."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


ClassWords = Mapping[str, Sequence[str]]  # class → the phrases it is prompted with


def prompts_for(label: str, templates: Sequence[str], words: ClassWords | None = None) -> list[str]:
    """Every template with every phrase of the class ("RAM memory module", "memory
    stick" for `ram`), or with the class name itself when no phrases are given."""
    phrases = (words or {}).get(label) or [label]
    return [t.format(label=phrase) for phrase in phrases for t in templates]


def class_text_features(
    model: Any,
    tokenizer: Any,
    labels: Sequence[str],
    templates: Sequence[str],
    words: ClassWords | None = None,
) -> np.ndarray:
    """One unit vector per class: the normalised mean of its prompt embeddings."""
    import torch

    with torch.inference_mode():
        rows = []
        for label in labels:
            prompts = prompts_for(label, templates, words)
            feats = model.encode_text(tokenizer(prompts)).float()
            feats = torch.nn.functional.normalize(feats, dim=-1).mean(dim=0)
            rows.append(torch.nn.functional.normalize(feats, dim=-1))
        return torch.stack(rows).cpu().numpy().astype(np.float32)


def classify(
    model: Any,
    tokenizer: Any,
    image_features: np.ndarray,
    labels: Sequence[str],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    words: ClassWords | None = None,
) -> tuple[list[str], np.ndarray]:
    """Zero-shot: each image's class among `labels` (prompted by `templates`, with each
    class's `words`) and the image × class similarities."""
    features = class_text_features(model, tokenizer, labels, templates, words)
    return predict(image_features, features, labels)


def predict(
    image_features: np.ndarray, class_features: np.ndarray, labels: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """Predicted label per image and the full similarity matrix (images × classes)."""
    sims = np.asarray(image_features, dtype=np.float32) @ class_features.T
    return [labels[i] for i in sims.argmax(axis=1)], sims
