"""Sentence-BERT through sentence-transformers: the text model behind the text index,
loaded once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from core.models.hub import quiet_transformers
from core.models.sources import ModelSource, resolve_text_model
from core.settings import Settings

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
    model = SentenceTransformer(source.name, device="cpu")
    dim = model.encode(["dimension probe"]).shape[-1]
    return TextModel(source, model, int(dim))


def load_text_model(settings: Settings) -> TextModel:
    with _load_lock:
        return _load_text_cached(resolve_text_model(settings))
