"""Zero-shot CLIP evaluation on catalog products (pseudo-labels) or class folders.

Every evaluation keeps its per-item predictions, so the comparison page can list the
products behind any confusion cell and the ones a fine-tune fixed or broke. Results
are stored in the `evaluations` table, keyed by everything that determines them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.metrics import ClassificationReport, classification_report, recall_at_k
from core.models.zeroshot import DEFAULT_TEMPLATES, classify
from core.progress import Progress


@dataclass
class Evaluation:
    model_key: str
    model_status: str
    dataset: str  # "catalog:<name>" or "folder:<path>"
    label_set: str  # labeller + vocabulary, or "folders"
    classes: list[str]
    templates: list[str]
    report: ClassificationReport
    items: list[dict[str, Any]] = field(default_factory=list)  # id, true, pred, score, image
    retrieval: dict[str, Any] | None = None
    skipped: int = 0  # items whose label is outside `classes` or whose image is unusable
    seconds: float = 0.0
    created_at: str = ""

    def as_dict(self, with_items: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["report"] = self.report.as_dict()
        if not with_items:
            data.pop("items")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(**{**data, "report": ClassificationReport.from_dict(data["report"])})

    def summary_line(self) -> str:
        r = self.report
        return (
            f"{self.model_key} [{self.model_status}] on {self.dataset}: accuracy {r.accuracy:.3f} "
            f"(95% CI {r.ci[0]:.3f}–{r.ci[1]:.3f}), balanced {r.balanced_accuracy:.3f}, "
            f"n={r.n}, {len(r.labels)} classes, chance {r.chance:.3f}"
        )


def _score(
    clip: Any,
    image_features: np.ndarray,
    truth: Sequence[str],
    classes: Sequence[str],
    templates: Sequence[str],
) -> tuple[ClassificationReport, list[str], np.ndarray]:
    predicted, sims = classify(clip.model, clip.tokenizer, image_features, classes, templates)
    return classification_report(truth, predicted, classes), predicted, sims


def name_to_image_recall(
    clip: Any, names: Sequence[str], image_features: np.ndarray, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, Any]:
    """Recall@k of finding a product's own image from its name, among the evaluated set."""
    if len(names) < 2:
        return {"n": len(names)}
    text = np.concatenate(
        [clip.encode_texts(list(names[i : i + 64])) for i in range(0, len(names), 64)]
    )
    return {"n": len(names), "chance@1": 1 / len(names), **recall_at_k(text @ image_features.T, ks)}


def _items(ids, names, truth, predicted, sims, classes, images) -> list[dict[str, Any]]:
    index = {c: i for i, c in enumerate(classes)}
    return [
        {
            "id": ident,
            "name": name,
            "true": t,
            "pred": p,
            "score": float(row[index[p]]),
            "true_score": float(row[index[t]]),
            "image": image,
        }
        for ident, name, t, p, row, image in zip(
            ids, names, truth, predicted, sims, images, strict=True
        )
    ]


def evaluate_catalog(
    store: Any,
    catalog: str,
    clip: Any,
    truth: Mapping[int, str | None],
    classes: Sequence[str],
    label_set: str,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    progress: Progress | None = None,
    ensure_vectors: bool = True,
) -> Evaluation:
    """Zero-shot accuracy of `clip` against pseudo-labels, on the catalog's image vectors."""
    from core.embed import embed_images

    started = time.perf_counter()
    if ensure_vectors:
        embed_images(store, catalog, clip, progress)  # only what is missing
    wanted = [pid for pid, label in truth.items() if label in set(classes)]
    ids, vectors = store.vectors.load("image", clip.source.key, catalog, wanted)
    if not ids:
        raise ValueError(f"no product of {catalog!r} has both an image and a label in the classes")
    products = store.products.get_many(catalog, ids)
    labels = [truth[pid] for pid in ids]
    report, predicted, sims = _score(clip, vectors, labels, classes, templates)
    images = [products[pid].get("image_path") for pid in ids]
    names = [products[pid]["name"] for pid in ids]
    return Evaluation(
        model_key=clip.source.key,
        model_status=clip.source.status,
        dataset=f"catalog:{catalog}",
        label_set=label_set,
        classes=list(classes),
        templates=list(templates),
        report=report,
        items=_items(ids, names, labels, predicted, sims, classes, images),
        retrieval=name_to_image_recall(clip, names, vectors),
        skipped=len(truth) - len(ids),
        seconds=round(time.perf_counter() - started, 2),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )


def evaluate_folder(
    folder: Path,
    clip: Any,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    classes: Sequence[str] | None = None,
    progress: Progress | None = None,
    batch_size: int = 64,
) -> Evaluation:
    """Zero-shot accuracy on a folder with one sub-folder per class."""
    import torch

    from core.embed import prefetched_batches
    from core.training.pairs import folder_pairs

    started = time.perf_counter()
    pairs = folder_pairs(Path(folder))
    classes = list(classes) if classes else sorted({p.label for p in pairs if p.label})
    usable = [p for p in pairs if p.label in set(classes)]
    items = [({"product_id": p.key, "image_path": p.image}, p.label) for p in usable]
    keys, labels, images, feats = [], [], [], []
    done = 0
    for good, batch, _bad in prefetched_batches(clip.preprocess, items, batch_size):
        if batch is not None:
            with torch.inference_mode():
                feats.append(clip.encode_images(batch))
            for product, label in good:
                keys.append(product["product_id"])
                labels.append(label)
                images.append(product["image_path"])
        done += len(good) + len(_bad)
        if progress:
            progress(done, len(items), "embed images")
    if not keys:
        raise ValueError(f"no readable images in {folder}")
    vectors = np.concatenate(feats)
    report, predicted, sims = _score(clip, vectors, labels, classes, templates)
    return Evaluation(
        model_key=clip.source.key,
        model_status=clip.source.status,
        dataset=f"folder:{Path(folder).resolve()}",
        label_set="folders",
        classes=classes,
        templates=list(templates),
        report=report,
        items=_items(keys, [Path(k).name for k in keys], labels, predicted, sims, classes, images),
        skipped=len(pairs) - len(keys),
        seconds=round(time.perf_counter() - started, 2),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )


def folder_version(folder: Path) -> str:
    """Changes when any image is added, removed or rewritten."""
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name))
            digest.update(f"{root}/{name}|{stat.st_size}|{int(stat.st_mtime)}\n".encode())
    return digest.hexdigest()[:12]


def evaluation_key(
    model_key: str,
    dataset: str,
    label_set: str,
    classes: Sequence[str],
    templates: Sequence[str],
    data_version: str,
) -> str:
    payload = json.dumps(
        [model_key, dataset, label_set, list(classes), list(templates), data_version]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def present_classes(truth: Mapping[Any, str | None], candidates: Sequence[str]) -> list[str]:
    """The candidate classes that occur in `truth`, in candidate order."""
    seen = {label for label in truth.values() if label}
    return [c for c in candidates if c in seen]


def evaluate_cached(
    store: Any,
    clip: Any,
    *,
    catalog: str | None = None,
    labeller: str | None = None,
    vocabulary: Sequence[str] | None = None,
    folder: Path | None = None,
    classes: Sequence[str] | None = None,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    refresh: bool = False,
    progress: Progress | None = None,
) -> tuple[Evaluation, bool]:
    """An evaluation from the store when nothing it depends on changed, else a fresh one.

    Returns (evaluation, came_from_cache).
    """
    from core.analysis.labels import (
        ANALYSIS_CLASSES,
        LOCAL_LABELLER,
        VOCABULARY,
        stored_labels,
        vocab_hash,
    )
    from core.embed import embed_images
    from core.store.schema import LABELS, vector_table_name

    if folder is not None:
        folder = Path(folder).resolve()
        dataset, label_set, version = f"folder:{folder}", "folders", folder_version(folder)
        truth: dict[Any, str | None] = {}
    else:
        if catalog is None:
            raise ValueError("evaluate a catalog or a folder")
        vocabulary = list(vocabulary or VOCABULARY)
        labeller = labeller or LOCAL_LABELLER
        truth = stored_labels(store, catalog, labeller, vocabulary)
        if not truth:
            raise ValueError(
                f"catalog {catalog!r} has no {labeller} labels yet: run `productlens label`"
            )
        classes = list(classes or present_classes(truth, ANALYSIS_CLASSES))
        embed_images(store, catalog, clip, progress)
        dataset, label_set = f"catalog:{catalog}", f"{labeller}/{vocab_hash(vocabulary)}"
        version = "v{}-l{}".format(
            store.database.version(vector_table_name("image", clip.source.key)),
            store.database.version(LABELS),
        )
    key = evaluation_key(
        clip.source.key, dataset, label_set, list(classes or []), templates, version
    )
    if not refresh and (stored := store.evaluations.load(key)) is not None:
        return Evaluation.from_dict(stored), True
    if folder is not None:
        evaluation = evaluate_folder(folder, clip, templates, classes, progress)
    else:
        evaluation = evaluate_catalog(  # vectors were brought up to date above
            store, catalog, clip, truth, classes or [], label_set, templates, progress, False
        )
    store.evaluations.save(key, evaluation.as_dict())
    return evaluation, False
