"""The LanceDB schema: table names, Arrow schemas, and how a product becomes a row.

Tables:

* ``catalogs`` — one row per catalog: source, kind, counts, when it was last ingested.
* ``products`` — all catalogs' products, keyed by (catalog, product_id).
* ``labels`` — pseudo-labels per (catalog, product, labeller, vocabulary).
* ``evaluations`` — zero-shot evaluations, keyed by a hash of what decides them.
* ``datasets`` — labelled photo folders registered by name: class words, near-duplicate
  groups, the leak-free split, and the fingerprint of the photos they were made from.
* ``index_health`` — measured recall and latency of each ANN-indexed vector table.
* ``vectors__{kind}__{model_key}`` — one table per (text|image, model), so a baseline and
  a fine-tuned CLIP keep their vectors side by side. Each row repeats the product fields
  that filters need, so a filter is a where-clause on the vector query itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from core.catalog.parse import Product, text_document

CATALOGS = "catalogs"
PRODUCTS = "products"
LABELS = "labels"
EVALUATIONS = "evaluations"
DATASETS = "datasets"
INDEX_HEALTH = "index_health"
VECTOR_PREFIX = "vectors__"
_CATALOG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MODEL_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,95}$")

# Declaring a table's merge key as Lance's (unenforced) primary key makes a merge-insert
# record the keys it inserts, so two concurrent merge-inserts of the same new key conflict
# and the later one is retried as an update instead of inserting a duplicate. This is what
# keeps concurrent writers on object storage safe, where no file lock can reach.
PRIMARY_KEY_META = {b"lance-schema:unenforced-primary-key": b"true"}


def with_primary_key(schema: pa.Schema, keys: list[str]) -> pa.Schema:
    for name in keys:
        index = schema.get_field_index(name)
        schema = schema.set(index, schema.field(name).with_metadata(PRIMARY_KEY_META))
    return schema


PRODUCT_KEYS = ["catalog", "product_id"]
PRODUCT_SCHEMA = pa.schema(
    [
        pa.field("catalog", pa.string(), nullable=False),
        pa.field("product_id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("main_category", pa.string()),
        pa.field("sub_category", pa.string()),
        pa.field("image_url", pa.string()),
        pa.field("image_path", pa.string()),
        pa.field("image_status", pa.string()),
        pa.field("image_error", pa.string()),
        pa.field("link", pa.string()),
        pa.field("asin", pa.string()),
        pa.field("rating", pa.float64()),
        pa.field("rating_count", pa.int64()),
        pa.field("discount_price", pa.float64()),
        pa.field("actual_price", pa.float64()),
        pa.field("price", pa.float64()),
        pa.field("currency", pa.string()),
        pa.field("text_doc", pa.string()),
        pa.field("source_line", pa.int64()),
        pa.field("discount_pct", pa.float64()),  # stored so the Catalog page can sort by it
    ]
)
PRODUCT_SCHEMA = with_primary_key(PRODUCT_SCHEMA, PRODUCT_KEYS)
# Columns added after a store may have been written, and how to fill them in: (SQL that
# fills a row, rows to leave empty). See Database.add_missing_columns.
PRODUCT_MIGRATIONS = {
    "discount_pct": (
        "round(100 * (1 - discount_price / actual_price))",
        "discount_price IS NULL OR actual_price IS NULL OR actual_price <= 0"
        " OR discount_price > actual_price",
    ),
}

CATALOG_KEYS = ["catalog"]
CATALOG_SCHEMA = pa.schema(
    [
        pa.field("catalog", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("rows_read", pa.int64()),
        pa.field("rejected", pa.int64()),
        pa.field("ingested_at", pa.float64()),
        pa.field("report", pa.string()),  # JSON: how the file was read (encoding, problems)
    ]
)
CATALOG_SCHEMA = with_primary_key(CATALOG_SCHEMA, CATALOG_KEYS)

LABEL_SCHEMA = pa.schema(
    [
        pa.field("catalog", pa.string(), nullable=False),
        pa.field("product_id", pa.int64(), nullable=False),
        pa.field("labeller", pa.string(), nullable=False),  # llm:<model> | local:<recipe>
        pa.field("vocab", pa.string(), nullable=False),  # hash of the class vocabulary
        pa.field("label", pa.string()),  # None: rejected (see reason)
        pa.field("method", pa.string()),
        pa.field("score", pa.float32()),
        pa.field("reason", pa.string()),
        pa.field("name_hash", pa.string()),
    ]
)
LABEL_KEYS = ["catalog", "product_id", "labeller", "vocab"]
LABEL_SCHEMA = with_primary_key(LABEL_SCHEMA, LABEL_KEYS)

EVALUATION_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),  # hash of everything that decides it
        pa.field("model_key", pa.string()),
        pa.field("dataset", pa.string()),
        pa.field("label_set", pa.string()),
        pa.field("created_at", pa.string()),
        pa.field("payload", pa.large_string()),  # the Evaluation as JSON
    ]
)
EVALUATION_KEYS = ["key"]
EVALUATION_SCHEMA = with_primary_key(EVALUATION_SCHEMA, EVALUATION_KEYS)

DATASET_KEYS = ["name"]
DATASET_SCHEMA = with_primary_key(
    pa.schema(
        [
            pa.field("name", pa.string(), nullable=False),
            pa.field("root", pa.string()),
            pa.field("fingerprint", pa.string()),  # of the photos: names, sizes, times
            pa.field("registered_at", pa.string()),
            pa.field("payload", pa.large_string()),  # the PhotoDataset as JSON
        ]
    ),
    DATASET_KEYS,
)

INDEX_HEALTH_KEYS = ["table_name"]
INDEX_HEALTH_SCHEMA = with_primary_key(
    pa.schema(
        [
            pa.field("table_name", pa.string(), nullable=False),
            pa.field("health", pa.string()),  # JSON: recall@10, latency, rows, version
        ]
    ),
    INDEX_HEALTH_KEYS,
)

# Product fields copied into every vector row (for where-clauses and for showing results).
VECTOR_META = ("name", "main_category", "sub_category", "price", "rating", "rating_count")


VECTOR_KEYS = ["catalog", "product_id"]


def vector_schema(dim: int) -> pa.Schema:
    meta = [PRODUCT_SCHEMA.field(name) for name in VECTOR_META]
    schema = pa.schema(
        [
            pa.field("catalog", pa.string(), nullable=False),
            pa.field("product_id", pa.int64(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim)),
            pa.field("source_hash", pa.string()),
            pa.field("meta_hash", pa.string()),
            *meta,
        ]
    )
    return with_primary_key(schema, VECTOR_KEYS)


class StoreError(RuntimeError):
    pass


def validate_catalog_name(name: str) -> str:
    if not _CATALOG_NAME.match(name or ""):
        raise StoreError(
            f"invalid catalog name {name!r}: use lower-case letters, digits, '-' or '_' "
            "(at most 64 characters)"
        )
    return name


def catalog_name_from_path(path: str | Path) -> str:
    source = Path(path)
    stem = source.name if source.is_dir() else source.stem
    if stem == "manifest":
        stem = source.resolve().parent.name
    slug = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_") or "catalog"
    return slug[:64]


def vector_table_name(kind: str, model_key: str) -> str:
    """The table of one (kind, model): `VectorKey(kind, model_key).table`."""
    return VectorKey(kind, model_key).table


@dataclass(frozen=True, order=True)
class VectorKey:
    """Which vectors a table holds: a kind (text or image) and a model key. The one place
    a vector table's name is made or read: `VectorKey.parse(name)` gives back the key it
    was made from, dots and all."""

    kind: str
    model_key: str

    def __post_init__(self) -> None:
        if self.kind not in ("text", "image"):
            raise StoreError(f"unknown vector kind {self.kind!r}")
        if not _MODEL_KEY.match(self.model_key):
            raise StoreError(f"invalid model key {self.model_key!r}")

    @property
    def table(self) -> str:
        return f"{VECTOR_PREFIX}{self.kind}__{self.model_key}"

    @property
    def legacy_table(self) -> str:
        """The name stores written before dots were kept used ("." written as "_")."""
        return f"{VECTOR_PREFIX}{self.kind}__{self.model_key.replace('.', '_')}"

    @property
    def label(self) -> str:
        """ "image__run-20261203-…": how an index is named to people and in JSON."""
        return f"{self.kind}__{self.model_key}"

    def __str__(self) -> str:
        return self.label

    @classmethod
    def parse(cls, name: str) -> VectorKey:
        """The key of a vector table's name, or of its label ("text__all-minilm-l6-v2")."""
        kind, separator, model_key = name.removeprefix(VECTOR_PREFIX).partition("__")
        if not separator:
            raise StoreError(f"not a vector table: {name!r}")
        return cls(kind, model_key)


def meta_hash(row: dict[str, Any]) -> str:
    text = "\x1f".join(repr(row.get(name)) for name in VECTOR_META)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def product_row(catalog: str, product: Product) -> dict[str, Any]:
    row = product.to_dict()
    row["catalog"] = catalog
    row["price"] = product.price
    row["discount_pct"] = product.discount_percent
    row["text_doc"] = text_document(product)
    return {field.name: row.get(field.name) for field in PRODUCT_SCHEMA}
