"""Contrastive CLIP fine-tuning: training pairs, a seeded split, the loop, sweeps, resume.

Loss is CLIP's symmetric cross-entropy, (CE(image→text) + CE(text→image)) / 2, with one
change: pairs in a batch that share a text (several photos of "a photo of mouse") are
all counted as positives instead of as each other's negatives.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.images import IMAGE_SUFFIXES, ImageError, load_rgb
from core.metrics import classification_report, own_match_ranks
from core.models import CLIP_CONFIG_FILE, ClipParts, build_clip, save_clip
from core.runs import MlflowLogger, RunError, RunRecord, load_run, new_run_id, run_dir, save_run
from core.zeroshot import DEFAULT_TEMPLATES, class_text_features, predict

log = logging.getLogger(__name__)

# progress(done, total, phase, note): note carries the running loss for the bar.
Progress = Callable[..., None]
UNLABELLED = "__unlabelled__"
ARCHITECTURE_DIR = "architecture"


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


# --- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    batch_size: int = 32
    lr: float = 5e-6
    weight_decay: float = 0.1
    optimizer: str = "adamw"  # adam | adamw
    schedule: str = "cosine"  # cosine (with warm-up) | constant
    warmup_frac: float = 0.05
    freeze_vision: int = 0  # first N vision blocks (and the stem before them) stay fixed
    freeze_text: bool = False  # the whole text tower stays fixed
    seed: int = 0
    val_frac: float = 0.1
    test_frac: float = 0.2
    augment: str = "light"  # none | light | strong
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    wise_alpha: float | None = None  # WiSE-FT: (1-α)·zero-shot + α·fine-tuned weights
    image_cache_side: int = 0  # images are kept decoded at this size; 0 → 1.15 × input
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be ≥ 1 and batch_size ≥ 2")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if self.optimizer not in ("adam", "adamw") or self.schedule not in ("cosine", "constant"):
            raise ValueError("optimizer is adam|adamw, schedule is cosine|constant")
        if self.augment not in ("none", "light", "strong"):
            raise ValueError("augment is none|light|strong")
        if self.wise_alpha is not None and not 0.0 <= self.wise_alpha <= 1.0:
            raise ValueError("wise_alpha must be within [0, 1]")
        if self.freeze_vision < 0:
            raise ValueError("freeze_vision must be ≥ 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "templates" in values:
            values["templates"] = tuple(values["templates"])
        return cls(**values)


# --- freezing --------------------------------------------------------------------------


def vision_block_prefixes(model: Any, blocks: int) -> list[str]:
    """Parameter-name prefixes of the stem and the first `blocks` vision blocks."""
    visual = model.visual
    if hasattr(visual, "transformer") and hasattr(visual.transformer, "resblocks"):
        stem = ["visual.conv1", "visual.class_embedding", "visual.positional_embedding"]
        stem += ["visual.ln_pre"]
        count = len(visual.transformer.resblocks)
        named = [[f"visual.transformer.resblocks.{i}."] for i in range(count)]
    elif all(hasattr(visual, f"layer{i}") for i in range(1, 5)):
        stem = [f"visual.{n}{i}." for n in ("conv", "bn") for i in (1, 2, 3)]
        named = [[f"visual.layer{i}."] for i in range(1, 5)]
    elif hasattr(visual, "trunk") and hasattr(visual.trunk, "blocks"):
        # timm EfficientNet-style trunk: the stages, then the head conv as one more block,
        # so freezing all of them leaves only the projection head to train.
        stem = ["visual.trunk.conv_stem.", "visual.trunk.bn1."]
        named = [[f"visual.trunk.blocks.{i}."] for i in range(len(visual.trunk.blocks))]
        named.append(["visual.trunk.conv_head.", "visual.trunk.bn2."])
    else:
        raise ValueError(
            "freezing vision blocks needs an open_clip ViT, ModifiedResNet or timm tower"
        )
    if blocks > len(named):
        raise ValueError(f"the vision tower has {len(named)} blocks, cannot freeze {blocks}")
    return stem + [prefix for block in named[:blocks] for prefix in block] if blocks else []


def freeze_layers(model: Any, vision_blocks: int, text: bool) -> list[str]:
    """Turn off gradients as configured; returns the names of the frozen parameters."""
    prefixes = tuple(vision_block_prefixes(model, vision_blocks)) if vision_blocks else ()
    frozen = []
    for name, param in model.named_parameters():
        is_text = not name.startswith("visual.") and not name.startswith("logit_")
        if (prefixes and name.startswith(prefixes)) or (text and is_text):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def _hold_frozen_norms(model: Any, frozen: Sequence[str]) -> None:
    """BatchNorm running statistics move even without gradients; keep frozen ones fixed."""
    import torch

    frozen_modules = {n.rsplit(".", 1)[0] for n in frozen}
    for name, module in model.named_modules():
        if name in frozen_modules and isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


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
class _Session:
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

    @property
    def model(self) -> Any:
        return self.parts.model

    def usable(self, keys: Sequence[str]) -> list[str]:
        return [k for k in keys if k in self.bank.images]

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

        tf = self.train_tf if train else self.eval_tf
        batch = torch.stack([tf(self.bank.images[k]) for k in keys])
        with torch.set_grad_enabled(train):
            return F.normalize(self.model.encode_image(batch).float(), dim=-1)

    def scale(self) -> Any:
        return self.model.logit_scale.exp().clamp(max=100)


def _batches(keys: Sequence[str], size: int, seed: int) -> list[list[str]]:
    order = list(keys)
    random.Random(seed).shuffle(order)
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    return [b for b in batches if len(b) >= 2]  # a contrastive batch needs negatives


def evaluate_split(session: _Session, keys: Sequence[str]) -> dict[str, Any]:
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
        class_feats = class_text_features(
            model, session.parts.tokenizer, session.labels, cfg.templates
        )
        image_np = feats.cpu().numpy()[labelled]
        predicted, _ = predict(image_np, class_feats, session.labels)
        truth = [session.pairs[keys[i]].label for i in labelled]
        result["classification"] = classification_report(truth, predicted, session.labels).as_dict()
    named = [i for i, k in enumerate(keys) if session.pairs[k].label is None]
    if len(named) >= 2:
        ranks = own_match_ranks((text_feats[named] @ feats[named].T).cpu().numpy())
        result["retrieval"] = {
            "n": len(named),
            "recall@1": float(np.mean(ranks < 1)),
            "recall@5": float(np.mean(ranks < 5)),
        }
    return result


def _scheduler(optimizer: Any, config: TrainConfig, steps_per_epoch: int) -> Any:
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


def _optimizer(model: Any, config: TrainConfig) -> Any:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("every parameter is frozen: nothing to train")
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def _wise(model: Any, initial: dict[str, Any], alpha: float) -> dict[str, Any]:
    """Interpolate float weights; returns the un-merged fine-tuned state for resuming."""
    tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
    merged = {
        k: (1 - alpha) * initial[k] + alpha * v if v.is_floating_point() else v
        for k, v in tuned.items()
    }
    model.load_state_dict(merged)
    return tuned


def _train(
    session: _Session,
    record: RunRecord,
    runs_dir: Path,
    start_epoch: int,
    optimizer: Any,
    scheduler: Any,
    progress: Progress | None,
    initial_state: dict[str, Any] | None,
) -> RunRecord:
    import torch

    cfg = session.config
    folder = run_dir(runs_dir, record.run_id)
    tracker = MlflowLogger(record, runs_dir)
    train_keys = session.usable(session.split.train)
    train_seconds = record.timings.get("train_s", 0.0)
    images_seen = int(record.timings.get("train_images", 0))
    try:
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            session.model.train()
            _hold_frozen_norms(session.model, session.frozen)
            batches = _batches(train_keys, cfg.batch_size, cfg.seed * 1000 + epoch)
            started, losses = time.perf_counter(), []
            for step, keys in enumerate(batches, 1):
                texts = [session.pairs[k].text for k in keys]
                loss = contrastive_loss(
                    session.image_features(keys, train=True),
                    session.text_features(texts, train=True),
                    texts,
                    session.scale(),
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
                images_seen += len(keys)
                if progress:
                    phase = f"epoch {epoch}/{cfg.epochs}"
                    progress(step, len(batches), phase, f"loss {losses[-1]:.3f}")
            seconds = time.perf_counter() - started
            train_seconds += seconds
            val = evaluate_split(session, session.split.val)
            entry = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)) if losses else None,
                "val_loss": val.get("loss"),
                "val_accuracy": (val.get("classification") or {}).get("accuracy"),
                "val_per_class": {
                    c["label"]: c["accuracy"]
                    for c in (val.get("classification") or {}).get("per_class", [])
                },
                "val_recall@1": (val.get("retrieval") or {}).get("recall@1"),
                "seconds": round(seconds, 2),
                "images_per_s": round(sum(map(len, batches)) / seconds, 1) if seconds else None,
                "lr": scheduler.get_last_lr()[0],
            }
            record.history.append(entry)
            record.epochs_done = epoch
            record.timings.update(train_s=round(train_seconds, 2), train_images=images_seen)
            torch.save(
                {
                    "epoch": epoch,
                    "model": session.model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                },
                folder / "state.pt",
            )
            save_run(runs_dir, record)
            tracker.epoch(entry)
            log.info("epoch %d: %s", epoch, entry)
        if cfg.wise_alpha is not None and initial_state is not None:
            _wise(session.model, initial_state, cfg.wise_alpha)
        started = time.perf_counter()
        record.after = evaluate_split(session, session.split.test)
        record.timings["eval_s"] = round(
            record.timings.get("eval_s", 0.0) + time.perf_counter() - started, 2
        )
        record.timings["train_images_per_s"] = (
            round(images_seen / train_seconds, 1) if train_seconds else 0.0
        )
        checkpoint = save_clip(
            session.model,
            session.parts.model_cfg,
            folder / "checkpoint",
            key=f"run-{record.run_id}".lower()[:80],
            extra={"run_id": record.run_id, "base": record.base, "config": record.config},
            text_assets=session.parts.text_assets,
        )
        record.checkpoint = str(checkpoint)
        record.status = "done"
    except BaseException as exc:
        record.status, record.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        save_run(runs_dir, record)
        tracker.close(record.status)
    return record


def _write_inputs(folder: Path, pairs: Sequence[Pair], split: Split) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "pairs.jsonl", "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")
    (folder / "split.json").write_text(json.dumps(asdict(split)))


def read_inputs(runs_dir: Path, run_id: str) -> tuple[list[Pair], Split]:
    folder = run_dir(runs_dir, run_id)
    with open(folder / "pairs.jsonl", encoding="utf-8") as handle:
        pairs = [Pair(**json.loads(line)) for line in handle if line.strip()]
    raw = json.loads((folder / "split.json").read_text())
    split = Split(raw["seed"], *(tuple(raw[k]) for k in ("train", "val", "test")))
    return pairs, split


def _session(
    parts: ClipParts,
    pairs: Sequence[Pair],
    split: Split,
    config: TrainConfig,
    progress: Progress | None,
) -> _Session:
    import torch

    torch.manual_seed(config.seed)
    frozen = freeze_layers(parts.model, config.freeze_vision, config.freeze_text)
    side = config.image_cache_side or round(_image_size(parts.model) * 1.15)
    bank = ImageBank(side)
    bank.load(pairs, progress)
    for key, why in list(bank.failed.items())[:10]:
        log.warning("training image %s skipped: %s", key, why)
    labels = sorted({p.label for p in pairs if p.label})
    train_tf, eval_tf = _transforms(parts.model, config.augment)
    by_key = {p.key: p for p in pairs}
    return _Session(parts, by_key, split, config, bank, labels, train_tf, eval_tf, frozen=frozen)


def fine_tune(
    parts: ClipParts,
    base: Mapping[str, Any],
    pairs: Sequence[Pair],
    config: TrainConfig,
    runs_dir: Path,
    name: str = "finetune",
    sources: Sequence[str] = (),
    progress: Progress | None = None,
) -> RunRecord:
    """Train `parts.model` in place on `pairs`; the run is recorded under `runs_dir`."""
    if len(pairs) < 4:
        raise ValueError(f"need at least 4 training pairs, got {len(pairs)}")
    split = split_pairs(pairs, config.seed, config.val_frac, config.test_frac)
    record = RunRecord(
        run_id=new_run_id(name),
        name=name,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        base=dict(base),
        config=asdict(config),
        data={"sources": list(sources), "pairs": len(pairs), "split": split.counts()},
    )
    folder = save_run(runs_dir, record)
    _write_inputs(folder, pairs, split)
    _write_architecture(folder, parts)
    started = time.perf_counter()
    session = _session(parts, pairs, split, config, progress)
    record.data["unreadable_images"] = len(session.bank.failed)
    record.data["frozen_parameters"] = len(session.frozen)
    record.data["labels"] = session.labels
    record.timings["load_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    record.before = evaluate_split(session, split.test)
    record.timings["eval_s"] = round(time.perf_counter() - started, 2)
    save_run(runs_dir, record)
    initial = (
        {k: v.detach().clone() for k, v in parts.model.state_dict().items()}
        if config.wise_alpha is not None
        else None
    )
    optimizer = _optimizer(parts.model, config)
    steps = len(_batches(session.usable(split.train), config.batch_size, 0))
    scheduler = _scheduler(optimizer, config, steps)
    return _train(session, record, runs_dir, 0, optimizer, scheduler, progress, initial)


def resume(
    runs_dir: Path,
    run_id: str,
    epochs: int | None = None,
    progress: Progress | None = None,
    initial: ClipParts | None = None,
) -> RunRecord:
    """Continue a run from its last finished epoch (optionally to a new epoch count).

    WiSE-FT needs the starting weights again: pass them as `initial` for such runs.
    """
    import torch

    from core.models import LOCAL, ModelSource

    record = load_run(runs_dir, run_id)
    folder = run_dir(runs_dir, run_id)
    state_path = folder / "state.pt"
    if not state_path.is_file():
        raise RunError(f"run {run_id!r} has no saved state to resume from")
    config = TrainConfig.from_dict(record.config)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if record.epochs_done >= config.epochs:
        raise RunError(f"run {run_id!r} already has {record.epochs_done} epochs")
    architecture = _architecture_dir(folder, record)
    source = ModelSource("clip", str(architecture), f"local-dir:{architecture}", LOCAL, "", "")
    parts = build_clip(source)
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    parts.model.load_state_dict(state["model"])
    pairs, split = read_inputs(runs_dir, run_id)
    session = _session(parts, pairs, split, config, progress)
    optimizer = _optimizer(parts.model, config)
    optimizer.load_state_dict(state["optimizer"])
    steps = len(_batches(session.usable(split.train), config.batch_size, 0))
    scheduler = _scheduler(optimizer, config, steps)
    scheduler.load_state_dict(state["scheduler"])
    record.config, record.status, record.error = asdict(config), "running", None
    initial_state = initial.model.state_dict() if initial is not None else None
    if config.wise_alpha is not None and initial_state is None:
        raise RunError("resuming a WiSE-FT run needs the starting model (initial=...)")
    done = int(state["epoch"])
    return _train(session, record, runs_dir, done, optimizer, scheduler, progress, initial_state)


def _architecture_dir(folder: Path, record: RunRecord) -> Path:
    path = folder / ARCHITECTURE_DIR
    if not (path / CLIP_CONFIG_FILE).is_file():
        raise RunError(f"run {record.run_id!r} has no saved model architecture")
    return path


def _write_architecture(folder: Path, parts: ClipParts) -> None:
    """Config (and text-tower tokenizer files) without weights: resume rebuilds from it
    and loads state.pt, so a run killed before its first checkpoint can still go on."""
    from core.models import checkpoint_config, copy_text_assets

    path = folder / ARCHITECTURE_DIR
    path.mkdir(parents=True, exist_ok=True)
    config = checkpoint_config(parts.model, parts.model_cfg)
    (path / CLIP_CONFIG_FILE).write_text(json.dumps(config, indent=2))
    copy_text_assets(parts.text_assets, path)


# --- sweeps ----------------------------------------------------------------------------

SWEEP_AXES = ("epochs", "batch_size", "freeze_vision", "lr")


def sweep_configs(base: TrainConfig, grid: Mapping[str, Sequence[Any]]) -> list[TrainConfig]:
    """The cross product of `grid` (axes of TrainConfig) applied to `base`."""
    unknown = set(grid) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise ValueError(f"unknown sweep axes: {sorted(unknown)}")
    axes = [a for a in grid if grid[a]]
    combos = itertools.product(*(list(grid[a]) for a in axes))
    return [replace(base, **dict(zip(axes, combo, strict=True))) for combo in combos]


def run_sweep(
    make_parts: Callable[[], ClipParts],
    base: Mapping[str, Any],
    pairs: Sequence[Pair],
    configs: Sequence[TrainConfig],
    runs_dir: Path,
    name: str = "sweep",
    sources: Sequence[str] = (),
    progress: Progress | None = None,
) -> tuple[list[RunRecord], list[tuple[str, str]]]:
    """One run per config, each from a fresh copy of the base model.

    A config that cannot train (e.g. more frozen blocks than the model has) is reported
    and the sweep goes on; a single run re-raises so the caller sees why.
    """
    records, failures = [], []
    for i, config in enumerate(configs, 1):
        label = name if len(configs) == 1 else f"{name}-{i}"
        try:
            records.append(
                fine_tune(make_parts(), base, pairs, config, runs_dir, label, sources, progress)
            )
        except (ValueError, RunError) as exc:
            if len(configs) == 1:
                raise
            log.warning("sweep run %s failed: %s", label, exc)
            failures.append((label, str(exc)))
    return records, failures


def copy_parts(parts: ClipParts) -> ClipParts:
    return replace(parts, model=copy.deepcopy(parts.model))
