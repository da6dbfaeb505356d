"""Does the offline CLIP stay general? Zero-shot on product kinds it never trained on.

Leave-classes-out over the sample catalog's pseudo-labels: the analysis classes present
are dealt into folds; for each fold, the adapter is trained on everything *except* that
fold's products (and office photos of those classes), and every product of the fold is
classified zero-shot among all analysis classes. No photo or name of a held-out kind is
seen, not even unlabelled. Candidates are measured on the same folds:

- semantic only: ConSE, no training at all;
- adapter alone: a linear projection trained on the pairs (what the recipe would be
  without the ImageNet classifier's semantic embedding);
- recipe without distillation: ConSE + adapter, adapter trained on the pairs only;
- recipe: ConSE + adapter trained with distillation toward ConSE (what is shipped).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from core.metrics import wilson_interval
from core.progress import Progress
from core.settings import Settings

FOLDS = 5
OFFICE_TO_VOCABULARY = {"phone": "smartphone"}


def _adapter_only(in_features: int, embed_dim: int, seed: int) -> Any:
    import torch

    class AdapterOnly(torch.nn.Module):
        """A plain linear projection: nothing keeps it near the semantic embedding."""

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(seed)
            self.adapter = torch.nn.Linear(in_features, embed_dim, bias=False)
            torch.nn.init.normal_(self.adapter.weight, std=0.01)

        def semantic(self, features: Any) -> Any:
            return torch.zeros(len(features), embed_dim)

        def forward(self, features: Any) -> Any:
            return self.adapter(features)

    return AdapterOnly()


def kind(pair: Any) -> str | None:
    """A pair's class in the vocabulary (office folders say "phone" for "smartphone")."""
    return OFFICE_TO_VOCABULARY.get(pair.label, pair.label)


def leave_classes_out(
    settings: Settings, config: Any = None, progress: Progress | None = None
) -> dict[str, Any]:
    """`config` is the recipe's AdapterTraining (default: the shipped one)."""
    import copy

    import torch
    import torch.nn.functional as F

    from core.analysis.labels import ANALYSIS_CLASSES
    from core.models.activation_cache import ActivationCache
    from core.models.imagenet_trunk import trunk_named
    from core.models.sources import offline_clip_dir
    from core.models.zeroshot import class_text_features, predict
    from core.offline_clip.recipe import (
        CLASS_TEMPLATE,
        TRAINING,
        cache_features,
        encode_texts,
        offline_parts,
        train_adapter,
        training_data,
        with_remembered_office_items,
    )

    config = config or TRAINING
    settings = with_remembered_office_items(settings, offline_clip_dir(settings))
    data = training_data(settings, config)
    parts = offline_parts(trunk=trunk_named(config.trunk))
    pairs = data.all_pairs()
    cached = cache_features(parts, pairs, progress, ActivationCache(settings.activation_cache_dir))
    train_keys = set(data.keys("train"))
    sample = [p for p in data.pairs.get("sample", []) if cached.ok(p.key)]
    present = sorted({p.label for p in sample if p.label in ANALYSIS_CLASSES})
    folds = [present[i::FOLDS] for i in range(FOLDS)]
    classes = list(ANALYSIS_CLASSES)
    class_feats = class_text_features(parts.model, parts.tokenizer, classes, [CLASS_TEMPLATE])
    base_head = parts.model.visual.head
    hits: dict[str, list[bool]] = {}
    no_distill = replace(config, distill_weight=0.0)
    for number, fold in enumerate(folds, 1):
        held = set(fold)
        train = [
            p for p in pairs if p.key in train_keys and cached.ok(p.key) and kind(p) not in held
        ]
        test = [p for p in sample if p.label in held]
        texts = [p.text for p in train]
        text_feats = encode_texts(parts.model, parts.tokenizer, texts)
        features = cached.rows([p.key for p in train])
        candidates = {
            "semantic only (ConSE, no training)": (copy.deepcopy(base_head), None),
            "adapter alone (linear head on the pairs)": (
                _adapter_only(base_head.cfg.in_features, base_head.cfg.embed_dim, 0),
                no_distill,
            ),
            "ConSE + adapter, no distillation": (copy.deepcopy(base_head), no_distill),
            "ConSE + adapter + distillation (shipped)": (copy.deepcopy(base_head), config),
        }
        truth = [p.label for p in test]
        test_feats = cached.rows([p.key for p in test])
        for name, (head, config) in candidates.items():
            if config is not None:
                train_adapter(head, features, text_feats, texts, features, config)
            with torch.no_grad():
                images = F.normalize(head(test_feats), dim=-1).numpy()
            predicted, _ = predict(images, class_feats, classes)
            hits.setdefault(name, []).extend(p == t for p, t in zip(predicted, truth, strict=True))
        if progress:
            progress(number, len(folds), "leave-classes-out folds")
    report: dict[str, Any] = {"folds": folds, "classes": len(classes), "variants": {}}
    lines = [
        f"zero-shot over {len(classes)} analysis classes on sample products of kinds left "
        f"out of training ({FOLDS} folds; chance {1 / len(classes):.3f}):"
    ]
    for name, values in hits.items():
        n, correct = len(values), int(np.sum(values))
        low, high = wilson_interval(correct, n)
        report["variants"][name] = {"accuracy": correct / n, "ci": [low, high], "n": n}
        lines.append(f"  {name}: {correct / n:.3f} (95% CI {low:.3f}–{high:.3f}), n={n}")
    report["lines"] = lines
    return report
