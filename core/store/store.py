"""The store: one LanceDB database (a local folder or object storage) seen as its tables
(catalogs, products, labels, evaluations, datasets, vectors), sharing one write discipline
(`Database`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from core.store.catalogs import CatalogRecord, Catalogs
from core.store.database import Database
from core.store.datasets import Datasets
from core.store.evaluations import Evaluations
from core.store.index_health import IndexHealth
from core.store.labels import Labels
from core.store.products import Products
from core.store.vectors import Vectors
from core.store_location import StorageOptions, redacted


@dataclass(frozen=True)
class CatalogInfo(CatalogRecord):
    """A catalog's record with its current counts: what `productlens stats` shows."""

    products: int = 0
    vectors: dict[str, int] = field(default_factory=dict)


class Store:
    def __init__(self, location: str | Path, storage_options: StorageOptions | None = None):
        self.database = Database(location, storage_options)

    @property
    def location(self) -> str:
        """The local folder or URI, as given (may carry credentials: show `shown_as`)."""
        return self.database.location

    @property
    def shown_as(self) -> str:
        return redacted(self.location)

    @property
    def is_remote(self) -> bool:
        return self.database.local_path is None

    @cached_property
    def catalogs(self) -> Catalogs:
        return Catalogs(self.database)

    @cached_property
    def products(self) -> Products:
        return Products(self.database)

    @cached_property
    def labels(self) -> Labels:
        return Labels(self.database)

    @cached_property
    def evaluations(self) -> Evaluations:
        return Evaluations(self.database)

    @cached_property
    def datasets(self) -> Datasets:
        return Datasets(self.database)

    @cached_property
    def index_health(self) -> IndexHealth:
        return IndexHealth(self.database)

    @cached_property
    def vectors(self) -> Vectors:
        return Vectors(self.database)

    def catalog_info(self, catalog: str) -> CatalogInfo | None:
        record = self.catalogs.get(catalog)
        if record is None:
            return None
        return CatalogInfo(
            **vars(record),
            products=self.products.count(catalog),
            vectors=self.vectors.counts(catalog),
        )
