"""The whole product on an `s3://` store served by a real S3-compatible server (moto).

Nothing is mocked below LanceDB: every table read and commit is an HTTP request to the
server on 127.0.0.1, and the objects are listed back with boto3."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, SHOP_ROWS, write_sample_subset, write_shop_csv
from tests.object_storage import ACCESS_KEY, SECRET_KEY, S3Server, run_cli

pytest.importorskip("moto", reason="make installs moto[server] with dev")


def _settings(s3: S3Server, uri: str, base: Path, clip_dir: Path):
    from core.settings import Settings
    from core.store_location import StorageOptions

    return Settings(
        data_dir=base,
        db_path=uri,
        storage_options=StorageOptions.of(s3.options),
        clip_model=str(clip_dir),
    )


@pytest.fixture(scope="module")
def s3_sample(s3, tiny_clip_dir, tmp_path_factory):
    """40 sample products ingested, embedded, labelled, evaluated and mapped on S3."""
    from core.analysis.evaluate import evaluate_cached
    from core.analysis.labels import label_catalog
    from core.analysis.projection import default_maps
    from core.embed import embed_images, embed_texts
    from core.ingest import ingest
    from core.models.clip import load_clip
    from core.models.text import load_text_model
    from core.store import Store

    base = tmp_path_factory.mktemp("s3-sample")
    settings = _settings(s3, s3.uri("sample"), base, tiny_clip_dir)
    store = Store(settings.db_path, settings.storage_options)
    folder = write_sample_subset(base / "catalog", 40)
    ingested = ingest(store, folder, catalog="mini", image_cache_dir=settings.image_cache_dir)
    text = embed_texts(store, "mini", load_text_model(settings))
    images = embed_images(store, "mini", load_clip(settings))
    label_catalog(store, "mini", encode=load_text_model(settings).encode)
    evaluation, _ = evaluate_cached(store, load_clip(settings), catalog="mini")
    maps = default_maps(store, "mini", settings.map_cache_dir)
    return settings, {
        "ingested": ingested, "text": text, "images": images, "evaluation": evaluation,
        "maps": maps,
    }  # fmt: skip


def test_ingest_embed_evaluate_and_map_write_to_the_bucket(s3, s3_sample):
    from core.embed import embed_texts
    from core.models.text import load_text_model
    from core.store import Store

    settings, steps = s3_sample
    assert steps["ingested"].products_in_catalog == 40
    assert steps["text"].computed == 40 and steps["images"].computed > 0
    assert steps["evaluation"].report.n > 0
    assert sorted(p.meta["kind"] for p in steps["maps"]) == ["image", "text"]
    store = Store(settings.db_path, settings.storage_options)
    assert store.is_remote and store.database.local_path is None
    assert store.products.count("mini") == 40
    image_table = f"image__{steps['images'].model_key}"
    assert store.vectors.counts("mini") == {
        "text__all-minilm-l6-v2": 40,
        image_table: steps["images"].computed,
    }
    keys = s3.keys(str(settings.db_path))
    for table in ("products.lance", "catalogs.lance", "labels.lance", "evaluations.lance"):
        assert any(f"/{table}/_versions/" in key for key in keys), table
    assert not (settings.data_dir / "lancedb").exists()  # nothing went to a local store
    again = embed_texts(store, "mini", load_text_model(settings))
    assert again.computed == 0 and again.reused == 40  # the stored hashes were read back


def test_search_on_an_s3_store_finds_what_a_local_store_finds(s3_sample, embedded_sample):
    from core.lens import Lens
    from core.retrieval.search import search

    settings, _ = s3_sample
    remote = search(Lens(settings).searcher("mini"), "speaker wire cable", k=5)
    local = search(Lens(embedded_sample).searcher("mini"), "speaker wire cable", k=5)
    assert [h.product_id for h in remote.hits] == [h.product_id for h in local.hits]
    assert remote.hits and "cable" in remote.hits[0].name.lower()


def test_the_pages_read_an_s3_store(s3, s3_sample, monkeypatch):
    """The store named in the environment, its credentials in secrets.toml's [storage]."""
    settings, _ = s3_sample
    monkeypatch.setenv("PRODUCTLENS_DB", str(settings.db_path))
    monkeypatch.setenv("PRODUCTLENS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PRODUCTLENS_CLIP", settings.clip_model)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.secrets["storage"] = s3.options
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.metric[0].value == "40"
    sidebar = " ".join(m.value for m in [*at.sidebar.markdown, *at.sidebar.caption])
    assert SECRET_KEY not in sidebar and ACCESS_KEY not in sidebar
    at.switch_page("pages/catalog.py").run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 40
    at.switch_page("pages/search.py").run()
    at.text_input[0].input("speaker wire cable")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 10
    at.switch_page("pages/embedding_map.py").run()
    assert not at.exception, at.exception
    assert any("points" in c.value for c in at.caption)
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception


def test_two_concurrent_ingests_of_one_file_leave_no_duplicates(s3, tmp_path):
    """Two writers (threads here, so that their commits really overlap: Lance commits
    outside the GIL) ingest the same new rows at once, with no lock between them."""
    from concurrent.futures import ThreadPoolExecutor

    from core.ingest import ingest
    from core.store import Store
    from core.store_location import StorageOptions

    copies = 300
    write_shop_csv(tmp_path / "shop.csv", copies)
    rows = copies * len(SHOP_ROWS)  # 4,800 rows: 3 commits each
    uri, options = s3.uri("race"), StorageOptions.of(s3.options)
    writers = [Store(uri, options) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(ingest, w, tmp_path / "shop.csv", "shop") for w in writers]
        reports = [job.result() for job in jobs]
    assert [r.ingested for r in reports] == [rows, rows]
    store = Store(uri, options)
    ids = store.products.where("shop", columns=["product_id"]).column("product_id").to_pylist()
    assert len(ids) == rows and len(set(ids)) == rows
    assert store.catalogs.names() == ["shop"]


def test_credentials_never_reach_the_output(s3, s3_sample, tmp_path):
    settings, _ = s3_sample
    uri = str(settings.db_path)
    # The CLI also reads the app's secrets file: [storage] there, nothing in the environment.
    (tmp_path / ".streamlit").mkdir()
    lines = ["[storage]", *(f'{name} = "{value}"' for name, value in s3.options.items())]
    (tmp_path / ".streamlit" / "secrets.toml").write_text("\n".join(lines) + "\n")
    plain_env = {**os.environ, "PRODUCTLENS_DB": uri, "HF_HUB_OFFLINE": "1"}
    runs = [
        s3.cli(uri, "stats"),
        run_cli(plain_env, tmp_path, "--json", "stats"),
        s3.cli(uri, "--clip", settings.clip_model, "search", "usb cable", "--catalog", "mini"),
    ]
    outputs = [(*r.communicate(timeout=300), r.returncode) for r in runs]
    assert [code for *_, code in outputs] == [0, 0, 0], outputs
    assert '"products": 40' in outputs[1][0]
    assert "s3://productlens/" in outputs[0][0] and "40 products" in outputs[0][0]
    # A server that is not there: a short, clear error, still without the credentials.
    down = S3Server("http://127.0.0.1:9")
    failed = down.cli(uri, "stats")
    out, err = failed.communicate(timeout=120)
    assert failed.returncode == 2
    assert err.startswith("error: cannot open the store at s3://productlens/") and len(err) < 600
    assert "nothing answers at the endpoint" in err
    from core.settings import load_settings

    printed = repr(load_settings(env=s3.env(uri)))
    for text in [*(o + e for o, e, _ in outputs), out + err, printed]:
        assert SECRET_KEY not in text and ACCESS_KEY not in text


def test_ray_workers_embed_into_an_s3_store(s3, embedded_sample, tmp_path):
    """Ray actors read their shard from the bucket and commit their vectors to it."""
    pytest.importorskip("ray", reason="make installs the scale extra with dev")
    from core.embed_ray import embed_with_ray
    from core.ingest import ingest
    from core.store import Store

    settings = _settings(s3, s3.uri("ray"), tmp_path, Path(embedded_sample.clip_model))
    store = Store(settings.db_path, settings.storage_options)
    ingest(store, write_sample_subset(tmp_path / "catalog", 40), catalog="mini")
    report = embed_with_ray(settings, "mini", "image", workers=2)
    assert report.computed > 0 and not report.failed
    remote_ids, remote = store.vectors.load("image", report.model_key, "mini")
    local_ids, local = Store(embedded_sample.db_path).vectors.load(
        "image", report.model_key, "mini"
    )
    assert sorted(remote_ids) == sorted(local_ids) and len(remote_ids) == report.computed
    remote, local = remote[np.argsort(remote_ids)], local[np.argsort(local_ids)]
    assert np.array_equal(remote, local)  # the same vectors, bit for bit
