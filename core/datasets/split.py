"""A seeded train / validation / test split of labelled photos that never separates
near-duplicates: whole groups (core.datasets.duplicates) go to one part, stratified by the
class most of each group's photos carry.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from core.datasets.duplicates import DuplicatePair
from core.training.pairs import Split

PARTS = ("train", "val", "test")


def group_label(labels: Sequence[str]) -> str:
    """The class most of a group's photos carry (ties: the first in alphabetical order)."""
    counts = Counter(labels)
    return min(counts, key=lambda label: (-counts[label], label))


def group_split(
    keys: Sequence[str],
    labels: Sequence[str],
    groups: Sequence[int],
    seed: int = 0,
    val_frac: float = 0.1,
    test_frac: float = 0.2,
) -> Split:
    """Per class, groups are shuffled (seeded by the class name, so adding a class moves no
    other class's photos) and dealt to test until it holds `test_frac` of the class's
    photos, then to validation, the rest to training. At least one group of each class
    stays in training."""
    members: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    by_class: dict[str, list[list[int]]] = {}
    for items in members.values():
        label = group_label([labels[i] for i in items])
        by_class.setdefault(label, []).append(sorted(items, key=lambda i: keys[i]))
    parts: dict[str, list[str]] = {part: [] for part in PARTS}
    for label in sorted(by_class):
        class_groups = sorted(by_class[label], key=lambda items: keys[items[0]])
        random.Random(f"{seed}:{label}").shuffle(class_groups)
        total = sum(map(len, class_groups))
        targets = {"test": round(total * test_frac), "val": round(total * val_frac)}
        filled = dict.fromkeys(targets, 0)
        for position, items in enumerate(class_groups):
            last = position == len(class_groups) - 1
            part = next(
                (p for p in ("test", "val") if filled[p] < targets[p] and not last), "train"
            )
            if part != "train":
                filled[part] += len(items)
            parts[part] += [keys[i] for i in items]
    return Split(seed, *(tuple(parts[p]) for p in PARTS))


def straddling(split: Split, keys: Sequence[str], pairs: Sequence[DuplicatePair]) -> list[tuple]:
    """Near-duplicate pairs whose photos sit in different parts: a leaky split (empty here
    by construction; the check guards the construction)."""
    part_of = {key: part for part in PARTS for key in getattr(split, part)}
    return [
        (keys[p.a], keys[p.b]) for p in pairs if part_of.get(keys[p.a]) != part_of.get(keys[p.b])
    ]
