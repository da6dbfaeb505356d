"""Baseline vs fine-tuned: the numbers the Model comparison page shows, without Streamlit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.config import Settings
from core.evaluate import Evaluation


@dataclass(frozen=True)
class ModelChoice:
    label: str  # what people read
    spec: str  # what --clip / PRODUCTLENS_CLIP takes


def model_choices(settings: Settings) -> list[ModelChoice]:
    """The configured CLIP, the offline CLIP if built, and every finished run.

    Models with the same weights (same weights digest) are listed once: a comparison of
    a model with itself shows nothing."""
    from core.models import CLIP_CONFIG_FILE, ModelUnavailable, offline_clip_dir, resolve_clip
    from core.runs import list_runs

    candidates: list[ModelChoice] = []
    try:
        source = resolve_clip(settings)
        candidates.append(ModelChoice(f"{source.key} ({source.status})", settings.clip_model))
    except ModelUnavailable:
        pass
    offline = offline_clip_dir(settings)
    if (offline / CLIP_CONFIG_FILE).is_file():
        candidates.append(ModelChoice("offline CLIP (EfficientNet-Lite + MiniLM)", str(offline)))
    for run in list_runs(settings.runs_dir):
        if run.status == "done" and run.checkpoint:
            candidates.append(ModelChoice(f"run {run.run_id} ({run.name})", run.clip_spec))
    choices, seen = [], set()
    for choice in candidates:
        identity = model_identity(settings, choice.spec)
        if identity not in seen:
            seen.add(identity)
            choices.append(choice)
    return choices


def default_pair(settings: Settings, choices: list[ModelChoice]) -> tuple[int, int]:
    """(baseline, fine-tuned) indices: the newest run and the model it was tuned from.

    Without a run, the first two different models; the two are never the same weights."""
    from core.runs import RunError, load_run

    runs = [i for i, c in enumerate(choices) if c.spec.startswith("run:")]
    if not runs:
        return 0, min(1, len(choices) - 1)
    tuned = runs[0]
    try:
        base = load_run(settings.runs_dir, choices[tuned].spec.removeprefix("run:")).base
    except RunError:
        base = {}
    base_identity = model_identity(settings, base["load"]) if base.get("load") else None
    for i, choice in enumerate(choices):
        if i != tuned and model_identity(settings, choice.spec) == base_identity:
            return i, tuned
    return next(i for i in range(len(choices)) if i != tuned), tuned


def model_identity(settings: Settings, spec: str) -> str:
    """What makes two specs the same model: the weights digest, or the resolved load."""
    from core.models import ModelUnavailable, resolve_clip, weights_digest

    try:
        load = resolve_clip(settings.with_overrides(clip_model=spec)).load
    except ModelUnavailable:
        return f"unavailable:{spec}"
    if load.startswith("local-dir:"):
        return weights_digest(Path(load.removeprefix("local-dir:"))) or load
    return load


def same_weights(settings: Settings, spec_a: str, spec_b: str) -> bool:
    return model_identity(settings, spec_a) == model_identity(settings, spec_b)


def dataset_choices(store: Any, extra_folders: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    """(label, evaluate_cached kwargs) for labelled catalogs and class folders."""
    out: list[tuple[str, dict[str, Any]]] = []
    for catalog in store.catalogs():
        for labeller, _vocab, count in store.labellers(catalog):
            out.append(
                (
                    f"{catalog} — {labeller} labels ({count})",
                    {"catalog": catalog, "labeller": labeller},
                )
            )
    for folder in extra_folders:
        if folder.is_dir():
            out.append((f"folder {folder.name}", {"folder": folder}))
    return out


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

    from core.finetune import read_inputs
    from core.models import ModelUnavailable, resolve_clip
    from core.offline_clip import read_split
    from core.runs import RunError, load_run

    try:
        source = resolve_clip(settings.with_overrides(clip_model=spec))
    except ModelUnavailable:
        return set()
    if not source.load.startswith("local-dir:") or depth > 5:
        return set()
    directory = Path(source.load.removeprefix("local-dir:"))
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
    if base_load and base_load.startswith("local-dir:"):
        seen |= training_keys(settings, base_load, depth + 1)
    return seen


def item_key(evaluation: Evaluation, item: dict[str, Any]) -> str:
    """The training-pair key of an evaluated item (see finetune.catalog/folder_pairs)."""
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


def clip_spec_for_key(settings: Settings, model_key: str) -> str | None:
    """The CLIP spec whose vectors are stored under `model_key`, among the known models."""
    from core.models import ModelUnavailable, resolve_clip

    for choice in model_choices(settings):
        try:
            if resolve_clip(settings.with_overrides(clip_model=choice.spec)).key == model_key:
                return choice.spec
        except ModelUnavailable:
            continue
    return None
