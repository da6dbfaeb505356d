"""Training commands: finetune (runs and sweeps, resume) and runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.cli.model_commands import read_vocabulary
from core.cli.registry import CliError, command, resolve_catalog, tqdm_progress
from core.settings import Settings
from core.store import Store


def _number_list(kind: type) -> Callable[[str], list]:
    def parse(raw: str) -> list:
        try:
            return [kind(part) for part in raw.split(",") if part.strip()]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {raw}") from exc

    return parse


def _freeze_list(raw: str) -> list[int]:
    """'none,4,8' → [0, 4, 8]: the seed's grid spells 'no frozen layers' as None."""
    return [0 if p.strip().lower() in ("none", "0") else int(p) for p in raw.split(",") if p]


def _run_lines(summaries: list[dict]) -> list[str]:
    lines = []
    for r in summaries:
        before, after = r["accuracy_before"], r["accuracy_after"]
        acc = f"acc {before:.3f} → {after:.3f}" if before is not None and after is not None else ""
        lines.append(
            f"{r['run_id']}  {r['status']:<7} base={r['base']} epochs={r['epochs']} "
            f"batch={r['batch_size']} lr={r['lr']} frozen={r['freeze_vision']} {acc}"
        )
        if r.get("mlflow"):
            lines.append(f"    MLflow: {r['mlflow']}")
    return lines


@command(
    "runs",
    "list fine-tuning runs",
)
def _runs(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.training.runs import list_runs

    summaries = [r.summary() for r in list_runs(settings.runs_dir)]
    lines = _run_lines(summaries) or [f"no runs in {settings.runs_dir}"]
    return {"runs_dir": str(settings.runs_dir), "runs": summaries}, "\n".join(lines)


def _training_pairs(args: argparse.Namespace, settings: Settings, store: Store) -> tuple:
    from core.training.pairs import catalog_pairs, folder_pairs

    if args.dataset:
        from core.datasets.registry import load_dataset

        if args.images_dir or args.catalog:
            raise CliError("--dataset brings its own photos and split: drop --images-dir/--catalog")
        dataset = load_dataset(store, args.dataset)
        return dataset.pairs(args.template), [f"{dataset.ident}@{dataset.fingerprint}"], dataset
    pairs, sources = [], []
    for folder in args.images_dir:
        pairs += folder_pairs(Path(folder), args.template)
        sources.append(str(folder))
    if args.catalog or not pairs:
        catalog = resolve_catalog(store, settings, args.catalog)
        rows = store.products.where(
            catalog, columns=["product_id", "name", "image_path", "image_status"]
        ).to_pylist()
        labels = None
        if args.labeller:
            from core.analysis.labels import stored_labels

            labels = stored_labels(store, catalog, args.labeller, read_vocabulary(None))
            if not labels:
                raise CliError(
                    f"no {args.labeller} labels for {catalog!r}: run `productlens label`"
                )
        template = args.template if args.pair_text == "label" else None
        pairs += catalog_pairs(rows, catalog, labels, template)
        sources.append(f"catalog:{catalog}")
    return pairs, sources, None


def _finetune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset", help="a registered dataset: its photos, class words and leak-free split"
    )
    p.add_argument("--images-dir", action="append", default=[], help="one sub-folder per class")
    p.add_argument("--catalog", help="(product image, name) pairs from a catalog")
    p.add_argument("--template", default="a photo of {label}", help="class prompt")
    p.add_argument("--labeller", help="attach this label set to catalog pairs (per-class scores)")
    p.add_argument(
        "--pair-text", choices=("name", "label"), default="name",
        help="catalog pairs: product name, or the class prompt of its label",
    )  # fmt: skip
    p.add_argument("--epochs", type=_number_list(int), help="e.g. 5 or 2,4,10")
    p.add_argument("--batch-size", type=_number_list(int), help="e.g. 32 or 16,32,64")
    p.add_argument("--lr", type=_number_list(float), help="e.g. 5e-6 or 1e-7,1e-6,5e-6")
    p.add_argument("--freeze-vision", type=_freeze_list, help="frozen vision blocks: none,4,8")
    p.add_argument("--freeze-text", action="store_true", help="keep the text tower fixed")
    p.add_argument("--optimizer", choices=("adam", "adamw"), default="adamw")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--augment", choices=("none", "light", "strong"), default="light")
    p.add_argument(
        "--cached-views", type=_number_list(int),
        help="views per photo run once through the frozen blocks (0: every step runs all)",
    )  # fmt: skip
    p.add_argument("--wise-alpha", type=float, help="WiSE-FT weight-space ensembling, 0–1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="finetune")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a run (--epochs: new total)")
    p.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when a finished run of this --name from the same base model exists",
    )


@command(
    "finetune",
    "contrastive fine-tuning of the --clip model; comma lists make a sweep",
    _finetune_arguments,
)
def _finetune(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.models.activation_cache import ActivationCache
    from core.models.clip import build_clip, weights_digest
    from core.models.sources import resolve_clip
    from core.training.config import TrainConfig
    from core.training.finetune import resume
    from core.training.sweep import copy_parts, run_sweep, sweep_configs
    from core.training.tracking import tracker_for

    progress = tqdm_progress(args.quiet)
    tracker = tracker_for(settings.mlflow_tracking_uri)
    if args.resume:
        epochs = (args.epochs or [None])[-1]
        cache = ActivationCache(settings.activation_cache_dir)
        record = resume(settings.runs_dir, args.resume, epochs, progress, None, tracker, cache)
        return record.as_dict(), "\n".join(_run_lines([record.summary()]))
    source = resolve_clip(settings)
    pairs, sources, dataset = _training_pairs(args, settings, store)
    digest = weights_digest(source.path) if source.path else None
    base = {"spec": source.spec, "load": source.loads, "key": source.key, "status": source.status,
            "digest": digest}  # fmt: skip
    if args.if_missing:
        from core.training.runs import list_runs

        # the same name, from the same weights, on the same data (a dataset's fingerprint)
        done = [
            r
            for r in list_runs(settings.runs_dir)
            if r.name == args.name and r.status == "done" and r.base.get("key") == source.key
            and r.base.get("digest", digest) == digest and r.data.get("sources") == sources
        ]  # fmt: skip
        if done:
            summaries = [done[0].summary()]
            return {"runs": summaries, "skipped": True}, "\n".join(_run_lines(summaries))
    try:
        base_config = TrainConfig(
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            freeze_text=args.freeze_text,
            seed=args.seed,
            augment=args.augment,
            wise_alpha=args.wise_alpha,
            templates=(args.template,),
        )
        grid = {
            "epochs": args.epochs or [5],
            "batch_size": args.batch_size or [32],
            "freeze_vision": args.freeze_vision or [0],
            "lr": args.lr or [5e-6],
            "cached_views": args.cached_views or [0],
        }
        configs = sweep_configs(base_config, grid)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if dataset is not None:
        configs = [replace(c, words=dataset.words) for c in configs]
    parts = build_clip(source)
    make = (lambda: copy_parts(parts)) if len(configs) > 1 else (lambda: parts)
    try:
        records, failures = run_sweep(
            make, base, pairs, configs, settings.runs_dir, args.name, sources, progress, tracker,
            dataset.split if dataset is not None else None,
            ActivationCache(settings.activation_cache_dir),
        )  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if not records:
        raise CliError("no run finished: " + "; ".join(f"{n}: {why}" for n, why in failures))
    summaries = [r.summary() for r in records]
    lines = [f"base CLIP: {source.key} [{source.status}]", *_run_lines(summaries)]
    lines += [f"failed {name}: {why}" for name, why in failures]
    lines.append("use a run with --clip run:RUN_ID (or PRODUCTLENS_CLIP=run:RUN_ID)")
    return {"base": base, "runs": [r.as_dict() for r in records]}, "\n".join(lines)
