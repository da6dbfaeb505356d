"""`productlens compare`: the Model comparison page's figures, without Streamlit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli.registry import CliError, command, resolve_catalog, tqdm_progress
from core.settings import Settings
from core.store import Store


def _compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--baseline", help="a model spec (default: the model the fine-tune started from)"
    )
    p.add_argument("--tuned", help="a model spec, e.g. run:RUN_ID (default: the newest run)")
    p.add_argument("--dataset", help="a registered dataset (default: the fine-tune's own)")
    p.add_argument("--catalog", help="or a catalog, scored against its pseudo-labels")
    p.add_argument("--labeller", help="the catalog's label set (default: local rules + MiniLM)")
    p.add_argument("--images-dir", help="or a folder with one sub-folder per class")
    p.add_argument("--ensemble", action="store_true", help="average several prompt templates")
    p.add_argument("--no-wise", action="store_true", help="skip the WiSE-FT curve")
    p.add_argument(
        "--include-trained", action="store_true",
        help="keep items either model trained or validated on (flatters it)",
    )  # fmt: skip


def choose_models(settings: Settings, baseline: str | None, tuned: str | None) -> tuple:
    """(baseline, fine-tuned) ModelChoices: the given specs, else the page's default pair."""
    from core.analysis.model_choices import ModelChoice, default_pair, model_choices

    choices = model_choices(settings)
    if len(choices) < 2 and not (baseline and tuned):
        raise CliError("a comparison needs two models: fine-tune one with `productlens finetune`")
    by_spec = {c.spec: c for c in choices}
    pair = default_pair(settings, choices) if choices else (0, 0)
    picked = []
    for given, default in ((baseline, pair[0]), (tuned, pair[1])):
        if given is None:
            picked.append(choices[default])
        else:
            picked.append(by_spec.get(given) or ModelChoice(given, given, detail=given))
    return picked[0], picked[1]


def choose_dataset(args: argparse.Namespace, settings: Settings, store: Store, tuned: Any) -> Any:
    from core.analysis.model_choices import DatasetChoice, dataset_choices

    if args.catalog or args.labeller:
        catalog = resolve_catalog(store, settings, args.catalog)
        wanted = {"catalog": catalog, "labeller": args.labeller or None}
        for choice in dataset_choices(store, []):
            if choice.kwargs.get("catalog") == catalog and (
                args.labeller is None or choice.kwargs.get("labeller") == args.labeller
            ):
                return choice
        raise CliError(f"catalog {catalog!r} has no labels {wanted}: run `productlens label`")
    if args.images_dir:
        folder = Path(args.images_dir)
        return DatasetChoice(f"folder {folder.name}", f"folder:{folder}", {"folder": folder})
    name = args.dataset or tuned.dataset
    registered = [c for c in dataset_choices(store, []) if c.ident.startswith("dataset:")]
    if name:
        found = [c for c in registered if c.ident == f"dataset:{name}"]
        if not found:
            raise CliError(f"no registered dataset {name!r}: `productlens dataset add`")
        return found[0]
    if registered:
        return registered[0]
    raise CliError("say what to compare on: --dataset, --catalog or --images-dir")


@command(
    "compare",
    "baseline vs fine-tuned CLIP on held-out labelled data (the Model comparison page)",
    _compare_arguments,
)
def _compare(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.analysis.comparison import ComparisonError, compare
    from core.models.zeroshot import DEFAULT_TEMPLATES, PRODUCT_TEMPLATES

    baseline, tuned = choose_models(settings, args.baseline, args.tuned)
    dataset = choose_dataset(args, settings, store, tuned)
    templates = PRODUCT_TEMPLATES if args.ensemble else DEFAULT_TEMPLATES
    try:
        result = compare(
            settings, store, baseline, tuned, dataset, templates,
            held_out=not args.include_trained, with_wise=not args.no_wise,
            progress=tqdm_progress(args.quiet),
        )  # fmt: skip
    except (ComparisonError, ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc
    return result.as_dict(), "\n".join(comparison_lines(result))


def comparison_lines(result: Any) -> list[str]:
    data = result.as_dict()
    lines = [f"dataset: {data['dataset']['label']}", data["headline"], *result.warnings]
    for role in ("baseline", "fine_tuned"):
        m = data[role]
        lines.append(
            f"  {role.replace('_', '-'):<10} {m['label']}: {m['accuracy']:.3f} (95% CI "
            f"{m['ci'][0]:.3f}–{m['ci'][1]:.3f}), {m['correct']}/{m['n']}, balanced "
            f"{m['balanced_accuracy']:.3f}"
        )
    if result.probe:
        lines.append(f"  reference: {result.probe.sentence()}")
    lines.append(f"  {'class':<14} {'n':>4}   P / R / F1 baseline    P / R / F1 fine-tuned")
    for row in data["per_class"]:
        cells = [
            " / ".join("  - " if row[f"{who}_{m}"] is None else f"{row[f'{who}_{m}']:.2f}"
                       for m in ("precision", "recall", "f1"))
            for who in ("baseline", "fine_tuned")
        ]  # fmt: skip
        lines.append(f"  {row['class']:<14} {row['support']:>4}   {cells[0]:<20}   {cells[1]}")
    if result.wise:
        general = ", ".join(result.wise.general) or "none registered"
        lines.append(f"WiSE-FT blends (held-out {result.wise.target}; zero-shot on {general}):")
        for point in result.wise.points:
            others = " ".join(f"{k} {v:.3f}" for k, v in point.general.items())
            lines.append(f"  α={point.alpha:<5g} {result.wise.target} {point.target:.3f}  {others}")
    elif result.wise_note:
        lines.append(f"WiSE-FT: {result.wise_note}")
    return lines
