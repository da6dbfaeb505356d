"""Data issues of what the store holds, and the fixes people make to labels.

- A registered photo dataset is judged on its frozen-trunk features (the activation cache
  keeps them), with its folder labels and any human fixes; duplicates carry the split
  part of each photo, so a pair across train/test is a leaky split.
- A labelled catalog is judged on its stored vectors (names and photos side by side)
  with one labeller's labels.

Results are stored with the evaluations, keyed by everything that decides them (items,
labels, vectors, versions), and reused while nothing changed.

A fix is stored as labeller `human`, never over the originals: for a catalog as the
label set "<labeller>+human" (the original labels with the fixes applied, which the
comparison and fine-tuning can choose), for a dataset beside its photos' keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from core.analysis.data_issues import (
    NEAR_DUPLICATE_COSINE,
    OUTLIER_SHARE,
    PROBE_C,
    DataIssues,
    DuplicatePair,
    find_issues,
    straddling,
)
from core.datasets.registry import PhotoDataset
from core.progress import Progress

HUMAN = "human"
ISSUES_VERSION = 2  # bump when the analysis changes: stored results are recomputed


def _stored(store: Any, decides: list[Any], compute) -> tuple[DataIssues, bool]:
    import cleanlab
    import sklearn

    settings = [ISSUES_VERSION, PROBE_C, NEAR_DUPLICATE_COSINE, OUTLIER_SHARE]
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


def correct_photo(store: Any, dataset: PhotoDataset, key: str, label: str) -> None:
    if label not in dataset.words:
        raise ValueError(f"{label!r} is not a class of {dataset.name}")
    store.labels.upsert([{
        "catalog": dataset.ident, "product_id": photo_key_id(key), "labeller": HUMAN,
        "vocab": dataset.fingerprint, "label": label, "method": "by hand", "score": 1.0,
        "reason": key, "name_hash": key,
    }])  # fmt: skip


def with_corrections(store: Any, dataset: PhotoDataset) -> PhotoDataset:
    """The dataset with people's fixes applied (its ident says so)."""
    return replace(dataset, corrections=photo_corrections(store, dataset))


def dataset_issues(
    store: Any, dataset: PhotoDataset, cache: Any, progress: Progress | None = None
) -> tuple[DataIssues, bool]:
    from core.models.activation_cache import pooled_features
    from core.models.imagenet_trunk import DEFAULT_TRUNK, load_imagenet_classifier, preprocess_cfg

    dataset = with_corrections(store, dataset)
    pairs = dataset.pairs()
    parts = {key: part for part in ("train", "val", "test") for key in dataset.keys(part)}
    decides = [dataset.ident, dataset.fingerprint, dataset.corrections, DEFAULT_TRUNK.arch]

    def compute() -> DataIssues:
        photos = [(p.key, p.image) for p in pairs]
        found, _ = pooled_features(
            cache, load_imagenet_classifier(), preprocess_cfg(), photos, progress
        )
        kept = [p for p in pairs if p.key in found]
        features = np.stack([found[p.key].float().numpy() for p in kept])
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


def correct_product(
    store: Any, catalog: str, labeller: str, vocab: str, product_id: int, label: str
) -> str:
    """Store a person's label for one product: as labeller `human`, and in the label set
    "<labeller>+human" (a copy of the original set with every fix applied). Returns the
    corrected set's labeller."""
    base = labeller.removesuffix(f"+{HUMAN}")
    corrected = catalog_corrected_labeller(base)
    fix = {"catalog": catalog, "product_id": int(product_id), "vocab": vocab, "label": label,
           "method": "by hand", "score": 1.0, "reason": f"fixed from {base}"}  # fmt: skip
    rows = [{**fix, "labeller": HUMAN, "name_hash": ""}]
    if not store.labels.rows(catalog, corrected, vocab):  # first fix: copy the original set
        rows += [{**r, "labeller": corrected} for r in store.labels.rows(catalog, base, vocab)]
    rows.append({**fix, "labeller": corrected, "name_hash": ""})
    store.labels.upsert(rows)
    return corrected


def catalog_issues(
    store: Any, catalog: str, labeller: str, vocab: str, vector_keys: Mapping[str, str]
) -> tuple[DataIssues, bool]:
    """Issues of a catalog's labels (`vector_keys`: kind → model key of the stored vectors
    to judge by; text and image are set side by side)."""
    labels = {
        r["product_id"]: r["label"] for r in store.labels.rows(catalog, labeller, vocab)
        if r["label"]
    }  # fmt: skip
    version = store.products.version()
    tables = {kind: store.vectors.index(kind, key) for kind, key in vector_keys.items()}
    versions = {kind: t.version for kind, t in tables.items() if t is not None}
    decides = [catalog, labeller, vocab, sorted(labels.items()), version, vector_keys, versions]

    def compute() -> DataIssues:
        ids = sorted(labels)
        blocks = []
        for kind, key in vector_keys.items():
            found, vectors = store.vectors.load(kind, key, catalog, ids)
            row = {pid: i for i, pid in enumerate(found)}
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            block = np.zeros((len(ids), unit.shape[1] if len(found) else 1), np.float32)
            for i, pid in enumerate(ids):
                if pid in row:
                    block[i] = unit[row[pid]]
            blocks.append(block)
        names = dict(
            store.products.where(catalog, columns=["product_id", "name"])
            .to_pandas()[["product_id", "name"]].itertuples(index=False, name=None)
        )  # fmt: skip
        model = " + ".join(f"{kind}:{key}" for kind, key in vector_keys.items())
        return find_issues(
            f"catalog:{catalog}", model, labeller, [str(i) for i in ids],
            [str(names.get(i, "")) for i in ids], [labels[i] for i in ids],
            np.hstack(blocks),
        )  # fmt: skip

    return _stored(store, decides, compute)
