"""The Catalog page's query: filter, sort, page and export inside LanceDB, checked against
the same operations done by hand in pandas over the whole catalog."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from core.ingest import ingest
from core.store import Store
from core.store.browse import (
    EXPORT_COLUMNS,
    SORT_COLUMNS,
    CatalogFilter,
    SortOrder,
    catalog_page,
    export_file,
)
from tests.conftest import SHOP_ROWS, write_shop_csv


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Store:
    base = tmp_path_factory.mktemp("browse")
    store = Store(base / "db")
    ingest(store, write_shop_csv(base / "shop.csv"), catalog="shop")
    return store


def reference(store: Store) -> pd.DataFrame:
    return store.products.where("shop").to_pandas()


def every_page(store: Store, chosen: CatalogFilter, order: SortOrder, size: int) -> list[int]:
    ids: list[int] = []
    for page in range(1, 10):
        rows = catalog_page(store.products, "shop", chosen, order, page, size, ["product_id"])
        ids += rows.column("product_id").to_pylist()
    return ids


@pytest.mark.parametrize("by", list(SORT_COLUMNS))
@pytest.mark.parametrize("ascending", [True, False])
def test_sorting_reaches_every_page_in_the_order_pandas_gives(shop, by, ascending):
    column = SORT_COLUMNS[by]
    frame = reference(shop)
    expected = frame.sort_values(
        [column, "product_id"], ascending=[ascending, True], na_position="last", kind="stable"
    )["product_id"].tolist()
    got = every_page(shop, CatalogFilter(), SortOrder(by, ascending), size=3)
    assert got == expected  # pages neither overlap nor skip, ties break by product id


@pytest.mark.parametrize(
    "chosen, expected",
    [
        (CatalogFilter(text="SONY"), lambda f: f["name"].str.lower().str.contains("sony")),
        (CatalogFilter(text="it's 50% _off"), lambda f: f["name"] == "never"),  # quoted, not SQL
        (CatalogFilter(min_rating=4.2), lambda f: f["rating"] >= 4.2),
        (
            CatalogFilter(price_range=(500.0, 1500.0)),
            lambda f: f["price"].between(500, 1500),
        ),
        (
            CatalogFilter(text="boat", price_range=(0.0, 1000.0), min_rating=4.1),
            lambda f: (
                f["name"].str.lower().str.contains("boat")
                & (f["price"] <= 1000)  # no price: outside any price range, as in search
                & (f["rating"] >= 4.1)
            ),
        ),
        (CatalogFilter(categories=("All Electronics",)), lambda f: f["name"] != ""),
        (CatalogFilter(categories=("no such category",)), lambda f: f["name"] == "never"),
    ],
)
def test_filters_match_the_same_filter_done_by_hand(shop, chosen, expected):
    frame = reference(shop)
    want = sorted(frame.loc[expected(frame), "product_id"])
    assert shop.products.count("shop", chosen.where()) == len(want)
    assert sorted(every_page(shop, chosen, SortOrder(), size=5)) == want


def test_discount_column_is_the_whole_percent_off_the_list_price(shop):
    frame = reference(shop)
    redmi = frame[frame["name"].str.startswith("Redmi 10 Power")].iloc[0]
    assert redmi["discount_pct"] == round(100 * (1 - 10999 / 18999))  # 42
    top = catalog_page(shop.products, "shop", CatalogFilter(), SortOrder("Discount", False), 1, 1)
    assert top.column("discount_pct")[0].as_py() == frame["discount_pct"].max()


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_export_is_the_whole_filtered_set_in_the_page_order(shop, file_format):
    chosen, order = CatalogFilter(text="sony"), SortOrder("Price", ascending=False)
    with export_file(shop.products, "shop", chosen, order, file_format) as written:
        data = written.read()
    table = pq.read_table(io.BytesIO(data)) if file_format == "parquet" else pacsv.read_csv(
        io.BytesIO(data)
    )  # fmt: skip
    assert table.column_names == EXPORT_COLUMNS
    assert table.num_rows == sum("Sony" in row[0] for row in SHOP_ROWS) == 7
    prices = table.column("discount_price").to_pylist()
    assert prices == sorted(prices, reverse=True)


def test_a_store_written_before_the_discount_column_gains_it_on_open(tmp_path):
    store = Store(tmp_path / "db")
    ingest(store, write_shop_csv(tmp_path / "shop.csv"), catalog="shop")
    store.products.table().drop_columns(["discount_pct"])  # as an older version wrote it
    reopened = Store(tmp_path / "db")
    frame = reopened.products.where("shop").to_pandas()
    expected = (100 * (1 - frame["discount_price"] / frame["actual_price"])).round()
    assert frame["discount_pct"].tolist() == expected.tolist()
    ingest(reopened, write_shop_csv(tmp_path / "shop.csv"), catalog="shop")  # still writable
    assert reopened.products.count("shop") == len(SHOP_ROWS)


def test_an_export_is_read_in_batches_in_the_page_order(shop):
    chosen, order = CatalogFilter(text="sony"), SortOrder("Price", ascending=False)
    batches = list(shop.products.batches(
        "shop", chosen.where(), order.order_by(), EXPORT_COLUMNS, batch_rows=3))  # fmt: skip
    assert len(batches) >= 3 and all(b.num_rows <= 3 for b in batches)
    page = catalog_page(shop.products, "shop", chosen, order, 1, 50, EXPORT_COLUMNS)
    read = pa.Table.from_batches(batches)
    assert read.column("product_id").to_pylist() == page.column("product_id").to_pylist()


def test_first_is_one_matching_product_of_that_catalog_or_none(shop):
    found = shop.products.first("shop", "name LIKE 'Sony%'", ["product_id", "name"])
    assert found is not None and found["name"].startswith("Sony")
    assert set(found) == {"product_id", "name"}
    assert shop.products.first("shop", "name LIKE 'Nothing like this%'", ["name"]) is None
    assert shop.products.first("other", "name LIKE 'Sony%'", ["name"]) is None
