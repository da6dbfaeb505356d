"""Training pairs (image, text, optional class) from a class-labelled folder or a catalog,
and their seeded, class-stratified train/val/test split.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.catalog.images import IMAGE_SUFFIXES
from core.models.zeroshot import DEFAULT_TEMPLATES

UNLABELLED = "__unlabelled__"


# --- training data ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    key: str  # stable id, used by the split
    image: str  # path of the image file
    text: str  # what the image should match: a class prompt or a product name
    label: str | None = None  # class, when known: enables per-class accuracy


def class_name(folder: str) -> str:
    return folder.replace("_", " ").replace("-", " ").strip().lower()


def folder_pairs(root: Path, template: str = DEFAULT_TEMPLATES[0]) -> list[Pair]:
    """(image, "a photo of {class}") for a folder with one sub-folder per class."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no image folder at {root}")
    pairs = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = class_name(class_dir.name)
        for image in sorted(class_dir.iterdir()):
            if image.suffix.lower() in IMAGE_SUFFIXES:
                key = f"{root.name}/{class_dir.name}/{image.name}"
                pairs.append(Pair(key, str(image), template.format(label=label), label))
    if not pairs:
        raise FileNotFoundError(f"{root} has no class sub-folders with images")
    return pairs


def catalog_pairs(
    products: Iterable[Any],
    catalog: str,
    labels: Mapping[int, str | None] | None = None,
    template: str | None = None,
) -> list[Pair]:
    """(product image, product name) for products with a usable local image.

    With `labels`, each pair also carries its (pseudo-)label, so held-out per-class
    accuracy can be measured; with `template` too, the text becomes the class prompt.
    """
    pairs = []
    for product in products:
        get = product.get if isinstance(product, dict) else lambda k, p=product: getattr(p, k)
        path, status = get("image_path"), get("image_status")
        if not path or status not in ("ok", "pending"):
            continue
        pid = int(get("product_id"))
        label = (labels or {}).get(pid)
        text = template.format(label=label) if template and label else str(get("name"))
        pairs.append(Pair(f"{catalog}:{pid}", str(path), text, label))
    return pairs


@dataclass(frozen=True)
class Split:
    seed: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def split_pairs(
    pairs: Sequence[Pair], seed: int, val_frac: float = 0.1, test_frac: float = 0.2
) -> Split:
    """A split stratified by label (unlabelled pairs form their own stratum)."""
    strata: dict[str, list[str]] = {}
    for pair in pairs:
        strata.setdefault(pair.label or UNLABELLED, []).append(pair.key)
    train: list[str] = []
    val: list[str] = []
    test: list[str] = []
    for name in sorted(strata):
        keys = sorted(set(strata[name]))
        random.Random(f"{seed}:{name}").shuffle(keys)
        n_test = min(len(keys) - 1, round(len(keys) * test_frac))
        n_val = min(len(keys) - 1 - n_test, round(len(keys) * val_frac))
        test += keys[:n_test]
        val += keys[n_test : n_test + n_val]
        train += keys[n_test + n_val :]
    return Split(seed, tuple(train), tuple(val), tuple(test))


SPLIT_FILE = "split.json"


def write_split(directory: Path, split: Split) -> None:
    """Record beside a model (or a run) which keys it trained, validated and tested on."""
    (Path(directory) / SPLIT_FILE).write_text(json.dumps(asdict(split)))


def read_split(directory: Path) -> Split | None:
    """The split a directory records, if it does."""
    try:
        raw = json.loads((Path(directory) / SPLIT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return Split(raw["seed"], *(tuple(raw[k]) for k in ("train", "val", "test")))
