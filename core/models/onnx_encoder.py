"""Text encoders on ONNX Runtime: MiniLM and CLIP's text tower without PyTorch.

An export is derived from a model's weights, so it lives in a per-user cache
(`PRODUCTLENS_ENCODER_CACHE`, else `$XDG_CACHE_HOME/productlens/encoders`) under a
fingerprint of the weights file, shared by every data folder on the machine. This module
imports only onnxruntime, tokenizers and NumPy: a process that loads an export never
imports torch (`core.models.onnx_export` writes exports and does).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.settings import ENCODERS

log = logging.getLogger(__name__)

AUTO, ONNX, ONNX_INT8, TORCH = ENCODERS
MODEL_FILE, META_FILE, TOKENIZER_FILE = "model.onnx", "encoder.json", "tokenizer.json"
# Bump when the exported graph or its meta change meaning: old exports are then ignored.
EXPORT_FORMAT = 1


class EncoderUnavailable(RuntimeError):
    """No usable export (and the caller should fall back to PyTorch)."""


def precision_of(encoder: str) -> str | None:
    """The ONNX precision an encoder choice asks for ("fp32", "int8"); None: PyTorch."""
    return {AUTO: "fp32", ONNX: "fp32", ONNX_INT8: "int8"}.get(encoder)


def runtime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


def cache_root(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    if env.get("PRODUCTLENS_ENCODER_CACHE"):
        return Path(env["PRODUCTLENS_ENCODER_CACHE"]).expanduser()
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "productlens" / "encoders"


def export_dir(role: str, key: str, weights: Path, precision: str) -> Path:
    """Where the export of these weights lives: a new weights file is a new folder."""
    stat = weights.stat()
    raw = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{EXPORT_FORMAT}"
    digest = hashlib.sha1(raw.encode()).hexdigest()[:16]
    return cache_root() / f"{role}-{key}-{precision}-{digest}"


def clean_text(text: str) -> str:
    """open_clip's "whitespace" cleaning of HF-tokenised text (ftfy when installed)."""
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:  # pragma: no cover - ftfy comes with open_clip
        pass
    return " ".join(html.unescape(html.unescape(text)).split())


@dataclass
class OnnxTextEncoder:
    """A tokenizer and an ONNX graph mapping token ids to L2-normalised embeddings."""

    directory: Path
    session: Any
    tokenizer: Any
    meta: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def precision(self) -> str:
        return str(self.meta["precision"])

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if self.meta.get("clean"):
            texts = [clean_text(t) for t in texts]
        # Longest first, so each batch pads to lengths close to its own.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        wants_mask = "attention_mask" in self._inputs
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in rows])
            feeds = {"input_ids": np.asarray([e.ids for e in encoded], dtype=np.int64)}
            if wants_mask:
                feeds["attention_mask"] = np.asarray(
                    [e.attention_mask for e in encoded], dtype=np.int64
                )
            out[rows] = self.session.run(None, feeds)[0]
        return out

    @property
    def _inputs(self) -> set[str]:
        return {i.name for i in self.session.get_inputs()}


def load_encoder(directory: Path, threads: int | None = None) -> OnnxTextEncoder:
    """The export in `directory`, or EncoderUnavailable saying why not."""
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise EncoderUnavailable(f"no export in {directory}")
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads(meta_path.read_text())
        if meta.get("format") != EXPORT_FORMAT:
            raise EncoderUnavailable(f"{directory} holds an export of another format")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        # Threads that spin between calls steal the cores the app and the browser need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(
            str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
    except EncoderUnavailable:
        raise
    except Exception as exc:  # a damaged or foreign file: the caller re-exports or falls back
        raise EncoderUnavailable(f"cannot load the export in {directory}: {exc}") from exc
    tokenizer.enable_truncation(int(meta["max_length"]))
    # Pad each batch to its longest text, not to the tokenizer file's fixed length (128):
    # padding a 6-token query to 128 made it 10x slower.
    tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=str(meta["pad_token"]))
    return OnnxTextEncoder(directory, session, tokenizer, meta)


def load_or_export(target: Path, export: Callable[[Path], OnnxTextEncoder]) -> OnnxTextEncoder:
    """The export in `target`; made by `export(target)` when missing or unreadable."""
    try:
        return load_encoder(target)
    except EncoderUnavailable:
        if target.exists():  # damaged or of an older format: made again, not trusted
            shutil.rmtree(target, ignore_errors=True)
        return export(target)


_unavailable: dict[tuple[Any, ...], str] = {}


def try_onnx(key: tuple[Any, ...], load: Callable[[], Any]) -> Any | None:
    """`load()`, or None when ONNX cannot serve this model. The reason is logged and
    remembered for the process, so a failed export is not tried again on every search."""
    if key in _unavailable:
        return None
    try:
        return load()
    except EncoderUnavailable as exc:  # expected for some models: PyTorch answers
        log.info("%s stays on PyTorch: %s", key[0], exc)
        reason = str(exc)
    except Exception as exc:  # a failed export: the PyTorch path still answers, slower
        log.warning("ONNX %s unavailable (%s); using PyTorch", key[0], exc)
        reason = str(exc)
    _unavailable[key] = reason
    return None
