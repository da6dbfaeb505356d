"""Model commands: offline-clip (build the offline CLIP), label (pseudo-labels) and
evaluate (zero-shot accuracy).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli.registry import CliError, command, resolve_catalog, tqdm_progress
from core.settings import Settings
from core.store import Store


def _offline_clip_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--if-needed", action="store_true", help="skip when pretrained CLIP works")
    p.add_argument("--epochs", type=int, help="override the recipe's adapter epochs")
    p.add_argument("--trunk", help="packaged ImageNet trunk (default efficientnet_lite1)")
    p.add_argument(
        "--generality",
        action="store_true",
        help="also measure zero-shot on kinds left out of training (leave-classes-out)",
    )


@command(
    "offline-clip",
    "build the offline CLIP from packaged towers (data/models/offline-clip)",
    _offline_clip_arguments,
)
def _offline_clip(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.models.imagenet_trunk import TrunkUnavailable
    from core.offline_clip.recipe import (
        TRAINING,
        describe,
        ensure_offline_clip,
        with_epochs,
        with_trunk,
    )

    try:
        config = with_trunk(with_epochs(TRAINING, args.epochs), args.trunk)
    except TrunkUnavailable as exc:
        raise CliError(str(exc)) from None
    result = ensure_offline_clip(
        settings, args.force, args.if_needed, config, progress=tqdm_progress(args.quiet)
    )
    lines = [f"offline CLIP {result.status}: {result.directory} ({result.detail})"]
    if result.meta:
        lines.append("trained on: " + "; ".join(result.meta.get("trained_on", [])))
        lines += describe(result.meta)
    for query, names in (result.meta.get("probes") or {}).items():
        lines.append(f"'{query}': " + " | ".join(n[:40] for n in names[:3]))
    payload = result.as_dict()
    if args.generality:
        from core.offline_clip.generality import leave_classes_out

        report = leave_classes_out(settings, config, progress=tqdm_progress(args.quiet))
        payload["generality"] = report
        lines += report["lines"]
    return payload, "\n".join(lines)


def read_vocabulary(path: str | None) -> list[str]:
    from core.analysis.labels import VOCABULARY

    if not path:
        return list(VOCABULARY)
    words = [w.strip() for w in Path(path).read_text(encoding="utf-8").splitlines()]
    words = list(dict.fromkeys(w for w in words if w and not w.startswith("#")))
    if len(words) < 2:
        raise CliError(f"{path} needs at least two classes, one per line")
    return words


def _label_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog")
    p.add_argument("--llm", help="LiteLLM model string (env PRODUCTLENS_LLM_MODEL)")
    p.add_argument("--api-base", help="OpenAI-compatible base URL")
    p.add_argument("--local", action="store_true", help="local labeller even if an LLM is set")
    p.add_argument("--batch-size", type=int, default=25, help="names per LLM request")
    p.add_argument("--vocabulary", help="file with one class per line (default: 29 classes)")


@command(
    "label",
    "pseudo-label products from their names",
    _label_arguments,
)
def _label(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.analysis.labels import LOCAL_LABELLER, agreement, label_catalog, stored_labels
    from core.llm import llm_config
    from core.models.text import load_text_model

    catalog = resolve_catalog(store, settings, args.catalog)
    vocabulary = read_vocabulary(args.vocabulary)
    settings = settings.with_overrides(llm_model=args.llm, llm_api_base=args.api_base)
    llm = None if args.local else llm_config(settings)
    encode = None if llm else load_text_model(settings).encode
    run = label_catalog(
        store, catalog, vocabulary, llm, encode, args.batch_size, tqdm_progress(args.quiet)
    )
    payload = run.as_dict()
    lines = [
        f"{catalog}: {len(run.labels)} products labelled by {run.labeller} "
        f"({run.reused} from cache); methods {payload['methods']}"
    ]
    if llm is None and not args.local:
        lines.append("no LLM configured (PRODUCTLENS_LLM_MODEL / --llm): used the local labeller")
    other = LOCAL_LABELLER if llm else None
    if other is None:
        llm_sets = [lab for lab, _, _ in store.labels.labellers(catalog) if lab.startswith("llm:")]
        other = llm_sets[0] if llm_sets else None
    if other:
        agree = agreement(run.by_product(), stored_labels(store, catalog, other, vocabulary))
        payload["agreement"] = {"with": other, **agree}
        if agree["n"]:
            lines.append(
                f"agreement with {other}: {agree['rate']:.3f} on {agree['n']} products "
                f"(Cohen's kappa {agree['kappa']:.3f})"
            )
    lines += [f"  {label:<20} {n}" for label, n in payload["distribution"].items()]
    return payload, "\n".join(lines)


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", help="a registered dataset (see `productlens dataset`)")
    p.add_argument(
        "--part", choices=("test", "val", "train"), default="test",
        help="which part of the dataset's split (default: the held-out test part)",
    )  # fmt: skip
    p.add_argument("--images-dir", help="folder with one sub-folder per class")
    p.add_argument("--catalog", help="catalog whose pseudo-labels are the truth")
    p.add_argument("--labeller", help="label set to use (default: local rules + MiniLM)")
    p.add_argument("--vocabulary", help="the vocabulary the labels were made with")
    p.add_argument("--classes", help="comma-separated subset (default: analysis classes)")
    p.add_argument("--template", action="append", default=[], help="prompt with {label}")
    p.add_argument("--ensemble", action="store_true", help="average several prompt templates")
    p.add_argument("--refresh", action="store_true", help="recompute even if stored")
    p.add_argument("--items", action="store_true", help="include per-item predictions in JSON")


@command(
    "evaluate",
    "zero-shot accuracy of --clip",
    _evaluate_arguments,
)
def _evaluate(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.analysis.evaluate import evaluate_cached
    from core.models.clip import load_clip
    from core.models.zeroshot import DEFAULT_TEMPLATES, PRODUCT_TEMPLATES

    templates = tuple(args.template) or (PRODUCT_TEMPLATES if args.ensemble else DEFAULT_TEMPLATES)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    clip = load_clip(settings)
    progress = tqdm_progress(args.quiet)
    try:
        if args.dataset:
            from core.datasets.registry import load_dataset
            from core.models.activation_cache import ActivationCache

            evaluation, cached = evaluate_cached(
                store, clip, dataset=load_dataset(store, args.dataset), part=args.part,
                classes=classes, templates=templates, refresh=args.refresh, progress=progress,
                cache=ActivationCache(settings.activation_cache_dir),
            )  # fmt: skip
        elif args.images_dir:
            evaluation, cached = evaluate_cached(
                store, clip, folder=Path(args.images_dir), classes=classes,
                templates=templates, refresh=args.refresh, progress=progress,
            )  # fmt: skip
        else:
            catalog = resolve_catalog(store, settings, args.catalog)
            evaluation, cached = evaluate_cached(
                store, clip, catalog=catalog, labeller=args.labeller,
                vocabulary=read_vocabulary(args.vocabulary), classes=classes,
                templates=templates, refresh=args.refresh, progress=progress,
            )  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc
    payload = {**evaluation.as_dict(with_items=args.items), "cached": cached}
    report = evaluation.report
    lines = [evaluation.summary_line() + (" (cached)" if cached else "")]
    for c in report.per_class:
        acc = f"{c.accuracy:.3f}" if c.accuracy is not None else "  -  "
        lines.append(f"  {c.label:<20} {acc}  n={c.support}")
    if evaluation.retrieval and "recall@1" in evaluation.retrieval:
        r = evaluation.retrieval
        lines.append(
            f"name→image recall@1 {r['recall@1']:.3f}, @5 {r['recall@5']:.3f}, "
            f"@10 {r['recall@10']:.3f} (n={r['n']})"
        )
    return payload, "\n".join(lines)
