"""One LanceDB store (a local folder or an object-storage URI) and its write discipline.

What is guaranteed with several writers:

* Every commit is atomic on every backend: Lance writes a new manifest with a
  put-if-absent (a conditional put on S3, GCS and Azure, an atomic rename locally), so two
  writers can never both commit the same version; the loser re-reads and retries, or fails
  with a commit conflict. Readers always see a whole version.
* Two concurrent merge-inserts of the same new key do not both insert it: every table
  declares its merge key as Lance's primary key (schema.PRIMARY_KEY_META), so the later
  commit conflicts and is retried against the rows the first inserted.
* On a local folder, writes also take a cross-process file lock (`Database.write`): it
  serialises the writers of one machine, and covers tables written before the primary key
  was declared (lancedb/lancedb#2463). Object storage gets no lock: a local file cannot
  speak for writers on other machines, so there the commit protocol above is the guarantee.

Every write re-reads the table's latest version first, so a writer never commits on top
of a stale view. An upsert is one commit however many rows it holds: a reader never sees
half an ingest, and a killed run leaves the table as it was (the next run redoes it).
Embedding commits batch by batch instead (core.embed), so a long run keeps what it did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from core.progress import Progress
from core.store.faults import BOUNDED_RETRIES
from core.store.schema import StoreError
from core.store_location import StorageOptions, local_path, redacted

UPSERT_CHUNK = 2000
# Two writers creating one table at once on object storage (no lock reaches there): Lance
# may commit the later create as an Overwrite of the earlier one, and refuses, rather than
# retries, a merge begun on the version it replaced. Both versions are the empty table, so
# the merge is simply made again on the latest (the write re-reads it). A merge that
# commits before the late create lands would be replaced with it: the window is one empty
# table's create, only on a table's first write (not measured; never seen in the tests).
_RACED_CREATE = "incompatible with concurrent transaction Overwrite"
OVERWRITE_RETRIES = 3
# How stale a read may be. A local table checks for other processes' commits on every
# read (a directory listing); on object storage that check is a request, so a reader
# sees other machines' commits within this interval (its own at once; writers first
# check out the latest version).
REMOTE_REFRESH = timedelta(seconds=5)
LOCK_FILE = ".write.lock"


class Database:
    def __init__(self, location: str | Path, storage_options: StorageOptions | None = None):
        self.location = str(location)
        self.local_path: Path | None = local_path(location)  # None: object storage
        self.storage_options = storage_options or StorageOptions()
        self._connection: Any = None
        self._tables: dict[str, Any] = {}
        self._up_to_date: set[str] = set()  # tables add_missing_columns found current

    def __repr__(self) -> str:
        return f"Database({redacted(self.location)!r})"

    @property
    def connection(self) -> Any:
        if self._connection is None:
            import lancedb

            if self.local_path is not None:
                self.local_path.mkdir(parents=True, exist_ok=True)
                self._connection = lancedb.connect(
                    str(self.local_path), read_consistency_interval=timedelta(0)
                )
            else:
                self._connection = self._connect_remote(lancedb)
        return self._connection

    def _connect_remote(self, lancedb: Any) -> Any:
        """Connect, and list the tables once so that a wrong endpoint, bucket or key fails
        here, in one line, rather than deep inside the first query."""
        options = {**BOUNDED_RETRIES, **self.storage_options.as_dict()}
        try:
            connection = lancedb.connect(
                self.location, storage_options=options, read_consistency_interval=REMOTE_REFRESH
            )
            connection.table_names(limit=1)
        except (OSError, ValueError, RuntimeError) as exc:
            reason = self.storage_options.scrub(" ".join(str(exc).split()))
            raise StoreError(
                f"cannot open the store at {redacted(self.location)}: {_likely_cause(reason)}"
                f"({reason[:300]})"
            ) from None
        return connection

    def forget(self) -> None:
        """Drop the open tables, so the next read opens each one afresh: after a storage
        fault a handle may point at files that were removed or never committed."""
        self._tables.clear()
        self._up_to_date.clear()

    def table_names(self) -> list[str]:
        result = self.connection.table_names(limit=10_000)
        return list(getattr(result, "tables", result))

    def open(self, name: str) -> Any | None:
        """The table, or None when it has not been written yet. A table is opened once
        per Database: opening lists the store (two requests on object storage), and the
        connection's read consistency keeps an open table current."""
        table = self._tables.get(name)
        if table is None and name in self.table_names():
            try:
                table = self._tables[name] = self.connection.open_table(name)
            except ValueError as exc:
                # A folder with no committed version (a create that failed, e.g. on a
                # full disk) is listed but is not a table yet.
                if "was not found" not in str(exc):
                    raise
        return table

    def open_or_create(self, name: str, schema: pa.Schema) -> Any:
        table = self.open(name)
        if table is None:
            with self.write():
                table = self.connection.create_table(name, schema=schema, exist_ok=True)
            self._tables[name] = table
        return table

    def add_missing_columns(
        self, table: Any, schema: pa.Schema, fills: dict[str, tuple[str, str]] | None = None
    ) -> Any:
        """Bring a table written by an older version up to `schema`, once, in place.

        A new column is filled by its SQL expression in `fills` ((expression, where-clause
        of the rows to leave empty): Lance column expressions have no CASE), else left
        empty. A table found up to date is not read again: columns are only ever added,
        and reading a schema costs a version check on every call."""
        if table.name in self._up_to_date:
            return table
        missing = [f for f in schema if f.name not in table.schema.names]
        if not missing:
            self._up_to_date.add(table.name)
            return table
        with self.write(table):
            for column in missing:
                if column.name in (fills or {}):
                    expression, empty_where = fills[column.name]
                    table.add_columns({column.name: expression})
                    table.update(where=empty_where, values_sql={column.name: "NULL"})
                else:
                    table.add_columns(column)
        return table

    def version(self, name: str) -> int:
        """The table's LanceDB version (0 if absent): a cache key that changes on every write."""
        table = self.open(name)
        return int(table.version) if table is not None else 0

    @contextmanager
    def write(self, table: Any = None) -> Iterator[None]:
        """Write to `table` (first brought to its latest version), holding the local write
        lock when the store is a local folder (see the module docstring)."""
        if self.local_path is None:
            if table is not None:
                table.checkout_latest()
            yield
            return
        from filelock import FileLock

        self.local_path.mkdir(parents=True, exist_ok=True)
        with FileLock(self.local_path / LOCK_FILE):
            if table is not None:
                table.checkout_latest()  # see what other processes committed meanwhile
            yield

    def upsert(
        self,
        table: Any,
        rows: Sequence[Any],
        keys: list[str],
        progress: Progress | None = None,
        phase: str = "rows",
        to_row: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        """Insert or replace `rows` by `keys` in one commit: a reader sees the table before
        or after, never half of it. Rows stream in chunks, so memory holds one chunk of
        Arrow at a time beside the rows; `to_row` makes each row's dict inside its chunk
        (1M products made into dicts at once would double the ingest's memory)."""
        schema = table.schema

        def batches() -> Iterator[pa.RecordBatch]:
            for start in range(0, len(rows), UPSERT_CHUNK):
                chunk = rows[start : start + UPSERT_CHUNK]
                chunk = [to_row(r) for r in chunk] if to_row else list(chunk)
                yield from pa.Table.from_pylist(chunk, schema).to_batches()
                if progress:
                    progress(min(start + UPSERT_CHUNK, len(rows)), len(rows), phase)

        for attempt in range(OVERWRITE_RETRIES + 1):
            try:
                with self.write(table):
                    (
                        table.merge_insert(keys)
                        .when_matched_update_all()
                        .when_not_matched_insert_all()
                        .execute(pa.RecordBatchReader.from_batches(schema, batches()))
                    )
                return
            except RuntimeError as exc:
                if _RACED_CREATE not in str(exc) or attempt == OVERWRITE_RETRIES:
                    raise


# What an object-store error usually means, by a phrase its message contains.
_CAUSES = (
    ("credentials", "no usable credentials: set aws_access_key_id and aws_secret_access_key "
     "(PRODUCTLENS_STORAGE_<OPTION> or [storage] in .streamlit/secrets.toml)"),
    ("resolve region", "no region: set aws_region (PRODUCTLENS_STORAGE_AWS_REGION)"),
    ("nosuchbucket", "the bucket does not exist"),
    ("connection refused", "nothing answers at the endpoint"),
    ("tcp connect error", "nothing answers at the endpoint"),
    ("dns error", "the endpoint's host name does not resolve"),
)  # fmt: skip


def _likely_cause(reason: str) -> str:
    lowered = reason.lower()
    return next((f"{cause} " for phrase, cause in _CAUSES if phrase in lowered), "")


def read_all(table: Any, where: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """Every row of `table` matching `where` (a trusted clause), as Arrow.

    A LanceDB query is capped at its limit, so "all" is spelled as the table's row count."""
    query = table.search()
    if where:
        query = query.where(where)
    if columns:
        query = query.select(columns)
    return query.limit(max(table.count_rows(), 1)).to_arrow()
