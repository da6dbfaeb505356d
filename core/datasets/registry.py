"""Named datasets of labelled photos: a folder with one sub-folder per class, registered once
with the words each class is prompted with, its near-duplicate groups and a split that
keeps them together, stored in the store beside the catalogs.

The record is keyed by a fingerprint of the photos (names, sizes, modification times):
registering an unchanged folder again reuses everything; a changed folder is grouped and
split anew. Evaluations of a dataset are stored under its fingerprint too (see
core.analysis.evaluate), so they are reused until a photo changes.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.datasets.split import PARTS, group_split, straddling
from core.progress import Progress
from core.training.pairs import Pair, Split, class_name, folder_pairs

if TYPE_CHECKING:
    from core.datasets.duplicates import DuplicateGroups

DATASET_PREFIX = "dataset:"
DEFAULT_TEMPLATE = "a photo of {label}"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class DatasetError(ValueError):
    """A dataset that cannot be registered or found, said in one line."""


def folder_version(folder: Path) -> str:
    """Changes when any image is added, removed or rewritten."""
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name))
            digest.update(f"{root}/{name}|{stat.st_size}|{int(stat.st_mtime)}\n".encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class PhotoDataset:
    name: str
    root: str
    words: dict[str, list[str]]  # class → the phrases it is prompted with (first: its name)
    fingerprint: str
    counts: dict[str, int]  # photos per class
    split: Split
    duplicates: dict[str, int] = field(default_factory=dict)  # DuplicateGroups.summary()
    duplicate_pairs: list[dict[str, Any]] = field(default_factory=list)
    registered_at: str = ""
    # photo key → the label a person set (core.analysis.issue_sources); not registered
    corrections: dict[str, str] = field(default_factory=dict)

    @property
    def ident(self) -> str:
        """How evaluations and comparisons name it."""
        return f"{DATASET_PREFIX}{self.name}"

    @property
    def label_set(self) -> str:
        """Which labels its photos carry: their folders', or those with fixes by hand."""
        return f"folders+human ({len(self.corrections)} fixed)" if self.corrections else "folders"

    @property
    def classes(self) -> list[str]:
        return sorted(self.words)

    def keys(self, part: str) -> tuple[str, ...]:
        if part not in PARTS:
            raise DatasetError(f"a dataset's parts are {', '.join(PARTS)}, not {part!r}")
        return getattr(self.split, part)

    def pairs(self, template: str = DEFAULT_TEMPLATE) -> list[Pair]:
        """(photo, prompt of its class's first phrase, class) for every photo."""
        pairs = [
            replace(pair, label=self.corrections.get(pair.key, pair.label))
            for pair in folder_pairs(Path(self.root))
        ]
        return [
            replace(pair, text=template.format(label=self.words[pair.label][0]))
            for pair in pairs
            if pair.label in self.words
        ]

    def describe(self) -> list[str]:
        d, counts = self.duplicates, self.split.counts()
        lines = [
            f"dataset {self.name!r}: {sum(self.counts.values()):,} photos, {len(self.words)} "
            f"classes, from {self.root} (fingerprint {self.fingerprint})",
            f"  split by near-duplicate groups (seed {self.split.seed}): train "
            f"{counts['train']}, val {counts['val']}, test {counts['test']}",
        ]
        if d:
            lines.append(
                f"  near-duplicates: {d['merged_groups']} groups merged "
                f"({d['items_in_merged_groups']} photos; {d['copy_pairs']} copies, "
                f"{d['same_shot_pairs']} same shots; largest group {d['largest_group']}); "
                f"pairs across parts: {d.get('straddling', 0)}"
            )
        for label in self.classes:
            phrases = " | ".join(self.words[label])
            lines.append(f"  {label:<14} {self.counts.get(label, 0):>5}  prompted as: {phrases}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "corrections"}  # not registered

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhotoDataset:
        raw = data["split"]
        split = Split(raw["seed"], *(tuple(raw[p]) for p in PARTS))
        return cls(**{**data, "split": split})


def validate_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise DatasetError(
            f"invalid dataset name {name!r}: use lower-case letters, digits, '-' or '_'"
        )
    return name


def class_words(
    classes: Sequence[str], given: Mapping[str, Sequence[str]] | None
) -> dict[str, list[str]]:
    """Every class's phrases: the given ones (keyed by folder or class name), else the
    class name itself."""
    given = {class_name(k): v for k, v in (given or {}).items()}
    unknown = sorted(set(given) - set(classes))
    if unknown:
        raise DatasetError(
            f"words given for {', '.join(unknown)}, which the folder has no class for "
            f"(its classes: {', '.join(classes)})"
        )
    words = {}
    for label in classes:
        phrases = [p.strip() for p in given.get(label, []) if p and p.strip()]
        words[label] = list(dict.fromkeys(phrases)) or [label]
    return words


def leak_free_split(
    pairs: Sequence[Pair], seed: int = 0, progress: Progress | None = None, cache: Any = None
) -> tuple[Split, DuplicateGroups]:
    """Class-folder pairs split by near-duplicate group (and the groups): what a dataset
    is registered with, and what the offline CLIP splits its class-labelled photos by, so
    the two agree photo for photo. `cache`: the ActivationCache for the trunk features."""
    from core.datasets.duplicates import near_duplicates, perceptual_hashes, trunk_features
    from core.models.activation_cache import ActivationCache

    hashes, mirrored = perceptual_hashes([p.image for p in pairs], progress)
    photos = [(p.key, p.image) for p in pairs]
    features = trunk_features(photos, cache or ActivationCache(None), progress)
    groups = near_duplicates(hashes, features, mirrored)
    split = group_split([p.key for p in pairs], [p.label or "" for p in pairs], groups.group, seed)
    return split, groups


def register_dataset(
    store: Any,
    name: str,
    folder: Path,
    words: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    cache: Any = None,
    refresh: bool = False,
) -> tuple[PhotoDataset, bool]:
    """Register (or refresh) a class-folder dataset; returns (dataset, reused).

    Reused (unless `refresh`) when the stored record has the same photos and seed: then
    only new words are taken, and no photo is read. `cache`: the ActivationCache the
    photos' trunk features are kept in (the offline CLIP and its fine-tunes read them)."""
    name = validate_name(name)
    folder = Path(folder).expanduser().resolve()
    try:
        pairs = folder_pairs(folder)
    except FileNotFoundError as exc:
        raise DatasetError(str(exc)) from None
    classes = sorted({p.label for p in pairs if p.label})
    stored = store.datasets.load(name)
    fingerprint = folder_version(folder)
    chosen = class_words(classes, words)
    if stored is not None and not refresh:
        previous = PhotoDataset.from_dict(stored)
        same = previous.fingerprint == fingerprint and previous.split.seed == seed
        if same and previous.root == str(folder):
            if words is not None and chosen != previous.words:
                previous = replace(previous, words=chosen)
                store.datasets.save(previous.as_dict())
            return previous, True
    split, groups = leak_free_split(pairs, seed, progress, cache)
    leaks = straddling(split, [p.key for p in pairs], groups.pairs)
    if leaks:  # the construction forbids it; a record that says otherwise is not stored
        raise DatasetError(f"{len(leaks)} near-duplicate pairs straddle the split: {leaks[:3]}")
    labels = [p.label or "" for p in pairs]
    keys = [p.key for p in pairs]
    dataset = PhotoDataset(
        name=name,
        root=str(folder),
        words=chosen,
        fingerprint=fingerprint,
        counts=dict(sorted(Counter(labels).items())),
        split=split,
        duplicates={**groups.summary(), "straddling": len(leaks)},
        duplicate_pairs=groups.pair_rows(keys),
        registered_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    store.datasets.save(dataset.as_dict())
    return dataset, False


def load_dataset(store: Any, name: str) -> PhotoDataset:
    stored = store.datasets.load(name)
    if stored is None:
        known = ", ".join(store.datasets.names()) or "none yet"
        raise DatasetError(
            f"no dataset {name!r} (registered: {known}); add one with "
            "`productlens dataset add NAME FOLDER`"
        )
    dataset = PhotoDataset.from_dict(stored)
    if not Path(dataset.root).is_dir():
        raise DatasetError(f"dataset {name!r}: its folder {dataset.root} is gone")
    return dataset


def datasets(store: Any) -> list[PhotoDataset]:
    """Every registered dataset whose folder is still there."""
    found = []
    for name in store.datasets.names():
        try:
            found.append(load_dataset(store, name))
        except DatasetError:
            continue
    return found
