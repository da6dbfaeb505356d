"""Shared fixtures: a tiny real open_clip model, the packaged MiniLM, real LanceDB stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never touch the network; model resolution must answer from local files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SAMPLE = ROOT / "data" / "sample"
KAGGLE_CSV = SHARED / "amazon_electronics_2023.csv"

TINY_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build_tiny_clip(directory: Path, key: str = "tiny-clip", seed: int = 0) -> Path:
    import open_clip
    import torch

    from core.models import save_clip

    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP_CFG)
    return save_clip(model, TINY_CLIP_CFG, directory, key)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


def write_sample_subset(target: Path, rows: int) -> Path:
    """The first `rows` products of the shipped sample, as a folder catalog."""
    from core.catalog import folder_subset

    return folder_subset(SAMPLE, target, rows)


@pytest.fixture
def settings_for(tiny_clip_dir, tmp_path):
    """Settings pointing at a fresh store in tmp, with the tiny CLIP and packaged MiniLM."""
    from core.config import Settings

    def make(db: Path | None = None, **overrides) -> Settings:
        return Settings(
            db_path=db or tmp_path / "db",
            clip_model=str(tiny_clip_dir),
            image_cache_dir=tmp_path / "cache",
            models_dir=tmp_path / "models",
        ).with_overrides(**overrides)

    return make


@pytest.fixture(scope="session")
def embedded_sample(tiny_clip_dir, tmp_path_factory):
    """A store with 40 sample products ingested and embedded (text + tiny CLIP images)."""
    from core.config import Settings
    from core.embed import embed_images, embed_texts
    from core.ingest import ingest
    from core.models import load_clip, load_text_model
    from core.store import Store

    base = tmp_path_factory.mktemp("embedded")
    folder = write_sample_subset(base / "catalog", 40)
    settings = Settings(
        db_path=base / "db", clip_model=str(tiny_clip_dir), models_dir=base / "models"
    )
    store = Store(settings.db_path)
    ingest(store, folder, catalog="mini")
    embed_texts(store, "mini", load_text_model(settings))
    embed_images(store, "mini", load_clip(settings))
    return settings


@pytest.fixture
def app_env(embedded_sample, monkeypatch):
    monkeypatch.setenv("PRODUCTLENS_DB", str(embedded_sample.db_path))
    monkeypatch.setenv("PRODUCTLENS_CLIP", embedded_sample.clip_model)
    monkeypatch.setenv("PRODUCTLENS_MODELS_DIR", str(embedded_sample.models_dir))
    return embedded_sample
