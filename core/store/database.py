"""One LanceDB directory and its single write discipline.

Every write goes through `Database.write()`: a cross-process file lock (one writer at a
time: two concurrent merge-inserts of the same new key would otherwise both insert it,
lancedb/lancedb#2463) and a re-read of the table's latest version, so a writer never
commits on top of a stale view. Upserts are chunked: each chunk is one LanceDB commit, so
a killed run leaves whole chunks behind and the next run completes without duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from core.progress import Progress

UPSERT_CHUNK = 2000
LOCK_FILE = ".write.lock"


class Database:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._connection: Any = None

    @property
    def connection(self) -> Any:
        if self._connection is None:
            import lancedb

            self.path.mkdir(parents=True, exist_ok=True)
            self._connection = lancedb.connect(str(self.path))
        return self._connection

    def table_names(self) -> list[str]:
        result = self.connection.table_names(limit=10_000)
        return list(getattr(result, "tables", result))

    def open(self, name: str) -> Any | None:
        """The table, or None when it has not been written yet."""
        return self.connection.open_table(name) if name in self.table_names() else None

    def open_or_create(self, name: str, schema: pa.Schema) -> Any:
        table = self.open(name)
        if table is None:
            with self.write():
                table = self.connection.create_table(name, schema=schema, exist_ok=True)
        return table

    def add_missing_columns(
        self, table: Any, schema: pa.Schema, fills: dict[str, tuple[str, str]] | None = None
    ) -> Any:
        """Bring a table written by an older version up to `schema`, once, in place.

        A new column is filled by its SQL expression in `fills` ((expression, where-clause
        of the rows to leave empty): Lance column expressions have no CASE), else left
        empty."""
        missing = [f for f in schema if f.name not in table.schema.names]
        if not missing:
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
        """Hold the store's write lock; `table` is first brought to its latest version."""
        from filelock import FileLock

        self.path.mkdir(parents=True, exist_ok=True)
        with FileLock(self.path / LOCK_FILE):
            if table is not None:
                table.checkout_latest()  # see what other processes committed meanwhile
            yield

    def upsert(
        self,
        table: Any,
        rows: Sequence[dict[str, Any]],
        keys: list[str],
        progress: Progress | None = None,
        phase: str = "rows",
    ) -> None:
        """Insert or replace `rows` by `keys`, one commit per chunk."""
        for start in range(0, len(rows), UPSERT_CHUNK):
            chunk = pa.Table.from_pylist(list(rows[start : start + UPSERT_CHUNK]), table.schema)
            with self.write(table):
                (
                    table.merge_insert(keys)
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute(chunk)
                )
            if progress:
                progress(min(start + UPSERT_CHUNK, len(rows)), len(rows), phase)


def read_all(table: Any, where: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """Every row of `table` matching `where` (a trusted clause), as Arrow.

    A LanceDB query is capped at its limit, so "all" is spelled as the table's row count."""
    query = table.search()
    if where:
        query = query.where(where)
    if columns:
        query = query.select(columns)
    return query.limit(max(table.count_rows(), 1)).to_arrow()
