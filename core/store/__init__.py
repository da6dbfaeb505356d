"""LanceDB storage: `Store` and its tables; `sql_in`/`sql_str` for where-clauses."""

from core.store.schema import StoreError, catalog_name_from_path, validate_catalog_name
from core.store.sql import sql_in, sql_str
from core.store.store import CatalogInfo, Store

__all__ = [
    "CatalogInfo",
    "Store",
    "StoreError",
    "catalog_name_from_path",
    "sql_in",
    "sql_str",
    "validate_catalog_name",
]
