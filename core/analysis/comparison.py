"""Baseline vs fine-tuned on one labelled dataset, as one typed value: what the Model
comparison page shows and `productlens compare` prints, computed by one function.

Both models are scored on the same items, none of which either trained or validated on
(a registered dataset's held-out part; for catalogs and folders, the items their run
splits held out), with McNemar's test on the items they disagree on, per-class figures,
both confusion matrices, the photos the fine-tune fixed and broke, and a WiSE-FT curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.analysis.compare import (
    PairedTest,
    confusion_difference,
    flips,
    item_key,
    mcnemar,
    on_common_items,
    per_class_table,
    precision_recall_table,
    restrict,
    training_keys,
)
from core.analysis.evaluate import Evaluation
from core.analysis.model_choices import DatasetChoice, ModelChoice, model_identity
from core.analysis.probe import ProbeResult
from core.analysis.wise import WiseCurve
from core.models.zeroshot import DEFAULT_TEMPLATES
from core.progress import Progress
from core.settings import Settings


class ComparisonError(ValueError):
    """A comparison that cannot be made, said in one line."""


@dataclass
class Comparison:
    baseline: ModelChoice
    tuned: ModelChoice
    dataset: DatasetChoice
    a: Evaluation  # the baseline, on the items both models were scored on
    b: Evaluation  # the fine-tune, on the same items
    paired: PairedTest
    left_out: int = 0  # items either model trained or validated on, left out
    only_one: int = 0  # items only one of the two evaluations could score
    wise: WiseCurve | None = None
    wise_note: str = ""  # why there is no curve
    probe: ProbeResult | None = None  # the frozen-trunk probe on the same held-out photos
    warnings: list[str] = field(default_factory=list)

    @property
    def delta(self) -> float:
        return self.b.report.accuracy - self.a.report.accuracy

    @property
    def verdict(self) -> str:
        """ "gain", "regression" or "no difference" (McNemar's test at its alpha)."""
        if not self.paired.significant:
            return "no difference"
        return "gain" if self.paired.fixed > self.paired.broke else "regression"

    def headline(self) -> str:
        ra, rb = self.a.report, self.b.report
        words = {
            "gain": "The fine-tune is better",
            "regression": "The fine-tune is WORSE",
            "no difference": "No difference shown",
        }
        return (
            f"{words[self.verdict]}: {ra.accuracy:.1%} → {rb.accuracy:.1%} "
            f"({self.delta * 100:+.1f} pts) on {ra.n:,} held-out items. {self.paired.sentence()}"
        )

    def as_dict(self) -> dict[str, Any]:
        """Everything the page shows, as JSON (thumbnails are paths)."""

        def model(choice: ModelChoice, evaluation: Evaluation) -> dict[str, Any]:
            r = evaluation.report
            return {
                "label": choice.label, "spec": choice.spec, "detail": choice.detail,
                "accuracy": r.accuracy, "ci": list(r.ci), "n": r.n, "correct": r.correct,
                "balanced_accuracy": r.balanced_accuracy, "confusion": r.confusion,
            }  # fmt: skip

        changes = flips(self.a, self.b)
        return {
            "dataset": {"label": self.dataset.label, "ident": self.dataset.ident},
            "classes": self.a.report.labels,
            "class_words": self.a.class_words,
            "templates": self.a.templates,
            "baseline": model(self.baseline, self.a),
            "fine_tuned": model(self.tuned, self.b),
            "delta": self.delta,
            "verdict": self.verdict,
            "headline": self.headline(),
            "mcnemar": {
                "fixed": self.paired.fixed,
                "broke": self.paired.broke,
                "n": self.paired.n,
                "p_value": self.paired.p_value,
                "alpha": self.paired.alpha,
            },
            "per_class": precision_recall_table(self.a, self.b),
            "per_class_accuracy": per_class_table(self.a, self.b),
            "confusion_difference": confusion_difference(self.a, self.b).tolist(),
            "fixed": changes["fixed"],
            "broke": changes["broke"],
            "left_out_trained": self.left_out,
            "scored_by_one_only": self.only_one,
            "probe": self.probe.as_dict() if self.probe else None,
            "wise": self.wise.as_dict() if self.wise else None,
            "wise_note": self.wise_note,
            "warnings": self.warnings,
        }


def order_warning(settings: Settings, baseline: ModelChoice, tuned: ModelChoice) -> str | None:
    """A pair that looks reversed: the "baseline" was fine-tuned from the "fine-tuned"."""
    from core.analysis.model_choices import run_record

    record = run_record(settings, baseline)
    load = (record.base if record else {}).get("load")
    if load and model_identity(settings, load) == model_identity(settings, tuned.spec):
        return (
            f"“{baseline.label}” was fine-tuned from “{tuned.label}”: the pair looks reversed "
            "(the baseline is usually the model a fine-tune started from)."
        )
    return None


def compare(
    settings: Settings,
    store: Any,
    baseline: ModelChoice,
    tuned: ModelChoice,
    dataset: DatasetChoice,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    classes: Sequence[str] | None = None,
    held_out: bool = True,
    with_wise: bool = True,
    progress: Progress | None = None,
) -> Comparison:
    """Score both models on `dataset` (stored evaluations are reused) and compare them."""
    from core.analysis.evaluate import evaluate_cached
    from core.analysis.model_choices import same_weights
    from core.models.activation_cache import ActivationCache
    from core.models.clip import load_clip

    if same_weights(settings, baseline.spec, tuned.spec):
        raise ComparisonError(
            f"“{baseline.label}” and “{tuned.label}” have identical weights: every figure "
            "would be the same. Pick two different models."
        )
    cache = ActivationCache(settings.activation_cache_dir)
    evaluations = []
    for choice in (baseline, tuned):
        clip = load_clip(settings.with_overrides(clip_model=choice.spec))
        evaluation, _ = evaluate_cached(
            store, clip, classes=classes, templates=templates, progress=progress, cache=cache,
            **dataset.kwargs,
        )  # fmt: skip
        evaluations.append(evaluation)
    seen = training_keys(settings, baseline.spec) | training_keys(settings, tuned.spec)
    left_out = sum(item_key(evaluations[0], i) in seen for i in evaluations[0].items)
    if held_out and left_out:
        try:
            evaluations = [restrict(e, seen) for e in evaluations]
        except ValueError as exc:
            raise ComparisonError(str(exc)) from None
    try:  # one count for every figure: the items both models were scored on
        a, b, only_one = on_common_items(*evaluations)
    except ValueError as exc:
        raise ComparisonError(f"the two evaluations share no items: {exc}") from None
    warnings = [w for w in [order_warning(settings, baseline, tuned)] if w]
    if left_out and not held_out:
        warnings.append(
            f"{left_out} of the evaluated items were used to train or validate one of the "
            "models: these figures flatter it."
        )
    result = Comparison(baseline, tuned, dataset, a, b, mcnemar(a, b), left_out, only_one,
                        warnings=warnings)  # fmt: skip
    target = dataset.kwargs.get("dataset")
    if target is not None:  # the bar a fine-tune must clear, on the very same photos
        from core.analysis.probe import stored_probe

        result.probe = stored_probe(store, target, cache, seen, progress)
    if with_wise:
        result.wise, result.wise_note = _wise(settings, store, result, templates, seen, progress)
    return result


def _wise(
    settings: Settings,
    store: Any,
    result: Comparison,
    templates: Sequence[str],
    seen: set[str],
    progress: Progress | None,
) -> tuple[WiseCurve | None, str]:
    from core.analysis.wise import WiseUnavailable, wise_curve
    from core.datasets.registry import datasets

    target = result.dataset.kwargs.get("dataset")
    if target is None:
        return None, "WiSE-FT curves are drawn for registered datasets (`productlens dataset`)."
    general = [d for d in datasets(store) if d.name != target.name]
    try:
        curve = wise_curve(
            settings, store, result.baseline.spec, result.tuned.spec, target, general,
            templates, progress=progress, exclude=seen,
        )  # fmt: skip
    except WiseUnavailable as exc:
        return None, str(exc)
    return curve, ""
