"""An image tower cut in two after its frozen blocks, so work on the frozen part is done once.

A fine-tune that freezes the first blocks of a convolutional tower spends most of its time
computing the same frozen activations every epoch (on EfficientNet-Lite the high-resolution
early blocks are ~80% of a forward pass). Cut after them, the prefix runs once per photo
and view (core.models.activation_cache keeps it on disk), and training steps, evaluations
and weight interpolations run only the rest. The halves are the tower's own modules in its
own order: prefix then suffix is `encode_image`.

Only timm towers of the EfficientNet family (stem, `blocks`, head convolution) are cut;
any other tower answers None and runs whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

_TRUNK_PARTS = ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "forward_head")


@dataclass(frozen=True)
class VisionStages:
    """The first `frozen` blocks of a timm `trunk` (the prefix), the rest of it, and an
    optional `head` on its pooled features (an open_clip tower's projection)."""

    trunk: Any
    frozen: int  # blocks in the prefix, counted as core.training.freezing counts them
    head: Any = None

    @property
    def depth(self) -> int:
        """Blocks in the whole tower: the stages, then the head convolution and pooling."""
        return len(self.trunk.blocks) + 1

    @property
    def whole_trunk(self) -> bool:
        """The prefix includes the head convolution: it ends in pooled features."""
        return self.frozen >= self.depth

    def run(self, x: Any, start: int, stop: int) -> Any:
        """Blocks `start` to `stop - 1` of the trunk on activations after block `start - 1`
        (the last block is the head convolution with the pooling)."""
        import torch

        trunk = self.trunk
        if start >= stop:  # nothing to run (pooled features stay as they are)
            return x
        x = x.contiguous(memory_format=torch.channels_last)
        for block in trunk.blocks[start : min(stop, self.depth - 1)]:
            x = block(x)
        if stop >= self.depth > start:
            x = trunk.forward_head(trunk.bn2(trunk.conv_head(x)), pre_logits=True)
        return x

    def prefix(self, images: Any) -> Any:
        """Activations after the frozen blocks (pooled features when the whole trunk is)."""
        import torch

        trunk = self.trunk
        with torch.no_grad():
            x = trunk.bn1(trunk.conv_stem(images.contiguous(memory_format=torch.channels_last)))
            return self.run(x, 0, self.frozen)

    def pooled(self, activations: Any) -> Any:
        """The trunk's pooled features from prefix activations."""
        return self.run(activations, self.frozen, self.depth)

    def suffix(self, activations: Any) -> Any:
        """The tower's output (not normalised) from prefix activations."""
        pooled = self.pooled(activations)
        return pooled if self.head is None else self.head(pooled)

    def prefix_digest(self) -> str:
        """Equal for two towers whose prefixes compute the same thing (every tensor of the
        stem and the frozen blocks, running statistics included)."""
        trunk = self.trunk
        modules = [trunk.conv_stem, trunk.bn1, *trunk.blocks[: self.frozen]]
        if self.whole_trunk:
            modules += [trunk.conv_head, trunk.bn2]
        digest = hashlib.sha256(f"{type(trunk).__name__}:{self.frozen}".encode())
        for module in modules:
            for name, tensor in module.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


def trunk_stages(trunk: Any, frozen: int, head: Any = None) -> VisionStages | None:
    """`trunk` cut after `frozen` blocks, or None when it is not an EfficientNet-style timm
    trunk or nothing is frozen."""
    if frozen < 1 or trunk is None or not all(hasattr(trunk, p) for p in _TRUNK_PARTS):
        return None
    if frozen > len(trunk.blocks) + 1:
        raise ValueError(f"the vision tower has {len(trunk.blocks) + 1} blocks, not {frozen}")
    return VisionStages(trunk, frozen, head)


def split_vision(model: Any, frozen: int) -> VisionStages | None:
    """An open_clip model's image tower cut after `frozen` blocks (None: it cannot be)."""
    visual = getattr(model, "visual", None)
    return trunk_stages(getattr(visual, "trunk", None), frozen, getattr(visual, "head", None))
