"""What went wrong with the store, in one line a person can act on.

LanceDB reports every storage failure as a RuntimeError (or OSError) whose text holds the
backend's whole message: the HTTP request, retry counts, a Rust source path. `store_fault`
turns such an error into a StoreFault saying what happened (the store does not answer, it
answers with errors, a table's files are missing or damaged, the disk is full) and what
comes next. Anything else is not a store fault and is left alone: a bug stays visible.

Retries are bounded where the connection is made (`BOUNDED_RETRIES`): LanceDB's object
store client would otherwise retry a dead endpoint for up to three minutes per request.
"""

from __future__ import annotations

import errno
import re

from core.store.schema import StoreError
from core.store_location import redacted

# Object-storage client settings a person can still override in [storage]: a dead
# endpoint fails after ~5 s of retries, a request that hangs after its 30 s timeout,
# instead of the page waiting minutes.
BOUNDED_RETRIES = {
    "connect_timeout": "5s",
    "timeout": "30s",
    "client_max_retries": "3",
    "client_retry_timeout": "15",
}

_TABLE = re.compile(r"([A-Za-z0-9_-]+)\.lance\b")
_STATUS = re.compile(r"non-2xx status code: (\d{3} [A-Za-z ]+?)(?::|$)")
_SOURCE_PATH = re.compile(r",? /\S+\.rs:\d+:\d+")  # where in LanceDB's Rust it was raised
_DAMAGED = ("fill whole buffer", "unexpected eof", "corrupt", "out of range")
_UNREACHABLE = ("error sending request", "connection refused", "tcp connect", "timed out")
_LANCE = ("lance error", "lanceerror", "object store", "s3 error", "localfilesystem error")


class StoreFault(StoreError):
    """A storage failure: `kind` is one of unreachable, server-errors, missing, damaged,
    full, io; the message is the one line to show."""

    def __init__(self, kind: str, message: str, table: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.table = kind, message, table


def store_fault(exc: BaseException, location: str) -> StoreFault | None:
    """The StoreFault `exc` (raised by a read or write of the store at `location`) stands
    for, or None when it is not a storage failure."""
    if isinstance(exc, StoreFault):
        return exc
    text = " ".join(str(exc).split())
    lowered = text.lower()
    is_disk_full = getattr(exc, "errno", None) == errno.ENOSPC or "no space left" in lowered
    if not isinstance(exc, (OSError, RuntimeError)) or not (
        is_disk_full or any(marker in lowered for marker in _LANCE)
    ):
        return None
    where = redacted(location)
    match = _TABLE.search(text)
    table = match.group(1) if match else None
    named = f"table `{table}`" if table else "a table"
    status = _STATUS.search(text)
    if is_disk_full:
        return StoreFault(
            "full", f"No space left on the disk of the store at {where}: the write did "
            "not finish, and what was stored before it is unchanged. Free some space and "
            "run it again (a rerun stores each row once).", table,
        )  # fmt: skip
    if "not found" in lowered and table:
        return StoreFault(
            "missing", f"The files of {named} are missing from the store at {where} (its "
            "folder was removed?). The other tables are untouched; ingest or embed again "
            "to rebuild it.", table,
        )  # fmt: skip
    if any(s in lowered for s in _DAMAGED):
        return StoreFault(
            "damaged", f"A data file of {named} in the store at {where} is damaged or "
            "truncated. The other tables are untouched; restore the file or ingest again "
            "to rebuild it.", table,
        )  # fmt: skip
    if status:
        return StoreFault(
            "server-errors", f"The store at {where} answers with errors ({status.group(1)}) "
            "after retrying. Nothing was changed; try again in a moment.", table,
        )  # fmt: skip
    # LanceDB's client words a refused connection and a request past its timeout alike.
    if any(s in lowered for s in _UNREACHABLE):
        return StoreFault(
            "unreachable", f"The store at {where} is not answering (no connection, or no "
            "answer in time). Nothing was changed; try again once it is back.", table,
        )  # fmt: skip
    reason = _SOURCE_PATH.sub("", text)[:160]
    return StoreFault("io", f"Reading or writing the store at {where} failed: {reason}", table)
