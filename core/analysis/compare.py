"""Baseline vs fine-tuned: the numbers the Model comparison page shows (per-class table,
confusion difference, flips, label audit), restricted to items neither model trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis.evaluate import Evaluation
from core.settings import Settings


def per_class_table(a: Evaluation, b: Evaluation) -> list[dict[str, Any]]:
    rows = []
    by_b = {c.label: c for c in b.report.per_class}
    for c in a.report.per_class:
        other = by_b.get(c.label)
        acc_b = other.accuracy if other else None
        delta = acc_b - c.accuracy if acc_b is not None and c.accuracy is not None else None
        rows.append(
            {"class": c.label, "support": c.support, "baseline": c.accuracy,
             "fine_tuned": acc_b, "delta": delta}
        )  # fmt: skip
    return rows


def normalised(matrix: list[list[int]]) -> np.ndarray:
    """Rows sum to 1 (rows are true classes); empty rows stay zero."""
    m = np.asarray(matrix, dtype=float)
    totals = m.sum(axis=1, keepdims=True)
    return np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)


def confusion_difference(a: Evaluation, b: Evaluation) -> np.ndarray:
    return normalised(b.report.confusion) - normalised(a.report.confusion)


def flips(a: Evaluation, b: Evaluation) -> dict[str, list[dict[str, Any]]]:
    """Items the fine-tune fixed (baseline wrong, fine-tuned right) and broke (the reverse)."""
    by_id = {item["id"]: item for item in b.items}
    fixed, broke = [], []
    for item in a.items:
        other = by_id.get(item["id"])
        if other is None:
            continue
        row = {
            "id": item["id"], "name": item.get("name", ""), "image": item.get("image"),
            "true": item["true"], "baseline": item["pred"], "fine_tuned": other["pred"],
        }  # fmt: skip
        a_ok, b_ok = item["pred"] == item["true"], other["pred"] == other["true"]
        if b_ok and not a_ok:
            fixed.append(row)
        elif a_ok and not b_ok:
            broke.append(row)
    return {"fixed": fixed, "broke": broke}


@dataclass(frozen=True)
class PairedTest:
    """McNemar's exact test on paired predictions: is the difference more than noise?"""

    fixed: int  # baseline wrong, fine-tuned right
    broke: int  # baseline right, fine-tuned wrong
    n: int  # items both models were evaluated on
    p_value: float
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def sentence(self) -> str:
        verdict = "is more than noise" if self.significant else "is not more than noise"
        return (
            f"The difference {verdict} at this n: of {self.n} items both models saw, the "
            f"fine-tune fixed {self.fixed} and broke {self.broke} (McNemar's exact test, "
            f"p = {self.p_value:.2g}; the bar is p < {self.alpha:g})."
        )


def mcnemar(a: Evaluation, b: Evaluation, alpha: float = 0.05) -> PairedTest:
    """Only the items the models disagree on count: under "no difference" each is a fair
    coin between fixed and broke, so p is a two-sided exact binomial tail."""
    changes = flips(a, b)
    fixed, broke = len(changes["fixed"]), len(changes["broke"])
    paired = len({item["id"] for item in a.items} & {item["id"] for item in b.items})
    discordant = fixed + broke
    tail = sum(math.comb(discordant, k) for k in range(min(fixed, broke) + 1))
    p_value = min(1.0, 2 * tail / 2**discordant) if discordant else 1.0
    return PairedTest(fixed, broke, paired, p_value, alpha)


def precision_recall_table(a: Evaluation, b: Evaluation) -> list[dict[str, Any]]:
    """Per class: support, then precision, recall and F1 of the baseline and the fine-tune."""
    tuned = {c.label: c for c in b.report.per_class}
    rows = []
    for base in a.report.per_class:
        row: dict[str, Any] = {"class": base.label, "support": base.support}
        for prefix, metrics in (("baseline", base), ("fine_tuned", tuned.get(base.label))):
            row[f"{prefix}_precision"] = metrics.precision if metrics else None
            row[f"{prefix}_recall"] = metrics.accuracy if metrics else None
            row[f"{prefix}_f1"] = metrics.f1 if metrics else None
        rows.append(row)
    return rows


def cell_items(evaluation: Evaluation, true: str, predicted: str) -> list[dict[str, Any]]:
    return [i for i in evaluation.items if i["true"] == true and i["pred"] == predicted]


def label_audit(a: Evaluation, b: Evaluation) -> dict[str, int]:
    """How the (pseudo-)label, the baseline and the fine-tune agree, item by item."""
    by_id = {item["id"]: item for item in b.items}
    counts = {
        "all three agree": 0,
        "both models disagree with the label, and agree with each other": 0,
        "only the baseline agrees with the label": 0,
        "only the fine-tune agrees with the label": 0,
        "all three differ": 0,
    }
    for item in a.items:
        other = by_id.get(item["id"])
        if other is None:
            continue
        label, pa, pb = item["true"], item["pred"], other["pred"]
        if pa == label and pb == label:
            counts["all three agree"] += 1
        elif pa == label:
            counts["only the baseline agrees with the label"] += 1
        elif pb == label:
            counts["only the fine-tune agrees with the label"] += 1
        elif pa == pb:
            counts["both models disagree with the label, and agree with each other"] += 1
        else:
            counts["all three differ"] += 1
    return counts


def training_keys(settings: Settings, spec: str, depth: int = 0) -> set[str]:
    """Pair keys a model was trained or validated on, including what the model it was
    fine-tuned from saw (empty when unknown or pretrained)."""
    import json

    from core.models.sources import ModelUnavailable, checkpoint_dir_of, resolve_clip
    from core.run_ids import RunError
    from core.training.pairs import read_split
    from core.training.runs import load_run, read_inputs

    try:
        source = resolve_clip(settings.with_overrides(clip_model=spec))
    except ModelUnavailable:
        return set()
    directory = source.path
    if directory is None or depth > 5:
        return set()
    own = read_split(directory)  # models built outside the run registry say it themselves
    if own is not None:
        return set(own.train) | set(own.val)
    try:
        run_id = json.loads((directory / "productlens.json").read_text()).get("run_id")
        if not run_id:
            return set()
        _, split = read_inputs(settings.runs_dir, run_id)
        base_load = load_run(settings.runs_dir, run_id).base.get("load")
    except (OSError, ValueError, RunError):
        return set()
    seen = set(split.train) | set(split.val)
    if base_load and checkpoint_dir_of(base_load) is not None:
        seen |= training_keys(settings, base_load, depth + 1)
    return seen


def item_key(evaluation: Evaluation, item: dict[str, Any]) -> str:
    """The training-pair key of an evaluated item (see training.pairs)."""
    if evaluation.dataset.startswith("catalog:"):
        return f"{evaluation.dataset.removeprefix('catalog:')}:{item['id']}"
    return str(item["id"])


def restrict(evaluation: Evaluation, exclude: set[str]) -> Evaluation:
    """The same evaluation over the items not in `exclude`, with metrics recomputed."""
    from dataclasses import replace

    from core.metrics import classification_report

    kept = [i for i in evaluation.items if item_key(evaluation, i) not in exclude]
    if not kept:
        raise ValueError("every evaluated item was used for training")
    report = classification_report(
        [i["true"] for i in kept], [i["pred"] for i in kept], evaluation.report.labels
    )
    skipped = evaluation.skipped + len(evaluation.items) - len(kept)
    return replace(evaluation, report=report, items=kept, retrieval=None, skipped=skipped)


def on_common_items(a: Evaluation, b: Evaluation) -> tuple[Evaluation, Evaluation, int]:
    """Both evaluations over the items both of them scored, so every figure on the page
    counts the same items; also returns how many items only one of them had."""
    keys_a = {item_key(a, i) for i in a.items}
    keys_b = {item_key(b, i) for i in b.items}
    if keys_a == keys_b:
        return a, b, 0
    common = keys_a & keys_b
    return restrict(a, keys_a - common), restrict(b, keys_b - common), len(keys_a ^ keys_b)
