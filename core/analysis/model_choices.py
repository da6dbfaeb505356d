"""Which CLIP models and labelled datasets a comparison can offer, each with a stable
identity and a name people read (the internal spec stays in `detail`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.settings import Settings

if TYPE_CHECKING:
    from core.training.runs import RunRecord

OFFLINE_LABEL = "Offline CLIP (EfficientNet-Lite + MiniLM)"


@dataclass(frozen=True)
class ModelChoice:
    label: str  # what people read
    spec: str  # what --clip / PRODUCTLENS_CLIP takes
    run_id: str | None = None  # a fine-tuning run's id: it has training curves
    detail: str = ""  # where it comes from, for a details expander
    dataset: str | None = None  # the registered dataset a run was trained on


@dataclass(frozen=True)
class DatasetChoice:
    label: str  # what people read
    ident: str  # "dataset:NAME", "catalog:NAME/LABELLER" or "folder:PATH"
    kwargs: dict[str, Any] = field(default_factory=dict)  # for evaluate_cached


def run_dataset(run: RunRecord) -> str | None:
    """The registered dataset a run trained on ("pc-parts"), if it did."""
    from core.datasets.registry import DATASET_PREFIX

    for source in run.data.get("sources", []):
        if str(source).startswith(DATASET_PREFIX):
            return str(source).removeprefix(DATASET_PREFIX).split("@")[0]
    return None


def run_label(run: RunRecord) -> str:
    when = run.created_at.replace("T", " ")[:16]
    return f"Fine-tuned “{run.name}” ({when})"


def model_choices(settings: Settings) -> list[ModelChoice]:
    """The offline CLIP if built, the configured CLIP, and every finished run, newest
    first. Models with the same weights (same weights digest) are listed once: a
    comparison of a model with itself shows nothing."""
    from core.models.sources import (
        CLIP_CONFIG_FILE,
        ModelUnavailable,
        offline_clip_dir,
        resolve_clip,
    )
    from core.training.runs import list_runs

    candidates: list[ModelChoice] = []
    offline = offline_clip_dir(settings)
    if (offline / CLIP_CONFIG_FILE).is_file():
        candidates.append(ModelChoice(OFFLINE_LABEL, str(offline), detail=str(offline)))
    try:
        source = resolve_clip(settings)
        label = f"CLIP {source.key} ({source.status})"
        candidates.append(ModelChoice(label, settings.clip_model, detail=source.detail))
    except ModelUnavailable:
        pass
    for run in list_runs(settings.runs_dir):
        if run.status == "done" and run.checkpoint:
            detail = f"run {run.run_id}, from {run.base.get('key')}"
            choice = ModelChoice(
                run_label(run), run.clip_spec, run.run_id, detail, run_dataset(run)
            )
            candidates.append(choice)
    choices, seen = [], set()
    for choice in candidates:
        identity = model_identity(settings, choice.spec)
        if identity not in seen:
            seen.add(identity)
            choices.append(choice)
    return choices


def default_pair(settings: Settings, choices: list[ModelChoice]) -> tuple[int, int]:
    """(baseline, fine-tuned) indices: the newest run trained on a registered dataset (else
    the newest run) and the model it was tuned from. Without a run, the first two different
    models; the two are never the same weights."""
    from core.run_ids import RunError
    from core.training.runs import load_run

    runs = [i for i, c in enumerate(choices) if c.spec.startswith("run:")]
    if not runs:
        return 0, min(1, len(choices) - 1)
    tuned = next((i for i in runs if choices[i].dataset), runs[0])
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
    from core.models.clip import weights_digest
    from core.models.sources import ModelUnavailable, resolve_clip

    try:
        source = resolve_clip(settings.with_overrides(clip_model=spec))
    except ModelUnavailable:
        return f"unavailable:{spec}"
    if source.path is not None:
        return weights_digest(source.path) or source.loads
    return source.loads


def same_weights(settings: Settings, spec_a: str, spec_b: str) -> bool:
    return model_identity(settings, spec_a) == model_identity(settings, spec_b)


def dataset_choices(store: Any, extra_folders: list[Path]) -> list[DatasetChoice]:
    """Registered datasets (their held-out part), labelled catalogs, then class folders
    that are not registered."""
    from core.analysis.issue_sources import HUMAN, with_corrections
    from core.datasets.registry import datasets

    out: list[DatasetChoice] = []
    registered = datasets(store)
    for dataset in registered:
        label = (
            f"{dataset.name}: {len(dataset.words)} classes, held-out photos "
            f"({len(dataset.keys('test')):,})"
        )
        out.append(DatasetChoice(label, dataset.ident, {"dataset": dataset}))
        fixed = with_corrections(store, dataset)
        if fixed.corrections:  # the same photos with the labels people fixed
            label = f"{label}, {len(fixed.corrections)} labels fixed by hand"
            out.append(DatasetChoice(label, dataset.ident, {"dataset": fixed}))
    for catalog in store.catalogs.names():
        for labeller, _vocab, count in store.labels.labellers(catalog):
            if labeller == HUMAN:  # only the fixes: their set is "<labeller>+human"
                continue
            how = "fixed by hand" if labeller.endswith(f"+{HUMAN}") else "from names"
            label = f"{catalog} catalog: pseudo-labels {how} ({count:,} products)"
            kwargs = {"catalog": catalog, "labeller": labeller}
            out.append(DatasetChoice(label, f"catalog:{catalog}/{labeller}", kwargs))
    roots = {Path(d.root).resolve() for d in registered}
    for folder in extra_folders:
        if folder.is_dir() and folder.resolve() not in roots:
            out.append(
                DatasetChoice(f"folder {folder.name}", f"folder:{folder}", {"folder": folder})
            )
    return out


def clip_spec_for_key(settings: Settings, model_key: str) -> str | None:
    """The CLIP spec whose vectors are stored under `model_key`, among the known models."""
    from core.models.sources import ModelUnavailable, resolve_clip

    for choice in model_choices(settings):
        try:
            if resolve_clip(settings.with_overrides(clip_model=choice.spec)).key == model_key:
                return choice.spec
        except ModelUnavailable:
            continue
    return None


def run_record(settings: Settings, choice: ModelChoice) -> RunRecord | None:
    """The fine-tuning run a choice names (its per-epoch history, its MLflow link); None
    for a model that is not a run, or a run whose record cannot be read."""
    from core.run_ids import RunError
    from core.training.runs import load_run

    if choice.run_id is None:
        return None
    try:
        return load_run(settings.runs_dir, choice.run_id)
    except RunError:
        return None
