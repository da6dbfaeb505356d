"""Zero-shot CLIP evaluation on catalog products (pseudo-labels) or class folders.

Every evaluation keeps its per-item predictions, so the comparison page can list the
products behind any confusion cell and the ones a fine-tune fixed or broke. Results
are stored in the `evaluations` table, keyed by everything that determines them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.datasets.registry import PhotoDataset, folder_version
from core.metrics import ClassificationReport, classification_report, recall_at_k
from core.models.activation_cache import SHARED_DEPTH, ActivationCache, shared_activations
from core.models.vision_stages import split_vision
from core.models.zeroshot import DEFAULT_TEMPLATES, ClassWords, classify
from core.progress import Progress
from core.training.pairs import Pair


@dataclass
class Evaluation:
    model_key: str
    model_status: str
    dataset: str  # "catalog:<name>", "dataset:<name>" (a part of it) or "folder:<path>"
    label_set: str  # labeller + vocabulary, or "folders"
    classes: list[str]
    templates: list[str]
    report: ClassificationReport
    items: list[dict[str, Any]] = field(default_factory=list)  # id, true, pred, score, image
    retrieval: dict[str, Any] | None = None
    skipped: int = 0  # items whose label is outside `classes` or whose image is unusable
    seconds: float = 0.0
    created_at: str = ""
    class_words: dict[str, list[str]] = field(default_factory=dict)  # phrases per class
    part: str = ""  # the dataset part evaluated ("test"), empty for catalogs and folders

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
    words: ClassWords | None = None,
) -> tuple[ClassificationReport, list[str], np.ndarray]:
    predicted, sims = classify(
        clip.model, clip.tokenizer, image_features, classes, templates, words
    )
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


def embed_photos(
    clip: Any,
    pairs: Sequence[Pair],
    progress: Progress | None = None,
    cache: ActivationCache | None = None,
) -> tuple[list[Pair], np.ndarray]:
    """Unit-length image vectors of the readable photos among `pairs` (and those pairs).

    With an activation cache, a tower that can be cut (core.models.vision_stages) reads its
    first blocks' outputs from it: a fine-tune that froze them, and every WiSE-FT blend of
    it, costs only its last blocks."""
    import torch

    from core.embed import prefetched_batches

    stages = split_vision(clip.model, SHARED_DEPTH) if cache is not None else None
    if stages is not None:
        import open_clip

        preprocess = open_clip.get_model_preprocess_cfg(clip.model)
        photos = [(p.key, p.image) for p in pairs]
        found, _ = shared_activations(cache, stages, preprocess, photos, progress)
        readable = [p for p in pairs if p.key in found]
        rows = []
        with torch.inference_mode():
            for start in range(0, len(readable), 64):
                chunk = [found[p.key] for p in readable[start : start + 64]]
                out = stages.suffix(torch.stack(chunk).float()).float()
                rows.append(torch.nn.functional.normalize(out, dim=-1).numpy())
        return readable, (np.concatenate(rows) if rows else np.zeros((0, clip.dim), np.float32))

    items = [({"product_id": i, "image_path": p.image}, "") for i, p in enumerate(pairs)]
    readable, feats, done = [], [], 0
    for good, batch, bad in prefetched_batches(clip.preprocess, items, clip.image_batch):
        if batch is not None:
            with torch.inference_mode():
                feats.append(clip.encode_images(batch))
            readable += [pairs[product["product_id"]] for product, _ in good]
        done += len(good) + len(bad)
        if progress:
            progress(done, len(items), "embed images")
    return readable, (np.concatenate(feats) if feats else np.zeros((0, clip.dim), np.float32))


def evaluate_pairs(
    pairs: Sequence[Pair],
    clip: Any,
    dataset: str,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    classes: Sequence[str] | None = None,
    words: ClassWords | None = None,
    part: str = "",
    progress: Progress | None = None,
    cache: ActivationCache | None = None,
    label_set: str = "folders",
) -> Evaluation:
    """Zero-shot accuracy on labelled photos (class folders, or a part of a dataset)."""
    started = time.perf_counter()
    classes = list(classes) if classes else sorted({p.label for p in pairs if p.label})
    usable = [p for p in pairs if p.label in set(classes)]
    readable, vectors = embed_photos(clip, usable, progress, cache)
    if not readable:
        raise ValueError(f"no readable images in {dataset}")
    labels = [p.label or "" for p in readable]
    report, predicted, sims = _score(clip, vectors, labels, classes, templates, words)
    keys = [p.key for p in readable]
    names = ["/".join(Path(k).parts[-2:]) for k in keys]
    return Evaluation(
        model_key=clip.source.key,
        model_status=clip.source.status,
        dataset=dataset,
        label_set=label_set,
        classes=classes,
        templates=list(templates),
        report=report,
        items=_items(keys, names, labels, predicted, sims, classes, [p.image for p in readable]),
        skipped=len(pairs) - len(readable),
        seconds=round(time.perf_counter() - started, 2),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        class_words={c: list(v) for c, v in (words or {}).items() if c in classes},
        part=part,
    )


def evaluate_folder(
    folder: Path,
    clip: Any,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    classes: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Zero-shot accuracy on a folder with one sub-folder per class."""
    from core.training.pairs import folder_pairs

    pairs = folder_pairs(Path(folder))
    dataset = f"folder:{Path(folder).resolve()}"
    return evaluate_pairs(pairs, clip, dataset, templates, classes, progress=progress)


def evaluate_dataset(
    dataset: PhotoDataset,
    clip: Any,
    part: str = "test",
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    classes: Sequence[str] | None = None,
    progress: Progress | None = None,
    cache: ActivationCache | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> Evaluation:
    """Zero-shot accuracy on one part of a registered dataset, each class prompted with its
    registered words (`exclude`: photos to leave out, such as a model's training photos)."""
    wanted = set(dataset.keys(part)) - set(exclude)
    pairs = [p for p in dataset.pairs() if p.key in wanted]
    return evaluate_pairs(
        pairs, clip, dataset.ident, templates, classes or dataset.classes, dataset.words,
        part, progress, cache, dataset.label_set,
    )  # fmt: skip


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
    dataset: PhotoDataset | None = None,
    part: str = "test",
    classes: Sequence[str] | None = None,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    refresh: bool = False,
    progress: Progress | None = None,
    cache: ActivationCache | None = None,
) -> tuple[Evaluation, bool]:
    """An evaluation from the store when nothing it depends on changed (the model's
    weights included), else a fresh one. A registered `dataset` is evaluated on one
    `part` of its split.

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
    from core.models.clip import weights_digest
    from core.store.schema import LABELS

    truth: dict[Any, str | None] = {}
    if dataset is not None:
        classes = list(classes or dataset.classes)
        decides = [dataset.fingerprint, part, dataset.keys(part), dataset.words]
        if dataset.corrections:  # without fixes, the key (and stored evaluations) stand
            decides.append(dataset.corrections)
        ident, label_set = dataset.ident, dataset.label_set
        version = hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()[:16]
    elif folder is not None:
        folder = Path(folder).resolve()
        ident, label_set, version = f"folder:{folder}", "folders", folder_version(folder)
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
        ident, label_set = f"catalog:{catalog}", f"{labeller}/{vocab_hash(vocabulary)}"
        version = "v{}-l{}".format(
            store.database.version(store.vectors.table_name("image", clip.source.key)),
            store.database.version(LABELS),
        )
    weights = weights_digest(clip.source.path) if clip.source.path else None
    key = evaluation_key(
        clip.source.key, ident, label_set, list(classes or []), templates,
        f"{version}-w{weights or ''}",
    )  # fmt: skip
    if not refresh and (stored := store.evaluations.load(key)) is not None:
        return Evaluation.from_dict(stored), True
    if dataset is not None:
        evaluation = evaluate_dataset(dataset, clip, part, templates, classes, progress, cache)
    elif folder is not None:
        evaluation = evaluate_folder(folder, clip, templates, classes, progress)
    else:
        evaluation = evaluate_catalog(  # vectors were brought up to date above
            store, catalog, clip, truth, classes or [], label_set, templates, progress, False
        )
    store.evaluations.save(key, evaluation.as_dict())
    return evaluation, False
