"""Catalog file → checked images → products in the store, with a summary of what happened."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.catalog.images import FAILED, MISSING, OK, check_many, download_images
from core.catalog.parse import Product, RowError, read_catalog
from core.progress import Progress
from core.store import Store, catalog_name_from_path, validate_catalog_name


@dataclass
class IngestReport:
    catalog: str
    source: str
    kind: str
    rows_read: int = 0
    ingested: int = 0
    rejected: list[RowError] = field(default_factory=list)
    images: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    products_in_catalog: int = 0
    seconds: float = 0.0

    def as_dict(self, max_errors: int = 50) -> dict[str, Any]:
        return {
            "catalog": self.catalog,
            "source": self.source,
            "kind": self.kind,
            "rows_read": self.rows_read,
            "ingested": self.ingested,
            "rejected": len(self.rejected),
            "rejections": [
                {"line": e.line, "reason": e.reason} for e in self.rejected[:max_errors]
            ],
            "images": {s: self.images.get(s, 0) for s in (OK, MISSING, FAILED)},
            "warnings": self.warnings,
            "products_in_catalog": self.products_in_catalog,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_read / self.seconds, 1) if self.seconds else None,
        }

    def summary(self) -> str:
        images = ", ".join(f"{self.images.get(s, 0)} {s}" for s in (OK, MISSING, FAILED))
        return (
            f"catalog '{self.catalog}': read {self.rows_read} rows, ingested {self.ingested}, "
            f"rejected {len(self.rejected)}; images {images}; "
            f"{self.products_in_catalog} products in the catalog ({self.seconds:.1f}s)"
        )


def _attach_local_images(products: list[Product], report: IngestReport) -> None:
    local = [p for p in products if p.image_path]
    for product, check in zip(local, check_many([p.image_path for p in local]), strict=True):
        product.image_status, product.image_error = check.status, check.error


def _attach_downloads(
    products: list[Product],
    cache_dir: Path,
    download: bool,
    workers: int,
    report: IngestReport,
    progress: Progress | None,
) -> None:
    remote = [p for p in products if not p.image_path and p.image_url]
    if not remote:
        return
    if download:
        results, warning = download_images(
            [p.image_url for p in remote], cache_dir, workers=workers, progress=progress
        )
        if warning:
            report.warnings.append(warning)
        for product in remote:
            check = results[product.image_url]
            product.image_status, product.image_error = check.status, check.error
            product.image_path = check.path
        return
    # Without --download-images, earlier downloads in the cache are still used.
    from core.catalog.images import cache_path

    for product in remote:
        cached = cache_path(cache_dir, product.image_url)
        if cached.is_file():
            product.image_status, product.image_path = OK, str(cached)
        else:
            product.image_status = MISSING
            product.image_error = "not downloaded (run ingest with --download-images)"


def ingest(
    store: Store,
    path: str | Path,
    catalog: str | None = None,
    download_images_: bool = False,
    image_cache_dir: Path | None = None,
    workers: int = 8,
    progress: Progress | None = None,
) -> IngestReport:
    started = time.perf_counter()
    name = validate_catalog_name(catalog or catalog_name_from_path(path))
    read = read_catalog(path)
    report = IngestReport(catalog=name, source=read.source, kind=read.kind)
    report.rows_read = read.rows_read
    report.rejected = read.errors
    _attach_local_images(read.products, report)
    cache_dir = image_cache_dir or store.path.parent / "cache" / "images"
    _attach_downloads(read.products, cache_dir, download_images_, workers, report, progress)
    for product in read.products:
        if product.image_status == "pending":
            product.image_status, product.image_error = MISSING, "no image in the catalog row"
    report.images = Counter(p.image_status for p in read.products)
    store.products.upsert(name, read.products, progress=progress)
    store.catalogs.record(name, read.source, read.kind, read.rows_read, len(read.errors))
    report.ingested = len(read.products)
    report.products_in_catalog = store.products.count(name)
    report.seconds = time.perf_counter() - started
    return report
