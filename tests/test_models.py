from __future__ import annotations

import time

import numpy as np
import pytest

from core.models.clip import load_clip
from core.models.sources import (
    FALLBACK,
    LOCAL,
    UNTRAINED,
    ModelUnavailable,
    resolve_clip,
    resolve_text_model,
)
from core.models.text import load_text_model
from core.settings import Settings
from tests.conftest import ROOT, build_tiny_clip


def test_offline_clip_falls_back_fast_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import open_clip  # noqa: F401  (the one-time import is not what is being timed)

    settings = Settings(models_dir=tmp_path / "models")
    started = time.perf_counter()
    source = resolve_clip(settings)
    assert time.perf_counter() - started < 3
    assert source.status == UNTRAINED and "RANDOM" in source.detail
    assert source.key == "vit-b-32-random"


def test_the_default_clip_resolves_without_importing_open_clip(tmp_path):
    """The sidebar's first paint resolves the default CLIP; importing open_clip (and torch)
    for that cost 6-9 s. The copy of its pretrained entry must match open_clip's."""
    import subprocess
    import sys

    from open_clip.pretrained import get_pretrained_cfg

    from core.models.sources import _KNOWN_TAGS

    for (name, tag), copied in _KNOWN_TAGS.items():
        real = get_pretrained_cfg(name, tag)
        assert {key: real[key] for key in copied} == copied
    script = (
        "import sys; from pathlib import Path; from core.settings import Settings; "
        "from core.models.sources import resolve_clip; "
        f"resolve_clip(Settings(models_dir=Path({str(tmp_path)!r}))); "
        "print('open_clip' in sys.modules, 'torch' in sys.modules)"
    )
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=str(ROOT), check=True)  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


def test_unreachable_hub_is_detected_within_the_probe_timeout(monkeypatch):
    from core.models import hub as models

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setattr(models, "_probe_results", {})
    started = time.perf_counter()
    assert models.hub_reachable(timeout=2.0) is False
    assert time.perf_counter() - started < 3


def test_offline_resolution_prefers_the_offline_clip_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(models_dir=tmp_path / "models")
    build_tiny_clip(settings.models_dir / "offline-clip", key="offline-test")
    source = resolve_clip(settings)
    assert source.status == FALLBACK and source.key == "offline-test"
    model = load_clip(settings)
    assert model.dim == 32


def test_local_checkpoint_loads_and_encodes_normalised(tiny_clip_dir):
    settings = Settings(clip_model=str(tiny_clip_dir))
    source = resolve_clip(settings)
    assert source.status == LOCAL and source.key == "tiny-clip"
    clip = load_clip(settings)
    vectors = clip.encode_texts(["a photo of a keyboard", "a photo of a mouse"])
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert load_clip(settings) is clip  # loaded once


def test_missing_local_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"open_clip_config\.json"):
        resolve_clip(Settings(clip_model=f"local-dir:{tmp_path}"))


def test_unknown_pretrained_tag_is_a_clear_error():
    with pytest.raises(ModelUnavailable, match="no pretrained tag"):
        resolve_clip(Settings(clip_model="ViT-B-32/not-a-tag"))


def test_text_model_offline_uses_the_packaged_minilm():
    source = resolve_text_model(Settings())
    assert source.status == LOCAL and source.key == "all-minilm-l6-v2"
    other = resolve_text_model(Settings(text_model="someone/else-model"))
    assert other.status == FALLBACK and other.key == "all-minilm-l6-v2"


def test_minilm_carries_real_meaning():
    model = load_text_model(Settings())
    query, bank, phones = model.encode(
        [
            "blue power bank 50000 mAh",
            "Ambrane 20000mAh Power Bank with 20W Fast Charging, Triple Output, Blue",
            "boAt Rockerz 450 Bluetooth On Ear Headphones with Mic, Luscious Black",
        ]
    )
    assert model.dim == 384
    assert float(query @ bank) > float(query @ phones) + 0.1
