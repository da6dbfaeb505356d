"""Write ONNX exports of the text encoders (PyTorch needed here, not at query time).

A sentence-transformers model is exported with its pooling and normalisation inside the
graph, a CLIP text tower as `normalize(encode_text(ids))`. BERT-family graphs then get
ONNX Runtime's transformer fusions (attention, LayerNorm, GELU). The int8 variant is
dynamically quantised per channel with `reduce_range`: CPUs without VNNI saturate
full-range int8 products (mean cosine to PyTorch over 1,000 catalog documents: 0.953
without it, 0.992 with it).
Every export is checked against the PyTorch model on probe texts before it is kept.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.models.onnx_encoder import (
    EXPORT_FORMAT,
    META_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    EncoderUnavailable,
    OnnxTextEncoder,
    load_encoder,
)

log = logging.getLogger(__name__)

PROBE_TEXTS = (
    "boAt Rockerz 450 Bluetooth On Ear Headphones with Mic, Upto 15 Hours Playback",
    "wireless mouse", "Redmi 12C (Matte Black, 4GB RAM, 64GB Storage) rating 4.1 ₹7,299",
    "a photo of a keyboard", "55 inch 4K Ultra HD Smart LED TV", "usb c charger 65W",
)  # fmt: skip
# Below this cosine to the PyTorch embedding an export is refused (int8 measured 0.977+).
MIN_AGREEMENT = {"fp32": 0.999, "int8": 0.95}


def export_sentence_transformer(model: Any, target: Path, precision: str) -> OnnxTextEncoder:
    """Export a loaded SentenceTransformer (Transformer → Pooling → Normalize)."""
    import torch

    transformer, pooling = model[0], model[1]
    mode = getattr(pooling, "pooling_mode", None) or _pooling_mode(pooling)
    if mode not in ("mean", "cls"):
        raise EncoderUnavailable(f"pooling {mode!r} is not exported")
    hf = transformer.auto_model

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hf = hf

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.hf(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if mode == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    tokenizer = transformer.tokenizer
    meta = {
        "role": "text",
        "max_length": int(model.max_seq_length),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "pad_token": str(tokenizer.pad_token or "[PAD]"),
        "clean": False,
    }

    def reference(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)

    def write_tokenizer(folder: Path) -> None:
        tokenizer.backend_tokenizer.save(str(folder / TOKENIZER_FILE))

    with _eager_attention(hf):
        return _export(Encoder(), ("input_ids", "attention_mask"), hf.config, meta, target,
                       precision, reference, write_tokenizer)  # fmt: skip


def export_clip_text(
    clip: Any, tokenizer_dir: Path, target: Path, precision: str
) -> OnnxTextEncoder:
    """Export the HF text tower of a loaded ClipModel (its tokenizer.json in tokenizer_dir)."""
    import torch

    if not (tokenizer_dir / TOKENIZER_FILE).is_file():
        raise EncoderUnavailable(f"{tokenizer_dir} has no {TOKENIZER_FILE}")
    model = clip.model
    hf_config = getattr(getattr(model, "text", None), "config", None)
    if hf_config is None:
        raise EncoderUnavailable("only Hugging Face text towers are exported")

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any) -> Any:
            return torch.nn.functional.normalize(self.model.encode_text(input_ids), dim=-1)

    pad_id = int(hf_config.pad_token_id or 0)
    meta = {
        "role": "clip-text",
        "max_length": int(clip.tokenizer.context_length),
        "pad_id": pad_id,
        "pad_token": _token_for(tokenizer_dir, pad_id),
        "clean": True,
    }

    def write_tokenizer(folder: Path) -> None:
        shutil.copy(tokenizer_dir / TOKENIZER_FILE, folder / TOKENIZER_FILE)

    with _eager_attention(model.text.transformer):
        return _export(Encoder(), ("input_ids",), hf_config, meta, target, precision,
                       clip.encode_texts, write_tokenizer)  # fmt: skip


def _export(
    module: Any,
    inputs: tuple[str, ...],
    hf_config: Any,
    meta: dict[str, Any],
    target: Path,
    precision: str,
    reference: Callable[[list[str]], np.ndarray],
    write_tokenizer: Callable[[Path], None],
) -> OnnxTextEncoder:
    """Export, fuse, quantise, check against `reference`, then move into `target` whole."""
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from other users
    try:
        raw = staging / "raw.onnx"
        sample = torch.ones((2, 8), dtype=torch.long)
        axes = {name: {0: "batch", 1: "tokens"} for name in inputs}
        module.eval()
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on constant shapes: expected
            torch.onnx.export(
                module, tuple(sample for _ in inputs), str(raw), input_names=list(inputs),
                output_names=["embedding"], dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=17, dynamo=False,
            )  # fmt: skip
        fused = _fuse(raw, hf_config, staging / "fused.onnx")
        if precision == "int8":
            _quantize(fused, staging / MODEL_FILE)
        else:
            fused.rename(staging / MODEL_FILE)
        for leftover in ("raw.onnx", "fused.onnx"):
            (staging / leftover).unlink(missing_ok=True)
        write_tokenizer(staging)
        with torch.inference_mode():
            probe = reference(list(PROBE_TEXTS))
        meta = {**meta, "format": EXPORT_FORMAT, "precision": precision,
                "dim": int(probe.shape[-1]), "torch": torch.__version__}  # fmt: skip
        (staging / META_FILE).write_text(json.dumps(meta, indent=2))
        encoder = load_encoder(staging)
        agreement = float(np.min(np.sum(encoder.encode(list(PROBE_TEXTS)) * probe, axis=1)))
        if agreement < MIN_AGREEMENT[precision]:
            raise EncoderUnavailable(f"the {precision} export agrees only to {agreement:.4f}")
        meta["probe_agreement"] = round(agreement, 5)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2))
        try:
            staging.rename(target)
        except OSError:  # another process finished the same export first: use theirs
            shutil.rmtree(staging, ignore_errors=True)
        return load_encoder(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fuse(raw: Path, hf_config: Any, out: Path) -> Path:
    """ORT's BERT fusions where the architecture has them; the plain graph otherwise."""
    if getattr(hf_config, "model_type", "") not in ("bert", "roberta", "mpnet", "distilbert"):
        return raw
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        fused = optimize_model(
            str(raw), model_type="bert", num_heads=int(hf_config.num_attention_heads),
            hidden_size=int(hf_config.hidden_size),
        )  # fmt: skip
        fused.save_model_to_file(str(out))
        return out
    except Exception as exc:  # fusion is an optimisation: the plain graph still answers
        log.warning("ONNX fusion failed (%s); keeping the plain graph", exc)
        return raw


def _quantize(source: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    quantize_dynamic(
        str(source), str(out), weight_type=QuantType.QInt8, per_channel=True,
        reduce_range=True, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )  # fmt: skip


class _eager_attention:
    """Export with eager attention: ORT fuses its pattern, not SDPA's (0 of 6 layers)."""

    def __init__(self, hf_model: Any) -> None:
        self.model, self.before = hf_model, None

    def __enter__(self) -> None:
        setter = getattr(self.model, "set_attn_implementation", None)
        config = getattr(self.model, "config", None)
        self.before = getattr(config, "_attn_implementation", None)
        if callable(setter) and self.before not in (None, "eager"):
            try:
                setter("eager")
            except Exception:  # an architecture without eager attention: export as is
                self.before = None

    def __exit__(self, *exc: object) -> None:
        if self.before not in (None, "eager"):
            self.model.set_attn_implementation(self.before)


def _pooling_mode(pooling: Any) -> str:
    """The pooling ("mean", "cls", …) in sentence-transformers 3–5; 6 has `pooling_mode`."""
    if hasattr(pooling, "get_pooling_mode_str"):
        return str(pooling.get_pooling_mode_str())
    return "unknown"


def _token_for(tokenizer_dir: Path, token_id: int) -> str:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_dir / TOKENIZER_FILE)).id_to_token(token_id) or ""
