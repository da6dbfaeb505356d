"""The products table: every catalog's products, keyed by (catalog, product_id)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from core.catalog.parse import Product
from core.progress import Progress
from core.store.database import Database, read_all
from core.store.schema import (
    PRODUCT_KEYS,
    PRODUCT_MIGRATIONS,
    PRODUCT_SCHEMA,
    PRODUCTS,
    product_row,
    validate_catalog_name,
)
from core.store.sql import sql_in, sql_str


class Products:
    def __init__(self, database: Database) -> None:
        self.database = database

    def table(self) -> Any | None:
        table = self.database.open(PRODUCTS)
        if table is None:
            return None
        return self.database.add_missing_columns(table, PRODUCT_SCHEMA, PRODUCT_MIGRATIONS)

    def version(self) -> int:
        """Changes on every write: the key of anything cached from the products."""
        return self.database.version(PRODUCTS)

    def upsert(
        self, catalog: str, products: Sequence[Product], progress: Progress | None = None
    ) -> None:
        validate_catalog_name(catalog)
        table = self.table() or self.database.open_or_create(PRODUCTS, PRODUCT_SCHEMA)
        self.database.upsert(table, products, PRODUCT_KEYS, progress, "products",
                             to_row=lambda p: product_row(catalog, p))  # fmt: skip

    def where(
        self, catalog: str, where: str | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """Products of a catalog as Arrow, optionally filtered by a trusted where-clause."""
        table = self.table()
        if table is None:
            schema = PRODUCT_SCHEMA
            return pa.schema(
                [schema.field(c) for c in columns] if columns else schema
            ).empty_table()
        return read_all(table, self._clause(catalog, where), columns)

    def first(self, catalog: str, where: str, columns: list[str]) -> dict[str, Any] | None:
        """Any one product matching `where` (a trusted clause), unsorted: a sample, where a
        page would sort every match first."""
        table = self.table()
        if table is None:
            return None
        query = table.search().where(self._clause(catalog, where)).select(columns)
        rows = query.limit(1).to_arrow().to_pylist()
        return rows[0] if rows else None

    def count(self, catalog: str, where: str | None = None) -> int:
        table = self.table()
        if table is None:
            return 0
        return table.count_rows(self._clause(catalog, where))

    def page(
        self,
        catalog: str,
        where: str | None,
        order_by: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """One page of a catalog, filtered, sorted and cut inside LanceDB: the page costs
        the same whether the catalog has 300 products or 30,000. `order_by` holds
        (column, ascending) pairs; product_id breaks ties so pages never overlap."""
        table = self.table()
        if table is None:
            return self.where(catalog, where, columns)
        query = self._ordered(table, catalog, where, order_by, columns)
        return query.offset(max(offset, 0)).limit(max(limit, 1)).to_arrow()

    def batches(
        self,
        catalog: str,
        where: str | None,
        order_by: Sequence[tuple[str, bool]],
        columns: list[str],
        batch_rows: int = 50_000,
    ) -> pa.RecordBatchReader:
        """The filtered, sorted catalog as Arrow batches of about `batch_rows`, in page
        order: an export writes them one by one instead of holding the whole table."""
        table = self.table()
        if table is None:
            return self.where(catalog, where, columns).to_reader()
        count = self.count(catalog, where)
        query = self._ordered(table, catalog, where, order_by, columns).limit(max(count, 1))
        return query.to_batches(batch_rows)

    def _ordered(
        self,
        table: Any,
        catalog: str,
        where: str | None,
        order_by: Sequence[tuple[str, bool]],
        columns: list[str] | None,
    ) -> Any:
        """A query of the catalog's filtered rows sorted by `order_by`, then product id."""
        from lancedb.query import ColumnOrdering

        keys = [
            *order_by,
            *([] if any(c == "product_id" for c, _ in order_by) else [("product_id", True)]),
        ]
        query = table.search().where(self._clause(catalog, where))
        if columns:
            query = query.select(columns)
        return query.order_by([ColumnOrdering(column_name=c, ascending=up) for c, up in keys])

    @staticmethod
    def _clause(catalog: str, where: str | None) -> str:
        clause = f"catalog = {sql_str(validate_catalog_name(catalog))}"
        return f"{clause} AND ({where})" if where else clause

    def get_many(self, catalog: str, product_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        ids = list(product_ids)
        if not ids:
            return {}
        rows = self.where(catalog, f"product_id IN ({sql_in(ids)})").to_pylist()
        return {row["product_id"]: row for row in rows}

    def get(self, catalog: str, product_id: int) -> dict[str, Any] | None:
        return self.get_many(catalog, [product_id]).get(int(product_id))

    def set_image_status(self, catalog: str, product_id: int, status: str, error: str) -> None:
        table = self.table()
        if table is None:
            return
        with self.database.write(table):
            table.update(
                where=f"catalog = {sql_str(catalog)} AND product_id = {int(product_id)}",
                values={"image_status": status, "image_error": error},
            )
