"""The store: one LanceDB directory seen as its tables (catalogs, products, labels,
evaluations, vectors), all sharing one write discipline (`Database`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from core.store.catalogs import CatalogRecord, Catalogs
from core.store.database import Database
from core.store.evaluations import Evaluations
from core.store.labels import Labels
from core.store.products import Products
from core.store.vectors import Vectors


@dataclass(frozen=True)
class CatalogInfo(CatalogRecord):
    """A catalog's record with its current counts: what `productlens stats` shows."""

    products: int = 0
    vectors: dict[str, int] = field(default_factory=dict)


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.database = Database(self.path)

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
