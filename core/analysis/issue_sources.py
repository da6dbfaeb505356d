"""Data issues of what the store holds, and the fixes people make to labels.

- A registered photo dataset is judged on its frozen-trunk features (the activation cache
  keeps them), with its folder labels and any human fixes; duplicates carry the split
  part of each photo, so a pair across train/test is a leaky split.
- A labelled catalog is judged on its stored vectors (names and photos side by side)
  with one labeller's labels; its vocabulary's catch-all classes are accepted for one
  another (the analysis leaves them all out), so "stationery → general accessory" is
  not called an error. The labels its labeller only guessed (`is_guess`) never teach
  the judging model: they are judged, and flagged whenever another class is likelier.

Results are stored with the evaluations, keyed by everything that decides them (items,
labels, vectors, versions), and reused while nothing changed.

A fix is stored as labeller `human`, never over the originals: for a catalog as the
label set "<labeller>+human" (the original labels with the fixes applied, which the
comparison and fine-tuning can choose), for a dataset beside its photos' keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from core.analysis.data_issues import (
    FOLDS,
    NEAR_DUPLICATE_COSINE,
    OUTLIER_SHARE,
    PROBE_C,
    DataIssues,
    DuplicatePair,
    find_issues,
    straddling,
    unit,
)
from core.analysis.labels import CATCH_ALL, DESCRIPTIONS, class_description, is_guess
from core.datasets.registry import PhotoDataset
from core.progress import Progress
from core.store.schema import VectorKey
from core.training.pairs import Pair

HUMAN = "human"
ISSUES_VERSION = 8  # bump when the analysis changes: stored results are recomputed


def _stored(store: Any, decides: list[Any], compute) -> tuple[DataIssues, bool]:
    import cleanlab
    import sklearn

    settings = [ISSUES_VERSION, FOLDS, PROBE_C, NEAR_DUPLICATE_COSINE, OUTLIER_SHARE]
    decides = [*settings, cleanlab.__version__, sklearn.__version__, *decides]
    key = "issues-" + hashlib.sha256(json.dumps(decides, default=str).encode()).hexdigest()[:24]
    if (found := store.evaluations.load(key)) is not None:
        return DataIssues.from_dict(found["issues"]), True
    issues: DataIssues = compute()
    record = {"model_key": issues.model, "dataset": issues.source,
              "label_set": issues.label_set, "issues": issues.as_dict()}  # fmt: skip
    store.evaluations.save(key, record)
    return issues, False


# --- photo datasets ---------------------------------------------------------------------


def photo_key_id(key: str) -> int:
    """A photo's key as the labels table's int64 id (stable; the key itself is kept too)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)


def photo_corrections(store: Any, dataset: PhotoDataset) -> dict[str, str]:
    """{photo key: label} a person set for this dataset (as it is now)."""
    rows = store.labels.rows(dataset.ident, HUMAN, dataset.fingerprint)
    return {r["reason"]: r["label"] for r in rows if r["label"] in dataset.words}


def correct_photos(store: Any, dataset: PhotoDataset, fixes: Mapping[str, str]) -> None:
    """Store the labels a person set for photos ({photo key: class}), in one write."""
    unknown = sorted(set(fixes.values()) - set(dataset.words))
    if unknown:
        raise ValueError(f"{', '.join(map(repr, unknown))} is not a class of {dataset.name}")
    store.labels.upsert([{
        "catalog": dataset.ident, "product_id": photo_key_id(key), "labeller": HUMAN,
        "vocab": dataset.fingerprint, "label": label, "method": "by hand", "score": 1.0,
        "reason": key, "name_hash": key,
    } for key, label in fixes.items()])  # fmt: skip


def with_corrections(store: Any, dataset: PhotoDataset) -> PhotoDataset:
    """The dataset with people's fixes applied (its ident says so)."""
    return replace(dataset, corrections=photo_corrections(store, dataset))


def photo_features(
    dataset: PhotoDataset, cache: Any, progress: Progress | None = None
) -> tuple[list[Pair], np.ndarray]:
    """The dataset's readable photos and their frozen-trunk features (from the cache)."""
    from core.models.activation_cache import pooled_features
    from core.models.imagenet_trunk import load_imagenet_classifier, preprocess_cfg

    pairs = dataset.pairs()
    photos = [(p.key, p.image) for p in pairs]
    found, _ = pooled_features(
        cache, load_imagenet_classifier(), preprocess_cfg(), photos, progress
    )
    kept = [p for p in pairs if p.key in found]
    return kept, np.stack([found[p.key].float().numpy() for p in kept])


def dataset_issues(
    store: Any, dataset: PhotoDataset, cache: Any, progress: Progress | None = None
) -> tuple[DataIssues, bool]:
    from core.models.imagenet_trunk import DEFAULT_TRUNK

    dataset = with_corrections(store, dataset)
    parts = {key: part for part in ("train", "val", "test") for key in dataset.keys(part)}
    decides = [dataset.ident, dataset.fingerprint, dataset.corrections, DEFAULT_TRUNK.arch]

    def compute() -> DataIssues:
        kept, features = photo_features(dataset, cache, progress)
        keys = [p.key for p in kept]
        issues = find_issues(
            dataset.ident, f"{DEFAULT_TRUNK.arch} (frozen, ImageNet)", dataset.label_set, keys,
            keys, [p.label or "" for p in kept], features, parts,
        )  # fmt: skip
        return replace(issues, duplicates=_with_registered(dataset, issues.duplicates, parts))

    return _stored(store, decides, compute)


def _with_registered(
    dataset: PhotoDataset, found: list[DuplicatePair], parts: Mapping[str, str]
) -> list[DuplicatePair]:
    """The pairs registration confirmed (perceptual hash, or trunk features within a few
    bits' worth), then those the vectors alone found."""
    from core.datasets.duplicates import HASH_DISTANCE

    registered = [
        DuplicatePair(
            r["key_a"], r["key_b"], round(float(r["cosine"]), 4),
            r["hash_distance"] <= HASH_DISTANCE, straddling(r["key_a"], r["key_b"], parts),
            "perceptual hash" if r["hash_distance"] <= HASH_DISTANCE else "registration",
        )
        for r in dataset.duplicate_pairs
    ]  # fmt: skip
    seen = {frozenset((d.first, d.second)) for d in registered}
    return registered + [d for d in found if frozenset((d.first, d.second)) not in seen]


# --- catalogs ---------------------------------------------------------------------------


def catalog_corrected_labeller(labeller: str) -> str:
    return labeller if labeller.endswith(f"+{HUMAN}") else f"{labeller}+{HUMAN}"


def correct_products(
    store: Any, catalog: str, labeller: str, vocab: str, fixes: Mapping[int, str]
) -> str:
    """Store the labels a person set for products ({product id: class}), in one write: as
    labeller `human`, and in the label set "<labeller>+human" (a copy of the original set
    with every fix applied). Returns the corrected set's labeller."""
    base = labeller.removesuffix(f"+{HUMAN}")
    corrected = catalog_corrected_labeller(base)
    rows = []
    if not store.labels.rows(catalog, corrected, vocab):  # first fix: copy the original set
        rows += [{**r, "labeller": corrected} for r in store.labels.rows(catalog, base, vocab)]
    for product_id, label in fixes.items():
        fix = {"catalog": catalog, "product_id": int(product_id), "vocab": vocab,
               "label": label, "method": "by hand", "score": 1.0,
               "reason": f"fixed from {base}", "name_hash": ""}  # fmt: skip
        rows += [{**fix, "labeller": HUMAN}, {**fix, "labeller": corrected}]
    store.labels.upsert(rows)
    return corrected


def catalog_vector_keys(store: Any, catalog: str, text_key: str, image_key: str) -> dict:
    """The stored vectors a catalog's labels are judged by: its names', and its photos'
    when they are embedded with `image_key`."""
    keys = {"text": text_key}
    if store.vectors.indexes(catalog).get(VectorKey("image", image_key)):
        keys["image"] = image_key
    return keys


def catalog_issues(
    store: Any,
    catalog: str,
    labeller: str,
    vocab: str,
    vector_keys: Mapping[str, str],
    describe: Callable[[list[str]], Any] | None = None,
) -> tuple[DataIssues, bool]:
    """Issues of a catalog's labels (`vector_keys`: kind → model key of the stored vectors
    to judge by; text and image are set side by side). `describe`: the encoder of the text
    vectors; with it, a label is not called an error when the name reads more like its
    class's description than like the suggested class's (called only to compute)."""
    rows = [r for r in store.labels.rows(catalog, labeller, vocab) if r["label"]]
    labels = {r["product_id"]: r["label"] for r in rows}
    guessed = sorted(r["product_id"] for r in rows if is_guess(r["method"], r["label"]))
    version = store.products.version()
    tables = {kind: store.vectors.index(kind, key) for kind, key in vector_keys.items()}
    versions = {kind: t.version for kind, t in tables.items() if t is not None}
    zero_shot = describe is not None and "text" in vector_keys
    decides = [catalog, labeller, vocab, sorted(labels.items()), guessed, version, vector_keys,
               versions, CATCH_ALL, zero_shot and DESCRIPTIONS]  # fmt: skip

    def compute() -> DataIssues:
        ids, guesses = sorted(labels), set(guessed)
        blocks, reads_as = [], None
        for kind, key in vector_keys.items():
            found, vectors = store.vectors.load(kind, key, catalog, ids)
            row = {pid: i for i, pid in enumerate(found)}
            rows = unit(vectors)
            block = np.zeros((len(ids), rows.shape[1] if len(found) else 1), np.float32)
            for i, pid in enumerate(ids):
                if pid in row:
                    block[i] = rows[row[pid]]
            blocks.append(block)
            if kind == "text" and zero_shot:
                reads_as = _reads_as(block, sorted(set(labels.values())), describe)
        names = dict(
            store.products.where(catalog, columns=["product_id", "name"])
            .to_pandas()[["product_id", "name"]].itertuples(index=False, name=None)
        )  # fmt: skip
        model = " + ".join(f"{kind}:{key}" for kind, key in vector_keys.items())
        return find_issues(
            f"catalog:{catalog}", model, labeller, [str(i) for i in ids],
            [str(names.get(i, "")) for i in ids], [labels[i] for i in ids],
            np.hstack(blocks), interchangeable=CATCH_ALL,
            teaches=[i not in guesses for i in ids], reads_as=reads_as,
        )  # fmt: skip

    return _stored(store, decides, compute)


def _reads_as(
    texts: np.ndarray, classes: list[str], describe: Callable[[list[str]], Any]
) -> dict[str, np.ndarray]:
    """Class → each item's cosine to the class's description (the labeller's own words)."""
    described = unit(np.asarray(describe([class_description(c) for c in classes])))
    return dict(zip(classes, (texts @ described.T).T, strict=True))
