"""`productlens issues`: likely label errors, near-duplicates, leaky splits and outliers of
a registered photo dataset or a labelled catalog; `--fix KEY=LABEL` stores a person's
label (as labeller `human`, never over the originals)."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.registry import CliError, command, resolve_catalog, tqdm_progress
from core.settings import Settings
from core.store import Store

SHOWN = 15  # items per kind in the text report; --json has them all


def _issues_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument("--dataset", help="a registered photo dataset, e.g. pc-parts")
    source.add_argument("--catalog", help="a labelled catalog (default: the current one)")
    p.add_argument("--labeller", help="the catalog's label set (default: the local labeller)")
    p.add_argument(
        "--fix", action="append", default=[], metavar="KEY=LABEL",
        help="set an item's label by hand (a photo key or a product id)",
    )  # fmt: skip


@command(
    "issues", "likely label errors, near-duplicates, leaky splits, outliers", _issues_arguments
)
def _issues(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:

    if args.dataset:
        issues, reused = _dataset(args, settings, store)
    else:
        issues, reused = _catalog(args, settings, store)
    return {**issues.as_dict(), "reused": reused}, "\n".join(_report(issues, reused))


def _fixes(args: argparse.Namespace) -> list[tuple[str, str]]:
    fixes = []
    for item in args.fix:
        key, sep, label = item.partition("=")
        if not sep or not key.strip() or not label.strip():
            raise CliError(f"--fix takes KEY=LABEL, got {item!r}")
        fixes.append((key.strip(), label.strip()))
    return fixes


def _dataset(args: argparse.Namespace, settings: Settings, store: Store):
    from core.analysis.issue_sources import correct_photos, dataset_issues
    from core.datasets.registry import load_dataset
    from core.models.activation_cache import ActivationCache

    dataset = load_dataset(store, args.dataset)
    if fixes := dict(_fixes(args)):
        try:
            correct_photos(store, dataset, fixes)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    cache = ActivationCache(settings.activation_cache_dir)
    return dataset_issues(store, dataset, cache, tqdm_progress(args.quiet))


def _catalog(args: argparse.Namespace, settings: Settings, store: Store):
    from core.analysis.issue_sources import catalog_issues, catalog_vector_keys, correct_products
    from core.analysis.labels import LOCAL_LABELLER, VOCABULARY, vocab_hash
    from core.models.sources import resolve_clip, resolve_text_model
    from core.models.text import load_text_model

    catalog = resolve_catalog(store, settings, args.catalog)
    labeller, vocab = args.labeller or LOCAL_LABELLER, vocab_hash(VOCABULARY)
    if not store.labels.rows(catalog, labeller, vocab):
        raise CliError(f"{catalog} has no labels from {labeller}: run `productlens label`")
    fixes = _fixes(args)
    for key, label in fixes:
        if not key.isdigit() or label not in VOCABULARY:
            raise CliError(f"--fix takes PRODUCT_ID=CLASS (a class of the vocabulary), got {key}")
    if fixes:
        fixed = {int(key): label for key, label in fixes}
        labeller = correct_products(store, catalog, labeller, vocab, fixed)
    keys = catalog_vector_keys(
        store, catalog, resolve_text_model(settings).key, resolve_clip(settings).key
    )
    encode = lambda texts: load_text_model(settings).encode(texts)  # noqa: E731 (loads lazily)
    return catalog_issues(store, catalog, labeller, vocab, keys, encode)


def _report(issues: Any, reused: bool) -> list[str]:
    lines = [*issues.summary_lines()]
    lines.append(f"({'stored result, nothing changed' if reused else f'{issues.seconds:.1f} s'})")
    if issues.label_issues:
        lines.append(
            "\nlikely label errors (most suspect first): key · given → suggested"
            + ("; * = the labeller only guessed" if issues.guessed_labels else "")
        )
        lines += [f"  {i.key} · {i.given}{'*' if i.guessed else ''} → {i.suggested} "
                  f"({i.confidence:.0%})  {i.name[:60]}"
                  for i in issues.label_issues[:SHOWN]]  # fmt: skip
    if issues.duplicates:
        lines.append("\nnear-duplicates: first · second · cosine")
        lines += [f"  {d.first} · {d.second} · {d.similarity:.3f}"
                  + (f"  straddles {d.straddles}" if d.straddles else "")
                  for d in issues.duplicates[:SHOWN]]  # fmt: skip
    if issues.outliers:
        lines.append("\noutliers (least typical first)")
        lines += [f"  {o.key} · {o.label} · {o.score:.3f}  {o.name[:60]}"
                  for o in issues.outliers[:SHOWN]]  # fmt: skip
    return lines
