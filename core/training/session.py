"""What a run holds while it runs: decoded images, transforms, cached text features,
the contrastive loss, the optimiser and schedule, and the split evaluation.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.catalog.images import ImageError, load_rgb
from core.metrics import classification_report, recall_at_k
from core.models.activation_cache import ActivationCache, shared_activations
from core.models.clip import ClipParts
from core.models.vision_stages import VisionStages, split_vision
from core.models.zeroshot import classify
from core.progress import Progress
from core.training.config import TrainConfig
from core.training.freezing import freeze_layers
from core.training.pairs import Pair, Split

log = logging.getLogger(__name__)

# --- images --------------------------------------------------------------------------


class ImageBank:
    """Every training image decoded once and kept small, so epochs do not re-read JPEGs."""

    def __init__(self, side: int) -> None:
        self.side = side
        self.images: dict[str, Any] = {}
        self.failed: dict[str, str] = {}

    def load(self, pairs: Sequence[Pair], progress: Progress | None = None) -> None:
        for i, pair in enumerate(pairs, 1):
            if pair.key in self.images or pair.key in self.failed:
                continue
            try:
                image = load_rgb(pair.image)
                image.thumbnail((self.side * 2, self.side * 2))
                # shorter side down to `side`: crops still have room to move
                scale = self.side / min(image.size)
                if scale < 1:
                    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
                    image = image.resize(size)
                self.images[pair.key] = image
            except (ImageError, OSError) as exc:
                self.failed[pair.key] = str(exc)
            if progress and (i % 50 == 0 or i == len(pairs)):
                progress(i, len(pairs), "decode images")


def _transforms(model: Any, augment: str) -> tuple[Any, Any]:
    import open_clip
    from open_clip.transform import AugmentationCfg, PreprocessCfg, image_transform_v2

    cfg = PreprocessCfg(**open_clip.get_model_preprocess_cfg(model))
    aug = {
        "none": None,
        "light": AugmentationCfg(scale=(0.8, 1.0)),
        "strong": AugmentationCfg(scale=(0.35, 1.0)),
    }[augment]
    train = image_transform_v2(cfg, is_train=augment != "none", aug_cfg=aug)
    return train, image_transform_v2(cfg, is_train=False)


def _image_size(model: Any) -> int:
    import open_clip

    size = open_clip.get_model_preprocess_cfg(model)["size"]
    return int(size if isinstance(size, int) else max(size))


# --- the loop --------------------------------------------------------------------------


def contrastive_loss(image_feats: Any, text_feats: Any, texts: Sequence[str], scale: Any) -> Any:
    """Symmetric CLIP loss with every pair sharing a text counted as a positive."""
    import torch
    import torch.nn.functional as F

    ids = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    codes = torch.tensor([ids[t] for t in texts])
    same = (codes[:, None] == codes[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    logits = scale * image_feats @ text_feats.T
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


@dataclass
class Session:
    """Everything one training run holds while it runs."""

    parts: ClipParts
    pairs: dict[str, Pair]
    split: Split
    config: TrainConfig
    bank: ImageBank
    labels: list[str]
    train_tf: Any = None
    eval_tf: Any = None
    text_cache: dict[str, Any] = field(default_factory=dict)
    frozen: list[str] = field(default_factory=list)
    stages: VisionStages | None = None  # set when frozen blocks' outputs are cached
    views: dict[str, Any] = field(default_factory=dict)  # key → (views, …) prefix outputs
    view_picker: random.Random = field(default_factory=lambda: random.Random(0))

    @property
    def model(self) -> Any:
        return self.parts.model

    def usable(self, keys: Sequence[str]) -> list[str]:
        readable = self.views if self.stages is not None else self.bank.images
        return [k for k in keys if k in readable]

    def text_features(self, texts: Sequence[str], train: bool) -> Any:
        import torch
        import torch.nn.functional as F

        if self.config.freeze_text:
            missing = [t for t in dict.fromkeys(texts) if t not in self.text_cache]
            if missing:
                was_training = self.model.training
                self.model.eval()
                with torch.no_grad():
                    for start in range(0, len(missing), 64):
                        chunk = missing[start : start + 64]
                        feats = self.model.encode_text(self.parts.tokenizer(chunk)).float()
                        for text, feat in zip(chunk, F.normalize(feats, dim=-1), strict=True):
                            self.text_cache[text] = feat
                self.model.train(was_training)
            return torch.stack([self.text_cache[t] for t in texts])
        with torch.set_grad_enabled(train):
            feats = self.model.encode_text(self.parts.tokenizer(list(texts))).float()
        return F.normalize(feats, dim=-1)

    def image_features(self, keys: Sequence[str], train: bool) -> Any:
        import torch
        import torch.nn.functional as F

        if self.stages is not None:  # one stored view each: a random one while training
            pick = self.view_picker.randrange if train else (lambda _: 0)
            stored = [self.views[k][pick(len(self.views[k]))] for k in keys]
            if train and stored[0].dim() == 3:  # feature maps: mirrored half the time, free
                flips = [self.view_picker.random() < 0.5 for _ in stored]
                stored = [v.flip(-1) if f else v for v, f in zip(stored, flips, strict=True)]
            batch = torch.stack(stored).float()
            with torch.set_grad_enabled(train):
                return F.normalize(self.stages.suffix(batch).float(), dim=-1)
        tf = self.train_tf if train else self.eval_tf
        batch = torch.stack([tf(self.bank.images[k]) for k in keys])
        with torch.set_grad_enabled(train):
            return F.normalize(self.model.encode_image(batch).float(), dim=-1)

    def cache_frozen_views(
        self, stages: VisionStages, cache: ActivationCache | None, progress: Progress | None
    ) -> None:
        """Run every photo's views through the frozen blocks once: the evaluation view of
        every photo (from the activation cache when another reader of these blocks computed
        it), and `cached_views - 1` augmented views of each training photo. Steps then need
        only the stored activations, so the decoded photos are let go."""
        import open_clip
        import torch

        self.model.eval()
        preprocess = open_clip.get_model_preprocess_cfg(self.model)
        photos = [(key, pair.image) for key, pair in self.pairs.items()]
        first, failed = shared_activations(
            cache or ActivationCache(None), stages, preprocess, photos, progress
        )
        self.bank.failed.update(failed)
        extra = self.config.cached_views - 1
        keys = [k for k in self.split.train if k in self.bank.images and k in first]
        for start in range(0, len(keys) if extra else 0, 8):  # 8: see ClipModel.image_batch
            chunk = keys[start : start + 8]
            images = [self.bank.images[k] for k in chunk]
            batch = torch.stack([self.train_tf(image) for image in images for _ in range(extra)])
            out = stages.prefix(batch).half()
            for k, own in zip(chunk, out.reshape(len(chunk), extra, *out.shape[1:]), strict=True):
                self.views[k] = own
            if progress:
                progress(min(start + 8, len(keys)), len(keys), "augmented views, once")
        self.views = {
            k: torch.cat([first[k][None], self.views[k]]) if k in self.views else first[k][None]
            for k in first
        }
        self.stages = stages
        self.bank.images.clear()

    def scale(self) -> Any:
        return self.model.logit_scale.exp().clamp(max=100)


def batches(keys: Sequence[str], size: int, seed: int) -> list[list[str]]:
    order = list(keys)
    random.Random(seed).shuffle(order)
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    return [b for b in batches if len(b) >= 2]  # a contrastive batch needs negatives


def evaluate_split(session: Session, keys: Sequence[str]) -> dict[str, Any]:
    """Loss, zero-shot class accuracy (when labels exist) and name→image recall on `keys`."""
    import torch

    keys = session.usable(keys)
    if len(keys) < 2:
        return {"n": len(keys)}
    model, cfg = session.model, session.config
    model.eval()
    with torch.no_grad():
        feats = torch.cat(
            [
                session.image_features(keys[i : i + cfg.eval_batch_size], train=False)
                for i in range(0, len(keys), cfg.eval_batch_size)
            ]
        )
        texts = [session.pairs[k].text for k in keys]
        chunks = range(0, len(keys), 256)
        text_feats = torch.cat([session.text_features(texts[i : i + 256], False) for i in chunks])
        scale, size = session.scale(), cfg.batch_size
        losses = []
        for i in range(0, len(keys), size):
            if len(keys[i : i + size]) >= 2:
                part = slice(i, i + size)
                losses.append(
                    float(contrastive_loss(feats[part], text_feats[part], texts[part], scale))
                )
    result: dict[str, Any] = {"n": len(keys), "loss": float(np.mean(losses))}
    labelled = [i for i, k in enumerate(keys) if session.pairs[k].label in session.labels]
    if labelled and session.labels:
        image_np = feats.cpu().numpy()[labelled]
        tokenizer = session.parts.tokenizer
        predicted, _ = classify(
            model, tokenizer, image_np, session.labels, cfg.templates, cfg.words
        )
        truth = [session.pairs[keys[i]].label for i in labelled]
        result["classification"] = classification_report(truth, predicted, session.labels).as_dict()
    named = [i for i, k in enumerate(keys) if session.pairs[k].label is None]
    if len(named) >= 2:
        similarities = (text_feats[named] @ feats[named].T).cpu().numpy()
        result["retrieval"] = {"n": len(named), **recall_at_k(similarities, (1, 5))}
    return result


def make_scheduler(optimizer: Any, config: TrainConfig, steps_per_epoch: int) -> Any:
    import torch

    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(total * config.warmup_frac)

    def factor(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_optimizer(model: Any, config: TrainConfig) -> Any:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("every parameter is frozen: nothing to train")
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def wise_merge(model: Any, initial: dict[str, Any], alpha: float) -> dict[str, Any]:
    """Interpolate float weights; returns the un-merged fine-tuned state for resuming."""
    tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
    merged = {
        k: (1 - alpha) * initial[k] + alpha * v if v.is_floating_point() else v
        for k, v in tuned.items()
    }
    model.load_state_dict(merged)
    return tuned


def open_session(
    parts: ClipParts,
    pairs: Sequence[Pair],
    split: Split,
    config: TrainConfig,
    progress: Progress | None,
    cache: ActivationCache | None = None,
) -> Session:
    """Everything a run needs before its first step. With `config.cached_views`, a tower
    that can be cut after its frozen blocks (core.models.vision_stages) has their outputs
    computed once here, and only training photos are decoded (for augmented views)."""
    import torch

    torch.manual_seed(config.seed)
    frozen = freeze_layers(parts.model, config.freeze_vision, config.freeze_text)
    stages = split_vision(parts.model, config.freeze_vision) if config.cached_views else None
    side = config.image_cache_side or round(_image_size(parts.model) * 1.15)
    bank = ImageBank(side)
    train = set(split.train) if config.cached_views > 1 else set()
    bank.load([p for p in pairs if stages is None or p.key in train], progress)
    for key, why in list(bank.failed.items())[:10]:
        log.warning("training image %s skipped: %s", key, why)
    labels = sorted({p.label for p in pairs if p.label})
    train_tf, eval_tf = _transforms(parts.model, config.augment)
    by_key = {p.key: p for p in pairs}
    session = Session(
        parts, by_key, split, config, bank, labels, train_tf, eval_tf, frozen=frozen,
        view_picker=random.Random(config.seed),
    )  # fmt: skip
    if stages is not None:
        session.cache_frozen_views(stages, cache, progress)
    return session
