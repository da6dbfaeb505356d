"""The LanceDB schema and every read and write (catalogs, products, vectors).

Tables:

* ``catalogs`` — one row per catalog: source, kind, counts, when it was last ingested.
* ``products`` — all catalogs' products, keyed by (catalog, product_id).
* ``vectors__{kind}__{model_key}`` — one table per (text|image, model), so a baseline and
  a fine-tuned CLIP keep their vectors side by side. Each row repeats the product fields
  that filters need, so a filter is a where-clause on the vector query itself.

Writes are upserts (merge_insert) in chunks: each chunk is one LanceDB commit, so a
killed run leaves whole chunks behind and the next run completes without duplicates.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from core.catalog import Product, text_document

if TYPE_CHECKING:
    import numpy as np

CATALOGS = "catalogs"
PRODUCTS = "products"
VECTOR_PREFIX = "vectors__"
UPSERT_CHUNK = 2000
_CATALOG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MODEL_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,95}$")

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
    ]
)

CATALOG_SCHEMA = pa.schema(
    [
        pa.field("catalog", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("rows_read", pa.int64()),
        pa.field("rejected", pa.int64()),
        pa.field("ingested_at", pa.float64()),
    ]
)

LABELS = "labels"
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

EVALUATIONS = "evaluations"
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

# Product fields copied into every vector row (for where-clauses and for showing results).
VECTOR_META = ("name", "main_category", "sub_category", "price", "rating", "rating_count")


def vector_schema(dim: int) -> pa.Schema:
    meta = [PRODUCT_SCHEMA.field(name) for name in VECTOR_META]
    return pa.schema(
        [
            pa.field("catalog", pa.string(), nullable=False),
            pa.field("product_id", pa.int64(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim)),
            pa.field("source_hash", pa.string()),
            pa.field("meta_hash", pa.string()),
            *meta,
        ]
    )


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
    if kind not in ("text", "image"):
        raise StoreError(f"unknown vector kind {kind!r}")
    if not _MODEL_KEY.match(model_key):
        raise StoreError(f"invalid model key {model_key!r}")
    return f"{VECTOR_PREFIX}{kind}__{model_key.replace('.', '_')}"


def meta_hash(row: dict[str, Any]) -> str:
    text = "\x1f".join(repr(row.get(name)) for name in VECTOR_META)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def product_row(catalog: str, product: Product) -> dict[str, Any]:
    row = product.to_dict()
    row["catalog"] = catalog
    row["price"] = product.price
    row["text_doc"] = text_document(product)
    return {field.name: row.get(field.name) for field in PRODUCT_SCHEMA}


def sql_in(values: Iterable[int]) -> str:
    """An IN list of integers; ints only, so nothing from outside is pasted into SQL."""
    return ", ".join(str(int(v)) for v in values) or "NULL"


def sql_str(value: str) -> str:
    """A SQL string literal, quotes doubled. Used only for validated or internal strings."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class CatalogInfo:
    catalog: str
    source: str
    kind: str
    rows_read: int
    rejected: int
    ingested_at: float
    products: int
    vectors: dict[str, int]


def _retry_conflicts(write: Any, attempts: int = 8) -> Any:
    """Run a write, retrying when another writer committed first (LanceDB raises a commit
    conflict rather than overwrite); each retry re-reads the latest version."""
    import random
    import time

    for attempt in range(attempts):
        try:
            return write()
        except Exception as exc:
            if "conflict" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt * (1 + random.random()))
    return None


class Store:
    """A thin typed layer over one LanceDB directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: Any = None

    @property
    def db(self) -> Any:
        if self._db is None:
            import lancedb

            self.path.mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(str(self.path))
        return self._db

    # -- tables ------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        result = self.db.table_names(limit=10_000)
        return list(getattr(result, "tables", result))

    def _open(self, name: str) -> Any | None:
        return self.db.open_table(name) if name in self.table_names() else None

    def _open_or_create(self, name: str, schema: pa.Schema) -> Any:
        table = self._open(name)
        if table is None:
            with self.write_lock():
                table = self.db.create_table(name, schema=schema, exist_ok=True)
        return table

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time across processes. Two concurrent merge-inserts of the
        same new key would otherwise both insert it (LanceDB does not see that conflict)."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".write.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _upsert(
        self, table: Any, rows: list[dict[str, Any]], keys: list[str], progress: Any = None
    ) -> None:
        schema = table.schema
        for start in range(0, len(rows), UPSERT_CHUNK):
            chunk = pa.Table.from_pylist(rows[start : start + UPSERT_CHUNK], schema=schema)
            with self.write_lock():
                table.checkout_latest()  # see what other processes committed meanwhile
                _retry_conflicts(
                    lambda chunk=chunk: (
                        table.merge_insert(keys)
                        .when_matched_update_all()
                        .when_not_matched_insert_all()
                        .execute(chunk)
                    )
                )
            if progress:
                progress(min(start + UPSERT_CHUNK, len(rows)), len(rows), "products")

    def table_version(self, name: str) -> int:
        """The table's LanceDB version (0 if absent): a cache key that changes on every write."""
        table = self._open(name)
        return int(table.version) if table is not None else 0

    # -- catalogs and products ---------------------------------------------------------

    def upsert_products(
        self, catalog: str, products: Sequence[Product], progress: Any = None
    ) -> None:
        validate_catalog_name(catalog)
        table = self._open_or_create(PRODUCTS, PRODUCT_SCHEMA)
        rows = [product_row(catalog, p) for p in products]
        self._upsert(table, rows, ["catalog", "product_id"], progress)

    def record_catalog(
        self, catalog: str, source: str, kind: str, rows: int, rejected: int
    ) -> None:
        table = self._open_or_create(CATALOGS, CATALOG_SCHEMA)
        row = {
            "catalog": validate_catalog_name(catalog),
            "source": source,
            "kind": kind,
            "rows_read": rows,
            "rejected": rejected,
            "ingested_at": time.time(),
        }
        self._upsert(table, [row], ["catalog"])

    def catalogs(self) -> list[str]:
        """Catalog names, most recently ingested first."""
        table = self._open(CATALOGS)
        if table is None:
            return []
        rows = table.to_arrow().sort_by([("ingested_at", "descending")]).to_pylist()
        return [r["catalog"] for r in rows]

    def default_catalog(self, preferred: str | None = None) -> str | None:
        names = self.catalogs()
        if preferred and preferred in names:
            return preferred
        return names[0] if names else None

    def count_products(self, catalog: str) -> int:
        table = self._open(PRODUCTS)
        if table is None:
            return 0
        return table.count_rows(f"catalog = {sql_str(validate_catalog_name(catalog))}")

    def products_where(
        self,
        catalog: str,
        where: str | None = None,
        columns: list[str] | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Products of a catalog as Arrow, optionally filtered by a trusted where-clause."""
        table = self._open(PRODUCTS)
        if table is None:
            return PRODUCT_SCHEMA.empty_table()
        clause = f"catalog = {sql_str(validate_catalog_name(catalog))}"
        if where:
            clause += f" AND ({where})"
        query = table.search().where(clause)
        if columns:
            query = query.select(columns)
        query = query.limit(limit if limit is not None else max(table.count_rows(), 1))
        return query.to_arrow()

    def get_products(self, catalog: str, product_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        ids = list(product_ids)
        if not ids:
            return {}
        rows = self.products_where(catalog, f"product_id IN ({sql_in(ids)})").to_pylist()
        return {row["product_id"]: row for row in rows}

    def get_product(self, catalog: str, product_id: int) -> dict[str, Any] | None:
        return self.get_products(catalog, [product_id]).get(int(product_id))

    def set_image_status(self, catalog: str, product_id: int, status: str, error: str) -> None:
        table = self._open(PRODUCTS)
        if table is None:
            return
        with self.write_lock():
            table.update(
                where=f"catalog = {sql_str(catalog)} AND product_id = {int(product_id)}",
                values={"image_status": status, "image_error": error},
            )

    def catalog_info(self, catalog: str) -> CatalogInfo | None:
        table = self._open(CATALOGS)
        if table is None:
            return None
        rows = table.search().where(f"catalog = {sql_str(catalog)}").limit(1).to_list()
        if not rows:
            return None
        row = rows[0]
        return CatalogInfo(
            catalog=catalog,
            source=row["source"],
            kind=row["kind"],
            rows_read=row["rows_read"],
            rejected=row["rejected"],
            ingested_at=row["ingested_at"],
            products=self.count_products(catalog),
            vectors=self.vector_counts(catalog),
        )

    # -- pseudo-labels -------------------------------------------------------------------

    def upsert_labels(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._upsert(self._open_or_create(LABELS, LABEL_SCHEMA), rows, LABEL_KEYS)

    def _label_rows(self, clause: str) -> list[dict[str, Any]]:
        table = self._open(LABELS)
        if table is None:
            return []
        limit = max(table.count_rows(), 1)
        return table.search().where(clause).limit(limit).to_arrow().to_pylist()

    def labels_for(self, catalog: str, labeller: str, vocab: str) -> list[dict[str, Any]]:
        return self._label_rows(
            f"catalog = {sql_str(catalog)} AND labeller = {sql_str(labeller)} "
            f"AND vocab = {sql_str(vocab)}"
        )

    def cached_labels(self, labeller: str, vocab: str) -> dict[str, str]:
        """name_hash → label, over every catalog: the same name is never asked twice."""
        rows = self._label_rows(
            f"labeller = {sql_str(labeller)} AND vocab = {sql_str(vocab)} AND label IS NOT NULL"
        )
        return {r["name_hash"]: r["label"] for r in rows if r["name_hash"]}

    def labellers(self, catalog: str) -> list[tuple[str, str, int]]:
        """(labeller, vocab, count) for the label sets stored for a catalog."""
        rows = self._label_rows(f"catalog = {sql_str(catalog)}")
        counts: dict[tuple[str, str], int] = {}
        for r in rows:
            counts[(r["labeller"], r["vocab"])] = counts.get((r["labeller"], r["vocab"]), 0) + 1
        return [(lab, voc, n) for (lab, voc), n in sorted(counts.items())]

    # -- evaluations ---------------------------------------------------------------------

    def save_evaluation(self, key: str, evaluation: dict[str, Any]) -> None:
        import json

        row = {
            "key": key,
            "model_key": evaluation["model_key"],
            "dataset": evaluation["dataset"],
            "label_set": evaluation["label_set"],
            "created_at": evaluation.get("created_at", ""),
            "payload": json.dumps(evaluation, default=str),
        }
        self._upsert(self._open_or_create(EVALUATIONS, EVALUATION_SCHEMA), [row], ["key"])

    def load_evaluation(self, key: str) -> dict[str, Any] | None:
        import json

        table = self._open(EVALUATIONS)
        if table is None:
            return None
        rows = table.search().where(f"key = {sql_str(key)}").limit(1).to_arrow().to_pylist()
        return json.loads(rows[0]["payload"]) if rows else None

    # -- vectors -------------------------------------------------------------------------

    def vector_tables(self) -> list[str]:
        return [n for n in self.table_names() if n.startswith(VECTOR_PREFIX)]

    def vector_counts(self, catalog: str) -> dict[str, int]:
        counts = {}
        for name in self.vector_tables():
            n = self.db.open_table(name).count_rows(f"catalog = {sql_str(catalog)}")
            if n:
                counts[name[len(VECTOR_PREFIX) :]] = n
        return counts

    def open_vectors(self, kind: str, model_key: str) -> Any | None:
        return self._open(vector_table_name(kind, model_key))

    def vector_hashes(self, kind: str, model_key: str, catalog: str) -> dict[int, tuple[str, str]]:
        """product_id → (source_hash, meta_hash) of the stored vectors."""
        table = self.open_vectors(kind, model_key)
        if table is None:
            return {}
        rows = (
            table.search()
            .where(f"catalog = {sql_str(catalog)}")
            .select(["product_id", "source_hash", "meta_hash"])
            .limit(max(table.count_rows(), 1))
            .to_arrow()
            .to_pylist()
        )
        return {r["product_id"]: (r["source_hash"], r["meta_hash"]) for r in rows}

    def upsert_vectors(
        self, kind: str, model_key: str, dim: int, rows: list[dict[str, Any]]
    ) -> None:
        if not rows:
            return
        table = self._open_or_create(vector_table_name(kind, model_key), vector_schema(dim))
        self._upsert(table, rows, ["catalog", "product_id"])

    def load_vectors(
        self, kind: str, model_key: str, catalog: str, product_ids: Iterable[int] | None = None
    ) -> tuple[list[int], np.ndarray]:
        import numpy as np

        table = self.open_vectors(kind, model_key)
        if table is None:
            return [], np.zeros((0, 0), dtype=np.float32)
        clause = f"catalog = {sql_str(catalog)}"
        if product_ids is not None:
            clause += f" AND product_id IN ({sql_in(product_ids)})"
        data = (
            table.search()
            .where(clause)
            .select(["product_id", "vector"])
            .limit(max(table.count_rows(), 1))
            .to_arrow()
        )
        ids = data.column("product_id").to_pylist()
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        flat = data.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return ids, flat.reshape(len(ids), -1).astype(np.float32, copy=False)
