"""Shared fixtures: a tiny real open_clip model, the packaged MiniLM, real LanceDB stores."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Tests never touch the network; model resolution must answer from local files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# ONNX exports of the encoders: once per test run, not in the user's cache.
os.environ.setdefault("PRODUCTLENS_ENCODER_CACHE", tempfile.mkdtemp(prefix="productlens-encoders-"))

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SAMPLE = ROOT / "data" / "sample"
KAGGLE_CSV = SHARED / "amazon_electronics_2023.csv"
OFFICE = SHARED / "office_items"
PC_PARTS = SHARED / "pc_parts"

# The shared data is beside the checkout in CI, not in every clone: tests that need it skip.
needs_kaggle = pytest.mark.skipif(
    not KAGGLE_CSV.is_file(), reason="needs ../shared/data/amazon_electronics_2023.csv"
)
needs_office = pytest.mark.skipif(not OFFICE.is_dir(), reason="needs ../shared/data/office_items")
needs_pc_parts = pytest.mark.skipif(not PC_PARTS.is_dir(), reason="needs ../shared/data/pc_parts")

TINY_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build_tiny_clip(directory: Path, key: str = "tiny-clip", seed: int = 0) -> Path:
    import open_clip
    import torch

    from core.models.clip import save_clip

    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP_CFG)
    return save_clip(model, TINY_CLIP_CFG, directory, key)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


def write_sample_subset(target: Path, rows: int) -> Path:
    """The first `rows` products of the shipped sample, as a folder catalog."""
    from core.catalog.parse import folder_subset

    return folder_subset(SAMPLE, target, rows)


@pytest.fixture
def settings_for(tiny_clip_dir, tmp_path):
    """Settings pointing at a fresh store in tmp, with the tiny CLIP and packaged MiniLM."""
    from core.settings import Settings

    def make(db: Path | None = None, **overrides) -> Settings:
        return Settings(
            data_dir=tmp_path,
            db_path=db or tmp_path / "db",
            clip_model=str(tiny_clip_dir),
        ).with_overrides(**overrides)

    return make


@pytest.fixture(scope="session")
def embedded_sample(tiny_clip_dir, tmp_path_factory):
    """A store with 40 sample products ingested and embedded (text + tiny CLIP images)."""
    from core.embed import embed_images, embed_texts
    from core.ingest import ingest
    from core.models.clip import load_clip
    from core.models.text import load_text_model
    from core.settings import Settings
    from core.store import Store

    base = tmp_path_factory.mktemp("embedded")
    folder = write_sample_subset(base / "catalog", 40)
    settings = Settings(data_dir=base, clip_model=str(tiny_clip_dir))
    store = Store(settings.db_path)
    ingest(store, folder, catalog="mini")
    embed_texts(store, "mini", load_text_model(settings))
    embed_images(store, "mini", load_clip(settings))
    return settings


@pytest.fixture
def own_sample(embedded_sample, tmp_path):
    """A private copy of the embedded sample, for a test that writes to its store (labels,
    evaluations, runs): the session's copy stays as every other test expects it."""
    import shutil
    from dataclasses import replace

    shutil.copytree(embedded_sample.db_path, tmp_path / "db")
    return replace(
        embedded_sample,
        data_dir=tmp_path,
        db_path=tmp_path / "db",
        runs_dir=tmp_path / "runs",
        image_cache_dir=tmp_path / "cache" / "images",
    )


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A real S3-compatible server (moto) on 127.0.0.1 for one test module."""
    from tests.object_storage import s3_server

    with s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


def store_env(settings) -> dict[str, str]:
    """The environment that points the app (or a subprocess) at these settings' store."""
    return {
        "PRODUCTLENS_DATA_DIR": str(settings.data_dir),
        "PRODUCTLENS_DB": str(settings.db_path),
        "PRODUCTLENS_RUNS_DIR": str(settings.runs_dir),
        "PRODUCTLENS_CLIP": settings.clip_model,
        "PRODUCTLENS_MODELS_DIR": str(settings.models_dir),
        "HF_HUB_OFFLINE": "1",
    }


@pytest.fixture
def app_env(own_sample, monkeypatch):
    """The app's environment pointed at a private copy of the embedded sample."""
    for name, value in store_env(own_sample).items():
        monkeypatch.setenv(name, value)
    # In-process AppTests would leave warm-up threads loading models between tests.
    monkeypatch.setenv("PRODUCTLENS_WARM_UP", "0")
    return own_sample


# A Kaggle-format catalog without images: real listings' shapes, including the three
# identical Sony WI-C100 listings (ids 1791, 5028, 6999 in the 9,600-row file).
SHOP_ROWS = [
    ("boAt Bassheads 100 Wired Earphones with Mic (Black)", 4.1, "3,94,000", "₹399", "₹999"),
    ("boAt Rockerz 255 Pro+ Bluetooth Earphones with Mic", 4.1, "1,10,000", "₹1,399", "₹3,990"),
    ("boAt Airdopes 141 Truly Wireless Earbuds", 4.0, "2,00,000", "₹1,999", "₹4,490"),
    ("boAt Bassheads 225 in Ear Wired Earphones with Mic (Blue)", 4.2, "88,000", "₹699", "₹1,490"),
    ("Sony WI-C100 Wireless Headphones with Equalizer (Black)", 3.6, "3,259", "₹1,399", "₹2,790"),
    ("Sony WI-C100 Wireless Headphones with Equalizer (Black)", 3.6, "3,259", "₹1,399", "₹2,790"),
    ("Sony WI-C100 Wireless Headphones with Equalizer (Black)", 3.6, "3,259", "₹1,399", "₹2,790"),
    ("Sony MDR-ZX110A Wired On Ear Headphone without Mic (White)", 4.0, "50,106", "₹649", "₹1,390"),
    ("Sony WH-CH510 Bluetooth Wireless On Ear Headphones (Red)", 4.0, "3,224", "₹2,299", "₹4,990"),
    ("Sony WH-CH510 Bluetooth Wireless On Ear Headphones (Black)", 4.1, "987", "₹2,299", "₹4,990"),
    ("Sony WH-CH510 Bluetooth Wireless On Ear Headphones (Blue)", 4.0, "1,432", "₹2,390", "₹4,990"),
    ("JBL C100SI Wired In Ear Headphones with Mic (Red)", 4.1, "3,00,000", "₹599", "₹1,299"),
    ("Logitech K120 Wired Keyboard for Windows", 4.4, "25,000", "₹595", "₹695"),
    ("Logitech MK215 Wireless Keyboard and Mouse Combo", 4.3, "40,000", "₹1,295", "₹1,695"),
    ("Ambrane 50000mAh Power Bank Stylo Max (Blue)", 4.1, "599", "₹4,499", "₹6,999"),
    ("Redmi 10 Power (Power Black, 8GB RAM, 128GB Storage)", 4.0, "965", "₹10,999", "₹18,999"),
    ("Redmi Note 12 (Sunrise Gold, 6GB RAM, 128GB Storage)", 4.1, "4,000", "₹16,999", "₹18,999"),
    ("Spigen Case for Redmi Note 12 (Black)", 4.3, "1,200", "₹499", "₹1,299"),
    ("LG 1.5 Ton 5 Star AI DUAL Inverter Split AC (Copper, Super Convertible)", 4.3, "12,000",
     "₹37,990", "₹75,990"),
    ("LG 1 Ton 3 Star DUAL Inverter Split AC (Copper, HD Filter)", 4.2, "8,000", "₹31,490",
     "₹59,990"),
    ("TA Technology Ahead LG AC Remote Control, Compatible with LG Split AC", 3.8, "1,100",
     "₹299", "₹999"),
    ("SanDisk Cruzer Blade 32GB USB Flash Drive", 4.3, "5,00,000", "₹299", "₹500"),
    ("SanDisk Ultra Dual Drive 64GB USB Flash Drive", 4.3, "2,00,000", "₹549", "₹1,200"),
]  # fmt: skip


def label_with_slips(store, catalog: str, slips: int = 2) -> list[dict]:
    """The local labeller's labels for `catalog`, with `slips` products of its commonest
    class stored as calculators: errors any analysis of the labels should find (the mini
    catalog's own labels are all plausible). Returns the rows as first labelled."""
    from collections import Counter

    from core.analysis.labels import LOCAL_LABELLER, VOCABULARY, label_catalog, vocab_hash

    label_catalog(store, catalog)
    rows = store.labels.rows(catalog, LOCAL_LABELLER, vocab_hash(VOCABULARY))
    common = Counter(r["label"] for r in rows).most_common(1)[0][0]
    slipped = [{**r, "label": "calculator"} for r in rows if r["label"] == common][:slips]
    store.labels.upsert(slipped)
    return rows


def write_shop_csv(path: Path, copies: int = 1, rows: list[tuple] | None = None) -> Path:
    """SHOP_ROWS (or `rows`) as a Kaggle-format CSV; with `copies` > 1, repeated with
    numbered names (distinct products: enough rows for several store commits)."""
    import csv

    rows = SHOP_ROWS if rows is None else rows

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "main_category", "sub_category", "image", "link", "ratings",
                         "no_of_ratings", "discount_price", "actual_price"])  # fmt: skip
        for copy in range(copies):
            for i, (name, rating, count, discount, actual) in enumerate(rows):
                n = copy * len(rows) + i
                label = name if copies == 1 else f"{name} #{copy}"
                writer.writerow([label, "tv, audio & cameras", "All Electronics",
                                 f"https://example.invalid/{n}.jpg",
                                 f"https://www.amazon.in/dp/B{n:09d}", rating, count, discount,
                                 actual])  # fmt: skip
    return path


@pytest.fixture(scope="session")
def shop_catalog(tiny_clip_dir, tmp_path_factory):
    """Settings for a store holding the no-image catalog "shop", text-embedded."""
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.settings import Settings
    from core.store import Store

    base = tmp_path_factory.mktemp("shop")
    settings = Settings(data_dir=base, clip_model=str(tiny_clip_dir))
    store = Store(settings.db_path)
    ingest(store, write_shop_csv(base / "shop.csv"), catalog="shop")
    embed_texts(store, "shop", load_text_model(settings))
    return settings


def make_photo_folder(root: Path, classes: int = 3, per_class: int = 8, copies: int = 4) -> dict:
    """A class-folder dataset of real sample photos (root/class_i/*.jpg); the first `copies`
    photos of each class also get a near-duplicate: a smaller re-save or a mirror image.
    Returns {"root": root, "copies": [(original key, copy key), ...]} (keys as the split
    names them: "<root name>/<class>/<file>")."""
    from PIL import Image, ImageOps

    photos = sorted((SAMPLE / "images").glob("*.jpg"))
    made = []
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            source = photos[c * per_class + i]
            image = Image.open(source).convert("RGB")
            image.save(folder / f"{i:02d}.jpg", quality=92)
            if i < copies:
                if i % 2:
                    copy = ImageOps.mirror(image)
                else:
                    copy = image.resize((image.width * 3 // 4, image.height * 3 // 4))
                copy.save(folder / f"{i:02d}-copy.jpg", quality=80)
                key = f"{root.name}/class_{c}"
                made.append((f"{key}/{i:02d}.jpg", f"{key}/{i:02d}-copy.jpg"))
    return {"root": root, "copies": made}


def pc_parts_subset(root: Path, classes: int = 4, per_class: int = 15, misfiled: int = 3) -> Path:
    """Real pc_parts photos as a small class-folder dataset: the first `per_class` photos of
    its first `classes` classes, and in each folder `misfiled` photos of the next class (a
    folder error, as pc_parts' own folders hold)."""
    import shutil

    names = sorted(p.name for p in PC_PARTS.iterdir() if p.is_dir())[:classes]
    photos = {n: sorted((PC_PARTS / n).glob("*.jpg"))[: per_class + misfiled] for n in names}
    for i, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for photo in photos[name][:per_class]:
            shutil.copy(photo, folder / photo.name)
        other = names[(i + 1) % len(names)]
        for photo in photos[other][per_class:]:
            shutil.copy(photo, folder / f"misfiled-{other}-{photo.name}")
    return root


@pytest.fixture
def pc_parts_app(app_env, tmp_path, monkeypatch):
    """The app's store with a small real pc_parts dataset registered (folder errors in it)
    and a fine-tuned run beside the baseline, so the comparison has a pair to score."""
    from core.datasets.registry import register_dataset
    from core.models.activation_cache import ActivationCache
    from core.store import Store
    from tests.test_compare import _run

    store = Store(app_env.db_path)
    folder = pc_parts_subset(tmp_path / "pc-parts-subset")
    cache = ActivationCache(app_env.activation_cache_dir)
    dataset, _ = register_dataset(store, "pc-parts-subset", folder, cache=cache)
    runs = tmp_path / "runs"
    tuned = build_tiny_clip(runs / "r1" / "checkpoint", key="run-r1", seed=1)
    _run(runs, "r1", f"local-dir:{app_env.clip_model}", tuned, {"train": [], "val": [], "test": []})
    monkeypatch.setenv("PRODUCTLENS_RUNS_DIR", str(runs))
    return app_env, store, dataset
