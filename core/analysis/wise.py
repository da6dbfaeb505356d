"""What specialising costs: WiSE-FT blends between a baseline and its fine-tune.

WiSE-FT (Wortsman et al., 2022) interpolates weights, θ(α) = (1 − α)·θ_baseline +
α·θ_fine-tuned. Scoring a few α on the fine-tune's own held-out photos and, zero-shot, on
other labelled datasets shows how much general zero-shot ability the gain cost, and
whether a blend keeps most of the gain for less. α = 0 is the baseline and α = 1 the
fine-tune, scored exactly as the comparison scores them.

When the two models share their first blocks (a fine-tune that froze them), every blend
shares them too, so the activation cache computes them once for all blends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.datasets.registry import PhotoDataset
from core.models.activation_cache import ActivationCache
from core.models.zeroshot import DEFAULT_TEMPLATES
from core.progress import Progress
from core.settings import Settings

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class WisePoint:
    alpha: float
    target: float  # held-out accuracy on the fine-tune's dataset
    target_ci: tuple[float, float]
    general: dict[str, float]  # zero-shot accuracy per other dataset


@dataclass(frozen=True)
class WiseCurve:
    target: str  # the dataset the fine-tune was trained on (its held-out part)
    general: list[str]  # the other datasets, zero-shot on their held-out parts
    points: list[WisePoint] = field(default_factory=list)
    n_target: int = 0
    n_general: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WiseCurve:
        points = [WisePoint(**{**p, "target_ci": tuple(p["target_ci"])}) for p in data["points"]]
        return cls(**{**data, "points": points})


class WiseUnavailable(ValueError):
    """The two models cannot be blended (different architectures)."""


def blend_state(base: dict[str, Any], tuned: dict[str, Any], alpha: float) -> dict[str, Any]:
    """(1 − α)·base + α·tuned for floating-point tensors; others (counters) from `tuned`."""
    if base.keys() != tuned.keys() or any(base[k].shape != tuned[k].shape for k in base):
        raise WiseUnavailable("the two models have different architectures: no blend exists")
    return {
        k: (1 - alpha) * base[k] + alpha * v if v.is_floating_point() else v
        for k, v in tuned.items()
    }


def blended_models(base: Any, tuned: Any, alphas: Sequence[float]) -> Iterator[float]:
    """Load each blend into `tuned` in turn (yielding its α); `base` is left untouched."""
    # Copies: state_dict() shares storage with the model, so loading one blend would
    # overwrite the fine-tuned weights the next blend is made from.
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    tuned_state = {k: v.clone() for k, v in tuned.state_dict().items()}
    for alpha in alphas:
        tuned.load_state_dict(blend_state(base_state, tuned_state, alpha))
        yield alpha


def wise_curve(
    settings: Settings,
    store: Any,
    baseline_spec: str,
    tuned_spec: str,
    target: PhotoDataset,
    general: Sequence[PhotoDataset],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    alphas: Sequence[float] = ALPHAS,
    progress: Progress | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> WiseCurve:
    """Held-out accuracy on `target` and zero-shot accuracy on each `general` dataset for
    every blend weight, leaving out `exclude` (photos either model trained on); stored, and
    reused while neither model nor dataset changes."""
    from core.analysis.evaluate import evaluate_dataset
    from core.models.clip import build_clip, clip_model, weights_digest
    from core.models.sources import resolve_clip

    sources = [
        resolve_clip(settings.with_overrides(clip_model=s)) for s in (baseline_spec, tuned_spec)
    ]
    digests = [weights_digest(s.path) if s.path else s.loads for s in sources]
    key = _curve_key(digests, target, general, templates, alphas, exclude)
    if (stored := store.evaluations.load(key)) is not None:
        return WiseCurve.from_dict(stored["curve"])
    base_parts, tuned_parts = (build_clip(s) for s in sources)
    cache = ActivationCache(settings.activation_cache_dir)
    points, n_general, n_target = [], {}, 0
    blends = blended_models(base_parts.model, tuned_parts.model, alphas)
    for number, alpha in enumerate(blends, 1):
        blended = clip_model(replace(sources[1], key=f"wise-{alpha:g}"), tuned_parts)
        scored = evaluate_dataset(target, blended, "test", templates, cache=cache, exclude=exclude)
        general_scores = {}
        for other in general:
            evaluation = evaluate_dataset(
                other, blended, "test", templates, cache=cache, exclude=exclude
            )
            general_scores[other.name] = evaluation.report.accuracy
            n_general[other.name] = evaluation.report.n
        n_target = scored.report.n
        points.append(WisePoint(alpha, scored.report.accuracy, scored.report.ci, general_scores))
        if progress:
            progress(number, len(alphas), "WiSE-FT blends")
    curve = WiseCurve(target.name, [g.name for g in general], points, n_target, n_general)
    store.evaluations.save(
        key,
        {"model_key": "wise-ft", "dataset": target.ident, "label_set": "folders",
         "curve": curve.as_dict()},
    )  # fmt: skip
    return curve


def _curve_key(
    digests: Sequence[Any],
    target: PhotoDataset,
    general: Sequence[PhotoDataset],
    templates: Sequence[str],
    alphas: Sequence[float],
    exclude: set[str] | frozenset[str],
) -> str:
    versions = [(d.name, d.fingerprint, d.keys("test"), d.words) for d in (target, *general)]
    decides = ["wise", list(digests), versions, list(templates), list(alphas), sorted(exclude)]
    payload = json.dumps(decides)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]
