"""Dataset commands: register a labelled photo folder by name, list and show datasets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.cli.registry import CliError, command, tqdm_progress
from core.settings import Settings
from core.store import Store


def parse_words(pairs: list[str], file: str | None) -> dict[str, list[str]] | None:
    """Class words from a JSON file ({"ram": ["RAM memory module", ...]}) and/or
    `--words ram="RAM memory module|memory stick"` options (which win)."""
    words: dict[str, list[str]] = {}
    if file:
        try:
            raw = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read class words from {file}: {exc}") from None
        if not isinstance(raw, dict):
            raise CliError(f"{file} must hold one object: class → list of phrases")
        for label, phrases in raw.items():
            words[str(label)] = [phrases] if isinstance(phrases, str) else list(map(str, phrases))
    for item in pairs:
        label, sep, phrases = item.partition("=")
        if not sep or not phrases.strip():
            raise CliError(f'--words takes CLASS="phrase|other phrase", got {item!r}')
        words[label.strip()] = [p for p in phrases.split("|") if p.strip()]
    return words or None


def _dataset_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("add", "list", "show"))
    p.add_argument("name", nargs="?", help="the dataset's name, e.g. pc-parts")
    p.add_argument("folder", nargs="?", help="add: a folder with one sub-folder per class")
    p.add_argument(
        "--words", action="append", default=[], metavar='CLASS="PHRASE|PHRASE"',
        help="what a class is prompted with (default: its folder name)",
    )  # fmt: skip
    p.add_argument("--words-file", help='JSON: {"class": ["phrase", ...]}')
    p.add_argument("--seed", type=int, default=0, help="the split's seed")
    p.add_argument("--refresh", action="store_true", help="group and split anew")


@command(
    "dataset",
    "register a labelled photo folder by name (leak-free split), list or show datasets",
    _dataset_arguments,
)
def _dataset(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.datasets.registry import datasets, load_dataset, register_dataset

    if args.action == "list":
        found = datasets(store)
        lines = [d.describe()[0] for d in found] or ["no datasets: `productlens dataset add`"]
        return {"datasets": [_summary(d) for d in found]}, "\n".join(lines)
    if not args.name:
        raise CliError(f"`productlens dataset {args.action}` needs a dataset name")
    if args.action == "show":
        dataset = load_dataset(store, args.name)
        return dataset.as_dict(), "\n".join(dataset.describe())
    if not args.folder:
        raise CliError("`productlens dataset add NAME FOLDER` needs the folder")
    words = parse_words(args.words, args.words_file)
    from core.models.activation_cache import ActivationCache

    cache = ActivationCache(settings.activation_cache_dir)
    dataset, reused = register_dataset(
        store, args.name, Path(args.folder), words, args.seed, tqdm_progress(args.quiet), cache,
        args.refresh,
    )  # fmt: skip
    note = "unchanged, reused" if reused else "registered"
    lines = [f"{note}: {dataset.name}", *dataset.describe()]
    return {**_summary(dataset), "reused": reused}, "\n".join(lines)


def _summary(dataset: Any) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "root": dataset.root,
        "fingerprint": dataset.fingerprint,
        "classes": dataset.words,
        "counts": dataset.counts,
        "split": dataset.split.counts(),
        "duplicates": dataset.duplicates,
    }
