"""Which layers a run trains: freeze the first vision blocks and/or the text tower, and
keep frozen normalisation layers in eval mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def hold_frozen_norms(model: Any, frozen: Sequence[str]) -> None:
    """BatchNorm running statistics move even without gradients; keep frozen ones fixed."""
    import torch

    frozen_modules = {n.rsplit(".", 1)[0] for n in frozen}
    for name, module in model.named_modules():
        if name in frozen_modules and isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
