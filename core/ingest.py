"""Catalog file → checked images → products in the store, with a summary of what happened."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.catalog.images import FAILED, MISSING, OK, check_many, download_images
from core.catalog.parse import Product, RowError, ValueProblem, read_catalog
from core.progress import Progress
from core.settings import Settings
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
    encoding: str = "utf-8"
    missing_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    value_problems: list[ValueProblem] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def reading(self, max_items: int = 50) -> dict[str, Any]:
        """How the file was read: what the Catalog page and `--json` show."""
        return {
            "encoding": self.encoding,
            "missing_columns": self.missing_columns,
            "ignored_columns": self.ignored_columns,
            "rejected_by_reason": self.rejected_by_reason,
            "unreadable_values": len(self.value_problems),
            "unreadable_values_by_column": dict(
                Counter(p.column for p in self.value_problems).most_common()
            ),
            "unreadable_value_examples": [
                {"line": p.line, "column": p.column, "raw": p.raw[:200], "reason": p.reason}
                for p in self.value_problems[:max_items]
            ],
        }

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
            **self.reading(max_errors),
            "products_in_catalog": self.products_in_catalog,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_read / self.seconds, 1) if self.seconds else None,
        }

    def summary(self) -> str:
        images = ", ".join(f"{self.images.get(s, 0)} {s}" for s in (OK, MISSING, FAILED))
        lines = [
            f"catalog '{self.catalog}': read {self.rows_read} rows ({self.encoding}), "
            f"ingested {self.ingested}, rejected {len(self.rejected)}; images {images}; "
            f"{self.products_in_catalog} products in the catalog ({self.seconds:.1f}s)"
        ]
        lines += [f"  rejected {n}: {why}" for why, n in self.rejected_by_reason.items()]
        if self.missing_columns:
            lines.append(f"  missing column(s), left empty: {', '.join(self.missing_columns)}")
        if self.ignored_columns:
            lines.append(f"  column(s) not used: {', '.join(self.ignored_columns)}")
        if self.value_problems:
            by_column = Counter(p.column for p in self.value_problems).most_common()
            counts = ", ".join(f"{n} in {column}" for column, n in by_column)
            lines.append(f"  {len(self.value_problems)} value(s) could not be read ({counts}):")
            lines += [f"    {problem}" for problem in self.value_problems[:10]]
        return "\n".join(lines)


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
    report.encoding = read.encoding
    report.missing_columns, report.ignored_columns = read.missing_columns, read.ignored_columns
    report.value_problems = read.value_problems
    report.rejected_by_reason = read.rejected_by_reason()
    _attach_local_images(read.products, report)
    cache_dir = image_cache_dir or Settings().image_cache_dir
    _attach_downloads(read.products, cache_dir, download_images_, workers, report, progress)
    for product in read.products:
        if product.image_status == "pending":
            product.image_status, product.image_error = MISSING, "no image in the catalog row"
    report.images = Counter(p.image_status for p in read.products)
    store.products.upsert(name, read.products, progress=progress)
    store.catalogs.record(
        name, read.source, read.kind, read.rows_read, len(read.errors), report.reading()
    )
    report.ingested = len(read.products)
    report.products_in_catalog = store.products.count(name)
    report.seconds = time.perf_counter() - started
    return report
