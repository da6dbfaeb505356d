from __future__ import annotations

import pytest

from core.catalog.parse import read_catalog
from core.ingest import ingest
from core.store import Store, StoreError, catalog_name_from_path, validate_catalog_name
from tests.conftest import KAGGLE_CSV, needs_kaggle, write_sample_subset, write_shop_csv


@needs_kaggle
def test_kaggle_ingest_is_idempotent_and_exact(tmp_path):
    store = Store(tmp_path / "db")
    first = ingest(store, KAGGLE_CSV)
    assert first.catalog == "amazon_electronics_2023"
    assert first.ingested == 9600 and first.products_in_catalog == 9600
    assert first.images["missing"] == 9600  # URLs only, not downloaded
    again = ingest(store, KAGGLE_CSV)
    assert again.products_in_catalog == 9600
    product = store.products.get("amazon_electronics_2023", 0)
    assert product["discount_price"] == 10999 and product["actual_price"] == 18999
    assert product["rating"] == 4.0 and product["rating_count"] == 965
    assert product["price"] == 10999 and product["currency"] == "INR"


@needs_kaggle
def test_interrupted_ingest_completes_without_duplicates_or_losses(tmp_path):
    """A run killed after some chunks: the next run fills the rest, duplicates nothing."""
    store = Store(tmp_path / "db")
    products = read_catalog(KAGGLE_CSV).products
    store.products.upsert("k", products[:3000])  # what a killed run left behind
    store.products.upsert("k", products)
    assert store.products.count("k") == 9600
    ids = store.products.where("k", columns=["product_id"]).column("product_id").to_pylist()
    assert sorted(ids) == list(range(9600))


def test_catalogs_live_side_by_side(tmp_path):
    store = Store(tmp_path / "db")
    folder = write_sample_subset(tmp_path / "mini", 5)
    ingest(store, folder, catalog="one")
    ingest(store, folder, catalog="two")
    assert set(store.catalogs.names()) == {"one", "two"}
    assert store.catalogs.names()[0] == "two"  # most recent first
    assert store.products.count("one") == store.products.count("two") == 5
    assert store.products.get("one", 4)["name"] == store.products.get("two", 4)["name"]


def test_reingest_updates_changed_fields(tmp_path):
    store = Store(tmp_path / "db")
    folder = write_sample_subset(tmp_path / "mini", 3)
    ingest(store, folder, catalog="c")
    manifest = folder / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("16.44", "99.5"))
    ingest(store, folder, catalog="c")
    assert store.products.count("c") == 3
    assert store.products.get("c", 0)["price"] == 99.5


@pytest.mark.parametrize("bad", ["", "Upper", "a b", "x'; drop", "-lead", "a" * 65])
def test_catalog_names_are_validated(bad):
    with pytest.raises(StoreError):
        validate_catalog_name(bad)


def test_catalog_name_from_path(tmp_path):
    assert catalog_name_from_path("x/Amazon Electronics 2023.csv") == "amazon-electronics-2023"
    assert catalog_name_from_path("data/sample/manifest.csv") == "sample"


def test_a_model_key_with_a_dot_round_trips_through_its_table_name(tmp_path):
    import numpy as np

    from core.store.schema import VectorKey, vector_schema

    store = Store(tmp_path / "db")
    ingest(store, write_shop_csv(tmp_path / "shop.csv"), catalog="shop")
    rows = store.products.where("shop", columns=["product_id", "name"]).to_pylist()[:3]
    vectors = [
        {"catalog": "shop", "product_id": r["product_id"], "vector": np.ones(4, np.float32),
         "name": r["name"], "main_category": "", "sub_category": "", "price": None,
         "rating": None, "rating_count": None, "source_hash": "", "meta_hash": ""}
        for r in rows
    ]  # fmt: skip
    store.vectors.upsert("image", "vit-b-32.openai", 4, vectors)
    (key,) = store.vectors.indexes("shop")
    assert key == VectorKey("image", "vit-b-32.openai") == VectorKey.parse(key.table)
    assert store.vectors.counts("shop") == {"image__vit-b-32.openai": 3}
    # a store written when a dot was stored as "_" is still read under the dotted key
    legacy = VectorKey("text", "old.model")
    store.database.open_or_create(legacy.legacy_table, vector_schema(4))
    assert store.vectors.table_name("text", "old.model") == legacy.legacy_table
    with pytest.raises(StoreError, match="not a vector table"):
        VectorKey.parse("products")
