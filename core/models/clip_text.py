"""CLIP's text tower alone, for text queries against the image index.

A checkpoint with a Hugging Face text tower (the offline CLIP, fine-tuning runs) runs it
on ONNX Runtime from an export keyed by the checkpoint's weights, so a text search needs
neither open_clip nor torch. Other CLIPs (open_clip's own towers, whose tokenizer is
open_clip's) use the full model.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.models.onnx_encoder import (
    TOKENIZER_FILE,
    EncoderUnavailable,
    OnnxTextEncoder,
    export_dir,
    load_or_export,
    precision_of,
    runtime_available,
    try_onnx,
)
from core.models.sources import CLIP_WEIGHTS_FILE, ModelSource, SourceKind, resolve_clip
from core.settings import Settings

log = logging.getLogger(__name__)
_lock = threading.Lock()


class TextTower(Protocol):
    source: ModelSource
    dim: int

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class OnnxClipText:
    source: ModelSource
    encoder: OnnxTextEncoder
    runtime: str

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)


@lru_cache(maxsize=4)
def _load_onnx(source: ModelSource, precision: str) -> OnnxClipText:
    from core.models.clip import _load_clip_cached

    if source.kind is not SourceKind.CHECKPOINT_DIR or source.path is None:
        raise EncoderUnavailable(f"{source.spec}: only checkpoint directories are exported")
    if not (source.path / TOKENIZER_FILE).is_file():
        raise EncoderUnavailable(f"{source.path} has no Hugging Face text tower")
    checkpoint = source.path

    def export(target: Path) -> OnnxTextEncoder:
        from core.models.onnx_export import export_clip_text

        log.info("exporting the text tower of %s to ONNX (%s)", source.key, precision)
        return export_clip_text(_load_clip_cached(source), checkpoint, target, precision)

    target = export_dir("clip-text", source.key, checkpoint / CLIP_WEIGHTS_FILE, precision)
    encoder = load_or_export(target, export)
    return OnnxClipText(source, encoder, f"onnx-{precision}")


def load_clip_text(settings: Settings) -> TextTower | Any:
    """The CLIP text tower on ONNX Runtime where it can be, else the whole CLIP model."""
    from core.models.clip import load_clip

    source = resolve_clip(settings)
    # int8 is the text index's trade; CLIP text queries stay fp32 (one text per query).
    precision = "fp32" if precision_of(settings.encoder) else None
    if precision is not None and runtime_available():
        with _lock:
            tower = try_onnx(("CLIP text tower", source, precision),
                             lambda: _load_onnx(source, precision))  # fmt: skip
        if tower is not None:
            return tower
    return load_clip(settings)
