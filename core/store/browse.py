"""The Catalog page's query: filter, sort, page and export a whole catalog in LanceDB.

Nothing is filtered or sorted in pandas: the filter becomes a where-clause, the sort an
ORDER BY, and a page an OFFSET/LIMIT, so sorting reaches all 9,600 rows and an export is
the whole filtered set, not the page on screen.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from core.store.filters import Filters
from core.store.products import Products
from core.store.sql import sql_str

# What a person can sort by → the column that holds it.
SORT_COLUMNS = {
    "Product ID": "product_id",
    "Name": "name",
    "Rating": "rating",
    "Number of ratings": "rating_count",
    "Price": "price",  # what the buyer pays: the sale price, else the list price
    "List price": "actual_price",
    "Discount": "discount_pct",
}
IMAGE_STATUSES = ("ok", "missing", "failed", "pending")
# What an export holds: every product field a person would want, none of our internals.
EXPORT_COLUMNS = [
    "product_id", "name", "main_category", "sub_category", "rating", "rating_count",
    "discount_price", "actual_price", "discount_pct", "currency", "link", "image_url",
    "image_status", "image_error", "asin", "source_line",
]  # fmt: skip
SUMMARY_COLUMNS = ["main_category", "sub_category", "price", "rating", "discount_pct"]


@dataclass(frozen=True)
class CatalogFilter:
    text: str = ""  # name contains, case-insensitive
    categories: tuple[str, ...] = ()  # main or sub category
    price_range: tuple[float, float] | None = None  # a product without a price is outside
    min_rating: float = 0.0
    image_status: tuple[str, ...] = ()

    @property
    def filters(self) -> Filters:
        """Price, rating and category as search filters them (one definition of each)."""
        low, high = self.price_range if self.price_range is not None else (None, None)
        return Filters(min_price=low, max_price=high, min_rating=self.min_rating or None,
                       categories=self.categories)  # fmt: skip

    def where(self) -> str | None:
        """The filter as a where-clause; every value from the page is quoted by sql_str."""
        clauses = []
        if text := self.text.strip():
            clauses.append(f"strpos(lower(name), lower({sql_str(text)})) > 0")
        if shared := self.filters.where():
            clauses.append(shared)
        if self.image_status:
            clauses.append(f"image_status IN ({', '.join(sql_str(s) for s in self.image_status)})")
        return " AND ".join(clauses) or None


@dataclass(frozen=True)
class SortOrder:
    by: str = "Product ID"  # a key of SORT_COLUMNS
    ascending: bool = True

    def order_by(self) -> list[tuple[str, bool]]:
        return [(SORT_COLUMNS[self.by], self.ascending)]


def catalog_page(
    products: Products,
    catalog: str,
    where: CatalogFilter,
    sort: SortOrder,
    page: int,
    page_size: int,
    columns: list[str] | None = None,
) -> pa.Table:
    """Page `page` (from 1) of the filtered, sorted catalog."""
    offset = (max(page, 1) - 1) * page_size
    return products.page(catalog, where.where(), sort.order_by(), offset, page_size, columns)


def export_file(
    products: Products,
    catalog: str,
    where: CatalogFilter,
    sort: SortOrder,
    file_format: Literal["csv", "parquet"],
) -> BinaryIO:
    """The whole filtered set, in the page's order, as a CSV or Parquet file on disk
    (removed once closed), written batch by batch: a million products never sit in
    memory as one table. Returned open at its start."""
    out = tempfile.TemporaryFile(prefix="productlens-export-")  # noqa: SIM115 (returned open)
    batches = products.batches(catalog, where.where(), sort.order_by(), EXPORT_COLUMNS)
    write = pq.ParquetWriter if file_format == "parquet" else pacsv.CSVWriter
    with write(out, batches.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    out.seek(0)
    return out


def summary_frame(products: Products, catalog: str, where: CatalogFilter):
    """The few columns the summary charts need, for the whole filtered set."""
    return products.where(catalog, where.where(), SUMMARY_COLUMNS).to_pandas()
