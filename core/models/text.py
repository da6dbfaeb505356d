"""Sentence-BERT: the text model behind the text index, loaded once per process.

By default it runs on ONNX Runtime from an export of the sentence-transformers model
(`core.models.onnx_encoder`): a query encodes 4–5× faster, and a process that only
searches never imports torch. PyTorch stays the path for training, for `--encoder torch`,
and whenever no export can be made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.models.hub import hf_snapshot, quiet_transformers
from core.models.onnx_encoder import (
    TORCH,
    EncoderUnavailable,
    OnnxTextEncoder,
    export_dir,
    load_or_export,
    precision_of,
    runtime_available,
    try_onnx,
)
from core.models.sources import ModelSource, resolve_text_model
from core.settings import Settings

log = logging.getLogger(__name__)

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


_load_lock = threading.Lock()


@dataclass
class TextModel:
    source: ModelSource
    model: Any  # a SentenceTransformer, or an OnnxTextEncoder
    dim: int
    runtime: str = TORCH  # "torch", or "onnx-fp32" / "onnx-int8"

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if self.runtime != TORCH:
            return self.model.encode(texts, batch_size)
        with one_thread_for_few(len(texts)):
            vectors = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=2)
def _load_torch(source: ModelSource) -> TextModel:
    from sentence_transformers import SentenceTransformer

    quiet_transformers()  # no "Loading weights" bar in CLI output
    model = SentenceTransformer(source.name, device="cpu")
    dim = model.encode(["dimension probe"]).shape[-1]
    return TextModel(source, model, int(dim))


@lru_cache(maxsize=2)
def _load_onnx(source: ModelSource, precision: str) -> TextModel:
    weights = weights_file(source)
    if weights is None:
        raise EncoderUnavailable(f"no local weights file for {source.name}")

    def export(target: Path) -> OnnxTextEncoder:
        from core.models.onnx_export import export_sentence_transformer

        log.info("exporting %s to ONNX (%s), once per machine", source.key, precision)
        return export_sentence_transformer(_load_torch(source).model, target, precision)

    encoder = load_or_export(export_dir("text", source.key, weights, precision), export)
    return TextModel(source, encoder, encoder.dim, f"onnx-{precision}")


def weights_file(source: ModelSource) -> Path | None:
    """The weights of a local or cached sentence-transformers model (what an export
    is keyed by), found without importing torch."""
    folder = Path(source.name)
    if not folder.is_dir():
        folder = hf_snapshot(source.name) or folder
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_text_model(settings: Settings) -> TextModel:
    source = resolve_text_model(settings)
    precision = precision_of(settings.encoder)
    with _load_lock:
        if precision is not None and runtime_available():
            onnx = try_onnx(("text encoder", source, precision),
                            lambda: _load_onnx(source, precision))  # fmt: skip
            if onnx is not None:
                return onnx
        return _load_torch(source)
