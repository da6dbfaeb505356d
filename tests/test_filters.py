"""One definition of what passes a filter: the LanceDB where-clause, the in-memory mask and
the list of what a product breaks agree, on random filters and awkward products (prices
missing, zero or huge; quotes and brackets in names and categories), and so do the name
conditions' mask and breaks."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from core.catalog.facts import build_facts
from core.catalog.parse import Product
from core.store import Store
from core.store.filters import Filters

CATEGORIES = ["Audio", 'it\'s "odd"', "Cables (USB)", "", "100% off; DROP TABLE"]
PRICES = [None, 0.0, 0.01, 9.99, 10.0, 499.0, 1e12, 1e-9]
RATINGS = [None, 0.0, 1.0, 3.9, 4.0, 4.5, 5.0]
COUNTS = [None, 0, 1, 99, 100, 10**9]


def random_products(rng: random.Random, n: int) -> list[Product]:
    names = ["boAt Rockerz 450", "Sony WH-1000XM4 (Black)", "TA Remote for LG",
             "Women's Running Shoes", "Men's O'Neill Jeans", "Unisex \"Quote\" Cap"]  # fmt: skip
    products = []
    for i in range(n):
        price = rng.choice(PRICES)
        products.append(
            Product(
                product_id=i, name=f"{rng.choice(names)} #{i}",
                main_category=rng.choice(CATEGORIES), sub_category=rng.choice(CATEGORIES),
                discount_price=price, actual_price=None if price is None else price * 2,
                rating=rng.choice(RATINGS), rating_count=rng.choice(COUNTS), currency="INR",
            )
        )  # fmt: skip
    return products


def random_filters(rng: random.Random, n: int) -> Filters:
    def maybe(values):
        return rng.choice([None, *[v for v in values if v is not None]])

    return Filters(
        min_price=maybe(PRICES), max_price=maybe(PRICES), min_rating=maybe(RATINGS),
        min_rating_count=maybe([0, 1, 100, 99.5]),
        categories=tuple(rng.sample(CATEGORIES, rng.choice([0, 0, 1, 2]))),
        product_ids=tuple(rng.sample(range(n), rng.choice([0, 0, 3, n // 2]))),
    )  # fmt: skip


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    rng = random.Random(7)
    store = Store(tmp_path_factory.mktemp("filters") / "db")
    products = random_products(rng, 60)
    store.products.upsert("odd", products)
    frame = store.products.where("odd").to_pandas().sort_values("product_id")
    return store, frame


def test_where_mask_and_breaks_agree_on_random_filters(catalog):
    store, frame = catalog
    columns = {
        "price": frame["price"].to_numpy(dtype=float, na_value=np.nan),
        "rating": frame["rating"].to_numpy(dtype=float, na_value=np.nan),
        "rating_count": frame["rating_count"].to_numpy(dtype=float, na_value=np.nan),
        "sub_category": frame["sub_category"].to_numpy(dtype=object),
        "main_category": frame["main_category"].to_numpy(dtype=object),
        "product_id": frame["product_id"].to_numpy(),
    }
    records = frame.replace({np.nan: None}).to_dict("records")
    rng = random.Random(11)
    checked = 0
    for _ in range(300):
        filters = random_filters(rng, len(frame))
        by_sql = set(store.products.where("odd", filters.where(), ["product_id"])
                     .column("product_id").to_pylist())  # fmt: skip
        mask = filters.mask(columns)
        by_mask = set(frame["product_id"][mask] if mask is not None else frame["product_id"])
        by_breaks = {r["product_id"] for r in records if not filters.breaks(r)}
        assert by_sql == by_mask == by_breaks, filters
        checked += len(by_sql)
    assert checked > 0  # some filters let products through, so agreement is not vacuous


def test_name_conditions_mask_and_breaks_agree():
    names = ["boAt Rockerz 450 Wireless", "Sony WH-CH510 (Blue)", "TA Remote for LG AC",
             "Campus Women's Running Shoes", "Unistar Men Running Shoes",
             "Bourge Running Shoes", "LG 32 inch TV", "LG 43 inch TV", "boAt Stone 620 Speaker",
             "Sony MDR-EX15 Wired"]  # fmt: skip
    price = [999.0, 1490.0, 349.0, 883.0, 499.0, 599.0, 13990.0, 30490.0, 1999.0, None]
    actual = [2990.0, 2990.0, 599.0, 1499.0, 999.0, 599.0, 20000.0, 50000.0, 3990.0, None]
    frame = pd.DataFrame({
        "product_id": range(len(names)), "name": names, "price": price,
        "discount_price": price, "actual_price": actual,
        "rating": [4.1] * len(names), "rating_count": [10] * len(names),
        "currency": ["INR"] * len(names), "image_status": ["missing"] * len(names),
    })  # fmt: skip
    facts = build_facts(frame)
    rng = random.Random(5)
    choices = {
        "brands": [("boat",), ("sony",), ("lg",), ("boat", "sony")],
        "excluded_brands": [("sony",), ("boat",), ("lg",)],
        "excluded_words": [("wireless",), ("blue", "wired")],
        "fits": [("lg",)],
        "audience": [("women",), ("men",), ("kids",)],
        "min_discount": [0.0, 0.4, 0.5, 1.0],
        "keywords": [("wh ch510",), ("620",), ("rockerz", "450")],
    }
    for _ in range(200):
        chosen = rng.sample(sorted(choices), rng.choice([1, 2, 3]))
        conditions = {field: rng.choice(choices[field]) for field in chosen}
        passing = set(facts.matching(**conditions).tolist())
        by_breaks = {pid for pid in range(len(names)) if not facts.breaks(pid, **conditions)}
        assert passing == by_breaks, conditions
        resolved = Filters(**conditions).resolve(facts)
        assert (resolved is None and not passing) or set(resolved.product_ids) == passing
